/* SPDX-License-Identifier: MIT */
/* sock.h: what the transports and the socket code share inside the core. */
#ifndef TAPIR_SOCK_INTERNAL_H
#define TAPIR_SOCK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tapir/sock.h"
#include "udp.h"

/* Queues a received datagram on s (charging its buffer to SO_RCVBUF) and wakes the owner. */
void sock_enqueue(struct tapir_sock *s, struct pkb *p);
/* Records an error (positive errno) for the next call to report, and wakes the owner. */
void sock_set_error(struct tapir_sock *s, int err);

/* A new socket of the given type and protocol, not yet in any port table (accept uses it). */
int sock_alloc(struct tapir_stack *st, int type, int protocol, struct tapir_sock **out);
void sock_wake(struct tapir_sock *s);
int sock_autobind(struct tapir_sock *s);
/* Gives back the ephemeral port autobind chose and chooses another. */
int sock_autobind_again(struct tapir_sock *s);
int sock_take_error(struct tapir_sock *s);
void sock_fill(struct sockaddr_in *sa, uint32_t addr, uint16_t port);
/* getsockopt's copy: at most *len bytes of v, and *len set to what was copied. */
int opt_copy_out(void *val, socklen_t *len, const void *v, size_t size);

/* The errno a connected socket reports for an ICMP error (Linux's icmp_err_convert), or 0
 * for one that is ignored. */
int sock_icmp_errno(uint8_t type, uint8_t code);
/* Would queueing p overflow s's receive buffer (SO_RCVBUF)? */
static inline bool sock_rcvbuf_full(const struct tapir_sock *s, const struct pkb *p)
{
    return s->rx_queued_bytes + p->cap > s->rcvbuf_bytes;
}

int udp_output(struct tapir_stack *st, struct tapir_sock *s, const void *buf, size_t len,
               uint32_t dst, uint16_t dport);
/* Sends the echo request msg (ICMP header first) from ping socket s, with its identifier. */
int icmp_ping_output(struct tapir_stack *st, struct tapir_sock *s, const void *msg, size_t len,
                     uint32_t dst);

#endif
