/* SPDX-License-Identifier: MIT */
/* fuzz_input.c: libFuzzer target over tapir_input. The input is a sequence of frames, each
 * preceded by a time step and a length, fed to a fresh stack that already knows its gateway's
 * MAC; afterwards every timer runs out, every socket closes, the timers run out again, and no
 * packet buffer or connection block may be left. The stack writes a pcap capture and, for
 * one input in four, every trace line (to /dev/null).
 *
 * Record format: [time step, 1 byte, in 10 ms units][length, 2 bytes big-endian][frame]. */
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "tapir/sock.h"

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

static struct tapir_stack *fuzz_stack(size_t *sent, bool trace)
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
    /* The capture is written (and thrown away), and with trace every trace line too, so
     * hostile frames go through what --pcap and --trace do with them. */
    static FILE *devnull;
    if (!devnull)
        devnull = fopen("/dev/null", "w");
    cfg.pcap_out = devnull;
    cfg.trace_out = devnull;
    cfg.trace_mask = trace ? TAPIR_TRACE_ALL : 0;
    struct tapir_driver drv = {.send = count_send, .ctx = sent};
    return tapir_stack_new(&cfg, &drv);
}

/* Sockets for fuzzed frames to reach: UDP on port 7 (echoing what it gets), two sharing
 * port 68 for broadcasts, one connected to 10.0.0.1:9 (ICMP errors), a ping socket (id 1),
 * and a TCP listener on port 7 whose accepted connections echo too. */
#define FUZZ_SOCKS 5
#define FUZZ_TCP_CONNS 4

static struct tapir_sock *fuzz_sock(struct tapir_stack *st, int proto, uint16_t port,
                                    bool reuse, bool connect)
{
    struct tapir_sock *s;
    if (tapir_sock_open(st, SOCK_DGRAM, proto, &s) < 0)
        abort();
    int on = reuse;
    tapir_sock_setopt(s, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (tapir_sock_bind(s, &sin) < 0)
        abort();
    if (connect) {
        sin.sin_addr.s_addr = htonl(0x0a000001u);
        sin.sin_port = htons(9);
        if (tapir_sock_connect(s, &sin) < 0)
            abort();
    }
    return s;
}

static void fuzz_sockets(struct tapir_stack *st, struct tapir_sock **s)
{
    s[0] = fuzz_sock(st, IPPROTO_UDP, 7, false, false);
    s[1] = fuzz_sock(st, IPPROTO_UDP, 68, true, false);
    s[2] = fuzz_sock(st, IPPROTO_UDP, 68, true, false);
    s[3] = fuzz_sock(st, IPPROTO_UDP, 0, false, true);
    s[4] = fuzz_sock(st, IPPROTO_ICMP, 1, false, false);
}

static struct tapir_sock *fuzz_listener(struct tapir_stack *st)
{
    struct tapir_sock *s;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(7)};
    if (tapir_sock_open(st, SOCK_STREAM, 0, &s) < 0 || tapir_sock_bind(s, &sin) < 0 ||
        tapir_sock_listen(s, 4) < 0)
        abort();
    return s;
}

/* Accepts what the listener has (up to a few) and echoes what the connections receive. */
static void fuzz_tcp(struct tapir_sock *l, struct tapir_sock **conns)
{
    static uint8_t buf[4096];
    struct tapir_sock *c;
    for (int i = 0; i < FUZZ_TCP_CONNS; i++)
        if (!conns[i] && tapir_sock_accept(l, &c, NULL) == 0)
            conns[i] = c;
    for (int i = 0; i < FUZZ_TCP_CONNS; i++) {
        ssize_t n;
        while (conns[i] && (n = tapir_sock_recvfrom(conns[i], buf, sizeof(buf), 0, NULL, NULL)) > 0)
            tapir_sock_sendto(conns[i], buf, (size_t)n, 0, NULL);
    }
}

/* Reads what the sockets hold; the echo socket answers, as a server would. */
static void fuzz_drain(struct tapir_sock **s)
{
    static uint8_t buf[65536];
    for (int i = 0; i < FUZZ_SOCKS; i++) {
        struct sockaddr_in from;
        ssize_t n;
        while ((n = tapir_sock_recvfrom(s[i], buf, sizeof(buf), 0, &from, NULL)) != -EAGAIN) {
            if (i == 0 && n >= 0)
                tapir_sock_sendto(s[i], buf, (size_t)n, 0, &from);
        }
    }
}

/* Lets every timer run its course (reassembly timeouts send ICMP errors, which may start
 * ARP resolutions that then give up): the stack must go quiet within a bounded number of
 * steps. */
static void fuzz_run_out(struct tapir_stack *st)
{
    for (int steps = 0; tapir_next_deadline(st) != UINT64_MAX; steps++) {
        if (steps > 10000)
            abort();
        tapir_timers(st, tapir_next_deadline(st));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t sent = 0;
    /* One input in four (first byte 3 mod 4) runs traced: formatting costs a few times
     * the rest. */
    struct tapir_stack *st = fuzz_stack(&sent, size && (data[0] & 3) == 3);
    if (!st)
        abort();
    uint64_t now = 1000000;
    tapir_start(st, now);
    tapir_input(st, arp_from_gateway, sizeof(arp_from_gateway), now);
    struct tapir_sock *socks[FUZZ_SOCKS], *listener = fuzz_listener(st);
    struct tapir_sock *conns[FUZZ_TCP_CONNS] = {0};
    fuzz_sockets(st, socks);
    while (size >= 3) {
        now += data[0] * 10000u;
        size_t len = (size_t)data[1] << 8 | data[2];
        data += 3;
        size -= 3;
        if (len > size)
            len = size;
        tapir_timers(st, now);
        tapir_input(st, data, len, now);
        fuzz_drain(socks);
        fuzz_tcp(listener, conns);
        data += len;
        size -= len;
    }
    fuzz_run_out(st);
    fuzz_drain(socks);
    for (int i = 0; i < FUZZ_SOCKS; i++)
        tapir_sock_close(socks[i]);
    for (int i = 0; i < FUZZ_TCP_CONNS; i++)
        tapir_sock_close(conns[i]);
    tapir_sock_close(listener);
    /* Closed, the connections end as orphans (a FIN, its retransmissions, TIME_WAIT). */
    fuzz_run_out(st);
    const struct tapir_stats *stats = tapir_stats(st);
    if (stats->mem.pkb_in_use != 0 || stats->tcp.conns_allocated != stats->tcp.conns_freed)
        abort();
    tapir_stack_free(st);
    return 0;
}
