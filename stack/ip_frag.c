/* SPDX-License-Identifier: MIT */
/* ip_frag.c: IPv4 reassembly and fragmentation (RFC 791 §3.2 "Fragmentation and Reassembly",
 * RFC 1122 §3.3.2). Reassembly is bounded three ways: 65535 bytes per datagram, a fixed number
 * of datagrams in progress (the oldest is evicted), and a timeout. */
#include <errno.h>

#include "bytes.h"
#include "core.h"
#include "csum.h"
#include "icmp.h"
#include "ipv4.h"

#define FRAG_MAX_PAYLOAD (IPV4_MAX_TOTAL - IPV4_HDR_MIN)

static void frag_timer_fired(struct tapir_stack *st, struct tapir_timer *t);

int ipfrag_init(struct tapir_stack *st)
{
    struct ipfrag_table *ft = &st->frag;
    unsigned n = st->cfg.ipfrag_max_datagrams, buckets = 16;
    while (buckets < n)
        buckets *= 2;
    ft->slots = tapir_mem_alloc(st, n * sizeof(*ft->slots));
    ft->buckets = tapir_mem_alloc(st, buckets * sizeof(*ft->buckets));
    if (!ft->slots || !ft->buckets)
        return -ENOMEM;
    ft->bucket_mask = buckets - 1;
    for (unsigned i = n; i-- > 0;) {
        timer_init(&ft->slots[i].timer, frag_timer_fired);
        ft->slots[i].hash_next = ft->free_list;
        ft->free_list = &ft->slots[i];
    }
    return 0;
}

void ipfrag_free(struct tapir_stack *st)
{
    struct ipfrag_table *ft = &st->frag;
    for (unsigned i = 0; ft->slots && i < st->cfg.ipfrag_max_datagrams; i++)
        pkb_free(st, ft->slots[i].buf);
    tapir_mem_free(st, ft->slots);
    tapir_mem_free(st, ft->buckets);
    ft->slots = NULL;
    ft->buckets = NULL;
}

static unsigned frag_bucket(const struct ipfrag_table *ft, uint32_t src, uint32_t dst, uint16_t id,
                            uint8_t proto)
{
    uint32_t h = src * 2654435761u ^ dst * 2246822519u ^ (uint32_t)id << 8 ^ proto;
    return (h ^ h >> 15) & ft->bucket_mask;
}

/* RFC 791: a datagram is identified by source, destination, protocol and identification. */
static struct ipfrag_slot *frag_lookup(struct tapir_stack *st, const struct ip_in *ip)
{
    struct ipfrag_table *ft = &st->frag;
    struct ipfrag_slot *s = ft->buckets[frag_bucket(ft, ip->src, ip->dst, ip->id, ip->proto)];
    for (; s; s = s->hash_next)
        if (s->src == ip->src && s->dst == ip->dst && s->id == ip->id && s->proto == ip->proto)
            return s;
    return NULL;
}

static void frag_release(struct tapir_stack *st, struct ipfrag_slot *s)
{
    struct ipfrag_table *ft = &st->frag;
    struct ipfrag_slot **pp = &ft->buckets[frag_bucket(ft, s->src, s->dst, s->id, s->proto)];
    while (*pp != s)
        pp = &(*pp)->hash_next;
    *pp = s->hash_next;
    if (s->age_prev)
        s->age_prev->age_next = s->age_next;
    else
        ft->oldest = s->age_next;
    if (s->age_next)
        s->age_next->age_prev = s->age_prev;
    else
        ft->newest = s->age_prev;
    timer_cancel(st, &s->timer);
    pkb_free(st, s->buf);
    s->buf = NULL;
    s->in_use = false;
    s->hash_next = ft->free_list;
    ft->free_list = s;
    ft->in_use--;
}

static void frag_fail(struct tapir_stack *st, struct ipfrag_slot *s, uint64_t *counter,
                      const char *why)
{
    char a[IP_STR_LEN];
    (*counter)++;
    tapir_trace(st, TAPIR_TRACE_IP, "ip: reassembly of id %u from %s failed: %s", s->id,
                ip_str(s->src, a), why);
    frag_release(st, s);
}

static struct ipfrag_slot *frag_create(struct tapir_stack *st, const struct ip_in *ip)
{
    struct ipfrag_table *ft = &st->frag;
    if (!ft->free_list)
        frag_fail(st, ft->oldest, &st->stats.ip.frag_drop_evicted, "evicted");
    struct pkb *buf = pkb_alloc(st, PKB_LARGE);
    if (!buf)
        return NULL;
    struct ipfrag_slot *s = ft->free_list;
    ft->free_list = s->hash_next;
    s->in_use = true;
    s->src = ip->src;
    s->dst = ip->dst;
    s->id = ip->id;
    s->proto = ip->proto;
    s->payload_len = s->bytes_have = s->max_end = 0;
    s->first_len = 0;
    s->buf = buf;
    memset(s->have, 0, sizeof(s->have));
    unsigned b = frag_bucket(ft, ip->src, ip->dst, ip->id, ip->proto);
    s->hash_next = ft->buckets[b];
    ft->buckets[b] = s;
    s->age_next = NULL;
    s->age_prev = ft->newest;
    if (ft->newest)
        ft->newest->age_next = s;
    else
        ft->oldest = s;
    ft->newest = s;
    ft->in_use++;
    /* RFC 791 §3.2 / RFC 1122 §3.3.2: the timer starts with the first fragment to arrive and
     * is not restarted by later ones, so a trickle cannot hold the buffer forever. */
    timer_arm(st, &s->timer, st->now_us + st->cfg.ipfrag_timeout_us);
    return s;
}

static void frag_timer_fired(struct tapir_stack *st, struct tapir_timer *t)
{
    struct ipfrag_slot *s = (struct ipfrag_slot *)((char *)t - offsetof(struct ipfrag_slot, timer));
    /* RFC 1122 §3.3.2: Time Exceeded (code 1) only if fragment zero arrived; we quote its
     * header and first 8 bytes, which is all that ICMP needs. */
    if (s->first_len) {
        struct ip_in ip = {
            .src = s->src, .dst = s->dst, .proto = s->proto, .id = s->id,
            .hdr_len = (uint8_t)((s->first_hdr[0] & 0xfu) * 4u), .hdr = s->first_hdr,
            .to_broadcast = ipv4_is_broadcast(st, s->dst),
        };
        icmp_send_error(st, &ip, s->first_hdr + ip.hdr_len, s->first_len - ip.hdr_len,
                        ICMP_TIME_EXCEEDED, ICMP_EXC_FRAGTIME);
    }
    frag_fail(st, s, &st->stats.ip.frag_drop_timeout, "timed out");
}

/* Copies one fragment into place. Returns false when it contradicts bytes we already have:
 * overlapping fragments must agree (RFC 791 lets a retransmission overlap; a contradiction
 * is the signature of an evasion attack, RFC 1858, so the whole datagram goes). */
static bool frag_merge(struct ipfrag_slot *s, const uint8_t *data, uint32_t off, uint32_t end,
                       bool *added)
{
    uint8_t *payload = s->buf->data + IPV4_HDR_MIN;
    *added = false;
    for (uint32_t b = off / 8; b * 8 < end; b++) {
        uint32_t lo = b * 8, hi = lo + 8 < end ? lo + 8 : end;
        const uint8_t *src = data + (lo - off);
        if (s->have[b / 8] & (1u << (b % 8))) {
            if (memcmp(payload + lo, src, hi - lo) != 0)
                return false;
            continue;
        }
        s->have[b / 8] |= (uint8_t)(1u << (b % 8));
        memcpy(payload + lo, src, hi - lo);
        s->bytes_have += hi - lo;
        *added = true;
    }
    return true;
}

/* The datagram is whole: give it a plain 20-byte header and hand it up as if unfragmented. */
/* A reassembled datagram that fits in a frame-sized buffer moves into one: a socket queue
 * is charged by buffer, and the 64 KiB buffers are reassembly's, not a slow reader's. */
static struct pkb *frag_shrink(struct tapir_stack *st, struct pkb *p)
{
    if (p->len + PKB_HEADROOM > st->pkb_small.cap_bytes)
        return p;
    struct pkb *q = pkb_alloc(st, PKB_SMALL);
    if (!q)
        return p; /* keep the large one: the datagram is not lost for want of a copy */
    memcpy(pkb_put(q, p->len), p->data, p->len);
    pkb_free(st, p);
    return q;
}

static void frag_complete(struct tapir_stack *st, struct ipfrag_slot *s)
{
    struct pkb *p = s->buf;
    s->buf = NULL;
    p->len = IPV4_HDR_MIN + s->payload_len;
    const uint8_t *first = s->first_hdr;
    struct ip_out out = {.src = s->src, .dst = s->dst, .proto = s->proto, .ttl = first[8],
                         .tos = first[1]};
    ipv4_build_header(p->data, &out, (uint16_t)p->len, s->id, 0);
    p = frag_shrink(st, p);
    struct ip_in ip = {
        .src = s->src, .dst = s->dst, .id = s->id, .total_len = (uint16_t)p->len,
        .hdr_len = IPV4_HDR_MIN, .proto = s->proto, .ttl = first[8], .tos = first[1],
        .to_broadcast = ipv4_is_broadcast(st, s->dst), .hdr = p->data,
    };
    st->stats.ip.frag_reassembled++;
    tapir_trace(st, TAPIR_TRACE_IP, "ip: reassembled id %u, %u bytes", s->id, ip.total_len);
    frag_release(st, s);
    pkb_pull(p, IPV4_HDR_MIN);
    ipv4_deliver(st, p, &ip);
}

/* Checks a fragment's extent against itself and the datagram. Returns a drop counter or NULL. */
static uint64_t *frag_check_extent(struct tapir_stack *st, const struct ipfrag_slot *s,
                                   const struct ip_in *ip, uint32_t end)
{
    struct tapir_ip_stats *c = &st->stats.ip;
    if (!ip->more_fragments) {
        /* A second "last fragment" must end where the first did, and nothing seen may lie
         * beyond the end. */
        if ((s->payload_len && s->payload_len != end) || s->max_end > end)
            return &c->frag_drop_overlap;
    } else if (s->payload_len && end > s->payload_len) {
        return &c->frag_drop_bad_len;
    }
    return NULL;
}

void ipfrag_input(struct tapir_stack *st, struct pkb *p, const struct ip_in *ip)
{
    struct tapir_ip_stats *c = &st->stats.ip;
    uint32_t off = ip->frag_offset_bytes, len = p->len, end = off + len;
    c->frag_rx++;
    struct ipfrag_slot *s = frag_lookup(st, ip);
    /* RFC 791: every fragment but the last carries a multiple of 8 bytes. */
    if (ip->more_fragments && (len == 0 || len % 8 != 0)) {
        c->frag_drop_bad_len++;
        goto drop;
    }
    if (end > FRAG_MAX_PAYLOAD) { /* the "ping of death" */
        if (s)
            frag_fail(st, s, &c->frag_drop_too_big, "past 65535 bytes");
        else
            c->frag_drop_too_big++;
        goto drop;
    }
    if (!s && !(s = frag_create(st, ip))) {
        c->frag_drop_no_buffer++;
        goto drop;
    }
    uint64_t *bad = frag_check_extent(st, s, ip, end);
    bool added;
    if (!bad && !frag_merge(s, p->data, off, end, &added))
        bad = &c->frag_drop_overlap;
    if (bad) {
        frag_fail(st, s, bad, "inconsistent fragment");
        goto drop;
    }
    if (!added && !(!ip->more_fragments && !s->payload_len))
        c->frag_dup++; /* nothing new: not even the end of the datagram */
    if (!ip->more_fragments)
        s->payload_len = end;
    if (end > s->max_end)
        s->max_end = end;
    if (off == 0 && !s->first_len) {
        size_t keep = ip->hdr_len + (len < 8 ? len : 8);
        memcpy(s->first_hdr, ip->hdr, keep);
        s->first_len = (uint8_t)keep;
    }
    if (s->payload_len && s->bytes_have == s->payload_len && s->first_len)
        frag_complete(st, s);
drop:
    pkb_free(st, p);
}

int ipfrag_output(struct tapir_stack *st, struct pkb *p, uint32_t next_hop)
{
    struct tapir_ip_stats *c = &st->stats.ip;
    const uint8_t *hdr = p->data;
    uint16_t df = get_be16(hdr + 6) & IPV4_FLAG_DF;
    uint32_t payload_len = p->len - IPV4_HDR_MIN;
    uint32_t max_chunk = (st->cfg.mtu_bytes - IPV4_HDR_MIN) & ~7u;
    int rc = 0;
    /* RFC 791 §3.2: cut the data at 8-byte boundaries, copy the header into each piece,
     * set MF on all but the last and the offset in 8-byte units on each. */
    for (uint32_t off = 0; off < payload_len; off += max_chunk) {
        uint32_t chunk = payload_len - off < max_chunk ? payload_len - off : max_chunk;
        struct pkb *q = pkb_alloc(st, PKB_SMALL);
        if (!q) {
            c->drop_no_buffer++;
            rc = -ENOBUFS;
            break;
        }
        memcpy(pkb_put(q, chunk), hdr + IPV4_HDR_MIN + off, chunk);
        uint8_t *h = pkb_push(q, IPV4_HDR_MIN);
        memcpy(h, hdr, IPV4_HDR_MIN);
        put_be16(h + 2, (uint16_t)(IPV4_HDR_MIN + chunk));
        uint16_t mf = off + chunk < payload_len ? IPV4_FLAG_MF : 0;
        put_be16(h + 6, (uint16_t)(df | mf | off / 8));
        put_be16(h + 10, 0);
        put_be16(h + 10, csum(h, IPV4_HDR_MIN));
        c->frag_tx_created++;
        ipv4_send_datagram(st, q, next_hop);
    }
    if (rc == 0)
        c->frag_tx_ok++;
    pkb_free(st, p);
    return rc;
}
