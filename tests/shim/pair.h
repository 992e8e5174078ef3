/* SPDX-License-Identifier: MIT */
/* pair.h: two shim hosts in one process over a real-time wire: A is 10.0.0.1, B 10.0.0.2. */
#ifndef TAPIR_TEST_PAIR_H
#define TAPIR_TEST_PAIR_H

#include <arpa/inet.h>
#include <pthread.h>
#include <stdint.h>

#include "tapir/socket.h"
#include "wire.h"

#define PAIR_ADDR_A "10.0.0.1"
#define PAIR_ADDR_B "10.0.0.2"

struct pair {
    struct wire *wire;
    struct tapir_host *a, *b;
};

/* Starts both hosts (faults may be NULL). Asserts on failure. */
void pair_start(struct pair *p, const struct wire_faults *faults, uint64_t seed);
/* The same without cmocka (for a forked child): 0, or -1 with nothing left open. */
int pair_open(struct pair *p, const struct wire_faults *faults, uint64_t seed);
/* Closes both hosts (either may already be closed and set to NULL) and frees the wire. */
void pair_stop(struct pair *p);
/* An AF_INET address. */
struct sockaddr_in pair_sin(const char *addr, uint16_t port);
/* A UDP socket on host h bound to port (0: ephemeral). */
int pair_udp(struct tapir_host *h, uint16_t port);
/* Microseconds on CLOCK_MONOTONIC. */
uint64_t pair_now_us(void);
void pair_sleep_ms(unsigned ms);
/* Joins t if it ends within timeout_ms: 0, or ETIMEDOUT (t is then left running). */
int pair_join(pthread_t t, unsigned timeout_ms);
/* A copy of host h's counters, taken under its lock. */
struct tapir_stats pair_stats(struct tapir_host *h);

#endif
