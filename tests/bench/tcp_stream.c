/* SPDX-License-Identifier: MIT */
/* tcp_stream.c: the host's side of the TCP goodput benchmark: one connection, sending to a
 * discard server or reading from a chargen server, for a bounded time. Goodput is what the
 * kernel's TCP_INFO says crossed in the measured window: bytes the peer acknowledged (send)
 * or bytes received in order (recv), so data still sitting in a buffer is not counted.
 *
 *   tcp_stream send|recv --addr ADDR --port N --seconds S [--warmup W]
 *
 * The first W seconds (default 0.5) are not measured: slow start and the first window
 * openings are not what a long transfer sees. The last line is
 * "tcp_stream: bytes N seconds S gbit_per_s G". */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tapbench.h"

#define BUF_BYTES (256u << 10)

struct stream {
    int fd;
    bool sending;
    uint64_t warmup_ns, run_ns;
};

/* What has crossed so far, by the kernel's count. */
static uint64_t crossed_bytes(const struct stream *s)
{
    struct tcp_info ti;
    socklen_t len = sizeof(ti);
    memset(&ti, 0, sizeof(ti));
    if (getsockopt(s->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
        return 0;
    return s->sending ? ti.tcpi_bytes_acked : ti.tcpi_bytes_received;
}

/* One step of the transfer: waits (up to 100 ms, so the clock is looked at) and moves what it
 * can. False when the connection ended. */
static bool step(const struct stream *s, uint8_t *buf)
{
    struct pollfd pfd = {.fd = s->fd, .events = s->sending ? POLLOUT : POLLIN};
    if (poll(&pfd, 1, 100) <= 0)
        return !tb_stop;
    ssize_t n = s->sending ? send(s->fd, buf, BUF_BYTES, MSG_DONTWAIT | MSG_NOSIGNAL)
                           : recv(s->fd, buf, BUF_BYTES, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        fprintf(stderr, "tcp_stream: the connection ended: %s\n", n ? strerror(errno) : "EOF");
        return false;
    }
    return true;
}

/* Moves data until the end of the window; the bytes that crossed within it, or -1. */
static int64_t run(const struct stream *s, double *seconds)
{
    static uint8_t buf[BUF_BYTES];
    memset(buf, 'x', sizeof(buf));
    uint64_t start = tb_now_ns(), t0 = 0, b0 = 0, now;
    while ((now = tb_now_ns()) < start + s->warmup_ns + s->run_ns) {
        if (!t0 && now >= start + s->warmup_ns) {
            t0 = now;
            b0 = crossed_bytes(s);
        }
        if (!step(s, buf))
            return -1;
    }
    if (!t0)
        return -1;
    *seconds = (double)(now - t0) / 1e9;
    return (int64_t)(crossed_bytes(s) - b0);
}

static int connect_to(const struct sockaddr_in *dst)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {.tv_sec = 5};
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)); /* bounds connect() */
    if (fd < 0 || connect(fd, (const struct sockaddr *)dst, sizeof(*dst)) < 0) {
        fprintf(stderr, "tcp_stream: cannot connect: %s\n", strerror(errno));
        exit(1);
    }
    return fd;
}

static int usage(void)
{
    fprintf(stderr, "usage: tcp_stream send|recv --addr ADDR --port N --seconds S "
                    "[--warmup W]\n");
    return 2;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"addr", required_argument, 0, 'a'},
                                         {"port", required_argument, 0, 'p'},
                                         {"seconds", required_argument, 0, 's'},
                                         {"warmup", required_argument, 0, 'w'},
                                         {0, 0, 0, 0}};
    struct sockaddr_in dst = {.sin_family = AF_INET};
    struct stream s = {.warmup_ns = 500000000u};
    uint64_t port = 0;
    bool have_addr = false;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'a':
            have_addr = inet_pton(AF_INET, optarg, &dst.sin_addr) == 1;
            break;
        case 'p':
            if (!tb_parse_u64(optarg, &port) || port == 0 || port > 65535)
                return usage();
            break;
        case 's':
            if (!tb_parse_seconds(optarg, &s.run_ns))
                return usage();
            break;
        case 'w':
            if (!tb_parse_seconds(optarg, &s.warmup_ns))
                return usage();
            break;
        default:
            return usage();
        }
    }
    if (optind != argc - 1 || !have_addr || !port || !s.run_ns)
        return usage();
    s.sending = strcmp(argv[optind], "send") == 0;
    if (!s.sending && strcmp(argv[optind], "recv") != 0)
        return usage();
    dst.sin_port = htons((uint16_t)port);
    tb_on_signals((unsigned)((s.warmup_ns + s.run_ns) / 1000000000u) + 15);
    s.fd = connect_to(&dst);
    double seconds = 0;
    int64_t bytes = run(&s, &seconds);
    if (bytes < 0)
        return 1;
    printf("tcp_stream: bytes %lld seconds %.6f gbit_per_s %.3f\n", (long long)bytes, seconds,
           (double)bytes * 8 / seconds / 1e9);
    close(s.fd);
    return 0;
}
