/* SPDX-License-Identifier: MIT */
/* timer.h: one-shot timers on a binary min-heap, so the next deadline is always at the top and
 * arming or cancelling costs O(log n) with no scan of all timers. */
#ifndef TAPIR_TIMER_H
#define TAPIR_TIMER_H

#include <stdbool.h>
#include <stdint.h>

struct tapir_stack;
struct tapir_timer;

typedef void (*tapir_timer_fn)(struct tapir_stack *st, struct tapir_timer *t);

struct tapir_timer {
    uint64_t deadline_us;
    uint32_t heap_index; /* position in the heap; TIMER_IDLE when not armed */
    tapir_timer_fn fire;
};

#define TIMER_IDLE UINT32_MAX

struct timer_heap {
    struct tapir_timer **slots;
    uint32_t count, cap;
};

void timer_init(struct tapir_timer *t, tapir_timer_fn fire);
/* Arms (or re-arms) t to fire at deadline_us. Returns -ENOMEM when the heap cannot grow. */
int timer_arm(struct tapir_stack *st, struct tapir_timer *t, uint64_t deadline_us);
void timer_cancel(struct tapir_stack *st, struct tapir_timer *t);
static inline bool timer_armed(const struct tapir_timer *t) { return t->heap_index != TIMER_IDLE; }

/* Fires every timer due at or before now_us, earliest first. A timer that re-arms itself for
 * a deadline at or before now_us fires again in the same call, so callbacks always re-arm
 * into the future (now + a positive interval). */
void timers_run(struct tapir_stack *st, uint64_t now_us);
uint64_t timers_next_deadline(const struct timer_heap *h);
void timer_heap_free(struct tapir_stack *st, struct timer_heap *h);

#endif
