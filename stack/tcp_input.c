/* SPDX-License-Identifier: MIT */
/* tcp_input.c: a segment arrives. After the header checks, this follows RFC 9293 §3.10.7
 * "SEGMENT ARRIVES" in its order: CLOSED, LISTEN, SYN-SENT, and for the other states the
 * sequence check, RST, SYN, ACK, URG, the text, FIN. RFC 5961 hardens the RST, SYN and ACK
 * steps against blind injection. */
#include <errno.h>
#include <string.h>

#include "bytes.h"
#include "core.h"
#include "csum.h"
#include "ipv4.h"
#include "sock.h"
#include "tcp.h"

static void tcp_drop(struct tapir_stack *st, struct pkb *p, uint64_t *counter, const char *why)
{
    (*counter)++;
    tapir_trace(st, TAPIR_TRACE_TCP, "tcp drop %s", why);
    pkb_free(st, p);
}

/* RFC 9293 §3.1-§3.2: options are a kind byte, then (except EOL and NOP) a length covering
 * kind and length. MSS, window scale and SACK-permitted (SYN only, as RFC 7323 §2.2 and
 * RFC 2018 §2 say), timestamps and SACK blocks are read; an option of the wrong length is
 * ignored, unknown kinds are skipped by their length, and a malformed list ends the parse
 * (the segment is still good). */
static void tcp_parse_options(const uint8_t *o, size_t len, struct tcp_seg *seg)
{
    bool syn = seg->flags & TCP_SYN;
    size_t i = 0;
    while (i < len) {
        uint8_t kind = o[i];
        if (kind == 0)
            break; /* end of option list */
        if (kind == 1) {
            i++; /* no-operation */
            continue;
        }
        if (i + 1 >= len || o[i + 1] < 2 || i + o[i + 1] > len)
            break;
        uint8_t olen = o[i + 1];
        const uint8_t *v = o + i + 2;
        if (kind == 2 && olen == 4 && syn)
            seg->mss = get_be16(v);
        else if (kind == 3 && olen == 3 && syn)
            seg->wscale = (int8_t)(v[0] > TCP_WSCALE_MAX ? TCP_WSCALE_MAX : v[0]); /* §2.3 */
        else if (kind == 4 && olen == 2 && syn)
            seg->sack_permitted = true;
        else if (kind == 8 && olen == 10) {
            seg->has_ts = true;
            seg->tsval = get_be32(v);
            seg->tsecr = get_be32(v + 4);
        } else if (kind == 5 && olen >= 10 && (olen - 2) % 8 == 0 && !syn) {
            unsigned n = (olen - 2u) / 8u;
            for (unsigned k = 0; k < n && seg->sack_count < TCP_SACK_BLOCKS_MAX; k++) {
                seg->sack[seg->sack_count].start = get_be32(v + 8 * k);
                seg->sack[seg->sack_count].end = get_be32(v + 8 * k + 4);
                seg->sack_count++;
            }
        }
        i += olen;
    }
}

/* RFC 9293 §3.1: a header at least 20 bytes long whose data offset fits, and a checksum over
 * the pseudo header. Returns false (and counts) for a segment to drop. */
static bool tcp_parse(struct tapir_stack *st, struct pkb *p, const struct ip_in *ip,
                      struct tcp_seg *seg)
{
    struct tapir_tcp_stats *c = &st->stats.tcp;
    if (p->len < TCP_HDR_MIN) {
        tcp_drop(st, p, &c->drop_truncated, "truncated");
        return false;
    }
    const uint8_t *h = p->data;
    uint32_t hdr_len = (h[12] >> 4) * 4u;
    if (hdr_len < TCP_HDR_MIN || hdr_len > p->len) {
        tcp_drop(st, p, &c->drop_bad_offset, "bad data offset");
        return false;
    }
    if (csum_fold(csum_add(csum_pseudo(ip->src, ip->dst, IPPROTO_TCP_, (uint16_t)p->len), h,
                           p->len)) != 0) {
        tcp_drop(st, p, &c->drop_bad_checksum, "bad checksum");
        return false;
    }
    *seg = (struct tcp_seg){
        .src = ip->src, .dst = ip->dst, .sport = get_be16(h), .dport = get_be16(h + 2),
        .seq = get_be32(h + 4), .ack = get_be32(h + 8), .flags = h[13] & 0x3fu,
        .wnd = get_be16(h + 14), .data = h + hdr_len, .len = p->len - hdr_len, .wscale = -1,
    };
    tcp_parse_options(h + TCP_HDR_MIN, hdr_len - TCP_HDR_MIN, seg);
    return true;
}

static void tcp_trace_in(struct tapir_stack *st, const struct tcp_seg *seg)
{
    if (!tapir_tracing(st, TAPIR_TRACE_TCP))
        return;
    char a[IP_STR_LEN], sack[TCP_SACK_BLOCKS_MAX * 24 + 8] = "";
    size_t n = 0;
    for (unsigned i = 0; i < seg->sack_count; i++) /* relative to the ACK, as tcpdump shows */
        n += (size_t)snprintf(sack + n, sizeof(sack) - n, "%s%u-%u", i ? "," : " sack ",
                              seg->sack[i].start - seg->ack, seg->sack[i].end - seg->ack);
    tapir_trace(st, TAPIR_TRACE_TCP, "tcp in %s:%u > :%u %s%s%s%s%s seq %u ack %u win %u len %u%s",
                ip_str(seg->src, a), seg->sport, seg->dport, (seg->flags & TCP_SYN) ? "S" : "",
                (seg->flags & TCP_FIN) ? "F" : "", (seg->flags & TCP_RST) ? "R" : "",
                (seg->flags & TCP_PSH) ? "P" : "", (seg->flags & TCP_ACK) ? "." : "", seg->seq,
                seg->ack, seg->wnd, seg->len, sack);
}

/* The MSS we may send with: what the peer asked for (536 without the option, RFC 9293
 * §3.7.1), never more than our own MTU allows. */
uint16_t tcp_peer_mss(const struct tcp_conn *c, const struct tcp_seg *seg)
{
    uint16_t mss = seg->mss ? seg->mss : TCP_DEFAULT_MSS;
    if (mss > c->rcv_mss)
        mss = c->rcv_mss;
    return mss < 64 ? 64 : mss; /* a silly small MSS would make a segment per few bytes */
}

/* The peer's window from a segment: scaled, except on a SYN (RFC 7323 §2.2). */
static uint32_t tcp_seg_wnd(const struct tcp_conn *c, const struct tcp_seg *seg)
{
    if (seg->flags & TCP_SYN)
        return seg->wnd;
    return (uint32_t)seg->wnd << (c->ws_ok ? c->snd_wscale : 0);
}

/* The options agreed on a SYN: what we offered (c's flags) and the peer's SYN offered too.
 * Window scaling works only if both ends sent the option (RFC 7323 §2.2). */
void tcp_negotiate(struct tcp_conn *c, const struct tcp_seg *seg)
{
    c->ts_ok = c->ts_ok && seg->has_ts;
    c->sack_ok = c->sack_ok && seg->sack_permitted;
    c->ws_ok = c->ws_ok && seg->wscale >= 0;
    c->snd_wscale = c->ws_ok ? (uint8_t)seg->wscale : 0;
    if (!c->ws_ok)
        c->rcv_wscale = 0;
    if (c->ts_ok) {
        c->ts_recent = seg->tsval;
        c->ts_recent_us = c->st->now_us;
    }
}

/* An ACK of new data gives a round-trip measurement: from the echoed timestamp (RFC 7323
 * §4.1, good even for a retransmission), else from the one segment being timed (Karn: never
 * one sent twice). The timestamp clock ticks in milliseconds, so an echo under 2 ms says
 * little (over a TAP the round trip is tens of microseconds, and it would read 0): then the
 * timed segment, measured in microseconds, speaks instead. */
static void tcp_ack_rtt(struct tcp_conn *c, const struct tcp_seg *seg)
{
    bool timed_acked = c->rtt_timing && seq_ge(seg->ack, c->rtt_seq);
    if (timed_acked)
        c->rtt_timing = false;
    if (c->ts_ok && seg->has_ts && seg->tsecr) {
        uint32_t ms = tcp_ts_now(c) - seg->tsecr;
        if (ms >= 2 && ms < 600000u) { /* coarse but meaningful; under ten minutes old */
            tcp_rtt_sample(c, (uint64_t)ms * 1000u);
            return;
        }
    }
    if (timed_acked)
        tcp_rtt_sample(c, c->st->now_us - c->rtt_start_us);
}

/* RFC 5961 §7: challenge ACKs are rate limited (Linux: 1000 a second; here per stack). A
 * fixed budget shared by every connection is a side channel (CVE-2016-5696): an off-path
 * attacker spends it on its own connection and counts what is left, to learn whether a
 * guessed segment hit someone else's window. So, as Linux since then, each second's budget
 * is drawn anew between half and one and a half times the configured rate. */
static void tcp_challenge_ack(struct tcp_conn *c)
{
    struct tapir_stack *st = c->st;
    if (!st->tcp.challenge_window_us || st->now_us - st->tcp.challenge_window_us >= 1000000u) {
        unsigned per_s = st->cfg.tcp_challenge_ack_per_s;
        st->tcp.challenge_window_us = st->now_us;
        st->tcp.challenge_count = 0;
        st->tcp.challenge_budget = per_s ? (per_s + 1) / 2 + tapir_rand32(st) % per_s : 0;
    }
    if (st->tcp.challenge_count >= st->tcp.challenge_budget) {
        st->stats.tcp.challenge_acks_limited++;
        return;
    }
    st->tcp.challenge_count++;
    st->stats.tcp.challenge_acks++;
    tcp_send_ack(c);
}

/* ---- §3.10.7.1 CLOSED, §3.10.7.2 LISTEN --------------------------------------------------- */

void tcp_child_setup(struct tcp_conn *c, const struct tcp_conn *l, const struct tcp_seg *seg)
{
    c->local_addr = seg->dst;
    c->local_port = seg->dport;
    c->remote_addr = seg->src;
    c->remote_port = seg->sport;
    c->rcvq.limit = l->rcvq.limit;
    c->sndq.limit = l->sndq.limit;
    c->nodelay = l->nodelay;
    c->cc = l->cc;
    c->keepalive_on = l->keepalive_on;
    c->keep_idle_us = l->keep_idle_us;
    c->keep_intvl_us = l->keep_intvl_us;
    c->keep_cnt = l->keep_cnt;
    tcp_offer_options(c);
}

static void tcp_listen_input(struct tapir_stack *st, struct tapir_sock *ls, const struct tcp_seg *seg)
{
    struct tcp_conn *l = ls->tcp;
    if (seg->flags & TCP_RST)
        return; /* first: an incoming RST is ignored */
    if (seg->flags & TCP_ACK) {
        if (tcp_syncookie_ack(l, seg))
            return; /* the last ACK of a handshake we answered with a cookie */
        tcp_send_reset_for(st, seg); /* second: any ACK is bad here: <SEQ=SEG.ACK><CTL=RST> */
        return;
    }
    if (!(seg->flags & TCP_SYN))
        return; /* fourth: anything else is dropped */
    if (seg->flags & TCP_FIN) {
        /* SYN and FIN together open nothing a real client wants: RFC 9293 would keep the FIN
         * for SYN-RECEIVED, but scanners send it to fingerprint and to slip past filters,
         * and Linux drops it (tcp_rcv_state_process). So do we, counted. */
        st->stats.tcp.drop_syn_fin++;
        return;
    }
    /* Third: a SYN. (The security check of §3.10.7.2 is skipped: no IP security options.)
     * The accept queue holds at most backlog + 1, as Linux's sk_acceptq_is_full: a SYN
     * beyond it is dropped, and the peer sends it again. The SYN queue is bounded too: when
     * it is full (a flood of SYNs that never complete, RFC 4987), a SYN cookie answers. */
    if (l->accept_count > l->backlog) {
        st->stats.tcp.listen_overflows++;
        return;
    }
    if (l->syn_count >= l->backlog + 16u) {
        if (st->cfg.tcp_syncookies)
            return tcp_syncookie_syn(l, seg);
        st->stats.tcp.listen_overflows++;
        return;
    }
    struct tcp_conn *c = tcp_conn_new(st);
    if (!c) {
        /* No block for it (tcp_max_conns, counted there, or the memory budget): dropped,
         * and the peer sends its SYN again. A cookie would not help: its ACK needs a block. */
        st->stats.tcp.listen_overflows++;
        return;
    }
    tcp_child_setup(c, l, seg);
    c->irs = seg->seq;
    c->rcv_nxt = c->rcv_adv = seg->seq + 1;
    c->iss = tcp_isn(st, c);
    c->snd_una = c->snd_nxt = c->snd_max = c->iss;
    c->recover = c->iss;
    tcp_negotiate(c, seg);
    c->snd_wnd = seg->wnd;
    c->max_snd_wnd = seg->wnd;
    c->snd_wl1 = seg->seq;
    c->snd_wl2 = c->iss;
    c->snd_mss = tcp_peer_mss(c, seg);
    c->listener = l;
    c->queue_next = l->syn_head;
    l->syn_head = c;
    l->syn_count++;
    tcp_hash_add(c);
    tcp_set_state(c, TCP_SYN_RECEIVED);
    tcp_output(c); /* <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK> */
}

static void tcp_text_and_fin(struct tcp_conn *c, uint32_t seq, const uint8_t *data,
                             uint32_t len, bool fin);

/* ---- §3.10.7.3 SYN-SENT --------------------------------------------------------------------- */

static void tcp_syn_sent_input(struct tcp_conn *c, const struct tcp_seg *seg)
{
    struct tapir_stack *st = c->st;
    bool ack = seg->flags & TCP_ACK;
    /* First: the ACK must acknowledge our SYN and nothing more. */
    if (ack && (seq_le(seg->ack, c->iss) || seq_gt(seg->ack, c->snd_max))) {
        tcp_send_reset_for(st, seg);
        return;
    }
    /* Second: a RST counts only with an acceptable ACK (RFC 5961 §3 keeps this rule). */
    if (seg->flags & TCP_RST) {
        if (ack) {
            st->stats.tcp.rx_resets++;
            tcp_done(c, ECONNREFUSED);
        }
        return;
    }
    /* Third: security, skipped. Fourth: SYN. */
    if (!(seg->flags & TCP_SYN))
        return;
    c->irs = seg->seq;
    c->rcv_nxt = c->rcv_adv = seg->seq + 1;
    c->snd_mss = tcp_peer_mss(c, seg);
    tcp_negotiate(c, seg);
    c->snd_wnd = seg->wnd;
    c->max_snd_wnd = seg->wnd;
    c->snd_wl1 = seg->seq;
    /* RFC 9293 says SND.WL2 <- SEG.ACK here; without the ACK bit that field means nothing
     * (a fuzzer's stray value made the window look open to one timer and shut to the other,
     * and a closing connection waited for ever), so then it is ISS, as for a passive open. */
    c->snd_wl2 = (seg->flags & TCP_ACK) ? seg->ack : c->iss;
    timer_cancel(st, &c->rexmit);
    if (!ack) {
        /* Simultaneous open: both sent SYNs. Answer with SYN,ACK from ISS again. */
        tcp_set_state(c, TCP_SYN_RECEIVED);
        c->snd_nxt = c->iss;
        tcp_output(c);
        return;
    }
    c->snd_una = seg->ack;
    tcp_ack_rtt(c, seg);
    tcp_handshake_done(c);
    tcp_set_state(c, TCP_ESTABLISHED);
    c->ack_now = true; /* <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>, with any data queued */
    tcp_wake(c);
    /* "Continue processing at the sixth step": data (and a FIN) may ride on the SYN,ACK. */
    tcp_text_and_fin(c, seg->seq + 1, seg->data, seg->len, seg->flags & TCP_FIN);
    tcp_output(c);
}

/* ---- The synchronized states ------------------------------------------------------------ */

/* An unacceptable segment is answered with an ACK, but an empty one at most every 500 ms
 * per connection (Linux's tcp_invalid_ratelimit): two ends that disagree about the window
 * must not answer each other's ACKs forever. Data and FINs are always answered. */
static bool tcp_oow_ack_limited(struct tcp_conn *c, const struct tcp_seg *seg)
{
    if (tcp_seg_len(seg) != 0)
        return false;
    if (c->oow_ack_us && c->st->now_us - c->oow_ack_us < 500000u) {
        c->st->stats.tcp.oow_acks_limited++;
        return true;
    }
    c->oow_ack_us = c->st->now_us;
    return false;
}

/* RFC 9293 §3.10.7.4 "first": the four cases of segment acceptability. */
static bool tcp_seq_acceptable(const struct tcp_conn *c, const struct tcp_seg *seg, uint32_t wnd)
{
    uint32_t seg_len = tcp_seg_len(seg), end = c->rcv_nxt + wnd;
    /* An empty segment exactly at the right edge (a peer with a full window in flight sends
     * its ACKs there) is taken too, as Linux's tcp_sequence and BSD do: answering it as
     * unacceptable would start an exchange of ACKs with nothing in them. */
    if (seg_len == 0) {
        if (wnd == 0)
            return seg->seq == c->rcv_nxt;
        bool edge_ok = !(seg->flags & TCP_RST); /* RFC 5961 §3.2: a RST must be inside */
        return seq_ge(seg->seq, c->rcv_nxt) &&
               (seq_lt(seg->seq, end) || (edge_ok && seg->seq == end));
    }
    if (wnd == 0) /* "special allowance" for the ACK: the text is trimmed away later */
        return seg->seq == c->rcv_nxt;
    uint32_t last = seg->seq + seg_len - 1;
    return (seq_ge(seg->seq, c->rcv_nxt) && seq_lt(seg->seq, end)) ||
           (seq_ge(last, c->rcv_nxt) && seq_lt(last, end));
}

/* Records out-of-order bytes [start, end) (offsets from rcv_nxt), merging ranges that touch,
 * and puts the result first. */
static bool tcp_ooo_add(struct tcp_conn *c, uint32_t start, uint32_t end)
{
    struct tcp_range r = {start, end};
    unsigned n = 0;
    struct tcp_range keep[TCP_OOO_RANGES];
    for (unsigned i = 0; i < c->ooo_count; i++) {
        struct tcp_range o = c->ooo[i];
        if (o.end < r.start || o.start > r.end) {
            keep[n++] = o;
            continue;
        }
        r.start = o.start < r.start ? o.start : r.start;
        r.end = o.end > r.end ? o.end : r.end;
    }
    if (n == TCP_OOO_RANGES)
        return false;
    /* The newest range goes first: RFC 2018 §4's order for the SACK blocks. */
    c->ooo[0] = r;
    memcpy(c->ooo + 1, keep, n * sizeof(keep[0]));
    c->ooo_count = n + 1;
    return true;
}

/* n bytes at rcv_nxt just arrived in order: take in the ranges they now reach, and rebase
 * the rest on the new rcv_nxt. Returns how many more bytes became in order. */
static uint32_t tcp_ooo_advance(struct tcp_conn *c, uint32_t n)
{
    uint32_t edge = n;
    bool grew = true;
    while (grew) {
        grew = false;
        unsigned i = 0;
        while (i < c->ooo_count) {
            if (c->ooo[i].start > edge) {
                i++;
                continue;
            }
            if (c->ooo[i].end > edge)
                edge = c->ooo[i].end;
            /* Close the gap in place: the ranges keep their newest-first order (RFC 2018 §4). */
            c->ooo_count--;
            memmove(&c->ooo[i], &c->ooo[i + 1], (c->ooo_count - i) * sizeof(c->ooo[0]));
            grew = true;
        }
    }
    for (unsigned i = 0; i < c->ooo_count; i++) {
        c->ooo[i].start -= edge;
        c->ooo[i].end -= edge;
    }
    return edge - n;
}

bool tcp_delack_ok(const struct tcp_conn *c, bool filled_hole)
{
    if (c->quickack || filled_hole || c->ooo_count)
        return false; /* RFC 5681 §4.2: a hole filled, or one left: ACK at once */
    /* RFC 1122 §4.2.3.2 / RFC 5681 §4.2: at least every second full-sized segment. */
    return c->rcv_nxt - c->last_ack_sent < 2u * c->rcv_seg_max_bytes;
}

/* In a receive burst, an ACK that "every second segment" asks for now may wait for the
 * burst's end (TCP_BATCH_ACK_SEGS). Not a hole filled or left, nor TCP_QUICKACK. */
static bool tcp_ack_may_wait_for_burst(struct tcp_conn *c, bool filled_hole)
{
    if (!c->st->rx_batch || c->quickack || filled_hole || c->ooo_count)
        return false;
    if (c->rcv_nxt - c->last_ack_sent >= TCP_BATCH_ACK_SEGS * c->rcv_seg_max_bytes)
        return false;
    if (!c->ack_held) {
        c->ack_held = true;
        c->ack_held_next = c->st->tcp.ack_held;
        c->st->tcp.ack_held = c;
    }
    return true;
}

/* In-order data arrived: acknowledge now, or within the delayed-ACK time. */
static void tcp_ack_decision(struct tcp_conn *c, uint32_t len, bool filled_hole)
{
    if (len > c->rcv_seg_max_bytes)
        c->rcv_seg_max_bytes = len > c->rcv_mss ? c->rcv_mss : len; /* the peer's segment size */
    if (!tcp_delack_ok(c, filled_hole)) {
        if (!tcp_ack_may_wait_for_burst(c, filled_hole))
            c->ack_now = true;
        return;
    }
    if (!timer_armed(&c->delack))
        timer_arm(c->st, &c->delack, c->st->now_us + c->st->cfg.tcp_delack_us);
}

/* RFC 2883 §4: data that arrived a second time is reported in the first SACK block of the
 * ACK that follows at once, so the sender learns its retransmission was needless. */
static void tcp_dsack_note(struct tcp_conn *c, uint32_t start, uint32_t end)
{
    if (!c->sack_ok)
        return;
    c->dsack = (struct tcp_sack_block){.start = start, .end = end};
    c->dsack_pending = true;
    c->ack_now = true;
}

/* Seventh: the text. Data lands in the receive ring at its offset from rcv_nxt; in-order
 * bytes advance rcv_nxt and wake the reader. Returns true if the segment's end is now in
 * order (so a FIN on it may be processed). */
static bool tcp_receive_text(struct tcp_conn *c, uint32_t seq, const uint8_t *data,
                             uint32_t len)
{
    struct tapir_stack *st = c->st;
    uint32_t off = seq - c->rcv_nxt; /* after trimming: within the window */
    uint32_t base = c->rcvq.len;     /* in-order bytes already held */
    if (len == 0)
        return off == 0; /* a bare ACK is not acknowledged (that would look like a dup ACK) */
    int rc = ring_write_at(st, &c->rcvq, base + off, data, len);
    if (rc < 0) {
        if (rc == -ENOMEM)
            st->stats.tcp.drop_nomem++; /* the sender will send it again */
        else
            st->stats.tcp.drop_rcvbuf++;
        c->ack_now = true;
        return false;
    }
    if (off > 0) {
        if (!tcp_ooo_add(c, off, off + len))
            st->stats.tcp.drop_ooo_full++;
        else
            st->stats.tcp.rx_out_of_order++;
        c->ack_now = true; /* RFC 5681 §4.2: out of order: a duplicate ACK at once */
        return false;
    }
    bool had_hole = c->ooo_count > 0;
    uint32_t gained = len + tcp_ooo_advance(c, len);
    c->rcvq.len += gained;
    c->rcv_nxt += gained;
    c->bytes_received += gained;
    st->stats.tcp.rx_bytes += gained;
    tcp_ack_decision(c, len, had_hole);
    tcp_wake(c);
    return gained >= len; /* the segment's own end is in order */
}

/* RFC 5681 §2's duplicate ACK: data outstanding, none carried, no SYN or FIN, the same
 * cumulative ACK, and the same window. With SACK (RFC 6675 §2) it must SACK something new
 * instead: a duplicated or reordered plain ACK then says nothing about loss. */
static bool tcp_is_dupack(const struct tcp_conn *c, const struct tcp_seg *seg, uint32_t wnd,
                          bool sack_news)
{
    if (seg->ack != c->snd_una || c->snd_una == c->snd_max || (seg->flags & TCP_SYN))
        return false;
    /* With SACK, new SACK information means a segment left the network, even on a segment
     * that carries data (when data flows both ways, the pure ACKs that follow only repeat
     * it): the scoreboard, not the kind of segment, drives loss detection. */
    if (c->sack_ok)
        return sack_news;
    return !seg->len && !(seg->flags & TCP_FIN) && wnd == c->snd_wnd;
}

/* The peer's window as the trace shows it: when it shuts or opens, and when it moves by a
 * quarter of the largest it has offered. (Every ACK of a bulk transfer moves it a little as
 * the peer's application reads; those would bury the lines that matter.) */
static void tcp_trace_window(struct tcp_conn *c, uint32_t wnd)
{
    if (!tapir_tracing(c->st, TAPIR_TRACE_TCP))
        return;
    uint32_t step = wnd > c->snd_wnd ? wnd - c->snd_wnd : c->snd_wnd - wnd;
    if ((wnd == 0) == (c->snd_wnd == 0) && step < c->max_snd_wnd / 4)
        return;
    char a[IP_STR_LEN];
    tapir_trace(c->st, TAPIR_TRACE_TCP, "tcp %s:%u window %u -> %u", ip_str(c->remote_addr, a),
                c->remote_port, c->snd_wnd, wnd);
}

static void tcp_ts_recent_update(struct tcp_conn *c, const struct tcp_seg *seg);

/* Fifth: the ACK field, in the states where our SYN has been acknowledged. */
static bool tcp_process_ack(struct tcp_conn *c, const struct tcp_seg *seg)
{
    struct tapir_stack *st = c->st;
    /* RFC 5961 §5.2: acceptable only if SND.UNA - MAX.SND.WND =< SEG.ACK =< SND.NXT;
     * anything else is discarded with an ACK. */
    if (seq_gt(seg->ack, c->snd_max) || seq_lt(seg->ack, c->snd_una - c->max_snd_wnd)) {
        st->stats.tcp.drop_bad_ack++;
        tcp_challenge_ack(c);
        return false;
    }
    tcp_ts_recent_update(c, seg); /* only a segment that passed every check (Linux's tcp_ack) */
    uint32_t wnd = tcp_seg_wnd(c, seg);
    bool sack_news = c->sack_ok && seg->sack_count && tcp_sack_update(c, seg);
    bool advanced = seq_gt(seg->ack, c->snd_una);
    if (advanced) {
        uint32_t flight_before = c->snd_max - c->snd_una;
        uint32_t acked = seg->ack - c->snd_una;
        if (c->snd_una == c->iss)
            acked--; /* the SYN's sequence number carries no byte of the ring */
        uint32_t data_acked = acked < c->sndq.len ? acked : c->sndq.len; /* (the FIN's neither) */
        ring_consume(&c->sndq, data_acked);
        ring_trim(st, &c->sndq);
        c->bytes_acked_total += data_acked;
        tcp_ack_rtt(c, seg);
        c->snd_una = seg->ack;
        if (seq_lt(c->snd_nxt, c->snd_una))
            c->snd_nxt = c->snd_una;
        if (c->sack_ok)
            tcp_sack_advance(c);
        c->retries = 0;
        c->rto_us = c->rto_base_us; /* the backoff ends with new data acknowledged */
        if (c->cwnd)
            tcp_cc_ack(c, acked, flight_before);
        /* After the ACK has had its say on recovery: leaving it makes a probe due. */
        if (c->snd_una == c->snd_max)
            timer_cancel(st, &c->rexmit);
        else
            tcp_arm_rexmit(c);
        if (data_acked)
            tcp_wake(c); /* room in the send ring */
    } else if (c->cwnd && tcp_is_dupack(c, seg, wnd, sack_news)) {
        tcp_cc_dupack(c);
    }
    /* The window update rule (RFC 9293 §3.10.7.4): take the window from the newest segment;
     * and, as Linux's tcp_may_update_window, from any that acknowledges new data (a
     * retransmission may carry an older SEG.SEQ with the newest ACK and window). */
    if (advanced || seq_lt(c->snd_wl1, seg->seq) ||
        (c->snd_wl1 == seg->seq && seq_le(c->snd_wl2, seg->ack))) {
        if (wnd != c->snd_wnd)
            tcp_trace_window(c, wnd);
        c->snd_wnd = wnd;
        c->snd_wl1 = seg->seq;
        c->snd_wl2 = seg->ack;
        if (c->snd_wnd > c->max_snd_wnd)
            c->max_snd_wnd = c->snd_wnd;
        if (c->snd_wnd) {
            timer_cancel(st, &c->persist);
            c->persist_backoff = 0;
            if (c->snd_una != c->snd_max && !timer_armed(&c->rexmit))
                tcp_arm_rexmit(c); /* data in flight again has a timer again */
        }
    }
    if (c->cwnd) {
        tcp_rack_ack(c, seg);
        tcp_cc_after_ack(c);
        tcp_tlp_schedule(c);
    }
    if (c->snd_wnd == 0 && seg->ack == c->snd_una)
        c->retries = 0; /* a probe answered: the peer is there, only its window is shut */
    return true;
}

/* Has the peer acknowledged our FIN? */
static bool tcp_fin_acked(const struct tcp_conn *c)
{
    return c->fin_sent && seq_gt(c->snd_una, c->fin_seq);
}

/* The RST step (second), RFC 5961 §3: only an exact match resets; another in-window RST
 * draws a challenge ACK. */
static void tcp_rst_input(struct tcp_conn *c, const struct tcp_seg *seg)
{
    struct tapir_stack *st = c->st;
    if (c->state == TCP_TIME_WAIT) {
        st->stats.tcp.rst_ignored_time_wait++; /* RFC 1337: TIME_WAIT is not assassinated */
        return;
    }
    if (seg->seq != c->rcv_nxt) {
        tcp_challenge_ack(c);
        return;
    }
    st->stats.tcp.rx_resets++;
    switch (c->state) {
    case TCP_SYN_RECEIVED:
        /* From a passive open the handshake just vanishes (the listener goes on); from an
         * active one (simultaneous open) the connection is refused. */
        return tcp_done(c, c->listener ? 0 : ECONNREFUSED);
    case TCP_ESTABLISHED:
    case TCP_FIN_WAIT_1:
    case TCP_FIN_WAIT_2:
    case TCP_CLOSE_WAIT:
        return tcp_done(c, ECONNRESET);
    default: /* CLOSING, LAST_ACK */
        return tcp_done(c, 0);
    }
}

/* Eighth: the FIN, once everything before it has arrived. */
static void tcp_fin_input(struct tcp_conn *c)
{
    c->fin_received = true;
    c->rcv_nxt++;
    c->ack_now = true;
    tcp_wake(c);
    switch (c->state) {
    case TCP_SYN_RECEIVED:
    case TCP_ESTABLISHED: tcp_set_state(c, TCP_CLOSE_WAIT); break;
    case TCP_FIN_WAIT_1:
        if (tcp_fin_acked(c))
            tcp_enter_time_wait(c);
        else
            tcp_set_state(c, TCP_CLOSING);
        break;
    case TCP_FIN_WAIT_2: tcp_enter_time_wait(c); break;
    default: break; /* CLOSE_WAIT, CLOSING, LAST_ACK: stay */
    }
}

/* After the ACK step: go on to the text, stop here (but send what is due), drop the segment
 * without a word, or stop because the connection is gone (freed: nothing may touch it). */
enum ack_next { ACK_GO_ON, ACK_STOP, ACK_DROP, ACK_GONE };

/* Seventh and eighth: the text, in the states that still receive, then the FIN, once
 * everything before it is here. */
static void tcp_text_and_fin(struct tcp_conn *c, uint32_t seq, const uint8_t *data,
                             uint32_t len, bool fin)
{
    bool in_order = true;
    if (c->state == TCP_ESTABLISHED || c->state == TCP_FIN_WAIT_1 || c->state == TCP_FIN_WAIT_2)
        in_order = tcp_receive_text(c, seq, data, len);
    else if (len)
        c->st->stats.tcp.drop_after_fin++;
    if (fin && in_order && seq + len == c->rcv_nxt && !c->fin_received)
        tcp_fin_input(c);
    else if (fin && c->fin_received)
        c->ack_now = true; /* a retransmitted FIN: acknowledge it again */
}

/* The ACK step's state-specific part. */
static enum ack_next tcp_ack_state_step(struct tcp_conn *c, const struct tcp_seg *seg)
{
    if (c->state == TCP_SYN_RECEIVED) {
        if (!(seq_lt(c->snd_una, seg->ack) && seq_le(seg->ack, c->snd_max))) {
            tcp_send_reset_for(c->st, seg); /* <SEQ=SEG.ACK><CTL=RST> */
            return ACK_STOP;
        }
        if (c->listener && c->listener->accept_count > c->listener->backlog) {
            /* As Linux: with the accept queue full the handshake's last ACK is dropped; the
             * peer sends it again, and our SYN,ACK timer keeps the handshake alive. */
            c->st->stats.tcp.listen_overflows++;
            return ACK_DROP; /* nothing more for this segment, not even an ACK */
        }
        tcp_handshake_done(c);
        tcp_set_state(c, TCP_ESTABLISHED);
        c->snd_wnd = tcp_seg_wnd(c, seg);
        c->snd_wl1 = seg->seq;
        c->snd_wl2 = seg->ack;
        if (c->listener)
            tcp_child_established(c);
        else
            tcp_wake(c);
    }
    if (!tcp_process_ack(c, seg))
        return ACK_STOP;
    switch (c->state) {
    case TCP_FIN_WAIT_1:
        if (tcp_fin_acked(c)) {
            tcp_set_state(c, TCP_FIN_WAIT_2);
            if (c->orphan)
                tcp_orphan_fin_wait_2(c);
            tcp_wake(c);
        }
        return ACK_GO_ON;
    case TCP_CLOSING:
        if (tcp_fin_acked(c))
            tcp_enter_time_wait(c);
        return ACK_STOP;
    case TCP_LAST_ACK:
        if (tcp_fin_acked(c)) {
            tcp_done(c, 0); /* an orphan is freed here */
            return ACK_GONE;
        }
        return ACK_GO_ON;
    case TCP_TIME_WAIT:
        /* Only the peer's FIN can come again: acknowledge it and restart the 2*MSL. */
        if (seg->flags & TCP_FIN) {
            c->ack_now = true;
            tcp_enter_time_wait(c);
        }
        return ACK_STOP;
    default: return ACK_GO_ON;
    }
}

/* RFC 7323 §5.3 R1 (PAWS): with timestamps on, a segment whose TSval is older than
 * TS.Recent is an old duplicate from an earlier wrap of the sequence space. A RST is exempt
 * (§5.3 R1 leaves it to the sequence check), and a TS.Recent idle over 24 days is stale
 * (§5.5). */
bool tcp_paws_reject(struct tcp_conn *c, const struct tcp_seg *seg)
{
    if (!c->ts_ok || !seg->has_ts || (seg->flags & TCP_RST) || !seq_lt(seg->tsval, c->ts_recent))
        return false;
    if (c->st->now_us - c->ts_recent_us > TCP_PAWS_IDLE_US) {
        c->ts_recent = seg->tsval;
        c->ts_recent_us = c->st->now_us;
        return false;
    }
    return true;
}

/* RFC 7323 §4.3 (2): TS.Recent follows the segment that would be acknowledged next, so the
 * echo measures the whole round trip, delayed ACKs and all. */
static void tcp_ts_recent_update(struct tcp_conn *c, const struct tcp_seg *seg)
{
    if (c->ts_ok && seg->has_ts && seq_le(seg->seq, c->last_ack_sent) &&
        seq_ge(seg->tsval, c->ts_recent)) {
        c->ts_recent = seg->tsval;
        c->ts_recent_us = c->st->now_us;
    }
}

void tcp_established_input(struct tcp_conn *c, struct tcp_seg *seg)
{
    struct tapir_stack *st = c->st;
    uint32_t wnd = tcp_rcv_window(c);
    /* First: is the segment in the window? If not, an ACK (unless it was a RST) and drop. */
    if (c->state == TCP_SYN_RECEIVED && seg->seq == c->irs &&
        (seg->flags & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK)) {
        /* Simultaneous open: the peer's SYN,ACK. Its SYN we have; take its ACK (RFC 9293
         * §3.5 figure 8), as if the SYN had been trimmed off as old. */
        seg->seq++;
        seg->flags &= (uint8_t)~TCP_SYN;
    }
    if (tcp_paws_reject(c, seg)) {
        st->stats.tcp.drop_paws++;
        if (!(seg->flags & TCP_RST) && !tcp_oow_ack_limited(c, seg))
            tcp_send_ack(c); /* RFC 7323 §5.3 R1: an ACK, and drop it */
        return;
    }
    if (!tcp_seq_acceptable(c, seg, wnd)) {
        if (c->state == TCP_SYN_RECEIVED && (seg->flags & TCP_SYN) && seg->seq == c->irs) {
            c->snd_nxt = c->iss; /* the peer never got our SYN,ACK: send it again now */
            return tcp_output(c);
        }
        st->stats.tcp.drop_out_of_window++;
        if (seg->len && seq_le(seg->seq + seg->len, c->rcv_nxt))
            tcp_dsack_note(c, seg->seq, seg->seq + seg->len); /* all of it had already */
        if (c->state == TCP_TIME_WAIT && (seg->flags & TCP_FIN))
            tcp_enter_time_wait(c); /* a retransmitted FIN restarts the 2*MSL */
        if (!(seg->flags & TCP_RST) && !tcp_oow_ack_limited(c, seg))
            tcp_send_ack(c);
        return;
    }
    c->last_rx_us = st->now_us; /* the peer is alive: keepalive starts counting again */
    c->keep_probes = 0;
    c->segs_in++;
    /* Trim to the window: bytes before rcv_nxt were had already, bytes past the window
     * cannot be taken (and a FIN after them is not yet for us). */
    uint32_t seq = seg->seq;
    const uint8_t *data = seg->data;
    uint32_t len = seg->len;
    if (seg->flags & TCP_SYN) {
        if (seq_lt(seq, c->rcv_nxt))
            seq++; /* the SYN itself is old */
    }
    if (seq_lt(seq, c->rcv_nxt)) {
        uint32_t cut = c->rcv_nxt - seq;
        cut = cut < len ? cut : len;
        if (cut)
            tcp_dsack_note(c, seq, seq + cut); /* the front of it had already */
        data += cut;
        len -= cut;
        seq += cut;
    }
    uint32_t room = c->rcv_nxt + wnd - seq;
    bool fin = seg->flags & TCP_FIN;
    if (len > room) {
        len = room;
        fin = false;
        c->ack_now = true; /* what did not fit must be sent again: say where we are */
        st->stats.tcp.drop_out_of_window++;
    }
    /* Second: RST. */
    if (seg->flags & TCP_RST)
        return tcp_rst_input(c, seg);
    /* Third: security and precedence, skipped (no IP security option handling). */
    /* Fourth: a SYN in a synchronized state, RFC 5961 §4: a challenge ACK, never a reset. */
    if ((seg->flags & TCP_SYN) && c->state != TCP_SYN_RECEIVED) {
        st->stats.tcp.rx_syn_in_window++;
        tcp_challenge_ack(c);
        return;
    }
    /* Fifth: ACK. Without it the segment is dropped. */
    if (!(seg->flags & TCP_ACK))
        return;
    enum ack_next next = tcp_ack_state_step(c, seg);
    if (next == ACK_GONE || next == ACK_DROP)
        return;
    if (next == ACK_STOP)
        return tcp_output(c);
    /* Sixth: URG. tapir has no urgent mode (RFC 6093 advises against it); the data is
     * taken as ordinary data. */
    tcp_text_and_fin(c, seq, data, len, fin);
    tcp_output(c);
}

/* RFC 9293 §3.10.7.4 and RFC 6191: a SYN with a higher sequence number may reopen a
 * connection in TIME_WAIT; the old incarnation gives way to the listener. */
static bool tcp_time_wait_reopen(struct tcp_conn *c, const struct tcp_seg *seg)
{
    if (c->state != TCP_TIME_WAIT || (seg->flags & (TCP_SYN | TCP_ACK | TCP_RST)) != TCP_SYN ||
        !seq_gt(seg->seq, c->rcv_nxt))
        return false;
    c->st->stats.tcp.time_wait_reopened++;
    tcp_done(c, 0);
    return true;
}

void tcp_input(struct tapir_stack *st, struct pkb *p, const struct ip_in *ip)
{
    struct tcp_seg seg;
    st->stats.tcp.rx_segments++;
    if (!tcp_parse(st, p, ip, &seg))
        return;
    tcp_trace_in(st, &seg);
    if (ip->to_broadcast) /* RFC 1122 §4.2.3.10: not for a connection */
        return tcp_drop(st, p, &st->stats.tcp.drop_broadcast, "to a broadcast address");
    struct tcp_conn *c = tcp_lookup(st, seg.dst, seg.dport, seg.src, seg.sport);
    if (c && tcp_time_wait_reopen(c, &seg))
        c = NULL;
    if (c && c->state == TCP_SYN_SENT)
        tcp_syn_sent_input(c, &seg);
    else if (c)
        tcp_established_input(c, &seg);
    else {
        struct tapir_sock *ls = sock_tcp_listener(st, seg.dst, seg.dport);
        if (ls) {
            tcp_listen_input(st, ls, &seg);
        } else {
            /* §3.10.7.1 CLOSED: everything but a RST gets a RST. */
            if (!(seg.flags & TCP_RST))
                st->stats.tcp.rx_no_conn++;
            tcp_send_reset_for(st, &seg);
        }
    }
    pkb_free(st, p);
}
