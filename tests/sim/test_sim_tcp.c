/* SPDX-License-Identifier: MIT */
/* test_sim_tcp.c: TCP between two stacks (10.0.0.1 and 10.0.0.2) over drivers/wire.c in
 * virtual time, through the core's non-blocking sockets. Each state change of RFC 9293's
 * diagram is checked in the trace, connection by connection: active, passive and simultaneous
 * opens and closes, half-close, resets in every state a test can reach, TIME_WAIT's 2*MSL and
 * the reuse of its 4-tuple; a megabyte each way through loss, duplication and reordering; and
 * a driver wrapper that parses every segment leaving either stack checks that no data goes
 * past the right edge of the window its peer offered. Every test ends with every connection
 * block freed. TCP_SIM_TRACE=1 in the environment prints both stacks' traces after each test,
 * TCP_SIM_ONLY=pattern runs only the tests it matches, TCP_SIM_SEED=n varies every seed. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "bytes.h"
#include "tapir/sock.h"
#include "core.h"
#include "wire.h"

#define HOST_A 0x0a000001u /* 10.0.0.1, side 0 */
#define HOST_B 0x0a000002u /* 10.0.0.2, side 1 */
#define SEC 1000000ull
#define MS 1000ull
#define DEFAULT_MSL_US (30 * SEC)
#define MAX_FLOWS 256
#define SERVER_PORT 80

/* ---- The simulation --------------------------------------------------------------------- */

/* One direction of one 4-tuple, as the segments leaving its sender show it. */
struct flow {
    uint32_t src, dst;
    uint16_t sport, dport;
    bool have_edge;
    uint32_t edge; /* the right edge of the window this sender offered (ack + wnd), largest */
    int wscale;    /* the window scale its SYN offered (RFC 7323), -1 for none */
};

/* A segment, parsed by the driver wrapper. */
struct seg_view {
    uint32_t src, dst;
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t wnd;
    uint32_t len;
    int wscale;    /* a SYN's window scale option, -1 if none */
};

struct sim;

/* The driver each stack gets: it looks at the frame, maybe drops it, then hands it to the
 * wire's own driver. */
struct tap_end {
    struct sim *s;
    int end;
    struct tapir_driver inner;
};

struct sim {
    struct wire *wire;
    struct tapir_stack *st[2];
    FILE *trace[2];
    char *trace_buf[2];
    size_t trace_len[2];
    struct tap_end tap[2];
    uint64_t msl_us;
    int woke;                       /* set by every socket's wakeup */

    bool drop[2];                   /* frames from this end vanish (a one-way black hole) */
    bool (*drop_fn)(struct sim *s, int from, const struct seg_view *v);
    uint64_t dropped[2];

    struct flow flows[MAX_FLOWS];
    unsigned nflows;
    uint64_t window_violations, window_shrinks;
    char violation[256];            /* the first one, for the failure message */
    uint64_t tcp_segs[2], data_segs[2], zero_windows[2], resets[2];
    uint32_t last_syn_seq[2];
    uint32_t max_wnd[2];            /* the largest window each side offered */

    /* A storm guard: past this many TCP segments (both ways) the link is cut, so a segment
     * storm fails its test in a moment instead of running for minutes. */
    uint64_t seg_budget;
    bool storm;
    char storm_note[256];

    void *bufs[8];                  /* the test's data, freed with the sim even if it fails */
};

static uint64_t now(const struct sim *s) { return wire_now(s->wire); }

static void on_wake(void *ctx) { ((struct sim *)ctx)->woke = 1; }

static struct flow *flow_of(struct sim *s, uint32_t src, uint16_t sport, uint32_t dst,
                            uint16_t dport)
{
    for (unsigned i = 0; i < s->nflows; i++) {
        struct flow *f = &s->flows[i];
        if (f->src == src && f->sport == sport && f->dst == dst && f->dport == dport)
            return f;
    }
    assert_true(s->nflows < MAX_FLOWS);
    struct flow *f = &s->flows[s->nflows++];
    *f = (struct flow){.src = src, .dst = dst, .sport = sport, .dport = dport, .wscale = -1};
    return f;
}

/* The window scale option's shift, if the options hold one. */
static int parse_wscale(const uint8_t *o, size_t len)
{
    for (size_t i = 0; i < len;) {
        if (o[i] == 0)
            break;
        if (o[i] == 1) {
            i++;
            continue;
        }
        if (i + 1 >= len || o[i + 1] < 2)
            break;
        if (o[i] == 3 && o[i + 1] == 3 && i + 2 < len)
            return o[i + 2];
        i += o[i + 1];
    }
    return -1;
}

/* Ethernet, IPv4 (unfragmented), TCP: the segment's fields, or false for anything else. */
static bool parse_tcp(const uint8_t *f, size_t n, struct seg_view *v)
{
    if (n < 14 + 20 + 20 || get_be16(f + 12) != 0x0800)
        return false;
    const uint8_t *ip = f + 14;
    size_t ihl = (ip[0] & 15u) * 4u, tot = get_be16(ip + 2);
    if (ip[9] != IPPROTO_TCP || (get_be16(ip + 6) & 0x3fffu) || ihl < 20 || tot > n - 14 ||
        tot < ihl + 20)
        return false;
    const uint8_t *t = ip + ihl;
    size_t doff = (t[12] >> 4) * 4u;
    if (doff < 20 || ihl + doff > tot)
        return false;
    *v = (struct seg_view){.src = get_be32(ip + 12), .dst = get_be32(ip + 16),
                           .sport = get_be16(t), .dport = get_be16(t + 2),
                           .seq = get_be32(t + 4), .ack = get_be32(t + 8),
                           .flags = t[13] & 0x3fu, .wnd = get_be16(t + 14),
                           .len = (uint32_t)(tot - ihl - doff),
                           .wscale = parse_wscale(t + 20, doff - 20)};
    return true;
}

/* RFC 9293 §3.8.6: a sender keeps its data within the window the receiver offered, and a
 * receiver does not move the right edge back (§3.8.6.2.2, "shrinking the window"). The check
 * is made as segments leave their sender, against every window its peer has sent: a lost
 * advertisement only makes it more lenient. */
static void check_segment(struct sim *s, int from, const struct seg_view *v)
{
    s->tcp_segs[from]++;
    if (!s->storm && s->tcp_segs[0] + s->tcp_segs[1] > s->seg_budget) {
        s->storm = true;
        snprintf(s->storm_note, sizeof(s->storm_note),
                 "t=%llu: more than %llu segments: the link is cut (a storm?); the last, from "
                 "side %d: flags 0x%02x seq %u ack %u len %u",
                 (unsigned long long)now(s), (unsigned long long)s->seg_budget, from, v->flags,
                 v->seq, v->ack, v->len);
        print_error("%s\n", s->storm_note);
    }
    if (v->flags & TCP_SYN) {
        struct flow *f = flow_of(s, v->src, v->sport, v->dst, v->dport);
        s->last_syn_seq[from] = v->seq;
        f->have_edge = false; /* a new incarnation */
        f->wscale = v->wscale;
    }
    /* RFC 7323 §2.2: windows are scaled once both SYNs carried the option, never on a SYN. */
    const struct flow *mine = flow_of(s, v->src, v->sport, v->dst, v->dport);
    const struct flow *theirs = flow_of(s, v->dst, v->dport, v->src, v->sport);
    uint32_t wnd = v->wnd;
    if (!(v->flags & TCP_SYN) && mine->wscale >= 0 && theirs->wscale >= 0)
        wnd <<= mine->wscale;
    if ((v->flags & TCP_ACK) && wnd > s->max_wnd[from])
        s->max_wnd[from] = wnd;
    if (v->flags & TCP_RST)
        s->resets[from]++;
    if ((v->flags & TCP_ACK) && !(v->flags & TCP_RST)) {
        struct flow *f = flow_of(s, v->src, v->sport, v->dst, v->dport);
        uint32_t edge = v->ack + wnd;
        /* RFC 7323 §2.4: a scaled window can read up to 2^scale - 1 bytes short of the edge
         * offered before (the field counts units of 2^scale); more is a shrink. */
        uint32_t grain = (!(v->flags & TCP_SYN) && mine->wscale >= 0 && theirs->wscale >= 0)
                             ? (1u << mine->wscale) - 1u : 0u;
        if (f->have_edge && seq_lt(edge + grain, f->edge)) {
            if (!s->window_shrinks++)
                snprintf(s->violation, sizeof(s->violation),
                         "t=%llu side %d shrank its window: edge %u after %u",
                         (unsigned long long)now(s), from, edge, f->edge);
        }
        if (!f->have_edge || seq_gt(edge, f->edge)) {
            f->edge = edge;
            f->have_edge = true;
        }
        if (v->wnd == 0)
            s->zero_windows[from]++;
    }
    if (v->len) {
        s->data_segs[from]++;
        const struct flow *peer = flow_of(s, v->dst, v->dport, v->src, v->sport);
        if (!peer->have_edge || seq_gt(v->seq + v->len, peer->edge)) {
            if (!s->window_violations++)
                snprintf(s->violation, sizeof(s->violation),
                         "t=%llu side %d sent seq %u len %u past the offered edge %u%s",
                         (unsigned long long)now(s), from, v->seq, v->len, peer->edge,
                         peer->have_edge ? "" : " (no window offered yet)");
        }
    }
}

static int tap_send(void *ctx, const void *frame, size_t len)
{
    struct tap_end *te = ctx;
    struct sim *s = te->s;
    struct seg_view v;
    bool tcp = parse_tcp(frame, len, &v);
    if (tcp)
        check_segment(s, te->end, &v);
    if (s->drop[te->end] || s->storm || (tcp && s->drop_fn && s->drop_fn(s, te->end, &v))) {
        s->dropped[te->end]++;
        return 0;
    }
    return te->inner.send(te->inner.ctx, frame, len);
}

static void sim_start(struct sim *s, const struct wire_faults *faults, uint64_t seed,
                      uint64_t msl_us)
{
    memset(s, 0, sizeof(*s));
    if (getenv("TCP_SIM_SEED")) /* replays (or varies) every test with other seeds */
        seed += strtoull(getenv("TCP_SIM_SEED"), NULL, 0) * 1000;
    s->msl_us = msl_us;
    s->seg_budget = 100000;
    s->wire = wire_new(faults, seed ^ 0x7c9, 8192);
    assert_non_null(s->wire);
    for (int i = 0; i < 2; i++) {
        s->trace[i] = open_memstream(&s->trace_buf[i], &s->trace_len[i]);
        assert_non_null(s->trace[i]);
        struct tapir_config cfg;
        tapir_config_defaults(&cfg);
        uint8_t mac[6] = {0x02, 0, 0, 0, 0, (uint8_t)(i + 1)};
        memcpy(cfg.mac, mac, 6);
        cfg.addr.s_addr = htonl(i == 0 ? HOST_A : HOST_B);
        cfg.prefix_len = 24;
        cfg.seed = seed * 2 + (uint64_t)i;
        cfg.trace_out = s->trace[i];
        cfg.trace_mask = TAPIR_TRACE_TCP;
        cfg.tcp_msl_us = msl_us;
        s->tap[i] = (struct tap_end){.s = s, .end = i, .inner = wire_driver(s->wire, i)};
        struct tapir_driver drv = {.send = tap_send, .ctx = &s->tap[i]};
        s->st[i] = tapir_stack_new(&cfg, &drv);
        assert_non_null(s->st[i]);
        wire_attach(s->wire, i, s->st[i]);
    }
    wire_set_now(s->wire, 1 * SEC);
    for (int i = 0; i < 2; i++)
        tapir_start(s->st[i], now(s));
}

static void sim_free(struct sim *s)
{
    for (int i = 0; i < 2; i++) {
        tapir_stack_free(s->st[i]); /* may still trace and send: before the wire and files */
        s->st[i] = NULL;
    }
    for (int i = 0; i < 2; i++) {
        if (s->trace[i])
            fclose(s->trace[i]);
        free(s->trace_buf[i]);
        s->trace[i] = NULL;
        s->trace_buf[i] = NULL;
    }
    wire_free(s->wire);
    s->wire = NULL;
    for (unsigned i = 0; i < sizeof(s->bufs) / sizeof(s->bufs[0]); i++) {
        free(s->bufs[i]);
        s->bufs[i] = NULL;
    }
}

static int sim_setup(void **state)
{
    *state = calloc(1, sizeof(struct sim));
    return *state ? 0 : -1;
}

static int sim_teardown(void **state)
{
    struct sim *s = *state;
    if (getenv("TCP_SIM_TRACE")) {
        for (int i = 0; i < 2 && s->trace[i]; i++) {
            fflush(s->trace[i]);
            fprintf(stderr, "---- trace of %s\n%s", i ? "10.0.0.2" : "10.0.0.1",
                    s->trace_buf[i] ? s->trace_buf[i] : "");
        }
    }
    if (s->wire)
        sim_free(s);
    free(s);
    return 0;
}

/* Keeps the stacks' clocks at the wire's, so what a socket call arms counts from now. */
static void sync_stacks(struct sim *s)
{
    for (int i = 0; i < 2; i++)
        tapir_timers(s->st[i], now(s));
}

static void run_for(struct sim *s, uint64_t dt_us)
{
    wire_run(s->wire, now(s) + dt_us, NULL);
    sync_stacks(s);
}

/* Runs until cond holds (checked at every wakeup and every millisecond) or max_us passed. */
#define RUN_UNTIL(s, cond, max_us)                                                             \
    do {                                                                                       \
        uint64_t end_ = now(s) + (max_us);                                                     \
        while (!(cond) && now(s) < end_) {                                                     \
            uint64_t step_ = now(s) + MS < end_ ? now(s) + MS : end_;                          \
            (s)->woke = 0;                                                                     \
            wire_run((s)->wire, step_, &(s)->woke);                                            \
            sync_stacks(s);                                                                    \
        }                                                                                      \
    } while (0)

/* ---- The trace: one connection's state changes ----------------------------------------- */

struct trans {
    uint64_t t_us;
    char from[16], to[16];
};
#define TR_MAX 64

/* The state changes of the connection (laddr:lport, raddr:rport) in side's trace. The trace
 * names it "tcp REMOTE:port>LOCAL:port OLD -> NEW". */
static unsigned trans_of(struct sim *s, int side, uint32_t laddr, uint16_t lport,
                         uint32_t raddr, uint16_t rport, struct trans *tr)
{
    fflush(s->trace[side]);
    char key[80];
    snprintf(key, sizeof(key), " tcp %u.%u.%u.%u:%u>%u.%u.%u.%u:%u ", raddr >> 24,
             (raddr >> 16) & 255, (raddr >> 8) & 255, raddr & 255, rport, laddr >> 24,
             (laddr >> 16) & 255, (laddr >> 8) & 255, laddr & 255, lport);
    size_t klen = strlen(key);
    unsigned n = 0;
    const char *p = s->trace_buf[side] ? s->trace_buf[side] : "";
    while (*p && n < TR_MAX) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        char line[256];
        size_t c = len < sizeof(line) - 1 ? len : sizeof(line) - 1;
        memcpy(line, p, c);
        line[c] = 0;
        const char *k = strstr(line, key);
        unsigned long long sec, usec;
        if (k && strstr(k, " -> ") && sscanf(line, "%llu.%llu", &sec, &usec) == 2 &&
            sscanf(k + klen, "%15s -> %15s", tr[n].from, tr[n].to) == 2) {
            tr[n].t_us = sec * SEC + usec;
            n++;
        }
        p += len + (eol ? 1 : 0);
    }
    return n;
}

/* The states as one string, "CLOSED SYN_SENT ESTABLISHED", a break in the chain shown as
 * "!OLD". Four rotating buffers, so two can be compared in one assertion. */
static const char *states_at(struct sim *s, int side, uint32_t laddr, uint16_t lport,
                             uint32_t raddr, uint16_t rport)
{
    static char bufs[4][1024];
    static unsigned next;
    char *out = bufs[next++ % 4];
    struct trans tr[TR_MAX];
    unsigned n = trans_of(s, side, laddr, lport, raddr, rport, tr);
    out[0] = 0;
    for (unsigned i = 0; i < n; i++) {
        size_t used = strlen(out);
        if (i == 0)
            snprintf(out + used, 1024 - used, "%s %s", tr[i].from, tr[i].to);
        else if (strcmp(tr[i].from, tr[i - 1].to) != 0)
            snprintf(out + used, 1024 - used, " !%s %s", tr[i].from, tr[i].to);
        else
            snprintf(out + used, 1024 - used, " %s", tr[i].to);
    }
    return out;
}

/* A connection between A and B as seen from side (0 is A, 1 is B). */
static const char *states(struct sim *s, int side, uint16_t lport, uint16_t rport)
{
    return side ? states_at(s, 1, HOST_B, lport, HOST_A, rport)
                : states_at(s, 0, HOST_A, lport, HOST_B, rport);
}

/* When the nth (from 0) change into state to happened, or UINT64_MAX. */
static uint64_t entered(struct sim *s, int side, uint16_t lport, uint16_t rport, const char *to,
                        unsigned nth)
{
    struct trans tr[TR_MAX];
    unsigned n = side ? trans_of(s, 1, HOST_B, lport, HOST_A, rport, tr)
                      : trans_of(s, 0, HOST_A, lport, HOST_B, rport, tr);
    for (unsigned i = 0; i < n; i++)
        if (strcmp(tr[i].to, to) == 0 && nth-- == 0)
            return tr[i].t_us;
    return UINT64_MAX;
}

/* ---- Sockets ---------------------------------------------------------------------------- */

static struct tapir_sock *tcp_open(struct sim *s, int side)
{
    struct tapir_sock *k = NULL;
    assert_int_equal(tapir_sock_open(s->st[side], SOCK_STREAM, 0, &k), 0);
    tapir_sock_set_wakeup(k, on_wake, s);
    return k;
}

static struct sockaddr_in sin_of(uint32_t addr, uint16_t port)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(addr);
    a.sin_port = htons(port);
    return a;
}

static void bind_to(struct tapir_sock *k, uint32_t addr, uint16_t port)
{
    struct sockaddr_in a = sin_of(addr, port);
    assert_int_equal(tapir_sock_bind(k, &a), 0);
}

static uint16_t local_port(const struct tapir_sock *k)
{
    struct sockaddr_in a;
    assert_int_equal(tapir_sock_getsockname(k, &a), 0);
    return ntohs(a.sin_port);
}

static void set_reuseaddr(struct tapir_sock *k)
{
    int on = 1;
    assert_int_equal(tapir_sock_setopt(k, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)), 0);
}

static void set_rcvbuf(struct tapir_sock *k, int bytes)
{
    assert_int_equal(tapir_sock_setopt(k, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes)), 0);
}

static struct tapir_sock *listen_on(struct sim *s, int side, uint16_t port, int rcvbuf)
{
    struct tapir_sock *l = tcp_open(s, side);
    if (rcvbuf)
        set_rcvbuf(l, rcvbuf);
    bind_to(l, 0, port);
    assert_int_equal(tapir_sock_listen(l, 8), 0);
    return l;
}

static void start_connect(struct sim *s, struct tapir_sock *k, int to_side, uint16_t port)
{
    sync_stacks(s);
    struct sockaddr_in to = sin_of(to_side ? HOST_B : HOST_A, port);
    assert_int_equal(tapir_sock_connect(k, &to), -EINPROGRESS);
    assert_int_equal(tapir_sock_connected(k), -EAGAIN);
    assert_false(tapir_sock_events(k) & POLLOUT); /* not writable during the handshake */
}

/* How a connect ended: 0, or the error (taken from the socket). */
static int wait_connected(struct sim *s, struct tapir_sock *k, uint64_t max_us)
{
    int rc = -EAGAIN;
    RUN_UNTIL(s, (rc = tapir_sock_connected(k)) != -EAGAIN, max_us);
    return rc;
}

/* For waiting on two connects at once: true once *rc holds how k's connect ended. */
static bool poll_connected(struct tapir_sock *k, int *rc)
{
    if (*rc == -EAGAIN)
        *rc = tapir_sock_connected(k);
    return *rc != -EAGAIN;
}

static struct tapir_sock *wait_accept(struct sim *s, struct tapir_sock *l, uint64_t max_us)
{
    struct tapir_sock *k = NULL;
    struct sockaddr_in peer;
    int rc = -EAGAIN;
    RUN_UNTIL(s, (rc = tapir_sock_accept(l, &k, &peer)) != -EAGAIN, max_us);
    assert_int_equal(rc, 0);
    assert_int_equal(ntohl(peer.sin_addr.s_addr), HOST_A);
    tapir_sock_set_wakeup(k, on_wake, s);
    return k;
}

/* A connection from A (cli) to B's listener on SERVER_PORT (srv, accepted). */
struct conn {
    struct tapir_sock *lis, *cli, *srv;
    uint16_t cport;
};

static void open_conn(struct sim *s, struct conn *c, uint16_t cport, int srv_rcvbuf)
{
    memset(c, 0, sizeof(*c));
    c->lis = listen_on(s, 1, SERVER_PORT, srv_rcvbuf);
    c->cli = tcp_open(s, 0);
    if (cport)
        bind_to(c->cli, 0, cport);
    start_connect(s, c->cli, 1, SERVER_PORT);
    c->cport = local_port(c->cli);
    assert_int_equal(wait_connected(s, c->cli, 60 * SEC), 0); /* SYNs may be lost */
    assert_true(tapir_sock_events(c->cli) & POLLOUT);
    c->srv = wait_accept(s, c->lis, 60 * SEC);
    struct sockaddr_in peer;
    assert_int_equal(tapir_sock_getpeername(c->srv, &peer), 0);
    assert_int_equal(ntohs(peer.sin_port), c->cport);
}

static void send_str(struct tapir_sock *k, const char *text)
{
    ssize_t len = (ssize_t)strlen(text);
    assert_int_equal(tapir_sock_sendto(k, text, (size_t)len, 0, NULL), len);
}

/* Reads exactly len bytes, running the wire while it waits, and compares them. */
static void expect_bytes(struct sim *s, struct tapir_sock *k, const void *want, size_t len)
{
    uint8_t buf[256];
    assert_true(len <= sizeof(buf));
    size_t got = 0;
    ssize_t n = 0;
    while (got < len) {
        RUN_UNTIL(s, (n = tapir_sock_recvfrom(k, buf + got, len - got, 0, NULL, NULL)) != -EAGAIN,
                  10 * SEC);
        assert_true(n > 0);
        got += (size_t)n;
    }
    assert_memory_equal(buf, want, len);
}

static void expect_eof(struct tapir_sock *k)
{
    char c;
    assert_int_equal(tapir_sock_recvfrom(k, &c, 1, 0, NULL, NULL), 0);
    assert_true(tapir_sock_events(k) & POLLRDHUP);
}

/* Every socket is closed: let every timer run out. Then every connection block is freed, no
 * packet buffer is held, and no segment went past its peer's window. */
static void settle(struct sim *s)
{
    const struct tapir_tcp_stats *t0 = &tapir_stats(s->st[0])->tcp;
    const struct tapir_tcp_stats *t1 = &tapir_stats(s->st[1])->tcp;
    RUN_UNTIL(s, t0->conns_allocated == t0->conns_freed && t1->conns_allocated == t1->conns_freed,
              30 * 60 * SEC);
    run_for(s, 2 * SEC);
    for (int i = 0; i < 2; i++) {
        const struct tapir_stats *st = tapir_stats(s->st[i]);
        if (st->tcp.conns_allocated != st->tcp.conns_freed)
            print_error("side %d: %llu connection blocks allocated, %llu freed\n", i,
                        (unsigned long long)st->tcp.conns_allocated,
                        (unsigned long long)st->tcp.conns_freed);
        assert_int_equal(st->tcp.conns_allocated, st->tcp.conns_freed);
        assert_int_equal(st->mem.pkb_in_use, 0);
    }
    for (int i = 0; i < 2; i++) /* data inside an offered window is never dropped for room */
        assert_int_equal(tapir_stats(s->st[i])->tcp.drop_rcvbuf, 0);
    if (s->storm)
        fail_msg("%s", s->storm_note);
    if (s->window_violations || s->window_shrinks)
        print_error("%s\n", s->violation);
    assert_int_equal(s->window_violations, 0);
    assert_int_equal(s->window_shrinks, 0);
}

static const struct wire_faults clean_link = {.delay_us = 1000};

/* ---- Open and close --------------------------------------------------------------------- */

/* The window checker itself: it must see a segment past the offered edge, and a shrink. */
static void test_window_checker_sees_violations(void **state)
{
    struct sim *s = *state;
    memset(s, 0, sizeof(*s));
    s->seg_budget = 100;
    s->wire = wire_new(&clean_link, 1, 16); /* for its clock */
    assert_non_null(s->wire);
    /* B offers [1000, 5096) to A; A sends 4096 bytes from 1000 (fine), then one more byte. */
    struct seg_view offer = {.src = HOST_B, .dst = HOST_A, .sport = 80, .dport = 5000,
                             .seq = 7, .ack = 1000, .flags = TCP_ACK, .wnd = 4096};
    check_segment(s, 1, &offer);
    struct seg_view data = {.src = HOST_A, .dst = HOST_B, .sport = 5000, .dport = 80,
                            .seq = 1000, .ack = 7, .flags = TCP_ACK, .wnd = 100, .len = 4096};
    check_segment(s, 0, &data);
    assert_int_equal(s->window_violations, 0);
    data.seq = 5096;
    data.len = 1;
    check_segment(s, 0, &data);
    assert_int_equal(s->window_violations, 1);
    /* B moves its right edge back from 5096 to 5000. */
    offer.ack = 2000;
    offer.wnd = 3000;
    check_segment(s, 1, &offer);
    assert_int_equal(s->window_shrinks, 1);
    assert_int_equal(s->data_segs[0], 2);
    sim_free(s);
}

/* A connection with nothing to send sends nothing. RFC 9293 §3.10.7.4 acknowledges data and
 * FINs (and answers unacceptable segments), never a bare acceptable ACK: otherwise two ends
 * answer each other's ACKs for ever. */
static void test_idle_connection_is_quiet(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 26, DEFAULT_MSL_US);
    struct conn c;
    open_conn(s, &c, 0, 0);
    send_str(c.cli, "hello");
    send_str(c.srv, "hi");
    expect_bytes(s, c.srv, "hello", 5);
    expect_bytes(s, c.cli, "hi", 2);
    run_for(s, 100 * MS);
    uint64_t before = s->tcp_segs[0] + s->tcp_segs[1];
    run_for(s, 10 * SEC);
    uint64_t idle = s->tcp_segs[0] + s->tcp_segs[1] - before;
    if (idle)
        print_error("%llu segments in 10 s with nothing to send\n", (unsigned long long)idle);
    assert_int_equal(idle, 0);
    sync_stacks(s);
    tapir_sock_close(c.cli);
    tapir_sock_close(c.srv);
    tapir_sock_close(c.lis);
    settle(s);
    sim_free(s);
}

/* RFC 9293 §3.10.7.2-3: a handshake that establishes does so in a handful of segments. */
static void test_handshake_and_close_segment_counts(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 27, DEFAULT_MSL_US);
    struct conn c;
    open_conn(s, &c, 0, 0);
    run_for(s, 100 * MS);
    /* SYN; SYN,ACK; ACK. */
    assert_int_equal(s->tcp_segs[0], 2);
    assert_int_equal(s->tcp_segs[1], 1);
    sync_stacks(s);
    tapir_sock_close(c.cli);
    run_for(s, 100 * MS);
    tapir_sock_close(c.srv);
    run_for(s, 100 * MS);
    /* FIN; ACK; FIN; ACK. */
    assert_int_equal(s->tcp_segs[0], 4);
    assert_int_equal(s->tcp_segs[1], 3);
    tapir_sock_close(c.lis);
    settle(s);
    sim_free(s);
}

/* RFC 9293 §3.6, the normal close: the client half-closes with shutdown(SHUT_WR) and keeps
 * its socket, so it reads the server's FIN as end of stream; TIME_WAIT lasts exactly 2*MSL. */
static void test_active_open_and_close(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 1, DEFAULT_MSL_US);
    struct conn c;
    open_conn(s, &c, 0, 0);
    assert_string_equal(states_at(s, 1, 0, SERVER_PORT, 0, 0), "CLOSED LISTEN");
    assert_string_equal(states(s, 0, c.cport, SERVER_PORT), "CLOSED SYN_SENT ESTABLISHED");
    assert_string_equal(states(s, 1, SERVER_PORT, c.cport), "CLOSED SYN_RECEIVED ESTABLISHED");

    send_str(c.cli, "hello");
    expect_bytes(s, c.srv, "hello", 5);
    send_str(c.srv, "world!");
    expect_bytes(s, c.cli, "world!", 6);

    sync_stacks(s);
    assert_int_equal(tapir_sock_shutdown(c.cli, SHUT_WR), 0);
    assert_int_equal(tapir_sock_sendto(c.cli, "x", 1, 0, NULL), -EPIPE);
    run_for(s, 50 * MS);
    assert_string_equal(states(s, 0, c.cport, SERVER_PORT),
                        "CLOSED SYN_SENT ESTABLISHED FIN_WAIT_1 FIN_WAIT_2");
    assert_string_equal(states(s, 1, SERVER_PORT, c.cport),
                        "CLOSED SYN_RECEIVED ESTABLISHED CLOSE_WAIT");
    expect_eof(c.srv);
    /* CLOSE_WAIT still sends. */
    send_str(c.srv, "bye");
    expect_bytes(s, c.cli, "bye", 3);

    tapir_sock_close(c.srv);
    run_for(s, 50 * MS);
    assert_string_equal(states(s, 1, SERVER_PORT, c.cport),
                        "CLOSED SYN_RECEIVED ESTABLISHED CLOSE_WAIT LAST_ACK CLOSED");
    assert_string_equal(states(s, 0, c.cport, SERVER_PORT),
                        "CLOSED SYN_SENT ESTABLISHED FIN_WAIT_1 FIN_WAIT_2 TIME_WAIT");
    expect_eof(c.cli);
    assert_int_equal(tapir_stats(s->st[1])->tcp.conns_freed, 1); /* the child; the listener is open */

    /* TIME_WAIT: 2*MSL to the microsecond. */
    uint64_t tw = entered(s, 0, c.cport, SERVER_PORT, "TIME_WAIT", 0);
    assert_true(tw != UINT64_MAX);
    run_for(s, tw + 2 * s->msl_us - 1 - now(s));
    assert_int_equal(entered(s, 0, c.cport, SERVER_PORT, "CLOSED", 0), UINT64_MAX);
    run_for(s, 1);
    assert_string_equal(states(s, 0, c.cport, SERVER_PORT),
                        "CLOSED SYN_SENT ESTABLISHED FIN_WAIT_1 FIN_WAIT_2 TIME_WAIT CLOSED");
    assert_int_equal(entered(s, 0, c.cport, SERVER_PORT, "CLOSED", 0) - tw, 2 * s->msl_us);
    expect_eof(c.cli);

    tapir_sock_close(c.cli);
    tapir_sock_close(c.lis);
    assert_int_equal(tapir_stats(s->st[0])->tcp.established, 1);
    assert_int_equal(tapir_stats(s->st[1])->tcp.established, 1);
    assert_int_equal(s->resets[0] + s->resets[1], 0);
    settle(s);
    sim_free(s);
}

/* The same close with close() at once: the client's block lives on as an orphan through
 * FIN_WAIT_2 and TIME_WAIT, and is freed when 2*MSL runs out. */
static void test_close_orphans_until_time_wait_ends(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 2, DEFAULT_MSL_US);
    struct conn c;
    open_conn(s, &c, 0, 0);
    send_str(c.cli, "last words");
    sync_stacks(s);
    tapir_sock_close(c.cli);
    expect_bytes(s, c.srv, "last words", 10);
    RUN_UNTIL(s, tapir_sock_events(c.srv) & POLLRDHUP, SEC);
    expect_eof(c.srv);
    tapir_sock_close(c.srv);
    run_for(s, 50 * MS);
    assert_string_equal(states(s, 0, c.cport, SERVER_PORT),
                        "CLOSED SYN_SENT ESTABLISHED FIN_WAIT_1 FIN_WAIT_2 TIME_WAIT");
    assert_string_equal(states(s, 1, SERVER_PORT, c.cport),
                        "CLOSED SYN_RECEIVED ESTABLISHED CLOSE_WAIT LAST_ACK CLOSED");
    const struct tapir_tcp_stats *ta = &tapir_stats(s->st[0])->tcp;
    assert_int_equal(ta->conns_allocated, 1);
    assert_int_equal(ta->conns_freed, 0);
    run_for(s, 2 * s->msl_us);
    assert_string_equal(states(s, 0, c.cport, SERVER_PORT),
                        "CLOSED SYN_SENT ESTABLISHED FIN_WAIT_1 FIN_WAIT_2 TIME_WAIT CLOSED");
    assert_int_equal(ta->conns_freed, 1);
    tapir_sock_close(c.lis);
    settle(s);
    sim_free(s);
}

/* An orphan in FIN_WAIT_2 whose peer never closes is freed after 2*MSL (Linux's
 * tcp_fin_timeout); the peer's late FIN then finds nothing and draws a reset, which ends
 * LAST_ACK. */
static void test_orphan_fin_wait_2_times_out(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 3, 5 * SEC);
    struct conn c;
    open_conn(s, &c, 0, 0);
    sync_stacks(s);
    tapir_sock_close(c.cli);
    run_for(s, 2 * s->msl_us + SEC);
    assert_string_equal(states(s, 0, c.cport, SERVER_PORT),
                        "CLOSED SYN_SENT ESTABLISHED FIN_WAIT_1 FIN_WAIT_2 CLOSED");
    assert_int_equal(tapir_stats(s->st[0])->tcp.conns_freed, 1);
    expect_eof(c.srv);
    tapir_sock_close(c.srv);
    run_for(s, 50 * MS);
    assert_string_equal(states(s, 1, SERVER_PORT, c.cport),
                        "CLOSED SYN_RECEIVED ESTABLISHED CLOSE_WAIT LAST_ACK CLOSED");
    assert_int_equal(tapir_stats(s->st[0])->tcp.rx_no_conn, 1);
    assert_int_equal(tapir_stats(s->st[1])->tcp.rx_resets, 1);
    tapir_sock_close(c.lis);
    settle(s);
    sim_free(s);
}

/* RFC 9293 §3.5, figure 8: both ends connect to each other at once; each SYN_SENT sees the
 * other's SYN, answers with SYN,ACK from SYN_RECEIVED, and the SYN,ACKs establish both. */
static void test_simultaneous_open(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 4, DEFAULT_MSL_US);
    struct tapir_sock *a = tcp_open(s, 0), *b = tcp_open(s, 1);
    bind_to(a, 0, 1000);
    bind_to(b, 0, 2000);
    start_connect(s, a, 1, 2000);
    start_connect(s, b, 0, 1000);
    uint64_t t0 = now(s);
    int ra = -EAGAIN, rb = -EAGAIN;
    RUN_UNTIL(s, poll_connected(a, &ra) & poll_connected(b, &rb), 30 * SEC);
    assert_string_equal(states(s, 0, 1000, 2000),
                        "CLOSED SYN_SENT SYN_RECEIVED ESTABLISHED");
    assert_string_equal(states(s, 1, 2000, 1000),
                        "CLOSED SYN_SENT SYN_RECEIVED ESTABLISHED");
    assert_int_equal(ra, 0);
    assert_int_equal(rb, 0);
    /* Without loss it takes two crossings and no retransmission, and only a few segments. */
    assert_true(now(s) - t0 < 100 * MS);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(tapir_stats(s->st[i])->tcp.retransmits, 0);
        assert_true(s->tcp_segs[i] <= 4);
    }
    send_str(a, "from a");
    send_str(b, "from b");
    expect_bytes(s, b, "from a", 6);
    expect_bytes(s, a, "from b", 6);
    sync_stacks(s);
    tapir_sock_close(a);
    tapir_sock_close(b);
    settle(s);
    sim_free(s);
}

/* RFC 9293 §3.6, figure 13: both close at once; the FINs cross, both pass through CLOSING to
 * TIME_WAIT, and both blocks end 2*MSL later. */
static void test_simultaneous_close(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 5, DEFAULT_MSL_US);
    struct conn c;
    open_conn(s, &c, 0, 0);
    run_for(s, 50 * MS);
    sync_stacks(s);
    assert_int_equal(tapir_sock_shutdown(c.cli, SHUT_WR), 0);
    assert_int_equal(tapir_sock_shutdown(c.srv, SHUT_WR), 0);
    run_for(s, 50 * MS);
    assert_string_equal(states(s, 0, c.cport, SERVER_PORT),
                        "CLOSED SYN_SENT ESTABLISHED FIN_WAIT_1 CLOSING TIME_WAIT");
    assert_string_equal(states(s, 1, SERVER_PORT, c.cport),
                        "CLOSED SYN_RECEIVED ESTABLISHED FIN_WAIT_1 CLOSING TIME_WAIT");
    expect_eof(c.cli);
    expect_eof(c.srv);
    run_for(s, 2 * s->msl_us);
    for (int side = 0; side < 2; side++) {
        uint16_t lp = side ? SERVER_PORT : c.cport, rp = side ? c.cport : SERVER_PORT;
        assert_int_equal(entered(s, side, lp, rp, "CLOSED", 0) -
                             entered(s, side, lp, rp, "TIME_WAIT", 0),
                         2 * s->msl_us);
    }
    tapir_sock_close(c.cli);
    tapir_sock_close(c.srv);
    tapir_sock_close(c.lis);
    settle(s);
    sim_free(s);
}

/* ---- Moving bytes ----------------------------------------------------------------------- */

/* A byte that depends on its position (and a seed) in a way no shift or repeat mimics. */
static uint8_t pattern_byte(uint32_t seed, size_t i)
{
    uint32_t x = (uint32_t)i * 0x9e3779b1u + seed;
    x ^= x >> 15;
    x *= 0x85ebca6bu;
    x ^= x >> 13;
    return (uint8_t)x;
}

static uint8_t *make_pattern(struct sim *s, uint32_t seed, size_t len)
{
    unsigned slot = 0;
    while (slot < sizeof(s->bufs) / sizeof(s->bufs[0]) && s->bufs[slot])
        slot++;
    assert_true(slot < sizeof(s->bufs) / sizeof(s->bufs[0]));
    uint8_t *p = s->bufs[slot] = malloc(len);
    assert_non_null(p);
    for (size_t i = 0; i < len; i++)
        p[i] = pattern_byte(seed, i);
    return p;
}

/* One end of a transfer: what it sends, what it expects to read. */
struct stream {
    struct tapir_sock *k;
    const uint8_t *out;
    size_t out_len, sent;
    const uint8_t *in;
    size_t in_len, got;
    bool shut_after_send, shut, want_eof, eof;
    size_t chunk;     /* the most read or written per call */
    bool reading;     /* false: the application does not read (yet) */
};

static bool stream_done(const struct stream *x)
{
    return x->sent == x->out_len && (!x->shut_after_send || x->shut) && x->got == x->in_len &&
           (!x->want_eof || x->eof);
}

static void stream_step(struct stream *x)
{
    static uint8_t buf[65536];
    size_t chunk = x->chunk ? x->chunk : sizeof(buf);
    while (x->sent < x->out_len) {
        size_t n = x->out_len - x->sent < chunk ? x->out_len - x->sent : chunk;
        ssize_t rc = tapir_sock_sendto(x->k, x->out + x->sent, n, 0, NULL);
        if (rc == -EAGAIN)
            break;
        if (rc <= 0)
            fail_msg("send at byte %zu: %zd", x->sent, rc);
        x->sent += (size_t)rc;
    }
    if (x->sent == x->out_len && x->shut_after_send && !x->shut) {
        assert_int_equal(tapir_sock_shutdown(x->k, SHUT_WR), 0);
        x->shut = true;
    }
    while (x->reading && !x->eof) {
        ssize_t rc = tapir_sock_recvfrom(x->k, buf, chunk, 0, NULL, NULL);
        if (rc == -EAGAIN)
            break;
        if (rc < 0)
            fail_msg("recv at byte %zu: %zd", x->got, rc);
        if (rc == 0) {
            x->eof = true;
            break;
        }
        if (x->got + (size_t)rc > x->in_len)
            fail_msg("%zu bytes past the %zu expected", x->got + (size_t)rc - x->in_len,
                     x->in_len);
        if (memcmp(buf, x->in + x->got, (size_t)rc) != 0) {
            size_t i = 0;
            while (buf[i] == x->in[x->got + i])
                i++;
            fail_msg("byte %zu differs: got 0x%02x, want 0x%02x", x->got + i, buf[i],
                     x->in[x->got + i]);
        }
        x->got += (size_t)rc;
    }
}

/* Runs both ends until both are done or max_us passed; returns whether both are done. */
static bool transfer(struct sim *s, struct stream *a, struct stream *b, uint64_t max_us)
{
    uint64_t end = now(s) + max_us;
    for (;;) {
        stream_step(a);
        stream_step(b);
        if ((stream_done(a) && stream_done(b)) || now(s) >= end)
            return stream_done(a) && stream_done(b);
        s->woke = 0;
        wire_run(s->wire, end, &s->woke);
        sync_stacks(s);
    }
}

/* A drop_fn: the first data segment from each side that still has one to lose is lost. */
static unsigned first_data_to_lose[2];
static bool lose_first_data(struct sim *s, int from, const struct seg_view *v)
{
    (void)s;
    if (!v->len || !first_data_to_lose[from])
        return false;
    first_data_to_lose[from]--;
    return true;
}

/* Both ends send more than a window, and the first segment of each direction is lost: each
 * receiver holds what follows out of order, and each pure ACK it sends may carry
 * SEG.SEQ = SND.NXT = the peer's RCV.NXT + RCV.WND. Those ACKs at the right edge must be
 * taken (RFC 9293 §3.10.7.4 "first" would call them unacceptable; Linux's tcp_sequence and
 * BSD accept them), so they count as duplicate ACKs and fast retransmit repairs each hole
 * (RFC 5681 §3.2) without a timeout and without an exchange of ACKs about nothing. */
static void test_full_windows_with_holes_recover_by_fast_retransmit(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 29, DEFAULT_MSL_US);
    struct conn c;
    open_conn(s, &c, 0, 0);
    const size_t len = 150000;
    uint8_t *ab = make_pattern(s, 3, len), *ba = make_pattern(s, 4, len);
    struct stream a = {.k = c.cli, .out = ab, .out_len = len, .in = ba, .in_len = len,
                       .reading = true};
    struct stream b = {.k = c.srv, .out = ba, .out_len = len, .in = ab, .in_len = len,
                       .reading = true};
    first_data_to_lose[0] = first_data_to_lose[1] = 1;
    s->drop_fn = lose_first_data;
    uint64_t t0 = now(s);
    assert_true(transfer(s, &a, &b, SEC));
    print_message("recovered after %.3f s, %llu segments\n", (double)(now(s) - t0) / 1e6,
                  (unsigned long long)(s->tcp_segs[0] + s->tcp_segs[1]));
    for (int side = 0; side < 2; side++) {
        const struct tapir_tcp_stats *t = &tapir_stats(s->st[side])->tcp;
        assert_int_equal(t->fast_retransmits, 1);
        assert_int_equal(t->retransmits, 0); /* no timeout */
    }
    /* Data segments and their ACKs: well under two segments per MSS of data each way. */
    assert_true(s->tcp_segs[0] + s->tcp_segs[1] < 4 * (2 * len / 1448));
    sync_stacks(s);
    tapir_sock_close(c.cli);
    tapir_sock_close(c.srv);
    tapir_sock_close(c.lis);
    settle(s);
    sim_free(s);
}

/* A drop_fn for the test below: from the client, its first data segment and every pure ACK
 * after the first. */
static unsigned client_acks_seen;
static bool lose_client_data_and_later_acks(struct sim *s, int from, const struct seg_view *v)
{
    (void)s;
    if (from != 0 || (v->flags & (TCP_SYN | TCP_FIN | TCP_RST)))
        return false;
    if (v->len)
        return first_data_to_lose[0] && first_data_to_lose[0]-- > 0;
    return client_acks_seen++ >= 1;
}

/* A window used up to its last byte is a zero window too (RFC 9293 §3.8.6.1: the sender must
 * keep probing while it has data and no room). The client's first data segment is lost, so
 * its pure ACKs carry a sequence number above the retransmission that comes later; of the
 * ACKs for the server's 4 KB (the client's whole window), only the first gets through. The
 * client's retransmission then acknowledges all of it, but RFC 9293's update rule (§3.10.7.4)
 * would not take its window (SEG.SEQ < SND.WL1): the server is left with 904 bytes to send,
 * nothing in flight, and SND.WL2 + SND.WND = SND.NXT, a zero window in all but name. Either
 * the window is taken from that ACK of new data (as Linux does) or the used-up window is
 * probed; otherwise nobody ever sends again. */
static void test_used_up_window_is_probed(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 47, DEFAULT_MSL_US);
    struct tapir_sock *l = listen_on(s, 1, SERVER_PORT, 0);
    struct tapir_sock *k = tcp_open(s, 0);
    set_rcvbuf(k, 4096);
    start_connect(s, k, 1, SERVER_PORT);
    assert_int_equal(wait_connected(s, k, SEC), 0);
    struct tapir_sock *a = wait_accept(s, l, SEC);
    run_for(s, 10 * MS);
    const size_t up_len = 1000, down_len = 5000;
    uint8_t *up = make_pattern(s, 7, up_len), *down = make_pattern(s, 8, down_len);
    first_data_to_lose[0] = 1;
    client_acks_seen = 0;
    s->drop_fn = lose_client_data_and_later_acks;
    struct stream x = {.k = k, .out = up, .out_len = up_len, .in = down, .in_len = down_len,
                       .reading = true};
    struct stream y = {.k = a, .out = down, .out_len = down_len, .in = up, .in_len = up_len,
                       .reading = true};
    uint64_t t0 = now(s);
    assert_false(transfer(s, &x, &y, 500 * MS));
    assert_int_equal(x.got, 4096); /* the client's window, read at once */
    s->drop_fn = NULL;
    bool done = transfer(s, &x, &y, 60 * SEC);
    print_message("the last 904 bytes %s, %.3f s after the start\n",
                  done ? "arrived" : "never arrived", (double)(now(s) - t0) / 1e6);
    assert_true(done);
    sync_stacks(s);
    tapir_sock_close(k);
    tapir_sock_close(a);
    tapir_sock_close(l);
    settle(s);
    sim_free(s);
}

/* RFC 9293 §3.6: after one side's FIN, the other direction goes on: 300 KB (more than the
 * window and the send buffer) flow towards the side that shut down its sending. */
static void test_half_close_keeps_the_other_direction(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 6, DEFAULT_MSL_US);
    struct conn c;
    open_conn(s, &c, 0, 0);
    sync_stacks(s);
    assert_int_equal(tapir_sock_shutdown(c.cli, SHUT_WR), 0);
    run_for(s, 50 * MS);
    expect_eof(c.srv);
    assert_true(tapir_sock_events(c.cli) & POLLOUT); /* as Linux: writing will not block */
    const size_t len = 300000;
    uint8_t *data = make_pattern(s, 6, len);
    struct stream to = {.k = c.srv, .out = data, .out_len = len, .shut_after_send = true,
                        .reading = true, .eof = true};
    struct stream from = {.k = c.cli, .in = data, .in_len = len, .want_eof = true,
                          .reading = true};
    assert_true(transfer(s, &to, &from, 60 * SEC));
    assert_int_equal(tapir_sock_sendto(c.cli, "x", 1, 0, NULL), -EPIPE);
    run_for(s, 50 * MS);
    assert_string_equal(states(s, 0, c.cport, SERVER_PORT),
                        "CLOSED SYN_SENT ESTABLISHED FIN_WAIT_1 FIN_WAIT_2 TIME_WAIT");
    assert_string_equal(states(s, 1, SERVER_PORT, c.cport),
                        "CLOSED SYN_RECEIVED ESTABLISHED CLOSE_WAIT LAST_ACK CLOSED");
    assert_int_equal(tapir_stats(s->st[0])->tcp.rx_bytes, len);
    tapir_sock_close(c.cli);
    tapir_sock_close(c.srv);
    tapir_sock_close(c.lis);
    settle(s);
    sim_free(s);
}

/* The other half: the server (passive side) shuts down first and keeps reading. */
static void test_half_close_by_the_passive_side(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 7, DEFAULT_MSL_US);
    struct conn c;
    open_conn(s, &c, 0, 0);
    sync_stacks(s);
    assert_int_equal(tapir_sock_shutdown(c.srv, SHUT_WR), 0);
    run_for(s, 50 * MS);
    expect_eof(c.cli);
    const size_t len = 200000;
    uint8_t *data = make_pattern(s, 7, len);
    struct stream to = {.k = c.cli, .out = data, .out_len = len, .shut_after_send = true,
                        .reading = true, .eof = true};
    struct stream from = {.k = c.srv, .in = data, .in_len = len, .want_eof = true,
                          .reading = true};
    assert_true(transfer(s, &to, &from, 60 * SEC));
    run_for(s, 50 * MS);
    assert_string_equal(states(s, 1, SERVER_PORT, c.cport),
                        "CLOSED SYN_RECEIVED ESTABLISHED FIN_WAIT_1 FIN_WAIT_2 TIME_WAIT");
    assert_string_equal(states(s, 0, c.cport, SERVER_PORT),
                        "CLOSED SYN_SENT ESTABLISHED CLOSE_WAIT LAST_ACK CLOSED");
    tapir_sock_close(c.cli);
    tapir_sock_close(c.srv);
    tapir_sock_close(c.lis);
    settle(s);
    sim_free(s);
}

/* A megabyte each way at once through a lossy (and then a rough) link: every byte arrives in
 * order, within a bounded virtual time, and every block is freed after the closes. */
static void bulk_both_ways(struct sim *s, const struct wire_faults *faults, uint64_t seed,
                           uint64_t max_us, bool faults_after_open)
{
    struct wire_faults clean = {.delay_us = faults->delay_us};
    sim_start(s, faults_after_open ? &clean : faults, seed, DEFAULT_MSL_US);
    struct conn c;
    open_conn(s, &c, 0, 0);
    wire_set_faults(s->wire, faults);
    const size_t len = 1u << 20;
    uint8_t *ab = make_pattern(s, 0xab, len), *ba = make_pattern(s, 0xba, len);
    struct stream a = {.k = c.cli, .out = ab, .out_len = len, .in = ba, .in_len = len,
                       .shut_after_send = true, .want_eof = true, .reading = true,
                       .chunk = 10000};
    struct stream b = {.k = c.srv, .out = ba, .out_len = len, .in = ab, .in_len = len,
                       .shut_after_send = true, .want_eof = true, .reading = true,
                       .chunk = 7000};
    uint64_t t0 = now(s);
    bool done = transfer(s, &a, &b, max_us);
    uint64_t segs = s->tcp_segs[0] + s->tcp_segs[1];
    print_message("1 MiB each way: %s after %.3f s of virtual time; A->B %zu of %zu bytes, "
                  "B->A %zu; %llu segments; wire lost %llu dup %llu reordered %llu corrupted "
                  "%llu; timeouts A %llu B %llu\n",
                  done ? "done" : "NOT DONE", (double)(now(s) - t0) / 1e6, b.got, len, a.got,
                  (unsigned long long)segs, (unsigned long long)wire_stats(s->wire)->lost,
                  (unsigned long long)wire_stats(s->wire)->duplicated,
                  (unsigned long long)wire_stats(s->wire)->reordered,
                  (unsigned long long)wire_stats(s->wire)->corrupted,
                  (unsigned long long)tapir_stats(s->st[0])->tcp.retransmits,
                  (unsigned long long)tapir_stats(s->st[1])->tcp.retransmits);
    assert_true(done);
    assert_false(s->storm);
    assert_true(segs < 20000); /* 1440 data segments, their ACKs, and retransmissions */
    assert_true(s->data_segs[0] >= len / 1460 && s->data_segs[1] >= len / 1460); /* checked */
    if (faults->corrupt_ppm)
        assert_true(tapir_stats(s->st[0])->tcp.drop_bad_checksum +
                        tapir_stats(s->st[1])->tcp.drop_bad_checksum > 0);
    assert_int_equal(tapir_stats(s->st[0])->tcp.rx_bytes, len);
    assert_int_equal(tapir_stats(s->st[1])->tcp.rx_bytes, len);
    sync_stacks(s);
    tapir_sock_close(c.cli);
    tapir_sock_close(c.srv);
    tapir_sock_close(c.lis);
    settle(s);
    sim_free(s);
}

static void test_megabyte_both_ways_through_5_percent_loss(void **state)
{
    struct wire_faults lossy = {.loss_ppm = 50000, .delay_us = 1000};
    bulk_both_ways(*state, &lossy, 8, 900 * SEC, false);
}

static void test_megabyte_both_ways_through_dup_and_reorder(void **state)
{
    struct wire_faults rough = {.loss_ppm = 20000, .dup_ppm = 30000, .reorder_ppm = 50000,
                                .reorder_us = 3000, .delay_us = 1000};
    bulk_both_ways(*state, &rough, 9, 900 * SEC, false);
}

/* Corruption starts once the connection is up: the wire has no Ethernet FCS, so a flipped
 * bit in an ARP packet (which has no checksum) can teach a stack a wrong MAC for a minute,
 * which is not TCP's business. Every TCP segment with a flipped bit must be dropped for its
 * checksum, and the bytes still arrive exactly. */
static void test_megabyte_both_ways_through_corruption(void **state)
{
    struct wire_faults bad = {.corrupt_ppm = 20000, .delay_us = 1000};
    bulk_both_ways(*state, &bad, 10, 900 * SEC, true);
}

/* ---- The peer's window ------------------------------------------------------------------ */

/* RFC 9293 §3.8.6: the window offered is the free room of the receive buffer, from the
 * first segment on. With SO_RCVBUF 4096 on both ends (a listener's passes to the connections
 * it accepts) no window above 4096 is ever offered, whatever the ISNs (eight seeds), and no
 * byte inside an offered window is dropped for lack of room. */
static void test_small_rcvbuf_bounds_every_window(void **state)
{
    struct sim *s = *state;
    for (uint64_t seed = 30; seed < 38; seed++) {
        sim_start(s, &clean_link, seed, DEFAULT_MSL_US);
        struct tapir_sock *l = listen_on(s, 1, SERVER_PORT, 4096);
        struct tapir_sock *k = tcp_open(s, 0);
        set_rcvbuf(k, 4096);
        start_connect(s, k, 1, SERVER_PORT);
        assert_int_equal(wait_connected(s, k, 10 * SEC), 0);
        struct tapir_sock *a = wait_accept(s, l, SEC);
        const size_t len = 20000;
        uint8_t *ab = make_pattern(s, 1, len), *ba = make_pattern(s, 2, len);
        struct stream x = {.k = k, .out = ab, .out_len = len, .in = ba, .in_len = len};
        struct stream y = {.k = a, .out = ba, .out_len = len, .in = ab, .in_len = len};
        assert_false(transfer(s, &x, &y, 2 * SEC)); /* nobody reads for 2 s */
        for (int i = 0; i < 2; i++) {
            if (s->max_wnd[i] > 4096 || tapir_stats(s->st[i])->tcp.drop_rcvbuf)
                print_error("seed %llu: side %d offered a window of %u with 4096 bytes of "
                            "room; %llu segments dropped for room\n",
                            (unsigned long long)seed, i, s->max_wnd[i],
                            (unsigned long long)tapir_stats(s->st[i])->tcp.drop_rcvbuf);
            assert_true(s->max_wnd[i] <= 4096);
            assert_int_equal(tapir_stats(s->st[i])->tcp.drop_rcvbuf, 0);
            assert_int_equal(tapir_stats(s->st[i])->tcp.rx_bytes, 4096);
        }
        x.reading = y.reading = true;
        assert_true(transfer(s, &x, &y, 10 * SEC));
        sync_stacks(s);
        tapir_sock_close(k);
        tapir_sock_close(a);
        tapir_sock_close(l);
        settle(s);
        sim_free(s);
    }
}

/* RFC 9293 §3.8.6: a receiver with a small buffer that does not read closes its window; the
 * sender stops at its right edge, probes the zero window (§3.8.6.1), and goes on when the
 * application reads: at once by the window update, or, when that update is lost, by a probe. */
static void test_zero_window_probe_and_update(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 11, DEFAULT_MSL_US);
    struct conn c;
    open_conn(s, &c, 0, 4096); /* SO_RCVBUF 4096: 8192 as Linux doubles it, half for data */
    int v = 0;
    socklen_t vlen = sizeof(v);
    assert_int_equal(tapir_sock_getopt(c.srv, SOL_SOCKET, SO_RCVBUF, &v, &vlen), 0);
    assert_int_equal(v, 8192);
    const size_t len = 100000;
    uint8_t *data = make_pattern(s, 11, 2 * len);

    /* Round 1: the receiver sleeps for 10 s. */
    struct stream tx = {.k = c.cli, .out = data, .out_len = len, .reading = true};
    struct stream rx = {.k = c.srv, .in = data, .in_len = len, .reading = false};
    assert_false(transfer(s, &tx, &rx, 10 * SEC));
    assert_int_equal(tx.sent, len); /* all of it queued in the send buffer */
    const struct tapir_tcp_stats *ta = &tapir_stats(s->st[0])->tcp;
    const struct tapir_tcp_stats *tb = &tapir_stats(s->st[1])->tcp;
    assert_int_equal(tb->rx_bytes, 4096); /* exactly the window */
    assert_true(s->zero_windows[1] > 0);
    assert_true(ta->window_probes >= 3);
    assert_int_equal(ta->retransmits, 0); /* probing, not retransmitting */
    assert_int_equal(tb->drop_rcvbuf, 0);
    assert_int_equal(s->window_violations, 0);
    uint64_t t_read = now(s);
    rx.reading = true;
    assert_true(transfer(s, &tx, &rx, 10 * SEC));
    assert_true(now(s) - t_read < SEC); /* the window updates went out as the reader read */

    /* Round 2: the window closes again, and the update sent by the first read is lost. */
    tx.out = data + len;
    tx.sent = 0;
    rx.in = data + len;
    rx.got = 0;
    rx.reading = false;
    assert_false(transfer(s, &tx, &rx, 10 * SEC));
    uint64_t probes = ta->window_probes;
    s->drop[1] = true;
    sync_stacks(s);
    uint8_t buf[4096];
    /* The receiver's SWS avoidance (RFC 1122 §4.2.3.3) leaves the last sliver, less than a
     * segment, unoffered: the buffer holds at least 4096 - MSS. */
    ssize_t got = tapir_sock_recvfrom(c.srv, buf, sizeof(buf), 0, NULL, NULL);
    assert_true(got > 4096 - 1460 && got <= 4096);
    assert_memory_equal(buf, data + len, (size_t)got);
    rx.got = (size_t)got;
    run_for(s, 1 * MS);
    s->drop[1] = false;
    assert_true(s->dropped[1] >= 1);
    rx.reading = true;
    t_read = now(s);
    assert_true(transfer(s, &tx, &rx, 120 * SEC));
    assert_true(ta->window_probes > probes); /* a probe found the open window */
    print_message("after a lost window update, the transfer went on %.3f s later\n",
                  (double)(now(s) - t_read) / 1e6);
    assert_int_equal(tb->rx_bytes, 2 * len);
    assert_int_equal(tb->drop_rcvbuf, 0);
    sync_stacks(s);
    tapir_sock_close(c.cli);
    tapir_sock_close(c.srv);
    tapir_sock_close(c.lis);
    settle(s);
    sim_free(s);
}

/* ---- Resets ----------------------------------------------------------------------------- */

/* The server sends n bytes that the client takes in but does not read. */
static void unread_to_client(struct sim *s, struct conn *c, size_t n)
{
    uint8_t *data = make_pattern(s, 77, n);
    assert_int_equal(tapir_sock_sendto(c->srv, data, n, 0, NULL), (ssize_t)n);
    run_for(s, 50 * MS);
    assert_true(tapir_sock_events(c->cli) & POLLIN);
}

/* RFC 1122 §4.2.2.13 and RFC 9293 §3.10.5: closing with unread data aborts with a reset;
 * the peer in ESTABLISHED reports ECONNRESET (here through SO_ERROR, once). */
static void test_rst_close_with_unread_data_in_established(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 12, DEFAULT_MSL_US);
    struct conn c;
    open_conn(s, &c, 0, 0);
    unread_to_client(s, &c, 1000);
    sync_stacks(s);
    tapir_sock_close(c.cli);
    run_for(s, 50 * MS);
    assert_int_equal(tapir_stats(s->st[0])->tcp.closed_with_unread, 1);
    assert_int_equal(s->resets[0], 1);
    assert_string_equal(states(s, 0, c.cport, SERVER_PORT),
                        "CLOSED SYN_SENT ESTABLISHED CLOSED");
    assert_string_equal(states(s, 1, SERVER_PORT, c.cport),
                        "CLOSED SYN_RECEIVED ESTABLISHED CLOSED");
    assert_int_equal(tapir_stats(s->st[1])->tcp.rx_resets, 1);
    short ev = tapir_sock_events(c.srv);
    assert_true(ev & POLLERR);
    assert_true(ev & POLLHUP);
    int err = -1;
    socklen_t elen = sizeof(err);
    assert_int_equal(tapir_sock_getopt(c.srv, SOL_SOCKET, SO_ERROR, &err, &elen), 0);
    assert_int_equal(err, ECONNRESET);
    assert_int_equal(tapir_sock_getopt(c.srv, SOL_SOCKET, SO_ERROR, &err, &elen), 0);
    assert_int_equal(err, 0); /* reported once */
    assert_int_equal(tapir_sock_sendto(c.srv, "x", 1, 0, NULL), -EPIPE);
    tapir_sock_close(c.srv);
    tapir_sock_close(c.lis);
    settle(s);
    sim_free(s);
}

/* SO_LINGER {1, 0}: close aborts with a reset even with nothing unread (RFC 9293 §3.10.5). */
static void test_rst_linger_zero_aborts(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 28, DEFAULT_MSL_US);
    struct conn c;
    open_conn(s, &c, 0, 0);
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    assert_int_equal(tapir_sock_setopt(c.cli, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
    sync_stacks(s);
    tapir_sock_close(c.cli);
    run_for(s, 20 * MS);
    assert_int_equal(s->resets[0], 1);
    assert_int_equal(tapir_stats(s->st[0])->tcp.closed_with_unread, 0);
    assert_string_equal(states(s, 0, c.cport, SERVER_PORT),
                        "CLOSED SYN_SENT ESTABLISHED CLOSED");
    assert_string_equal(states(s, 1, SERVER_PORT, c.cport),
                        "CLOSED SYN_RECEIVED ESTABLISHED CLOSED");
    char b;
    assert_int_equal(tapir_sock_recvfrom(c.srv, &b, 1, 0, NULL, NULL), -ECONNRESET);
    assert_int_equal(tapir_sock_recvfrom(c.srv, &b, 1, 0, NULL, NULL), 0); /* reported once */
    tapir_sock_close(c.srv);
    tapir_sock_close(c.lis);
    settle(s);
    sim_free(s);
}

/* RFC 9293 §3.10.7.1: a SYN to a port nobody listens on gets <SEQ=0><ACK=SEG.SEQ+1>
 * <CTL=RST,ACK>; SYN_SENT takes it as a refusal (§3.10.7.3). */
static void test_rst_connect_to_closed_port(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 13, DEFAULT_MSL_US);
    struct tapir_sock *k = tcp_open(s, 0);
    start_connect(s, k, 1, 81);
    uint16_t port = local_port(k);
    assert_int_equal(wait_connected(s, k, 10 * SEC), -ECONNREFUSED);
    assert_string_equal(states(s, 0, port, 81), "CLOSED SYN_SENT CLOSED");
    const struct tapir_tcp_stats *tb = &tapir_stats(s->st[1])->tcp;
    assert_int_equal(tb->rx_no_conn, 1);
    assert_int_equal(tb->tx_resets, 1);
    assert_int_equal(tb->conns_allocated, 0);
    assert_int_equal(tapir_stats(s->st[0])->tcp.rx_resets, 1);
    assert_true(tapir_sock_events(k) & POLLHUP);
    assert_int_equal(tapir_stats(s->st[0])->tcp.retransmits, 0);
    tapir_sock_close(k);
    settle(s);
    sim_free(s);
}

/* A client gives up while its SYN is on the way: its SYN,ACK finds nothing and draws a reset
 * <SEQ=SEG.ACK><CTL=RST>, which ends the server's SYN_RECEIVED (RFC 9293 §3.10.7.4: from a
 * passive open the connection just goes, the listener stays). */
static void test_rst_in_syn_received(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 14, DEFAULT_MSL_US);
    struct tapir_sock *l = listen_on(s, 1, SERVER_PORT, 0);
    struct tapir_sock *k = tcp_open(s, 0);
    start_connect(s, k, 1, SERVER_PORT);
    uint16_t port = local_port(k);
    tapir_sock_close(k);
    run_for(s, 100 * MS);
    assert_string_equal(states(s, 0, port, SERVER_PORT), "CLOSED SYN_SENT CLOSED");
    assert_string_equal(states(s, 1, SERVER_PORT, port), "CLOSED SYN_RECEIVED CLOSED");
    assert_int_equal(tapir_stats(s->st[0])->tcp.rx_no_conn, 1);
    assert_int_equal(s->resets[0], 1);
    assert_int_equal(tapir_stats(s->st[1])->tcp.rx_resets, 1);
    struct tapir_sock *none = NULL;
    assert_int_equal(tapir_sock_accept(l, &none, NULL), -EAGAIN);
    assert_false(tapir_sock_events(l) & POLLIN);
    const struct tapir_tcp_stats *tb = &tapir_stats(s->st[1])->tcp;
    assert_int_equal(tb->conns_allocated - tb->conns_freed, 1); /* only the listener */
    /* The listener still serves. */
    struct tapir_sock *k2 = tcp_open(s, 0);
    start_connect(s, k2, 1, SERVER_PORT);
    assert_int_equal(wait_connected(s, k2, 10 * SEC), 0);
    struct tapir_sock *a = wait_accept(s, l, SEC);
    tapir_sock_close(k2);
    tapir_sock_close(a);
    tapir_sock_close(l);
    settle(s);
    sim_free(s);
}

/* A reset in FIN_WAIT_1: the server's FIN is sent but its ACK lost (frames from the client
 * vanish for a moment); the client then closes with unread data. */
static void test_rst_in_fin_wait_1(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 15, DEFAULT_MSL_US);
    struct conn c;
    open_conn(s, &c, 0, 0);
    unread_to_client(s, &c, 100);
    s->drop[0] = true;
    sync_stacks(s);
    assert_int_equal(tapir_sock_shutdown(c.srv, SHUT_WR), 0);
    run_for(s, 20 * MS);
    s->drop[0] = false;
    tapir_sock_close(c.cli);
    run_for(s, 20 * MS);
    assert_string_equal(states(s, 1, SERVER_PORT, c.cport),
                        "CLOSED SYN_RECEIVED ESTABLISHED FIN_WAIT_1 CLOSED");
    assert_string_equal(states(s, 0, c.cport, SERVER_PORT),
                        "CLOSED SYN_SENT ESTABLISHED CLOSE_WAIT CLOSED");
    char b;
    assert_int_equal(tapir_sock_recvfrom(c.srv, &b, 1, 0, NULL, NULL), -ECONNRESET);
    tapir_sock_close(c.srv);
    tapir_sock_close(c.lis);
    settle(s);
    sim_free(s);
}

static void test_rst_in_fin_wait_2(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 16, DEFAULT_MSL_US);
    struct conn c;
    open_conn(s, &c, 0, 0);
    unread_to_client(s, &c, 100);
    sync_stacks(s);
    assert_int_equal(tapir_sock_shutdown(c.srv, SHUT_WR), 0);
    run_for(s, 20 * MS);
    tapir_sock_close(c.cli);
    run_for(s, 20 * MS);
    assert_string_equal(states(s, 1, SERVER_PORT, c.cport),
                        "CLOSED SYN_RECEIVED ESTABLISHED FIN_WAIT_1 FIN_WAIT_2 CLOSED");
    assert_string_equal(states(s, 0, c.cport, SERVER_PORT),
                        "CLOSED SYN_SENT ESTABLISHED CLOSE_WAIT CLOSED");
    assert_true(tapir_sock_events(c.srv) & POLLERR);
    char b;
    assert_int_equal(tapir_sock_recvfrom(c.srv, &b, 1, 0, NULL, NULL), -ECONNRESET);
    tapir_sock_close(c.srv);
    tapir_sock_close(c.lis);
    settle(s);
    sim_free(s);
}

/* A reset in CLOSE_WAIT: the server has read the client's FIN; the client then aborts. */
static void test_rst_in_close_wait(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 17, DEFAULT_MSL_US);
    struct conn c;
    open_conn(s, &c, 0, 0);
    unread_to_client(s, &c, 100);
    sync_stacks(s);
    assert_int_equal(tapir_sock_shutdown(c.cli, SHUT_WR), 0);
    run_for(s, 20 * MS);
    tapir_sock_close(c.cli);
    run_for(s, 20 * MS);
    assert_string_equal(states(s, 0, c.cport, SERVER_PORT),
                        "CLOSED SYN_SENT ESTABLISHED FIN_WAIT_1 FIN_WAIT_2 CLOSED");
    assert_string_equal(states(s, 1, SERVER_PORT, c.cport),
                        "CLOSED SYN_RECEIVED ESTABLISHED CLOSE_WAIT CLOSED");
    char b;
    assert_int_equal(tapir_sock_recvfrom(c.srv, &b, 1, 0, NULL, NULL), -ECONNRESET);
    assert_int_equal(tapir_sock_sendto(c.srv, "x", 1, 0, NULL), -EPIPE);
    tapir_sock_close(c.srv);
    tapir_sock_close(c.lis);
    settle(s);
    sim_free(s);
}

/* A reset in LAST_ACK: the server's FIN is lost, the client aborts; RFC 9293 §3.10.7.4: the
 * connection just ends, with no error for the reader (it has read the FIN already). */
static void test_rst_in_last_ack(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 18, DEFAULT_MSL_US);
    struct conn c;
    open_conn(s, &c, 0, 0);
    unread_to_client(s, &c, 100);
    sync_stacks(s);
    assert_int_equal(tapir_sock_shutdown(c.cli, SHUT_WR), 0);
    run_for(s, 20 * MS);
    expect_eof(c.srv);
    s->drop[1] = true;
    assert_int_equal(tapir_sock_shutdown(c.srv, SHUT_WR), 0);
    run_for(s, 20 * MS);
    s->drop[1] = false;
    tapir_sock_close(c.cli);
    run_for(s, 20 * MS);
    assert_string_equal(states(s, 1, SERVER_PORT, c.cport),
                        "CLOSED SYN_RECEIVED ESTABLISHED CLOSE_WAIT LAST_ACK CLOSED");
    assert_string_equal(states(s, 0, c.cport, SERVER_PORT),
                        "CLOSED SYN_SENT ESTABLISHED FIN_WAIT_1 FIN_WAIT_2 CLOSED");
    assert_int_equal(tapir_stats(s->st[1])->tcp.rx_resets, 1);
    tapir_sock_close(c.srv);
    tapir_sock_close(c.lis);
    settle(s);
    sim_free(s);
}

/* A reset in CLOSING: both close, the client's FIN and its ACK of the server's FIN are lost,
 * so the client sits in CLOSING when the server aborts. */
static void test_rst_in_closing(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 19, DEFAULT_MSL_US);
    struct conn c;
    open_conn(s, &c, 0, 0);
    unread_to_client(s, &c, 100);
    send_str(c.cli, "unread by the server");
    run_for(s, 20 * MS);
    s->drop[0] = true;
    sync_stacks(s);
    assert_int_equal(tapir_sock_shutdown(c.cli, SHUT_WR), 0);
    assert_int_equal(tapir_sock_shutdown(c.srv, SHUT_WR), 0);
    run_for(s, 20 * MS);
    s->drop[0] = false;
    tapir_sock_close(c.srv);
    run_for(s, 20 * MS);
    assert_string_equal(states(s, 0, c.cport, SERVER_PORT),
                        "CLOSED SYN_SENT ESTABLISHED FIN_WAIT_1 CLOSING CLOSED");
    assert_string_equal(states(s, 1, SERVER_PORT, c.cport),
                        "CLOSED SYN_RECEIVED ESTABLISHED FIN_WAIT_1 CLOSED");
    assert_int_equal(tapir_stats(s->st[0])->tcp.rx_resets, 1);
    tapir_sock_close(c.cli);
    tapir_sock_close(c.lis);
    settle(s);
    sim_free(s);
}

/* RFC 1337: a reset does not cut TIME_WAIT short. The server aborts from LAST_ACK (its
 * socket had unread data) after the client has entered TIME_WAIT. */
static void test_rst_ignored_in_time_wait(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 20, DEFAULT_MSL_US);
    struct conn c;
    open_conn(s, &c, 0, 0);
    send_str(c.cli, "never read");
    sync_stacks(s);
    assert_int_equal(tapir_sock_shutdown(c.cli, SHUT_WR), 0);
    run_for(s, 20 * MS);
    s->drop[0] = true;
    assert_int_equal(tapir_sock_shutdown(c.srv, SHUT_WR), 0);
    run_for(s, 20 * MS);
    s->drop[0] = false;
    tapir_sock_close(c.srv);
    run_for(s, 20 * MS);
    assert_string_equal(states(s, 1, SERVER_PORT, c.cport),
                        "CLOSED SYN_RECEIVED ESTABLISHED CLOSE_WAIT LAST_ACK CLOSED");
    assert_string_equal(states(s, 0, c.cport, SERVER_PORT),
                        "CLOSED SYN_SENT ESTABLISHED FIN_WAIT_1 FIN_WAIT_2 TIME_WAIT");
    assert_int_equal(tapir_stats(s->st[0])->tcp.rst_ignored_time_wait, 1);
    run_for(s, 2 * s->msl_us);
    assert_int_equal(entered(s, 0, c.cport, SERVER_PORT, "CLOSED", 0) -
                         entered(s, 0, c.cport, SERVER_PORT, "TIME_WAIT", 0),
                     2 * s->msl_us);
    expect_eof(c.cli);
    tapir_sock_close(c.cli);
    tapir_sock_close(c.lis);
    settle(s);
    sim_free(s);
}

/* A listener closing resets the connections nobody accepted (as Linux). */
static void test_listener_close_resets_unaccepted(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 21, DEFAULT_MSL_US);
    struct tapir_sock *l = listen_on(s, 1, SERVER_PORT, 0);
    struct tapir_sock *k = tcp_open(s, 0);
    start_connect(s, k, 1, SERVER_PORT);
    uint16_t port = local_port(k);
    assert_int_equal(wait_connected(s, k, 10 * SEC), 0);
    run_for(s, 20 * MS);
    assert_true(tapir_sock_events(l) & POLLIN);
    tapir_sock_close(l);
    run_for(s, 20 * MS);
    assert_string_equal(states(s, 1, SERVER_PORT, port),
                        "CLOSED SYN_RECEIVED ESTABLISHED CLOSED");
    assert_string_equal(states(s, 0, port, SERVER_PORT), "CLOSED SYN_SENT ESTABLISHED CLOSED");
    char b;
    assert_int_equal(tapir_sock_recvfrom(k, &b, 1, 0, NULL, NULL), -ECONNRESET);
    tapir_sock_close(k);
    settle(s);
    sim_free(s);
}

/* A drop_fn: the client's bare ACKs vanish (so the server's handshakes stay half-open). */
static bool lose_client_bare_acks(struct sim *s, int from, const struct seg_view *v)
{
    (void)s;
    return from == 0 && !v->len && (v->flags & (TCP_SYN | TCP_FIN | TCP_RST | TCP_ACK)) == TCP_ACK;
}

/* A listener closing aborts its half-open handshakes too: the SYN_RECEIVED child resets the
 * client, which had already reached ESTABLISHED, and which reports ECONNRESET. */
static void test_listener_close_resets_half_open(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 48, DEFAULT_MSL_US);
    struct tapir_sock *l = listen_on(s, 1, SERVER_PORT, 0);
    struct tapir_sock *k = tcp_open(s, 0);
    s->drop_fn = lose_client_bare_acks;
    start_connect(s, k, 1, SERVER_PORT);
    uint16_t port = local_port(k);
    assert_int_equal(wait_connected(s, k, SEC), 0);
    run_for(s, 20 * MS);
    assert_string_equal(states(s, 1, SERVER_PORT, port), "CLOSED SYN_RECEIVED");
    s->drop_fn = NULL;
    sync_stacks(s);
    tapir_sock_close(l);
    run_for(s, 20 * MS);
    assert_string_equal(states(s, 1, SERVER_PORT, port), "CLOSED SYN_RECEIVED CLOSED");
    assert_string_equal(states(s, 0, port, SERVER_PORT), "CLOSED SYN_SENT ESTABLISHED CLOSED");
    char b;
    assert_int_equal(tapir_sock_recvfrom(k, &b, 1, 0, NULL, NULL), -ECONNRESET);
    tapir_sock_close(k);
    settle(s);
    sim_free(s);
}

/* As on Linux, a stream socket whose connect failed may connect again: refused first, then,
 * once a listener is there, established, from the same port. */
static void test_connect_again_after_refusal(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 49, DEFAULT_MSL_US);
    struct tapir_sock *k = tcp_open(s, 0);
    start_connect(s, k, 1, SERVER_PORT);
    uint16_t port = local_port(k);
    assert_int_equal(wait_connected(s, k, SEC), -ECONNREFUSED);
    struct tapir_sock *l = listen_on(s, 1, SERVER_PORT, 0);
    start_connect(s, k, 1, SERVER_PORT);
    assert_int_equal(local_port(k), port);
    assert_int_equal(wait_connected(s, k, SEC), 0);
    struct tapir_sock *a = wait_accept(s, l, SEC);
    send_str(k, "second try");
    expect_bytes(s, a, "second try", 10);
    assert_string_equal(states(s, 0, port, SERVER_PORT),
                        "CLOSED SYN_SENT CLOSED SYN_SENT ESTABLISHED");
    sync_stacks(s);
    tapir_sock_close(k);
    tapir_sock_close(a);
    tapir_sock_close(l);
    settle(s);
    sim_free(s);
}

/* A connection the peer has already sent on and closed waits in the accept queue: accept
 * gives it, with its data and then end of stream. */
static void test_accept_after_the_peer_closed(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 22, DEFAULT_MSL_US);
    struct tapir_sock *l = listen_on(s, 1, SERVER_PORT, 0);
    struct tapir_sock *k = tcp_open(s, 0);
    start_connect(s, k, 1, SERVER_PORT);
    uint16_t port = local_port(k);
    assert_int_equal(wait_connected(s, k, 10 * SEC), 0);
    send_str(k, "before accept");
    tapir_sock_close(k);
    run_for(s, 50 * MS);
    assert_string_equal(states(s, 1, SERVER_PORT, port),
                        "CLOSED SYN_RECEIVED ESTABLISHED CLOSE_WAIT");
    struct tapir_sock *a = wait_accept(s, l, SEC);
    expect_bytes(s, a, "before accept", 13);
    expect_eof(a);
    tapir_sock_close(a);
    run_for(s, 50 * MS);
    assert_string_equal(states(s, 1, SERVER_PORT, port),
                        "CLOSED SYN_RECEIVED ESTABLISHED CLOSE_WAIT LAST_ACK CLOSED");
    tapir_sock_close(l);
    settle(s);
    sim_free(s);
}

/* ---- TIME_WAIT and reuse ---------------------------------------------------------------- */

/* While the client's 4-tuple is in TIME_WAIT it cannot connect on it again; after 2*MSL
 * (here a configured MSL of 2 s) the same 4-tuple opens a new connection. */
static void test_time_wait_expiry_then_reuse(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 23, 2 * SEC);
    struct conn c;
    open_conn(s, &c, 40000, 0);
    assert_int_equal(c.cport, 40000);
    send_str(c.cli, "one");
    expect_bytes(s, c.srv, "one", 3);
    sync_stacks(s);
    tapir_sock_close(c.cli);
    run_for(s, 20 * MS);
    expect_eof(c.srv);
    tapir_sock_close(c.srv);
    run_for(s, 20 * MS);
    assert_string_equal(states(s, 0, 40000, SERVER_PORT),
                        "CLOSED SYN_SENT ESTABLISHED FIN_WAIT_1 FIN_WAIT_2 TIME_WAIT");
    struct tapir_sock *k = tcp_open(s, 0);
    struct sockaddr_in port40000 = sin_of(0, 40000);
    assert_int_equal(tapir_sock_bind(k, &port40000), -EADDRINUSE); /* as Linux: TIME_WAIT */
    set_reuseaddr(k);
    bind_to(k, 0, 40000); /* with SO_REUSEADDR the port is free: only the 4-tuple is taken */
    struct sockaddr_in to = sin_of(HOST_B, SERVER_PORT);
    assert_int_equal(tapir_sock_connect(k, &to), -EADDRNOTAVAIL);
    uint64_t tw = entered(s, 0, 40000, SERVER_PORT, "TIME_WAIT", 0);
    run_for(s, tw + 2 * s->msl_us - now(s));
    assert_int_equal(entered(s, 0, 40000, SERVER_PORT, "CLOSED", 0) - tw, 2 * s->msl_us);
    start_connect(s, k, 1, SERVER_PORT);
    assert_int_equal(wait_connected(s, k, 10 * SEC), 0);
    struct tapir_sock *srv = wait_accept(s, c.lis, SEC);
    send_str(k, "two");
    expect_bytes(s, srv, "two", 3);
    assert_string_equal(states(s, 0, 40000, SERVER_PORT),
                        "CLOSED SYN_SENT ESTABLISHED FIN_WAIT_1 FIN_WAIT_2 TIME_WAIT CLOSED "
                        "SYN_SENT ESTABLISHED");
    assert_string_equal(states(s, 1, SERVER_PORT, 40000),
                        "CLOSED SYN_RECEIVED ESTABLISHED CLOSE_WAIT LAST_ACK CLOSED "
                        "SYN_RECEIVED ESTABLISHED");
    sync_stacks(s);
    tapir_sock_close(k);
    tapir_sock_close(srv);
    tapir_sock_close(c.lis);
    settle(s);
    sim_free(s);
}

/* RFC 9293 §3.10.7.4 (and RFC 6191): a SYN whose sequence number is above everything the old
 * incarnation used reopens a connection in TIME_WAIT at once. Here the server closed first,
 * so it holds TIME_WAIT; the client reconnects from the same port a second later (its ISN
 * clock has moved on by 250000). */
static void test_syn_above_time_wait_reopens(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 24, DEFAULT_MSL_US);
    struct conn c;
    open_conn(s, &c, 40001, 0);
    send_str(c.cli, "ping");
    expect_bytes(s, c.srv, "ping", 4);
    sync_stacks(s);
    tapir_sock_close(c.srv);
    run_for(s, 20 * MS);
    expect_eof(c.cli);
    tapir_sock_close(c.cli);
    run_for(s, SEC);
    assert_string_equal(states(s, 1, SERVER_PORT, 40001),
                        "CLOSED SYN_RECEIVED ESTABLISHED FIN_WAIT_1 FIN_WAIT_2 TIME_WAIT");
    assert_string_equal(states(s, 0, 40001, SERVER_PORT),
                        "CLOSED SYN_SENT ESTABLISHED CLOSE_WAIT LAST_ACK CLOSED");
    struct tapir_sock *k = tcp_open(s, 0);
    bind_to(k, 0, 40001);
    start_connect(s, k, 1, SERVER_PORT);
    uint64_t t0 = now(s);
    assert_int_equal(wait_connected(s, k, 10 * SEC), 0);
    assert_true(now(s) - t0 < 100 * MS); /* at once, not after a retry */
    assert_int_equal(tapir_stats(s->st[1])->tcp.time_wait_reopened, 1);
    struct tapir_sock *srv = wait_accept(s, c.lis, SEC);
    assert_string_equal(states(s, 1, SERVER_PORT, 40001),
                        "CLOSED SYN_RECEIVED ESTABLISHED FIN_WAIT_1 FIN_WAIT_2 TIME_WAIT CLOSED "
                        "SYN_RECEIVED ESTABLISHED");
    assert_true(entered(s, 1, SERVER_PORT, 40001, "CLOSED", 0) -
                    entered(s, 1, SERVER_PORT, 40001, "TIME_WAIT", 0) <
                2 * s->msl_us);
    send_str(srv, "pong");
    expect_bytes(s, k, "pong", 4);
    sync_stacks(s);
    tapir_sock_close(k);
    tapir_sock_close(srv);
    tapir_sock_close(c.lis);
    settle(s);
    sim_free(s);
}

/* The other case: a SYN at or below the old incarnation's sequence space must not reopen
 * TIME_WAIT (RFC 9293 §3.10.7.4, RFC 6191 §2). The old connection carried 400 KB, more than
 * the ISN clock advanced since it opened, so the new SYN is old to the server: it answers
 * with an ACK, the client resets that, the reset is ignored (RFC 1337), and the client's
 * retries get through once its ISN clock has passed the old sequence numbers. */
static void test_old_syn_does_not_reopen_time_wait(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 25, DEFAULT_MSL_US);
    struct conn c;
    open_conn(s, &c, 40002, 0);
    const size_t len = 400000;
    uint8_t *data = make_pattern(s, 25, len);
    struct stream tx = {.k = c.cli, .out = data, .out_len = len, .reading = true};
    struct stream rx = {.k = c.srv, .in = data, .in_len = len, .reading = true};
    assert_true(transfer(s, &tx, &rx, 30 * SEC));
    struct tcp_conn *old = tcp_lookup(s->st[1], HOST_B, SERVER_PORT, HOST_A, 40002);
    assert_non_null(old);
    sync_stacks(s);
    tapir_sock_close(c.srv);
    run_for(s, 20 * MS);
    expect_eof(c.cli);
    tapir_sock_close(c.cli);
    run_for(s, 20 * MS);
    old = tcp_lookup(s->st[1], HOST_B, SERVER_PORT, HOST_A, 40002);
    assert_non_null(old);
    assert_int_equal(old->state, TCP_TIME_WAIT);
    uint32_t old_rcv_nxt = old->rcv_nxt;
    struct tapir_sock *k = tcp_open(s, 0);
    bind_to(k, 0, 40002);
    start_connect(s, k, 1, SERVER_PORT);
    assert_true(seq_le(s->last_syn_seq[0], old_rcv_nxt)); /* the premise */
    run_for(s, 100 * MS);
    assert_int_equal(tapir_stats(s->st[1])->tcp.time_wait_reopened, 0);
    assert_int_equal(tapir_sock_connected(k), -EAGAIN);
    assert_true(tapir_stats(s->st[1])->tcp.rst_ignored_time_wait >= 1);
    assert_int_equal(wait_connected(s, k, 2 * s->msl_us + 10 * SEC), 0);
    struct tapir_sock *srv = wait_accept(s, c.lis, SEC);
    send_str(k, "again");
    expect_bytes(s, srv, "again", 5);
    sync_stacks(s);
    tapir_sock_close(k);
    tapir_sock_close(srv);
    tapir_sock_close(c.lis);
    settle(s);
    sim_free(s);
}

/* RFC 9293 §3.10.7.4: a FIN retransmitted into TIME_WAIT is acknowledged again and restarts
 * the 2*MSL. Here the client's ACK of the server's FIN is lost; the server's retransmitted
 * FIN is acknowledged, which ends LAST_ACK, and the client's TIME_WAIT ends 2*MSL after that
 * FIN arrived, not after the first. */
static void test_retransmitted_fin_restarts_time_wait(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 40, DEFAULT_MSL_US);
    struct conn c;
    open_conn(s, &c, 0, 0);
    sync_stacks(s);
    tapir_sock_close(c.cli);
    run_for(s, 20 * MS);
    expect_eof(c.srv);
    s->drop[0] = true; /* the client's ACK of the server's FIN */
    tapir_sock_close(c.srv);
    run_for(s, 20 * MS);
    s->drop[0] = false;
    assert_string_equal(states(s, 0, c.cport, SERVER_PORT),
                        "CLOSED SYN_SENT ESTABLISHED FIN_WAIT_1 FIN_WAIT_2 TIME_WAIT");
    assert_string_equal(states(s, 1, SERVER_PORT, c.cport),
                        "CLOSED SYN_RECEIVED ESTABLISHED CLOSE_WAIT LAST_ACK");
    run_for(s, 10 * SEC);
    assert_string_equal(states(s, 1, SERVER_PORT, c.cport),
                        "CLOSED SYN_RECEIVED ESTABLISHED CLOSE_WAIT LAST_ACK CLOSED");
    uint64_t tw = entered(s, 0, c.cport, SERVER_PORT, "TIME_WAIT", 0);
    uint64_t b_closed = entered(s, 1, SERVER_PORT, c.cport, "CLOSED", 0);
    assert_true(b_closed - tw >= 200 * MS); /* after a retransmission timeout (RTO min) */
    run_for(s, 2 * s->msl_us);
    uint64_t a_closed = entered(s, 0, c.cport, SERVER_PORT, "CLOSED", 0);
    /* The retransmitted FIN reached the client 1 ms before its ACK reached the server. */
    assert_int_equal(a_closed, b_closed - clean_link.delay_us + 2 * s->msl_us);
    tapir_sock_close(c.lis);
    settle(s);
    sim_free(s);
}

/* A graceful close (RFC 9293 §3.10.4) delivers everything queued before it, even when the
 * peer's window is shut for a while and the link loses and reorders: the FIN waits behind
 * the data, the orphan probes the zero window, and the reader gets every byte, then EOF. */
static void test_close_delivers_queued_data_behind_a_zero_window(void **state)
{
    struct sim *s = *state;
    struct wire_faults rough = {.loss_ppm = 30000, .reorder_ppm = 30000, .reorder_us = 2000,
                                .delay_us = 1000};
    sim_start(s, &rough, 41, DEFAULT_MSL_US);
    struct conn c;
    open_conn(s, &c, 0, 4096);
    const size_t len = 100000;
    uint8_t *data = make_pattern(s, 41, len);
    assert_int_equal(tapir_sock_sendto(c.cli, data, len, 0, NULL), (ssize_t)len);
    sync_stacks(s);
    tapir_sock_close(c.cli);
    run_for(s, 5 * SEC);
    struct stream rx = {.k = c.srv, .in = data, .in_len = len, .want_eof = true,
                        .reading = true};
    struct stream none = {.k = c.lis};
    assert_true(transfer(s, &rx, &none, 600 * SEC));
    assert_true(s->zero_windows[1] > 0); /* the window did shut */
    sync_stacks(s);
    tapir_sock_close(c.srv);
    tapir_sock_close(c.lis);
    settle(s);
    assert_string_equal(states(s, 0, c.cport, SERVER_PORT),
                        "CLOSED SYN_SENT ESTABLISHED FIN_WAIT_1 FIN_WAIT_2 TIME_WAIT CLOSED");
    sim_free(s);
}

/* RFC 9293 §3.10.7.4: a reset in SYN_RECEIVED reached from SYN_SENT (a simultaneous open)
 * means the connection was refused. Both SYN,ACKs are lost, so both ends sit in
 * SYN_RECEIVED; the server side aborts (SO_LINGER {1, 0}) and its reset refuses the other. */
static bool lose_syn_acks(struct sim *s, int from, const struct seg_view *v)
{
    (void)s;
    (void)from;
    return (v->flags & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK);
}

static void test_rst_in_syn_received_after_simultaneous_open(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 42, DEFAULT_MSL_US);
    struct tapir_sock *a = tcp_open(s, 0), *b = tcp_open(s, 1);
    bind_to(a, 0, 1000);
    bind_to(b, 0, 2000);
    s->drop_fn = lose_syn_acks;
    start_connect(s, a, 1, 2000);
    start_connect(s, b, 0, 1000);
    run_for(s, 100 * MS);
    assert_string_equal(states(s, 0, 1000, 2000), "CLOSED SYN_SENT SYN_RECEIVED");
    assert_string_equal(states(s, 1, 2000, 1000), "CLOSED SYN_SENT SYN_RECEIVED");
    s->drop_fn = NULL;
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    assert_int_equal(tapir_sock_setopt(b, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
    tapir_sock_close(b);
    assert_int_equal(wait_connected(s, a, SEC), -ECONNREFUSED);
    assert_string_equal(states(s, 0, 1000, 2000), "CLOSED SYN_SENT SYN_RECEIVED CLOSED");
    assert_string_equal(states(s, 1, 2000, 1000), "CLOSED SYN_SENT SYN_RECEIVED CLOSED");
    tapir_sock_close(a);
    settle(s);
    sim_free(s);
}

/* RFC 9293 §3.8.3: a peer that vanishes is given up on after the retransmissions, and the
 * application hears ETIMEDOUT: from ESTABLISHED with data outstanding (R2, minutes), and
 * for a SYN nobody answers (about two minutes, as Linux's six SYN retries). */
static void test_dead_peer_times_out(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 43, DEFAULT_MSL_US);
    struct conn c;
    open_conn(s, &c, 0, 0);
    s->drop[0] = s->drop[1] = true;
    sync_stacks(s);
    send_str(c.cli, "into the void");
    uint64_t t0 = now(s);
    RUN_UNTIL(s, tapir_sock_events(c.cli) & POLLERR, 60 * 60 * SEC);
    uint64_t took = now(s) - t0;
    print_message("data: ETIMEDOUT after %.1f s and %llu retransmissions\n", (double)took / 1e6,
                  (unsigned long long)tapir_stats(s->st[0])->tcp.retransmits);
    assert_true(took >= 100 * SEC && took <= 30 * 60 * SEC); /* RFC 9293 R2: at least 100 s */
    char b;
    assert_int_equal(tapir_sock_recvfrom(c.cli, &b, 1, 0, NULL, NULL), -ETIMEDOUT);
    assert_string_equal(states(s, 0, c.cport, SERVER_PORT),
                        "CLOSED SYN_SENT ESTABLISHED CLOSED");
    assert_int_equal(tapir_stats(s->st[0])->tcp.timeouts, 1);
    /* A connect into the void. */
    struct tapir_sock *k = tcp_open(s, 0);
    start_connect(s, k, 1, SERVER_PORT);
    uint16_t port = local_port(k);
    t0 = now(s);
    assert_int_equal(wait_connected(s, k, 30 * 60 * SEC), -ETIMEDOUT);
    took = now(s) - t0;
    print_message("SYN: ETIMEDOUT after %.1f s\n", (double)took / 1e6);
    assert_true(took >= 60 * SEC && took <= 300 * SEC);
    assert_string_equal(states(s, 0, port, SERVER_PORT), "CLOSED SYN_SENT CLOSED");
    s->drop[0] = s->drop[1] = false;
    sync_stacks(s);
    tapir_sock_close(k);
    tapir_sock_close(c.cli);
    tapir_sock_close(c.srv); /* its FIN finds nothing: a reset ends it */
    tapir_sock_close(c.lis);
    settle(s);
    sim_free(s);
}

/* A listener with a backlog of 1 holds two connections for accept (as Linux's
 * sk_acceptq_is_full); a third SYN is dropped and counted, and its retransmission gets in
 * once the application has accepted. */
static void test_listen_backlog_overflow_then_retry(void **state)
{
    struct sim *s = *state;
    sim_start(s, &clean_link, 44, DEFAULT_MSL_US);
    struct tapir_sock *l = tcp_open(s, 1);
    bind_to(l, 0, SERVER_PORT);
    assert_int_equal(tapir_sock_listen(l, 1), 0);
    struct tapir_sock *k[3];
    for (int i = 0; i < 2; i++) {
        k[i] = tcp_open(s, 0);
        start_connect(s, k[i], 1, SERVER_PORT);
        assert_int_equal(wait_connected(s, k[i], SEC), 0);
        run_for(s, 10 * MS);
    }
    k[2] = tcp_open(s, 0);
    start_connect(s, k[2], 1, SERVER_PORT);
    uint64_t t0 = now(s);
    run_for(s, 500 * MS);
    assert_int_equal(tapir_sock_connected(k[2]), -EAGAIN);
    assert_true(tapir_stats(s->st[1])->tcp.listen_overflows >= 1);
    struct tapir_sock *acc[3];
    for (int i = 0; i < 2; i++)
        acc[i] = wait_accept(s, l, SEC);
    assert_int_equal(wait_connected(s, k[2], 10 * SEC), 0);
    assert_true(now(s) - t0 >= SEC); /* it took a SYN retransmission */
    acc[2] = wait_accept(s, l, SEC);
    for (int i = 0; i < 3; i++) {
        send_str(k[i], "x");
        expect_bytes(s, acc[i], "x", 1);
    }
    sync_stacks(s);
    for (int i = 0; i < 3; i++) {
        tapir_sock_close(k[i]);
        tapir_sock_close(acc[i]);
    }
    tapir_sock_close(l);
    settle(s);
    sim_free(s);
}

/* Forty connections at once through a lossy link, each carrying 20 KB each way, all closed:
 * every byte arrives, every block is freed. */
static void test_forty_connections_at_once(void **state)
{
    struct sim *s = *state;
    struct wire_faults lossy = {.loss_ppm = 20000, .reorder_ppm = 20000, .reorder_us = 2000,
                                .delay_us = 1000};
    sim_start(s, &lossy, 45, DEFAULT_MSL_US);
    enum { N = 40 };
    const size_t len = 20000;
    uint8_t *up = make_pattern(s, 45, len), *down = make_pattern(s, 46, len);
    struct tapir_sock *l = tcp_open(s, 1);
    bind_to(l, 0, SERVER_PORT);
    assert_int_equal(tapir_sock_listen(l, N), 0);
    struct stream cl[N], sv[N];
    memset(sv, 0, sizeof(sv));
    for (int i = 0; i < N; i++) {
        struct tapir_sock *k = tcp_open(s, 0);
        start_connect(s, k, 1, SERVER_PORT);
        cl[i] = (struct stream){.k = k, .out = up, .out_len = len, .in = down, .in_len = len,
                                .shut_after_send = true, .want_eof = true, .reading = true};
    }
    int accepted = 0;
    uint64_t end = now(s) + 600 * SEC;
    bool all = false;
    while (!all && now(s) < end) {
        struct tapir_sock *k;
        while (accepted < N && tapir_sock_accept(l, &k, NULL) == 0) {
            tapir_sock_set_wakeup(k, on_wake, s);
            sv[accepted++] = (struct stream){.k = k, .out = down, .out_len = len, .in = up,
                                             .in_len = len, .shut_after_send = true,
                                             .want_eof = true, .reading = true};
        }
        all = accepted == N;
        for (int i = 0; i < N; i++) {
            if (tapir_sock_connected(cl[i].k) == 0 || cl[i].sent)
                stream_step(&cl[i]);
            if (i < accepted)
                stream_step(&sv[i]);
            all = all && stream_done(&cl[i]) && stream_done(&sv[i]);
        }
        if (all)
            break;
        s->woke = 0;
        uint64_t step = now(s) + 10 * MS < end ? now(s) + 10 * MS : end;
        wire_run(s->wire, step, &s->woke);
        sync_stacks(s);
    }
    assert_int_equal(accepted, N);
    assert_true(all);
    assert_int_equal(tapir_stats(s->st[0])->tcp.established, N);
    sync_stacks(s);
    for (int i = 0; i < N; i++) {
        tapir_sock_close(cl[i].k);
        tapir_sock_close(sv[i].k);
    }
    tapir_sock_close(l);
    settle(s);
    sim_free(s);
}

/* Small windows both ways through loss, duplication and reordering: the zero-window probes,
 * window updates and out-of-order ranges of a 4 KB buffer, with every segment checked
 * against the window it was sent into. */
static void test_small_windows_through_a_rough_link(void **state)
{
    struct sim *s = *state;
    struct wire_faults rough = {.loss_ppm = 50000, .dup_ppm = 20000, .reorder_ppm = 50000,
                                .reorder_us = 3000, .delay_us = 1000};
    sim_start(s, &rough, 46, DEFAULT_MSL_US);
    struct tapir_sock *l = listen_on(s, 1, SERVER_PORT, 4096);
    struct tapir_sock *k = tcp_open(s, 0);
    set_rcvbuf(k, 4096);
    start_connect(s, k, 1, SERVER_PORT);
    assert_int_equal(wait_connected(s, k, 60 * SEC), 0);
    struct tapir_sock *a = wait_accept(s, l, 10 * SEC);
    const size_t len = 200000;
    uint8_t *ab = make_pattern(s, 5, len), *ba = make_pattern(s, 6, len);
    struct stream x = {.k = k, .out = ab, .out_len = len, .in = ba, .in_len = len,
                       .shut_after_send = true, .want_eof = true, .reading = true,
                       .chunk = 3000};
    struct stream y = {.k = a, .out = ba, .out_len = len, .in = ab, .in_len = len,
                       .shut_after_send = true, .want_eof = true, .reading = true,
                       .chunk = 1000};
    uint64_t t0 = now(s);
    bool done = transfer(s, &x, &y, 900 * SEC);
    print_message("200 KB each way through 4 KB windows: %s after %.3f s, %llu segments\n",
                  done ? "done" : "NOT DONE", (double)(now(s) - t0) / 1e6,
                  (unsigned long long)(s->tcp_segs[0] + s->tcp_segs[1]));
    assert_true(done);
    for (int i = 0; i < 2; i++)
        assert_true(s->max_wnd[i] <= 4096);
    sync_stacks(s);
    tapir_sock_close(k);
    tapir_sock_close(a);
    tapir_sock_close(l);
    settle(s);
    sim_free(s);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, sim_setup, sim_teardown)
    const struct CMUnitTest tests[] = {
        T(test_window_checker_sees_violations),
        T(test_idle_connection_is_quiet),
        T(test_handshake_and_close_segment_counts),
        T(test_active_open_and_close),
        T(test_close_orphans_until_time_wait_ends),
        T(test_orphan_fin_wait_2_times_out),
        T(test_simultaneous_open),
        T(test_simultaneous_close),
        T(test_retransmitted_fin_restarts_time_wait),
        T(test_close_delivers_queued_data_behind_a_zero_window),
        T(test_half_close_keeps_the_other_direction),
        T(test_half_close_by_the_passive_side),
        T(test_rst_close_with_unread_data_in_established),
        T(test_rst_linger_zero_aborts),
        T(test_rst_connect_to_closed_port),
        T(test_rst_in_syn_received),
        T(test_rst_in_syn_received_after_simultaneous_open),
        T(test_rst_in_fin_wait_1),
        T(test_rst_in_fin_wait_2),
        T(test_rst_in_close_wait),
        T(test_rst_in_last_ack),
        T(test_rst_in_closing),
        T(test_rst_ignored_in_time_wait),
        T(test_listener_close_resets_unaccepted),
        T(test_listener_close_resets_half_open),
        T(test_connect_again_after_refusal),
        T(test_accept_after_the_peer_closed),
        T(test_listen_backlog_overflow_then_retry),
        T(test_dead_peer_times_out),
        T(test_time_wait_expiry_then_reuse),
        T(test_syn_above_time_wait_reopens),
        T(test_old_syn_does_not_reopen_time_wait),
        T(test_small_rcvbuf_bounds_every_window),
        T(test_zero_window_probe_and_update),
        T(test_small_windows_through_a_rough_link),
        T(test_full_windows_with_holes_recover_by_fast_retransmit),
        T(test_used_up_window_is_probed),
        T(test_megabyte_both_ways_through_5_percent_loss),
        T(test_megabyte_both_ways_through_dup_and_reorder),
        T(test_megabyte_both_ways_through_corruption),
        T(test_forty_connections_at_once),
    };
#undef T
    if (getenv("TCP_SIM_ONLY")) /* e.g. TCP_SIM_ONLY='test_rst_*' */
        cmocka_set_test_filter(getenv("TCP_SIM_ONLY"));
    return cmocka_run_group_tests_name("sim_tcp", tests, NULL, NULL);
}
