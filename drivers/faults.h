/* SPDX-License-Identifier: MIT */
/* faults.h: the seeded fault model the links share: loss, duplication, reordering, delay,
 * corruption and a rate-limited bottleneck with a bounded drop-tail queue, decided frame by
 * frame from a PRNG of its own, and a queue of the frames it holds back until they are due.
 * drivers/wire.c (two stacks in one process) and drivers/tap_fault.c (tapir against the
 * kernel) both use it, so a fault means the same on either link. */
#ifndef TAPIR_FAULTS_H
#define TAPIR_FAULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the link does to frames. Probabilities are in parts per million of frames; all zero
 * is a perfect link with no delay and no rate limit. */
struct faults {
    uint32_t loss_ppm;
    uint32_t dup_ppm;
    uint32_t reorder_ppm;   /* such a frame is held back by up to reorder_us more */
    uint32_t corrupt_ppm;   /* one random bit flipped past the Ethernet header of IPv4 frames */
    uint64_t delay_us;      /* one-way propagation delay */
    uint64_t reorder_us;
    uint64_t rate_bps;      /* the bottleneck's rate in bits per second; 0: unlimited */
    uint64_t queue_bytes;   /* its queue, drop-tail; 0: faults_queue_bytes() picks */
};

/* Counters, per model (a link's two directions together). */
struct fault_stats {
    uint64_t sent;          /* frames offered */
    uint64_t lost;          /* lost on the wire (loss_ppm) */
    uint64_t duplicated;
    uint64_t reordered;
    uint64_t corrupted;
    uint64_t queue_drops;   /* dropped at the tail of a full bottleneck queue */
    uint64_t overflow;      /* no room left to hold a frame (the link's frame cap, memory) */
};

/* A configuration and the PRNG that draws its faults: one per link, so that one seed
 * replays the link's every decision in the order frames are offered to it. */
struct fault_model {
    struct faults cfg;
    uint64_t rng;
    struct fault_stats stats;
};

/* One direction of a link: its bottleneck is busy serializing until busy_until_ns. */
struct fault_path {
    uint64_t busy_until_ns;
};

/* The fate of one copy of a frame. */
struct fault_copy {
    uint64_t due_us;        /* when it arrives at the far end */
    size_t flip_at;         /* the corrupted byte, if flip_mask is non-zero */
    uint8_t flip_mask;      /* the bit flipped there; 0: intact */
};

/* The fate of one frame: none (lost or dropped), one or two copies. */
struct fault_verdict {
    unsigned copies;
    struct fault_copy copy[2];
};

/* The largest queue bound: 1 GiB keeps the model's nanosecond arithmetic in 64 bits. */
#define FAULTS_QUEUE_MAX_BYTES (1ull << 30)

void faults_init(struct fault_model *m, const struct faults *cfg, uint64_t seed);
/* The queue bound in force: cfg->queue_bytes, or when that is 0 the larger of 100 full-size
 * (1514-byte) frames and one bandwidth-delay product (rate_bps x 2 x delay_us), the usual
 * rule of thumb for a router's buffer; at most FAULTS_QUEUE_MAX_BYTES. Used only with a
 * rate: without one nothing queues at the bottleneck. */
uint64_t faults_queue_bytes(const struct faults *cfg);

/* Decides the fate of a frame of len bytes offered at now_us to path. In order:
 *   - with a rate, the bottleneck: dropped if its queue would pass the bound; otherwise it
 *     departs at max(now, the end of the frame before) + len * 8 / rate;
 *   - lost (loss_ppm), else one copy, and a second if duplicated (dup_ppm);
 *   - each copy: maybe one bit flipped (corrupt_ppm, IPv4 frames only) and maybe held back
 *     1..reorder_us more (reorder_ppm); it arrives delay_us after it departs.
 * room is how many copies the caller can still hold; a copy past it is counted as overflow
 * (and draws nothing). Without a rate the draws are exactly wire.c's before the model was
 * shared, so old seeds replay. */
void faults_decide(struct fault_model *m, struct fault_path *path, uint64_t now_us,
                   const uint8_t *frame, size_t len, unsigned room, struct fault_verdict *v);

/* A frame held on the link, and a min-heap of them by (due_us, order). */
struct fault_frame {
    uint64_t due_us;
    uint64_t order;         /* the caller's sequence number: equal due times stay FIFO */
    size_t len;
    uint8_t *data;
};

struct fault_queue {
    struct fault_frame *heap;
    unsigned count, alloc;
    unsigned cap;           /* at most this many frames */
    uint64_t bytes;         /* the frames' lengths together */
};

/* An empty queue of at most cap frames (cap >= 1); 0 or -ENOMEM (nothing to free then). */
int fault_queue_init(struct fault_queue *q, unsigned cap);
void fault_queue_free(struct fault_queue *q);
static inline bool fault_queue_full(const struct fault_queue *q) { return q->count >= q->cap; }
/* Room for how many more frames. */
static inline unsigned fault_queue_room(const struct fault_queue *q) { return q->cap - q->count; }
/* Holds a copy of frame as c says (its due time, its flipped bit). 0, -ENOBUFS when full,
 * or -ENOMEM. */
int fault_queue_push(struct fault_queue *q, const struct fault_copy *c, uint64_t order,
                     const uint8_t *frame, size_t len);
/* The earliest frame (NULL when empty), and taking it: the caller frees its data. */
static inline const struct fault_frame *fault_queue_peek(const struct fault_queue *q)
{
    return q->count ? &q->heap[0] : NULL;
}
struct fault_frame fault_queue_pop(struct fault_queue *q);
/* When the earliest frame is due, or UINT64_MAX when there is none. */
static inline uint64_t fault_queue_next_us(const struct fault_queue *q)
{
    return q->count ? q->heap[0].due_us : UINT64_MAX;
}
/* Whether a is due before b (or at the same time and offered first). */
static inline bool fault_frame_before(const struct fault_frame *a, const struct fault_frame *b)
{
    return a->due_us < b->due_us || (a->due_us == b->due_us && a->order < b->order);
}

#endif
