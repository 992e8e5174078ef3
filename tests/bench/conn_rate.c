/* SPDX-License-Identifier: MIT */
/* conn_rate.c: connections per second (issue 8, item 5), the host's side: many connections in
 * flight at once on plain Linux sockets (non-blocking, epoll), each one connect, send one byte,
 * read the echoed byte, close; for a bounded time against an echo server at ADDR PORT. The same
 * client measures tapir's echo (10.0.0.2 7) and the kernel's (kecho in another namespace), so
 * the two figures compare like with like. A loop in Python would measure itself, not the stack.
 *
 *   conn_rate ADDR PORT [--seconds S] [--conns N] [--src A.B.C.D[-E][,...]] [--rst]
 *             [--timeout-ms MS]
 *
 * --conns is how many are in flight (default 128). --src spreads the connections over several
 * source addresses (10.0.0.11-20: the last octet's range), bound with IP_BIND_ADDRESS_NO_PORT
 * so the kernel still picks the port at connect time, per 4-tuple. The client closes first, so
 * its side keeps each connection in TIME_WAIT for 60 s: with one source address and the default
 * 28,000 ephemeral ports that caps a run near 470 connections a second, unless the namespace
 * sets net.ipv4.tcp_tw_reuse=1 (a port is reused once its TIME_WAIT is a second old) or a wide
 * ip_local_port_range, or --src gives more addresses. --rst closes with SO_LINGER 0 (a reset,
 * no TIME_WAIT) instead of a FIN.
 *
 * A connection that fails (refused, reset, no byte back within --timeout-ms, default 3000, no
 * local port) is counted by reason and replaced. The last line is "conn_rate: conns N failed F
 * seconds S conns_per_s R p50_us A p99_us B", for scripts/bench. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "hostload.h"

#define MAX_SRCS 64
#define MAX_CONNS 4096
#define NO_PORT_BACKOFF_US 10000u /* no local port left: wait for TIME_WAITs to age */

enum slot_state { SLOT_IDLE, SLOT_CONNECTING, SLOT_READING };


struct slot {
    enum slot_state state;
    int fd;
    uint64_t start_us; /* when connect() was called */
    uint64_t retry_us; /* SLOT_IDLE: not before this */
};

struct opts {
    struct sockaddr_in dst;
    double seconds;
    unsigned conns;
    struct in_addr src[MAX_SRCS];
    unsigned nsrc;
    bool rst;
    unsigned timeout_ms;
};

struct run {
    struct opts o;
    int ep;
    struct slot slot[MAX_CONNS];
    unsigned next_src;
    uint64_t done, failed[F_COUNT];
    uint64_t hist[HIST_BUCKETS]; /* connection times, log2 with 16 steps per octave */
};

/* ---- Connections --------------------------------------------------------------------------- */

static void slot_fail(struct run *r, struct slot *s, enum fail why, uint64_t backoff_us)
{
    r->failed[why]++;
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    s->state = SLOT_IDLE;
    s->retry_us = mono_us() + backoff_us;
}

/* Binds to the next source address, the port left to connect() (IP_BIND_ADDRESS_NO_PORT):
 * bound early, a port would be reserved for every destination and not shared per 4-tuple. */
static int bind_source(struct run *r, int fd)
{
    if (!r->o.nsrc)
        return 0;
    int one = 1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr = r->o.src[r->next_src++ % r->o.nsrc]};
    return bind(fd, (struct sockaddr *)&a, sizeof(a));
}

static void slot_start(struct run *r, unsigned i)
{
    struct slot *s = &r->slot[i];
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0)
        return slot_fail(r, s, F_OTHER, NO_PORT_BACKOFF_US);
    s->start_us = mono_us();
    if (bind_source(r, s->fd) < 0)
        return slot_fail(r, s, fail_of_errno(errno), NO_PORT_BACKOFF_US);
    if (connect(s->fd, (struct sockaddr *)&r->o.dst, sizeof(r->o.dst)) < 0 && errno != EINPROGRESS)
        return slot_fail(r, s, fail_of_errno(errno), NO_PORT_BACKOFF_US);
    struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = i};
    if (epoll_ctl(r->ep, EPOLL_CTL_ADD, s->fd, &ev) < 0)
        return slot_fail(r, s, F_OTHER, NO_PORT_BACKOFF_US);
    s->state = SLOT_CONNECTING;
}

/* The handshake finished (or failed): send the byte, then wait for it to come back. */
static void slot_connected(struct run *r, unsigned i)
{
    struct slot *s = &r->slot[i];
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err)
        return slot_fail(r, s, fail_of_errno(err), 0);
    char byte = (char)('a' + i % 26);
    if (send(s->fd, &byte, 1, MSG_NOSIGNAL) != 1)
        return slot_fail(r, s, fail_of_errno(errno), 0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
    epoll_ctl(r->ep, EPOLL_CTL_MOD, s->fd, &ev);
    s->state = SLOT_READING;
}

static void slot_close(struct run *r, struct slot *s)
{
    if (r->o.rst) {
        struct linger l = {.l_onoff = 1, .l_linger = 0};
        setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    }
    close(s->fd); /* close() also takes it out of the epoll set */
    s->fd = -1;
    s->state = SLOT_IDLE;
    s->retry_us = 0;
}

static void slot_readable(struct run *r, unsigned i)
{
    struct slot *s = &r->slot[i];
    char byte;
    ssize_t n = recv(s->fd, &byte, 1, 0);
    if (n < 0 && errno == EAGAIN)
        return;
    if (n < 0)
        return slot_fail(r, s, fail_of_errno(errno), 0);
    if (n == 0)
        return slot_fail(r, s, F_RESET, 0); /* closed before the echo came */
    if (byte != (char)('a' + i % 26))
        return slot_fail(r, s, F_BAD_DATA, 0);
    r->hist[hist_bucket(mono_us() - s->start_us)]++;
    r->done++;
    slot_close(r, s);
}

static void on_event(struct run *r, const struct epoll_event *ev)
{
    unsigned i = ev->data.u32;
    if (r->slot[i].state == SLOT_CONNECTING)
        slot_connected(r, i);
    else if (r->slot[i].state == SLOT_READING)
        slot_readable(r, i);
}

/* Restarts idle slots, and fails those past the timeout. */
static void sweep(struct run *r, uint64_t now)
{
    uint64_t limit = (uint64_t)r->o.timeout_ms * 1000u;
    for (unsigned i = 0; i < r->o.conns; i++) {
        struct slot *s = &r->slot[i];
        if (s->state == SLOT_IDLE && now >= s->retry_us)
            slot_start(r, i);
        else if (s->state != SLOT_IDLE && now > s->start_us + limit)
            slot_fail(r, s, F_TIMEOUT, 0);
    }
}

static void run_loop(struct run *r)
{
    struct epoll_event evs[256];
    uint64_t t0 = mono_us(), end = t0 + (uint64_t)(r->o.seconds * 1e6);
    for (unsigned i = 0; i < r->o.conns; i++)
        r->slot[i] = (struct slot){.state = SLOT_IDLE, .fd = -1};
    while (!stop && mono_us() < end) {
        sweep(r, mono_us());
        int n = epoll_wait(r->ep, evs, 256, 1);
        for (int k = 0; k < n; k++)
            on_event(r, &evs[k]);
    }
    for (unsigned i = 0; i < r->o.conns; i++) /* unfinished ones are neither done nor failed */
        if (r->slot[i].fd >= 0)
            slot_close(r, &r->slot[i]);
}

/* ---- Setup and report ---------------------------------------------------------------------- */

/* Room for every descriptor: the soft limit up to the hard one. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* What caps the rate before the server does: TIME_WAIT ports on this side. */
static void note_port_limits(const struct run *r)
{
    int lo = 0, hi = 0, reuse = -1;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f) {
        if (fscanf(f, "%d %d", &lo, &hi) != 2)
            lo = hi = 0;
        fclose(f);
    }
    if ((f = fopen("/proc/sys/net/ipv4/tcp_tw_reuse", "r"))) {
        if (fscanf(f, "%d", &reuse) != 1)
            reuse = -1;
        fclose(f);
    }
    unsigned nsrc = r->o.nsrc ? r->o.nsrc : 1;
    printf("# ports %d-%d, tcp_tw_reuse %d, %u source address%s%s\n", lo, hi, reuse, nsrc,
           nsrc > 1 ? "es" : "", r->o.rst ? ", closing with RST" : "");
    if (!r->o.rst && reuse != 1 && hi > lo)
        printf("# note: TIME_WAIT caps this side near %.0f connections/s (set "
               "net.ipv4.tcp_tw_reuse=1, or --src, or --rst)\n",
               (double)(hi - lo + 1) * nsrc / 60.0);
}

static void report(const struct run *r)
{
    uint64_t failed = 0;
    for (int k = 0; k < F_COUNT; k++)
        failed += r->failed[k];
    double rate = (double)r->done / r->o.seconds;
    uint64_t p50 = hist_percentile(r->hist, r->done, 50),
             p99 = hist_percentile(r->hist, r->done, 99);
    printf("# %s:%u, %u in flight, %.1f s: %llu connections done, %llu failed (",
           inet_ntoa(r->o.dst.sin_addr), ntohs(r->o.dst.sin_port), r->o.conns, r->o.seconds,
           (unsigned long long)r->done, (unsigned long long)failed);
    for (int k = 0; k < F_COUNT; k++)
        printf("%s%s %llu", k ? ", " : "", fail_names[k], (unsigned long long)r->failed[k]);
    printf("); each took p50 %llu us, p99 %llu us\n", (unsigned long long)p50,
           (unsigned long long)p99);
    printf("conn_rate: conns %llu failed %llu seconds %.1f conns_per_s %.0f p50_us %llu p99_us "
           "%llu\n",
           (unsigned long long)r->done, (unsigned long long)failed, r->o.seconds, rate,
           (unsigned long long)p50, (unsigned long long)p99);
}

static void usage(void)
{
    fprintf(stderr, "usage: conn_rate ADDR PORT [--seconds S] [--conns N] "
                    "[--src A.B.C.D[-E][,...]] [--rst] [--timeout-ms MS]\n");
    exit(2);
}

static struct opts parse_opts(int argc, char **argv)
{
    struct opts o = {.seconds = 5, .conns = 128, .timeout_ms = 3000};
    static const struct option longs[] = {{"seconds", required_argument, 0, 's'},
                                          {"conns", required_argument, 0, 'c'},
                                          {"src", required_argument, 0, 'S'},
                                          {"rst", no_argument, 0, 'r'},
                                          {"timeout-ms", required_argument, 0, 't'},
                                          {"help", no_argument, 0, 'h'},
                                          {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (ch) {
        case 's':
            o.seconds = atof(optarg);
            break;
        case 'c':
            o.conns = (unsigned)atoi(optarg);
            break;
        case 'S':
            if (!(o.nsrc = parse_srcs(optarg, o.src, MAX_SRCS)))
                usage();
            break;
        case 'r':
            o.rst = true;
            break;
        case 't':
            o.timeout_ms = (unsigned)atoi(optarg);
            break;
        default:
            usage();
        }
    }
    if (argc - optind != 2 || !inet_aton(argv[optind], &o.dst.sin_addr) || o.seconds <= 0 ||
        o.seconds > 3600 || !o.conns || o.conns > MAX_CONNS || !o.timeout_ms)
        usage();
    o.dst.sin_family = AF_INET;
    o.dst.sin_port = htons((uint16_t)atoi(argv[optind + 1]));
    return o;
}

int main(int argc, char **argv)
{
    static struct run r;
    r.o = parse_opts(argc, argv);
    raise_nofile();
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    if ((r.ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
        perror("conn_rate: epoll_create1");
        return 1;
    }
    note_port_limits(&r);
    run_loop(&r);
    report(&r);
    close(r.ep);
    return r.done ? 0 : 1;
}
