/* SPDX-License-Identifier: MIT */
/* test_timer.c: the timer heap: ordering, cancel, re-arm, the next deadline, timers that re-arm. */
#include "fixture.h"

#include "core.h"
#include "timer.h"

/* A test timer: records when it fired into a shared log. */
struct fire_log {
    int ids[4096];
    uint64_t at_us[4096];
    unsigned n;
};

struct tt {
    struct tapir_timer t; /* first, so the callback can cast back */
    int id;
    struct fire_log *log;
    uint64_t period_us; /* > 0: re-arm itself this far after its own deadline */
    unsigned periods_left;
    struct tt *arms; /* another timer to arm when this one fires */
    uint64_t arms_at_us;
};

static void tt_fired(struct tapir_stack *st, struct tapir_timer *t)
{
    struct tt *x = (struct tt *)t;
    assert_false(timer_armed(t)); /* disarmed before its callback runs */
    assert_true(x->log->n < 4096);
    x->log->ids[x->log->n] = x->id;
    x->log->at_us[x->log->n] = st->now_us;
    x->log->n++;
    if (x->period_us && x->periods_left) {
        x->periods_left--;
        assert_int_equal(timer_arm(st, t, t->deadline_us + x->period_us), 0);
    }
    if (x->arms)
        assert_int_equal(timer_arm(st, &x->arms->t, x->arms_at_us), 0);
}

static void tt_init(struct tt *x, int id, struct fire_log *log)
{
    memset(x, 0, sizeof(*x));
    timer_init(&x->t, tt_fired);
    x->id = id;
    x->log = log;
}

/* --- ordering --- */

static void test_nothing_armed_means_no_deadline(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(tapir_next_deadline(f->st), UINT64_MAX);
    struct fire_log log = {0};
    struct tt a;
    tt_init(&a, 1, &log);
    assert_false(timer_armed(&a.t));
    timer_arm(f->st, &a.t, f->now_us + 5);
    assert_true(timer_armed(&a.t));
    assert_int_equal(tapir_next_deadline(f->st), f->now_us + 5);
    fx_advance(f, 5);
    assert_int_equal(log.n, 1);
    assert_int_equal(tapir_next_deadline(f->st), UINT64_MAX);
}

static void test_many_timers_fire_in_deadline_order_once_each(void **state)
{
    struct fixture *f = *state;
    enum { N = 1000 };
    static struct tt timers[N];
    static struct fire_log log;
    memset(&log, 0, sizeof(log));
    uint32_t x = 12345;
    uint64_t min_deadline = UINT64_MAX, max_deadline = 0;
    for (int i = 0; i < N; i++) {
        tt_init(&timers[i], i, &log);
        x = x * 1103515245u + 12345u;
        uint64_t d = f->now_us + 1 + (x >> 8) % 5000; /* many equal deadlines too */
        assert_int_equal(timer_arm(f->st, &timers[i].t, d), 0);
        if (d < min_deadline)
            min_deadline = d;
        if (d > max_deadline)
            max_deadline = d;
        assert_int_equal(tapir_next_deadline(f->st), min_deadline);
    }
    /* Step through: each call fires exactly the timers due. */
    uint64_t end = max_deadline;
    while (tapir_next_deadline(f->st) != UINT64_MAX) {
        uint64_t d = tapir_next_deadline(f->st);
        unsigned before = log.n;
        fx_advance_to(f, d);
        assert_true(log.n > before);
        for (unsigned k = before; k < log.n; k++)
            assert_int_equal(timers[log.ids[k]].t.deadline_us, d);
    }
    assert_int_equal(f->now_us, end);
    assert_int_equal(log.n, N);
    static bool seen[N];
    memset(seen, 0, sizeof(seen));
    for (unsigned k = 0; k < log.n; k++) {
        assert_false(seen[log.ids[k]]);
        seen[log.ids[k]] = true;
        if (k)
            assert_true(timers[log.ids[k - 1]].t.deadline_us <= timers[log.ids[k]].t.deadline_us);
    }
}

static void test_one_late_run_fires_all_due_timers_earliest_first(void **state)
{
    struct fixture *f = *state;
    struct fire_log log = {0};
    struct tt t[6];
    static const uint64_t d[6] = {50, 10, 40, 20, 30, 1000};
    for (int i = 0; i < 6; i++) {
        tt_init(&t[i], i, &log);
        timer_arm(f->st, &t[i].t, f->now_us + d[i]);
    }
    fx_advance(f, 45); /* 10, 20, 30, 40 are due; 50 and 1000 are not */
    assert_int_equal(log.n, 4);
    assert_int_equal(log.ids[0], 1);
    assert_int_equal(log.ids[1], 3);
    assert_int_equal(log.ids[2], 4);
    assert_int_equal(log.ids[3], 2);
    assert_int_equal(tapir_next_deadline(f->st), f->now_us + 5);
}

static void test_timer_due_exactly_now_fires_and_one_microsecond_later_does_not(void **state)
{
    struct fixture *f = *state;
    struct fire_log log = {0};
    struct tt a, b;
    tt_init(&a, 1, &log);
    tt_init(&b, 2, &log);
    timer_arm(f->st, &a.t, f->now_us + 100);
    timer_arm(f->st, &b.t, f->now_us + 101);
    fx_advance(f, 100);
    assert_int_equal(log.n, 1);
    assert_int_equal(log.ids[0], 1);
    assert_true(timer_armed(&b.t));
}

/* --- cancel and re-arm --- */

static void test_cancelled_timers_never_fire(void **state)
{
    struct fixture *f = *state;
    enum { N = 200 };
    static struct tt timers[N];
    struct fire_log log = {0};
    for (int i = 0; i < N; i++) {
        tt_init(&timers[i], i, &log);
        timer_arm(f->st, &timers[i].t, f->now_us + 1 + (uint64_t)((i * 37) % N));
    }
    /* Cancel the root first, then every third, then one twice, then an idle one. */
    struct tt *root = NULL;
    for (int i = 0; i < N; i++)
        if (timers[i].t.deadline_us == tapir_next_deadline(f->st))
            root = &timers[i];
    assert_non_null(root);
    timer_cancel(f->st, &root->t);
    assert_false(timer_armed(&root->t));
    int cancelled = 1;
    for (int i = 0; i < N; i += 3) {
        if (&timers[i] == root)
            continue;
        timer_cancel(f->st, &timers[i].t);
        timer_cancel(f->st, &timers[i].t);
        cancelled++;
    }
    struct tt idle;
    tt_init(&idle, -1, &log);
    timer_cancel(f->st, &idle.t);

    fx_run_until(f, f->now_us + 10 * N);
    assert_int_equal(log.n, N - cancelled);
    for (unsigned k = 0; k < log.n; k++) {
        assert_true(log.ids[k] % 3 != 0);
        assert_ptr_not_equal(&timers[log.ids[k]], root);
        if (k)
            assert_true(log.at_us[k - 1] <= log.at_us[k]);
    }
}

static void test_rearming_an_armed_timer_moves_it(void **state)
{
    struct fixture *f = *state;
    struct fire_log log = {0};
    struct tt a, b, c;
    tt_init(&a, 1, &log);
    tt_init(&b, 2, &log);
    tt_init(&c, 3, &log);
    timer_arm(f->st, &a.t, f->now_us + 100);
    timer_arm(f->st, &b.t, f->now_us + 200);
    timer_arm(f->st, &c.t, f->now_us + 300);
    /* Later: a moves behind c. */
    timer_arm(f->st, &a.t, f->now_us + 400);
    assert_int_equal(tapir_next_deadline(f->st), f->now_us + 200);
    /* Earlier: c moves to the front. */
    timer_arm(f->st, &c.t, f->now_us + 50);
    assert_int_equal(tapir_next_deadline(f->st), f->now_us + 50);
    uint64_t t0 = f->now_us;
    fx_run_until(f, t0 + 1000);
    assert_int_equal(log.n, 3); /* each once, not at its old deadline too */
    assert_int_equal(log.ids[0], 3);
    assert_int_equal(log.at_us[0], t0 + 50);
    assert_int_equal(log.ids[1], 2);
    assert_int_equal(log.ids[2], 1);
    assert_int_equal(log.at_us[2], t0 + 400);
}

/* --- timers that arm timers --- */

static void test_periodic_timer_rearms_itself_and_catches_up(void **state)
{
    struct fixture *f = *state;
    struct fire_log log = {0};
    struct tt p;
    tt_init(&p, 7, &log);
    p.period_us = 100;
    p.periods_left = 10;
    uint64_t t0 = f->now_us;
    timer_arm(f->st, &p.t, t0 + 100);
    fx_advance_to(f, t0 + 150);
    assert_int_equal(log.n, 1);
    assert_int_equal(tapir_next_deadline(f->st), t0 + 200);
    /* A late run fires the deadlines it slept through (200, 300, 400), each once, in order. */
    fx_advance_to(f, t0 + 450);
    assert_int_equal(log.n, 4);
    assert_int_equal(tapir_next_deadline(f->st), t0 + 500);
    /* It stops when it stops re-arming itself. */
    fx_advance_to(f, t0 + 100000);
    assert_int_equal(log.n, 11);
    assert_int_equal(tapir_next_deadline(f->st), UINT64_MAX);
}

static void test_firing_timer_can_arm_another_due_now_and_one_later(void **state)
{
    struct fixture *f = *state;
    struct fire_log log = {0};
    struct tt a, b, c;
    tt_init(&a, 1, &log);
    tt_init(&b, 2, &log);
    tt_init(&c, 3, &log);
    uint64_t t0 = f->now_us;
    a.arms = &b;
    a.arms_at_us = t0 + 10; /* already due by the time the run reaches it */
    b.arms = &c;
    b.arms_at_us = t0 + 500; /* not due in this run */
    timer_arm(f->st, &a.t, t0 + 5);
    fx_advance_to(f, t0 + 20);
    assert_int_equal(log.n, 2);
    assert_int_equal(log.ids[0], 1);
    assert_int_equal(log.ids[1], 2);
    assert_true(timer_armed(&c.t));
    assert_int_equal(tapir_next_deadline(f->st), t0 + 500);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX_TEST(test_nothing_armed_means_no_deadline),
        FX_TEST(test_many_timers_fire_in_deadline_order_once_each),
        FX_TEST(test_one_late_run_fires_all_due_timers_earliest_first),
        FX_TEST(test_timer_due_exactly_now_fires_and_one_microsecond_later_does_not),
        FX_TEST(test_cancelled_timers_never_fire),
        FX_TEST(test_rearming_an_armed_timer_moves_it),
        FX_TEST(test_periodic_timer_rearms_itself_and_catches_up),
        FX_TEST(test_firing_timer_can_arm_another_due_now_and_one_later),
    };
    return cmocka_run_group_tests_name("timer", tests, NULL, NULL);
}
