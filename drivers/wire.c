/* SPDX-License-Identifier: MIT */
/* wire.c: the simulation link. Frames in flight sit in a min-heap ordered by arrival time (and
 * send order, so equal times stay FIFO); faults come from the wire's own seeded PRNG, so a
 * seed replays the same losses exactly. */
#include "wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct wire_frame {
    uint64_t arrive_us;
    uint64_t order;
    int to_end;
    size_t len;
    uint8_t *data;
};

struct wire_end {
    struct wire *w;
    int end;
};

struct wire {
    struct wire_faults faults;
    uint64_t rng;
    uint64_t now_us;
    uint64_t next_order;
    struct tapir_stack *ends[2];
    struct wire_frame *heap;
    unsigned count, cap;
    struct wire_stats stats;
    struct wire_end ctx[2]; /* the driver ctx of each end */
};

static uint64_t wire_rand(struct wire *w)
{
    uint64_t z = (w->rng += 0x9e3779b97f4a7c15ull); /* splitmix64, as the stack uses */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int wire_chance(struct wire *w, uint32_t ppm)
{
    return ppm && wire_rand(w) % 1000000u < ppm;
}

struct wire *wire_new(const struct wire_faults *faults, uint64_t seed, unsigned max_in_flight)
{
    struct wire *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->heap = calloc(max_in_flight ? max_in_flight : 1, sizeof(*w->heap));
    if (!w->heap) {
        free(w);
        return NULL;
    }
    w->cap = max_in_flight ? max_in_flight : 1;
    w->faults = *faults;
    w->rng = seed;
    for (int i = 0; i < 2; i++) {
        w->ctx[i].w = w;
        w->ctx[i].end = i;
    }
    return w;
}

void wire_free(struct wire *w)
{
    if (!w)
        return;
    for (unsigned i = 0; i < w->count; i++)
        free(w->heap[i].data);
    free(w->heap);
    free(w);
}

void wire_attach(struct wire *w, int end, struct tapir_stack *st) { w->ends[end & 1] = st; }
void wire_set_faults(struct wire *w, const struct wire_faults *faults) { w->faults = *faults; }
void wire_set_now(struct wire *w, uint64_t now_us) { w->now_us = now_us; }
uint64_t wire_now(const struct wire *w) { return w->now_us; }
const struct wire_stats *wire_stats(const struct wire *w) { return &w->stats; }

static int frame_before(const struct wire_frame *a, const struct wire_frame *b)
{
    return a->arrive_us < b->arrive_us || (a->arrive_us == b->arrive_us && a->order < b->order);
}

static void heap_push(struct wire *w, struct wire_frame f)
{
    unsigned i = w->count++;
    while (i > 0 && frame_before(&f, &w->heap[(i - 1) / 2])) {
        w->heap[i] = w->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    w->heap[i] = f;
}

static struct wire_frame heap_pop(struct wire *w)
{
    struct wire_frame top = w->heap[0], last = w->heap[--w->count];
    unsigned i = 0;
    for (;;) {
        unsigned c = 2 * i + 1;
        if (c >= w->count)
            break;
        if (c + 1 < w->count && frame_before(&w->heap[c + 1], &w->heap[c]))
            c++;
        if (!frame_before(&w->heap[c], &last))
            break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (w->count)
        w->heap[i] = last;
    return top;
}

/* Puts one copy of the frame on the link, maybe corrupted, maybe held back. */
static void wire_enqueue(struct wire *w, int to_end, const void *frame, size_t len)
{
    if (w->count == w->cap) {
        w->stats.overflow++;
        return;
    }
    struct wire_frame f = {.arrive_us = w->now_us + w->faults.delay_us,
                           .order = w->next_order++,
                           .to_end = to_end,
                           .len = len,
                           .data = malloc(len ? len : 1)};
    if (!f.data) {
        w->stats.overflow++;
        return;
    }
    memcpy(f.data, frame, len);
    if (len && wire_chance(w, w->faults.corrupt_ppm)) {
        uint64_t r = wire_rand(w);
        f.data[r % len] ^= (uint8_t)(1u << (r >> 32) % 8);
        w->stats.corrupted++;
    }
    if (w->faults.reorder_us && wire_chance(w, w->faults.reorder_ppm)) {
        f.arrive_us += 1 + wire_rand(w) % w->faults.reorder_us;
        w->stats.reordered++;
    }
    heap_push(w, f);
}

static int wire_send(void *ctx, const void *frame, size_t len)
{
    const struct wire_end *e = ctx;
    struct wire *w = e->w;
    int from = e->end;
    w->stats.sent++;
    if (wire_chance(w, w->faults.loss_ppm)) {
        w->stats.lost++;
        return 0; /* lost on the wire: the sender cannot tell */
    }
    wire_enqueue(w, !from, frame, len);
    if (wire_chance(w, w->faults.dup_ppm)) {
        w->stats.duplicated++;
        wire_enqueue(w, !from, frame, len);
    }
    return 0;
}

struct tapir_driver wire_driver(struct wire *w, int end)
{
    return (struct tapir_driver){.send = wire_send, .ctx = &w->ctx[end & 1]};
}

static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

void wire_run(struct wire *w, uint64_t until_us, const int *stop)
{
    while (!(stop && *stop)) {
        uint64_t next = w->count ? w->heap[0].arrive_us : UINT64_MAX;
        for (int i = 0; i < 2; i++)
            if (w->ends[i])
                next = min_u64(next, tapir_next_deadline(w->ends[i]));
        if (next > until_us)
            break;
        if (next > w->now_us)
            w->now_us = next;
        while (w->count && w->heap[0].arrive_us <= w->now_us) {
            struct wire_frame f = heap_pop(w);
            if (w->ends[f.to_end]) {
                w->stats.delivered++;
                tapir_input(w->ends[f.to_end], f.data, f.len, w->now_us);
            }
            free(f.data);
        }
        for (int i = 0; i < 2; i++)
            if (w->ends[i])
                tapir_timers(w->ends[i], w->now_us);
    }
    if (!(stop && *stop) && until_us > w->now_us)
        w->now_us = until_us;
}
