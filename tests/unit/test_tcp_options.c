/* SPDX-License-Identifier: MIT */
/* test_tcp_options.c: what a peer sees of TCP's options and timers: option negotiation on
 * the SYNs, window scaling and timestamps (RFC 7323) with PAWS, SACK blocks (RFC 2018),
 * delayed ACKs (RFC 1122 §4.2.3.2), Nagle (RFC 896) and silly window avoidance on both sides,
 * keepalive (RFC 1122 §4.2.3.6), and the socket options that steer them (TCP_NODELAY,
 * TCP_QUICKACK, TCP_KEEP*, TCP_INFO, TCP_CONGESTION). The test plays the peer, 10.0.0.1; the
 * stack is 10.0.0.2 with its default configuration (4 MiB buffers, every option on). */
#include "tcp_conv.h"

#include <netinet/tcp.h> /* Linux's struct tcp_info and option names: no stack header here */
#include <poll.h>

static uint8_t pat[70000]; /* fx_pattern(11), filled in main */

#define PEER_TS0 1000u        /* the peer's first TSval */
#define BUF_4M (4u << 20)     /* the default receive buffer */
#define OUR_WSCALE 7u         /* the smallest shift that offers 4 MiB: 65535 << 7 >= 4 MiB */
#define SMSS_TS (1460u - 12u) /* a full segment beside the timestamps option */

/* ---- helpers ------------------------------------------------------------------------------ */

/* The peer's SYN offers MSS 1460, SACK-permitted, timestamps (TSval PEER_TS0) and window
 * scale ws; returns our SYN,ACK. */
static struct fx_tcp_view full_syn(struct conv *cv, uint8_t ws)
{
    const uint8_t opts[] = {4, 2, 1, 3, 3, ws};
    cv->ts = true;
    cv->tsval = PEER_TS0;
    cv->tsecr = 0;
    return syn_to_listener_opts(cv, PEER_ISN, 1460, opts, sizeof(opts));
}

/* A passive open with every option (the peer's window scale ws), accepted: cv->s. The final
 * ACK echoes our SYN,ACK's TSval and carries TSval PEER_TS0 + 1. */
static void full_passive_open(struct conv *cv, uint8_t ws)
{
    struct fx_tcp_view syn_ack = full_syn(cv, ws);
    struct tc_opts o = opts_of(&syn_ack);
    assert_true(o.ts);
    cv->tsecr = o.tsval;
    cv->tsval = PEER_TS0 + 1;
    complete_passive_open(cv);
}

static struct tcp_info tcp_info_of(struct tapir_sock *s)
{
    struct tcp_info ti;
    memset(&ti, 0, sizeof(ti));
    socklen_t len = sizeof(ti);
    assert_int_equal(tapir_sock_getopt(s, IPPROTO_TCP, TCP_INFO, &ti, &len), 0);
    assert_int_equal(len, sizeof(ti));
    return ti;
}

static int get_int_opt(struct tapir_sock *s, int level, int name)
{
    int v = -1;
    socklen_t len = sizeof(v);
    assert_int_equal(tapir_sock_getopt(s, level, name, &v, &len), 0);
    assert_int_equal(len, sizeof(v));
    return v;
}

#define OPT_BIT(kind) (1u << (kind))
#define KINDS_MSS OPT_BIT(2)
#define KINDS_WS OPT_BIT(3)
#define KINDS_SACK_PERM OPT_BIT(4)
#define KINDS_SACK OPT_BIT(5)
#define KINDS_TS OPT_BIT(8)

/* ==== Negotiation on the SYNs (RFC 7323 §1.3, §2.2; RFC 2018 §2) ========================= */

static void test_syn_with_every_option_gets_every_option_back(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_listen(f, 0);
    struct fx_tcp_view v = full_syn(&cv, 7);
    struct tc_opts o = opts_of(&v);
    assert_int_equal(o.kinds, KINDS_MSS | KINDS_SACK_PERM | KINDS_TS | KINDS_WS);
    assert_int_equal(o.mss, 1460);
    assert_true(o.sack_permitted);
    assert_true(o.ts);
    assert_int_equal(o.tsecr, PEER_TS0); /* §3.2: the SYN,ACK echoes the SYN's TSval */
    assert_int_equal(o.wscale, OUR_WSCALE);
    assert_int_equal(v.wnd, WMAX); /* §2.2: a SYN's window is never scaled */
    tapir_sock_close(cv.l);
}

static void test_syn_without_options_gets_only_mss(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_listen(f, 0);
    struct fx_tcp_view v = syn_to_listener(&cv, PEER_ISN, -1);
    assert_int_equal(opts_of(&v).kinds, KINDS_MSS);
    assert_int_equal(v.hdr_len, 24);
    complete_passive_open(&cv);
    /* Nothing negotiated: later segments carry no option at all. */
    app_send(cv.s, pat, 100);
    v = out_one(&cv);
    assert_int_equal(v.hdr_len, 20);
    assert_int_equal(v.data_len, 100);
    struct tcp_info ti = tcp_info_of(cv.s);
    assert_int_equal(ti.tcpi_options, 0);
    conv_close(&cv);
}

static void test_syn_with_window_scale_but_no_timestamps_gets_no_timestamps(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_listen(f, 0);
    const uint8_t ws[] = {1, 3, 3, 5};
    struct fx_tcp_view v = syn_to_listener_opts(&cv, PEER_ISN, 1460, ws, sizeof(ws));
    struct tc_opts o = opts_of(&v);
    assert_int_equal(o.kinds, KINDS_MSS | KINDS_WS);
    assert_int_equal(o.wscale, OUR_WSCALE);
    complete_passive_open(&cv);
    app_send(cv.s, pat, 100);
    v = out_one(&cv);
    assert_int_equal(opts_of(&v).kinds, 0); /* no timestamps, and no SACK blocks ever */
    assert_int_equal(v.data_len, 100);
    struct tcp_info ti = tcp_info_of(cv.s);
    assert_int_equal(ti.tcpi_options, TCPI_OPT_WSCALE);
    assert_int_equal(ti.tcpi_snd_wscale, 5);
    assert_int_equal(ti.tcpi_rcv_wscale, OUR_WSCALE);
    conv_close(&cv);
}

/* An active open offers everything (TSecr 0: nothing to echo yet, RFC 7323 §3.2). A SYN,ACK
 * without window scale means no scaling in either direction (§2.2), the rest still agreed. */
static void test_connect_offers_every_option_and_follows_the_syn_ack(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, 5000);
    struct fx_tcp_view v = connect_syn(&cv, 0);
    struct tc_opts o = opts_of(&v);
    assert_int_equal(o.kinds, KINDS_MSS | KINDS_SACK_PERM | KINDS_TS | KINDS_WS);
    assert_int_equal(o.mss, 1460);
    assert_true(o.ts);
    assert_int_equal(o.tsecr, 0);
    assert_int_equal(o.wscale, OUR_WSCALE);
    assert_int_equal(v.wnd, WMAX);
    /* The SYN,ACK: SACK-permitted and timestamps, no window scale. */
    const uint8_t sack_perm[] = {4, 2};
    cv.ts = true;
    cv.tsval = PEER_TS0;
    cv.tsecr = o.tsval;
    cv.irs = PEER_ISN;
    cv.pwnd = 2000;
    seg_in_opts(&cv, FX_TCP_SYN | FX_TCP_ACK, PEER_ISN, cv.iss + 1, 1460, sack_perm,
                sizeof(sack_perm), NULL, 0);
    cv.pseq = PEER_ISN + 1;
    v = out_one(&cv);
    assert_int_equal(v.flags, FX_TCP_ACK);
    assert_int_equal(v.ack, PEER_ISN + 1);
    assert_int_equal(v.wnd, WMAX); /* unscaled: 4 MiB >> 7 would read 32767 */
    o = opts_of(&v);
    assert_int_equal(o.kinds, KINDS_TS);
    assert_int_equal(o.tsecr, PEER_TS0);
    struct tcp_info ti = tcp_info_of(cv.s);
    assert_int_equal(ti.tcpi_options, TCPI_OPT_TIMESTAMPS | TCPI_OPT_SACK);
    /* The peer's windows are bytes as they stand: 2 * 1448 means two full segments (scaled
     * by 2^7 it would let the whole initial window go). */
    cv.tsval++;
    cv.pwnd = 2 * SMSS_TS;
    peer_ack(&cv);
    set_tcp_opt(cv.s, TCP_NODELAY, 1);
    app_send(cv.s, pat, 8000);
    struct fx_tcp_view segs[8];
    size_t n = out_all(&cv, segs, 8, false);
    assert_int_equal(n, 2);
    assert_int_equal(segs[0].data_len, SMSS_TS);
    assert_int_equal(segs[1].data_len, SMSS_TS);
    tapir_sock_close(cv.s);
}

/* ==== Window scaling (RFC 7323 §2) ======================================================== */

/* Once both SYNs carried the option, the peer's window fields are shifted by its scale and
 * ours by our own; the SYNs' windows never are (§2.2). */
static void test_window_fields_are_scaled_after_the_syns(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, 5000);
    struct fx_tcp_view v = connect_syn(&cv, 0);
    assert_int_equal(v.wnd, WMAX); /* our SYN: unscaled, at most 65535 */
    /* The peer's SYN,ACK: window scale 2 and a window field of 730, which is 730 bytes. */
    const uint8_t ws2[] = {1, 3, 3, 2};
    cv.irs = PEER_ISN;
    cv.pwnd = 730;
    seg_in_opts(&cv, FX_TCP_SYN | FX_TCP_ACK, PEER_ISN, cv.iss + 1, 1460, ws2, sizeof(ws2), NULL,
                0);
    cv.pseq = PEER_ISN + 1;
    v = out_one(&cv);
    assert_int_equal(v.flags, FX_TCP_ACK);
    /* Our window from here on is in units of 2^7: the field says the whole buffer. */
    struct tcp_info ti = tcp_info_of(cv.s);
    assert_int_equal(ti.tcpi_rcv_wscale, OUR_WSCALE);
    assert_int_equal(ti.tcpi_snd_wscale, 2);
    assert_int_equal(v.wnd, ti.tcpi_rcv_space >> OUR_WSCALE);
    assert_true((uint32_t)v.wnd << OUR_WSCALE <= BUF_4M);
    assert_true((uint32_t)v.wnd << OUR_WSCALE > BUF_4M - 256);
    /* The sender stops at the SYN,ACK's 730 bytes. */
    set_tcp_opt(cv.s, TCP_NODELAY, 1);
    app_send(cv.s, pat, 6000);
    struct fx_tcp_view segs[8];
    size_t n = out_all(&cv, segs, 8, false);
    assert_int_equal(n, 1);
    assert_int_equal(segs[0].data_len, 730);
    /* The peer takes it; its window field 730 is now 2920 bytes from the ACK: two full
     * segments, and no more. */
    cv.pack = cv.iss + 731;
    peer_send(&cv, FX_TCP_ACK, NULL, 0);
    n = out_all(&cv, segs, 8, false);
    assert_int_equal(n, 2);
    assert_int_equal(segs[0].seq, cv.iss + 731);
    assert_int_equal(segs[0].data_len, 1460);
    assert_int_equal(segs[1].data_len, 1460);
    fx_advance(f, 10000);
    assert_int_equal(out_all(&cv, segs, 8, false), 0);
    tapir_sock_close(cv.s);
}

/* ==== Timestamps (RFC 7323 §3-§4) ========================================================= */

/* Every segment after the SYNs carries the timestamps option; TSval follows our millisecond
 * clock; TSecr is TS.Recent, updated only by a segment at or before Last.ACK.sent (§4.3): so
 * a delayed ACK echoes the earliest segment it covers, an out-of-order segment is not echoed,
 * and the segment that fills the hole is. */
static void test_timestamps_echo_ts_recent_on_every_segment(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_listen(f, 0);
    full_passive_open(&cv, 7);
    uint32_t our_ts0 = cv.tsecr; /* the SYN,ACK's TSval */
    /* Our data: TSecr is the final ACK's TSval. */
    app_send(cv.s, pat, 100);
    struct fx_tcp_view v = out_one(&cv);
    struct tc_opts o = opts_of(&v);
    assert_int_equal(o.kinds, KINDS_TS);
    assert_int_equal(o.tsval, our_ts0); /* the clock has not moved */
    assert_int_equal(o.tsecr, PEER_TS0 + 1);
    cv.pack = cv.iss + 101;
    peer_ack(&cv);
    /* Two full segments, 250 ms later: one ACK for both, echoing the first. */
    fx_advance(f, 250000);
    cv.tsval = 2000;
    peer_send(&cv, FX_TCP_ACK, pat, SMSS_TS);
    fx_expect_none(f);
    cv.tsval = 2001;
    peer_send(&cv, FX_TCP_ACK, pat + SMSS_TS, SMSS_TS);
    v = out_one(&cv);
    assert_int_equal(v.ack, cv.pseq);
    o = opts_of(&v);
    assert_true(o.ts);
    assert_int_equal(o.tsval, our_ts0 + 250); /* milliseconds (§5.4) */
    assert_int_equal(o.tsecr, 2000);
    /* Out of order (a segment lost before it): the ACK still echoes 2000. */
    uint32_t hole = cv.pseq;
    cv.tsval = 3000;
    seg_in(&cv, FX_TCP_ACK, hole + SMSS_TS, cv.pack, -1, pat, SMSS_TS);
    v = out_one(&cv);
    assert_int_equal(v.ack, hole);
    assert_int_equal(opts_of(&v).tsecr, 2000);
    /* The hole filled: its segment is the one echoed. */
    cv.tsval = 3001;
    seg_in(&cv, FX_TCP_ACK, hole, cv.pack, -1, pat, SMSS_TS);
    v = out_one(&cv);
    assert_int_equal(v.ack, hole + 2 * SMSS_TS);
    assert_int_equal(opts_of(&v).tsecr, 3001);
    /* Our data carries them too. (Reading sends no window update here: a 4 MiB window
     * barely dented is not worth one, tcp_window_update.) */
    fx_advance(f, 5000);
    uint8_t rd[4 * SMSS_TS + 1];
    assert_int_equal(tapir_sock_recvfrom(cv.s, rd, sizeof(rd), 0, NULL, NULL), 4 * SMSS_TS);
    fx_expect_none(f);
    app_send(cv.s, pat, 10);
    v = out_one(&cv);
    assert_int_equal(v.flags, FX_TCP_ACK | FX_TCP_PSH);
    assert_int_equal(v.ack, hole + 2 * SMSS_TS);
    o = opts_of(&v);
    assert_int_equal(o.kinds, KINDS_TS);
    assert_int_equal(o.tsval, our_ts0 + 255);
    assert_int_equal(o.tsecr, 3001);
    conv_close(&cv);
}

/* RFC 7323 §4.1 and RFC 6298 §2: an ACK's TSecr gives the round trip (now less the echoed
 * TSval), even when the ACK came sooner after the data than that. */
static void test_rtt_is_measured_from_the_echoed_timestamp(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_listen(f, 0);
    struct fx_tcp_view syn_ack = full_syn(&cv, 7);
    uint32_t syn_ack_ts = opts_of(&syn_ack).tsval;
    fx_advance(f, 100000);
    cv.tsecr = syn_ack_ts;
    cv.tsval = PEER_TS0 + 1;
    complete_passive_open(&cv);
    struct tcp_info ti = tcp_info_of(cv.s);
    assert_int_equal(ti.tcpi_rtt, 100000);   /* SRTT = R */
    assert_int_equal(ti.tcpi_rttvar, 50000); /* RTTVAR = R / 2 */
    assert_int_equal(ti.tcpi_rto, 300000);   /* SRTT + 4 RTTVAR */
    /* Data, acknowledged 20 ms later by an ACK that echoes the SYN,ACK's TSval: 120 ms. */
    app_send(cv.s, pat, 100);
    out_one(&cv);
    fx_advance(f, 20000);
    cv.pack = cv.iss + 101;
    peer_ack(&cv);
    ti = tcp_info_of(cv.s);
    assert_int_equal(ti.tcpi_rtt, 102500); /* 7/8 100 + 1/8 120 (20 ms would make it 90) */
    conv_close(&cv);
}

/* A round trip under the timestamp clock's 1 ms tick (over a TAP it is tens of
 * microseconds): the echo reads 0 ms, and the timed segment gives the microseconds. */
static void test_sub_millisecond_rtt_is_measured_in_microseconds(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_listen(f, 0);
    struct fx_tcp_view syn_ack = full_syn(&cv, 7);
    fx_advance(f, 300);
    cv.tsecr = opts_of(&syn_ack).tsval;
    cv.tsval = PEER_TS0 + 1;
    complete_passive_open(&cv);
    struct tcp_info ti = tcp_info_of(cv.s);
    assert_int_equal(ti.tcpi_rtt, 300);
    assert_int_equal(ti.tcpi_rttvar, 150);
    /* Data, acknowledged 80 us later (an echo of 0 ms again): the timed segment, 80 us. */
    app_send(cv.s, pat, 100);
    struct fx_tcp_view v = out_one(&cv);
    fx_advance(f, 80);
    cv.tsecr = opts_of(&v).tsval;
    cv.pack = cv.iss + 101;
    peer_ack(&cv);
    ti = tcp_info_of(cv.s);
    assert_int_equal(ti.tcpi_rtt, (7 * 300 + 80) / 8);
    conv_close(&cv);
}

/* RFC 7323 §5.3 R1: a segment whose TSval is older than TS.Recent (modulo 2^32) is an old
 * duplicate: dropped, answered with an ACK, counted. */
static void test_paws_drops_a_segment_with_an_old_timestamp(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_listen(f, 0);
    full_passive_open(&cv, 7);
    uint32_t rcv_nxt = cv.pseq;
    cv.tsval = PEER_TS0; /* older than TS.Recent (PEER_TS0 + 1), in the window */
    seg_in(&cv, FX_TCP_ACK | FX_TCP_PSH, rcv_nxt, cv.pack, -1, pat, 100);
    struct fx_tcp_view v = out_one(&cv);
    assert_int_equal(v.flags, FX_TCP_ACK);
    assert_int_equal(v.seq, cv.iss + 1);
    assert_int_equal(v.ack, rcv_nxt); /* not taken */
    assert_int_equal(v.data_len, 0);
    assert_int_equal(opts_of(&v).tsecr, PEER_TS0 + 1);
    assert_int_equal(tcps(f)->drop_paws, 1);
    assert_int_equal(tcps(f)->rx_bytes, 0);
    expect_nothing_to_read(cv.s);
    /* The same bytes with a current TSval are taken. */
    cv.tsval = PEER_TS0 + 2;
    seg_in(&cv, FX_TCP_ACK | FX_TCP_PSH, rcv_nxt, cv.pack, -1, pat, 100);
    expect_delayed_ack(&cv, cv.iss + 1, rcv_nxt + 100);
    expect_read(cv.s, pat, 100);
    cv.pseq = rcv_nxt + 100;
    assert_int_equal(tcps(f)->drop_paws, 1);
    /* Timestamps compare modulo 2^32: the peer's clock runs on through the wrap (in steps
     * under 2^31, each acknowledged at once so each becomes TS.Recent), and then 0xfffffff8
     * is older than 0x10. */
    set_tcp_opt(cv.s, TCP_QUICKACK, 1);
    const uint32_t steps[] = {0x70000000u, 0xe0000000u, 0x10u};
    for (unsigned i = 0; i < 3; i++) {
        cv.tsval = steps[i];
        peer_send(&cv, FX_TCP_ACK, pat + 100 + 10 * i, 10);
        expect_ack(&cv, cv.iss + 1, cv.pseq);
    }
    cv.tsval = 0xfffffff8u;
    seg_in(&cv, FX_TCP_ACK, cv.pseq, cv.pack, -1, pat + 130, 10);
    expect_ack(&cv, cv.iss + 1, cv.pseq);
    assert_int_equal(tcps(f)->drop_paws, 2);
    expect_read(cv.s, pat + 100, 30);
    conv_close(&cv);
}

/* ==== SACK blocks (RFC 2018 §4) =========================================================== */

static void expect_sack(const struct tc_opts *o, unsigned i, uint32_t start, uint32_t end)
{
    assert_true(i < o->sack_count);
    if (o->sack[i][0] != start || o->sack[i][1] != end)
        fail_msg("SACK block %u is [+%u, +%u), want [+%u, +%u)", i, o->sack[i][0] - PEER_ISN,
                 o->sack[i][1] - PEER_ISN, start - PEER_ISN, end - PEER_ISN);
}

/* Out-of-order data is acknowledged at once, with SACK blocks: the first holds the segment
 * that just arrived, the rest repeat the most recent ones; three fit beside timestamps. */
static void test_out_of_order_data_draws_sack_blocks_newest_first(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_listen(f, 0);
    full_passive_open(&cv, 7);
    uint32_t b = cv.pseq; /* rcv_nxt: the hole is [b, b + 200) */
    const uint32_t at[] = {200, 400, 600, 800};
    for (unsigned i = 0; i < 4; i++) {
        seg_in(&cv, FX_TCP_ACK, b + at[i], cv.pack, -1, pat + at[i], 100);
        struct fx_tcp_view v = out_one(&cv); /* at once: no delayed-ACK timer */
        assert_int_equal(v.flags, FX_TCP_ACK);
        assert_int_equal(v.ack, b);
        struct tc_opts o = opts_of(&v);
        assert_int_equal(o.kinds, KINDS_TS | KINDS_SACK);
        assert_int_equal(o.sack_count, i + 1 < 3 ? i + 1 : 3);
        for (unsigned k = 0; k < o.sack_count; k++)
            expect_sack(&o, k, b + at[i - k], b + at[i - k] + 100);
    }
    assert_int_equal(tcps(f)->rx_out_of_order, 4);
    /* [300, 400) joins the oldest two: the block that holds it comes first. */
    seg_in(&cv, FX_TCP_ACK, b + 300, cv.pack, -1, pat + 300, 100);
    struct fx_tcp_view v = out_one(&cv);
    struct tc_opts o = opts_of(&v);
    assert_int_equal(o.sack_count, 3);
    expect_sack(&o, 0, b + 200, b + 500);
    expect_sack(&o, 1, b + 800, b + 900);
    expect_sack(&o, 2, b + 600, b + 700);
    /* The hole filled: ACK at once up to 500, the two ranges above still reported. */
    seg_in(&cv, FX_TCP_ACK, b, cv.pack, -1, pat, 200);
    v = out_one(&cv);
    assert_int_equal(v.ack, b + 500);
    o = opts_of(&v);
    assert_int_equal(o.sack_count, 2);
    bool first_is_800 = o.sack[0][0] == b + 800;
    expect_sack(&o, first_is_800 ? 0 : 1, b + 800, b + 900);
    expect_sack(&o, first_is_800 ? 1 : 0, b + 600, b + 700);
    expect_read(cv.s, pat, 500);
    conv_close(&cv);
}

/* ==== Delayed ACKs (RFC 1122 §4.2.3.2, RFC 5681 §4.2) ===================================== */

static void test_one_full_segment_is_acked_after_the_delack_time(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_accepted(f, 0);
    peer_send(&cv, FX_TCP_ACK, pat, 1460);
    assert_int_equal(tcps(f)->rx_bytes, 1460);    /* delivered at once, acknowledged later */
    expect_delayed_ack(&cv, cv.iss + 1, cv.pseq); /* exactly cfg.tcp_delack_us, one ACK */
    assert_int_equal(f->cfg.tcp_delack_us, 40000);
    fx_run_until(f, f->now_us + 1000000);
    fx_expect_none(f);
    assert_int_equal(tcps(f)->delayed_acks, 1);
    conv_close(&cv);
}

static void test_second_full_segment_is_acked_at_once(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_accepted(f, 0);
    peer_send(&cv, FX_TCP_ACK, pat, 1460);
    fx_advance(f, 10000);
    fx_expect_none(f);
    peer_send(&cv, FX_TCP_ACK, pat + 1460, 1460);
    expect_ack(&cv, cv.iss + 1, cv.pseq);
    fx_run_until(f, f->now_us + 1000000); /* the timer went with the ACK */
    fx_expect_none(f);
    assert_int_equal(tcps(f)->delayed_acks, 0);
    conv_close(&cv);
}

static void test_quickack_acknowledges_every_segment_at_once(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_accepted(f, 0);
    set_tcp_opt(cv.s, TCP_QUICKACK, 1);
    assert_int_equal(get_int_opt(cv.s, IPPROTO_TCP, TCP_QUICKACK), 1);
    peer_send(&cv, FX_TCP_ACK, pat, 100);
    expect_ack(&cv, cv.iss + 1, cv.pseq);
    peer_send(&cv, FX_TCP_ACK, pat + 100, 1460);
    expect_ack(&cv, cv.iss + 1, cv.pseq);
    assert_int_equal(tcps(f)->delayed_acks, 0);
    /* Set while an ACK waits, it sends that ACK now (as Linux). */
    set_tcp_opt(cv.s, TCP_QUICKACK, 0);
    peer_send(&cv, FX_TCP_ACK, pat + 1560, 100);
    fx_expect_none(f);
    set_tcp_opt(cv.s, TCP_QUICKACK, 1);
    expect_ack(&cv, cv.iss + 1, cv.pseq);
    conv_close(&cv);
}

/* ==== Nagle (RFC 896, RFC 1122 §4.2.3.4) ================================================== */

static void test_nagle_holds_a_short_write_until_the_ack(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_accepted(f, 0);
    assert_int_equal(get_int_opt(cv.s, IPPROTO_TCP, TCP_NODELAY), 0);
    app_send(cv.s, pat, 100); /* nothing in flight: it goes */
    struct fx_tcp_view v = out_one(&cv);
    assert_int_equal(v.data_len, 100);
    app_send(cv.s, pat + 100, 50); /* 100 bytes in flight: it waits */
    fx_advance(f, 100000);
    fx_expect_none(f);
    cv.pack = cv.iss + 101;
    peer_send(&cv, FX_TCP_ACK, NULL, 0);
    v = out_one(&cv);
    assert_int_equal(v.seq, cv.iss + 101);
    assert_int_equal(v.data_len, 50);
    assert_memory_equal(v.data, pat + 100, 50);
    conv_close(&cv);
}

static void test_nodelay_sends_a_short_write_at_once(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_accepted(f, 0);
    app_send(cv.s, pat, 100);
    out_one(&cv);
    app_send(cv.s, pat + 100, 50);
    fx_expect_none(f);
    set_tcp_opt(cv.s, TCP_NODELAY, 1); /* what Nagle held goes now (as Linux) */
    struct fx_tcp_view v = out_one(&cv);
    assert_int_equal(v.seq, cv.iss + 101);
    assert_int_equal(v.data_len, 50);
    assert_int_equal(get_int_opt(cv.s, IPPROTO_TCP, TCP_NODELAY), 1);
    app_send(cv.s, pat + 150, 10); /* 150 bytes in flight: goes anyway */
    v = out_one(&cv);
    assert_int_equal(v.seq, cv.iss + 151);
    assert_int_equal(v.data_len, 10);
    conv_close(&cv);
}

static void test_full_segment_goes_with_data_in_flight(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_accepted(f, 0);
    app_send(cv.s, pat, 100);
    out_one(&cv);
    app_send(cv.s, pat + 100, 1460);
    struct fx_tcp_view v = out_one(&cv);
    assert_int_equal(v.seq, cv.iss + 101);
    assert_int_equal(v.data_len, 1460);
    /* A write of a segment and a bit: the segment goes, the bit waits. */
    app_send(cv.s, pat + 1560, 1500);
    v = out_one(&cv);
    assert_int_equal(v.seq, cv.iss + 1561);
    assert_int_equal(v.data_len, 1460);
    conv_close(&cv);
}

/* ==== Receiver SWS avoidance (RFC 1122 §4.2.3.3) ========================================== */

/* A 4000-byte buffer: the window reopens only in steps of min(MSS, buffer / 2) = 1460. */
static void test_window_update_waits_for_a_full_segment_of_room(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_accepted(f, 4000);
    uint32_t b = cv.pseq;
    peer_send(&cv, FX_TCP_ACK, pat, 1000);
    peer_send(&cv, FX_TCP_ACK, pat + 1000, 1000);
    assert_int_equal(expect_ack(&cv, cv.iss + 1, b + 2000), 2000);
    peer_send(&cv, FX_TCP_ACK, pat + 2000, 1000);
    peer_send(&cv, FX_TCP_ACK, pat + 3000, 1000);
    assert_int_equal(expect_ack(&cv, cv.iss + 1, b + 4000), 0);
    uint8_t rd[4000];
    assert_int_equal(tapir_sock_recvfrom(cv.s, rd, 1000, 0, NULL, NULL), 1000);
    fx_expect_none(f);
    assert_int_equal(tapir_sock_recvfrom(cv.s, rd + 1000, 459, 0, NULL, NULL), 459);
    fx_expect_none(f); /* 1459 free: one short of a segment */
    assert_int_equal(tapir_sock_recvfrom(cv.s, rd + 1459, 1, 0, NULL, NULL), 1);
    assert_int_equal(expect_ack(&cv, cv.iss + 1, b + 4000), 1460);
    assert_int_equal(tapir_sock_recvfrom(cv.s, rd + 1460, 1000, 0, NULL, NULL), 1000);
    fx_expect_none(f); /* 2460 free, 1460 offered: less than a segment more */
    assert_int_equal(tapir_sock_recvfrom(cv.s, rd + 2460, 1540, 0, NULL, NULL), 1540);
    assert_int_equal(expect_ack(&cv, cv.iss + 1, b + 4000), 4000);
    assert_memory_equal(rd, pat, 4000);
    conv_close(&cv);
}

/* ==== Keepalive (RFC 1122 §4.2.3.6) ======================================================= */

static void expect_keepalive_probe(struct conv *cv)
{
    struct fx_tcp_view v = out_one(cv);
    assert_int_equal(v.flags, FX_TCP_ACK);
    assert_int_equal(v.seq, cv->iss); /* SND.UNA - 1: the peer must answer it */
    assert_int_equal(v.ack, cv->pseq);
    assert_int_equal(v.data_len, 0);
}

/* SO_KEEPALIVE with TCP_KEEPIDLE 10, TCP_KEEPINTVL 2, TCP_KEEPCNT 3: the first probe after
 * 10 s of silence, then one every 2 s; an answer starts the idle time again; three probes
 * unanswered end the connection with ETIMEDOUT. */
static void test_keepalive_probes_an_idle_connection_then_gives_up(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_accepted(f, 0);
    set_sock_opt(cv.s, SO_KEEPALIVE, 1);
    set_tcp_opt(cv.s, TCP_KEEPIDLE, 10);
    set_tcp_opt(cv.s, TCP_KEEPINTVL, 2);
    set_tcp_opt(cv.s, TCP_KEEPCNT, 3);
    assert_int_equal(get_int_opt(cv.s, SOL_SOCKET, SO_KEEPALIVE), 1);
    assert_int_equal(get_int_opt(cv.s, IPPROTO_TCP, TCP_KEEPIDLE), 10);
    assert_int_equal(get_int_opt(cv.s, IPPROTO_TCP, TCP_KEEPINTVL), 2);
    assert_int_equal(get_int_opt(cv.s, IPPROTO_TCP, TCP_KEEPCNT), 3);
    fx_advance(f, 10000000 - 1);
    fx_expect_none(f);
    fx_advance(f, 1);
    expect_keepalive_probe(&cv);
    assert_int_equal(tcps(f)->keepalive_probes, 1);
    /* Answered: the peer is there. The next probe comes after a full idle time. */
    peer_ack(&cv);
    fx_advance(f, 10000000 - 1);
    fx_expect_none(f);
    fx_advance(f, 1);
    expect_keepalive_probe(&cv);
    for (int i = 0; i < 2; i++) {
        fx_advance(f, 2000000 - 1);
        fx_expect_none(f);
        fx_advance(f, 1);
        expect_keepalive_probe(&cv);
    }
    assert_int_equal(tcps(f)->keepalive_probes, 4);
    assert_string_equal(state_of(&cv), "ESTABLISHED");
    fx_advance(f, 2000000); /* the third unanswered probe's interval is up */
    fx_expect_none(f);
    assert_string_equal(state_of(&cv), "CLOSED");
    assert_int_equal(tcps(f)->keepalive_timeouts, 1);
    assert_true(tapir_sock_events(cv.s) & POLLERR);
    uint8_t rd[10];
    assert_int_equal(tapir_sock_recvfrom(cv.s, rd, sizeof(rd), 0, NULL, NULL), -ETIMEDOUT);
    conv_close(&cv);
}

/* Without SO_KEEPALIVE an idle connection stays silent (and up) for hours. */
static void test_no_keepalive_without_so_keepalive(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_accepted(f, 0);
    set_tcp_opt(cv.s, TCP_KEEPIDLE, 10);
    assert_int_equal(get_int_opt(cv.s, SOL_SOCKET, SO_KEEPALIVE), 0);
    fx_run_until(f, f->now_us + 3ull * 3600 * 1000000);
    fx_expect_none(f);
    assert_string_equal(state_of(&cv), "ESTABLISHED");
    assert_int_equal(tcps(f)->keepalive_probes, 0);
    conv_close(&cv);
}

/* Linux's defaults (2 h, 75 s, 9) and bounds (1..32767 s, 1..127 probes). */
static void test_keepalive_options_defaults_and_bad_values(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *s;
    assert_int_equal(tapir_sock_open(f->st, SOCK_STREAM, 0, &s), 0);
    assert_int_equal(get_int_opt(s, IPPROTO_TCP, TCP_KEEPIDLE), 7200);
    assert_int_equal(get_int_opt(s, IPPROTO_TCP, TCP_KEEPINTVL), 75);
    assert_int_equal(get_int_opt(s, IPPROTO_TCP, TCP_KEEPCNT), 9);
    const int names[] = {TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT};
    const int bad[] = {0, -1, 40000};
    for (size_t i = 0; i < 3; i++) {
        for (size_t k = 0; k < 3; k++)
            assert_int_equal(tapir_sock_setopt(s, IPPROTO_TCP, names[i], &bad[k], sizeof(int)),
                             -EINVAL);
    }
    assert_int_equal(get_int_opt(s, IPPROTO_TCP, TCP_KEEPIDLE), 7200); /* unchanged */
    assert_int_equal(get_int_opt(s, IPPROTO_TCP, TCP_KEEPCNT), 9);
    set_tcp_opt(s, TCP_KEEPIDLE, 32767);
    set_tcp_opt(s, TCP_KEEPCNT, 127);
    assert_int_equal(get_int_opt(s, IPPROTO_TCP, TCP_KEEPIDLE), 32767);
    assert_int_equal(get_int_opt(s, IPPROTO_TCP, TCP_KEEPCNT), 127);
    tapir_sock_close(s);
}

/* ==== TCP_INFO and TCP_CONGESTION ========================================================= */

/* Linux's struct tcp_info, Linux's numbering and units. */
static void test_tcp_info_after_the_handshake(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_listen(f, 0);
    full_passive_open(&cv, 7);
    struct tcp_info ti = tcp_info_of(cv.s);
    assert_int_equal(ti.tcpi_state, TCP_ESTABLISHED); /* 1, as Linux numbers it */
    assert_int_equal(ti.tcpi_options, TCPI_OPT_TIMESTAMPS | TCPI_OPT_SACK | TCPI_OPT_WSCALE);
    assert_int_equal(ti.tcpi_snd_wscale, 7);
    assert_int_equal(ti.tcpi_rcv_wscale, OUR_WSCALE);
    assert_true(ti.tcpi_rto >= 200000);
    assert_int_equal(ti.tcpi_retransmits, 0);
    /* Without timestamps a segment is the whole MSS: 10 of them in the initial window. */
    struct conv cv2 = conv_new(f, RPORT + 1);
    cv2.l = cv.l;
    passive_open(&cv2, PEER_ISN, 1460);
    ti = tcp_info_of(cv2.s);
    assert_int_equal(ti.tcpi_state, TCP_ESTABLISHED);
    assert_int_equal(ti.tcpi_options, 0);
    assert_int_equal(ti.tcpi_snd_mss, 1460);
    assert_int_equal(ti.tcpi_snd_cwnd, 10); /* RFC 6928 */
    assert_true(ti.tcpi_rto >= 200000);
    tapir_sock_close(cv2.s);
    conv_close(&cv);
}

/* With timestamps a full segment is 1448 bytes, and the initial window ten of those (RFC
 * 6928): Linux reports tcpi_snd_mss 1448 and tcpi_snd_cwnd 10, in segments of that size. */
static void test_tcp_info_cwnd_counts_segments_with_timestamps(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_listen(f, 0);
    full_passive_open(&cv, 7);
    struct tcp_info ti = tcp_info_of(cv.s);
    assert_int_equal(ti.tcpi_snd_cwnd, 10);
    assert_int_equal(ti.tcpi_snd_mss, SMSS_TS);
    conv_close(&cv);
}

static void test_tcp_congestion_selects_and_reads_back(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_accepted(f, 0);
    char name[16] = {0};
    socklen_t len = sizeof(name);
    assert_int_equal(tapir_sock_getopt(cv.s, IPPROTO_TCP, TCP_CONGESTION, name, &len), 0);
    assert_string_equal(name, "reno");
    assert_int_equal(tapir_sock_setopt(cv.s, IPPROTO_TCP, TCP_CONGESTION, "cubic", 5), 0);
    memset(name, 0, sizeof(name));
    len = sizeof(name);
    assert_int_equal(tapir_sock_getopt(cv.s, IPPROTO_TCP, TCP_CONGESTION, name, &len), 0);
    assert_string_equal(name, "cubic");
    assert_int_equal(tapir_sock_setopt(cv.s, IPPROTO_TCP, TCP_CONGESTION, "bogus", 5), -ENOENT);
    memset(name, 0, sizeof(name));
    len = sizeof(name);
    assert_int_equal(tapir_sock_getopt(cv.s, IPPROTO_TCP, TCP_CONGESTION, name, &len), 0);
    assert_string_equal(name, "cubic"); /* unchanged by the failed call */
    conv_close(&cv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TCP_TEST(test_syn_with_every_option_gets_every_option_back),
        TCP_TEST(test_syn_without_options_gets_only_mss),
        TCP_TEST(test_syn_with_window_scale_but_no_timestamps_gets_no_timestamps),
        TCP_TEST(test_connect_offers_every_option_and_follows_the_syn_ack),
        TCP_TEST(test_window_fields_are_scaled_after_the_syns),
        TCP_TEST(test_timestamps_echo_ts_recent_on_every_segment),
        TCP_TEST(test_rtt_is_measured_from_the_echoed_timestamp),
        TCP_TEST(test_sub_millisecond_rtt_is_measured_in_microseconds),
        TCP_TEST(test_paws_drops_a_segment_with_an_old_timestamp),
        TCP_TEST(test_out_of_order_data_draws_sack_blocks_newest_first),
        TCP_TEST(test_one_full_segment_is_acked_after_the_delack_time),
        TCP_TEST(test_second_full_segment_is_acked_at_once),
        TCP_TEST(test_quickack_acknowledges_every_segment_at_once),
        TCP_TEST(test_nagle_holds_a_short_write_until_the_ack),
        TCP_TEST(test_nodelay_sends_a_short_write_at_once),
        TCP_TEST(test_full_segment_goes_with_data_in_flight),
        TCP_TEST(test_window_update_waits_for_a_full_segment_of_room),
        TCP_TEST(test_keepalive_probes_an_idle_connection_then_gives_up),
        TCP_TEST(test_no_keepalive_without_so_keepalive),
        TCP_TEST(test_keepalive_options_defaults_and_bad_values),
        TCP_TEST(test_tcp_info_after_the_handshake),
        TCP_TEST(test_tcp_info_cwnd_counts_segments_with_timestamps),
        TCP_TEST(test_tcp_congestion_selects_and_reads_back),
    };
    fx_pattern(pat, sizeof(pat), 11);
    return cmocka_run_group_tests_name("tcp options", tests, NULL, NULL);
}
