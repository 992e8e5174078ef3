/* SPDX-License-Identifier: MIT */
/* test_shim_udp.c: the blocking shim in real threads, two hosts over a real-time wire.
 *
 * Each test pins one behaviour of tapir/socket.h. Timing is checked only with generous upper
 * bounds ("within 5 s"), and with lower bounds only where the semantics demand one (a 200 ms
 * SO_RCVTIMEO must not expire at 50 ms). A call expected to block runs in a thread of its own
 * (struct bg); the test waits until that thread is about to make the call, sleeps 100 ms, checks
 * that the call has not returned, then does what should wake it. Threads are joined with a
 * deadline, so a call that never wakes fails its test instead of hanging the binary; a per-test
 * alarm catches any other hang. Behaviour whose failure is a crash or a sanitizer abort runs in
 * a forked child (run_in_child), so it fails its own test and the suite goes on. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "pair.h"

#define WAKE_MS 5000u   /* a woken call must return within this: generous on a loaded host */
#define BLOCK_MS 100u   /* how long a call is left blocked before it is woken */

/* ---- Helpers ---------------------------------------------------------------------------- */

static struct sockaddr *sa(struct sockaddr_in *sin) { return (struct sockaddr *)sin; }

static const char *sin_addr_str(const struct sockaddr_in *sin, char *text)
{
    return inet_ntop(AF_INET, &sin->sin_addr, text, INET_ADDRSTRLEN);
}

static void assert_sin(const struct sockaddr_in *sin, const char *addr, uint16_t port)
{
    char text[INET_ADDRSTRLEN];
    assert_int_equal(sin->sin_family, AF_INET);
    assert_string_equal(sin_addr_str(sin, text), addr);
    assert_int_equal(ntohs(sin->sin_port), port);
}

static void set_rcvtimeo_ms(int fd, unsigned ms)
{
    struct timeval tv = {.tv_sec = ms / 1000u, .tv_usec = (suseconds_t)(ms % 1000u) * 1000};
    assert_int_equal(tapir_setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
}

static void set_int_opt(int fd, int name, int value)
{
    assert_int_equal(tapir_setsockopt(fd, SOL_SOCKET, name, &value, sizeof(value)), 0);
}

static uint16_t local_port(int fd)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    assert_int_equal(tapir_getsockname(fd, sa(&sin), &len), 0);
    return ntohs(sin.sin_port);
}

static void send_to(int fd, const char *addr, uint16_t port, const void *buf, size_t len)
{
    struct sockaddr_in to = pair_sin(addr, port);
    assert_int_equal(tapir_sendto(fd, buf, len, 0, sa(&to), sizeof(to)), (ssize_t)len);
}

/* Waits (up to WAKE_MS) until fd has a datagram or an error to report. */
static void wait_readable(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    assert_int_equal(tapir_poll(&pfd, 1, (int)WAKE_MS), 1);
}

static void flag_set(atomic_int *flag) { atomic_store(flag, 1); }
static int flag_get(atomic_int *flag) { return atomic_load(flag); }

/* One call run in a thread of its own. Allocated on the heap: a test that gives up on a stuck
 * thread leaks it rather than pulling the memory from under that thread. */
struct bg {
    pthread_t thread;
    void (*run)(struct bg *b);
    struct tapir_host *host;
    int fd, flags;
    char buf[2048];
    size_t len;
    struct sockaddr_in from;
    socklen_t from_len;
    struct pollfd pfd[8];
    nfds_t nfds;
    int timeout_ms;
    ssize_t rc;
    int err;
    uint64_t start_us, end_us;
    atomic_int started, done;
};

static void *bg_main(void *arg)
{
    struct bg *b = arg;
    b->start_us = pair_now_us();
    flag_set(&b->started);
    b->run(b);
    b->end_us = pair_now_us();
    flag_set(&b->done);
    return NULL;
}

static void bg_recvfrom(struct bg *b)
{
    b->from_len = sizeof(b->from);
    errno = 0;
    b->rc = tapir_recvfrom(b->fd, b->buf, b->len, b->flags, sa(&b->from), &b->from_len);
    b->err = errno;
}

static void bg_poll(struct bg *b)
{
    errno = 0;
    b->rc = tapir_poll(b->pfd, b->nfds, b->timeout_ms);
    b->err = errno;
}

static void bg_host_close(struct bg *b)
{
    tapir_host_close(b->host);
    b->rc = 0;
}

static struct bg *bg_new(void)
{
    struct bg *b = calloc(1, sizeof(*b));
    assert_non_null(b);
    b->len = sizeof(b->buf);
    b->timeout_ms = -1;
    return b;
}

static void bg_start(struct bg *b, void (*run)(struct bg *b))
{
    b->run = run;
    assert_int_equal(pthread_create(&b->thread, NULL, bg_main, b), 0);
}

/* Waits until the thread is about to make its call, gives it BLOCK_MS to block, and checks
 * that the call is still in progress. */
static void bg_assert_blocked(struct bg *b)
{
    uint64_t give_up = pair_now_us() + WAKE_MS * 1000u;
    while (!flag_get(&b->started) && pair_now_us() < give_up)
        pair_sleep_ms(1);
    assert_true(flag_get(&b->started));
    pair_sleep_ms(BLOCK_MS);
    assert_false(flag_get(&b->done));
}

/* Joins the thread, which must finish within WAKE_MS; then b may be read and freed. */
static void bg_finish(struct bg *b)
{
    int rc = pair_join(b->thread, WAKE_MS);
    if (rc != 0)
        fail_msg("a call in another thread did not return within %u ms", WAKE_MS);
    assert_true(flag_get(&b->done));
}

/* The Internet checksum of len bytes, for checking the messages that come back. */
static uint16_t inet_csum(const uint8_t *p, size_t len)
{
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)p[i] << 8 | p[i + 1];
    if (len & 1)
        sum += (uint32_t)p[len - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* ---- 0. The basic path ------------------------------------------------------------------ */

/* A datagram from A to B is received by a blocking recvfrom with A's address as source. */
static void test_blocking_recv_gets_datagram(void **state)
{
    (void)state;
    struct pair p;
    pair_start(&p, NULL, 1);
    int rx = pair_udp(p.b, 5000), tx = pair_udp(p.a, 0);
    struct sockaddr_in to = pair_sin(PAIR_ADDR_B, 5000);
    assert_int_equal(tapir_sendto(tx, "hello", 5, 0, (struct sockaddr *)&to, sizeof(to)), 5);
    char buf[64];
    struct sockaddr_in from;
    socklen_t from_len = sizeof(from);
    assert_int_equal(tapir_recvfrom(rx, buf, sizeof(buf), 0, (struct sockaddr *)&from, &from_len), 5);
    assert_memory_equal(buf, "hello", 5);
    assert_int_equal(from_len, sizeof(from));
    char text[INET_ADDRSTRLEN];
    assert_string_equal(inet_ntop(AF_INET, &from.sin_addr, text, sizeof(text)), PAIR_ADDR_A);
    assert_int_equal(tapir_close(rx), 0);
    assert_int_equal(tapir_close(tx), 0);
    pair_stop(&p);
}

/* ---- 1. Blocking receive ---------------------------------------------------------------- */

/* A tapir_recvfrom blocked in another thread (it has not returned after 100 ms on an empty
 * queue) is woken by a datagram sent later, and returns it with the sender's address. */
static void test_recv_blocks_until_datagram_arrives(void **state)
{
    (void)state;
    struct pair p;
    pair_start(&p, NULL, 2);
    int rx = pair_udp(p.b, 5001), tx = pair_udp(p.a, 4001);
    struct bg *b = bg_new();
    b->fd = rx;
    bg_start(b, bg_recvfrom);
    bg_assert_blocked(b);
    uint64_t sent_us = pair_now_us();
    send_to(tx, PAIR_ADDR_B, 5001, "wake up", 7);
    bg_finish(b);
    assert_int_equal(b->rc, 7);
    assert_memory_equal(b->buf, "wake up", 7);
    assert_int_equal(b->from_len, sizeof(struct sockaddr_in));
    assert_sin(&b->from, PAIR_ADDR_A, 4001);
    assert_true(b->end_us >= sent_us); /* it really waited for the datagram */
    free(b);
    assert_int_equal(tapir_close(rx), 0);
    assert_int_equal(tapir_close(tx), 0);
    pair_stop(&p);
}

/* ---- 2. SO_RCVTIMEO --------------------------------------------------------------------- */

/* SO_RCVTIMEO bounds a blocking receive: -1/EAGAIN after the timeout (not before it: 200 ms
 * may not return before ~190 ms); getsockopt gives back the struct timeval set; microseconds
 * outside 0..999999 are EDOM and a short optlen EINVAL, leaving the old value; a datagram that
 * arrives within the timeout is returned; zero means "wait forever" and reads back as zero. */
static void test_rcvtimeo(void **state)
{
    (void)state;
    struct pair p;
    pair_start(&p, NULL, 3);
    int rx = pair_udp(p.b, 5002), tx = pair_udp(p.a, 0);

    struct timeval tv = {.tv_sec = 0, .tv_usec = 200000}, got;
    assert_int_equal(tapir_setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    socklen_t len = sizeof(got);
    memset(&got, 0xa5, sizeof(got));
    assert_int_equal(tapir_getsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &got, &len), 0);
    assert_int_equal(len, sizeof(got));
    assert_int_equal(got.tv_sec, 0);
    assert_int_equal(got.tv_usec, 200000);

    char buf[16];
    uint64_t t0 = pair_now_us();
    errno = 0;
    assert_int_equal(tapir_recv(rx, buf, sizeof(buf), 0), -1);
    uint64_t waited_us = pair_now_us() - t0;
    assert_int_equal(errno, EAGAIN);
    assert_true(waited_us >= 190000);
    assert_true(waited_us < WAKE_MS * 1000u);

    /* recvfrom and recvmsg obey it too. */
    struct sockaddr_in from;
    socklen_t from_len = sizeof(from);
    t0 = pair_now_us();
    assert_int_equal(tapir_recvfrom(rx, buf, sizeof(buf), 0, sa(&from), &from_len), -1);
    assert_int_equal(errno, EAGAIN);
    assert_true(pair_now_us() - t0 >= 190000);
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    t0 = pair_now_us();
    assert_int_equal(tapir_recvmsg(rx, &msg, 0), -1);
    assert_int_equal(errno, EAGAIN);
    assert_true(pair_now_us() - t0 >= 190000);

    /* Bad values are refused and leave the timeout as it was. */
    struct timeval bad = {.tv_sec = 1, .tv_usec = 1000000};
    assert_int_equal(tapir_setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &bad, sizeof(bad)), -1);
    assert_int_equal(errno, EDOM);
    bad.tv_usec = -1;
    assert_int_equal(tapir_setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &bad, sizeof(bad)), -1);
    assert_int_equal(errno, EDOM);
    assert_int_equal(tapir_setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv) - 1), -1);
    assert_int_equal(errno, EINVAL);
    len = sizeof(got);
    assert_int_equal(tapir_getsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &got, &len), 0);
    assert_int_equal(got.tv_sec, 0);
    assert_int_equal(got.tv_usec, 200000);
    /* As Linux: a short buffer gets the first bytes, and len says how many. */
    len = sizeof(got) - 1;
    assert_int_equal(tapir_getsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &got, &len), 0);
    assert_int_equal(len, sizeof(got) - 1);

    /* A datagram within the timeout is returned, not EAGAIN. */
    struct timeval five = {.tv_sec = 5, .tv_usec = 0};
    assert_int_equal(tapir_setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &five, sizeof(five)), 0);
    struct bg *b = bg_new();
    b->fd = rx;
    bg_start(b, bg_recvfrom);
    bg_assert_blocked(b);
    send_to(tx, PAIR_ADDR_B, 5002, "in time", 7);
    bg_finish(b);
    assert_int_equal(b->rc, 7);
    assert_memory_equal(b->buf, "in time", 7);
    free(b);

    /* SO_SNDTIMEO is kept and read back the same way. */
    struct timeval snd = {.tv_sec = 2, .tv_usec = 500};
    assert_int_equal(tapir_setsockopt(rx, SOL_SOCKET, SO_SNDTIMEO, &snd, sizeof(snd)), 0);
    len = sizeof(got);
    assert_int_equal(tapir_getsockopt(rx, SOL_SOCKET, SO_SNDTIMEO, &got, &len), 0);
    assert_int_equal(got.tv_sec, 2);
    assert_int_equal(got.tv_usec, 500);

    /* Zero: forever again. */
    struct timeval zero = {0};
    assert_int_equal(tapir_setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &zero, sizeof(zero)), 0);
    len = sizeof(got);
    assert_int_equal(tapir_getsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &got, &len), 0);
    assert_int_equal(got.tv_sec, 0);
    assert_int_equal(got.tv_usec, 0);
    b = bg_new();
    b->fd = rx;
    bg_start(b, bg_recvfrom);
    bg_assert_blocked(b);
    send_to(tx, PAIR_ADDR_B, 5002, "x", 1);
    bg_finish(b);
    assert_int_equal(b->rc, 1);
    free(b);

    assert_int_equal(tapir_close(rx), 0);
    assert_int_equal(tapir_close(tx), 0);
    pair_stop(&p);
}

/* A huge SO_RCVTIMEO ({LONG_MAX, 0}) means "practically forever", as on Linux (which turns
 * any timeout past its range into MAX_SCHEDULE_TIMEOUT): the receive still blocks after 100 ms
 * and returns the datagram sent then. It must not overflow into "already expired". */
static void test_rcvtimeo_huge_still_blocks(void **state)
{
    (void)state;
    struct pair p;
    pair_start(&p, NULL, 4);
    int rx = pair_udp(p.b, 5003), tx = pair_udp(p.a, 0);
    struct timeval tv = {.tv_sec = LONG_MAX, .tv_usec = 0};
    assert_int_equal(tapir_setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    struct bg *b = bg_new();
    b->fd = rx;
    bg_start(b, bg_recvfrom);
    uint64_t give_up = pair_now_us() + WAKE_MS * 1000u;
    while (!flag_get(&b->started) && pair_now_us() < give_up)
        pair_sleep_ms(1);
    pair_sleep_ms(BLOCK_MS);
    bool returned_early = flag_get(&b->done);
    send_to(tx, PAIR_ADDR_B, 5003, "late", 4); /* wakes it either way */
    bg_finish(b);
    ssize_t rc = b->rc;
    int err = b->err;
    unsigned long long took_us = b->end_us - b->start_us;
    free(b);
    assert_int_equal(tapir_close(rx), 0);
    assert_int_equal(tapir_close(tx), 0);
    pair_stop(&p);
    if (returned_early)
        fail_msg("recv with SO_RCVTIMEO {LONG_MAX, 0} returned %zd (errno %d) after %llu us "
                 "instead of blocking", rc, err, took_us);
    assert_int_equal(rc, 4);
}

/* ---- 3. Non-blocking modes -------------------------------------------------------------- */

/* Receives on an empty queue that must not block: -1/EAGAIN at once. A 4 s SO_RCVTIMEO is the
 * safety net, so a call that wrongly blocked returns after 4 s and fails the 2 s bound instead
 * of hanging. */
static void assert_eagain_now(int fd, int flags)
{
    char buf[16];
    uint64_t t0 = pair_now_us();
    errno = 0;
    assert_int_equal(tapir_recv(fd, buf, sizeof(buf), flags), -1);
    assert_int_equal(errno, EAGAIN);
    struct sockaddr_in from;
    socklen_t from_len = sizeof(from);
    assert_int_equal(tapir_recvfrom(fd, buf, sizeof(buf), flags, sa(&from), &from_len), -1);
    assert_int_equal(errno, EAGAIN);
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    assert_int_equal(tapir_recvmsg(fd, &msg, flags), -1);
    assert_int_equal(errno, EAGAIN);
    assert_true(pair_now_us() - t0 < 2000000);
}

/* O_NONBLOCK set with tapir_fcntl(F_SETFL), SOCK_NONBLOCK given to tapir_socket, and
 * MSG_DONTWAIT on a blocking socket each make a receive on an empty queue fail with EAGAIN at
 * once; F_GETFL reports O_NONBLOCK exactly when it is set (with O_RDWR); clearing it makes the
 * socket block again; a datagram that is there is returned by a non-blocking receive. */
static void test_nonblocking_modes(void **state)
{
    (void)state;
    struct pair p;
    pair_start(&p, NULL, 5);
    int tx = pair_udp(p.a, 0);

    /* SOCK_NONBLOCK at creation. */
    int nb = tapir_socket_on(p.b, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    assert_true(nb >= TAPIR_FD_BASE);
    struct sockaddr_in any = pair_sin("0.0.0.0", 5004);
    assert_int_equal(tapir_bind(nb, sa(&any), sizeof(any)), 0);
    set_rcvtimeo_ms(nb, 4000);
    int fl = tapir_fcntl(nb, F_GETFL);
    assert_true(fl >= 0);
    assert_true(fl & O_NONBLOCK);
    assert_int_equal(fl & O_ACCMODE, O_RDWR);
    assert_eagain_now(nb, 0);
    send_to(tx, PAIR_ADDR_B, 5004, "nb", 2);
    wait_readable(nb);
    char buf[16];
    assert_int_equal(tapir_recv(nb, buf, sizeof(buf), 0), 2);
    assert_memory_equal(buf, "nb", 2);

    /* A blocking socket: F_GETFL says so; MSG_DONTWAIT does not wait. */
    int rx = pair_udp(p.b, 5005);
    set_rcvtimeo_ms(rx, 4000);
    fl = tapir_fcntl(rx, F_GETFL);
    assert_int_equal(fl, O_RDWR);
    assert_eagain_now(rx, MSG_DONTWAIT);
    assert_int_equal(tapir_fcntl(rx, F_GETFL), O_RDWR); /* MSG_DONTWAIT changed nothing */

    /* F_SETFL O_NONBLOCK, then back. */
    assert_int_equal(tapir_fcntl(rx, F_SETFL, fl | O_NONBLOCK), 0);
    assert_int_equal(tapir_fcntl(rx, F_GETFL), O_RDWR | O_NONBLOCK);
    assert_eagain_now(rx, 0);
    send_to(tx, PAIR_ADDR_B, 5005, "fl", 2);
    wait_readable(rx);
    assert_int_equal(tapir_recv(rx, buf, sizeof(buf), 0), 2);
    assert_int_equal(tapir_fcntl(rx, F_SETFL, 0), 0);
    assert_int_equal(tapir_fcntl(rx, F_GETFL), O_RDWR);
    struct bg *b = bg_new();
    b->fd = rx;
    bg_start(b, bg_recvfrom);
    bg_assert_blocked(b); /* blocking again */
    send_to(tx, PAIR_ADDR_B, 5005, "bl", 2);
    bg_finish(b);
    assert_int_equal(b->rc, 2);
    free(b);

    /* F_GETFD / F_SETFD are accepted; an unknown command is EINVAL; a bad fd EBADF. */
    assert_true(tapir_fcntl(rx, F_GETFD) >= 0);
    assert_int_equal(tapir_fcntl(rx, F_SETFD, FD_CLOEXEC), 0);
    assert_int_equal(tapir_fcntl(rx, F_DUPFD, 0), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(tapir_fcntl(TAPIR_FD_BASE + 100000, F_GETFL), -1);
    assert_int_equal(errno, EBADF);

    assert_int_equal(tapir_close(nb), 0);
    assert_int_equal(tapir_close(rx), 0);
    assert_int_equal(tapir_close(tx), 0);
    pair_stop(&p);
}

/* ---- 4. poll ---------------------------------------------------------------------------- */

struct poll_set {
    int s1, s2, s3;         /* UDP sockets on B, ports 5101..5103 */
    int a1;                 /* a UDP socket on A, port 5104 */
    int pipe_r, pipe_w;
    int tx;                 /* sender on A */
    int tx_b;               /* sender on B */
};

static void poll_set_open(struct pair *p, struct poll_set *ps)
{
    ps->s1 = pair_udp(p->b, 5101);
    ps->s2 = pair_udp(p->b, 5102);
    ps->s3 = pair_udp(p->b, 5103);
    ps->a1 = pair_udp(p->a, 5104);
    ps->tx = pair_udp(p->a, 0);
    ps->tx_b = pair_udp(p->b, 0);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    ps->pipe_r = fds[0];
    ps->pipe_w = fds[1];
}

static void poll_set_close(struct poll_set *ps)
{
    int tapir_fds[] = {ps->s1, ps->s2, ps->s3, ps->a1, ps->tx, ps->tx_b};
    for (size_t i = 0; i < sizeof(tapir_fds) / sizeof(tapir_fds[0]); i++)
        if (tapir_fds[i] >= 0)
            assert_int_equal(tapir_close(tapir_fds[i]), 0);
    close(ps->pipe_r);
    close(ps->pipe_w);
}

static void pfd_fill(struct pollfd *pfd, const int *fds, size_t n, short events)
{
    for (size_t i = 0; i < n; i++) {
        pfd[i] = (struct pollfd){.fd = fds[i], .events = events, .revents = (short)0x5a5a};
    }
}

/* tapir_poll over several tapir sockets (on both hosts) and a kernel pipe at once: only the
 * ready entries get revents (POLLIN for a datagram or for pipe data), the others 0, and the
 * return value counts the ready ones; a blocking poll waits for the datagram; POLLOUT is
 * always there for a datagram socket. */
static void test_poll_reports_only_ready(void **state)
{
    (void)state;
    struct pair p;
    pair_start(&p, NULL, 6);
    struct poll_set ps;
    poll_set_open(&p, &ps);
    int fds[] = {ps.s1, ps.s2, ps.s3, ps.a1, ps.pipe_r};
    struct pollfd pfd[5];

    /* Nothing ready yet. */
    pfd_fill(pfd, fds, 5, POLLIN);
    assert_int_equal(tapir_poll(pfd, 5, 0), 0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(pfd[i].revents, 0);

    /* A datagram to s2: a poll that waits returns when it arrives, with s2 alone. */
    send_to(ps.tx, PAIR_ADDR_B, 5102, "s2", 2);
    pfd_fill(pfd, fds, 5, POLLIN);
    assert_int_equal(tapir_poll(pfd, 5, (int)WAKE_MS), 1);
    assert_int_equal(pfd[0].revents, 0);
    assert_int_equal(pfd[1].revents, POLLIN);
    assert_int_equal(pfd[2].revents, 0);
    assert_int_equal(pfd[3].revents, 0);
    assert_int_equal(pfd[4].revents, 0);

    /* And the pipe: two ready, found without waiting. */
    assert_int_equal(write(ps.pipe_w, "k", 1), 1);
    pfd_fill(pfd, fds, 5, POLLIN);
    assert_int_equal(tapir_poll(pfd, 5, 0), 2);
    assert_int_equal(pfd[1].revents, POLLIN);
    assert_int_equal(pfd[4].revents, POLLIN);
    assert_int_equal(pfd[0].revents | pfd[2].revents | pfd[3].revents, 0);

    /* A datagram from B to the socket on A, in the same array. */
    send_to(ps.tx_b, PAIR_ADDR_A, 5104, "a1", 2);
    int a_only[] = {ps.s1, ps.s3, ps.a1};
    pfd_fill(pfd, a_only, 3, POLLIN);
    assert_int_equal(tapir_poll(pfd, 3, (int)WAKE_MS), 1);
    assert_int_equal(pfd[2].revents, POLLIN);
    assert_int_equal(pfd[0].revents | pfd[1].revents, 0);

    /* POLLRDNORM is reported when asked for; POLLOUT always; neither when not asked. */
    pfd[0] = (struct pollfd){.fd = ps.s2, .events = POLLRDNORM};
    pfd[1] = (struct pollfd){.fd = ps.s1, .events = POLLOUT};
    pfd[2] = (struct pollfd){.fd = ps.s3, .events = 0};
    assert_int_equal(tapir_poll(pfd, 3, 0), 2);
    assert_int_equal(pfd[0].revents, POLLRDNORM);
    assert_int_equal(pfd[1].revents, POLLOUT);
    assert_int_equal(pfd[2].revents, 0);

    /* Reading the datagram and the pipe empties the set again. */
    char buf[8];
    assert_int_equal(tapir_recv(ps.s2, buf, sizeof(buf), 0), 2);
    assert_int_equal(tapir_recv(ps.a1, buf, sizeof(buf), 0), 2);
    assert_int_equal(read(ps.pipe_r, buf, sizeof(buf)), 1);
    pfd_fill(pfd, fds, 5, POLLIN);
    assert_int_equal(tapir_poll(pfd, 5, 0), 0);

    poll_set_close(&ps);
    pair_stop(&p);
}

/* A poll blocked in another thread on tapir sockets of both hosts and a pipe wakes when a
 * datagram arrives on one of them, sent after the poll had been waiting 100 ms; and a second
 * such poll wakes when the pipe is written. */
static void test_poll_wakes_on_datagram_and_pipe(void **state)
{
    (void)state;
    struct pair p;
    pair_start(&p, NULL, 7);
    struct poll_set ps;
    poll_set_open(&p, &ps);
    int fds[] = {ps.s1, ps.s3, ps.a1, ps.pipe_r};

    struct bg *b = bg_new();
    pfd_fill(b->pfd, fds, 4, POLLIN);
    b->nfds = 4;
    b->timeout_ms = 10000;
    bg_start(b, bg_poll);
    bg_assert_blocked(b);
    send_to(ps.tx, PAIR_ADDR_B, 5103, "s3", 2);
    bg_finish(b);
    assert_int_equal(b->rc, 1);
    assert_int_equal(b->pfd[0].revents, 0);
    assert_int_equal(b->pfd[1].revents, POLLIN);
    assert_int_equal(b->pfd[2].revents, 0);
    assert_int_equal(b->pfd[3].revents, 0);
    free(b);
    char buf[8];
    assert_int_equal(tapir_recv(ps.s3, buf, sizeof(buf), 0), 2);

    b = bg_new();
    pfd_fill(b->pfd, fds, 4, POLLIN);
    b->nfds = 4;
    b->timeout_ms = 10000;
    bg_start(b, bg_poll);
    bg_assert_blocked(b);
    assert_int_equal(write(ps.pipe_w, "p", 1), 1);
    bg_finish(b);
    assert_int_equal(b->rc, 1);
    assert_int_equal(b->pfd[0].revents | b->pfd[1].revents | b->pfd[2].revents, 0);
    assert_int_equal(b->pfd[3].revents, POLLIN);
    free(b);

    /* And one waiting with timeout -1 (forever), woken by a datagram on A's socket. */
    assert_int_equal(read(ps.pipe_r, buf, sizeof(buf)), 1);
    b = bg_new();
    pfd_fill(b->pfd, fds, 4, POLLIN);
    b->nfds = 4;
    b->timeout_ms = -1;
    bg_start(b, bg_poll);
    bg_assert_blocked(b);
    send_to(ps.tx_b, PAIR_ADDR_A, 5104, "a1", 2);
    bg_finish(b);
    assert_int_equal(b->rc, 1);
    assert_int_equal(b->pfd[2].revents, POLLIN);
    free(b);

    poll_set_close(&ps);
    pair_stop(&p);
}

/* Timeouts: 0 returns 0 at once when nothing is ready; 150 ms returns 0 after the timeout
 * (not before ~140 ms) when nothing arrives; with no entries at all it still waits. */
static void test_poll_timeouts(void **state)
{
    (void)state;
    struct pair p;
    pair_start(&p, NULL, 8);
    struct poll_set ps;
    poll_set_open(&p, &ps);
    int fds[] = {ps.s1, ps.s2, ps.a1, ps.pipe_r};
    struct pollfd pfd[4];

    pfd_fill(pfd, fds, 4, POLLIN);
    uint64_t t0 = pair_now_us();
    assert_int_equal(tapir_poll(pfd, 4, 0), 0);
    assert_true(pair_now_us() - t0 < 2000000);

    pfd_fill(pfd, fds, 4, POLLIN);
    t0 = pair_now_us();
    assert_int_equal(tapir_poll(pfd, 4, 150), 0);
    uint64_t waited_us = pair_now_us() - t0;
    assert_true(waited_us >= 140000);
    assert_true(waited_us < WAKE_MS * 1000u);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pfd[i].revents, 0);

    t0 = pair_now_us();
    assert_int_equal(tapir_poll(NULL, 0, 150), 0);
    assert_true(pair_now_us() - t0 >= 140000);

    poll_set_close(&ps);
    pair_stop(&p);
}

/* A closed tapir descriptor, and one never handed out, report POLLNVAL and count as ready, so
 * the poll returns at once; a negative fd is ignored (revents 0, not counted). */
static void test_poll_nval_and_negative_fd(void **state)
{
    (void)state;
    struct pair p;
    pair_start(&p, NULL, 9);
    struct poll_set ps;
    poll_set_open(&p, &ps);
    int closed = ps.s1;
    assert_int_equal(tapir_close(closed), 0);
    ps.s1 = -1;
    struct pollfd pfd[4] = {
        {.fd = closed, .events = POLLIN, .revents = 0x55},
        {.fd = ps.s2, .events = POLLIN, .revents = 0x55},
        {.fd = -1, .events = POLLIN, .revents = 0x55},
        {.fd = TAPIR_FD_BASE + 100000, .events = POLLIN, .revents = 0x55},
    };
    uint64_t t0 = pair_now_us();
    assert_int_equal(tapir_poll(pfd, 4, (int)WAKE_MS), 2);
    assert_true(pair_now_us() - t0 < 2000000);
    assert_int_equal(pfd[0].revents, POLLNVAL);
    assert_int_equal(pfd[1].revents, 0);
    assert_int_equal(pfd[2].revents, 0);
    assert_int_equal(pfd[3].revents, POLLNVAL);

    /* A negative fd alone: nothing to report, so the timeout runs out. */
    pfd[0] = (struct pollfd){.fd = -5, .events = POLLIN, .revents = 0x55};
    assert_int_equal(tapir_poll(pfd, 1, 0), 0);
    assert_int_equal(pfd[0].revents, 0);

    poll_set_close(&ps);
    pair_stop(&p);
}

/* More entries than tapir_poll keeps on its stack (40 sockets): the one that gets a datagram
 * while the poll waits is the one reported. */
static void test_poll_many_sockets(void **state)
{
    (void)state;
    enum { N = 40 };
    struct pair p;
    pair_start(&p, NULL, 10);
    int tx = pair_udp(p.a, 0);
    struct pollfd *pfd = calloc(N, sizeof(*pfd));
    assert_non_null(pfd);
    for (int i = 0; i < N; i++)
        pfd[i] = (struct pollfd){.fd = pair_udp(p.b, (uint16_t)(5200 + i)), .events = POLLIN};
    assert_int_equal(tapir_poll(pfd, N, 0), 0);
    send_to(tx, PAIR_ADDR_B, 5200 + 37, "37", 2);
    assert_int_equal(tapir_poll(pfd, N, (int)WAKE_MS), 1);
    for (int i = 0; i < N; i++)
        assert_int_equal(pfd[i].revents, i == 37 ? POLLIN : 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(tapir_close(pfd[i].fd), 0);
    free(pfd);
    assert_int_equal(tapir_close(tx), 0);
    pair_stop(&p);
}

/* ---- 5. close from another thread ------------------------------------------------------- */

/* tapir_close from one thread wakes another blocked in tapir_recvfrom on the same socket:
 * the receive fails with EBADF (the documented departure from Linux), and the descriptor is
 * gone (a second close is EBADF). */
static void test_close_wakes_blocked_recv(void **state)
{
    (void)state;
    struct pair p;
    pair_start(&p, NULL, 11);
    int rx = pair_udp(p.b, 5300);
    struct bg *b = bg_new();
    b->fd = rx;
    bg_start(b, bg_recvfrom);
    bg_assert_blocked(b);
    assert_int_equal(tapir_close(rx), 0);
    bg_finish(b);
    assert_int_equal(b->rc, -1);
    assert_int_equal(b->err, EBADF);
    free(b);
    assert_int_equal(tapir_close(rx), -1);
    assert_int_equal(errno, EBADF);
    /* The port is free again. */
    int again = pair_udp(p.b, 5300);
    assert_int_equal(tapir_close(again), 0);
    pair_stop(&p);
}

/* tapir_close wakes a thread blocked in tapir_poll on the socket (with a 10 s timeout): the
 * poll returns 1 well before that, with POLLNVAL for the closed socket. */
static void test_close_wakes_blocked_poll(void **state)
{
    (void)state;
    struct pair p;
    pair_start(&p, NULL, 12);
    int rx = pair_udp(p.b, 5301), other = pair_udp(p.b, 5302);
    struct bg *b = bg_new();
    b->pfd[0] = (struct pollfd){.fd = other, .events = POLLIN};
    b->pfd[1] = (struct pollfd){.fd = rx, .events = POLLIN};
    b->nfds = 2;
    b->timeout_ms = 10000;
    bg_start(b, bg_poll);
    bg_assert_blocked(b);
    assert_int_equal(tapir_close(rx), 0);
    bg_finish(b);
    assert_int_equal(b->rc, 1);
    assert_int_equal(b->pfd[0].revents, 0);
    assert_int_equal(b->pfd[1].revents, POLLNVAL);
    free(b);
    assert_int_equal(tapir_close(other), 0);
    pair_stop(&p);
}

/* ---- 6. shutdown ------------------------------------------------------------------------ */

/* tapir_shutdown(SHUT_RD) from another thread wakes a blocked receive, which returns 0 (end
 * of data, no sender address); later receives return 0 at once; a poll sees POLLIN|POLLRDHUP.
 * On an unconnected socket shutdown reports ENOTCONN, as Linux, yet takes effect. */
static void test_shutdown_rd_wakes_recv(void **state)
{
    (void)state;
    struct pair p;
    pair_start(&p, NULL, 13);
    int rx = pair_udp(p.b, 5400);
    struct bg *b = bg_new();
    b->fd = rx;
    memset(&b->from, 0xee, sizeof(b->from));
    bg_start(b, bg_recvfrom);
    bg_assert_blocked(b);
    assert_int_equal(tapir_shutdown(rx, SHUT_RD), -1);
    assert_int_equal(errno, ENOTCONN);
    bg_finish(b);
    assert_int_equal(b->rc, 0);
    free(b);

    char buf[8];
    uint64_t t0 = pair_now_us();
    assert_int_equal(tapir_recv(rx, buf, sizeof(buf), 0), 0);
    assert_true(pair_now_us() - t0 < 2000000);
    struct pollfd pfd = {.fd = rx, .events = POLLIN | POLLRDHUP};
    assert_int_equal(tapir_poll(&pfd, 1, 0), 1);
    assert_int_equal(pfd.revents & (POLLIN | POLLRDHUP), POLLIN | POLLRDHUP);

    /* A connected socket: shutdown returns 0. Bad how: EINVAL. */
    int c = pair_udp(p.b, 0);
    struct sockaddr_in peer = pair_sin(PAIR_ADDR_A, 9999);
    assert_int_equal(tapir_connect(c, sa(&peer), sizeof(peer)), 0);
    assert_int_equal(tapir_shutdown(c, SHUT_RD), 0);
    assert_int_equal(tapir_recv(c, buf, sizeof(buf), 0), 0);
    assert_int_equal(tapir_shutdown(c, 7), -1);
    assert_int_equal(errno, EINVAL);

    assert_int_equal(tapir_close(c), 0);
    assert_int_equal(tapir_close(rx), 0);
    pair_stop(&p);
}

/* After SHUT_WR every send fails with EPIPE and no SIGPIPE is raised (with SIGPIPE at its
 * default action and unblocked, a raised one would kill this process); receiving still works. */
static void test_shutdown_wr_epipe_without_sigpipe(void **state)
{
    (void)state;
    struct sigaction dfl = {.sa_handler = SIG_DFL}, old;
    sigemptyset(&dfl.sa_mask);
    assert_int_equal(sigaction(SIGPIPE, &dfl, &old), 0);
    sigset_t pipe_set, old_mask;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    assert_int_equal(pthread_sigmask(SIG_UNBLOCK, &pipe_set, &old_mask), 0);

    struct pair p;
    pair_start(&p, NULL, 14);
    int rx = pair_udp(p.b, 5401), tx = pair_udp(p.a, 4401);
    struct sockaddr_in to = pair_sin(PAIR_ADDR_B, 5401);
    assert_int_equal(tapir_connect(tx, sa(&to), sizeof(to)), 0);
    assert_int_equal(tapir_send(tx, "before", 6, 0), 6);
    set_rcvtimeo_ms(rx, WAKE_MS);
    char buf[16];
    assert_int_equal(tapir_recv(rx, buf, sizeof(buf), 0), 6);

    assert_int_equal(tapir_shutdown(tx, SHUT_WR), 0);
    errno = 0;
    assert_int_equal(tapir_send(tx, "after", 5, 0), -1);
    assert_int_equal(errno, EPIPE);
    assert_int_equal(tapir_sendto(tx, "after", 5, 0, sa(&to), sizeof(to)), -1);
    assert_int_equal(errno, EPIPE);
    struct iovec iov[2] = {{.iov_base = "af", .iov_len = 2}, {.iov_base = "ter", .iov_len = 3}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
    assert_int_equal(tapir_sendmsg(tx, &msg, 0), -1);
    assert_int_equal(errno, EPIPE);
    assert_int_equal(tapir_send(tx, "", 0, MSG_DONTWAIT), -1);
    assert_int_equal(errno, EPIPE);

    /* Nothing was sent after the shutdown... */
    assert_int_equal(tapir_recv(rx, buf, sizeof(buf), MSG_DONTWAIT), -1);
    assert_int_equal(errno, EAGAIN);
    /* ...and the other direction still works. */
    send_to(rx, PAIR_ADDR_A, 4401, "back", 4);
    set_rcvtimeo_ms(tx, WAKE_MS);
    assert_int_equal(tapir_recv(tx, buf, sizeof(buf), 0), 4);
    assert_memory_equal(buf, "back", 4);

    assert_int_equal(tapir_close(rx), 0);
    assert_int_equal(tapir_close(tx), 0);
    pair_stop(&p);
    assert_int_equal(pthread_sigmask(SIG_SETMASK, &old_mask, NULL), 0);
    assert_int_equal(sigaction(SIGPIPE, &old, NULL), 0);
}

/* ---- 7. Many senders at once ------------------------------------------------------------ */

enum { STORM_THREADS = 16, STORM_EACH = 200, STORM_WINDOW = 256, STORM_PORT = 5500 };

/* Senders on A and a receiver on B share this. "Low load" is enforced with a credit window
 * rather than with sleeps: a sender waits while more than STORM_WINDOW datagrams are sent but
 * not yet received. So at most STORM_WINDOW + STORM_THREADS datagrams are ever queued at B,
 * whatever the scheduler does on a loaded machine: well within B's receive buffer (1 MiB
 * asked, 2 MiB given, about 1,260 MTU-sized packet buffers), B's packet pool (1,024 frames)
 * and the wire (4,096 frames). Without the window, 16 threads on a shared two-CPU machine can
 * outrun the one receiver and overflow those bounds, which is drop-by-design, not a bug. */
struct storm_sender {
    struct storm *st;
    int id;
    int send_errno;
    pthread_t thread;
};

struct storm {
    struct storm_sender senders[STORM_THREADS];
    int rx;
    int tx_shared;          /* -1: each sender opens its own socket */
    struct tapir_host *a;
    atomic_long sent, received;
    atomic_int give_up;
    unsigned char seen[STORM_THREADS][STORM_EACH];
    unsigned stray;         /* datagrams that were not ours */
    long got;
    int recv_errno;
};

static void *storm_send_main(void *arg)
{
    struct storm_sender *me = arg;
    struct storm *st = me->st;
    int fd = st->tx_shared;
    if (fd < 0) {
        fd = tapir_socket_on(st->a, AF_INET, SOCK_DGRAM, 0);
        if (fd < 0) {
            me->send_errno = errno;
            return NULL;
        }
    }
    struct sockaddr_in to = pair_sin(PAIR_ADDR_B, STORM_PORT);
    for (int seq = 0; seq < STORM_EACH && !atomic_load(&st->give_up); seq++) {
        while (atomic_load(&st->sent) - atomic_load(&st->received) >= STORM_WINDOW &&
               !atomic_load(&st->give_up))
            pair_sleep_ms(1);
        atomic_fetch_add(&st->sent, 1);
        uint8_t msg[8] = {'S', (uint8_t)me->id, (uint8_t)(seq >> 8), (uint8_t)seq,
                          'x', 'y', 'z', '!'};
        if (tapir_sendto(fd, msg, sizeof(msg), 0, sa(&to), sizeof(to)) != (ssize_t)sizeof(msg)) {
            me->send_errno = errno;
            break;
        }
    }
    if (fd != st->tx_shared)
        tapir_close(fd);
    return NULL;
}

static void *storm_recv_main(void *arg)
{
    struct storm *st = arg;
    uint8_t buf[64];
    while (st->got < (long)STORM_THREADS * STORM_EACH) {
        ssize_t n = tapir_recv(st->rx, buf, sizeof(buf), 0);
        if (n < 0) {
            st->recv_errno = errno; /* SO_RCVTIMEO: nothing came for 5 s */
            atomic_store(&st->give_up, 1);
            return NULL;
        }
        int id = buf[1], seq = buf[2] << 8 | buf[3];
        if (n != 8 || buf[0] != 'S' || memcmp(buf + 4, "xyz!", 4) != 0 || id >= STORM_THREADS ||
            seq >= STORM_EACH)
            st->stray++;
        else
            st->seen[id][seq]++;
        st->got++;
        atomic_fetch_add(&st->received, 1);
    }
    return NULL;
}

static void storm_run(bool shared_socket, uint64_t seed)
{
    struct pair p;
    pair_start(&p, NULL, seed);
    struct storm *st = calloc(1, sizeof(*st));
    assert_non_null(st);
    st->a = p.a;
    st->rx = pair_udp(p.b, STORM_PORT);
    set_int_opt(st->rx, SO_RCVBUF, 1 << 20);
    int rcvbuf = 0;
    socklen_t len = sizeof(rcvbuf);
    assert_int_equal(tapir_getsockopt(st->rx, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &len), 0);
    assert_int_equal(rcvbuf, 2 << 20); /* doubled, as Linux */
    set_rcvtimeo_ms(st->rx, WAKE_MS);
    st->tx_shared = shared_socket ? pair_udp(p.a, 0) : -1;

    /* Resolve ARP first, so the burst does not pile up behind an unresolved neighbour. */
    int warm = pair_udp(p.a, 0);
    send_to(warm, PAIR_ADDR_B, STORM_PORT, "warm", 4);
    char wbuf[8];
    assert_int_equal(tapir_recv(st->rx, wbuf, sizeof(wbuf), 0), 4);
    assert_int_equal(tapir_close(warm), 0);

    pthread_t receiver;
    assert_int_equal(pthread_create(&receiver, NULL, storm_recv_main, st), 0);
    struct storm_sender *senders = st->senders;
    for (int i = 0; i < STORM_THREADS; i++) {
        senders[i] = (struct storm_sender){.st = st, .id = i};
        assert_int_equal(pthread_create(&senders[i].thread, NULL, storm_send_main, &senders[i]), 0);
    }
    /* Every thread ends: the receiver when all arrived or after 5 s of silence, and then the
     * senders. Should one hang, st is left to it (leaked) and the test fails. */
    if (pair_join(receiver, 30000) != 0)
        fail_msg("the receiver still runs after 30 s (%ld of %d received)", st->got,
                 STORM_THREADS * STORM_EACH);
    for (int i = 0; i < STORM_THREADS; i++)
        if (pair_join(senders[i].thread, 10000) != 0)
            fail_msg("sender %d still runs 10 s after the receiver ended", i);

    struct tapir_stats sb = pair_stats(p.b);
    struct wire_stats ws = wire_stats_now(p.wire);
    long missing = 0, dups = 0;
    for (int i = 0; i < STORM_THREADS; i++)
        for (int j = 0; j < STORM_EACH; j++) {
            missing += st->seen[i][j] == 0;
            dups += st->seen[i][j] > 1;
        }
    for (int i = 0; i < STORM_THREADS; i++)
        if (senders[i].send_errno)
            fail_msg("sender %d failed: %s", i, strerror(senders[i].send_errno));
    if (missing || dups || st->stray || st->recv_errno)
        fail_msg("%ld missing, %ld duplicated, %u stray of %ld received (recv errno %d); B: "
                 "udp rx %llu, rcvbuf drops %llu, eth no-buffer drops %llu; wire overflow %llu",
                 missing, dups, st->stray, st->got, st->recv_errno,
                 (unsigned long long)sb.udp.rx_datagrams, (unsigned long long)sb.udp.drop_rcvbuf,
                 (unsigned long long)sb.eth.drop_no_buffer, (unsigned long long)ws.overflow);
    assert_int_equal(st->got, STORM_THREADS * STORM_EACH);

    /* Nothing more trails in (a duplicate would). */
    struct pollfd pfd = {.fd = st->rx, .events = POLLIN};
    assert_int_equal(tapir_poll(&pfd, 1, 100), 0);
    assert_int_equal(sb.udp.drop_rcvbuf, 0);

    if (st->tx_shared >= 0)
        assert_int_equal(tapir_close(st->tx_shared), 0);
    assert_int_equal(tapir_close(st->rx), 0);
    free(st);
    pair_stop(&p);
}

/* 16 threads on host A, each with its own socket, send 200 numbered datagrams each at once to
 * one socket on B; a receiver thread collects them: every (thread, seq) exactly once. */
static void test_many_senders_own_sockets(void **state)
{
    (void)state;
    storm_run(false, 15);
}

/* The same with all 16 threads sending through one shared socket on A. */
static void test_many_senders_shared_socket(void **state)
{
    (void)state;
    storm_run(true, 16);
}

/* ---- 8. sendmsg and recvmsg ------------------------------------------------------------- */

/* Sends one datagram of the given text from tx and waits until rx has it. */
static void send_and_wait(int tx, int rx, uint16_t port, const char *text)
{
    send_to(tx, PAIR_ADDR_B, port, text, strlen(text));
    wait_readable(rx);
}

/* sendmsg gathers several iovecs (a zero-length one among them) into one datagram to
 * msg_name; recvmsg scatters it over several iovecs, fills msg_name with the sender and
 * msg_namelen with its length, and clears msg_flags and msg_controllen. A buffer too short
 * gets the datagram's beginning, MSG_TRUNC in msg_flags, and the rest is discarded; MSG_TRUNC
 * in flags returns the real length (recvmsg with one or several iovecs, and recv); MSG_PEEK
 * leaves it queued. */
static void test_sendmsg_recvmsg_iovecs(void **state)
{
    (void)state;
    struct pair p;
    pair_start(&p, NULL, 17);
    enum { PORT = 5600 };
    int rx = pair_udp(p.b, PORT), tx = pair_udp(p.a, 4600);
    set_rcvtimeo_ms(rx, WAKE_MS);

    /* Gather. */
    struct sockaddr_in to = pair_sin(PAIR_ADDR_B, PORT);
    struct iovec out[4] = {{.iov_base = "abc", .iov_len = 3}, {.iov_base = "", .iov_len = 0},
                           {.iov_base = "defgh", .iov_len = 5}, {.iov_base = "ij", .iov_len = 2}};
    struct msghdr smsg = {.msg_name = &to, .msg_namelen = sizeof(to), .msg_iov = out,
                          .msg_iovlen = 4};
    assert_int_equal(tapir_sendmsg(tx, &smsg, 0), 10);

    /* Scatter. */
    char a[4], b[20];
    memset(b, '.', sizeof(b));
    struct iovec in[2] = {{.iov_base = a, .iov_len = sizeof(a)}, {.iov_base = b, .iov_len = sizeof(b)}};
    struct sockaddr_in from;
    memset(&from, 0xee, sizeof(from));
    char control[32];
    struct msghdr rmsg = {.msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = in,
                          .msg_iovlen = 2, .msg_control = control,
                          .msg_controllen = sizeof(control), .msg_flags = 0x7777};
    assert_int_equal(tapir_recvmsg(rx, &rmsg, 0), 10);
    assert_memory_equal(a, "abcd", 4);
    assert_memory_equal(b, "efghij", 6);
    assert_int_equal(b[6], '.');
    assert_int_equal(rmsg.msg_flags, 0);
    assert_int_equal(rmsg.msg_controllen, 0);
    assert_int_equal(rmsg.msg_namelen, sizeof(from));
    assert_sin(&from, PAIR_ADDR_A, 4600);

    /* One iovec each way (the direct path), to a connected peer without msg_name. */
    int c = pair_udp(p.a, 0);
    assert_int_equal(tapir_connect(c, sa(&to), sizeof(to)), 0);
    struct iovec one = {.iov_base = "single", .iov_len = 6};
    struct msghdr cmsg = {.msg_iov = &one, .msg_iovlen = 1};
    assert_int_equal(tapir_sendmsg(c, &cmsg, 0), 6);
    char whole[32];
    struct iovec win = {.iov_base = whole, .iov_len = sizeof(whole)};
    rmsg = (struct msghdr){.msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &win,
                           .msg_iovlen = 1, .msg_flags = 0x7777};
    assert_int_equal(tapir_recvmsg(rx, &rmsg, 0), 6);
    assert_memory_equal(whole, "single", 6);
    assert_int_equal(rmsg.msg_flags, 0);
    assert_sin(&from, PAIR_ADDR_A, local_port(c));
    assert_int_equal(tapir_close(c), 0);

    /* Too short, several iovecs: the beginning, MSG_TRUNC, the rest gone. */
    send_and_wait(tx, rx, PORT, "0123456789");
    send_to(tx, PAIR_ADDR_B, PORT, "next", 4);
    char s1[3], s2[2];
    struct iovec shortv[2] = {{.iov_base = s1, .iov_len = 3}, {.iov_base = s2, .iov_len = 2}};
    rmsg = (struct msghdr){.msg_iov = shortv, .msg_iovlen = 2};
    assert_int_equal(tapir_recvmsg(rx, &rmsg, 0), 5);
    assert_memory_equal(s1, "012", 3);
    assert_memory_equal(s2, "34", 2);
    assert_true(rmsg.msg_flags & MSG_TRUNC);
    assert_int_equal(tapir_recv(rx, whole, sizeof(whole), 0), 4); /* the next datagram */
    assert_memory_equal(whole, "next", 4);

    /* MSG_TRUNC in flags: the real length, several iovecs and one. */
    send_and_wait(tx, rx, PORT, "ABCDEFGHIJ");
    rmsg = (struct msghdr){.msg_iov = shortv, .msg_iovlen = 2};
    assert_int_equal(tapir_recvmsg(rx, &rmsg, MSG_TRUNC), 10);
    assert_memory_equal(s1, "ABC", 3);
    assert_memory_equal(s2, "DE", 2);
    assert_true(rmsg.msg_flags & MSG_TRUNC);
    send_and_wait(tx, rx, PORT, "klmnopqrst");
    char four[4];
    struct iovec fourv = {.iov_base = four, .iov_len = 4};
    rmsg = (struct msghdr){.msg_iov = &fourv, .msg_iovlen = 1};
    assert_int_equal(tapir_recvmsg(rx, &rmsg, MSG_TRUNC), 10);
    assert_memory_equal(four, "klmn", 4);
    assert_true(rmsg.msg_flags & MSG_TRUNC);
    send_and_wait(tx, rx, PORT, "uvwxyz");
    assert_int_equal(tapir_recv(rx, four, 2, MSG_TRUNC), 6);
    assert_memory_equal(four, "uv", 2);
    /* A buffer that fits: no MSG_TRUNC. */
    send_and_wait(tx, rx, PORT, "fits");
    rmsg = (struct msghdr){.msg_iov = &fourv, .msg_iovlen = 1, .msg_flags = MSG_TRUNC};
    assert_int_equal(tapir_recvmsg(rx, &rmsg, MSG_TRUNC), 4);
    assert_int_equal(rmsg.msg_flags, 0);

    /* MSG_PEEK over several iovecs leaves the datagram for the next read. */
    send_and_wait(tx, rx, PORT, "peekaboo");
    char p1[3], p2[8];
    struct iovec peekv[2] = {{.iov_base = p1, .iov_len = 3}, {.iov_base = p2, .iov_len = 8}};
    rmsg = (struct msghdr){.msg_iov = peekv, .msg_iovlen = 2};
    assert_int_equal(tapir_recvmsg(rx, &rmsg, MSG_PEEK), 8);
    assert_memory_equal(p1, "pee", 3);
    assert_memory_equal(p2, "kaboo", 5);
    memset(p1, 0, sizeof(p1));
    memset(p2, 0, sizeof(p2));
    assert_int_equal(tapir_recvmsg(rx, &rmsg, 0), 8);
    assert_memory_equal(p1, "pee", 3);
    assert_memory_equal(p2, "kaboo", 5);

    /* A short msg_namelen gets the beginning of the address and the real length back. */
    send_and_wait(tx, rx, PORT, "name");
    memset(&from, 0xee, sizeof(from));
    rmsg = (struct msghdr){.msg_name = &from, .msg_namelen = 4, .msg_iov = &win, .msg_iovlen = 1};
    assert_int_equal(tapir_recvmsg(rx, &rmsg, 0), 4);
    assert_int_equal(rmsg.msg_namelen, sizeof(from));
    assert_int_equal(from.sin_family, AF_INET);
    assert_int_equal(ntohs(from.sin_port), 4600);
    assert_int_equal(from.sin_addr.s_addr, 0xeeeeeeeeu); /* not written past the 4 bytes */

    assert_int_equal(tapir_close(rx), 0);
    assert_int_equal(tapir_close(tx), 0);
    pair_stop(&p);
}

/* ---- 9. Zero-length datagrams ----------------------------------------------------------- */

/* A zero-length datagram is delivered as one: poll sees it, recvfrom returns 0 with the
 * sender's address filled in (unlike the 0 of a shut-down socket), and it is consumed (the
 * queue is then empty); recvmsg likewise; and it wakes a blocked receiver. */
static void test_zero_length_datagram(void **state)
{
    (void)state;
    struct pair p;
    pair_start(&p, NULL, 18);
    enum { PORT = 5700 };
    int rx = pair_udp(p.b, PORT), tx = pair_udp(p.a, 4700);
    set_rcvtimeo_ms(rx, WAKE_MS);

    send_to(tx, PAIR_ADDR_B, PORT, "", 0);
    wait_readable(rx);
    char buf[8] = "unread";
    struct sockaddr_in from;
    memset(&from, 0xee, sizeof(from));
    socklen_t from_len = sizeof(from);
    assert_int_equal(tapir_recvfrom(rx, buf, sizeof(buf), 0, sa(&from), &from_len), 0);
    assert_int_equal(from_len, sizeof(from));
    assert_sin(&from, PAIR_ADDR_A, 4700);
    assert_string_equal(buf, "unread");
    assert_int_equal(tapir_recv(rx, buf, sizeof(buf), MSG_DONTWAIT), -1);
    assert_int_equal(errno, EAGAIN);

    /* With NULL as the buffer too, and read by recvmsg. */
    struct sockaddr_in to = pair_sin(PAIR_ADDR_B, PORT);
    assert_int_equal(tapir_sendto(tx, NULL, 0, 0, sa(&to), sizeof(to)), 0);
    wait_readable(rx);
    memset(&from, 0xee, sizeof(from));
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
    struct msghdr msg = {.msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov,
                         .msg_iovlen = 1, .msg_flags = 0x7777};
    assert_int_equal(tapir_recvmsg(rx, &msg, 0), 0);
    assert_int_equal(msg.msg_namelen, sizeof(from));
    assert_int_equal(msg.msg_flags, 0);
    assert_sin(&from, PAIR_ADDR_A, 4700);

    /* A blocked receiver is woken by one. */
    struct bg *b = bg_new();
    b->fd = rx;
    memset(&b->from, 0xee, sizeof(b->from));
    bg_start(b, bg_recvfrom);
    bg_assert_blocked(b);
    send_to(tx, PAIR_ADDR_B, PORT, "", 0);
    bg_finish(b);
    assert_int_equal(b->rc, 0);
    assert_int_equal(b->from_len, sizeof(struct sockaddr_in));
    assert_sin(&b->from, PAIR_ADDR_A, 4700);
    free(b);

    assert_int_equal(tapir_close(rx), 0);
    assert_int_equal(tapir_close(tx), 0);
    pair_stop(&p);
}

/* ---- 10. ICMP errors -------------------------------------------------------------------- */

/* A connected UDP socket that sends to a port with no socket on B hears of B's ICMP port
 * unreachable on its next call: a blocked receive wakes with ECONNREFUSED; after POLLERR a
 * send fails with ECONNREFUSED instead of sending; SO_ERROR returns it and clears it. Each
 * error is reported once. An unconnected socket that sent to the same port hears nothing, as
 * on Linux without IP_RECVERR. */
static void test_connected_udp_econnrefused(void **state)
{
    (void)state;
    struct pair p;
    pair_start(&p, NULL, 19);
    struct sockaddr_in closed = pair_sin(PAIR_ADDR_B, 9999);
    int u = pair_udp(p.a, 0), c = pair_udp(p.a, 0);
    assert_int_equal(tapir_connect(c, sa(&closed), sizeof(closed)), 0);
    set_rcvtimeo_ms(c, WAKE_MS);

    /* Round 1: a receive blocked in another thread wakes with the error. */
    assert_int_equal(tapir_sendto(u, "u", 1, 0, sa(&closed), sizeof(closed)), 1);
    struct bg *b = bg_new();
    b->fd = c;
    bg_start(b, bg_recvfrom);
    bg_assert_blocked(b);
    assert_int_equal(tapir_send(c, "1", 1, 0), 1);
    bg_finish(b);
    assert_int_equal(b->rc, -1);
    assert_int_equal(b->err, ECONNREFUSED);
    free(b);
    /* u's error came back first (the wire keeps order) and was not reported to u. */
    char buf[8];
    assert_int_equal(tapir_recv(u, buf, sizeof(buf), MSG_DONTWAIT), -1);
    assert_int_equal(errno, EAGAIN);
    int err = -1;
    socklen_t len = sizeof(err);
    assert_int_equal(tapir_getsockopt(u, SOL_SOCKET, SO_ERROR, &err, &len), 0);
    assert_int_equal(err, 0);

    /* Round 2: the error is reported by the next send, which sends nothing; then gone. */
    assert_int_equal(tapir_send(c, "2", 1, 0), 1);
    struct pollfd pfd = {.fd = c, .events = POLLIN};
    assert_int_equal(tapir_poll(&pfd, 1, (int)WAKE_MS), 1);
    assert_true(pfd.revents & POLLERR);
    assert_int_equal(tapir_send(c, "3", 1, 0), -1);
    assert_int_equal(errno, ECONNREFUSED);
    assert_int_equal(tapir_poll(&pfd, 1, 0), 0);

    /* Round 3: SO_ERROR takes it. */
    assert_int_equal(tapir_send(c, "4", 1, 0), 1);
    assert_int_equal(tapir_poll(&pfd, 1, (int)WAKE_MS), 1);
    assert_true(pfd.revents & POLLERR);
    len = sizeof(err);
    assert_int_equal(tapir_getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &len), 0);
    assert_int_equal(err, ECONNREFUSED);
    assert_int_equal(tapir_getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &len), 0);
    assert_int_equal(err, 0);
    assert_int_equal(tapir_recv(c, buf, sizeof(buf), MSG_DONTWAIT), -1);
    assert_int_equal(errno, EAGAIN);

    struct tapir_stats sb = pair_stats(p.b);
    assert_true(sb.icmp.tx_dest_unreach >= 4);

    assert_int_equal(tapir_close(u), 0);
    assert_int_equal(tapir_close(c), 0);
    pair_stop(&p);
}

/* ---- 11. Ping sockets ------------------------------------------------------------------- */

/* Sends an echo request with seq and data from ping socket fd to B and checks the reply: type
 * 0 code 0, the identifier the socket's port (whatever the request said), the same seq and
 * data, a valid checksum, B as the source with port 0. */
static void ping_once(int fd, uint16_t seq, const char *data)
{
    size_t dlen = strlen(data);
    uint8_t req[64] = {8, 0, 0, 0, 0xbe, 0xef, (uint8_t)(seq >> 8), (uint8_t)seq};
    memcpy(req + 8, data, dlen);
    struct sockaddr_in to = pair_sin(PAIR_ADDR_B, 0);
    assert_int_equal(tapir_sendto(fd, req, 8 + dlen, 0, sa(&to), sizeof(to)), (ssize_t)(8 + dlen));
    uint16_t id = local_port(fd);
    assert_true(id != 0);
    uint8_t rep[128];
    struct sockaddr_in from;
    socklen_t from_len = sizeof(from);
    assert_int_equal(tapir_recvfrom(fd, rep, sizeof(rep), 0, sa(&from), &from_len),
                     (ssize_t)(8 + dlen));
    assert_int_equal(rep[0], 0);
    assert_int_equal(rep[1], 0);
    assert_int_equal(rep[4] << 8 | rep[5], id);
    assert_int_equal(rep[6] << 8 | rep[7], seq);
    assert_memory_equal(rep + 8, data, dlen);
    assert_int_equal(inet_csum(rep, 8 + dlen), 0);
    assert_sin(&from, PAIR_ADDR_B, 0);
}

/* An ICMP ping socket (SOCK_DGRAM, IPPROTO_ICMP) on A sends the echo request it is given and
 * receives B's echo reply, header first, with the socket's port (from getsockname) as the
 * identifier: an unbound socket gets an ephemeral one, a bound socket the port it was bound
 * to. A message that is not an echo request (another type, or code not 0) or shorter than the
 * 8-byte header is EINVAL. */
static void test_ping_socket(void **state)
{
    (void)state;
    struct pair p;
    pair_start(&p, NULL, 20);
    int fd = tapir_socket_on(p.a, AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
    assert_true(fd >= TAPIR_FD_BASE);
    set_rcvtimeo_ms(fd, WAKE_MS);
    int type = 0;
    socklen_t len = sizeof(type);
    assert_int_equal(tapir_getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len), 0);
    assert_int_equal(type, SOCK_DGRAM);
    ping_once(fd, 1, "tapir ping payload");
    ping_once(fd, 2, "");
    ping_once(fd, 0x1234, "again, same identifier");

    int bound = tapir_socket_on(p.a, AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
    assert_true(bound >= TAPIR_FD_BASE);
    set_rcvtimeo_ms(bound, WAKE_MS);
    struct sockaddr_in here = pair_sin(PAIR_ADDR_A, 4321);
    assert_int_equal(tapir_bind(bound, sa(&here), sizeof(here)), 0);
    assert_int_equal(local_port(bound), 4321);
    ping_once(bound, 7, "bound");

    struct sockaddr_in to = pair_sin(PAIR_ADDR_B, 0);
    uint8_t reply_type[16] = {0, 0, 0, 0, 0, 1, 0, 1, 'x'};
    assert_int_equal(tapir_sendto(fd, reply_type, 9, 0, sa(&to), sizeof(to)), -1);
    assert_int_equal(errno, EINVAL);
    uint8_t bad_code[16] = {8, 1, 0, 0, 0, 1, 0, 1, 'x'};
    assert_int_equal(tapir_sendto(fd, bad_code, 9, 0, sa(&to), sizeof(to)), -1);
    assert_int_equal(errno, EINVAL);
    uint8_t unreach[16] = {3, 3, 0, 0, 0, 0, 0, 0};
    assert_int_equal(tapir_sendto(fd, unreach, 8, 0, sa(&to), sizeof(to)), -1);
    assert_int_equal(errno, EINVAL);
    uint8_t short_req[8] = {8, 0, 0, 0, 0, 1, 0};
    assert_int_equal(tapir_sendto(fd, short_req, 7, 0, sa(&to), sizeof(to)), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(tapir_sendto(fd, short_req, 0, 0, sa(&to), sizeof(to)), -1);
    assert_int_equal(errno, EINVAL);
    /* Nothing went out for those: the next receive times out... */
    char buf[32];
    assert_int_equal(tapir_recv(fd, buf, sizeof(buf), MSG_DONTWAIT), -1);
    assert_int_equal(errno, EAGAIN);
    /* ...and the socket still pings. */
    ping_once(fd, 3, "still fine");

    assert_int_equal(tapir_close(fd), 0);
    assert_int_equal(tapir_close(bound), 0);
    pair_stop(&p);
}

/* ---- 12. Broadcast ---------------------------------------------------------------------- */

/* Sending to the subnet broadcast 10.0.0.255 (or 255.255.255.255), or connecting to it,
 * without SO_BROADCAST is EACCES; with it, the datagram reaches both sockets on B that share
 * the port through SO_REUSEADDR (a third socket without it may not bind there). */
static void test_broadcast(void **state)
{
    (void)state;
    struct pair p;
    pair_start(&p, NULL, 21);
    enum { PORT = 5800 };
    int r[2];
    for (int i = 0; i < 2; i++) {
        r[i] = tapir_socket_on(p.b, AF_INET, SOCK_DGRAM, 0);
        assert_true(r[i] >= TAPIR_FD_BASE);
        set_int_opt(r[i], SO_REUSEADDR, 1);
        struct sockaddr_in any = pair_sin("0.0.0.0", PORT);
        assert_int_equal(tapir_bind(r[i], sa(&any), sizeof(any)), 0);
        set_rcvtimeo_ms(r[i], WAKE_MS);
    }
    int third = tapir_socket_on(p.b, AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in any = pair_sin("0.0.0.0", PORT);
    assert_int_equal(tapir_bind(third, sa(&any), sizeof(any)), -1);
    assert_int_equal(errno, EADDRINUSE);
    assert_int_equal(tapir_close(third), 0);

    int tx = pair_udp(p.a, 4800);
    struct sockaddr_in bcast = pair_sin("10.0.0.255", PORT), all = pair_sin("255.255.255.255", PORT);
    assert_int_equal(tapir_sendto(tx, "no", 2, 0, sa(&bcast), sizeof(bcast)), -1);
    assert_int_equal(errno, EACCES);
    assert_int_equal(tapir_sendto(tx, "no", 2, 0, sa(&all), sizeof(all)), -1);
    assert_int_equal(errno, EACCES);
    int c = pair_udp(p.a, 0);
    assert_int_equal(tapir_connect(c, sa(&bcast), sizeof(bcast)), -1);
    assert_int_equal(errno, EACCES);
    assert_int_equal(tapir_close(c), 0);

    set_int_opt(tx, SO_BROADCAST, 1);
    int on = 0;
    socklen_t len = sizeof(on);
    assert_int_equal(tapir_getsockopt(tx, SOL_SOCKET, SO_BROADCAST, &on, &len), 0);
    assert_int_equal(on, 1);
    const char *msgs[2] = {"to all on 10.0.0.0/24", "to 255.255.255.255"};
    struct sockaddr_in *dsts[2] = {&bcast, &all};
    for (int m = 0; m < 2; m++) {
        size_t n = strlen(msgs[m]);
        assert_int_equal(tapir_sendto(tx, msgs[m], n, 0, sa(dsts[m]), sizeof(*dsts[m])), (ssize_t)n);
        for (int i = 0; i < 2; i++) {
            char buf[64];
            struct sockaddr_in from;
            socklen_t from_len = sizeof(from);
            assert_int_equal(tapir_recvfrom(r[i], buf, sizeof(buf), 0, sa(&from), &from_len), (ssize_t)n);
            assert_memory_equal(buf, msgs[m], n);
            assert_sin(&from, PAIR_ADDR_A, 4800);
        }
    }
    /* One copy each, no more. */
    char buf[64];
    for (int i = 0; i < 2; i++) {
        assert_int_equal(tapir_recv(r[i], buf, sizeof(buf), MSG_DONTWAIT), -1);
        assert_int_equal(errno, EAGAIN);
    }

    assert_int_equal(tapir_close(tx), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(tapir_close(r[i]), 0);
    pair_stop(&p);
}

/* ---- 13. Closing a host under blocked callers ------------------------------------------- */

/* tapir_host_close while one thread is blocked in tapir_recvfrom and another in tapir_poll
 * on its sockets: host close returns (run in a thread, it must finish within 5 s), the
 * receiver wakes with EBADF, the poller with POLLNVAL, and the descriptors are gone. The other
 * host is unaffected. */
static void test_host_close_wakes_blocked_calls(void **state)
{
    (void)state;
    struct pair p;
    pair_start(&p, NULL, 22);
    int rx = pair_udp(p.b, 5900), px = pair_udp(p.b, 5901);
    struct bg *r = bg_new(), *q = bg_new(), *closer = bg_new();
    r->fd = rx;
    bg_start(r, bg_recvfrom);
    q->pfd[0] = (struct pollfd){.fd = px, .events = POLLIN};
    q->nfds = 1;
    q->timeout_ms = 10000;
    bg_start(q, bg_poll);
    bg_assert_blocked(r);
    bg_assert_blocked(q);

    closer->host = p.b;
    bg_start(closer, bg_host_close);
    bg_finish(closer);
    p.b = NULL;
    bg_finish(r);
    assert_int_equal(r->rc, -1);
    assert_int_equal(r->err, EBADF);
    bg_finish(q);
    assert_int_equal(q->rc, 1);
    assert_int_equal(q->pfd[0].revents, POLLNVAL);
    free(r);
    free(q);
    free(closer);

    assert_int_equal(tapir_close(rx), -1);
    assert_int_equal(errno, EBADF);
    char buf[4];
    assert_int_equal(tapir_recv(px, buf, sizeof(buf), MSG_DONTWAIT), -1);
    assert_int_equal(errno, EBADF);

    /* A still works (its sends now go to a wire nobody reads). */
    int a = pair_udp(p.a, 5902);
    send_to(a, PAIR_ADDR_B, 5900, "x", 1);
    assert_int_equal(tapir_close(a), 0);
    pair_stop(&p);
}

/* ---- 14. Two hosts, and the default ----------------------------------------------------- */

/* tapir_socket_on keeps the two hosts apart: each has its own ports (both bind 6000), its own
 * address (A's socket may not bind B's), and datagrams go both ways between them. tapir_socket
 * gives a socket on the last host opened (B: it binds B's address, not A's). With every host
 * closed, tapir_socket fails with ENETDOWN. */
static void test_two_hosts_and_default(void **state)
{
    (void)state;
    struct pair p;
    pair_start(&p, NULL, 23);
    enum { PORT = 6000 };
    int sa_fd = pair_udp(p.a, PORT), sb_fd = pair_udp(p.b, PORT);
    set_rcvtimeo_ms(sa_fd, WAKE_MS);
    set_rcvtimeo_ms(sb_fd, WAKE_MS);

    int wrong = tapir_socket_on(p.a, AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in b_addr = pair_sin(PAIR_ADDR_B, PORT + 1), a_addr = pair_sin(PAIR_ADDR_A, PORT + 1);
    assert_int_equal(tapir_bind(wrong, sa(&b_addr), sizeof(b_addr)), -1);
    assert_int_equal(errno, EADDRNOTAVAIL);
    assert_int_equal(tapir_bind(wrong, sa(&a_addr), sizeof(a_addr)), 0);
    assert_int_equal(tapir_close(wrong), 0);

    char buf[16];
    struct sockaddr_in from;
    socklen_t from_len = sizeof(from);
    send_to(sa_fd, PAIR_ADDR_B, PORT, "a->b", 4);
    assert_int_equal(tapir_recvfrom(sb_fd, buf, sizeof(buf), 0, sa(&from), &from_len), 4);
    assert_memory_equal(buf, "a->b", 4);
    assert_sin(&from, PAIR_ADDR_A, PORT);
    send_to(sb_fd, PAIR_ADDR_A, PORT, "b->a", 4);
    from_len = sizeof(from);
    assert_int_equal(tapir_recvfrom(sa_fd, buf, sizeof(buf), 0, sa(&from), &from_len), 4);
    assert_memory_equal(buf, "b->a", 4);
    assert_sin(&from, PAIR_ADDR_B, PORT);

    int d = tapir_socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(d >= TAPIR_FD_BASE);
    assert_int_equal(tapir_bind(d, sa(&a_addr), sizeof(a_addr)), -1);
    assert_int_equal(errno, EADDRNOTAVAIL);
    assert_int_equal(tapir_bind(d, sa(&b_addr), sizeof(b_addr)), 0);
    set_rcvtimeo_ms(d, WAKE_MS);
    send_to(sa_fd, PAIR_ADDR_B, PORT + 1, "default", 7);
    assert_int_equal(tapir_recv(d, buf, sizeof(buf), 0), 7);
    assert_memory_equal(buf, "default", 7);

    /* Other families and types are refused on either entry point. */
    assert_int_equal(tapir_socket(AF_INET6, SOCK_DGRAM, 0), -1);
    assert_int_equal(errno, EAFNOSUPPORT);
    assert_int_equal(tapir_socket_on(p.a, AF_INET, SOCK_DGRAM, IPPROTO_TCP), -1);
    assert_int_equal(errno, EPROTONOSUPPORT);

    assert_int_equal(tapir_close(d), 0);
    assert_int_equal(tapir_close(sa_fd), 0);
    assert_int_equal(tapir_close(sb_fd), 0);
    pair_stop(&p);
    assert_int_equal(tapir_socket(AF_INET, SOCK_DGRAM, 0), -1);
    assert_int_equal(errno, ENETDOWN);
}

/* ---- 15. Calls racing tapir_close ------------------------------------------------------- */

static atomic_int race_fd, race_stop;
static atomic_long race_calls;

/* Calls every non-blocking entry point on whatever descriptor race_fd holds right now. */
static void *race_caller(void *arg)
{
    (void)arg;
    struct sockaddr_in peer = pair_sin(PAIR_ADDR_A, 9), any = pair_sin("0.0.0.0", 0), name;
    int one = 1;
    for (unsigned i = 0; !atomic_load(&race_stop); i++) {
        int fd = atomic_load(&race_fd), v;
        socklen_t len = sizeof(name), vlen = sizeof(v);
        switch (i % 9) {
        case 0: tapir_getsockname(fd, sa(&name), &len); break;
        case 1: tapir_getpeername(fd, sa(&name), &len); break;
        case 2: tapir_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)); break;
        case 3: tapir_getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, &vlen); break;
        case 4: tapir_bind(fd, sa(&any), sizeof(any)); break;
        case 5: tapir_connect(fd, sa(&peer), sizeof(peer)); break;
        case 6: tapir_shutdown(fd, SHUT_RD); break;
        case 7: tapir_listen(fd, 1); break;
        case 8: tapir_recv(fd, &v, sizeof(v), MSG_DONTWAIT); break;
        }
        atomic_fetch_add(&race_calls, 1);
    }
    return NULL;
}

/* The child: opens sockets and closes them while two threads call in on them, for about a
 * second. Exits 0 if it survived. No cmocka here: this is a separate process. */
static void race_child(void)
{
    struct pair p;
    if (pair_open(&p, NULL, 24) < 0)
        _exit(3);
    atomic_store(&race_fd, tapir_socket_on(p.b, AF_INET, SOCK_DGRAM, 0));
    pthread_t callers[2];
    for (int i = 0; i < 2; i++)
        if (pthread_create(&callers[i], NULL, race_caller, NULL) != 0)
            _exit(3);
    uint64_t end = pair_now_us() + 1000000;
    while (pair_now_us() < end) {
        int old = atomic_load(&race_fd);
        atomic_store(&race_fd, tapir_socket_on(p.b, AF_INET, SOCK_DGRAM, 0));
        if (tapir_close(old) != 0)
            _exit(4);
    }
    atomic_store(&race_stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(callers[i], NULL);
    tapir_close(atomic_load(&race_fd));
    pair_stop(&p);
    _exit(atomic_load(&race_calls) > 0 ? 0 : 5);
}

/* Runs child() in a forked process (which must _exit: 0 for success) and fails the test if it
 * crashes, exits non-zero or takes more than 20 s. For behaviour whose failure is a crash or
 * a sanitizer's abort: the suite goes on and the failure is this test's. */
static void run_in_child(void (*child)(void), const char *what)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* cmocka catches these to fail a test; here a crash should simply end the child. */
        static const int crash[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
        for (size_t i = 0; i < sizeof(crash) / sizeof(crash[0]); i++)
            signal(crash[i], SIG_DFL);
        child();
        _exit(0);
    }
    int status = 0;
    uint64_t give_up = pair_now_us() + 20000000;
    pid_t done;
    while ((done = waitpid(pid, &status, WNOHANG)) == 0 && pair_now_us() < give_up)
        pair_sleep_ms(10);
    if (done == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        fail_msg("%s: the child hung", what);
    }
    assert_int_equal(done, pid);
    if (WIFSIGNALED(status))
        fail_msg("%s: the child died of signal %d (%s)", what, WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) != 0)
        fail_msg("%s: the child exited with status %d", what, WEXITSTATUS(status));
}

/* A call that finds its descriptor while another thread closes it must either complete or
 * fail with EBADF: it may not go on to use the core socket the close has freed (a NULL
 * dereference today). Two threads hammer getsockname, getpeername, setsockopt, getsockopt,
 * bind, connect, shutdown, listen and recv on sockets the main thread keeps closing and
 * replacing, for a second; the process must survive it. */
static void test_calls_racing_close_do_not_crash(void **state)
{
    (void)state;
    run_in_child(race_child, "calls racing tapir_close");
}

/* ---- 16. Empty iovecs ------------------------------------------------------------------- */

static int child_udp(struct tapir_host *h, uint16_t port)
{
    int fd = tapir_socket_on(h, AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sin = pair_sin("0.0.0.0", port);
    struct timeval tv = {.tv_sec = WAKE_MS / 1000u};
    if (fd < 0 || tapir_bind(fd, sa(&sin), sizeof(sin)) != 0 ||
        tapir_setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0)
        _exit(10);
    return fd;
}

static void null_iovec_child(void)
{
    struct pair p;
    if (pair_open(&p, NULL, 25) < 0)
        _exit(3);
    int rx = child_udp(p.b, 5650), tx = child_udp(p.a, 0);
    struct sockaddr_in to = pair_sin(PAIR_ADDR_B, 5650);
    struct iovec out[3] = {{.iov_base = "abc", .iov_len = 3}, {.iov_base = NULL, .iov_len = 0},
                           {.iov_base = "de", .iov_len = 2}};
    struct msghdr smsg = {.msg_name = &to, .msg_namelen = sizeof(to), .msg_iov = out,
                          .msg_iovlen = 3};
    if (tapir_sendmsg(tx, &smsg, 0) != 5)
        _exit(11);
    char a[3], b[8];
    struct iovec in[3] = {{.iov_base = a, .iov_len = 3}, {.iov_base = NULL, .iov_len = 0},
                          {.iov_base = b, .iov_len = sizeof(b)}};
    struct msghdr rmsg = {.msg_iov = in, .msg_iovlen = 3};
    if (tapir_recvmsg(rx, &rmsg, 0) != 5 || memcmp(a, "abc", 3) != 0 || memcmp(b, "de", 2) != 0)
        _exit(12);
    tapir_close(rx);
    tapir_close(tx);
    pair_stop(&p);
}

/* A zero-length iovec with a NULL base is valid (Linux takes it), in sendmsg's gather and in
 * recvmsg's scatter alike: the datagram is sent and received whole. Run in a child because
 * the failure this pins is undefined behaviour (memcpy from or to NULL) that UBSan aborts on. */
static void test_null_empty_iovec(void **state)
{
    (void)state;
    run_in_child(null_iovec_child, "NULL zero-length iovecs");
}

/* Each test gets 60 s before SIGALRM kills the binary: a hang anywhere fails loudly. */
static int arm_watchdog(void **state)
{
    (void)state;
    alarm(60);
    return 0;
}

static int disarm_watchdog(void **state)
{
    (void)state;
    alarm(0);
    return 0;
}

#define SHIM_TEST(fn) cmocka_unit_test_setup_teardown(fn, arm_watchdog, disarm_watchdog)

int main(void)
{
    const struct CMUnitTest tests[] = {
        SHIM_TEST(test_blocking_recv_gets_datagram),
        SHIM_TEST(test_recv_blocks_until_datagram_arrives),
        SHIM_TEST(test_rcvtimeo),
        SHIM_TEST(test_rcvtimeo_huge_still_blocks),
        SHIM_TEST(test_nonblocking_modes),
        SHIM_TEST(test_poll_reports_only_ready),
        SHIM_TEST(test_poll_wakes_on_datagram_and_pipe),
        SHIM_TEST(test_poll_timeouts),
        SHIM_TEST(test_poll_nval_and_negative_fd),
        SHIM_TEST(test_poll_many_sockets),
        SHIM_TEST(test_close_wakes_blocked_recv),
        SHIM_TEST(test_close_wakes_blocked_poll),
        SHIM_TEST(test_shutdown_rd_wakes_recv),
        SHIM_TEST(test_shutdown_wr_epipe_without_sigpipe),
        SHIM_TEST(test_many_senders_own_sockets),
        SHIM_TEST(test_many_senders_shared_socket),
        SHIM_TEST(test_sendmsg_recvmsg_iovecs),
        SHIM_TEST(test_zero_length_datagram),
        SHIM_TEST(test_connected_udp_econnrefused),
        SHIM_TEST(test_ping_socket),
        SHIM_TEST(test_broadcast),
        SHIM_TEST(test_host_close_wakes_blocked_calls),
        SHIM_TEST(test_two_hosts_and_default),
        SHIM_TEST(test_calls_racing_close_do_not_crash),
        SHIM_TEST(test_null_empty_iovec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
