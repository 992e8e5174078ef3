/* SPDX-License-Identifier: MIT */
/* test_shim_busy_poll.c: the host thread's busy polling (tapir_config.busy_poll_us), two hosts
 * over a real-time wire in one process. What is pinned is behaviour, never speed: traffic
 * flows both ways while both host threads spin (so the spin does not hold the host lock from
 * application threads), and a host thread stops spinning once traffic stops. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "pair.h"

#define ROUND_TRIPS 200
#define STREAM_BYTES (1u << 20)

/* Both hosts as pair_open makes them, but spinning busy_poll_us after each frame. */
static void busy_pair_start(struct pair *p, uint64_t busy_poll_us, uint64_t seed)
{
    static const struct wire_faults none;
    memset(p, 0, sizeof(*p));
    p->wire = wire_new(&none, seed, 4096);
    assert_non_null(p->wire);
    assert_int_equal(wire_set_realtime(p->wire), 0);
    const char *addrs[2] = {PAIR_ADDR_A, PAIR_ADDR_B};
    struct tapir_host **hosts[2] = {&p->a, &p->b};
    for (int i = 0; i < 2; i++) {
        struct tapir_config cfg;
        tapir_config_defaults(&cfg);
        memcpy(cfg.mac, "\x02\x00\x00\x00\x00", 5);
        cfg.mac[5] = (uint8_t)(i + 1);
        inet_pton(AF_INET, addrs[i], &cfg.addr);
        cfg.seed = seed + (uint64_t)i;
        cfg.busy_poll_us = busy_poll_us;
        struct tapir_link link = wire_link(p->wire, i);
        *hosts[i] = tapir_open_link(&cfg, &link);
        assert_non_null(*hosts[i]);
    }
}

static void set_rcvtimeo_s(int fd, unsigned s)
{
    struct timeval tv = {.tv_sec = s};
    assert_int_equal(tapir_setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
}

/* B's side of the echo test: sends back every datagram, until one of length 0. */
static void *udp_echo(void *arg)
{
    int fd = *(int *)arg;
    char buf[256];
    for (;;) {
        struct sockaddr_in from;
        socklen_t len = sizeof(from);
        ssize_t n = tapir_recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &len);
        if (n <= 0)
            return NULL;
        tapir_sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, len);
    }
}

/* 200 datagrams to an echo thread on B each come back intact, with both host threads
 * spinning between them: application calls still get the host lock. */
static void test_udp_round_trips_while_spinning(void **state)
{
    (void)state;
    struct pair p;
    busy_pair_start(&p, 1000, 81);
    int echo = pair_udp(p.b, 7), fd = pair_udp(p.a, 0);
    set_rcvtimeo_s(echo, 10);
    set_rcvtimeo_s(fd, 5);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, udp_echo, &echo), 0);
    struct sockaddr_in to = pair_sin(PAIR_ADDR_B, 7);
    for (int i = 0; i < ROUND_TRIPS; i++) {
        char msg[32], back[32];
        int len = snprintf(msg, sizeof(msg), "round trip %d", i);
        assert_int_equal(tapir_sendto(fd, msg, (size_t)len, 0, (struct sockaddr *)&to, sizeof(to)),
                         len);
        assert_int_equal(tapir_recv(fd, back, sizeof(back), 0), len);
        assert_memory_equal(back, msg, (size_t)len);
    }
    assert_int_equal(tapir_sendto(fd, "", 0, 0, (struct sockaddr *)&to, sizeof(to)), 0);
    assert_int_equal(pair_join(t, 5000), 0);
    tapir_close(fd);
    tapir_close(echo);
    pair_stop(&p);
}

/* B's side of the stream test: accepts one connection and counts its bytes to EOF. */
static void *tcp_sink(void *arg)
{
    int *fds = arg; /* [0] the listener in, [1] the byte count out */
    int c = tapir_accept(fds[0], NULL, NULL);
    static char buf[65536];
    ssize_t n;
    fds[1] = 0;
    while (c >= 0 && (n = tapir_recv(c, buf, sizeof(buf), 0)) > 0)
        fds[1] += (int)n;
    if (c >= 0)
        tapir_close(c);
    return NULL;
}

/* A megabyte over TCP arrives whole while both host threads spin. */
static void test_tcp_stream_while_spinning(void **state)
{
    (void)state;
    struct pair p;
    busy_pair_start(&p, 1000, 82);
    int lfd = tapir_socket_on(p.b, AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in any = pair_sin("0.0.0.0", 9);
    assert_int_equal(tapir_bind(lfd, (struct sockaddr *)&any, sizeof(any)), 0);
    assert_int_equal(tapir_listen(lfd, 4), 0);
    set_rcvtimeo_s(lfd, 10);
    int fds[2] = {lfd, -1};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, tcp_sink, fds), 0);
    int c = tapir_socket_on(p.a, AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in to = pair_sin(PAIR_ADDR_B, 9);
    assert_int_equal(tapir_connect(c, (struct sockaddr *)&to, sizeof(to)), 0);
    static char data[STREAM_BYTES];
    memset(data, 'b', sizeof(data));
    assert_int_equal(tapir_send(c, data, sizeof(data), 0), (ssize_t)sizeof(data));
    assert_int_equal(tapir_close(c), 0);
    assert_int_equal(pair_join(t, 20000), 0);
    assert_int_equal(fds[1], (int)STREAM_BYTES);
    tapir_close(lfd);
    pair_stop(&p);
}

static uint64_t cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* The spin is bounded: once traffic stops, the host threads go back to sleep. Over 300 ms of
 * silence the process uses well under half a core (two threads spinning for ever would use
 * up to two). A loaded machine only makes this easier to pass, never harder. */
static void test_spin_ends_when_traffic_stops(void **state)
{
    (void)state;
    struct pair p;
    busy_pair_start(&p, 2000, 83);
    int rx = pair_udp(p.b, 5000), tx = pair_udp(p.a, 0);
    set_rcvtimeo_s(rx, 5);
    struct sockaddr_in to = pair_sin(PAIR_ADDR_B, 5000);
    char buf[8];
    for (int i = 0; i < 10; i++) {
        assert_int_equal(tapir_sendto(tx, "x", 1, 0, (struct sockaddr *)&to, sizeof(to)), 1);
        assert_int_equal(tapir_recv(rx, buf, sizeof(buf), 0), 1);
    }
    pair_sleep_ms(50); /* the last spin (2 ms) is over */
    uint64_t wall0 = pair_now_us(), cpu0 = cpu_us();
    pair_sleep_ms(300);
    uint64_t wall = pair_now_us() - wall0, cpu = cpu_us() - cpu0;
    assert_true(cpu < wall / 2);
    tapir_close(rx);
    tapir_close(tx);
    pair_stop(&p);
}

static int arm_watchdog(void **state)
{
    (void)state;
    alarm(60); /* a hang fails the binary instead of the whole run */
    return 0;
}

static int disarm_watchdog(void **state)
{
    (void)state;
    alarm(0);
    return 0;
}

#define BUSY_TEST(fn) cmocka_unit_test_setup_teardown(fn, arm_watchdog, disarm_watchdog)

int main(void)
{
    const struct CMUnitTest tests[] = {
        BUSY_TEST(test_udp_round_trips_while_spinning),
        BUSY_TEST(test_tcp_stream_while_spinning),
        BUSY_TEST(test_spin_ends_when_traffic_stops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
