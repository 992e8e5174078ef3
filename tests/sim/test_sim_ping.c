/* SPDX-License-Identifier: MIT */
/* test_sim_ping.c: two stacks ping each other over drivers/wire.c in virtual time, through
 * loss, duplication, reordering and corruption; a seed replays a run byte for byte. ICMP
 * without sockets: the stacks sit on the wire directly (no sim.c driver wrapper), with stack
 * A's capture in memory; sim.h gives only their configuration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core.h"
#include "sim.h"
#include "wire.h"

#define PING_ID 0x7a7au

struct ping_sim {
    struct wire *wire;
    struct tapir_stack *st[2];
    char *pcap_buf;
    size_t pcap_len;
    FILE *pcap;                 /* stack A's capture */
    int got_reply;              /* set by the echo reply callback */
    uint16_t want_seq;
    size_t want_len;
    unsigned replies, bad_replies;
};

static void on_reply(void *ctx, uint32_t from, uint16_t id, uint16_t seq, const uint8_t *data,
                     size_t len)
{
    struct ping_sim *s = ctx;
    s->replies++;
    if (from != HOST_B || id != PING_ID) {
        s->bad_replies++;
        return;
    }
    /* The payload is a pattern of the sequence number, so a corrupted reply that slipped
     * past the checksums would show here. */
    for (size_t i = 0; i < len; i++)
        if (data[i] != (uint8_t)(seq + i))
            s->bad_replies++;
    if (seq == s->want_seq && len == s->want_len)
        s->got_reply = 1;
}

static void ping_sim_start(struct ping_sim *s, const struct wire_faults *faults, uint64_t seed)
{
    memset(s, 0, sizeof(*s));
    s->wire = wire_new(faults, seed ^ 0x5eed, 4096);
    assert_non_null(s->wire);
    s->pcap = open_memstream(&s->pcap_buf, &s->pcap_len);
    assert_non_null(s->pcap);
    for (int i = 0; i < 2; i++) {
        struct tapir_config cfg;
        sim_stack_config(&cfg, i, seed + (uint64_t)i);
        cfg.pcap_out = i == 0 ? s->pcap : NULL;
        struct tapir_driver drv = wire_driver(s->wire, i);
        s->st[i] = tapir_stack_new(&cfg, &drv);
        assert_non_null(s->st[i]);
        wire_attach(s->wire, i, s->st[i]);
    }
    s->st[0]->icmp.echo_reply_cb = on_reply;
    s->st[0]->icmp.echo_reply_ctx = s;
    wire_set_now(s->wire, 1000000);
    for (int i = 0; i < 2; i++)
        tapir_start(s->st[i], wire_now(s->wire));
}

static void ping_sim_stop(struct ping_sim *s)
{
    for (int i = 0; i < 2; i++)
        tapir_stack_free(s->st[i]);
    fclose(s->pcap);
    free(s->pcap_buf);
    wire_free(s->wire);
}

/* Pings B from A until it answers, each try waiting up to a second of virtual time. Returns
 * the number of tries, or 0 if max_tries went unanswered. */
static unsigned ping_until_answered(struct ping_sim *s, uint16_t seq, size_t len,
                                    unsigned max_tries)
{
    uint8_t data[8192];
    assert_true(len <= sizeof(data));
    for (size_t i = 0; i < len; i++)
        data[i] = (uint8_t)(seq + i);
    s->want_seq = seq;
    s->want_len = len;
    s->got_reply = 0;
    for (unsigned t = 1; t <= max_tries; t++) {
        s->st[0]->now_us = wire_now(s->wire);
        icmp_send_echo_request(s->st[0], HOST_B, PING_ID, seq, data, len);
        wire_run(s->wire, wire_now(s->wire) + 1000000, &s->got_reply);
        if (s->got_reply)
            return t;
    }
    return 0;
}

/* 100 pings, every other one 3000 bytes (three fragments each way). Returns the total tries. */
static unsigned ping_series(struct ping_sim *s)
{
    unsigned tries = 0;
    for (uint16_t seq = 1; seq <= 100; seq++) {
        unsigned t = ping_until_answered(s, seq, seq % 2 ? 56 : 3000, 60);
        assert_int_not_equal(t, 0);
        tries += t;
    }
    tapir_flush(s->st[0]);
    return tries;
}

static void test_clean_link_answers_every_ping_first_time(void **state)
{
    (void)state;
    struct ping_sim s;
    struct wire_faults none = {.delay_us = 500};
    ping_sim_start(&s, &none, 1);
    assert_int_equal(ping_series(&s), 100);
    assert_int_equal(s.bad_replies, 0);
    assert_int_equal(tapir_stats(s.st[1])->ip.frag_reassembled, 50);
    assert_int_equal(tapir_stats(s.st[0])->ip.frag_reassembled, 50);
    ping_sim_stop(&s);
}

static void test_ping_through_20_percent_loss(void **state)
{
    (void)state;
    struct ping_sim s;
    struct wire_faults lossy = {.loss_ppm = 200000, .delay_us = 500};
    ping_sim_start(&s, &lossy, 42);
    unsigned tries = ping_series(&s);
    /* Every ping got through in the end, and the loss really happened: with 20% loss a
     * 56-byte ping fails ~36% of the time and a fragmented one ~74%. */
    assert_true(tries > 150);
    assert_true(wire_stats(s.wire)->lost > 50);
    assert_int_equal(s.bad_replies, 0);
    /* Fragments lost mid-datagram leave reassemblies to time out (with Time Exceeded sent
     * back); once every timer has run its course, no buffer is left behind. */
    wire_run(s.wire, wire_now(s.wire) + 120000000, NULL);
    assert_true(tapir_stats(s.st[1])->ip.frag_drop_timeout > 0);
    assert_true(tapir_stats(s.st[0])->icmp.rx_time_exceeded > 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(tapir_stats(s.st[i])->mem.pkb_in_use, 0);
    ping_sim_stop(&s);
}

static void test_dup_reorder_and_corruption_are_survived(void **state)
{
    (void)state;
    struct ping_sim s;
    struct wire_faults rough = {.dup_ppm = 100000, .reorder_ppm = 200000, .reorder_us = 3000,
                                .corrupt_ppm = 50000, .delay_us = 500};
    ping_sim_start(&s, &rough, 7);
    ping_series(&s);
    const struct wire_stats *w = wire_stats(s.wire);
    assert_true(w->duplicated > 0 && w->reordered > 0 && w->corrupted > 0);
    assert_int_equal(s.bad_replies, 0);
    /* A flipped bit is caught by some layer's check: count everything either stack dropped
     * for a checksum, a wrong address or a malformed header. */
    uint64_t caught = 0;
    for (int i = 0; i < 2; i++) {
        const struct tapir_stats *t = tapir_stats(s.st[i]);
        caught += t->ip.drop_bad_checksum + t->icmp.drop_bad_checksum + t->eth.drop_not_for_us +
                  t->eth.drop_unknown_type + t->ip.drop_bad_version + t->ip.drop_bad_ihl +
                  t->ip.drop_bad_length + t->ip.drop_bad_source + t->ip.drop_not_for_us +
                  t->arp.drop_bad_format + t->arp.drop_bad_op + t->arp.drop_bad_sender +
                  t->ip.frag_drop_overlap + t->ip.frag_drop_bad_len + t->ip.drop_unknown_proto +
                  t->arp.drop_not_for_us + t->icmp.drop_unknown_type;
    }
    assert_true(caught > 0);
    assert_true(tapir_stats(s.st[1])->ip.frag_dup > 0);
    ping_sim_stop(&s);
}

/* Runs the lossy series with a seed and returns a copy of A's pcap. */
static char *lossy_capture(uint64_t seed, size_t *len)
{
    struct ping_sim s;
    struct wire_faults lossy = {.loss_ppm = 200000, .reorder_ppm = 100000, .reorder_us = 2000,
                                .delay_us = 500};
    ping_sim_start(&s, &lossy, seed);
    ping_series(&s);
    fflush(s.pcap);
    char *copy = malloc(s.pcap_len);
    assert_non_null(copy);
    memcpy(copy, s.pcap_buf, s.pcap_len);
    *len = s.pcap_len;
    ping_sim_stop(&s);
    return copy;
}

static void test_same_seed_gives_identical_pcap(void **state)
{
    (void)state;
    size_t len1, len2, len3;
    char *a = lossy_capture(1234, &len1);
    char *b = lossy_capture(1234, &len2);
    char *c = lossy_capture(4321, &len3);
    assert_true(len1 > 100000); /* 100 pings and their retries, not an empty file */
    assert_int_equal(len1, len2);
    assert_memory_equal(a, b, len1);
    assert_true(len1 != len3 || memcmp(a, c, len1) != 0);
    free(a);
    free(b);
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean_link_answers_every_ping_first_time),
        cmocka_unit_test(test_ping_through_20_percent_loss),
        cmocka_unit_test(test_dup_reorder_and_corruption_are_survived),
        cmocka_unit_test(test_same_seed_gives_identical_pcap),
    };
    return cmocka_run_group_tests_name("sim_ping", tests, NULL, NULL);
}
