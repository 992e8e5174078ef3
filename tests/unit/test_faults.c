/* SPDX-License-Identifier: MIT */
/* test_faults.c: the shared fault model (drivers/faults.c): loss at its rate, a seed that
 * replays every decision, the bottleneck's serialization and drop-tail queue, corruption past
 * the Ethernet header of IPv4 frames only, the held-frame heap, and the wire's bottleneck per
 * direction. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "faults.h"
#include "wire.h"

#define FRAME_BYTES 1500
#define START_US 1000000u

/* An Ethernet frame of len bytes: IPv4 (0x0800) or ARP (0x0806), a byte pattern after. */
static void make_frame(uint8_t *f, size_t len, uint16_t ethertype)
{
    for (size_t i = 0; i < len; i++)
        f[i] = (uint8_t)(i * 7 + 3);
    f[12] = (uint8_t)(ethertype >> 8);
    f[13] = (uint8_t)ethertype;
}

/* Offers one IPv4 frame of len bytes at now_us with room for both copies. */
static struct fault_verdict offer(struct fault_model *m, struct fault_path *p, uint64_t now_us,
                                  size_t len)
{
    static uint8_t frame[9014];
    make_frame(frame, len, 0x0800);
    struct fault_verdict v;
    faults_decide(m, p, now_us, frame, len, 2, &v);
    return v;
}

/* --- loss, and the seed --- */

static void test_loss_rate_is_within_tolerance_over_100000_frames(void **state)
{
    (void)state;
    struct fault_model m;
    struct fault_path p = {0};
    faults_init(&m, &(struct faults){.loss_ppm = 100000}, 42);
    unsigned delivered = 0;
    for (int i = 0; i < 100000; i++)
        delivered += offer(&m, &p, START_US, 100).copies;
    assert_int_equal(m.stats.sent, 100000);
    assert_int_equal(m.stats.lost + delivered, 100000);
    /* 10% of 100000 has a standard deviation of ~95 frames; 500 is over five of them. */
    assert_in_range(m.stats.lost, 9500, 10500);
    assert_int_equal(m.stats.duplicated + m.stats.corrupted + m.stats.reordered, 0);
}

static void test_loss_of_zero_and_one_are_exact(void **state)
{
    (void)state;
    struct fault_model none, all;
    struct fault_path p = {0};
    faults_init(&none, &(struct faults){.loss_ppm = 0}, 1);
    faults_init(&all, &(struct faults){.loss_ppm = 1000000}, 1);
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(offer(&none, &p, START_US, 60).copies, 1);
        assert_int_equal(offer(&all, &p, START_US, 60).copies, 0);
    }
    assert_int_equal(none.stats.lost, 0);
    assert_int_equal(all.stats.lost, 1000);
}

static const struct faults rough = {.loss_ppm = 100000, .dup_ppm = 50000,
                                    .reorder_ppm = 100000, .corrupt_ppm = 50000,
                                    .delay_us = 700, .reorder_us = 3000};

static void test_same_seed_makes_the_same_decisions(void **state)
{
    (void)state;
    struct fault_model a, b;
    struct fault_path pa = {0}, pb = {0};
    faults_init(&a, &rough, 7);
    faults_init(&b, &rough, 7);
    for (int i = 0; i < 10000; i++) {
        size_t len = 60 + (size_t)i % 1400;
        struct fault_verdict va = offer(&a, &pa, START_US + (uint64_t)i * 10, len);
        struct fault_verdict vb = offer(&b, &pb, START_US + (uint64_t)i * 10, len);
        assert_int_equal(va.copies, vb.copies);
        for (unsigned c = 0; c < va.copies; c++) {
            assert_int_equal(va.copy[c].due_us, vb.copy[c].due_us);
            assert_int_equal(va.copy[c].flip_mask, vb.copy[c].flip_mask);
            if (va.copy[c].flip_mask)
                assert_int_equal(va.copy[c].flip_at, vb.copy[c].flip_at);
        }
    }
    assert_memory_equal(&a.stats, &b.stats, sizeof(a.stats));
    assert_true(a.stats.lost > 0 && a.stats.duplicated > 0 && a.stats.reordered > 0 &&
                a.stats.corrupted > 0);
}

static void test_another_seed_makes_other_decisions(void **state)
{
    (void)state;
    struct fault_model a, b;
    struct fault_path pa = {0}, pb = {0};
    faults_init(&a, &rough, 7);
    faults_init(&b, &rough, 8);
    unsigned differ = 0;
    for (int i = 0; i < 1000; i++) {
        struct fault_verdict va = offer(&a, &pa, START_US, 100);
        struct fault_verdict vb = offer(&b, &pb, START_US, 100);
        differ += va.copies != vb.copies ||
                  (va.copies && va.copy[0].due_us != vb.copy[0].due_us);
    }
    assert_true(differ > 50);
}

/* --- delay, reordering, duplication --- */

static void test_without_a_rate_a_frame_arrives_delay_after_it_is_sent(void **state)
{
    (void)state;
    struct fault_model m;
    struct fault_path p = {0};
    faults_init(&m, &(struct faults){.delay_us = 5000}, 1);
    for (int i = 0; i < 10; i++) {
        struct fault_verdict v = offer(&m, &p, START_US, 9014); /* back to back, no queueing */
        assert_int_equal(v.copies, 1);
        assert_int_equal(v.copy[0].due_us, START_US + 5000);
        assert_int_equal(v.copy[0].flip_mask, 0);
    }
    assert_int_equal(p.busy_until_ns, 0);
}

static void test_a_reordered_frame_is_held_up_to_reorder_us_more(void **state)
{
    (void)state;
    struct fault_model m;
    struct fault_path p = {0};
    faults_init(&m, &(struct faults){.reorder_ppm = 1000000, .reorder_us = 2000, .delay_us = 100},
                3);
    for (int i = 0; i < 1000; i++) {
        struct fault_verdict v = offer(&m, &p, START_US, 100);
        assert_int_equal(v.copies, 1);
        assert_in_range(v.copy[0].due_us, START_US + 100 + 1, START_US + 100 + 2000);
    }
    assert_int_equal(m.stats.reordered, 1000);
}

static void test_a_duplicate_is_a_second_copy_and_room_bounds_the_copies(void **state)
{
    (void)state;
    struct fault_model m;
    struct fault_path p = {0};
    uint8_t frame[100];
    make_frame(frame, sizeof(frame), 0x0800);
    faults_init(&m, &(struct faults){.dup_ppm = 1000000, .delay_us = 10}, 3);
    struct fault_verdict v;
    faults_decide(&m, &p, START_US, frame, sizeof(frame), 2, &v);
    assert_int_equal(v.copies, 2);
    assert_int_equal(v.copy[0].due_us, START_US + 10);
    assert_int_equal(v.copy[1].due_us, START_US + 10);
    faults_decide(&m, &p, START_US, frame, sizeof(frame), 1, &v);
    assert_int_equal(v.copies, 1);
    assert_int_equal(m.stats.overflow, 1);
    faults_decide(&m, &p, START_US, frame, sizeof(frame), 0, &v);
    assert_int_equal(v.copies, 0);
    assert_int_equal(m.stats.overflow, 3);
    assert_int_equal(m.stats.duplicated, 3);
}

/* --- the bottleneck --- */

static void test_back_to_back_1500_byte_frames_at_12_mbit_are_1_ms_apart(void **state)
{
    (void)state;
    struct fault_model m;
    struct fault_path p = {0};
    faults_init(&m, &(struct faults){.rate_bps = 12000000, .delay_us = 5000}, 1);
    struct fault_verdict a = offer(&m, &p, START_US, FRAME_BYTES);
    struct fault_verdict b = offer(&m, &p, START_US, FRAME_BYTES);
    assert_int_equal(a.copies, 1);
    assert_int_equal(b.copies, 1);
    /* 1500 bytes x 8 / 12 Mbit/s = 1 ms to serialize, then 5 ms on the wire. */
    assert_int_equal(a.copy[0].due_us, START_US + 1000 + 5000);
    assert_int_equal(b.copy[0].due_us, START_US + 2000 + 5000);
    /* An idle link serializes from now, not from when it last finished. */
    struct fault_verdict c = offer(&m, &p, START_US + 10000, FRAME_BYTES);
    assert_int_equal(c.copy[0].due_us, START_US + 10000 + 1000 + 5000);
    assert_int_equal(m.stats.queue_drops, 0);
}

static void test_a_full_queue_drops_the_tail(void **state)
{
    (void)state;
    struct fault_model m;
    struct fault_path p = {0};
    faults_init(&m, &(struct faults){.rate_bps = 12000000, .queue_bytes = 3000}, 1);
    /* Five frames at once: two fit in 3000 bytes (the one being sent counts), three drop. */
    unsigned passed = 0;
    for (int i = 0; i < 5; i++)
        passed += offer(&m, &p, START_US, FRAME_BYTES).copies;
    assert_int_equal(passed, 2);
    assert_int_equal(m.stats.queue_drops, 3);
    assert_int_equal(m.stats.sent, 5);
    assert_int_equal(m.stats.lost, 0);
    /* After one frame's time there is room for one more, and then not. */
    assert_int_equal(offer(&m, &p, START_US + 1000, FRAME_BYTES).copies, 1);
    assert_int_equal(offer(&m, &p, START_US + 1000, FRAME_BYTES).copies, 0);
    assert_int_equal(m.stats.queue_drops, 4);
}

static void test_the_default_queue_is_100_frames_or_one_bdp(void **state)
{
    (void)state;
    assert_int_equal(faults_queue_bytes(&(struct faults){.rate_bps = 10000000}), 151400);
    /* 1 Gbit/s x 100 ms = 12.5 MB */
    assert_int_equal(faults_queue_bytes(&(struct faults){.rate_bps = 1000000000,
                                                         .delay_us = 50000}),
                     12500000);
    assert_int_equal(faults_queue_bytes(&(struct faults){.rate_bps = 1, .queue_bytes = 5000}),
                     5000);
    assert_int_equal(faults_queue_bytes(&(struct faults){.queue_bytes = 1ull << 40}),
                     FAULTS_QUEUE_MAX_BYTES);
}

static void test_each_path_has_its_own_bottleneck(void **state)
{
    (void)state;
    struct fault_model m;
    struct fault_path there = {0}, back = {0};
    faults_init(&m, &(struct faults){.rate_bps = 12000000}, 1);
    assert_int_equal(offer(&m, &there, START_US, FRAME_BYTES).copy[0].due_us, START_US + 1000);
    assert_int_equal(offer(&m, &back, START_US, FRAME_BYTES).copy[0].due_us, START_US + 1000);
    assert_int_equal(offer(&m, &there, START_US, FRAME_BYTES).copy[0].due_us, START_US + 2000);
}

/* --- corruption --- */

static void test_corruption_flips_one_bit_past_the_ethernet_header_of_ipv4(void **state)
{
    (void)state;
    struct fault_model m;
    struct fault_path p = {0};
    struct fault_queue q;
    assert_int_equal(fault_queue_init(&q, 4), 0);
    faults_init(&m, &(struct faults){.corrupt_ppm = 1000000}, 5);
    uint8_t frame[64];
    for (int i = 0; i < 1000; i++) {
        size_t len = 15 + (size_t)i % (sizeof(frame) - 15); /* down to one byte past it */
        make_frame(frame, len, 0x0800);
        struct fault_verdict v;
        faults_decide(&m, &p, START_US, frame, len, 2, &v);
        assert_int_equal(v.copies, 1);
        assert_in_range(v.copy[0].flip_at, 14, len - 1);
        assert_int_not_equal(v.copy[0].flip_mask, 0);
        assert_int_equal(v.copy[0].flip_mask & (v.copy[0].flip_mask - 1), 0); /* one bit */
        /* The held copy differs from the frame in that bit alone. */
        assert_int_equal(fault_queue_push(&q, &v.copy[0], (uint64_t)i, frame, len), 0);
        struct fault_frame f = fault_queue_pop(&q);
        unsigned bits = 0;
        for (size_t b = 0; b < len; b++)
            bits += (unsigned)__builtin_popcount(f.data[b] ^ frame[b]);
        assert_int_equal(bits, 1);
        assert_memory_equal(f.data, frame, 14);
        free(f.data);
    }
    assert_int_equal(m.stats.corrupted, 1000);
    fault_queue_free(&q);
}

static void test_corruption_spares_arp_and_header_only_frames(void **state)
{
    (void)state;
    struct fault_model m;
    struct fault_path p = {0};
    faults_init(&m, &(struct faults){.corrupt_ppm = 1000000}, 5);
    uint8_t frame[60];
    struct fault_verdict v;
    make_frame(frame, sizeof(frame), 0x0806); /* ARP */
    for (int i = 0; i < 100; i++) {
        faults_decide(&m, &p, START_US, frame, sizeof(frame), 2, &v);
        assert_int_equal(v.copies, 1);
        assert_int_equal(v.copy[0].flip_mask, 0);
    }
    make_frame(frame, 14, 0x0800); /* an IPv4 EtherType and nothing after the header */
    faults_decide(&m, &p, START_US, frame, 14, 2, &v);
    assert_int_equal(v.copy[0].flip_mask, 0);
    assert_int_equal(m.stats.corrupted, 0);
}

/* --- held frames --- */

static void test_the_queue_pops_by_due_time_then_in_offer_order(void **state)
{
    (void)state;
    struct fault_queue q;
    assert_int_equal(fault_queue_init(&q, 200), 0);
    uint8_t frame[10] = {0};
    /* Due times 0..9 ms, several frames each, pushed in a scrambled order. */
    for (uint64_t i = 0; i < 200; i++) {
        struct fault_copy c = {.due_us = (i * 7919) % 10 * 1000};
        frame[0] = (uint8_t)i;
        assert_int_equal(fault_queue_push(&q, &c, i, frame, sizeof(frame)), 0);
    }
    assert_true(fault_queue_full(&q));
    assert_int_equal(q.bytes, 200 * sizeof(frame));
    assert_int_equal(fault_queue_push(&q, &(struct fault_copy){0}, 200, frame, 1), -ENOBUFS);
    struct fault_frame prev = {0};
    for (int i = 0; i < 200; i++) {
        assert_int_equal(fault_queue_next_us(&q), fault_queue_peek(&q)->due_us);
        struct fault_frame f = fault_queue_pop(&q);
        if (i > 0)
            assert_true(fault_frame_before(&prev, &f));
        assert_int_equal(f.data[0], (uint8_t)f.order);
        free(f.data);
        prev = f;
    }
    assert_int_equal(fault_queue_next_us(&q), UINT64_MAX);
    assert_null(fault_queue_peek(&q));
    assert_int_equal(q.bytes, 0);
    fault_queue_free(&q);
}

/* --- the wire's two directions --- */

static void test_wire_has_a_bottleneck_each_way(void **state)
{
    (void)state;
    struct wire_faults f = {.rate_bps = 12000000, .queue_bytes = 3000};
    struct wire *w = wire_new(&f, 1, 64);
    assert_non_null(w);
    wire_set_now(w, START_US);
    uint8_t frame[FRAME_BYTES];
    make_frame(frame, sizeof(frame), 0x0800);
    for (int end = 0; end < 2; end++) {
        struct tapir_driver d = wire_driver(w, end);
        for (int i = 0; i < 3; i++)
            assert_int_equal(d.send(d.ctx, frame, sizeof(frame)), 0);
    }
    /* Two of three fit each way: one drop per direction, not four on a shared queue. */
    assert_int_equal(wire_stats(w)->sent, 6);
    assert_int_equal(wire_stats(w)->queue_drops, 2);
    wire_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loss_rate_is_within_tolerance_over_100000_frames),
        cmocka_unit_test(test_loss_of_zero_and_one_are_exact),
        cmocka_unit_test(test_same_seed_makes_the_same_decisions),
        cmocka_unit_test(test_another_seed_makes_other_decisions),
        cmocka_unit_test(test_without_a_rate_a_frame_arrives_delay_after_it_is_sent),
        cmocka_unit_test(test_a_reordered_frame_is_held_up_to_reorder_us_more),
        cmocka_unit_test(test_a_duplicate_is_a_second_copy_and_room_bounds_the_copies),
        cmocka_unit_test(test_back_to_back_1500_byte_frames_at_12_mbit_are_1_ms_apart),
        cmocka_unit_test(test_a_full_queue_drops_the_tail),
        cmocka_unit_test(test_the_default_queue_is_100_frames_or_one_bdp),
        cmocka_unit_test(test_each_path_has_its_own_bottleneck),
        cmocka_unit_test(test_corruption_flips_one_bit_past_the_ethernet_header_of_ipv4),
        cmocka_unit_test(test_corruption_spares_arp_and_header_only_frames),
        cmocka_unit_test(test_the_queue_pops_by_due_time_then_in_offer_order),
        cmocka_unit_test(test_wire_has_a_bottleneck_each_way),
    };
    return cmocka_run_group_tests_name("faults", tests, NULL, NULL);
}
