/* SPDX-License-Identifier: MIT */
/* wire.h: an in-memory Ethernet link between two stacks in one process, with seeded loss,
 * duplication, reordering, delay, corruption and a rate-limited bottleneck each way (the
 * shared model of faults.h), running in virtual time (sim tests) or in real time between two
 * hosts of the socket shim (threaded tests). */
#ifndef TAPIR_WIRE_H
#define TAPIR_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "faults.h"
#include "tapir/socket.h"
#include "tapir/stack.h"

/* The wire's faults are the shared model's struct faults (loss_ppm, dup_ppm, reorder_ppm,
 * corrupt_ppm, delay_us, reorder_us, rate_bps, queue_bytes); the wire's own name for them
 * stays, so `struct wire_faults f = {.loss_ppm = ...}` still reads as it always did. */
#define wire_faults faults

/* overflow: frames beyond max_in_flight; queue_drops: frames a full bottleneck queue took. */
struct wire_stats {
    uint64_t sent, delivered, lost, duplicated, reordered, corrupted, overflow, queue_drops;
};

struct wire;

/* A link with at most max_in_flight frames on it (more are counted as overflow and lost). */
struct wire *wire_new(const struct wire_faults *faults, uint64_t seed, unsigned max_in_flight);
void wire_free(struct wire *w);
/* The driver for end 0 or 1: frames sent through it arrive at the other end's stack. */
struct tapir_driver wire_driver(struct wire *w, int end);
void wire_attach(struct wire *w, int end, struct tapir_stack *st);
void wire_set_faults(struct wire *w, const struct wire_faults *faults);

/* Virtual time. The clock starts at start_us; wire_run advances it, delivering frames and
 * firing both stacks' timers in order, until until_us or until *stop becomes non-zero. */
void wire_set_now(struct wire *w, uint64_t now_us);
uint64_t wire_now(const struct wire *w);
void wire_run(struct wire *w, uint64_t until_us, const int *stop);
const struct wire_stats *wire_stats(const struct wire *w);

/* Real time: frames are stamped with CLOCK_MONOTONIC (plus the configured delay) and each
 * end's link (for tapir_open_link) hands them to its host thread when due. Faults apply as in
 * virtual time; the order of the PRNG's draws then depends on thread timing. Call once,
 * before the hosts start. Returns 0 or a negative errno. */
int wire_set_realtime(struct wire *w);
struct tapir_link wire_link(struct wire *w, int end);
/* A consistent copy of the counters while hosts run. */
struct wire_stats wire_stats_now(struct wire *w);

#endif
