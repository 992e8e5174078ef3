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

void udp_port_link(struct tapir_stack *st, struct tapir_sock *s);
void udp_port_unlink(struct tapir_stack *st, struct tapir_sock *s);
bool udp_port_in_use(struct tapir_stack *st, uint32_t addr, uint16_t port, bool reuseaddr);
int udp_pick_ephemeral(struct tapir_stack *st, uint32_t addr, uint16_t *port);
int udp_output(struct tapir_stack *st, struct tapir_sock *s, const void *buf, size_t len,
               uint32_t dst, uint16_t dport);

#endif
