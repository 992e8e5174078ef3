/* SPDX-License-Identifier: MIT */
/* wire.c: the simulation link. Frames in flight sit in a min-heap per receiving end, ordered
 * by arrival time (and send order, so equal times stay FIFO); faults come from the wire's own
 * seeded PRNG, so a seed replays the same losses exactly. In virtual time wire_run moves the
 * clock; in real time each end's host thread takes its frames when they are due. */
#include "wire.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

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

/* Frames on their way to one end. */
struct wire_queue {
    struct wire_frame *heap;
    unsigned count;
};

struct wire {
    struct wire_faults faults;
    uint64_t rng;
    uint64_t now_us;
    uint64_t next_order;
    struct tapir_stack *ends[2];
    struct wire_queue q[2];     /* by receiving end */
    unsigned cap;               /* frames in flight, both ways together */
    struct wire_stats stats;
    struct wire_end ctx[2];     /* the driver ctx of each end */
    bool realtime;
    pthread_mutex_t lock;       /* real time: the hosts' threads share the wire */
    int rx_fd[2];               /* real time: eventfds, readable when frames wait */
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
    w->cap = max_in_flight ? max_in_flight : 1;
    for (int i = 0; i < 2; i++)
        w->q[i].heap = calloc(w->cap, sizeof(*w->q[i].heap));
    if (!w->q[0].heap || !w->q[1].heap) {
        free(w->q[0].heap);
        free(w->q[1].heap);
        free(w);
        return NULL;
    }
    w->rx_fd[0] = w->rx_fd[1] = -1;
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
    for (int e = 0; e < 2; e++) {
        for (unsigned i = 0; i < w->q[e].count; i++)
            free(w->q[e].heap[i].data);
        free(w->q[e].heap);
        if (w->rx_fd[e] >= 0)
            close(w->rx_fd[e]);
    }
    if (w->realtime)
        pthread_mutex_destroy(&w->lock);
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

static void heap_push(struct wire_queue *q, struct wire_frame f)
{
    unsigned i = q->count++;
    while (i > 0 && frame_before(&f, &q->heap[(i - 1) / 2])) {
        q->heap[i] = q->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    q->heap[i] = f;
}

static struct wire_frame heap_pop(struct wire_queue *q)
{
    struct wire_frame top = q->heap[0], last = q->heap[--q->count];
    unsigned i = 0;
    for (;;) {
        unsigned c = 2 * i + 1;
        if (c >= q->count)
            break;
        if (c + 1 < q->count && frame_before(&q->heap[c + 1], &q->heap[c]))
            c++;
        if (!frame_before(&q->heap[c], &last))
            break;
        q->heap[i] = q->heap[c];
        i = c;
    }
    if (q->count)
        q->heap[i] = last;
    return top;
}

static uint64_t monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Puts one copy of the frame on the link, maybe corrupted, maybe held back. */
static void wire_enqueue(struct wire *w, int to_end, const void *frame, size_t len)
{
    if (w->q[0].count + w->q[1].count == w->cap) {
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
    /* A real link's frame check sequence would catch a flipped bit anywhere in the frame;
     * this one flips bits only past the Ethernet header of IPv4 frames, as if an error had
     * slipped past it, to exercise the IP, ICMP, UDP and TCP checksums. (ARP has no
     * checksum of its own, so corrupting it would only teach a stack wrong addresses.) */
    bool ipv4 = len > 14 && f.data[12] == 0x08 && f.data[13] == 0x00;
    if (ipv4 && wire_chance(w, w->faults.corrupt_ppm)) {
        uint64_t r = wire_rand(w);
        f.data[14 + r % (len - 14)] ^= (uint8_t)(1u << (r >> 32) % 8);
        w->stats.corrupted++;
    }
    if (w->faults.reorder_us && wire_chance(w, w->faults.reorder_ppm)) {
        f.arrive_us += 1 + wire_rand(w) % w->faults.reorder_us;
        w->stats.reordered++;
    }
    heap_push(&w->q[to_end], f);
}

static void wire_put(struct wire *w, int from, const void *frame, size_t len)
{
    w->stats.sent++;
    if (wire_chance(w, w->faults.loss_ppm)) {
        w->stats.lost++;
        return; /* lost on the wire: the sender cannot tell */
    }
    wire_enqueue(w, !from, frame, len);
    if (wire_chance(w, w->faults.dup_ppm)) {
        w->stats.duplicated++;
        wire_enqueue(w, !from, frame, len);
    }
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
    const struct wire_queue *a = &w->q[0], *b = &w->q[1];
    if (!a->count)
        return b->count ? 1 : -1;
    if (!b->count)
        return 0;
    return frame_before(&b->heap[0], &a->heap[0]) ? 1 : 0;
}

void wire_run(struct wire *w, uint64_t until_us, const int *stop)
{
    while (!(stop && *stop)) {
        int e = wire_next_end(w);
        uint64_t next = e >= 0 ? w->q[e].heap[0].arrive_us : UINT64_MAX;
        for (int i = 0; i < 2; i++)
            if (w->ends[i])
                next = min_u64(next, tapir_next_deadline(w->ends[i]));
        if (next > until_us)
            break;
        if (next > w->now_us)
            w->now_us = next;
        while ((e = wire_next_end(w)) >= 0 && w->q[e].heap[0].arrive_us <= w->now_us) {
            struct wire_frame f = heap_pop(&w->q[e]);
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
    struct wire_queue *q = &w->q[e->end];
    uint64_t drained;
    ssize_t n = read(w->rx_fd[e->end], &drained, sizeof(drained));
    (void)n;
    int count = 0;
    for (;;) {
        pthread_mutex_lock(&w->lock);
        bool due = q->count && q->heap[0].arrive_us <= now_us;
        struct wire_frame f = due ? heap_pop(q) : (struct wire_frame){0};
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
    uint64_t t = w->q[e->end].count ? w->q[e->end].heap[0].arrive_us : UINT64_MAX;
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
