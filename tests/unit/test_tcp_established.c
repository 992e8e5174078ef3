/* SPDX-License-Identifier: MIT */
/* test_tcp_established.c: TCP segment arrival in the synchronized states, RFC 9293 §3.10.7.4
 * steps first to seventh: the sequence check, RFC 5961's hardening of the RST, SYN and ACK
 * steps (exact-match resets, challenge ACKs and their rate limit), then the text: in-order,
 * out-of-order, overlapping, duplicate and out-of-window data, the receive window, and the
 * send window's update rule. Each test plays the peer, 10.0.0.1, with crafted segments
 * (tcp_conv.c), and checks exactly what the stack (10.0.0.2) sends back and the counters. */
#include "fixture.h"

#include <poll.h>
#include <sys/socket.h>

#include "tapir/sock.h"
#include "tcp.h"
#include "tcp_conv.h"

static uint8_t pat[70000]; /* fx_pattern(7), filled in main */
static uint8_t buf[70000];

/* ==== Synchronized states: the sequence check (first) ==================================== */

static void test_unacceptable_segment_draws_ack_and_is_dropped(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_accepted(f, 0);
    uint32_t rcv_nxt = cv.pseq, snd_nxt = cv.iss + 1;
    /* Beyond the window (RCV.NXT + 65535 is the first byte outside). */
    seg_in(&cv, FX_TCP_ACK, rcv_nxt + WMAX, cv.pack, -1, pat, 10);
    expect_ack(&cv, snd_nxt, rcv_nxt);
    /* Entirely before RCV.NXT. */
    seg_in(&cv, FX_TCP_ACK, rcv_nxt - 100, cv.pack, -1, pat, 50);
    expect_ack(&cv, snd_nxt, rcv_nxt);
    /* An empty segment just left of the window. */
    seg_in(&cv, FX_TCP_ACK, rcv_nxt - 1, cv.pack, -1, NULL, 0);
    expect_ack(&cv, snd_nxt, rcv_nxt);
    assert_int_equal(tcps(f)->drop_out_of_window, 3);
    expect_nothing_to_read(cv.s);
    assert_int_equal(tcps(f)->rx_bytes, 0);
    expect_state(&cv, TCP_ESTABLISHED);
    /* The last byte inside the window is acceptable. */
    seg_in(&cv, FX_TCP_ACK, rcv_nxt + WMAX - 1, cv.pack, -1, pat, 1);
    expect_ack(&cv, snd_nxt, rcv_nxt);
    assert_int_equal(tcps(f)->drop_out_of_window, 3);
    assert_int_equal(tcps(f)->rx_out_of_order, 1);
    conv_close(&cv);
}

/* ==== RST (second), RFC 5961 §3 ========================================================== */

static void test_rst_exactly_at_rcv_nxt_resets(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_accepted(f, 0);
    seg_in(&cv, FX_TCP_RST, cv.pseq, 0, -1, NULL, 0);
    fx_expect_none(f);
    expect_state(&cv, TCP_CLOSED);
    assert_int_equal(tcps(f)->rx_resets, 1);
    short ev = tapir_sock_events(cv.s);
    assert_true(ev & POLLERR);
    assert_true(ev & POLLHUP);
    assert_int_equal(tapir_sock_recvfrom(cv.s, buf, 10, 0, NULL, NULL), -ECONNRESET);
    assert_int_equal(tapir_sock_sendto(cv.s, "x", 1, 0, NULL), -EPIPE);
    tapir_sock_close(cv.s);
    /* RST,ACK from the peer of an active open works the same. */
    struct conv cv2 = conv_new(f, 5000);
    active_open(&cv2, PEER_ISN);
    seg_in(&cv2, FX_TCP_RST | FX_TCP_ACK, cv2.pseq, cv2.pack, -1, NULL, 0);
    fx_expect_none(f);
    expect_state(&cv2, TCP_CLOSED);
    assert_int_equal(tapir_sock_sendto(cv2.s, "x", 1, 0, NULL), -ECONNRESET);
    tapir_sock_close(cv2.s);
    tapir_sock_close(cv.l);
}

static void test_rst_in_window_but_not_exact_draws_challenge_ack(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_accepted(f, 0);
    seg_in(&cv, FX_TCP_RST, cv.pseq + 1, 0, -1, NULL, 0);
    expect_ack(&cv, cv.iss + 1, cv.pseq); /* <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> */
    seg_in(&cv, FX_TCP_RST | FX_TCP_ACK, cv.pseq + WMAX - 1, cv.pack, -1, NULL, 0);
    expect_ack(&cv, cv.iss + 1, cv.pseq);
    assert_int_equal(tcps(f)->challenge_acks, 2);
    assert_int_equal(tcps(f)->rx_resets, 0);
    expect_state(&cv, TCP_ESTABLISHED);
    expect_nothing_to_read(cv.s);
    /* The peer, really reset, answers the challenge with an exact RST. */
    seg_in(&cv, FX_TCP_RST, cv.pseq, 0, -1, NULL, 0);
    expect_state(&cv, TCP_CLOSED);
    conv_close(&cv);
}

static void test_rst_outside_window_is_ignored(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_accepted(f, 0);
    seg_in(&cv, FX_TCP_RST, cv.pseq + WMAX, 0, -1, NULL, 0);
    seg_in(&cv, FX_TCP_RST, cv.pseq - 1, 0, -1, NULL, 0);
    seg_in(&cv, FX_TCP_RST | FX_TCP_ACK, cv.pseq + 0x80000000u, cv.pack, -1, NULL, 0);
    fx_expect_none(f);
    expect_state(&cv, TCP_ESTABLISHED);
    assert_int_equal(tcps(f)->challenge_acks, 0);
    assert_int_equal(tcps(f)->rx_resets, 0);
    assert_int_equal(tcps(f)->drop_out_of_window, 3);
    conv_close(&cv);
}

/* ==== SYN (fourth), RFC 5961 §4 ========================================================== */

static void test_syn_in_established_draws_challenge_ack_not_reset(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_accepted(f, 0);
    seg_in(&cv, FX_TCP_SYN, cv.pseq, 0, 1460, NULL, 0); /* in the window */
    expect_ack(&cv, cv.iss + 1, cv.pseq);
    assert_int_equal(tcps(f)->rx_syn_in_window, 1);
    assert_int_equal(tcps(f)->challenge_acks, 1);
    seg_in(&cv, FX_TCP_SYN | FX_TCP_ACK, cv.pseq + 100, cv.pack, -1, pat, 10);
    expect_ack(&cv, cv.iss + 1, cv.pseq);
    /* "Irrespective of the sequence number": an old SYN too. */
    seg_in(&cv, FX_TCP_SYN, PEER_ISN, 0, 1460, NULL, 0);
    expect_ack(&cv, cv.iss + 1, cv.pseq);
    seg_in(&cv, FX_TCP_SYN, cv.pseq + 200000, 0, 1460, NULL, 0);
    expect_ack(&cv, cv.iss + 1, cv.pseq);
    expect_state(&cv, TCP_ESTABLISHED);
    expect_nothing_to_read(cv.s); /* the SYN's data was not taken */
    assert_int_equal(tcps(f)->rx_resets, 0);
    assert_int_equal(tcps(f)->tx_resets, 0);
    conv_close(&cv);
}

/* ==== ACK (fifth), RFC 5961 §5 =========================================================== */

static void test_ack_of_unsent_data_draws_challenge_ack_and_drops(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_accepted(f, 0);
    seg_in(&cv, FX_TCP_ACK | FX_TCP_PSH, cv.pseq, cv.iss + 2, -1, pat, 10);
    expect_ack(&cv, cv.iss + 1, cv.pseq); /* the data is not acknowledged: it was dropped */
    expect_nothing_to_read(cv.s);
    assert_int_equal(tcps(f)->drop_bad_ack, 1);
    assert_int_equal(tcps(f)->challenge_acks, 1);
    /* Too old: below SND.UNA - MAX.SND.WND (65535). */
    seg_in(&cv, FX_TCP_ACK | FX_TCP_PSH, cv.pseq, cv.iss + 1 - WMAX - 1, -1, pat, 10);
    expect_ack(&cv, cv.iss + 1, cv.pseq);
    expect_nothing_to_read(cv.s);
    assert_int_equal(tcps(f)->drop_bad_ack, 2);
    assert_int_equal(tcps(f)->rx_bytes, 0);
    /* Old but within MAX.SND.WND: acceptable, the data is taken (and acknowledged as in-order
     * data is: after the delayed-ACK time). */
    seg_in(&cv, FX_TCP_ACK | FX_TCP_PSH, cv.pseq, cv.iss + 1 - WMAX, -1, pat, 10);
    expect_delayed_ack(&cv, cv.iss + 1, cv.pseq + 10);
    expect_read(cv.s, pat, 10);
    expect_state(&cv, TCP_ESTABLISHED);
    conv_close(&cv);
}

/* RFC 5961 §7: challenge ACKs are rate limited. Each second's budget is drawn anew between
 * half and one and a half times cfg.tcp_challenge_ack_per_s (CVE-2016-5696: a fixed budget
 * shared by all connections tells an off-path attacker when its guess hit), so over many
 * seconds the rate holds on average, while no two seconds need allow the same. */
static void test_challenge_acks_are_rate_limited(void **state)
{
    struct fixture *f = *state;
    struct tapir_config cfg;
    fx_config(&cfg);
    cfg.tcp_challenge_ack_per_s = 100;
    restart(f, &cfg);
    struct conv cv = conv_accepted(f, 0);
    uint64_t sent_total = 0, least = UINT64_MAX, most = 0;
    for (int second = 0; second < 20; second++) {
        uint64_t before = tcps(f)->challenge_acks, limited = tcps(f)->challenge_acks_limited;
        for (uint32_t i = 0; i < 300; i++) { /* RSTs, SYNs and bad ACKs share the budget */
            if (i % 3 == 0)
                seg_in(&cv, FX_TCP_RST, cv.pseq + 1 + i, 0, -1, NULL, 0);
            else if (i % 3 == 1)
                seg_in(&cv, FX_TCP_SYN, cv.pseq, 0, -1, NULL, 0);
            else
                seg_in(&cv, FX_TCP_ACK, cv.pseq, cv.iss + 100, -1, NULL, 0);
            if (f->nframes > 200)
                fx_clear(f);
        }
        fx_clear(f);
        uint64_t sent = tcps(f)->challenge_acks - before;
        assert_int_equal(sent + tcps(f)->challenge_acks_limited - limited, 300);
        assert_true(sent >= 50 && sent < 150); /* [per_s / 2, per_s * 3 / 2) */
        sent_total += sent;
        least = sent < least ? sent : least;
        most = sent > most ? sent : most;
        fx_advance(f, 1000000); /* a new second */
    }
    assert_true(most > least); /* not one fixed figure */
    assert_true(sent_total >= 20 * 70 && sent_total <= 20 * 130); /* about per_s on average */
    expect_state(&cv, TCP_ESTABLISHED);
    conv_close(&cv);
}

/* Within a second, the budget once spent stays spent; the next second brings a new one. */
static void test_challenge_budget_renews_each_second(void **state)
{
    struct fixture *f = *state;
    struct tapir_config cfg;
    fx_config(&cfg);
    cfg.tcp_challenge_ack_per_s = 2; /* a budget of 1 or 2 each second */
    restart(f, &cfg);
    struct conv cv = conv_accepted(f, 0);
    for (int i = 0; i < 5; i++)
        seg_in(&cv, FX_TCP_RST, cv.pseq + 1 + (uint32_t)i, 0, -1, NULL, 0);
    struct fx_tcp_view v[8];
    size_t n = out_all(&cv, v, 8, true);
    assert_true(n >= 1 && n <= 2);
    assert_int_equal(tcps(f)->challenge_acks, n);
    fx_advance(f, 999999);
    seg_in(&cv, FX_TCP_RST, cv.pseq + 1, 0, -1, NULL, 0);
    fx_expect_none(f); /* still the same second */
    fx_advance(f, 1);
    seg_in(&cv, FX_TCP_RST, cv.pseq + 1, 0, -1, NULL, 0);
    expect_ack(&cv, cv.iss + 1, cv.pseq); /* a new second, a new budget (at least 1) */
    assert_int_equal(tcps(f)->challenge_acks, n + 1);
    assert_int_equal(tcps(f)->challenge_acks_limited, 5 - n + 1);
    expect_state(&cv, TCP_ESTABLISHED);
    conv_close(&cv);
}

/* ==== The text (seventh) ================================================================= */

/* In-order data is delivered at once and acknowledged within the delayed-ACK time (RFC 1122
 * §4.2.3.2; one segment at a time here, so each ACK waits for the timer). The buffer is the
 * largest window the field can say unscaled, so the data waiting shows in the window. */
static void test_in_order_data_is_delivered_and_acked(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_accepted(f, (int)WMAX);
    assert_false(tapir_sock_events(cv.s) & POLLIN);
    peer_send(&cv, FX_TCP_ACK | FX_TCP_PSH, pat, 100);
    assert_true(tapir_sock_events(cv.s) & POLLIN); /* readable before it is acknowledged */
    assert_int_equal(tcps(f)->rx_bytes, 100);
    uint16_t wnd = expect_delayed_ack(&cv, cv.iss + 1, PEER_ISN + 101);
    assert_int_equal(wnd, WMAX - 100); /* what is buffered is off the window */
    peer_send(&cv, FX_TCP_ACK, pat + 100, 200);
    wnd = expect_delayed_ack(&cv, cv.iss + 1, PEER_ISN + 301);
    assert_int_equal(wnd, WMAX - 300);
    struct sockaddr_in src;
    assert_int_equal(tapir_sock_recvfrom(cv.s, buf, sizeof(buf), 0, &src, NULL), 300);
    assert_memory_equal(buf, pat, 300);
    assert_int_equal(ntohl(src.sin_addr.s_addr), PEER);
    assert_int_equal(ntohs(src.sin_port), RPORT);
    /* 300 bytes read: less than a segment of window regained, no update yet (RFC 1122
     * §4.2.3.3, silly window avoidance). */
    fx_expect_none(f);
    expect_nothing_to_read(cv.s);
    conv_close(&cv);
}

static void test_out_of_order_data_is_held_until_the_hole_fills(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_accepted(f, 0);
    uint32_t base = cv.pseq;
    seg_in(&cv, FX_TCP_ACK, base + 200, cv.pack, -1, pat + 200, 100);
    expect_ack(&cv, cv.iss + 1, base); /* a duplicate ACK: RCV.NXT does not move */
    seg_in(&cv, FX_TCP_ACK, base + 100, cv.pack, -1, pat + 100, 100);
    expect_ack(&cv, cv.iss + 1, base);
    assert_int_equal(tcps(f)->rx_out_of_order, 2);
    expect_nothing_to_read(cv.s);
    assert_false(tapir_sock_events(cv.s) & POLLIN);
    seg_in(&cv, FX_TCP_ACK, base, cv.pack, -1, pat, 100);
    expect_ack(&cv, cv.iss + 1, base + 300); /* one ACK covers all three */
    expect_read(cv.s, pat, 300);
    assert_int_equal(tcps(f)->rx_bytes, 300);
    conv_close(&cv);
}

/* Overlapping out-of-order pieces merge; a fill that reaches only the first range takes in
 * every range that touches. */
static void test_overlapping_out_of_order_pieces_merge(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_accepted(f, 0);
    uint32_t base = cv.pseq;
    seg_in(&cv, FX_TCP_ACK, base + 500, cv.pack, -1, pat + 500, 100); /* [500,600) */
    seg_in(&cv, FX_TCP_ACK, base + 250, cv.pack, -1, pat + 250, 100); /* [250,350) */
    seg_in(&cv, FX_TCP_ACK, base + 300, cv.pack, -1, pat + 300, 100); /* [300,400) */
    seg_in(&cv, FX_TCP_ACK, base + 400, cv.pack, -1, pat + 400, 100); /* touches both */
    fx_clear(f);
    seg_in(&cv, FX_TCP_ACK, base, cv.pack, -1, pat, 260); /* overlaps the first range */
    expect_ack(&cv, cv.iss + 1, base + 600);
    expect_read(cv.s, pat, 600);
    conv_close(&cv);
}

/* Bytes past the window are cut off (and a FIN after them is not yet for us). */
static void test_data_beyond_the_window_is_trimmed(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_listen(f, 2000);
    struct fx_tcp_view v = syn_to_listener(&cv, PEER_ISN, 1460);
    assert_int_equal(v.wnd, 2000);
    complete_passive_open(&cv);
    uint32_t base = cv.pseq;
    peer_send(&cv, FX_TCP_ACK, pat, 1000);
    assert_int_equal(expect_delayed_ack(&cv, cv.iss + 1, base + 1000), 1000);
    /* 1460 bytes and a FIN into the 1000 left: what did not fit is acknowledged at once. */
    seg_in(&cv, FX_TCP_ACK | FX_TCP_FIN, base + 1000, cv.pack, -1, pat + 1000, 1460);
    uint16_t wnd = expect_ack(&cv, cv.iss + 1, base + 2000);
    assert_int_equal(wnd, 0);
    expect_state(&cv, TCP_ESTABLISHED); /* the FIN was beyond the window */
    assert_int_equal(tcps(f)->rx_bytes, 2000);
    expect_read(cv.s, pat, 2000);
    conv_close(&cv);
}

/* The window offered shrinks as data waits, a zero window refuses data, and reading
 * reopens it with a window update (RFC 1122 §4.2.3.3: once it grew by min(MSS, half the
 * buffer)). */
static void test_window_shrinks_and_reading_sends_a_window_update(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_accepted(f, 2000);
    uint32_t base = cv.pseq;
    peer_send(&cv, FX_TCP_ACK, pat, 1000);
    assert_int_equal(expect_delayed_ack(&cv, cv.iss + 1, base + 1000), 1000);
    peer_send(&cv, FX_TCP_ACK, pat + 1000, 1000);
    assert_int_equal(expect_delayed_ack(&cv, cv.iss + 1, base + 2000), 0);
    /* A byte into the zero window is unacceptable: an ACK, and dropped. */
    seg_in(&cv, FX_TCP_ACK, base + 2000, cv.pack, -1, pat + 2000, 1);
    assert_int_equal(expect_ack(&cv, cv.iss + 1, base + 2000), 0);
    assert_int_equal(tcps(f)->drop_out_of_window, 1);
    /* 500 bytes read: less than min(1460, 1000), no update. */
    assert_int_equal(tapir_sock_recvfrom(cv.s, buf, 500, 0, NULL, NULL), 500);
    assert_memory_equal(buf, pat, 500);
    fx_expect_none(f);
    assert_int_equal(tapir_sock_recvfrom(cv.s, buf, 500, 0, NULL, NULL), 500);
    assert_memory_equal(buf, pat + 500, 500);
    assert_int_equal(expect_ack(&cv, cv.iss + 1, base + 2000), 1000);
    expect_read(cv.s, pat + 1000, 1000);
    assert_int_equal(expect_ack(&cv, cv.iss + 1, base + 2000), 2000);
    /* The peer may fill it again; two segments unacknowledged are acknowledged at once. */
    peer_send(&cv, FX_TCP_ACK, pat + 2000, 1000);
    fx_expect_none(f);
    peer_send(&cv, FX_TCP_ACK, pat + 3000, 1000);
    assert_int_equal(expect_ack(&cv, cv.iss + 1, base + 4000), 0);
    expect_read(cv.s, pat + 2000, 2000);
    conv_close(&cv);
}

/* A read that leaves the window mostly open sends nothing (the next ACK will carry the
 * window anyway); one that finds it fallen to half or less, and can double it, sends an
 * update at once (as Linux's tcp_cleanup_rbuf). */
static void test_window_update_only_when_the_window_had_fallen_to_half(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_accepted(f, 8000);
    uint32_t base = cv.pseq;
    peer_send(&cv, FX_TCP_ACK, pat, 1460);
    fx_expect_none(f); /* one segment: the ACK may wait */
    peer_send(&cv, FX_TCP_ACK, pat + 1460, 1460);
    assert_int_equal(expect_ack(&cv, cv.iss + 1, base + 2920), 8000 - 2920);
    expect_read(cv.s, pat, 2920);
    fx_expect_none(f); /* 5080 still offered, over half of 8000: no update */
    peer_send(&cv, FX_TCP_ACK, pat + 2920, 1460);
    peer_send(&cv, FX_TCP_ACK, pat + 4380, 1460);
    assert_int_equal(expect_ack(&cv, cv.iss + 1, base + 5840), 8000 - 2920);
    peer_send(&cv, FX_TCP_ACK, pat + 5840, 1460);
    fx_expect_none(f);
    /* 5080 - 1460 = 3620 left to the peer, under half: reading all of it sends 8000. */
    expect_read(cv.s, pat + 2920, 4380);
    assert_int_equal(expect_ack(&cv, cv.iss + 1, base + 7300), 8000);
    conv_close(&cv);
}

static void test_duplicate_data_is_acked_and_not_delivered_twice(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_accepted(f, 0);
    uint32_t base = cv.pseq;
    peer_send(&cv, FX_TCP_ACK, pat, 100);
    expect_delayed_ack(&cv, cv.iss + 1, base + 100);
    expect_read(cv.s, pat, 100);
    seg_in(&cv, FX_TCP_ACK, base, cv.pack, -1, pat, 100); /* all of it again: ACKed at once */
    expect_ack(&cv, cv.iss + 1, base + 100);
    expect_nothing_to_read(cv.s);
    seg_in(&cv, FX_TCP_ACK, base + 50, cv.pack, -1, pat + 50, 100); /* half old, half new */
    expect_delayed_ack(&cv, cv.iss + 1, base + 150);
    expect_read(cv.s, pat + 100, 50);
    assert_int_equal(tcps(f)->rx_bytes, 150);
    conv_close(&cv);
}

/* An ACK that carries nothing is not acknowledged: otherwise two stacks would ACK each
 * other's ACKs forever. Here the handshake's final ACK. */
static void test_final_handshake_ack_draws_nothing(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_listen(f, 0);
    syn_to_listener(&cv, PEER_ISN, 1460);
    peer_send(&cv, FX_TCP_ACK, NULL, 0);
    expect_state(&cv, TCP_ESTABLISHED);
    fx_expect_none(f);
    tapir_sock_close(cv.l);
}

static void test_pure_ack_in_established_draws_nothing(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_accepted(f, 0);
    app_send(cv.s, pat, 100);
    out_one(&cv);
    cv.pack += 100;
    peer_send(&cv, FX_TCP_ACK, NULL, 0); /* acknowledges our data */
    fx_expect_none(f);
    peer_send(&cv, FX_TCP_ACK, NULL, 0); /* a duplicate */
    fx_expect_none(f);
    conv_close(&cv);
}

/* The window in the SYN,ACK (and in the ACK of an active open) is what the buffer holds,
 * whatever the peer's ISN: RCV.ADV must start at RCV.NXT, not at 0. */
static void test_window_in_handshake_follows_buffer_for_any_isn(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *l = listener(f, LPORT, 16, 2000);
    const uint32_t isns[] = {0, 0x7ffffffeu, 0x80000000u, 0xc0000000u, 0xfffffff0u};
    for (size_t i = 0; i < sizeof(isns) / sizeof(isns[0]); i++) {
        struct conv cv = conv_new(f, (uint16_t)(44000 + i));
        struct fx_tcp_view v = syn_to_listener(&cv, isns[i], 1460);
        if (v.wnd != 2000)
            fail_msg("passive, peer ISN 0x%08x: SYN,ACK window %u, want 2000", isns[i], v.wnd);
    }
    for (size_t i = 0; i < sizeof(isns) / sizeof(isns[0]); i++) {
        struct conv cv = conv_new(f, (uint16_t)(5000 + i));
        struct fx_tcp_view v = connect_syn(&cv, 2000);
        assert_int_equal(v.wnd, 2000);
        seg_in(&cv, FX_TCP_SYN | FX_TCP_ACK, isns[i], cv.iss + 1, 1460, NULL, 0);
        uint16_t wnd = expect_ack(&cv, cv.iss + 1, isns[i] + 1);
        if (wnd != 2000)
            fail_msg("active, peer ISN 0x%08x: ACK window %u, want 2000", isns[i], wnd);
        tapir_sock_close(cv.s);
        fx_clear(f);
    }
    tapir_sock_close(l);
}

/* RFC 9293 §3.10.7.4 first: "If the RCV.WND is zero, no segments will be acceptable, but
 * special allowance should be made to accept valid ACKs": data into our zero window is
 * dropped, the ACK it carries is still taken (else our data is retransmitted for nothing). */
static void test_zero_receive_window_still_takes_the_ack(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_accepted(f, 2000);
    app_send(cv.s, pat, 100);
    out_one(&cv);
    peer_send(&cv, FX_TCP_ACK, pat, 1000); /* fills our window, not yet ACKing our data */
    assert_int_equal(expect_delayed_ack(&cv, cv.iss + 101, cv.pseq), 1000);
    peer_send(&cv, FX_TCP_ACK, pat + 1000, 1000);
    assert_int_equal(expect_delayed_ack(&cv, cv.iss + 101, cv.pseq), 0);
    cv.pack += 100;
    seg_in(&cv, FX_TCP_ACK, cv.pseq, cv.pack, -1, pat, 1); /* a probe carrying the ACK */
    assert_int_equal(expect_ack(&cv, cv.iss + 101, cv.pseq), 0);
    fx_run_until(f, f->now_us + 5000000);
    struct fx_tcp_view v[8];
    size_t n = out_all(&cv, v, 8, false);
    if (n)
        fail_msg("%zu segments after the data was acknowledged (first seq +%u, %zu bytes)", n,
                 v[0].seq - cv.iss, v[0].data_len);
    conv_close(&cv);
}

/* The handshake's final ACK may carry data: it is taken, and waits for accept. */
static void test_final_ack_with_data_is_delivered(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_listen(f, 0);
    syn_to_listener(&cv, PEER_ISN, 1460);
    peer_send(&cv, FX_TCP_ACK | FX_TCP_PSH, pat, 100);
    expect_delayed_ack(&cv, cv.iss + 1, PEER_ISN + 101);
    assert_int_equal(tapir_sock_accept(cv.l, &cv.s, NULL), 0);
    assert_true(tapir_sock_events(cv.s) & POLLIN);
    expect_read(cv.s, pat, 100);
    conv_close(&cv);
}

/* Our ACK of the SYN,ACK was lost: the peer's retransmitted SYN,ACK (old, out of the window)
 * draws the ACK again, and the connection stays up. */
static void test_retransmitted_syn_ack_in_established_is_acked(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, 5000);
    active_open(&cv, PEER_ISN);
    seg_in(&cv, FX_TCP_SYN | FX_TCP_ACK, PEER_ISN, cv.iss + 1, 1460, NULL, 0);
    expect_ack(&cv, cv.iss + 1, PEER_ISN + 1);
    expect_state(&cv, TCP_ESTABLISHED);
    assert_int_equal(tapir_sock_connected(cv.s), 0);
    assert_int_equal(tcps(f)->rx_resets + tcps(f)->tx_resets, 0);
    tapir_sock_close(cv.s);
}

/* §3.10.7.4 fifth: "if the ACK bit is off, drop the segment and return". */
static void test_segment_without_ack_bit_is_dropped(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_accepted(f, 0);
    seg_in(&cv, FX_TCP_PSH, cv.pseq, 0, -1, pat, 100);
    seg_in(&cv, FX_TCP_FIN, cv.pseq, 0, -1, NULL, 0);
    fx_expect_none(f);
    expect_nothing_to_read(cv.s);
    expect_state(&cv, TCP_ESTABLISHED);
    assert_int_equal(tcps(f)->rx_bytes, 0);
    conv_close(&cv);
}

/* §3.10.7.4 seventh, CLOSE-WAIT: "this should not occur since a FIN has been received from
 * the remote side. Ignore the segment text." */
static void test_data_after_the_peers_fin_is_ignored(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_accepted(f, 0);
    peer_send(&cv, FX_TCP_ACK | FX_TCP_FIN, pat, 10);
    expect_ack(&cv, cv.iss + 1, cv.pseq);
    seg_in(&cv, FX_TCP_ACK, cv.pseq, cv.pack, -1, pat + 10, 20);
    fx_clear(f);
    assert_int_equal(tcps(f)->drop_after_fin, 1);
    expect_read(cv.s, pat, 10);
    assert_int_equal(tapir_sock_recvfrom(cv.s, buf, 10, 0, NULL, NULL), 0);
    conv_close(&cv);
}

/* The send window comes from the newest segment (SND.WL1, SND.WL2): a reordered older ACK
 * does not close it. */
static void test_window_update_ignores_an_older_ack(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_accepted(f, 0);
    app_send(cv.s, pat, 1000);
    out_one(&cv);
    cv.pwnd = 4000;
    seg_in(&cv, FX_TCP_ACK, cv.pseq, cv.iss + 1001, -1, NULL, 0);
    cv.pwnd = 0;
    seg_in(&cv, FX_TCP_ACK, cv.pseq, cv.iss + 501, -1, NULL, 0); /* sent before the other */
    fx_clear(f);
    set_tcp_opt(cv.s, TC_TCP_NODELAY, 1); /* the 80-byte tail too: no Nagle to wait on */
    app_send(cv.s, pat + 1000, 3000);
    struct fx_tcp_view v[8];
    size_t n = out_all(&cv, v, 8, false);
    assert_int_equal(n, 3);
    assert_int_equal(v[0].seq, cv.iss + 1001);
    assert_int_equal(v[0].data_len + v[1].data_len + v[2].data_len, 3000);
    conv_close(&cv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TCP_TEST(test_unacceptable_segment_draws_ack_and_is_dropped),
        TCP_TEST(test_rst_exactly_at_rcv_nxt_resets),
        TCP_TEST(test_rst_in_window_but_not_exact_draws_challenge_ack),
        TCP_TEST(test_rst_outside_window_is_ignored),
        TCP_TEST(test_syn_in_established_draws_challenge_ack_not_reset),
        TCP_TEST(test_ack_of_unsent_data_draws_challenge_ack_and_drops),
        TCP_TEST(test_challenge_acks_are_rate_limited),
        TCP_TEST(test_challenge_budget_renews_each_second),
        TCP_TEST(test_in_order_data_is_delivered_and_acked),
        TCP_TEST(test_out_of_order_data_is_held_until_the_hole_fills),
        TCP_TEST(test_overlapping_out_of_order_pieces_merge),
        TCP_TEST(test_data_beyond_the_window_is_trimmed),
        TCP_TEST(test_window_shrinks_and_reading_sends_a_window_update),
        TCP_TEST(test_window_update_only_when_the_window_had_fallen_to_half),
        TCP_TEST(test_duplicate_data_is_acked_and_not_delivered_twice),
        TCP_TEST(test_final_handshake_ack_draws_nothing),
        TCP_TEST(test_pure_ack_in_established_draws_nothing),
        TCP_TEST(test_window_in_handshake_follows_buffer_for_any_isn),
        TCP_TEST(test_zero_receive_window_still_takes_the_ack),
        TCP_TEST(test_final_ack_with_data_is_delivered),
        TCP_TEST(test_retransmitted_syn_ack_in_established_is_acked),
        TCP_TEST(test_segment_without_ack_bit_is_dropped),
        TCP_TEST(test_data_after_the_peers_fin_is_ignored),
        TCP_TEST(test_window_update_ignores_an_older_ack),
    };
    fx_pattern(pat, sizeof(pat), 7);
    return cmocka_run_group_tests_name("tcp established", tests, NULL, NULL);
}
