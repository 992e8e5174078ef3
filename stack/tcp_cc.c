/* SPDX-License-Identifier: MIT */
/* tcp_cc.c: congestion control (RFC 5681) and loss recovery. The algorithm, an ops table
 * (Reno here; CUBIC, RFC 9438, beside it), decides how cwnd grows in congestion avoidance
 * and where ssthresh falls on a loss. Everything else is shared: slow start with appropriate
 * byte counting (RFC 3465), the initial window (RFC 6928), cwnd after idle (RFC 5681 §4.1),
 * fast retransmit on the third duplicate ACK, then NewReno's recovery (RFC 6582) or, when
 * SACK is on, RFC 6675's conservative recovery driven by the scoreboard (tcp_sack.c). */
#include <string.h>

#include "core.h"
#include "tcp.h"

#define TCP_SSTHRESH_INFINITE 0x7fffffffu /* "arbitrarily high" (RFC 5681 §3.1) */

/* ---- Reno (RFC 5681) ---------------------------------------------------------------------- */

/* RFC 5681 §3.2 equation (4): ssthresh = max(FlightSize / 2, 2 * SMSS). */
static uint32_t reno_ssthresh(struct tcp_conn *c)
{
    uint32_t flight = c->snd_max - c->snd_una, two = 2u * tcp_smss(c);
    return flight / 2 > two ? flight / 2 : two;
}

/* RFC 5681 §3.1 and RFC 3465 §2.1: one SMSS per cwnd's worth of bytes acknowledged. */
static void reno_cong_avoid(struct tcp_conn *c, uint32_t acked)
{
    c->bytes_acked += acked;
    if (c->bytes_acked >= c->cwnd) {
        c->bytes_acked -= c->cwnd;
        c->cwnd += tcp_smss(c);
    }
}

static void reno_init(struct tcp_conn *c) { (void)c; }

static const struct tcp_cc_ops tcp_cc_reno = {
    .name = "reno",
    .init = reno_init,
    .cong_avoid = reno_cong_avoid,
    .ssthresh = reno_ssthresh,
};

/* ---- CUBIC (RFC 9438) ---------------------------------------------------------------------- */

#define CUBIC_C 0.4     /* RFC 9438 §5: segments per second cubed */
#define CUBIC_BETA 0.7  /* multiplicative decrease */

static double cube_root(double x)
{
    if (x <= 0)
        return 0;
    double r = x > 1 ? x / 3 : 1;
    for (int i = 0; i < 40; i++) /* Newton's method: converges long before this */
        r = (2 * r + x / (r * r)) / 3;
    return r;
}

static void cubic_init(struct tcp_conn *c) { memset(&c->cc_state.cubic, 0, sizeof(c->cc_state.cubic)); }

static void cubic_restart(struct tcp_conn *c) { c->cc_state.cubic.epoch_us = 0; }

/* RFC 9438 §4.6-§4.7: remember where the loss happened (lower, for fast convergence, if it
 * is below the last such point), and fall to beta * cwnd. */
static uint32_t cubic_ssthresh(struct tcp_conn *c)
{
    struct tcp_cubic_state *s = &c->cc_state.cubic;
    uint32_t cwnd = c->cwnd, two = 2u * tcp_smss(c);
    s->w_max = cwnd < s->w_max ? (uint32_t)(cwnd * (1 + CUBIC_BETA) / 2) : cwnd;
    s->epoch_us = 0;
    uint32_t next = (uint32_t)(cwnd * CUBIC_BETA);
    return next > two ? next : two;
}

/* RFC 9438 §4.2-§4.4: W_cubic(t) = C (t - K)^3 + W_max, aimed at one RTT ahead, never below
 * the Reno-friendly estimate W_est. Units: bytes, and SMSS-sized segments in the formula. */
static void cubic_cong_avoid(struct tcp_conn *c, uint32_t acked)
{
    struct tcp_cubic_state *s = &c->cc_state.cubic;
    double smss = tcp_smss(c), cwnd = c->cwnd;
    uint64_t now = c->st->now_us;
    if (!s->epoch_us) {
        s->epoch_us = now;
        s->w_est = c->cwnd;
        if (c->cwnd < s->w_max) {
            s->k_us = (uint64_t)(cube_root((s->w_max - cwnd) / smss / CUBIC_C) * 1e6);
            s->origin = s->w_max;
        } else {
            s->k_us = 0;
            s->origin = c->cwnd;
        }
    }
    double t = (double)(now - s->epoch_us + c->srtt_us) / 1e6 - (double)s->k_us / 1e6;
    double target = s->origin + CUBIC_C * t * t * t * smss;
    if (target > 1.5 * cwnd)
        target = 1.5 * cwnd; /* §4.4: at most half again per RTT */
    /* §4.3: alpha = 3 (1 - beta) / (1 + beta) segments per RTT, as Reno would grow. */
    s->w_est += (uint32_t)(3 * (1 - CUBIC_BETA) / (1 + CUBIC_BETA) * acked * smss / cwnd);
    if (s->w_est > target)
        target = s->w_est;
    if (target > cwnd)
        c->cwnd += (uint32_t)((target - cwnd) * acked / cwnd);
}

static const struct tcp_cc_ops tcp_cc_cubic = {
    .name = "cubic",
    .init = cubic_init,
    .cong_avoid = cubic_cong_avoid,
    .ssthresh = cubic_ssthresh,
    .restart = cubic_restart,
};

static const struct tcp_cc_ops *const cc_all[] = {&tcp_cc_reno, &tcp_cc_cubic};

const struct tcp_cc_ops *tcp_cc_find(const char *name)
{
    for (size_t i = 0; i < sizeof(cc_all) / sizeof(cc_all[0]); i++)
        if (name && strcmp(cc_all[i]->name, name) == 0)
            return cc_all[i];
    return NULL;
}

/* ---- What every algorithm shares ---------------------------------------------------------- */

static void cc_trace(struct tcp_conn *c, const char *why)
{
    if (!tapir_tracing(c->st, TAPIR_TRACE_TCP))
        return;
    char a[IP_STR_LEN];
    tapir_trace(c->st, TAPIR_TRACE_TCP, "tcp %s:%u %s: cwnd %u ssthresh %u flight %u%s",
                ip_str(c->remote_addr, a), c->remote_port, why, c->cwnd,
                c->ssthresh >= TCP_SSTHRESH_INFINITE ? 0u : c->ssthresh,
                c->snd_max - c->snd_una, c->sack_ok ? " (sack)" : "");
}

/* RFC 6928 §2: IW = min(10 * MSS, max(2 * MSS, 14600)). */
uint32_t tcp_initial_window(const struct tcp_conn *c)
{
    uint32_t mss = tcp_smss(c), iw = c->st->cfg.tcp_initial_cwnd_segments * mss;
    uint32_t floor = 2 * mss > 14600u ? 2 * mss : 14600u;
    return iw < floor ? iw : floor;
}

void tcp_cc_init(struct tcp_conn *c)
{
    if (!c->cc)
        c->cc = tcp_cc_find(c->st->cfg.tcp_congestion);
    if (!c->cc)
        c->cc = &tcp_cc_reno;
    c->cwnd = tcp_initial_window(c);
    c->ssthresh = TCP_SSTHRESH_INFINITE;
    c->bytes_acked = 0;
    c->dupacks = 0;
    c->in_recovery = false;
    c->recover = c->snd_una;
    c->rack_lost_end = c->snd_una; /* nothing is lost yet (and 0 would be mid-sequence) */
    memset(&c->cc_state, 0, sizeof(c->cc_state));
    c->cc->init(c);
}

/* RFC 5681 §4.1 (as RFC 7661 leaves it for a sender not tracking pipe): after an idle
 * period longer than the RTO, cwnd falls back to the initial window. */
void tcp_cc_before_send(struct tcp_conn *c)
{
    if (c->snd_max != c->snd_una || !c->last_send_us ||
        c->st->now_us - c->last_send_us <= c->rto_us)
        return;
    uint32_t iw = tcp_initial_window(c);
    if (c->cwnd > iw) {
        c->cwnd = iw;
        c->bytes_acked = 0;
        if (c->cc->restart)
            c->cc->restart(c);
        cc_trace(c, "idle restart");
    }
}

/* Bytes cwnd lets us add to the network now. */
uint32_t tcp_cwnd_room(const struct tcp_conn *c)
{
    uint32_t flight = c->in_recovery && c->sack_ok ? c->pipe : c->snd_nxt - c->snd_una;
    uint32_t cwnd = c->cwnd;
    /* RFC 3042 limited transmit: the first two duplicate ACKs each let one new segment out. */
    if (!c->in_recovery && c->dupacks && c->dupacks < TCP_DUPTHRESH)
        cwnd += c->dupacks * (uint32_t)tcp_smss(c);
    return cwnd > flight ? cwnd - flight : 0;
}

/* Sends [seq, seq + len) again: data from the send ring, and the FIN if it is in range. */
void tcp_retransmit(struct tcp_conn *c, uint32_t seq, uint32_t len)
{
    uint32_t data_end = c->snd_una + c->sndq.len;
    uint32_t n = seq_lt(seq, data_end) ? data_end - seq : 0;
    uint32_t room = tcp_smss(c) - tcp_sack_option_len(c); /* as new data: no IP fragments */
    if (len > room)
        len = room;
    if (n > len)
        n = len;
    bool fin = c->fin_sent && seq + n == c->fin_seq && seq_lt(c->fin_seq, seq + len + 1) &&
               seq_lt(c->fin_seq, c->snd_max);
    if (n == 0 && !fin)
        return;
    uint8_t flags = TCP_ACK | (fin ? TCP_FIN : 0) | (n ? TCP_PSH : 0);
    if (tcp_send_segment(c, seq, flags, seq - c->snd_una, n) < 0)
        return;
    c->rtt_timing = false; /* Karn: no sample from a segment sent twice */
    c->rexmit_segs++;
    c->rexmit_bytes += n;
    c->st->stats.tcp.rexmit_segments++;
    c->undo_retrans++;
    uint32_t end = seq + n + (fin ? 1u : 0u);
    if (c->in_recovery && c->sack_ok) {
        if (seq_gt(end, c->high_rxt))
            c->high_rxt = end;
        c->pipe += end - seq;
    }
    if (seq == c->snd_una) {
        c->rxt_mark = c->snd_max;
        c->rxt_us = c->st->now_us;
    }
    if (!timer_armed(&c->rexmit))
        tcp_arm_rexmit(c);
}

/* A loss episode begins: remember what to go back to if it turns out there was none. */
static void undo_begin(struct tcp_conn *c)
{
    c->undo_ok = true;
    c->undo_marker = c->snd_una;
    c->undo_retrans = 0;
    c->prior_cwnd = c->cwnd;
    c->prior_ssthresh = c->ssthresh;
}

/* Every retransmission of the episode arrived twice: nothing was lost, the cut was needless.
 * Go back to the window from before it. (Only outside recovery: a recovery under way goes on
 * repairing holes, and its end decides.) */
static bool undo_if_spurious(struct tcp_conn *c)
{
    if (!c->undo_ok || c->undo_retrans > 0 || c->in_recovery)
        return false;
    c->undo_ok = false;
    if (c->cwnd < c->prior_cwnd)
        c->cwnd = c->prior_cwnd;
    if (c->ssthresh < c->prior_ssthresh)
        c->ssthresh = c->prior_ssthresh;
    c->st->stats.tcp.spurious_undos++;
    cc_trace(c, "undo (the retransmissions were needless)");
    return true;
}

void tcp_cc_dsack(struct tcp_conn *c, uint32_t start, uint32_t end)
{
    (void)end;
    if (!c->undo_ok || seq_lt(start, c->undo_marker))
        return;
    c->undo_retrans--;
    undo_if_spurious(c);
}

/* RFC 6675 §5 step (4) / RFC 6582 §3.2 step 2: the third duplicate ACK (or, with SACK, a
 * lost snd_una): halve, retransmit the first lost segment, and recover until `recover`. */
static void tcp_enter_recovery(struct tcp_conn *c)
{
    uint32_t smss = tcp_smss(c);
    undo_begin(c);
    c->ssthresh = c->cc->ssthresh(c);
    c->recover = c->snd_max;
    c->in_recovery = true;
    c->bytes_acked = 0;
    c->high_rxt = c->snd_una;
    c->fast_retransmits++;
    c->st->stats.tcp.fast_retransmits++;
    if (c->sack_ok) {
        c->cwnd = c->ssthresh;
        c->pipe = tcp_sack_pipe(c);
    } else {
        c->cwnd = c->ssthresh + TCP_DUPTHRESH * smss; /* RFC 5681 §3.2 step 3: inflate */
    }
    cc_trace(c, "fast retransmit");
    tcp_retransmit(c, c->snd_una, smss);
    /* A probe outstanding is now the recovery's business; a probe timer becomes an RTO. */
    c->tlp_out = false;
    if (c->tlp_armed)
        tcp_arm_rexmit(c);
}

void tcp_cc_loss_check(struct tcp_conn *c)
{
    /* RFC 8985 §6.2 step 5 and RFC 6675 §5: a segment known lost starts a recovery, unless
     * one is under way or the loss is from before the last one (RFC 6582 §3.2 step 1). */
    if (!c->sack_ok || c->in_recovery || c->snd_una == c->snd_max ||
        !seq_ge(c->snd_una, c->recover) || !tcp_sack_is_lost(c, c->snd_una))
        return;
    if (seq_lt(c->snd_una, c->rack_lost_end))
        c->st->stats.tcp.rack_recoveries++;
    tcp_enter_recovery(c);
}

void tcp_cc_dupack(struct tcp_conn *c)
{
    c->dupacks++;
    if (c->in_recovery) {
        if (!c->sack_ok)
            c->cwnd += tcp_smss(c); /* RFC 5681 §3.2 step 4: each one means a segment left */
        return;
    }
    /* RFC 6582 §3.2 step 1: not again for losses from before the last recovery (or
     * timeout): only once the cumulative ACK has passed `recover`. */
    if (!seq_ge(c->snd_una, c->recover))
        return;
    /* Once reordering has been seen on a SACK connection, counting duplicate ACKs no longer
     * proves a loss: RACK's clock decides (RFC 8985 §6.2), through IsLost. */
    bool count_says = c->dupacks >= TCP_DUPTHRESH && !(c->sack_ok && c->rack_reord);
    if (count_says || (c->sack_ok && tcp_sack_is_lost(c, c->snd_una)))
        tcp_enter_recovery(c);
}

/* Recovery is over: the ACK has passed `recover`. RFC 6582 §3.2 step 3 option (1) and
 * RFC 6675: cwnd comes down to ssthresh, or to what is in flight plus one segment. After a
 * timeout, cwnd has been growing from one segment in slow start and stays as it is. */
static void tcp_exit_recovery(struct tcp_conn *c)
{
    uint32_t flight = c->snd_max - c->snd_una, smss = tcp_smss(c);
    uint32_t floor = (flight > smss ? flight : smss) + smss;
    if (!c->rto_recovery)
        c->cwnd = c->ssthresh < floor || c->sack_ok ? c->ssthresh : floor;
    c->in_recovery = c->rto_recovery = false;
    c->dupacks = 0;
    c->high_rxt = c->snd_una;
    tcp_rack_recovery_done(c);
    cc_trace(c, "recovered");
    undo_if_spurious(c); /* the D-SACKs came before the end */
}

/* Recovery goes on after an ACK that moved snd_una. */
static void tcp_partial_ack(struct tcp_conn *c, uint32_t acked)
{
    uint32_t smss = tcp_smss(c);
    if (!c->sack_ok) {
        /* RFC 6582 §3.2 step 5: retransmit the next hole, deflate by what was acknowledged,
         * then add back one segment if it was at least that. */
        tcp_retransmit(c, c->snd_una, smss);
        c->cwnd = c->cwnd > acked ? c->cwnd - acked : smss;
        if (acked >= smss)
            c->cwnd += smss;
        return;
    }
}

/* With SACK, in recovery, after every ACK: if data sent after snd_una's retransmission has
 * been SACKed, that retransmission was lost too: start over from snd_una. */
static void tcp_sack_recovery_ack(struct tcp_conn *c)
{
    /* Something sent after the retransmission has been SACKed, and either the count says
     * snd_una is lost or RACK's clock does (RFC 8985 §6.2: the reordering window has passed
     * since the retransmission went). */
    if (seq_gt(c->high_rxt, c->snd_una) && seq_gt(tcp_sack_high(c), c->rxt_mark) &&
        (tcp_sack_dupthresh_lost(c, c->snd_una) || tcp_rack_rxt_lost(c))) {
        c->high_rxt = c->snd_una;
        c->st->stats.tcp.lost_retransmits++;
    }
    c->pipe = tcp_sack_pipe(c);
}

void tcp_cc_ack(struct tcp_conn *c, uint32_t acked, uint32_t flight_before)
{
    if (c->in_recovery) {
        bool after_timeout = c->rto_recovery;
        if (seq_ge(c->snd_una, c->recover))
            tcp_exit_recovery(c);
        else if (!after_timeout)
            tcp_partial_ack(c, acked);
        if (!after_timeout)
            return;
        /* After a timeout the repair runs in slow start: cwnd grows as ACKs come. */
    }
    c->dupacks = 0;
    /* `recover` trails snd_una outside recovery, so that after 2 GiB without a loss the
     * modular comparison with it still reads "passed" (RFC 6582 §3.2 step 1). */
    if (seq_gt(c->snd_una, c->recover))
        c->recover = c->snd_una;
    /* RFC 7661's spirit: a sender that did not use its window learns nothing about it. */
    if (flight_before * 2 < c->cwnd)
        return;
    if (c->cwnd < c->ssthresh) {
        /* Slow start: RFC 3465 §2.2 with L = 2 * SMSS. */
        uint32_t limit = 2u * tcp_smss(c);
        c->cwnd += acked < limit ? acked : limit;
        if (c->cwnd >= c->ssthresh)
            cc_trace(c, "slow start ends");
        return;
    }
    c->cc->cong_avoid(c, acked);
}

void tcp_cc_after_ack(struct tcp_conn *c)
{
    if (c->in_recovery && c->sack_ok)
        tcp_sack_recovery_ack(c);
    else
        tcp_cc_loss_check(c);
}

/* RFC 5681 §3.1 and RFC 6298 §5: a timeout. ssthresh falls (once per loss: not again for a
 * segment already retransmitted by the timer) and cwnd to one segment. Without SACK,
 * everything past snd_una goes again in slow start (the caller rewinds snd_nxt). With SACK,
 * the scoreboard is kept (RFC 6675 §5.1) and a recovery starts in which every unSACKed byte
 * sent so far counts as lost: only the holes are sent again, as cwnd allows. A second timeout
 * in a row forgets the SACKs (RFC 2018 §8: the receiver may have reneged). */
void tcp_cc_timeout(struct tcp_conn *c)
{
    if (c->retries <= 1) {
        undo_begin(c);
        c->ssthresh = c->cc->ssthresh(c);
    }
    c->cwnd = tcp_smss(c);
    c->bytes_acked = 0;
    c->dupacks = 0;
    c->recover = c->snd_max;
    c->high_rxt = c->snd_una;
    c->rtt_timing = false;
    if (c->retries > 1)
        tcp_sack_clear(c);
    tcp_rack_reset(c);
    c->in_recovery = c->rto_recovery = c->sack_ok;
    if (c->sack_ok)
        c->pipe = tcp_sack_pipe(c);
    cc_trace(c, "timeout");
}
