/* SPDX-License-Identifier: MIT */
/* test_sim_soak.c: TCP under loss and load, in virtual time over the wire driver (issue 6).
 *
 *   - the soak: for each loss rate from 0 to 10% and several seeds, 4 MiB each way at once
 *     through a 10 ms, 100 Mbit/s path that also reorders, duplicates and corrupts; every
 *     byte must arrive intact within a virtual-time bound, and timeouts must stay rare (a
 *     bound on timeouts per data segment lost, across the soak). It prints goodput per loss
 *     rate, with Reno and with CUBIC.
 *   - the Mathis check: 1% loss on the data direction only, at least 1,000 losses, a window
 *     far above the bandwidth-delay product: goodput within a factor of two of
 *     MSS/RTT * C/sqrt(p), C = 0.87 (Reno with delayed ACKs).
 *   - SACK: three losses in one window are repaired by one fast recovery, no timeout.
 *
 * `make test` runs one seed per loss rate; `make soak` (SOAK_SEEDS=n) runs more. Everything
 * is seeded: TCP_SOAK_SEED=k replays with other seeds; TCP_SOAK_TRACE=1 traces TCP to stderr.
 * The harness (two stacks, the wire, the lossy driver wrapper) is sim.c's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "sim.h"

#define MSS_DATA 1448u /* 1500 - 40 - 12 bytes of timestamps */

/* ---- The harness: sim.c's, and flows as long as a test likes --------------------------------- */

/* The soak's simulation: both stacks with congestion control cc (NULL: the default) and room
 * for 4096 frames each, a wire that holds 65536. loss_ppm and drop_fn are left to the test. */
static void soak_start(struct sim *s, const struct wire_faults *f, uint64_t seed, const char *cc)
{
    if (getenv("TCP_SOAK_SEED"))
        seed += strtoull(getenv("TCP_SOAK_SEED"), NULL, 0) * 7919;
    const struct sim_opts o = {.cc = cc, .pkb_frames = 4096, .wire_frames = 1u << 16,
                               .wire_salt = 0x50a4,
                               .trace_out = getenv("TCP_SOAK_TRACE") ? stderr : NULL};
    sim_start_opts(s, f, seed, &o);
}

/* One direction of a transfer: a pattern only the seed knows, generated as it goes (so a flow
 * may be longer than memory) and checked byte by byte; a failure is noted in err, so the test
 * can report it with its loss rate and seed. */
struct flow {
    struct tapir_sock *tx, *rx;
    uint64_t len, sent, got;
    uint32_t pattern; /* the pattern_byte seed */
    uint64_t done_us;
    char err[160];
};

static void flow_step(struct sim *s, struct flow *f)
{
    static uint8_t buf[65536];
    while (f->sent < f->len && !f->err[0]) {
        size_t n = f->len - f->sent < sizeof(buf) ? (size_t)(f->len - f->sent) : sizeof(buf);
        for (size_t i = 0; i < n; i++)
            buf[i] = pattern_byte(f->pattern, f->sent + i);
        ssize_t rc = tapir_sock_sendto(f->tx, buf, n, 0, NULL);
        if (rc == -EAGAIN)
            break;
        if (rc <= 0) {
            snprintf(f->err, sizeof(f->err), "send at byte %llu: %zd",
                     (unsigned long long)f->sent, rc);
            break;
        }
        f->sent += (size_t)rc;
    }
    while (f->got < f->len && !f->err[0]) {
        ssize_t rc = tapir_sock_recvfrom(f->rx, buf, sizeof(buf), 0, NULL, NULL);
        if (rc == -EAGAIN)
            break;
        if (rc <= 0) {
            snprintf(f->err, sizeof(f->err), "recv at byte %llu: %zd",
                     (unsigned long long)f->got, rc);
            break;
        }
        for (ssize_t i = 0; i < rc; i++) {
            if (buf[i] != pattern_byte(f->pattern, f->got + (uint64_t)i)) {
                snprintf(f->err, sizeof(f->err), "byte %llu differs",
                         (unsigned long long)(f->got + (uint64_t)i));
                return;
            }
        }
        f->got += (uint64_t)rc;
        if (f->got == f->len)
            f->done_us = now(s);
    }
}

struct transfer {
    struct sim *s;
    struct flow *flows;
    unsigned n;
};

/* A run_until condition: moves every flow on; true when each is complete or failed. */
static bool transfer_done(void *arg)
{
    struct transfer *t = arg;
    bool done = true;
    for (unsigned i = 0; i < t->n; i++) {
        flow_step(t->s, &t->flows[i]);
        done &= t->flows[i].got == t->flows[i].len || t->flows[i].err[0];
    }
    return done;
}

static uint64_t tcp_stat_sum(const struct sim *s, size_t offset)
{
    uint64_t sum = 0;
    for (int i = 0; i < 2; i++)
        sum += *(const uint64_t *)((const char *)&tapir_stats(s->st[i])->tcp + offset);
    return sum;
}
#define TCP_SUM(s, field) tcp_stat_sum(s, offsetof(struct tapir_tcp_stats, field))

/* ---- The soak -------------------------------------------------------------------------------- */

static unsigned soak_seeds(void)
{
    const char *e = getenv("SOAK_SEEDS");
    unsigned n = e ? (unsigned)strtoul(e, NULL, 0) : 1;
    return n ? n : 1;
}

struct soak_totals {
    uint64_t data_lost, timeouts;
};

/* 4 MiB each way at once through a lossy 10 ms path; returns the slower direction's
 * goodput in Mbit/s. */
static double soak_one(struct sim *s, uint32_t loss_ppm, uint64_t seed, const char *cc,
                       struct soak_totals *tot)
{
    const struct wire_faults f = {.delay_us = 5 * MS, .rate_bps = 100000000ull,
                                  .reorder_ppm = 5000, .reorder_us = 2 * MS,
                                  .dup_ppm = 2000, .corrupt_ppm = 1000};
    soak_start(s, &f, seed, cc);
    s->loss_ppm[0] = s->loss_ppm[1] = loss_ppm;
    struct conn c;
    open_conn(s, &c, 0, 0);
    const uint64_t len = 4u << 20;
    struct flow flows[2] = {
        {.tx = c.cli, .rx = c.srv, .len = len, .pattern = (uint32_t)(seed * 3 + 1)},
        {.tx = c.srv, .rx = c.cli, .len = len, .pattern = (uint32_t)(seed * 3 + 2)},
    };
    struct transfer t = {.s = s, .flows = flows, .n = 2};
    uint64_t t0 = now(s);
    const uint64_t bound_us = 600 * SEC; /* even 10% loss each way finishes well inside */
    run_until(s, transfer_done, &t, bound_us);
    for (int i = 0; i < 2; i++) {
        if (flows[i].err[0])
            fail_msg("loss %.1f%% seed %llu direction %d: %s", loss_ppm / 1e4,
                     (unsigned long long)seed, i, flows[i].err);
        if (flows[i].got != len)
            fail_msg("loss %.1f%% seed %llu direction %d: %llu of %llu bytes in %llu s",
                     loss_ppm / 1e4, (unsigned long long)seed, i,
                     (unsigned long long)flows[i].got, (unsigned long long)len,
                     (unsigned long long)(bound_us / SEC));
    }
    uint64_t last = flows[0].done_us > flows[1].done_us ? flows[0].done_us : flows[1].done_us;
    tot->data_lost += s->data_lost[0] + s->data_lost[1];
    tot->timeouts += TCP_SUM(s, retransmits);
    assert_int_equal(TCP_SUM(s, timeouts), 0);
    close_conn(&c);
    sim_free(s);
    return (double)len * 8 / ((double)(last - t0) / 1e6) / 1e6;
}

static void soak_matrix(struct sim *s, const char *cc)
{
    static const uint32_t rates_ppm[] = {0, 5000, 10000, 20000, 50000, 100000};
    struct soak_totals tot = {0, 0};
    unsigned seeds = soak_seeds();
    print_message("soak (%s): 4 MiB each way, 10 ms RTT, 100 Mbit/s, reorder 0.5%%, "
                  "dup 0.2%%, corrupt 0.1%%, %u seed(s) per rate\n", cc, seeds);
    const char *only = getenv("SOAK_RATE_PPM"); /* one rate, to replay or trace it */
    for (size_t r = 0; r < sizeof(rates_ppm) / sizeof(rates_ppm[0]); r++) {
        if (only && strtoul(only, NULL, 0) != rates_ppm[r])
            continue;
        double sum = 0, worst = 1e18;
        struct soak_totals before = tot;
        for (unsigned k = 0; k < seeds; k++) {
            double g = soak_one(s, rates_ppm[r], 1000 * r + k + 1, cc, &tot);
            sum += g;
            worst = g < worst ? g : worst;
        }
        print_message("  loss %5.1f%%: goodput %8.2f Mbit/s (mean), %8.2f (worst);"
                      " %llu data segments lost, %llu timeouts\n",
                      rates_ppm[r] / 1e4, sum / seeds, worst,
                      (unsigned long long)(tot.data_lost - before.data_lost),
                      (unsigned long long)(tot.timeouts - before.timeouts));
    }
    print_message("  data segments lost %llu, timeouts %llu (%.2f%% of losses)\n",
                  (unsigned long long)tot.data_lost, (unsigned long long)tot.timeouts,
                  tot.data_lost ? 100.0 * (double)tot.timeouts / (double)tot.data_lost : 0.0);
    assert_true(tot.data_lost > 0);
    /* Issue 6: timeouts under 5% of losses. A window of two or three segments at 5-10% loss
     * cannot gather three duplicate ACKs, and a lost last segment brings none: RACK-TLP
     * (RFC 8985, tcp_rack.c) repairs those without the timer. (Before it: 10-17%.) */
    assert_true(tot.timeouts * 20 < tot.data_lost); /* under 5% */
}

static void test_soak_reno(void **state)
{
    soak_matrix(*state, "reno");
}

static void test_soak_cubic(void **state)
{
    soak_matrix(*state, "cubic");
}

/* ---- Mathis ---------------------------------------------------------------------------------- */

static bool flow_has_losses(void *arg)
{
    struct transfer *t = arg;
    transfer_done(arg);
    return t->s->data_lost[0] >= 1000 || t->flows[0].err[0];
}

static double square_root(double x)
{
    double r = x > 1 ? x : 1;
    for (int i = 0; i < 60; i++)
        r = (r + x / r) / 2;
    return r;
}

/* Mathis, Semke, Mahdavi and Ott (1997): a Reno flow with random loss p gets about
 * MSS/RTT * C/sqrt(p); C = sqrt(3/4) = 0.87 with delayed ACKs. */
static void test_mathis_rate_at_one_percent_loss(void **state)
{
    struct sim *s = *state;
    const double rate_bps = 100e6; /* ten times the Mathis rate: the link is never the limit */
    const struct wire_faults f = {.delay_us = 5 * MS, .rate_bps = (uint64_t)rate_bps};
    soak_start(s, &f, 77, "reno");
    s->loss_ppm[0] = 10000; /* the data direction only */
    struct conn c;
    open_conn(s, &c, 0, 0);
    struct flow flow = {.tx = c.cli, .rx = c.srv, .len = 1ull << 40, .pattern = 5};
    struct transfer t = {.s = s, .flows = &flow, .n = 1};
    uint64_t t0 = now(s), sent0 = s->data_segs[0], lost0 = s->data_lost[0];
    run_until(s, flow_has_losses, &t, 3600 * SEC);
    assert_false(flow.err[0]);
    double secs = (double)(now(s) - t0) / 1e6;
    double p_loss = (double)(s->data_lost[0] - lost0) / (double)(s->data_segs[0] - sent0);
    double goodput = (double)flow.got * 8 / secs;
    double rtt = 0.010, mathis = MSS_DATA * 8 / rtt * 0.87 / square_root(p_loss);
    double ratio = goodput / mathis;
    /* Nor is the window: the receive buffer (SO_RCVBUF reads twice it, as Linux's) is at
     * least 4x the bandwidth-delay product, 4 MiB against 4 x 125 kB. */
    int rcvbuf = 0;
    socklen_t rl = sizeof(rcvbuf);
    assert_int_equal(tapir_sock_getopt(c.srv, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &rl), 0);
    assert_true((double)rcvbuf / 2 >= 4 * rate_bps * rtt / 8);
    print_message("mathis: %llu losses in %llu data segments (p = %.4f) over %.1f s: goodput "
                  "%.2f Mbit/s, Mathis rate %.2f Mbit/s, ratio %.2f\n",
                  (unsigned long long)(s->data_lost[0] - lost0),
                  (unsigned long long)(s->data_segs[0] - sent0), p_loss, secs, goodput / 1e6,
                  mathis / 1e6, ratio);
    assert_true(s->data_lost[0] - lost0 >= 1000);
    assert_true(ratio >= 0.5 && ratio <= 2.0);
    close_conn(&c);
    sim_free(s);
}

/* ---- SACK: three losses in one window -------------------------------------------------------- */

/* A drop_fn: the 40th, 44th and 48th data segments from either side (with cwnd past 40
 * segments, all in one window). */
static bool lose_data_segments_40_44_48(struct sim *s, int from, const struct seg_view *v)
{
    static const unsigned lost[] = {40, 44, 48};
    bool lose = false;
    for (unsigned i = 0; v->len && i < sizeof(lost) / sizeof(lost[0]); i++)
        lose |= s->data_segs[from] == lost[i];
    return lose;
}

/* RFC 6675: the scoreboard shows all three holes, and one recovery repairs them. */
static void test_sack_three_losses_in_one_window_no_timeout(void **state)
{
    struct sim *s = *state;
    const struct wire_faults f = {.delay_us = 5 * MS, .rate_bps = 100000000ull};
    soak_start(s, &f, 9, "reno");
    s->drop_fn = lose_data_segments_40_44_48;
    struct conn c;
    open_conn(s, &c, 0, 0);
    struct flow flow = {.tx = c.cli, .rx = c.srv, .len = 2u << 20, .pattern = 9};
    struct transfer t = {.s = s, .flows = &flow, .n = 1};
    run_until(s, transfer_done, &t, 60 * SEC);
    assert_false(flow.err[0]);
    assert_int_equal(flow.got, flow.len);
    assert_int_equal(s->data_lost[0], 3);
    const struct tapir_tcp_stats *tc = &tapir_stats(s->st[0])->tcp;
    assert_int_equal(tc->retransmits, 0);      /* no timeout */
    assert_int_equal(tc->fast_retransmits, 1); /* one recovery */
    assert_int_equal(tc->rexmit_segments, 3);  /* each hole sent again once */
    close_conn(&c);
    sim_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        SIM_TEST(test_sack_three_losses_in_one_window_no_timeout),
        SIM_TEST(test_mathis_rate_at_one_percent_loss),
        SIM_TEST(test_soak_reno),
        SIM_TEST(test_soak_cubic),
    };
    return cmocka_run_group_tests_name("tcp soak", tests, NULL, NULL);
}
