/* SPDX-License-Identifier: MIT */
/* tcp_sack.c: selective acknowledgments (RFC 2018) on both sides. As a receiver, the SACK
 * blocks our ACKs carry come from the out-of-order ranges, newest first. As a sender, the
 * scoreboard remembers what the peer has SACKed above snd_una, and answers RFC 6675's
 * questions: is this sequence number lost (IsLost), how much is in the network (SetPipe),
 * what goes next in recovery (NextSeg). The scoreboard is a small sorted array of disjoint
 * ranges: a few dozen at most, so a walk over it is cheap. */
#include <string.h>

#include "core.h"
#include "tcp.h"

/* ---- The receiver: blocks for our ACKs ------------------------------------------------- */

unsigned tcp_sack_blocks_out(const struct tcp_conn *c, struct tcp_sack_block *out, unsigned max)
{
    /* RFC 2883 §4: a D-SACK goes first, once. RFC 2018 §4: then the block holding the
     * segment that arrived last, and the rest repeat the most recent ones (tcp_ooo_add
     * keeps the ranges in that order). */
    unsigned n = 0;
    if (c->dsack_pending && max)
        out[n++] = c->dsack;
    for (unsigned i = 0; i < c->ooo_count && n < max; i++, n++) {
        out[n].start = c->rcv_nxt + c->ooo[i].start;
        out[n].end = c->rcv_nxt + c->ooo[i].end;
    }
    return n;
}

/* ---- The sender: the scoreboard --------------------------------------------------------- */

void tcp_sack_clear(struct tcp_conn *c)
{
    c->sacked_count = 0;
    c->sacked_bytes = 0;
}

static void sack_recount(struct tcp_conn *c)
{
    uint32_t total = 0;
    for (unsigned i = 0; i < c->sacked_count; i++)
        total += c->sacked[i].end - c->sacked[i].start;
    c->sacked_bytes = total;
}

/* Adds [start, end) to the sorted list, merging what it touches. Returns true if any byte
 * was new. When the list is full the highest range gives way: forgetting a SACK costs at
 * most a needless retransmission. */
static bool sack_insert(struct tcp_conn *c, uint32_t start, uint32_t end)
{
    struct tcp_sack_block *b = c->sacked;
    unsigned n = c->sacked_count, i = 0;
    while (i < n && seq_lt(b[i].end, start))
        i++; /* ranges wholly below (not touching) */
    unsigned j = i;
    while (j < n && seq_le(b[j].start, end))
        j++; /* ranges [i, j) touch or overlap the new one */
    if (j - i == 1 && seq_le(b[i].start, start) && seq_ge(b[i].end, end))
        return false; /* nothing new */
    if (j > i) {
        if (seq_lt(b[i].start, start))
            start = b[i].start;
        if (seq_gt(b[j - 1].end, end))
            end = b[j - 1].end;
        memmove(&b[i + 1], &b[j], (n - j) * sizeof(*b));
        n -= j - i - 1;
    } else {
        if (n == TCP_SCOREBOARD) {
            if (i == n)
                return false; /* above everything, and no room: let it go */
            n--;              /* drop the highest */
        }
        memmove(&b[i + 1], &b[i], (n - i) * sizeof(*b));
        n++;
    }
    b[i].start = start;
    b[i].end = end;
    c->sacked_count = n;
    sack_recount(c);
    return true;
}

/* Is [start, end) wholly inside one SACKed range already? */
static bool sack_covers(const struct tcp_conn *c, uint32_t start, uint32_t end)
{
    for (unsigned i = 0; i < c->sacked_count; i++)
        if (seq_le(c->sacked[i].start, start) && seq_ge(c->sacked[i].end, end))
            return true;
    return false;
}

bool tcp_sack_update(struct tcp_conn *c, const struct tcp_seg *seg)
{
    bool news = false;
    for (unsigned k = 0; k < seg->sack_count; k++) {
        uint32_t start = seg->sack[k].start, end = seg->sack[k].end;
        /* RFC 2018 §3 and RFC 6675 §4: only blocks inside what we sent and have not had
         * acknowledged count; a block below the ACK is a D-SACK (RFC 2883): noted only. */
        if (!seq_lt(start, end) || seq_gt(end, c->snd_max)) {
            c->st->stats.tcp.sack_blocks_invalid++;
            continue;
        }
        if (seq_le(end, seg->ack) || seq_le(end, c->snd_una) ||
            (k == 0 && seg->sack_count > 1 && seq_le(seg->sack[1].start, start) &&
             seq_ge(seg->sack[1].end, end))) {
            /* RFC 2883 §4: a first block below the ACK, or inside the second block,
             * reports a duplicate. */
            c->st->stats.tcp.dsack_received++;
            c->dsacks++;
            tcp_cc_dsack(c, start, end);
            continue;
        }
        /* RFC 8985 §6.2 step 3: a segment first sent before the newest one delivered,
         * arriving only now, was reordered (not retransmitted: those below HighRxt are
         * ambiguous). From then on time, not the count of SACKs, decides. */
        if (!c->rack_reord && seq_lt(start, c->rack_end) &&
            (!c->in_recovery || seq_ge(start, c->high_rxt)) &&
            !sack_covers(c, start, seq_lt(end, c->rack_end) ? end : c->rack_end)) {
            c->rack_reord = true;
            c->st->stats.tcp.reordering_seen++;
        }
        if (seq_lt(start, c->snd_una))
            start = c->snd_una;
        news |= sack_insert(c, start, end);
    }
    return news;
}

void tcp_sack_advance(struct tcp_conn *c)
{
    unsigned drop = 0;
    while (drop < c->sacked_count && seq_le(c->sacked[drop].end, c->snd_una))
        drop++;
    if (drop) {
        c->sacked_count -= drop;
        memmove(c->sacked, c->sacked + drop, c->sacked_count * sizeof(c->sacked[0]));
    }
    if (c->sacked_count && seq_lt(c->sacked[0].start, c->snd_una))
        c->sacked[0].start = c->snd_una;
    sack_recount(c);
}

uint32_t tcp_sack_high(const struct tcp_conn *c)
{
    return c->sacked_count ? c->sacked[c->sacked_count - 1].end : c->snd_una;
}

/* RFC 6675 §4 IsLost(SeqNum): DupThresh discontiguous SACKed ranges above it, or more than
 * (DupThresh - 1) * SMSS bytes SACKed above it. Ranges stand in for "sequences" here: a
 * range is at least one segment. */
/* The count's verdict on seq, given what is SACKed above it. */
static bool count_lost(const struct tcp_conn *c, uint32_t seq, unsigned above_ranges,
                       uint32_t above_bytes)
{
    /* After a timeout everything sent before it and not SACKed is taken as lost (RFC 6675
     * §5.1 keeps the scoreboard so that only that is sent again). */
    if (c->rto_recovery && seq_lt(seq, c->recover))
        return true;
    if (c->rack_reord)
        return false; /* reordering seen: RACK's clock alone decides (RFC 8985 §6.2) */
    return above_ranges >= TCP_DUPTHRESH ||
           above_bytes > (TCP_DUPTHRESH - 1) * (uint32_t)tcp_smss(c);
}

bool tcp_sack_dupthresh_lost(const struct tcp_conn *c, uint32_t seq)
{
    uint32_t above_bytes = 0;
    unsigned above_ranges = 0;
    for (unsigned i = c->sacked_count; i-- > 0;) {
        const struct tcp_sack_block *b = &c->sacked[i];
        if (seq_le(b->end, seq))
            break;
        above_bytes += seq_gt(b->start, seq) ? b->end - b->start : b->end - seq;
        above_ranges++;
    }
    return count_lost(c, seq, above_ranges, above_bytes);
}

/* Lost by the scoreboard's count, or by RACK's clock (tcp_rack.c, RFC 8985). */
bool tcp_sack_is_lost(const struct tcp_conn *c, uint32_t seq)
{
    return seq_lt(seq, c->rack_lost_end) || tcp_sack_dupthresh_lost(c, seq);
}

/* No SACKed byte lies inside a hole, so the count condemns all of it or none; RACK's
 * boundary may fall inside it. */
static uint32_t hole_lost_end(const struct tcp_conn *c, uint32_t start, uint32_t end,
                              bool counted_lost)
{
    if (counted_lost)
        return end;
    if (seq_le(c->rack_lost_end, start))
        return start;
    return seq_lt(c->rack_lost_end, end) ? c->rack_lost_end : end;
}

uint32_t tcp_sack_lost_end(const struct tcp_conn *c, uint32_t start, uint32_t end)
{
    return hole_lost_end(c, start, end, tcp_sack_dupthresh_lost(c, start));
}

/* Bytes of [start, end) retransmitted (below HighRxt): in the network a second time. */
static uint32_t hole_rxt_bytes(const struct tcp_conn *c, uint32_t start, uint32_t end)
{
    if (!seq_gt(c->high_rxt, start))
        return 0;
    return (seq_lt(c->high_rxt, end) ? c->high_rxt : end) - start;
}

/* RFC 6675 §4 SetPipe: the bytes in the network. Unsacked bytes count once unless they are
 * lost; those retransmitted (below HighRxt) count once more. It runs after every ACK in
 * recovery, so it walks the scoreboard once, from the top down, carrying the count of what
 * is SACKed above each hole (asking IsLost hole by hole would walk it again for each). */
uint32_t tcp_sack_pipe(const struct tcp_conn *c)
{
    unsigned n = c->sacked_count;
    uint32_t top = n ? c->sacked[n - 1].end : c->snd_una, pipe = 0;
    if (seq_lt(top, c->snd_max)) {
        /* Above the highest SACK: in the network, except what a timeout declared lost
         * (below recover). */
        uint32_t lost_end = c->rto_recovery && seq_gt(c->recover, top)
                                ? (seq_lt(c->recover, c->snd_max) ? c->recover : c->snd_max)
                                : top;
        pipe += c->snd_max - lost_end + hole_rxt_bytes(c, top, c->snd_max);
    }
    uint32_t above_bytes = 0;
    unsigned above_ranges = 0;
    for (unsigned i = n; i-- > 0;) {
        above_bytes += c->sacked[i].end - c->sacked[i].start;
        above_ranges++;
        uint32_t start = i ? c->sacked[i - 1].end : c->snd_una, end = c->sacked[i].start;
        if (!seq_lt(start, end))
            continue;
        bool counted = count_lost(c, start, above_ranges, above_bytes);
        pipe += end - hole_lost_end(c, start, end, counted) + hole_rxt_bytes(c, start, end);
    }
    return pipe;
}

/* RFC 6675 §4 NextSeg, rules (1) and (3): the first unSACKed range above HighRxt and below
 * the highest SACK, if it is lost (or, with lost_only false, even if it is not); after a
 * timeout, also what lies above the highest SACK. Returns its length (at most max_len,
 * never into a SACKed range), 0 when there is none. */
uint32_t tcp_sack_next_hole(const struct tcp_conn *c, bool lost_only, uint32_t max_len,
                            uint32_t *seq)
{
    uint32_t from = seq_gt(c->high_rxt, c->snd_una) ? c->high_rxt : c->snd_una;
    uint32_t hole_start = c->snd_una;
    for (unsigned i = 0; i < c->sacked_count; i++) {
        uint32_t hole_end = c->sacked[i].start;
        uint32_t s = seq_gt(from, hole_start) ? from : hole_start;
        uint32_t end = lost_only && seq_lt(s, hole_end) ? tcp_sack_lost_end(c, s, hole_end)
                                                        : hole_end;
        if (seq_lt(s, end)) {
            *seq = s;
            return end - s < max_len ? end - s : max_len;
        }
        hole_start = c->sacked[i].end;
    }
    /* Above the highest SACK nothing is known lost, unless a timeout said so. */
    uint32_t s = seq_gt(from, hole_start) ? from : hole_start;
    uint32_t tail_end = seq_lt(c->recover, c->snd_max) ? c->recover : c->snd_max;
    if (c->rto_recovery && seq_lt(s, tail_end)) {
        *seq = s;
        return tail_end - s < max_len ? tail_end - s : max_len;
    }
    return 0;
}

/* If snd_nxt (rewound by a timeout) points into a SACKed range, the bytes there need not go
 * again: the end of that range, else seq itself. */
uint32_t tcp_sack_skip(const struct tcp_conn *c, uint32_t seq, uint32_t *room)
{
    for (unsigned i = 0; i < c->sacked_count; i++) {
        const struct tcp_sack_block *b = &c->sacked[i];
        if (seq_lt(seq, b->start)) {
            *room = b->start - seq; /* send up to the next SACKed range */
            return seq;
        }
        if (seq_lt(seq, b->end))
            seq = b->end;
    }
    *room = UINT32_MAX;
    return seq;
}
