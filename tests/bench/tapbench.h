/* SPDX-License-Identifier: MIT */
/* tapbench.h: what the raw TAP references of `make bench` share (tap_floor, tap_ingress,
 * tap_egress, udp_blast, tcp_stream): attaching to a TAP, the Internet checksum (RFC 1071),
 * a monotonic clock, a stop flag for signals, and the frames' fixed addresses. They use none
 * of tapir, so what they measure is the TAP and the kernel alone. */
#ifndef TAPIR_TAPBENCH_H
#define TAPIR_TAPBENCH_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The references stand where tapir stands: 10.0.0.2 with tapir's MAC, "tapir" in ASCII. */
#define TB_OUR_IP 0x0a000002u
#define TB_HOST_IP 0x0a000001u
extern const uint8_t tb_our_mac[6];

/* Set by SIGINT, SIGTERM and SIGALRM (tb_on_signals); the loops test it. */
extern volatile sig_atomic_t tb_stop;

/* Installs the handlers without SA_RESTART, so a blocked poll() or read() returns EINTR and
 * the loop sees tb_stop; and arms alarm(max_s), every program's bound in time (0: none). */
void tb_on_signals(unsigned max_s);

/* Attaches to the existing TAP interface name (IFF_TAP | IFF_NO_PI, non-blocking). Exits 1
 * with a line on stderr on failure: a reference that cannot run has nothing to report. */
int tb_tap_attach(const char *prog, const char *name);
/* The interface's MAC address (from SIOCGIFHWADDR). Exits 1 on failure. */
void tb_if_mac(const char *prog, const char *name, uint8_t mac[6]);

/* RFC 1071: the ones' complement sum of data added to sum, not folded. */
uint32_t tb_sum(uint32_t sum, const void *data, size_t len);
/* Folds a sum to 16 bits and complements it: the checksum to store, in host order. */
uint16_t tb_fold(uint32_t sum);

uint64_t tb_now_ns(void);
/* A decimal number of seconds (0.5, 3) into nanoseconds; false for anything else. */
bool tb_parse_seconds(const char *s, uint64_t *ns);
bool tb_parse_u64(const char *s, uint64_t *out);

static inline uint16_t tb_get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}
static inline void tb_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline uint32_t tb_get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void tb_put32(uint8_t *p, uint32_t v)
{
    tb_put16(p, (uint16_t)(v >> 16));
    tb_put16(p + 2, (uint16_t)v);
}

#endif
