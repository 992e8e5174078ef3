/* SPDX-License-Identifier: MIT */
/* tcp_syncookie.c: SYN cookies (RFC 4987 §3.6). A flood of SYNs from addresses that never
 * answer fills a listener's SYN queue; from then on a SYN is answered without keeping
 * anything: our initial sequence number is the cookie, and the handshake's ACK, which
 * acknowledges cookie + 1, brings it back. If it checks out, the connection is made then, as
 * if the SYN had been kept, so a real client gets in while the flood goes on.
 *
 * The cookie, 32 bits:
 *   bits 31..27  the minute counter (now / 64 s) mod 32: a cookie is good for 64 to 128 s
 *   bits 26..24  which of eight MSS values the peer offered (the largest not above it)
 *   bits 23..0   a keyed hash (SipHash, a secret from the seeded PRNG) of the 4-tuple, the
 *                peer's ISN and the counter, so it cannot be forged or replayed elsewhere
 * Window scaling and SACK-permitted, which a plain cookie would forget, ride in the low five
 * bits of our timestamp when the peer sent timestamps (as Linux does): the ACK echoes them.
 * Without timestamps, the connection goes without window scaling and SACK, and the SYN,ACK
 * offers neither. */
#include "core.h"
#include "tcp.h"

#define COOKIE_PERIOD_US (64ull * 1000000u)
#define COOKIE_AGES 2u          /* this period and the one before */
#define COOKIE_TS_BITS 5u       /* wscale (4 bits, 15: none) and SACK (1 bit) */
#define COOKIE_NO_WSCALE 15u

/* The MSS values a cookie can say (Linux's table, and some between). */
static const uint16_t cookie_mss[8] = {536, 1200, 1300, 1400, 1440, 1452, 1460, 8960};

static uint32_t cookie_hash(const struct tapir_stack *st, const struct tcp_seg *seg,
                            uint32_t irs, uint64_t counter)
{
    uint64_t h = tcp_siphash(st->tcp.cookie_key, (uint64_t)seg->dst << 32 | seg->src,
                             (uint64_t)seg->dport << 48 | (uint64_t)seg->sport << 32 | irs);
    return (uint32_t)tcp_siphash(st->tcp.cookie_key, h, counter) & 0xffffffu;
}

static uint64_t cookie_counter(const struct tapir_stack *st)
{
    return st->now_us / COOKIE_PERIOD_US;
}

/* The largest MSS in the table not above what the peer offered. */
static unsigned cookie_mss_index(uint16_t peer_mss)
{
    unsigned i = 0;
    while (i + 1 < 8 && cookie_mss[i + 1] <= peer_mss)
        i++;
    return i;
}

/* The scratch block the cookie's SYN,ACK is built on: never hashed, never armed. */
static struct tcp_conn *cookie_scratch(struct tapir_stack *st)
{
    if (!st->tcp.cookie_scratch)
        st->tcp.cookie_scratch = tapir_mem_alloc(st, sizeof(struct tcp_conn));
    struct tcp_conn *c = st->tcp.cookie_scratch;
    if (c)
        tcp_conn_init(st, c);
    return c;
}

void tcp_syncookie_syn(struct tcp_conn *l, const struct tcp_seg *seg)
{
    struct tapir_stack *st = l->st;
    struct tcp_conn *c = cookie_scratch(st);
    if (!c) {
        st->stats.tcp.listen_overflows++;
        return;
    }
    tcp_child_setup(c, l, seg);
    tcp_negotiate(c, seg);
    if (!c->ts_ok) {
        /* Nothing will bring window scaling and SACK-permitted back to cookie_options, which
         * then turns them off: so the SYN,ACK must not offer them either (Linux clears them
         * too), or the peer would scale both windows while we scale neither. */
        c->ws_ok = c->sack_ok = false;
        c->snd_wscale = c->rcv_wscale = 0;
    }
    c->snd_mss = tcp_peer_mss(c, seg);
    c->irs = seg->seq;
    c->rcv_nxt = c->rcv_adv = seg->seq + 1;
    unsigned mss_i = cookie_mss_index(c->snd_mss);
    uint64_t t = cookie_counter(st);
    c->iss = (uint32_t)(t % 32u) << 27 | (uint32_t)mss_i << 24 | cookie_hash(st, seg, seg->seq, t);
    c->snd_una = c->snd_nxt = c->snd_max = c->iss;
    if (c->ts_ok) {
        /* Our TSval's low bits carry what the SYN asked for; the ACK will echo them. */
        uint32_t opts = (c->ws_ok ? c->snd_wscale : COOKIE_NO_WSCALE) | (c->sack_ok ? 16u : 0u);
        uint32_t tsval = tcp_ts_now(c);
        c->ts_offset += ((tsval & ~31u) | opts) - tsval;
    }
    /* Not tcp_set_state: this block is no connection and never will be; the state only
     * makes the segment a SYN,ACK with the peer's timestamp echoed. */
    c->state = TCP_SYN_RECEIVED;
    tcp_send_segment(c, c->iss, TCP_SYN | TCP_ACK, 0, 0);
    st->tcp.cookie_sent_us = st->now_us ? st->now_us : 1;
    st->stats.tcp.syncookies_sent++;
}

/* Which MSS the cookie ack - 1 says, or -1 when it is none of ours. */
static int cookie_check(const struct tapir_stack *st, const struct tcp_seg *seg)
{
    uint32_t cookie = seg->ack - 1, irs = seg->seq - 1;
    uint64_t now = cookie_counter(st);
    for (uint64_t age = 0; age < COOKIE_AGES && age <= now; age++) {
        uint64_t t = now - age;
        if ((cookie >> 27) == t % 32u && (cookie & 0xffffffu) == cookie_hash(st, seg, irs, t))
            return (int)(cookie >> 24 & 7u);
    }
    return -1;
}

/* The options the SYN asked for, from the echo of our timestamp (or none without one). */
static void cookie_options(struct tcp_conn *c, const struct tcp_seg *seg)
{
    c->ts_ok = c->ts_ok && seg->has_ts && seg->tsecr;
    if (!c->ts_ok) {
        c->ws_ok = c->sack_ok = false;
        c->rcv_wscale = c->snd_wscale = 0;
        return;
    }
    uint32_t ws = seg->tsecr & 15u;
    c->sack_ok = c->sack_ok && (seg->tsecr & 16u);
    c->ws_ok = c->ws_ok && ws != COOKIE_NO_WSCALE && ws <= TCP_WSCALE_MAX;
    c->snd_wscale = c->ws_ok ? (uint8_t)ws : 0;
    if (!c->ws_ok)
        c->rcv_wscale = 0;
    /* Our clock goes on from the TSval the peer saw, so no round trip is read from it. */
    c->ts_offset = seg->tsecr - (uint32_t)(c->st->now_us / 1000u);
    c->ts_recent = seg->tsval;
    c->ts_recent_us = c->st->now_us;
}

bool tcp_syncookie_ack(struct tcp_conn *l, const struct tcp_seg *seg)
{
    struct tapir_stack *st = l->st;
    if (!st->tcp.cookie_sent_us || st->now_us - st->tcp.cookie_sent_us > 2 * COOKIE_PERIOD_US ||
        (seg->flags & (TCP_SYN | TCP_RST)))
        return false; /* no cookie out lately: an ACK here is just a stray */
    int mss_i = cookie_check(st, seg);
    if (mss_i < 0) {
        st->stats.tcp.syncookies_failed++;
        return false;
    }
    if (l->accept_count > l->backlog) {
        st->stats.tcp.listen_overflows++; /* as for a kept SYN: the peer sends it again */
        return true;
    }
    struct tcp_conn *c = tcp_conn_new(st);
    if (!c) {
        st->stats.tcp.listen_overflows++;
        return true;
    }
    /* The SYN_RECEIVED block the SYN would have made, rebuilt from the ACK and the cookie;
     * then the ACK takes its usual way (RFC 9293 §3.10.7.4) into ESTABLISHED. */
    tcp_child_setup(c, l, seg);
    c->irs = seg->seq - 1;
    c->rcv_nxt = c->rcv_adv = seg->seq;
    c->iss = seg->ack - 1;
    c->snd_una = c->iss;
    c->snd_nxt = c->snd_max = seg->ack;
    c->recover = c->iss;
    c->snd_mss = cookie_mss[mss_i];
    cookie_options(c, seg);
    c->snd_wnd = c->max_snd_wnd = (uint32_t)seg->wnd << c->snd_wscale;
    c->snd_wl1 = seg->seq;
    c->snd_wl2 = seg->ack;
    c->listener = l;
    c->queue_next = l->syn_head;
    l->syn_head = c;
    l->syn_count++;
    tcp_hash_add(c);
    tcp_set_state(c, TCP_SYN_RECEIVED);
    st->stats.tcp.syncookies_validated++;
    struct tcp_seg copy = *seg;
    tcp_established_input(c, &copy);
    return true;
}
