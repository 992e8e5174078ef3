/* SPDX-License-Identifier: MIT */
/* test_shim_errors.c: every error path of the BSD-like shim (tapir/socket.h), each with the
 * exact errno the header promises and -1 returned, and the success paths that pin Linux's
 * behaviour (getsockname truncation, doubled buffers, SO_ERROR clearing, ephemeral ports).
 *
 * The expected errnos were checked against Linux 6.18 with the same calls on kernel sockets.
 * The second group, "linux departures", holds calls where tapir answers differently from the
 * kernel today: each test asserts what Linux does, so it fails until the shim is fixed. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cmocka.h>

#include "pair.h"

/* The addresses of the test: A (10.0.0.1) is the host under test, B (10.0.0.2) its peer. */
#define ADDR_NOT_OURS "10.0.0.99"
#define ADDR_SUBNET_BCAST "10.0.0.255"
#define ADDR_LIMITED_BCAST "255.255.255.255"
#define ADDR_OFF_LINK "8.8.8.8" /* the hosts have no gateway */
#define GUARD_TIMEO_US 3000000u /* every blocking call here is bounded by this SO_RCVTIMEO */

/* ---- Fixture ---------------------------------------------------------------------------- */

struct fx {
    struct pair p;
    struct rlimit saved_nofile; /* restored by the teardown if a test lowered it */
    bool nofile_lowered;
};

static int shim_setup(void **state)
{
    static struct fx fx;
    memset(&fx, 0, sizeof(fx));
    pair_start(&fx.p, NULL, 42);
    *state = &fx;
    return 0;
}

/* Stops both hosts, which closes whatever sockets a failed test left open. */
static int shim_teardown(void **state)
{
    struct fx *fx = *state;
    if (fx->nofile_lowered)
        setrlimit(RLIMIT_NOFILE, &fx->saved_nofile);
    pair_stop(&fx->p);
    return 0;
}

#define SHIM_TEST(fn) cmocka_unit_test_setup_teardown(fn, shim_setup, shim_teardown)

/* ---- Assertions ------------------------------------------------------------------------- */

/* expr must return -1 with errno err. */
#define FAILS(expr, err)                                                                           \
    do {                                                                                           \
        errno = 0;                                                                                 \
        long rc_ = (long)(expr);                                                                   \
        int e_ = errno;                                                                            \
        if (rc_ != -1 || e_ != (err))                                                              \
            fail_msg("%s returned %ld, errno %d (%s); want -1, errno %d (%s)", #expr, rc_, e_,     \
                     strerrorname_np(e_) ? strerrorname_np(e_) : "0", (int)(err),                  \
                     strerrorname_np(err));                                                        \
    } while (0)

/* expr must succeed (return >= 0); evaluates to what it returned. */
static long check_ok(long rc, const char *what, const char *file, int line)
{
    int e = errno;
    if (rc < 0) {
        print_error("%s returned %ld, errno %d (%s); want success\n", what, rc, e,
                    strerrorname_np(e) ? strerrorname_np(e) : "0");
        _fail(file, line);
    }
    return rc;
}
#define OK(expr) check_ok((long)(expr), #expr, __FILE__, __LINE__)

/* ---- Helpers ---------------------------------------------------------------------------- */

#define SA(x) ((struct sockaddr *)(x))
#define CSA(x) ((const struct sockaddr *)(x))

static void set_int(int fd, int name, int v)
{
    OK(tapir_setsockopt(fd, SOL_SOCKET, name, &v, sizeof(v)));
}

static int get_int(int fd, int name)
{
    int v = -12345;
    socklen_t len = sizeof(v);
    OK(tapir_getsockopt(fd, SOL_SOCKET, name, &v, &len));
    assert_int_equal(len, sizeof(v));
    return v;
}

static void set_rcvtimeo_us(int fd, uint64_t us)
{
    struct timeval tv = {.tv_sec = (time_t)(us / 1000000u),
                         .tv_usec = (suseconds_t)(us % 1000000u)};
    OK(tapir_setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)));
}

/* A socket on host h (UDP unless protocol says otherwise), whose blocking receives give up
 * after GUARD_TIMEO_US, so a broken test fails instead of hanging. */
static int sock_on(struct tapir_host *h, int type, int protocol)
{
    int fd = (int)OK(tapir_socket_on(h, AF_INET, type, protocol));
    assert_true(fd >= TAPIR_FD_BASE);
    set_rcvtimeo_us(fd, GUARD_TIMEO_US);
    return fd;
}

static int udp_a(struct fx *fx)
{
    return sock_on(fx->p.a, SOCK_DGRAM, 0);
}

static int udp_bound(struct tapir_host *h, const char *addr, uint16_t port)
{
    int fd = sock_on(h, SOCK_DGRAM, 0);
    struct sockaddr_in sin = pair_sin(addr, port);
    OK(tapir_bind(fd, CSA(&sin), sizeof(sin)));
    return fd;
}

static int ping_a(struct fx *fx)
{
    return sock_on(fx->p.a, SOCK_DGRAM, IPPROTO_ICMP);
}

/* tapir_poll on one descriptor: its revents, 0 on timeout. */
static short poll_one(int fd, short events, int timeout_ms)
{
    struct pollfd pfd = {.fd = fd, .events = events};
    int n = (int)OK(tapir_poll(&pfd, 1, timeout_ms));
    assert_int_equal(n, pfd.revents ? 1 : 0);
    return pfd.revents;
}

/* Waits (up to 3 s) until fd has a datagram or an error for us. */
static void wait_for(int fd, short what)
{
    uint64_t until = pair_now_us() + 3000000u;
    while (!(poll_one(fd, POLLIN, 100) & what)) {
        if (pair_now_us() > until)
            fail_msg("descriptor %d never became ready (0x%x)", fd, what);
    }
}

static uint16_t port_of(int fd)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    OK(tapir_getsockname(fd, SA(&sin), &len));
    assert_int_equal(len, sizeof(sin));
    assert_int_equal(sin.sin_family, AF_INET);
    return ntohs(sin.sin_port);
}

static void assert_addr(const struct sockaddr_in *sin, const char *addr, int port)
{
    char text[INET_ADDRSTRLEN];
    assert_int_equal(sin->sin_family, AF_INET);
    assert_string_equal(inet_ntop(AF_INET, &sin->sin_addr, text, sizeof(text)), addr);
    if (port >= 0)
        assert_int_equal(ntohs(sin->sin_port), port);
}

static struct sockaddr_in unspec(void)
{
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_UNSPEC;
    return sin;
}

/* ---- EBADF ------------------------------------------------------------------------------ */

/* Every call of the shim on fd, with arguments that are otherwise good, fails with EBADF. */
static void expect_ebadf_everywhere(int fd)
{
    struct sockaddr_in any = pair_sin("0.0.0.0", 5000), peer = pair_sin(PAIR_ADDR_B, 5000);
    struct sockaddr_in out;
    socklen_t out_len = sizeof(out);
    char buf[16] = "x";
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    struct msghdr to = {
        .msg_name = &peer, .msg_namelen = sizeof(peer), .msg_iov = &iov, .msg_iovlen = 1};
    int one = 1;
    socklen_t one_len = sizeof(one);

    FAILS(tapir_bind(fd, CSA(&any), sizeof(any)), EBADF);
    FAILS(tapir_connect(fd, CSA(&peer), sizeof(peer)), EBADF);
    FAILS(tapir_listen(fd, 5), EBADF);
    FAILS(tapir_accept(fd, SA(&out), &out_len), EBADF);
    FAILS(tapir_accept(fd, NULL, NULL), EBADF);
    FAILS(tapir_send(fd, buf, 1, 0), EBADF);
    FAILS(tapir_sendto(fd, buf, 1, 0, CSA(&peer), sizeof(peer)), EBADF);
    FAILS(tapir_sendmsg(fd, &to, 0), EBADF);
    FAILS(tapir_recv(fd, buf, sizeof(buf), 0), EBADF);
    FAILS(tapir_recv(fd, buf, sizeof(buf), MSG_DONTWAIT), EBADF);
    FAILS(tapir_recvfrom(fd, buf, sizeof(buf), 0, SA(&out), &out_len), EBADF);
    FAILS(tapir_recvmsg(fd, &msg, 0), EBADF);
    FAILS(tapir_shutdown(fd, SHUT_RDWR), EBADF);
    FAILS(tapir_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), EBADF);
    FAILS(tapir_getsockopt(fd, SOL_SOCKET, SO_TYPE, &one, &one_len), EBADF);
    FAILS(tapir_getsockname(fd, SA(&out), &out_len), EBADF);
    FAILS(tapir_getpeername(fd, SA(&out), &out_len), EBADF);
    FAILS(tapir_fcntl(fd, F_GETFL), EBADF);
    FAILS(tapir_fcntl(fd, F_SETFL, O_NONBLOCK), EBADF);
    FAILS(tapir_fcntl(fd, F_GETFD), EBADF);
    FAILS(tapir_fcntl(fd, F_SETFD, FD_CLOEXEC), EBADF);
    FAILS(tapir_fcntl(fd, 9999), EBADF); /* the descriptor is checked before the command */
    FAILS(tapir_close(fd), EBADF);
}

static void test_ebadf_never_opened_descriptors(void **state)
{
    (void)state;
    const int fds[] = {-1, INT_MIN, TAPIR_FD_BASE - 1, TAPIR_FD_BASE + 100000, INT_MAX};
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
        expect_ebadf_everywhere(fds[i]);
}

static void test_ebadf_kernel_descriptors(void **state)
{
    struct fx *fx = *state;
    expect_ebadf_everywhere(0);             /* stdin */
    int k = socket(AF_INET, SOCK_DGRAM, 0); /* even a kernel socket is not a tapir socket */
    assert_true(k >= 0);
    expect_ebadf_everywhere(k);
    close(k);
    /* And the other way round: the kernel knows nothing of a tapir descriptor. */
    int fd = udp_a(fx);
    char c;
    FAILS(read(fd, &c, 1), EBADF);
    FAILS(close(fd), EBADF);
    OK(tapir_close(fd));
}

static void test_ebadf_closed_descriptor_and_close_twice(void **state)
{
    struct fx *fx = *state;
    int fd = udp_bound(fx->p.a, "0.0.0.0", 5000);
    assert_int_equal(tapir_close(fd), 0);
    FAILS(tapir_close(fd), EBADF);
    expect_ebadf_everywhere(fd);
    /* poll reports a closed descriptor as POLLNVAL, without failing. */
    struct pollfd pfd = {.fd = fd, .events = POLLIN | POLLOUT};
    assert_int_equal(tapir_poll(&pfd, 1, 1000), 1);
    assert_int_equal(pfd.revents, POLLNVAL);
    /* Its port went with it. */
    tapir_close(udp_bound(fx->p.a, "0.0.0.0", 5000));
}

static void test_ebadf_after_host_close(void **state)
{
    (void)state;
    struct pair p;
    pair_start(&p, NULL, 7);
    int fd = sock_on(p.a, SOCK_DGRAM, 0);
    pair_stop(&p);
    expect_ebadf_everywhere(fd);
}

/* ---- EFAULT ----------------------------------------------------------------------------- */

static void test_efault_null_addresses(void **state)
{
    struct fx *fx = *state;
    int fd = udp_a(fx);
    FAILS(tapir_bind(fd, NULL, sizeof(struct sockaddr_in)), EFAULT);
    FAILS(tapir_connect(fd, NULL, sizeof(struct sockaddr_in)), EFAULT);
    /* None of them took effect. */
    assert_int_equal(port_of(fd), 0);
    struct sockaddr_in out;
    socklen_t len = sizeof(out);
    FAILS(tapir_getpeername(fd, SA(&out), &len), ENOTCONN);
    /* sendto with a NULL address but a length: as Linux, the length is ignored, so an
     * unconnected socket has no destination (EDESTADDRREQ, not EFAULT). */
    FAILS(tapir_sendto(fd, "x", 1, 0, NULL, sizeof(struct sockaddr_in)), EDESTADDRREQ);
    tapir_close(fd);
}

static void test_efault_null_buffers(void **state)
{
    struct fx *fx = *state;
    int rx = udp_bound(fx->p.a, "0.0.0.0", 5000), tx = sock_on(fx->p.b, SOCK_DGRAM, 0);
    struct sockaddr_in to_b = pair_sin(PAIR_ADDR_B, 9), to_a = pair_sin(PAIR_ADDR_A, 5000);
    FAILS(tapir_sendto(rx, NULL, 5, 0, CSA(&to_b), sizeof(to_b)), EFAULT);

    /* sendmsg: a NULL msghdr, a NULL iovec array, a NULL base with a length. */
    FAILS(tapir_sendmsg(rx, NULL, 0), EFAULT);
    struct msghdr msg = {
        .msg_name = &to_b, .msg_namelen = sizeof(to_b), .msg_iov = NULL, .msg_iovlen = 1};
    FAILS(tapir_sendmsg(rx, &msg, 0), EFAULT);
    struct iovec iov[2] = {{.iov_base = "ab", .iov_len = 2}, {.iov_base = NULL, .iov_len = 3}};
    msg.msg_iov = iov;
    msg.msg_iovlen = 2;
    FAILS(tapir_sendmsg(rx, &msg, 0), EFAULT);

    /* The receive side, with a datagram waiting (so only the argument can be at fault). */
    OK(tapir_sendto(tx, "hello", 5, 0, CSA(&to_a), sizeof(to_a)));
    wait_for(rx, POLLIN);
    char buf[16];
    struct sockaddr_in from;
    FAILS(tapir_recv(rx, NULL, sizeof(buf), MSG_DONTWAIT), EFAULT);
    FAILS(tapir_recvfrom(rx, buf, sizeof(buf), MSG_DONTWAIT, SA(&from), NULL), EFAULT);
    FAILS(tapir_recvmsg(rx, NULL, MSG_DONTWAIT), EFAULT);
    struct msghdr rmsg = {.msg_iov = NULL, .msg_iovlen = 1};
    FAILS(tapir_recvmsg(rx, &rmsg, MSG_DONTWAIT), EFAULT);
    tapir_close(rx);
    tapir_close(tx);
}

static void test_efault_null_option_and_name_pointers(void **state)
{
    struct fx *fx = *state;
    int fd = udp_bound(fx->p.a, "0.0.0.0", 5000);
    int v = 0;
    socklen_t len = sizeof(v);
    FAILS(tapir_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, NULL, sizeof(int)), EFAULT);
    FAILS(tapir_setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, NULL, sizeof(struct timeval)), EFAULT);
    FAILS(tapir_getsockopt(fd, SOL_SOCKET, SO_TYPE, NULL, &len), EFAULT);
    FAILS(tapir_getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, NULL), EFAULT);
    FAILS(tapir_getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &v, NULL), EFAULT);

    struct sockaddr_in sin;
    socklen_t sin_len = sizeof(sin);
    FAILS(tapir_getsockname(fd, SA(&sin), NULL), EFAULT);
    FAILS(tapir_getsockname(fd, NULL, &sin_len), EFAULT);
    struct sockaddr_in peer = pair_sin(PAIR_ADDR_B, 9);
    OK(tapir_connect(fd, CSA(&peer), sizeof(peer)));
    FAILS(tapir_getpeername(fd, SA(&sin), NULL), EFAULT);
    FAILS(tapir_getpeername(fd, NULL, &sin_len), EFAULT);
    FAILS(tapir_poll(NULL, 1, 0), EFAULT);
    tapir_close(fd);
}

/* ---- EINVAL ----------------------------------------------------------------------------- */

static void test_einval_address_lengths(void **state)
{
    struct fx *fx = *state;
    int fd = udp_a(fx);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    *sin = pair_sin(PAIR_ADDR_B, 9);
    const socklen_t bad[] = {0, 1, 8, sizeof(*sin) - 1, sizeof(ss) + 1, (socklen_t)-1};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        FAILS(tapir_bind(fd, CSA(&ss), bad[i]), EINVAL);
        FAILS(tapir_connect(fd, CSA(&ss), bad[i]), EINVAL);
        FAILS(tapir_sendto(fd, "x", 1, 0, CSA(&ss), bad[i]), EINVAL);
        struct iovec iov = {.iov_base = "x", .iov_len = 1};
        struct msghdr msg = {
            .msg_name = &ss, .msg_namelen = bad[i], .msg_iov = &iov, .msg_iovlen = 1};
        if (bad[i] != 0) /* sendmsg with msg_namelen 0: see the linux departures */
            FAILS(tapir_sendmsg(fd, &msg, 0), EINVAL);
    }
    FAILS(tapir_bind(fd, NULL, 0), EINVAL);
    /* The longest a caller may pass is a sockaddr_storage. */
    OK(tapir_connect(fd, CSA(&ss), sizeof(ss)));
    assert_int_equal(port_of(fd) != 0, 1);

    socklen_t neg = (socklen_t)-1;
    struct sockaddr_in out;
    FAILS(tapir_getsockname(fd, SA(&out), &neg), EINVAL);
    FAILS(tapir_getpeername(fd, SA(&out), &neg), EINVAL);
    char buf[4];
    struct iovec riov = {.iov_base = buf, .iov_len = sizeof(buf)};
    struct msghdr rmsg = {
        .msg_name = &out, .msg_namelen = (socklen_t)-1, .msg_iov = &riov, .msg_iovlen = 1};
    FAILS(tapir_recvmsg(fd, &rmsg, MSG_DONTWAIT), EINVAL);
    tapir_close(fd);
}

static void test_einval_bind_twice(void **state)
{
    struct fx *fx = *state;
    int fd = udp_bound(fx->p.a, "0.0.0.0", 5000);
    struct sockaddr_in again = pair_sin("0.0.0.0", 5001);
    FAILS(tapir_bind(fd, CSA(&again), sizeof(again)), EINVAL);
    again = pair_sin("0.0.0.0", 5000);
    FAILS(tapir_bind(fd, CSA(&again), sizeof(again)), EINVAL);
    assert_int_equal(port_of(fd), 5000);

    /* A socket bound by connect (or by a send) is bound too. */
    int c = udp_a(fx);
    struct sockaddr_in peer = pair_sin(PAIR_ADDR_B, 9);
    OK(tapir_connect(c, CSA(&peer), sizeof(peer)));
    again = pair_sin("0.0.0.0", 6000);
    FAILS(tapir_bind(c, CSA(&again), sizeof(again)), EINVAL);
    tapir_close(fd);
    tapir_close(c);
}

static void test_einval_shutdown_how(void **state)
{
    struct fx *fx = *state;
    int fd = udp_a(fx);
    struct sockaddr_in peer = pair_sin(PAIR_ADDR_B, 9);
    OK(tapir_connect(fd, CSA(&peer), sizeof(peer)));
    const int bad[] = {-1, 3, 7, INT_MAX};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        FAILS(tapir_shutdown(fd, bad[i]), EINVAL);
    /* Nothing was shut down. */
    assert_int_equal(tapir_send(fd, "x", 1, 0), 1);
    int un = udp_a(fx); /* EINVAL comes before ENOTCONN */
    FAILS(tapir_shutdown(un, 3), EINVAL);
    tapir_close(fd);
    tapir_close(un);
}

static void test_einval_option_lengths(void **state)
{
    struct fx *fx = *state;
    int fd = udp_a(fx);
    int v = 1;
    const int names[] = {SO_REUSEADDR, SO_BROADCAST, SO_RCVBUF, SO_SNDBUF};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        FAILS(tapir_setsockopt(fd, SOL_SOCKET, names[i], &v, sizeof(v) - 1), EINVAL);
        FAILS(tapir_setsockopt(fd, SOL_SOCKET, names[i], &v, 0), EINVAL);
        FAILS(tapir_setsockopt(fd, SOL_SOCKET, names[i], &v, (socklen_t)-1), EINVAL);
    }
    struct timeval tv = {.tv_sec = 1};
    FAILS(tapir_setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv) - 1), EINVAL);
    FAILS(tapir_setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, 8), EINVAL);
    assert_int_equal(get_int(fd, SO_REUSEADDR), 0); /* none took effect */
    socklen_t neg = (socklen_t)-1;
    FAILS(tapir_getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &neg), EINVAL);
    tapir_close(fd);
}

static void test_einval_fcntl_command(void **state)
{
    struct fx *fx = *state;
    int fd = udp_a(fx);
    FAILS(tapir_fcntl(fd, 9999), EINVAL);
    FAILS(tapir_fcntl(fd, -1), EINVAL);
    tapir_close(fd);
}

static void test_einval_ping_message_not_echo_request(void **state)
{
    struct fx *fx = *state;
    int fd = ping_a(fx);
    struct sockaddr_in to = pair_sin(PAIR_ADDR_B, 0);
    uint8_t m[16] = {8, 0};
    m[0] = 0; /* an echo reply */
    FAILS(tapir_sendto(fd, m, sizeof(m), 0, CSA(&to), sizeof(to)), EINVAL);
    m[0] = 13; /* a timestamp request */
    FAILS(tapir_sendto(fd, m, sizeof(m), 0, CSA(&to), sizeof(to)), EINVAL);
    m[0] = 8;
    m[1] = 1; /* echo, with a nonzero code */
    FAILS(tapir_sendto(fd, m, sizeof(m), 0, CSA(&to), sizeof(to)), EINVAL);
    m[1] = 0;
    FAILS(tapir_sendto(fd, m, 7, 0, CSA(&to), sizeof(to)), EINVAL); /* shorter than a header */
    FAILS(tapir_sendto(fd, m, 0, 0, CSA(&to), sizeof(to)), EINVAL);
    FAILS(tapir_sendto(fd, NULL, 8, 0, CSA(&to), sizeof(to)), EFAULT);
    assert_int_equal(tapir_sendto(fd, m, 8, 0, CSA(&to), sizeof(to)), 8);
    tapir_close(fd);
}

/* ---- Unsupported families, types and protocols ------------------------------------------ */

static void test_eafnosupport(void **state)
{
    struct fx *fx = *state;
    FAILS(tapir_socket_on(fx->p.a, AF_INET6, SOCK_DGRAM, 0), EAFNOSUPPORT);
    FAILS(tapir_socket_on(fx->p.a, AF_UNIX, SOCK_DGRAM, 0), EAFNOSUPPORT);
    FAILS(tapir_socket(AF_INET6, SOCK_DGRAM, 0), EAFNOSUPPORT);
    int fd = udp_a(fx);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    *sin = pair_sin(PAIR_ADDR_A, 5000);
    sin->sin_family = AF_INET6;
    FAILS(tapir_bind(fd, CSA(&ss), sizeof(*sin)), EAFNOSUPPORT);
    FAILS(tapir_bind(fd, CSA(&ss), sizeof(struct sockaddr_in6)), EAFNOSUPPORT);
    *sin = pair_sin(PAIR_ADDR_B, 9);
    sin->sin_family = AF_INET6;
    FAILS(tapir_connect(fd, CSA(&ss), sizeof(struct sockaddr_in6)), EAFNOSUPPORT);
    FAILS(tapir_sendto(fd, "x", 1, 0, CSA(&ss), sizeof(struct sockaddr_in6)), EAFNOSUPPORT);
    struct sockaddr_in out;
    socklen_t len = sizeof(out);
    FAILS(tapir_getpeername(fd, SA(&out), &len), ENOTCONN);
    tapir_close(fd);
}

static void test_esocktnosupport_and_eprotonosupport(void **state)
{
    struct fx *fx = *state;
    FAILS(tapir_socket_on(fx->p.a, AF_INET, SOCK_RAW, 0), ESOCKTNOSUPPORT);
    FAILS(tapir_socket_on(fx->p.a, AF_INET, SOCK_RAW, IPPROTO_ICMP), ESOCKTNOSUPPORT);
    FAILS(tapir_socket_on(fx->p.a, AF_INET, SOCK_SEQPACKET, 0), ESOCKTNOSUPPORT);
    FAILS(tapir_socket_on(fx->p.a, AF_INET, SOCK_DGRAM, IPPROTO_TCP), EPROTONOSUPPORT);
    FAILS(tapir_socket_on(fx->p.a, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, IPPROTO_TCP),
          EPROTONOSUPPORT);
    FAILS(tapir_socket_on(fx->p.a, AF_INET, SOCK_DGRAM, 255), EPROTONOSUPPORT);
    /* What is supported opens. */
    tapir_close((int)OK(tapir_socket_on(fx->p.a, AF_INET, SOCK_DGRAM, IPPROTO_UDP)));
    tapir_close((int)OK(tapir_socket_on(fx->p.a, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)));
    tapir_close((int)OK(tapir_socket_on(fx->p.a, AF_INET, SOCK_DGRAM, IPPROTO_ICMP)));
}

static void test_enetdown_without_host(void **state)
{
    (void)state; /* no fixture: no host is open */
    FAILS(tapir_socket_on(NULL, AF_INET, SOCK_DGRAM, 0), ENETDOWN);
    FAILS(tapir_socket(AF_INET, SOCK_DGRAM, 0), ENETDOWN);
    /* Once a host is open, tapir_socket uses it; when it closes, there is none again. */
    struct pair p;
    pair_start(&p, NULL, 9);
    tapir_close((int)OK(tapir_socket(AF_INET, SOCK_DGRAM, 0)));
    FAILS(tapir_socket_on(NULL, AF_INET, SOCK_DGRAM, 0), ENETDOWN);
    pair_stop(&p);
    FAILS(tapir_socket(AF_INET, SOCK_DGRAM, 0), ENETDOWN);
}

/* ---- Addresses and ports ---------------------------------------------------------------- */

static void test_eaddrinuse_unless_both_reuseaddr(void **state)
{
    struct fx *fx = *state;
    int a = udp_bound(fx->p.a, "0.0.0.0", 5000);
    int b = udp_a(fx);
    struct sockaddr_in any = pair_sin("0.0.0.0", 5000), own = pair_sin(PAIR_ADDR_A, 5000);
    FAILS(tapir_bind(b, CSA(&any), sizeof(any)), EADDRINUSE);
    FAILS(tapir_bind(b, CSA(&own), sizeof(own)), EADDRINUSE); /* the wildcard covers it */
    set_int(b, SO_REUSEADDR, 1);                              /* not enough: a did not set it */
    FAILS(tapir_bind(b, CSA(&any), sizeof(any)), EADDRINUSE);
    assert_int_equal(port_of(b), 0);
    OK(tapir_close(a));
    OK(tapir_bind(b, CSA(&any), sizeof(any))); /* free again once a is closed */
    tapir_close(b);

    a = udp_a(fx);
    b = udp_a(fx);
    set_int(a, SO_REUSEADDR, 1);
    set_int(b, SO_REUSEADDR, 1);
    OK(tapir_bind(a, CSA(&any), sizeof(any)));
    OK(tapir_bind(b, CSA(&any), sizeof(any)));
    assert_int_equal(port_of(a), 5000);
    assert_int_equal(port_of(b), 5000);
    int c = udp_a(fx); /* a third without SO_REUSEADDR still may not */
    FAILS(tapir_bind(c, CSA(&any), sizeof(any)), EADDRINUSE);
    tapir_close(a);
    tapir_close(b);
    tapir_close(c);
}

static void test_eaddrnotavail(void **state)
{
    struct fx *fx = *state;
    int fd = udp_a(fx);
    const char *bad[] = {ADDR_NOT_OURS, PAIR_ADDR_B, ADDR_OFF_LINK, "127.0.0.1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct sockaddr_in sin = pair_sin(bad[i], 5000);
        FAILS(tapir_bind(fd, CSA(&sin), sizeof(sin)), EADDRNOTAVAIL);
    }
    assert_int_equal(port_of(fd), 0);
    struct sockaddr_in own = pair_sin(PAIR_ADDR_A, 5000);
    OK(tapir_bind(fd, CSA(&own), sizeof(own)));
    tapir_close(fd);
}

/* ---- EAGAIN and non-blocking modes ------------------------------------------------------ */

static void test_eagain_on_empty_queue(void **state)
{
    struct fx *fx = *state;
    char buf[8];
    struct sockaddr_in from;
    socklen_t from_len = sizeof(from);

    /* None of these may wait: each socket's SO_RCVTIMEO guard (3 s) would make a call that
     * blocks by mistake fail late with EAGAIN, so the time is checked too. */
    uint64_t t0 = pair_now_us();
    int nb = (int)OK(tapir_socket_on(fx->p.a, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0));
    set_rcvtimeo_us(nb, GUARD_TIMEO_US);
    assert_true(tapir_fcntl(nb, F_GETFL) & O_NONBLOCK);
    FAILS(tapir_recv(nb, buf, sizeof(buf), 0), EAGAIN);
    FAILS(tapir_recvfrom(nb, buf, sizeof(buf), 0, SA(&from), &from_len), EAGAIN);
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    FAILS(tapir_recvmsg(nb, &msg, 0), EAGAIN);
    tapir_close(nb);

    int fd = udp_bound(fx->p.a, "0.0.0.0", 5000);
    assert_int_equal(tapir_fcntl(fd, F_GETFL), O_RDWR);
    FAILS(tapir_recv(fd, buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);
    OK(tapir_fcntl(fd, F_SETFL, O_NONBLOCK));
    assert_int_equal(tapir_fcntl(fd, F_GETFL), O_RDWR | O_NONBLOCK);
    FAILS(tapir_recv(fd, buf, sizeof(buf), 0), EAGAIN);
    OK(tapir_fcntl(fd, F_SETFL, 0));
    assert_true(pair_now_us() - t0 < 1000000);

    /* Blocking again, bounded by SO_RCVTIMEO: EAGAIN once it expires, not before. */
    set_rcvtimeo_us(fd, 100000);
    t0 = pair_now_us();
    FAILS(tapir_recv(fd, buf, sizeof(buf), 0), EAGAIN);
    uint64_t waited = pair_now_us() - t0;
    assert_true(waited >= 100000);
    assert_true(waited < 2000000);
    struct timeval tv;
    socklen_t tv_len = sizeof(tv);
    OK(tapir_getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, &tv_len));
    assert_int_equal(tv_len, sizeof(tv));
    assert_int_equal(tv.tv_sec, 0);
    assert_int_equal(tv.tv_usec, 100000);

    /* accept on a datagram socket is EOPNOTSUPP, blocking or not, and never waits. */
    FAILS(tapir_accept(fd, NULL, NULL), EOPNOTSUPP);
    OK(tapir_fcntl(fd, F_SETFL, O_NONBLOCK));
    FAILS(tapir_accept(fd, NULL, NULL), EOPNOTSUPP);
    tapir_close(fd);
}

static void test_fcntl_descriptor_flags(void **state)
{
    struct fx *fx = *state;
    int fd = udp_a(fx);
    assert_int_equal(tapir_fcntl(fd, F_GETFD), FD_CLOEXEC);
    assert_int_equal(tapir_fcntl(fd, F_SETFD, 0), 0);
    assert_int_equal(tapir_fcntl(fd, F_SETFL, O_NONBLOCK | O_APPEND), 0); /* others ignored */
    assert_int_equal(tapir_fcntl(fd, F_GETFL), O_RDWR | O_NONBLOCK);
    tapir_close(fd);
}

/* ---- EMSGSIZE --------------------------------------------------------------------------- */

static uint8_t big[70000];

static void test_emsgsize_datagram_limits(void **state)
{
    struct fx *fx = *state;
    int rx = udp_bound(fx->p.b, "0.0.0.0", 6000), tx = udp_a(fx);
    struct sockaddr_in to = pair_sin(PAIR_ADDR_B, 6000);
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 7 + 3);
    FAILS(tapir_sendto(tx, big, 65508, 0, CSA(&to), sizeof(to)), EMSGSIZE);
    FAILS(tapir_sendto(tx, big, 70000, 0, CSA(&to), sizeof(to)), EMSGSIZE);
    FAILS(tapir_sendto(tx, big, SIZE_MAX, 0, CSA(&to), sizeof(to)), EMSGSIZE);
    /* 65507 is the largest: it goes out, in 45 fragments, and arrives whole. */
    assert_int_equal(tapir_sendto(tx, big, 65507, 0, CSA(&to), sizeof(to)), 65507);
    static uint8_t got[70000];
    assert_int_equal(tapir_recv(rx, got, sizeof(got), 0), 65507);
    assert_memory_equal(got, big, 65507);

    /* sendmsg: the same limit over several pieces, and at most IOV_MAX pieces. */
    struct iovec two[2] = {{.iov_base = big, .iov_len = 65000}, {.iov_base = big, .iov_len = 508}};
    struct msghdr msg = {
        .msg_name = &to, .msg_namelen = sizeof(to), .msg_iov = two, .msg_iovlen = 2};
    FAILS(tapir_sendmsg(tx, &msg, 0), EMSGSIZE);
    static struct iovec many[IOV_MAX + 1];
    for (size_t i = 0; i < IOV_MAX + 1; i++)
        many[i] = (struct iovec){.iov_base = big + i, .iov_len = 1};
    msg.msg_iov = many;
    msg.msg_iovlen = IOV_MAX + 1;
    FAILS(tapir_sendmsg(tx, &msg, 0), EMSGSIZE);
    msg.msg_iovlen = IOV_MAX;
    assert_int_equal(tapir_sendmsg(tx, &msg, 0), IOV_MAX);
    assert_int_equal(tapir_recv(rx, got, sizeof(got), 0), IOV_MAX);
    assert_memory_equal(got, big, IOV_MAX);

    /* A ping socket: header and data, at most 65515 bytes. */
    int ping = ping_a(fx);
    big[0] = 8;
    big[1] = 0;
    struct sockaddr_in to_host = pair_sin(PAIR_ADDR_B, 0);
    FAILS(tapir_sendto(ping, big, 65516, 0, CSA(&to_host), sizeof(to_host)), EMSGSIZE);
    tapir_close(ping);
    tapir_close(rx);
    tapir_close(tx);
}

/* ---- Connection state: ENOTCONN, EDESTADDRREQ, EPIPE ------------------------------------ */

static void test_enotconn_getpeername_and_shutdown_still_takes_effect(void **state)
{
    struct fx *fx = *state;
    int fd = udp_bound(fx->p.a, "0.0.0.0", 5000);
    struct sockaddr_in out;
    socklen_t len = sizeof(out);
    FAILS(tapir_getpeername(fd, SA(&out), &len), ENOTCONN);

    /* As Linux: ENOTCONN, yet the socket is shut down: a blocking read returns 0 at once
     * (the guard timeout would turn a hang into EAGAIN after 3 s). */
    FAILS(tapir_shutdown(fd, SHUT_RD), ENOTCONN);
    char buf[8];
    uint64_t t0 = pair_now_us();
    assert_int_equal(tapir_recv(fd, buf, sizeof(buf), 0), 0);
    assert_true(pair_now_us() - t0 < 1000000);
    struct sockaddr_in from;
    socklen_t from_len = sizeof(from);
    assert_int_equal(tapir_recvfrom(fd, buf, sizeof(buf), 0, SA(&from), &from_len), 0);
    assert_true(poll_one(fd, POLLIN, 0) & POLLIN);

    FAILS(tapir_shutdown(fd, SHUT_WR), ENOTCONN);
    struct sockaddr_in to = pair_sin(PAIR_ADDR_B, 9);
    FAILS(tapir_sendto(fd, "x", 1, 0, CSA(&to), sizeof(to)), EPIPE);
    assert_true(poll_one(fd, POLLIN, 0) & POLLHUP);
    tapir_close(fd);
}

static void test_edestaddrreq_on_unconnected(void **state)
{
    struct fx *fx = *state;
    int fd = udp_bound(fx->p.a, "0.0.0.0", 5000);
    FAILS(tapir_send(fd, "x", 1, 0), EDESTADDRREQ);
    FAILS(tapir_sendto(fd, "x", 1, 0, NULL, 0), EDESTADDRREQ);
    struct iovec iov = {.iov_base = "x", .iov_len = 1};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    FAILS(tapir_sendmsg(fd, &msg, 0), EDESTADDRREQ);
    int ping = ping_a(fx);
    uint8_t echo[8] = {8, 0};
    FAILS(tapir_send(ping, echo, sizeof(echo), 0), EDESTADDRREQ);
    tapir_close(ping);
    tapir_close(fd);
}

static volatile sig_atomic_t sigpipes;

static void on_sigpipe(int sig)
{
    (void)sig;
    sigpipes++;
}

static void test_epipe_after_shut_wr_without_sigpipe(void **state)
{
    struct fx *fx = *state;
    struct sigaction sa = {.sa_handler = on_sigpipe}, old;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, &old);
    sigpipes = 0;

    int a = udp_bound(fx->p.a, "0.0.0.0", 5000), b = udp_bound(fx->p.b, "0.0.0.0", 6000);
    struct sockaddr_in to_b = pair_sin(PAIR_ADDR_B, 6000), to_a = pair_sin(PAIR_ADDR_A, 5000);
    OK(tapir_connect(a, CSA(&to_b), sizeof(to_b)));
    assert_int_equal(tapir_shutdown(a, SHUT_WR), 0); /* connected: no ENOTCONN */
    FAILS(tapir_send(a, "x", 1, 0), EPIPE);
    FAILS(tapir_sendto(a, "x", 1, 0, CSA(&to_b), sizeof(to_b)), EPIPE);
    struct iovec iov = {.iov_base = "x", .iov_len = 1};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    FAILS(tapir_sendmsg(a, &msg, 0), EPIPE);
    FAILS(tapir_send(a, "x", 1, MSG_NOSIGNAL), EPIPE);
    assert_int_equal(sigpipes, 0);

    /* Receiving still works. */
    OK(tapir_sendto(b, "back", 4, 0, CSA(&to_a), sizeof(to_a)));
    char buf[8];
    assert_int_equal(tapir_recv(a, buf, sizeof(buf), 0), 4);
    assert_memory_equal(buf, "back", 4);
    sigaction(SIGPIPE, &old, NULL);
    tapir_close(a);
    tapir_close(b);
}

/* ---- EMFILE ----------------------------------------------------------------------------- */

static void test_emfile_counts_tapir_sockets_against_rlimit_nofile(void **state)
{
    struct fx *fx = *state;
    int held[2] = {udp_a(fx), udp_a(fx)};
    /* tapir counts its own sockets only: with a limit of open + 3, three more open. */
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &fx->saved_nofile), 0);
    struct rlimit low = fx->saved_nofile;
    low.rlim_cur = 2 + 3;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    fx->nofile_lowered = true;
    int more[4];
    for (int i = 0; i < 3; i++)
        more[i] = (int)OK(tapir_socket_on(fx->p.a, AF_INET, SOCK_DGRAM, 0));
    FAILS(tapir_socket_on(fx->p.a, AF_INET, SOCK_DGRAM, 0), EMFILE);
    FAILS(tapir_socket_on(fx->p.b, AF_INET, SOCK_DGRAM, IPPROTO_ICMP), EMFILE); /* any host */
    /* Closing one makes room for one, and the lowest descriptor is reused. */
    OK(tapir_close(more[1]));
    more[3] = (int)OK(tapir_socket_on(fx->p.a, AF_INET, SOCK_DGRAM, 0));
    assert_int_equal(more[3], more[1]);
    FAILS(tapir_socket_on(fx->p.a, AF_INET, SOCK_DGRAM, 0), EMFILE);

    assert_int_equal(setrlimit(RLIMIT_NOFILE, &fx->saved_nofile), 0);
    fx->nofile_lowered = false;
    int extra = (int)OK(tapir_socket_on(fx->p.a, AF_INET, SOCK_DGRAM, 0));
    tapir_close(extra);
    tapir_close(more[0]);
    tapir_close(more[2]);
    tapir_close(more[3]);
    tapir_close(held[0]);
    tapir_close(held[1]);
}

/* ---- Options: ENOPROTOOPT, EDOM, and what Linux reports --------------------------------- */

static void test_enoprotoopt(void **state)
{
    struct fx *fx = *state;
    int fd = udp_a(fx);
    int v = 1;
    socklen_t len = sizeof(v);
    FAILS(tapir_setsockopt(fd, SOL_SOCKET, 9999, &v, sizeof(v)), ENOPROTOOPT);
    FAILS(tapir_getsockopt(fd, SOL_SOCKET, 9999, &v, &len), ENOPROTOOPT);
    FAILS(tapir_setsockopt(fd, IPPROTO_TCP, 1 /* TCP_NODELAY */, &v, sizeof(v)), ENOPROTOOPT);
    FAILS(tapir_setsockopt(fd, 12345, 1, &v, sizeof(v)), ENOPROTOOPT);
    /* SO_ERROR and SO_TYPE can be read, not written. */
    FAILS(tapir_setsockopt(fd, SOL_SOCKET, SO_TYPE, &v, sizeof(v)), ENOPROTOOPT);
    FAILS(tapir_setsockopt(fd, SOL_SOCKET, SO_ERROR, &v, sizeof(v)), ENOPROTOOPT);
    tapir_close(fd);
}

static void test_edom_bad_timeouts(void **state)
{
    struct fx *fx = *state;
    int fd = udp_a(fx);
    const suseconds_t bad[] = {1000000, -1, 5000000};
    const int names[] = {SO_RCVTIMEO, SO_SNDTIMEO};
    for (size_t n = 0; n < 2; n++) {
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            struct timeval tv = {.tv_sec = 1, .tv_usec = bad[i]};
            FAILS(tapir_setsockopt(fd, SOL_SOCKET, names[n], &tv, sizeof(tv)), EDOM);
        }
        struct timeval ok = {.tv_sec = 2, .tv_usec = 999999}, got;
        socklen_t len = sizeof(got);
        OK(tapir_setsockopt(fd, SOL_SOCKET, names[n], &ok, sizeof(ok)));
        OK(tapir_getsockopt(fd, SOL_SOCKET, names[n], &got, &len));
        assert_int_equal(len, sizeof(got));
        assert_int_equal(got.tv_sec, 2);
        assert_int_equal(got.tv_usec, 999999);
    }
    tapir_close(fd);
}

static void test_so_rcvbuf_and_sndbuf_are_doubled(void **state)
{
    struct fx *fx = *state;
    int fd = udp_a(fx);
    set_int(fd, SO_RCVBUF, 10000);
    assert_int_equal(get_int(fd, SO_RCVBUF), 20000);
    set_int(fd, SO_SNDBUF, 10000);
    assert_int_equal(get_int(fd, SO_SNDBUF), 20000);
    set_int(fd, SO_RCVBUF, 1); /* Linux's floor, SOCK_MIN_RCVBUF */
    assert_int_equal(get_int(fd, SO_RCVBUF), 2304);
    set_int(fd, SO_RCVBUF, 0);
    assert_int_equal(get_int(fd, SO_RCVBUF), 2304);
    tapir_close(fd);
}

static void test_so_type_and_flags_read_back(void **state)
{
    struct fx *fx = *state;
    int fd = udp_a(fx), ping = ping_a(fx);
    assert_int_equal(get_int(fd, SO_TYPE), SOCK_DGRAM);
    assert_int_equal(get_int(ping, SO_TYPE), SOCK_DGRAM);
    assert_int_equal(get_int(fd, SO_REUSEADDR), 0);
    set_int(fd, SO_REUSEADDR, 7);
    assert_int_equal(get_int(fd, SO_REUSEADDR), 1);
    set_int(fd, SO_BROADCAST, 1);
    assert_int_equal(get_int(fd, SO_BROADCAST), 1);
    assert_int_equal(get_int(fd, SO_ERROR), 0);
    tapir_close(fd);
    tapir_close(ping);
}

/* ---- EOPNOTSUPP ------------------------------------------------------------------------- */

static void test_eopnotsupp_listen_accept_and_oob(void **state)
{
    struct fx *fx = *state;
    int fd = udp_bound(fx->p.a, "0.0.0.0", 5000);
    FAILS(tapir_listen(fd, 5), EOPNOTSUPP);
    struct sockaddr_in peer;
    socklen_t peer_len = sizeof(peer);
    uint64_t t0 = pair_now_us();
    FAILS(tapir_accept(fd, SA(&peer), &peer_len), EOPNOTSUPP); /* at once, no waiting */
    assert_true(pair_now_us() - t0 < 1000000);
    struct sockaddr_in to = pair_sin(PAIR_ADDR_B, 9);
    FAILS(tapir_sendto(fd, "x", 1, MSG_OOB, CSA(&to), sizeof(to)), EOPNOTSUPP);
    OK(tapir_connect(fd, CSA(&to), sizeof(to)));
    FAILS(tapir_send(fd, "x", 1, MSG_OOB), EOPNOTSUPP);
    struct iovec iov = {.iov_base = "x", .iov_len = 1};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    FAILS(tapir_sendmsg(fd, &msg, MSG_OOB), EOPNOTSUPP);
    int ping = ping_a(fx);
    FAILS(tapir_listen(ping, 1), EOPNOTSUPP);
    tapir_close(ping);
    tapir_close(fd);
}

/* ---- EACCES: broadcasts need SO_BROADCAST ----------------------------------------------- */

static void test_eacces_broadcast_without_so_broadcast(void **state)
{
    struct fx *fx = *state;
    int rx = udp_bound(fx->p.b, "0.0.0.0", 6000);
    int fd = udp_a(fx);
    const char *bcasts[] = {ADDR_SUBNET_BCAST, ADDR_LIMITED_BCAST};
    for (size_t i = 0; i < 2; i++) {
        struct sockaddr_in to = pair_sin(bcasts[i], 6000);
        FAILS(tapir_connect(fd, CSA(&to), sizeof(to)), EACCES);
        FAILS(tapir_sendto(fd, "b", 1, 0, CSA(&to), sizeof(to)), EACCES);
    }
    struct sockaddr_in out;
    socklen_t len = sizeof(out);
    FAILS(tapir_getpeername(fd, SA(&out), &len), ENOTCONN); /* the connects did nothing */

    set_int(fd, SO_BROADCAST, 1);
    for (size_t i = 0; i < 2; i++) {
        struct sockaddr_in to = pair_sin(bcasts[i], 6000);
        assert_int_equal(tapir_sendto(fd, "b", 1, 0, CSA(&to), sizeof(to)), 1);
        char buf[4];
        struct sockaddr_in from;
        socklen_t from_len = sizeof(from);
        assert_int_equal(tapir_recvfrom(rx, buf, sizeof(buf), 0, SA(&from), &from_len), 1);
        assert_addr(&from, PAIR_ADDR_A, port_of(fd));
        OK(tapir_connect(fd, CSA(&to), sizeof(to)));
        assert_int_equal(tapir_send(fd, "c", 1, 0), 1);
        assert_int_equal(tapir_recv(rx, buf, sizeof(buf), 0), 1);
        assert_int_equal(buf[0], 'c');
    }
    tapir_close(fd);
    tapir_close(rx);
}

/* ---- ENETUNREACH and ICMP errors -------------------------------------------------------- */

static void test_enetunreach_off_link_without_gateway(void **state)
{
    struct fx *fx = *state;
    int fd = udp_a(fx);
    struct sockaddr_in far = pair_sin(ADDR_OFF_LINK, 53);
    FAILS(tapir_sendto(fd, "q", 1, 0, CSA(&far), sizeof(far)), ENETUNREACH);
    int ping = ping_a(fx);
    uint8_t echo[8] = {8, 0};
    far.sin_port = 0;
    FAILS(tapir_sendto(ping, echo, sizeof(echo), 0, CSA(&far), sizeof(far)), ENETUNREACH);
    tapir_close(ping);
    tapir_close(fd);
}

/* B answers a datagram to a closed port with port unreachable: A's connected socket then has
 * ECONNREFUSED pending, reported once, by whichever call comes first. */
static void refused_once(int fd)
{
    assert_int_equal(tapir_send(fd, "knock", 5, 0), 5);
    wait_for(fd, POLLERR);
}

static void test_pending_icmp_error_reported_once(void **state)
{
    struct fx *fx = *state;
    int fd = udp_a(fx);
    struct sockaddr_in closed = pair_sin(PAIR_ADDR_B, 4444);
    OK(tapir_connect(fd, CSA(&closed), sizeof(closed)));

    refused_once(fd);
    assert_int_equal(get_int(fd, SO_ERROR), ECONNREFUSED);
    assert_int_equal(get_int(fd, SO_ERROR), 0); /* reading it cleared it */
    assert_false(poll_one(fd, POLLIN, 0) & POLLERR);

    refused_once(fd);
    FAILS(tapir_send(fd, "x", 1, 0), ECONNREFUSED);
    assert_false(poll_one(fd, POLLIN, 0) & POLLERR);

    refused_once(fd);
    char buf[8];
    FAILS(tapir_recv(fd, buf, sizeof(buf), MSG_DONTWAIT), ECONNREFUSED);
    FAILS(tapir_recv(fd, buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);

    /* A blocking reader is woken by the error. */
    assert_int_equal(tapir_send(fd, "knock", 5, 0), 5);
    FAILS(tapir_recv(fd, buf, sizeof(buf), 0), ECONNREFUSED);
    tapir_close(fd);
}

/* ---- Names and connections -------------------------------------------------------------- */

static void test_getsockname_truncates_to_short_addrlen(void **state)
{
    struct fx *fx = *state;
    int fd = udp_bound(fx->p.a, PAIR_ADDR_A, 5000);
    struct sockaddr_in full = pair_sin(PAIR_ADDR_A, 5000);
    uint8_t out[sizeof(struct sockaddr_in) + 4];
    const socklen_t lens[] = {0, 2, 4, 7, sizeof(struct sockaddr_in)};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        memset(out, 0xaa, sizeof(out));
        socklen_t len = lens[i];
        OK(tapir_getsockname(fd, SA(out), &len));
        assert_int_equal(len, sizeof(struct sockaddr_in)); /* the real length */
        if (lens[i])
            assert_memory_equal(out, &full, lens[i]);
        for (size_t k = lens[i]; k < sizeof(out); k++)
            assert_int_equal(out[k], 0xaa); /* nothing written past what was given */
    }
    /* A longer buffer gets 16 bytes. */
    socklen_t len = sizeof(out);
    memset(out, 0xaa, sizeof(out));
    OK(tapir_getsockname(fd, SA(out), &len));
    assert_int_equal(len, sizeof(struct sockaddr_in));
    assert_int_equal(out[sizeof(struct sockaddr_in)], 0xaa);

    /* getpeername and recvfrom truncate the same way. */
    struct sockaddr_in peer = pair_sin(PAIR_ADDR_B, 6000);
    int b = udp_bound(fx->p.b, "0.0.0.0", 6000);
    OK(tapir_connect(fd, CSA(&peer), sizeof(peer)));
    memset(out, 0xaa, sizeof(out));
    len = 4;
    OK(tapir_getpeername(fd, SA(out), &len));
    assert_int_equal(len, sizeof(struct sockaddr_in));
    assert_memory_equal(out, &peer, 4);
    assert_int_equal(out[4], 0xaa);
    struct sockaddr_in to_a = pair_sin(PAIR_ADDR_A, 5000);
    OK(tapir_sendto(b, "hi", 2, 0, CSA(&to_a), sizeof(to_a)));
    memset(out, 0xaa, sizeof(out));
    len = 4;
    char buf[4];
    assert_int_equal(tapir_recvfrom(fd, buf, sizeof(buf), 0, SA(out), &len), 2);
    assert_int_equal(len, sizeof(struct sockaddr_in));
    assert_memory_equal(out, &peer, 4);
    assert_int_equal(out[4], 0xaa);
    tapir_close(b);
    tapir_close(fd);
}

static void test_connect_binds_ephemeral_port(void **state)
{
    struct fx *fx = *state;
    for (int i = 0; i < 20; i++) {
        int fd = udp_a(fx);
        assert_int_equal(port_of(fd), 0);
        struct sockaddr_in peer = pair_sin(PAIR_ADDR_B, 9);
        OK(tapir_connect(fd, CSA(&peer), sizeof(peer)));
        uint16_t port = port_of(fd);
        assert_true(port >= 32768 && port <= 60999);
        struct sockaddr_in got;
        socklen_t len = sizeof(got);
        OK(tapir_getpeername(fd, SA(&got), &len));
        assert_int_equal(len, sizeof(got));
        assert_addr(&got, PAIR_ADDR_B, 9);
        /* Binding port 0 also picks from the range. */
        int b = udp_bound(fx->p.a, "0.0.0.0", 0);
        port = port_of(b);
        assert_true(port >= 32768 && port <= 60999);
        tapir_close(b);
        tapir_close(fd);
    }
}

static void test_connect_af_unspec_dissolves_association(void **state)
{
    struct fx *fx = *state;
    int fd = udp_bound(fx->p.a, "0.0.0.0", 5000);
    int b = udp_bound(fx->p.b, "0.0.0.0", 6000), other = udp_bound(fx->p.b, "0.0.0.0", 6001);
    struct sockaddr_in peer = pair_sin(PAIR_ADDR_B, 6000), to_a = pair_sin(PAIR_ADDR_A, 5000);
    OK(tapir_connect(fd, CSA(&peer), sizeof(peer)));
    struct sockaddr_in got;
    socklen_t len = sizeof(got);
    OK(tapir_getpeername(fd, SA(&got), &len));
    assert_addr(&got, PAIR_ADDR_B, 6000);

    struct sockaddr_in un = unspec();
    OK(tapir_connect(fd, CSA(&un), sizeof(sa_family_t))); /* the family is all it needs */
    len = sizeof(got);
    FAILS(tapir_getpeername(fd, SA(&got), &len), ENOTCONN);
    FAILS(tapir_send(fd, "x", 1, 0), EDESTADDRREQ);
    assert_int_equal(port_of(fd), 5000); /* an explicitly bound port stays */

    /* No longer filtered by peer: a datagram from another port arrives. */
    OK(tapir_sendto(other, "o", 1, 0, CSA(&to_a), sizeof(to_a)));
    char buf[4];
    struct sockaddr_in from;
    socklen_t from_len = sizeof(from);
    assert_int_equal(tapir_recvfrom(fd, buf, sizeof(buf), 0, SA(&from), &from_len), 1);
    assert_addr(&from, PAIR_ADDR_B, 6001);

    /* Dissolving twice, or never connected, is fine too. */
    OK(tapir_connect(fd, CSA(&un), sizeof(un)));
    tapir_close(b);
    tapir_close(other);
    tapir_close(fd);
}

static void test_ping_socket_round_trip(void **state)
{
    struct fx *fx = *state;
    int fd = ping_a(fx);
    struct sockaddr_in to = pair_sin(PAIR_ADDR_B, 0);
    uint8_t req[8 + 32] = {8, 0, 0xff, 0xff, 0x12, 0x34, 0, 5};
    for (size_t i = 8; i < sizeof(req); i++)
        req[i] = (uint8_t)i;
    assert_int_equal(tapir_sendto(fd, req, sizeof(req), 0, CSA(&to), sizeof(to)), sizeof(req));
    uint16_t id = port_of(fd); /* the identifier is the socket's port, whatever we wrote */
    assert_true(id != 0);
    uint8_t rep[64];
    struct sockaddr_in from;
    socklen_t from_len = sizeof(from);
    assert_int_equal(tapir_recvfrom(fd, rep, sizeof(rep), 0, SA(&from), &from_len), sizeof(req));
    assert_addr(&from, PAIR_ADDR_B, 0);
    assert_int_equal(rep[0], 0); /* echo reply */
    assert_int_equal(rep[1], 0);
    assert_int_equal(rep[4] << 8 | rep[5], id);
    assert_int_equal(rep[6] << 8 | rep[7], 5);
    assert_memory_equal(rep + 8, req + 8, sizeof(req) - 8);
    tapir_close(fd);
}

static void test_poll_argument_errors(void **state)
{
    struct fx *fx = *state;
    int fd = udp_a(fx);
    struct pollfd pfd = {.fd = fd, .events = POLLOUT};
    FAILS(tapir_poll(NULL, 1, 0), EFAULT);
    FAILS(tapir_poll(&pfd, (nfds_t)INT_MAX + 1u, 0), EINVAL);
    assert_int_equal(tapir_poll(NULL, 0, 0), 0);
    assert_int_equal(tapir_poll(&pfd, 1, 0), 1);
    assert_int_equal(pfd.revents, POLLOUT);
    tapir_close(fd);
}

/* ---- Linux departures: each asserts what Linux 6.18 does, and fails against tapir today. */

/* Linux looks the descriptor up before it reads any other argument: a bad descriptor is
 * EBADF whatever else is wrong, and a call the socket does not support fails as such before
 * its out-pointers are looked at. */
static void test_linux_ebadf_comes_before_argument_errors(void **state)
{
    struct fx *fx = *state;
    int fd = udp_a(fx);
    OK(tapir_close(fd));
    struct sockaddr_in sin;
    char buf[4];
    static struct iovec many[IOV_MAX + 1];
    for (size_t i = 0; i < IOV_MAX + 1; i++)
        many[i] = (struct iovec){.iov_base = buf, .iov_len = 1};
    struct msghdr msg = {.msg_iov = many, .msg_iovlen = IOV_MAX + 1};
    FAILS(tapir_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, NULL, sizeof(int)), EBADF);
    FAILS(tapir_getsockopt(fd, SOL_SOCKET, SO_TYPE, NULL, NULL), EBADF);
    FAILS(tapir_sendmsg(fd, NULL, 0), EBADF);
    FAILS(tapir_sendmsg(fd, &msg, 0), EBADF);
    FAILS(tapir_recvmsg(fd, NULL, 0), EBADF);
    FAILS(tapir_getsockname(fd, NULL, NULL), EBADF);
    FAILS(tapir_getpeername(fd, NULL, NULL), EBADF);
    FAILS(tapir_recvfrom(fd, buf, sizeof(buf), 0, SA(&sin), NULL), EBADF);
    FAILS(tapir_accept(fd, SA(&sin), NULL), EBADF);

    int u = (int)OK(tapir_socket_on(fx->p.a, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0));
    FAILS(tapir_accept(u, SA(&sin), NULL), EOPNOTSUPP);
    FAILS(tapir_recvfrom(u, buf, sizeof(buf), 0, SA(&sin), NULL), EAGAIN); /* nothing queued */
    tapir_close(u);
}

/* Linux's getsockopt copies min(optlen, size of the value) and reports that length; only a
 * negative optlen is EINVAL (sk_getsockopt). */
static void test_linux_getsockopt_short_optlen_truncates(void **state)
{
    struct fx *fx = *state;
    int fd = udp_a(fx);
    uint8_t v[8];
    memset(v, 0xaa, sizeof(v));
    socklen_t len = 2;
    OK(tapir_getsockopt(fd, SOL_SOCKET, SO_TYPE, v, &len));
    assert_int_equal(len, 2);
    int type = SOCK_DGRAM;
    assert_memory_equal(v, &type, 2);
    assert_int_equal(v[2], 0xaa);
    len = 0;
    OK(tapir_getsockopt(fd, SOL_SOCKET, SO_TYPE, v, &len));
    assert_int_equal(len, 0);
    struct timeval tv;
    len = 8;
    OK(tapir_getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, &len));
    assert_int_equal(len, 8);
    tapir_close(fd);
}

/* getsockopt at a level UDP does not know falls through to ip_getsockopt, which says
 * EOPNOTSUPP (setsockopt says ENOPROTOOPT). */
static void test_linux_getsockopt_foreign_level_is_eopnotsupp(void **state)
{
    struct fx *fx = *state;
    int fd = udp_a(fx);
    int v;
    socklen_t len = sizeof(v);
    FAILS(tapir_getsockopt(fd, IPPROTO_TCP, 1 /* TCP_NODELAY */, &v, &len), EOPNOTSUPP);
    tapir_close(fd);
}

/* inet_bind accepts AF_UNSPEC with INADDR_ANY as AF_INET (for old programs); AF_UNSPEC with
 * any other address is EAFNOSUPPORT. */
static void test_linux_bind_af_unspec_any_binds(void **state)
{
    struct fx *fx = *state;
    int fd = udp_a(fx);
    struct sockaddr_in sin = pair_sin(PAIR_ADDR_A, 5000);
    sin.sin_family = AF_UNSPEC;
    FAILS(tapir_bind(fd, CSA(&sin), sizeof(sin)), EAFNOSUPPORT);
    sin = pair_sin("0.0.0.0", 5000);
    sin.sin_family = AF_UNSPEC;
    OK(tapir_bind(fd, CSA(&sin), sizeof(sin)));
    assert_int_equal(port_of(fd), 5000);
    tapir_close(fd);
}

/* A UDP datagram larger than SO_SNDBUF is still sent: Linux checks the buffer before it
 * allocates, so a lone datagram of any legal size fits. */
static void test_linux_datagram_larger_than_sndbuf_is_sent(void **state)
{
    struct fx *fx = *state;
    int fd = udp_a(fx);
    set_int(fd, SO_SNDBUF, 1024); /* 2048 after doubling... */
    struct sockaddr_in to = pair_sin(PAIR_ADDR_B, 9);
    assert_int_equal(tapir_sendto(fd, big, 4000, 0, CSA(&to), sizeof(to)), 4000);
    tapir_close(fd);
}

/* SO_SNDBUF's floor is SOCK_MIN_SNDBUF, twice SO_RCVBUF's. */
static void test_linux_sndbuf_floor_is_4608(void **state)
{
    struct fx *fx = *state;
    int fd = udp_a(fx);
    set_int(fd, SO_SNDBUF, 1);
    assert_int_equal(get_int(fd, SO_SNDBUF), 4608);
    tapir_close(fd);
}

/* connect on UDP fixes the local address too (the route's source), which is how programs
 * learn their own address: getsockname then shows it. */
static void test_linux_connect_sets_local_address(void **state)
{
    struct fx *fx = *state;
    int fd = udp_a(fx);
    struct sockaddr_in peer = pair_sin(PAIR_ADDR_B, 9), got;
    OK(tapir_connect(fd, CSA(&peer), sizeof(peer)));
    socklen_t len = sizeof(got);
    OK(tapir_getsockname(fd, SA(&got), &len));
    assert_addr(&got, PAIR_ADDR_A, -1);
    tapir_close(fd);
}

/* Dissolving the association with AF_UNSPEC also gives back a port that connect bound
 * (__udp_disconnect without SOCK_BINDPORT_LOCK): getsockname shows 0.0.0.0:0. */
static void test_linux_disconnect_releases_autobound_port(void **state)
{
    struct fx *fx = *state;
    int fd = udp_a(fx);
    struct sockaddr_in peer = pair_sin(PAIR_ADDR_B, 9), un = unspec(), got;
    OK(tapir_connect(fd, CSA(&peer), sizeof(peer)));
    assert_int_not_equal(port_of(fd), 0);
    OK(tapir_connect(fd, CSA(&un), sizeof(un)));
    socklen_t len = sizeof(got);
    OK(tapir_getsockname(fd, SA(&got), &len));
    assert_addr(&got, "0.0.0.0", 0);
    tapir_close(fd);
}

/* sendmsg with a name but msg_namelen 0 has no address (____sys_sendmsg drops it): an
 * unconnected socket says EDESTADDRREQ, not EINVAL. (sendto with addrlen 0 is EINVAL.) */
static void test_linux_sendmsg_zero_namelen_means_no_address(void **state)
{
    struct fx *fx = *state;
    int fd = udp_a(fx);
    struct sockaddr_in to = pair_sin(PAIR_ADDR_B, 9);
    struct iovec iov = {.iov_base = "x", .iov_len = 1};
    struct msghdr msg = {.msg_name = &to, .msg_namelen = 0, .msg_iov = &iov, .msg_iovlen = 1};
    FAILS(tapir_sendmsg(fd, &msg, 0), EDESTADDRREQ);
    OK(tapir_connect(fd, CSA(&to), sizeof(to)));
    assert_int_equal(tapir_sendmsg(fd, &msg, 0), 1);
    tapir_close(fd);
}

/* SO_RCVBUF reads its int as unsigned (min_t(u32, val, rmem_max)): a negative size asks for
 * the most, not the least. */
static void test_linux_negative_rcvbuf_is_the_maximum(void **state)
{
    struct fx *fx = *state;
    int fd = udp_a(fx);
    set_int(fd, SO_RCVBUF, INT_MAX);
    int most = get_int(fd, SO_RCVBUF);
    set_int(fd, SO_RCVBUF, 1);
    set_int(fd, SO_RCVBUF, -5);
    assert_int_equal(get_int(fd, SO_RCVBUF), most);
    tapir_close(fd);
}

/* connect looks the route up: without one, ENETUNREACH (ip4_datagram_connect). */
static void test_linux_connect_without_route_is_enetunreach(void **state)
{
    struct fx *fx = *state;
    int fd = udp_a(fx);
    struct sockaddr_in far = pair_sin(ADDR_OFF_LINK, 53);
    FAILS(tapir_connect(fd, CSA(&far), sizeof(far)), ENETUNREACH);
    tapir_close(fd);
}

int main(void)
{
    const struct CMUnitTest errors[] = {
        SHIM_TEST(test_ebadf_never_opened_descriptors),
        SHIM_TEST(test_ebadf_kernel_descriptors),
        SHIM_TEST(test_ebadf_closed_descriptor_and_close_twice),
        cmocka_unit_test(test_ebadf_after_host_close),
        SHIM_TEST(test_efault_null_addresses),
        SHIM_TEST(test_efault_null_buffers),
        SHIM_TEST(test_efault_null_option_and_name_pointers),
        SHIM_TEST(test_einval_address_lengths),
        SHIM_TEST(test_einval_bind_twice),
        SHIM_TEST(test_einval_shutdown_how),
        SHIM_TEST(test_einval_option_lengths),
        SHIM_TEST(test_einval_fcntl_command),
        SHIM_TEST(test_einval_ping_message_not_echo_request),
        SHIM_TEST(test_eafnosupport),
        SHIM_TEST(test_esocktnosupport_and_eprotonosupport),
        cmocka_unit_test(test_enetdown_without_host),
        SHIM_TEST(test_eaddrinuse_unless_both_reuseaddr),
        SHIM_TEST(test_eaddrnotavail),
        SHIM_TEST(test_eagain_on_empty_queue),
        SHIM_TEST(test_fcntl_descriptor_flags),
        SHIM_TEST(test_emsgsize_datagram_limits),
        SHIM_TEST(test_enotconn_getpeername_and_shutdown_still_takes_effect),
        SHIM_TEST(test_edestaddrreq_on_unconnected),
        SHIM_TEST(test_epipe_after_shut_wr_without_sigpipe),
        SHIM_TEST(test_emfile_counts_tapir_sockets_against_rlimit_nofile),
        SHIM_TEST(test_enoprotoopt),
        SHIM_TEST(test_edom_bad_timeouts),
        SHIM_TEST(test_so_rcvbuf_and_sndbuf_are_doubled),
        SHIM_TEST(test_so_type_and_flags_read_back),
        SHIM_TEST(test_eopnotsupp_listen_accept_and_oob),
        SHIM_TEST(test_eacces_broadcast_without_so_broadcast),
        SHIM_TEST(test_enetunreach_off_link_without_gateway),
        SHIM_TEST(test_pending_icmp_error_reported_once),
        SHIM_TEST(test_getsockname_truncates_to_short_addrlen),
        SHIM_TEST(test_connect_binds_ephemeral_port),
        SHIM_TEST(test_connect_af_unspec_dissolves_association),
        SHIM_TEST(test_ping_socket_round_trip),
        SHIM_TEST(test_poll_argument_errors),
    };
    const struct CMUnitTest linux_departures[] = {
        SHIM_TEST(test_linux_ebadf_comes_before_argument_errors),
        SHIM_TEST(test_linux_getsockopt_short_optlen_truncates),
        SHIM_TEST(test_linux_getsockopt_foreign_level_is_eopnotsupp),
        SHIM_TEST(test_linux_bind_af_unspec_any_binds),
        SHIM_TEST(test_linux_datagram_larger_than_sndbuf_is_sent),
        SHIM_TEST(test_linux_sndbuf_floor_is_4608),
        SHIM_TEST(test_linux_connect_sets_local_address),
        SHIM_TEST(test_linux_disconnect_releases_autobound_port),
        SHIM_TEST(test_linux_connect_without_route_is_enetunreach),
        SHIM_TEST(test_linux_sendmsg_zero_namelen_means_no_address),
        SHIM_TEST(test_linux_negative_rcvbuf_is_the_maximum),
    };
    int failed = cmocka_run_group_tests_name("shim errors", errors, NULL, NULL);
    failed += cmocka_run_group_tests_name("shim: linux departures", linux_departures, NULL, NULL);
    return failed;
}
