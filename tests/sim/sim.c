/* SPDX-License-Identifier: MIT */
/* sim.c: the sim tests' harness: two stacks over drivers/wire.c in virtual time, a driver
 * wrapper that checks and loses segments, and helpers for connections, transfers and traces
 * (see sim.h). */
#include "sim.h"

#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "bytes.h"
#include "core.h"

/* ---- The simulation -------------------------------------------------------------------------- */

const struct wire_faults clean_link = {.delay_us = 1000};

void on_wake(void *ctx) { ((struct sim *)ctx)->woke = 1; }

/* The window checker's record of one direction, made on first sight. */
static struct sim_dir *dir_of(struct sim *s, uint32_t src, uint16_t sport, uint32_t dst,
                              uint16_t dport)
{
    for (unsigned i = 0; i < s->ndirs; i++) {
        struct sim_dir *f = &s->dirs[i];
        if (f->src == src && f->sport == sport && f->dst == dst && f->dport == dport)
            return f;
    }
    assert_true(s->ndirs < SIM_MAX_DIRS);
    struct sim_dir *f = &s->dirs[s->ndirs++];
    *f = (struct sim_dir){.src = src, .dst = dst, .sport = sport, .dport = dport, .wscale = -1};
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
void check_segment(struct sim *s, int from, const struct seg_view *v)
{
    s->tcp_segs[from]++;
    if (!s->storm && s->seg_budget && s->tcp_segs[0] + s->tcp_segs[1] > s->seg_budget) {
        s->storm = true;
        snprintf(s->storm_note, sizeof(s->storm_note),
                 "t=%llu: more than %llu segments: the link is cut (a storm?); the last, from "
                 "side %d: flags 0x%02x seq %u ack %u len %u",
                 (unsigned long long)now(s), (unsigned long long)s->seg_budget, from, v->flags,
                 v->seq, v->ack, v->len);
        print_error("%s\n", s->storm_note);
    }
    if (v->flags & TCP_SYN) {
        struct sim_dir *f = dir_of(s, v->src, v->sport, v->dst, v->dport);
        s->last_syn_seq[from] = v->seq;
        f->have_edge = false; /* a new incarnation */
        f->wscale = v->wscale;
    }
    /* RFC 7323 §2.2: windows are scaled once both SYNs carried the option, never on a SYN. */
    const struct sim_dir *mine = dir_of(s, v->src, v->sport, v->dst, v->dport);
    const struct sim_dir *theirs = dir_of(s, v->dst, v->dport, v->src, v->sport);
    uint32_t wnd = v->wnd;
    if (!(v->flags & TCP_SYN) && mine->wscale >= 0 && theirs->wscale >= 0)
        wnd <<= mine->wscale;
    if ((v->flags & TCP_ACK) && wnd > s->max_wnd[from])
        s->max_wnd[from] = wnd;
    if (v->flags & TCP_RST)
        s->resets[from]++;
    if ((v->flags & TCP_ACK) && !(v->flags & TCP_RST)) {
        struct sim_dir *f = dir_of(s, v->src, v->sport, v->dst, v->dport);
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
        const struct sim_dir *peer = dir_of(s, v->dst, v->dport, v->src, v->sport);
        if (!peer->have_edge || seq_gt(v->seq + v->len, peer->edge)) {
            if (!s->window_violations++)
                snprintf(s->violation, sizeof(s->violation),
                         "t=%llu side %d sent seq %u len %u past the offered edge %u%s",
                         (unsigned long long)now(s), from, v->seq, v->len, peer->edge,
                         peer->have_edge ? "" : " (no window offered yet)");
        }
    }
}

void sim_stack_config(struct tapir_config *cfg, int side, uint64_t stack_seed)
{
    tapir_config_defaults(cfg);
    uint8_t mac[6] = {0x02, 0, 0, 0, 0, (uint8_t)(side + 1)};
    memcpy(cfg->mac, mac, 6);
    cfg->addr.s_addr = htonl(side == 0 ? HOST_A : HOST_B);
    cfg->prefix_len = 24;
    cfg->seed = stack_seed;
}

/* SplitMix64, for loss_ppm. */
static uint64_t sim_rand(struct sim *s)
{
    uint64_t z = (s->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* The driver wrapper: every TCP segment is checked, then the frame is lost (a black hole, a
 * storm's cut, loss_ppm, drop_fn) or handed to the wire. */
static int tap_send(void *ctx, const void *frame, size_t len)
{
    struct tap_end *te = ctx;
    struct sim *s = te->s;
    struct seg_view v;
    bool tcp = parse_tcp(frame, len, &v);
    if (tcp)
        check_segment(s, te->end, &v);
    bool lose = s->drop[te->end] || s->storm;
    /* One draw for every frame while loss_ppm is set, so a seed replays the same losses. */
    if (s->loss_ppm[te->end] && sim_rand(s) % 1000000u < s->loss_ppm[te->end])
        lose = true;
    if (!lose && tcp && s->drop_fn)
        lose = s->drop_fn(s, te->end, &v);
    if (lose) {
        s->dropped[te->end]++;
        if (tcp && v.len)
            s->data_lost[te->end]++;
        return 0;
    }
    return te->inner.send(te->inner.ctx, frame, len);
}

void sim_start_opts(struct sim *s, const struct wire_faults *faults, uint64_t seed,
                    const struct sim_opts *o)
{
    memset(s, 0, sizeof(*s));
    s->msl_us = o->msl_us;
    s->seg_budget = o->seg_budget;
    s->rng = seed * 0x2545f4914f6cdd1dull + 1;
    s->wire = wire_new(faults, seed ^ o->wire_salt, o->wire_frames);
    assert_non_null(s->wire);
    for (int i = 0; i < 2; i++) {
        struct tapir_config cfg;
        sim_stack_config(&cfg, i, seed * 2 + (uint64_t)i);
        if (o->msl_us)
            cfg.tcp_msl_us = o->msl_us;
        if (o->cc)
            cfg.tcp_congestion = o->cc;
        if (o->pkb_frames)
            cfg.pkb_frames = o->pkb_frames;
        if (o->trace_to_memory) {
            s->trace[i] = open_memstream(&s->trace_buf[i], &s->trace_len[i]);
            assert_non_null(s->trace[i]);
            cfg.trace_out = s->trace[i];
            cfg.trace_mask = TAPIR_TRACE_TCP;
        } else if (o->trace_out) {
            cfg.trace_out = o->trace_out;
            cfg.trace_mask = TAPIR_TRACE_TCP;
        }
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

void sim_start(struct sim *s, const struct wire_faults *faults, uint64_t seed, uint64_t msl_us)
{
    if (getenv("TCP_SIM_SEED")) /* replays (or varies) every test with other seeds */
        seed += strtoull(getenv("TCP_SIM_SEED"), NULL, 0) * 1000;
    const struct sim_opts o = {.msl_us = msl_us, .wire_frames = 8192, .wire_salt = 0x7c9,
                               .trace_to_memory = true, .seg_budget = 100000};
    sim_start_opts(s, faults, seed, &o);
}

void sim_free(struct sim *s)
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

int sim_setup(void **state)
{
    *state = calloc(1, sizeof(struct sim));
    return *state ? 0 : -1;
}

int sim_teardown(void **state)
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

void sim_filter_tests_from_env(void)
{
    if (getenv("TCP_SIM_ONLY")) /* e.g. TCP_SIM_ONLY='test_rst_*' */
        cmocka_set_test_filter(getenv("TCP_SIM_ONLY"));
}

/* ---- Running the clock ----------------------------------------------------------------------- */

void sync_stacks(struct sim *s)
{
    for (int i = 0; i < 2; i++)
        tapir_timers(s->st[i], now(s));
}

void run_for(struct sim *s, uint64_t dt_us)
{
    wire_run(s->wire, now(s) + dt_us, NULL);
    sync_stacks(s);
}

bool run_until(struct sim *s, bool (*done)(void *), void *arg, uint64_t max_us)
{
    uint64_t end = now(s) + max_us;
    for (;;) {
        bool ok = done(arg);
        if (ok || now(s) >= end)
            return ok;
        s->woke = 0;
        wire_run(s->wire, end, &s->woke);
        sync_stacks(s);
    }
}

/* ---- The trace: one connection's state changes ----------------------------------------------- */

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

const char *states_at(struct sim *s, int side, uint32_t laddr, uint16_t lport, uint32_t raddr,
                      uint16_t rport)
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

const char *states(struct sim *s, int side, uint16_t lport, uint16_t rport)
{
    return side ? states_at(s, 1, HOST_B, lport, HOST_A, rport)
                : states_at(s, 0, HOST_A, lport, HOST_B, rport);
}

uint64_t entered(struct sim *s, int side, uint16_t lport, uint16_t rport, const char *to,
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

/* ---- Sockets --------------------------------------------------------------------------------- */

struct tapir_sock *tcp_open(struct sim *s, int side)
{
    struct tapir_sock *k = NULL;
    assert_int_equal(tapir_sock_open(s->st[side], SOCK_STREAM, 0, &k), 0);
    tapir_sock_set_wakeup(k, on_wake, s);
    return k;
}

struct sockaddr_in sin_of(uint32_t addr, uint16_t port)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(addr);
    a.sin_port = htons(port);
    return a;
}

void bind_to(struct tapir_sock *k, uint32_t addr, uint16_t port)
{
    struct sockaddr_in a = sin_of(addr, port);
    assert_int_equal(tapir_sock_bind(k, &a), 0);
}

uint16_t local_port(const struct tapir_sock *k)
{
    struct sockaddr_in a;
    assert_int_equal(tapir_sock_getsockname(k, &a), 0);
    return ntohs(a.sin_port);
}

void set_reuseaddr(struct tapir_sock *k)
{
    int on = 1;
    assert_int_equal(tapir_sock_setopt(k, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)), 0);
}

void set_rcvbuf(struct tapir_sock *k, int bytes)
{
    assert_int_equal(tapir_sock_setopt(k, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes)), 0);
}

struct tapir_sock *listen_on(struct sim *s, int side, uint16_t port, int rcvbuf_bytes)
{
    struct tapir_sock *l = tcp_open(s, side);
    if (rcvbuf_bytes)
        set_rcvbuf(l, rcvbuf_bytes);
    bind_to(l, 0, port);
    assert_int_equal(tapir_sock_listen(l, 8), 0);
    return l;
}

void start_connect(struct sim *s, struct tapir_sock *k, int to_side, uint16_t port)
{
    sync_stacks(s);
    struct sockaddr_in to = sin_of(to_side ? HOST_B : HOST_A, port);
    assert_int_equal(tapir_sock_connect(k, &to), -EINPROGRESS);
    assert_int_equal(tapir_sock_connected(k), -EAGAIN);
    assert_false(tapir_sock_events(k) & POLLOUT); /* not writable during the handshake */
}

int wait_connected(struct sim *s, struct tapir_sock *k, uint64_t max_us)
{
    int rc = -EAGAIN;
    RUN_UNTIL(s, (rc = tapir_sock_connected(k)) != -EAGAIN, max_us);
    return rc;
}

bool poll_connected(struct tapir_sock *k, int *rc)
{
    if (*rc == -EAGAIN)
        *rc = tapir_sock_connected(k);
    return *rc != -EAGAIN;
}

struct tapir_sock *wait_accept(struct sim *s, struct tapir_sock *l, uint64_t max_us)
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

/* open_conn, and open_conn_rcvbufs when cli_rcvbuf_bytes > 0. */
static void open_conn_with(struct sim *s, struct conn *c, uint16_t cport, int srv_rcvbuf_bytes,
                           int cli_rcvbuf_bytes)
{
    memset(c, 0, sizeof(*c));
    c->lis = listen_on(s, 1, SERVER_PORT, srv_rcvbuf_bytes);
    c->cli = tcp_open(s, 0);
    if (cli_rcvbuf_bytes)
        set_rcvbuf(c->cli, cli_rcvbuf_bytes);
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

void open_conn(struct sim *s, struct conn *c, uint16_t cport, int srv_rcvbuf_bytes)
{
    open_conn_with(s, c, cport, srv_rcvbuf_bytes, 0);
}

void open_conn_rcvbufs(struct sim *s, struct conn *c, int srv_rcvbuf_bytes, int cli_rcvbuf_bytes)
{
    open_conn_with(s, c, 0, srv_rcvbuf_bytes, cli_rcvbuf_bytes);
}

void close_conn(struct conn *c)
{
    tapir_sock_close(c->cli);
    tapir_sock_close(c->srv);
    tapir_sock_close(c->lis);
}

void send_str(struct tapir_sock *k, const char *text)
{
    ssize_t len = (ssize_t)strlen(text);
    assert_int_equal(tapir_sock_sendto(k, text, (size_t)len, 0, NULL), len);
}

void expect_bytes(struct sim *s, struct tapir_sock *k, const void *want, size_t len)
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

void expect_eof(struct tapir_sock *k)
{
    char c;
    assert_int_equal(tapir_sock_recvfrom(k, &c, 1, 0, NULL, NULL), 0);
    assert_true(tapir_sock_events(k) & POLLRDHUP);
}

void settle(struct sim *s)
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

void close_settle_free(struct sim *s, struct tapir_sock *const *socks, size_t n)
{
    sync_stacks(s);
    for (size_t i = 0; i < n; i++)
        tapir_sock_close(socks[i]);
    settle(s);
    sim_free(s);
}

/* ---- Moving bytes ---------------------------------------------------------------------------- */

uint8_t pattern_byte(uint32_t seed, size_t i)
{
    uint32_t x = (uint32_t)i * 0x9e3779b1u + seed;
    x ^= x >> 15;
    x *= 0x85ebca6bu;
    x ^= x >> 13;
    return (uint8_t)x;
}

uint8_t *make_pattern(struct sim *s, uint32_t seed, size_t len)
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

bool stream_done(const struct stream *x)
{
    return x->sent == x->out_len && (!x->shut_after_send || x->shut) && x->got == x->in_len &&
           (!x->want_eof || x->eof);
}

void stream_step(struct stream *x)
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

struct stream_pair {
    struct stream *a, *b;
};

static bool stream_pair_step_done(void *arg)
{
    struct stream_pair *p = arg;
    stream_step(p->a);
    stream_step(p->b);
    return stream_done(p->a) && stream_done(p->b);
}

bool transfer(struct sim *s, struct stream *a, struct stream *b, uint64_t max_us)
{
    struct stream_pair p = {a, b};
    return run_until(s, stream_pair_step_done, &p, max_us);
}

