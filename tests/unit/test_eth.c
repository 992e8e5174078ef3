/* SPDX-License-Identifier: MIT */
/* test_eth.c: Ethernet II input and output: each drop reason, broadcast accepted, counters,
 * padding. */
#include "fixture.h"

/* An echo request from 10.0.0.1 in an Ethernet frame to dst_mac, padded with pad bytes of 0xee. */
static size_t ping_frame(uint8_t *frame, const uint8_t *dst_mac, size_t data_len, size_t pad)
{
    static uint8_t icmp[9000], ipb[9100];
    uint8_t data[9000];
    fx_pattern(data, data_len, 1);
    struct fx_ip ip = fx_ip_default();
    size_t n = fx_ip_build(ipb, &ip, icmp, fx_icmp_echo(icmp, 1, 1, data, data_len));
    n = fx_eth(frame, dst_mac, fx_gw_mac, 0x0800, ipb, n);
    memset(frame + n, 0xee, pad);
    return n + pad;
}

/* --- drops, one per reason --- */

static void test_runt_shorter_than_header_is_dropped(void **state)
{
    struct fixture *f = *state;
    uint8_t frame[64];
    assert_true(ping_frame(frame, fx_our_mac, 0, 0) > 13);
    fx_inject(f, frame, 13);
    fx_inject(f, frame, 0);
    fx_expect_none(f);
    assert_int_equal(fx_stats(f)->eth.drop_runt, 2);
    assert_int_equal(fx_stats(f)->eth.rx_frames, 2);
    assert_int_equal(fx_stats(f)->ip.rx_packets, 0);
}

static void test_header_only_frame_is_not_a_runt(void **state)
{
    struct fixture *f = *state;
    uint8_t frame[14];
    fx_eth(frame, fx_our_mac, fx_gw_mac, 0x0800, NULL, 0);
    fx_inject(f, frame, 14);
    assert_int_equal(fx_stats(f)->eth.drop_runt, 0);
    assert_int_equal(fx_stats(f)->ip.drop_truncated, 1); /* passed up, refused by IPv4 */
}

static void test_frame_longer_than_mtu_plus_tag_is_dropped_oversize(void **state)
{
    struct fixture *f = *state;
    fx_learn_gateway(f);
    static uint8_t frame[2000];
    /* A 1500-byte datagram plus 5 bytes: one past 14 + 4 (802.1Q) + MTU. */
    size_t n = ping_frame(frame, fx_our_mac, 1500 - 28, 5);
    assert_int_equal(n, 14 + 4 + 1500 + 1);
    fx_inject(f, frame, n);
    fx_expect_none(f);
    assert_int_equal(fx_stats(f)->eth.drop_oversize, 1);
    assert_int_equal(fx_stats(f)->ip.rx_packets, 0);
    /* 14 + 4 + MTU exactly is accepted (the IP layer trims the 4 trailing bytes). */
    fx_inject(f, frame, n - 1);
    struct fx_icmp_view r = fx_as_icmp(fx_expect_one(f), NULL);
    assert_int_equal(r.type, 0);
    assert_int_equal(r.data_len, 1500 - 28);
    assert_int_equal(fx_stats(f)->eth.drop_oversize, 1);
}

static void test_frame_larger_than_any_buffer_is_dropped_oversize(void **state)
{
    struct fixture *f = *state;
    static uint8_t frame[9100];
    size_t n = ping_frame(frame, fx_our_mac, 8000, 0);
    assert_int_equal(fx_inject(f, frame, n), 0);
    fx_expect_none(f);
    assert_int_equal(fx_stats(f)->eth.drop_oversize, 1);
    assert_int_equal(fx_stats(f)->eth.rx_frames, 1);
    assert_int_equal(fx_stats(f)->mem.pkb_in_use, 0);
}

static void test_other_unicast_destination_is_dropped_not_for_us(void **state)
{
    struct fixture *f = *state;
    fx_learn_gateway(f);
    uint8_t frame[128];
    size_t n = ping_frame(frame, fx_other_mac, 4, 0);
    fx_inject(f, frame, n);
    fx_expect_none(f);
    assert_int_equal(fx_stats(f)->eth.drop_not_for_us, 1);
    assert_int_equal(fx_stats(f)->ip.rx_packets, 0);
}

static void test_multicast_destination_is_dropped_not_for_us(void **state)
{
    struct fixture *f = *state;
    static const uint8_t mcast[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0x01};
    uint8_t frame[128];
    size_t n = ping_frame(frame, mcast, 4, 0);
    fx_inject(f, frame, n);
    fx_expect_none(f);
    assert_int_equal(fx_stats(f)->eth.drop_not_for_us, 1);
}

static void test_broadcast_destination_is_accepted(void **state)
{
    struct fixture *f = *state;
    /* An ARP request is broadcast; it must reach ARP and be answered. */
    struct fx_arp a = fx_arp_request(fx_gw_mac, FX_GW_IP, FX_OUR_IP);
    fx_inject_arp(f, fx_bcast_mac, &a);
    assert_int_equal(fx_as_arp(fx_expect_one(f)).op, 2);
    assert_int_equal(fx_stats(f)->eth.drop_not_for_us, 0);
    /* And an IPv4 datagram in a broadcast frame reaches IPv4. */
    uint8_t frame[128];
    size_t n = ping_frame(frame, fx_bcast_mac, 4, 0);
    fx_inject(f, frame, n);
    assert_int_equal(fx_stats(f)->ip.rx_packets, 1);
    assert_int_equal(fx_stats(f)->eth.drop_not_for_us, 0);
}

static void test_unknown_ethertype_is_dropped(void **state)
{
    struct fixture *f = *state;
    uint8_t frame[128], payload[46] = {0x60};
    size_t n = fx_eth(frame, fx_our_mac, fx_gw_mac, 0x86dd, payload, sizeof(payload));
    fx_inject(f, frame, n);
    n = fx_eth(frame, fx_our_mac, fx_gw_mac, 0x8100, payload, sizeof(payload)); /* a VLAN tag */
    fx_inject(f, frame, n);
    fx_expect_none(f);
    assert_int_equal(fx_stats(f)->eth.drop_unknown_type, 2);
    assert_int_equal(fx_stats(f)->ip.rx_packets, 0);
    assert_int_equal(fx_stats(f)->arp.rx_requests + fx_stats(f)->arp.drop_truncated, 0);
}

/* --- counters and output --- */

static void test_counters_count_frames_and_bytes_each_way(void **state)
{
    struct fixture *f = *state;
    fx_learn_gateway(f);
    const struct tapir_eth_stats s0 = fx_stats(f)->eth;
    uint8_t frame[256];
    size_t n = ping_frame(frame, fx_our_mac, 100, 0);
    fx_inject(f, frame, n);
    const struct fx_frame *out = fx_expect_one(f);
    const struct tapir_eth_stats *s = &fx_stats(f)->eth;
    assert_int_equal(s->rx_frames, s0.rx_frames + 1);
    assert_int_equal(s->rx_bytes, s0.rx_bytes + n);
    assert_int_equal(s->tx_frames, s0.tx_frames + 1);
    assert_int_equal(s->tx_bytes, s0.tx_bytes + out->len);
    assert_int_equal(out->len, n);
}

static void test_output_header_carries_our_mac_and_type(void **state)
{
    struct fixture *f = *state;
    fx_learn_gateway(f);
    fx_inject_ping(f, 1, 2, "abc", 3);
    struct fx_eth_view e = fx_as_eth(fx_expect_one(f));
    assert_memory_equal(e.dst, fx_gw_mac, 6);
    assert_memory_equal(e.src, fx_our_mac, 6);
    assert_int_equal(e.type, 0x0800);
}

static void test_short_output_frames_are_zero_padded_to_60_bytes(void **state)
{
    struct fixture *f = *state;
    /* The ARP reply: 14 + 28 = 42 bytes before padding. */
    struct fx_arp a = fx_arp_request(fx_gw_mac, FX_GW_IP, FX_OUR_IP);
    fx_inject_arp(f, fx_bcast_mac, &a);
    const struct fx_frame *out = fx_expect_one(f);
    assert_int_equal(out->len, 60);
    static const uint8_t zero[18];
    assert_memory_equal(out->data + 42, zero, 18);
    /* An echo reply with no data: 14 + 20 + 8 = 42 bytes, also padded; IP says 28. */
    fx_inject_ping(f, 1, 2, NULL, 0);
    struct fx_ip_view ip;
    out = fx_expect_one(f);
    assert_int_equal(out->len, 60);
    fx_as_icmp(out, &ip);
    assert_int_equal(ip.total_len, 28);
    assert_memory_equal(out->data + 42, zero, 18);
}

static void test_frame_already_60_bytes_or_more_is_not_padded(void **state)
{
    struct fixture *f = *state;
    fx_learn_gateway(f);
    fx_inject_ping(f, 1, 2, "0123456789abcdefghij", 20); /* 14 + 20 + 8 + 20 = 62 */
    assert_int_equal(fx_expect_one(f)->len, 62);
}

static void test_driver_send_failure_counts_tx_error(void **state)
{
    struct fixture *f = *state;
    fx_learn_gateway(f);
    f->send_rc = -EIO;
    fx_inject_ping(f, 1, 2, "x", 1);
    assert_int_equal(f->nframes, 1); /* the driver saw it */
    fx_clear(f);
    assert_int_equal(fx_stats(f)->eth.tx_errors, 1);
    assert_int_equal(fx_stats(f)->mem.pkb_in_use, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX_TEST(test_runt_shorter_than_header_is_dropped),
        FX_TEST(test_header_only_frame_is_not_a_runt),
        FX_TEST(test_frame_longer_than_mtu_plus_tag_is_dropped_oversize),
        FX_TEST(test_frame_larger_than_any_buffer_is_dropped_oversize),
        FX_TEST(test_other_unicast_destination_is_dropped_not_for_us),
        FX_TEST(test_multicast_destination_is_dropped_not_for_us),
        FX_TEST(test_broadcast_destination_is_accepted),
        FX_TEST(test_unknown_ethertype_is_dropped),
        FX_TEST(test_counters_count_frames_and_bytes_each_way),
        FX_TEST(test_output_header_carries_our_mac_and_type),
        FX_TEST(test_short_output_frames_are_zero_padded_to_60_bytes),
        FX_TEST(test_frame_already_60_bytes_or_more_is_not_padded),
        FX_TEST(test_driver_send_failure_counts_tx_error),
    };
    return cmocka_run_group_tests_name("eth", tests, NULL, NULL);
}
