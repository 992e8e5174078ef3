/* SPDX-License-Identifier: MIT */
/* tcp_output.c: what TCP puts on the wire. Sending is computed, not queued: tcp_output looks
 * at snd_una, snd_nxt, the peer's window and the send ring, and cuts segments from the ring
 * as they are due, so a retransmission is simply snd_nxt moved back to snd_una. */
#include <errno.h>
#include <string.h>

#include "bytes.h"
#include "core.h"
#include "csum.h"
#include "ipv4.h"
#include "tcp.h"

/* Option kinds (RFC 9293 §3.2, RFC 2018, RFC 7323). */
#define OPT_NOP 1u
#define OPT_MSS 2u
#define OPT_WSCALE 3u
#define OPT_SACK_PERMITTED 4u
#define OPT_SACK 5u
#define OPT_TIMESTAMPS 8u
#define TCP_OPT_SPACE 40u

struct tcp_hdr_out {
    uint32_t src, dst;
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t wnd;
    uint8_t opts_len;           /* a multiple of 4 */
    uint8_t opts[TCP_OPT_SPACE];
};

/* Prepends the header to p (which holds the payload), sums it, and sends it down. */
static int tcp_emit(struct tapir_stack *st, struct pkb *p, const struct tcp_hdr_out *h)
{
    uint32_t hdr_len = TCP_HDR_MIN + h->opts_len;
    uint8_t *t = pkb_push(p, hdr_len);
    put_be16(t, h->sport);
    put_be16(t + 2, h->dport);
    put_be32(t + 4, h->seq);
    put_be32(t + 8, h->ack);
    t[12] = (uint8_t)((hdr_len / 4u) << 4);
    t[13] = h->flags;
    put_be16(t + 14, h->wnd);
    put_be16(t + 16, 0);
    put_be16(t + 18, 0); /* urgent pointer: tapir sends no urgent data */
    memcpy(t + TCP_HDR_MIN, h->opts, h->opts_len);
    /* RFC 9293 §3.1: the checksum covers a pseudo header of addresses, protocol, length. */
    put_be16(t + 16, csum_fold(csum_add(csum_pseudo(h->src, h->dst, IPPROTO_TCP_, (uint16_t)p->len), t, p->len)));
    if (tapir_tracing(st, TAPIR_TRACE_TCP)) {
        char a[IP_STR_LEN];
        tapir_trace(st, TAPIR_TRACE_TCP, "tcp out :%u > %s:%u %s%s%s%s%s seq %u ack %u win %u len %u",
                    h->sport, ip_str(h->dst, a), h->dport, (h->flags & TCP_SYN) ? "S" : "",
                    (h->flags & TCP_FIN) ? "F" : "", (h->flags & TCP_RST) ? "R" : "",
                    (h->flags & TCP_PSH) ? "P" : "", (h->flags & TCP_ACK) ? "." : "", h->seq,
                    h->ack, h->wnd, p->len - hdr_len);
    }
    struct ip_out out = {.src = h->src, .dst = h->dst, .proto = IPPROTO_TCP_};
    int rc = ipv4_output(st, p, &out);
    if (rc == 0)
        st->stats.tcp.tx_segments++;
    return rc;
}

/* The window scale we offer: the smallest shift that lets the whole receive buffer be
 * offered (RFC 7323 §2.3). */
uint8_t tcp_choose_wscale(uint32_t rcvbuf_bytes)
{
    uint8_t shift = 0;
    while (shift < TCP_WSCALE_MAX && (rcvbuf_bytes >> shift) > TCP_WINDOW_MAX)
        shift++;
    return shift;
}

uint32_t tcp_rcv_window(const struct tcp_conn *c)
{
    /* With scaling the window is offered in units of 2^wscale, rounded up when rounding down
     * would shrink it: keep that much of the buffer back so the rounding always fits. */
    uint32_t slack = c->ws_ok ? (1u << c->rcv_wscale) - 1u : 0;
    uint32_t free_bytes = c->rcvq.limit - c->rcvq.len;
    free_bytes = free_bytes > slack ? free_bytes - slack : 0;
    /* RFC 9293 §3.8.6.2.2: never shrink the window: the right edge offered stays offered. */
    uint32_t offered = seq_gt(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv - c->rcv_nxt : 0;
    /* RFC 1122 §4.2.3.3 (receiver SWS avoidance): move the right edge only by at least
     * min(half the buffer, one MSS). */
    uint32_t step = c->rcvq.limit / 2 < c->rcv_mss ? c->rcvq.limit / 2 : c->rcv_mss;
    uint32_t w = free_bytes > offered && free_bytes - offered >= step ? free_bytes : offered;
    uint32_t max = c->ws_ok ? TCP_WINDOW_MAX << c->rcv_wscale : TCP_WINDOW_MAX;
    return w > max ? max : w;
}

static uint8_t *opt_ts(uint8_t *o, uint32_t tsval, uint32_t tsecr)
{
    o[0] = OPT_TIMESTAMPS;
    o[1] = 10;
    put_be32(o + 2, tsval);
    put_be32(o + 6, tsecr);
    return o + 10;
}

/* A SYN's options, in Linux's layout: MSS; SACK-permitted and timestamps; window scale.
 * On a SYN,ACK only what the peer's SYN offered (RFC 7323 §1.3, RFC 2018 §2). */
static unsigned tcp_syn_options(const struct tcp_conn *c, uint8_t *o)
{
    uint8_t *p = o;
    *p++ = OPT_MSS;
    *p++ = 4;
    put_be16(p, c->rcv_mss);
    p += 2;
    if (c->sack_ok && c->ts_ok) {
        *p++ = OPT_SACK_PERMITTED;
        *p++ = 2;
    } else if (c->sack_ok) {
        *p++ = OPT_NOP;
        *p++ = OPT_NOP;
        *p++ = OPT_SACK_PERMITTED;
        *p++ = 2;
    } else if (c->ts_ok) {
        *p++ = OPT_NOP;
        *p++ = OPT_NOP;
    }
    if (c->ts_ok)
        p = opt_ts(p, tcp_ts_now(c), c->state == TCP_SYN_RECEIVED ? c->ts_recent : 0);
    if (c->ws_ok) {
        *p++ = OPT_NOP;
        *p++ = OPT_WSCALE;
        *p++ = 3;
        *p++ = c->rcv_wscale;
    }
    return (unsigned)(p - o);
}

/* Every other segment: timestamps (RFC 7323 §3.2), and SACK blocks while out-of-order data
 * waits (RFC 2018 §4), as many as fit. */
static unsigned tcp_data_options(struct tcp_conn *c, uint8_t *o, bool with_sack)
{
    uint8_t *p = o;
    if (c->ts_ok) {
        *p++ = OPT_NOP;
        *p++ = OPT_NOP;
        p = opt_ts(p, tcp_ts_now(c), c->ts_recent);
    }
    if (with_sack && c->sack_ok && (c->ooo_count || c->dsack_pending)) {
        struct tcp_sack_block b[TCP_SACK_BLOCKS_MAX];
        unsigned max = c->ts_ok ? TCP_SACK_BLOCKS_MAX - 1 : TCP_SACK_BLOCKS_MAX;
        unsigned n = tcp_sack_blocks_out(c, b, max);
        *p++ = OPT_NOP;
        *p++ = OPT_NOP;
        *p++ = OPT_SACK;
        *p++ = (uint8_t)(2 + 8 * n);
        for (unsigned i = 0; i < n; i++, p += 8) {
            put_be32(p, b[i].start);
            put_be32(p + 4, b[i].end);
        }
        if (c->dsack_pending) {
            c->dsack_pending = false; /* reported once (RFC 2883 §4) */
            c->st->stats.tcp.dsack_sent++;
        }
    }
    return (unsigned)(p - o);
}

uint32_t tcp_sack_option_len(const struct tcp_conn *c)
{
    unsigned want = c->ooo_count + (c->dsack_pending ? 1u : 0u);
    if (!c->sack_ok || !want)
        return 0;
    unsigned max = c->ts_ok ? TCP_SACK_BLOCKS_MAX - 1 : TCP_SACK_BLOCKS_MAX;
    unsigned n = want < max ? want : max;
    return 4u + 8u * n;
}

/* The window field for a segment: scaled (never on a SYN, RFC 7323 §2.2), and rcv_adv. */
static uint16_t tcp_window_field(struct tcp_conn *c, uint8_t flags)
{
    uint32_t wnd = tcp_rcv_window(c);
    if (flags & TCP_SYN) {
        wnd = wnd > TCP_WINDOW_MAX ? TCP_WINDOW_MAX : wnd;
        c->rcv_adv = c->rcv_nxt + wnd;
        return (uint16_t)wnd;
    }
    uint8_t shift = c->ws_ok ? c->rcv_wscale : 0;
    uint32_t field = wnd >> shift;
    uint32_t offered = seq_gt(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv - c->rcv_nxt : 0;
    /* Rounding down would move the edge back: round up, but only into space the ring really
     * has, or each ACK could push the edge a little further past it. Where it has not, the
     * field reads up to 2^wscale - 1 bytes short (RFC 7323 §2.4 allows for this), and the
     * edge already offered is still honoured: rcv_adv never moves back. */
    uint32_t fits = c->rcvq.limit - c->rcvq.len;
    if ((field << shift) < offered && ((field + 1) << shift) <= fits)
        field++;
    uint32_t edge = c->rcv_nxt + (field << shift);
    if ((flags & TCP_ACK) && seq_gt(edge, c->rcv_adv))
        c->rcv_adv = edge;
    return (uint16_t)field;
}

int tcp_send_segment(struct tcp_conn *c, uint32_t seq, uint8_t flags, uint32_t off, uint32_t len)
{
    struct tapir_stack *st = c->st;
    struct pkb *p = pkb_alloc_for(st, TCP_HDR_MAX + len);
    if (!p)
        return -ENOBUFS;
    if (len)
        ring_read_at(&c->sndq, off, pkb_put(p, len), len);
    struct tcp_hdr_out h = {
        .src = c->local_addr, .dst = c->remote_addr, .sport = c->local_port,
        .dport = c->remote_port, .seq = seq, .ack = (flags & TCP_ACK) ? c->rcv_nxt : 0,
        .flags = flags, .wnd = tcp_window_field(c, flags),
    };
    h.opts_len = (uint8_t)((flags & TCP_SYN) ? tcp_syn_options(c, h.opts)
                                             : tcp_data_options(c, h.opts, !(flags & TCP_RST)));
    if (flags & TCP_ACK) {
        c->last_ack_sent = c->rcv_nxt;
        c->ack_now = false;
        if (timer_armed(&c->delack))
            timer_cancel(st, &c->delack);
    }
    c->segs_out++;
    return tcp_emit(st, p, &h);
}

void tcp_send_ack(struct tcp_conn *c) { tcp_send_segment(c, c->snd_nxt, TCP_ACK, 0, 0); }

void tcp_send_reset_for(struct tapir_stack *st, const struct tcp_seg *seg)
{
    if (seg->flags & TCP_RST)
        return; /* RFC 9293 §3.10.7.1: a reset is never answered */
    struct pkb *p = pkb_alloc(st, PKB_SMALL);
    if (!p)
        return;
    struct tcp_hdr_out h = {.src = seg->dst, .dst = seg->src, .sport = seg->dport,
                            .dport = seg->sport};
    if (seg->flags & TCP_ACK) {
        h.seq = seg->ack; /* <SEQ=SEG.ACK><CTL=RST> */
        h.flags = TCP_RST;
    } else {
        h.ack = seg->seq + tcp_seg_len(seg); /* <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK> */
        h.flags = TCP_RST | TCP_ACK;
    }
    if (tcp_emit(st, p, &h) == 0)
        st->stats.tcp.tx_resets++;
}

/* The SYN (or SYN,ACK) of a connection opening: sequence number ISS, the options. */
static void tcp_output_syn(struct tcp_conn *c)
{
    if (c->snd_nxt != c->iss)
        return; /* sent; the retransmission timer will send it again if need be */
    uint8_t flags = c->state == TCP_SYN_RECEIVED ? (TCP_SYN | TCP_ACK) : TCP_SYN;
    if (!c->syn_lost && !c->rtt_timing) {
        c->rtt_timing = true; /* Karn: only a SYN sent once is timed */
        c->rtt_seq = c->iss + 1;
        c->rtt_start_us = c->st->now_us;
    }
    tcp_send_segment(c, c->iss, flags, 0, 0);
    c->snd_nxt = c->iss + 1;
    if (seq_gt(c->snd_nxt, c->snd_max))
        c->snd_max = c->snd_nxt;
    if (!timer_armed(&c->rexmit))
        tcp_arm_rexmit(c);
}

/* May a FIN follow the data in this state? Only once the application has closed its side. */
static bool tcp_fin_state(enum tcp_state s)
{
    return s == TCP_FIN_WAIT_1 || s == TCP_CLOSING || s == TCP_LAST_ACK;
}

bool tcp_fin_unsent(const struct tcp_conn *c)
{
    return c->fin_pending && !c->fin_sent && tcp_fin_state(c->state);
}

bool tcp_nagle_ok(const struct tcp_conn *c, uint32_t n, uint32_t unsent)
{
    if (n >= tcp_smss(c) || c->force_one)
        return true; /* a full segment always goes */
    bool idle = c->snd_una == c->snd_max; /* nothing sent is unacknowledged */
    /* RFC 896 and RFC 1122 §4.2.3.4: the last, short piece of what the application wrote
     * goes when nothing is in flight, or at once with TCP_NODELAY. */
    if (n == unsent)
        return idle || c->nodelay;
    /* A short segment only because the window is short (RFC 1122 §4.2.3.4 (3)): send it if
     * it is at least half the largest window the peer has offered and nothing is in flight
     * (the bracketed part, which is Nagle's: TCP_NODELAY drops it); otherwise wait for an
     * ACK, or for the override timer (the persist timer) when nothing is in flight. */
    return (idle || c->nodelay) && n >= c->max_snd_wnd / 2;
}

/* RFC 6675 NextSeg rules (1) and (3): retransmit holes while cwnd has room. */
static void tcp_recovery_retransmit(struct tcp_conn *c, bool lost_only)
{
    uint32_t smss = tcp_smss(c);
    for (unsigned guard = 0; guard < TCP_SCOREBOARD * 64u; guard++) {
        if (tcp_cwnd_room(c) < smss)
            return;
        uint32_t seq, len = tcp_sack_next_hole(c, lost_only, smss, &seq);
        if (!len)
            return;
        uint32_t before = c->high_rxt;
        tcp_retransmit(c, seq, len);
        if (c->high_rxt == before)
            return; /* nothing went (no buffer): the timer will try again */
    }
}

void tcp_output(struct tcp_conn *c) { tcp_output_segments(c, UINT32_MAX); }

/* Sends what snd_nxt points at: new data, or (after a timeout rewound snd_nxt) data again,
 * stepping over what the peer has SACKed. Returns true if anything went. */
static bool tcp_output_data(struct tcp_conn *c, unsigned max_segments)
{
    bool sent = false, new_data = false;
    if (c->snd_nxt == c->snd_max)
        tcp_cc_before_send(c);
    for (unsigned segments = 0; segments < max_segments; segments++) {
        uint32_t sack_room = UINT32_MAX;
        bool again = seq_lt(c->snd_nxt, c->snd_max); /* going over old ground */
        if (again && c->sack_ok)
            c->snd_nxt = tcp_sack_skip(c, c->snd_nxt, &sack_room);
        again = seq_lt(c->snd_nxt, c->snd_max);
        uint32_t in_flight = c->snd_nxt - c->snd_una;
        uint32_t sent_data = in_flight < c->sndq.len ? in_flight : c->sndq.len;
        uint32_t unsent = c->sndq.len - sent_data;
        /* The window counts from the ACK that brought it (snd_wl2), not from snd_una. */
        uint32_t n = unsent;
        uint32_t limits[] = {tcp_send_room(c), tcp_cwnd_room(c), sack_room,
                             tcp_smss(c) - tcp_sack_option_len(c)};
        for (unsigned i = 0; i < sizeof(limits) / sizeof(limits[0]); i++)
            n = n < limits[i] ? n : limits[i];
        /* The FIN goes with the last byte, once all of it fits (RFC 9293 §3.10.4). */
        bool fin_out = c->fin_sent && seq_gt(c->snd_nxt, c->fin_seq); /* sent, not rewound */
        bool fin = c->fin_pending && tcp_fin_state(c->state) && !fin_out && n == unsent;
        if (n == 0 && !fin)
            break;
        if (!again && !fin && !tcp_nagle_ok(c, n, unsent))
            break;
        uint8_t flags = TCP_ACK | (fin ? TCP_FIN : 0) | (n && n == unsent ? TCP_PSH : 0);
        if (tcp_send_segment(c, c->snd_nxt, flags, sent_data, n) < 0)
            break; /* no buffer: the retransmission timer tries again */
        if (again) {
            c->undo_retrans++;
            c->rexmit_bytes += n;
            c->rexmit_segs++;
            c->st->stats.tcp.rexmit_segments++;
            c->rtt_timing = false;
        } else {
            c->bytes_sent += n;
            if (!c->rtt_timing) {
                c->rtt_timing = true; /* RFC 6298 §3: time one segment per RTT */
                c->rtt_seq = c->snd_nxt + n;
                c->rtt_start_us = c->st->now_us;
            }
        }
        if (fin) {
            c->fin_sent = true;
            c->fin_seq = c->snd_nxt + n;
        }
        uint32_t seq_len = n + (fin ? 1u : 0u);
        c->snd_nxt += seq_len;
        if (c->in_recovery && c->sack_ok)
            c->pipe += seq_len;
        if (seq_gt(c->snd_nxt, c->snd_max)) {
            c->snd_max = c->snd_nxt;
            if (c->sack_ok)
                tcp_rack_sent(c, c->snd_max);
            new_data = true;
        }
        c->last_send_us = c->st->now_us;
        if (!timer_armed(&c->rexmit))
            tcp_arm_rexmit(c);
        sent = true;
        c->force_one = false;
        if (timer_armed(&c->persist)) {
            timer_cancel(c->st, &c->persist); /* data is moving: the ACK clock is back */
            c->persist_backoff = 0;
        }
        if (fin)
            break;
    }
    if (new_data)
        tcp_tlp_schedule(c); /* RFC 8985 §7.2: after new data, the probe timer restarts */
    return sent;
}

void tcp_output_segments(struct tcp_conn *c, unsigned max_segments)
{
    switch (c->state) {
    case TCP_CLOSED:
    case TCP_LISTEN:
    case TCP_TIME_WAIT:
        if (c->ack_now && c->state == TCP_TIME_WAIT)
            tcp_send_ack(c);
        return;
    case TCP_SYN_SENT:
    case TCP_SYN_RECEIVED:
        tcp_output_syn(c);
        return;
    default: break;
    }
    bool recovering = c->in_recovery && c->sack_ok;
    if (recovering)
        tcp_recovery_retransmit(c, true); /* rule (1): lost holes first */
    uint64_t segs_before = c->segs_out;
    bool sent = tcp_output_data(c, max_segments);
    if (recovering)
        tcp_recovery_retransmit(c, false); /* rule (3): then holes not yet known lost */
    if (!sent && c->ack_now && c->segs_out == segs_before)
        tcp_send_ack(c);
    /* RFC 9293 §3.8.6.1: data waits with nothing in flight to bring an ACK (a zero or used
     * up window, or one too small for the SWS rule): the persist timer probes the window or,
     * if it is open, sends anyway (RFC 1122 §4.2.3.4's override). */
    uint32_t in_flight = c->snd_nxt - c->snd_una;
    uint32_t unsent_now = c->sndq.len - (in_flight < c->sndq.len ? in_flight : c->sndq.len);
    /* Likewise a FIN that could not go (no window, or no packet buffer): nothing else would
     * bring it back, and a closed connection would wait for ever. */
    if ((unsent_now || tcp_fin_unsent(c)) && c->snd_una == c->snd_max &&
        !timer_armed(&c->rexmit) && !timer_armed(&c->persist)) {
        c->persist_backoff = 0;
        tcp_arm_persist(c);
    }
}
