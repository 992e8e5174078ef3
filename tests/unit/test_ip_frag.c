/* SPDX-License-Identifier: MIT */
/* test_ip_frag.c: IPv4 reassembly and fragmentation (RFC 791 §3.2, RFC 1122 §3.3.2): orders,
 * duplicates, overlaps, bad lengths, the 65535 limit, timeouts, eviction, MTU and DF on output. */
#include "fixture.h"

#include <sys/socket.h>

#include "tapir/sock.h"

#include "core.h"
#include "ipv4.h"

static uint8_t msg_buf[70000];   /* the ICMP message being fragmented */
static uint8_t reply_buf[70000]; /* what came back, reassembled */

/* Builds an echo request with data_len bytes of pattern into msg_buf; returns its length. */
static size_t make_echo(size_t data_len, unsigned seed)
{
    static uint8_t data[70000];
    fx_pattern(data, data_len, seed);
    return fx_icmp_echo(msg_buf, 0x4242, (uint16_t)seed, data, data_len);
}

static size_t frag_count(size_t len, size_t chunk)
{
    return (len + chunk - 1) / chunk;
}

/* Injects fragment i of msg (len bytes, cut every chunk bytes) under header tmpl. */
static void inject_frag(struct fixture *f, const struct fx_ip *tmpl, const uint8_t *msg, size_t len,
                        size_t chunk, size_t i)
{
    size_t off = i * chunk, n = len - off < chunk ? len - off : chunk;
    struct fx_ip ip = *tmpl;
    ip.frag = (uint16_t)((tmpl->frag & 0x4000) | (off + n < len ? 0x2000 : 0) | off / 8);
    fx_inject_ip(f, fx_gw_mac, &ip, msg + off, n);
}

/* Injects all fragments in the order given (NULL: in order). */
static void inject_frags(struct fixture *f, const struct fx_ip *tmpl, const uint8_t *msg,
                         size_t len, size_t chunk, const size_t *order)
{
    size_t n = frag_count(len, chunk);
    for (size_t k = 0; k < n; k++)
        inject_frag(f, tmpl, msg, len, chunk, order ? order[k] : k);
}

/* Collects the reply frames, checks they are well-formed fragments at most mtu each (or one
 * whole datagram) and that they carry the echo reply to the request in msg_buf[0..len). */
static void expect_echo_reply(struct fixture *f, size_t len, unsigned mtu)
{
    size_t n;
    const struct fx_frame *out = fx_take_all(f, &n);
    assert_int_equal(n, len + 20 <= mtu ? 1 : frag_count(len, (mtu - 20) & ~7u));
    size_t got = fx_reassemble(out, n, mtu, reply_buf, sizeof(reply_buf));
    struct fx_ip_view v = fx_as_ip(&out[0]);
    assert_int_equal(v.dst, FX_GW_IP);
    assert_int_equal(v.src, FX_OUR_IP);
    assert_int_equal(got, len);
    assert_int_equal(reply_buf[0], 0); /* echo reply */
    assert_int_equal(reply_buf[1], 0);
    assert_int_equal(fx_csum(reply_buf, len), 0);
    assert_memory_equal(reply_buf + 4, msg_buf + 4, len - 4); /* id, seq and every data byte */
}

static void shuffle(size_t *order, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    for (size_t i = n; i > 1; i--) {
        seed = seed * 1103515245u + 12345u;
        size_t j = (seed >> 8) % i, t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
}

static int setup_learned(void **state)
{
    int rc = fx_setup(state);
    if (rc == 0)
        fx_learn_gateway(*state);
    return rc;
}

/* --- reassembly in any order --- */

static void test_in_order_fragments_reassemble_and_reply_is_fragmented(void **state)
{
    struct fixture *f = *state;
    size_t len = make_echo(3000, 1);
    struct fx_ip ip = fx_ip_default();
    inject_frags(f, &ip, msg_buf, len, 1480, NULL);
    expect_echo_reply(f, len, 1500);
    assert_int_equal(fx_stats(f)->ip.frag_rx, 3);
    assert_int_equal(fx_stats(f)->ip.frag_reassembled, 1);
    assert_int_equal(fx_stats(f)->mem.pkb_in_use, 0);
}

static void test_reverse_order_fragments_reassemble(void **state)
{
    struct fixture *f = *state;
    size_t len = make_echo(5000, 2);
    size_t n = frag_count(len, 1480), order[8];
    for (size_t i = 0; i < n; i++)
        order[i] = n - 1 - i;
    struct fx_ip ip = fx_ip_default();
    inject_frags(f, &ip, msg_buf, len, 1480, order);
    expect_echo_reply(f, len, 1500);
    assert_int_equal(fx_stats(f)->ip.frag_reassembled, 1);
}

static void test_shuffled_fragments_reassemble(void **state)
{
    struct fixture *f = *state;
    for (uint32_t seed = 1; seed <= 20; seed++) {
        size_t len = make_echo(4000 + seed * 37, seed);
        size_t chunk = 8 * (20 + seed * 7);
        size_t n = frag_count(len, chunk), order[64];
        assert_true(n <= 64);
        shuffle(order, n, seed);
        struct fx_ip ip = fx_ip_default();
        ip.id = (uint16_t)(0x100 + seed);
        inject_frags(f, &ip, msg_buf, len, chunk, order);
        expect_echo_reply(f, len, 1500);
    }
    assert_int_equal(fx_stats(f)->ip.frag_reassembled, 20);
    assert_int_equal(fx_stats(f)->mem.pkb_in_use, 0);
}

static void test_tiny_eight_byte_fragments_reassemble_to_unfragmented_reply(void **state)
{
    struct fixture *f = *state;
    size_t len = make_echo(61, 3); /* 69 bytes: eight of 8 and a last of 5 */
    size_t order[9];
    shuffle(order, 9, 99);
    struct fx_ip ip = fx_ip_default();
    inject_frags(f, &ip, msg_buf, len, 8, order);
    expect_echo_reply(f, len, 1500);
}

static void test_first_fragment_with_options_reassembles(void **state)
{
    struct fixture *f = *state;
    static const uint8_t opts[8] = {1, 1, 1, 1, 1, 1, 1, 0};
    size_t len = make_echo(2000, 4);
    struct fx_ip first = fx_ip_default();
    first.options = opts;
    first.options_len = sizeof(opts);
    struct fx_ip rest = fx_ip_default();
    inject_frag(f, &first, msg_buf, len, 1024, 0);
    inject_frag(f, &rest, msg_buf, len, 1024, 1);
    expect_echo_reply(f, len, 1500);
}

static void test_interleaved_datagrams_reassemble_separately(void **state)
{
    struct fixture *f = *state;
    static uint8_t a[4000], b[4000];
    size_t alen = make_echo(2500, 5);
    memcpy(a, msg_buf, alen);
    size_t blen = make_echo(2600, 6);
    memcpy(b, msg_buf, blen);
    struct fx_ip ia = fx_ip_default(), ib = fx_ip_default();
    ia.id = 1;
    ib.id = 2;
    inject_frag(f, &ia, a, alen, 1024, 0);
    inject_frag(f, &ib, b, blen, 1024, 2);
    inject_frag(f, &ib, b, blen, 1024, 0);
    inject_frag(f, &ia, a, alen, 1024, 2);
    inject_frag(f, &ia, a, alen, 1024, 1);
    memcpy(msg_buf, a, alen);
    expect_echo_reply(f, alen, 1500);
    inject_frag(f, &ib, b, blen, 1024, 1);
    memcpy(msg_buf, b, blen);
    expect_echo_reply(f, blen, 1500);
    assert_int_equal(fx_stats(f)->ip.frag_reassembled, 2);
}

/* --- duplicates and overlaps --- */

static void test_duplicate_fragment_is_counted_and_harmless(void **state)
{
    struct fixture *f = *state;
    size_t len = make_echo(3000, 7);
    struct fx_ip ip = fx_ip_default();
    inject_frag(f, &ip, msg_buf, len, 1480, 0);
    inject_frag(f, &ip, msg_buf, len, 1480, 1);
    inject_frag(f, &ip, msg_buf, len, 1480, 1);
    inject_frag(f, &ip, msg_buf, len, 1480, 0);
    fx_expect_none(f);
    inject_frag(f, &ip, msg_buf, len, 1480, 2);
    expect_echo_reply(f, len, 1500);
    assert_int_equal(fx_stats(f)->ip.frag_dup, 2);
    assert_int_equal(fx_stats(f)->ip.frag_drop_overlap, 0);
    /* A duplicate after completion starts a new datagram that never completes: no second reply. */
    inject_frag(f, &ip, msg_buf, len, 1480, 2);
    fx_expect_none(f);
}

static void test_consistent_partial_overlap_is_accepted(void **state)
{
    struct fixture *f = *state;
    size_t len = make_echo(200, 8); /* 208 bytes */
    struct fx_ip ip = fx_ip_default();
    /* [0,64) MF, [32,128) MF overlapping by 32 identical bytes, [128,208) last. */
    ip.frag = 0x2000;
    fx_inject_ip(f, fx_gw_mac, &ip, msg_buf, 64);
    ip.frag = 0x2000 | 4;
    fx_inject_ip(f, fx_gw_mac, &ip, msg_buf + 32, 96);
    ip.frag = 16;
    fx_inject_ip(f, fx_gw_mac, &ip, msg_buf + 128, len - 128);
    expect_echo_reply(f, len, 1500);
    assert_int_equal(fx_stats(f)->ip.frag_drop_overlap, 0);
}

static void test_inconsistent_overlap_discards_datagram(void **state)
{
    struct fixture *f = *state;
    size_t len = make_echo(3000, 9);
    static uint8_t evil[4000];
    memcpy(evil, msg_buf, len);
    evil[1480 + 100] ^= 0xff; /* same range as fragment 1, one byte different */
    struct fx_ip ip = fx_ip_default();
    inject_frag(f, &ip, msg_buf, len, 1480, 0);
    inject_frag(f, &ip, msg_buf, len, 1480, 1);
    inject_frag(f, &ip, evil, len, 1480, 1);
    assert_int_equal(fx_stats(f)->ip.frag_drop_overlap, 1);
    inject_frag(f, &ip, msg_buf, len, 1480, 2);
    fx_expect_none(f);
    assert_int_equal(fx_stats(f)->ip.frag_reassembled, 0);
    assert_int_equal(fx_stats(f)->icmp.rx_msgs, 0);
}

static void test_conflicting_last_fragments_discard_datagram(void **state)
{
    struct fixture *f = *state;
    size_t len = make_echo(100, 10); /* 108 bytes */
    struct fx_ip ip = fx_ip_default();
    ip.frag = 8; /* a last fragment [64, 80) */
    fx_inject_ip(f, fx_gw_mac, &ip, msg_buf + 64, 16);
    ip.frag = 8; /* another last fragment, [64, 108): the end moved */
    fx_inject_ip(f, fx_gw_mac, &ip, msg_buf + 64, len - 64);
    assert_int_equal(fx_stats(f)->ip.frag_drop_overlap, 1);
    fx_expect_none(f);
    /* The datagram was discarded whole: a clean retransmission starts afresh and completes. */
    ip.frag = 0x2000;
    fx_inject_ip(f, fx_gw_mac, &ip, msg_buf, 64);
    ip.frag = 8;
    fx_inject_ip(f, fx_gw_mac, &ip, msg_buf + 64, len - 64);
    expect_echo_reply(f, len, 1500);
}

static void test_data_beyond_last_fragment_end_discards_datagram(void **state)
{
    struct fixture *f = *state;
    size_t len = make_echo(100, 10); /* 108 bytes */
    struct fx_ip ip = fx_ip_default();
    ip.frag = 0x2000 | 8; /* [64, 128) with more to come */
    fx_inject_ip(f, fx_gw_mac, &ip, msg_buf + 64, 64);
    ip.frag = 8; /* then a last fragment ending at 108, before what we already hold */
    fx_inject_ip(f, fx_gw_mac, &ip, msg_buf + 64, len - 64);
    assert_int_equal(fx_stats(f)->ip.frag_drop_overlap, 1);
    ip.frag = 0x2000;
    fx_inject_ip(f, fx_gw_mac, &ip, msg_buf, 64);
    fx_expect_none(f);
}

/* --- bad fragments --- */

static void test_non_last_fragment_not_multiple_of_8_is_dropped(void **state)
{
    struct fixture *f = *state;
    size_t len = make_echo(100, 11);
    struct fx_ip ip = fx_ip_default();
    ip.frag = 0x2000;
    fx_inject_ip(f, fx_gw_mac, &ip, msg_buf, 60);
    assert_int_equal(fx_stats(f)->ip.frag_drop_bad_len, 1);
    fx_expect_none(f);
    /* The datagram can still be completed by well-formed fragments. */
    fx_inject_ip(f, fx_gw_mac, &ip, msg_buf, 64);
    ip.frag = 8;
    fx_inject_ip(f, fx_gw_mac, &ip, msg_buf + 64, len - 64);
    expect_echo_reply(f, len, 1500);
}

static void test_non_last_fragment_past_known_end_is_dropped(void **state)
{
    struct fixture *f = *state;
    size_t len = make_echo(100, 12); /* 108 */
    struct fx_ip ip = fx_ip_default();
    ip.frag = 8; /* last: ends at 108 */
    fx_inject_ip(f, fx_gw_mac, &ip, msg_buf + 64, len - 64);
    ip.frag = 0x2000 | 8; /* claims more follows from 64 to 128, past the end */
    fx_inject_ip(f, fx_gw_mac, &ip, msg_buf + 64, 64);
    assert_int_equal(fx_stats(f)->ip.frag_drop_bad_len, 1);
    fx_expect_none(f);
}

static void test_fragment_ending_past_65535_is_dropped_too_big(void **state)
{
    struct fixture *f = *state;
    uint8_t junk[16] = {0};
    struct fx_ip ip = fx_ip_default();
    ip.frag = 8189; /* offset 65512, + 16 bytes ends at 65528 > 65515 */
    fx_inject_ip(f, fx_gw_mac, &ip, junk, sizeof(junk));
    assert_int_equal(fx_stats(f)->ip.frag_drop_too_big, 1);
    /* With a datagram in progress, the whole reassembly goes. */
    size_t len = make_echo(100, 13);
    ip.frag = 0x2000;
    fx_inject_ip(f, fx_gw_mac, &ip, msg_buf, 64);
    ip.frag = 0x2000 | 8191;
    fx_inject_ip(f, fx_gw_mac, &ip, junk, sizeof(junk));
    assert_int_equal(fx_stats(f)->ip.frag_drop_too_big, 2);
    ip.frag = 8;
    fx_inject_ip(f, fx_gw_mac, &ip, msg_buf + 64, len - 64);
    fx_expect_none(f);
    assert_int_equal(fx_stats(f)->ip.frag_reassembled, 0);
}

static void test_ping_one_byte_past_maximum_is_dropped_too_big(void **state)
{
    struct fixture *f = *state;
    size_t len = make_echo(65508, 14); /* 65516 bytes of ICMP: one past 65535 - 20 */
    struct fx_ip ip = fx_ip_default();
    inject_frags(f, &ip, msg_buf, len, 1480, NULL);
    fx_expect_none(f);
    assert_int_equal(fx_stats(f)->ip.frag_drop_too_big, 1);
    assert_int_equal(fx_stats(f)->ip.frag_reassembled, 0);
}

/* --- timeouts --- */

static void test_timeout_with_first_fragment_sends_time_exceeded(void **state)
{
    struct fixture *f = *state;
    uint64_t t0 = f->now_us;
    size_t len = make_echo(3000, 15);
    struct fx_ip ip = fx_ip_default();
    inject_frag(f, &ip, msg_buf, len, 1480, 0);
    inject_frag(f, &ip, msg_buf, len, 1480, 2);
    fx_expect_none(f);
    fx_advance_to(f, t0 + f->cfg.ipfrag_timeout_us - 1);
    fx_expect_none(f);
    fx_advance_to(f, t0 + f->cfg.ipfrag_timeout_us);
    struct fx_ip_view v;
    struct fx_icmp_view m = fx_as_icmp(fx_expect_one(f), &v);
    assert_int_equal(v.dst, FX_GW_IP);
    assert_int_equal(m.type, 11);
    assert_int_equal(m.code, 1);
    assert_int_equal(m.rest, 0);
    /* The quote: fragment zero's header as it arrived (MF set), then its first 8 bytes. */
    uint8_t hdr[20];
    struct fx_ip first = fx_ip_default();
    first.frag = 0x2000;
    first.total_len = 20 + 1480;
    fx_ip_build(hdr, &first, NULL, 0);
    assert_int_equal(m.data_len, 28);
    assert_memory_equal(m.data, hdr, 20);
    assert_memory_equal(m.data + 20, msg_buf, 8);
    assert_int_equal(fx_stats(f)->ip.frag_drop_timeout, 1);
    assert_int_equal(fx_stats(f)->icmp.tx_time_exceeded, 1);
    assert_int_equal(fx_stats(f)->mem.pkb_in_use, 0);
    /* The last fragment now starts a new reassembly; nothing is answered. */
    inject_frag(f, &ip, msg_buf, len, 1480, 1);
    fx_expect_none(f);
}

static void test_timeout_without_first_fragment_sends_nothing(void **state)
{
    struct fixture *f = *state;
    uint64_t t0 = f->now_us;
    size_t len = make_echo(3000, 16);
    struct fx_ip ip = fx_ip_default();
    inject_frag(f, &ip, msg_buf, len, 1480, 1);
    inject_frag(f, &ip, msg_buf, len, 1480, 2);
    fx_run_until(f, t0 + f->cfg.ipfrag_timeout_us + 1000);
    fx_expect_none(f);
    assert_int_equal(fx_stats(f)->ip.frag_drop_timeout, 1);
    assert_int_equal(fx_stats(f)->icmp.tx_time_exceeded, 0);
    assert_int_equal(fx_stats(f)->mem.pkb_in_use, 0);
}

static void test_timeout_of_datagram_to_broadcast_sends_nothing(void **state)
{
    struct fixture *f = *state;
    /* RFC 1122 §3.2.2: no ICMP error about a datagram sent to a broadcast address; that holds
     * for the reassembly timeout too. */
    uint64_t t0 = f->now_us;
    size_t len = make_echo(3000, 17);
    struct fx_ip ip = fx_ip_default();
    ip.dst = FX_BCAST_IP;
    inject_frag(f, &ip, msg_buf, len, 1480, 0);
    ip.id++;
    ip.dst = 0xffffffffu;
    inject_frag(f, &ip, msg_buf, len, 1480, 0);
    assert_int_equal(fx_stats(f)->ip.frag_rx, 2);
    fx_run_until(f, t0 + f->cfg.ipfrag_timeout_us + 1000);
    assert_int_equal(fx_stats(f)->ip.frag_drop_timeout, 2);
    fx_expect_none(f);
    assert_int_equal(fx_stats(f)->icmp.tx_time_exceeded, 0);
}

static void test_timeout_about_an_icmp_error_sends_nothing(void **state)
{
    struct fixture *f = *state;
    uint64_t t0 = f->now_us;
    /* Fragment zero of a (large) Destination Unreachable: no error about an error. */
    uint8_t quote[2000];
    fx_pattern(quote, sizeof(quote), 18);
    size_t len = fx_icmp_build(msg_buf, 3, 3, 0, quote, sizeof(quote));
    struct fx_ip ip = fx_ip_default();
    inject_frag(f, &ip, msg_buf, len, 1480, 0);
    fx_run_until(f, t0 + f->cfg.ipfrag_timeout_us + 1000);
    fx_expect_none(f);
    assert_int_equal(fx_stats(f)->ip.frag_drop_timeout, 1);
    assert_int_equal(fx_stats(f)->icmp.err_suppressed, 1);
}

static void test_later_fragments_do_not_restart_the_timer(void **state)
{
    struct fixture *f = *state;
    uint64_t t0 = f->now_us, limit = f->cfg.ipfrag_timeout_us;
    size_t len = make_echo(8000, 19);
    struct fx_ip ip = fx_ip_default();
    inject_frag(f, &ip, msg_buf, len, 1480, 0);
    fx_advance_to(f, t0 + limit / 2);
    inject_frag(f, &ip, msg_buf, len, 1480, 1);
    fx_advance_to(f, t0 + limit - 1);
    inject_frag(f, &ip, msg_buf, len, 1480, 2);
    fx_advance_to(f, t0 + limit);
    assert_int_equal(fx_stats(f)->ip.frag_drop_timeout, 1);
}

/* --- bounds --- */

static void test_too_many_datagrams_evict_the_oldest(void **state)
{
    struct fixture *f = *state;
    struct tapir_config cfg;
    fx_config(&cfg);
    cfg.ipfrag_max_datagrams = 2;
    fx_restart(f, &cfg);
    fx_learn_gateway(f);
    size_t len = make_echo(2000, 20);
    struct fx_ip ip = fx_ip_default();
    for (uint16_t id = 1; id <= 3; id++) {
        ip.id = id;
        inject_frag(f, &ip, msg_buf, len, 1024, 0);
    }
    assert_int_equal(fx_stats(f)->ip.frag_drop_evicted, 1);
    /* Datagram 3 is still held, so it completes. */
    ip.id = 3;
    inject_frag(f, &ip, msg_buf, len, 1024, 1);
    expect_echo_reply(f, len, 1500);
    /* Datagram 1 was evicted: its last fragment alone completes nothing. */
    ip.id = 1;
    inject_frag(f, &ip, msg_buf, len, 1024, 1);
    fx_expect_none(f);
    /* A new complete datagram still works. */
    len = make_echo(2100, 21);
    ip.id = 9;
    inject_frags(f, &ip, msg_buf, len, 1024, NULL);
    expect_echo_reply(f, len, 1500);
    assert_int_equal(fx_stats(f)->ip.frag_reassembled, 2);
}

static void test_no_large_buffer_drops_fragment_and_counts(void **state)
{
    struct fixture *f = *state;
    struct tapir_config cfg;
    fx_config(&cfg);
    cfg.pkb_large_frames = 1;
    fx_restart(f, &cfg);
    fx_learn_gateway(f);
    size_t len = make_echo(2000, 26);
    struct fx_ip ip = fx_ip_default();
    ip.id = 1;
    inject_frag(f, &ip, msg_buf, len, 1024, 0); /* takes the only large buffer */
    ip.id = 2;
    inject_frag(f, &ip, msg_buf, len, 1024, 0);
    assert_int_equal(fx_stats(f)->ip.frag_drop_no_buffer, 1);
    assert_int_equal(fx_stats(f)->mem.pkb_exhausted, 1);
    /* Datagram 1 completes, and its buffer serves datagram 2 afterwards. */
    ip.id = 1;
    inject_frag(f, &ip, msg_buf, len, 1024, 1);
    expect_echo_reply(f, len, 1500);
    ip.id = 2;
    inject_frags(f, &ip, msg_buf, len, 1024, NULL);
    expect_echo_reply(f, len, 1500);
}

/* A reassembled datagram that fits in a frame-sized buffer is moved into one: with a single
 * large buffer, ten fragmented 1000-byte UDP datagrams are all queued on a socket nobody
 * reads yet (each held in a large buffer, the second would have found none). */
static void test_small_reassembled_datagrams_leave_the_large_buffers(void **state)
{
    struct fixture *f = *state;
    struct tapir_config cfg;
    fx_config(&cfg);
    cfg.pkb_large_frames = 1;
    fx_restart(f, &cfg);
    fx_learn_gateway(f);
    struct tapir_sock *s;
    assert_int_equal(tapir_sock_open(f->st, SOCK_DGRAM, IPPROTO_UDP, &s), 0);
    struct sockaddr_in me = {.sin_family = AF_INET, .sin_port = htons(5000)};
    assert_int_equal(tapir_sock_bind(s, &me), 0);
    uint8_t data[1000], udp[1008];
    fx_pattern(data, sizeof(data), 4);
    size_t len = fx_udp_build(udp, FX_GW_IP, FX_OUR_IP, 4000, 5000, data, sizeof(data), -1);
    struct fx_ip ip = fx_ip_default();
    ip.proto = IPPROTO_UDP;
    for (unsigned i = 0; i < 10; i++) {
        ip.id = (uint16_t)(100 + i);
        inject_frags(f, &ip, udp, len, 512, NULL);
    }
    assert_int_equal(fx_stats(f)->ip.frag_reassembled, 10);
    assert_int_equal(fx_stats(f)->ip.frag_drop_no_buffer, 0);
    uint8_t got[2000];
    for (unsigned i = 0; i < 10; i++) {
        assert_int_equal(tapir_sock_recvfrom(s, got, sizeof(got), 0, NULL, NULL), 1000);
        assert_memory_equal(got, data, 1000);
    }
    tapir_sock_close(s);
}

static void test_maximum_65507_byte_ping_works(void **state)
{
    struct fixture *f = *state;
    size_t len = make_echo(65507, 22);
    assert_int_equal(len + 20, 65535);
    size_t order[64], n = frag_count(len, 1480);
    shuffle(order, n, 7);
    struct fx_ip ip = fx_ip_default();
    inject_frags(f, &ip, msg_buf, len, 1480, order);
    expect_echo_reply(f, len, 1500);
    assert_int_equal(fx_stats(f)->ip.frag_reassembled, 1);
    assert_int_equal(fx_stats(f)->ip.frag_tx_created, 45);
    assert_int_equal(fx_stats(f)->mem.pkb_in_use, 0);
}

/* --- output --- */

static void test_output_fragments_respect_small_mtu(void **state)
{
    struct fixture *f = *state;
    struct tapir_config cfg;
    fx_config(&cfg);
    cfg.mtu_bytes = 576;
    fx_restart(f, &cfg);
    fx_learn_gateway(f);
    /* Our own ping, 2000 bytes: pieces of 552. */
    uint8_t data[2000];
    fx_pattern(data, sizeof(data), 23);
    assert_int_equal(fx_send_ping(f, FX_GW_IP, 3, 4, data, sizeof(data)), 0);
    size_t n;
    const struct fx_frame *out = fx_take_all(f, &n);
    assert_int_equal(n, 4);
    assert_int_equal(fx_as_ip(&out[0]).total_len, 20 + 552);
    size_t got = fx_reassemble(out, n, 576, reply_buf, sizeof(reply_buf));
    assert_int_equal(got, 8 + sizeof(data));
    assert_int_equal(fx_csum(reply_buf, got), 0);
    assert_memory_equal(reply_buf + 8, data, sizeof(data));
    /* And the reply to a fragmented request, at the same MTU. */
    size_t len = make_echo(3000, 24);
    struct fx_ip ip = fx_ip_default();
    inject_frags(f, &ip, msg_buf, len, 552, NULL);
    expect_echo_reply(f, len, 576);
}

static void test_maximum_ping_at_small_mtu(void **state)
{
    struct fixture *f = *state;
    struct tapir_config cfg;
    fx_config(&cfg);
    cfg.mtu_bytes = 576;
    fx_restart(f, &cfg);
    fx_learn_gateway(f);
    size_t len = make_echo(65507, 25);
    struct fx_ip ip = fx_ip_default();
    inject_frags(f, &ip, msg_buf, len, 552, NULL);
    expect_echo_reply(f, len, 576);
}

static void test_dont_fragment_too_big_is_refused(void **state)
{
    struct fixture *f = *state;
    struct pkb *p = pkb_alloc_for(f->st, 1600);
    assert_non_null(p);
    memset(pkb_put(p, 1600), 0x5a, 1600);
    struct ip_out out = {.dst = FX_GW_IP, .proto = 99, .dont_fragment = true};
    assert_int_equal(ipv4_output(f->st, p, &out), -EMSGSIZE);
    fx_expect_none(f);
    assert_int_equal(fx_stats(f)->ip.drop_needs_frag, 1);
    assert_int_equal(fx_stats(f)->ip.frag_tx_created, 0);
    assert_int_equal(fx_stats(f)->mem.pkb_in_use, 0);
}

static void test_dont_fragment_that_fits_is_sent_whole_with_df(void **state)
{
    struct fixture *f = *state;
    struct pkb *p = pkb_alloc_for(f->st, 1480);
    memset(pkb_put(p, 1480), 0x5a, 1480);
    struct ip_out out = {.dst = FX_GW_IP, .proto = 99, .dont_fragment = true};
    assert_int_equal(ipv4_output(f->st, p, &out), 0);
    struct fx_ip_view v = fx_as_ip(fx_expect_one(f));
    assert_int_equal(v.total_len, 1500);
    assert_int_equal(v.frag, 0x4000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_in_order_fragments_reassemble_and_reply_is_fragmented,
                                        setup_learned, fx_teardown),
        cmocka_unit_test_setup_teardown(test_reverse_order_fragments_reassemble, setup_learned,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_shuffled_fragments_reassemble, setup_learned,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_tiny_eight_byte_fragments_reassemble_to_unfragmented_reply, setup_learned,
            fx_teardown),
        cmocka_unit_test_setup_teardown(test_first_fragment_with_options_reassembles, setup_learned,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_interleaved_datagrams_reassemble_separately,
                                        setup_learned, fx_teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_fragment_is_counted_and_harmless,
                                        setup_learned, fx_teardown),
        cmocka_unit_test_setup_teardown(test_consistent_partial_overlap_is_accepted, setup_learned,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_inconsistent_overlap_discards_datagram, setup_learned,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_conflicting_last_fragments_discard_datagram,
                                        setup_learned, fx_teardown),
        cmocka_unit_test_setup_teardown(test_data_beyond_last_fragment_end_discards_datagram,
                                        setup_learned, fx_teardown),
        cmocka_unit_test_setup_teardown(test_non_last_fragment_not_multiple_of_8_is_dropped,
                                        setup_learned, fx_teardown),
        cmocka_unit_test_setup_teardown(test_non_last_fragment_past_known_end_is_dropped,
                                        setup_learned, fx_teardown),
        cmocka_unit_test_setup_teardown(test_fragment_ending_past_65535_is_dropped_too_big,
                                        setup_learned, fx_teardown),
        cmocka_unit_test_setup_teardown(test_ping_one_byte_past_maximum_is_dropped_too_big,
                                        setup_learned, fx_teardown),
        cmocka_unit_test_setup_teardown(test_timeout_with_first_fragment_sends_time_exceeded,
                                        setup_learned, fx_teardown),
        cmocka_unit_test_setup_teardown(test_timeout_without_first_fragment_sends_nothing,
                                        setup_learned, fx_teardown),
        cmocka_unit_test_setup_teardown(test_timeout_of_datagram_to_broadcast_sends_nothing,
                                        setup_learned, fx_teardown),
        cmocka_unit_test_setup_teardown(test_timeout_about_an_icmp_error_sends_nothing,
                                        setup_learned, fx_teardown),
        cmocka_unit_test_setup_teardown(test_later_fragments_do_not_restart_the_timer,
                                        setup_learned, fx_teardown),
        FX_TEST(test_too_many_datagrams_evict_the_oldest),
        FX_TEST(test_no_large_buffer_drops_fragment_and_counts),
        FX_TEST(test_small_reassembled_datagrams_leave_the_large_buffers),
        cmocka_unit_test_setup_teardown(test_maximum_65507_byte_ping_works, setup_learned,
                                        fx_teardown),
        FX_TEST(test_output_fragments_respect_small_mtu),
        FX_TEST(test_maximum_ping_at_small_mtu),
        cmocka_unit_test_setup_teardown(test_dont_fragment_too_big_is_refused, setup_learned,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_dont_fragment_that_fits_is_sent_whole_with_df,
                                        setup_learned, fx_teardown),
    };
    return cmocka_run_group_tests_name("ip_frag", tests, NULL, NULL);
}
