/* SPDX-License-Identifier: MIT */
/* hostload.h: what the host-side load programs (conn_rate.c, hold_conns.c, tcp_rr.c,
 * udp_rr.c) share: a stop flag for SIGINT/SIGTERM, a monotonic clock, a log-scale latency
 * histogram (16 steps per octave, within 6%) with percentiles, and source address lists. Each
 * program is one file, so these are static inline here rather than a library. */
#ifndef TAPIR_BENCH_HOSTLOAD_H
#define TAPIR_BENCH_HOSTLOAD_H

#include <errno.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HIST_BUCKETS (64 * 16)

static volatile sig_atomic_t stop;
static inline void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static inline uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t mono_us(void)
{
    return mono_ns() / 1000u;
}

/* SIGINT and SIGTERM set stop, without SA_RESTART: a blocked call returns EINTR and the loop
 * looks at the flag (signal() would restart it). */
static inline void on_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* ---- The latency histogram ----------------------------------------------------------------- */

/* Bucket of v: below 16 exact, above it the octave and the next four bits (within 6%). */
static inline unsigned hist_bucket(uint64_t v)
{
    if (v < 16)
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned b = (msb - 3u) * 16u + (unsigned)((v >> (msb - 4u)) & 15u);
    return b < HIST_BUCKETS ? b : HIST_BUCKETS - 1;
}

/* The smallest value of bucket b. */
static inline uint64_t hist_value(unsigned b)
{
    if (b < 16)
        return b;
    unsigned msb = b / 16u + 3u;
    return (1ull << msb) | ((uint64_t)(b % 16u) << (msb - 4u));
}

static inline uint64_t hist_percentile(const uint64_t *h, uint64_t total, double pct)
{
    uint64_t want = (uint64_t)((double)total * pct / 100.0), seen = 0;
    for (unsigned b = 0; b < HIST_BUCKETS; b++) {
        seen += h[b];
        if (seen > want)
            return hist_value(b);
    }
    return 0;
}

/* "10.0.0.11-20,10.0.0.30": source addresses, a range over the last octet. Returns how many
 * (at most max), or 0 for a list that is not one (a bad address, a range running down). */
static inline unsigned parse_srcs(const char *arg, struct in_addr *out, unsigned max)
{
    unsigned n = 0;
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", arg);
    for (char *save, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *dash = strchr(tok, '-');
        unsigned last = 0;
        if (dash) {
            *dash = 0;
            last = (unsigned)atoi(dash + 1);
        }
        struct in_addr a;
        if (!inet_aton(tok, &a) || (dash && (last > 255 || last < (ntohl(a.s_addr) & 0xffu))))
            return 0;
        uint32_t h = ntohl(a.s_addr), end = dash ? (h & ~0xffu) | last : h;
        for (; h <= end && n < max; h++)
            out[n++].s_addr = htonl(h);
    }
    return n;
}

/* Why a connection failed (each try counts once); the names print in the summaries. */
enum fail { F_REFUSED, F_RESET, F_CLOSED, F_TIMEOUT, F_NO_PORT, F_BAD_DATA, F_OTHER, F_COUNT };
static const char *const fail_names[F_COUNT] = {"refused", "reset",    "closed", "timeout",
                                                "no_port", "bad_data", "other"};

static inline enum fail fail_of_errno(int err)
{
    switch (err) {
    case ECONNREFUSED:
        return F_REFUSED;
    case ECONNRESET:
    case EPIPE:
        return F_RESET;
    case ETIMEDOUT:
        return F_TIMEOUT;
    case EADDRNOTAVAIL:
    case EADDRINUSE:
        return F_NO_PORT;
    default:
        return F_OTHER;
    }
}

#endif
