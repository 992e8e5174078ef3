/* SPDX-License-Identifier: MIT */
/* tcp_rr.c: TCP request/response latency (issue 8, item 2), the host's side: one connection with
 * TCP_NODELAY to an echo server at ADDR PORT; it sends a message of --size bytes (default 64),
 * waits until all of it has come back, and sends the next, for --seconds (default 2) or --count
 * transactions (default 1,000,000), whichever ends first. Blocking calls, as a plain
 * request/response client makes them (and as ping does): each round trip includes this side's
 * wake-up, as the TAP floor's ping round trip does, which is what it is compared with.
 *
 *   tcp_rr ADDR PORT [--seconds S] [--count N] [--size BYTES] [--warmup N]
 *
 * The first --warmup transactions (default 100) are not measured (the connection's first
 * segments, cold caches). Every message carries its sequence number and must come back byte for
 * byte within 2 s, or the run fails. Round trips are kept one by one (in nanoseconds) and
 * sorted, so the percentiles are exact (nearest rank). The last line is
 * "tcp_rr: transactions N seconds S per_s R median_us M p99_us P", for scripts/bench. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hostload.h"

#define MSG_MAX 65536u
#define ECHO_TIMEOUT_S 2
#define COUNT_MAX 100000000ull

struct opts {
    struct sockaddr_in dst;
    double seconds;
    uint64_t count, warmup;
    unsigned size;
};

static void usage(void)
{
    fprintf(stderr, "usage: tcp_rr ADDR PORT [--seconds S] [--count N] [--size BYTES] "
                    "[--warmup N]\n");
    exit(2);
}

static struct opts parse_opts(int argc, char **argv)
{
    struct opts o = {.seconds = 2, .count = 1000000, .warmup = 100, .size = 64};
    static const struct option longs[] = {{"seconds", required_argument, 0, 's'},
                                          {"count", required_argument, 0, 'c'},
                                          {"size", required_argument, 0, 'z'},
                                          {"warmup", required_argument, 0, 'w'},
                                          {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (ch) {
        case 's':
            o.seconds = atof(optarg);
            break;
        case 'c':
            o.count = strtoull(optarg, NULL, 10);
            break;
        case 'z':
            o.size = (unsigned)atoi(optarg);
            break;
        case 'w':
            o.warmup = strtoull(optarg, NULL, 10);
            break;
        default:
            usage();
        }
    }
    if (argc - optind != 2 || !inet_aton(argv[optind], &o.dst.sin_addr) || o.seconds <= 0 ||
        o.seconds > 3600 || !o.count || o.count > COUNT_MAX || o.size < 8 || o.size > MSG_MAX ||
        o.warmup > COUNT_MAX)
        usage();
    o.dst.sin_family = AF_INET;
    o.dst.sin_port = htons((uint16_t)atoi(argv[optind + 1]));
    return o;
}

/* The connection: TCP_NODELAY, and every blocking call bounded (connect by SO_SNDTIMEO). */
static int connect_to(const struct opts *o)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    struct timeval tv = {.tv_sec = ECHO_TIMEOUT_S};
    if (fd < 0 || setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
        connect(fd, (const struct sockaddr *)&o->dst, sizeof(o->dst)) < 0) {
        fprintf(stderr, "tcp_rr: cannot connect to %s:%u: %s\n", inet_ntoa(o->dst.sin_addr),
                ntohs(o->dst.sin_port), strerror(errno));
        exit(1);
    }
    return fd;
}

/* Message seq: its number, then letters. */
static void msg_fill(uint8_t *m, unsigned len, uint64_t seq)
{
    memcpy(m, &seq, sizeof(seq));
    for (unsigned k = sizeof(seq); k < len; k++)
        m[k] = (uint8_t)('a' + (seq + k) % 26);
}

/* One transaction: the message out, all of it back. False (with a line on stderr) on a
 * failure: the connection ended, no echo within the timeout, wrong bytes. */
static bool transact(int fd, const struct opts *o, uint64_t seq)
{
    static uint8_t out[MSG_MAX], in[MSG_MAX];
    msg_fill(out, o->size, seq);
    for (unsigned sent = 0; sent < o->size;) {
        ssize_t n = send(fd, out + sent, o->size - sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR && !stop)
            continue;
        if (n <= 0) {
            fprintf(stderr, "tcp_rr: send: %s\n", n < 0 ? strerror(errno) : "nothing sent");
            return false;
        }
        sent += (unsigned)n;
    }
    for (unsigned got = 0; got < o->size;) {
        ssize_t n = recv(fd, in + got, o->size - got, 0);
        if (n < 0 && errno == EINTR && !stop)
            continue;
        if (n <= 0) {
            fprintf(stderr, "tcp_rr: transaction %llu: %s\n", (unsigned long long)seq,
                    n == 0                                    ? "the server closed"
                    : errno == EAGAIN || errno == EWOULDBLOCK ? "no echo within 2 s"
                                                              : strerror(errno));
            return false;
        }
        got += (unsigned)n;
    }
    if (memcmp(in, out, o->size) != 0) {
        fprintf(stderr, "tcp_rr: transaction %llu: the echo differs from the message\n",
                (unsigned long long)seq);
        return false;
    }
    return true;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    struct opts o = parse_opts(argc, argv);
    on_signals();
    uint32_t *rtt = malloc(o.count * sizeof(*rtt)); /* ns; a round trip is under 2 s */
    if (!rtt) {
        perror("tcp_rr");
        return 1;
    }
    int fd = connect_to(&o);
    uint64_t seq = 0, n = 0;
    for (; seq < o.warmup && !stop; seq++)
        if (!transact(fd, &o, seq))
            return 1;
    uint64_t t0 = mono_ns(), end = t0 + (uint64_t)(o.seconds * 1e9), now = t0;
    while (n < o.count && now < end && !stop) {
        uint64_t t = now;
        if (!transact(fd, &o, seq++))
            return 1;
        now = mono_ns();
        rtt[n++] = (uint32_t)(now - t);
    }
    close(fd);
    if (!n) {
        fprintf(stderr, "tcp_rr: no transaction measured\n");
        return 1;
    }
    double seconds = (double)(now - t0) / 1e9;
    qsort(rtt, n, sizeof(*rtt), cmp_u32);
    double median = n % 2 ? rtt[n / 2] : ((double)rtt[n / 2 - 1] + rtt[n / 2]) / 2;
    uint64_t p99 = (n * 99 + 99) / 100; /* nearest rank: ceil(0.99 n), from 1 */
    printf("# %s:%u, %u-byte messages, TCP_NODELAY: %llu transactions in %.3f s after %llu "
           "of warm-up; min %.1f us, max %.1f us\n",
           inet_ntoa(o.dst.sin_addr), ntohs(o.dst.sin_port), o.size, (unsigned long long)n, seconds,
           (unsigned long long)o.warmup, rtt[0] / 1e3, rtt[n - 1] / 1e3);
    printf("tcp_rr: transactions %llu seconds %.3f per_s %.0f median_us %.1f p99_us %.1f\n",
           (unsigned long long)n, seconds, (double)n / seconds, median / 1e3, rtt[p99 - 1] / 1e3);
    free(rtt);
    return 0;
}
