/* SPDX-License-Identifier: MIT */
/* test_sim_tcp.c: TCP connections open and close between two stacks (10.0.0.1 and 10.0.0.2)
 * over drivers/wire.c in virtual time, through the core's non-blocking sockets. Each state
 * change of RFC 9293's diagram is checked in the trace, connection by connection: active,
 * passive and simultaneous opens and closes, half-close, resets in every state a test can
 * reach, listeners and their queues, TIME_WAIT's 2*MSL and the reuse of its 4-tuple, and a
 * peer that vanishes. Every test ends with every connection block freed and no segment past
 * its peer's window (settle, in sim.c, the harness). TCP_SIM_TRACE=1 in the environment prints
 * both stacks' traces after each test, TCP_SIM_ONLY=pattern runs only the tests it matches,
 * TCP_SIM_SEED=n varies every seed. Data, windows and loss: test_sim_tcp_data.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "core.h"
#include "sim.h"

/* ---- Open and close -------------------------------------------------------------------------- */

/* RFC 9293 §3.10.7.2-3: a handshake that establishes does so in a handful of segments. */
static void test_handshake_and_close_segment_counts(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 27, DEFAULT_MSL_US);
    struct conn c;
    open_conn(s, &c, 0, 0);
    run_for(s, 100 * MS);
    /* SYN; SYN,ACK; ACK. */
    assert_int_equal(s->tcp_segs[0], 2);
    assert_int_equal(s->tcp_segs[1], 1);
    sync_stacks(s);
    tapir_sock_close(c.cli);
    run_for(s, 100 * MS);
    tapir_sock_close(c.srv);
    run_for(s, 100 * MS);
    /* FIN; ACK; FIN; ACK. */
    assert_int_equal(s->tcp_segs[0], 4);
    assert_int_equal(s->tcp_segs[1], 3);
    CLOSE_SETTLE_FREE(s, c.lis);
}

/* RFC 9293 §3.6, the normal close: the client half-closes with shutdown(SHUT_WR) and keeps
 * its socket, so it reads the server's FIN as end of stream; TIME_WAIT lasts exactly 2*MSL. */
static void test_active_open_and_close(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 1, DEFAULT_MSL_US);
    struct conn c;
    open_conn(s, &c, 0, 0);
    assert_string_equal(states_at(s, 1, 0, SERVER_PORT, 0, 0), "CLOSED LISTEN");
    assert_string_equal(states(s, 0, c.cport, SERVER_PORT), "CLOSED SYN_SENT ESTABLISHED");
    assert_string_equal(states(s, 1, SERVER_PORT, c.cport), "CLOSED SYN_RECEIVED ESTABLISHED");

    send_str(c.cli, "hello");
    expect_bytes(s, c.srv, "hello", 5);
    send_str(c.srv, "world!");
    expect_bytes(s, c.cli, "world!", 6);

    sync_stacks(s);
    assert_int_equal(tapir_sock_shutdown(c.cli, SHUT_WR), 0);
    assert_int_equal(tapir_sock_sendto(c.cli, "x", 1, 0, NULL), -EPIPE);
    run_for(s, 50 * MS);
    assert_string_equal(states(s, 0, c.cport, SERVER_PORT),
                        "CLOSED SYN_SENT ESTABLISHED FIN_WAIT_1 FIN_WAIT_2");
    assert_string_equal(states(s, 1, SERVER_PORT, c.cport),
                        "CLOSED SYN_RECEIVED ESTABLISHED CLOSE_WAIT");
    expect_eof(c.srv);
    /* CLOSE_WAIT still sends. */
    send_str(c.srv, "bye");
    expect_bytes(s, c.cli, "bye", 3);

    tapir_sock_close(c.srv);
    run_for(s, 50 * MS);
    assert_string_equal(states(s, 1, SERVER_PORT, c.cport),
                        "CLOSED SYN_RECEIVED ESTABLISHED CLOSE_WAIT LAST_ACK CLOSED");
    assert_string_equal(states(s, 0, c.cport, SERVER_PORT),
                        "CLOSED SYN_SENT ESTABLISHED FIN_WAIT_1 FIN_WAIT_2 TIME_WAIT");
    expect_eof(c.cli);
    /* The child; the listener is open. */
    assert_int_equal(tapir_stats(s->st[1])->tcp.conns_freed, 1);

    /* TIME_WAIT: 2*MSL to the microsecond. */
    uint64_t tw = entered(s, 0, c.cport, SERVER_PORT, "TIME_WAIT", 0);
    assert_true(tw != UINT64_MAX);
    run_for(s, tw + 2 * s->msl_us - 1 - now(s));
    assert_int_equal(entered(s, 0, c.cport, SERVER_PORT, "CLOSED", 0), UINT64_MAX);
    run_for(s, 1);
    assert_string_equal(states(s, 0, c.cport, SERVER_PORT),
                        "CLOSED SYN_SENT ESTABLISHED FIN_WAIT_1 FIN_WAIT_2 TIME_WAIT CLOSED");
    assert_int_equal(entered(s, 0, c.cport, SERVER_PORT, "CLOSED", 0) - tw, 2 * s->msl_us);
    expect_eof(c.cli);

    tapir_sock_close(c.cli);
    tapir_sock_close(c.lis);
    assert_int_equal(tapir_stats(s->st[0])->tcp.established, 1);
    assert_int_equal(tapir_stats(s->st[1])->tcp.established, 1);
    assert_int_equal(s->resets[0] + s->resets[1], 0);
    settle(s);
    sim_free(s);
}

/* The same close with close() at once: the client's block lives on as an orphan through
 * FIN_WAIT_2 and TIME_WAIT, and is freed when 2*MSL runs out. */
static void test_close_orphans_until_time_wait_ends(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 2, DEFAULT_MSL_US);
    struct conn c;
    open_conn(s, &c, 0, 0);
    send_str(c.cli, "last words");
    sync_stacks(s);
    tapir_sock_close(c.cli);
    expect_bytes(s, c.srv, "last words", 10);
    RUN_UNTIL(s, tapir_sock_events(c.srv) & POLLRDHUP, SEC);
    expect_eof(c.srv);
    tapir_sock_close(c.srv);
    run_for(s, 50 * MS);
    assert_string_equal(states(s, 0, c.cport, SERVER_PORT),
                        "CLOSED SYN_SENT ESTABLISHED FIN_WAIT_1 FIN_WAIT_2 TIME_WAIT");
    assert_string_equal(states(s, 1, SERVER_PORT, c.cport),
                        "CLOSED SYN_RECEIVED ESTABLISHED CLOSE_WAIT LAST_ACK CLOSED");
    const struct tapir_tcp_stats *ta = &tapir_stats(s->st[0])->tcp;
    assert_int_equal(ta->conns_allocated, 1);
    assert_int_equal(ta->conns_freed, 0);
    run_for(s, 2 * s->msl_us);
    assert_string_equal(states(s, 0, c.cport, SERVER_PORT),
                        "CLOSED SYN_SENT ESTABLISHED FIN_WAIT_1 FIN_WAIT_2 TIME_WAIT CLOSED");
    assert_int_equal(ta->conns_freed, 1);
    CLOSE_SETTLE_FREE(s, c.lis);
}

/* An orphan in FIN_WAIT_2 whose peer never closes is freed after 2*MSL (Linux's
 * tcp_fin_timeout); the peer's late FIN then finds nothing and draws a reset, which ends
 * LAST_ACK. */
static void test_orphan_fin_wait_2_times_out(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 3, 5 * SEC);
    struct conn c;
    open_conn(s, &c, 0, 0);
    sync_stacks(s);
    tapir_sock_close(c.cli);
    run_for(s, 2 * s->msl_us + SEC);
    assert_string_equal(states(s, 0, c.cport, SERVER_PORT),
                        "CLOSED SYN_SENT ESTABLISHED FIN_WAIT_1 FIN_WAIT_2 CLOSED");
    assert_int_equal(tapir_stats(s->st[0])->tcp.conns_freed, 1);
    expect_eof(c.srv);
    tapir_sock_close(c.srv);
    run_for(s, 50 * MS);
    assert_string_equal(states(s, 1, SERVER_PORT, c.cport),
                        "CLOSED SYN_RECEIVED ESTABLISHED CLOSE_WAIT LAST_ACK CLOSED");
    assert_int_equal(tapir_stats(s->st[0])->tcp.rx_no_conn, 1);
    assert_int_equal(tapir_stats(s->st[1])->tcp.rx_resets, 1);
    CLOSE_SETTLE_FREE(s, c.lis);
}

/* A (*a, port 1000) and B (*b, port 2000) connect to each other at once, both in progress. */
static void connect_each_other(struct sim *s, struct tapir_sock **a, struct tapir_sock **b)
{
    *a = tcp_open(s, 0);
    *b = tcp_open(s, 1);
    bind_to(*a, 0, 1000);
    bind_to(*b, 0, 2000);
    start_connect(s, *a, 1, 2000);
    start_connect(s, *b, 0, 1000);
}

/* RFC 9293 §3.5, figure 8: both ends connect to each other at once; each SYN_SENT sees the
 * other's SYN, answers with SYN,ACK from SYN_RECEIVED, and the SYN,ACKs establish both. */
static void test_simultaneous_open(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 4, DEFAULT_MSL_US);
    struct tapir_sock *a, *b;
    connect_each_other(s, &a, &b);
    uint64_t t0 = now(s);
    int ra = -EAGAIN, rb = -EAGAIN;
    RUN_UNTIL(s, poll_connected(a, &ra) & poll_connected(b, &rb), 30 * SEC);
    assert_string_equal(states(s, 0, 1000, 2000),
                        "CLOSED SYN_SENT SYN_RECEIVED ESTABLISHED");
    assert_string_equal(states(s, 1, 2000, 1000),
                        "CLOSED SYN_SENT SYN_RECEIVED ESTABLISHED");
    assert_int_equal(ra, 0);
    assert_int_equal(rb, 0);
    /* Without loss it takes two crossings and no retransmission, and only a few segments. */
    assert_true(now(s) - t0 < 100 * MS);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(tapir_stats(s->st[i])->tcp.retransmits, 0);
        assert_true(s->tcp_segs[i] <= 4);
    }
    send_str(a, "from a");
    send_str(b, "from b");
    expect_bytes(s, b, "from a", 6);
    expect_bytes(s, a, "from b", 6);
    CLOSE_SETTLE_FREE(s, a, b);
}

/* RFC 9293 §3.6, figure 13: both close at once; the FINs cross, both pass through CLOSING to
 * TIME_WAIT, and both blocks end 2*MSL later. */
static void test_simultaneous_close(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 5, DEFAULT_MSL_US);
    struct conn c;
    open_conn(s, &c, 0, 0);
    run_for(s, 50 * MS);
    sync_stacks(s);
    assert_int_equal(tapir_sock_shutdown(c.cli, SHUT_WR), 0);
    assert_int_equal(tapir_sock_shutdown(c.srv, SHUT_WR), 0);
    run_for(s, 50 * MS);
    assert_string_equal(states(s, 0, c.cport, SERVER_PORT),
                        "CLOSED SYN_SENT ESTABLISHED FIN_WAIT_1 CLOSING TIME_WAIT");
    assert_string_equal(states(s, 1, SERVER_PORT, c.cport),
                        "CLOSED SYN_RECEIVED ESTABLISHED FIN_WAIT_1 CLOSING TIME_WAIT");
    expect_eof(c.cli);
    expect_eof(c.srv);
    run_for(s, 2 * s->msl_us);
    for (int side = 0; side < 2; side++) {
        uint16_t lp = side ? SERVER_PORT : c.cport, rp = side ? c.cport : SERVER_PORT;
        assert_int_equal(entered(s, side, lp, rp, "CLOSED", 0) -
                             entered(s, side, lp, rp, "TIME_WAIT", 0),
                         2 * s->msl_us);
    }
    CLOSE_SETTLE_FREE(s, c.cli, c.srv, c.lis);
}

/* ---- Half-close ------------------------------------------------------------------------------ */

/* RFC 9293 §3.6: after one side's FIN, the other direction goes on: 300 KB (more than the
 * window and the send buffer) flow towards the side that shut down its sending. */
static void test_half_close_keeps_the_other_direction(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 6, DEFAULT_MSL_US);
    struct conn c;
    open_conn(s, &c, 0, 0);
    sync_stacks(s);
    assert_int_equal(tapir_sock_shutdown(c.cli, SHUT_WR), 0);
    run_for(s, 50 * MS);
    expect_eof(c.srv);
    assert_true(tapir_sock_events(c.cli) & POLLOUT); /* as Linux: writing will not block */
    const size_t len = 300000;
    uint8_t *data = make_pattern(s, 6, len);
    struct stream to = {.k = c.srv, .out = data, .out_len = len, .shut_after_send = true,
                        .reading = true, .eof = true};
    struct stream from = {.k = c.cli, .in = data, .in_len = len, .want_eof = true,
                          .reading = true};
    assert_true(transfer(s, &to, &from, 60 * SEC));
    assert_int_equal(tapir_sock_sendto(c.cli, "x", 1, 0, NULL), -EPIPE);
    run_for(s, 50 * MS);
    assert_string_equal(states(s, 0, c.cport, SERVER_PORT),
                        "CLOSED SYN_SENT ESTABLISHED FIN_WAIT_1 FIN_WAIT_2 TIME_WAIT");
    assert_string_equal(states(s, 1, SERVER_PORT, c.cport),
                        "CLOSED SYN_RECEIVED ESTABLISHED CLOSE_WAIT LAST_ACK CLOSED");
    assert_int_equal(tapir_stats(s->st[0])->tcp.rx_bytes, len);
    CLOSE_SETTLE_FREE(s, c.cli, c.srv, c.lis);
}

/* The other half: the server (passive side) shuts down first and keeps reading. */
static void test_half_close_by_the_passive_side(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 7, DEFAULT_MSL_US);
    struct conn c;
    open_conn(s, &c, 0, 0);
    sync_stacks(s);
    assert_int_equal(tapir_sock_shutdown(c.srv, SHUT_WR), 0);
    run_for(s, 50 * MS);
    expect_eof(c.cli);
    const size_t len = 200000;
    uint8_t *data = make_pattern(s, 7, len);
    struct stream to = {.k = c.cli, .out = data, .out_len = len, .shut_after_send = true,
                        .reading = true, .eof = true};
    struct stream from = {.k = c.srv, .in = data, .in_len = len, .want_eof = true,
                          .reading = true};
    assert_true(transfer(s, &to, &from, 60 * SEC));
    run_for(s, 50 * MS);
    assert_string_equal(states(s, 1, SERVER_PORT, c.cport),
                        "CLOSED SYN_RECEIVED ESTABLISHED FIN_WAIT_1 FIN_WAIT_2 TIME_WAIT");
    assert_string_equal(states(s, 0, c.cport, SERVER_PORT),
                        "CLOSED SYN_SENT ESTABLISHED CLOSE_WAIT LAST_ACK CLOSED");
    CLOSE_SETTLE_FREE(s, c.cli, c.srv, c.lis);
}

/* ---- Resets ---------------------------------------------------------------------------------- */

/* The server sends n bytes that the client takes in but does not read. */
static void unread_to_client(struct sim *s, struct conn *c, size_t n)
{
    uint8_t *data = make_pattern(s, 77, n);
    assert_int_equal(tapir_sock_sendto(c->srv, data, n, 0, NULL), (ssize_t)n);
    run_for(s, 50 * MS);
    assert_true(tapir_sock_events(c->cli) & POLLIN);
}

/* RFC 1122 §4.2.2.13 and RFC 9293 §3.10.5: closing with unread data aborts with a reset;
 * the peer in ESTABLISHED reports ECONNRESET (here through SO_ERROR, once). */
static void test_rst_close_with_unread_data_in_established(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 12, DEFAULT_MSL_US);
    struct conn c;
    open_conn(s, &c, 0, 0);
    unread_to_client(s, &c, 1000);
    sync_stacks(s);
    tapir_sock_close(c.cli);
    run_for(s, 50 * MS);
    assert_int_equal(tapir_stats(s->st[0])->tcp.closed_with_unread, 1);
    assert_int_equal(s->resets[0], 1);
    assert_string_equal(states(s, 0, c.cport, SERVER_PORT),
                        "CLOSED SYN_SENT ESTABLISHED CLOSED");
    assert_string_equal(states(s, 1, SERVER_PORT, c.cport),
                        "CLOSED SYN_RECEIVED ESTABLISHED CLOSED");
    assert_int_equal(tapir_stats(s->st[1])->tcp.rx_resets, 1);
    short ev = tapir_sock_events(c.srv);
    assert_true(ev & POLLERR);
    assert_true(ev & POLLHUP);
    int err = -1;
    socklen_t elen = sizeof(err);
    assert_int_equal(tapir_sock_getopt(c.srv, SOL_SOCKET, SO_ERROR, &err, &elen), 0);
    assert_int_equal(err, ECONNRESET);
    assert_int_equal(tapir_sock_getopt(c.srv, SOL_SOCKET, SO_ERROR, &err, &elen), 0);
    assert_int_equal(err, 0); /* reported once */
    assert_int_equal(tapir_sock_sendto(c.srv, "x", 1, 0, NULL), -EPIPE);
    CLOSE_SETTLE_FREE(s, c.srv, c.lis);
}

/* SO_LINGER {1, 0}: close aborts with a reset even with nothing unread (RFC 9293 §3.10.5). */
static void test_rst_linger_zero_aborts(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 28, DEFAULT_MSL_US);
    struct conn c;
    open_conn(s, &c, 0, 0);
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    assert_int_equal(tapir_sock_setopt(c.cli, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
    sync_stacks(s);
    tapir_sock_close(c.cli);
    run_for(s, 20 * MS);
    assert_int_equal(s->resets[0], 1);
    assert_int_equal(tapir_stats(s->st[0])->tcp.closed_with_unread, 0);
    assert_string_equal(states(s, 0, c.cport, SERVER_PORT),
                        "CLOSED SYN_SENT ESTABLISHED CLOSED");
    assert_string_equal(states(s, 1, SERVER_PORT, c.cport),
                        "CLOSED SYN_RECEIVED ESTABLISHED CLOSED");
    char b;
    assert_int_equal(tapir_sock_recvfrom(c.srv, &b, 1, 0, NULL, NULL), -ECONNRESET);
    assert_int_equal(tapir_sock_recvfrom(c.srv, &b, 1, 0, NULL, NULL), 0); /* reported once */
    CLOSE_SETTLE_FREE(s, c.srv, c.lis);
}

/* RFC 9293 §3.10.7.1: a SYN to a port nobody listens on gets <SEQ=0><ACK=SEG.SEQ+1>
 * <CTL=RST,ACK>; SYN_SENT takes it as a refusal (§3.10.7.3). */
static void test_rst_connect_to_closed_port(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 13, DEFAULT_MSL_US);
    struct tapir_sock *k = tcp_open(s, 0);
    start_connect(s, k, 1, 81);
    uint16_t port = local_port(k);
    assert_int_equal(wait_connected(s, k, 10 * SEC), -ECONNREFUSED);
    assert_string_equal(states(s, 0, port, 81), "CLOSED SYN_SENT CLOSED");
    const struct tapir_tcp_stats *tb = &tapir_stats(s->st[1])->tcp;
    assert_int_equal(tb->rx_no_conn, 1);
    assert_int_equal(tb->tx_resets, 1);
    assert_int_equal(tb->conns_allocated, 0);
    assert_int_equal(tapir_stats(s->st[0])->tcp.rx_resets, 1);
    assert_true(tapir_sock_events(k) & POLLHUP);
    assert_int_equal(tapir_stats(s->st[0])->tcp.retransmits, 0);
    CLOSE_SETTLE_FREE(s, k);
}

/* A client gives up while its SYN is on the way: its SYN,ACK finds nothing and draws a reset
 * <SEQ=SEG.ACK><CTL=RST>, which ends the server's SYN_RECEIVED (RFC 9293 §3.10.7.4: from a
 * passive open the connection just goes, the listener stays). */
static void test_rst_in_syn_received(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 14, DEFAULT_MSL_US);
    struct tapir_sock *l = listen_on(s, 1, SERVER_PORT, 0);
    struct tapir_sock *k = tcp_open(s, 0);
    start_connect(s, k, 1, SERVER_PORT);
    uint16_t port = local_port(k);
    tapir_sock_close(k);
    run_for(s, 100 * MS);
    assert_string_equal(states(s, 0, port, SERVER_PORT), "CLOSED SYN_SENT CLOSED");
    assert_string_equal(states(s, 1, SERVER_PORT, port), "CLOSED SYN_RECEIVED CLOSED");
    assert_int_equal(tapir_stats(s->st[0])->tcp.rx_no_conn, 1);
    assert_int_equal(s->resets[0], 1);
    assert_int_equal(tapir_stats(s->st[1])->tcp.rx_resets, 1);
    struct tapir_sock *none = NULL;
    assert_int_equal(tapir_sock_accept(l, &none, NULL), -EAGAIN);
    assert_false(tapir_sock_events(l) & POLLIN);
    const struct tapir_tcp_stats *tb = &tapir_stats(s->st[1])->tcp;
    assert_int_equal(tb->conns_allocated - tb->conns_freed, 1); /* only the listener */
    /* The listener still serves. */
    struct tapir_sock *k2 = tcp_open(s, 0);
    start_connect(s, k2, 1, SERVER_PORT);
    assert_int_equal(wait_connected(s, k2, 10 * SEC), 0);
    struct tapir_sock *a = wait_accept(s, l, SEC);
    CLOSE_SETTLE_FREE(s, k2, a, l);
}

/* RFC 9293 §3.10.7.4: a reset in SYN_RECEIVED reached from SYN_SENT (a simultaneous open)
 * means the connection was refused. Both SYN,ACKs are lost, so both ends sit in
 * SYN_RECEIVED; the server side aborts (SO_LINGER {1, 0}) and its reset refuses the other. */
static bool lose_syn_acks(struct sim *s, int from, const struct seg_view *v)
{
    (void)s;
    (void)from;
    return (v->flags & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK);
}

static void test_rst_in_syn_received_after_simultaneous_open(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 42, DEFAULT_MSL_US);
    s->drop_fn = lose_syn_acks;
    struct tapir_sock *a, *b;
    connect_each_other(s, &a, &b);
    run_for(s, 100 * MS);
    assert_string_equal(states(s, 0, 1000, 2000), "CLOSED SYN_SENT SYN_RECEIVED");
    assert_string_equal(states(s, 1, 2000, 1000), "CLOSED SYN_SENT SYN_RECEIVED");
    s->drop_fn = NULL;
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    assert_int_equal(tapir_sock_setopt(b, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
    tapir_sock_close(b);
    assert_int_equal(wait_connected(s, a, SEC), -ECONNREFUSED);
    assert_string_equal(states(s, 0, 1000, 2000), "CLOSED SYN_SENT SYN_RECEIVED CLOSED");
    assert_string_equal(states(s, 1, 2000, 1000), "CLOSED SYN_SENT SYN_RECEIVED CLOSED");
    CLOSE_SETTLE_FREE(s, a);
}

/* A reset in FIN_WAIT_1: the server's FIN is sent but its ACK lost (frames from the client
 * vanish for a moment); the client then closes with unread data. */
static void test_rst_in_fin_wait_1(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 15, DEFAULT_MSL_US);
    struct conn c;
    open_conn(s, &c, 0, 0);
    unread_to_client(s, &c, 100);
    s->drop[0] = true;
    sync_stacks(s);
    assert_int_equal(tapir_sock_shutdown(c.srv, SHUT_WR), 0);
    run_for(s, 20 * MS);
    s->drop[0] = false;
    tapir_sock_close(c.cli);
    run_for(s, 20 * MS);
    assert_string_equal(states(s, 1, SERVER_PORT, c.cport),
                        "CLOSED SYN_RECEIVED ESTABLISHED FIN_WAIT_1 CLOSED");
    assert_string_equal(states(s, 0, c.cport, SERVER_PORT),
                        "CLOSED SYN_SENT ESTABLISHED CLOSE_WAIT CLOSED");
    char b;
    assert_int_equal(tapir_sock_recvfrom(c.srv, &b, 1, 0, NULL, NULL), -ECONNRESET);
    CLOSE_SETTLE_FREE(s, c.srv, c.lis);
}

static void test_rst_in_fin_wait_2(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 16, DEFAULT_MSL_US);
    struct conn c;
    open_conn(s, &c, 0, 0);
    unread_to_client(s, &c, 100);
    sync_stacks(s);
    assert_int_equal(tapir_sock_shutdown(c.srv, SHUT_WR), 0);
    run_for(s, 20 * MS);
    tapir_sock_close(c.cli);
    run_for(s, 20 * MS);
    assert_string_equal(states(s, 1, SERVER_PORT, c.cport),
                        "CLOSED SYN_RECEIVED ESTABLISHED FIN_WAIT_1 FIN_WAIT_2 CLOSED");
    assert_string_equal(states(s, 0, c.cport, SERVER_PORT),
                        "CLOSED SYN_SENT ESTABLISHED CLOSE_WAIT CLOSED");
    assert_true(tapir_sock_events(c.srv) & POLLERR);
    char b;
    assert_int_equal(tapir_sock_recvfrom(c.srv, &b, 1, 0, NULL, NULL), -ECONNRESET);
    CLOSE_SETTLE_FREE(s, c.srv, c.lis);
}

/* A reset in CLOSE_WAIT: the server has read the client's FIN; the client then aborts. */
static void test_rst_in_close_wait(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 17, DEFAULT_MSL_US);
    struct conn c;
    open_conn(s, &c, 0, 0);
    unread_to_client(s, &c, 100);
    sync_stacks(s);
    assert_int_equal(tapir_sock_shutdown(c.cli, SHUT_WR), 0);
    run_for(s, 20 * MS);
    tapir_sock_close(c.cli);
    run_for(s, 20 * MS);
    assert_string_equal(states(s, 0, c.cport, SERVER_PORT),
                        "CLOSED SYN_SENT ESTABLISHED FIN_WAIT_1 FIN_WAIT_2 CLOSED");
    assert_string_equal(states(s, 1, SERVER_PORT, c.cport),
                        "CLOSED SYN_RECEIVED ESTABLISHED CLOSE_WAIT CLOSED");
    char b;
    assert_int_equal(tapir_sock_recvfrom(c.srv, &b, 1, 0, NULL, NULL), -ECONNRESET);
    assert_int_equal(tapir_sock_sendto(c.srv, "x", 1, 0, NULL), -EPIPE);
    CLOSE_SETTLE_FREE(s, c.srv, c.lis);
}

/* A reset in LAST_ACK: the server's FIN is lost, the client aborts; RFC 9293 §3.10.7.4: the
 * connection just ends, with no error for the reader (it has read the FIN already). */
static void test_rst_in_last_ack(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 18, DEFAULT_MSL_US);
    struct conn c;
    open_conn(s, &c, 0, 0);
    unread_to_client(s, &c, 100);
    sync_stacks(s);
    assert_int_equal(tapir_sock_shutdown(c.cli, SHUT_WR), 0);
    run_for(s, 20 * MS);
    expect_eof(c.srv);
    s->drop[1] = true;
    assert_int_equal(tapir_sock_shutdown(c.srv, SHUT_WR), 0);
    run_for(s, 20 * MS);
    s->drop[1] = false;
    tapir_sock_close(c.cli);
    run_for(s, 20 * MS);
    assert_string_equal(states(s, 1, SERVER_PORT, c.cport),
                        "CLOSED SYN_RECEIVED ESTABLISHED CLOSE_WAIT LAST_ACK CLOSED");
    assert_string_equal(states(s, 0, c.cport, SERVER_PORT),
                        "CLOSED SYN_SENT ESTABLISHED FIN_WAIT_1 FIN_WAIT_2 CLOSED");
    assert_int_equal(tapir_stats(s->st[1])->tcp.rx_resets, 1);
    CLOSE_SETTLE_FREE(s, c.srv, c.lis);
}

/* A reset in CLOSING: both close, the client's FIN and its ACK of the server's FIN are lost,
 * so the client sits in CLOSING when the server aborts. */
static void test_rst_in_closing(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 19, DEFAULT_MSL_US);
    struct conn c;
    open_conn(s, &c, 0, 0);
    unread_to_client(s, &c, 100);
    send_str(c.cli, "unread by the server");
    run_for(s, 20 * MS);
    s->drop[0] = true;
    sync_stacks(s);
    assert_int_equal(tapir_sock_shutdown(c.cli, SHUT_WR), 0);
    assert_int_equal(tapir_sock_shutdown(c.srv, SHUT_WR), 0);
    run_for(s, 20 * MS);
    s->drop[0] = false;
    tapir_sock_close(c.srv);
    run_for(s, 20 * MS);
    assert_string_equal(states(s, 0, c.cport, SERVER_PORT),
                        "CLOSED SYN_SENT ESTABLISHED FIN_WAIT_1 CLOSING CLOSED");
    assert_string_equal(states(s, 1, SERVER_PORT, c.cport),
                        "CLOSED SYN_RECEIVED ESTABLISHED FIN_WAIT_1 CLOSED");
    assert_int_equal(tapir_stats(s->st[0])->tcp.rx_resets, 1);
    CLOSE_SETTLE_FREE(s, c.cli, c.lis);
}

/* RFC 1337: a reset does not cut TIME_WAIT short. The server aborts from LAST_ACK (its
 * socket had unread data) after the client has entered TIME_WAIT. */
static void test_rst_ignored_in_time_wait(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 20, DEFAULT_MSL_US);
    struct conn c;
    open_conn(s, &c, 0, 0);
    send_str(c.cli, "never read");
    sync_stacks(s);
    assert_int_equal(tapir_sock_shutdown(c.cli, SHUT_WR), 0);
    run_for(s, 20 * MS);
    s->drop[0] = true;
    assert_int_equal(tapir_sock_shutdown(c.srv, SHUT_WR), 0);
    run_for(s, 20 * MS);
    s->drop[0] = false;
    tapir_sock_close(c.srv);
    run_for(s, 20 * MS);
    assert_string_equal(states(s, 1, SERVER_PORT, c.cport),
                        "CLOSED SYN_RECEIVED ESTABLISHED CLOSE_WAIT LAST_ACK CLOSED");
    assert_string_equal(states(s, 0, c.cport, SERVER_PORT),
                        "CLOSED SYN_SENT ESTABLISHED FIN_WAIT_1 FIN_WAIT_2 TIME_WAIT");
    assert_int_equal(tapir_stats(s->st[0])->tcp.rst_ignored_time_wait, 1);
    run_for(s, 2 * s->msl_us);
    assert_int_equal(entered(s, 0, c.cport, SERVER_PORT, "CLOSED", 0) -
                         entered(s, 0, c.cport, SERVER_PORT, "TIME_WAIT", 0),
                     2 * s->msl_us);
    expect_eof(c.cli);
    CLOSE_SETTLE_FREE(s, c.cli, c.lis);
}

/* ---- Listeners and accept -------------------------------------------------------------------- */

/* A listener closing resets the connections nobody accepted (as Linux). */
static void test_listener_close_resets_unaccepted(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 21, DEFAULT_MSL_US);
    struct tapir_sock *l = listen_on(s, 1, SERVER_PORT, 0);
    struct tapir_sock *k = tcp_open(s, 0);
    start_connect(s, k, 1, SERVER_PORT);
    uint16_t port = local_port(k);
    assert_int_equal(wait_connected(s, k, 10 * SEC), 0);
    run_for(s, 20 * MS);
    assert_true(tapir_sock_events(l) & POLLIN);
    tapir_sock_close(l);
    run_for(s, 20 * MS);
    assert_string_equal(states(s, 1, SERVER_PORT, port),
                        "CLOSED SYN_RECEIVED ESTABLISHED CLOSED");
    assert_string_equal(states(s, 0, port, SERVER_PORT), "CLOSED SYN_SENT ESTABLISHED CLOSED");
    char b;
    assert_int_equal(tapir_sock_recvfrom(k, &b, 1, 0, NULL, NULL), -ECONNRESET);
    CLOSE_SETTLE_FREE(s, k);
}

/* A drop_fn: the client's bare ACKs vanish (so the server's handshakes stay half-open). */
static bool lose_client_bare_acks(struct sim *s, int from, const struct seg_view *v)
{
    (void)s;
    return from == 0 && !v->len && (v->flags & (TCP_SYN | TCP_FIN | TCP_RST | TCP_ACK)) == TCP_ACK;
}

/* A listener closing aborts its half-open handshakes too: the SYN_RECEIVED child resets the
 * client, which had already reached ESTABLISHED, and which reports ECONNRESET. */
static void test_listener_close_resets_half_open(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 48, DEFAULT_MSL_US);
    struct tapir_sock *l = listen_on(s, 1, SERVER_PORT, 0);
    struct tapir_sock *k = tcp_open(s, 0);
    s->drop_fn = lose_client_bare_acks;
    start_connect(s, k, 1, SERVER_PORT);
    uint16_t port = local_port(k);
    assert_int_equal(wait_connected(s, k, SEC), 0);
    run_for(s, 20 * MS);
    assert_string_equal(states(s, 1, SERVER_PORT, port), "CLOSED SYN_RECEIVED");
    s->drop_fn = NULL;
    sync_stacks(s);
    tapir_sock_close(l);
    run_for(s, 20 * MS);
    assert_string_equal(states(s, 1, SERVER_PORT, port), "CLOSED SYN_RECEIVED CLOSED");
    assert_string_equal(states(s, 0, port, SERVER_PORT), "CLOSED SYN_SENT ESTABLISHED CLOSED");
    char b;
    assert_int_equal(tapir_sock_recvfrom(k, &b, 1, 0, NULL, NULL), -ECONNRESET);
    CLOSE_SETTLE_FREE(s, k);
}

/* As on Linux, a stream socket whose connect failed may connect again: refused first, then,
 * once a listener is there, established, from the same port. */
static void test_connect_again_after_refusal(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 49, DEFAULT_MSL_US);
    struct tapir_sock *k = tcp_open(s, 0);
    start_connect(s, k, 1, SERVER_PORT);
    uint16_t port = local_port(k);
    assert_int_equal(wait_connected(s, k, SEC), -ECONNREFUSED);
    struct tapir_sock *l = listen_on(s, 1, SERVER_PORT, 0);
    start_connect(s, k, 1, SERVER_PORT);
    assert_int_equal(local_port(k), port);
    assert_int_equal(wait_connected(s, k, SEC), 0);
    struct tapir_sock *a = wait_accept(s, l, SEC);
    send_str(k, "second try");
    expect_bytes(s, a, "second try", 10);
    assert_string_equal(states(s, 0, port, SERVER_PORT),
                        "CLOSED SYN_SENT CLOSED SYN_SENT ESTABLISHED");
    CLOSE_SETTLE_FREE(s, k, a, l);
}

/* A connection the peer has already sent on and closed waits in the accept queue: accept
 * gives it, with its data and then end of stream. */
static void test_accept_after_the_peer_closed(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 22, DEFAULT_MSL_US);
    struct tapir_sock *l = listen_on(s, 1, SERVER_PORT, 0);
    struct tapir_sock *k = tcp_open(s, 0);
    start_connect(s, k, 1, SERVER_PORT);
    uint16_t port = local_port(k);
    assert_int_equal(wait_connected(s, k, 10 * SEC), 0);
    send_str(k, "before accept");
    tapir_sock_close(k);
    run_for(s, 50 * MS);
    assert_string_equal(states(s, 1, SERVER_PORT, port),
                        "CLOSED SYN_RECEIVED ESTABLISHED CLOSE_WAIT");
    struct tapir_sock *a = wait_accept(s, l, SEC);
    expect_bytes(s, a, "before accept", 13);
    expect_eof(a);
    tapir_sock_close(a);
    run_for(s, 50 * MS);
    assert_string_equal(states(s, 1, SERVER_PORT, port),
                        "CLOSED SYN_RECEIVED ESTABLISHED CLOSE_WAIT LAST_ACK CLOSED");
    CLOSE_SETTLE_FREE(s, l);
}

/* A listener with a backlog of 1 holds two connections for accept (as Linux's
 * sk_acceptq_is_full); a third SYN is dropped and counted, and its retransmission gets in
 * once the application has accepted. */
static void test_listen_backlog_overflow_then_retry(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 44, DEFAULT_MSL_US);
    struct tapir_sock *l = tcp_open(s, 1);
    bind_to(l, 0, SERVER_PORT);
    assert_int_equal(tapir_sock_listen(l, 1), 0);
    struct tapir_sock *k[3];
    for (int i = 0; i < 2; i++) {
        k[i] = tcp_open(s, 0);
        start_connect(s, k[i], 1, SERVER_PORT);
        assert_int_equal(wait_connected(s, k[i], SEC), 0);
        run_for(s, 10 * MS);
    }
    k[2] = tcp_open(s, 0);
    start_connect(s, k[2], 1, SERVER_PORT);
    uint64_t t0 = now(s);
    run_for(s, 500 * MS);
    assert_int_equal(tapir_sock_connected(k[2]), -EAGAIN);
    assert_true(tapir_stats(s->st[1])->tcp.listen_overflows >= 1);
    struct tapir_sock *acc[3];
    for (int i = 0; i < 2; i++)
        acc[i] = wait_accept(s, l, SEC);
    assert_int_equal(wait_connected(s, k[2], 10 * SEC), 0);
    assert_true(now(s) - t0 >= SEC); /* it took a SYN retransmission */
    acc[2] = wait_accept(s, l, SEC);
    for (int i = 0; i < 3; i++) {
        send_str(k[i], "x");
        expect_bytes(s, acc[i], "x", 1);
    }
    CLOSE_SETTLE_FREE(s, k[0], acc[0], k[1], acc[1], k[2], acc[2], l);
}

/* ---- TIME_WAIT and reuse --------------------------------------------------------------------- */

/* While the client's 4-tuple is in TIME_WAIT it cannot connect on it again; after 2*MSL
 * (here a configured MSL of 2 s) the same 4-tuple opens a new connection. */
static void test_time_wait_expiry_then_reuse(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 23, 2 * SEC);
    struct conn c;
    open_conn(s, &c, 40000, 0);
    assert_int_equal(c.cport, 40000);
    send_str(c.cli, "one");
    expect_bytes(s, c.srv, "one", 3);
    sync_stacks(s);
    tapir_sock_close(c.cli);
    run_for(s, 20 * MS);
    expect_eof(c.srv);
    tapir_sock_close(c.srv);
    run_for(s, 20 * MS);
    assert_string_equal(states(s, 0, 40000, SERVER_PORT),
                        "CLOSED SYN_SENT ESTABLISHED FIN_WAIT_1 FIN_WAIT_2 TIME_WAIT");
    struct tapir_sock *k = tcp_open(s, 0);
    struct sockaddr_in port40000 = sin_of(0, 40000);
    assert_int_equal(tapir_sock_bind(k, &port40000), -EADDRINUSE); /* as Linux: TIME_WAIT */
    set_reuseaddr(k);
    bind_to(k, 0, 40000); /* with SO_REUSEADDR the port is free: only the 4-tuple is taken */
    struct sockaddr_in to = sin_of(HOST_B, SERVER_PORT);
    assert_int_equal(tapir_sock_connect(k, &to), -EADDRNOTAVAIL);
    uint64_t tw = entered(s, 0, 40000, SERVER_PORT, "TIME_WAIT", 0);
    run_for(s, tw + 2 * s->msl_us - now(s));
    assert_int_equal(entered(s, 0, 40000, SERVER_PORT, "CLOSED", 0) - tw, 2 * s->msl_us);
    start_connect(s, k, 1, SERVER_PORT);
    assert_int_equal(wait_connected(s, k, 10 * SEC), 0);
    struct tapir_sock *srv = wait_accept(s, c.lis, SEC);
    send_str(k, "two");
    expect_bytes(s, srv, "two", 3);
    assert_string_equal(states(s, 0, 40000, SERVER_PORT),
                        "CLOSED SYN_SENT ESTABLISHED FIN_WAIT_1 FIN_WAIT_2 TIME_WAIT CLOSED "
                        "SYN_SENT ESTABLISHED");
    assert_string_equal(states(s, 1, SERVER_PORT, 40000),
                        "CLOSED SYN_RECEIVED ESTABLISHED CLOSE_WAIT LAST_ACK CLOSED "
                        "SYN_RECEIVED ESTABLISHED");
    CLOSE_SETTLE_FREE(s, k, srv, c.lis);
}

/* RFC 9293 §3.10.7.4 (and RFC 6191): a SYN whose sequence number is above everything the old
 * incarnation used reopens a connection in TIME_WAIT at once. Here the server closed first,
 * so it holds TIME_WAIT; the client reconnects from the same port a second later (its ISN
 * clock has moved on by 250000). */
static void test_syn_above_time_wait_reopens(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 24, DEFAULT_MSL_US);
    struct conn c;
    open_conn(s, &c, 40001, 0);
    send_str(c.cli, "ping");
    expect_bytes(s, c.srv, "ping", 4);
    sync_stacks(s);
    tapir_sock_close(c.srv);
    run_for(s, 20 * MS);
    expect_eof(c.cli);
    tapir_sock_close(c.cli);
    run_for(s, SEC);
    assert_string_equal(states(s, 1, SERVER_PORT, 40001),
                        "CLOSED SYN_RECEIVED ESTABLISHED FIN_WAIT_1 FIN_WAIT_2 TIME_WAIT");
    assert_string_equal(states(s, 0, 40001, SERVER_PORT),
                        "CLOSED SYN_SENT ESTABLISHED CLOSE_WAIT LAST_ACK CLOSED");
    struct tapir_sock *k = tcp_open(s, 0);
    bind_to(k, 0, 40001);
    start_connect(s, k, 1, SERVER_PORT);
    uint64_t t0 = now(s);
    assert_int_equal(wait_connected(s, k, 10 * SEC), 0);
    assert_true(now(s) - t0 < 100 * MS); /* at once, not after a retry */
    assert_int_equal(tapir_stats(s->st[1])->tcp.time_wait_reopened, 1);
    struct tapir_sock *srv = wait_accept(s, c.lis, SEC);
    assert_string_equal(states(s, 1, SERVER_PORT, 40001),
                        "CLOSED SYN_RECEIVED ESTABLISHED FIN_WAIT_1 FIN_WAIT_2 TIME_WAIT CLOSED "
                        "SYN_RECEIVED ESTABLISHED");
    assert_true(entered(s, 1, SERVER_PORT, 40001, "CLOSED", 0) -
                    entered(s, 1, SERVER_PORT, 40001, "TIME_WAIT", 0) <
                2 * s->msl_us);
    send_str(srv, "pong");
    expect_bytes(s, k, "pong", 4);
    CLOSE_SETTLE_FREE(s, k, srv, c.lis);
}

/* The other case: a SYN at or below the old incarnation's sequence space must not reopen
 * TIME_WAIT (RFC 9293 §3.10.7.4, RFC 6191 §2). The old connection carried 400 KB, more than
 * the ISN clock advanced since it opened, so the new SYN is old to the server: it answers
 * with an ACK, the client resets that, the reset is ignored (RFC 1337), and the client's
 * retries get through once its ISN clock has passed the old sequence numbers. */
static void test_old_syn_does_not_reopen_time_wait(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 25, DEFAULT_MSL_US);
    struct conn c;
    open_conn(s, &c, 40002, 0);
    const size_t len = 400000;
    uint8_t *data = make_pattern(s, 25, len);
    struct stream tx = {.k = c.cli, .out = data, .out_len = len, .reading = true};
    struct stream rx = {.k = c.srv, .in = data, .in_len = len, .reading = true};
    assert_true(transfer(s, &tx, &rx, 30 * SEC));
    struct tcp_conn *old = tcp_lookup(s->st[1], HOST_B, SERVER_PORT, HOST_A, 40002);
    assert_non_null(old);
    sync_stacks(s);
    tapir_sock_close(c.srv);
    run_for(s, 20 * MS);
    expect_eof(c.cli);
    tapir_sock_close(c.cli);
    run_for(s, 20 * MS);
    old = tcp_lookup(s->st[1], HOST_B, SERVER_PORT, HOST_A, 40002);
    assert_non_null(old);
    assert_int_equal(old->state, TCP_TIME_WAIT);
    uint32_t old_rcv_nxt = old->rcv_nxt;
    struct tapir_sock *k = tcp_open(s, 0);
    bind_to(k, 0, 40002);
    start_connect(s, k, 1, SERVER_PORT);
    assert_true(seq_le(s->last_syn_seq[0], old_rcv_nxt)); /* the premise */
    run_for(s, 100 * MS);
    assert_int_equal(tapir_stats(s->st[1])->tcp.time_wait_reopened, 0);
    assert_int_equal(tapir_sock_connected(k), -EAGAIN);
    assert_true(tapir_stats(s->st[1])->tcp.rst_ignored_time_wait >= 1);
    assert_int_equal(wait_connected(s, k, 2 * s->msl_us + 10 * SEC), 0);
    struct tapir_sock *srv = wait_accept(s, c.lis, SEC);
    send_str(k, "again");
    expect_bytes(s, srv, "again", 5);
    CLOSE_SETTLE_FREE(s, k, srv, c.lis);
}

/* RFC 9293 §3.10.7.4: a FIN retransmitted into TIME_WAIT is acknowledged again and restarts
 * the 2*MSL. Here the client's ACK of the server's FIN is lost; the server's retransmitted
 * FIN is acknowledged, which ends LAST_ACK, and the client's TIME_WAIT ends 2*MSL after that
 * FIN arrived, not after the first. */
static void test_retransmitted_fin_restarts_time_wait(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 40, DEFAULT_MSL_US);
    struct conn c;
    open_conn(s, &c, 0, 0);
    sync_stacks(s);
    tapir_sock_close(c.cli);
    run_for(s, 20 * MS);
    expect_eof(c.srv);
    s->drop[0] = true; /* the client's ACK of the server's FIN */
    tapir_sock_close(c.srv);
    run_for(s, 20 * MS);
    s->drop[0] = false;
    assert_string_equal(states(s, 0, c.cport, SERVER_PORT),
                        "CLOSED SYN_SENT ESTABLISHED FIN_WAIT_1 FIN_WAIT_2 TIME_WAIT");
    assert_string_equal(states(s, 1, SERVER_PORT, c.cport),
                        "CLOSED SYN_RECEIVED ESTABLISHED CLOSE_WAIT LAST_ACK");
    run_for(s, 10 * SEC);
    assert_string_equal(states(s, 1, SERVER_PORT, c.cport),
                        "CLOSED SYN_RECEIVED ESTABLISHED CLOSE_WAIT LAST_ACK CLOSED");
    uint64_t tw = entered(s, 0, c.cport, SERVER_PORT, "TIME_WAIT", 0);
    uint64_t b_closed = entered(s, 1, SERVER_PORT, c.cport, "CLOSED", 0);
    assert_true(b_closed - tw >= 200 * MS); /* after a retransmission timeout (RTO min) */
    run_for(s, 2 * s->msl_us);
    uint64_t a_closed = entered(s, 0, c.cport, SERVER_PORT, "CLOSED", 0);
    /* The retransmitted FIN reached the client 1 ms before its ACK reached the server. */
    assert_int_equal(a_closed, b_closed - clean_link.delay_us + 2 * s->msl_us);
    CLOSE_SETTLE_FREE(s, c.lis);
}

/* ---- A peer that vanishes -------------------------------------------------------------------- */

static bool drop_every_segment(struct sim *s, int from, const struct seg_view *v)
{
    (void)s, (void)from, (void)v;
    return true;
}

/* RFC 9293 §3.8.3: a peer that vanishes is given up on after the retransmissions, and the
 * application hears ETIMEDOUT: from ESTABLISHED with data outstanding (R2, minutes), and
 * for a SYN nobody answers (about two minutes, as Linux's six SYN retries). */
static void test_dead_peer_times_out(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 43, DEFAULT_MSL_US);
    struct conn c;
    open_conn(s, &c, 0, 0);
    s->drop[0] = s->drop[1] = true;
    sync_stacks(s);
    send_str(c.cli, "into the void");
    uint64_t t0 = now(s);
    RUN_UNTIL(s, tapir_sock_events(c.cli) & POLLERR, 60 * 60 * SEC);
    uint64_t took = now(s) - t0;
    print_message("data: ETIMEDOUT after %.1f s and %llu retransmissions\n", (double)took / 1e6,
                  (unsigned long long)tapir_stats(s->st[0])->tcp.retransmits);
    assert_true(took >= 100 * SEC && took <= 30 * 60 * SEC); /* RFC 9293 R2: at least 100 s */
    char b;
    assert_int_equal(tapir_sock_recvfrom(c.cli, &b, 1, 0, NULL, NULL), -ETIMEDOUT);
    assert_string_equal(states(s, 0, c.cport, SERVER_PORT),
                        "CLOSED SYN_SENT ESTABLISHED CLOSED");
    assert_int_equal(tapir_stats(s->st[0])->tcp.timeouts, 1);
    /* A connect into the void: the peer still answers ARP (its entry aged out during the
     * minutes above), but no segment gets through. (A peer that answers nothing at all, ARP
     * included, ends a connect sooner, with EHOSTUNREACH: tests/unit/test_arp.c.) */
    s->drop[0] = s->drop[1] = false;
    s->drop_fn = drop_every_segment;
    struct tapir_sock *k = tcp_open(s, 0);
    start_connect(s, k, 1, SERVER_PORT);
    uint16_t port = local_port(k);
    t0 = now(s);
    assert_int_equal(wait_connected(s, k, 30 * 60 * SEC), -ETIMEDOUT);
    took = now(s) - t0;
    print_message("SYN: ETIMEDOUT after %.1f s\n", (double)took / 1e6);
    assert_true(took >= 60 * SEC && took <= 300 * SEC);
    assert_string_equal(states(s, 0, port, SERVER_PORT), "CLOSED SYN_SENT CLOSED");
    s->drop_fn = NULL;
    CLOSE_SETTLE_FREE(s, k, c.cli, c.srv, c.lis); /* c.srv's FIN finds nothing: a reset */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        SIM_TEST(test_handshake_and_close_segment_counts),
        SIM_TEST(test_active_open_and_close),
        SIM_TEST(test_close_orphans_until_time_wait_ends),
        SIM_TEST(test_orphan_fin_wait_2_times_out),
        SIM_TEST(test_simultaneous_open),
        SIM_TEST(test_simultaneous_close),
        SIM_TEST(test_retransmitted_fin_restarts_time_wait),
        SIM_TEST(test_half_close_keeps_the_other_direction),
        SIM_TEST(test_half_close_by_the_passive_side),
        SIM_TEST(test_rst_close_with_unread_data_in_established),
        SIM_TEST(test_rst_linger_zero_aborts),
        SIM_TEST(test_rst_connect_to_closed_port),
        SIM_TEST(test_rst_in_syn_received),
        SIM_TEST(test_rst_in_syn_received_after_simultaneous_open),
        SIM_TEST(test_rst_in_fin_wait_1),
        SIM_TEST(test_rst_in_fin_wait_2),
        SIM_TEST(test_rst_in_close_wait),
        SIM_TEST(test_rst_in_last_ack),
        SIM_TEST(test_rst_in_closing),
        SIM_TEST(test_rst_ignored_in_time_wait),
        SIM_TEST(test_listener_close_resets_unaccepted),
        SIM_TEST(test_listener_close_resets_half_open),
        SIM_TEST(test_connect_again_after_refusal),
        SIM_TEST(test_accept_after_the_peer_closed),
        SIM_TEST(test_listen_backlog_overflow_then_retry),
        SIM_TEST(test_dead_peer_times_out),
        SIM_TEST(test_time_wait_expiry_then_reuse),
        SIM_TEST(test_syn_above_time_wait_reopens),
        SIM_TEST(test_old_syn_does_not_reopen_time_wait),
    };
    sim_filter_tests_from_env();
    return cmocka_run_group_tests_name("sim_tcp", tests, NULL, NULL);
}
