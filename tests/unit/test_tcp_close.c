/* SPDX-License-Identifier: MIT */
/* test_tcp_close.c: TCP closing, RFC 9293 §3.10.7.4 "eighth, check the FIN bit" and §3.10.4
 * CLOSE: the passive close through CLOSE_WAIT and LAST_ACK, the active close through
 * FIN_WAIT_1, FIN_WAIT_2 and TIME_WAIT (2*MSL, RFC 1337's ignored RST, a retransmitted FIN, a
 * SYN that reopens it), shutdown, orphans, the simultaneous close through CLOSING, and the
 * aborts that send a reset. Each test plays the peer, 10.0.0.1, with crafted segments
 * (tcp_conv.c), and checks exactly what the stack (10.0.0.2) sends back and the counters. */
#include "fixture.h"

#include <poll.h>
#include <sys/socket.h>

#include "tapir/sock.h"
#include "tcp.h"
#include "tcp_conv.h"

static uint8_t pat[70000]; /* fx_pattern(7), filled in main */
static uint8_t buf[70000];

/* ==== Helpers: our side's closing steps ================================================== */

/* Our FIN, the one segment out: FIN,ACK (PSH or not) at ISS + 1 (no data was sent). */
static struct fx_tcp_view expect_fin(struct conv *cv)
{
    struct fx_tcp_view v = out_one(cv);
    assert_int_equal(v.flags & ~FX_TCP_PSH, FX_TCP_FIN | FX_TCP_ACK);
    assert_int_equal(v.seq, cv->iss + 1);
    return v;
}

/* shutdown(SHUT_WR) on an established connection: a FIN goes out, FIN_WAIT_1. */
static struct fx_tcp_view shutdown_sends_fin(struct conv *cv)
{
    assert_int_equal(tapir_sock_shutdown(cv->s, SHUT_WR), 0);
    struct fx_tcp_view v = out_one(cv);
    assert_true(v.flags & FX_TCP_FIN);
    expect_state(cv, TCP_FIN_WAIT_1);
    return v;
}

/* The peer acknowledges our FIN (ISS + 2: no data was sent) with a pure ACK: FIN_WAIT_2. */
static void peer_acks_our_fin(struct conv *cv)
{
    cv->pack = cv->iss + 2;
    peer_ack(cv);
    expect_state(cv, TCP_FIN_WAIT_2);
}

/* From TIME_WAIT, 2*MSL later: CLOSED, and the socket still reads end of stream. */
static void time_wait_ends(struct conv *cv)
{
    fx_advance(cv->f, 2 * cv->f->cfg.tcp_msl_us);
    expect_state(cv, TCP_CLOSED);
    assert_int_equal(tapir_sock_recvfrom(cv->s, buf, 10, 0, NULL, NULL), 0);
}

/* ==== FIN (eighth) and closing =========================================================== */

static void test_fin_moves_to_close_wait_and_reads_end_after_the_data(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_accepted(f, 0);
    peer_send(&cv, FX_TCP_ACK | FX_TCP_PSH | FX_TCP_FIN, pat, 50);
    expect_ack(&cv, cv.iss + 1, PEER_ISN + 1 + 50 + 1);
    expect_state(&cv, TCP_CLOSE_WAIT);
    short ev = tapir_sock_events(cv.s);
    assert_true(ev & POLLIN);
    assert_true(ev & POLLRDHUP);
    assert_true(ev & POLLOUT); /* we may still send */
    expect_read(cv.s, pat, 50);
    assert_int_equal(tapir_sock_recvfrom(cv.s, buf, sizeof(buf), 0, NULL, NULL), 0);
    assert_int_equal(tapir_sock_recvfrom(cv.s, buf, sizeof(buf), 0, NULL, NULL), 0);
    /* A retransmitted FIN is acknowledged again. */
    seg_in(&cv, FX_TCP_ACK | FX_TCP_FIN, cv.pseq - 1, cv.pack, -1, NULL, 0);
    expect_ack(&cv, cv.iss + 1, cv.pseq);
    /* Sending still works in CLOSE_WAIT. */
    app_send(cv.s, pat, 10);
    struct fx_tcp_view v = out_one(&cv);
    assert_int_equal(v.data_len, 10);
    assert_int_equal(v.ack, cv.pseq);
    conv_close(&cv);
}

/* A FIN on a segment after a hole waits for the hole (and a retransmission of the FIN). */
static void test_fin_after_a_hole_is_not_taken_early(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_accepted(f, 0);
    uint32_t base = cv.pseq;
    seg_in(&cv, FX_TCP_ACK | FX_TCP_FIN, base + 100, cv.pack, -1, pat + 100, 100);
    expect_ack(&cv, cv.iss + 1, base);
    expect_state(&cv, TCP_ESTABLISHED);
    assert_int_equal(tapir_sock_recvfrom(cv.s, buf, 10, 0, NULL, NULL), -EAGAIN);
    seg_in(&cv, FX_TCP_ACK, base, cv.pack, -1, pat, 100);
    struct fx_tcp_view v = out_one(&cv);
    assert_true(v.ack == base + 200 || v.ack == base + 201);
    if (v.ack == base + 200) { /* the FIN was not kept: its retransmission closes */
        seg_in(&cv, FX_TCP_ACK | FX_TCP_FIN, base + 200, cv.pack, -1, NULL, 0);
        expect_ack(&cv, cv.iss + 1, base + 201);
    }
    expect_state(&cv, TCP_CLOSE_WAIT);
    expect_read(cv.s, pat, 200);
    assert_int_equal(tapir_sock_recvfrom(cv.s, buf, 10, 0, NULL, NULL), 0);
    conv_close(&cv);
}

static void test_close_in_close_wait_sends_fin_then_last_ack_then_closed(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_accepted(f, 0);
    peer_send(&cv, FX_TCP_ACK | FX_TCP_FIN, NULL, 0);
    expect_ack(&cv, cv.iss + 1, cv.pseq);
    expect_state(&cv, TCP_CLOSE_WAIT);
    assert_int_equal(tapir_sock_recvfrom(cv.s, buf, 10, 0, NULL, NULL), 0);
    uint64_t freed = tcps(f)->conns_freed;
    tapir_sock_close(cv.s);
    struct fx_tcp_view v = expect_fin(&cv);
    assert_int_equal(v.ack, cv.pseq);
    expect_state(&cv, TCP_LAST_ACK);
    /* An ACK that does not cover the FIN leaves it in LAST_ACK. */
    peer_ack(&cv);
    expect_state(&cv, TCP_LAST_ACK);
    cv.pack = cv.iss + 2;
    peer_send(&cv, FX_TCP_ACK, NULL, 0);
    fx_expect_none(f);
    expect_state(&cv, TCP_CLOSED);
    assert_int_equal(tcps(f)->conns_freed, freed + 1);
    tapir_sock_close(cv.l);
}

/* The FIN of LAST_ACK is retransmitted until acknowledged. */
static void test_last_ack_fin_is_retransmitted(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_accepted(f, 0);
    peer_send(&cv, FX_TCP_ACK | FX_TCP_FIN, NULL, 0);
    fx_clear(f);
    tapir_sock_close(cv.s);
    out_one(&cv);
    fx_advance(f, 1000000);
    expect_fin(&cv);
    tapir_sock_close(cv.l);
}

static void test_active_close_through_time_wait_frees_the_connection(void **state)
{
    struct fixture *f = *state;
    struct tapir_config cfg;
    fx_config(&cfg);
    cfg.tcp_msl_us = 5000000; /* TIME_WAIT is 10 s */
    restart(f, &cfg);
    struct conv cv = conv_new(f, 5000);
    active_open(&cv, PEER_ISN);
    uint64_t freed = tcps(f)->conns_freed;
    tapir_sock_close(cv.s);
    struct fx_tcp_view v = expect_fin(&cv);
    assert_int_equal(v.ack, PEER_ISN + 1);
    expect_state(&cv, TCP_FIN_WAIT_1);
    peer_acks_our_fin(&cv);
    fx_advance(f, 3000000);
    peer_send(&cv, FX_TCP_ACK | FX_TCP_FIN, NULL, 0);
    expect_ack(&cv, cv.iss + 2, PEER_ISN + 2);
    expect_state(&cv, TCP_TIME_WAIT);
    fx_advance(f, 9999999); /* 2*MSL counts from TIME_WAIT's start, not FIN_WAIT_2's */
    expect_state(&cv, TCP_TIME_WAIT);
    assert_int_equal(tcps(f)->conns_freed, freed);
    fx_advance(f, 1);
    expect_state(&cv, TCP_CLOSED);
    assert_int_equal(tcps(f)->conns_freed, freed + 1);
    fx_expect_none(f);
}

/* An application that only shuts down its side keeps the socket through TIME_WAIT. */
static void test_shutdown_wr_goes_fin_wait_and_reads_peer_data(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, 5000);
    active_open(&cv, PEER_ISN);
    shutdown_sends_fin(&cv);
    peer_acks_our_fin(&cv);
    /* FIN_WAIT_2 still receives. */
    peer_send(&cv, FX_TCP_ACK, pat, 100);
    expect_delayed_ack(&cv, cv.iss + 2, PEER_ISN + 101);
    expect_read(cv.s, pat, 100);
    peer_send(&cv, FX_TCP_ACK | FX_TCP_FIN, NULL, 0);
    expect_ack(&cv, cv.iss + 2, PEER_ISN + 102);
    expect_state(&cv, TCP_TIME_WAIT);
    assert_int_equal(tapir_sock_recvfrom(cv.s, buf, 10, 0, NULL, NULL), 0);
    time_wait_ends(&cv);
    tapir_sock_close(cv.s);
}

/* An orphan in FIN_WAIT_2 whose peer never closes is freed after 2*MSL. */
static void test_orphan_in_fin_wait_2_is_freed_after_2msl(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, 5000);
    active_open(&cv, PEER_ISN);
    uint64_t freed = tcps(f)->conns_freed;
    tapir_sock_close(cv.s);
    out_one(&cv);
    peer_acks_our_fin(&cv);
    fx_advance(f, 2 * f->cfg.tcp_msl_us - 1);
    expect_state(&cv, TCP_FIN_WAIT_2);
    fx_advance(f, 1);
    expect_state(&cv, TCP_CLOSED);
    assert_int_equal(tcps(f)->conns_freed, freed + 1);
}

/* Into TIME_WAIT through an active close by our side of an accepted connection. */
static void server_time_wait(struct conv *cv)
{
    passive_open(cv, PEER_ISN, 1460);
    tapir_sock_close(cv->s);
    cv->s = NULL;
    struct fx_tcp_view v = out_one(cv);
    assert_true(v.flags & FX_TCP_FIN);
    cv->pack = cv->iss + 2;
    peer_send(cv, FX_TCP_ACK | FX_TCP_FIN, NULL, 0); /* ACKs our FIN, and its own */
    expect_ack(cv, cv->iss + 2, cv->pseq);
    expect_state(cv, TCP_TIME_WAIT);
}

/* RFC 1337: a RST does not end TIME_WAIT early ("TIME-WAIT assassination"). */
static void test_rst_in_time_wait_is_ignored(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_listen(f, 0);
    server_time_wait(&cv);
    seg_in(&cv, FX_TCP_RST, cv.pseq, 0, -1, NULL, 0);
    seg_in(&cv, FX_TCP_RST | FX_TCP_ACK, cv.pseq, cv.pack, -1, NULL, 0);
    fx_expect_none(f);
    expect_state(&cv, TCP_TIME_WAIT);
    assert_int_equal(tcps(f)->rst_ignored_time_wait, 2);
    assert_int_equal(tcps(f)->rx_resets, 0);
    tapir_sock_close(cv.l);
}

/* RFC 9293 §3.10.7.4, TIME-WAIT: a retransmitted FIN is acknowledged and restarts the 2*MSL. */
static void test_time_wait_acks_retransmitted_fin_and_restarts_2msl(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_listen(f, 0);
    server_time_wait(&cv);
    uint64_t msl = f->cfg.tcp_msl_us;
    fx_advance(f, msl);
    seg_in(&cv, FX_TCP_ACK | FX_TCP_FIN, cv.pseq - 1, cv.pack, -1, NULL, 0);
    expect_ack(&cv, cv.iss + 2, cv.pseq);
    fx_advance(f, 2 * msl - 1);
    expect_state(&cv, TCP_TIME_WAIT);
    fx_advance(f, 1);
    expect_state(&cv, TCP_CLOSED);
    tapir_sock_close(cv.l);
}

/* RFC 9293 §3.10.7.4 / RFC 1122 §4.2.2.13: a SYN above the old sequence space reopens a
 * connection in TIME_WAIT through the listener; an old one does not. */
static void test_syn_with_higher_seq_reopens_time_wait(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_listen(f, 0);
    server_time_wait(&cv);
    fx_advance(f, 1000000);
    seg_in(&cv, FX_TCP_SYN, PEER_ISN - 1000, 0, 1460, NULL, 0); /* older: an ACK, no reopen */
    expect_ack(&cv, cv.iss + 2, cv.pseq);
    expect_state(&cv, TCP_TIME_WAIT);
    assert_int_equal(tcps(f)->time_wait_reopened, 0);
    uint32_t old_iss = cv.iss;
    struct conv nc = conv_new(f, RPORT);
    nc.l = cv.l;
    struct fx_tcp_view v = syn_to_listener(&nc, cv.pseq + 100000, 1460);
    assert_int_equal(v.mss, 1460);
    assert_int_equal(tcps(f)->time_wait_reopened, 1);
    expect_state(&nc, TCP_SYN_RECEIVED);
    assert_true(v.seq != old_iss);
    peer_ack(&nc);
    expect_state(&nc, TCP_ESTABLISHED);
    assert_int_equal(tapir_sock_accept(nc.l, &nc.s, NULL), 0);
    tapir_sock_close(nc.s);
    tapir_sock_close(nc.l);
}

/* RFC 9293 §3.6 figure 13: both FINs cross: FIN_WAIT_1 -> CLOSING -> TIME_WAIT. */
static void test_simultaneous_close_goes_through_closing(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, 5000);
    active_open(&cv, PEER_ISN);
    struct fx_tcp_view v = shutdown_sends_fin(&cv);
    assert_int_equal(v.seq, cv.iss + 1);
    peer_send(&cv, FX_TCP_ACK | FX_TCP_FIN, NULL, 0); /* its FIN, not yet ACKing ours */
    expect_ack(&cv, cv.iss + 2, PEER_ISN + 2);
    expect_state(&cv, TCP_CLOSING);
    cv.pack = cv.iss + 2;
    peer_send(&cv, FX_TCP_ACK, NULL, 0);
    fx_expect_none(f);
    expect_state(&cv, TCP_TIME_WAIT);
    time_wait_ends(&cv);
    tapir_sock_close(cv.s);
}

/* RFC 1122 §4.2.2.13: closing with data unread loses it: a RST tells the peer. */
static void test_close_with_unread_data_sends_rst(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_accepted(f, 0);
    peer_send(&cv, FX_TCP_ACK, pat, 100);
    fx_expect_none(f); /* its ACK is delayed: the close comes first */
    uint64_t freed = tcps(f)->conns_freed;
    tapir_sock_close(cv.s);
    struct fx_tcp_view v = out_one(&cv);
    assert_true(v.flags & FX_TCP_RST);
    assert_int_equal(v.flags & ~(FX_TCP_RST | FX_TCP_ACK), 0);
    assert_int_equal(v.seq, cv.iss + 1); /* <SEQ=SND.NXT>: in the peer's window */
    assert_int_equal(tcps(f)->closed_with_unread, 1);
    expect_state(&cv, TCP_CLOSED);
    assert_int_equal(tcps(f)->conns_freed, freed + 1);
    fx_run_until(f, f->now_us + 100000000);
    fx_expect_none(f); /* and nothing after it, not the delayed ACK */
    assert_int_equal(tcps(f)->delayed_acks, 0);
    tapir_sock_close(cv.l);
}

/* A reset sent by an abort is a reset sent: tcp.tx_resets ("resets sent") counts it, as it
 * counts those to segments for no connection. */
static void test_abort_reset_is_counted_in_tx_resets(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_accepted(f, 0);
    peer_send(&cv, FX_TCP_ACK, pat, 100);
    expect_delayed_ack(&cv, cv.iss + 1, cv.pseq);
    tapir_sock_close(cv.s);
    struct fx_tcp_view v = out_one(&cv);
    assert_true(v.flags & FX_TCP_RST);
    assert_int_equal(tcps(f)->tx_resets, 1);
    tapir_sock_close(cv.l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TCP_TEST(test_fin_moves_to_close_wait_and_reads_end_after_the_data),
        TCP_TEST(test_fin_after_a_hole_is_not_taken_early),
        TCP_TEST(test_close_in_close_wait_sends_fin_then_last_ack_then_closed),
        TCP_TEST(test_last_ack_fin_is_retransmitted),
        TCP_TEST(test_active_close_through_time_wait_frees_the_connection),
        TCP_TEST(test_shutdown_wr_goes_fin_wait_and_reads_peer_data),
        TCP_TEST(test_orphan_in_fin_wait_2_is_freed_after_2msl),
        TCP_TEST(test_rst_in_time_wait_is_ignored),
        TCP_TEST(test_time_wait_acks_retransmitted_fin_and_restarts_2msl),
        TCP_TEST(test_syn_with_higher_seq_reopens_time_wait),
        TCP_TEST(test_simultaneous_close_goes_through_closing),
        TCP_TEST(test_close_with_unread_data_sends_rst),
        TCP_TEST(test_abort_reset_is_counted_in_tx_resets),
    };
    fx_pattern(pat, sizeof(pat), 7);
    return cmocka_run_group_tests_name("tcp close", tests, NULL, NULL);
}
