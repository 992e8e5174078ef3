/* SPDX-License-Identifier: MIT */
/* tap_fault.h: a TAP link with faults: the shared model of faults.h applied to real traffic,
 * both ways. Frames the stack sends and frames read from the kernel each cross a bottleneck
 * of their own (when the faults set a rate) and may be lost, duplicated, corrupted, delayed or
 * reordered on the way; frames held back are delivered, or written to the TAP, when due. */
#ifndef TAPIR_TAP_FAULT_H
#define TAPIR_TAP_FAULT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "faults.h"
#include "tap.h"
#include "tapir/socket.h"

/* Memory bound, each way: at most this many frames held, and this many bytes (at 1 Gbit/s,
 * a quarter of a second of traffic). Frames past either are dropped and counted as overflow. */
#define TAP_FAULT_MAX_FRAMES 65536u
#define TAP_FAULT_MAX_BYTES (32u << 20)

struct tap_fault;

/* Attaches to the existing TAP interface name as tap_open does, with faults drawn from seed.
 * On failure returns NULL with errno set and one line saying what to do in msg. */
struct tap_fault *tap_fault_open(const char *name, const struct faults *faults, uint64_t seed,
                                 char *msg, size_t msg_len);
/* Closes the TAP and frees the held frames; after tapir_host_close, never before. */
void tap_fault_close(struct tap_fault *tf);
/* The link for tapir_open_link. Its calls, and tap_fault_stats and tap_fault_print, must be
 * serialized, as the host's lock does (read the counters through tapir_host_call). */
struct tapir_link tap_fault_link(struct tap_fault *tf);

struct tap_fault_stats {
    uint64_t from_kernel, from_stack;   /* frames offered each way */
    struct fault_stats faults;          /* both ways together */
    uint64_t held;                      /* frames held now, both ways */
};
struct tap_fault_stats tap_fault_stats(const struct tap_fault *tf);
/* The counters as a "Faults:" block in the style of tapir_stats_print. */
void tap_fault_print(const struct tap_fault *tf, FILE *out);

#endif
