/* SPDX-License-Identifier: MIT */
/* tcp_rack.c: RACK-TLP (RFC 8985), loss detection by time for connections with SACK.
 *
 * RFC 6675 calls a segment lost when three segments' worth above it have been SACKed. A
 * window of two or three segments never gathers that, and neither does the last segment of a
 * flight, so both used to wait for the retransmission timer (200 ms or more, where the round
 * trip is 10 ms). RACK asks instead: has a segment sent *after* this one been delivered, and
 * has a reordering window passed since? Then this one is lost. The tail loss probe (TLP)
 * covers the case where nothing after the loss gets through: two round trips after the last
 * ACK, one segment goes out (new data, or the last segment again), so that its ACK brings a
 * SACK for RACK to act on.
 *
 * Send times: a ring of marks, each "new data up to `end` went out at xmit_us". Segments sent
 * in one call share a mark. New data goes out in sequence order, so the marks are sorted both
 * by end and by time, and "which of the unSACKed bytes are lost" has one answer: those below
 * rack_lost_end. A retransmission is not marked; RFC 8985 §6.2 step 2 would have us guess
 * whether an ACK was for it or for the original, and we simply take neither. When the ring
 * is full its newest mark takes the newest data and time: older data then looks sent later,
 * which can only make RACK wait longer, never call a segment lost too early. */
#include "core.h"
#include "tcp.h"

#define RACK_REO_PERSIST 16u /* §6.2 step 4: recoveries before reo_wnd_mult resets */

static struct tcp_tx_mark *mark_at(struct tcp_conn *c, unsigned i)
{
    return &c->tx_marks[(c->tx_head + i) % TCP_TX_MARKS];
}

/* Marks wholly acknowledged go. */
static void marks_trim(struct tcp_conn *c)
{
    while (c->tx_count && seq_le(mark_at(c, 0)->end, c->snd_una)) {
        c->tx_head = (c->tx_head + 1) % TCP_TX_MARKS;
        c->tx_count--;
    }
}

void tcp_rack_sent(struct tcp_conn *c, uint32_t end)
{
    uint64_t now = c->st->now_us;
    marks_trim(c);
    struct tcp_tx_mark *last = c->tx_count ? mark_at(c, c->tx_count - 1) : NULL;
    if (last && (last->xmit_us == now || c->tx_count == TCP_TX_MARKS)) {
        last->end = end;
        last->xmit_us = now;
        return;
    }
    c->tx_count++;
    *mark_at(c, c->tx_count - 1) = (struct tcp_tx_mark){.end = end, .xmit_us = now};
}

/* The first mark whose data reaches past seq (binary search), or tx_count for none. */
static unsigned mark_find(struct tcp_conn *c, uint32_t seq)
{
    unsigned lo = 0, hi = c->tx_count;
    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;
        if (seq_gt(mark_at(c, mid)->end, seq))
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

uint64_t tcp_rack_reo_wnd_us(const struct tcp_conn *c)
{
    /* RFC 8985 §6.2 step 4: min_RTT / 4 per multiplier, at most SRTT. */
    uint64_t wnd = c->rtt_min_us / 4 * (c->reo_wnd_mult ? c->reo_wnd_mult : 1);
    return wnd < c->srtt_us ? wnd : c->srtt_us;
}

/* §6.2 step 2: the newest of what this ACK delivered, if we know when it was sent. Only the
 * highest delivered byte matters: first transmissions grow in time with the sequence. */
static void rack_update(struct tcp_conn *c, const struct tcp_seg *seg)
{
    uint32_t high = seg->ack;
    for (unsigned k = 0; k < seg->sack_count; k++) {
        const struct tcp_sack_block *b = &seg->sack[k];
        if (seq_lt(b->start, b->end) && seq_le(b->end, c->snd_max) && seq_gt(b->end, high))
            high = b->end;
    }
    if (!seq_gt(high, c->snd_una))
        return; /* nothing above what was already acknowledged */
    uint32_t last = high - 1;
    if (c->in_recovery && seq_lt(last, c->high_rxt))
        return; /* retransmitted: which copy arrived is unknown */
    unsigned i = mark_find(c, last);
    if (i == c->tx_count)
        return; /* a FIN past the data, or sent before the marks began */
    uint64_t xmit = mark_at(c, i)->xmit_us;
    if (xmit > c->rack_xmit_us || (xmit == c->rack_xmit_us && seq_gt(high, c->rack_end))) {
        c->rack_xmit_us = xmit;
        c->rack_end = high;
        c->rack_rtt_us = c->st->now_us - xmit;
    }
}

/* §6.2 step 5, RACK_detect_loss: a segment sent before RACK's (earlier, or as early but
 * lower) is lost once RACK.rtt + reo_wnd has passed since it went. The lost ones form a
 * prefix of the marks; for the first one not yet due, the timer waits. */
static void rack_detect(struct tcp_conn *c)
{
    if (!c->rack_xmit_us)
        return;
    uint64_t now = c->st->now_us, reo = tcp_rack_reo_wnd_us(c);
    if (seq_lt(c->rack_lost_end, c->snd_una))
        c->rack_lost_end = c->snd_una;
    /* Marks below rack_lost_end were found lost already: start after them. */
    for (unsigned i = mark_find(c, c->rack_lost_end); i < c->tx_count; i++) {
        const struct tcp_tx_mark *m = mark_at(c, i);
        if (m->xmit_us > c->rack_xmit_us)
            break; /* sent after RACK's segment: nothing to say yet */
        uint32_t end = m->xmit_us == c->rack_xmit_us ? c->rack_end : m->end;
        if (!seq_gt(end, c->snd_una))
            continue;
        uint64_t due_us = m->xmit_us + c->rack_rtt_us + reo;
        if (due_us > now) {
            timer_arm(c->st, &c->rack_timer, due_us);
            return;
        }
        if (seq_gt(end, c->rack_lost_end))
            c->rack_lost_end = end;
        if (m->xmit_us == c->rack_xmit_us)
            break;
    }
}

/* RFC 8985 §7.4: the probe has been acknowledged. If it was a retransmission and no D-SACK
 * said both copies arrived, it repaired a loss, and congestion control must hear of it as of
 * any other loss. */
static void tlp_settle(struct tcp_conn *c, const struct tcp_seg *seg)
{
    if (!c->tlp_out || seq_lt(seg->ack, c->tlp_end))
        return;
    c->tlp_out = false;
    if (c->tlp_rxt && c->dsacks == c->tlp_dsacks && !c->in_recovery) {
        c->ssthresh = c->cc->ssthresh(c);
        c->cwnd = c->ssthresh;
        c->bytes_acked = 0;
        c->st->stats.tcp.tlp_repairs++;
        char a[IP_STR_LEN];
        tapir_trace(c->st, TAPIR_TRACE_TCP, "tcp %s:%u tail loss repaired: cwnd %u ssthresh %u",
                    ip_str(c->remote_addr, a), c->remote_port, c->cwnd, c->ssthresh);
    }
}

/* §6.2 step 4: a D-SACK says a retransmission was needless, so reordering is wider than
 * the window assumed: widen it by one min_RTT/4, at most once a round trip, and keep it wide
 * for the next 16 recoveries. */
static void rack_widen_on_dsack(struct tcp_conn *c)
{
    if (c->dsacks == c->rack_dsacks_seen)
        return;
    c->rack_dsacks_seen = c->dsacks;
    uint64_t now = c->st->now_us;
    if (c->reo_wnd_bump_us && now - c->reo_wnd_bump_us < c->srtt_us)
        return;
    c->reo_wnd_bump_us = now;
    if (c->reo_wnd_mult < 2)
        c->reo_wnd_mult = 2;
    else if (c->reo_wnd_mult < 64)
        c->reo_wnd_mult++;
    c->reo_wnd_persist = RACK_REO_PERSIST;
}

void tcp_rack_recovery_done(struct tcp_conn *c)
{
    if (c->reo_wnd_persist && --c->reo_wnd_persist == 0)
        c->reo_wnd_mult = 1;
}

void tcp_rack_ack(struct tcp_conn *c, const struct tcp_seg *seg)
{
    if (!c->sack_ok)
        return;
    rack_widen_on_dsack(c);
    marks_trim(c);
    rack_update(c, seg);
    rack_detect(c);
    tlp_settle(c, seg);
}

bool tcp_rack_rxt_lost(struct tcp_conn *c)
{
    /* The caller knows something sent after the retransmission (in the same call at the
     * latest) was SACKed: RACK's time is the retransmission's or later. */
    if (c->rack_xmit_us < c->rxt_us)
        return false;
    uint64_t due_us = c->rxt_us + c->rack_rtt_us + tcp_rack_reo_wnd_us(c);
    if (due_us <= c->st->now_us)
        return true;
    if (!timer_armed(&c->rack_timer) || c->rack_timer.deadline_us > due_us)
        timer_arm(c->st, &c->rack_timer, due_us);
    return false;
}

void tcp_rack_timer_fire(struct tapir_stack *st, struct tapir_timer *t)
{
    (void)st;
    struct tcp_conn *c = (struct tcp_conn *)((char *)t - offsetof(struct tcp_conn, rack_timer));
    rack_detect(c);
    tcp_cc_after_ack(c); /* as if an ACK had come: a recovery begins, or goes on */
    tcp_output(c);
}

void tcp_rack_reset(struct tcp_conn *c)
{
    c->tlp_out = c->tlp_armed = false;
    if (timer_armed(&c->rack_timer))
        timer_cancel(c->st, &c->rack_timer);
}

/* §7.2: a probe is scheduled for data in flight, outside recovery (which has its own ways),
 * once a round trip has been measured, one probe at a time, and not while the peer's window
 * is shut (the persist timer's business). */
static bool tlp_allowed(const struct tcp_conn *c)
{
    switch (c->state) {
    case TCP_ESTABLISHED:
    case TCP_CLOSE_WAIT:
    case TCP_FIN_WAIT_1:
    case TCP_CLOSING:
    case TCP_LAST_ACK: break;
    default: return false;
    }
    return c->sack_ok && c->srtt_us && !c->in_recovery && !c->tlp_out && !c->retries &&
           c->snd_wnd && c->snd_una != c->snd_max;
}

uint64_t tcp_tlp_timeout_us(const struct tcp_conn *c)
{
    if (!tlp_allowed(c))
        return 0;
    /* §7.2: PTO = 2 SRTT, plus the peer's worst delayed ACK when only one segment is out. */
    uint64_t pto = 2 * c->srtt_us;
    if (c->snd_max - c->snd_una <= tcp_smss(c))
        pto += TCP_TLP_DELACK_US;
    return pto > TCP_TLP_MIN_US ? pto : TCP_TLP_MIN_US;
}

void tcp_tlp_schedule(struct tcp_conn *c)
{
    uint64_t pto_us = tcp_tlp_timeout_us(c);
    if (!pto_us)
        return;
    uint64_t at_us = c->st->now_us + pto_us;
    /* Never later than the retransmission timer that is running (or would be). */
    uint64_t rto_at_us = timer_armed(&c->rexmit) && !c->tlp_armed ? c->rexmit.deadline_us
                                                                   : c->st->now_us + c->rto_us;
    if (at_us >= rto_at_us)
        return;
    c->tlp_armed = true;
    timer_arm(c->st, &c->rexmit, at_us);
}

/* §7.3: send one segment regardless of cwnd: new data if the peer's window takes it, else
 * the last segment sent once more. Then the retransmission timer takes over. */
void tcp_tlp_fire(struct tcp_conn *c)
{
    uint32_t smss = tcp_smss(c), before = c->snd_max;
    uint32_t cwnd = c->cwnd;
    bool force = c->force_one;
    c->cwnd = (c->snd_nxt - c->snd_una) + smss; /* room for exactly one more segment */
    c->force_one = true;                        /* and Nagle may not hold it */
    tcp_output_segments(c, 1);
    c->cwnd = cwnd;
    c->force_one = force;
    c->tlp_rxt = c->snd_max == before;
    if (c->tlp_rxt) {
        uint32_t len = c->snd_max - c->snd_una < smss ? c->snd_max - c->snd_una : smss;
        tcp_retransmit(c, c->snd_max - len, len);
    }
    c->tlp_out = true;
    c->tlp_end = c->snd_max;
    c->tlp_dsacks = c->dsacks;
    c->st->stats.tcp.tlp_probes++;
    char a[IP_STR_LEN];
    tapir_trace(c->st, TAPIR_TRACE_TCP, "tcp %s:%u tail loss probe: %s, seq %u",
                ip_str(c->remote_addr, a), c->remote_port,
                c->tlp_rxt ? "the last segment again" : "new data", c->tlp_end - c->iss);
    tcp_arm_rexmit(c);
}
