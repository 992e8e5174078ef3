/* SPDX-License-Identifier: MIT */
/* pkb.c: packet buffer pools and the push/pull operations that let layers share one buffer. */
#include "pkb.h"

#include <assert.h>
#include <stdlib.h>

#include "core.h"

static void pool_init(struct pkb_pool *pool, unsigned max, uint32_t cap_bytes)
{
    pool->free = NULL;
    pool->created = 0;
    pool->max = max;
    pool->cap_bytes = cap_bytes;
}

void pkb_pools_init(struct tapir_stack *st)
{
    /* A small buffer holds a whole frame at the MTU plus headroom; round to 64 bytes. */
    uint32_t small_bytes = PKB_HEADROOM + 14 + 4 + st->cfg.mtu_bytes;
    small_bytes = (small_bytes + 63u) & ~63u;
    pool_init(&st->pkb_small, st->cfg.pkb_frames, small_bytes);
    pool_init(&st->pkb_large, st->cfg.pkb_large_frames, PKB_HEADROOM + 14 + 65536);
}

static void pool_release(struct tapir_stack *st, struct pkb_pool *pool)
{
    while (pool->free) {
        struct pkb *p = pool->free;
        pool->free = p->next;
        tapir_mem_free(st, p);
    }
}

void pkb_pools_free(struct tapir_stack *st)
{
    pool_release(st, &st->pkb_small);
    pool_release(st, &st->pkb_large);
}

static struct pkb *pool_take(struct tapir_stack *st, struct pkb_pool *pool, enum pkb_size size)
{
    struct pkb *p = pool->free;
    if (p) {
        pool->free = p->next;
    } else {
        if (pool->created >= pool->max) {
            st->stats.mem.pkb_exhausted++;
            return NULL;
        }
        /* The header and its storage in one allocation; it is never returned to libc until
         * the stack is freed. */
        p = tapir_mem_alloc(st, sizeof(*p) + pool->cap_bytes);
        if (!p) {
            st->stats.mem.pkb_exhausted++;
            return NULL;
        }
        pool->created++;
        p->buf = (uint8_t *)(p + 1);
        p->cap = pool->cap_bytes;
        p->size = (uint8_t)size;
    }
    p->next = NULL;
    p->data = p->buf + PKB_HEADROOM;
    p->len = 0;
    st->stats.mem.pkb_in_use++;
    if (st->stats.mem.pkb_in_use > st->stats.mem.pkb_in_use_max)
        st->stats.mem.pkb_in_use_max = st->stats.mem.pkb_in_use;
    return p;
}

struct pkb *pkb_alloc(struct tapir_stack *st, enum pkb_size size)
{
    if (size == PKB_LARGE)
        return pool_take(st, &st->pkb_large, PKB_LARGE);
    return pool_take(st, &st->pkb_small, PKB_SMALL);
}

struct pkb *pkb_alloc_for(struct tapir_stack *st, size_t len_bytes)
{
    if (PKB_HEADROOM + len_bytes <= st->pkb_small.cap_bytes)
        return pkb_alloc(st, PKB_SMALL);
    if (PKB_HEADROOM + len_bytes <= st->pkb_large.cap_bytes)
        return pkb_alloc(st, PKB_LARGE);
    return NULL;
}

void pkb_free(struct tapir_stack *st, struct pkb *p)
{
    if (!p)
        return;
    struct pkb_pool *pool = p->size == PKB_LARGE ? &st->pkb_large : &st->pkb_small;
    assert(st->stats.mem.pkb_in_use > 0);
    st->stats.mem.pkb_in_use--;
    p->next = pool->free;
    pool->free = p;
}

uint8_t *pkb_push(struct pkb *p, size_t n)
{
    assert(pkb_headroom(p) >= n);
    p->data -= n;
    p->len += (uint32_t)n;
    return p->data;
}

void pkb_pull(struct pkb *p, size_t n)
{
    assert(p->len >= n);
    p->data += n;
    p->len -= (uint32_t)n;
}

uint8_t *pkb_put(struct pkb *p, size_t n)
{
    assert(pkb_tailroom(p) >= n);
    uint8_t *tail = p->data + p->len;
    p->len += (uint32_t)n;
    return tail;
}

void pkb_trim(struct pkb *p, size_t n)
{
    if (n < p->len)
        p->len = (uint32_t)n;
}

void pkb_queue_push(struct pkb_queue *q, struct pkb *p)
{
    p->next = NULL;
    if (q->tail)
        q->tail->next = p;
    else
        q->head = p;
    q->tail = p;
    q->count++;
}

struct pkb *pkb_queue_pop(struct pkb_queue *q)
{
    struct pkb *p = q->head;
    if (!p)
        return NULL;
    q->head = p->next;
    if (!q->head)
        q->tail = NULL;
    q->count--;
    p->next = NULL;
    return p;
}

void pkb_queue_purge(struct tapir_stack *st, struct pkb_queue *q)
{
    struct pkb *p;
    while ((p = pkb_queue_pop(q)))
        pkb_free(st, p);
}
