/* SPDX-License-Identifier: MIT */
/* test_pkb.c: packet buffers: headroom and push/pull/put/trim, the bounded pools, reuse, queues. */
#include "fixture.h"

#include "core.h"
#include "pkb.h"

/* --- one buffer --- */

static void test_fresh_buffer_has_headroom_and_room_for_an_mtu_frame(void **state)
{
    struct fixture *f = *state;
    struct pkb *p = pkb_alloc(f->st, PKB_SMALL);
    assert_non_null(p);
    assert_int_equal(p->len, 0);
    assert_int_equal(pkb_headroom(p), PKB_HEADROOM);
    assert_true(pkb_tailroom(p) >= 14 + 4 + f->cfg.mtu_bytes);
    assert_int_equal(fx_stats(f)->mem.pkb_in_use, 1);
    pkb_free(f->st, p);
    assert_int_equal(fx_stats(f)->mem.pkb_in_use, 0);
}

static void test_put_push_pull_trim_move_the_view(void **state)
{
    struct fixture *f = *state;
    struct pkb *p = pkb_alloc(f->st, PKB_SMALL);
    size_t tail0 = pkb_tailroom(p);

    uint8_t *payload = pkb_put(p, 10);
    memset(payload, 0xaa, 10);
    assert_ptr_equal(payload, p->data);
    assert_int_equal(p->len, 10);
    assert_int_equal(pkb_tailroom(p), tail0 - 10);

    uint8_t *hdr = pkb_push(p, 20);
    memset(hdr, 0x45, 20);
    assert_ptr_equal(hdr, p->data);
    assert_ptr_equal(hdr + 20, payload);
    assert_int_equal(p->len, 30);
    assert_int_equal(pkb_headroom(p), PKB_HEADROOM - 20);
    assert_int_equal(pkb_tailroom(p), tail0 - 10); /* push takes from the front only */

    pkb_pull(p, 20);
    assert_ptr_equal(p->data, payload);
    assert_int_equal(p->len, 10);
    assert_int_equal(p->data[0], 0xaa);

    pkb_trim(p, 4);
    assert_int_equal(p->len, 4);
    pkb_trim(p, 100); /* trimming never lengthens */
    assert_int_equal(p->len, 4);

    uint8_t *more = pkb_put(p, 2);
    assert_ptr_equal(more, p->data + 4);
    assert_int_equal(p->len, 6);
    pkb_free(f->st, p);
}

static void test_push_whole_headroom_reaches_buffer_start(void **state)
{
    struct fixture *f = *state;
    struct pkb *p = pkb_alloc(f->st, PKB_SMALL);
    uint8_t *h = pkb_push(p, PKB_HEADROOM);
    assert_ptr_equal(h, p->buf);
    assert_int_equal(pkb_headroom(p), 0);
    assert_int_equal(p->len, PKB_HEADROOM);
    pkb_free(f->st, p);
}

/* --- pools --- */

static void test_alloc_for_picks_the_pool_that_fits(void **state)
{
    struct fixture *f = *state;
    struct pkb *small = pkb_alloc_for(f->st, 1500);
    assert_non_null(small);
    assert_int_equal(small->size, PKB_SMALL);
    struct pkb *large = pkb_alloc_for(f->st, 20000);
    assert_non_null(large);
    assert_int_equal(large->size, PKB_LARGE);
    assert_true(pkb_tailroom(large) >= 20000);
    assert_null(pkb_alloc_for(f->st, 200000));
    pkb_free(f->st, small);
    pkb_free(f->st, large);
    assert_int_equal(fx_stats(f)->mem.pkb_in_use, 0);
}

static void test_small_pool_exhaustion_returns_null_and_counts(void **state)
{
    struct fixture *f = *state;
    struct tapir_config cfg;
    fx_config(&cfg);
    cfg.pkb_frames = 8;
    fx_restart(f, &cfg);
    struct pkb *held[8];
    for (int i = 0; i < 8; i++) {
        held[i] = pkb_alloc(f->st, PKB_SMALL);
        assert_non_null(held[i]);
    }
    assert_int_equal(fx_stats(f)->mem.pkb_exhausted, 0);
    assert_null(pkb_alloc(f->st, PKB_SMALL));
    assert_null(pkb_alloc(f->st, PKB_SMALL));
    assert_int_equal(fx_stats(f)->mem.pkb_exhausted, 2);
    assert_int_equal(fx_stats(f)->mem.pkb_in_use, 8);

    /* One back, one out again, with no new allocation. */
    uint64_t allocs = fx_stats(f)->mem.allocs;
    pkb_free(f->st, held[3]);
    held[3] = pkb_alloc(f->st, PKB_SMALL);
    assert_non_null(held[3]);
    assert_int_equal(fx_stats(f)->mem.allocs, allocs);
    for (int i = 0; i < 8; i++)
        pkb_free(f->st, held[i]);
    assert_int_equal(fx_stats(f)->mem.pkb_in_use, 0);
    assert_int_equal(fx_stats(f)->mem.pkb_in_use_max, 8);
}

static void test_large_pool_exhaustion_returns_null_and_counts(void **state)
{
    struct fixture *f = *state;
    struct tapir_config cfg;
    fx_config(&cfg);
    cfg.pkb_large_frames = 2;
    fx_restart(f, &cfg);
    struct pkb *a = pkb_alloc(f->st, PKB_LARGE), *b = pkb_alloc(f->st, PKB_LARGE);
    assert_non_null(a);
    assert_non_null(b);
    assert_null(pkb_alloc(f->st, PKB_LARGE));
    assert_int_equal(fx_stats(f)->mem.pkb_exhausted, 1);
    /* The small pool is separate and still serves. */
    struct pkb *c = pkb_alloc(f->st, PKB_SMALL);
    assert_non_null(c);
    pkb_free(f->st, a);
    pkb_free(f->st, b);
    pkb_free(f->st, c);
}

static void test_input_with_pool_empty_drops_frame_as_no_buffer(void **state)
{
    struct fixture *f = *state;
    struct tapir_config cfg;
    fx_config(&cfg);
    cfg.pkb_frames = 8;
    fx_restart(f, &cfg);
    fx_learn_gateway(f);
    struct pkb *held[8];
    for (int i = 0; i < 8; i++)
        assert_non_null(held[i] = pkb_alloc(f->st, PKB_SMALL));
    uint8_t icmp[16], frame[64];
    struct fx_ip ip = fx_ip_default();
    size_t n = fx_ip_build(frame + 14, &ip, icmp, fx_icmp_echo(icmp, 1, 1, NULL, 0));
    n = fx_eth(frame, fx_our_mac, fx_gw_mac, 0x0800, frame + 14, n);
    uint64_t rx = fx_stats(f)->eth.rx_frames;
    assert_int_equal(fx_inject(f, frame, n), -ENOBUFS);
    assert_int_equal(fx_stats(f)->eth.drop_no_buffer, 1);
    assert_int_equal(fx_stats(f)->eth.rx_frames, rx + 1);
    fx_expect_none(f);
    for (int i = 0; i < 8; i++)
        pkb_free(f->st, held[i]);
    /* With buffers back, the same frame is answered. */
    fx_inject(f, frame, n);
    assert_int_equal(fx_as_icmp(fx_expect_one(f), NULL).type, 0);
}

static void test_buffers_are_reused_after_warm_up(void **state)
{
    struct fixture *f = *state;
    struct pkb *held[32];
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < 32; i++)
            assert_non_null(held[i] = pkb_alloc(f->st, i % 4 ? PKB_SMALL : PKB_LARGE));
        for (int i = 0; i < 32; i++)
            pkb_free(f->st, held[i]);
    }
    uint64_t allocs = fx_stats(f)->mem.allocs;
    for (int round = 0; round < 1000; round++) {
        for (int i = 0; i < 32; i++)
            held[i] = pkb_alloc(f->st, i % 4 ? PKB_SMALL : PKB_LARGE);
        for (int i = 31; i >= 0; i--)
            pkb_free(f->st, held[i]);
    }
    assert_int_equal(fx_stats(f)->mem.allocs, allocs);
    assert_int_equal(fx_stats(f)->mem.pkb_in_use, 0);
    assert_int_equal(fx_stats(f)->mem.pkb_in_use_max, 32);
}

static void test_pool_grows_only_to_what_was_used_at_once(void **state)
{
    struct fixture *f = *state;
    uint64_t allocs0 = fx_stats(f)->mem.allocs;
    struct pkb *a = pkb_alloc(f->st, PKB_SMALL);
    struct pkb *b = pkb_alloc(f->st, PKB_SMALL);
    assert_int_equal(fx_stats(f)->mem.allocs, allocs0 + 2);
    pkb_free(f->st, a);
    pkb_free(f->st, b);
    for (int i = 0; i < 100; i++)
        pkb_free(f->st, pkb_alloc(f->st, PKB_SMALL));
    assert_int_equal(fx_stats(f)->mem.allocs, allocs0 + 2);
}

/* --- queues --- */

static void test_queue_is_fifo_and_purge_returns_buffers(void **state)
{
    struct fixture *f = *state;
    struct pkb_queue q = {0};
    struct pkb *p[5];
    for (int i = 0; i < 5; i++) {
        p[i] = pkb_alloc(f->st, PKB_SMALL);
        pkb_queue_push(&q, p[i]);
    }
    assert_int_equal(q.count, 5);
    assert_ptr_equal(pkb_queue_pop(&q), p[0]);
    assert_ptr_equal(pkb_queue_pop(&q), p[1]);
    assert_int_equal(q.count, 3);
    pkb_free(f->st, p[0]);
    pkb_free(f->st, p[1]);
    pkb_queue_purge(f->st, &q);
    assert_int_equal(q.count, 0);
    assert_null(pkb_queue_pop(&q));
    assert_int_equal(fx_stats(f)->mem.pkb_in_use, 0);
    /* A queue emptied by pops takes pushes again. */
    struct pkb *x = pkb_alloc(f->st, PKB_SMALL);
    pkb_queue_push(&q, x);
    assert_ptr_equal(q.head, x);
    assert_ptr_equal(q.tail, x);
    assert_ptr_equal(pkb_queue_pop(&q), x);
    assert_null(q.tail);
    pkb_free(f->st, x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX_TEST(test_fresh_buffer_has_headroom_and_room_for_an_mtu_frame),
        FX_TEST(test_put_push_pull_trim_move_the_view),
        FX_TEST(test_push_whole_headroom_reaches_buffer_start),
        FX_TEST(test_alloc_for_picks_the_pool_that_fits),
        FX_TEST(test_small_pool_exhaustion_returns_null_and_counts),
        FX_TEST(test_large_pool_exhaustion_returns_null_and_counts),
        FX_TEST(test_input_with_pool_empty_drops_frame_as_no_buffer),
        FX_TEST(test_buffers_are_reused_after_warm_up),
        FX_TEST(test_pool_grows_only_to_what_was_used_at_once),
        FX_TEST(test_queue_is_fifo_and_purge_returns_buffers),
    };
    return cmocka_run_group_tests_name("pkb", tests, NULL, NULL);
}
