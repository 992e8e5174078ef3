/* SPDX-License-Identifier: MIT */
/* core.h: struct tapir_stack, the one place all of a stack's state hangs off, and the small
 * services every layer uses (memory accounting, the PRNG, tracing). */
#ifndef TAPIR_CORE_H
#define TAPIR_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "arp.h"
#include "icmp.h"
#include "ipv4.h"
#include "pkb.h"
#include "tapir/stack.h"
#include "timer.h"
#include "tcp.h"
#include "udp.h"

struct tapir_stack {
    struct tapir_config cfg;
    struct tapir_driver drv;
    uint64_t now_us;            /* time of the entry point running now */
    uint64_t rng_state;         /* splitmix64, seeded from cfg.seed */

    uint32_t ip_addr;           /* host byte order from here on */
    uint32_t ip_netmask;
    uint32_t ip_gateway;        /* 0: none */

    struct tapir_stats stats;
    struct pkb_pool pkb_small, pkb_large;
    struct timer_heap timers;
    struct arp_cache arp;
    struct ipfrag_table frag;
    struct icmp_state icmp;
    struct udp_table udp;
    struct tcp_table tcp;
    int pcap_started;
    bool rx_batch; /* between tapir_rx_batch_begin and tapir_flush: ACKs may wait for the end */
};

/* Every allocation of the stack goes through these, so mem.allocs shows the pools settling
 * and the budget (cfg.mem_budget_bytes) holds: past it, tapir_mem_alloc returns NULL and
 * counts mem.budget_refused. Zeroed memory, as calloc. */
void *tapir_mem_alloc(struct tapir_stack *st, size_t len_bytes);
void tapir_mem_free(struct tapir_stack *st, void *ptr);
/* Over three quarters of the budget in use: buffers left empty are given back at once
 * rather than kept for the next burst. */
bool tapir_mem_pressure(const struct tapir_stack *st);

/* The stack's PRNG (splitmix64): deterministic for a seed, which is what makes a simulation
 * replay exactly. Not for secrets; the ISN key of RFC 6528 is drawn from it once. */
uint64_t tapir_rand64(struct tapir_stack *st);
static inline uint32_t tapir_rand32(struct tapir_stack *st) { return (uint32_t)(tapir_rand64(st) >> 32); }

static inline int tapir_tracing(const struct tapir_stack *st, unsigned bit)
{
    return st->cfg.trace_out && (st->cfg.trace_mask & bit);
}
/* One trace line, when the layer's bit is on: "   12.345678 arp: who-has ...". A macro, so
 * that with tracing off the arguments (ip_str's formatting, say) are not even computed: the
 * per-packet path pays one test. */
void tapir_trace_emit(struct tapir_stack *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
#define tapir_trace(st, bit, ...)                                                                  \
    do {                                                                                           \
        if (tapir_tracing((st), (bit)))                                                            \
            tapir_trace_emit((st), __VA_ARGS__);                                                   \
    } while (0)
/* Formats a host-order address as dotted quad into buf (at least 16 bytes). */
const char *ip_str(uint32_t addr, char *buf);
#define IP_STR_LEN 16

/* Writes the pcap file header (once; an empty capture is still a valid file). */
void pcap_begin(struct tapir_stack *st);
/* Records one frame in the pcap file, if there is one. */
void pcap_record(struct tapir_stack *st, const uint8_t *frame, size_t len_bytes);

#endif
