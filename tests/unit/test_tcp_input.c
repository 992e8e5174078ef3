/* SPDX-License-Identifier: MIT */
/* test_tcp_input.c: TCP segment arrival up to an established connection, step by step as
 * RFC 9293 §3.10.7 "SEGMENT ARRIVES" orders it: the header checks (§3.1), CLOSED, LISTEN (the
 * SYN queue, the accept queue, the MSS option and other options), SYN_RECEIVED and SYN_SENT
 * (simultaneous open too). Each test plays the peer, 10.0.0.1, with crafted segments
 * (tcp_conv.c), and checks exactly what the stack (10.0.0.2) sends back: flags, sequence and
 * acknowledgment numbers, window, the MSS option, and the counters. The synchronized states
 * are in test_tcp_established.c, closing in test_tcp_close.c, the timers in
 * test_tcp_timers.c. */
#include "fixture.h"

#include <poll.h>
#include <sys/socket.h>

#include "tapir/sock.h"
#include "tcp.h"
#include "tcp_conv.h"

static uint8_t pat[70000]; /* fx_pattern(7), filled in main */

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

/* A SYN with FIN to a listener is dropped, as Linux drops it: no SYN,ACK, no block. */
static void test_syn_with_fin_to_a_listener_is_dropped(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_listen(f, 0);
    seg_in(&cv, FX_TCP_SYN | FX_TCP_FIN, PEER_ISN, 0, 1460, NULL, 0);
    fx_expect_none(f);
    assert_null(conn_of(&cv));
    assert_int_equal(tcps(f)->drop_syn_fin, 1);
    syn_to_listener(&cv, PEER_ISN, 1460); /* a plain SYN is answered as ever */
    tapir_sock_close(cv.l);
}

/* Our ISN for one 4-tuple at one moment, from a fresh stack seeded with seed. */
static uint32_t isn_with_seed(struct fixture *f, uint64_t seed)
{
    struct tapir_config cfg;
    fx_config(&cfg);
    cfg.seed = seed;
    restart(f, &cfg);
    struct conv cv = conv_listen(f, 0);
    uint32_t isn = syn_to_listener(&cv, PEER_ISN, 1460).seq;
    tapir_sock_close(cv.l);
    return isn;
}

/* RFC 6528's key comes from the seeded PRNG: a seed replays the same ISNs exactly, and
 * another seed gives others (a blind attacker cannot guess them across runs). */
static void test_isn_key_follows_the_seed(void **state)
{
    struct fixture *f = *state;
    uint32_t a = isn_with_seed(f, 11), b = isn_with_seed(f, 11);
    uint32_t c = isn_with_seed(f, 12), d = isn_with_seed(f, 13);
    assert_int_equal(a, b);
    assert_int_not_equal(a, c);
    assert_int_not_equal(a, d);
    assert_int_not_equal(c, d);
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
    struct conv cv = conv_listen(f, 0);
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
    uint64_t allocated = tcps(f)->conns_allocated;
    struct conv cv = conv_new(f, 42100);
    /* The queue is full: the SYN is answered with a SYN cookie, and nothing is kept (the
     * cookie's own tests are in test_tcp_syncookie.c; without cookies it would be dropped). */
    seg_in(&cv, FX_TCP_SYN, 5, 0, 1460, NULL, 0);
    struct fx_tcp_view v = out_one(&cv);
    assert_int_equal(v.flags, FX_TCP_SYN | FX_TCP_ACK);
    assert_int_equal(tcps(f)->syncookies_sent, 1);
    assert_int_equal(tcps(f)->conns_allocated, allocated);
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
    struct conv cv = conv_listen(f, 0);
    passive_open(&cv, PEER_ISN, -1);
    const size_t sizes[] = {536, 536, 128};
    expect_segment_sizes(&cv, 1200, sizes, 3);
    conv_close(&cv);
}

static void test_peer_mss_bounds_segments_and_our_mtu_bounds_it(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_listen(f, 0);
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
    struct conv cv = conv_listen(f, 0);
    const uint8_t opts[] = {1, 1, 30, 6, 0xaa, 0xbb, 0xcc, 0xdd, 2, 4, 0x02, 0xbc}; /* MSS 700 */
    syn_to_listener_opts(&cv, PEER_ISN, -1, opts, sizeof(opts));
    complete_passive_open(&cv);
    const size_t sizes[] = {700, 700, 100};
    expect_segment_sizes(&cv, 1500, sizes, 3);
    conv_close(&cv);
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
        syn_to_listener_opts(&cv, PEER_ISN, -1, cases[i].opts, cases[i].len);
        complete_passive_open(&cv);
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
    struct conv cv = conv_listen(f, 0);
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
    struct conv cv = conv_listen(f, 0);
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
    struct conv cv = conv_listen(f, 0);
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
    struct conv cv = conv_listen(f, 0);
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
        TCP_TEST(test_syn_with_fin_to_a_listener_is_dropped),
        TCP_TEST(test_isn_key_follows_the_seed),
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
    };
    fx_pattern(pat, sizeof(pat), 7);
    return cmocka_run_group_tests_name("tcp input", tests, NULL, NULL);
}
