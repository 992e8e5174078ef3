/* SPDX-License-Identifier: MIT */
/* arp.h: the ARP cache, address resolution for output, and the answers we give (RFC 826). */
#ifndef TAPIR_ARP_H
#define TAPIR_ARP_H

#include <stdint.h>

#include "eth.h"
#include "pkb.h"
#include "timer.h"

enum arp_entry_state {
    ARP_FREE,        /* unused slot, on the free list */
    ARP_INCOMPLETE,  /* request sent, frames waiting in pending */
    ARP_REACHABLE,   /* mac is valid until the timer fires */
};

struct arp_entry {
    uint32_t ip;                    /* host byte order */
    uint8_t mac[ETH_ADDR_LEN];
    uint8_t state;                  /* enum arp_entry_state */
    unsigned retries_left;
    struct pkb_queue pending;       /* frames waiting for the answer, bounded */
    struct tapir_timer timer;       /* retry while INCOMPLETE, expiry while REACHABLE */
    struct arp_entry *hash_next;    /* bucket chain */
    struct arp_entry *lru_prev, *lru_next; /* most recently learned first; FREE: free list */
};

struct arp_cache {
    struct arp_entry *entries;      /* cfg.arp_cache_entries slots */
    struct arp_entry **buckets;     /* hash of ip -> chain */
    unsigned bucket_mask;
    struct arp_entry *lru_head, *lru_tail; /* entries in use */
    struct arp_entry *free_list;
    unsigned pending_total;         /* frames waiting in all pending queues */
};

int arp_init(struct tapir_stack *st);
void arp_free(struct tapir_stack *st);
void arp_input(struct tapir_stack *st, struct pkb *p);
/* Sends p (an IPv4 packet at data) to next_hop (host order), resolving it first if needed;
 * always consumes p. */
void arp_output(struct tapir_stack *st, struct pkb *p, uint32_t next_hop);
/* The gratuitous ARP at start (RFC 5227 §3 style announcement). */
void arp_announce(struct tapir_stack *st);

#endif
