/* SPDX-License-Identifier: MIT */
/* faults.c: the shared fault model (see faults.h): a frame's fate from a seeded splitmix64,
 * a bottleneck that serializes frames at a fixed rate behind a bounded queue, and the heap of
 * frames held until they are due. */
#include "faults.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ETH_HDR_BYTES 14
#define FULL_FRAME_BYTES 1514u  /* an Ethernet frame carrying 1500 bytes of IP */
#define DEFAULT_QUEUE_FRAMES 100u
#define NS_PER_S 1000000000ull

void faults_init(struct fault_model *m, const struct faults *cfg, uint64_t seed)
{
    memset(m, 0, sizeof(*m));
    m->cfg = *cfg;
    m->rng = seed;
}

static uint64_t faults_rand(struct fault_model *m)
{
    uint64_t z = (m->rng += 0x9e3779b97f4a7c15ull); /* splitmix64, as the stack uses */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A probability of zero draws nothing, so turning a fault off leaves the others' draws. */
static bool faults_chance(struct fault_model *m, uint32_t ppm)
{
    return ppm && faults_rand(m) % 1000000u < ppm;
}

uint64_t faults_queue_bytes(const struct faults *cfg)
{
    uint64_t bytes = cfg->queue_bytes;
    if (!bytes) {
        bytes = (uint64_t)DEFAULT_QUEUE_FRAMES * FULL_FRAME_BYTES;
        /* rate x RTT, in bytes; the division first keeps it in range up to 100 Gbit/s x 60 s */
        uint64_t bdp = cfg->rate_bps / 8 * (2 * cfg->delay_us / 1000u) / 1000u;
        if (bdp > bytes)
            bytes = bdp;
    }
    return bytes < FAULTS_QUEUE_MAX_BYTES ? bytes : FAULTS_QUEUE_MAX_BYTES;
}

/* Nanoseconds to serialize len bytes at rate_bps, rounded up. */
static uint64_t tx_time_ns(uint64_t len, uint64_t rate_bps)
{
    return (len * 8 * NS_PER_S + rate_bps - 1) / rate_bps;
}

/* The bottleneck: false when the frame finds the queue full (drop-tail). Otherwise sets
 * *depart_us to when its last bit leaves. The queue's backlog is measured in time: what is
 * still to be serialized (busy_until - now) plus this frame must fit in the time the bound
 * takes to drain, so no per-frame bookkeeping is needed. */
static bool faults_serialize(struct fault_model *m, struct fault_path *path, uint64_t now_us,
                             size_t len, uint64_t *depart_us)
{
    uint64_t rate = m->cfg.rate_bps;
    if (!rate) {
        *depart_us = now_us;
        return true;
    }
    uint64_t now_ns = now_us * 1000u;
    uint64_t start_ns = path->busy_until_ns > now_ns ? path->busy_until_ns : now_ns;
    uint64_t tx_ns = tx_time_ns(len, rate);
    uint64_t bound_ns = tx_time_ns(faults_queue_bytes(&m->cfg), rate);
    if (start_ns - now_ns + tx_ns > bound_ns)
        return false;
    path->busy_until_ns = start_ns + tx_ns;
    *depart_us = (path->busy_until_ns + 999u) / 1000u;
    return true;
}

/* One copy on its way: maybe corrupted, maybe held back. The draws' order is wire.c's. */
static void faults_place(struct fault_model *m, uint64_t depart_us, const uint8_t *frame,
                         size_t len, unsigned room, struct fault_verdict *v)
{
    if (v->copies >= room) {
        m->stats.overflow++;
        return;
    }
    struct fault_copy c = {.due_us = depart_us + m->cfg.delay_us};
    /* A real link's frame check sequence would catch a flipped bit anywhere in the frame;
     * this one flips bits only past the Ethernet header of IPv4 frames, as if an error had
     * slipped past it, to exercise the IP, ICMP, UDP and TCP checksums. (ARP has no
     * checksum of its own, so corrupting it would only teach a stack wrong addresses.) */
    bool ipv4 = len > ETH_HDR_BYTES && frame[12] == 0x08 && frame[13] == 0x00;
    if (ipv4 && faults_chance(m, m->cfg.corrupt_ppm)) {
        uint64_t r = faults_rand(m);
        c.flip_at = ETH_HDR_BYTES + r % (len - ETH_HDR_BYTES);
        c.flip_mask = (uint8_t)(1u << (r >> 32) % 8);
        m->stats.corrupted++;
    }
    if (m->cfg.reorder_us && faults_chance(m, m->cfg.reorder_ppm)) {
        c.due_us += 1 + faults_rand(m) % m->cfg.reorder_us;
        m->stats.reordered++;
    }
    v->copy[v->copies++] = c;
}

void faults_decide(struct fault_model *m, struct fault_path *path, uint64_t now_us,
                   const uint8_t *frame, size_t len, unsigned room, struct fault_verdict *v)
{
    v->copies = 0;
    m->stats.sent++;
    uint64_t depart_us;
    if (!faults_serialize(m, path, now_us, len, &depart_us)) {
        m->stats.queue_drops++;
        return;
    }
    if (faults_chance(m, m->cfg.loss_ppm)) {
        m->stats.lost++;
        return; /* lost on the wire, after the bottleneck: the sender cannot tell */
    }
    faults_place(m, depart_us, frame, len, room, v);
    if (faults_chance(m, m->cfg.dup_ppm)) {
        m->stats.duplicated++;
        faults_place(m, depart_us, frame, len, room, v);
    }
}

/* ---- Held frames ------------------------------------------------------------------------ */

#define QUEUE_FIRST_ALLOC 64u

int fault_queue_init(struct fault_queue *q, unsigned cap)
{
    memset(q, 0, sizeof(*q));
    q->cap = cap ? cap : 1;
    q->alloc = q->cap < QUEUE_FIRST_ALLOC ? q->cap : QUEUE_FIRST_ALLOC;
    q->heap = calloc(q->alloc, sizeof(*q->heap));
    return q->heap ? 0 : -ENOMEM;
}

void fault_queue_free(struct fault_queue *q)
{
    for (unsigned i = 0; i < q->count; i++)
        free(q->heap[i].data);
    free(q->heap);
    memset(q, 0, sizeof(*q));
}

/* The heap grows by doubling, up to cap: an idle link holds little. */
static int fault_queue_grow(struct fault_queue *q)
{
    unsigned alloc = q->alloc > q->cap / 2 ? q->cap : q->alloc * 2;
    struct fault_frame *heap = realloc(q->heap, alloc * sizeof(*heap));
    if (!heap)
        return -ENOMEM;
    q->heap = heap;
    q->alloc = alloc;
    return 0;
}

int fault_queue_push(struct fault_queue *q, const struct fault_copy *c, uint64_t order,
                     const uint8_t *frame, size_t len)
{
    if (fault_queue_full(q))
        return -ENOBUFS;
    if (q->count == q->alloc && fault_queue_grow(q) < 0)
        return -ENOMEM;
    struct fault_frame f = {.due_us = c->due_us, .order = order, .len = len,
                            .data = malloc(len ? len : 1)};
    if (!f.data)
        return -ENOMEM;
    memcpy(f.data, frame, len);
    if (c->flip_mask && c->flip_at < len)
        f.data[c->flip_at] ^= c->flip_mask;
    unsigned i = q->count++;
    while (i > 0 && fault_frame_before(&f, &q->heap[(i - 1) / 2])) {
        q->heap[i] = q->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    q->heap[i] = f;
    q->bytes += len;
    return 0;
}

struct fault_frame fault_queue_pop(struct fault_queue *q)
{
    struct fault_frame top = q->heap[0], last = q->heap[--q->count];
    unsigned i = 0;
    for (;;) {
        unsigned c = 2 * i + 1;
        if (c >= q->count)
            break;
        if (c + 1 < q->count && fault_frame_before(&q->heap[c + 1], &q->heap[c]))
            c++;
        if (!fault_frame_before(&q->heap[c], &last))
            break;
        q->heap[i] = q->heap[c];
        i = c;
    }
    if (q->count)
        q->heap[i] = last;
    q->bytes -= top.len;
    return top;
}
