/* SPDX-License-Identifier: MIT */
/* tcp.c: TCP's connections: the state names and the one function that changes state, the
 * 4-tuple hash, initial sequence numbers (RFC 6528), the byte rings, the timers, and how a
 * connection ends. Segment arrival is in tcp_input.c, sending in tcp_output.c. */
#include "tcp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "sock.h"

static const char *const state_names[TCP_STATE_COUNT] = {
    [TCP_CLOSED] = "CLOSED",
    [TCP_LISTEN] = "LISTEN",
    [TCP_SYN_SENT] = "SYN_SENT",
    [TCP_SYN_RECEIVED] = "SYN_RECEIVED",
    [TCP_ESTABLISHED] = "ESTABLISHED",
    [TCP_FIN_WAIT_1] = "FIN_WAIT_1",
    [TCP_FIN_WAIT_2] = "FIN_WAIT_2",
    [TCP_CLOSE_WAIT] = "CLOSE_WAIT",
    [TCP_CLOSING] = "CLOSING",
    [TCP_LAST_ACK] = "LAST_ACK",
    [TCP_TIME_WAIT] = "TIME_WAIT",
};

const char *tcp_state_name(enum tcp_state state)
{
    return (unsigned)state < TCP_STATE_COUNT ? state_names[state] : "?";
}

void tcp_set_state(struct tcp_conn *c, enum tcp_state next)
{
    char a[IP_STR_LEN], b[IP_STR_LEN];
    tapir_trace(c->st, TAPIR_TRACE_TCP, "tcp %s:%u>%s:%u %s -> %s", ip_str(c->remote_addr, a),
                c->remote_port, ip_str(c->local_addr, b), c->local_port,
                tcp_state_name(c->state), tcp_state_name(next));
    c->state = next;
    if (next == TCP_ESTABLISHED)
        c->st->stats.tcp.established++;
}

/* ---- SipHash-2-4, the keyed hash behind ISNs and the connection hash -------------------- */

static uint64_t rotl(uint64_t x, unsigned b) { return (x << b) | (x >> (64 - b)); }

static void sip_round(uint64_t v[4])
{
    v[0] += v[1];
    v[1] = rotl(v[1], 13) ^ v[0];
    v[0] = rotl(v[0], 32);
    v[2] += v[3];
    v[3] = rotl(v[3], 16) ^ v[2];
    v[0] += v[3];
    v[3] = rotl(v[3], 21) ^ v[0];
    v[2] += v[1];
    v[1] = rotl(v[1], 17) ^ v[2];
    v[2] = rotl(v[2], 32);
}

/* SipHash-2-4 of two 64-bit words (all a 4-tuple needs), keyed by k. */
uint64_t tcp_siphash(const uint64_t k[2], uint64_t m0, uint64_t m1)
{
    uint64_t v[4] = {k[0] ^ 0x736f6d6570736575ull, k[1] ^ 0x646f72616e646f6dull,
                     k[0] ^ 0x6c7967656e657261ull, k[1] ^ 0x7465646279746573ull};
    const uint64_t m[3] = {m0, m1, (uint64_t)16 << 56}; /* the last word carries the length */
    for (int i = 0; i < 3; i++) {
        v[3] ^= m[i];
        sip_round(v);
        sip_round(v);
        v[0] ^= m[i];
    }
    v[2] ^= 0xff;
    for (int i = 0; i < 4; i++)
        sip_round(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

static uint64_t tuple_hash(const struct tapir_stack *st, uint32_t la, uint16_t lp, uint32_t ra,
                           uint16_t rp)
{
    return tcp_siphash(st->tcp.isn_key, (uint64_t)la << 32 | ra, (uint64_t)lp << 16 | rp);
}

/* RFC 6528 §3: ISN = M + F(localip, localport, remoteip, remoteport, secretkey), with M a
 * clock ticking every 4 microseconds, so a new incarnation of a connection starts above the
 * old one, and F a keyed hash, so an attacker cannot guess it. */
uint32_t tcp_isn(struct tapir_stack *st, const struct tcp_conn *c)
{
    uint32_t m = (uint32_t)(st->now_us / 4u);
    return m + (uint32_t)tuple_hash(st, c->local_addr, c->local_port, c->remote_addr,
                                    c->remote_port);
}

/* ---- The connection hash ---------------------------------------------------------------- */

static struct tcp_conn **bucket_of(struct tapir_stack *st, uint32_t la, uint16_t lp,
                                   uint32_t ra, uint16_t rp)
{
    /* Keyed, so a peer cannot aim all its connections at one chain. */
    return &st->tcp.conns[(tuple_hash(st, la, lp, ra, rp) >> 7) % TCP_CONN_BUCKETS];
}

void tcp_hash_add(struct tcp_conn *c)
{
    struct tcp_conn **head =
        bucket_of(c->st, c->local_addr, c->local_port, c->remote_addr, c->remote_port);
    c->hash_next = *head;
    *head = c;
    c->hashed = true;
}

static void tcp_hash_remove(struct tcp_conn *c)
{
    if (!c->hashed)
        return;
    if (c->st->tcp.last_hit == c)
        c->st->tcp.last_hit = NULL;
    struct tcp_conn **pp =
        bucket_of(c->st, c->local_addr, c->local_port, c->remote_addr, c->remote_port);
    while (*pp && *pp != c)
        pp = &(*pp)->hash_next;
    if (*pp)
        *pp = c->hash_next;
    c->hash_next = NULL;
    c->hashed = false;
}

struct tcp_conn *tcp_lookup(struct tapir_stack *st, uint32_t la, uint16_t lp, uint32_t ra,
                            uint16_t rp)
{
    /* Segments come in runs for one connection: the last answer first, which spares the
     * keyed hash (SipHash) on most of a bulk transfer's segments. */
    struct tcp_conn *c = st->tcp.last_hit;
    if (c && c->local_port == lp && c->remote_port == rp && c->remote_addr == ra &&
        c->local_addr == la)
        return c;
    for (c = *bucket_of(st, la, lp, ra, rp); c; c = c->hash_next)
        if (c->local_port == lp && c->remote_port == rp && c->remote_addr == ra &&
            c->local_addr == la)
            return st->tcp.last_hit = c;
    return NULL;
}

bool tcp_port_has_conns(struct tapir_stack *st, uint32_t addr, uint16_t port)
{
    /* A walk over every connection: bind is rare, and this keeps no index for it. */
    for (unsigned i = 0; i < TCP_CONN_BUCKETS; i++)
        for (const struct tcp_conn *c = st->tcp.conns[i]; c; c = c->hash_next)
            if (c->local_port == port && (!addr || c->local_addr == addr))
                return true;
    return false;
}

/* ---- Rings ------------------------------------------------------------------------------ */

uint32_t ring_free(const struct tcp_ring *r) { return r->limit - r->len; }

/* Makes room for need bytes from head on: doubles the buffer (keeping what it holds, in
 * order, from index 0) up to the limit. */
static int ring_reserve(struct tapir_stack *st, struct tcp_ring *r, uint32_t need)
{
    if (need <= r->cap)
        return 0;
    if (need > r->limit)
        return -ENOBUFS;
    /* Small to start: a connection that trades short messages keeps small rings (10,000 of
     * them must fit in a few tens of MiB); a bulk one doubles its way up in a few steps. */
    uint32_t cap = r->cap ? r->cap : TCP_RING_MIN_BYTES;
    while (cap < need)
        cap *= 2;
    uint8_t *buf = tapir_mem_alloc(st, cap);
    if (!buf)
        return -ENOMEM;
    if (r->cap) { /* the old ring unrolled: head to its end, then its start up to head */
        uint32_t first = r->cap - r->head;
        memcpy(buf, r->buf + r->head, first);
        memcpy(buf + first, r->buf, r->head);
    }
    tapir_mem_free(st, r->buf);
    r->buf = buf;
    r->cap = cap;
    r->head = 0;
    return 0;
}

int ring_write_at(struct tapir_stack *st, struct tcp_ring *r, uint32_t off, const void *src,
                  uint32_t n)
{
    int rc = ring_reserve(st, r, off + n);
    if (rc < 0 || n == 0)
        return rc;
    const uint8_t *s = src;
    uint32_t at = (r->head + off) & (r->cap - 1);
    uint32_t first = n < r->cap - at ? n : r->cap - at;
    memcpy(r->buf + at, s, first);
    memcpy(r->buf, s + first, n - first);
    return 0;
}

void ring_read_at(const struct tcp_ring *r, uint32_t off, void *dst, uint32_t n)
{
    if (n == 0)
        return;
    uint8_t *d = dst;
    uint32_t at = (r->head + off) & (r->cap - 1);
    uint32_t first = n < r->cap - at ? n : r->cap - at;
    memcpy(d, r->buf + at, first);
    memcpy(d + first, r->buf, n - first);
}

void ring_consume(struct tcp_ring *r, uint32_t n)
{
    r->len -= n;
    r->head = r->cap ? (r->head + n) & (r->cap - 1) : 0;
}

void ring_release(struct tapir_stack *st, struct tcp_ring *r)
{
    tapir_mem_free(st, r->buf);
    r->buf = NULL;
    r->cap = r->head = r->len = 0;
}

void ring_trim(struct tapir_stack *st, struct tcp_ring *r)
{
    if (r->len == 0 && r->cap && tapir_mem_pressure(st)) {
        ring_release(st, r);
        st->stats.tcp.rings_trimmed++;
    }
}

/* ---- Timers ----------------------------------------------------------------------------- */

#define CONN_OF(t, field) ((struct tcp_conn *)((char *)(t) - offsetof(struct tcp_conn, field)))

static void tcp_rexmit_fire(struct tapir_stack *st, struct tapir_timer *t);
static void tcp_persist_fire(struct tapir_stack *st, struct tapir_timer *t);
static void tcp_timewait_fire(struct tapir_stack *st, struct tapir_timer *t);
static void tcp_delack_fire(struct tapir_stack *st, struct tapir_timer *t);
static void tcp_keepalive_fire(struct tapir_stack *st, struct tapir_timer *t);

static void tcp_stop_timers(struct tcp_conn *c)
{
    timer_cancel(c->st, &c->rexmit);
    timer_cancel(c->st, &c->persist);
    timer_cancel(c->st, &c->timewait);
    timer_cancel(c->st, &c->delack);
    timer_cancel(c->st, &c->keepalive);
    timer_cancel(c->st, &c->rack_timer);
}

bool tcp_conn_limit_reached(const struct tapir_stack *st)
{
    return st->tcp.conn_count >= st->cfg.tcp_max_conns;
}

struct tcp_conn *tcp_conn_new(struct tapir_stack *st)
{
    if (tcp_conn_limit_reached(st)) {
        st->stats.tcp.conns_refused++;
        return NULL;
    }
    struct tcp_conn *c = tapir_mem_alloc(st, sizeof(*c));
    if (!c)
        return NULL;
    tcp_conn_init(st, c);
    st->tcp.conn_count++;
    st->stats.tcp.conns_allocated++;
    return c;
}

bool tcp_orphan_admit(struct tcp_conn *c)
{
    struct tapir_stack *st = c->st;
    if (st->tcp.orphan_count >= st->cfg.tcp_max_orphans)
        return false;
    st->tcp.orphan_count++;
    c->orphan_counted = true;
    return true;
}

void tcp_conn_init(struct tapir_stack *st, struct tcp_conn *c)
{
    memset(c, 0, sizeof(*c));
    c->st = st;
    /* state: TCP_CLOSED, as calloc left it; only tcp_set_state changes it */
    _Static_assert(TCP_CLOSED == 0, "a zeroed connection block is CLOSED");
    c->rto_us = c->rto_base_us = TCP_RTO_INITIAL_US;
    c->snd_mss = TCP_DEFAULT_MSS;
    c->rcv_mss = (uint16_t)(st->cfg.mtu_bytes - 40u); /* RFC 9293 §3.7.1: MTU - 40 */
    c->sndq.limit = st->cfg.tcp_sndbuf_bytes;
    c->rcvq.limit = st->cfg.tcp_rcvbuf_bytes;
    c->cc = tcp_cc_find(st->cfg.tcp_congestion);
    c->keep_idle_us = st->cfg.tcp_keepalive_idle_us;
    c->keep_intvl_us = st->cfg.tcp_keepalive_intvl_us;
    c->keep_cnt = st->cfg.tcp_keepalive_probes;
    timer_init(&c->rexmit, tcp_rexmit_fire);
    timer_init(&c->persist, tcp_persist_fire);
    timer_init(&c->timewait, tcp_timewait_fire);
    timer_init(&c->delack, tcp_delack_fire);
    timer_init(&c->keepalive, tcp_keepalive_fire);
    timer_init(&c->rack_timer, tcp_rack_timer_fire);
}

/* Takes c off the list of ACKs held for the burst's end. */
static void tcp_unhold_ack(struct tcp_conn *c)
{
    struct tcp_conn **pp = &c->st->tcp.ack_held;
    while (*pp && *pp != c)
        pp = &(*pp)->ack_held_next;
    if (*pp)
        *pp = c->ack_held_next;
    c->ack_held = false;
}

void tcp_send_held_acks(struct tapir_stack *st)
{
    struct tcp_conn *c;
    while ((c = st->tcp.ack_held) != NULL) {
        st->tcp.ack_held = c->ack_held_next;
        c->ack_held = false;
        if (c->rcv_nxt != c->last_ack_sent) { /* not yet carried by data or another ACK */
            c->ack_now = true;
            tcp_output(c);
        }
    }
}

void tcp_conn_free(struct tcp_conn *c)
{
    struct tapir_stack *st = c->st;
    if (c->ack_held)
        tcp_unhold_ack(c);
    tcp_stop_timers(c);
    tcp_hash_remove(c);
    ring_release(st, &c->sndq);
    ring_release(st, &c->rcvq);
    st->stats.tcp.conns_freed++;
    st->tcp.conn_count--;
    if (c->orphan_counted)
        st->tcp.orphan_count--;
    tapir_mem_free(st, c);
}

/* The retransmission timer, or sooner the tail loss probe's (RFC 8985 §7.2) when one is due:
 * one timer serves both, as in Linux, and tlp_armed says which it is. */
void tcp_arm_rexmit(struct tcp_conn *c)
{
    uint64_t wait_us = c->rto_us, pto_us = tcp_tlp_timeout_us(c);
    c->tlp_armed = pto_us && pto_us < wait_us;
    if (c->tlp_armed)
        wait_us = pto_us;
    timer_arm(c->st, &c->rexmit, c->st->now_us + wait_us);
}

void tcp_offer_options(struct tcp_conn *c)
{
    const struct tapir_config *cfg = &c->st->cfg;
    c->ts_ok = cfg->tcp_timestamps;
    c->sack_ok = cfg->tcp_sack;
    c->ws_ok = cfg->tcp_window_scaling;
    c->rcv_wscale = c->ws_ok ? tcp_choose_wscale(c->rcvq.limit) : 0;
    c->ts_offset = tapir_rand32(c->st);
}

/* RFC 6298 §2: the first measurement sets SRTT = R, RTTVAR = R/2; each later one
 * RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R'|, SRTT = 7/8 SRTT + 1/8 R'. Then
 * RTO = SRTT + max(G, 4 RTTVAR), at least the configured minimum (§2.4), at most 60 s. */
void tcp_rtt_sample(struct tcp_conn *c, uint64_t rtt_us)
{
    if (rtt_us == 0)
        rtt_us = 1; /* below the clock's tick: SRTT 0 would read as "no measurement" */
    if (!c->srtt_us) {
        c->srtt_us = rtt_us;
        c->rttvar_us = rtt_us / 2;
    } else {
        uint64_t delta = c->srtt_us > rtt_us ? c->srtt_us - rtt_us : rtt_us - c->srtt_us;
        c->rttvar_us = (3 * c->rttvar_us + delta) / 4;
        c->srtt_us = (7 * c->srtt_us + rtt_us) / 8;
    }
    c->rtt_last_us = rtt_us;
    if (!c->rtt_min_us || rtt_us < c->rtt_min_us)
        c->rtt_min_us = rtt_us;
    uint64_t var = 4 * c->rttvar_us > TCP_RTO_GRANULARITY_US ? 4 * c->rttvar_us
                                                               : TCP_RTO_GRANULARITY_US;
    uint64_t rto = c->srtt_us + var;
    if (rto < c->st->cfg.tcp_rto_min_us)
        rto = c->st->cfg.tcp_rto_min_us;
    c->rto_base_us = rto > TCP_RTO_MAX_US ? TCP_RTO_MAX_US : rto;
    if (!c->retries)
        c->rto_us = c->rto_base_us; /* a backed-off timer keeps its backoff until new data is
                                     * acknowledged (tcp_process_ack) */
}

uint32_t tcp_ts_now(const struct tcp_conn *c)
{
    return (uint32_t)(c->st->now_us / 1000u) + c->ts_offset;
}

/* RFC 9293 §3.8.1 and RFC 6298 §5: on a timeout, back off the RTO (§5.5), send the oldest
 * unacknowledged segment again (§5.4), and give up after a bounded number of tries. */
static void tcp_rexmit_fire(struct tapir_stack *st, struct tapir_timer *t)
{
    struct tcp_conn *c = CONN_OF(t, rexmit);
    if (c->tlp_armed) {
        c->tlp_armed = false;
        if (tcp_tlp_timeout_us(c))
            return tcp_tlp_fire(c);
        return tcp_arm_rexmit(c); /* a recovery began meanwhile: the plain RTO, from now */
    }
    bool syn = c->state == TCP_SYN_SENT || c->state == TCP_SYN_RECEIVED;
    if (!syn && c->snd_wnd == 0) {
        /* The peer has shut its window: that is the persist timer's business, which keeps
         * the connection open as long as the probes are answered (RFC 1122 §4.2.2.17).
         * The retransmission timer comes back when the window opens. */
        if (!timer_armed(&c->persist))
            tcp_arm_persist(c);
        return;
    }
    if (++c->retries > (syn ? TCP_SYN_RETRIES_MAX : TCP_RETRIES_MAX)) {
        st->stats.tcp.timeouts++;
        return tcp_done(c, ETIMEDOUT);
    }
    c->rto_us = c->rto_us * 2 > TCP_RTO_MAX_US ? TCP_RTO_MAX_US : c->rto_us * 2;
    st->stats.tcp.retransmits++;
    c->retransmits++;
    char a[IP_STR_LEN];
    tapir_trace(st, TAPIR_TRACE_TCP, "tcp %s:%u timeout: retransmit seq %u (try %u, rto %llu ms)",
                ip_str(c->remote_addr, a), c->remote_port, c->snd_una - c->iss, c->retries,
                (unsigned long long)(c->rto_us / 1000u));
    if (syn) {
        c->syn_lost = true; /* RFC 6298 §5.7 */
        c->rtt_timing = false;
        c->snd_nxt = c->iss;
        tcp_output(c);
        tcp_arm_rexmit(c);
        return;
    }
    /* RFC 6298 §5.4: retransmit the earliest segment not acknowledged. Without SACK snd_nxt
     * goes back to it, so what follows goes again in slow start as ACKs come (go-back-N);
     * with SACK, tcp_cc_timeout starts a recovery that resends only the holes. */
    tcp_cc_timeout(c);
    if (c->sack_ok) {
        tcp_output(c); /* the first hole, as cwnd (one segment) allows */
    } else {
        c->snd_nxt = c->snd_una;
        tcp_output_segments(c, 1);
    }
    tcp_arm_rexmit(c);
}

/* RFC 9293 §3.8.6.1: while the peer's window is zero and we have data, probe it, backing
 * off, so a lost window update cannot deadlock the connection. The probe is an ACK with an
 * old sequence number (snd_una - 1, no data, as Linux's): unacceptable to the receiver, so
 * it must answer with an ACK that carries its current window. */
static void tcp_persist_fire(struct tapir_stack *st, struct tapir_timer *t)
{
    struct tcp_conn *c = CONN_OF(t, persist);
    uint32_t in_flight = c->snd_nxt - c->snd_una;
    bool waiting = c->snd_una != c->snd_max || c->sndq.len > in_flight || tcp_fin_unsent(c);
    if (!waiting) /* nothing in flight, nothing unsent, no FIN to go */
        return;
    if (tcp_send_room(c) != 0) {
        /* RFC 1122 §4.2.3.4: the override timeout. A window too small for the sender's SWS
         * rule, with nothing in flight, gets what fits anyway. (With data in flight its ACK
         * will let the rest go: Nagle holds.) */
        if (c->snd_una != c->snd_max)
            return;
        c->force_one = true;
        tcp_output(c);
        c->force_one = false;
        return;
    }
    if (c->orphan && c->persist_backoff >= TCP_ORPHAN_PROBES) {
        /* Nobody will read what the peer refuses to take: as Linux's tcp_orphan_retries,
         * an orphan gives up on a window that stays shut. */
        st->stats.tcp.orphans_reset++;
        return tcp_abort(c);
    }
    st->stats.tcp.window_probes++;
    tcp_send_segment(c, c->snd_una - 1, TCP_ACK, 0, 0);
    if (c->persist_backoff < 8)
        c->persist_backoff++;
    tcp_arm_persist(c);
}

/* The next probe: one RTO (at least 200 ms, as Linux) after the last, doubled per probe
 * unanswered by an open window, at most a minute (RFC 9293 §3.8.6.1). */
void tcp_arm_persist(struct tcp_conn *c)
{
    uint64_t base = c->rto_us > TCP_PERSIST_MIN_US ? c->rto_us : TCP_PERSIST_MIN_US;
    uint64_t wait = base << c->persist_backoff;
    timer_arm(c->st, &c->persist,
              c->st->now_us + (wait > TCP_PERSIST_MAX_US ? TCP_PERSIST_MAX_US : wait));
}

static void tcp_timewait_fire(struct tapir_stack *st, struct tapir_timer *t)
{
    (void)st;
    tcp_done(CONN_OF(t, timewait), 0);
}

/* RFC 6298 §5.7: without a measurement, the RTO starts at 1 s, or 3 s if a SYN (ours or
 * our SYN,ACK) was lost. Congestion control starts here, once the MSS is known. */
void tcp_handshake_done(struct tcp_conn *c)
{
    if (!c->srtt_us)
        c->rto_base_us = c->syn_lost ? TCP_RTO_AFTER_SYN_LOSS_US : TCP_RTO_INITIAL_US;
    c->rto_us = c->rto_base_us;
    c->retries = 0;
    tcp_cc_init(c);
    c->last_rx_us = c->st->now_us;
    tcp_arm_keepalive(c);
}

/* RFC 1122 §4.2.3.2: the delayed ACK is due. */
static void tcp_delack_fire(struct tapir_stack *st, struct tapir_timer *t)
{
    struct tcp_conn *c = CONN_OF(t, delack);
    st->stats.tcp.delayed_acks++;
    c->ack_now = true;
    tcp_output(c);
}

/* RFC 1122 §4.2.3.6: after keep_idle_us of silence, probe every keep_intvl_us; keep_cnt
 * probes unanswered and the connection is dead. Any segment from the peer restarts the
 * count (tcp_input notes last_rx_us). */
void tcp_arm_keepalive(struct tcp_conn *c)
{
    if (!c->keepalive_on || c->state == TCP_CLOSED || c->state == TCP_LISTEN ||
        c->state == TCP_TIME_WAIT) {
        timer_cancel(c->st, &c->keepalive);
        return;
    }
    timer_arm(c->st, &c->keepalive, c->last_rx_us + c->keep_idle_us);
}

static void tcp_keepalive_fire(struct tapir_stack *st, struct tapir_timer *t)
{
    struct tcp_conn *c = CONN_OF(t, keepalive);
    uint64_t idle = st->now_us - c->last_rx_us;
    bool synced = c->state != TCP_SYN_SENT && c->state != TCP_SYN_RECEIVED;
    /* Data in flight has the retransmission timer to watch it (as Linux's keepalive). */
    if (!synced || c->snd_una != c->snd_max || idle < c->keep_idle_us) {
        c->keep_probes = 0;
        if (idle >= c->keep_idle_us)
            c->last_rx_us = st->now_us; /* busy: look again a full idle time from now */
        return tcp_arm_keepalive(c);
    }
    if (c->keep_probes >= c->keep_cnt) {
        st->stats.tcp.keepalive_timeouts++;
        return tcp_done(c, ETIMEDOUT);
    }
    /* The probe: an old sequence number and no data, which the peer must acknowledge. */
    st->stats.tcp.keepalive_probes++;
    c->keep_probes++;
    tcp_send_segment(c, c->snd_una - 1, TCP_ACK, 0, 0);
    timer_arm(st, &c->keepalive, st->now_us + c->keep_intvl_us);
}

/* RFC 9293 §3.10.7.4: TIME_WAIT lasts 2*MSL, restarted by a retransmitted FIN. */
void tcp_enter_time_wait(struct tcp_conn *c)
{
    if (c->state != TCP_TIME_WAIT)
        tcp_set_state(c, TCP_TIME_WAIT);
    tcp_stop_timers(c);
    timer_arm(c->st, &c->timewait, c->st->now_us + 2u * c->st->cfg.tcp_msl_us);
    /* Everything sent is acknowledged: TIME_WAIT keeps the record, not the buffers (the
     * receive ring only if the application has yet to read it). */
    ring_release(c->st, &c->sndq);
    if (c->rcvq.len == 0)
        ring_release(c->st, &c->rcvq);
    tcp_wake(c);
}

void tcp_orphan_fin_wait_2(struct tcp_conn *c)
{
    timer_arm(c->st, &c->timewait, c->st->now_us + 2u * c->st->cfg.tcp_msl_us);
}

/* Takes a handshake in progress off its listener's SYN list. */
static void tcp_unlink_syn(struct tcp_conn *c)
{
    struct tcp_conn *l = c->listener;
    for (struct tcp_conn **pp = &l->syn_head; *pp; pp = &(*pp)->queue_next) {
        if (*pp == c) {
            *pp = c->queue_next;
            l->syn_count--;
            break;
        }
    }
    c->queue_next = NULL;
    c->listener = NULL;
}

void tcp_child_established(struct tcp_conn *c)
{
    struct tcp_conn *l = c->listener;
    tcp_unlink_syn(c);
    c->listener = l;
    c->in_accept_queue = true;
    if (l->accept_tail)
        l->accept_tail->queue_next = c;
    else
        l->accept_head = c;
    l->accept_tail = c;
    l->accept_count++;
    tcp_wake(l); /* a blocked accept, or a poller, learns of it */
}

void tcp_done(struct tcp_conn *c, int err)
{
    if (c->state != TCP_CLOSED)
        tcp_set_state(c, TCP_CLOSED);
    tcp_stop_timers(c);
    tcp_hash_remove(c);
    if (err && !c->error)
        c->error = err;
    if (c->listener && !c->in_accept_queue) {
        tcp_unlink_syn(c); /* a handshake that failed: nobody will ever see it */
        tcp_conn_free(c);
        return;
    }
    if (c->orphan) {
        tcp_conn_free(c);
        return;
    }
    tcp_wake(c); /* the owner (or a later accept) learns of the end */
}

/* ---- Setup ------------------------------------------------------------------------------ */

static void tcp_icmp_error(struct tapir_stack *st, const struct icmp_error *err);

void tcp_init(struct tapir_stack *st)
{
    st->tcp.isn_key[0] = tapir_rand64(st);
    st->tcp.isn_key[1] = tapir_rand64(st);
    st->tcp.cookie_key[0] = tapir_rand64(st);
    st->tcp.cookie_key[1] = tapir_rand64(st);
    st->icmp.error_handlers[IPPROTO_TCP_] = tcp_icmp_error;
}

/* Frees a listener's unaccepted children, without a word to their peers. */
static void tcp_free_children(struct tcp_conn *l)
{
    struct tcp_conn *lists[2] = {l->syn_head, l->accept_head};
    for (int i = 0; i < 2; i++) {
        while (lists[i]) {
            struct tcp_conn *c = lists[i];
            lists[i] = c->queue_next;
            tcp_conn_free(c);
        }
    }
    l->syn_head = l->accept_head = l->accept_tail = NULL;
    l->syn_count = l->accept_count = 0;
}

void tcp_free(struct tapir_stack *st)
{
    if (st->tcp.cookie_scratch) {
        tapir_mem_free(st, st->tcp.cookie_scratch);
        st->tcp.cookie_scratch = NULL;
    }
    /* The stack is going away: nothing is sent. Listeners' children go first, then every
     * connection left in the hash (sockets forget theirs); udp_free then closes the sockets
     * and with them the listeners and the connections that had already ended. */
    for (struct tapir_sock *s = st->udp.all; s; s = s->all_next)
        if (s->tcp && s->tcp->state == TCP_LISTEN)
            tcp_free_children(s->tcp);
    for (unsigned i = 0; i < TCP_CONN_BUCKETS; i++) {
        while (st->tcp.conns[i]) {
            struct tcp_conn *c = st->tcp.conns[i];
            if (c->sock)
                c->sock->tcp = NULL;
            tcp_conn_free(c);
        }
    }
}

/* An ICMP error about a connection. RFC 5927 §4.1: believe it only if the quoted sequence
 * number is one we have sent and not had acknowledged. RFC 1122 §4.2.3.9: a hard error
 * (protocol, port unreachable) aborts a connection still opening; soft ones are only noted. */
static void tcp_icmp_error(struct tapir_stack *st, const struct icmp_error *err)
{
    if (err->orig_l4_len < 8)
        return;
    const uint8_t *q = err->orig_l4;
    uint16_t sport = (uint16_t)(q[0] << 8 | q[1]), dport = (uint16_t)(q[2] << 8 | q[3]);
    uint32_t seq = (uint32_t)q[4] << 24 | (uint32_t)q[5] << 16 | (uint32_t)q[6] << 8 | q[7];
    struct tcp_conn *c = tcp_lookup(st, err->orig_src, sport, err->orig_dst, dport);
    if (!c || seq_lt(seq, c->snd_una) || seq_ge(seq, c->snd_max)) {
        st->stats.tcp.icmp_ignored++;
        return;
    }
    /* RFC 1122 §4.2.3.9: a soft error (host unreachable) must not abort a connection. But
     * when it is our own ARP that gave up, the peer is known not to be there: an opening
     * connection ends with EHOSTUNREACH, as Linux's does. */
    int e = err->local ? EHOSTUNREACH : sock_icmp_errno(err->type, err->code);
    if (e && c->state == TCP_SYN_SENT && icmp_error_admit(st)) {
        st->stats.tcp.icmp_aborts++;
        tcp_done(c, e);
    }
}

/* ---- What `ss -ti` would show ------------------------------------------------------------ */

void tcp_conn_info(const struct tcp_conn *c, struct tapir_conn_info *i)
{
    memset(i, 0, sizeof(*i));
    i->local_addr.s_addr = htonl(c->local_addr);
    i->remote_addr.s_addr = htonl(c->remote_addr);
    i->local_port = c->local_port;
    i->remote_port = c->remote_port;
    i->state = tcp_state_name(c->state);
    i->rto_us = c->rto_us;
    i->retries = c->retries;
    i->retransmits = c->retransmits;
    i->snd_mss = tcp_smss(c); /* what a segment carries, as Linux's mss_cache */
    i->rcv_mss = c->rcv_mss;
    i->snd_wnd = c->snd_wnd;
    i->rcv_wnd = tcp_rcv_window(c);
    uint32_t in_flight = c->snd_nxt - c->snd_una;
    i->unacked_bytes = in_flight < c->sndq.len ? in_flight : c->sndq.len;
    i->unsent_bytes = c->sndq.len - i->unacked_bytes;
    i->rcvq_bytes = c->rcvq.len;
    i->accept_queue = c->accept_count;
    i->syn_queue = c->syn_count;
    i->backlog = c->backlog;
    i->srtt_us = c->srtt_us;
    i->rttvar_us = c->rttvar_us;
    i->rtt_min_us = c->rtt_min_us;
    i->cwnd_bytes = c->cwnd;
    i->ssthresh_bytes = c->ssthresh >= 0x7fffffffu ? 0 : c->ssthresh;
    i->congestion = c->cc ? c->cc->name : "reno";
    i->in_recovery = c->in_recovery;
    i->sacked_bytes = c->sacked_bytes;
    i->timestamps = c->ts_ok;
    i->sack = c->sack_ok;
    i->window_scaling = c->ws_ok;
    i->snd_wscale = c->snd_wscale;
    i->rcv_wscale = c->rcv_wscale;
    i->bytes_sent = c->bytes_sent;
    i->bytes_retrans = c->rexmit_bytes;
    i->bytes_acked = c->bytes_acked_total;
    i->bytes_received = c->bytes_received;
    i->segs_out = c->segs_out;
    i->segs_in = c->segs_in;
    i->segs_retrans = c->rexmit_segs;
    i->fast_retransmits = c->fast_retransmits;
    i->last_data_recv_ms = c->last_rx_us ? (c->st->now_us - c->last_rx_us) / 1000u : 0;
    i->keepalive = c->keepalive_on;
    i->keepalive_probes = c->keep_probes;
}

void tapir_conns_each(const struct tapir_stack *st,
                      void (*fn)(const struct tapir_conn_info *info, void *arg), void *arg)
{
    struct tapir_conn_info info;
    for (const struct tapir_sock *s = st->udp.all; s; s = s->all_next) {
        if (s->tcp && s->tcp->state == TCP_LISTEN) {
            tcp_conn_info(s->tcp, &info);
            fn(&info, arg);
        }
    }
    for (unsigned b = 0; b < TCP_CONN_BUCKETS; b++) {
        for (const struct tcp_conn *c = st->tcp.conns[b]; c; c = c->hash_next) {
            tcp_conn_info(c, &info);
            fn(&info, arg);
        }
    }
}

static void conn_print(const struct tapir_conn_info *i, void *arg)
{
    FILE *out = arg;
    char local[INET_ADDRSTRLEN], remote[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &i->local_addr, local, sizeof(local));
    inet_ntop(AF_INET, &i->remote_addr, remote, sizeof(remote));
    if (strcmp(i->state, "LISTEN") == 0) {
        fprintf(out, "    %-12s %s:%u  accept %u/%u syn %u\n", i->state, local, i->local_port,
                i->accept_queue, i->backlog + 1, i->syn_queue);
        return;
    }
    /* As `ss -ti`: one line for the connection, one for its internals. */
    fprintf(out,
            "    %-12s %s:%u %s:%u  unacked %u unsent %u rcvq %u\n"
            "        %s%s%s%s rto:%.0f rtt:%.3f/%.3f minrtt:%.3f mss:%u rcvmss:%u cwnd:%u"
            " ssthresh:%u snd_wnd:%u rcv_wnd:%u bytes_sent:%llu bytes_retrans:%llu"
            " bytes_acked:%llu bytes_received:%llu segs_out:%llu segs_in:%llu"
            " retrans:%u/%llu fast_retrans:%llu%s\n",
            i->state, local, i->local_port, remote, i->remote_port, i->unacked_bytes,
            i->unsent_bytes, i->rcvq_bytes, i->congestion, i->timestamps ? " ts" : "",
            i->sack ? " sack" : "", i->window_scaling ? " wscale" : "", i->rto_us / 1000.0,
            i->srtt_us / 1000.0, i->rttvar_us / 1000.0, i->rtt_min_us / 1000.0, i->snd_mss,
            i->rcv_mss, i->cwnd_bytes, i->ssthresh_bytes, i->snd_wnd, i->rcv_wnd,
            (unsigned long long)i->bytes_sent, (unsigned long long)i->bytes_retrans,
            (unsigned long long)i->bytes_acked, (unsigned long long)i->bytes_received,
            (unsigned long long)i->segs_out, (unsigned long long)i->segs_in, i->retries,
            (unsigned long long)i->retransmits, (unsigned long long)i->fast_retransmits,
            i->in_recovery ? " recovering" : "");
}

void tapir_conns_print(const struct tapir_stack *st, FILE *out)
{
    fprintf(out, "Connections:\n");
    tapir_conns_each(st, conn_print, out);
    fflush(out);
}
