/* SPDX-License-Identifier: MIT */
/* pkb.h: the packet buffer. One frame in one buffer, with headroom so each layer of output
 * prepends its header in place; buffers come from two pools that grow on first use and then
 * stay, so the steady state allocates nothing. */
#ifndef TAPIR_PKB_H
#define TAPIR_PKB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tapir_stack;

/* Room reserved in front of the data for Ethernet + IPv4 + the largest transport header. */
#define PKB_HEADROOM 128u

enum pkb_size { PKB_SMALL, PKB_LARGE };

struct pkb {
    struct pkb *next;  /* link in whichever queue holds it: a free list, an ARP pending queue */
    uint8_t *buf;      /* start of the storage */
    uint8_t *data;     /* first byte of the current layer's view */
    uint32_t len;      /* bytes from data to the end of the frame */
    uint32_t cap;      /* storage size in bytes */
    uint8_t size;      /* enum pkb_size: which pool it returns to */
    uint16_t peer_port; /* set by a transport that queues the pkb: who sent it (host order) */
    uint32_t peer_addr;
};

struct pkb_pool {
    struct pkb *free;    /* buffers ready for reuse */
    unsigned created;    /* buffers allocated so far */
    unsigned max;        /* never more than this */
    uint32_t cap_bytes;  /* storage per buffer */
};

/* A FIFO of pkbs, linked through pkb->next. */
struct pkb_queue {
    struct pkb *head, *tail;
    unsigned count;
};

void pkb_pools_init(struct tapir_stack *st);
void pkb_pools_free(struct tapir_stack *st);

/* A buffer with PKB_HEADROOM reserved and len 0, or NULL when the pool is exhausted. */
struct pkb *pkb_alloc(struct tapir_stack *st, enum pkb_size size);
/* The smallest pool that fits headroom + len_bytes, or NULL. */
struct pkb *pkb_alloc_for(struct tapir_stack *st, size_t len_bytes);
void pkb_free(struct tapir_stack *st, struct pkb *p);

static inline size_t pkb_headroom(const struct pkb *p) { return (size_t)(p->data - p->buf); }
static inline size_t pkb_tailroom(const struct pkb *p)
{
    return p->cap - pkb_headroom(p) - p->len;
}

/* Prepend n bytes of header and return a pointer to them. The caller guarantees the headroom:
 * output paths only run on buffers from pkb_alloc, which reserve PKB_HEADROOM. */
uint8_t *pkb_push(struct pkb *p, size_t n);
/* Drop n bytes of header from the front (n <= len). */
void pkb_pull(struct pkb *p, size_t n);
/* Append n bytes at the tail and return a pointer to them (n <= tailroom). */
uint8_t *pkb_put(struct pkb *p, size_t n);
/* Cut the frame to n bytes (Ethernet padding, IP total length). */
void pkb_trim(struct pkb *p, size_t n);

void pkb_queue_push(struct pkb_queue *q, struct pkb *p);
struct pkb *pkb_queue_pop(struct pkb_queue *q);
void pkb_queue_purge(struct tapir_stack *st, struct pkb_queue *q);

#endif
