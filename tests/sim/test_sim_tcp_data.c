/* SPDX-License-Identifier: MIT */
/* test_sim_tcp_data.c: TCP data between two stacks (10.0.0.1 and 10.0.0.2) over
 * drivers/wire.c in virtual time: the window checker itself (sim.c's driver wrapper parses
 * every segment leaving either stack and checks that no data goes past the right edge of the
 * window its peer offered, and that no window shrinks), a quiet idle connection, flow control
 * (small buffers, zero-window probes, lost window updates, RFC 9293 §3.8.6), loss recovery by
 * fast retransmit (RFC 5681 §3.2) and the probing of a used-up window, and a megabyte each way
 * through loss, duplication, reordering and corruption, and forty connections at once. Every
 * test ends with every connection block freed. TCP_SIM_TRACE, TCP_SIM_ONLY and TCP_SIM_SEED
 * work as in test_sim_tcp.c. */
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

/* ---- The window checker, and a quiet line ---------------------------------------------------- */

/* The window checker itself: it must see a segment past the offered edge, and a shrink. */
static void test_window_checker_sees_violations(void **state)
{
    struct sim *s = *state;
    memset(s, 0, sizeof(*s));
    s->seg_budget = 100;
    s->wire = wire_new(&clean_link, 1, 16); /* for its clock */
    assert_non_null(s->wire);
    /* B offers [1000, 5096) to A; A sends 4096 bytes from 1000 (fine), then one more byte. */
    struct seg_view offer = {.src = HOST_B, .dst = HOST_A, .sport = 80, .dport = 5000,
                             .seq = 7, .ack = 1000, .flags = TCP_ACK, .wnd = 4096};
    check_segment(s, 1, &offer);
    struct seg_view data = {.src = HOST_A, .dst = HOST_B, .sport = 5000, .dport = 80,
                            .seq = 1000, .ack = 7, .flags = TCP_ACK, .wnd = 100, .len = 4096};
    check_segment(s, 0, &data);
    assert_int_equal(s->window_violations, 0);
    data.seq = 5096;
    data.len = 1;
    check_segment(s, 0, &data);
    assert_int_equal(s->window_violations, 1);
    /* B moves its right edge back from 5096 to 5000. */
    offer.ack = 2000;
    offer.wnd = 3000;
    check_segment(s, 1, &offer);
    assert_int_equal(s->window_shrinks, 1);
    assert_int_equal(s->data_segs[0], 2);
    sim_free(s);
}

/* A connection with nothing to send sends nothing. RFC 9293 §3.10.7.4 acknowledges data and
 * FINs (and answers unacceptable segments), never a bare acceptable ACK: otherwise two ends
 * answer each other's ACKs for ever. */
static void test_idle_connection_is_quiet(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 26, DEFAULT_MSL_US);
    struct conn c;
    open_conn(s, &c, 0, 0);
    send_str(c.cli, "hello");
    send_str(c.srv, "hi");
    expect_bytes(s, c.srv, "hello", 5);
    expect_bytes(s, c.cli, "hi", 2);
    run_for(s, 100 * MS);
    uint64_t before = s->tcp_segs[0] + s->tcp_segs[1];
    run_for(s, 10 * SEC);
    uint64_t idle = s->tcp_segs[0] + s->tcp_segs[1] - before;
    if (idle)
        print_error("%llu segments in 10 s with nothing to send\n", (unsigned long long)idle);
    assert_int_equal(idle, 0);
    CLOSE_SETTLE_FREE(s, c.cli, c.srv, c.lis);
}

/* ---- The peer's window ----------------------------------------------------------------------- */

/* RFC 9293 §3.8.6: the window offered is the free room of the receive buffer, from the
 * first segment on. With SO_RCVBUF 4096 on both ends (a listener's passes to the connections
 * it accepts) no window above 4096 is ever offered, whatever the ISNs (eight seeds), and no
 * byte inside an offered window is dropped for lack of room. */
static void test_small_rcvbuf_bounds_every_window(void **state)
{
    struct sim *s = *state;
    for (uint64_t seed = 30; seed < 38; seed++) {
        sim_start(s, &clean_link, seed, DEFAULT_MSL_US);
        struct conn c;
        open_conn_rcvbufs(s, &c, 4096, 4096);
        const size_t len = 20000;
        uint8_t *ab = make_pattern(s, 1, len), *ba = make_pattern(s, 2, len);
        struct stream x = {.k = c.cli, .out = ab, .out_len = len, .in = ba, .in_len = len};
        struct stream y = {.k = c.srv, .out = ba, .out_len = len, .in = ab, .in_len = len};
        assert_false(transfer(s, &x, &y, 2 * SEC)); /* nobody reads for 2 s */
        for (int i = 0; i < 2; i++) {
            if (s->max_wnd[i] > 4096 || tapir_stats(s->st[i])->tcp.drop_rcvbuf)
                print_error("seed %llu: side %d offered a window of %u with 4096 bytes of "
                            "room; %llu segments dropped for room\n",
                            (unsigned long long)seed, i, s->max_wnd[i],
                            (unsigned long long)tapir_stats(s->st[i])->tcp.drop_rcvbuf);
            assert_true(s->max_wnd[i] <= 4096);
            assert_int_equal(tapir_stats(s->st[i])->tcp.drop_rcvbuf, 0);
            assert_int_equal(tapir_stats(s->st[i])->tcp.rx_bytes, 4096);
        }
        x.reading = y.reading = true;
        assert_true(transfer(s, &x, &y, 10 * SEC));
        CLOSE_SETTLE_FREE(s, c.cli, c.srv, c.lis);
    }
}

/* RFC 9293 §3.8.6: a receiver with a small buffer that does not read closes its window; the
 * sender stops at its right edge, probes the zero window (§3.8.6.1), and goes on when the
 * application reads: at once by the window update, or, when that update is lost, by a probe. */
static void test_zero_window_probe_and_update(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 11, DEFAULT_MSL_US);
    struct conn c;
    open_conn(s, &c, 0, 4096); /* SO_RCVBUF 4096: 8192 as Linux doubles it, half for data */
    int v = 0;
    socklen_t vlen = sizeof(v);
    assert_int_equal(tapir_sock_getopt(c.srv, SOL_SOCKET, SO_RCVBUF, &v, &vlen), 0);
    assert_int_equal(v, 8192);
    const size_t len = 100000;
    uint8_t *data = make_pattern(s, 11, 2 * len);

    /* Round 1: the receiver sleeps for 10 s. */
    struct stream tx = {.k = c.cli, .out = data, .out_len = len, .reading = true};
    struct stream rx = {.k = c.srv, .in = data, .in_len = len, .reading = false};
    assert_false(transfer(s, &tx, &rx, 10 * SEC));
    assert_int_equal(tx.sent, len); /* all of it queued in the send buffer */
    const struct tapir_tcp_stats *ta = &tapir_stats(s->st[0])->tcp;
    const struct tapir_tcp_stats *tb = &tapir_stats(s->st[1])->tcp;
    assert_int_equal(tb->rx_bytes, 4096); /* exactly the window */
    assert_true(s->zero_windows[1] > 0);
    assert_true(ta->window_probes >= 3);
    assert_int_equal(ta->retransmits, 0); /* probing, not retransmitting */
    assert_int_equal(tb->drop_rcvbuf, 0);
    assert_int_equal(s->window_violations, 0);
    uint64_t t_read = now(s);
    rx.reading = true;
    assert_true(transfer(s, &tx, &rx, 10 * SEC));
    assert_true(now(s) - t_read < SEC); /* the window updates went out as the reader read */

    /* Round 2: the window closes again, and the update sent by the first read is lost. */
    tx.out = data + len;
    tx.sent = 0;
    rx.in = data + len;
    rx.got = 0;
    rx.reading = false;
    assert_false(transfer(s, &tx, &rx, 10 * SEC));
    uint64_t probes = ta->window_probes;
    s->drop[1] = true;
    sync_stacks(s);
    uint8_t buf[4096];
    /* The receiver's SWS avoidance (RFC 1122 §4.2.3.3) leaves the last sliver, less than a
     * segment, unoffered: the buffer holds at least 4096 - MSS. */
    ssize_t got = tapir_sock_recvfrom(c.srv, buf, sizeof(buf), 0, NULL, NULL);
    assert_true(got > 4096 - 1460 && got <= 4096);
    assert_memory_equal(buf, data + len, (size_t)got);
    rx.got = (size_t)got;
    run_for(s, 1 * MS);
    s->drop[1] = false;
    assert_true(s->dropped[1] >= 1);
    rx.reading = true;
    t_read = now(s);
    assert_true(transfer(s, &tx, &rx, 120 * SEC));
    assert_true(ta->window_probes > probes); /* a probe found the open window */
    print_message("after a lost window update, the transfer went on %.3f s later\n",
                  (double)(now(s) - t_read) / 1e6);
    assert_int_equal(tb->rx_bytes, 2 * len);
    assert_int_equal(tb->drop_rcvbuf, 0);
    CLOSE_SETTLE_FREE(s, c.cli, c.srv, c.lis);
}

/* Small windows both ways through loss, duplication and reordering: the zero-window probes,
 * window updates and out-of-order ranges of a 4 KB buffer, with every segment checked
 * against the window it was sent into. */
static void test_small_windows_through_a_rough_link(void **state)
{
    struct sim *s = *state;
    struct wire_faults rough = {.loss_ppm = 50000, .dup_ppm = 20000, .reorder_ppm = 50000,
                                .reorder_us = 3000, .delay_us = 1000};
    sim_start(s, &rough, 46, DEFAULT_MSL_US);
    struct conn c;
    open_conn_rcvbufs(s, &c, 4096, 4096);
    const size_t len = 200000;
    uint8_t *ab = make_pattern(s, 5, len), *ba = make_pattern(s, 6, len);
    struct stream x = {.k = c.cli, .out = ab, .out_len = len, .in = ba, .in_len = len,
                       .shut_after_send = true, .want_eof = true, .reading = true,
                       .chunk = 3000};
    struct stream y = {.k = c.srv, .out = ba, .out_len = len, .in = ab, .in_len = len,
                       .shut_after_send = true, .want_eof = true, .reading = true,
                       .chunk = 1000};
    uint64_t t0 = now(s);
    bool done = transfer(s, &x, &y, 900 * SEC);
    print_message("200 KB each way through 4 KB windows: %s after %.3f s, %llu segments\n",
                  done ? "done" : "NOT DONE", (double)(now(s) - t0) / 1e6,
                  (unsigned long long)(s->tcp_segs[0] + s->tcp_segs[1]));
    assert_true(done);
    for (int i = 0; i < 2; i++)
        assert_true(s->max_wnd[i] <= 4096);
    CLOSE_SETTLE_FREE(s, c.cli, c.srv, c.lis);
}

/* A graceful close (RFC 9293 §3.10.4) delivers everything queued before it, even when the
 * peer's window is shut for a while and the link loses and reorders: the FIN waits behind
 * the data, the orphan probes the zero window, and the reader gets every byte, then EOF. */
static void test_close_delivers_queued_data_behind_a_zero_window(void **state)
{
    struct sim *s = *state;
    struct wire_faults rough = {.loss_ppm = 30000, .reorder_ppm = 30000, .reorder_us = 2000,
                                .delay_us = 1000};
    sim_start(s, &rough, 41, DEFAULT_MSL_US);
    struct conn c;
    open_conn(s, &c, 0, 4096);
    const size_t len = 100000;
    uint8_t *data = make_pattern(s, 41, len);
    assert_int_equal(tapir_sock_sendto(c.cli, data, len, 0, NULL), (ssize_t)len);
    sync_stacks(s);
    tapir_sock_close(c.cli);
    run_for(s, 5 * SEC);
    struct stream rx = {.k = c.srv, .in = data, .in_len = len, .want_eof = true,
                        .reading = true};
    struct stream none = {.k = c.lis};
    assert_true(transfer(s, &rx, &none, 600 * SEC));
    assert_true(s->zero_windows[1] > 0); /* the window did shut */
    sync_stacks(s);
    tapir_sock_close(c.srv);
    tapir_sock_close(c.lis);
    settle(s);
    assert_string_equal(states(s, 0, c.cport, SERVER_PORT),
                        "CLOSED SYN_SENT ESTABLISHED FIN_WAIT_1 FIN_WAIT_2 TIME_WAIT CLOSED");
    sim_free(s);
}

/* ---- Loss and recovery ----------------------------------------------------------------------- */

/* A drop_fn: the first data segment from each side that still has one to lose is lost. */
static unsigned first_data_to_lose[2];

static bool lose_first_data(struct sim *s, int from, const struct seg_view *v)
{
    (void)s;
    if (!v->len || !first_data_to_lose[from])
        return false;
    first_data_to_lose[from]--;
    return true;
}

/* Both ends send more than a window, and the first segment of each direction is lost: each
 * receiver holds what follows out of order, and each pure ACK it sends may carry
 * SEG.SEQ = SND.NXT = the peer's RCV.NXT + RCV.WND. Those ACKs at the right edge must be
 * taken (RFC 9293 §3.10.7.4 "first" would call them unacceptable; Linux's tcp_sequence and
 * BSD accept them), so they count as duplicate ACKs and fast retransmit repairs each hole
 * (RFC 5681 §3.2) without a timeout and without an exchange of ACKs about nothing. */
static void test_full_windows_with_holes_recover_by_fast_retransmit(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 29, DEFAULT_MSL_US);
    struct conn c;
    open_conn(s, &c, 0, 0);
    const size_t len = 150000;
    uint8_t *ab = make_pattern(s, 3, len), *ba = make_pattern(s, 4, len);
    struct stream a = {.k = c.cli, .out = ab, .out_len = len, .in = ba, .in_len = len,
                       .reading = true};
    struct stream b = {.k = c.srv, .out = ba, .out_len = len, .in = ab, .in_len = len,
                       .reading = true};
    first_data_to_lose[0] = first_data_to_lose[1] = 1;
    s->drop_fn = lose_first_data;
    uint64_t t0 = now(s);
    assert_true(transfer(s, &a, &b, SEC));
    print_message("recovered after %.3f s, %llu segments\n", (double)(now(s) - t0) / 1e6,
                  (unsigned long long)(s->tcp_segs[0] + s->tcp_segs[1]));
    for (int side = 0; side < 2; side++) {
        const struct tapir_tcp_stats *t = &tapir_stats(s->st[side])->tcp;
        assert_int_equal(t->fast_retransmits, 1);
        assert_int_equal(t->retransmits, 0); /* no timeout */
    }
    /* Data segments and their ACKs: well under two segments per MSS of data each way. */
    assert_true(s->tcp_segs[0] + s->tcp_segs[1] < 4 * (2 * len / 1448));
    CLOSE_SETTLE_FREE(s, c.cli, c.srv, c.lis);
}

/* A drop_fn for the test below: from the client, its first data segment and every pure ACK
 * after the first. */
static unsigned client_acks_seen;

static bool lose_client_data_and_later_acks(struct sim *s, int from, const struct seg_view *v)
{
    (void)s;
    if (from != 0 || (v->flags & (TCP_SYN | TCP_FIN | TCP_RST)))
        return false;
    if (v->len)
        return first_data_to_lose[0] && first_data_to_lose[0]-- > 0;
    return client_acks_seen++ >= 1;
}

/* A window used up to its last byte is a zero window too (RFC 9293 §3.8.6.1: the sender must
 * keep probing while it has data and no room). The client's first data segment is lost, so
 * its pure ACKs carry a sequence number above the retransmission that comes later; of the
 * ACKs for the server's 4 KB (the client's whole window), only the first gets through. The
 * client's retransmission then acknowledges all of it, but RFC 9293's update rule (§3.10.7.4)
 * would not take its window (SEG.SEQ < SND.WL1): the server is left with 904 bytes to send,
 * nothing in flight, and SND.WL2 + SND.WND = SND.NXT, a zero window in all but name. Either
 * the window is taken from that ACK of new data (as Linux does) or the used-up window is
 * probed; otherwise nobody ever sends again. */
static void test_used_up_window_is_probed(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 47, DEFAULT_MSL_US);
    struct conn c;
    open_conn_rcvbufs(s, &c, 0, 4096);
    run_for(s, 10 * MS);
    const size_t up_len = 1000, down_len = 5000;
    uint8_t *up = make_pattern(s, 7, up_len), *down = make_pattern(s, 8, down_len);
    first_data_to_lose[0] = 1;
    client_acks_seen = 0;
    s->drop_fn = lose_client_data_and_later_acks;
    struct stream x = {.k = c.cli, .out = up, .out_len = up_len, .in = down, .in_len = down_len,
                       .reading = true};
    struct stream y = {.k = c.srv, .out = down, .out_len = down_len, .in = up, .in_len = up_len,
                       .reading = true};
    uint64_t t0 = now(s);
    assert_false(transfer(s, &x, &y, 500 * MS));
    assert_int_equal(x.got, 4096); /* the client's window, read at once */
    s->drop_fn = NULL;
    bool done = transfer(s, &x, &y, 60 * SEC);
    print_message("the last 904 bytes %s, %.3f s after the start\n",
                  done ? "arrived" : "never arrived", (double)(now(s) - t0) / 1e6);
    assert_true(done);
    CLOSE_SETTLE_FREE(s, c.cli, c.srv, c.lis);
}

/* ---- A megabyte each way, and forty connections ---------------------------------------------- */

/* A megabyte each way at once through a lossy (and then a rough) link: every byte arrives in
 * order, within a bounded virtual time, and every block is freed after the closes. */
static void bulk_both_ways(struct sim *s, const struct wire_faults *faults, uint64_t seed,
                           uint64_t max_us, bool faults_after_open)
{
    struct wire_faults clean = {.delay_us = faults->delay_us};
    sim_start(s, faults_after_open ? &clean : faults, seed, DEFAULT_MSL_US);
    struct conn c;
    open_conn(s, &c, 0, 0);
    wire_set_faults(s->wire, faults);
    const size_t len = 1u << 20;
    uint8_t *ab = make_pattern(s, 0xab, len), *ba = make_pattern(s, 0xba, len);
    struct stream a = {.k = c.cli, .out = ab, .out_len = len, .in = ba, .in_len = len,
                       .shut_after_send = true, .want_eof = true, .reading = true,
                       .chunk = 10000};
    struct stream b = {.k = c.srv, .out = ba, .out_len = len, .in = ab, .in_len = len,
                       .shut_after_send = true, .want_eof = true, .reading = true,
                       .chunk = 7000};
    uint64_t t0 = now(s);
    bool done = transfer(s, &a, &b, max_us);
    uint64_t segs = s->tcp_segs[0] + s->tcp_segs[1];
    print_message("1 MiB each way: %s after %.3f s of virtual time; A->B %zu of %zu bytes, "
                  "B->A %zu; %llu segments; wire lost %llu dup %llu reordered %llu corrupted "
                  "%llu; timeouts A %llu B %llu\n",
                  done ? "done" : "NOT DONE", (double)(now(s) - t0) / 1e6, b.got, len, a.got,
                  (unsigned long long)segs, (unsigned long long)wire_stats(s->wire)->lost,
                  (unsigned long long)wire_stats(s->wire)->duplicated,
                  (unsigned long long)wire_stats(s->wire)->reordered,
                  (unsigned long long)wire_stats(s->wire)->corrupted,
                  (unsigned long long)tapir_stats(s->st[0])->tcp.retransmits,
                  (unsigned long long)tapir_stats(s->st[1])->tcp.retransmits);
    assert_true(done);
    assert_false(s->storm);
    assert_true(segs < 20000); /* 1440 data segments, their ACKs, and retransmissions */
    assert_true(s->data_segs[0] >= len / 1460 && s->data_segs[1] >= len / 1460); /* checked */
    if (faults->corrupt_ppm)
        assert_true(tapir_stats(s->st[0])->tcp.drop_bad_checksum +
                        tapir_stats(s->st[1])->tcp.drop_bad_checksum > 0);
    assert_int_equal(tapir_stats(s->st[0])->tcp.rx_bytes, len);
    assert_int_equal(tapir_stats(s->st[1])->tcp.rx_bytes, len);
    CLOSE_SETTLE_FREE(s, c.cli, c.srv, c.lis);
}

static void test_megabyte_both_ways_through_5_percent_loss(void **state)
{
    struct wire_faults lossy = {.loss_ppm = 50000, .delay_us = 1000};
    bulk_both_ways(*state, &lossy, 8, 900 * SEC, false);
}

static void test_megabyte_both_ways_through_dup_and_reorder(void **state)
{
    struct wire_faults rough = {.loss_ppm = 20000, .dup_ppm = 30000, .reorder_ppm = 50000,
                                .reorder_us = 3000, .delay_us = 1000};
    bulk_both_ways(*state, &rough, 9, 900 * SEC, false);
}

/* Corruption starts once the connection is up: the wire has no Ethernet FCS, so a flipped
 * bit in an ARP packet (which has no checksum) can teach a stack a wrong MAC for a minute,
 * which is not TCP's business. Every TCP segment with a flipped bit must be dropped for its
 * checksum, and the bytes still arrive exactly. */
static void test_megabyte_both_ways_through_corruption(void **state)
{
    struct wire_faults bad = {.corrupt_ppm = 20000, .delay_us = 1000};
    bulk_both_ways(*state, &bad, 10, 900 * SEC, true);
}

/* Forty connections at once through a lossy link, each carrying 20 KB each way, all closed:
 * every byte arrives, every block is freed. */
static void test_forty_connections_at_once(void **state)
{
    struct sim *s = *state;
    struct wire_faults lossy = {.loss_ppm = 20000, .reorder_ppm = 20000, .reorder_us = 2000,
                                .delay_us = 1000};
    sim_start(s, &lossy, 45, DEFAULT_MSL_US);
    enum { N = 40 };
    const size_t len = 20000;
    uint8_t *up = make_pattern(s, 45, len), *down = make_pattern(s, 46, len);
    struct tapir_sock *l = tcp_open(s, 1);
    bind_to(l, 0, SERVER_PORT);
    assert_int_equal(tapir_sock_listen(l, N), 0);
    struct stream cl[N], sv[N];
    memset(sv, 0, sizeof(sv));
    for (int i = 0; i < N; i++) {
        struct tapir_sock *k = tcp_open(s, 0);
        start_connect(s, k, 1, SERVER_PORT);
        cl[i] = (struct stream){.k = k, .out = up, .out_len = len, .in = down, .in_len = len,
                                .shut_after_send = true, .want_eof = true, .reading = true};
    }
    int accepted = 0;
    uint64_t end = now(s) + 600 * SEC;
    bool all = false;
    while (!all && now(s) < end) {
        struct tapir_sock *k;
        while (accepted < N && tapir_sock_accept(l, &k, NULL) == 0) {
            tapir_sock_set_wakeup(k, on_wake, s);
            sv[accepted++] = (struct stream){.k = k, .out = down, .out_len = len, .in = up,
                                             .in_len = len, .shut_after_send = true,
                                             .want_eof = true, .reading = true};
        }
        all = accepted == N;
        for (int i = 0; i < N; i++) {
            if (tapir_sock_connected(cl[i].k) == 0 || cl[i].sent)
                stream_step(&cl[i]);
            if (i < accepted)
                stream_step(&sv[i]);
            all = all && stream_done(&cl[i]) && stream_done(&sv[i]);
        }
        if (all)
            break;
        s->woke = 0;
        uint64_t step = now(s) + 10 * MS < end ? now(s) + 10 * MS : end;
        wire_run(s->wire, step, &s->woke);
        sync_stacks(s);
    }
    assert_int_equal(accepted, N);
    assert_true(all);
    assert_int_equal(tapir_stats(s->st[0])->tcp.established, N);
    sync_stacks(s);
    for (int i = 0; i < N; i++) {
        tapir_sock_close(cl[i].k);
        tapir_sock_close(sv[i].k);
    }
    tapir_sock_close(l);
    settle(s);
    sim_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        SIM_TEST(test_window_checker_sees_violations),
        SIM_TEST(test_idle_connection_is_quiet),
        SIM_TEST(test_close_delivers_queued_data_behind_a_zero_window),
        SIM_TEST(test_small_rcvbuf_bounds_every_window),
        SIM_TEST(test_zero_window_probe_and_update),
        SIM_TEST(test_small_windows_through_a_rough_link),
        SIM_TEST(test_full_windows_with_holes_recover_by_fast_retransmit),
        SIM_TEST(test_used_up_window_is_probed),
        SIM_TEST(test_megabyte_both_ways_through_5_percent_loss),
        SIM_TEST(test_megabyte_both_ways_through_dup_and_reorder),
        SIM_TEST(test_megabyte_both_ways_through_corruption),
        SIM_TEST(test_forty_connections_at_once),
    };
    sim_filter_tests_from_env();
    return cmocka_run_group_tests_name("sim_tcp_data", tests, NULL, NULL);
}
