/* SPDX-License-Identifier: MIT */
/* timer.c: the stack's timer heap (ARP retries and ageing, reassembly timeouts, and later the
 * TCP timers). A heap rather than a wheel: tapir_next_deadline() must tell the driver loop the
 * exact next deadline, which the heap keeps at its root. */
#include "timer.h"

#include <errno.h>
#include <string.h>

#include "core.h"

void timer_init(struct tapir_timer *t, tapir_timer_fn fire)
{
    t->deadline_us = 0;
    t->heap_index = TIMER_IDLE;
    t->fire = fire;
}

static void heap_place(struct timer_heap *h, uint32_t i, struct tapir_timer *t)
{
    h->slots[i] = t;
    t->heap_index = i;
}

static void sift_up(struct timer_heap *h, uint32_t i)
{
    struct tapir_timer *t = h->slots[i];
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (h->slots[parent]->deadline_us <= t->deadline_us)
            break;
        heap_place(h, i, h->slots[parent]);
        i = parent;
    }
    heap_place(h, i, t);
}

static void sift_down(struct timer_heap *h, uint32_t i)
{
    struct tapir_timer *t = h->slots[i];
    for (;;) {
        uint32_t child = 2 * i + 1;
        if (child >= h->count)
            break;
        if (child + 1 < h->count &&
            h->slots[child + 1]->deadline_us < h->slots[child]->deadline_us)
            child++;
        if (t->deadline_us <= h->slots[child]->deadline_us)
            break;
        heap_place(h, i, h->slots[child]);
        i = child;
    }
    heap_place(h, i, t);
}

static int heap_grow(struct tapir_stack *st, struct timer_heap *h)
{
    uint32_t cap = h->cap ? h->cap * 2 : 64;
    struct tapir_timer **slots = tapir_mem_alloc(st, cap * sizeof(*slots));
    if (!slots)
        return -ENOMEM;
    if (h->count)
        memcpy(slots, h->slots, h->count * sizeof(*slots));
    tapir_mem_free(st, h->slots);
    h->slots = slots;
    h->cap = cap;
    return 0;
}

static void heap_remove(struct timer_heap *h, struct tapir_timer *t)
{
    uint32_t i = t->heap_index;
    struct tapir_timer *last = h->slots[--h->count];
    t->heap_index = TIMER_IDLE;
    if (last == t)
        return;
    heap_place(h, i, last);
    sift_down(h, i);
    sift_up(h, last->heap_index);
}

int timer_arm(struct tapir_stack *st, struct tapir_timer *t, uint64_t deadline_us)
{
    struct timer_heap *h = &st->timers;
    if (timer_armed(t))
        heap_remove(h, t);
    if (h->count == h->cap && heap_grow(st, h) < 0)
        return -ENOMEM;
    t->deadline_us = deadline_us;
    heap_place(h, h->count++, t);
    sift_up(h, t->heap_index);
    return 0;
}

void timer_cancel(struct tapir_stack *st, struct tapir_timer *t)
{
    if (timer_armed(t))
        heap_remove(&st->timers, t);
}

void timers_run(struct tapir_stack *st, uint64_t now_us)
{
    struct timer_heap *h = &st->timers;
    while (h->count && h->slots[0]->deadline_us <= now_us) {
        struct tapir_timer *t = h->slots[0];
        heap_remove(h, t);
        t->fire(st, t); /* may re-arm t or others */
    }
}

uint64_t timers_next_deadline(const struct timer_heap *h)
{
    return h->count ? h->slots[0]->deadline_us : UINT64_MAX;
}

void timer_heap_free(struct tapir_stack *st, struct timer_heap *h)
{
    tapir_mem_free(st, h->slots);
    h->slots = NULL;
    h->count = h->cap = 0;
}
