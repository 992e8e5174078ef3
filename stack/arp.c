/* SPDX-License-Identifier: MIT */
/* arp.c: ARP for IPv4 over Ethernet (RFC 826, RFC 1122 §2.3.2): the bounded cache with its
 * RFC 826 merge, answering requests for our address, and resolving next hops for output with a
 * bounded queue of frames per neighbour, retries, and a counted give-up. */
#include "arp.h"
#include "icmp.h"

#include <errno.h>

#include "bytes.h"
#include "core.h"

#define ARP_PKT_LEN 28u
#define ARP_HTYPE_ETHERNET 1u
#define ARP_OP_REQUEST 1u
#define ARP_OP_REPLY 2u

/* A parsed, host-order view of an ARP packet. */
struct arp_pkt {
    uint16_t op;
    uint8_t sha[ETH_ADDR_LEN], tha[ETH_ADDR_LEN];
    uint32_t spa, tpa;
};

static const char *arp_state_name(uint8_t s)
{
    static const char *const names[] = {"FREE", "INCOMPLETE", "REACHABLE"};
    return s < 3 ? names[s] : "?";
}

/* --- the cache: hash for lookup, LRU list for eviction, free list for slots --- */

static unsigned arp_bucket(const struct arp_cache *c, uint32_t ip)
{
    return (ip * 2654435761u) >> 16 & c->bucket_mask;
}

static struct arp_entry *arp_lookup(struct tapir_stack *st, uint32_t ip)
{
    struct arp_cache *c = &st->arp;
    for (struct arp_entry *e = c->buckets[arp_bucket(c, ip)]; e; e = e->hash_next)
        if (e->ip == ip)
            return e;
    return NULL;
}

static void lru_unlink(struct arp_cache *c, struct arp_entry *e)
{
    if (e->lru_prev)
        e->lru_prev->lru_next = e->lru_next;
    else
        c->lru_head = e->lru_next;
    if (e->lru_next)
        e->lru_next->lru_prev = e->lru_prev;
    else
        c->lru_tail = e->lru_prev;
    e->lru_prev = e->lru_next = NULL;
}

static void lru_push_front(struct arp_cache *c, struct arp_entry *e)
{
    e->lru_prev = NULL;
    e->lru_next = c->lru_head;
    if (c->lru_head)
        c->lru_head->lru_prev = e;
    else
        c->lru_tail = e;
    c->lru_head = e;
}

static void hash_unlink(struct arp_cache *c, struct arp_entry *e)
{
    struct arp_entry **pp = &c->buckets[arp_bucket(c, e->ip)];
    while (*pp != e)
        pp = &(*pp)->hash_next;
    *pp = e->hash_next;
    e->hash_next = NULL;
}

/* Returns an entry to the free list; frames still waiting on it are dropped and counted. */
static void arp_entry_release(struct tapir_stack *st, struct arp_entry *e, uint64_t *drop_counter)
{
    struct arp_cache *c = &st->arp;
    *drop_counter += e->pending.count;
    c->pending_total -= e->pending.count;
    pkb_queue_purge(st, &e->pending);
    timer_cancel(st, &e->timer);
    hash_unlink(c, e);
    lru_unlink(c, e);
    e->state = ARP_FREE;
    e->lru_next = c->free_list;
    c->free_list = e;
}

static struct arp_entry *arp_entry_new(struct tapir_stack *st, uint32_t ip)
{
    struct arp_cache *c = &st->arp;
    if (!c->free_list) {
        /* Bounded cache: the neighbour learned longest ago makes room. */
        struct arp_entry *victim = c->lru_tail;
        st->stats.arp.entries_evicted++;
        arp_entry_release(st, victim, &st->stats.arp.drop_cache_full);
    }
    struct arp_entry *e = c->free_list;
    c->free_list = e->lru_next;
    e->ip = ip;
    e->state = ARP_FREE; /* the caller moves it on with arp_set_state() */
    e->lru_next = NULL;
    unsigned b = arp_bucket(c, ip);
    e->hash_next = c->buckets[b];
    c->buckets[b] = e;
    lru_push_front(c, e);
    return e;
}

static void arp_set_state(struct tapir_stack *st, struct arp_entry *e, uint8_t state)
{
    char a[IP_STR_LEN];
    if (e->state != state)
        tapir_trace(st, TAPIR_TRACE_ARP, "arp: %s %s -> %s", ip_str(e->ip, a),
                    arp_state_name(e->state), arp_state_name(state));
    e->state = state;
}

static void arp_timer_fired(struct tapir_stack *st, struct tapir_timer *t);

int arp_init(struct tapir_stack *st)
{
    struct arp_cache *c = &st->arp;
    unsigned n = st->cfg.arp_cache_entries, buckets = 16;
    while (buckets < n)
        buckets *= 2;
    c->entries = tapir_mem_alloc(st, n * sizeof(*c->entries));
    c->buckets = tapir_mem_alloc(st, buckets * sizeof(*c->buckets));
    if (!c->entries || !c->buckets)
        return -ENOMEM;
    c->bucket_mask = buckets - 1;
    for (unsigned i = n; i-- > 0;) {
        struct arp_entry *e = &c->entries[i];
        timer_init(&e->timer, arp_timer_fired);
        e->lru_next = c->free_list;
        c->free_list = e;
    }
    return 0;
}

void arp_free(struct tapir_stack *st)
{
    struct arp_cache *c = &st->arp;
    if (c->entries) {
        for (unsigned i = 0; i < st->cfg.arp_cache_entries; i++)
            pkb_queue_purge(st, &c->entries[i].pending);
    }
    tapir_mem_free(st, c->entries);
    tapir_mem_free(st, c->buckets);
    c->entries = NULL;
    c->buckets = NULL;
}

/* --- building and sending ARP packets --- */

static void arp_send(struct tapir_stack *st, uint16_t op, const uint8_t *eth_dst,
                     const uint8_t *tha, uint32_t tpa, uint32_t spa)
{
    struct pkb *p = pkb_alloc(st, PKB_SMALL);
    if (!p)
        return; /* counted in mem.pkb_exhausted */
    uint8_t *a = pkb_put(p, ARP_PKT_LEN);
    put_be16(a, ARP_HTYPE_ETHERNET);
    put_be16(a + 2, ETH_TYPE_IPV4);
    a[4] = ETH_ADDR_LEN;
    a[5] = 4;
    put_be16(a + 6, op);
    memcpy(a + 8, st->cfg.mac, ETH_ADDR_LEN);
    put_be32(a + 14, spa);
    memcpy(a + 18, tha, ETH_ADDR_LEN);
    put_be32(a + 24, tpa);
    eth_output(st, p, eth_dst, ETH_TYPE_ARP);
}

static void arp_send_request(struct tapir_stack *st, uint32_t target)
{
    static const uint8_t unknown[ETH_ADDR_LEN];
    char a[IP_STR_LEN], b[IP_STR_LEN];
    tapir_trace(st, TAPIR_TRACE_ARP, "arp: who-has %s tell %s", ip_str(target, a),
                ip_str(st->ip_addr, b));
    st->stats.arp.tx_requests++;
    arp_send(st, ARP_OP_REQUEST, eth_broadcast, unknown, target, st->ip_addr);
}

void arp_announce(struct tapir_stack *st)
{
    /* A gratuitous request: sender and target are both our address, so every neighbour
     * that already knows us updates its entry (RFC 826 merge; RFC 5227 §3). */
    static const uint8_t unknown[ETH_ADDR_LEN];
    char a[IP_STR_LEN];
    tapir_trace(st, TAPIR_TRACE_ARP, "arp: announce %s", ip_str(st->ip_addr, a));
    st->stats.arp.tx_gratuitous++;
    arp_send(st, ARP_OP_REQUEST, eth_broadcast, unknown, st->ip_addr, st->ip_addr);
}

/* --- input --- */

static bool arp_parse(struct tapir_stack *st, const struct pkb *p, struct arp_pkt *out)
{
    struct tapir_arp_stats *s = &st->stats.arp;
    const uint8_t *a = p->data;
    if (p->len < ARP_PKT_LEN) {
        s->drop_truncated++;
        return false;
    }
    if (get_be16(a) != ARP_HTYPE_ETHERNET || get_be16(a + 2) != ETH_TYPE_IPV4 ||
        a[4] != ETH_ADDR_LEN || a[5] != 4) {
        s->drop_bad_format++;
        return false;
    }
    out->op = get_be16(a + 6);
    memcpy(out->sha, a + 8, ETH_ADDR_LEN);
    out->spa = get_be32(a + 14);
    memcpy(out->tha, a + 18, ETH_ADDR_LEN);
    out->tpa = get_be32(a + 24);
    if (out->op != ARP_OP_REQUEST && out->op != ARP_OP_REPLY) {
        s->drop_bad_op++;
        return false;
    }
    if (eth_is_group(out->sha) || eth_is_zero(out->sha) || ipv4_is_multicast(out->spa) ||
        ipv4_is_broadcast(st, out->spa)) {
        s->drop_bad_sender++;
        return false;
    }
    if (out->spa == st->ip_addr && out->spa != 0) {
        s->drop_addr_conflict++;
        return false;
    }
    return true;
}

/* The neighbour answered: remember its address for arp_reachable_us, send what waited. */
static void arp_entry_resolved(struct tapir_stack *st, struct arp_entry *e, const uint8_t *mac)
{
    memcpy(e->mac, mac, ETH_ADDR_LEN);
    arp_set_state(st, e, ARP_REACHABLE);
    lru_unlink(&st->arp, e);
    lru_push_front(&st->arp, e);
    timer_arm(st, &e->timer, st->now_us + st->cfg.arp_reachable_us);
    struct pkb *q;
    st->arp.pending_total -= e->pending.count;
    while ((q = pkb_queue_pop(&e->pending)))
        eth_output(st, q, e->mac, ETH_TYPE_IPV4);
}

void arp_input(struct tapir_stack *st, struct pkb *p)
{
    struct tapir_arp_stats *s = &st->stats.arp;
    struct arp_pkt a;
    if (!arp_parse(st, p, &a)) {
        tapir_trace(st, TAPIR_TRACE_ARP, "arp: drop malformed, %u bytes", p->len);
        pkb_free(st, p);
        return;
    }
    if (a.op == ARP_OP_REQUEST)
        s->rx_requests++;
    else
        s->rx_replies++;
    char sa[IP_STR_LEN], ta[IP_STR_LEN];
    tapir_trace(st, TAPIR_TRACE_ARP, "arp: in %s %s from %s", a.op == ARP_OP_REQUEST ? "who-has" : "reply",
                ip_str(a.tpa, ta), ip_str(a.spa, sa));

    /* RFC 826 "Packet Reception": update the sender if we know it (merge), whoever the
     * packet was for; only if it was for us, learn a new sender. A sender of 0.0.0.0 is an
     * RFC 5227 probe and teaches nothing. */
    bool merged = false;
    struct arp_entry *e = a.spa ? arp_lookup(st, a.spa) : NULL;
    if (e) {
        if (e->state == ARP_REACHABLE)
            s->entries_updated++;
        else
            s->entries_added++;
        arp_entry_resolved(st, e, a.sha);
        merged = true;
    }
    if (a.tpa != st->ip_addr) {
        if (!merged)
            s->drop_not_for_us++;
        pkb_free(st, p);
        return;
    }
    if (!merged && a.spa) {
        e = arp_entry_new(st, a.spa);
        s->entries_added++;
        arp_entry_resolved(st, e, a.sha);
    }
    if (a.op == ARP_OP_REQUEST) {
        tapir_trace(st, TAPIR_TRACE_ARP, "arp: reply %s is-at ours to %s", ip_str(a.tpa, ta),
                    ip_str(a.spa, sa));
        s->tx_replies++;
        arp_send(st, ARP_OP_REPLY, a.sha, a.sha, a.spa, st->ip_addr);
    }
    pkb_free(st, p);
}

/* --- output --- */

static void arp_timer_fired(struct tapir_stack *st, struct tapir_timer *t)
{
    struct arp_entry *e = (struct arp_entry *)((char *)t - offsetof(struct arp_entry, timer));
    char a[IP_STR_LEN];
    if (e->state == ARP_INCOMPLETE && e->retries_left > 0) {
        e->retries_left--;
        arp_send_request(st, e->ip);
        timer_arm(st, &e->timer, st->now_us + st->cfg.arp_retry_us);
        return;
    }
    if (e->state == ARP_INCOMPLETE) {
        /* RFC 1122 §2.3.2.1: give up on a neighbour that does not answer, and drop what
         * waited for it, rather than queue forever. */
        tapir_trace(st, TAPIR_TRACE_ARP, "arp: %s did not answer, dropping %u frames",
                    ip_str(e->ip, a), e->pending.count);
        st->stats.arp.resolve_failed++;
        /* Their senders hear of it, as from a host-unreachable error (Linux does the same on
         * a neighbour's failure): a connect gives up now, not after two minutes of SYNs.
         * The entry goes first, so whatever the senders do next starts afresh. */
        struct pkb_queue waiting = e->pending;
        e->pending = (struct pkb_queue){0};
        st->arp.pending_total -= waiting.count;
        st->stats.arp.drop_unresolved += waiting.count;
        arp_entry_release(st, e, &st->stats.arp.drop_unresolved);
        for (struct pkb *p = waiting.head; p; p = p->next)
            icmp_local_unreachable(st, p->data, p->len);
        pkb_queue_purge(st, &waiting);
        return;
    }
    tapir_trace(st, TAPIR_TRACE_ARP, "arp: %s aged out", ip_str(e->ip, a));
    st->stats.arp.entries_expired++;
    arp_entry_release(st, e, &st->stats.arp.drop_unresolved);
}

void arp_output(struct tapir_stack *st, struct pkb *p, uint32_t next_hop)
{
    if (ipv4_is_broadcast(st, next_hop)) {
        eth_output(st, p, eth_broadcast, ETH_TYPE_IPV4);
        return;
    }
    struct arp_entry *e = arp_lookup(st, next_hop);
    if (e && e->state == ARP_REACHABLE) {
        eth_output(st, p, e->mac, ETH_TYPE_IPV4);
        return;
    }
    if (!e) {
        e = arp_entry_new(st, next_hop);
        arp_set_state(st, e, ARP_INCOMPLETE);
        e->retries_left = st->cfg.arp_retries - 1;
        arp_send_request(st, next_hop);
        timer_arm(st, &e->timer, st->now_us + st->cfg.arp_retry_us);
    }
    if (e->pending.count >= st->cfg.arp_pending_frames ||
        st->arp.pending_total >= st->cfg.arp_pending_total) {
        st->stats.arp.drop_pending_full++;
        pkb_free(st, p);
        return;
    }
    st->arp.pending_total++;
    pkb_queue_push(&e->pending, p);
}
