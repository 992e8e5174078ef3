/* SPDX-License-Identifier: MIT */
/* test_icmp.c: ICMP for a host (RFC 792, RFC 1122 §3.2.2): echo, bad messages, the errors we send
 * (the "must not" rules and the rate limit) and the errors and replies we receive. */
#include "fixture.h"

#include "core.h"
#include "icmp.h"
#include "ipv4.h"

static uint8_t msg[70000];

static int setup_learned(void **state)
{
    int rc = fx_setup(state);
    if (rc == 0)
        fx_learn_gateway(*state);
    return rc;
}

/* Injects an ICMP message (len bytes at m) from 10.0.0.1 to dst. */
static void inject_icmp_to(struct fixture *f, uint32_t dst, const uint8_t *m, size_t len)
{
    struct fx_ip ip = fx_ip_default();
    ip.dst = dst;
    static uint8_t ipb[70000], frame[70100];
    size_t n = fx_ip_build(ipb, &ip, m, len);
    n = fx_eth(frame, dst == FX_OUR_IP ? fx_our_mac : fx_bcast_mac, fx_gw_mac, 0x0800, ipb, n);
    fx_inject(f, frame, n);
}

static void inject_icmp(struct fixture *f, const uint8_t *m, size_t len)
{
    inject_icmp_to(f, FX_OUR_IP, m, len);
}

/* A datagram with protocol 99 from 10.0.0.1: the stack answers with Protocol Unreachable. */
static void inject_unknown_proto(struct fixture *f)
{
    static const uint8_t payload[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    struct fx_ip ip = fx_ip_default();
    ip.proto = 99;
    fx_inject_ip(f, fx_gw_mac, &ip, payload, sizeof(payload));
}

/* --- echo --- */

static void test_echo_request_gets_reply_with_same_id_seq_data(void **state)
{
    struct fixture *f = *state;
    uint8_t data[56];
    fx_pattern(data, sizeof(data), 31);
    fx_inject_ping(f, 0xbeef, 0x0102, data, sizeof(data));
    const struct fx_frame *fr = fx_expect_one(f);
    struct fx_ip_view ip;
    struct fx_icmp_view m = fx_as_icmp(fr, &ip); /* checksums verified here */
    assert_int_equal(m.type, 0);
    assert_int_equal(m.code, 0);
    assert_int_equal(m.id, 0xbeef);
    assert_int_equal(m.seq, 0x0102);
    assert_int_equal(m.data_len, sizeof(data));
    assert_memory_equal(m.data, data, sizeof(data));
    assert_int_equal(ip.src, FX_OUR_IP);
    assert_int_equal(ip.dst, FX_GW_IP);
    assert_memory_equal(fx_as_eth(fr).dst, fx_gw_mac, 6);
    assert_int_equal(fx_stats(f)->icmp.rx_echo_requests, 1);
    assert_int_equal(fx_stats(f)->icmp.tx_echo_replies, 1);
}

static void test_echo_with_no_data_is_answered(void **state)
{
    struct fixture *f = *state;
    fx_inject_ping(f, 1, 2, NULL, 0);
    struct fx_icmp_view m = fx_as_icmp(fx_expect_one(f), NULL);
    assert_int_equal(m.type, 0);
    assert_int_equal(m.id, 1);
    assert_int_equal(m.seq, 2);
    assert_int_equal(m.data_len, 0);
}

static void test_echo_with_odd_length_data_has_valid_checksum(void **state)
{
    struct fixture *f = *state;
    for (size_t len = 1; len < 40; len += 2) {
        uint8_t data[40];
        fx_pattern(data, len, (unsigned)len);
        fx_inject_ping(f, 3, (uint16_t)len, data, len);
        struct fx_icmp_view m = fx_as_icmp(fx_expect_one(f), NULL);
        assert_int_equal(m.data_len, len);
        assert_memory_equal(m.data, data, len);
    }
}

static void test_echo_reply_keeps_type_of_service(void **state)
{
    struct fixture *f = *state;
    size_t n = fx_icmp_echo(msg, 1, 1, "tos", 3);
    struct fx_ip ip = fx_ip_default();
    ip.tos = 0x10;
    fx_inject_ip(f, fx_gw_mac, &ip, msg, n);
    struct fx_ip_view v;
    fx_as_icmp(fx_expect_one(f), &v);
    assert_int_equal(v.tos, 0x10);
}

static void test_bad_checksum_is_dropped(void **state)
{
    struct fixture *f = *state;
    size_t n = fx_icmp_echo(msg, 1, 1, "abcd", 4);
    msg[9] ^= 0x40; /* data changed after the checksum */
    inject_icmp(f, msg, n);
    fx_expect_none(f);
    assert_int_equal(fx_stats(f)->icmp.drop_bad_checksum, 1);
    assert_int_equal(fx_stats(f)->icmp.rx_echo_requests, 0);
}

static void test_shorter_than_header_is_dropped(void **state)
{
    struct fixture *f = *state;
    uint8_t m[8];
    fx_icmp_echo(m, 1, 1, NULL, 0);
    for (size_t len = 0; len < 8; len++)
        inject_icmp(f, m, len);
    fx_expect_none(f);
    assert_int_equal(fx_stats(f)->icmp.drop_truncated, 8);
    assert_int_equal(fx_stats(f)->icmp.rx_msgs, 8);
}

static void test_unknown_type_is_dropped(void **state)
{
    struct fixture *f = *state;
    const uint8_t types[] = {13 /* timestamp */, 5 /* redirect */, 42, 255};
    for (size_t i = 0; i < sizeof(types); i++) {
        size_t n = fx_icmp_build(msg, types[i], 0, 0, "12345678", 8);
        inject_icmp(f, msg, n);
    }
    fx_expect_none(f);
    assert_int_equal(fx_stats(f)->icmp.drop_unknown_type, 4);
}

static void test_echo_to_broadcast_is_ignored(void **state)
{
    struct fixture *f = *state;
    size_t n = fx_icmp_echo(msg, 1, 1, "bc", 2);
    inject_icmp_to(f, FX_BCAST_IP, msg, n);
    inject_icmp_to(f, 0xffffffffu, msg, n);
    fx_expect_none(f);
    assert_int_equal(fx_stats(f)->icmp.drop_broadcast_echo, 2);
    assert_int_equal(fx_stats(f)->icmp.tx_echo_replies, 0);
}

/* --- errors we send: the rate limit --- */

static void test_errors_beyond_burst_are_rate_limited_then_refill(void **state)
{
    struct fixture *f = *state;
    unsigned burst = f->cfg.icmp_err_burst;
    for (unsigned i = 0; i < burst + 10; i++)
        inject_unknown_proto(f);
    size_t n;
    const struct fx_frame *out = fx_take_all(f, &n);
    assert_int_equal(n, burst);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(fx_as_icmp(&out[i], NULL).type, 3);
    assert_int_equal(fx_stats(f)->icmp.err_ratelimited, 10);

    /* icmp_err_per_s = 1000: one token a millisecond. */
    fx_advance(f, 1000);
    inject_unknown_proto(f);
    inject_unknown_proto(f);
    fx_take_all(f, &n);
    assert_int_equal(n, 1);
    assert_int_equal(fx_stats(f)->icmp.err_ratelimited, 11);
    fx_advance(f, 5000);
    for (int i = 0; i < 10; i++)
        inject_unknown_proto(f);
    fx_take_all(f, &n);
    assert_int_equal(n, 5);
    /* A long quiet spell refills the bucket to the burst, not beyond. */
    fx_advance(f, 10000000);
    for (unsigned i = 0; i < burst + 5; i++)
        inject_unknown_proto(f);
    fx_take_all(f, &n);
    assert_int_equal(n, burst);
}

static void test_slow_rate_refills_under_a_steady_stream(void **state)
{
    struct fixture *f = *state;
    /* 10 errors a second, burst 1, and an offending datagram every 50 us for one second:
     * about 10 errors must go out after the first, however finely the time is sliced. */
    struct tapir_config cfg;
    fx_config(&cfg);
    cfg.icmp_err_burst = 1;
    cfg.icmp_err_per_s = 10;
    fx_restart(f, &cfg);
    fx_learn_gateway(f);
    uint64_t t0 = f->now_us;
    size_t sent = 0, n;
    for (uint64_t t = t0; t <= t0 + 1000000; t += 50) {
        f->now_us = t;
        inject_unknown_proto(f);
        fx_take_all(f, &n);
        sent += n;
    }
    assert_in_range(sent, 1 + 9, 1 + 11);
}

static void test_slow_rate_refills_with_coarse_gaps(void **state)
{
    struct fixture *f = *state;
    struct tapir_config cfg;
    fx_config(&cfg);
    cfg.icmp_err_burst = 1;
    cfg.icmp_err_per_s = 10;
    fx_restart(f, &cfg);
    fx_learn_gateway(f);
    size_t n;
    inject_unknown_proto(f);
    inject_unknown_proto(f);
    fx_take_all(f, &n);
    assert_int_equal(n, 1);
    f->now_us += 99999;
    inject_unknown_proto(f);
    fx_take_all(f, &n);
    assert_int_equal(n, 0);
    f->now_us += 100000;
    inject_unknown_proto(f);
    fx_take_all(f, &n);
    assert_int_equal(n, 1);
}

static void test_error_quote_is_cut_to_fit_576_bytes(void **state)
{
    struct fixture *f = *state;
    static uint8_t payload[1400];
    fx_pattern(payload, sizeof(payload), 41);
    struct fx_ip ip = fx_ip_default();
    ip.proto = 99;
    fx_inject_ip(f, fx_gw_mac, &ip, payload, sizeof(payload));
    struct fx_ip_view v;
    struct fx_icmp_view m = fx_as_icmp(fx_expect_one(f), &v);
    assert_int_equal(v.total_len, 576);
    assert_int_equal(m.data_len, 576 - 28);
    assert_memory_equal(m.data + 20, payload, 576 - 48);
}

static void restart_without_gateway(struct fixture *f)
{
    struct tapir_config cfg;
    fx_config(&cfg);
    cfg.gateway.s_addr = htonl(INADDR_ANY);
    fx_restart(f, &cfg);
}

static void test_echo_reply_without_route_is_not_counted_as_sent(void **state)
{
    struct fixture *f = *state;
    restart_without_gateway(f);
    /* An echo request from an off-link host, with no gateway to answer through. */
    size_t n = fx_icmp_echo(msg, 1, 1, "far", 3);
    struct fx_ip ip = fx_ip_default();
    ip.src = FX_FAR_IP;
    fx_inject_ip(f, fx_gw_mac, &ip, msg, n);
    fx_expect_none(f);
    assert_int_equal(fx_stats(f)->ip.drop_no_route, 1);
    assert_int_equal(fx_stats(f)->icmp.tx_echo_replies, 0);
    assert_int_equal(fx_stats(f)->icmp.tx_msgs, 0);
}

static void test_error_without_route_is_not_counted_as_sent(void **state)
{
    struct fixture *f = *state;
    restart_without_gateway(f);
    /* A datagram with an unknown protocol from an off-link host. */
    static const uint8_t payload[8] = {0};
    struct fx_ip ip = fx_ip_default();
    ip.src = FX_FAR_IP;
    ip.proto = 99;
    fx_inject_ip(f, fx_gw_mac, &ip, payload, sizeof(payload));
    fx_expect_none(f);
    assert_int_equal(fx_stats(f)->ip.drop_no_route, 1);
    assert_int_equal(fx_stats(f)->icmp.tx_dest_unreach, 0);
    assert_int_equal(fx_stats(f)->icmp.tx_msgs, 0);
}

/* --- errors we send: the "must not" rules (RFC 1122 §3.2.2) --- */

/* A received header to quote, and its description. */
struct offender {
    uint8_t hdr[20];
    uint8_t l4[8];
    struct ip_in ip;
};

static void make_offender(struct offender *o, uint8_t proto, uint8_t l4_type)
{
    struct fx_ip ip = fx_ip_default();
    ip.proto = proto;
    memset(o->l4, 0, sizeof(o->l4));
    o->l4[0] = l4_type;
    fx_ip_build(o->hdr, &ip, NULL, 0);
    o->ip = (struct ip_in){.src = FX_GW_IP,
                           .dst = FX_OUR_IP,
                           .id = 0x1234,
                           .total_len = 28,
                           .hdr_len = 20,
                           .proto = proto,
                           .ttl = 64,
                           .hdr = o->hdr};
}

static void send_error_about(struct fixture *f, struct offender *o)
{
    tapir_timers(f->st, f->now_us);
    icmp_send_error(f->st, &o->ip, o->l4, sizeof(o->l4), ICMP_DEST_UNREACH, ICMP_PORT_UNREACH);
}

static void test_error_about_ordinary_datagram_is_sent(void **state)
{
    struct fixture *f = *state;
    struct offender o;
    make_offender(&o, 17, 0);
    send_error_about(f, &o);
    struct fx_icmp_view m = fx_as_icmp(fx_expect_one(f), NULL);
    assert_int_equal(m.type, 3);
    assert_int_equal(m.code, 3);
    assert_int_equal(m.data_len, 28);
    assert_memory_equal(m.data, o.hdr, 20);
    /* An echo request is not an error: errors about it are allowed. */
    make_offender(&o, 1, 8);
    send_error_about(f, &o);
    assert_int_equal(fx_as_icmp(fx_expect_one(f), NULL).type, 3);
}

static void test_no_error_about_an_icmp_error(void **state)
{
    struct fixture *f = *state;
    const uint8_t error_types[] = {3, 4, 5, 11, 12};
    struct offender o;
    for (size_t i = 0; i < sizeof(error_types); i++) {
        make_offender(&o, 1, error_types[i]);
        send_error_about(f, &o);
    }
    fx_expect_none(f);
    assert_int_equal(fx_stats(f)->icmp.err_suppressed, 5);
    assert_int_equal(fx_stats(f)->icmp.tx_dest_unreach, 0);
}

static void test_no_error_about_a_non_first_fragment(void **state)
{
    struct fixture *f = *state;
    struct offender o;
    make_offender(&o, 17, 0);
    o.ip.frag_offset_bytes = 8;
    send_error_about(f, &o);
    fx_expect_none(f);
    assert_int_equal(fx_stats(f)->icmp.err_suppressed, 1);
}

static void test_no_error_about_broadcast_or_multicast(void **state)
{
    struct fixture *f = *state;
    struct offender o;
    make_offender(&o, 17, 0);
    o.ip.to_broadcast = true;
    o.ip.dst = FX_BCAST_IP;
    send_error_about(f, &o);
    make_offender(&o, 17, 0);
    o.ip.dst = FX_IP(224, 0, 0, 251);
    send_error_about(f, &o);
    make_offender(&o, 17, 0);
    o.ip.src = FX_BCAST_IP; /* a source that names no single host */
    send_error_about(f, &o);
    make_offender(&o, 17, 0);
    o.ip.src = 0;
    send_error_about(f, &o);
    fx_expect_none(f);
    assert_int_equal(fx_stats(f)->icmp.err_suppressed, 4);
}

static void test_unknown_protocol_to_broadcast_gets_no_error(void **state)
{
    struct fixture *f = *state;
    uint8_t payload[8] = {0};
    struct fx_ip ip = fx_ip_default();
    ip.proto = 99;
    ip.dst = FX_BCAST_IP;
    static uint8_t ipb[64], frame[128];
    size_t n = fx_ip_build(ipb, &ip, payload, sizeof(payload));
    n = fx_eth(frame, fx_bcast_mac, fx_gw_mac, 0x0800, ipb, n);
    fx_inject(f, frame, n);
    fx_expect_none(f);
    assert_int_equal(fx_stats(f)->icmp.err_suppressed, 1);
}

/* --- errors we receive --- */

static struct {
    unsigned calls;
    struct icmp_error err;
    uint8_t l4[64];
} got_error;

static void record_error(struct tapir_stack *st, const struct icmp_error *err)
{
    (void)st;
    got_error.calls++;
    got_error.err = *err;
    size_t n = err->orig_l4_len < sizeof(got_error.l4) ? err->orig_l4_len : sizeof(got_error.l4);
    memcpy(got_error.l4, err->orig_l4, n);
}

static int setup_handler(void **state)
{
    int rc = setup_learned(state);
    if (rc)
        return rc;
    struct fixture *f = *state;
    memset(&got_error, 0, sizeof(got_error));
    f->st->icmp.error_handlers[17] = record_error;
    return 0;
}

/* An ICMP error whose quote is a datagram from orig_src to 10.0.0.3, proto 17, with l4_len
 * bytes of (UDP) header; quote_len cuts the quote (0: all of it). */
static size_t make_error(uint8_t type, uint8_t code, uint32_t info, uint32_t orig_src,
                         size_t l4_len, size_t quote_len)
{
    uint8_t quote[128], udp[64];
    fx_pattern(udp, sizeof(udp), 77);
    struct fx_ip ip = fx_ip_default();
    ip.src = orig_src;
    ip.dst = FX_PEER_IP;
    ip.proto = 17;
    size_t n = fx_ip_build(quote, &ip, udp, l4_len);
    if (quote_len)
        n = quote_len;
    return fx_icmp_build(msg, type, code, info, quote, n);
}

static void test_dest_unreachable_reaches_protocol_handler_parsed(void **state)
{
    struct fixture *f = *state;
    size_t n = make_error(3, 3, 0, FX_OUR_IP, 8, 0);
    inject_icmp(f, msg, n);
    fx_expect_none(f); /* never an answer to an error */
    assert_int_equal(got_error.calls, 1);
    assert_int_equal(got_error.err.type, 3);
    assert_int_equal(got_error.err.code, 3);
    assert_int_equal(got_error.err.info, 0);
    assert_int_equal(got_error.err.orig_src, FX_OUR_IP);
    assert_int_equal(got_error.err.orig_dst, FX_PEER_IP);
    assert_int_equal(got_error.err.orig_proto, 17);
    assert_int_equal(got_error.err.orig_l4_len, 8);
    uint8_t udp[64];
    fx_pattern(udp, sizeof(udp), 77);
    assert_memory_equal(got_error.l4, udp, 8);
    assert_int_equal(fx_stats(f)->icmp.rx_dest_unreach, 1);
}

static void test_fragmentation_needed_passes_next_hop_mtu(void **state)
{
    struct fixture *f = *state;
    size_t n = make_error(3, 4, 1280, FX_OUR_IP, 32, 0);
    inject_icmp(f, msg, n);
    assert_int_equal(got_error.calls, 1);
    assert_int_equal(got_error.err.code, 4);
    assert_int_equal(got_error.err.info, 1280);
    assert_int_equal(got_error.err.orig_l4_len, 32);
}

static void test_time_exceeded_reaches_protocol_handler(void **state)
{
    struct fixture *f = *state;
    size_t n = make_error(11, 0, 0, FX_OUR_IP, 8, 0);
    inject_icmp(f, msg, n);
    assert_int_equal(got_error.calls, 1);
    assert_int_equal(got_error.err.type, 11);
    assert_int_equal(fx_stats(f)->icmp.rx_time_exceeded, 1);
}

static void test_error_with_truncated_quote_is_dropped(void **state)
{
    struct fixture *f = *state;
    /* The quoted header and only 4 of the 8 transport bytes RFC 792 promises. */
    size_t n = make_error(3, 3, 0, FX_OUR_IP, 8, 24);
    inject_icmp(f, msg, n);
    /* Not even a whole IP header. */
    n = make_error(3, 3, 0, FX_OUR_IP, 8, 12);
    inject_icmp(f, msg, n);
    /* Nothing quoted at all. */
    n = fx_icmp_build(msg, 3, 1, 0, NULL, 0);
    inject_icmp(f, msg, n);
    fx_expect_none(f);
    assert_int_equal(got_error.calls, 0);
    assert_int_equal(fx_stats(f)->icmp.drop_truncated, 3);
}

static void test_error_with_malformed_quote_is_dropped(void **state)
{
    struct fixture *f = *state;
    uint8_t quote[28];
    struct fx_ip ip = fx_ip_default();
    ip.src = FX_OUR_IP;
    ip.proto = 17;
    ip.version = 6;
    fx_ip_build(quote, &ip, "12345678", 8);
    inject_icmp(f, msg, fx_icmp_build(msg, 3, 3, 0, quote, sizeof(quote)));
    ip.version = 4;
    ip.ihl = 15; /* 60-byte header, but only 28 bytes quoted */
    fx_ip_build(quote, &ip, "12345678", 8);
    inject_icmp(f, msg, fx_icmp_build(msg, 3, 3, 0, quote, sizeof(quote)));
    assert_int_equal(got_error.calls, 0);
    assert_int_equal(fx_stats(f)->icmp.drop_truncated, 2);
}

static void test_error_about_datagram_we_did_not_send_is_unclaimed(void **state)
{
    struct fixture *f = *state;
    size_t n = make_error(3, 3, 0, FX_PEER_IP, 8, 0);
    inject_icmp(f, msg, n);
    assert_int_equal(got_error.calls, 0);
    assert_int_equal(fx_stats(f)->icmp.errors_unclaimed, 1);
}

static void test_error_for_protocol_without_handler_is_unclaimed(void **state)
{
    struct fixture *f = *state;
    f->st->icmp.error_handlers[17] = NULL;
    size_t n = make_error(3, 3, 0, FX_OUR_IP, 8, 0);
    inject_icmp(f, msg, n);
    assert_int_equal(got_error.calls, 0);
    assert_int_equal(fx_stats(f)->icmp.errors_unclaimed, 1);
}

/* --- echo replies we receive --- */

struct reply_log {
    unsigned calls;
    uint32_t from;
    uint16_t id, seq;
    uint8_t data[64];
    size_t len;
};

static void record_reply(void *ctx, uint32_t from, uint16_t id, uint16_t seq, const uint8_t *data,
                         size_t len)
{
    struct reply_log *r = ctx;
    r->calls++;
    r->from = from;
    r->id = id;
    r->seq = seq;
    r->len = len;
    memcpy(r->data, data, len < sizeof(r->data) ? len : sizeof(r->data));
}

static void test_echo_reply_calls_the_callback(void **state)
{
    struct fixture *f = *state;
    struct reply_log log = {0};
    f->st->icmp.echo_reply_cb = record_reply;
    f->st->icmp.echo_reply_ctx = &log;
    size_t n = fx_icmp_build(msg, 0, 0, 0x11112222u, "pong!", 5);
    inject_icmp(f, msg, n);
    fx_expect_none(f);
    assert_int_equal(log.calls, 1);
    assert_int_equal(log.from, FX_GW_IP);
    assert_int_equal(log.id, 0x1111);
    assert_int_equal(log.seq, 0x2222);
    assert_int_equal(log.len, 5);
    assert_memory_equal(log.data, "pong!", 5);
    assert_int_equal(fx_stats(f)->icmp.rx_echo_replies, 1);
}

static void test_echo_reply_without_callback_is_consumed(void **state)
{
    struct fixture *f = *state;
    size_t n = fx_icmp_build(msg, 0, 0, 0x00010001u, "x", 1);
    inject_icmp(f, msg, n);
    fx_expect_none(f);
    assert_int_equal(fx_stats(f)->icmp.rx_echo_replies, 1);
    assert_int_equal(fx_stats(f)->mem.pkb_in_use, 0);
}

static void test_our_echo_request_is_well_formed(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(fx_send_ping(f, FX_GW_IP, 0x1234, 0x5678, "ping", 4), 0);
    struct fx_ip_view v;
    struct fx_icmp_view m = fx_as_icmp(fx_expect_one(f), &v);
    assert_int_equal(m.type, 8);
    assert_int_equal(m.code, 0);
    assert_int_equal(m.id, 0x1234);
    assert_int_equal(m.seq, 0x5678);
    assert_memory_equal(m.data, "ping", 4);
    assert_int_equal(v.dst, FX_GW_IP);
    assert_int_equal(fx_stats(f)->icmp.tx_echo_requests, 1);
    /* Too big for any IPv4 datagram. */
    assert_int_equal(fx_send_ping(f, FX_GW_IP, 1, 1, msg, 65535 - 28 + 1), -EMSGSIZE);
    fx_expect_none(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_echo_request_gets_reply_with_same_id_seq_data,
                                        setup_learned, fx_teardown),
        cmocka_unit_test_setup_teardown(test_echo_with_no_data_is_answered, setup_learned,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_echo_with_odd_length_data_has_valid_checksum,
                                        setup_learned, fx_teardown),
        cmocka_unit_test_setup_teardown(test_echo_reply_keeps_type_of_service, setup_learned,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_bad_checksum_is_dropped, setup_learned, fx_teardown),
        cmocka_unit_test_setup_teardown(test_shorter_than_header_is_dropped, setup_learned,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_type_is_dropped, setup_learned, fx_teardown),
        cmocka_unit_test_setup_teardown(test_echo_to_broadcast_is_ignored, setup_learned,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_errors_beyond_burst_are_rate_limited_then_refill,
                                        setup_learned, fx_teardown),
        FX_TEST(test_slow_rate_refills_under_a_steady_stream),
        FX_TEST(test_slow_rate_refills_with_coarse_gaps),
        cmocka_unit_test_setup_teardown(test_error_quote_is_cut_to_fit_576_bytes, setup_learned,
                                        fx_teardown),
        FX_TEST(test_echo_reply_without_route_is_not_counted_as_sent),
        FX_TEST(test_error_without_route_is_not_counted_as_sent),
        cmocka_unit_test_setup_teardown(test_error_about_ordinary_datagram_is_sent, setup_learned,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_no_error_about_an_icmp_error, setup_learned,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_no_error_about_a_non_first_fragment, setup_learned,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_no_error_about_broadcast_or_multicast, setup_learned,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_protocol_to_broadcast_gets_no_error,
                                        setup_learned, fx_teardown),
        cmocka_unit_test_setup_teardown(test_dest_unreachable_reaches_protocol_handler_parsed,
                                        setup_handler, fx_teardown),
        cmocka_unit_test_setup_teardown(test_fragmentation_needed_passes_next_hop_mtu,
                                        setup_handler, fx_teardown),
        cmocka_unit_test_setup_teardown(test_time_exceeded_reaches_protocol_handler, setup_handler,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_error_with_truncated_quote_is_dropped, setup_handler,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_error_with_malformed_quote_is_dropped, setup_handler,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_error_about_datagram_we_did_not_send_is_unclaimed,
                                        setup_handler, fx_teardown),
        cmocka_unit_test_setup_teardown(test_error_for_protocol_without_handler_is_unclaimed,
                                        setup_handler, fx_teardown),
        cmocka_unit_test_setup_teardown(test_echo_reply_calls_the_callback, setup_learned,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_echo_reply_without_callback_is_consumed, setup_learned,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_our_echo_request_is_well_formed, setup_learned,
                                        fx_teardown),
    };
    return cmocka_run_group_tests_name("icmp", tests, NULL, NULL);
}
