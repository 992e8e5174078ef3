/* SPDX-License-Identifier: MIT */
/* test_tcp_cc.c: TCP's loss and congestion rules one at a time, calling the stack's own
 * functions on a connection block set up by hand: the RTO (RFC 6298 §2), Karn's rule and
 * backoff (§3, §5), the sender's SACK scoreboard (RFC 2018, RFC 6675 §4), cwnd in slow start,
 * avoidance and recovery (RFC 5681, RFC 3465, RFC 6928, RFC 6582, RFC 6675 §5), CUBIC
 * (RFC 9438), Nagle's decision (RFC 896, RFC 1122 §4.2.3.4) and the delayed-ACK decision
 * (RFC 1122 §4.2.3.2, RFC 5681 §4.2). Expected numbers are worked out by hand beside each
 * check. Segments the rules send go through the fixture's capturing driver and are checked
 * by sequence number, length and content. The stack and the peer's segments come from
 * tcp_conv (restart, TCP_TEST, seg_in, out_all); the connection blocks are built here. */
#include "fixture.h"

#include "core.h"
#include "tcp.h"
#include "tcp_conv.h"

#define ISS 1000000u       /* our ISS: the SYN is ISS, the first data byte UNA */
#define UNA (ISS + 1u)
#define MS 1000u           /* microseconds */
#define SEC 1000000u

static uint8_t pat[1u << 20]; /* byte i of the stream is pat[i] (from UNA); filled in main */

/* ---- set-up ------------------------------------------------------------------------------ */

/* n more bytes at the end of the send ring, continuing the pattern. */
static void queue(struct tcp_conn *c, uint32_t n)
{
    uint32_t at = c->sndq.len, from = c->snd_una - UNA + at;
    assert_true(from + n <= sizeof(pat));
    assert_int_equal(ring_write_at(c->st, &c->sndq, at, pat + from, n), 0);
    c->sndq.len += n;
}

/* An ESTABLISHED connection 10.0.0.2:80 <-> 10.0.0.1:40000, not in the connection hash
 * (nothing arrives for it unless a test adds it): the peer's MSS mss, no timestamps, SACK as
 * asked, `flight` bytes sent and unacknowledged from UNA (the send ring holds them), a 1 MiB
 * send window, and congestion control just initialised (tcp_cc_init). */
static struct tcp_conn *conn_make(struct fixture *f, uint16_t mss, bool sack, uint32_t flight)
{
    struct tcp_conn *c = tcp_conn_new(f->st);
    assert_non_null(c);
    c->local_addr = FX_OUR_IP;
    c->local_port = LPORT;
    c->remote_addr = PEER;
    c->remote_port = RPORT;
    tcp_set_state(c, TCP_ESTABLISHED);
    c->iss = ISS;
    c->snd_una = UNA;
    c->snd_nxt = c->snd_max = UNA + flight;
    c->snd_wnd = c->max_snd_wnd = 1u << 20;
    c->irs = PEER_ISN;
    c->rcv_nxt = PEER_ISN + 1;
    c->rcv_adv = c->rcv_nxt + 65535;
    c->snd_wl1 = c->rcv_nxt;
    c->snd_wl2 = UNA;
    c->snd_mss = mss;
    c->sack_ok = sack;
    c->high_rxt = UNA;
    if (flight)
        queue(c, flight);
    c->last_send_us = f->now_us;
    tcp_cc_init(c);
    return c;
}

/* An ACK that moves snd_una to ack, in the order tcp_process_ack takes it (ring, snd_una,
 * scoreboard, timer, congestion control, recovery's bookkeeping), without the wire. */
static void ack_to(struct tcp_conn *c, uint32_t ack)
{
    uint32_t flight_before = c->snd_max - c->snd_una, acked = ack - c->snd_una;
    ring_consume(&c->sndq, acked < c->sndq.len ? acked : c->sndq.len);
    c->snd_una = ack;
    if (seq_lt(c->snd_nxt, ack))
        c->snd_nxt = ack;
    if (c->sack_ok)
        tcp_sack_advance(c);
    c->retries = 0;
    c->rto_us = c->rto_base_us;
    if (c->snd_una == c->snd_max)
        timer_cancel(c->st, &c->rexmit);
    else
        tcp_arm_rexmit(c);
    tcp_cc_ack(c, acked, flight_before);
    tcp_cc_after_ack(c);
}

/* n more bytes sent as new data (snd_max moves; the ring holds them). */
static void sent_more(struct tcp_conn *c, uint32_t n)
{
    queue(c, n);
    c->snd_max += n;
    c->snd_nxt = c->snd_max;
}

/* A segment whose ACK is snd_una carrying one SACK block [UNA + s, UNA + e). */
static bool sack_rel(struct tcp_conn *c, uint32_t s, uint32_t e)
{
    struct tcp_seg seg = {.ack = c->snd_una, .flags = TCP_ACK, .sack_count = 1};
    seg.sack[0].start = UNA + s;
    seg.sack[0].end = UNA + e;
    return tcp_sack_update(c, &seg);
}

/* The scoreboard is exactly these n ranges (relative to UNA), and sacked_bytes their sum. */
static void expect_board(const struct tcp_conn *c, unsigned n, const uint32_t rel[][2])
{
    assert_int_equal(c->sacked_count, n);
    uint32_t bytes = 0;
    for (unsigned i = 0; i < n; i++) {
        assert_int_equal(c->sacked[i].start - UNA, rel[i][0]);
        assert_int_equal(c->sacked[i].end - UNA, rel[i][1]);
        bytes += rel[i][1] - rel[i][0];
    }
    assert_int_equal(c->sacked_bytes, bytes);
}

/* The scoreboard's invariants: at most TCP_SCOREBOARD ranges, each non-empty, sorted, with a
 * gap between neighbours (touching ranges merge), all inside (snd_una, snd_max], and
 * sacked_bytes their sum. */
static void expect_board_sane(const struct tcp_conn *c)
{
    assert_true(c->sacked_count <= TCP_SCOREBOARD);
    uint32_t bytes = 0;
    for (unsigned i = 0; i < c->sacked_count; i++) {
        const struct tcp_sack_block *b = &c->sacked[i];
        assert_true(seq_lt(b->start, b->end));
        assert_true(seq_ge(b->start, c->snd_una));
        assert_true(seq_le(b->end, c->snd_max));
        if (i > 0)
            assert_true(seq_lt(c->sacked[i - 1].end, b->start));
        bytes += b->end - b->start;
    }
    assert_int_equal(c->sacked_bytes, bytes);
}

/* Data segments out since the last look (pure ACKs skipped), each checked to be ours on the
 * connection: count, and their seq and len. */
struct seg_out {
    uint32_t seq, len;
};
static size_t take_segs(struct fixture *f, struct seg_out *out, size_t max)
{
    struct conv cv = conv_new(f, RPORT);
    struct fx_tcp_view v[FX_MAX_FRAMES];
    size_t n = out_all(&cv, v, FX_MAX_FRAMES, false), k = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i].data_len == 0 && !(v[i].flags & FX_TCP_FIN))
            continue;
        assert_true(k < max);
        /* The bytes are the stream's bytes at that sequence number. */
        assert_true(v[i].seq - UNA + v[i].data_len <= sizeof(pat));
        assert_memory_equal(v[i].data, pat + (v[i].seq - UNA), v[i].data_len);
        out[k].seq = v[i].seq;
        out[k].len = (uint32_t)v[i].data_len;
        k++;
    }
    return k;
}

/* Exactly one data segment went out: [UNA + rel, UNA + rel + len). */
static void expect_seg(struct fixture *f, uint32_t rel, uint32_t len)
{
    struct seg_out s[8];
    size_t n = take_segs(f, s, 8);
    assert_int_equal(n, 1);
    assert_int_equal(s[0].seq - UNA, rel);
    assert_int_equal(s[0].len, len);
}

static void expect_no_seg(struct fixture *f)
{
    struct seg_out s[8];
    assert_int_equal(take_segs(f, s, 8), 0);
}

/* n duplicate ACKs, as tcp_process_ack hands them to congestion control. */
static void dupacks(struct tcp_conn *c, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        tcp_cc_dupack(c);
}

/* ---- RTO arithmetic (RFC 6298 §2) -------------------------------------------------------- */

static void test_rto_first_sample(void **state)
{
    struct fixture *f = *state;
    struct tcp_conn *c = conn_make(f, 1000, false, 0);
    assert_int_equal(c->srtt_us, 0);
    assert_int_equal(c->rto_us, 1 * SEC); /* §2.1: 1 s before any measurement */
    /* §2.2: R = 100 ms: SRTT = 100 ms, RTTVAR = 50 ms, RTO = 100 + max(1, 4 * 50) = 300 ms. */
    tcp_rtt_sample(c, 100 * MS);
    assert_int_equal(c->srtt_us, 100 * MS);
    assert_int_equal(c->rttvar_us, 50 * MS);
    assert_int_equal(c->rto_us, 300 * MS);
    assert_int_equal(c->rto_base_us, 300 * MS);
    tcp_conn_free(c);
}

static void test_rto_later_samples_use_eighth_and_quarter_gains(void **state)
{
    struct fixture *f = *state;
    struct tcp_conn *c = conn_make(f, 1000, false, 0);
    tcp_rtt_sample(c, 100 * MS);
    /* §2.3, R' = 200 ms. RTTVAR first, with the old SRTT:
     * RTTVAR = 3/4 * 50000 + 1/4 * |100000 - 200000| = 37500 + 25000 = 62500;
     * SRTT = 7/8 * 100000 + 1/8 * 200000 = 87500 + 25000 = 112500;
     * RTO = 112500 + 4 * 62500 = 362500. (Updating SRTT first would give RTTVAR 59375.) */
    tcp_rtt_sample(c, 200 * MS);
    assert_int_equal(c->rttvar_us, 62500);
    assert_int_equal(c->srtt_us, 112500);
    assert_int_equal(c->rto_us, 362500);
    /* R' = SRTT exactly: RTTVAR = 3/4 * 62500 = 46875, SRTT stays 112500,
     * RTO = 112500 + 187500 = 300000. */
    tcp_rtt_sample(c, 112500);
    assert_int_equal(c->rttvar_us, 46875);
    assert_int_equal(c->srtt_us, 112500);
    assert_int_equal(c->rto_us, 300000);
    /* R' = 12500: RTTVAR = (3 * 46875 + 100000) / 4 = 60156 (rounded down),
     * SRTT = (7 * 112500 + 12500) / 8 = 100000, RTO = 100000 + 240624 = 340624. */
    tcp_rtt_sample(c, 12500);
    assert_int_equal(c->rttvar_us, 60156);
    assert_int_equal(c->srtt_us, 100000);
    assert_int_equal(c->rto_us, 340624);
    tcp_conn_free(c);
}

static void test_rto_is_at_least_the_configured_minimum(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(f->cfg.tcp_rto_min_us, 200 * MS); /* the default, as Linux */
    struct tcp_conn *c = conn_make(f, 1000, false, 0);
    /* R = 10 ms: 10 + 4 * 5 = 30 ms, raised to 200 ms (§2.4). */
    tcp_rtt_sample(c, 10 * MS);
    assert_int_equal(c->srtt_us, 10 * MS);
    assert_int_equal(c->rttvar_us, 5 * MS);
    assert_int_equal(c->rto_us, 200 * MS);
    tcp_conn_free(c);

    /* The minimum is the configuration's: 50 ms lets 30 ms become 50 ms, ... */
    struct tapir_config cfg;
    fx_config(&cfg);
    cfg.tcp_rto_min_us = 50 * MS;
    restart(f, &cfg);
    c = conn_make(f, 1000, false, 0);
    tcp_rtt_sample(c, 10 * MS);
    assert_int_equal(c->rto_us, 50 * MS);
    tcp_conn_free(c);

    /* ... and 1 ms lets it be 30 ms. */
    cfg.tcp_rto_min_us = 1 * MS;
    restart(f, &cfg);
    c = conn_make(f, 1000, false, 0);
    tcp_rtt_sample(c, 10 * MS);
    assert_int_equal(c->rto_us, 30 * MS);
    tcp_conn_free(c);
}

static void test_rto_variance_term_is_at_least_the_clock_granularity(void **state)
{
    struct fixture *f = *state;
    struct tapir_config cfg;
    fx_config(&cfg);
    cfg.tcp_rto_min_us = 1 * MS; /* out of the way */
    restart(f, &cfg);
    struct tcp_conn *c = conn_make(f, 1000, false, 0);
    /* The same 10 ms again and again: RTTVAR decays by 3/4 each time (5000, 3750, 2812,
     * ...), SRTT stays 10 ms. RTO = SRTT + max(G, 4 RTTVAR) with G = 1 ms. */
    for (int i = 0; i < 30; i++) {
        tcp_rtt_sample(c, 10 * MS);
        assert_int_equal(c->srtt_us, 10 * MS);
        uint64_t var = 4 * c->rttvar_us;
        assert_int_equal(c->rto_us, 10 * MS + (var > TCP_RTO_GRANULARITY_US ? var : 1 * MS));
    }
    assert_true(4 * c->rttvar_us < 1 * MS);
    assert_int_equal(c->rto_us, 11 * MS);
    tcp_conn_free(c);
}

static void test_rto_is_at_most_60_s(void **state)
{
    struct fixture *f = *state;
    struct tcp_conn *c = conn_make(f, 1000, false, 0);
    /* R = 50 s: 50 + 4 * 25 = 150 s, capped at 60 s (§2.5). */
    tcp_rtt_sample(c, 50ull * SEC);
    assert_int_equal(c->srtt_us, 50ull * SEC);
    assert_int_equal(c->rto_us, 60ull * SEC);
    assert_int_equal(c->rto_base_us, 60ull * SEC);
    tcp_conn_free(c);
}

static void test_zero_rtt_sample_still_counts_as_a_measurement(void **state)
{
    struct fixture *f = *state;
    struct tcp_conn *c = conn_make(f, 1000, false, 0);
    /* A sample below the clock's resolution: SRTT must not read as "no measurement yet",
     * or the next sample would be taken as the first. */
    tcp_rtt_sample(c, 0);
    assert_true(c->srtt_us > 0);
    assert_int_equal(c->rto_us, 200 * MS); /* tiny, raised to the minimum */
    uint64_t srtt0 = c->srtt_us, rttvar0 = c->rttvar_us;
    tcp_rtt_sample(c, 80 * MS);
    /* A second sample: the 1/8 gain (a first sample would make SRTT 80 ms). */
    assert_int_equal(c->srtt_us, (7 * srtt0 + 80 * MS) / 8);
    assert_int_equal(c->rttvar_us, (3 * rttvar0 + (80 * MS - srtt0)) / 4);
    tcp_conn_free(c);
}

/* ---- Karn's rule (RFC 6298 §3) ------------------------------------------------------------ */

/* The peer acknowledges up to ack, through the whole input path (the connection is hashed). */
static void peer_acks(struct fixture *f, struct tcp_conn *c, uint32_t ack)
{
    struct conv cv = conv_new(f, RPORT);
    seg_in(&cv, FX_TCP_ACK, c->rcv_nxt, ack, -1, NULL, 0);
}

static void test_karn_ack_of_a_timed_segment_gives_a_sample(void **state)
{
    /* The control for the next test: the same segment, timed and acknowledged 50 ms later,
     * not retransmitted, gives SRTT = 50 ms. */
    struct fixture *f = *state;
    struct tcp_conn *c = conn_make(f, 1000, false, 0);
    tcp_hash_add(c);
    queue(c, 1000);
    tcp_output(c);
    expect_seg(f, 0, 1000);
    assert_true(c->rtt_timing);
    assert_int_equal(c->rtt_seq, UNA + 1000);
    fx_advance(f, 50 * MS);
    peer_acks(f, c, UNA + 1000);
    assert_int_equal(c->snd_una, UNA + 1000);
    assert_false(c->rtt_timing);
    assert_int_equal(c->srtt_us, 50 * MS);
    tcp_conn_free(c);
}

static void test_karn_retransmission_stops_the_timing(void **state)
{
    struct fixture *f = *state;
    struct tcp_conn *c = conn_make(f, 1000, false, 0);
    tcp_hash_add(c);
    queue(c, 1000);
    tcp_output(c);
    expect_seg(f, 0, 1000);
    assert_true(c->rtt_timing);
    fx_advance(f, 30 * MS);
    tcp_retransmit(c, UNA, 1000);
    expect_seg(f, 0, 1000);
    assert_false(c->rtt_timing); /* the segment went twice: no sample from it */
    assert_int_equal(c->rexmit_segs, 1);
    assert_int_equal(tcps(f)->rexmit_segments, 1);
    fx_advance(f, 20 * MS);
    peer_acks(f, c, UNA + 1000);
    assert_int_equal(c->snd_una, UNA + 1000);
    assert_int_equal(c->srtt_us, 0); /* neither 50 ms nor 20 ms: no measurement at all */
    assert_int_equal(c->rto_us, 1 * SEC);
    tcp_conn_free(c);
}

static void test_karn_timeout_stops_the_timing(void **state)
{
    struct fixture *f = *state;
    struct tcp_conn *c = conn_make(f, 1000, false, 0);
    tcp_hash_add(c);
    queue(c, 1000);
    tcp_output(c);
    expect_seg(f, 0, 1000);
    assert_true(c->rtt_timing);
    fx_advance(f, 1 * SEC); /* the RTO: the segment goes again */
    expect_seg(f, 0, 1000);
    assert_false(c->rtt_timing);
    fx_advance(f, 10 * MS);
    peer_acks(f, c, UNA + 1000);
    assert_int_equal(c->snd_una, UNA + 1000);
    assert_int_equal(c->srtt_us, 0);
    tcp_conn_free(c);
}

/* ---- Backoff (RFC 6298 §5.5) and giving up ---------------------------------------------- */

static void test_backoff_doubles_rto_to_60_s_then_gives_up(void **state)
{
    struct fixture *f = *state;
    struct tcp_conn *c = conn_make(f, 1000, false, 5000);
    tcp_arm_rexmit(c);
    uint64_t rto = 1 * SEC, at = f->now_us;
    /* 15 timeouts (TCP_RETRIES_MAX): each retransmits the first segment and doubles the RTO,
     * 2, 4, 8, 16, 32 s, then 60 s from the sixth on (64 s would be over the cap). */
    static const uint64_t want_s[TCP_RETRIES_MAX] = {2, 4, 8, 16, 32, 60, 60, 60, 60, 60,
                                                     60, 60, 60, 60, 60};
    for (unsigned k = 1; k <= TCP_RETRIES_MAX; k++) {
        assert_true(timer_armed(&c->rexmit));
        assert_int_equal(c->rexmit.deadline_us, at + rto);
        fx_advance_to(f, at + rto - 1);
        expect_no_seg(f); /* not a microsecond early */
        at += rto;
        fx_advance_to(f, at);
        rto = want_s[k - 1] * SEC;
        assert_int_equal(c->rto_us, rto);
        assert_int_equal(c->retries, k);
        assert_int_equal(c->retransmits, k);
        assert_int_equal(tcps(f)->retransmits, k);
        assert_int_equal(c->state, TCP_ESTABLISHED);
        expect_seg(f, 0, 1000); /* §5.4: the earliest unacknowledged segment */
        assert_int_equal(c->cwnd, 1000);
    }
    /* The sixteenth expiry: no more tries, the connection ends with ETIMEDOUT. */
    fx_advance_to(f, at + rto);
    expect_no_seg(f);
    assert_int_equal(c->state, TCP_CLOSED);
    assert_int_equal(c->error, ETIMEDOUT);
    assert_int_equal(tcps(f)->timeouts, 1);
    assert_false(timer_armed(&c->rexmit));
    tcp_conn_free(c);
}

static void test_backoff_is_capped_from_a_large_base(void **state)
{
    struct fixture *f = *state;
    struct tcp_conn *c = conn_make(f, 1000, false, 1000);
    tcp_rtt_sample(c, 20ull * SEC); /* SRTT 20 s, RTTVAR 10 s: RTO 60 s exactly */
    assert_int_equal(c->rto_us, 60ull * SEC);
    tcp_arm_rexmit(c);
    fx_advance(f, 60ull * SEC);
    expect_seg(f, 0, 1000);
    assert_int_equal(c->rto_us, 60ull * SEC); /* not 120 s */
    assert_int_equal(c->rexmit.deadline_us, f->now_us + 60ull * SEC);
    tcp_conn_free(c);
}

/* ---- The SACK scoreboard (RFC 2018 §3, RFC 6675 §4) ---------------------------------------- */

static void test_sack_update_merges_and_keeps_ranges_sorted(void **state)
{
    struct fixture *f = *state;
    struct tcp_conn *c = conn_make(f, 1000, true, 20000);
    assert_true(sack_rel(c, 3000, 4000));
    assert_true(sack_rel(c, 8000, 9000));
    assert_true(sack_rel(c, 5000, 6000)); /* between the two: sorted in place */
    static const uint32_t b1[][2] = {{3000, 4000}, {5000, 6000}, {8000, 9000}};
    expect_board(c, 3, b1);
    assert_true(sack_rel(c, 4000, 5000)); /* touches both neighbours: one range */
    static const uint32_t b2[][2] = {{3000, 6000}, {8000, 9000}};
    expect_board(c, 2, b2);
    assert_true(sack_rel(c, 2500, 3500)); /* overlaps the start */
    assert_true(sack_rel(c, 8500, 9500)); /* overlaps the end */
    static const uint32_t b3[][2] = {{2500, 6000}, {8000, 9500}};
    expect_board(c, 2, b3);
    assert_false(sack_rel(c, 3000, 4000)); /* nothing new */
    assert_false(sack_rel(c, 2500, 6000));
    expect_board(c, 2, b3);
    assert_true(sack_rel(c, 7000, 10000)); /* covers a range wholly */
    static const uint32_t b4[][2] = {{2500, 6000}, {7000, 10000}};
    expect_board(c, 2, b4);
    assert_true(sack_rel(c, 1000, 12000)); /* swallows everything */
    static const uint32_t b5[][2] = {{1000, 12000}};
    expect_board(c, 1, b5);

    /* Several blocks in one ACK, newest first as RFC 2018 §4 orders them. */
    struct tcp_seg seg = {.ack = c->snd_una, .flags = TCP_ACK, .sack_count = 3};
    seg.sack[0] = (struct tcp_sack_block){UNA + 18000, UNA + 19000};
    seg.sack[1] = (struct tcp_sack_block){UNA + 14000, UNA + 15000};
    seg.sack[2] = (struct tcp_sack_block){UNA + 1000, UNA + 12000}; /* old news */
    assert_true(tcp_sack_update(c, &seg));
    static const uint32_t b6[][2] = {{1000, 12000}, {14000, 15000}, {18000, 19000}};
    expect_board(c, 3, b6);
    assert_int_equal(tcp_sack_high(c), UNA + 19000);
    expect_board_sane(c);
    tcp_conn_free(c);
}

static void test_sack_update_ignores_invalid_blocks_and_dsack(void **state)
{
    struct fixture *f = *state;
    struct tcp_conn *c = conn_make(f, 1000, true, 20000);
    /* Beyond anything sent (snd_max = UNA + 20000): ignored and counted. */
    assert_false(sack_rel(c, 19000, 21000));
    assert_int_equal(tcps(f)->sack_blocks_invalid, 1);
    assert_false(sack_rel(c, 25000, 26000));
    assert_int_equal(tcps(f)->sack_blocks_invalid, 2);
    /* Empty or reversed. */
    assert_false(sack_rel(c, 5000, 5000));
    assert_false(sack_rel(c, 6000, 5000));
    assert_int_equal(tcps(f)->sack_blocks_invalid, 4);
    assert_int_equal(c->sacked_count, 0);
    /* Up to snd_max exactly is fine. */
    assert_true(sack_rel(c, 19000, 20000));
    assert_int_equal(tcps(f)->sack_blocks_invalid, 4);

    /* D-SACK (RFC 2883): a block at or below the cumulative ACK reports a duplicate; noted,
     * not put on the scoreboard. Below snd_una: */
    struct tcp_seg seg = {.ack = UNA, .flags = TCP_ACK, .sack_count = 1};
    seg.sack[0] = (struct tcp_sack_block){UNA - 1000, UNA};
    assert_false(tcp_sack_update(c, &seg));
    assert_int_equal(tcps(f)->dsack_received, 1);
    /* Below this ACK's cumulative point though above snd_una (the ACK is not yet applied): */
    seg.ack = UNA + 2000;
    seg.sack[0] = (struct tcp_sack_block){UNA + 1000, UNA + 2000};
    assert_false(tcp_sack_update(c, &seg));
    assert_int_equal(tcps(f)->dsack_received, 2);
    static const uint32_t b1[][2] = {{19000, 20000}};
    expect_board(c, 1, b1);
    assert_int_equal(tcps(f)->sack_blocks_invalid, 4);

    /* A block reaching below snd_una is kept from snd_una on. */
    seg.ack = UNA;
    seg.sack[0] = (struct tcp_sack_block){UNA - 500, UNA + 1000};
    assert_true(tcp_sack_update(c, &seg));
    static const uint32_t b2[][2] = {{0, 1000}, {19000, 20000}};
    expect_board(c, 2, b2);
    tcp_conn_free(c);
}

static void test_sack_advance_forgets_what_is_below_snd_una(void **state)
{
    struct fixture *f = *state;
    struct tcp_conn *c = conn_make(f, 1000, true, 10000);
    sack_rel(c, 1000, 2000);
    sack_rel(c, 3000, 5000);
    sack_rel(c, 7000, 8000);
    c->snd_una = UNA + 4000; /* the cumulative ACK lands inside the second range */
    tcp_sack_advance(c);
    static const uint32_t b1[][2] = {{4000, 5000}, {7000, 8000}};
    expect_board(c, 2, b1);
    c->snd_una = UNA + 7000; /* exactly at a range's start: kept whole */
    tcp_sack_advance(c);
    static const uint32_t b2[][2] = {{7000, 8000}};
    expect_board(c, 1, b2);
    c->snd_una = UNA + 8000; /* at its end: gone */
    tcp_sack_advance(c);
    expect_board(c, 0, NULL);
    assert_int_equal(tcp_sack_high(c), c->snd_una);
    tcp_conn_free(c);
}

static void test_sack_is_lost_by_bytes_or_ranges_above(void **state)
{
    struct fixture *f = *state;
    struct tcp_conn *c = conn_make(f, 1000, true, 20000); /* SMSS 1000: the line is 2000 */
    assert_false(tcp_sack_is_lost(c, UNA)); /* nothing SACKed */
    sack_rel(c, 1000, 3000);
    assert_false(tcp_sack_is_lost(c, UNA)); /* 2000 bytes in 1 range: not more than 2 SMSS */
    sack_rel(c, 4000, 4001);
    assert_true(tcp_sack_is_lost(c, UNA));         /* 2001 bytes */
    assert_true(tcp_sack_is_lost(c, UNA + 999));   /* the same hole */
    assert_false(tcp_sack_is_lost(c, UNA + 3000)); /* 1 byte above */
    assert_false(tcp_sack_is_lost(c, UNA + 5000)); /* nothing above */

    tcp_sack_clear(c);
    assert_int_equal(c->sacked_count, 0);
    assert_int_equal(c->sacked_bytes, 0);
    sack_rel(c, 1000, 1100);
    sack_rel(c, 2000, 2100);
    assert_false(tcp_sack_is_lost(c, UNA)); /* 200 bytes, 2 ranges */
    sack_rel(c, 3000, 3100);
    assert_true(tcp_sack_is_lost(c, UNA));         /* DupThresh = 3 ranges above */
    assert_false(tcp_sack_is_lost(c, UNA + 1500)); /* 2 ranges above */

    /* SMSS is the MSS less the timestamps option: with them, 1012 - 12 = 1000 again. */
    tcp_sack_clear(c);
    c->ts_ok = true;
    c->snd_mss = 1012;
    sack_rel(c, 1000, 3000);
    assert_false(tcp_sack_is_lost(c, UNA));
    sack_rel(c, 4000, 4001);
    assert_true(tcp_sack_is_lost(c, UNA));
    tcp_conn_free(c);
}

static void test_sack_pipe_worked_example(void **state)
{
    struct fixture *f = *state;
    struct tcp_conn *c = conn_make(f, 1000, true, 10000);
    /* Without SACKs everything sent is in the network. */
    assert_int_equal(tcp_sack_pipe(c), 10000);
    /* Ten segments of 1000 bytes, 0..9 (offsets from UNA); 2, 4 and 6 SACKed:
     *
     *   seg:     0     1     2     3     4     5     6     7     8     9
     *           [ hole    ] [S ] [hole] [S ] [hole] [S ] [ tail             ]
     *
     * RFC 6675 SetPipe, per unSACKed segment: +1 if not IsLost, +1 more if retransmitted
     * (at or below HighRxt).
     *   0, 1: 3 SACKed ranges above (>= DupThresh): lost;
     *   3: above it 4 and 6, 2 ranges, 2000 bytes (not > 2 SMSS): not lost: 1000;
     *   5: above it 6 only: not lost: 1000;
     *   7, 8, 9: nothing SACKed above: not lost: 3000.
     * With nothing retransmitted (HighRxt = HighACK): pipe = 1000 + 1000 + 3000 = 5000. */
    sack_rel(c, 2000, 3000);
    sack_rel(c, 4000, 5000);
    sack_rel(c, 6000, 7000);
    assert_int_equal(tcp_sack_pipe(c), 5000);
    /* Segment 0 retransmitted (HighRxt = UNA + 1000): it counts once more: 6000. */
    c->high_rxt = UNA + 1000;
    assert_int_equal(tcp_sack_pipe(c), 6000);
    /* Segment 1 too: 7000. */
    c->high_rxt = UNA + 2000;
    assert_int_equal(tcp_sack_pipe(c), 7000);
    /* Segment 3 retransmitted as well, though not lost: it counts twice: 8000. */
    c->high_rxt = UNA + 4000;
    assert_int_equal(tcp_sack_pipe(c), 8000);
    tcp_conn_free(c);
}

static void test_sack_next_hole_lost_first_and_above_high_rxt(void **state)
{
    struct fixture *f = *state;
    struct tcp_conn *c = conn_make(f, 1000, true, 10000);
    sack_rel(c, 2000, 3000);
    sack_rel(c, 4000, 5000);
    sack_rel(c, 6000, 7000); /* holes: [0, 2000) lost; [3000, 4000), [5000, 6000) not */
    uint32_t seq = 0;
    assert_int_equal(tcp_sack_next_hole(c, true, 1000, &seq), 1000);
    assert_int_equal(seq, UNA);
    assert_int_equal(tcp_sack_next_hole(c, true, 600, &seq), 600); /* at most max_len */
    assert_int_equal(seq, UNA);
    c->high_rxt = UNA + 1000; /* the first segment went: the next from HighRxt */
    assert_int_equal(tcp_sack_next_hole(c, true, 1000, &seq), 1000);
    assert_int_equal(seq, UNA + 1000);
    c->high_rxt = UNA + 1500; /* never into the SACKed range */
    assert_int_equal(tcp_sack_next_hole(c, true, 1000, &seq), 500);
    assert_int_equal(seq, UNA + 1500);
    c->high_rxt = UNA + 2000; /* the lost hole is done: no lost one is left ... */
    seq = 0;
    assert_int_equal(tcp_sack_next_hole(c, true, 1000, &seq), 0);
    /* ... but NextSeg rule (3) may send the first hole not yet known lost. */
    assert_int_equal(tcp_sack_next_hole(c, false, 1000, &seq), 1000);
    assert_int_equal(seq, UNA + 3000);
    c->high_rxt = UNA + 4000;
    assert_int_equal(tcp_sack_next_hole(c, false, 1000, &seq), 1000);
    assert_int_equal(seq, UNA + 5000);
    /* Above the highest SACKed byte is no hole (new data or a timeout covers it). */
    c->high_rxt = UNA + 6000;
    assert_int_equal(tcp_sack_next_hole(c, false, 1000, &seq), 0);
    c->high_rxt = UNA + 8000;
    assert_int_equal(tcp_sack_next_hole(c, false, 1000, &seq), 0);
    tcp_conn_free(c);
}

static void test_sack_skip_jumps_over_sacked_ranges(void **state)
{
    struct fixture *f = *state;
    struct tcp_conn *c = conn_make(f, 1000, true, 10000);
    sack_rel(c, 2000, 3000);
    sack_rel(c, 4000, 5000);
    uint32_t room = 0;
    assert_int_equal(tcp_sack_skip(c, UNA + 1000, &room), UNA + 1000);
    assert_int_equal(room, 1000); /* up to the SACKed range */
    assert_int_equal(tcp_sack_skip(c, UNA + 2000, &room), UNA + 3000);
    assert_int_equal(room, 1000);
    assert_int_equal(tcp_sack_skip(c, UNA + 2500, &room), UNA + 3000);
    assert_int_equal(room, 1000);
    assert_int_equal(tcp_sack_skip(c, UNA + 4500, &room), UNA + 5000);
    assert_int_equal(room, UINT32_MAX); /* nothing SACKed above */
    assert_int_equal(tcp_sack_skip(c, UNA + 6000, &room), UNA + 6000);
    assert_int_equal(room, UINT32_MAX);
    tcp_conn_free(c);
}

static void test_sack_full_scoreboard_drops_the_highest(void **state)
{
    struct fixture *f = *state;
    struct tcp_conn *c = conn_make(f, 1000, true, 200000);
    /* TCP_SCOREBOARD ranges [3000, 4000), [5000, 6000), ..., 2000 apart. */
    for (uint32_t k = 1; k <= TCP_SCOREBOARD; k++)
        assert_true(sack_rel(c, 2000 * k + 1000, 2000 * k + 2000));
    assert_int_equal(c->sacked_count, TCP_SCOREBOARD);
    uint32_t top = 2000 * TCP_SCOREBOARD + 2000; /* 66000 */
    assert_int_equal(tcp_sack_high(c), UNA + top);
    /* Above everything, with no room: let go. */
    assert_false(sack_rel(c, 70000, 71000));
    assert_int_equal(c->sacked_count, TCP_SCOREBOARD);
    assert_int_equal(tcp_sack_high(c), UNA + top);
    /* Below everything: kept; the highest range gives way. */
    assert_true(sack_rel(c, 1000, 1500));
    assert_int_equal(c->sacked_count, TCP_SCOREBOARD);
    assert_int_equal(c->sacked[0].start, UNA + 1000);
    assert_int_equal(tcp_sack_high(c), UNA + top - 2000);
    expect_board_sane(c);
    /* A block joining two ranges frees a slot. */
    assert_true(sack_rel(c, 4000, 5000));
    assert_int_equal(c->sacked_count, TCP_SCOREBOARD - 1);
    expect_board_sane(c);
    /* A storm of blocks never overflows the array nor breaks the order. */
    uint32_t x = 12345;
    for (int i = 0; i < 5000; i++) {
        x = x * 1103515245u + 12345u;
        uint32_t s = (x >> 8) % 199000, len = 1 + (x >> 3) % 1500;
        sack_rel(c, s, s + len);
        expect_board_sane(c);
    }
    tcp_conn_free(c);
}

/* ---- The congestion window (RFC 5681, RFC 3465, RFC 6928) --------------------------------- */

static uint32_t iw_for(struct fixture *f, uint16_t mss, bool ts)
{
    struct tcp_conn *c = conn_make(f, mss, false, 0);
    c->ts_ok = ts;
    tcp_cc_init(c);
    uint32_t cwnd = c->cwnd;
    assert_int_equal(tcp_initial_window(c), cwnd);
    assert_true(c->ssthresh >= 0x7fffffffu); /* "arbitrarily high" */
    tcp_conn_free(c);
    return cwnd;
}

static void test_initial_window_rfc6928(void **state)
{
    struct fixture *f = *state;
    /* IW = min(10 * MSS, max(2 * MSS, 14600)). */
    assert_int_equal(iw_for(f, 1460, false), 14600); /* min(14600, 14600) */
    assert_int_equal(iw_for(f, 536, false), 5360);   /* min(5360, 14600) */
    assert_int_equal(iw_for(f, 4000, false), 14600); /* min(40000, 14600) */
    assert_int_equal(iw_for(f, 8960, false), 17920); /* min(89600, 17920) */
    assert_int_equal(iw_for(f, 9000, false), 18000);
    assert_int_equal(iw_for(f, 1460, true), 14480);  /* SMSS 1448 with timestamps */
}

static void test_slow_start_grows_by_acked_up_to_two_smss(void **state)
{
    struct fixture *f = *state;
    struct tcp_conn *c = conn_make(f, 1460, false, 14600);
    assert_int_equal(c->cwnd, 14600);
    ack_to(c, UNA + 1460); /* one segment: + 1460 */
    assert_int_equal(c->cwnd, 16060);
    tcp_cc_ack(c, 4380, c->cwnd); /* a stretch ACK of three: + L = 2 SMSS only (RFC 3465) */
    assert_int_equal(c->cwnd, 18980);
    tcp_cc_ack(c, 100, c->cwnd); /* a few bytes: that many */
    assert_int_equal(c->cwnd, 19080);
    tcp_cc_ack(c, 2920, c->cwnd);
    assert_int_equal(c->cwnd, 22000);
    assert_int_equal(c->bytes_acked, 0); /* byte counting is avoidance's */
    tcp_conn_free(c);
}

static void test_no_growth_when_the_window_was_not_used(void **state)
{
    struct fixture *f = *state;
    struct tcp_conn *c = conn_make(f, 1460, false, 0);
    assert_int_equal(c->cwnd, 14600);
    /* 7299 bytes were in flight: less than half of cwnd: the ACK says nothing about it. */
    tcp_cc_ack(c, 1460, 7299);
    assert_int_equal(c->cwnd, 14600);
    tcp_cc_ack(c, 1460, 7300); /* half exactly: grows */
    assert_int_equal(c->cwnd, 16060);
    /* The same in avoidance: no bytes counted. */
    c->ssthresh = c->cwnd;
    tcp_cc_ack(c, 1460, 8000);
    assert_int_equal(c->bytes_acked, 0);
    assert_int_equal(c->cwnd, 16060);
    tcp_conn_free(c);
}

static void test_congestion_avoidance_one_smss_per_cwnd_acked(void **state)
{
    struct fixture *f = *state;
    struct tcp_conn *c = conn_make(f, 1000, false, 0);
    c->cwnd = 10000;
    c->ssthresh = 10000; /* cwnd >= ssthresh: avoidance */
    /* RFC 3465 §2.1: bytes_acked counts up; at cwnd, cwnd grows by SMSS. */
    for (int i = 1; i <= 9; i++) {
        tcp_cc_ack(c, 1000, c->cwnd);
        assert_int_equal(c->cwnd, 10000);
        assert_int_equal(c->bytes_acked, 1000u * (unsigned)i);
    }
    tcp_cc_ack(c, 1000, c->cwnd);
    assert_int_equal(c->cwnd, 11000);
    assert_int_equal(c->bytes_acked, 0);
    /* Now 11000 bytes for the next SMSS. */
    for (int i = 1; i <= 10; i++)
        tcp_cc_ack(c, 1000, c->cwnd);
    assert_int_equal(c->cwnd, 11000);
    tcp_cc_ack(c, 1000, c->cwnd);
    assert_int_equal(c->cwnd, 12000);
    /* A stretch ACK carries its remainder over. */
    tcp_cc_ack(c, 12500, c->cwnd);
    assert_int_equal(c->cwnd, 13000);
    assert_int_equal(c->bytes_acked, 500);
    tcp_conn_free(c);
}

static void test_newreno_fast_retransmit_and_recovery(void **state)
{
    struct fixture *f = *state;
    struct tcp_conn *c = conn_make(f, 1000, false, 20000);
    c->cwnd = 20000;
    /* Two duplicate ACKs: nothing yet (limited transmit aside). */
    dupacks(c, 2);
    assert_false(c->in_recovery);
    assert_int_equal(c->cwnd, 20000);
    expect_no_seg(f);
    /* The third: ssthresh = max(20000 / 2, 2000) = 10000, cwnd = ssthresh + 3 SMSS = 13000,
     * recover = snd_max, and the first segment goes again (RFC 6582 §3.2 step 2). */
    dupacks(c, 1);
    assert_true(c->in_recovery);
    assert_int_equal(c->ssthresh, 10000);
    assert_int_equal(c->cwnd, 13000);
    assert_int_equal(c->recover, UNA + 20000);
    assert_int_equal(tcps(f)->fast_retransmits, 1);
    expect_seg(f, 0, 1000);
    /* Each further duplicate inflates cwnd by SMSS (RFC 5681 §3.2 step 4). */
    dupacks(c, 2);
    assert_int_equal(c->cwnd, 15000);
    expect_no_seg(f);
    /* A partial ACK (RFC 6582 §3.2 step 5): the next hole goes at once, cwnd deflates by
     * what was acknowledged and gains back one SMSS: 15000 - 5000 + 1000 = 11000. */
    ack_to(c, UNA + 5000);
    assert_true(c->in_recovery);
    assert_int_equal(c->cwnd, 11000);
    expect_seg(f, 5000, 1000);
    /* A partial ACK of less than SMSS: no add-back: 11000 - 500 = 10500. */
    ack_to(c, UNA + 5500);
    assert_true(c->in_recovery);
    assert_int_equal(c->cwnd, 10500);
    expect_seg(f, 5500, 1000);
    assert_int_equal(c->ssthresh, 10000);
    /* The full ACK: recovery ends (option 1): cwnd = min(ssthresh, max(FlightSize, SMSS) +
     * SMSS) = min(10000, max(0, 1000) + 1000) = 2000. */
    ack_to(c, UNA + 20000);
    assert_false(c->in_recovery);
    assert_int_equal(c->dupacks, 0);
    assert_int_equal(c->cwnd, 2000);
    expect_no_seg(f);
    tcp_conn_free(c);
}

/* NewReno to its full ACK with `more` bytes sent during recovery; returns cwnd after. */
static uint32_t newreno_exit_cwnd(struct fixture *f, uint32_t more)
{
    struct tcp_conn *c = conn_make(f, 1000, false, 20000);
    c->cwnd = 20000;
    dupacks(c, 3);
    assert_int_equal(c->ssthresh, 10000);
    sent_more(c, more);
    ack_to(c, UNA + 20000);
    assert_false(c->in_recovery);
    uint32_t cwnd = c->cwnd;
    tcp_conn_free(c);
    fx_clear(f);
    return cwnd;
}

static void test_newreno_full_ack_sets_cwnd_to_min_ssthresh_flight_plus_smss(void **state)
{
    struct fixture *f = *state;
    /* RFC 6582 §3.2 step 3 option (1), ssthresh 10000: */
    assert_int_equal(newreno_exit_cwnd(f, 5000), 6000);   /* min(10000, 5000 + 1000) */
    assert_int_equal(newreno_exit_cwnd(f, 500), 2000);    /* min(10000, max(500, 1000) + 1000) */
    assert_int_equal(newreno_exit_cwnd(f, 15000), 10000); /* min(10000, 16000) */
}

static void test_sack_recovery_sets_cwnd_to_ssthresh(void **state)
{
    struct fixture *f = *state;
    struct tcp_conn *c = conn_make(f, 1000, true, 20000);
    c->cwnd = 20000;
    dupacks(c, 3);
    /* RFC 6675 §5 (4.2): ssthresh = cwnd = FlightSize / 2; no inflation. */
    assert_true(c->in_recovery);
    assert_int_equal(c->ssthresh, 10000);
    assert_int_equal(c->cwnd, 10000);
    expect_seg(f, 0, 1000);
    /* Nothing SACKed, so nothing lost: pipe = 20000, plus the retransmission: 21000. */
    assert_int_equal(c->high_rxt, UNA + 1000);
    assert_int_equal(c->pipe, 21000);
    dupacks(c, 2);
    assert_int_equal(c->cwnd, 10000);
    /* The full ACK: cwnd = ssthresh. */
    ack_to(c, UNA + 20000);
    assert_false(c->in_recovery);
    assert_int_equal(c->cwnd, 10000);
    tcp_conn_free(c);
}

static void test_sack_loss_enters_recovery_before_three_dupacks(void **state)
{
    struct fixture *f = *state;
    struct tcp_conn *c = conn_make(f, 1000, true, 20000);
    c->cwnd = 20000;
    sack_rel(c, 2000, 3000);
    sack_rel(c, 4000, 5000);
    sack_rel(c, 6000, 7000);
    assert_true(tcp_sack_is_lost(c, UNA));
    /* RFC 6675 §5 (2): IsLost(HighACK + 1) goes to step (4) on the first duplicate. */
    dupacks(c, 1);
    assert_true(c->in_recovery);
    assert_int_equal(c->dupacks, 1);
    assert_int_equal(c->cwnd, 10000);
    expect_seg(f, 0, 1000);
    /* pipe: [0, 2000) lost; [3000, 4000) and [5000, 6000) not (2000 and 1000 bytes, 2 and 1
     * ranges above); [7000, 20000) counts: 1000 + 1000 + 13000 = 15000, and the
     * retransmitted first segment: 16000. */
    assert_int_equal(c->pipe, 16000);
    tcp_conn_free(c);

    /* Without SACK the scoreboard is not the sender's business: one dupack is one. */
    c = conn_make(f, 1000, false, 20000);
    sack_rel(c, 2000, 3000);
    sack_rel(c, 4000, 5000);
    sack_rel(c, 6000, 7000);
    dupacks(c, 1);
    assert_false(c->in_recovery);
    expect_no_seg(f);
    tcp_conn_free(c);
}

static void test_sack_recovery_retransmits_lost_holes_within_pipe(void **state)
{
    struct fixture *f = *state;
    struct tcp_conn *c = conn_make(f, 1000, true, 20000);
    c->cwnd = 20000;
    sack_rel(c, 2000, 3000);
    sack_rel(c, 4000, 5000);
    sack_rel(c, 6000, 7000);
    dupacks(c, 1);
    expect_seg(f, 0, 1000);
    assert_int_equal(c->pipe, 16000);
    /* More SACKs: [6000, 17000). Now every hole below is lost (11000+ bytes above):
     * pipe = 1000 (segment 0, retransmitted) + 3000 (the tail [17000, 20000)) = 4000. */
    sack_rel(c, 7000, 17000);
    tcp_cc_after_ack(c);
    assert_int_equal(c->pipe, 4000);
    /* cwnd 10000 leaves 6000: NextSeg rule (1) sends the lost holes from HighRxt on, in
     * order: [1000, 2000), [3000, 4000), [5000, 6000); then pipe 7000, and no hole left. */
    tcp_output(c);
    struct seg_out s[8];
    size_t n = take_segs(f, s, 8);
    assert_int_equal(n, 3);
    assert_int_equal(s[0].seq - UNA, 1000);
    assert_int_equal(s[1].seq - UNA, 3000);
    assert_int_equal(s[2].seq - UNA, 5000);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(s[i].len, 1000);
    assert_int_equal(c->pipe, 7000);
    assert_int_equal(c->high_rxt, UNA + 6000);
    tcp_conn_free(c);
}

static void test_sack_lost_retransmission_is_sent_again(void **state)
{
    struct fixture *f = *state;
    struct tcp_conn *c = conn_make(f, 1000, true, 10000);
    c->cwnd = 10000;
    sack_rel(c, 2000, 3000);
    sack_rel(c, 4000, 5000);
    sack_rel(c, 6000, 7000);
    dupacks(c, 1);
    expect_seg(f, 0, 1000);
    assert_int_equal(c->high_rxt, UNA + 1000);
    assert_int_equal(c->rxt_mark, UNA + 10000); /* snd_max when segment 0 went again */
    sent_more(c, 4000);
    /* A SACK for data sent before the retransmission says nothing about it. */
    sack_rel(c, 8000, 9000);
    tcp_cc_after_ack(c);
    assert_int_equal(c->high_rxt, UNA + 1000);
    assert_int_equal(tcps(f)->lost_retransmits, 0);
    /* A SACK for data sent after it, with snd_una still lost: the retransmission was lost. */
    sack_rel(c, 11000, 12000);
    tcp_cc_after_ack(c);
    assert_int_equal(c->high_rxt, UNA);
    assert_int_equal(tcps(f)->lost_retransmits, 1);
    uint32_t seq = 0;
    assert_int_equal(tcp_sack_next_hole(c, true, 1000, &seq), 1000);
    assert_int_equal(seq, UNA);
    tcp_conn_free(c);
}

static void test_no_new_recovery_before_recover_is_passed(void **state)
{
    struct fixture *f = *state;
    struct tcp_conn *c = conn_make(f, 1000, false, 20000);
    c->cwnd = 20000;
    dupacks(c, 3);
    expect_seg(f, 0, 1000);
    assert_int_equal(c->recover, UNA + 20000);
    sent_more(c, 10000); /* new data during recovery: snd_max UNA + 30000 */
    ack_to(c, UNA + 20000); /* full ACK */
    assert_false(c->in_recovery);
    /* After a timeout, recover = snd_max; duplicates for data from before it start nothing
     * (RFC 6582 §3.2 step 1, §4): snd_una < recover. */
    c->retries = 1;
    tcp_cc_timeout(c);
    assert_int_equal(c->recover, UNA + 30000);
    ack_to(c, UNA + 25000);
    uint32_t ssthresh = c->ssthresh, cwnd = c->cwnd;
    fx_clear(f);
    dupacks(c, 5);
    assert_false(c->in_recovery);
    assert_int_equal(c->ssthresh, ssthresh);
    assert_int_equal(c->cwnd, cwnd);
    expect_no_seg(f);
    /* Once the ACK covers recover, three duplicates start a recovery again. */
    sent_more(c, 10000);
    ack_to(c, UNA + 30000);
    dupacks(c, 3);
    assert_true(c->in_recovery);
    assert_int_equal(c->recover, UNA + 40000);
    expect_seg(f, 30000, 1000);
    tcp_conn_free(c);

    /* The same gate holds with SACK for IsLost: with snd_una below recover (as a recovery
     * or timeout left it), a lost snd_una starts nothing either. */
    c = conn_make(f, 1000, true, 20000);
    c->recover = UNA + 20000;
    ack_to(c, UNA + 1000);
    assert_false(c->in_recovery);
    sack_rel(c, 2000, 3000);
    sack_rel(c, 4000, 5000);
    sack_rel(c, 6000, 7000);
    assert_true(tcp_sack_is_lost(c, c->snd_una));
    ssthresh = c->ssthresh;
    fx_clear(f);
    dupacks(c, 3);
    assert_false(c->in_recovery);
    assert_int_equal(c->ssthresh, ssthresh);
    expect_no_seg(f);
    tcp_conn_free(c);
}

/* `recover` must not go stale. RFC 6582 §3.2 step 1 holds back a new recovery only for
 * losses from before the last recovery or timeout, but the gate compares snd_una with
 * recover modulo 2^32: if recover stayed where tcp_cc_init put it, then after 2^31 bytes
 * acknowledged without a loss snd_una - recover would read as negative, and for the next
 * 2 GiB every loss would wait for the RTO. (This failed against the first version of
 * tcp_cc.c; tcp_cc_ack now pulls recover up behind snd_una outside recovery, as FreeBSD
 * pulls snd_recover.) */
static void test_fast_retransmit_still_works_after_2_gib_without_loss(void **state)
{
    struct fixture *f = *state;
    struct tcp_conn *c = conn_make(f, 1000, false, 0);
    assert_int_equal(c->recover, UNA);
    /* A loss-free transfer of 2 GiB + 64 KiB, 64 KiB per ACK, through tcp_cc_ack. */
    for (uint32_t i = 0; i <= 32768; i++) {
        c->snd_max += 65536;
        c->snd_nxt = c->snd_max;
        uint32_t flight = c->snd_max - c->snd_una;
        c->snd_una = c->snd_max;
        tcp_cc_ack(c, 65536, flight);
    }
    assert_int_equal(c->snd_una - UNA, 32769u * 65536u); /* 2^31 + 2^16 */
    assert_false(c->in_recovery);
    /* 20000 bytes now in flight, and the first is lost. */
    c->snd_max += 20000;
    c->snd_nxt = c->snd_max;
    c->cwnd = 20000;
    c->ssthresh = 20000;
    dupacks(c, 3);
    assert_true(c->in_recovery);
    assert_int_equal(c->ssthresh, 10000);
    fx_clear(f);
    tcp_conn_free(c);
}

static void test_timeout_collapses_cwnd_and_sets_ssthresh_once(void **state)
{
    struct fixture *f = *state;
    struct tcp_conn *c = conn_make(f, 1000, false, 20000);
    c->cwnd = 20000;
    c->ssthresh = 5555; /* to see it recomputed */
    c->rtt_timing = true;
    c->rtt_seq = UNA + 20000;
    tcp_arm_rexmit(c);
    fx_advance(f, 1 * SEC);
    /* RFC 5681 §3.1: ssthresh = max(FlightSize / 2, 2 SMSS) = 10000, cwnd = 1 SMSS;
     * recover = snd_max (RFC 6582 §4); Karn. Go-back-N from snd_una. */
    assert_int_equal(c->retries, 1);
    assert_int_equal(c->ssthresh, 10000);
    assert_int_equal(c->cwnd, 1000);
    assert_int_equal(c->recover, UNA + 20000);
    assert_false(c->in_recovery);
    assert_false(c->rtt_timing);
    expect_seg(f, 0, 1000);
    assert_int_equal(c->snd_nxt, UNA + 1000);
    /* The retransmission is lost too: ssthresh stays where the first timeout put it
     * (RFC 5681 §3.1, after equation (4)). */
    c->ssthresh = 7777;
    fx_advance(f, 2 * SEC);
    assert_int_equal(c->retries, 2);
    assert_int_equal(c->ssthresh, 7777);
    assert_int_equal(c->cwnd, 1000);
    expect_seg(f, 0, 1000);
    /* The ACK for it: slow start from one segment, the rest goes again after it. */
    ack_to(c, UNA + 1000);
    assert_int_equal(c->cwnd, 2000);
    tcp_output(c);
    struct seg_out s[8];
    assert_int_equal(take_segs(f, s, 8), 2);
    assert_int_equal(s[0].seq - UNA, 1000);
    assert_int_equal(s[1].seq - UNA, 2000);
    tcp_conn_free(c);
}

static void test_timeout_with_sack_keeps_scoreboard_once_and_resends_only_holes(void **state)
{
    struct fixture *f = *state;
    struct tcp_conn *c = conn_make(f, 1000, true, 20000);
    c->cwnd = 20000;
    sack_rel(c, 3000, 4000);
    sack_rel(c, 6000, 7000); /* not enough for IsLost: no fast recovery */
    assert_false(tcp_sack_is_lost(c, UNA));
    tcp_arm_rexmit(c);
    fx_advance(f, 1 * SEC);
    /* ssthresh 10000, cwnd 1 SMSS as without SACK; the scoreboard is kept (RFC 6675 §5.1)
     * and everything unSACKed below recover = snd_max counts as lost: pipe 0. */
    assert_int_equal(c->retries, 1);
    assert_int_equal(c->ssthresh, 10000);
    assert_int_equal(c->cwnd, 1000);
    assert_int_equal(c->recover, UNA + 20000);
    static const uint32_t b1[][2] = {{3000, 4000}, {6000, 7000}};
    expect_board(c, 2, b1);
    assert_true(c->in_recovery);
    assert_true(tcp_sack_is_lost(c, UNA + 4000));
    expect_seg(f, 0, 1000);
    assert_int_equal(c->high_rxt, UNA + 1000);
    assert_int_equal(c->pipe, 1000);
    /* Its ACK: cwnd 2000 in slow start, pipe 0; the holes go, [1000, 3000), then the SACKed
     * [3000, 4000) is stepped over. */
    ack_to(c, UNA + 1000);
    assert_int_equal(c->cwnd, 2000);
    assert_int_equal(c->pipe, 0);
    tcp_output(c);
    struct seg_out s[8];
    assert_int_equal(take_segs(f, s, 8), 2);
    assert_int_equal(s[0].seq - UNA, 1000);
    assert_int_equal(s[1].seq - UNA, 2000);
    ack_to(c, UNA + 3000); /* snd_una reaches the SACKed range: cwnd 4000 */
    assert_int_equal(c->cwnd, 4000);
    tcp_output(c);
    assert_int_equal(take_segs(f, s, 8), 4);
    assert_int_equal(s[0].seq - UNA, 4000);
    assert_int_equal(s[1].seq - UNA, 5000);
    assert_int_equal(s[2].seq - UNA, 7000);
    assert_int_equal(s[3].seq - UNA, 8000);
    tcp_conn_free(c);

    /* A second timeout in a row forgets the SACKs (RFC 2018 §8: the receiver may have
     * reneged), keeps ssthresh, and starts again from snd_una. */
    c = conn_make(f, 1000, true, 20000);
    sack_rel(c, 3000, 4000);
    tcp_arm_rexmit(c);
    fx_advance(f, 1 * SEC);
    expect_seg(f, 0, 1000);
    assert_int_equal(c->sacked_count, 1);
    c->ssthresh = 7777;
    fx_advance(f, 2 * SEC);
    assert_int_equal(c->retries, 2);
    assert_int_equal(c->sacked_count, 0);
    assert_int_equal(c->sacked_bytes, 0);
    assert_int_equal(c->ssthresh, 7777);
    assert_int_equal(c->cwnd, 1000);
    expect_seg(f, 0, 1000);
    tcp_conn_free(c);
}

static void test_timeout_during_recovery_ends_it(void **state)
{
    struct fixture *f = *state;
    struct tcp_conn *c = conn_make(f, 1000, false, 20000);
    c->cwnd = 20000;
    dupacks(c, 3);
    expect_seg(f, 0, 1000);
    assert_true(c->in_recovery);
    assert_true(timer_armed(&c->rexmit)); /* the retransmission armed it */
    fx_advance_to(f, c->rexmit.deadline_us);
    assert_false(c->in_recovery);
    assert_int_equal(c->dupacks, 0);
    assert_int_equal(c->cwnd, 1000);
    assert_int_equal(c->snd_nxt, UNA + 1000); /* rewound to snd_una, one segment sent */
    expect_seg(f, 0, 1000);
    tcp_conn_free(c);
}

static void test_idle_longer_than_rto_restarts_from_the_initial_window(void **state)
{
    struct fixture *f = *state;
    struct tcp_conn *c = conn_make(f, 1000, false, 0);
    assert_int_equal(c->rto_us, 1 * SEC);
    c->cwnd = 30000;
    c->ssthresh = 20000;
    /* Idle exactly one RTO: not longer: cwnd stays. */
    c->last_send_us = f->now_us - 1 * SEC;
    tcp_cc_before_send(c);
    assert_int_equal(c->cwnd, 30000);
    /* With data in flight it is not idle, however long since the last send. */
    c->last_send_us = f->now_us - 5 * SEC;
    c->snd_max = c->snd_nxt = UNA + 1;
    tcp_cc_before_send(c);
    assert_int_equal(c->cwnd, 30000);
    c->snd_max = c->snd_nxt = UNA;
    /* Longer: RW = min(IW, cwnd) (RFC 5681 §4.1) = 10000; ssthresh is kept. */
    c->last_send_us = f->now_us - 1 * SEC - 1;
    tcp_cc_before_send(c);
    assert_int_equal(c->cwnd, 10000);
    assert_int_equal(c->ssthresh, 20000);
    /* A cwnd already below IW is not raised. */
    c->cwnd = 5000;
    tcp_cc_before_send(c);
    assert_int_equal(c->cwnd, 5000);

    /* Through tcp_output: 30 segments queued after 2 s idle, cwnd 30000: ten go. */
    c->cwnd = 30000;
    c->last_send_us = f->now_us - 2 * SEC;
    queue(c, 30000);
    tcp_output(c);
    struct seg_out s[40];
    size_t n = take_segs(f, s, 40);
    assert_int_equal(n, 10);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(s[i].seq - UNA, 1000 * i);
        assert_int_equal(s[i].len, 1000);
    }
    assert_int_equal(c->cwnd, 10000);
    tcp_conn_free(c);
}

/* ---- CUBIC (RFC 9438) -------------------------------------------------------------------- */

static void test_cc_find_by_name(void **state)
{
    (void)state;
    const struct tcp_cc_ops *cubic = tcp_cc_find("cubic"), *reno = tcp_cc_find("reno");
    assert_non_null(cubic);
    assert_non_null(reno);
    assert_string_equal(cubic->name, "cubic");
    assert_string_equal(reno->name, "reno");
    assert_ptr_not_equal(cubic, reno);
    assert_null(tcp_cc_find("x"));
    assert_null(tcp_cc_find(""));
    assert_null(tcp_cc_find("CUBIC"));
    assert_null(tcp_cc_find(NULL));
}

static struct tcp_conn *cubic_conn(struct fixture *f, uint32_t flight)
{
    struct tcp_conn *c = conn_make(f, 1000, true, flight);
    c->cc = tcp_cc_find("cubic");
    tcp_cc_init(c);
    assert_string_equal(c->cc->name, "cubic");
    return c;
}

/* One round trip of ACKs in avoidance: cwnd's worth, a segment each, then the clock moves on
 * by the RTT. */
static void cubic_round(struct fixture *f, struct tcp_conn *c, uint64_t rtt_us)
{
    uint32_t acks = c->cwnd / 1000;
    for (uint32_t i = 0; i < acks; i++)
        tcp_cc_ack(c, 1000, c->cwnd);
    fx_advance(f, rtt_us);
}

static void test_cubic_loss_sets_ssthresh_to_0_7_w(void **state)
{
    struct fixture *f = *state;
    struct tcp_conn *c = cubic_conn(f, 100000);
    c->cwnd = 100000;
    dupacks(c, 3);
    /* RFC 9438 §4.6: ssthresh = 0.7 W; W_max = W (§4.7, a first loss). */
    assert_true(c->in_recovery);
    assert_int_equal(c->ssthresh, 70000);
    assert_int_equal(c->cwnd, 70000);
    assert_int_equal(c->cc_state.cubic.w_max, 100000);
    expect_seg(f, 0, 1000);
    ack_to(c, UNA + 100000);
    assert_false(c->in_recovery);
    assert_int_equal(c->cwnd, 70000);
    /* A timeout: 0.7 of cwnd too. */
    sent_more(c, 70000);
    c->retries = 1;
    tcp_cc_timeout(c);
    assert_int_equal(c->ssthresh, 49000);
    assert_int_equal(c->cwnd, 1000);
    tcp_conn_free(c);
}

static void test_cubic_grows_concave_to_w_max_then_convex(void **state)
{
    struct fixture *f = *state;
    struct tcp_conn *c = cubic_conn(f, 100000);
    c->srtt_us = 100 * MS;
    c->cwnd = 100000;
    dupacks(c, 3);
    ack_to(c, UNA + 100000); /* recovery over: cwnd = ssthresh = 70000, W_max = 100000 */
    assert_int_equal(c->cwnd, 70000);
    fx_clear(f);
    /* RFC 9438 §4.2: W(t) = C (t - K)^3 + W_max with C = 0.4 segments/s^3 and
     * K = cbrt((W_max - cwnd) / C) = cbrt(30 / 0.4) = cbrt(75) = 4.217 s.
     * W at a few times (the stack aims one RTT ahead, so cwnd trails W(t + RTT) by about a
     * round): t = 1 s: 100 - 0.4 * 3.217^3 = 86.7 segments; t = 2 s: 95.6; t = 3 s: 99.3;
     * t = 6 s: 102.3; t = 8 s: 121.6. */
    uint32_t w[81];
    w[0] = c->cwnd;
    for (int r = 1; r <= 80; r++) {
        cubic_round(f, c, 100 * MS);
        w[r] = c->cwnd;
    }
    print_message("cubic cwnd by 100 ms round: 1 s %u, 2 s %u, 3 s %u, 4 s %u, 4.2 s %u, "
                  "5 s %u, 6 s %u, 7 s %u, 8 s %u\n",
                  w[10], w[20], w[30], w[40], w[42], w[50], w[60], w[70], w[80]);
    /* Concave: below W_max and growing more slowly each second before K. */
    assert_in_range(w[10], 84000, 89000);
    assert_in_range(w[20], 94000, 97000);
    assert_in_range(w[30], 98000, 100000);
    assert_true(w[40] < 100000);
    assert_true(w[10] - w[0] > w[20] - w[10]);
    assert_true(w[20] - w[10] > w[30] - w[20]);
    assert_true(w[30] - w[20] > w[40] - w[30]);
    /* Convex: above W_max after K, growing faster each second. */
    assert_true(w[60] > 100000);
    assert_in_range(w[60], 101000, 104000);
    assert_in_range(w[80], 119000, 124000);
    assert_true(w[60] - w[50] < w[70] - w[60]);
    assert_true(w[70] - w[60] < w[80] - w[70]);
    /* Never a loss of ground. */
    for (int r = 1; r <= 80; r++)
        assert_true(w[r] >= w[r - 1]);
    tcp_conn_free(c);
}

static void test_cubic_fast_convergence(void **state)
{
    struct fixture *f = *state;
    struct tcp_conn *c = cubic_conn(f, 100000);
    c->cwnd = 100000;
    dupacks(c, 3);
    ack_to(c, UNA + 100000);
    assert_int_equal(c->cc_state.cubic.w_max, 100000);
    /* The next loss comes at 80000, below the last W_max: the flow is giving way to another,
     * so W_max = 80000 * (1 + 0.7) / 2 = 68000 (RFC 9438 §4.7); ssthresh = 0.7 * 80000. */
    c->cwnd = 80000;
    sent_more(c, 80000);
    dupacks(c, 3);
    assert_true(c->in_recovery);
    assert_int_equal(c->cc_state.cubic.w_max, 68000);
    assert_int_equal(c->ssthresh, 56000);
    ack_to(c, c->snd_max);
    /* A loss above the last W_max takes W_max as it is. */
    c->cwnd = 120000;
    sent_more(c, 120000);
    dupacks(c, 3);
    assert_int_equal(c->cc_state.cubic.w_max, 120000);
    assert_int_equal(c->ssthresh, 84000);
    fx_clear(f);
    tcp_conn_free(c);
}

/* ---- Nagle and sender SWS avoidance (RFC 896, RFC 1122 §4.2.3.4) ---------------------- */

static void test_nagle_decision(void **state)
{
    struct fixture *f = *state;
    struct tcp_conn *c = conn_make(f, 1000, false, 0);
    /* A full segment always goes, idle or not. */
    assert_true(tcp_nagle_ok(c, 1000, 5000));
    assert_true(tcp_nagle_ok(c, 1000, 1000));
    c->snd_max = c->snd_nxt = UNA + 500;
    assert_true(tcp_nagle_ok(c, 1000, 5000));
    /* The short tail of what was written: at once when nothing is in flight ... */
    c->snd_max = c->snd_nxt = UNA;
    assert_true(tcp_nagle_ok(c, 100, 100));
    /* ... waits for the ACK while something is, ... */
    c->snd_max = c->snd_nxt = UNA + 500;
    assert_false(tcp_nagle_ok(c, 100, 100));
    /* ... unless TCP_NODELAY. */
    c->nodelay = true;
    assert_true(tcp_nagle_ok(c, 100, 100));
    c->nodelay = false;
    /* Short only because the window is: when idle and at least half the largest window the
     * peer offered (RFC 1122's Fs = 1/2). */
    c->snd_max = c->snd_nxt = UNA;
    c->max_snd_wnd = 600;
    assert_true(tcp_nagle_ok(c, 300, 5000));
    assert_false(tcp_nagle_ok(c, 299, 5000));
    c->snd_max = c->snd_nxt = UNA + 100;
    assert_false(tcp_nagle_ok(c, 300, 5000));
    c->nodelay = true;
    assert_false(tcp_nagle_ok(c, 299, 5000)); /* TCP_NODELAY is no licence for silly windows */
    c->nodelay = false;
    /* The override timer: one segment, whatever it is. */
    c->force_one = true;
    assert_true(tcp_nagle_ok(c, 1, 5000));
    assert_true(tcp_nagle_ok(c, 1, 1));
    c->force_one = false;
    assert_false(tcp_nagle_ok(c, 1, 1));
    tcp_conn_free(c);
}

static void test_nagle_holds_the_tail_in_output(void **state)
{
    struct fixture *f = *state;
    struct tcp_conn *c = conn_make(f, 1000, false, 0);
    queue(c, 2500);
    tcp_output(c);
    /* Two full segments go; the 500-byte tail waits for their ACK. */
    struct seg_out s[8];
    size_t n = take_segs(f, s, 8);
    assert_int_equal(n, 2);
    assert_int_equal(c->snd_max, UNA + 2000);
    ack_to(c, UNA + 2000);
    tcp_output(c);
    expect_seg(f, 2000, 500);
    tcp_conn_free(c);
}

/* The override (persist) timer waits for a window too small to use, with nothing in flight.
 * Once the window opens and data moves, the ACK clock is back: the timer goes. */
static void test_override_timer_stops_when_data_moves(void **state)
{
    struct fixture *f = *state;
    struct tcp_conn *c = conn_make(f, 1000, false, 0);
    c->snd_wnd = 400; /* under half the largest window offered (1 MiB): SWS holds it */
    queue(c, 2500);
    tcp_output(c);
    expect_no_seg(f);
    assert_true(timer_armed(&c->persist));
    c->snd_wnd = 1u << 20;
    tcp_output(c);
    struct seg_out s[8];
    assert_int_equal(take_segs(f, s, 8), 2); /* two full segments; Nagle holds the tail */
    assert_false(timer_armed(&c->persist));
    assert_int_equal(c->persist_backoff, 0);
    tcp_conn_free(c);
}

/* ---- Delayed ACKs (RFC 1122 §4.2.3.2, RFC 5681 §4.2) ------------------------------------ */

static void test_delack_decision(void **state)
{
    struct fixture *f = *state;
    struct tcp_conn *c = conn_make(f, 1000, false, 0);
    c->rcv_seg_max_bytes = 1000;
    c->last_ack_sent = c->rcv_nxt;
    c->rcv_nxt += 1000; /* one full segment unacknowledged: may wait */
    assert_true(tcp_delack_ok(c, false));
    c->quickack = true;
    assert_false(tcp_delack_ok(c, false));
    c->quickack = false;
    assert_false(tcp_delack_ok(c, true)); /* a hole was just filled */
    c->ooo_count = 1;                      /* data held beyond a hole */
    assert_false(tcp_delack_ok(c, false));
    c->ooo_count = 0;
    c->rcv_nxt += 999; /* 1999 bytes: still less than two segments */
    assert_true(tcp_delack_ok(c, false));
    c->rcv_nxt += 1; /* two full segments: ACK now */
    assert_false(tcp_delack_ok(c, false));
    c->rcv_nxt += 1000;
    assert_false(tcp_delack_ok(c, false));
    tcp_conn_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TCP_TEST(test_rto_first_sample),
        TCP_TEST(test_rto_later_samples_use_eighth_and_quarter_gains),
        TCP_TEST(test_rto_is_at_least_the_configured_minimum),
        TCP_TEST(test_rto_variance_term_is_at_least_the_clock_granularity),
        TCP_TEST(test_rto_is_at_most_60_s),
        TCP_TEST(test_zero_rtt_sample_still_counts_as_a_measurement),
        TCP_TEST(test_karn_ack_of_a_timed_segment_gives_a_sample),
        TCP_TEST(test_karn_retransmission_stops_the_timing),
        TCP_TEST(test_karn_timeout_stops_the_timing),
        TCP_TEST(test_backoff_doubles_rto_to_60_s_then_gives_up),
        TCP_TEST(test_backoff_is_capped_from_a_large_base),
        TCP_TEST(test_sack_update_merges_and_keeps_ranges_sorted),
        TCP_TEST(test_sack_update_ignores_invalid_blocks_and_dsack),
        TCP_TEST(test_sack_advance_forgets_what_is_below_snd_una),
        TCP_TEST(test_sack_is_lost_by_bytes_or_ranges_above),
        TCP_TEST(test_sack_pipe_worked_example),
        TCP_TEST(test_sack_next_hole_lost_first_and_above_high_rxt),
        TCP_TEST(test_sack_skip_jumps_over_sacked_ranges),
        TCP_TEST(test_sack_full_scoreboard_drops_the_highest),
        TCP_TEST(test_initial_window_rfc6928),
        TCP_TEST(test_slow_start_grows_by_acked_up_to_two_smss),
        TCP_TEST(test_no_growth_when_the_window_was_not_used),
        TCP_TEST(test_congestion_avoidance_one_smss_per_cwnd_acked),
        TCP_TEST(test_newreno_fast_retransmit_and_recovery),
        TCP_TEST(test_newreno_full_ack_sets_cwnd_to_min_ssthresh_flight_plus_smss),
        TCP_TEST(test_sack_recovery_sets_cwnd_to_ssthresh),
        TCP_TEST(test_sack_loss_enters_recovery_before_three_dupacks),
        TCP_TEST(test_sack_recovery_retransmits_lost_holes_within_pipe),
        TCP_TEST(test_sack_lost_retransmission_is_sent_again),
        TCP_TEST(test_no_new_recovery_before_recover_is_passed),
        TCP_TEST(test_fast_retransmit_still_works_after_2_gib_without_loss),
        TCP_TEST(test_timeout_collapses_cwnd_and_sets_ssthresh_once),
        TCP_TEST(test_timeout_with_sack_keeps_scoreboard_once_and_resends_only_holes),
        TCP_TEST(test_timeout_during_recovery_ends_it),
        TCP_TEST(test_idle_longer_than_rto_restarts_from_the_initial_window),
        TCP_TEST(test_cc_find_by_name),
        TCP_TEST(test_cubic_loss_sets_ssthresh_to_0_7_w),
        TCP_TEST(test_cubic_grows_concave_to_w_max_then_convex),
        TCP_TEST(test_cubic_fast_convergence),
        TCP_TEST(test_nagle_decision),
        TCP_TEST(test_nagle_holds_the_tail_in_output),
        TCP_TEST(test_override_timer_stops_when_data_moves),
        TCP_TEST(test_delack_decision),
    };
    fx_pattern(pat, sizeof(pat), 11);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
