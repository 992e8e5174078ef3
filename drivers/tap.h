/* SPDX-License-Identifier: MIT */
/* tap.h: the Linux TUN/TAP driver (IFF_TAP | IFF_NO_PI, non-blocking). */
#ifndef TAPIR_TAP_H
#define TAPIR_TAP_H

#include <net/if.h>
#include <stddef.h>
#include <stdint.h>

#include "tapir/stack.h"

struct tap_dev {
    int fd;
    char name[IFNAMSIZ];
    uint64_t rx_frames, tx_frames, tx_errors;
};

/* Most frames read per wake-up before the loop lets timers run; under a flood this keeps
 * retransmission and ARP timers on time. Far above what one wake-up normally finds. */
#define TAP_RX_BATCH 4096

/* Attaches to an existing TAP interface. On failure returns a negative errno and writes one
 * line saying what to do into msg. */
int tap_open(struct tap_dev *tap, const char *name, char *msg, size_t msg_len);
void tap_close(struct tap_dev *tap);
/* The interface's MTU as the kernel sees it, or a negative errno. */
int tap_kernel_mtu(const struct tap_dev *tap);
/* The tapir_driver send operation: ctx is the struct tap_dev. */
int tap_send(void *ctx, const void *frame, size_t len_bytes);
/* Reads every frame that is ready (up to TAP_RX_BATCH) into the stack. Returns the count. */
int tap_receive(struct tap_dev *tap, struct tapir_stack *st, uint64_t now_us);

#endif
