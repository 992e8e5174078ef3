/* SPDX-License-Identifier: MIT */
/* hostload.h: what the host-side load programs (conn_rate.c, hold_conns.c) share: a stop flag
 * for SIGINT/SIGTERM, a monotonic clock in microseconds, and a log-scale latency histogram
 * (16 steps per octave, within 6%) with percentiles. Each program is one file, so these are
 * static inline here rather than a library. */
#ifndef TAPIR_BENCH_HOSTLOAD_H
#define TAPIR_BENCH_HOSTLOAD_H

#include <signal.h>
#include <stdint.h>
#include <time.h>

#define HIST_BUCKETS (64 * 16)

static volatile sig_atomic_t stop;
static inline void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static inline uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
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

#endif
