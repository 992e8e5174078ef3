/* SPDX-License-Identifier: MIT */
/* ipv4.h: IPv4 input and output (RFC 791, RFC 1122 §3.2.1), fragmentation and reassembly. */
#ifndef TAPIR_IPV4_H
#define TAPIR_IPV4_H

#include <stdbool.h>
#include <stdint.h>

#include "pkb.h"
#include "timer.h"

struct tapir_stack;

#define IPV4_HDR_MIN 20u
#define IPV4_HDR_MAX 60u
#define IPV4_MAX_TOTAL 65535u
#define IPV4_DEFAULT_TTL 64u
#define IPV4_FLAG_DF 0x4000u
#define IPV4_FLAG_MF 0x2000u
#define IPV4_OFFSET_MASK 0x1fffu
#define IPPROTO_ICMP_ 1u
#define IPPROTO_TCP_ 6u
#define IPPROTO_UDP_ 17u

/* A parsed, host-order view of a received header; the frame's bytes stay untouched. */
struct ip_in {
    uint32_t src, dst;      /* host byte order */
    uint16_t id;
    uint16_t total_len;     /* of the whole (reassembled) datagram */
    uint16_t frag_offset_bytes;
    uint8_t hdr_len;        /* of the header as it arrived, options included */
    uint8_t proto, ttl, tos;
    bool more_fragments, dont_fragment;
    bool to_broadcast;      /* sent to 255.255.255.255 or our subnet's broadcast */
    const uint8_t *hdr;     /* the original header, for ICMP errors quoting it */
};

/* What a transport asks ipv4_output for. */
struct ip_out {
    uint32_t src, dst;      /* host byte order; src 0 means our address */
    uint8_t proto;
    uint8_t ttl;            /* 0 means IPV4_DEFAULT_TTL */
    uint8_t tos;
    bool dont_fragment;
};

/* One datagram being reassembled (RFC 791 §3.2, "reassembly" and RFC 815's idea of
 * tracking what is missing; here at the 8-byte granularity fragments are cut at). */
struct ipfrag_slot {
    bool in_use;
    uint32_t src, dst;
    uint16_t id;
    uint8_t proto;
    uint32_t payload_len;       /* known once the last fragment (MF=0) arrived; else 0 */
    uint32_t bytes_have;        /* distinct payload bytes received */
    struct pkb *buf;            /* a large pkb; payload lives at data + IPV4_HDR_MIN */
    uint8_t first_hdr[IPV4_HDR_MAX + 8]; /* offset-0 fragment's header and 8 bytes, for ICMP */
    uint8_t first_len;          /* bytes of it kept; 0 until the first fragment arrived */
    uint32_t max_end;           /* highest payload byte + 1 seen so far */
    struct tapir_timer timer;
    struct ipfrag_slot *hash_next;  /* bucket chain; the free list when unused */
    struct ipfrag_slot *age_prev, *age_next; /* oldest first, for eviction */
    uint8_t have[8192 / 8];     /* one bit per 8-byte block of payload */
};

struct ipfrag_table {
    struct ipfrag_slot *slots;
    struct ipfrag_slot **buckets;
    unsigned bucket_mask;
    unsigned in_use;
    struct ipfrag_slot *free_list;
    struct ipfrag_slot *oldest, *newest;
};

void ipv4_input(struct tapir_stack *st, struct pkb *p);
/* p's data is the transport header and payload; pushes the IP header, fragments to the MTU
 * unless DF, routes and resolves. Always consumes p. Returns 0 or a negative errno
 * (-ENETUNREACH, -EMSGSIZE, -ENOBUFS). */
int ipv4_output(struct tapir_stack *st, struct pkb *p, const struct ip_out *out);
/* Hands a complete datagram (header already validated, p->data at the payload) upward. */
void ipv4_deliver(struct tapir_stack *st, struct pkb *p, const struct ip_in *ip);

/* The next hop for dst (itself on the subnet, else the gateway), or -ENETUNREACH. */
int ipv4_route(const struct tapir_stack *st, uint32_t dst, uint32_t *next_hop);
/* True for 255.255.255.255 and our subnet's broadcast address. */
bool ipv4_is_broadcast(const struct tapir_stack *st, uint32_t addr);
static inline bool ipv4_is_multicast(uint32_t addr) { return (addr >> 28) == 0xeu; }

int ipfrag_init(struct tapir_stack *st);
void ipfrag_free(struct tapir_stack *st);
/* Takes a fragment (validated header, data at its payload). Consumes p. */
void ipfrag_input(struct tapir_stack *st, struct pkb *p, const struct ip_in *ip);
/* Splits a datagram too big for the MTU; consumes p. */
int ipfrag_output(struct tapir_stack *st, struct pkb *p, uint32_t next_hop);

/* Fills in header fields and the checksum of a 20-byte header at h. */
void ipv4_build_header(uint8_t *h, const struct ip_out *out, uint16_t total_len, uint16_t id,
                       uint16_t frag_field);
/* Routes and sends a finished datagram (p->data at its IP header). Consumes p. */
void ipv4_send_datagram(struct tapir_stack *st, struct pkb *p, uint32_t next_hop);

#endif
