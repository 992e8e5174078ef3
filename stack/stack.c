/* SPDX-License-Identifier: MIT */
/* stack.c: creating and freeing a stack, its three entry points, memory accounting, the PRNG. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "eth.h"

void tapir_config_defaults(struct tapir_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->prefix_len = 24;
    cfg->mtu_bytes = 1500;
    cfg->pkb_frames = 1024;
    cfg->pkb_large_frames = 24;
    cfg->arp_cache_entries = 256;
    cfg->arp_pending_frames = 64;     /* a 64 KiB datagram is 45 fragments at MTU 1500 */
    cfg->arp_pending_total = 256;     /* a quarter of the pool: spoofed sources cannot pin it */
    cfg->arp_retries = 3;             /* Linux's mcast_solicit */
    cfg->arp_retry_us = 1000000;      /* Linux's retrans_time, 1 s */
    cfg->arp_reachable_us = 60000000; /* RFC 1122 §2.3.2.1 leaves the timeout to us: a minute */
    cfg->ipfrag_max_datagrams = 16;
    cfg->ipfrag_timeout_us = 30000000; /* Linux's ipfrag_time */
    cfg->icmp_err_burst = 50;          /* Linux's icmp_msgs_burst */
    cfg->icmp_err_per_s = 1000;        /* Linux's icmp_msgs_per_sec */
    cfg->sock_rcvbuf_bytes = 256 * 1024;
    cfg->sock_sndbuf_bytes = 256 * 1024;
    cfg->tcp_msl_us = 30000000;        /* Linux's TIME_WAIT is 60 s: 2 * 30 s */
    cfg->tcp_challenge_ack_per_s = 1000; /* Linux's tcp_challenge_ack_limit */
    cfg->tcp_rcvbuf_bytes = 4u << 20;  /* Linux's tcp_rmem grows to 6 MiB */
    cfg->tcp_sndbuf_bytes = 4u << 20;  /* and tcp_wmem to 4 MiB */
    cfg->tcp_rto_min_us = 200000;      /* Linux's TCP_RTO_MIN */
    cfg->tcp_delack_us = 40000;        /* Linux's TCP_DELACK_MIN */
    cfg->tcp_initial_cwnd_segments = 10;
    cfg->tcp_congestion = "reno";
    cfg->tcp_timestamps = true;
    cfg->tcp_window_scaling = true;
    cfg->tcp_sack = true;
    cfg->tcp_syncookies = true;
    cfg->tcp_max_conns = 65536;
    cfg->tcp_max_orphans = 4096;
    cfg->tcp_keepalive_idle_us = 7200ull * 1000000;
    cfg->tcp_keepalive_intvl_us = 75ull * 1000000;
    cfg->tcp_keepalive_probes = 9;
    cfg->mem_budget_bytes = 64u << 20;
}

static int config_check(const struct tapir_config *cfg)
{
    if (cfg->prefix_len > 32 || cfg->mtu_bytes < 68 || cfg->mtu_bytes > 9000)
        return -EINVAL;
    if (cfg->pkb_frames < 8 || cfg->pkb_large_frames < 1 || cfg->arp_cache_entries < 1)
        return -EINVAL;
    if (cfg->ipfrag_max_datagrams < 1 || cfg->arp_retries < 1 || cfg->arp_pending_total < 1 ||
        eth_is_group(cfg->mac))
        return -EINVAL;
    if (cfg->tcp_rcvbuf_bytes < 4096 || cfg->tcp_rcvbuf_bytes > (64u << 20) ||
        cfg->tcp_sndbuf_bytes < 4096 || cfg->tcp_sndbuf_bytes > (64u << 20) ||
        cfg->tcp_rto_min_us < 1000 || cfg->tcp_rto_min_us > TCP_RTO_MAX_US ||
        cfg->tcp_delack_us > 500000 || cfg->tcp_initial_cwnd_segments < 1 ||
        cfg->tcp_initial_cwnd_segments > 64 || !tcp_cc_find(cfg->tcp_congestion) ||
        cfg->tcp_keepalive_probes < 1 || cfg->tcp_keepalive_idle_us < 1000000 ||
        cfg->tcp_keepalive_intvl_us < 1000000)
        return -EINVAL;
    if (cfg->mem_budget_bytes < (1u << 20))
        return -EINVAL;
    return 0;
}

/* Every block carries its size in front, so a free gives back exactly what the alloc took
 * from the budget. The header keeps the block aligned for any type. */
union mem_hdr {
    size_t len_bytes;
    max_align_t align;
};

bool tapir_mem_pressure(const struct tapir_stack *st)
{
    return st->stats.mem.in_use_bytes > st->cfg.mem_budget_bytes / 4 * 3;
}

void *tapir_mem_alloc(struct tapir_stack *st, size_t len_bytes)
{
    struct tapir_mem_stats *m = &st->stats.mem;
    size_t total = sizeof(union mem_hdr) + len_bytes;
    /* The budget: new work is refused here, and each caller turns the refusal into a
     * counted drop or an error (a frame not taken, a window not grown, ENOBUFS), never into
     * the loss of what it already holds. */
    if (m->in_use_bytes + total > st->cfg.mem_budget_bytes) {
        m->budget_refused++;
        return NULL;
    }
    union mem_hdr *h = calloc(1, total);
    if (!h) {
        m->alloc_failed++;
        return NULL;
    }
    h->len_bytes = total;
    m->allocs++;
    m->alloc_bytes += len_bytes;
    m->in_use_bytes += total;
    if (m->in_use_bytes > m->in_use_max_bytes)
        m->in_use_max_bytes = m->in_use_bytes;
    return h + 1;
}

void tapir_mem_free(struct tapir_stack *st, void *ptr)
{
    if (!ptr)
        return;
    union mem_hdr *h = (union mem_hdr *)ptr - 1;
    st->stats.mem.in_use_bytes -= h->len_bytes;
    free(h);
}

uint64_t tapir_rand64(struct tapir_stack *st)
{
    /* splitmix64 (Steele, Lea, Flood 2014): every seed gives a full-period sequence. */
    uint64_t z = (st->rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

struct tapir_stack *tapir_stack_new(const struct tapir_config *cfg, const struct tapir_driver *drv)
{
    int rc = config_check(cfg);
    if (rc < 0 || !drv || !drv->send) {
        errno = EINVAL;
        return NULL;
    }
    struct tapir_stack *st = calloc(1, sizeof(*st));
    if (!st) {
        errno = ENOMEM;
        return NULL;
    }
    st->cfg = *cfg;
    st->drv = *drv;
    st->rng_state = cfg->seed;
    st->ip_addr = ntohl(cfg->addr.s_addr);
    st->ip_netmask = cfg->prefix_len ? ~0u << (32 - cfg->prefix_len) : 0;
    st->ip_gateway = ntohl(cfg->gateway.s_addr);
    pkb_pools_init(st);
    icmp_init(st);
    udp_init(st);
    tcp_init(st);
    if (arp_init(st) < 0 || ipfrag_init(st) < 0) {
        tapir_stack_free(st);
        errno = ENOMEM;
        return NULL;
    }
    pcap_begin(st);
    return st;
}

void tapir_stack_free(struct tapir_stack *st)
{
    if (!st)
        return;
    tapir_flush(st);
    tcp_free(st);
    udp_free(st);
    arp_free(st);
    ipfrag_free(st);
    timer_heap_free(st, &st->timers);
    pkb_pools_free(st);
    free(st);
}

void tapir_rx_batch_begin(struct tapir_stack *st) { st->rx_batch = true; }

void tapir_start(struct tapir_stack *st, uint64_t now_us)
{
    st->now_us = now_us;
    arp_announce(st);
}

struct pkb *tapir_rx_buffer(struct tapir_stack *st, uint8_t **buf, size_t *cap_bytes)
{
    struct pkb *p = pkb_alloc(st, PKB_SMALL);
    if (!p)
        return NULL;
    /* Received frames need no headroom; give the driver the whole buffer. */
    p->data = p->buf;
    *buf = p->data;
    *cap_bytes = p->cap;
    return p;
}

void tapir_rx_release(struct tapir_stack *st, struct pkb *p) { pkb_free(st, p); }

void tapir_rx_drop(struct tapir_stack *st)
{
    st->stats.eth.rx_frames++;
    st->stats.eth.drop_no_buffer++;
}

int tapir_input_pkb(struct tapir_stack *st, struct pkb *p, size_t len_bytes, uint64_t now_us)
{
    st->now_us = now_us;
    p->len = (uint32_t)(len_bytes < pkb_tailroom(p) ? len_bytes : pkb_tailroom(p));
    pcap_record(st, p->data, p->len);
    eth_input(st, p);
    return 0;
}

int tapir_input(struct tapir_stack *st, const void *frame, size_t len_bytes, uint64_t now_us)
{
    uint8_t *buf;
    size_t cap;
    struct pkb *p = tapir_rx_buffer(st, &buf, &cap);
    if (!p) {
        st->now_us = now_us;
        tapir_rx_drop(st);
        return -ENOBUFS;
    }
    /* A frame longer than any buffer is oversize anyway; keep what fits plus one byte so the
     * Ethernet layer sees it is too long and counts it. */
    size_t n = len_bytes < cap ? len_bytes : cap;
    memcpy(buf, frame, n);
    if (len_bytes > cap) {
        st->now_us = now_us;
        st->stats.eth.rx_frames++;
        st->stats.eth.rx_bytes += len_bytes;
        st->stats.eth.drop_oversize++;
        pcap_record(st, buf, n);
        pkb_free(st, p);
        return 0;
    }
    return tapir_input_pkb(st, p, n, now_us);
}

void tapir_timers(struct tapir_stack *st, uint64_t now_us)
{
    st->now_us = now_us;
    timers_run(st, now_us);
}

uint64_t tapir_next_deadline(const struct tapir_stack *st)
{
    return timers_next_deadline(&st->timers);
}

const struct tapir_stats *tapir_stats(const struct tapir_stack *st) { return &st->stats; }
