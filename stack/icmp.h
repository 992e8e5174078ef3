/* SPDX-License-Identifier: MIT */
/* icmp.h: ICMP (RFC 792, RFC 1122 §3.2.2): echo, the errors we send and the errors we receive. */
#ifndef TAPIR_ICMP_H
#define TAPIR_ICMP_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

struct tapir_stack;
struct pkb;
struct ip_in;

#define ICMP_HDR_LEN 8u
#define ICMP_MAX_MSG (65535u - 20u) /* what fits in one IPv4 datagram */
#define ICMP_ECHO_REPLY 0u
#define ICMP_DEST_UNREACH 3u
#define ICMP_SOURCE_QUENCH 4u
#define ICMP_REDIRECT 5u
#define ICMP_ECHO_REQUEST 8u
#define ICMP_TIME_EXCEEDED 11u
#define ICMP_PARAM_PROBLEM 12u

#define ICMP_PROTO_UNREACH 2u
#define ICMP_HOST_UNREACH 1u
#define ICMP_PORT_UNREACH 3u
#define ICMP_FRAG_NEEDED 4u
#define ICMP_EXC_TTL 0u
#define ICMP_EXC_FRAGTIME 1u

/* An echo reply that came in (for the ping demo and the sim tests). */
typedef void (*icmp_echo_reply_fn)(void *ctx, uint32_t from, uint16_t id, uint16_t seq,
                                   const uint8_t *data, size_t len_bytes);

/* A received ICMP error, parsed down to what the offending datagram said. A transport that
 * registers for its protocol number gets these (the hook UDP and TCP use). */
struct icmp_error {
    uint8_t type, code;
    uint32_t info;              /* the 4 bytes after the checksum: next-hop MTU, pointer */
    uint32_t orig_src, orig_dst;/* the quoted datagram's addresses, host order */
    uint8_t orig_proto;
    const uint8_t *orig_l4;     /* at least 8 bytes of the quoted transport header */
    size_t orig_l4_len;
    bool local;                 /* not from the network: ARP gave up on the next hop */
};
typedef void (*icmp_error_fn)(struct tapir_stack *st, const struct icmp_error *err);
/* A handler asks, once it has checked that an error concerns one of its sockets and before
 * it acts on it: errors acted on share the rate limit of errors sent (counted when over). */
bool icmp_error_admit(struct tapir_stack *st);

/* A token bucket, in millionths of a token so that refills lose nothing to rounding. */
struct icmp_bucket {
    uint64_t tokens_micro;
    uint64_t refill_us; /* when tokens were last added */
};

struct icmp_state {
    struct icmp_bucket err_out; /* errors we send */
    struct icmp_bucket err_in;  /* errors we act on */
    icmp_echo_reply_fn echo_reply_cb;
    void *echo_reply_ctx;
    icmp_error_fn error_handlers[256]; /* by IP protocol number */
};

void icmp_init(struct tapir_stack *st);
void icmp_input(struct tapir_stack *st, struct pkb *p, const struct ip_in *ip);
/* Sends an ICMP error about the datagram whose header ip describes and whose payload starts at
 * l4 (len bytes). Obeys RFC 1122 §3.2.2's "must not send" rules and the rate limit. */
/* ARP gave up on the next hop of this datagram of ours (ip_pkt: its IP header onwards):
 * tell the protocol that sent it, as a host-unreachable error from ourselves would. */
void icmp_local_unreachable(struct tapir_stack *st, const uint8_t *ip_pkt, size_t len);
void icmp_send_error(struct tapir_stack *st, const struct ip_in *ip, const uint8_t *l4,
                     size_t l4_len, uint8_t type, uint8_t code);
/* Sends an echo request to dst (host order). Returns 0 or a negative errno. */
int icmp_send_echo_request(struct tapir_stack *st, uint32_t dst, uint16_t id, uint16_t seq,
                           const void *data, size_t len_bytes);

#endif
