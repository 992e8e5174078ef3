/* SPDX-License-Identifier: MIT */
/* bench_wire.c: what the stack itself costs, without a TAP (issue 8, item 7): two tapir stacks
 * in one process move N bytes (default 1 GiB) over one TCP connection through the core's
 * non-blocking sockets (tapir/sock.h), one thread driving both stacks and the link between
 * them. Prints wall time, Gbit/s and CPU cycles per byte: CPU time (getrusage) times the
 * clock rate, since a virtual machine often has no performance counters to count cycles.
 *
 *   bench_wire [--bytes N] [--chunk N] [--link wire|fifo] [--mtu N] [--cc reno|cubic]
 *              [--verify] [--max-seconds S]
 *
 * --link wire (the default) is drivers/wire.c with no faults and no delay, the link of the sim
 * tests; its own cost (a malloc, a copy and a heap push and pop per frame) is counted in. --link
 * fifo is a plain queue that copies each frame once, straight into a receive buffer of the
 * other stack (tapir_rx_buffer), as the TAP driver's read() does: the stack's cost alone.
 * Time is the real monotonic clock, read once per pass of the loop (so within a pass the two
 * stacks see no time go by, as over a link of zero delay). Sizes take K, M and G (binary).
 *
 * The last line is "bench_wire: bytes N seconds S gbit_per_s G cpu_seconds C cycles_per_byte Y
 * mhz M", for scripts/bench. Nothing here passes or fails on speed; it fails (exit 1) only if
 * the transfer breaks, stalls past --max-seconds or (with --verify) delivers a wrong byte. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

#include "tapir/sock.h"
#include "tapir/stack.h"
#include "wire.h"

#define HOST_A 0x0a000001u /* 10.0.0.1, the sender (stack 0) */
#define HOST_B 0x0a000002u /* 10.0.0.2, the receiver (stack 1) */
#define PORT 5001
#define PERIOD (1u << 20) /* the data pattern repeats every MiB; chunks are at most that */
#define FIFO_SLOTS 16384u /* frames in flight on the fifo link, each way: past a 4 MiB window */
#define WIRE_FRAMES 65536u
#define FIFO_PKB_FRAMES 8192u /* the fifo holds receive buffers in flight: the pool must too */

struct opts {
    uint64_t bytes;
    size_t chunk;
    bool fifo;
    unsigned mtu;
    const char *cc;
    bool verify;
    double max_seconds;
};

/* One direction of the fifo link: receive buffers of the receiving stack, filled, in order. */
struct fifo_slot {
    struct pkb *p;
    uint32_t len;
};
struct fifo {
    struct fifo_slot *slot;
    unsigned head, count;
    uint64_t drops; /* the receiver's pool was empty, or the fifo full */
};

struct bench;
struct fifo_end {
    struct bench *b;
    int end; /* the sending stack */
};

struct bench {
    struct opts o;
    struct tapir_stack *st[2];
    struct wire *wire; /* --link wire */
    struct fifo q[2];  /* --link fifo: q[i] holds frames for stack i */
    struct fifo_end fe[2];
    struct tapir_sock *lis, *cli, *srv;
    uint8_t *pattern; /* two periods, so any chunk at any offset is contiguous */
    uint8_t *rbuf;
    uint64_t sent, got;
    bool shut, eof;
    uint64_t frames; /* frames delivered */
    uint64_t idle_passes, idle_us;
    bool freeing; /* the stacks are being freed: the fifo takes nothing more */
};

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_wire: %s: %s\n", what, rc ? strerror(rc < 0 ? -rc : rc) : "failed");
    exit(1);
}

/* ---- The clock rate ---------------------------------------------------------------------- */

/* "cpu MHz : 2095.995" from /proc/cpuinfo (the first CPU's), or 0. */
static double cpuinfo_mhz(void)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return 0;
    char line[256];
    double mhz = 0;
    while (fgets(line, sizeof(line), f)) {
        const char *colon = strchr(line, ':');
        if (strncmp(line, "cpu MHz", 7) == 0 && colon) {
            mhz = strtod(colon + 1, NULL);
            break;
        }
    }
    fclose(f);
    return mhz;
}

#if defined(__x86_64__) || defined(__i386__)
/* The time-stamp counter's rate over 100 ms: the nominal clock where cpuinfo says nothing. */
static double tsc_mhz(void)
{
    uint64_t t0 = mono_us(), c0 = __rdtsc();
    while (mono_us() - t0 < 100000)
        ;
    uint64_t t1 = mono_us(), c1 = __rdtsc();
    return (double)(c1 - c0) / (double)(t1 - t0);
}
#else
static double tsc_mhz(void)
{
    return 0;
}
#endif

static double clock_mhz(const char **source)
{
    double mhz = cpuinfo_mhz();
    *source = "/proc/cpuinfo";
    if (mhz <= 0) {
        mhz = tsc_mhz();
        *source = "the TSC";
    }
    return mhz;
}

/* ---- The fifo link ------------------------------------------------------------------------- */

/* A frame from stack fe->end: copied once into a receive buffer of the other stack, as a TAP
 * driver reads into one. Delivery waits for fifo_run: the sender is inside its own output
 * path now, and a stack is never entered twice. */
static int fifo_send(void *ctx, const void *frame, size_t len)
{
    struct fifo_end *fe = ctx;
    struct bench *b = fe->b;
    int to = !fe->end;
    struct fifo *q = &b->q[to];
    if (b->freeing)
        return 0; /* the other stack may be gone already */
    uint8_t *buf;
    size_t cap;
    struct pkb *p = q->count < FIFO_SLOTS ? tapir_rx_buffer(b->st[to], &buf, &cap) : NULL;
    if (!p || len > cap) {
        if (p)
            tapir_rx_release(b->st[to], p);
        tapir_rx_drop(b->st[to]);
        q->drops++;
        return 0; /* lost on the link, as a full TAP queue loses it */
    }
    memcpy(buf, frame, len);
    q->slot[(q->head + q->count++) % FIFO_SLOTS] = (struct fifo_slot){.p = p, .len = (uint32_t)len};
    return 0;
}

static bool fifo_deliver_one(struct bench *b, int to, uint64_t now)
{
    struct fifo *q = &b->q[to];
    if (!q->count)
        return false;
    struct fifo_slot s = q->slot[q->head];
    q->head = (q->head + 1) % FIFO_SLOTS;
    q->count--;
    tapir_input_pkb(b->st[to], s.p, s.len, now);
    b->frames++;
    return true;
}

/* Delivers until both queues are empty, a frame each way in turn (so ACKs reach the sender
 * while data is still arriving, as on a real link), then fires what timers are due. */
static uint64_t fifo_run(struct bench *b, uint64_t now)
{
    uint64_t before = b->frames;
    bool any = true;
    while (any) {
        any = fifo_deliver_one(b, 1, now);
        any |= fifo_deliver_one(b, 0, now);
    }
    for (int i = 0; i < 2; i++)
        tapir_timers(b->st[i], now);
    return b->frames - before;
}

/* ---- Setting up ---------------------------------------------------------------------------- */

static struct tapir_driver link_driver(struct bench *b, int end)
{
    if (!b->o.fifo)
        return wire_driver(b->wire, end);
    b->fe[end] = (struct fifo_end){.b = b, .end = end};
    return (struct tapir_driver){.send = fifo_send, .ctx = &b->fe[end]};
}

static void stacks_new(struct bench *b)
{
    if (b->o.fifo) {
        for (int i = 0; i < 2; i++)
            if (!(b->q[i].slot = calloc(FIFO_SLOTS, sizeof(*b->q[i].slot))))
                die("out of memory", ENOMEM);
    } else if (!(b->wire = wire_new(&(struct wire_faults){0}, 1, WIRE_FRAMES))) {
        die("wire_new", ENOMEM);
    }
    for (int i = 0; i < 2; i++) {
        struct tapir_config cfg;
        tapir_config_defaults(&cfg);
        uint8_t mac[6] = {0x02, 0, 0, 0, 0, (uint8_t)(i + 1)};
        memcpy(cfg.mac, mac, sizeof(mac));
        cfg.addr.s_addr = htonl(i ? HOST_B : HOST_A);
        cfg.prefix_len = 24;
        cfg.seed = 1000u + (unsigned)i;
        cfg.mtu_bytes = b->o.mtu;
        cfg.tcp_congestion = b->o.cc;
        if (b->o.fifo)
            cfg.pkb_frames = FIFO_PKB_FRAMES;
        struct tapir_driver drv = link_driver(b, i);
        if (!(b->st[i] = tapir_stack_new(&cfg, &drv)))
            die("tapir_stack_new", errno);
        if (b->wire)
            wire_attach(b->wire, i, b->st[i]);
    }
}

/* Brings the link up to now and delivers what is due; returns the frames delivered. */
static uint64_t link_run(struct bench *b, uint64_t now)
{
    if (!b->wire)
        return fifo_run(b, now);
    uint64_t before = wire_stats(b->wire)->delivered;
    wire_set_now(b->wire, now);
    wire_run(b->wire, now, NULL);
    uint64_t delivered = wire_stats(b->wire)->delivered - before;
    b->frames += delivered;
    return delivered;
}

static struct sockaddr_in sin_of(uint32_t addr, uint16_t port)
{
    return (struct sockaddr_in){
        .sin_family = AF_INET, .sin_addr.s_addr = htonl(addr), .sin_port = htons(port)};
}

static struct tapir_sock *tcp_socket(struct tapir_stack *st)
{
    struct tapir_sock *s;
    int rc = tapir_sock_open(st, SOCK_STREAM, 0, &s);
    if (rc < 0)
        die("tapir_sock_open", rc);
    return s;
}

/* Listener on B, client on A, the handshake run to its end (ARP first), within a second. */
static void connect_pair(struct bench *b)
{
    uint64_t t0 = mono_us();
    for (int i = 0; i < 2; i++)
        tapir_start(b->st[i], t0);
    b->lis = tcp_socket(b->st[1]);
    struct sockaddr_in any = sin_of(0, PORT), to = sin_of(HOST_B, PORT);
    int rc = tapir_sock_bind(b->lis, &any);
    if (rc < 0 || (rc = tapir_sock_listen(b->lis, 8)) < 0)
        die("listen", rc);
    b->cli = tcp_socket(b->st[0]);
    if ((rc = tapir_sock_connect(b->cli, &to)) != -EINPROGRESS)
        die("connect", rc);
    while (!b->srv || tapir_sock_connected(b->cli) == -EAGAIN) {
        if (mono_us() - t0 > 1000000)
            die("the handshake did not finish within a second", ETIMEDOUT);
        link_run(b, mono_us());
        if (!b->srv && (rc = tapir_sock_accept(b->lis, &b->srv, NULL)) < 0 && rc != -EAGAIN)
            die("accept", rc);
    }
    if ((rc = tapir_sock_connected(b->cli)) < 0)
        die("connect", rc);
}

/* ---- The transfer -------------------------------------------------------------------------- */

/* Byte i of the stream: not a multiple of any segment size, so a misplaced segment shows. */
static void pattern_fill(uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)((i % PERIOD) * 131u + ((i % PERIOD) >> 11));
}

/* The application writes what the send buffer takes; after the last byte, its FIN. */
static uint64_t sender_step(struct bench *b)
{
    uint64_t moved = 0;
    while (b->sent < b->o.bytes) {
        uint64_t left = b->o.bytes - b->sent;
        size_t len = left < b->o.chunk ? (size_t)left : b->o.chunk;
        ssize_t n = tapir_sock_sendto(b->cli, b->pattern + b->sent % PERIOD, len, 0, NULL);
        if (n == -EAGAIN)
            break;
        if (n < 0)
            die("send", (int)n);
        b->sent += (uint64_t)n;
        moved += (uint64_t)n;
    }
    if (b->sent == b->o.bytes && !b->shut) {
        int rc = tapir_sock_shutdown(b->cli, SHUT_WR);
        if (rc < 0)
            die("shutdown", rc);
        b->shut = true;
    }
    return moved;
}

/* The application reads all that has arrived, until the peer's FIN. */
static uint64_t receiver_step(struct bench *b)
{
    uint64_t moved = 0;
    while (!b->eof) {
        ssize_t n = tapir_sock_recvfrom(b->srv, b->rbuf, b->o.chunk, 0, NULL, NULL);
        if (n == -EAGAIN)
            break;
        if (n < 0)
            die("recv", (int)n);
        if (n == 0) {
            b->eof = true;
            break;
        }
        if (b->o.verify && memcmp(b->rbuf, b->pattern + b->got % PERIOD, (size_t)n) != 0) {
            fprintf(stderr, "bench_wire: wrong data in the %zd bytes from offset %llu\n", n,
                    (unsigned long long)b->got);
            exit(1);
        }
        b->got += (uint64_t)n;
        moved += (uint64_t)n;
    }
    return moved;
}

/* Nothing moved and nothing is on the link: only a timer can help (a delayed ACK, a
 * retransmission). Sleep until the earlier deadline, at most a millisecond. A healthy
 * transfer never comes here; the time spent here is reported. */
static void idle_wait(struct bench *b, uint64_t now)
{
    uint64_t next = tapir_next_deadline(b->st[0]);
    uint64_t n1 = tapir_next_deadline(b->st[1]);
    next = n1 < next ? n1 : next;
    uint64_t wait = next > now ? next - now : 0;
    wait = wait > 1000 ? 1000 : wait;
    b->idle_passes++;
    if (wait) {
        struct timespec ts = {0, (long)wait * 1000};
        nanosleep(&ts, NULL);
        b->idle_us += wait;
    }
}

static void transfer(struct bench *b)
{
    uint64_t t0 = mono_us(), limit = (uint64_t)(b->o.max_seconds * 1e6);
    while (!b->eof) {
        uint64_t now = mono_us();
        if (now - t0 > limit) {
            fprintf(stderr, "bench_wire: stopped after %.0f s: %llu of %llu bytes arrived\n",
                    b->o.max_seconds, (unsigned long long)b->got, (unsigned long long)b->o.bytes);
            exit(1);
        }
        uint64_t frames = link_run(b, now);
        uint64_t moved = sender_step(b) + receiver_step(b);
        if (!frames && !moved && !b->eof)
            idle_wait(b, now);
    }
    if (b->got != b->o.bytes)
        die("the stream ended early", EPIPE);
}

/* ---- Reporting ----------------------------------------------------------------------------- */

static void print_stack_counters(const struct bench *b, const struct tapir_stats *base)
{
    for (int i = 0; i < 2; i++) {
        const struct tapir_stats *s = tapir_stats(b->st[i]);
        const struct tapir_stats *s0 = &base[i];
        printf("# %s: tcp segments out %llu in %llu, retransmitted %llu, timeouts %llu; "
               "allocations during the transfer %llu; packet buffers at most %llu; "
               "frames dropped for want of a buffer %llu\n",
               i ? "receiver" : "sender  ",
               (unsigned long long)(s->tcp.tx_segments - s0->tcp.tx_segments),
               (unsigned long long)(s->tcp.rx_segments - s0->tcp.rx_segments),
               (unsigned long long)(s->tcp.rexmit_segments - s0->tcp.rexmit_segments),
               (unsigned long long)(s->tcp.retransmits - s0->tcp.retransmits),
               (unsigned long long)(s->mem.allocs - s0->mem.allocs),
               (unsigned long long)s->mem.pkb_in_use_max,
               (unsigned long long)s->eth.drop_no_buffer);
    }
}

static void report(const struct bench *b, double wall_s, double cpu_s,
                   const struct tapir_stats base[2])
{
    const char *src;
    double mhz = clock_mhz(&src);
    double gbps = (double)b->o.bytes * 8 / wall_s / 1e9;
    double cpb = mhz > 0 ? cpu_s * mhz * 1e6 / (double)b->o.bytes : 0;
    uint64_t data_segs = tapir_stats(b->st[0])->tcp.tx_segments - base[0].tcp.tx_segments;
    uint64_t acks = tapir_stats(b->st[1])->tcp.tx_segments - base[1].tcp.tx_segments;
    printf("# %llu bytes over %s, mtu %u, %s, chunks of %zu: %.3f s wall, %.3f s CPU (%.0f%% of "
           "one core), clock %.0f MHz from %s\n",
           (unsigned long long)b->o.bytes, b->o.fifo ? "the fifo link" : "drivers/wire.c", b->o.mtu,
           b->o.cc, b->o.chunk, wall_s, cpu_s, 100 * cpu_s / wall_s, mhz, src);
    printf("# %llu frames delivered; %.1f data segments per ACK; %.0f ns of CPU per frame; "
           "idle %llu passes, %.1f ms asleep waiting for a timer\n",
           (unsigned long long)b->frames, acks ? (double)data_segs / (double)acks : 0.0,
           b->frames ? cpu_s * 1e9 / (double)b->frames : 0.0, (unsigned long long)b->idle_passes,
           b->idle_us / 1e3);
    if (b->o.fifo)
        printf("# fifo drops %llu, %llu\n", (unsigned long long)b->q[0].drops,
               (unsigned long long)b->q[1].drops);
    else
        printf("# wire: sent %llu, delivered %llu, overflow %llu\n",
               (unsigned long long)wire_stats(b->wire)->sent,
               (unsigned long long)wire_stats(b->wire)->delivered,
               (unsigned long long)wire_stats(b->wire)->overflow);
    print_stack_counters(b, base);
    printf("stack_wire_gbps %.2f Gbit/s\n", gbps);
    printf("stack_wire_cycles_per_byte %.2f cycles/B\n", cpb);
    printf("bench_wire: bytes %llu seconds %.3f gbit_per_s %.2f cpu_seconds %.3f "
           "cycles_per_byte %.3f mhz %.0f\n",
           (unsigned long long)b->o.bytes, wall_s, gbps, cpu_s, cpb, mhz);
}

/* ---- Options ------------------------------------------------------------------------------- */

/* "1073741824", "64K", "512M", "1G" (binary multiples); 0 for garbage. */
static uint64_t parse_size(const char *s)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    switch (*end) {
    case 'k':
    case 'K':
        v <<= 10;
        end++;
        break;
    case 'm':
    case 'M':
        v <<= 20;
        end++;
        break;
    case 'g':
    case 'G':
        v <<= 30;
        end++;
        break;
    default:
        break;
    }
    return *end ? 0 : v;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_wire [--bytes N] [--chunk N] [--link wire|fifo] [--mtu N] "
                    "[--cc reno|cubic] [--verify] [--max-seconds S]\n");
    exit(2);
}

static struct opts parse_opts(int argc, char **argv)
{
    struct opts o = {
        .bytes = 1ull << 30, .chunk = 64u << 10, .mtu = 1500, .cc = "reno", .max_seconds = 60};
    static const struct option longs[] = {{"bytes", required_argument, 0, 'b'},
                                          {"chunk", required_argument, 0, 'c'},
                                          {"link", required_argument, 0, 'l'},
                                          {"mtu", required_argument, 0, 'm'},
                                          {"cc", required_argument, 0, 'C'},
                                          {"verify", no_argument, 0, 'v'},
                                          {"max-seconds", required_argument, 0, 't'},
                                          {"help", no_argument, 0, 'h'},
                                          {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (ch) {
        case 'b':
            o.bytes = parse_size(optarg);
            break;
        case 'c':
            o.chunk = (size_t)parse_size(optarg);
            break;
        case 'l':
            if (strcmp(optarg, "fifo") && strcmp(optarg, "wire"))
                usage();
            o.fifo = strcmp(optarg, "fifo") == 0;
            break;
        case 'm':
            o.mtu = (unsigned)atoi(optarg);
            break;
        case 'C':
            o.cc = optarg;
            break;
        case 'v':
            o.verify = true;
            break;
        case 't':
            o.max_seconds = atof(optarg);
            break;
        default:
            usage();
        }
    }
    if (optind != argc || !o.bytes || !o.chunk || o.chunk > PERIOD || o.max_seconds <= 0)
        usage();
    return o;
}

int main(int argc, char **argv)
{
    static struct bench b;
    b.o = parse_opts(argc, argv);
    if (!(b.pattern = malloc(2 * PERIOD)) || !(b.rbuf = malloc(b.o.chunk)))
        die("out of memory", ENOMEM);
    pattern_fill(b.pattern, 2 * PERIOD);
    stacks_new(&b);
    connect_pair(&b);
    struct tapir_stats base[2] = {*tapir_stats(b.st[0]), *tapir_stats(b.st[1])};
    uint64_t frames0 = b.frames;
    double cpu0 = cpu_seconds();
    uint64_t t0 = mono_us();
    transfer(&b);
    double wall_s = (double)(mono_us() - t0) / 1e6, cpu_s = cpu_seconds() - cpu0;
    b.frames -= frames0;
    report(&b, wall_s, cpu_s, base);
    tapir_sock_close(b.cli);
    tapir_sock_close(b.srv);
    tapir_sock_close(b.lis);
    link_run(&b, mono_us()); /* the fifo holds receive buffers: give them back first */
    b.freeing = true;
    for (int i = 0; i < 2; i++)
        tapir_stack_free(b.st[i]);
    wire_free(b.wire);
    for (int i = 0; i < 2; i++)
        free(b.q[i].slot);
    free(b.pattern);
    free(b.rbuf);
    return 0;
}
