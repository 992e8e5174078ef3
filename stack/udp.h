/* SPDX-License-Identifier: MIT */
/* udp.h: UDP (RFC 768, RFC 1122 §4.1) and the core's datagram sockets. */
#ifndef TAPIR_UDP_H
#define TAPIR_UDP_H

#include <stdbool.h>
#include <stdint.h>

#include "pkb.h"

struct tapir_stack;
struct ip_in;
struct tcp_conn;

#define UDP_HDR_LEN 8u
#define UDP_MAX_PAYLOAD (65535u - 20u - UDP_HDR_LEN) /* 65507 */
#define UDP_PORT_BUCKETS 256u
#define EPHEMERAL_PORT_MIN 32768u /* Linux's ip_local_port_range */
#define EPHEMERAL_PORT_MAX 60999u

/* A datagram socket: UDP, or an ICMP "ping" socket (SOCK_DGRAM + IPPROTO_ICMP, as Linux's),
 * whose port is the echo identifier. Fields are host byte order; a port of 0 means "not yet". */
struct tapir_sock {
    struct tapir_stack *st;
    int type, protocol;
    uint32_t local_addr;        /* 0: any of ours */
    uint16_t local_port;
    uint32_t remote_addr;       /* valid when connected */
    uint16_t remote_port;
    bool connected, reuseaddr, broadcast;
    bool shut_rd, shut_wr;      /* shutdown(2) */
    bool addr_bound, port_bound;/* chosen by bind(2), not by connect or a first send */
    bool nodelay;               /* TCP_NODELAY, kept for accept to copy */
    bool linger_on;             /* SO_LINGER */
    int linger_s;
    uint32_t rcvbuf_bytes, sndbuf_bytes;
    uint32_t rx_queued_bytes;   /* buffer sizes of queued datagrams, charged to rcvbuf */
    int so_error;               /* a positive errno from an ICMP error, reported once */
    struct pkb_queue rxq;       /* datagrams, data at the payload, sender in pkb->peer_* */
    struct tapir_sock *port_next;          /* chain in its protocol's port hash */
    struct tapir_sock *all_prev, *all_next; /* every socket of the stack */
    struct tcp_conn *tcp;       /* a stream socket's connection (or listener) */
    void (*wakeup)(void *ctx);
    void *wakeup_ctx;
};

/* Sockets by local port: one table for UDP ports, one for ping identifiers, one for TCP
 * (bound and listening stream sockets; connections themselves are in the TCP 4-tuple hash). */
struct udp_table {
    struct tapir_sock *ports[UDP_PORT_BUCKETS];
    struct tapir_sock *ping_ids[UDP_PORT_BUCKETS];
    struct tapir_sock *tcp_ports[UDP_PORT_BUCKETS];
    struct tapir_sock *all;
};

static inline unsigned port_bucket(uint16_t port) { return (port * 40503u >> 8) % UDP_PORT_BUCKETS; }

void udp_init(struct tapir_stack *st);
void udp_free(struct tapir_stack *st);
void udp_input(struct tapir_stack *st, struct pkb *p, const struct ip_in *ip);

#endif
