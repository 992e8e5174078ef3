/* SPDX-License-Identifier: MIT */
/* test_tcp_input.c: TCP segment arrival, step by step as RFC 9293 §3.10.7 "SEGMENT ARRIVES"
 * orders it, with RFC 5961's hardening of the RST, SYN and ACK steps, and the timers that
 * drive a connection (retransmission, persist, TIME_WAIT). Each test plays the peer, 10.0.0.1,
 * with crafted segments, and checks exactly what the stack (10.0.0.2) sends back: flags,
 * sequence and acknowledgment numbers, window, the MSS option, and the counters. */
#include "fixture.h"

#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>

#include "tapir/sock.h"
#include "tcp.h"
#include "tcp_conv.h"
#include "udp.h"

static uint8_t pat[70000]; /* fx_pattern(7), filled in main */
static uint8_t buf[70000];

/* ==== Header checks (RFC 9293 §3.1) ===================================================== */

static void test_bad_checksum_is_dropped_and_counted(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *l = listener(f, LPORT, 8, 0);
    uint8_t seg[64];
    struct fx_tcp t = fx_tcp_default();
    t.flags = FX_TCP_SYN;
    t.seq = 1000;
    t.mss = 1460;
    size_t n = fx_tcp_build(seg, &t, NULL, 0);
    seg[7] ^= 0x01; /* the sequence number changed after the checksum */
    fx_inject_tcp_raw(f, FX_GW_IP, FX_OUR_IP, seg, n);
    fx_expect_none(f); /* no SYN,ACK */
    t.dport = 81;      /* a closed port: no RST either */
    n = fx_tcp_build(seg, &t, "xyz", 3);
    seg[n - 1] ^= 0x20;
    fx_inject_tcp_raw(f, FX_GW_IP, FX_OUR_IP, seg, n);
    fx_expect_none(f);
    /* The checksum covers the pseudo header: the right segment from another source fails. */
    t.dport = LPORT;
    t.src = FX_PEER_IP;
    n = fx_tcp_build(seg, &t, NULL, 0);
    fx_inject_tcp_raw(f, FX_GW_IP, FX_OUR_IP, seg, n);
    fx_expect_none(f);
    assert_int_equal(tcps(f)->drop_bad_checksum, 3);
    assert_int_equal(tcps(f)->rx_segments, 3);
    assert_int_equal(tcps(f)->rx_no_conn, 0);
    assert_int_equal(tcps(f)->tx_segments, 0);
    assert_int_equal(tcps(f)->conns_allocated, 1); /* the listener's only */
    /* Control: the same SYN, summed right, is answered. */
    t.src = FX_GW_IP;
    fx_inject_tcp(f, &t, NULL, 0);
    struct fx_tcp_view v = fx_as_tcp(fx_expect_one(f), NULL);
    assert_int_equal(v.flags, FX_TCP_SYN | FX_TCP_ACK);
    tapir_sock_close(l);
}

static void test_bad_data_offset_is_dropped_and_counted(void **state)
{
    struct fixture *f = *state;
    uint8_t seg[80];
    struct fx_tcp t = fx_tcp_default();
    t.dport = 81;
    t.flags = FX_TCP_SYN;
    t.data_offset = 4; /* 16 bytes: less than the fixed header */
    size_t n = fx_tcp_build(seg, &t, "abcd", 4);
    fx_inject_tcp_raw(f, FX_GW_IP, FX_OUR_IP, seg, n);
    t.data_offset = 6; /* 24 bytes, in a 20-byte segment */
    n = fx_tcp_build(seg, &t, NULL, 0);
    fx_inject_tcp_raw(f, FX_GW_IP, FX_OUR_IP, seg, n);
    t.data_offset = 15; /* 60 bytes, in a 40-byte segment */
    n = fx_tcp_build(seg, &t, pat, 20);
    fx_inject_tcp_raw(f, FX_GW_IP, FX_OUR_IP, seg, n);
    t.data_offset = 0;
    n = fx_tcp_build(seg, &t, pat, 20);
    fx_inject_tcp_raw(f, FX_GW_IP, FX_OUR_IP, seg, n);
    fx_expect_none(f);
    assert_int_equal(tcps(f)->drop_bad_offset, 4);
    assert_int_equal(tcps(f)->rx_no_conn, 0);
    /* Control: an offset of exactly the segment (all header, options) is good. */
    uint8_t nops[20];
    memset(nops, 1, sizeof(nops));
    t.options = nops;
    t.options_len = sizeof(nops);
    t.data_offset = -1;
    fx_inject_tcp(f, &t, NULL, 0);
    struct fx_tcp_view v = fx_as_tcp(fx_expect_one(f), NULL);
    assert_int_equal(v.flags, FX_TCP_RST | FX_TCP_ACK);
    assert_int_equal(tcps(f)->drop_bad_offset, 4);
}

static void test_truncated_header_is_dropped_and_counted(void **state)
{
    struct fixture *f = *state;
    uint8_t seg[64];
    struct fx_tcp t = fx_tcp_default();
    t.dport = 81;
    t.flags = FX_TCP_SYN;
    fx_tcp_build(seg, &t, NULL, 0);
    fx_inject_tcp_raw(f, FX_GW_IP, FX_OUR_IP, seg, 19);
    fx_inject_tcp_raw(f, FX_GW_IP, FX_OUR_IP, seg, 1);
    fx_inject_tcp_raw(f, FX_GW_IP, FX_OUR_IP, seg, 0);
    fx_expect_none(f);
    assert_int_equal(tcps(f)->drop_truncated, 3);
    assert_int_equal(tcps(f)->rx_no_conn, 0);
}

/* RFC 1122 §4.2.3.10: a SYN to a broadcast address is dropped, never answered. */
static void test_segment_to_broadcast_is_dropped(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *l = listener(f, LPORT, 8, 0);
    struct fx_tcp t = fx_tcp_default();
    t.dst = FX_BCAST_IP;
    t.flags = FX_TCP_SYN;
    fx_inject_tcp(f, &t, NULL, 0);
    t.dport = 81;
    fx_inject_tcp(f, &t, NULL, 0);
    fx_expect_none(f);
    assert_int_equal(tcps(f)->drop_broadcast, 2);
    assert_int_equal(tcps(f)->conns_allocated, 1);
    tapir_sock_close(l);
}

/* ==== §3.10.7.1 CLOSED =================================================================== */

static void test_closed_port_answers_segment_without_ack_with_rst_ack(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, RPORT);
    cv.lport = 81;
    seg_in(&cv, FX_TCP_SYN, 0x11223344u, 0, 1460, NULL, 0);
    struct fx_tcp_view v = out_one(&cv);
    assert_int_equal(v.flags, FX_TCP_RST | FX_TCP_ACK); /* <SEQ=0><ACK=SEG.SEQ+SEG.LEN> */
    assert_int_equal(v.seq, 0);
    assert_int_equal(v.ack, 0x11223345u);
    assert_int_equal(v.data_len, 0);
    assert_int_equal(v.mss, -1);
    /* SEG.LEN counts the data, the SYN and the FIN. */
    seg_in(&cv, FX_TCP_SYN, 0xfffffffeu, 0, -1, pat, 3);
    v = out_one(&cv);
    assert_int_equal(v.flags, FX_TCP_RST | FX_TCP_ACK);
    assert_int_equal(v.ack, 0xfffffffeu + 4); /* wraps to 2 */
    seg_in(&cv, FX_TCP_FIN | FX_TCP_PSH, 5000, 0, -1, pat, 10);
    v = out_one(&cv);
    assert_int_equal(v.flags, FX_TCP_RST | FX_TCP_ACK);
    assert_int_equal(v.seq, 0);
    assert_int_equal(v.ack, 5011);
    seg_in(&cv, 0, 777, 0, -1, NULL, 0); /* no flags at all */
    v = out_one(&cv);
    assert_int_equal(v.flags, FX_TCP_RST | FX_TCP_ACK);
    assert_int_equal(v.ack, 777);
    assert_int_equal(tcps(f)->rx_no_conn, 4);
    assert_int_equal(tcps(f)->tx_resets, 4);
}

static void test_closed_port_answers_ack_with_rst_at_seg_ack(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, RPORT);
    cv.lport = 81;
    const uint8_t flags[] = {FX_TCP_ACK, FX_TCP_ACK | FX_TCP_PSH, FX_TCP_SYN | FX_TCP_ACK,
                             FX_TCP_FIN | FX_TCP_ACK};
    for (size_t i = 0; i < sizeof(flags); i++) {
        seg_in(&cv, flags[i], 1234, 0xdeadbeefu + (uint32_t)i, -1, pat, i * 7);
        struct fx_tcp_view v = out_one(&cv);
        assert_int_equal(v.flags, FX_TCP_RST); /* <SEQ=SEG.ACK><CTL=RST> */
        assert_int_equal(v.seq, 0xdeadbeefu + (uint32_t)i);
        assert_int_equal(v.data_len, 0);
    }
    assert_int_equal(tcps(f)->tx_resets, 4);
}

static void test_closed_port_never_answers_rst(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, RPORT);
    cv.lport = 81;
    seg_in(&cv, FX_TCP_RST, 1, 0, -1, NULL, 0);
    seg_in(&cv, FX_TCP_RST | FX_TCP_ACK, 1, 2, -1, NULL, 0);
    seg_in(&cv, FX_TCP_RST | FX_TCP_SYN, 1, 0, -1, NULL, 0);
    seg_in(&cv, FX_TCP_RST | FX_TCP_FIN, 1, 0, -1, pat, 5);
    fx_expect_none(f);
    assert_int_equal(tcps(f)->tx_resets, 0);
}

/* A socket bound to the port but not listening is no listener: the port is closed. */
static void test_bound_but_not_listening_port_is_closed(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *s;
    assert_int_equal(tapir_sock_open(f->st, SOCK_STREAM, 0, &s), 0);
    struct sockaddr_in a = sin_of(0, LPORT);
    assert_int_equal(tapir_sock_bind(s, &a), 0);
    struct conv cv = conv_new(f, RPORT);
    seg_in(&cv, FX_TCP_SYN, 99, 0, 1460, NULL, 0);
    struct fx_tcp_view v = out_one(&cv);
    assert_int_equal(v.flags, FX_TCP_RST | FX_TCP_ACK);
    assert_int_equal(v.ack, 100);
    tapir_sock_close(s);
}

/* ==== §3.10.7.2 LISTEN =================================================================== */

static void test_listen_ignores_rst_and_segments_without_syn_or_ack(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *l = listener(f, LPORT, 8, 0);
    struct conv cv = conv_new(f, RPORT);
    seg_in(&cv, FX_TCP_RST, 1, 0, -1, NULL, 0);
    seg_in(&cv, FX_TCP_RST | FX_TCP_ACK, 1, 2, -1, NULL, 0);
    seg_in(&cv, FX_TCP_RST | FX_TCP_SYN, 1, 0, -1, NULL, 0); /* RST first: ignored */
    seg_in(&cv, FX_TCP_FIN, 1, 0, -1, NULL, 0);               /* fourth: dropped */
    seg_in(&cv, FX_TCP_PSH, 1, 0, -1, pat, 10);
    fx_expect_none(f);
    assert_int_equal(tcps(f)->conns_allocated, 1);
    assert_int_equal(tcps(f)->tx_resets, 0);
    struct tapir_sock *a;
    assert_int_equal(tapir_sock_accept(l, &a, NULL), -EAGAIN);
    tapir_sock_close(l);
}

static void test_listen_answers_ack_with_rst_at_seg_ack(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *l = listener(f, LPORT, 8, 0);
    struct conv cv = conv_new(f, RPORT);
    seg_in(&cv, FX_TCP_ACK, 10, 0x55667788u, -1, pat, 20);
    struct fx_tcp_view v = out_one(&cv);
    assert_int_equal(v.flags, FX_TCP_RST);
    assert_int_equal(v.seq, 0x55667788u);
    /* A SYN,ACK to a listener is an ACK too: reset, no connection. */
    seg_in(&cv, FX_TCP_SYN | FX_TCP_ACK, 10, 0x99u, 1460, NULL, 0);
    v = out_one(&cv);
    assert_int_equal(v.flags, FX_TCP_RST);
    assert_int_equal(v.seq, 0x99u);
    assert_int_equal(tcps(f)->conns_allocated, 1);
    expect_state(&cv, TCP_CLOSED);
    tapir_sock_close(l);
}

static void test_listen_answers_syn_with_syn_ack_mss_and_our_isn(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *l = listener(f, LPORT, 8, 0);
    struct conv cv = conv_new(f, RPORT);
    struct fx_tcp_view v = syn_to_listener(&cv, PEER_ISN, 1460);
    assert_int_equal(v.mss, 1460); /* MTU 1500 - 40 */
    assert_int_equal(v.hdr_len, 24);
    assert_int_equal(v.wnd, WMAX);
    assert_int_equal(v.data_len, 0);
    expect_state(&cv, TCP_SYN_RECEIVED);
    assert_int_equal(v.seq, conn_of(&cv)->iss);
    /* Another peer port: another ISN (RFC 6528: keyed by the 4-tuple). */
    struct conv cv2 = conv_new(f, RPORT + 1);
    struct fx_tcp_view v2 = syn_to_listener(&cv2, PEER_ISN, 1460);
    assert_int_not_equal(v2.seq, v.seq);
    /* RFC 6528 §3: ISN = M + F(4-tuple, key), M a clock ticking every 4 us. The same
     * 4-tuple 4 ms later starts 1000 higher. */
    seg_in(&cv, FX_TCP_RST, PEER_ISN + 1, 0, -1, NULL, 0);
    fx_expect_none(f);
    expect_state(&cv, TCP_CLOSED);
    fx_advance(f, 4000);
    struct fx_tcp_view v3 = syn_to_listener(&cv, PEER_ISN, 1460);
    assert_int_equal(v3.seq - v.seq, 1000);
    tapir_sock_close(l);
}

/* RFC 9293 §3.7.1: the MSS we offer is the MTU less 40 (20 IP, 20 TCP), on SYN,ACKs and SYNs. */
static void test_mss_option_follows_the_mtu(void **state)
{
    struct fixture *f = *state;
    struct tapir_config cfg;
    fx_config(&cfg);
    cfg.mtu_bytes = 1000;
    restart(f, &cfg);
    struct tapir_sock *l = listener(f, LPORT, 8, 0);
    struct conv cv = conv_new(f, RPORT);
    struct fx_tcp_view v = syn_to_listener(&cv, PEER_ISN, 1460);
    assert_int_equal(v.mss, 960);
    struct conv cv2 = conv_new(f, 5000);
    v = connect_syn(&cv2, 0);
    assert_int_equal(v.mss, 960);
    tapir_sock_close(cv2.s);
    tapir_sock_close(l);
}

static void test_child_is_accepted_only_after_the_final_ack(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, RPORT);
    cv.l = listener(f, LPORT, 8, 0);
    syn_to_listener(&cv, PEER_ISN, 1460);
    struct tapir_sock *a = NULL;
    assert_int_equal(tapir_sock_accept(cv.l, &a, NULL), -EAGAIN);
    assert_false(tapir_sock_events(cv.l) & POLLIN);
    assert_int_equal(tcps(f)->established, 0);
    peer_ack(&cv);
    assert_true(tapir_sock_events(cv.l) & POLLIN);
    struct sockaddr_in peer;
    assert_int_equal(tapir_sock_accept(cv.l, &a, &peer), 0);
    assert_int_equal(ntohl(peer.sin_addr.s_addr), PEER);
    assert_int_equal(ntohs(peer.sin_port), RPORT);
    assert_int_equal(tapir_sock_connected(a), 0);
    assert_true(tapir_sock_events(a) & POLLOUT);
    assert_int_equal(tcps(f)->established, 1);
    assert_int_equal(tapir_sock_accept(cv.l, &a, NULL), -EAGAIN);
    tapir_sock_close(a);
    tapir_sock_close(cv.l);
}

/* The accept queue holds backlog + 1 (as Linux); a SYN beyond it is dropped, counted, and
 * taken once accept made room. */
static void test_listen_backlog_overflow_drops_syn(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *l = listener(f, LPORT, 1, 0);
    struct conv a = conv_new(f, 41000), b = conv_new(f, 41001), c = conv_new(f, 41002);
    a.l = b.l = c.l = l;
    syn_to_listener(&a, 100, 1460);
    peer_ack(&a);
    syn_to_listener(&b, 200, 1460);
    peer_ack(&b);
    seg_in(&c, FX_TCP_SYN, 300, 0, 1460, NULL, 0);
    fx_expect_none(f);
    assert_int_equal(tcps(f)->listen_overflows, 1);
    expect_state(&c, TCP_CLOSED);
    struct tapir_sock *s;
    assert_int_equal(tapir_sock_accept(l, &s, NULL), 0);
    syn_to_listener(&c, 300, 1460); /* the peer's retransmission gets in */
    assert_int_equal(tcps(f)->listen_overflows, 1);
    tapir_sock_close(s);
    tapir_sock_close(l);
}

/* Handshakes in progress are bounded too (backlog + 16 here). */
static void test_listen_syn_queue_is_bounded(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *l = listener(f, LPORT, 0, 0);
    for (uint16_t i = 0; i < 16; i++) {
        struct conv cv = conv_new(f, (uint16_t)(42000 + i));
        syn_to_listener(&cv, 1000u * i, 1460);
    }
    struct conv cv = conv_new(f, 42100);
    seg_in(&cv, FX_TCP_SYN, 5, 0, 1460, NULL, 0);
    fx_expect_none(f);
    assert_int_equal(tcps(f)->listen_overflows, 1);
    tapir_sock_close(l);
}

/* Segments out of the accepted socket after sending len bytes: their sizes, in order, and
 * the bytes (pat) they carry from seq iss + 1 on. TCP_NODELAY, so the short tail goes at
 * once too rather than wait (Nagle) for the ACK of the rest: these tests are about sizes. */
static void expect_segment_sizes(struct conv *cv, size_t len, const size_t *sizes, size_t count)
{
    set_tcp_opt(cv->s, TC_TCP_NODELAY, 1);
    app_send(cv->s, pat, len);
    struct fx_tcp_view v[16];
    size_t n = out_all(cv, v, 16, true);
    assert_int_equal(n, count);
    uint32_t seq = cv->iss + 1;
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(v[i].data_len, sizes[i]);
        assert_int_equal(v[i].seq, seq);
        assert_true(v[i].flags & FX_TCP_ACK);
        assert_false(v[i].flags & (FX_TCP_SYN | FX_TCP_FIN | FX_TCP_RST));
        assert_memory_equal(v[i].data, pat + off, sizes[i]);
        seq += (uint32_t)sizes[i];
        off += sizes[i];
    }
}

/* RFC 9293 §3.7.1: without an MSS option the peer takes 536 bytes per segment. */
static void test_no_mss_option_means_536(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, RPORT);
    cv.l = listener(f, LPORT, 8, 0);
    passive_open(&cv, PEER_ISN, -1);
    const size_t sizes[] = {536, 536, 128};
    expect_segment_sizes(&cv, 1200, sizes, 3);
    tapir_sock_close(cv.s);
    tapir_sock_close(cv.l);
}

static void test_peer_mss_bounds_segments_and_our_mtu_bounds_it(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, RPORT);
    cv.l = listener(f, LPORT, 8, 0);
    passive_open(&cv, PEER_ISN, 1000);
    const size_t sizes[] = {1000, 1000, 500};
    expect_segment_sizes(&cv, 2500, sizes, 3);
    struct conv cv2 = conv_new(f, RPORT + 1);
    cv2.l = cv.l;
    passive_open(&cv2, PEER_ISN, 9000); /* more than our link carries */
    const size_t sizes2[] = {1460, 1460, 80};
    expect_segment_sizes(&cv2, 3000, sizes2, 3);
    tapir_sock_close(cv.s);
    tapir_sock_close(cv2.s);
    tapir_sock_close(cv.l);
}

/* RFC 9293 §3.2: unknown options are skipped by their length; NOPs pad. */
static void test_unknown_options_are_skipped(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, RPORT);
    cv.l = listener(f, LPORT, 8, 0);
    const uint8_t opts[] = {1, 1, 30, 6, 0xaa, 0xbb, 0xcc, 0xdd, 2, 4, 0x02, 0xbc}; /* MSS 700 */
    struct fx_tcp t = fx_tcp_default();
    t.flags = FX_TCP_SYN;
    t.seq = PEER_ISN;
    t.options = opts;
    t.options_len = sizeof(opts);
    fx_inject_tcp(f, &t, NULL, 0);
    struct fx_tcp_view v = out_one(&cv);
    assert_int_equal(v.flags, FX_TCP_SYN | FX_TCP_ACK);
    cv.iss = v.seq;
    cv.pack = v.seq + 1;
    cv.pseq = PEER_ISN + 1;
    peer_ack(&cv);
    assert_int_equal(tapir_sock_accept(cv.l, &cv.s, NULL), 0);
    const size_t sizes[] = {700, 700, 100};
    expect_segment_sizes(&cv, 1500, sizes, 3);
    tapir_sock_close(cv.s);
    tapir_sock_close(cv.l);
}

/* RFC 9293 §3.1 (MUST-7): a bad option length must not crash or confuse: the handshake goes
 * on, and no MSS is read from beyond the damage. */
static void test_malformed_options_are_handled_safely(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *l = listener(f, LPORT, 16, 0);
    static const struct {
        uint8_t opts[12];
        size_t len;
        size_t mss;
    } cases[] = {
        {{99, 0, 2, 4, 0x05, 0xb4}, 6, 536},          /* length 0 */
        {{99, 1, 2, 4, 0x05, 0xb4}, 6, 536},          /* length 1 */
        {{1, 1, 1, 2}, 4, 536},                       /* a kind with no length byte */
        {{2, 40, 0x05, 0xb4}, 4, 536},                /* length past the header */
        {{0, 0, 0, 0, 2, 4, 0x05, 0xb4}, 8, 536},     /* after the end of the list */
        {{2, 4, 0x03, 0xe8, 2, 3, 0x05, 0}, 8, 1000}, /* an MSS of the wrong length skipped */
        {{2, 4, 0, 0}, 4, 536},                       /* MSS 0: as none */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct conv cv = conv_new(f, (uint16_t)(43000 + i));
        cv.l = l;
        struct fx_tcp t = fx_tcp_default();
        t.sport = cv.rport;
        t.flags = FX_TCP_SYN;
        t.seq = PEER_ISN;
        t.options = cases[i].opts;
        t.options_len = cases[i].len;
        fx_inject_tcp(f, &t, NULL, 0);
        struct fx_tcp_view v = out_one(&cv);
        assert_int_equal(v.flags, FX_TCP_SYN | FX_TCP_ACK);
        cv.iss = v.seq;
        cv.pack = v.seq + 1;
        cv.pseq = PEER_ISN + 1;
        peer_ack(&cv);
        assert_int_equal(tapir_sock_accept(l, &cv.s, NULL), 0);
        set_tcp_opt(cv.s, TC_TCP_NODELAY, 1); /* the short tail too, not held by Nagle */
        app_send(cv.s, pat, 1100);
        struct fx_tcp_view segs[4];
        size_t n = out_all(&cv, segs, 4, false);
        assert_true(n >= 2);
        if (segs[0].data_len != cases[i].mss)
            fail_msg("case %zu: first segment %zu bytes, want %zu", i, segs[0].data_len,
                     cases[i].mss);
        tapir_sock_close(cv.s);
        fx_clear(f);
    }
    tapir_sock_close(l);
}

/* ==== SYN_RECEIVED ======================================================================= */

/* §3.10.7.4 second, SYN-RECEIVED: from a passive open a reset returns to LISTEN: the child
 * goes, the listener stays. */
static void test_syn_received_rst_frees_child_listener_goes_on(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, RPORT);
    cv.l = listener(f, LPORT, 8, 0);
    syn_to_listener(&cv, PEER_ISN, 1460);
    uint64_t freed = tcps(f)->conns_freed;
    seg_in(&cv, FX_TCP_RST, PEER_ISN + 1, 0, -1, NULL, 0);
    fx_expect_none(f);
    expect_state(&cv, TCP_CLOSED);
    assert_int_equal(tcps(f)->conns_freed, freed + 1);
    assert_int_equal(tcps(f)->rx_resets, 1);
    struct tapir_sock *a;
    assert_int_equal(tapir_sock_accept(cv.l, &a, NULL), -EAGAIN);
    syn_to_listener(&cv, PEER_ISN + 5000, 1460); /* the listener still answers */
    tapir_sock_close(cv.l);
}

/* A retransmitted SYN means our SYN,ACK was lost: it is sent again, same ISS. */
static void test_syn_received_retransmitted_syn_resends_syn_ack(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, RPORT);
    cv.l = listener(f, LPORT, 8, 0);
    struct fx_tcp_view v = syn_to_listener(&cv, PEER_ISN, 1460);
    uint32_t iss = v.seq;
    v = syn_to_listener(&cv, PEER_ISN, 1460);
    assert_int_equal(v.seq, iss);
    assert_int_equal(v.mss, 1460);
    assert_int_equal(tcps(f)->conns_allocated, 2); /* no second child */
    tapir_sock_close(cv.l);
}

/* §3.10.7.4 fifth, SYN-RECEIVED: an ACK outside SND.UNA < SEG.ACK =< SND.NXT draws
 * <SEQ=SEG.ACK><CTL=RST>; the handshake stays open for the right ACK. */
static void test_syn_received_bad_ack_gets_rst(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, RPORT);
    cv.l = listener(f, LPORT, 8, 0);
    syn_to_listener(&cv, PEER_ISN, 1460);
    seg_in(&cv, FX_TCP_ACK, PEER_ISN + 1, cv.iss + 5, -1, NULL, 0);
    struct fx_tcp_view v = out_one(&cv);
    assert_int_equal(v.flags, FX_TCP_RST);
    assert_int_equal(v.seq, cv.iss + 5);
    seg_in(&cv, FX_TCP_ACK, PEER_ISN + 1, cv.iss, -1, NULL, 0);
    v = out_one(&cv);
    assert_int_equal(v.flags, FX_TCP_RST);
    assert_int_equal(v.seq, cv.iss);
    expect_state(&cv, TCP_SYN_RECEIVED);
    peer_ack(&cv);
    expect_state(&cv, TCP_ESTABLISHED);
    tapir_sock_close(cv.l);
}

/* The SYN,ACK is retransmitted (1 s, then 2 s), and the handshake is given up in the end. */
static void test_syn_ack_is_retransmitted_then_given_up(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, RPORT);
    cv.l = listener(f, LPORT, 8, 0);
    syn_to_listener(&cv, PEER_ISN, 1460);
    fx_advance(f, 999999);
    fx_expect_none(f);
    fx_advance(f, 1);
    struct fx_tcp_view v = out_one(&cv);
    assert_int_equal(v.flags, FX_TCP_SYN | FX_TCP_ACK);
    assert_int_equal(v.seq, cv.iss);
    assert_int_equal(v.ack, PEER_ISN + 1);
    fx_advance(f, 1999999);
    fx_expect_none(f);
    fx_advance(f, 1);
    v = out_one(&cv);
    assert_int_equal(v.seq, cv.iss);
    fx_run_until(f, f->now_us + 600000000ull);
    size_t n;
    fx_take_all(f, &n);
    assert_int_equal(n, 4); /* six retransmissions in all */
    expect_state(&cv, TCP_CLOSED);
    assert_int_equal(tcps(f)->timeouts, 1);
    assert_int_equal(tcps(f)->conns_freed, 1);
    struct tapir_sock *a;
    assert_int_equal(tapir_sock_accept(cv.l, &a, NULL), -EAGAIN);
    tapir_sock_close(cv.l);
}

/* ==== §3.10.7.3 SYN-SENT ================================================================= */

static void test_connect_sends_syn_with_mss(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, 5000);
    struct fx_tcp_view v = connect_syn(&cv, 0);
    assert_int_equal(v.flags, FX_TCP_SYN);
    assert_int_equal(v.ack, 0);
    assert_int_equal(v.mss, 1460);
    assert_int_equal(v.wnd, WMAX);
    assert_int_equal(v.data_len, 0);
    assert_true(v.sport >= 32768 && v.sport <= 60999);
    expect_state(&cv, TCP_SYN_SENT);
    assert_int_equal(v.seq, conn_of(&cv)->iss);
    assert_int_equal(tapir_sock_connected(cv.s), -EAGAIN);
    assert_false(tapir_sock_events(cv.s) & POLLOUT);
    tapir_sock_close(cv.s);
}

static void test_syn_sent_syn_ack_establishes(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, 5000);
    connect_syn(&cv, 0);
    seg_in(&cv, FX_TCP_SYN | FX_TCP_ACK, PEER_ISN, cv.iss + 1, 1000, NULL, 0);
    cv.pseq = PEER_ISN + 1;
    uint16_t wnd = expect_ack(&cv, cv.iss + 1, PEER_ISN + 1); /* <SEQ=SND.NXT><ACK=RCV.NXT> */
    assert_int_equal(wnd, WMAX);
    expect_state(&cv, TCP_ESTABLISHED);
    assert_int_equal(tapir_sock_connected(cv.s), 0);
    assert_true(tapir_sock_events(cv.s) & POLLOUT);
    assert_int_equal(tcps(f)->established, 1);
    /* The SYN,ACK's MSS (1000) bounds what we send. */
    const size_t sizes[] = {1000, 200};
    expect_segment_sizes(&cv, 1200, sizes, 2);
    tapir_sock_close(cv.s);
}

/* First check of SYN-SENT: an ACK of something not sent, SEG.ACK =< ISS or > SND.NXT, draws
 * <SEQ=SEG.ACK><CTL=RST> and changes nothing. */
static void test_syn_sent_bad_ack_gets_rst(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, 5000);
    connect_syn(&cv, 0);
    seg_in(&cv, FX_TCP_SYN | FX_TCP_ACK, PEER_ISN, cv.iss + 2, 1460, NULL, 0);
    struct fx_tcp_view v = out_one(&cv);
    assert_int_equal(v.flags, FX_TCP_RST);
    assert_int_equal(v.seq, cv.iss + 2);
    seg_in(&cv, FX_TCP_ACK, PEER_ISN, cv.iss, -1, NULL, 0);
    v = out_one(&cv);
    assert_int_equal(v.flags, FX_TCP_RST);
    assert_int_equal(v.seq, cv.iss);
    /* With RST set, a bad ACK is just dropped. */
    seg_in(&cv, FX_TCP_RST | FX_TCP_ACK, PEER_ISN, cv.iss + 7, -1, NULL, 0);
    fx_expect_none(f);
    expect_state(&cv, TCP_SYN_SENT);
    assert_int_equal(tapir_sock_connected(cv.s), -EAGAIN);
    seg_in(&cv, FX_TCP_SYN | FX_TCP_ACK, PEER_ISN, cv.iss + 1, 1460, NULL, 0);
    expect_ack(&cv, cv.iss + 1, PEER_ISN + 1);
    assert_int_equal(tapir_sock_connected(cv.s), 0);
    tapir_sock_close(cv.s);
}

static void test_syn_sent_rst_with_acceptable_ack_refuses(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, 5000);
    connect_syn(&cv, 0);
    seg_in(&cv, FX_TCP_RST | FX_TCP_ACK, 0, cv.iss + 1, -1, NULL, 0);
    fx_expect_none(f);
    expect_state(&cv, TCP_CLOSED);
    assert_true(tapir_sock_events(cv.s) & POLLERR);
    assert_int_equal(tapir_sock_connected(cv.s), -ECONNREFUSED);
    assert_int_equal(tcps(f)->rx_resets, 1);
    /* Nothing is retransmitted after that. */
    fx_run_until(f, f->now_us + 300000000ull);
    fx_expect_none(f);
    tapir_sock_close(cv.s);
}

static void test_syn_sent_rst_without_ack_is_ignored(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, 5000);
    connect_syn(&cv, 0);
    seg_in(&cv, FX_TCP_RST, 0, 0, -1, NULL, 0);
    seg_in(&cv, FX_TCP_RST, PEER_ISN, cv.iss + 1, -1, NULL, 0); /* an ACK field, no ACK bit */
    fx_expect_none(f);
    expect_state(&cv, TCP_SYN_SENT);
    assert_int_equal(tapir_sock_connected(cv.s), -EAGAIN);
    assert_int_equal(tcps(f)->rx_resets, 0);
    tapir_sock_close(cv.s);
}

/* Fourth step of SYN-SENT: a SYN without ACK is a simultaneous open: SYN-RECEIVED, and
 * <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>; the peer's ACK completes it. */
static void test_syn_sent_bare_syn_is_simultaneous_open(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, 5000);
    connect_syn(&cv, 0);
    seg_in(&cv, FX_TCP_SYN, PEER_ISN, 0, 1460, NULL, 0);
    cv.pseq = PEER_ISN + 1;
    struct fx_tcp_view v = out_one(&cv);
    assert_int_equal(v.flags, FX_TCP_SYN | FX_TCP_ACK);
    assert_int_equal(v.seq, cv.iss);
    assert_int_equal(v.ack, PEER_ISN + 1);
    assert_int_equal(v.mss, 1460);
    expect_state(&cv, TCP_SYN_RECEIVED);
    assert_int_equal(tapir_sock_connected(cv.s), -EAGAIN);
    peer_ack(&cv);
    expect_state(&cv, TCP_ESTABLISHED);
    assert_int_equal(tapir_sock_connected(cv.s), 0);
    tapir_sock_close(cv.s);
}

/* RFC 9293 §3.5 figure 8, lines 6 and 7: in a simultaneous open each side, in SYN-RECEIVED,
 * gets the other's SYN,ACK <SEQ=IRS><ACK=ISS+1> and becomes ESTABLISHED. */
static void test_simultaneous_open_syn_ack_establishes(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, 5000);
    connect_syn(&cv, 0);
    seg_in(&cv, FX_TCP_SYN, PEER_ISN, 0, 1460, NULL, 0);
    struct fx_tcp_view v = out_one(&cv);
    assert_int_equal(v.flags, FX_TCP_SYN | FX_TCP_ACK);
    /* The peer's SYN,ACK, crossing ours. */
    seg_in(&cv, FX_TCP_SYN | FX_TCP_ACK, PEER_ISN, cv.iss + 1, 1460, NULL, 0);
    size_t n;
    const struct fx_frame *fr = fx_take_all(f, &n);
    for (size_t i = 0; i < n; i++)
        assert_false(as_ours(&cv, &fr[i]).flags & FX_TCP_SYN); /* no SYN again: it was ACKed */
    expect_state(&cv, TCP_ESTABLISHED);
    assert_int_equal(tapir_sock_connected(cv.s), 0);
    tapir_sock_close(cv.s);
}

/* RFC 9293 §3.10.7.3 fourth: after a SYN,ACK establishes, "if there are other controls or
 * text in the segment, then continue processing at the sixth step": data on it is taken. */
static void test_syn_sent_syn_ack_with_data_delivers_it(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, 5000);
    connect_syn(&cv, 0);
    seg_in(&cv, FX_TCP_SYN | FX_TCP_ACK, PEER_ISN, cv.iss + 1, 1460, "hello", 5);
    expect_ack(&cv, cv.iss + 1, PEER_ISN + 6);
    expect_read(cv.s, "hello", 5);
    tapir_sock_close(cv.s);
}

/* ==== Synchronized states: the sequence check (first) ==================================== */

static void test_unacceptable_segment_draws_ack_and_is_dropped(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, RPORT);
    cv.l = listener(f, LPORT, 8, 0);
    passive_open(&cv, PEER_ISN, 1460);
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
    tapir_sock_close(cv.s);
    tapir_sock_close(cv.l);
}

/* ==== RST (second), RFC 5961 §3 ========================================================== */

static void test_rst_exactly_at_rcv_nxt_resets(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, RPORT);
    cv.l = listener(f, LPORT, 8, 0);
    passive_open(&cv, PEER_ISN, 1460);
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
    struct conv cv = conv_new(f, RPORT);
    cv.l = listener(f, LPORT, 8, 0);
    passive_open(&cv, PEER_ISN, 1460);
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
    tapir_sock_close(cv.s);
    tapir_sock_close(cv.l);
}

static void test_rst_outside_window_is_ignored(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, RPORT);
    cv.l = listener(f, LPORT, 8, 0);
    passive_open(&cv, PEER_ISN, 1460);
    seg_in(&cv, FX_TCP_RST, cv.pseq + WMAX, 0, -1, NULL, 0);
    seg_in(&cv, FX_TCP_RST, cv.pseq - 1, 0, -1, NULL, 0);
    seg_in(&cv, FX_TCP_RST | FX_TCP_ACK, cv.pseq + 0x80000000u, cv.pack, -1, NULL, 0);
    fx_expect_none(f);
    expect_state(&cv, TCP_ESTABLISHED);
    assert_int_equal(tcps(f)->challenge_acks, 0);
    assert_int_equal(tcps(f)->rx_resets, 0);
    assert_int_equal(tcps(f)->drop_out_of_window, 3);
    tapir_sock_close(cv.s);
    tapir_sock_close(cv.l);
}

/* ==== SYN (fourth), RFC 5961 §4 ========================================================== */

static void test_syn_in_established_draws_challenge_ack_not_reset(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, RPORT);
    cv.l = listener(f, LPORT, 8, 0);
    passive_open(&cv, PEER_ISN, 1460);
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
    tapir_sock_close(cv.s);
    tapir_sock_close(cv.l);
}

/* ==== ACK (fifth), RFC 5961 §5 =========================================================== */

static void test_ack_of_unsent_data_draws_challenge_ack_and_drops(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, RPORT);
    cv.l = listener(f, LPORT, 8, 0);
    passive_open(&cv, PEER_ISN, 1460);
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
    tapir_sock_close(cv.s);
    tapir_sock_close(cv.l);
}

/* RFC 5961 §7: challenge ACKs are rate limited (cfg.tcp_challenge_ack_per_s per second). */
static void test_challenge_acks_are_rate_limited(void **state)
{
    struct fixture *f = *state;
    struct tapir_config cfg;
    fx_config(&cfg);
    cfg.tcp_challenge_ack_per_s = 2;
    restart(f, &cfg);
    struct conv cv = conv_new(f, RPORT);
    cv.l = listener(f, LPORT, 8, 0);
    passive_open(&cv, PEER_ISN, 1460);
    for (int i = 0; i < 5; i++)
        seg_in(&cv, FX_TCP_RST, cv.pseq + 1 + (uint32_t)i, 0, -1, NULL, 0);
    struct fx_tcp_view v[8];
    assert_int_equal(out_all(&cv, v, 8, true), 2);
    assert_int_equal(tcps(f)->challenge_acks, 2);
    assert_int_equal(tcps(f)->challenge_acks_limited, 3);
    seg_in(&cv, FX_TCP_SYN, cv.pseq, 0, -1, NULL, 0); /* the SYN and ACK cases share it */
    seg_in(&cv, FX_TCP_ACK, cv.pseq, cv.iss + 100, -1, NULL, 0);
    fx_expect_none(f);
    assert_int_equal(tcps(f)->challenge_acks_limited, 5);
    fx_advance(f, 999999);
    seg_in(&cv, FX_TCP_RST, cv.pseq + 1, 0, -1, NULL, 0);
    fx_expect_none(f);
    fx_advance(f, 1); /* a new second */
    seg_in(&cv, FX_TCP_RST, cv.pseq + 1, 0, -1, NULL, 0);
    expect_ack(&cv, cv.iss + 1, cv.pseq);
    assert_int_equal(tcps(f)->challenge_acks, 3);
    assert_int_equal(tcps(f)->challenge_acks_limited, 6);
    expect_state(&cv, TCP_ESTABLISHED);
    tapir_sock_close(cv.s);
    tapir_sock_close(cv.l);
}

/* ==== The text (seventh) ================================================================= */

/* In-order data is delivered at once and acknowledged within the delayed-ACK time (RFC 1122
 * §4.2.3.2; one segment at a time here, so each ACK waits for the timer). The buffer is the
 * largest window the field can say unscaled, so the data waiting shows in the window. */
static void test_in_order_data_is_delivered_and_acked(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, RPORT);
    cv.l = listener(f, LPORT, 8, (int)WMAX);
    passive_open(&cv, PEER_ISN, 1460);
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
    tapir_sock_close(cv.s);
    tapir_sock_close(cv.l);
}

static void test_out_of_order_data_is_held_until_the_hole_fills(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, RPORT);
    cv.l = listener(f, LPORT, 8, 0);
    passive_open(&cv, PEER_ISN, 1460);
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
    tapir_sock_close(cv.s);
    tapir_sock_close(cv.l);
}

/* Overlapping out-of-order pieces merge; a fill that reaches only the first range takes in
 * every range that touches. */
static void test_overlapping_out_of_order_pieces_merge(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, RPORT);
    cv.l = listener(f, LPORT, 8, 0);
    passive_open(&cv, PEER_ISN, 1460);
    uint32_t base = cv.pseq;
    seg_in(&cv, FX_TCP_ACK, base + 500, cv.pack, -1, pat + 500, 100); /* [500,600) */
    seg_in(&cv, FX_TCP_ACK, base + 250, cv.pack, -1, pat + 250, 100); /* [250,350) */
    seg_in(&cv, FX_TCP_ACK, base + 300, cv.pack, -1, pat + 300, 100); /* [300,400) */
    seg_in(&cv, FX_TCP_ACK, base + 400, cv.pack, -1, pat + 400, 100); /* touches both */
    fx_clear(f);
    seg_in(&cv, FX_TCP_ACK, base, cv.pack, -1, pat, 260); /* overlaps the first range */
    expect_ack(&cv, cv.iss + 1, base + 600);
    expect_read(cv.s, pat, 600);
    tapir_sock_close(cv.s);
    tapir_sock_close(cv.l);
}

/* Bytes past the window are cut off (and a FIN after them is not yet for us). */
static void test_data_beyond_the_window_is_trimmed(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, RPORT);
    cv.l = listener(f, LPORT, 8, 2000);
    struct fx_tcp_view v = syn_to_listener(&cv, PEER_ISN, 1460);
    assert_int_equal(v.wnd, 2000);
    peer_ack(&cv);
    assert_int_equal(tapir_sock_accept(cv.l, &cv.s, NULL), 0);
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
    tapir_sock_close(cv.s);
    tapir_sock_close(cv.l);
}

/* The window offered shrinks as data waits, a zero window refuses data, and reading
 * reopens it with a window update (RFC 1122 §4.2.3.3: once it grew by min(MSS, half the
 * buffer)). */
static void test_window_shrinks_and_reading_sends_a_window_update(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, RPORT);
    cv.l = listener(f, LPORT, 8, 2000);
    passive_open(&cv, PEER_ISN, 1460);
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
    tapir_sock_close(cv.s);
    tapir_sock_close(cv.l);
}

static void test_duplicate_data_is_acked_and_not_delivered_twice(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, RPORT);
    cv.l = listener(f, LPORT, 8, 0);
    passive_open(&cv, PEER_ISN, 1460);
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
    tapir_sock_close(cv.s);
    tapir_sock_close(cv.l);
}

/* An ACK that carries nothing is not acknowledged: otherwise two stacks would ACK each
 * other's ACKs forever. Here the handshake's final ACK. */
static void test_final_handshake_ack_draws_nothing(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, RPORT);
    cv.l = listener(f, LPORT, 8, 0);
    syn_to_listener(&cv, PEER_ISN, 1460);
    peer_send(&cv, FX_TCP_ACK, NULL, 0);
    expect_state(&cv, TCP_ESTABLISHED);
    fx_expect_none(f);
    tapir_sock_close(cv.l);
}

static void test_pure_ack_in_established_draws_nothing(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, RPORT);
    cv.l = listener(f, LPORT, 8, 0);
    passive_open(&cv, PEER_ISN, 1460);
    app_send(cv.s, pat, 100);
    out_one(&cv);
    cv.pack += 100;
    peer_send(&cv, FX_TCP_ACK, NULL, 0); /* acknowledges our data */
    fx_expect_none(f);
    peer_send(&cv, FX_TCP_ACK, NULL, 0); /* a duplicate */
    fx_expect_none(f);
    tapir_sock_close(cv.s);
    tapir_sock_close(cv.l);
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
    struct conv cv = conv_new(f, RPORT);
    cv.l = listener(f, LPORT, 8, 2000);
    passive_open(&cv, PEER_ISN, 1460);
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
    tapir_sock_close(cv.s);
    tapir_sock_close(cv.l);
}

/* The handshake's final ACK may carry data: it is taken, and waits for accept. */
static void test_final_ack_with_data_is_delivered(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, RPORT);
    cv.l = listener(f, LPORT, 8, 0);
    syn_to_listener(&cv, PEER_ISN, 1460);
    peer_send(&cv, FX_TCP_ACK | FX_TCP_PSH, pat, 100);
    expect_delayed_ack(&cv, cv.iss + 1, PEER_ISN + 101);
    assert_int_equal(tapir_sock_accept(cv.l, &cv.s, NULL), 0);
    assert_true(tapir_sock_events(cv.s) & POLLIN);
    expect_read(cv.s, pat, 100);
    tapir_sock_close(cv.s);
    tapir_sock_close(cv.l);
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
    struct conv cv = conv_new(f, RPORT);
    cv.l = listener(f, LPORT, 8, 0);
    passive_open(&cv, PEER_ISN, 1460);
    seg_in(&cv, FX_TCP_PSH, cv.pseq, 0, -1, pat, 100);
    seg_in(&cv, FX_TCP_FIN, cv.pseq, 0, -1, NULL, 0);
    fx_expect_none(f);
    expect_nothing_to_read(cv.s);
    expect_state(&cv, TCP_ESTABLISHED);
    assert_int_equal(tcps(f)->rx_bytes, 0);
    tapir_sock_close(cv.s);
    tapir_sock_close(cv.l);
}

/* §3.10.7.4 seventh, CLOSE-WAIT: "this should not occur since a FIN has been received from
 * the remote side. Ignore the segment text." */
static void test_data_after_the_peers_fin_is_ignored(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, RPORT);
    cv.l = listener(f, LPORT, 8, 0);
    passive_open(&cv, PEER_ISN, 1460);
    peer_send(&cv, FX_TCP_ACK | FX_TCP_FIN, pat, 10);
    expect_ack(&cv, cv.iss + 1, cv.pseq);
    seg_in(&cv, FX_TCP_ACK, cv.pseq, cv.pack, -1, pat + 10, 20);
    fx_clear(f);
    assert_int_equal(tcps(f)->drop_after_fin, 1);
    expect_read(cv.s, pat, 10);
    assert_int_equal(tapir_sock_recvfrom(cv.s, buf, 10, 0, NULL, NULL), 0);
    tapir_sock_close(cv.s);
    tapir_sock_close(cv.l);
}

/* The send window comes from the newest segment (SND.WL1, SND.WL2): a reordered older ACK
 * does not close it. */
static void test_window_update_ignores_an_older_ack(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, RPORT);
    cv.l = listener(f, LPORT, 8, 0);
    passive_open(&cv, PEER_ISN, 1460);
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
    tapir_sock_close(cv.s);
    tapir_sock_close(cv.l);
}

/* ==== FIN (eighth) and closing =========================================================== */

static void test_fin_moves_to_close_wait_and_reads_end_after_the_data(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, RPORT);
    cv.l = listener(f, LPORT, 8, 0);
    passive_open(&cv, PEER_ISN, 1460);
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
    tapir_sock_close(cv.s);
    tapir_sock_close(cv.l);
}

/* A FIN on a segment after a hole waits for the hole (and a retransmission of the FIN). */
static void test_fin_after_a_hole_is_not_taken_early(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, RPORT);
    cv.l = listener(f, LPORT, 8, 0);
    passive_open(&cv, PEER_ISN, 1460);
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
    tapir_sock_close(cv.s);
    tapir_sock_close(cv.l);
}

static void test_close_in_close_wait_sends_fin_then_last_ack_then_closed(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, RPORT);
    cv.l = listener(f, LPORT, 8, 0);
    passive_open(&cv, PEER_ISN, 1460);
    peer_send(&cv, FX_TCP_ACK | FX_TCP_FIN, NULL, 0);
    expect_ack(&cv, cv.iss + 1, cv.pseq);
    expect_state(&cv, TCP_CLOSE_WAIT);
    assert_int_equal(tapir_sock_recvfrom(cv.s, buf, 10, 0, NULL, NULL), 0);
    uint64_t freed = tcps(f)->conns_freed;
    tapir_sock_close(cv.s);
    struct fx_tcp_view v = out_one(&cv);
    assert_int_equal(v.flags & ~FX_TCP_PSH, FX_TCP_FIN | FX_TCP_ACK);
    assert_int_equal(v.seq, cv.iss + 1);
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
    struct conv cv = conv_new(f, RPORT);
    cv.l = listener(f, LPORT, 8, 0);
    passive_open(&cv, PEER_ISN, 1460);
    peer_send(&cv, FX_TCP_ACK | FX_TCP_FIN, NULL, 0);
    fx_clear(f);
    tapir_sock_close(cv.s);
    out_one(&cv);
    fx_advance(f, 1000000);
    struct fx_tcp_view v = out_one(&cv);
    assert_int_equal(v.flags & ~FX_TCP_PSH, FX_TCP_FIN | FX_TCP_ACK);
    assert_int_equal(v.seq, cv.iss + 1);
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
    struct fx_tcp_view v = out_one(&cv);
    assert_int_equal(v.flags & ~FX_TCP_PSH, FX_TCP_FIN | FX_TCP_ACK);
    assert_int_equal(v.seq, cv.iss + 1);
    assert_int_equal(v.ack, PEER_ISN + 1);
    expect_state(&cv, TCP_FIN_WAIT_1);
    cv.pack = cv.iss + 2;
    peer_ack(&cv);
    expect_state(&cv, TCP_FIN_WAIT_2);
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
    assert_int_equal(tapir_sock_shutdown(cv.s, SHUT_WR), 0);
    struct fx_tcp_view v = out_one(&cv);
    assert_true(v.flags & FX_TCP_FIN);
    expect_state(&cv, TCP_FIN_WAIT_1);
    cv.pack = cv.iss + 2;
    peer_ack(&cv);
    expect_state(&cv, TCP_FIN_WAIT_2);
    /* FIN_WAIT_2 still receives. */
    peer_send(&cv, FX_TCP_ACK, pat, 100);
    expect_delayed_ack(&cv, cv.iss + 2, PEER_ISN + 101);
    expect_read(cv.s, pat, 100);
    peer_send(&cv, FX_TCP_ACK | FX_TCP_FIN, NULL, 0);
    expect_ack(&cv, cv.iss + 2, PEER_ISN + 102);
    expect_state(&cv, TCP_TIME_WAIT);
    assert_int_equal(tapir_sock_recvfrom(cv.s, buf, 10, 0, NULL, NULL), 0);
    fx_advance(f, 2 * f->cfg.tcp_msl_us);
    expect_state(&cv, TCP_CLOSED);
    assert_int_equal(tapir_sock_recvfrom(cv.s, buf, 10, 0, NULL, NULL), 0);
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
    cv.pack = cv.iss + 2;
    peer_ack(&cv);
    expect_state(&cv, TCP_FIN_WAIT_2);
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
    struct conv cv = conv_new(f, RPORT);
    cv.l = listener(f, LPORT, 8, 0);
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
    struct conv cv = conv_new(f, RPORT);
    cv.l = listener(f, LPORT, 8, 0);
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
    struct conv cv = conv_new(f, RPORT);
    cv.l = listener(f, LPORT, 8, 0);
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
    assert_int_equal(tapir_sock_shutdown(cv.s, SHUT_WR), 0);
    struct fx_tcp_view v = out_one(&cv);
    assert_true(v.flags & FX_TCP_FIN);
    assert_int_equal(v.seq, cv.iss + 1);
    expect_state(&cv, TCP_FIN_WAIT_1);
    peer_send(&cv, FX_TCP_ACK | FX_TCP_FIN, NULL, 0); /* its FIN, not yet ACKing ours */
    expect_ack(&cv, cv.iss + 2, PEER_ISN + 2);
    expect_state(&cv, TCP_CLOSING);
    cv.pack = cv.iss + 2;
    peer_send(&cv, FX_TCP_ACK, NULL, 0);
    fx_expect_none(f);
    expect_state(&cv, TCP_TIME_WAIT);
    fx_advance(f, 2 * f->cfg.tcp_msl_us);
    expect_state(&cv, TCP_CLOSED);
    assert_int_equal(tapir_sock_recvfrom(cv.s, buf, 10, 0, NULL, NULL), 0);
    tapir_sock_close(cv.s);
}

/* RFC 1122 §4.2.2.13: closing with data unread loses it: a RST tells the peer. */
static void test_close_with_unread_data_sends_rst(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, RPORT);
    cv.l = listener(f, LPORT, 8, 0);
    passive_open(&cv, PEER_ISN, 1460);
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
    struct conv cv = conv_new(f, RPORT);
    cv.l = listener(f, LPORT, 8, 0);
    passive_open(&cv, PEER_ISN, 1460);
    peer_send(&cv, FX_TCP_ACK, pat, 100);
    expect_delayed_ack(&cv, cv.iss + 1, cv.pseq);
    tapir_sock_close(cv.s);
    struct fx_tcp_view v = out_one(&cv);
    assert_true(v.flags & FX_TCP_RST);
    assert_int_equal(tcps(f)->tx_resets, 1);
    tapir_sock_close(cv.l);
}

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
    struct conv cv = conv_new(f, RPORT);
    cv.l = listener(f, LPORT, 8, 0);
    syn_to_listener(&cv, PEER_ISN, 1460);
    fx_advance(f, 100000); /* the SYN,ACK's round trip (timed: it went once) is 100 ms */
    peer_ack(&cv);
    assert_int_equal(tapir_sock_accept(cv.l, &cv.s, NULL), 0);
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
    tapir_sock_close(cv.s);
    tapir_sock_close(cv.l);
}

/* After the retries (15, as Linux's tcp_retries2) the connection ends with ETIMEDOUT. */
static void test_unacknowledged_data_times_out(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, RPORT);
    cv.l = listener(f, LPORT, 8, 0);
    passive_open(&cv, PEER_ISN, 1460);
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
    tapir_sock_close(cv.s);
    tapir_sock_close(cv.l);
}

/* RFC 6298 §5.4: when the timer expires, "retransmit the earliest segment that has not been
 * acknowledged" (and RFC 5681 §3.1: after a timeout, one segment's worth). */
static void test_timeout_retransmits_the_earliest_segment_only(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, RPORT);
    cv.l = listener(f, LPORT, 8, 0);
    passive_open(&cv, PEER_ISN, 1460);
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
    tapir_sock_close(cv.s);
    tapir_sock_close(cv.l);
}

/* The sender stops at the peer's window, probes a zero window (backing off, for as long as
 * the peer answers), and resumes when the window opens. */
static void test_zero_window_is_probed_and_sending_resumes(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, RPORT);
    cv.l = listener(f, LPORT, 8, 0);
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
    tapir_sock_close(cv.s);
    tapir_sock_close(cv.l);
}

/* RFC 9293 §3.8.6.1 (SHLD-29): "the transmitting host SHOULD send the first zero-window
 * probe when a zero window has existed for the retransmission timeout period". */
static void test_first_zero_window_probe_waits_one_rto(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, RPORT);
    cv.l = listener(f, LPORT, 8, 0);
    cv.pwnd = 1000;
    /* Two round trips of 100 ms measured (RFC 6298 §2.2-§2.3): the handshake's gives SRTT
     * 100 ms, RTTVAR 50 ms; the data's leaves SRTT at 100 and RTTVAR at 3/4 * 50 = 37.5 ms,
     * so the RTO is 100 + 4 * 37.5 = 250 ms: not the 200 ms floor, not the initial 1 s. */
    syn_to_listener(&cv, PEER_ISN, 1460);
    fx_advance(f, 100000);
    peer_ack(&cv);
    assert_int_equal(tapir_sock_accept(cv.l, &cv.s, NULL), 0);
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
    tapir_sock_close(cv.s);
    tapir_sock_close(cv.l);
}

/* RFC 1122 §4.2.2.17 / RFC 9293 §3.8.6.1: "As long as the receiving TCP continues to send
 * acknowledgments in response to the probe segments, the sending TCP MUST allow the
 * connection to stay open", also when the window closed with data still in flight. */
static void test_zero_window_with_data_in_flight_stays_open(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_new(f, RPORT);
    cv.l = listener(f, LPORT, 8, 0);
    passive_open(&cv, PEER_ISN, 1460);
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
    tapir_sock_close(cv.s);
    tapir_sock_close(cv.l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TCP_TEST(test_bad_checksum_is_dropped_and_counted),
        TCP_TEST(test_bad_data_offset_is_dropped_and_counted),
        TCP_TEST(test_truncated_header_is_dropped_and_counted),
        TCP_TEST(test_segment_to_broadcast_is_dropped),
        TCP_TEST(test_closed_port_answers_segment_without_ack_with_rst_ack),
        TCP_TEST(test_closed_port_answers_ack_with_rst_at_seg_ack),
        TCP_TEST(test_closed_port_never_answers_rst),
        TCP_TEST(test_bound_but_not_listening_port_is_closed),
        TCP_TEST(test_listen_ignores_rst_and_segments_without_syn_or_ack),
        TCP_TEST(test_listen_answers_ack_with_rst_at_seg_ack),
        TCP_TEST(test_listen_answers_syn_with_syn_ack_mss_and_our_isn),
        TCP_TEST(test_mss_option_follows_the_mtu),
        TCP_TEST(test_child_is_accepted_only_after_the_final_ack),
        TCP_TEST(test_listen_backlog_overflow_drops_syn),
        TCP_TEST(test_listen_syn_queue_is_bounded),
        TCP_TEST(test_no_mss_option_means_536),
        TCP_TEST(test_peer_mss_bounds_segments_and_our_mtu_bounds_it),
        TCP_TEST(test_unknown_options_are_skipped),
        TCP_TEST(test_malformed_options_are_handled_safely),
        TCP_TEST(test_syn_received_rst_frees_child_listener_goes_on),
        TCP_TEST(test_syn_received_retransmitted_syn_resends_syn_ack),
        TCP_TEST(test_syn_received_bad_ack_gets_rst),
        TCP_TEST(test_syn_ack_is_retransmitted_then_given_up),
        TCP_TEST(test_connect_sends_syn_with_mss),
        TCP_TEST(test_syn_sent_syn_ack_establishes),
        TCP_TEST(test_syn_sent_bad_ack_gets_rst),
        TCP_TEST(test_syn_sent_rst_with_acceptable_ack_refuses),
        TCP_TEST(test_syn_sent_rst_without_ack_is_ignored),
        TCP_TEST(test_syn_sent_bare_syn_is_simultaneous_open),
        TCP_TEST(test_simultaneous_open_syn_ack_establishes),
        TCP_TEST(test_syn_sent_syn_ack_with_data_delivers_it),
        TCP_TEST(test_unacceptable_segment_draws_ack_and_is_dropped),
        TCP_TEST(test_rst_exactly_at_rcv_nxt_resets),
        TCP_TEST(test_rst_in_window_but_not_exact_draws_challenge_ack),
        TCP_TEST(test_rst_outside_window_is_ignored),
        TCP_TEST(test_syn_in_established_draws_challenge_ack_not_reset),
        TCP_TEST(test_ack_of_unsent_data_draws_challenge_ack_and_drops),
        TCP_TEST(test_challenge_acks_are_rate_limited),
        TCP_TEST(test_in_order_data_is_delivered_and_acked),
        TCP_TEST(test_out_of_order_data_is_held_until_the_hole_fills),
        TCP_TEST(test_overlapping_out_of_order_pieces_merge),
        TCP_TEST(test_data_beyond_the_window_is_trimmed),
        TCP_TEST(test_window_shrinks_and_reading_sends_a_window_update),
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
    return cmocka_run_group_tests_name("tcp input", tests, NULL, NULL);
}
