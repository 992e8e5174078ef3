/* SPDX-License-Identifier: MIT */
/* test_tcp_timers.c: the timers that drive a TCP connection, in the fixture's virtual time:
 * SYN retransmission with backoff to ETIMEDOUT and the 3 s RTO after it (RFC 6298 §5.7), data
 * retransmitted on timeout until acknowledged or given up (RFC 9293 §3.8.3), the earliest
 * segment only, and the persist timer's zero-window probes (§3.8.6.1). Each test plays the
 * peer, 10.0.0.1, with crafted segments (tcp_conv.c), and checks exactly what the stack
 * (10.0.0.2) sends and when. */
#include "fixture.h"

#include "tapir/sock.h"
#include "tcp.h"
#include "tcp_conv.h"

static uint8_t pat[70000]; /* fx_pattern(7), filled in main */
static uint8_t buf[70000];

/* ==== Timers ============================================================================== */

/* RFC 6298 §2.1 and §5.5: the SYN is resent after 1 s, then 2 s, 4 s, ... (capped at 60 s),
 * and the connect fails with ETIMEDOUT after the last try. */
static void test_syn_is_retransmitted_with_backoff_then_times_out(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, 5000);
    connect_syn(&cv, 0);
    const uint64_t gaps[] = {1, 2, 4, 8, 16, 32};
    for (size_t i = 0; i < sizeof(gaps) / sizeof(gaps[0]); i++) {
        fx_advance(f, gaps[i] * 1000000 - 1);
        fx_expect_none(f);
        fx_advance(f, 1);
        struct fx_tcp_view v = out_one(&cv);
        assert_int_equal(v.flags, FX_TCP_SYN);
        assert_int_equal(v.seq, cv.iss);
        assert_int_equal(v.mss, 1460);
        assert_int_equal(tapir_sock_connected(cv.s), -EAGAIN);
    }
    assert_int_equal(tcps(f)->retransmits, 6);
    fx_advance(f, 60000000 - 1);
    fx_expect_none(f);
    assert_int_equal(tapir_sock_connected(cv.s), -EAGAIN);
    fx_advance(f, 1);
    fx_expect_none(f);
    assert_int_equal(tapir_sock_connected(cv.s), -ETIMEDOUT);
    assert_int_equal(tcps(f)->timeouts, 1);
    expect_state(&cv, TCP_CLOSED);
    tapir_sock_close(cv.s);
}

/* RFC 6298 §5.7: "If the timer expires awaiting the ACK of a SYN segment and the TCP
 * implementation is using an RTO less than 3 seconds, the RTO MUST be re-initialized to 3
 * seconds when data transmission begins". */
static void test_rto_is_3s_after_a_retransmitted_syn(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, 5000);
    connect_syn(&cv, 0);
    fx_advance(f, 1000000);
    out_one(&cv); /* the SYN again */
    seg_in(&cv, FX_TCP_SYN | FX_TCP_ACK, PEER_ISN, cv.iss + 1, 1460, NULL, 0);
    cv.pseq = PEER_ISN + 1;
    expect_ack(&cv, cv.iss + 1, PEER_ISN + 1);
    app_send(cv.s, pat, 100);
    out_one(&cv);
    fx_advance(f, 3000000 - 1);
    fx_expect_none(f);
    fx_advance(f, 1);
    struct fx_tcp_view v = out_one(&cv);
    assert_int_equal(v.seq, cv.iss + 1);
    assert_int_equal(v.data_len, 100);
    tapir_sock_close(cv.s);
}

/* RFC 6298: the RTO comes from the measured round trip (§2.2: the first measurement R gives
 * SRTT = R, RTTVAR = R/2, RTO = SRTT + 4 RTTVAR = 3R), the data is sent again when it
 * expires, the timer backs off (§5.5), and an ACK ends it all. */
static void test_data_is_retransmitted_on_timeout_until_acked(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_listen(f, 0);
    syn_to_listener(&cv, PEER_ISN, 1460);
    fx_advance(f, 100000); /* the SYN,ACK's round trip (timed: it went once) is 100 ms */
    complete_passive_open(&cv);
    app_send(cv.s, pat, 100);
    struct fx_tcp_view v = out_one(&cv);
    assert_int_equal(v.seq, cv.iss + 1);
    assert_int_equal(v.data_len, 100);
    fx_advance(f, 299999); /* RTO = 100 + 4 * 50 ms */
    fx_expect_none(f);
    fx_advance(f, 1);
    v = out_one(&cv);
    assert_int_equal(v.seq, cv.iss + 1);
    assert_int_equal(v.ack, cv.pseq);
    assert_int_equal(v.data_len, 100);
    assert_memory_equal(v.data, pat, 100);
    assert_int_equal(tcps(f)->retransmits, 1);
    fx_advance(f, 599999); /* backed off to 600 ms */
    fx_expect_none(f);
    fx_advance(f, 1);
    v = out_one(&cv);
    assert_int_equal(v.seq, cv.iss + 1);
    assert_int_equal(v.data_len, 100);
    cv.pack += 100;
    peer_ack(&cv);
    fx_run_until(f, f->now_us + 600000000ull);
    fx_expect_none(f);
    assert_int_equal(tcps(f)->retransmits, 2);
    expect_state(&cv, TCP_ESTABLISHED);
    conv_close(&cv);
}

/* After the retries (15, as Linux's tcp_retries2) the connection ends with ETIMEDOUT. */
static void test_unacknowledged_data_times_out(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_accepted(f, 0);
    app_send(cv.s, pat, 100);
    out_one(&cv);
    fx_run_until(f, f->now_us + 3600000000ull);
    size_t n;
    const struct fx_frame *fr = fx_take_all(f, &n);
    assert_int_equal(n, 15);
    for (size_t i = 0; i < n; i++) {
        struct fx_tcp_view v = as_ours(&cv, &fr[i]);
        assert_int_equal(v.seq, cv.iss + 1);
        assert_int_equal(v.data_len, 100);
    }
    expect_state(&cv, TCP_CLOSED);
    assert_int_equal(tcps(f)->timeouts, 1);
    assert_int_equal(tapir_sock_recvfrom(cv.s, buf, 10, 0, NULL, NULL), -ETIMEDOUT);
    conv_close(&cv);
}

/* RFC 6298 §5.4: when the timer expires, "retransmit the earliest segment that has not been
 * acknowledged" (and RFC 5681 §3.1: after a timeout, one segment's worth). */
static void test_timeout_retransmits_the_earliest_segment_only(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_accepted(f, 0);
    set_tcp_opt(cv.s, TC_TCP_NODELAY, 1); /* three segments in flight, the short one too */
    app_send(cv.s, pat, 3000);
    struct fx_tcp_view v[8];
    assert_int_equal(out_all(&cv, v, 8, true), 3);
    /* The handshake's round trip measured ~0: the RTO is its floor (RFC 6298 §2.4). */
    fx_advance(f, f->cfg.tcp_rto_min_us - 1);
    fx_expect_none(f);
    fx_advance(f, 1);
    size_t n = out_all(&cv, v, 8, true);
    assert_true(n >= 1);
    assert_int_equal(v[0].seq, cv.iss + 1);
    assert_int_equal(v[0].data_len, 1460);
    assert_int_equal(n, 1);
    conv_close(&cv);
}

/* The sender stops at the peer's window, probes a zero window (backing off, for as long as
 * the peer answers), and resumes when the window opens. */
static void test_zero_window_is_probed_and_sending_resumes(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_listen(f, 0);
    cv.pwnd = 1000;
    passive_open(&cv, PEER_ISN, 1460);
    app_send(cv.s, pat, 3000);
    struct fx_tcp_view v[8];
    size_t n = out_all(&cv, v, 8, true);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].data_len, 1000);
    assert_int_equal(v[0].seq, cv.iss + 1);
    /* The peer takes it and closes its window. */
    cv.pack = cv.iss + 1001;
    cv.pwnd = 0;
    peer_send(&cv, FX_TCP_ACK, NULL, 0);
    assert_int_equal(out_all(&cv, v, 8, false), 0);
    /* The first probe: no sooner than 200 ms, no later than one RTO (the handshake's round
     * trip measured ~0: the RTO is its floor, 200 ms; before any measurement it is 1 s). */
    uint64_t t0 = f->now_us;
    fx_advance(f, 199999);
    fx_expect_none(f);
    fx_advance_to(f, tapir_next_deadline(f->st));
    assert_true(f->now_us - t0 >= 200000 && f->now_us - t0 <= 1000000);
    assert_int_equal(out_all(&cv, v, 8, true), 1);
    assert_int_equal(v[0].flags, FX_TCP_ACK);
    assert_int_equal(v[0].data_len, 0);
    assert_int_equal(v[0].seq, cv.iss + 1000); /* SND.UNA - 1: the receiver must answer */
    assert_int_equal(v[0].ack, cv.pseq);
    assert_int_equal(tcps(f)->window_probes, 1);
    /* The peer answers each probe with its zero window; the probes back off and go on, and
     * the connection stays open for as long as they are answered (RFC 1122 §4.2.2.17). */
    uint64_t end = f->now_us + 20ull * 60 * 1000000;
    uint64_t last = f->now_us, prev_gap = 0;
    unsigned probes = 1;
    peer_send(&cv, FX_TCP_ACK, NULL, 0);
    fx_clear(f);
    while (tapir_next_deadline(f->st) <= end) {
        fx_advance_to(f, tapir_next_deadline(f->st));
        n = out_all(&cv, v, 8, true);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(v[i].flags, FX_TCP_ACK);
            assert_int_equal(v[i].data_len, 0);
            assert_int_equal(v[i].seq, cv.iss + 1000);
            uint64_t gap = f->now_us - last;
            assert_true(gap >= prev_gap); /* never faster */
            prev_gap = gap;
            last = f->now_us;
            probes++;
            peer_send(&cv, FX_TCP_ACK, NULL, 0);
            fx_clear(f);
        }
    }
    fx_advance_to(f, end);
    assert_true(probes >= 20);
    assert_true(prev_gap <= 120000000ull);
    expect_state(&cv, TCP_ESTABLISHED);
    assert_int_equal(tcps(f)->window_probes, probes);
    /* The window opens: a full segment goes at once; the short rest waits for its ACK
     * (Nagle, RFC 1122 §4.2.3.4), then goes too. */
    cv.pwnd = 65535;
    peer_send(&cv, FX_TCP_ACK, NULL, 0);
    n = out_all(&cv, v, 8, false);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].seq, cv.iss + 1001);
    assert_int_equal(v[0].data_len, 1460);
    assert_memory_equal(v[0].data, pat + 1000, 1460);
    cv.pack = cv.iss + 2461;
    peer_send(&cv, FX_TCP_ACK, NULL, 0);
    n = out_all(&cv, v, 8, false);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].seq, cv.iss + 2461);
    assert_int_equal(v[0].data_len, 540);
    assert_memory_equal(v[0].data, pat + 2460, 540);
    cv.pack = cv.iss + 3001;
    peer_ack(&cv);
    fx_run_until(f, f->now_us + 100000000);
    fx_expect_none(f);
    conv_close(&cv);
}

/* RFC 9293 §3.8.6.1 (SHLD-29): "the transmitting host SHOULD send the first zero-window
 * probe when a zero window has existed for the retransmission timeout period". */
static void test_first_zero_window_probe_waits_one_rto(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_listen(f, 0);
    cv.pwnd = 1000;
    /* Two round trips of 100 ms measured (RFC 6298 §2.2-§2.3): the handshake's gives SRTT
     * 100 ms, RTTVAR 50 ms; the data's leaves SRTT at 100 and RTTVAR at 3/4 * 50 = 37.5 ms,
     * so the RTO is 100 + 4 * 37.5 = 250 ms: not the 200 ms floor, not the initial 1 s. */
    syn_to_listener(&cv, PEER_ISN, 1460);
    fx_advance(f, 100000);
    complete_passive_open(&cv);
    app_send(cv.s, pat, 3000);
    out_one(&cv);
    fx_advance(f, 100000);
    cv.pack = cv.iss + 1001;
    cv.pwnd = 0;
    peer_ack(&cv);
    fx_advance(f, 249999);
    fx_expect_none(f);
    fx_advance(f, 1);
    struct fx_tcp_view v = out_one(&cv);
    assert_int_equal(v.seq, cv.iss + 1000);
    conv_close(&cv);
}

/* RFC 1122 §4.2.2.17 / RFC 9293 §3.8.6.1: "As long as the receiving TCP continues to send
 * acknowledgments in response to the probe segments, the sending TCP MUST allow the
 * connection to stay open", also when the window closed with data still in flight. */
static void test_zero_window_with_data_in_flight_stays_open(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_accepted(f, 0);
    app_send(cv.s, pat, 1000);
    out_one(&cv);
    /* The peer takes half, and its window is full. */
    cv.pack = cv.iss + 501;
    cv.pwnd = 0;
    peer_ack(&cv);
    uint64_t end = f->now_us + 30ull * 60 * 1000000;
    unsigned answered = 0;
    while (tapir_next_deadline(f->st) <= end) {
        fx_advance_to(f, tapir_next_deadline(f->st));
        struct fx_tcp_view v[8];
        size_t n = out_all(&cv, v, 8, true);
        if (n) { /* a probe or a retransmission: the peer, still full, answers it */
            answered++;
            peer_ack(&cv);
        }
    }
    assert_true(answered > 10);
    expect_state(&cv, TCP_ESTABLISHED);
    assert_int_equal(tapir_sock_connected(cv.s), 0);
    conv_close(&cv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TCP_TEST(test_syn_is_retransmitted_with_backoff_then_times_out),
        TCP_TEST(test_rto_is_3s_after_a_retransmitted_syn),
        TCP_TEST(test_data_is_retransmitted_on_timeout_until_acked),
        TCP_TEST(test_unacknowledged_data_times_out),
        TCP_TEST(test_timeout_retransmits_the_earliest_segment_only),
        TCP_TEST(test_zero_window_is_probed_and_sending_resumes),
        TCP_TEST(test_first_zero_window_probe_waits_one_rto),
        TCP_TEST(test_zero_window_with_data_in_flight_stays_open),
    };
    fx_pattern(pat, sizeof(pat), 7);
    return cmocka_run_group_tests_name("tcp timers", tests, NULL, NULL);
}
