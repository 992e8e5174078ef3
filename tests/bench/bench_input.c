/* SPDX-License-Identifier: MIT */
/* bench_input.c: what the stack itself costs per frame, without a TAP: echo requests of three
 * sizes fed to tapir_input, replies sent to a driver that discards them. Prints figures only;
 * nothing here passes or fails on speed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bytes.h"
#include "core.h"
#include "csum.h"

static int discard(void *ctx, const void *frame, size_t len)
{
    (void)frame;
    *(uint64_t *)ctx += len;
    return 0;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Builds the Ethernet frames of one echo request of data_len bytes, fragmented at 1500. */
static size_t build_ping(uint8_t frames[][1514], size_t lens[], size_t data_len, uint16_t id)
{
    static uint8_t icmp[65536];
    size_t icmp_len = 8 + data_len;
    memset(icmp, 0xa5, icmp_len);
    icmp[0] = 8;
    icmp[1] = 0;
    put_be16(icmp + 2, 0);
    put_be32(icmp + 4, 0x00070001);
    put_be16(icmp + 2, csum(icmp, icmp_len));
    size_t n = 0;
    for (size_t off = 0; off < icmp_len; off += 1480, n++) {
        size_t chunk = icmp_len - off < 1480 ? icmp_len - off : 1480;
        uint8_t *f = frames[n];
        memcpy(f, "\x02\x74\x61\x70\x69\x72\x02\x00\x00\x00\x00\x01\x08\x00", 14);
        uint8_t *h = f + 14;
        h[0] = 0x45;
        h[1] = 0;
        put_be16(h + 2, (uint16_t)(20 + chunk));
        put_be16(h + 4, id);
        put_be16(h + 6, (uint16_t)((off + chunk < icmp_len ? 0x2000 : 0) | off / 8));
        h[8] = 64;
        h[9] = 1;
        put_be16(h + 10, 0);
        put_be32(h + 12, 0x0a000001u);
        put_be32(h + 16, 0x0a000002u);
        put_be16(h + 10, csum(h, 20));
        memcpy(h + 20, icmp + off, chunk);
        lens[n] = 14 + 20 + chunk;
    }
    return n;
}

static void bench(size_t data_len, unsigned pings)
{
    static uint8_t frames[45][1514];
    size_t lens[45];
    uint64_t out_bytes = 0;
    struct tapir_config cfg;
    tapir_config_defaults(&cfg);
    memcpy(cfg.mac, "\x02\x74\x61\x70\x69\x72", 6);
    cfg.addr.s_addr = htonl(0x0a000002u);
    cfg.seed = 1;
    struct tapir_driver drv = {.send = discard, .ctx = &out_bytes};
    struct tapir_stack *st = tapir_stack_new(&cfg, &drv);
    static const uint8_t arp[42] = {0x02, 0x74, 0x61, 0x70, 0x69, 0x72, 0x02, 0, 0, 0, 0, 1,
                                    0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1,
                                    10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2};
    tapir_input(st, arp, sizeof(arp), 1);
    size_t n = build_ping(frames, lens, data_len, 1);
    uint64_t frames_in = 0, t0 = now_ns();
    for (unsigned i = 0; i < pings; i++)
        for (size_t k = 0; k < n; k++, frames_in++)
            tapir_input(st, frames[k], lens[k], 2 + i);
    uint64_t ns = now_ns() - t0;
    const struct tapir_stats *s = tapir_stats(st);
    printf("echo %5zu bytes: %8.0f pings/s  %8.0f frames in/s  %6.1f ns/frame  %6.2f Gbit/s out"
           "  (replies %llu, allocations %llu)\n",
           data_len, pings * 1e9 / (double)ns, frames_in * 1e9 / (double)ns,
           (double)ns / (double)frames_in, out_bytes * 8.0 / (double)ns,
           (unsigned long long)s->icmp.tx_echo_replies, (unsigned long long)s->mem.allocs);
    tapir_stack_free(st);
}

int main(void)
{
    printf("stack cost without a TAP, one core, replies discarded:\n");
    bench(56, 2000000);
    bench(1472, 500000);
    bench(65507, 5000);
    return 0;
}
