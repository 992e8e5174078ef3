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

#define TCP_OPT_MSS_LEN 4u


struct tcp_hdr_out {
    uint32_t src, dst;
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t wnd;
    uint16_t mss; /* an MSS option when non-zero (on SYNs) */
};

/* Prepends the header to p (which holds the payload), sums it, and sends it down. */
static int tcp_emit(struct tapir_stack *st, struct pkb *p, const struct tcp_hdr_out *h)
{
    uint32_t hdr_len = TCP_HDR_MIN + (h->mss ? TCP_OPT_MSS_LEN : 0);
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
    if (h->mss) {
        t[20] = 2; /* RFC 9293 §3.2: kind 2, length 4, the MSS */
        t[21] = 4;
        put_be16(t + 22, h->mss);
    }
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

uint32_t tcp_rcv_window(const struct tcp_conn *c)
{
    uint32_t free_bytes = c->rcvq.limit - c->rcvq.len;
    /* RFC 9293 §3.8.6.2.2: never shrink the window: the right edge offered stays offered. */
    uint32_t offered = seq_gt(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv - c->rcv_nxt : 0;
    uint32_t w = free_bytes > offered ? free_bytes : offered;
    return w > TCP_WINDOW_MAX ? TCP_WINDOW_MAX : w;
}

int tcp_send_segment(struct tcp_conn *c, uint32_t seq, uint8_t flags, uint32_t off, uint32_t len)
{
    struct tapir_stack *st = c->st;
    struct pkb *p = pkb_alloc_for(st, TCP_HDR_MAX + len);
    if (!p)
        return -ENOBUFS;
    if (len)
        ring_read_at(&c->sndq, off, pkb_put(p, len), len);
    uint32_t wnd = tcp_rcv_window(c);
    struct tcp_hdr_out h = {
        .src = c->local_addr, .dst = c->remote_addr, .sport = c->local_port,
        .dport = c->remote_port, .seq = seq, .ack = (flags & TCP_ACK) ? c->rcv_nxt : 0,
        .flags = flags, .wnd = (uint16_t)wnd, .mss = (flags & TCP_SYN) ? c->rcv_mss : 0,
    };
    if (flags & TCP_ACK) {
        c->rcv_adv = c->rcv_nxt + wnd;
        c->ack_now = false;
    }
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

/* The SYN (or SYN,ACK) of a connection opening: sequence number ISS, the MSS option. */
static void tcp_output_syn(struct tcp_conn *c)
{
    if (c->snd_nxt != c->iss)
        return; /* sent; the retransmission timer will send it again if need be */
    uint8_t flags = c->state == TCP_SYN_RECEIVED ? (TCP_SYN | TCP_ACK) : TCP_SYN;
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

void tcp_output(struct tcp_conn *c) { tcp_output_segments(c, UINT32_MAX); }

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
    bool sent = false;
    for (unsigned segments = 0; segments < max_segments; segments++) {
        uint32_t in_flight = c->snd_nxt - c->snd_una;
        uint32_t sent_data = in_flight < c->sndq.len ? in_flight : c->sndq.len;
        uint32_t unsent = c->sndq.len - sent_data;
        /* The window counts from the ACK that brought it (snd_wl2), not from snd_una. */
        uint32_t usable = tcp_send_room(c);
        uint32_t n = unsent < usable ? unsent : usable;
        if (n > c->snd_mss)
            n = c->snd_mss;
        /* The FIN goes with the last byte, once all of it fits (RFC 9293 §3.10.4). */
        bool fin_out = c->fin_sent && seq_gt(c->snd_nxt, c->fin_seq); /* sent, not rewound */
        bool fin = c->fin_pending && tcp_fin_state(c->state) && !fin_out && n == unsent;
        if (n == 0 && !fin)
            break;
        uint8_t flags = TCP_ACK | (fin ? TCP_FIN : 0) | (n && n == unsent ? TCP_PSH : 0);
        if (tcp_send_segment(c, c->snd_nxt, flags, sent_data, n) < 0)
            break; /* no buffer: the retransmission timer tries again */
        if (fin) {
            c->fin_sent = true;
            c->fin_seq = c->snd_nxt + n;
        }
        c->snd_nxt += n + (fin ? 1u : 0u);
        if (seq_gt(c->snd_nxt, c->snd_max))
            c->snd_max = c->snd_nxt;
        if (!timer_armed(&c->rexmit))
            tcp_arm_rexmit(c);
        sent = true;
        if (fin)
            break;
    }
    if (!sent && c->ack_now)
        tcp_send_ack(c);
    /* RFC 9293 §3.8.6.1: data waits behind a zero window: probe it, or a lost window update
     * would leave both sides waiting forever. */
    uint32_t unsent_now = c->sndq.len - ((c->snd_nxt - c->snd_una) < c->sndq.len
                                             ? (c->snd_nxt - c->snd_una) : c->sndq.len);
    /* A window used up to its last byte is as shut as a zero one, once nothing is in
     * flight to bring an ACK. */
    if (tcp_send_room(c) == 0 && unsent_now && !timer_armed(&c->rexmit) &&
        !timer_armed(&c->persist)) {
        c->persist_backoff = 0;
        tcp_arm_persist(c);
    }
}
