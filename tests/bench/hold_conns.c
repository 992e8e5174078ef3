/* SPDX-License-Identifier: MIT */
/* hold_conns.c: concurrency (issue 8, item 6), the host's side: opens N TCP connections (default
 * 10,000) to an echo server at ADDR PORT, holds them all open while each exchanges a little data
 * now and then, and closes them; plain Linux sockets, non-blocking, epoll. Used against tapir's
 * echo (10.0.0.2 7) to find what an idle connection costs it: with --rss-pid it reads the
 * server's resident memory (VmRSS) before, with all open, and after.
 *
 *   hold_conns ADDR PORT [--conns N] [--rate R] [--pending P] [--tries T] [--src LIST]
 *              [--hold S] [--interval S] [--msg BYTES] [--open-timeout S] [--settle S]
 *              [--ready FILE] [--rss-pid PID] [--rst]
 *
 * Opening is paced: at most R new connections a second (default 2000) and P handshakes at once
 * (default 256), so the server's SYN and accept queues are not flooded. A connection counts as
 * established only once its first echo has come back: a server at its limit may accept and then
 * close at once. One that fails (refused, reset, closed, no answer in 3 s) is tried again after
 * a backoff (100 ms, doubling) up to T times in all (default 6). Then, for --hold seconds
 * (default 10), every established connection sends --msg bytes (default 16) once per --interval
 * (default 1 s; the sends are spread over the interval) and checks the echo; one still waiting
 * when its turn comes again is "late", one the server closes is "lost". --ready FILE is written
 * ("established N") when the opening is over, for a runner that measures the server itself.
 * --src spreads the connections over source addresses (10.0.0.11-20), bound with
 * IP_BIND_ADDRESS_NO_PORT. Everything is bounded: open-timeout (60 s) + hold + settle (2 s).
 *
 * The last line is "hold_conns: target N established E failed F lost L roundtrips R late K
 * rtt_p50_us A rtt_p99_us B open_seconds O rss_before_kb X rss_held_kb Y rss_after_kb Z
 * bytes_per_conn W server_cpu_pct P" (the rss and cpu fields 0 without --rss-pid), for
 * scripts/bench. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "hostload.h"

#define MAX_SRCS 64
#define MSG_MAX 1024u
#define CONNECT_TIMEOUT_US 3000000u
#define BACKOFF_US 100000u
#define BACKOFF_MAX_US 3000000u
#define SWEEP_US 50000u /* retries and timeouts are looked at this often */


enum conn_state {
    C_WAITING,    /* to be (re)tried at retry_us */
    C_CONNECTING, /* handshake under way */
    C_PROBING,    /* connected; the first echo is on its way */
    C_OPEN,       /* established, its first echo back */
    C_DEAD,       /* out of tries, or lost while held */
};

struct conn {
    int fd;
    enum conn_state state;
    uint8_t tries;
    uint16_t got;      /* bytes of the current echo back */
    uint32_t seq;      /* exchanges begun */
    uint64_t retry_us; /* C_WAITING: not before */
    uint64_t sent_us;  /* when the connect or the echo in flight began; 0: none in flight */
};

struct opts {
    struct sockaddr_in dst;
    unsigned conns, rate, pending, tries;
    struct in_addr src[MAX_SRCS];
    unsigned nsrc;
    double hold_s, interval_s, open_timeout_s, settle_s;
    unsigned msg;
    const char *ready;
    pid_t rss_pid;
    bool rst;
};

struct run {
    struct opts o;
    int ep;
    struct conn *c;
    unsigned next_new;    /* conns below this have been tried at least once */
    unsigned connecting;  /* C_CONNECTING and C_PROBING now */
    unsigned established; /* C_OPEN now */
    uint64_t retries, lost, failed, late, roundtrips;
    uint64_t why[F_COUNT];
    bool holding;
    uint64_t hist[HIST_BUCKETS]; /* echo round trips while held, in microseconds */
};

/* ---- The server's memory ------------------------------------------------------------------- */

/* VmRSS of pid in KiB, 0 if unknown. */
static unsigned long rss_kb(pid_t pid)
{
    if (pid <= 0)
        return 0;
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    unsigned long kb = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %lu kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

/* CPU time (user + system) pid has used so far, in seconds; 0 if unknown. */
static double cpu_s(pid_t pid)
{
    if (pid <= 0)
        return 0;
    char path[64], line[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char *got = fgets(line, sizeof(line), f);
    fclose(f);
    const char *p = got ? strrchr(line, ')') : NULL; /* the name may hold spaces */
    unsigned long ut, st;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* ---- One connection ------------------------------------------------------------------------ */

/* The bytes of exchange seq on connection i: they name both, so a crossed echo shows. */
static void msg_fill(uint8_t *out, unsigned len, unsigned i, uint32_t seq)
{
    for (unsigned k = 0; k < len; k++)
        out[k] = (uint8_t)(k < 4 ? i >> (8 * k) : k < 8 ? seq >> (8 * (k - 4)) : 'a' + k % 26);
}

static void conn_drop_fd(struct run *r, struct conn *c)
{
    if (c->fd < 0)
        return;
    if (r->o.rst) {
        struct linger l = {.l_onoff = 1, .l_linger = 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    }
    close(c->fd);
    c->fd = -1;
}

/* A failure: while opening, try again after a backoff (or give up after the last try); while
 * held, the connection is lost for good. */
static void conn_fail(struct run *r, struct conn *c, enum fail why)
{
    r->why[why]++;
    if (c->state == C_CONNECTING || c->state == C_PROBING)
        r->connecting--;
    if (c->state == C_OPEN) {
        r->established--;
        r->lost++;
        c->state = C_DEAD;
        return conn_drop_fd(r, c);
    }
    conn_drop_fd(r, c);
    if (c->tries >= r->o.tries || r->holding) {
        r->failed++;
        c->state = C_DEAD;
        return;
    }
    uint64_t backoff = (uint64_t)BACKOFF_US << (c->tries - 1);
    c->retry_us = mono_us() + (backoff < BACKOFF_MAX_US ? backoff : BACKOFF_MAX_US);
    c->state = C_WAITING;
    r->retries++;
}

static int bind_source(struct run *r, int fd, unsigned i)
{
    if (!r->o.nsrc)
        return 0;
    int one = 1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr = r->o.src[i % r->o.nsrc]};
    return bind(fd, (struct sockaddr *)&a, sizeof(a));
}

static void conn_start(struct run *r, unsigned i)
{
    struct conn *c = &r->c[i];
    c->tries++;
    c->state = C_CONNECTING;
    c->sent_us = mono_us();
    c->got = 0;
    r->connecting++;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = i};
    if (c->fd < 0 || bind_source(r, c->fd, i) < 0 ||
        (connect(c->fd, (struct sockaddr *)&r->o.dst, sizeof(r->o.dst)) < 0 &&
         errno != EINPROGRESS) ||
        epoll_ctl(r->ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
        conn_fail(r, c, fail_of_errno(errno));
}

/* Sends the next exchange's bytes; they always fit in an idle socket's buffer. */
static void conn_send(struct run *r, unsigned i)
{
    struct conn *c = &r->c[i];
    uint8_t m[MSG_MAX];
    msg_fill(m, r->o.msg, i, ++c->seq);
    c->got = 0;
    c->sent_us = mono_us();
    if (send(c->fd, m, r->o.msg, MSG_NOSIGNAL) != (ssize_t)r->o.msg)
        conn_fail(r, c, fail_of_errno(errno));
}

static void conn_connected(struct run *r, unsigned i)
{
    struct conn *c = &r->c[i];
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err)
        return conn_fail(r, c, fail_of_errno(err));
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
    epoll_ctl(r->ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->state = C_PROBING;
    conn_send(r, i);
}

/* An exchange came back whole. */
static void conn_echoed(struct run *r, struct conn *c)
{
    uint64_t now = mono_us();
    if (c->state == C_PROBING) {
        c->state = C_OPEN;
        r->connecting--;
        r->established++;
    } else if (r->holding) {
        r->hist[hist_bucket(now - c->sent_us)]++;
        r->roundtrips++;
    }
    c->sent_us = 0;
}

static void conn_readable(struct run *r, unsigned i)
{
    struct conn *c = &r->c[i];
    uint8_t buf[MSG_MAX], want[MSG_MAX];
    ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EAGAIN)
        return;
    if (n < 0)
        return conn_fail(r, c, fail_of_errno(errno));
    if (n == 0)
        return conn_fail(r, c, F_CLOSED); /* the server closed it (at a limit of its own?) */
    msg_fill(want, r->o.msg, i, c->seq);
    if (!c->sent_us || c->got + (size_t)n > r->o.msg || memcmp(buf, want + c->got, (size_t)n))
        return conn_fail(r, c, F_BAD_DATA); /* bytes nobody sent */
    c->got = (uint16_t)(c->got + n);
    if (c->got == r->o.msg)
        conn_echoed(r, c);
}

static void on_event(struct run *r, const struct epoll_event *ev)
{
    unsigned i = ev->data.u32;
    if (r->c[i].state == C_CONNECTING)
        conn_connected(r, i);
    else if (r->c[i].state == C_PROBING || r->c[i].state == C_OPEN)
        conn_readable(r, i);
}

/* ---- Opening, holding, closing -------------------------------------------------------------- */

/* Retries that are due, and handshakes or first echoes past the timeout. */
static void sweep(struct run *r, uint64_t now)
{
    for (unsigned i = 0; i < r->next_new; i++) {
        struct conn *c = &r->c[i];
        /* (sent_us may be later than now: started since now was read) */
        if ((c->state == C_CONNECTING || c->state == C_PROBING) &&
            now > c->sent_us + CONNECT_TIMEOUT_US)
            conn_fail(r, c, F_TIMEOUT);
        else if (c->state == C_WAITING && now >= c->retry_us && r->connecting < r->o.pending)
            conn_start(r, i);
    }
}

static void poll_events(struct run *r, int timeout_ms)
{
    struct epoll_event evs[512];
    int n = epoll_wait(r->ep, evs, 512, timeout_ms);
    for (int k = 0; k < n; k++)
        on_event(r, &evs[k]);
}

static bool opening_done(const struct run *r)
{
    return r->next_new == r->o.conns && r->connecting == 0 &&
           r->established + r->failed == r->o.conns;
}

/* Starts new connections at the paced rate, with retries and timeouts swept now and then. */
static double open_all(struct run *r)
{
    uint64_t t0 = mono_us(), last_sweep = t0, last_note = t0;
    uint64_t limit = (uint64_t)(r->o.open_timeout_s * 1e6);
    while (!stop && !opening_done(r) && mono_us() - t0 < limit) {
        uint64_t now = mono_us();
        uint64_t allowed = (now - t0) * r->o.rate / 1000000u + 1;
        while (r->next_new < r->o.conns && r->next_new < allowed && r->connecting < r->o.pending)
            conn_start(r, r->next_new++);
        if (now - last_sweep >= SWEEP_US) {
            sweep(r, now);
            last_sweep = now;
        }
        if (now - last_note >= 2000000u) {
            printf("# %.1f s: %u established, %u opening, %llu retries, %llu failed\n",
                   (now - t0) / 1e6, r->established, r->connecting, (unsigned long long)r->retries,
                   (unsigned long long)r->failed);
            fflush(stdout);
            last_note = now;
        }
        poll_events(r, 1);
    }
    return (mono_us() - t0) / 1e6;
}

/* Every established connection exchanges once per interval, the sends spread evenly. */
static void hold_all(struct run *r)
{
    r->holding = true;
    uint64_t t0 = mono_us(), end = t0 + (uint64_t)(r->o.hold_s * 1e6);
    uint64_t interval = (uint64_t)(r->o.interval_s * 1e6), turns = 0;
    while (!stop && mono_us() < end) {
        uint64_t due = (mono_us() - t0) * r->o.conns / interval;
        for (; turns < due; turns++) {
            unsigned i = (unsigned)(turns % r->o.conns);
            struct conn *c = &r->c[i];
            if (c->state != C_OPEN)
                continue;
            if (c->sent_us)
                r->late++; /* the last exchange is still out: skip this turn */
            else
                conn_send(r, i);
        }
        poll_events(r, 1);
    }
}

static void close_all(struct run *r)
{
    for (unsigned i = 0; i < r->o.conns; i++)
        conn_drop_fd(r, &r->c[i]);
}

static void write_ready(const struct run *r)
{
    if (!r->o.ready)
        return;
    FILE *f = fopen(r->o.ready, "w");
    if (!f)
        return;
    fprintf(f, "established %u\n", r->established);
    fclose(f);
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !stop)
        ;
}

/* ---- Options and the report ------------------------------------------------------------------ */

static void usage(void)
{
    fprintf(stderr, "usage: hold_conns ADDR PORT [--conns N] [--rate R] [--pending P] "
                    "[--tries T] [--src LIST] [--hold S] [--interval S] [--msg BYTES] "
                    "[--open-timeout S] [--settle S] [--ready FILE] [--rss-pid PID] [--rst]\n");
    exit(2);
}

static struct opts parse_opts(int argc, char **argv)
{
    struct opts o = {.conns = 10000,
                     .rate = 2000,
                     .pending = 256,
                     .tries = 6,
                     .hold_s = 10,
                     .interval_s = 1,
                     .open_timeout_s = 60,
                     .settle_s = 2,
                     .msg = 16};
    static const struct option longs[] = {{"conns", required_argument, 0, 'n'},
                                          {"rate", required_argument, 0, 'r'},
                                          {"pending", required_argument, 0, 'p'},
                                          {"tries", required_argument, 0, 'T'},
                                          {"src", required_argument, 0, 'S'},
                                          {"hold", required_argument, 0, 'H'},
                                          {"interval", required_argument, 0, 'i'},
                                          {"msg", required_argument, 0, 'm'},
                                          {"open-timeout", required_argument, 0, 'o'},
                                          {"settle", required_argument, 0, 's'},
                                          {"ready", required_argument, 0, 'R'},
                                          {"rss-pid", required_argument, 0, 'P'},
                                          {"rst", no_argument, 0, 'x'},
                                          {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (ch) {
        case 'n':
            o.conns = (unsigned)atoi(optarg);
            break;
        case 'r':
            o.rate = (unsigned)atoi(optarg);
            break;
        case 'p':
            o.pending = (unsigned)atoi(optarg);
            break;
        case 'T':
            o.tries = (unsigned)atoi(optarg);
            break;
        case 'S':
            if (!(o.nsrc = parse_srcs(optarg, o.src, MAX_SRCS)))
                usage();
            break;
        case 'H':
            o.hold_s = atof(optarg);
            break;
        case 'i':
            o.interval_s = atof(optarg);
            break;
        case 'm':
            o.msg = (unsigned)atoi(optarg);
            break;
        case 'o':
            o.open_timeout_s = atof(optarg);
            break;
        case 's':
            o.settle_s = atof(optarg);
            break;
        case 'R':
            o.ready = optarg;
            break;
        case 'P':
            o.rss_pid = (pid_t)atoi(optarg);
            break;
        case 'x':
            o.rst = true;
            break;
        default:
            usage();
        }
    }
    if (argc - optind != 2 || !inet_aton(argv[optind], &o.dst.sin_addr) || !o.conns ||
        o.conns > 1000000 || !o.rate || !o.pending || !o.tries || o.tries > 16 || o.hold_s < 0 ||
        o.hold_s > 3600 || o.interval_s <= 0 || !o.msg || o.msg > MSG_MAX ||
        o.open_timeout_s <= 0 || o.open_timeout_s > 3600 || o.settle_s < 0 || o.settle_s > 60)
        usage();
    o.dst.sin_family = AF_INET;
    o.dst.sin_port = htons((uint16_t)atoi(argv[optind + 1]));
    return o;
}

/* Descriptors for every connection, or a clear failure before anything is opened. */
static int raise_nofile(unsigned need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -1;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < need + 64u) {
        fprintf(stderr, "hold_conns: %u connections need %u descriptors; the limit is %llu\n", need,
                need + 64u, (unsigned long long)rl.rlim_cur);
        return -1;
    }
    return 0;
}

struct rss {
    unsigned long before, held, end_hold, after;
    double hold_cpu_s; /* the server's CPU time while the connections were held */
};

static void report(const struct run *r, double open_s, const struct rss *m)
{
    uint64_t p50 = hist_percentile(r->hist, r->roundtrips, 50);
    uint64_t p99 = hist_percentile(r->hist, r->roundtrips, 99);
    long per_conn = r->established && m->held
                        ? ((long)m->held - (long)m->before) * 1024 / (long)r->established
                        : 0;
    printf("# opened %u of %u in %.1f s (%llu retries, %llu failed); held %.0f s: %llu round "
           "trips of %u bytes, p50 %llu us, p99 %llu us, %llu late, %llu lost\n",
           r->established + (unsigned)r->lost, r->o.conns, open_s, (unsigned long long)r->retries,
           (unsigned long long)r->failed, r->o.hold_s, (unsigned long long)r->roundtrips, r->o.msg,
           (unsigned long long)p50, (unsigned long long)p99, (unsigned long long)r->late,
           (unsigned long long)r->lost);
    printf("# failed tries:");
    for (int k = 0; k < F_COUNT; k++)
        printf("%s %s %llu", k ? "," : "", fail_names[k], (unsigned long long)r->why[k]);
    printf("\n");
    if (r->o.rss_pid)
        printf("# pid %d VmRSS: before %lu KiB, all open %lu KiB, end of hold %lu KiB, %.0f s "
               "after closing %lu KiB: %ld bytes per connection; %.0f%% of a core while held\n",
               (int)r->o.rss_pid, m->before, m->held, m->end_hold, r->o.settle_s, m->after,
               per_conn, r->o.hold_s > 0 ? 100 * m->hold_cpu_s / r->o.hold_s : 0.0);
    printf("hold_conns: target %u established %u failed %llu lost %llu roundtrips %llu late %llu "
           "rtt_p50_us %llu rtt_p99_us %llu open_seconds %.1f rss_before_kb %lu rss_held_kb %lu "
           "rss_after_kb %lu bytes_per_conn %ld server_cpu_pct %.0f\n",
           r->o.conns, r->established, (unsigned long long)r->failed, (unsigned long long)r->lost,
           (unsigned long long)r->roundtrips, (unsigned long long)r->late, (unsigned long long)p50,
           (unsigned long long)p99, open_s, m->before, m->held, m->after, per_conn,
           r->o.hold_s > 0 ? 100 * m->hold_cpu_s / r->o.hold_s : 0.0);
}

int main(int argc, char **argv)
{
    static struct run r;
    r.o = parse_opts(argc, argv);
    if (raise_nofile(r.o.conns) < 0)
        return 1;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    r.c = calloc(r.o.conns, sizeof(*r.c));
    if (!r.c || (r.ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
        perror("hold_conns");
        return 1;
    }
    for (unsigned i = 0; i < r.o.conns; i++)
        r.c[i].fd = -1;
    struct rss m = {.before = rss_kb(r.o.rss_pid)};
    double open_s = open_all(&r);
    m.held = rss_kb(r.o.rss_pid);
    printf("# %u established after %.1f s; holding them %.0f s\n", r.established, open_s,
           r.o.hold_s);
    fflush(stdout);
    write_ready(&r);
    double cpu0 = cpu_s(r.o.rss_pid);
    hold_all(&r);
    m.hold_cpu_s = cpu_s(r.o.rss_pid) - cpu0;
    m.end_hold = rss_kb(r.o.rss_pid);
    close_all(&r);
    sleep_s(r.o.settle_s);
    m.after = rss_kb(r.o.rss_pid);
    report(&r, open_s, &m);
    free(r.c);
    close(r.ep);
    return r.established ? 0 : 1;
}
