/* SPDX-License-Identifier: MIT */
/* ping.c: ping from the stack. Starts a tapir host (by default 10.0.0.2/24 on tap0), opens an
 * ICMP ping socket on it (SOCK_DGRAM, IPPROTO_ICMP, as Linux's unprivileged ping does) and
 * sends RFC 792 echo requests to a host address, printing each reply and the summary in
 * iputils ping's words, with its options -c, -i, -s and -W and its exit status: 0 when a
 * reply came, 1 when none did, 2 on errors. Big sizes (up to 65507 bytes of data) leave as
 * IP fragments and their replies are reassembled by the stack (stack/ip_frag.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "tapir/socket.h"

#define PROG "ping"
#define ICMP_HDR 8
#define ICMP_ECHO_REPLY 0
#define ICMP_ECHO_REQUEST 8
#define IP_HDR 20
#define DATA_MAX 65507         /* 65535 - IP header - ICMP header */
#define DATA_DEFAULT 56
#define TIMESTAMP_BYTES 16     /* a struct timeval's room, as iputils: shorter data, no times */
#define SECONDS_MAX 2147483.0  /* iputils' INT_MAX / 1000 */
#define LINGER_DEFAULT_US 10000000u /* iputils' MAXWAIT: -W's default, 10 s */
#define ARP_CHECK_US 250000u   /* how often to look for a neighbour that never answered */

struct ping_opts {
    uint64_t count;            /* -c: 0 for until interrupted */
    uint64_t interval_us;      /* -i */
    size_t datalen;            /* -s */
    uint64_t linger_us;        /* -W: how long to wait for a reply when none came */
    struct sockaddr_in dst;
    char dst_str[INET_ADDRSTRLEN];
};

/* The counters of iputils' struct ping_rts, with its names; times in microseconds. */
struct ping_run {
    struct ping_opts opt;
    struct cli_host ch;
    struct tapir_host *host;
    int fd, sfd;
    uint64_t ntransmitted, nreceived, nrepeats, nerrors;
    uint64_t tmin, tmax, tsum, tsum2;
    unsigned pipesize;
    uint64_t start_us;
    uint64_t reported;         /* requests up to this sequence count were answered or failed */
    uint64_t arp_dropped;      /* frames the stack dropped for a neighbour that never answered */
    uint8_t rcvd[65536 / 8];   /* sequence numbers answered: a second answer is a duplicate */
    uint8_t *out, *in;         /* the request we send; a reply */
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: " PROG " [-c COUNT] [-i INTERVAL] [-s SIZE] [-W TIMEOUT] [host options] "
            "DESTINATION\n"
            "\n"
            "Sends ICMP echo requests from a tapir host (by default 10.0.0.2/24 on tap0) to\n"
            "DESTINATION, an IPv4 address, and prints the replies and a summary as iputils'\n"
            "ping does. Exit status: 0 when a reply came, 1 when none did, 2 on errors.\n"
            "Stop tapir first: a TAP has one owner. Try: build/ping -c 3 10.0.0.1\n"
            "\n"
            "  -c COUNT        stop after COUNT requests (default: until Ctrl-C)\n"
            "  -i INTERVAL     seconds between requests, fractions allowed (default 1)\n"
            "  -s SIZE         bytes of data in each request, 0..65507 (default 56); past\n"
            "                  1472 the requests leave as IP fragments\n"
            "  -W TIMEOUT      seconds to wait for a reply when none has come (default 10);\n"
            "                  once one has, ping waits twice the longest round trip\n");
    cli_host_usage(out);
    fprintf(out, "  -h, --help      this text\n");
}

static int ping_option(int opt, const char *arg, void *ctx)
{
    struct ping_opts *o = ctx;
    uint64_t v;
    switch (opt) {
    case 'c':
        if (!cli_parse_u64(arg, &v) || v == 0 || v > LONG_MAX)
            return cli_usage_error(PROG, "-c wants a count of 1 or more, not '%s'", arg);
        o->count = v;
        return 0;
    case 'i':
        if (!cli_parse_seconds(arg, SECONDS_MAX, &o->interval_us))
            return cli_usage_error(PROG, "-i wants seconds from 0 to 2147483 such as 1 or 0.2, "
                                   "not '%s'", arg);
        return 0;
    case 's':
        if (!cli_parse_u64(arg, &v) || v > DATA_MAX)
            return cli_usage_error(PROG, "-s wants a size from 0 to %d bytes, not '%s'",
                                   DATA_MAX, arg);
        o->datalen = (size_t)v;
        return 0;
    case 'W':
        if (!cli_parse_seconds(arg, SECONDS_MAX, &o->linger_us) || o->linger_us == 0)
            return cli_usage_error(PROG, "-W wants seconds above 0 such as 2 or 0.5, not '%s'",
                                   arg);
        return 0;
    default: return cli_usage_error(PROG, "internal: unknown option %d", opt);
    }
}

static int parse_args(int argc, char **argv, struct ping_run *r)
{
    struct ping_opts *o = &r->opt;
    const struct cli_extra x = {.shortopts = "c:i:s:W:", .on_opt = ping_option, .ctx = o,
                                .usage = usage};
    cli_host_init(&r->ch, PROG, true);
    *o = (struct ping_opts){.interval_us = 1000000u, .datalen = DATA_DEFAULT,
                            .linger_us = LINGER_DEFAULT_US};
    int rc = cli_parse(&r->ch, argc, argv, &x);
    if (rc)
        return rc;
    if (argc - optind != 1)
        return cli_usage_error(PROG, "wants one DESTINATION, an IPv4 address such as 10.0.0.1");
    o->dst = (struct sockaddr_in){.sin_family = AF_INET};
    if (inet_pton(AF_INET, argv[optind], &o->dst.sin_addr) != 1)
        return cli_usage_error(PROG, "'%s' is not an IPv4 address such as 10.0.0.1",
                               argv[optind]);
    inet_ntop(AF_INET, &o->dst.sin_addr, o->dst_str, sizeof(o->dst_str));
    rc = cli_host_finish(&r->ch);
    /* The stack sends every datagram out on the link, none to itself (no loopback). */
    if (rc == 0 && o->dst.sin_addr.s_addr == r->ch.cfg.addr.s_addr)
        return cli_usage_error(PROG, "%s is the tapir host's own address; tapir has no "
                               "loopback: ping another host on the link", o->dst_str);
    return rc;
}

static uint64_t monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static uint16_t get_be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

/* Data as iputils fills it: byte i is i, the first 16 overwritten by the send time. */
static void fill_pattern(uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++)
        data[i] = (uint8_t)i;
}

/* ---- The neighbour that never answers -------------------------------------------------- */

/* A request to an address nobody answers ARP for waits in the stack's ARP queue and is
 * dropped when resolution gives up (stack/arp.c, after its retries: 3 s by default). Linux
 * tells ping with an ICMP host unreachable from itself; tapir's ping socket hears nothing,
 * but this program is the only user of its host, so every frame the stack dropped for an
 * unresolved neighbour was one of our requests (or a fragment of one). */
static void read_arp_dropped(struct tapir_stack *st, void *arg)
{
    const struct tapir_arp_stats *a = &tapir_stats(st)->arp;
    /* Not drop_pending_full: a frame turned away from a full queue is lost silently, as
     * Linux's neighbour queue loses it, and may be a fragment of a request that went. */
    *(uint64_t *)arg = a->drop_unresolved;
}

static uint64_t arp_dropped_now(struct ping_run *r)
{
    uint64_t n = 0;
    tapir_host_call(r->host, read_arp_dropped, &n);
    return n;
}

/* Frames one request takes on the link: IP fragments of 8-byte-aligned pieces (RFC 791). */
static uint64_t frames_per_request(const struct ping_run *r)
{
    size_t payload = ICMP_HDR + r->opt.datalen, mtu = r->ch.cfg.mtu_bytes;
    if (IP_HDR + payload <= mtu)
        return 1;
    size_t piece = (mtu - IP_HDR) & ~(size_t)7;
    return (payload + piece - 1) / piece;
}

static bool seq_answered(const struct ping_run *r, uint16_t seq)
{
    return r->rcvd[seq / 8] & (1u << (seq % 8));
}

/* iputils' acknowledge(): the most requests ever out at once, seen when seq was answered
 * (or failed) with ntransmitted sent. */
static void note_pipe(struct ping_run *r, uint16_t seq)
{
    uint16_t behind = (uint16_t)((uint16_t)r->ntransmitted - seq);
    if (behind < r->ntransmitted && behind + 1u > r->pipesize)
        r->pipesize = behind + 1u;
}

/* Reports, as Linux's ping does, the oldest unanswered requests whose frames were dropped. */
static void check_unreachable(struct ping_run *r)
{
    uint64_t now = arp_dropped_now(r), per = frames_per_request(r);
    uint64_t lost = (now - r->arp_dropped + per - 1) / per;
    r->arp_dropped = now;
    char me[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &r->ch.cfg.addr, me, sizeof(me));
    while (lost && r->reported < r->ntransmitted) {
        uint64_t n = ++r->reported;
        if (seq_answered(r, (uint16_t)n))
            continue;
        lost--;
        r->nerrors++;
        note_pipe(r, (uint16_t)n);
        printf("From %s icmp_seq=%u Destination Host Unreachable\n", me, (unsigned)(uint16_t)n);
    }
    fflush(stdout);
}

/* ---- Requests and replies -------------------------------------------------------------- */

/* Sends request number ntransmitted + 1. Returns 0, or the errno of a failed send. */
static int send_request(struct ping_run *r)
{
    uint16_t seq = (uint16_t)(r->ntransmitted + 1);
    uint8_t *m = r->out;
    m[0] = ICMP_ECHO_REQUEST;
    m[1] = 0;
    put_be16(m + 2, 0); /* checksum and identifier: the stack fills them in */
    put_be16(m + 4, 0);
    put_be16(m + 6, seq);
    if (r->opt.datalen >= TIMESTAMP_BYTES) {
        uint64_t now = monotonic_us();
        memcpy(m + ICMP_HDR, &now, sizeof(now)); /* comes back as it went: host order is fine */
    }
    r->rcvd[seq / 8] &= (uint8_t)~(1u << (seq % 8));
    r->ntransmitted++;
    ssize_t n = tapir_sendto(r->fd, m, ICMP_HDR + r->opt.datalen, 0,
                             (const struct sockaddr *)&r->opt.dst, sizeof(r->opt.dst));
    return n < 0 ? errno : 0;
}

/* The time= of iputils: three significant digits. */
static void print_time(uint64_t us)
{
    if (us >= 100000 - 50)
        printf(" time=%llu ms", (unsigned long long)(us + 500) / 1000);
    else if (us >= 10000 - 5)
        printf(" time=%llu.%01llu ms", (unsigned long long)(us + 50) / 1000,
               (unsigned long long)((us + 50) % 1000) / 100);
    else if (us >= 1000)
        printf(" time=%llu.%02llu ms", (unsigned long long)(us + 5) / 1000,
               (unsigned long long)((us + 5) % 1000) / 10);
    else
        printf(" time=%llu.%03llu ms", (unsigned long long)us / 1000,
               (unsigned long long)us % 1000);
}

static void add_rtt(struct ping_run *r, uint64_t rtt)
{
    r->tsum += rtt;
    r->tsum2 += rtt * rtt;
    if (r->nreceived + r->nrepeats == 1 || rtt < r->tmin)
        r->tmin = rtt;
    if (rtt > r->tmax)
        r->tmax = rtt;
}

/* One echo reply of len bytes (ICMP header first) from `from`. */
static void handle_reply(struct ping_run *r, size_t len, const struct sockaddr_in *from,
                         uint64_t now)
{
    const uint8_t *m = r->in;
    if (len < ICMP_HDR || m[0] != ICMP_ECHO_REPLY)
        return;
    uint16_t seq = get_be16(m + 6);
    bool dup = seq_answered(r, seq);
    if (dup) {
        r->nrepeats++;
    } else {
        r->rcvd[seq / 8] |= (uint8_t)(1u << (seq % 8));
        r->nreceived++;
        note_pipe(r, seq);
    }
    bool timed = len >= ICMP_HDR + TIMESTAMP_BYTES && r->opt.datalen >= TIMESTAMP_BYTES;
    uint64_t sent = 0, rtt = 0;
    if (timed) {
        memcpy(&sent, m + ICMP_HDR, sizeof(sent));
        rtt = now >= sent ? now - sent : 0;
        add_rtt(r, rtt);
    }
    char a[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &from->sin_addr, a, sizeof(a));
    /* No ttl=: a ping socket on tapir gets no IP header and no IP_RECVTTL; iputils leaves
     * ttl out in the same case. */
    printf("%zu bytes from %s: icmp_seq=%u", len, a, seq);
    if (len < ICMP_HDR + r->opt.datalen) {
        printf(" (truncated)\n");
        return;
    }
    if (timed)
        print_time(rtt);
    if (dup)
        printf(" (DUP!)");
    if (from->sin_addr.s_addr != r->opt.dst.sin_addr.s_addr)
        printf(" (DIFFERENT ADDRESS!)");
    for (size_t i = TIMESTAMP_BYTES; i < r->opt.datalen; i++) {
        if (m[ICMP_HDR + i] != r->out[ICMP_HDR + i]) {
            printf("\nwrong data byte #%zu should be 0x%x but was 0x%x", i, r->out[ICMP_HDR + i],
                   m[ICMP_HDR + i]);
            break;
        }
    }
    printf("\n");
}

static void read_replies(struct ping_run *r)
{
    for (;;) {
        struct sockaddr_in from;
        socklen_t from_len = sizeof(from);
        ssize_t n = tapir_recvfrom(r->fd, r->in, ICMP_HDR + DATA_MAX, MSG_DONTWAIT,
                                   (struct sockaddr *)&from, &from_len);
        if (n < 0)
            break;
        handle_reply(r, (size_t)n, &from, monotonic_us());
    }
    fflush(stdout);
}

/* ---- The summary ----------------------------------------------------------------------- */

/* Newton's method on integers, as iputils' llsqrt (no libm). */
static uint64_t isqrt(uint64_t a)
{
    uint64_t x = a, prev = UINT64_MAX;
    while (x && x < prev) {
        prev = x;
        x = (x + a / x) / 2;
    }
    return x;
}

static void print_ms(const char *before, uint64_t us)
{
    printf("%s%llu.%03llu", before, (unsigned long long)us / 1000, (unsigned long long)us % 1000);
}

/* iputils' finish(); returns the exit status. */
static int print_summary(const struct ping_run *r, uint64_t end_us)
{
    uint64_t ms = r->ntransmitted ? (end_us - r->start_us + 500) / 1000 : 0;
    printf("\n--- %s ping statistics ---\n", r->opt.dst_str);
    printf("%llu packets transmitted, %llu received", (unsigned long long)r->ntransmitted,
           (unsigned long long)r->nreceived);
    if (r->nrepeats)
        printf(", +%llu duplicates", (unsigned long long)r->nrepeats);
    if (r->nerrors)
        printf(", +%llu errors", (unsigned long long)r->nerrors);
    if (r->ntransmitted)
        printf(", %g%% packet loss, time %llums",
               (float)((double)(r->ntransmitted - r->nreceived) * 100.0 / (double)r->ntransmitted),
               (unsigned long long)ms);
    printf("\n");
    const char *comma = "";
    if (r->nreceived && r->opt.datalen >= TIMESTAMP_BYTES) {
        uint64_t total = r->nreceived + r->nrepeats, avg = r->tsum / total, var;
        /* iputils' order, which keeps small times from rounding away while tsum^2 fits. */
        if (r->tsum < (1ull << 31))
            var = (r->tsum2 - r->tsum * r->tsum / total) / total;
        else
            var = r->tsum2 / total > avg * avg ? r->tsum2 / total - avg * avg : 0;
        print_ms("rtt min/avg/max/mdev = ", r->tmin);
        print_ms("/", avg);
        print_ms("/", r->tmax);
        print_ms("/", isqrt(var));
        printf(" ms");
        comma = ", ";
    }
    if (r->pipesize > 1)
        printf("%spipe %u", comma, r->pipesize);
    printf("\n");
    fflush(stdout);
    return r->nreceived ? 0 : 1;
}

/* ---- The loop -------------------------------------------------------------------------- */

static int wait_ms(uint64_t now, uint64_t until)
{
    if (until <= now)
        return 0;
    uint64_t ms = (until - now + 999) / 1000;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* Sends on schedule and reads replies until -c is satisfied (every request answered or
 * failed, or the wait after the last one is over) or a signal stops us. 0 when it ran,
 * EXIT_USAGE when the first request could not be sent at all. */
static int run(struct ping_run *r)
{
    uint64_t next_send = monotonic_us(), finish_at = UINT64_MAX;
    r->start_us = next_send;
    struct pollfd fds[2] = {{.fd = r->fd, .events = POLLIN}, {.fd = r->sfd, .events = POLLIN}};
    for (;;) {
        uint64_t now = monotonic_us();
        bool all_sent = r->opt.count && r->ntransmitted >= r->opt.count;
        if (r->ntransmitted > r->reported)
            check_unreachable(r);
        if (all_sent && (r->nreceived + r->nerrors >= r->opt.count || now >= finish_at))
            return 0;
        if (!all_sent && now >= next_send) {
            int e = send_request(r);
            if (e) {
                fprintf(stderr, PROG ": sendmsg: %s\n", strerror(e));
                if (r->ntransmitted == 1)
                    return EXIT_USAGE; /* no route, a broadcast: nothing will work */
                r->nerrors++;
                uint16_t seq = (uint16_t)r->ntransmitted; /* as if answered: never reported */
                r->rcvd[seq / 8] |= (uint8_t)(1u << (seq % 8));
            }
            next_send += r->opt.interval_us;
            if (next_send < now)
                next_send = now; /* we fell behind (a stopped process): do not burst */
            if (r->opt.count && r->ntransmitted >= r->opt.count) {
                /* iputils' schedule_exit: twice the longest round trip (at least one interval)
                 * once a reply has come, -W otherwise. */
                uint64_t wait = r->nreceived ? 2 * r->tmax : r->opt.linger_us;
                if (r->nreceived && wait < r->opt.interval_us)
                    wait = r->opt.interval_us;
                finish_at = now + wait;
            }
            continue;
        }
        uint64_t until = all_sent ? finish_at : next_send;
        if (r->ntransmitted > r->reported + r->nreceived && until > now + ARP_CHECK_US)
            until = now + ARP_CHECK_US;
        if (tapir_poll(fds, 2, wait_ms(now, until)) < 0 && errno != EINTR) {
            perror(PROG ": poll");
            return EXIT_USAGE;
        }
        if (fds[0].revents)
            read_replies(r);
        if ((fds[1].revents & POLLIN) && cli_signals(r->sfd, r->host))
            return 0;
    }
}

static int open_socket(struct ping_run *r)
{
    r->fd = tapir_socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, IPPROTO_ICMP);
    if (r->fd < 0) {
        fprintf(stderr, PROG ": socket: %s\n", strerror(errno));
        return -1;
    }
    /* Room for a few of the biggest replies at once, so a burst of -s 65507 is not dropped. */
    int rcvbuf = 4 * (ICMP_HDR + DATA_MAX);
    tapir_setsockopt(r->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    return 0;
}

int main(int argc, char **argv)
{
    struct ping_run *r = calloc(1, sizeof(*r));
    if (!r) {
        perror(PROG);
        return EXIT_USAGE;
    }
    r->fd = r->sfd = -1;
    int rc = parse_args(argc, argv, r);
    if (rc)
        goto out;
    rc = EXIT_USAGE;
    r->out = malloc(ICMP_HDR + DATA_MAX);
    r->in = malloc(ICMP_HDR + DATA_MAX);
    r->sfd = cli_signalfd(); /* before the host thread starts, so it inherits the mask */
    if (!r->out || !r->in || r->sfd < 0) {
        perror(PROG);
        goto out;
    }
    if (!(r->host = cli_host_open(&r->ch)) || open_socket(r) < 0)
        goto out;
    fill_pattern(r->out + ICMP_HDR, r->opt.datalen);
    r->arp_dropped = arp_dropped_now(r);
    printf("PING %s (%s) %zu(%zu) bytes of data.\n", r->opt.dst_str, r->opt.dst_str,
           r->opt.datalen, r->opt.datalen + ICMP_HDR + IP_HDR);
    fflush(stdout);
    rc = run(r);
    if (rc == 0)
        rc = print_summary(r, monotonic_us());
out:
    if (r->fd >= 0)
        tapir_close(r->fd);
    if (r->host)
        cli_host_close(&r->ch, r->host);
    if (r->sfd >= 0)
        close(r->sfd);
    free(r->out);
    free(r->in);
    free(r);
    return rc;
}
