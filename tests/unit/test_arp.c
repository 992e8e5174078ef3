/* SPDX-License-Identifier: MIT */
/* test_arp.c: ARP (RFC 826, RFC 1122 §2.3.2): replies, learning and merge, bad packets, resolution
 * with its pending queue, retries and give-up, ageing, the bounded cache, the start announcement.
 */
#include "fixture.h"

#include <errno.h>

#include "tapir/sock.h"

static const uint8_t mac4[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x04};
static const uint8_t mac5[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x05};
#define IP4 FX_IP(10, 0, 0, 4)
#define IP5 FX_IP(10, 0, 0, 5)

/* Asserts fr is our broadcast who-has for target. */
static void assert_who_has(const struct fx_frame *fr, uint32_t target)
{
    struct fx_eth_view e = fx_as_eth(fr);
    struct fx_arp_view a = fx_as_arp(fr);
    assert_memory_equal(e.dst, fx_bcast_mac, 6);
    assert_memory_equal(e.src, fx_our_mac, 6);
    assert_int_equal(a.op, 1);
    assert_memory_equal(a.sha, fx_our_mac, 6);
    assert_int_equal(a.spa, FX_OUR_IP);
    assert_memory_equal(a.tha, fx_zero_mac, 6);
    assert_int_equal(a.tpa, target);
}

/* Asserts fr is an echo request to ip at mac, with sequence number seq. */
static void assert_ping_to(const struct fx_frame *fr, const uint8_t *mac, uint32_t ip, uint16_t seq)
{
    struct fx_ip_view v;
    struct fx_icmp_view m = fx_as_icmp(fr, &v);
    assert_memory_equal(fx_as_eth(fr).dst, mac, 6);
    assert_int_equal(v.dst, ip);
    assert_int_equal(m.type, 8);
    assert_int_equal(m.seq, seq);
}

/* --- requests for our address --- */

static void test_request_for_our_ip_gets_unicast_reply(void **state)
{
    struct fixture *f = *state;
    struct fx_arp a = fx_arp_request(fx_gw_mac, FX_GW_IP, FX_OUR_IP);
    fx_inject_arp(f, fx_bcast_mac, &a);
    const struct fx_frame *fr = fx_expect_one(f);
    struct fx_eth_view e = fx_as_eth(fr);
    struct fx_arp_view r = fx_as_arp(fr);
    assert_memory_equal(e.dst, fx_gw_mac, 6);
    assert_memory_equal(e.src, fx_our_mac, 6);
    assert_int_equal(r.op, 2);
    assert_memory_equal(r.sha, fx_our_mac, 6);
    assert_int_equal(r.spa, FX_OUR_IP);
    assert_memory_equal(r.tha, fx_gw_mac, 6);
    assert_int_equal(r.tpa, FX_GW_IP);
    assert_int_equal(fx_stats(f)->arp.rx_requests, 1);
    assert_int_equal(fx_stats(f)->arp.tx_replies, 1);
}

static void test_requester_is_learned_so_reply_needs_no_request(void **state)
{
    struct fixture *f = *state;
    struct fx_arp a = fx_arp_request(fx_gw_mac, FX_GW_IP, FX_OUR_IP);
    fx_inject_arp(f, fx_bcast_mac, &a);
    fx_expect_one(f);
    assert_int_equal(fx_stats(f)->arp.entries_added, 1);
    fx_inject_ping(f, 5, 6, "hi", 2);
    struct fx_icmp_view m = fx_as_icmp(fx_expect_one(f), NULL);
    assert_int_equal(m.type, 0);
    assert_int_equal(fx_stats(f)->arp.tx_requests, 0);
    /* Our own pings go straight out too. */
    assert_int_equal(fx_send_ping(f, FX_GW_IP, 1, 7, "x", 1), 0);
    assert_ping_to(fx_expect_one(f), fx_gw_mac, FX_GW_IP, 7);
}

static void test_request_for_other_ip_gets_no_reply_and_is_not_for_us(void **state)
{
    struct fixture *f = *state;
    struct fx_arp a = fx_arp_request(fx_gw_mac, FX_GW_IP, FX_PEER_IP);
    fx_inject_arp(f, fx_bcast_mac, &a);
    fx_expect_none(f);
    assert_int_equal(fx_stats(f)->arp.drop_not_for_us, 1);
    assert_int_equal(fx_stats(f)->arp.tx_replies, 0);
    /* And the sender, unknown before, was not learned (RFC 826: only if the target is us). */
    assert_int_equal(fx_stats(f)->arp.entries_added, 0);
    fx_send_ping(f, FX_GW_IP, 1, 1, NULL, 0);
    assert_who_has(fx_expect_one(f), FX_GW_IP);
}

static void test_probe_from_zero_address_is_answered_and_teaches_nothing(void **state)
{
    struct fixture *f = *state;
    /* RFC 5227 probe: sender IP 0.0.0.0 asks who has our address. */
    struct fx_arp a = fx_arp_request(fx_peer_mac, 0, FX_OUR_IP);
    fx_inject_arp(f, fx_bcast_mac, &a);
    struct fx_arp_view r = fx_as_arp(fx_expect_one(f));
    assert_int_equal(r.op, 2);
    assert_int_equal(r.spa, FX_OUR_IP);
    assert_memory_equal(r.tha, fx_peer_mac, 6);
    assert_int_equal(fx_stats(f)->arp.entries_added, 0);
}

/* --- RFC 826 merge --- */

static void test_known_sender_is_updated_by_packet_not_for_us(void **state)
{
    struct fixture *f = *state;
    fx_learn_gateway(f);
    /* 10.0.0.1 moved to another MAC, and says so while asking for someone else. */
    struct fx_arp a = fx_arp_request(fx_other_mac, FX_GW_IP, FX_PEER_IP);
    fx_inject_arp(f, fx_bcast_mac, &a);
    fx_expect_none(f);
    assert_int_equal(fx_stats(f)->arp.entries_updated, 1);
    assert_int_equal(fx_stats(f)->arp.drop_not_for_us, 0);
    fx_send_ping(f, FX_GW_IP, 1, 3, NULL, 0);
    assert_ping_to(fx_expect_one(f), fx_other_mac, FX_GW_IP, 3);
}

static void test_reply_updates_known_entry(void **state)
{
    struct fixture *f = *state;
    fx_learn_gateway(f);
    struct fx_arp a = fx_arp_reply(fx_other_mac, FX_GW_IP, fx_our_mac, FX_OUR_IP);
    fx_inject_arp(f, fx_our_mac, &a);
    fx_expect_none(f); /* replies are not answered */
    assert_int_equal(fx_stats(f)->arp.rx_replies, 1);
    assert_int_equal(fx_stats(f)->arp.entries_updated, 1);
    fx_send_ping(f, FX_GW_IP, 1, 4, NULL, 0);
    assert_ping_to(fx_expect_one(f), fx_other_mac, FX_GW_IP, 4);
}

/* --- malformed and suspicious packets --- */

static void inject_raw_arp(struct fixture *f, const uint8_t *arp, size_t len)
{
    uint8_t frame[128];
    size_t n = fx_eth(frame, fx_bcast_mac, fx_gw_mac, 0x0806, arp, len);
    fx_inject(f, frame, n);
}

static void test_truncated_packet_is_dropped(void **state)
{
    struct fixture *f = *state;
    uint8_t arp[28];
    struct fx_arp a = fx_arp_request(fx_gw_mac, FX_GW_IP, FX_OUR_IP);
    fx_arp_build(arp, &a);
    inject_raw_arp(f, arp, 27);
    inject_raw_arp(f, arp, 0);
    fx_expect_none(f);
    assert_int_equal(fx_stats(f)->arp.drop_truncated, 2);
    assert_int_equal(fx_stats(f)->arp.rx_requests, 0);
}

static void test_bad_format_is_dropped(void **state)
{
    struct fixture *f = *state;
    struct fx_arp a = fx_arp_request(fx_gw_mac, FX_GW_IP, FX_OUR_IP);
    a.htype = 6; /* IEEE 802 */
    fx_inject_arp(f, fx_bcast_mac, &a);
    a = fx_arp_request(fx_gw_mac, FX_GW_IP, FX_OUR_IP);
    a.ptype = 0x86dd;
    fx_inject_arp(f, fx_bcast_mac, &a);
    a = fx_arp_request(fx_gw_mac, FX_GW_IP, FX_OUR_IP);
    a.hlen = 8;
    fx_inject_arp(f, fx_bcast_mac, &a);
    a = fx_arp_request(fx_gw_mac, FX_GW_IP, FX_OUR_IP);
    a.plen = 16;
    fx_inject_arp(f, fx_bcast_mac, &a);
    fx_expect_none(f);
    assert_int_equal(fx_stats(f)->arp.drop_bad_format, 4);
    assert_int_equal(fx_stats(f)->arp.entries_added, 0);
}

static void test_bad_opcode_is_dropped(void **state)
{
    struct fixture *f = *state;
    struct fx_arp a = fx_arp_request(fx_gw_mac, FX_GW_IP, FX_OUR_IP);
    a.op = 3; /* RARP request */
    fx_inject_arp(f, fx_bcast_mac, &a);
    a.op = 0;
    fx_inject_arp(f, fx_bcast_mac, &a);
    fx_expect_none(f);
    assert_int_equal(fx_stats(f)->arp.drop_bad_op, 2);
    assert_int_equal(fx_stats(f)->arp.entries_added, 0);
}

static void test_bad_sender_is_dropped(void **state)
{
    struct fixture *f = *state;
    static const uint8_t mcast[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0x01};
    const uint8_t *bad_macs[] = {fx_bcast_mac, mcast, fx_zero_mac};
    for (int i = 0; i < 3; i++) {
        struct fx_arp a = fx_arp_request(bad_macs[i], FX_GW_IP, FX_OUR_IP);
        fx_inject_arp(f, fx_bcast_mac, &a);
    }
    const uint32_t bad_ips[] = {FX_IP(224, 0, 0, 1), 0xffffffffu, FX_BCAST_IP};
    for (int i = 0; i < 3; i++) {
        struct fx_arp a = fx_arp_request(fx_gw_mac, bad_ips[i], FX_OUR_IP);
        fx_inject_arp(f, fx_bcast_mac, &a);
    }
    fx_expect_none(f);
    assert_int_equal(fx_stats(f)->arp.drop_bad_sender, 6);
    assert_int_equal(fx_stats(f)->arp.entries_added, 0);
}

static void test_sender_claiming_our_address_is_dropped_as_conflict(void **state)
{
    struct fixture *f = *state;
    struct fx_arp a = fx_arp_request(fx_other_mac, FX_OUR_IP, FX_OUR_IP);
    fx_inject_arp(f, fx_bcast_mac, &a);
    a = fx_arp_reply(fx_other_mac, FX_OUR_IP, fx_our_mac, FX_OUR_IP);
    fx_inject_arp(f, fx_our_mac, &a);
    fx_expect_none(f);
    assert_int_equal(fx_stats(f)->arp.drop_addr_conflict, 2);
    assert_int_equal(fx_stats(f)->arp.entries_added, 0);
}

/* --- resolution for output --- */

static void test_output_to_unknown_neighbour_queues_and_sends_after_reply(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(fx_send_ping(f, FX_PEER_IP, 1, 1, "a", 1), 0);
    assert_who_has(fx_expect_one(f), FX_PEER_IP);
    assert_int_equal(fx_stats(f)->arp.tx_requests, 1);
    /* A second frame waits on the same entry, without a second request. */
    fx_send_ping(f, FX_PEER_IP, 1, 2, "b", 1);
    fx_expect_none(f);
    assert_int_equal(fx_stats(f)->mem.pkb_in_use, 2);

    struct fx_arp a = fx_arp_reply(fx_peer_mac, FX_PEER_IP, fx_our_mac, FX_OUR_IP);
    fx_inject_arp(f, fx_our_mac, &a);
    size_t n;
    const struct fx_frame *out = fx_take_all(f, &n);
    assert_int_equal(n, 2);
    assert_ping_to(&out[0], fx_peer_mac, FX_PEER_IP, 1); /* in the order they were sent */
    assert_ping_to(&out[1], fx_peer_mac, FX_PEER_IP, 2);
    assert_int_equal(fx_stats(f)->mem.pkb_in_use, 0);
    assert_int_equal(fx_stats(f)->arp.entries_added, 1);

    /* Resolved: the next frame goes straight out, and the retry timer is gone. */
    fx_send_ping(f, FX_PEER_IP, 1, 3, NULL, 0);
    assert_ping_to(fx_expect_one(f), fx_peer_mac, FX_PEER_IP, 3);
    fx_advance(f, 5000000);
    fx_expect_none(f);
}

static void test_unanswered_request_is_retried_then_given_up(void **state)
{
    struct fixture *f = *state;
    const struct tapir_config *c = &f->cfg;
    uint64_t t0 = f->now_us;
    fx_send_ping(f, FX_PEER_IP, 1, 1, NULL, 0);
    fx_send_ping(f, FX_PEER_IP, 1, 2, NULL, 0);
    fx_send_ping(f, FX_PEER_IP, 1, 3, NULL, 0);
    assert_who_has(fx_expect_one(f), FX_PEER_IP);
    for (unsigned i = 1; i < c->arp_retries; i++) {
        uint64_t due = t0 + i * c->arp_retry_us;
        assert_int_equal(tapir_next_deadline(f->st), due);
        fx_advance_to(f, due - 1);
        fx_expect_none(f);
        fx_advance_to(f, due);
        assert_who_has(fx_expect_one(f), FX_PEER_IP);
    }
    assert_int_equal(fx_stats(f)->arp.tx_requests, c->arp_retries);
    assert_int_equal(fx_stats(f)->arp.resolve_failed, 0);
    /* One more interval without an answer: give up, drop the three waiting frames. */
    uint64_t give_up = t0 + c->arp_retries * c->arp_retry_us;
    assert_int_equal(tapir_next_deadline(f->st), give_up);
    fx_advance_to(f, give_up);
    fx_expect_none(f);
    assert_int_equal(fx_stats(f)->arp.resolve_failed, 1);
    assert_int_equal(fx_stats(f)->arp.drop_unresolved, 3);
    assert_int_equal(fx_stats(f)->arp.tx_requests, c->arp_retries);
    assert_int_equal(fx_stats(f)->mem.pkb_in_use, 0);
    assert_int_equal(tapir_next_deadline(f->st), UINT64_MAX);
    /* Trying again starts a fresh resolution. */
    fx_send_ping(f, FX_PEER_IP, 1, 4, NULL, 0);
    assert_who_has(fx_expect_one(f), FX_PEER_IP);
}

/* A connection opening to a neighbour that never answers ARP: when ARP gives up, the
 * connect fails with EHOSTUNREACH (as on Linux: "No route to host" after about 3 s), instead
 * of retrying SYNs into the void for two minutes; nothing is left armed. */
static void test_give_up_ends_a_connect_with_ehostunreach(void **state)
{
    struct fixture *f = *state;
    const struct tapir_config *c = &f->cfg;
    uint64_t t0 = f->now_us;
    struct tapir_sock *s;
    assert_int_equal(tapir_sock_open(f->st, SOCK_STREAM, 0, &s), 0);
    struct sockaddr_in to = sin_of(FX_PEER_IP, 7);
    assert_int_equal(tapir_sock_connect(s, &to), -EINPROGRESS);
    assert_who_has(fx_expect_one(f), FX_PEER_IP);
    uint64_t give_up = t0 + c->arp_retries * c->arp_retry_us;
    fx_run_until(f, give_up - 1); /* every timer at its own time: ARP retries, SYN retries */
    assert_int_equal(tapir_sock_connected(s), -EAGAIN);
    fx_run_until(f, give_up);
    assert_int_equal(fx_stats(f)->arp.resolve_failed, 1);
    assert_int_equal(tapir_sock_connected(s), -EHOSTUNREACH);
    assert_true(fx_stats(f)->icmp.local_unreach >= 1); /* one per SYN that waited */
    assert_int_equal(fx_stats(f)->tcp.icmp_aborts, 1);
    tapir_sock_close(s);
    fx_take_all(f, &(size_t){0});
    assert_int_equal(fx_stats(f)->mem.pkb_in_use, 0);
    assert_int_equal(tapir_next_deadline(f->st), UINT64_MAX);
}

static void test_retries_follow_config(void **state)
{
    struct fixture *f = *state;
    struct tapir_config cfg;
    fx_config(&cfg);
    cfg.arp_retries = 5;
    cfg.arp_retry_us = 250000;
    fx_restart(f, &cfg);
    uint64_t t0 = f->now_us;
    fx_send_ping(f, FX_PEER_IP, 1, 1, NULL, 0);
    unsigned visits = fx_run_until(f, t0 + 10000000);
    size_t n;
    const struct fx_frame *out = fx_take_all(f, &n);
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++)
        assert_who_has(&out[i], FX_PEER_IP);
    assert_int_equal(visits, 5); /* four retries and the give-up */
    assert_int_equal(fx_stats(f)->arp.resolve_failed, 1);
    assert_int_equal(fx_stats(f)->arp.drop_unresolved, 1);
}

static void test_retry_count_above_255_is_honoured(void **state)
{
    struct fixture *f = *state;
    struct tapir_config cfg;
    fx_config(&cfg);
    cfg.arp_retries = 300;
    cfg.arp_retry_us = 1000;
    fx_restart(f, &cfg);
    uint64_t t0 = f->now_us;
    fx_send_ping(f, FX_PEER_IP, 1, 1, NULL, 0);
    size_t requests = 0, n;
    fx_take_all(f, &n);
    requests += n;
    while (tapir_next_deadline(f->st) <= t0 + 1000000) {
        fx_advance_to(f, tapir_next_deadline(f->st));
        fx_take_all(f, &n);
        requests += n;
    }
    assert_int_equal(requests, 300);
    assert_int_equal(fx_stats(f)->arp.tx_requests, 300);
    assert_int_equal(fx_stats(f)->arp.resolve_failed, 1);
}

static void test_late_reply_after_give_up_is_not_for_a_known_entry(void **state)
{
    struct fixture *f = *state;
    uint64_t t0 = f->now_us;
    fx_send_ping(f, FX_PEER_IP, 1, 1, NULL, 0);
    fx_run_until(f, t0 + 10000000);
    fx_clear(f);
    assert_int_equal(fx_stats(f)->arp.resolve_failed, 1);
    /* The frame is gone; a reply now sends nothing. */
    struct fx_arp a = fx_arp_reply(fx_peer_mac, FX_PEER_IP, fx_our_mac, FX_OUR_IP);
    fx_inject_arp(f, fx_our_mac, &a);
    fx_expect_none(f);
}

static void test_pending_queue_is_bounded(void **state)
{
    struct fixture *f = *state;
    struct tapir_config cfg;
    fx_config(&cfg);
    cfg.arp_pending_frames = 4;
    fx_restart(f, &cfg);
    for (uint16_t seq = 1; seq <= 7; seq++)
        fx_send_ping(f, FX_PEER_IP, 1, seq, NULL, 0);
    assert_who_has(fx_expect_one(f), FX_PEER_IP);
    assert_int_equal(fx_stats(f)->arp.drop_pending_full, 3);
    assert_int_equal(fx_stats(f)->mem.pkb_in_use, 4);
    struct fx_arp a = fx_arp_reply(fx_peer_mac, FX_PEER_IP, fx_our_mac, FX_OUR_IP);
    fx_inject_arp(f, fx_our_mac, &a);
    size_t n;
    const struct fx_frame *out = fx_take_all(f, &n);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++)
        assert_ping_to(&out[i], fx_peer_mac, FX_PEER_IP, (uint16_t)(i + 1)); /* the first four */
}

/* Spoofed sources that never answer must not pin the whole buffer pool: all pending queues
 * together hold at most arp_pending_total frames, and resolving one frees its share. */
static void test_pending_frames_are_bounded_across_neighbours(void **state)
{
    struct fixture *f = *state;
    struct tapir_config cfg;
    fx_config(&cfg);
    cfg.arp_pending_total = 5;
    fx_restart(f, &cfg);
    for (uint16_t seq = 1; seq <= 4; seq++)
        fx_send_ping(f, FX_PEER_IP, 1, seq, NULL, 0);
    for (uint16_t seq = 1; seq <= 3; seq++)
        fx_send_ping(f, FX_IP(10, 0, 0, 9), 1, seq, NULL, 0);
    fx_clear(f);
    assert_int_equal(fx_stats(f)->arp.drop_pending_full, 2);
    assert_int_equal(fx_stats(f)->mem.pkb_in_use, 5);
    struct fx_arp a = fx_arp_reply(fx_peer_mac, FX_PEER_IP, fx_our_mac, FX_OUR_IP);
    fx_inject_arp(f, fx_our_mac, &a);
    size_t n;
    fx_take_all(f, &n);
    assert_int_equal(n, 4);
    /* The peer's four left the queues: the other neighbour may queue again. */
    fx_send_ping(f, FX_IP(10, 0, 0, 9), 1, 4, NULL, 0);
    assert_int_equal(fx_stats(f)->arp.drop_pending_full, 2);
    assert_int_equal(fx_stats(f)->mem.pkb_in_use, 2);
}

static void test_reply_for_pending_entry_resolves_even_when_not_for_us(void **state)
{
    struct fixture *f = *state;
    fx_send_ping(f, FX_PEER_IP, 1, 1, NULL, 0);
    fx_expect_one(f);
    /* 10.0.0.3 asks for someone else; its address is in the packet, and we were waiting. */
    struct fx_arp a = fx_arp_request(fx_peer_mac, FX_PEER_IP, FX_IP(10, 0, 0, 9));
    fx_inject_arp(f, fx_bcast_mac, &a);
    assert_ping_to(fx_expect_one(f), fx_peer_mac, FX_PEER_IP, 1);
}

/* --- ageing --- */

static void test_entry_expires_after_reachable_time(void **state)
{
    struct fixture *f = *state;
    uint64_t t0 = f->now_us;
    fx_learn_gateway(f);
    assert_int_equal(tapir_next_deadline(f->st), t0 + f->cfg.arp_reachable_us);
    fx_advance_to(f, t0 + f->cfg.arp_reachable_us - 1);
    fx_send_ping(f, FX_GW_IP, 1, 1, NULL, 0);
    assert_ping_to(fx_expect_one(f), fx_gw_mac, FX_GW_IP, 1);
    assert_int_equal(fx_stats(f)->arp.entries_expired, 0);

    fx_advance_to(f, t0 + f->cfg.arp_reachable_us);
    assert_int_equal(fx_stats(f)->arp.entries_expired, 1);
    fx_expect_none(f);
    fx_send_ping(f, FX_GW_IP, 1, 2, NULL, 0);
    assert_who_has(fx_expect_one(f), FX_GW_IP);
}

static void test_packet_from_known_sender_refreshes_entry(void **state)
{
    struct fixture *f = *state;
    uint64_t t0 = f->now_us, life = f->cfg.arp_reachable_us;
    fx_learn_gateway(f);
    fx_advance_to(f, t0 + life / 2);
    /* Any ARP from it (here a request for someone else) counts as a sign of life. */
    struct fx_arp a = fx_arp_request(fx_gw_mac, FX_GW_IP, FX_PEER_IP);
    fx_inject_arp(f, fx_bcast_mac, &a);
    fx_advance_to(f, t0 + life);
    assert_int_equal(fx_stats(f)->arp.entries_expired, 0);
    fx_send_ping(f, FX_GW_IP, 1, 1, NULL, 0);
    assert_ping_to(fx_expect_one(f), fx_gw_mac, FX_GW_IP, 1);
    fx_advance_to(f, t0 + life / 2 + life);
    assert_int_equal(fx_stats(f)->arp.entries_expired, 1);
}

/* --- the bounded cache --- */

static void test_full_cache_evicts_oldest_learned_entry(void **state)
{
    struct fixture *f = *state;
    struct tapir_config cfg;
    fx_config(&cfg);
    cfg.arp_cache_entries = 2;
    fx_restart(f, &cfg);
    fx_learn(f, FX_GW_IP, fx_gw_mac);
    fx_learn(f, IP4, mac4);
    assert_int_equal(fx_stats(f)->arp.entries_evicted, 0);
    fx_learn(f, IP5, mac5);
    assert_int_equal(fx_stats(f)->arp.entries_evicted, 1);
    assert_int_equal(fx_stats(f)->arp.entries_added, 3);
    /* The two most recent still resolve; the oldest needs a request again. */
    fx_send_ping(f, IP5, 1, 1, NULL, 0);
    assert_ping_to(fx_expect_one(f), mac5, IP5, 1);
    fx_send_ping(f, IP4, 1, 2, NULL, 0);
    assert_ping_to(fx_expect_one(f), mac4, IP4, 2);
    fx_send_ping(f, FX_GW_IP, 1, 3, NULL, 0);
    assert_who_has(fx_expect_one(f), FX_GW_IP);
    assert_int_equal(fx_stats(f)->arp.entries_evicted, 2);
}

static void test_evicting_unresolved_entry_drops_its_frames(void **state)
{
    struct fixture *f = *state;
    struct tapir_config cfg;
    fx_config(&cfg);
    cfg.arp_cache_entries = 1;
    fx_restart(f, &cfg);
    fx_send_ping(f, FX_PEER_IP, 1, 1, NULL, 0);
    fx_send_ping(f, FX_PEER_IP, 1, 2, NULL, 0);
    fx_clear(f);
    fx_learn(f, IP4, mac4);
    assert_int_equal(fx_stats(f)->arp.entries_evicted, 1);
    assert_int_equal(fx_stats(f)->arp.drop_cache_full, 2);
    assert_int_equal(fx_stats(f)->mem.pkb_in_use, 0);
    /* The evicted entry's retry timer went with it. */
    fx_run_until(f, f->now_us + 10000000);
    fx_expect_none(f);
    assert_int_equal(fx_stats(f)->arp.resolve_failed, 0);
}

/* --- announcement --- */

static void test_start_sends_gratuitous_arp(void **state)
{
    struct fixture *f = *state;
    tapir_start(f->st, f->now_us);
    const struct fx_frame *fr = fx_expect_one(f);
    struct fx_eth_view e = fx_as_eth(fr);
    struct fx_arp_view a = fx_as_arp(fr);
    assert_memory_equal(e.dst, fx_bcast_mac, 6);
    assert_memory_equal(e.src, fx_our_mac, 6);
    assert_int_equal(a.op, 1);
    assert_memory_equal(a.sha, fx_our_mac, 6);
    assert_int_equal(a.spa, FX_OUR_IP);
    assert_int_equal(a.tpa, FX_OUR_IP);
    assert_int_equal(fx_stats(f)->arp.tx_gratuitous, 1);
    assert_int_equal(fx_stats(f)->arp.tx_requests, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX_TEST(test_request_for_our_ip_gets_unicast_reply),
        FX_TEST(test_requester_is_learned_so_reply_needs_no_request),
        FX_TEST(test_request_for_other_ip_gets_no_reply_and_is_not_for_us),
        FX_TEST(test_probe_from_zero_address_is_answered_and_teaches_nothing),
        FX_TEST(test_known_sender_is_updated_by_packet_not_for_us),
        FX_TEST(test_reply_updates_known_entry),
        FX_TEST(test_truncated_packet_is_dropped),
        FX_TEST(test_bad_format_is_dropped),
        FX_TEST(test_bad_opcode_is_dropped),
        FX_TEST(test_bad_sender_is_dropped),
        FX_TEST(test_sender_claiming_our_address_is_dropped_as_conflict),
        FX_TEST(test_output_to_unknown_neighbour_queues_and_sends_after_reply),
        FX_TEST(test_unanswered_request_is_retried_then_given_up),
        FX_TEST(test_give_up_ends_a_connect_with_ehostunreach),
        FX_TEST(test_retries_follow_config),
        FX_TEST(test_retry_count_above_255_is_honoured),
        FX_TEST(test_late_reply_after_give_up_is_not_for_a_known_entry),
        FX_TEST(test_pending_queue_is_bounded),
        FX_TEST(test_pending_frames_are_bounded_across_neighbours),
        FX_TEST(test_reply_for_pending_entry_resolves_even_when_not_for_us),
        FX_TEST(test_entry_expires_after_reachable_time),
        FX_TEST(test_packet_from_known_sender_refreshes_entry),
        FX_TEST(test_full_cache_evicts_oldest_learned_entry),
        FX_TEST(test_evicting_unresolved_entry_drops_its_frames),
        FX_TEST(test_start_sends_gratuitous_arp),
    };
    return cmocka_run_group_tests_name("arp", tests, NULL, NULL);
}
