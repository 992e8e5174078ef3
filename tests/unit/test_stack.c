/* SPDX-License-Identifier: MIT */
/* test_stack.c: the stack instance: config checks, trace and stats output, pcap, zero-copy input,
 * a steady state that allocates nothing, and two stacks in one process. */
#include "fixture.h"

#include <stdio.h>
#include <stdlib.h>

#include "icmp.h"

/* --- configuration --- */

static int null_send(void *ctx, const void *frame, size_t len)
{
    (void)ctx;
    (void)frame;
    (void)len;
    return 0;
}

static void expect_rejected(const struct tapir_config *cfg)
{
    struct tapir_driver drv = {.send = null_send};
    errno = 0;
    struct tapir_stack *st = tapir_stack_new(cfg, &drv);
    if (st) {
        tapir_stack_free(st);
        fail_msg("config accepted (mtu %u prefix %u mac %02x)", cfg->mtu_bytes, cfg->prefix_len,
                 cfg->mac[0]);
    }
    assert_int_equal(errno, EINVAL);
}

static void expect_accepted(const struct tapir_config *cfg)
{
    struct tapir_driver drv = {.send = null_send};
    struct tapir_stack *st = tapir_stack_new(cfg, &drv);
    assert_non_null(st);
    tapir_stack_free(st);
}

static void test_bad_configs_are_rejected_with_einval(void **state)
{
    (void)state;
    struct tapir_config cfg;
    fx_config(&cfg);
    cfg.mtu_bytes = 67;
    expect_rejected(&cfg);
    fx_config(&cfg);
    cfg.mtu_bytes = 9001;
    expect_rejected(&cfg);
    fx_config(&cfg);
    cfg.prefix_len = 33;
    expect_rejected(&cfg);
    fx_config(&cfg);
    static const uint8_t mcast[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0x01};
    memcpy(cfg.mac, mcast, 6);
    expect_rejected(&cfg);
    fx_config(&cfg);
    memcpy(cfg.mac, fx_bcast_mac, 6);
    expect_rejected(&cfg);
    fx_config(&cfg);
    cfg.arp_retries = 0;
    expect_rejected(&cfg);
    fx_config(&cfg);
    cfg.ipfrag_max_datagrams = 0;
    expect_rejected(&cfg);
}

static void test_missing_driver_is_rejected_with_einval(void **state)
{
    (void)state;
    struct tapir_config cfg;
    fx_config(&cfg);
    errno = 0;
    assert_null(tapir_stack_new(&cfg, NULL));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(tapir_stack_new(&cfg, &(struct tapir_driver){.send = NULL}));
    assert_int_equal(errno, EINVAL);
}

static void test_boundary_configs_are_accepted(void **state)
{
    (void)state;
    struct tapir_config cfg;
    fx_config(&cfg);
    cfg.mtu_bytes = 68;
    expect_accepted(&cfg);
    cfg.mtu_bytes = 9000;
    expect_accepted(&cfg);
    fx_config(&cfg);
    cfg.prefix_len = 32;
    expect_accepted(&cfg);
    cfg.prefix_len = 0;
    expect_accepted(&cfg);
}

static void test_mtu_68_still_answers_fragmented(void **state)
{
    struct fixture *f = *state;
    struct tapir_config cfg;
    fx_config(&cfg);
    cfg.mtu_bytes = 68; /* RFC 791: every host must take 68 */
    fx_restart(f, &cfg);
    fx_learn_gateway(f);
    uint8_t data[100];
    fx_pattern(data, sizeof(data), 2);
    assert_int_equal(fx_send_ping(f, FX_GW_IP, 1, 1, data, sizeof(data)), 0);
    size_t n;
    const struct fx_frame *out = fx_take_all(f, &n);
    assert_int_equal(n, 3); /* 108 bytes in pieces of 48 */
    static uint8_t whole[256];
    assert_int_equal(fx_reassemble(out, n, 68, whole, sizeof(whole)), 108);
    assert_memory_equal(whole + 8, data, sizeof(data));
}

/* --- trace and stats --- */

static void test_trace_parse_accepts_names_and_rejects_the_rest(void **state)
{
    (void)state;
    unsigned mask = 0;
    assert_int_equal(tapir_trace_parse("eth", &mask), 0);
    assert_int_equal(mask, TAPIR_TRACE_ETH);
    assert_int_equal(tapir_trace_parse("arp,ip,icmp", &mask), 0);
    assert_int_equal(mask, TAPIR_TRACE_ARP | TAPIR_TRACE_IP | TAPIR_TRACE_ICMP);
    assert_int_equal(tapir_trace_parse("all", &mask), 0);
    assert_int_equal(mask, TAPIR_TRACE_ALL);
    assert_int_equal(tapir_trace_parse("udp,tcp", &mask), 0);
    assert_int_equal(mask, TAPIR_TRACE_UDP | TAPIR_TRACE_TCP);

    mask = 0x55;
    assert_int_equal(tapir_trace_parse("", &mask), -EINVAL);
    assert_int_equal(tapir_trace_parse("bogus", &mask), -EINVAL);
    assert_int_equal(tapir_trace_parse("eth,bogus", &mask), -EINVAL);
    assert_int_equal(tapir_trace_parse("ipx", &mask), -EINVAL);
    assert_int_equal(tapir_trace_parse("i", &mask), -EINVAL);
    assert_int_equal(tapir_trace_parse("eth,,arp", &mask), -EINVAL);
    assert_int_equal(mask, 0x55); /* untouched on failure */
}

static void test_stats_print_shows_every_layer_and_counter(void **state)
{
    struct fixture *f = *state;
    fx_learn_gateway(f);
    fx_inject_ping(f, 1, 1, NULL, 0);
    fx_clear(f);
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    assert_non_null(out);
    tapir_stats_print(f->st, out);
    fclose(out);
    assert_non_null(strstr(buf, "Ethernet:\n"));
    assert_non_null(strstr(buf, "Arp:\n"));
    assert_non_null(strstr(buf, "Ip:\n"));
    assert_non_null(strstr(buf, "Icmp:\n"));
    assert_non_null(strstr(buf, "Udp:\n"));
    assert_non_null(strstr(buf, "Memory:\n"));
    /* Layers in order, each counter's words once. */
    assert_true(strstr(buf, "Ethernet:") < strstr(buf, "Arp:"));
    assert_true(strstr(buf, "Arp:") < strstr(buf, "Ip:"));
    assert_true(strstr(buf, "Ip:") < strstr(buf, "Icmp:"));
    assert_true(strstr(buf, "Icmp:") < strstr(buf, "Udp:"));
    assert_true(strstr(buf, "Udp:") < strstr(buf, "Tcp:"));
    assert_true(strstr(buf, "Tcp:") < strstr(buf, "Memory:"));
#define CHECK_TEXT(name, text) assert_non_null(strstr(buf, text));
    TAPIR_ETH_STATS(CHECK_TEXT)
    TAPIR_ARP_STATS(CHECK_TEXT)
    TAPIR_IP_STATS(CHECK_TEXT)
    TAPIR_ICMP_STATS(CHECK_TEXT)
    TAPIR_UDP_STATS(CHECK_TEXT)
    TAPIR_TCP_STATS(CHECK_TEXT)
    TAPIR_MEM_STATS(CHECK_TEXT)
#undef CHECK_TEXT
#define COUNT(name, text) +1
    int counters = 0 TAPIR_ETH_STATS(COUNT) TAPIR_ARP_STATS(COUNT) TAPIR_IP_STATS(COUNT)
        TAPIR_ICMP_STATS(COUNT) TAPIR_UDP_STATS(COUNT) TAPIR_TCP_STATS(COUNT) TAPIR_MEM_STATS(COUNT);
#undef COUNT
    int lines = 0;
    for (char *p = buf; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, counters + 7);
    /* Values are the live ones. */
    assert_non_null(strstr(buf, "    1 echo requests received\n"));
    assert_non_null(strstr(buf, "    1 echo replies sent\n"));
    assert_non_null(strstr(buf, "    0 dropped: bad header checksum\n"));
    free(buf);
}

static void test_trace_lines_only_for_enabled_layers(void **state)
{
    struct fixture *f = *state;
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    struct tapir_config cfg;
    fx_config(&cfg);
    cfg.trace_out = out;
    cfg.trace_mask = TAPIR_TRACE_ARP;
    fx_restart(f, &cfg);
    fx_learn_gateway(f);
    fx_inject_ping(f, 1, 1, NULL, 0);
    fx_clear(f);
    tapir_flush(f->st);
    assert_non_null(strstr(buf, " arp: "));
    assert_non_null(strstr(buf, "10.0.0.1"));
    assert_null(strstr(buf, " ip: "));
    assert_null(strstr(buf, " icmp: "));
    assert_null(strstr(buf, " eth: "));
    /* Lines start with the stack's clock, seconds.microseconds. */
    assert_non_null(strstr(buf, "1000.000000 arp: "));
    fx_config(&cfg);
    fx_restart(f, &cfg); /* the stack that used the stream is gone before it closes */
    fclose(out);
    free(buf);
}

/* --- pcap --- */

static void test_pcap_records_frames_in_and_out(void **state)
{
    struct fixture *f = *state;
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    struct tapir_config cfg;
    fx_config(&cfg);
    cfg.pcap_out = out;
    fx_restart(f, &cfg);
    fx_learn_gateway(f); /* ARP request in, reply out */
    tapir_flush(f->st);
    uint32_t hdr[6];
    assert_true(len >= 24);
    memcpy(hdr, buf, sizeof(hdr));
    assert_int_equal(hdr[0], 0xa1b2c3d4u);
    assert_int_equal(hdr[5], 1); /* LINKTYPE_ETHERNET */
    /* Two records: 16-byte header each, the request (42 bytes) and the padded reply (60). */
    assert_int_equal(len, 24 + 16 + 42 + 16 + 60);
    uint32_t rec[4];
    memcpy(rec, buf + 24, sizeof(rec));
    assert_int_equal(rec[0], FX_NOW_US / 1000000);
    assert_int_equal(rec[1], FX_NOW_US % 1000000);
    assert_int_equal(rec[2], 42);
    assert_int_equal(rec[3], 42);
    memcpy(rec, buf + 24 + 16 + 42, sizeof(rec));
    assert_int_equal(rec[2], 60);
    assert_memory_equal(buf + 24 + 16 + 42 + 16, fx_gw_mac, 6);
    fx_config(&cfg);
    fx_restart(f, &cfg);
    fclose(out);
    free(buf);
}

/* --- zero-copy input --- */

static void test_zero_copy_input_answers_and_returns_buffer(void **state)
{
    struct fixture *f = *state;
    fx_learn_gateway(f);
    uint8_t *buf;
    size_t cap;
    struct pkb *p = tapir_rx_buffer(f->st, &buf, &cap);
    assert_non_null(p);
    assert_true(cap >= 14 + 4 + f->cfg.mtu_bytes);
    uint8_t icmp[16], ipb[64];
    struct fx_ip ip = fx_ip_default();
    size_t n = fx_ip_build(ipb, &ip, icmp, fx_icmp_echo(icmp, 4, 5, "zc", 2));
    n = fx_eth(buf, fx_our_mac, fx_gw_mac, 0x0800, ipb, n);
    assert_int_equal(tapir_input_pkb(f->st, p, n, f->now_us), 0);
    struct fx_icmp_view m = fx_as_icmp(fx_expect_one(f), NULL);
    assert_int_equal(m.type, 0);
    assert_int_equal(m.seq, 5);
    assert_int_equal(fx_stats(f)->mem.pkb_in_use, 0);
    /* A borrowed buffer handed back unused. */
    p = tapir_rx_buffer(f->st, &buf, &cap);
    tapir_rx_release(f->st, p);
    assert_int_equal(fx_stats(f)->mem.pkb_in_use, 0);
}

/* --- steady state --- */

static void inject_fragmented_ping(struct fixture *f, uint16_t id, uint16_t seq, size_t data_len)
{
    static uint8_t data[4000], m[4100];
    fx_pattern(data, data_len, seq);
    size_t len = fx_icmp_echo(m, id, seq, data, data_len);
    struct fx_ip ip = fx_ip_default();
    ip.id = seq;
    for (size_t off = 0; off < len; off += 1480) {
        size_t n = len - off < 1480 ? len - off : 1480;
        ip.frag = (uint16_t)((off + n < len ? 0x2000 : 0) | off / 8);
        fx_inject_ip(f, fx_gw_mac, &ip, m + off, n);
    }
}

/* One echo request (every tenth fragmented, 3000 bytes) and its reply; returns the reply's frames.
 */
static size_t ping_round(struct fixture *f, unsigned i)
{
    size_t n;
    f->now_us += 100;
    if (i % 10 == 9)
        inject_fragmented_ping(f, 0x51, (uint16_t)i, 3000);
    else
        fx_inject_ping(f, 0x51, (uint16_t)i, "steady state", 12);
    const struct fx_frame *out = fx_take_all(f, &n);
    if (n == 1)
        assert_int_equal(fx_as_icmp(&out[0], NULL).seq, (uint16_t)i);
    return n;
}

static void test_steady_state_allocates_nothing(void **state)
{
    struct fixture *f = *state;
    fx_learn_gateway(f);
    for (unsigned i = 0; i < 100; i++)
        ping_round(f, i);
    const struct tapir_mem_stats warm = fx_stats(f)->mem;
    size_t frames = 0;
    for (unsigned i = 100; i < 10100; i++)
        frames += ping_round(f, i);
    const struct tapir_mem_stats *m = &fx_stats(f)->mem;
    assert_int_equal(frames, 9000 * 1 + 1000 * 3);
    assert_int_equal(fx_stats(f)->ip.frag_reassembled, 1010);
    assert_int_equal(m->allocs, warm.allocs);
    assert_int_equal(m->alloc_bytes, warm.alloc_bytes);
    assert_int_equal(m->pkb_in_use, 0);
    assert_int_equal(m->pkb_in_use_max, warm.pkb_in_use_max);
    assert_int_equal(m->pkb_exhausted, 0);
}

/* --- more than one stack --- */

struct capture {
    unsigned frames;
    uint8_t last[1600];
    size_t last_len;
};

static int capture_send(void *ctx, const void *frame, size_t len)
{
    struct capture *c = ctx;
    c->frames++;
    c->last_len = len < sizeof(c->last) ? len : sizeof(c->last);
    memcpy(c->last, frame, c->last_len);
    return 0;
}

static void test_two_stacks_live_independently(void **state)
{
    struct fixture *a = *state;
    void *bstate = NULL;
    assert_int_equal(fx_setup(&bstate), 0);
    struct fixture *b = bstate;
    struct tapir_config cfg;
    fx_config(&cfg);
    memcpy(cfg.mac, fx_peer_mac, 6);
    cfg.addr.s_addr = htonl(FX_PEER_IP);
    cfg.seed = 99;
    fx_restart(b, &cfg);

    fx_learn_gateway(a);
    fx_inject_ping(a, 1, 1, "to a", 4);
    struct fx_ip_view v;
    assert_int_equal(fx_as_icmp(fx_expect_one(a), &v).type, 0);
    assert_int_equal(v.src, FX_OUR_IP);
    fx_expect_none(b);
    assert_int_equal(fx_stats(b)->eth.rx_frames, 0);
    assert_int_equal(fx_stats(b)->arp.entries_added, 0);

    /* b answers for its own address only, with its own MAC. */
    struct fx_arp q = fx_arp_request(fx_gw_mac, FX_GW_IP, FX_OUR_IP);
    fx_inject_arp(b, fx_bcast_mac, &q);
    fx_expect_none(b);
    q = fx_arp_request(fx_gw_mac, FX_GW_IP, FX_PEER_IP);
    fx_inject_arp(b, fx_bcast_mac, &q);
    struct fx_arp_view r = fx_as_arp(fx_expect_one(b));
    assert_memory_equal(r.sha, fx_peer_mac, 6);
    assert_int_equal(r.spa, FX_PEER_IP);
    fx_expect_none(a);
    assert_int_equal(fx_stats(a)->arp.rx_requests, 1);
    assert_int_equal(fx_stats(b)->arp.rx_requests, 2);
    assert_int_equal(fx_stats(b)->arp.drop_not_for_us, 1);
    assert_int_equal(fx_stats(a)->arp.drop_not_for_us, 0);

    /* Freeing one leaves the other working. */
    fx_teardown(&bstate);
    fx_inject_ping(a, 1, 2, "still", 5);
    assert_int_equal(fx_as_icmp(fx_expect_one(a), NULL).seq, 2);
}

static void test_same_seed_replays_same_frames(void **state)
{
    (void)state;
    struct tapir_config cfg;
    fx_config(&cfg);
    struct capture c[3] = {{0}};
    struct tapir_stack *st[3];
    for (int i = 0; i < 3; i++) {
        cfg.seed = i < 2 ? 1234 : 5678;
        struct tapir_driver drv = {.send = capture_send, .ctx = &c[i]};
        st[i] = tapir_stack_new(&cfg, &drv);
        assert_non_null(st[i]);
        tapir_timers(st[i], FX_NOW_US);
        uint8_t arp[28], frame[64];
        struct fx_arp a = fx_arp_request(fx_gw_mac, FX_GW_IP, FX_OUR_IP);
        fx_arp_build(arp, &a);
        size_t n = fx_eth(frame, fx_bcast_mac, fx_gw_mac, 0x0806, arp, sizeof(arp));
        tapir_input(st[i], frame, n, FX_NOW_US);
    }
    uint16_t ids[3];
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < 3; i++) {
            icmp_send_echo_request(st[i], FX_GW_IP, 1, (uint16_t)round, NULL, 0);
            ids[i] = fx_be16(c[i].last + 14 + 4);
        }
        assert_int_equal(ids[0], ids[1]);
        assert_memory_equal(c[0].last, c[1].last, c[0].last_len);
    }
    /* A different seed gives different IP IDs (five in a row equal would be a 2^-80 fluke). */
    assert_int_not_equal(memcmp(c[0].last, c[2].last, c[0].last_len), 0);
    for (int i = 0; i < 3; i++)
        tapir_stack_free(st[i]);
}

static void test_freeing_a_busy_stack_releases_everything(void **state)
{
    struct fixture *f = *state;
    /* Frames waiting on ARP, a reassembly in progress, armed timers: all go with the stack (the
     * sanitizer build checks nothing leaks). */
    fx_send_ping(f, FX_PEER_IP, 1, 1, "wait", 4);
    fx_send_ping(f, FX_PEER_IP, 1, 2, "wait", 4);
    uint8_t part[1480];
    fx_pattern(part, sizeof(part), 1);
    struct fx_ip ip = fx_ip_default();
    ip.frag = 0x2000;
    fx_inject_ip(f, fx_gw_mac, &ip, part, sizeof(part));
    assert_true(fx_stats(f)->mem.pkb_in_use >= 3);
    assert_int_not_equal(tapir_next_deadline(f->st), UINT64_MAX);
    tapir_stack_free(f->st);
    f->st = NULL;
    struct tapir_config cfg;
    fx_config(&cfg);
    fx_restart(f, &cfg);
    assert_int_equal(fx_stats(f)->mem.pkb_in_use, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX_TEST(test_bad_configs_are_rejected_with_einval),
        FX_TEST(test_missing_driver_is_rejected_with_einval),
        FX_TEST(test_boundary_configs_are_accepted),
        FX_TEST(test_mtu_68_still_answers_fragmented),
        FX_TEST(test_trace_parse_accepts_names_and_rejects_the_rest),
        FX_TEST(test_stats_print_shows_every_layer_and_counter),
        FX_TEST(test_trace_lines_only_for_enabled_layers),
        FX_TEST(test_pcap_records_frames_in_and_out),
        FX_TEST(test_zero_copy_input_answers_and_returns_buffer),
        FX_TEST(test_steady_state_allocates_nothing),
        FX_TEST(test_two_stacks_live_independently),
        FX_TEST(test_same_seed_replays_same_frames),
        FX_TEST(test_freeing_a_busy_stack_releases_everything),
    };
    return cmocka_run_group_tests_name("stack", tests, NULL, NULL);
}
