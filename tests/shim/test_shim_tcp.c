/* SPDX-License-Identifier: MIT */
/* test_shim_tcp.c: TCP through the blocking shim, two hosts over a real-time wire: the
 * handshake, data both ways, the close, a refused connect. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "pair.h"

#define SA(x) ((struct sockaddr *)(x))

static int tcp_listener(struct tapir_host *h, uint16_t port)
{
    int fd = tapir_socket_on(h, AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= TAPIR_FD_BASE);
    struct sockaddr_in sin = pair_sin("0.0.0.0", port);
    assert_int_equal(tapir_bind(fd, SA(&sin), sizeof(sin)), 0);
    assert_int_equal(tapir_listen(fd, 8), 0);
    return fd;
}

static void set_timeouts(int fd)
{
    struct timeval tv = {.tv_sec = 10};
    assert_int_equal(tapir_setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    assert_int_equal(tapir_setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), 0);
}

static int tcp_client(struct tapir_host *h, const char *addr, uint16_t port)
{
    int fd = tapir_socket_on(h, AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= TAPIR_FD_BASE);
    set_timeouts(fd);
    struct sockaddr_in to = pair_sin(addr, port);
    assert_int_equal(tapir_connect(fd, SA(&to), sizeof(to)), 0);
    return fd;
}

/* Reads exactly len bytes (or fails the test). */
static void recv_all(int fd, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = tapir_recv(fd, (char *)buf + got, len - got, 0);
        assert_true(n > 0);
        got += (size_t)n;
    }
}

/* A connect completes the handshake; accept returns the client's address; bytes go both
 * ways; a close is read as end of stream (recv 0) on the other side. */
static void test_connect_accept_echo_close(void **state)
{
    (void)state;
    struct pair p;
    pair_start(&p, NULL, 1);
    int lfd = tcp_listener(p.b, 7000);
    int cfd = tcp_client(p.a, PAIR_ADDR_B, 7000);
    struct sockaddr_in peer;
    socklen_t plen = sizeof(peer);
    int sfd = tapir_accept(lfd, SA(&peer), &plen);
    assert_true(sfd >= TAPIR_FD_BASE);
    set_timeouts(sfd);
    char text[INET_ADDRSTRLEN];
    assert_string_equal(inet_ntop(AF_INET, &peer.sin_addr, text, sizeof(text)), PAIR_ADDR_A);
    assert_int_equal(tapir_send(cfd, "hello", 5, 0), 5);
    char buf[16];
    recv_all(sfd, buf, 5);
    assert_memory_equal(buf, "hello", 5);
    assert_int_equal(tapir_send(sfd, "world!", 6, 0), 6);
    recv_all(cfd, buf, 6);
    assert_memory_equal(buf, "world!", 6);
    assert_int_equal(tapir_close(cfd), 0);
    assert_int_equal(tapir_recv(sfd, buf, sizeof(buf), 0), 0); /* the client's FIN */
    assert_int_equal(tapir_close(sfd), 0);
    assert_int_equal(tapir_close(lfd), 0);
    pair_stop(&p);
}

struct bulk {
    int fd;
    size_t len;
    uint32_t seed;
};

static uint8_t pattern(uint32_t seed, size_t i) { return (uint8_t)((i * 2654435761u) >> 13 ^ seed); }

static void *bulk_send(void *arg)
{
    struct bulk *b = arg;
    uint8_t chunk[8192];
    for (size_t off = 0; off < b->len;) {
        size_t n = b->len - off < sizeof(chunk) ? b->len - off : sizeof(chunk);
        for (size_t i = 0; i < n; i++)
            chunk[i] = pattern(b->seed, off + i);
        ssize_t w = tapir_send(b->fd, chunk, n, 0);
        if (w != (ssize_t)n)
            return (void *)1;
        off += n;
    }
    return NULL;
}

static void bulk_check(int fd, size_t len, uint32_t seed)
{
    uint8_t chunk[8192];
    for (size_t off = 0; off < len;) {
        ssize_t n = tapir_recv(fd, chunk, sizeof(chunk), 0);
        assert_true(n > 0);
        for (ssize_t i = 0; i < n; i++)
            if (chunk[i] != pattern(seed, off + (size_t)i))
                fail_msg("byte %zu differs", off + (size_t)i);
        off += (size_t)n;
    }
}

/* 1 MiB each way at once, byte-exact: the send ring, the window, the receive ring. */
static void test_one_mib_both_ways(void **state)
{
    (void)state;
    struct pair p;
    pair_start(&p, NULL, 2);
    int lfd = tcp_listener(p.b, 7001);
    int cfd = tcp_client(p.a, PAIR_ADDR_B, 7001);
    int sfd = tapir_accept(lfd, NULL, NULL);
    assert_true(sfd >= TAPIR_FD_BASE);
    set_timeouts(sfd);
    struct bulk up = {cfd, 1u << 20, 11}, down = {sfd, 1u << 20, 22};
    pthread_t t1, t2;
    assert_int_equal(pthread_create(&t1, NULL, bulk_send, &up), 0);
    assert_int_equal(pthread_create(&t2, NULL, bulk_send, &down), 0);
    bulk_check(sfd, up.len, up.seed);
    bulk_check(cfd, down.len, down.seed);
    void *r1, *r2;
    pthread_join(t1, &r1);
    pthread_join(t2, &r2);
    assert_null(r1);
    assert_null(r2);
    tapir_close(cfd);
    tapir_close(sfd);
    tapir_close(lfd);
    pair_stop(&p);
}

/* A SYN to a port with no listener gets a reset: connect fails with ECONNREFUSED. */
static void test_connect_refused(void **state)
{
    (void)state;
    struct pair p;
    pair_start(&p, NULL, 3);
    int fd = tapir_socket_on(p.a, AF_INET, SOCK_STREAM, 0);
    set_timeouts(fd);
    struct sockaddr_in to = pair_sin(PAIR_ADDR_B, 7999);
    assert_int_equal(tapir_connect(fd, SA(&to), sizeof(to)), -1);
    assert_int_equal(errno, ECONNREFUSED);
    tapir_close(fd);
    pair_stop(&p);
}

/* Half-close: after the client's shutdown(SHUT_WR) the server reads end of stream, yet still
 * sends, and the client still reads. */
static void test_half_close(void **state)
{
    (void)state;
    struct pair p;
    pair_start(&p, NULL, 4);
    int lfd = tcp_listener(p.b, 7002);
    int cfd = tcp_client(p.a, PAIR_ADDR_B, 7002);
    int sfd = tapir_accept(lfd, NULL, NULL);
    set_timeouts(sfd);
    assert_int_equal(tapir_send(cfd, "req", 3, 0), 3);
    assert_int_equal(tapir_shutdown(cfd, SHUT_WR), 0);
    char buf[16];
    recv_all(sfd, buf, 3);
    assert_int_equal(tapir_recv(sfd, buf, sizeof(buf), 0), 0);
    assert_int_equal(tapir_send(sfd, "response", 8, 0), 8);
    recv_all(cfd, buf, 8);
    assert_memory_equal(buf, "response", 8);
    assert_int_equal(tapir_send(cfd, "x", 1, 0), -1);
    assert_int_equal(errno, EPIPE);
    tapir_close(sfd);
    assert_int_equal(tapir_recv(cfd, buf, sizeof(buf), 0), 0);
    tapir_close(cfd);
    tapir_close(lfd);
    pair_stop(&p);
}

/* A port whose connection lingers in TIME_WAIT (the server closed first) cannot be bound
 * again without SO_REUSEADDR; with it, it can, as on Linux. */
static void test_time_wait_port_needs_reuseaddr(void **state)
{
    (void)state;
    struct pair p;
    pair_start(&p, NULL, 5);
    int lfd = tcp_listener(p.b, 7003);
    int cfd = tcp_client(p.a, PAIR_ADDR_B, 7003);
    int sfd = tapir_accept(lfd, NULL, NULL);
    set_timeouts(sfd);
    assert_int_equal(tapir_close(lfd), 0);
    assert_int_equal(tapir_close(sfd), 0); /* the server closes first: TIME_WAIT on B */
    char buf[4];
    assert_int_equal(tapir_recv(cfd, buf, sizeof(buf), 0), 0);
    assert_int_equal(tapir_close(cfd), 0);
    int fd = tapir_socket_on(p.b, AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = pair_sin("0.0.0.0", 7003);
    assert_int_equal(tapir_bind(fd, SA(&sin), sizeof(sin)), -1);
    assert_int_equal(errno, EADDRINUSE);
    int one = 1;
    assert_int_equal(tapir_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
    assert_int_equal(tapir_bind(fd, SA(&sin), sizeof(sin)), 0);
    tapir_close(fd);
    pair_stop(&p);
}

/* SO_LINGER {1, 0}: close aborts with a reset, and the peer's next recv says ECONNRESET; a
 * close with unread data does the same (RFC 1122 §4.2.2.13). */
static void test_linger_zero_and_unread_data_reset(void **state)
{
    (void)state;
    struct pair p;
    pair_start(&p, NULL, 6);
    int lfd = tcp_listener(p.b, 7004);
    for (int round = 0; round < 2; round++) {
        int cfd = tcp_client(p.a, PAIR_ADDR_B, 7004);
        int sfd = tapir_accept(lfd, NULL, NULL);
        set_timeouts(sfd);
        if (round == 0) {
            struct linger l = {.l_onoff = 1, .l_linger = 0};
            assert_int_equal(tapir_setsockopt(cfd, SOL_SOCKET, SO_LINGER, &l, sizeof(l)), 0);
            socklen_t len = sizeof(l);
            struct linger got;
            assert_int_equal(tapir_getsockopt(cfd, SOL_SOCKET, SO_LINGER, &got, &len), 0);
            assert_int_equal(got.l_onoff, 1);
        } else {
            assert_int_equal(tapir_send(sfd, "unread", 6, 0), 6);
            char b;
            assert_int_equal(tapir_recv(cfd, &b, 1, MSG_PEEK), 1); /* it has arrived */
        }
        assert_int_equal(tapir_close(cfd), 0);
        char buf[8];
        assert_int_equal(tapir_recv(sfd, buf, sizeof(buf), 0), -1);
        assert_int_equal(errno, ECONNRESET);
        tapir_close(sfd);
    }
    tapir_close(lfd);
    pair_stop(&p);
}

/* A non-blocking connect says EINPROGRESS; poll then reports POLLOUT, and SO_ERROR says how
 * it went: 0 for an open port, ECONNREFUSED for a closed one. A non-blocking accept with
 * nobody waiting says EAGAIN. */
static void test_nonblocking_connect_and_accept(void **state)
{
    (void)state;
    struct pair p;
    pair_start(&p, NULL, 7);
    int lfd = tcp_listener(p.b, 7005);
    assert_int_equal(tapir_fcntl(lfd, F_SETFL, O_NONBLOCK), 0);
    assert_int_equal(tapir_accept(lfd, NULL, NULL), -1);
    assert_int_equal(errno, EAGAIN);
    const uint16_t ports[2] = {7005, 7099};
    const int want[2] = {0, ECONNREFUSED};
    for (int i = 0; i < 2; i++) {
        int fd = tapir_socket_on(p.a, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        struct sockaddr_in to = pair_sin(PAIR_ADDR_B, ports[i]);
        assert_int_equal(tapir_connect(fd, SA(&to), sizeof(to)), -1);
        assert_int_equal(errno, EINPROGRESS);
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        assert_int_equal(tapir_poll(&pfd, 1, 10000), 1);
        assert_true(pfd.revents & POLLOUT);
        int err = -1;
        socklen_t len = sizeof(err);
        assert_int_equal(tapir_getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len), 0);
        assert_int_equal(err, want[i]);
        tapir_close(fd);
    }
    struct pollfd lp = {.fd = lfd, .events = POLLIN};
    assert_int_equal(tapir_poll(&lp, 1, 10000), 1); /* the first connection waits in the queue */
    int sfd = tapir_accept(lfd, NULL, NULL);
    assert_true(sfd >= TAPIR_FD_BASE);
    tapir_close(sfd);
    tapir_close(lfd);
    pair_stop(&p);
}

/* The accept queue holds backlog + 1 connections, as Linux's: with backlog 0 and two
 * handshakes at once, the second's last ACK is dropped while the first waits for accept;
 * once it is accepted, the second completes (on the SYN,ACK's retransmission) and can be
 * accepted too. */
static void test_full_accept_queue_holds_the_handshake(void **state)
{
    (void)state;
    struct pair p;
    pair_start(&p, NULL, 8);
    int lfd = tapir_socket_on(p.b, AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = pair_sin("0.0.0.0", 7006);
    assert_int_equal(tapir_bind(lfd, SA(&sin), sizeof(sin)), 0);
    assert_int_equal(tapir_listen(lfd, 0), 0);
    set_timeouts(lfd);
    int c[2];
    for (int i = 0; i < 2; i++) {
        c[i] = tapir_socket_on(p.a, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        struct sockaddr_in to = pair_sin(PAIR_ADDR_B, 7006);
        assert_int_equal(tapir_connect(c[i], SA(&to), sizeof(to)), -1);
        assert_int_equal(errno, EINPROGRESS);
    }
    int s1 = tapir_accept(lfd, NULL, NULL);
    assert_true(s1 >= TAPIR_FD_BASE);
    int s2 = tapir_accept(lfd, NULL, NULL); /* within the SYN,ACK's retransmission, ~1 s */
    assert_true(s2 >= TAPIR_FD_BASE);
    /* Both work end to end. */
    for (int i = 0; i < 2; i++) {
        struct pollfd pfd = {.fd = c[i], .events = POLLOUT};
        assert_int_equal(tapir_poll(&pfd, 1, 5000), 1);
        assert_int_equal(tapir_send(c[i], "x", 1, 0), 1);
    }
    char b;
    set_timeouts(s1);
    set_timeouts(s2);
    assert_int_equal(tapir_recv(s1, &b, 1, 0), 1);
    assert_int_equal(tapir_recv(s2, &b, 1, 0), 1);
    for (int i = 0; i < 2; i++)
        tapir_close(c[i]);
    tapir_close(s1);
    tapir_close(s2);
    tapir_close(lfd);
    pair_stop(&p);
}

struct seen {
    unsigned listeners, established;
    uint16_t listen_port, server_port;
    char text[4096];
};

static void note_conn(const struct tapir_conn_info *i, void *arg)
{
    struct seen *s = arg;
    if (strcmp(i->state, "LISTEN") == 0 && i->local_port == 7007) {
        s->listeners++;
        s->listen_port = i->local_port;
    } else if (strcmp(i->state, "ESTABLISHED") == 0 && i->local_port == 7007) {
        s->established++;
        s->server_port = i->local_port;
    }
}

static void list_conns(struct tapir_stack *st, void *arg)
{
    struct seen *s = arg;
    tapir_conns_each(st, note_conn, s);
    FILE *f = fmemopen(s->text, sizeof(s->text) - 1, "w");
    tapir_conns_print(st, f);
    fclose(f);
}

/* The connection table (what tapir prints on SIGUSR1): the listener and the accepted
 * connection, with their states and ports. */
static void test_connection_table(void **state)
{
    (void)state;
    struct pair p;
    pair_start(&p, NULL, 9);
    int lfd = tcp_listener(p.b, 7007);
    int cfd = tcp_client(p.a, PAIR_ADDR_B, 7007);
    int sfd = tapir_accept(lfd, NULL, NULL);
    assert_true(sfd >= TAPIR_FD_BASE);
    struct seen s = {0};
    tapir_host_call(p.b, list_conns, &s);
    assert_int_equal(s.listeners, 1);
    assert_int_equal(s.established, 1);
    assert_non_null(strstr(s.text, "Connections:\n"));
    assert_non_null(strstr(s.text, "LISTEN       0.0.0.0:7007  accept 0/9 syn 0"));
    assert_non_null(strstr(s.text, "ESTABLISHED  10.0.0.2:7007 10.0.0.1:"));
    tapir_close(cfd);
    tapir_close(sfd);
    tapir_close(lfd);
    pair_stop(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_accept_echo_close),
        cmocka_unit_test(test_one_mib_both_ways),
        cmocka_unit_test(test_connect_refused),
        cmocka_unit_test(test_half_close),
        cmocka_unit_test(test_time_wait_port_needs_reuseaddr),
        cmocka_unit_test(test_linger_zero_and_unread_data_reset),
        cmocka_unit_test(test_nonblocking_connect_and_accept),
        cmocka_unit_test(test_full_accept_queue_holds_the_handshake),
        cmocka_unit_test(test_connection_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
