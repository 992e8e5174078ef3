/* SPDX-License-Identifier: MIT */
/* wire.c: the simulation link. Frames in flight sit in a min-heap per receiving end, ordered
 * by arrival time (and send order, so equal times stay FIFO); their faults come from the
 * shared model (faults.c) with the wire's own seeded PRNG, so a seed replays the same losses
 * exactly, and each direction has a bottleneck of its own when the faults set a rate. In
 * virtual time wire_run moves the clock; in real time each end's host thread takes its
 * frames when they are due. */
#include "wire.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

struct wire_end {
    struct wire *w;
    int end;
};

struct wire {
    struct fault_model faults;  /* one PRNG for both directions, so a seed replays */
    struct fault_path path[2];  /* each direction's bottleneck, by sending end */
    uint64_t now_us;
    uint64_t next_order;
    struct tapir_stack *ends[2];
    struct fault_queue q[2];    /* frames in flight, by receiving end */
    unsigned cap;               /* frames in flight, both ways together */
    struct wire_stats stats;
    struct wire_end ctx[2];     /* the driver ctx of each end */
    bool realtime;
    pthread_mutex_t lock;       /* real time: the hosts' threads share the wire */
    int rx_fd[2];               /* real time: eventfds, readable when frames wait */
};

struct wire *wire_new(const struct wire_faults *faults, uint64_t seed, unsigned max_in_flight)
{
    struct wire *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->cap = max_in_flight ? max_in_flight : 1;
    int rc0 = fault_queue_init(&w->q[0], w->cap), rc1 = fault_queue_init(&w->q[1], w->cap);
    if (rc0 < 0 || rc1 < 0) {
        if (rc0 == 0)
            fault_queue_free(&w->q[0]);
        if (rc1 == 0)
            fault_queue_free(&w->q[1]);
        free(w);
        return NULL;
    }
    w->rx_fd[0] = w->rx_fd[1] = -1;
    faults_init(&w->faults, faults, seed);
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
    for (int e = 0; e < 2; e++) {
        fault_queue_free(&w->q[e]);
        if (w->rx_fd[e] >= 0)
            close(w->rx_fd[e]);
    }
    if (w->realtime)
        pthread_mutex_destroy(&w->lock);
    free(w);
}

void wire_attach(struct wire *w, int end, struct tapir_stack *st) { w->ends[end & 1] = st; }
void wire_set_faults(struct wire *w, const struct wire_faults *faults) { w->faults.cfg = *faults; }
void wire_set_now(struct wire *w, uint64_t now_us) { w->now_us = now_us; }
uint64_t wire_now(const struct wire *w) { return w->now_us; }
const struct wire_stats *wire_stats(const struct wire *w) { return &w->stats; }

static uint64_t monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* The fault model's counters, where the tests read them. */
static void wire_sync_stats(struct wire *w)
{
    const struct fault_stats *f = &w->faults.stats;
    w->stats.sent = f->sent;
    w->stats.lost = f->lost;
    w->stats.duplicated = f->duplicated;
    w->stats.reordered = f->reordered;
    w->stats.corrupted = f->corrupted;
    w->stats.queue_drops = f->queue_drops;
    w->stats.overflow = f->overflow;
}

/* One frame onto the link from end `from`: the model decides its fate, and its copies (none,
 * one or two) join the other end's queue. */
static void wire_put(struct wire *w, int from, const void *frame, size_t len)
{
    struct fault_verdict v;
    unsigned in_flight = w->q[0].count + w->q[1].count;
    faults_decide(&w->faults, &w->path[from], w->now_us, frame, len, w->cap - in_flight, &v);
    for (unsigned i = 0; i < v.copies; i++)
        if (fault_queue_push(&w->q[!from], &v.copy[i], w->next_order++, frame, len) < 0)
            w->faults.stats.overflow++;
    wire_sync_stats(w);
}

static int wire_send(void *ctx, const void *frame, size_t len)
{
    const struct wire_end *e = ctx;
    struct wire *w = e->w;
    if (!w->realtime) {
        wire_put(w, e->end, frame, len);
        return 0;
    }
    pthread_mutex_lock(&w->lock);
    w->now_us = monotonic_us();
    wire_put(w, e->end, frame, len);
    pthread_mutex_unlock(&w->lock);
    uint64_t one = 1;
    ssize_t n = write(w->rx_fd[!e->end], &one, sizeof(one)); /* wake the other end */
    (void)n;
    return 0;
}

struct tapir_driver wire_driver(struct wire *w, int end)
{
    return (struct tapir_driver){.send = wire_send, .ctx = &w->ctx[end & 1]};
}

static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

/* The end whose next frame is due first (in send order at equal times), or -1. */
static int wire_next_end(const struct wire *w)
{
    const struct fault_frame *a = fault_queue_peek(&w->q[0]), *b = fault_queue_peek(&w->q[1]);
    if (!a)
        return b ? 1 : -1;
    if (!b)
        return 0;
    return fault_frame_before(b, a) ? 1 : 0;
}

void wire_run(struct wire *w, uint64_t until_us, const int *stop)
{
    while (!(stop && *stop)) {
        int e = wire_next_end(w);
        uint64_t next = e >= 0 ? fault_queue_next_us(&w->q[e]) : UINT64_MAX;
        for (int i = 0; i < 2; i++)
            if (w->ends[i])
                next = min_u64(next, tapir_next_deadline(w->ends[i]));
        if (next > until_us)
            break;
        if (next > w->now_us)
            w->now_us = next;
        while ((e = wire_next_end(w)) >= 0 && fault_queue_next_us(&w->q[e]) <= w->now_us) {
            struct fault_frame f = fault_queue_pop(&w->q[e]);
            if (w->ends[e]) {
                w->stats.delivered++;
                tapir_input(w->ends[e], f.data, f.len, w->now_us);
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

int wire_set_realtime(struct wire *w)
{
    for (int i = 0; i < 2; i++)
        if ((w->rx_fd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
            return -errno;
    pthread_mutex_init(&w->lock, NULL);
    w->realtime = true;
    return 0;
}

/* Hands the end's due frames to its stack, one at a time, with the wire unlocked while the
 * stack runs (its replies come back through wire_send). */
static int wire_receive(void *ctx, struct tapir_stack *st, uint64_t now_us)
{
    const struct wire_end *e = ctx;
    struct wire *w = e->w;
    struct fault_queue *q = &w->q[e->end];
    uint64_t drained;
    ssize_t n = read(w->rx_fd[e->end], &drained, sizeof(drained));
    (void)n;
    int count = 0;
    for (;;) {
        pthread_mutex_lock(&w->lock);
        bool due = fault_queue_next_us(q) <= now_us;
        struct fault_frame f = due ? fault_queue_pop(q) : (struct fault_frame){0};
        if (due)
            w->stats.delivered++;
        pthread_mutex_unlock(&w->lock);
        if (!due)
            return count;
        tapir_input(st, f.data, f.len, now_us);
        free(f.data);
        count++;
    }
}

static uint64_t wire_next_rx(void *ctx)
{
    const struct wire_end *e = ctx;
    struct wire *w = e->w;
    pthread_mutex_lock(&w->lock);
    uint64_t t = fault_queue_next_us(&w->q[e->end]);
    pthread_mutex_unlock(&w->lock);
    return t;
}

struct tapir_link wire_link(struct wire *w, int end)
{
    struct wire_end *e = &w->ctx[end & 1];
    return (struct tapir_link){.driver = {.send = wire_send, .ctx = e},
                               .rx_fd = w->rx_fd[end & 1],
                               .receive = wire_receive,
                               .next_rx_us = wire_next_rx,
                               .rx_ctx = e};
}

struct wire_stats wire_stats_now(struct wire *w)
{
    if (w->realtime)
        pthread_mutex_lock(&w->lock);
    struct wire_stats s = w->stats;
    if (w->realtime)
        pthread_mutex_unlock(&w->lock);
    return s;
}
