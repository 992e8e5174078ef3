/* SPDX-License-Identifier: MIT */
/* fuzz_input.c: libFuzzer target over tapir_input. The input is a sequence of frames, each
 * preceded by a time step and a length, fed to a fresh stack that already knows its gateway's
 * MAC; afterwards every timer runs out and no buffer may be left in use.
 *
 * Record format: [time step, 1 byte, in 10 ms units][length, 2 bytes big-endian][frame]. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count_send(void *ctx, const void *frame, size_t len)
{
    (void)frame;
    /* Every frame out must at least carry an Ethernet header, and fit the MTU. */
    if (len < 14 || len > 14 + 1500 + 4)
        abort();
    (*(size_t *)ctx)++;
    return 0;
}

/* The gateway 10.0.0.1 asks who has 10.0.0.2, so the stack learns its MAC. */
static const uint8_t arp_from_gateway[42] = {
    0x02, 0x74, 0x61, 0x70, 0x69, 0x72, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06,
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
    10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2,
};

static struct tapir_stack *fuzz_stack(size_t *sent)
{
    struct tapir_config cfg;
    tapir_config_defaults(&cfg);
    static const uint8_t mac[6] = {0x02, 0x74, 0x61, 0x70, 0x69, 0x72};
    memcpy(cfg.mac, mac, 6);
    cfg.addr.s_addr = htonl(0x0a000002u);
    cfg.gateway.s_addr = htonl(0x0a000001u);
    cfg.prefix_len = 24;
    cfg.seed = 1;
    cfg.pkb_frames = 64;      /* small pools so exhaustion paths are reachable */
    cfg.pkb_large_frames = 4;
    cfg.ipfrag_max_datagrams = 3;
    cfg.arp_cache_entries = 4;
    struct tapir_driver drv = {.send = count_send, .ctx = sent};
    return tapir_stack_new(&cfg, &drv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t sent = 0;
    struct tapir_stack *st = fuzz_stack(&sent);
    if (!st)
        abort();
    uint64_t now = 1000000;
    tapir_start(st, now);
    tapir_input(st, arp_from_gateway, sizeof(arp_from_gateway), now);
    while (size >= 3) {
        now += data[0] * 10000u;
        size_t len = (size_t)data[1] << 8 | data[2];
        data += 3;
        size -= 3;
        if (len > size)
            len = size;
        tapir_timers(st, now);
        tapir_input(st, data, len, now);
        data += len;
        size -= len;
    }
    /* Let every timer run its course (reassembly timeouts send ICMP errors, which may start
     * ARP resolutions that then give up): afterwards nothing may hold a buffer, and the
     * stack must go quiet within a bounded number of steps. */
    for (int steps = 0; tapir_next_deadline(st) != UINT64_MAX; steps++) {
        if (steps > 10000)
            abort();
        tapir_timers(st, tapir_next_deadline(st));
    }
    if (tapir_stats(st)->mem.pkb_in_use != 0)
        abort();
    tapir_stack_free(st);
    return 0;
}
