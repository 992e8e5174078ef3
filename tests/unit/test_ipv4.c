/* SPDX-License-Identifier: MIT */
/* test_ipv4.c: IPv4 input validation (RFC 791 §3.1, RFC 1122 §3.2.1), one test per drop reason;
 * padding, options, unknown protocols, routing to the gateway, and fragmenting output. */
#include "fixture.h"

#include "core.h"

static uint8_t icmp_buf[65536];

/* An echo request (data_len bytes of pattern) as an IP payload; returns its length. */
static size_t echo_payload(size_t data_len)
{
    uint8_t data[2000];
    fx_pattern(data, data_len, 3);
    return fx_icmp_echo(icmp_buf, 0x77, 0x99, data, data_len);
}

/* Injects an echo request under header ip, and expects nothing back. */
static void inject_echo_expect_silence(struct fixture *f, const struct fx_ip *ip)
{
    fx_inject_ip(f, fx_gw_mac, ip, icmp_buf, echo_payload(8));
    fx_expect_none(f);
}

/* Injects raw IP bytes in a frame to our MAC. */
static void inject_raw(struct fixture *f, const uint8_t *ipb, size_t len)
{
    static uint8_t frame[2000];
    size_t n = fx_eth(frame, fx_our_mac, fx_gw_mac, 0x0800, ipb, len);
    fx_inject(f, frame, n);
}

/* Expects one echo reply to 10.0.0.1 for the request echo_payload(data_len) built. */
static void expect_echo_reply(struct fixture *f, size_t data_len)
{
    struct fx_ip_view ip;
    struct fx_icmp_view m = fx_as_icmp(fx_expect_one(f), &ip);
    uint8_t data[2000];
    fx_pattern(data, data_len, 3);
    assert_int_equal(m.type, 0);
    assert_int_equal(m.id, 0x77);
    assert_int_equal(m.seq, 0x99);
    assert_int_equal(m.data_len, data_len);
    assert_memory_equal(m.data, data, data_len);
    assert_int_equal(ip.dst, FX_GW_IP);
    assert_int_equal(ip.src, FX_OUR_IP);
    assert_int_equal(ip.hdr_len, 20);
}

static int setup_learned(void **state)
{
    int rc = fx_setup(state);
    if (rc == 0)
        fx_learn_gateway(*state);
    return rc;
}

/* --- drops, one per reason --- */

static void test_shorter_than_header_is_dropped_truncated(void **state)
{
    struct fixture *f = *state;
    uint8_t ipb[64];
    struct fx_ip ip = fx_ip_default();
    fx_ip_build(ipb, &ip, NULL, 0);
    inject_raw(f, ipb, 19);
    fx_expect_none(f);
    assert_int_equal(fx_stats(f)->ip.drop_truncated, 1);
    assert_int_equal(fx_stats(f)->ip.rx_packets, 1);
}

static void test_version_other_than_4_is_dropped(void **state)
{
    struct fixture *f = *state;
    struct fx_ip ip = fx_ip_default();
    ip.version = 6;
    inject_echo_expect_silence(f, &ip);
    ip.version = 5;
    inject_echo_expect_silence(f, &ip);
    assert_int_equal(fx_stats(f)->ip.drop_bad_version, 2);
    assert_int_equal(fx_stats(f)->icmp.rx_msgs, 0);
}

static void test_header_length_below_five_words_is_dropped(void **state)
{
    struct fixture *f = *state;
    struct fx_ip ip = fx_ip_default();
    ip.ihl = 4;
    inject_echo_expect_silence(f, &ip);
    ip.ihl = 0;
    inject_echo_expect_silence(f, &ip);
    assert_int_equal(fx_stats(f)->ip.drop_bad_ihl, 2);
}

static void test_header_length_past_packet_is_dropped(void **state)
{
    struct fixture *f = *state;
    /* IHL 15 says 60 bytes of header; the packet is 20 + 16. */
    struct fx_ip ip = fx_ip_default();
    ip.ihl = 15;
    ip.total_len = 36;
    fx_inject_ip(f, fx_gw_mac, &ip, icmp_buf, echo_payload(8));
    fx_expect_none(f);
    assert_int_equal(fx_stats(f)->ip.drop_bad_ihl, 1);
}

static void test_total_length_beyond_frame_is_dropped(void **state)
{
    struct fixture *f = *state;
    struct fx_ip ip = fx_ip_default();
    ip.total_len = 20 + 16 + 1;
    inject_echo_expect_silence(f, &ip);
    ip.total_len = 1500;
    inject_echo_expect_silence(f, &ip);
    assert_int_equal(fx_stats(f)->ip.drop_bad_length, 2);
}

static void test_total_length_below_header_is_dropped(void **state)
{
    struct fixture *f = *state;
    struct fx_ip ip = fx_ip_default();
    ip.total_len = 19;
    inject_echo_expect_silence(f, &ip);
    /* With options: total 22 is past the minimum but inside the 24-byte header. */
    static const uint8_t opts[4] = {1, 1, 1, 0};
    ip.options = opts;
    ip.options_len = 4;
    ip.total_len = 22;
    inject_echo_expect_silence(f, &ip);
    assert_int_equal(fx_stats(f)->ip.drop_bad_length, 2);
}

static void test_bad_header_checksum_is_dropped(void **state)
{
    struct fixture *f = *state;
    uint8_t ipb[128];
    struct fx_ip ip = fx_ip_default();
    size_t n = fx_ip_build(ipb, &ip, icmp_buf, echo_payload(8));
    ipb[10] ^= 0x01;
    inject_raw(f, ipb, n);
    ipb[10] ^= 0x01;
    ipb[8] = 63; /* TTL changed after the checksum was computed */
    inject_raw(f, ipb, n);
    fx_expect_none(f);
    assert_int_equal(fx_stats(f)->ip.drop_bad_checksum, 2);
    assert_int_equal(fx_stats(f)->icmp.rx_msgs, 0);
}

static void test_bad_sources_are_dropped(void **state)
{
    struct fixture *f = *state;
    const uint32_t bad[] = {0xffffffffu,         FX_BCAST_IP, FX_IP(224, 0, 0, 1),
                            FX_IP(239, 1, 2, 3), 0,           FX_IP(127, 0, 0, 1),
                            FX_IP(127, 9, 9, 9), FX_OUR_IP};
    const size_t nbad = sizeof(bad) / sizeof(bad[0]);
    for (size_t i = 0; i < nbad; i++) {
        struct fx_ip ip = fx_ip_default();
        ip.src = bad[i];
        inject_echo_expect_silence(f, &ip);
        assert_int_equal(fx_stats(f)->ip.drop_bad_source, i + 1);
    }
    assert_int_equal(fx_stats(f)->icmp.rx_msgs, 0);
}

static void test_other_unicast_destination_is_not_for_us(void **state)
{
    struct fixture *f = *state;
    struct fx_ip ip = fx_ip_default();
    ip.dst = FX_PEER_IP;
    inject_echo_expect_silence(f, &ip);
    ip.dst = FX_FAR_IP; /* a host does not forward */
    inject_echo_expect_silence(f, &ip);
    assert_int_equal(fx_stats(f)->ip.drop_not_for_us, 2);
    assert_int_equal(fx_stats(f)->icmp.rx_msgs, 0);
}

static void test_multicast_destination_is_not_for_us(void **state)
{
    struct fixture *f = *state;
    struct fx_ip ip = fx_ip_default();
    ip.dst = FX_IP(224, 0, 0, 1);
    inject_echo_expect_silence(f, &ip);
    assert_int_equal(fx_stats(f)->ip.drop_not_for_us, 1);
}

/* --- what is accepted --- */

static void test_ethernet_padding_is_trimmed(void **state)
{
    struct fixture *f = *state;
    /* A 28-byte ping in a 60-byte frame with 18 bytes of non-zero padding. */
    uint8_t ipb[64], frame[64];
    struct fx_ip ip = fx_ip_default();
    size_t n = fx_ip_build(ipb, &ip, icmp_buf, echo_payload(0));
    assert_int_equal(n, 28);
    n = fx_eth(frame, fx_our_mac, fx_gw_mac, 0x0800, ipb, n);
    memset(frame + n, 0xee, 60 - n);
    fx_inject(f, frame, 60);
    struct fx_ip_view v;
    struct fx_icmp_view m = fx_as_icmp(fx_expect_one(f), &v);
    assert_int_equal(m.type, 0);
    assert_int_equal(v.total_len, 28);
    assert_int_equal(m.data_len, 0);
    assert_int_equal(fx_stats(f)->icmp.drop_bad_checksum, 0);
}

static void test_options_are_skipped_for_every_header_length(void **state)
{
    struct fixture *f = *state;
    for (int ihl = 6; ihl <= 15; ihl++) {
        uint8_t opts[40];
        size_t olen = (size_t)(ihl - 5) * 4;
        memset(opts, 1, olen); /* NOPs */
        opts[olen - 1] = 0;    /* End of Option List */
        if (olen >= 8) {       /* and a timestamp option the host may ignore */
            opts[0] = 68;
            opts[1] = 8;
            opts[2] = 5;
            opts[3] = 0;
            memset(opts + 4, 0xab, 4);
        }
        struct fx_ip ip = fx_ip_default();
        ip.options = opts;
        ip.options_len = olen;
        ip.id = (uint16_t)ihl;
        fx_inject_ip(f, fx_gw_mac, &ip, icmp_buf, echo_payload(24));
        expect_echo_reply(f, 24); /* the reply carries no options */
    }
    assert_int_equal(fx_stats(f)->icmp.tx_echo_replies, 10);
}

static void test_unknown_protocol_gets_protocol_unreachable(void **state)
{
    struct fixture *f = *state;
    uint8_t payload[40], ipb[80];
    fx_pattern(payload, sizeof(payload), 9);
    struct fx_ip ip = fx_ip_default();
    ip.proto = 99;
    size_t n = fx_ip_build(ipb, &ip, payload, sizeof(payload));
    inject_raw(f, ipb, n);
    struct fx_ip_view v;
    struct fx_icmp_view m = fx_as_icmp(fx_expect_one(f), &v);
    assert_int_equal(v.dst, FX_GW_IP);
    assert_int_equal(m.type, 3);
    assert_int_equal(m.code, 2);
    assert_int_equal(m.rest, 0);
    /* The quote: the offending header exactly, then (at least) its first 8 payload bytes. */
    assert_true(m.data_len >= 20 + 8);
    assert_memory_equal(m.data, ipb, 20);
    assert_memory_equal(m.data + 20, payload, m.data_len - 20);
    assert_int_equal(fx_stats(f)->ip.drop_unknown_proto, 1);
    assert_int_equal(fx_stats(f)->icmp.tx_dest_unreach, 1);
}

static void test_unknown_protocol_quote_keeps_options(void **state)
{
    struct fixture *f = *state;
    static const uint8_t opts[8] = {1, 1, 1, 1, 1, 1, 1, 0};
    uint8_t payload[8] = {1, 2, 3, 4, 5, 6, 7, 8}, ipb[80];
    struct fx_ip ip = fx_ip_default();
    ip.proto = 99;
    ip.options = opts;
    ip.options_len = sizeof(opts);
    size_t n = fx_ip_build(ipb, &ip, payload, sizeof(payload));
    inject_raw(f, ipb, n);
    struct fx_icmp_view m = fx_as_icmp(fx_expect_one(f), NULL);
    assert_int_equal(m.data_len, 28 + 8);
    assert_memory_equal(m.data, ipb, 36);
}

static void test_broadcast_with_unknown_protocol_gets_no_error(void **state)
{
    struct fixture *f = *state;
    uint8_t payload[16] = {0}, ipb[64], frame[128];
    const uint32_t dsts[] = {FX_BCAST_IP, 0xffffffffu};
    for (int i = 0; i < 2; i++) {
        struct fx_ip ip = fx_ip_default();
        ip.proto = 99;
        ip.dst = dsts[i];
        size_t n = fx_ip_build(ipb, &ip, payload, sizeof(payload));
        n = fx_eth(frame, fx_bcast_mac, fx_gw_mac, 0x0800, ipb, n);
        fx_inject(f, frame, n);
        fx_expect_none(f);
    }
    assert_int_equal(fx_stats(f)->ip.drop_unknown_proto, 2);
    assert_int_equal(fx_stats(f)->icmp.err_suppressed, 2);
    assert_int_equal(fx_stats(f)->icmp.tx_dest_unreach, 0);
}

/* --- routing --- */

static void test_off_link_destination_goes_to_gateway_mac(void **state)
{
    struct fixture *f = *state;
    /* Nothing known yet: the stack asks for the gateway, not for 8.8.8.8. */
    assert_int_equal(fx_send_ping(f, FX_FAR_IP, 1, 1, "far", 3), 0);
    struct fx_arp_view a = fx_as_arp(fx_expect_one(f));
    assert_int_equal(a.op, 1);
    assert_int_equal(a.tpa, FX_GW_IP);
    struct fx_arp r = fx_arp_reply(fx_gw_mac, FX_GW_IP, fx_our_mac, FX_OUR_IP);
    fx_inject_arp(f, fx_our_mac, &r);
    const struct fx_frame *fr = fx_expect_one(f);
    struct fx_ip_view v;
    fx_as_icmp(fr, &v);
    assert_memory_equal(fx_as_eth(fr).dst, fx_gw_mac, 6);
    assert_int_equal(v.dst, FX_FAR_IP);
    assert_int_equal(v.src, FX_OUR_IP);
}

static void test_reply_to_off_link_source_goes_via_gateway(void **state)
{
    struct fixture *f = *state;
    struct fx_ip ip = fx_ip_default();
    ip.src = FX_FAR_IP;
    fx_inject_ip(f, fx_gw_mac, &ip, icmp_buf, echo_payload(4));
    const struct fx_frame *fr = fx_expect_one(f);
    struct fx_ip_view v;
    assert_int_equal(fx_as_icmp(fr, &v).type, 0);
    assert_memory_equal(fx_as_eth(fr).dst, fx_gw_mac, 6);
    assert_int_equal(v.dst, FX_FAR_IP);
}

static void test_on_link_destination_is_resolved_directly(void **state)
{
    struct fixture *f = *state;
    fx_send_ping(f, FX_PEER_IP, 1, 1, NULL, 0);
    assert_int_equal(fx_as_arp(fx_expect_one(f)).tpa, FX_PEER_IP);
}

static void test_no_gateway_means_no_route_off_link(void **state)
{
    struct fixture *f = *state;
    struct tapir_config cfg;
    fx_config(&cfg);
    cfg.gateway.s_addr = htonl(INADDR_ANY);
    fx_restart(f, &cfg);
    assert_int_equal(fx_send_ping(f, FX_FAR_IP, 1, 1, NULL, 0), -ENETUNREACH);
    fx_expect_none(f);
    assert_int_equal(fx_stats(f)->ip.drop_no_route, 1);
    assert_int_equal(fx_stats(f)->mem.pkb_in_use, 0);
    /* On-link still works. */
    assert_int_equal(fx_send_ping(f, FX_PEER_IP, 1, 2, NULL, 0), 0);
    assert_int_equal(fx_as_arp(fx_expect_one(f)).tpa, FX_PEER_IP);
}

static void test_multicast_or_zero_destination_has_no_route(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(fx_send_ping(f, FX_IP(224, 0, 0, 1), 1, 1, NULL, 0), -ENETUNREACH);
    assert_int_equal(fx_send_ping(f, 0, 1, 1, NULL, 0), -ENETUNREACH);
    fx_expect_none(f);
    assert_int_equal(fx_stats(f)->ip.drop_no_route, 2);
}

static void test_broadcast_destination_goes_to_broadcast_mac(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(fx_send_ping(f, FX_BCAST_IP, 1, 1, NULL, 0), 0);
    const struct fx_frame *fr = fx_expect_one(f);
    struct fx_ip_view v;
    fx_as_icmp(fr, &v);
    assert_memory_equal(fx_as_eth(fr).dst, fx_bcast_mac, 6);
    assert_int_equal(v.dst, FX_BCAST_IP);
}

/* --- output --- */

static void test_output_header_fields(void **state)
{
    struct fixture *f = *state;
    fx_send_ping(f, FX_GW_IP, 1, 1, "abcd", 4);
    struct fx_ip_view v;
    fx_as_icmp(fx_expect_one(f), &v);
    assert_int_equal(v.hdr_len, 20);
    assert_int_equal(v.total_len, 20 + 8 + 4);
    assert_int_equal(v.ttl, 64);
    assert_int_equal(v.proto, 1);
    assert_int_equal(v.frag, 0);
    /* IDs differ from one datagram to the next. */
    fx_send_ping(f, FX_GW_IP, 1, 2, "abcd", 4);
    struct fx_ip_view w;
    fx_as_icmp(fx_expect_one(f), &w);
    assert_int_not_equal(v.id, w.id);
    assert_int_equal(fx_stats(f)->ip.tx_packets, 2);
}

static void test_output_larger_than_mtu_is_fragmented(void **state)
{
    struct fixture *f = *state;
    uint8_t data[3000];
    fx_pattern(data, sizeof(data), 4);
    assert_int_equal(fx_send_ping(f, FX_GW_IP, 7, 8, data, sizeof(data)), 0);
    size_t n;
    const struct fx_frame *out = fx_take_all(f, &n);
    assert_int_equal(n, 3); /* 3008 bytes of ICMP in 1480-byte pieces */
    static uint8_t whole[4000];
    size_t len = fx_reassemble(out, n, 1500, whole, sizeof(whole));
    assert_int_equal(len, 8 + sizeof(data));
    assert_int_equal(fx_csum(whole, len), 0);
    assert_int_equal(whole[0], 8);
    assert_memory_equal(whole + 8, data, sizeof(data));
    assert_int_equal(fx_stats(f)->ip.frag_tx_ok, 1);
    assert_int_equal(fx_stats(f)->ip.frag_tx_created, 3);
}

static void test_datagram_exactly_mtu_is_not_fragmented(void **state)
{
    struct fixture *f = *state;
    uint8_t data[1500 - 28];
    fx_pattern(data, sizeof(data), 4);
    fx_send_ping(f, FX_GW_IP, 7, 8, data, sizeof(data));
    struct fx_ip_view v;
    fx_as_icmp(fx_expect_one(f), &v);
    assert_int_equal(v.total_len, 1500);
    assert_int_equal(fx_stats(f)->ip.frag_tx_created, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX_TEST(test_shorter_than_header_is_dropped_truncated),
        cmocka_unit_test_setup_teardown(test_version_other_than_4_is_dropped, setup_learned,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_header_length_below_five_words_is_dropped,
                                        setup_learned, fx_teardown),
        cmocka_unit_test_setup_teardown(test_header_length_past_packet_is_dropped, setup_learned,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_total_length_beyond_frame_is_dropped, setup_learned,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_total_length_below_header_is_dropped, setup_learned,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_bad_header_checksum_is_dropped, setup_learned,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_bad_sources_are_dropped, setup_learned, fx_teardown),
        cmocka_unit_test_setup_teardown(test_other_unicast_destination_is_not_for_us, setup_learned,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_multicast_destination_is_not_for_us, setup_learned,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_ethernet_padding_is_trimmed, setup_learned,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_options_are_skipped_for_every_header_length,
                                        setup_learned, fx_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_protocol_gets_protocol_unreachable,
                                        setup_learned, fx_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_protocol_quote_keeps_options, setup_learned,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_broadcast_with_unknown_protocol_gets_no_error,
                                        setup_learned, fx_teardown),
        FX_TEST(test_off_link_destination_goes_to_gateway_mac),
        cmocka_unit_test_setup_teardown(test_reply_to_off_link_source_goes_via_gateway,
                                        setup_learned, fx_teardown),
        FX_TEST(test_on_link_destination_is_resolved_directly),
        FX_TEST(test_no_gateway_means_no_route_off_link),
        FX_TEST(test_multicast_or_zero_destination_has_no_route),
        FX_TEST(test_broadcast_destination_goes_to_broadcast_mac),
        cmocka_unit_test_setup_teardown(test_output_header_fields, setup_learned, fx_teardown),
        cmocka_unit_test_setup_teardown(test_output_larger_than_mtu_is_fragmented, setup_learned,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_datagram_exactly_mtu_is_not_fragmented, setup_learned,
                                        fx_teardown),
    };
    return cmocka_run_group_tests_name("ipv4", tests, NULL, NULL);
}
