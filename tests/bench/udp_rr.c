/* SPDX-License-Identifier: MIT */
/* udp_rr.c: UDP echo rate and loss (issue 8, item 4), the host's side: keeps --window datagrams
 * of --size bytes (default 64) in flight to a UDP echo server at ADDR PORT, sending the next as
 * each reply comes back, for --seconds (default 2). With a window of 1 that is the request and
 * response rate of one client; a wider window keeps the server busy, and what it cannot take is
 * lost (in the TAP's queue, the server's socket, ...).
 *
 *   udp_rr ADDR PORT [--seconds S] [--window W] [--size BYTES] [--timeout-ms MS]
 *
 * A datagram whose reply has not come back within --timeout-ms (default 100) is lost, and its
 * place in the window goes to a new one; a reply that comes after that is "late" (still lost).
 * At the end no new datagram is sent and the ones in flight get the timeout to come back. The
 * rate is the replies that came back within the run, per second; the loss is the lost datagrams
 * over all that were sent. Non-blocking, poll() with a 1 ms timeout, so each wait is bounded.
 * The last line is "udp_rr: window W sent N received R lost L late K seconds S pps P loss F
 * rtt_p50_us A rtt_p99_us B", for scripts/bench. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hostload.h"

#define WINDOW_MAX 4096u
#define MSG_MAX 1472u
#define MAGIC 0x75647272u /* "udrr" */

struct opts {
    struct sockaddr_in dst;
    double seconds;
    unsigned window, size, timeout_ms;
};

/* A place in the window: the datagram it has in flight, if any. */
struct slot {
    uint32_t seq;
    bool out;
    uint64_t sent_us;
};

struct run {
    struct opts o;
    int fd;
    struct slot slot[WINDOW_MAX];
    uint32_t next_seq;
    uint64_t sent, received, in_run, lost, late, send_errors, refused, strange;
    uint64_t hist[HIST_BUCKETS];
};

static void usage(void)
{
    fprintf(stderr, "usage: udp_rr ADDR PORT [--seconds S] [--window W] [--size BYTES] "
                    "[--timeout-ms MS]\n");
    exit(2);
}

static struct opts parse_opts(int argc, char **argv)
{
    struct opts o = {.seconds = 2, .window = 1, .size = 64, .timeout_ms = 100};
    static const struct option longs[] = {{"seconds", required_argument, 0, 's'},
                                          {"window", required_argument, 0, 'w'},
                                          {"size", required_argument, 0, 'z'},
                                          {"timeout-ms", required_argument, 0, 't'},
                                          {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (ch) {
        case 's':
            o.seconds = atof(optarg);
            break;
        case 'w':
            o.window = (unsigned)atoi(optarg);
            break;
        case 'z':
            o.size = (unsigned)atoi(optarg);
            break;
        case 't':
            o.timeout_ms = (unsigned)atoi(optarg);
            break;
        default:
            usage();
        }
    }
    if (argc - optind != 2 || !inet_aton(argv[optind], &o.dst.sin_addr) || o.seconds <= 0 ||
        o.seconds > 3600 || !o.window || o.window > WINDOW_MAX || o.size < 12 || o.size > MSG_MAX ||
        !o.timeout_ms || o.timeout_ms > 10000)
        usage();
    o.dst.sin_family = AF_INET;
    o.dst.sin_port = htons((uint16_t)atoi(argv[optind + 1]));
    return o;
}

/* The datagram of slot i with sequence seq: magic, slot, seq, then letters. */
static void msg_fill(uint8_t *m, unsigned len, uint32_t i, uint32_t seq)
{
    uint32_t head[3] = {MAGIC, i, seq};
    memcpy(m, head, sizeof(head));
    for (unsigned k = sizeof(head); k < len; k++)
        m[k] = (uint8_t)('a' + (seq + k) % 26);
}

/* Puts a new datagram in slot i. A send the socket refuses for now (ENOBUFS, EAGAIN) leaves
 * the slot empty; the next sweep tries again. */
static void slot_send(struct run *r, unsigned i)
{
    uint8_t m[MSG_MAX];
    struct slot *s = &r->slot[i];
    s->seq = r->next_seq++;
    msg_fill(m, r->o.size, i, s->seq);
    if (send(r->fd, m, r->o.size, 0) != (ssize_t)r->o.size) {
        if (errno == ECONNREFUSED)
            r->refused++; /* an ICMP unreachable for an earlier one */
        else
            r->send_errors++;
        s->out = false;
        return;
    }
    s->out = true;
    s->sent_us = mono_us();
    r->sent++;
}

/* The replies that are there (up to a bound, so the caller looks at the clock); a matching one
 * frees its slot for the next datagram (while sending). */
static void receive(struct run *r, bool sending, bool in_run)
{
    uint8_t m[MSG_MAX + 1], want[MSG_MAX];
    for (unsigned k = 0; k < 1024; k++) {
        ssize_t n = recv(r->fd, m, sizeof(m), MSG_DONTWAIT);
        if (n < 0 && errno == ECONNREFUSED) {
            r->refused++;
            continue;
        }
        if (n < 0)
            return;
        uint32_t head[3];
        if ((size_t)n != r->o.size) {
            r->strange++;
            continue;
        }
        memcpy(head, m, sizeof(head));
        struct slot *s = head[1] < r->o.window ? &r->slot[head[1]] : NULL;
        if (head[0] != MAGIC || !s) {
            r->strange++;
            continue;
        }
        if (!s->out || s->seq != head[2]) {
            r->late++; /* its datagram timed out already (or a duplicate) */
            continue;
        }
        msg_fill(want, r->o.size, head[1], head[2]);
        if (memcmp(m, want, r->o.size) != 0) {
            r->strange++;
            continue;
        }
        r->hist[hist_bucket(mono_us() - s->sent_us)]++;
        r->received++;
        r->in_run += in_run;
        s->out = false;
        if (sending)
            slot_send(r, head[1]);
    }
}

/* Datagrams past the timeout are lost; empty slots get a new one (while sending). True while
 * any is in flight. */
static bool sweep(struct run *r, bool sending)
{
    uint64_t now = mono_us(), limit = (uint64_t)r->o.timeout_ms * 1000u;
    bool any = false;
    for (unsigned i = 0; i < r->o.window; i++) {
        struct slot *s = &r->slot[i];
        if (s->out && now - s->sent_us > limit) {
            r->lost++;
            s->out = false;
        }
        if (!s->out && sending)
            slot_send(r, i);
        any |= s->out;
    }
    return any;
}

int main(int argc, char **argv)
{
    static struct run r;
    r.o = parse_opts(argc, argv);
    on_signals();
    r.fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (r.fd < 0 || connect(r.fd, (struct sockaddr *)&r.o.dst, sizeof(r.o.dst)) < 0) {
        perror("udp_rr");
        return 1;
    }
    struct pollfd pfd = {.fd = r.fd, .events = POLLIN};
    uint64_t t0 = mono_us(), end = t0 + (uint64_t)(r.o.seconds * 1e6), last_sweep = 0;
    for (unsigned i = 0; i < r.o.window; i++)
        slot_send(&r, i);
    while (!stop && mono_us() < end) {
        poll(&pfd, 1, 1);
        receive(&r, true, true);
        if (mono_us() - last_sweep >= 1000) { /* the timeouts are milliseconds */
            sweep(&r, true);
            last_sweep = mono_us();
        }
    }
    double seconds = (double)(mono_us() - t0) / 1e6;
    /* The ones in flight: their timeout to come back, nothing new sent. */
    uint64_t drain_end = mono_us() + (uint64_t)r.o.timeout_ms * 1000u + 1000u;
    while (!stop && mono_us() < drain_end && sweep(&r, false)) {
        poll(&pfd, 1, 1);
        receive(&r, false, false);
    }
    for (unsigned i = 0; i < r.o.window; i++) /* cut short by a signal: still out is lost */
        if (r.slot[i].out)
            r.lost++;
    close(r.fd);
    double loss = r.sent ? (double)r.lost / (double)r.sent : 0;
    uint64_t p50 = hist_percentile(r.hist, r.received, 50);
    uint64_t p99 = hist_percentile(r.hist, r.received, 99);
    printf("# %s:%u, %u-byte datagrams, window %u, %.3f s: %llu sent, %llu back (%llu within "
           "the run), %llu lost (%llu of them late), %llu send errors, %llu refused, %llu "
           "strange; round trip p50 %llu us, p99 %llu us\n",
           inet_ntoa(r.o.dst.sin_addr), ntohs(r.o.dst.sin_port), r.o.size, r.o.window, seconds,
           (unsigned long long)r.sent, (unsigned long long)r.received, (unsigned long long)r.in_run,
           (unsigned long long)r.lost, (unsigned long long)r.late,
           (unsigned long long)r.send_errors, (unsigned long long)r.refused,
           (unsigned long long)r.strange, (unsigned long long)p50, (unsigned long long)p99);
    printf("udp_rr: window %u sent %llu received %llu lost %llu late %llu seconds %.3f pps %.0f "
           "loss %.6f rtt_p50_us %llu rtt_p99_us %llu\n",
           r.o.window, (unsigned long long)r.sent, (unsigned long long)r.received,
           (unsigned long long)r.lost, (unsigned long long)r.late, seconds,
           (double)r.in_run / seconds, loss, (unsigned long long)p50, (unsigned long long)p99);
    return r.received ? 0 : 1;
}
