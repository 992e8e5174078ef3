/* SPDX-License-Identifier: MIT */
/* icmp.c: ICMP for a host (RFC 792, RFC 1122 §3.2.2): echo replies, the errors we send under
 * the "must not" rules and a rate limit, and received errors routed to the protocol they are
 * about. */
#include "icmp.h"

#include <errno.h>

#include "bytes.h"
#include "core.h"
#include "csum.h"
#include "ipv4.h"
#include "sock.h"

/* RFC 1812 §4.3.2.3 lets an error quote as much of the datagram as fits in 576 bytes; more
 * helps the receiver, and it still fits in one small buffer at any MTU. */
#define ICMP_ERROR_MAX_TOTAL 576u

static void icmp_ping_error(struct tapir_stack *st, const struct icmp_error *err);
static bool icmp_rate_allows(struct tapir_stack *st, struct icmp_bucket *b);

void icmp_init(struct tapir_stack *st)
{
    st->icmp.error_handlers[IPPROTO_ICMP_] = icmp_ping_error;
    st->icmp.err_out.tokens_micro = (uint64_t)st->cfg.icmp_err_burst * 1000000u;
    st->icmp.err_in = st->icmp.err_out;
}

static void icmp_drop(struct tapir_stack *st, struct pkb *p, uint64_t *counter, const char *why)
{
    (*counter)++;
    tapir_trace(st, TAPIR_TRACE_ICMP, "icmp: drop %s, %u bytes", why, p->len);
    pkb_free(st, p);
}

static void icmp_finish(uint8_t *msg, size_t len_bytes)
{
    put_be16(msg + 2, 0);
    put_be16(msg + 2, csum(msg, len_bytes));
}

/* RFC 792 "Echo or Echo Reply": swap the addresses, change the type, recompute the checksum;
 * identifier, sequence and data go back unchanged. The request's buffer becomes the reply. */
static void icmp_echo(struct tapir_stack *st, struct pkb *p, const struct ip_in *ip)
{
    char a[IP_STR_LEN];
    uint8_t *m = p->data;
    if (ip->to_broadcast) /* as Linux's icmp_echo_ignore_broadcasts (RFC 1122 §3.2.2.6) */
        return icmp_drop(st, p, &st->stats.icmp.drop_broadcast_echo, "broadcast echo");
    tapir_trace(st, TAPIR_TRACE_ICMP, "icmp: echo request from %s id %u seq %u len %u",
                ip_str(ip->src, a), get_be16(m + 4), get_be16(m + 6), p->len - ICMP_HDR_LEN);
    m[0] = ICMP_ECHO_REPLY;
    icmp_finish(m, p->len);
    struct ip_out out = {.dst = ip->src, .proto = IPPROTO_ICMP_, .tos = ip->tos};
    if (ipv4_output(st, p, &out) == 0) {
        st->stats.icmp.tx_msgs++;
        st->stats.icmp.tx_echo_replies++;
    }
}

/* The ping socket an echo reply belongs to: its identifier is the socket's port and a bound
 * address must match, as Linux's ping_lookup (which, like this, ignores a connected peer). */
static struct tapir_sock *ping_lookup(struct tapir_stack *st, uint16_t id, uint32_t dst)
{
    for (struct tapir_sock *s = st->udp.ping_ids[port_bucket(id)]; s; s = s->port_next) {
        if (s->local_port == id && (!s->local_addr || s->local_addr == dst))
            return s;
    }
    return NULL;
}

static void icmp_echo_reply(struct tapir_stack *st, struct pkb *p, const struct ip_in *ip)
{
    const uint8_t *m = p->data;
    uint16_t id = get_be16(m + 4);
    char a[IP_STR_LEN];
    tapir_trace(st, TAPIR_TRACE_ICMP, "icmp: echo reply from %s id %u seq %u len %u",
                ip_str(ip->src, a), id, get_be16(m + 6), p->len - ICMP_HDR_LEN);
    struct tapir_sock *s = ping_lookup(st, id, ip->dst);
    if (s) {
        /* A ping socket reads the whole message, ICMP header first, as on Linux. */
        if (sock_rcvbuf_full(s, p))
            return icmp_drop(st, p, &st->stats.icmp.drop_ping_rcvbuf, "ping receive buffer full");
        p->peer_addr = ip->src;
        p->peer_port = 0;
        st->stats.icmp.rx_ping_replies++;
        return sock_enqueue(s, p);
    }
    if (st->icmp.echo_reply_cb)
        st->icmp.echo_reply_cb(st->icmp.echo_reply_ctx, ip->src, id, get_be16(m + 6),
                               m + ICMP_HDR_LEN, p->len - ICMP_HDR_LEN);
    pkb_free(st, p);
}

/* An error about an echo request a connected ping socket sent (as Linux's ping_err without
 * IP_RECVERR: only a connected socket hears of it). */
static void icmp_ping_error(struct tapir_stack *st, const struct icmp_error *err)
{
    const uint8_t *q = err->orig_l4;
    if (q[0] != ICMP_ECHO_REQUEST)
        return;
    int e = sock_icmp_errno(err->type, err->code);
    uint16_t id = get_be16(q + 4);
    for (struct tapir_sock *s = st->udp.ping_ids[port_bucket(id)]; e && s; s = s->port_next) {
        if (s->local_port == id && s->connected && s->remote_addr == err->orig_dst) {
            if (!icmp_error_admit(st))
                return;
            st->stats.icmp.rx_ping_errors++;
            sock_set_error(s, e);
            return;
        }
    }
}

/* An error quotes the offending IP header and at least 8 bytes of what followed (RFC 792).
 * Check the quote before believing it, then hand it to the protocol it concerns. */
static void icmp_error_in(struct tapir_stack *st, struct pkb *p, const struct ip_in *ip)
{
    const uint8_t *m = p->data, *q = m + ICMP_HDR_LEN;
    size_t qlen = p->len - ICMP_HDR_LEN;
    unsigned qhl = qlen ? (q[0] & 0xfu) * 4u : 0;
    if (qlen < IPV4_HDR_MIN || q[0] >> 4 != 4 || qhl < IPV4_HDR_MIN || qlen < qhl + 8u)
        return icmp_drop(st, p, &st->stats.icmp.drop_truncated, "error quote too short");
    struct icmp_error err = {
        .type = m[0], .code = m[1], .info = get_be32(m + 4),
        .orig_src = get_be32(q + 12), .orig_dst = get_be32(q + 16), .orig_proto = q[9],
        .orig_l4 = q + qhl, .orig_l4_len = qlen - qhl,
    };
    char a[IP_STR_LEN];
    tapir_trace(st, TAPIR_TRACE_ICMP, "icmp: error type %u code %u from %s about proto %u",
                err.type, err.code, ip_str(ip->src, a), err.orig_proto);
    /* Only errors about datagrams we sent mean anything to us. */
    icmp_error_fn fn = st->icmp.error_handlers[err.orig_proto];
    if (err.orig_src != st->ip_addr || !fn)
        st->stats.icmp.errors_unclaimed++;
    else
        fn(st, &err);
    pkb_free(st, p);
}

void icmp_local_unreachable(struct tapir_stack *st, const uint8_t *ip_pkt, size_t len)
{
    unsigned hl = len >= IPV4_HDR_MIN ? (ip_pkt[0] & 0xfu) * 4u : 0;
    bool first_fragment = len >= IPV4_HDR_MIN && (get_be16(ip_pkt + 6) & 0x1fffu) == 0;
    if (hl < IPV4_HDR_MIN || len < hl + 8u || !first_fragment)
        return; /* only a first fragment shows the transport's ports */
    struct icmp_error err = {
        .type = ICMP_DEST_UNREACH, .code = ICMP_HOST_UNREACH, .local = true,
        .orig_src = get_be32(ip_pkt + 12), .orig_dst = get_be32(ip_pkt + 16),
        .orig_proto = ip_pkt[9], .orig_l4 = ip_pkt + hl, .orig_l4_len = len - hl,
    };
    icmp_error_fn fn = st->icmp.error_handlers[err.orig_proto];
    if (fn && err.orig_src == st->ip_addr) {
        st->stats.icmp.local_unreach++;
        fn(st, &err);
    }
}

void icmp_input(struct tapir_stack *st, struct pkb *p, const struct ip_in *ip)
{
    struct tapir_icmp_stats *s = &st->stats.icmp;
    s->rx_msgs++;
    if (p->len < ICMP_HDR_LEN)
        return icmp_drop(st, p, &s->drop_truncated, "truncated");
    if (csum(p->data, p->len) != 0)
        return icmp_drop(st, p, &s->drop_bad_checksum, "bad checksum");
    switch (p->data[0]) {
    case ICMP_ECHO_REQUEST:
        s->rx_echo_requests++;
        return icmp_echo(st, p, ip);
    case ICMP_ECHO_REPLY:
        s->rx_echo_replies++;
        return icmp_echo_reply(st, p, ip);
    case ICMP_DEST_UNREACH:
        s->rx_dest_unreach++;
        return icmp_error_in(st, p, ip);
    case ICMP_TIME_EXCEEDED:
        s->rx_time_exceeded++;
        return icmp_error_in(st, p, ip);
    case ICMP_PARAM_PROBLEM:
    case ICMP_SOURCE_QUENCH:
        s->rx_other_errors++;
        return icmp_error_in(st, p, ip);
    default:
        /* RFC 1122 §3.2.2: an unknown type must be silently discarded. Redirects are for
         * routers' neighbours; we have one gateway and keep it. */
        return icmp_drop(st, p, &s->drop_unknown_type, "unknown type");
    }
}

/* A token bucket: icmp_err_per_s tokens a second, up to icmp_err_burst. RFC 1122 §3.2.2:
 * errors we send "SHOULD" be limited (Linux's icmp_msgs_per_sec and icmp_msgs_burst). The
 * same limit guards the other way: a flood of errors (forged or not) costs each socket at
 * most that many wake-ups a second. */
bool icmp_error_admit(struct tapir_stack *st)
{
    if (icmp_rate_allows(st, &st->icmp.err_in))
        return true;
    st->stats.icmp.errors_in_ratelimited++;
    return false;
}

static bool icmp_rate_allows(struct tapir_stack *st, struct icmp_bucket *b)
{
    uint64_t cap = (uint64_t)st->cfg.icmp_err_burst * 1000000u;
    uint64_t elapsed_us = st->now_us - b->refill_us;
    b->refill_us = st->now_us;
    if (elapsed_us > 60000000u) /* a minute refills any bucket; keeps the product small */
        elapsed_us = 60000000u;
    /* per_s tokens a second is per_s millionths of a token a microsecond: exact, so no
     * rounding is lost however often we are asked. */
    b->tokens_micro += elapsed_us * st->cfg.icmp_err_per_s;
    if (b->tokens_micro > cap)
        b->tokens_micro = cap;
    if (b->tokens_micro < 1000000u)
        return false;
    b->tokens_micro -= 1000000u;
    return true;
}

static bool icmp_is_error_type(uint8_t type)
{
    return type == ICMP_DEST_UNREACH || type == ICMP_SOURCE_QUENCH || type == ICMP_REDIRECT ||
           type == ICMP_TIME_EXCEEDED || type == ICMP_PARAM_PROBLEM;
}

/* RFC 1122 §3.2.2: never send an error about an ICMP error, a datagram sent to a broadcast or
 * multicast address, a fragment other than the first, or from a source that is not one host. */
static bool icmp_error_forbidden(const struct tapir_stack *st, const struct ip_in *ip,
                                 const uint8_t *l4, size_t l4_len)
{
    if (ip->to_broadcast || ipv4_is_multicast(ip->dst) || ip->frag_offset_bytes != 0)
        return true;
    if (ip->src == 0 || ipv4_is_broadcast(st, ip->src) || ipv4_is_multicast(ip->src))
        return true;
    return ip->proto == IPPROTO_ICMP_ && (l4_len < 1 || icmp_is_error_type(l4[0]));
}

void icmp_send_error(struct tapir_stack *st, const struct ip_in *ip, const uint8_t *l4,
                     size_t l4_len, uint8_t type, uint8_t code)
{
    struct tapir_icmp_stats *s = &st->stats.icmp;
    if (icmp_error_forbidden(st, ip, l4, l4_len)) {
        s->err_suppressed++;
        return;
    }
    if (!icmp_rate_allows(st, &st->icmp.err_out)) {
        s->err_ratelimited++;
        return;
    }
    size_t quote = ICMP_ERROR_MAX_TOTAL - IPV4_HDR_MIN - ICMP_HDR_LEN - ip->hdr_len;
    if (quote > l4_len)
        quote = l4_len;
    struct pkb *p = pkb_alloc(st, PKB_SMALL);
    if (!p)
        return;
    uint8_t *m = pkb_put(p, ICMP_HDR_LEN + ip->hdr_len + quote);
    m[0] = type;
    m[1] = code;
    put_be32(m + 4, 0); /* unused (or next-hop MTU, which a host never reports) */
    memcpy(m + ICMP_HDR_LEN, ip->hdr, ip->hdr_len);
    memcpy(m + ICMP_HDR_LEN + ip->hdr_len, l4, quote);
    icmp_finish(m, p->len);
    char a[IP_STR_LEN];
    tapir_trace(st, TAPIR_TRACE_ICMP, "icmp: send error type %u code %u to %s", type, code,
                ip_str(ip->src, a));
    struct ip_out out = {.dst = ip->src, .proto = IPPROTO_ICMP_};
    if (ipv4_output(st, p, &out) < 0)
        return;
    s->tx_msgs++;
    if (type == ICMP_DEST_UNREACH)
        s->tx_dest_unreach++;
    else if (type == ICMP_TIME_EXCEEDED)
        s->tx_time_exceeded++;
}

static int icmp_echo_request_out(struct tapir_stack *st, struct pkb *p, uint32_t src,
                                 uint32_t dst)
{
    icmp_finish(p->data, p->len);
    struct ip_out out = {.src = src, .dst = dst, .proto = IPPROTO_ICMP_};
    int rc = ipv4_output(st, p, &out);
    if (rc == 0) {
        st->stats.icmp.tx_msgs++;
        st->stats.icmp.tx_echo_requests++;
    }
    return rc;
}

int icmp_send_echo_request(struct tapir_stack *st, uint32_t dst, uint16_t id, uint16_t seq,
                           const void *data, size_t len_bytes)
{
    if (len_bytes > ICMP_MAX_MSG - ICMP_HDR_LEN)
        return -EMSGSIZE;
    struct pkb *p = pkb_alloc_for(st, ICMP_HDR_LEN + len_bytes);
    if (!p)
        return -ENOBUFS;
    uint8_t *m = pkb_put(p, ICMP_HDR_LEN + len_bytes);
    m[0] = ICMP_ECHO_REQUEST;
    m[1] = 0;
    put_be16(m + 4, id);
    put_be16(m + 6, seq);
    if (len_bytes)
        memcpy(m + ICMP_HDR_LEN, data, len_bytes);
    return icmp_echo_request_out(st, p, 0, dst);
}

int icmp_ping_output(struct tapir_stack *st, struct tapir_sock *s, const void *msg, size_t len,
                     uint32_t dst)
{
    struct pkb *p = pkb_alloc_for(st, len);
    if (!p)
        return -ENOBUFS;
    uint8_t *m = pkb_put(p, len);
    memcpy(m, msg, len);
    put_be16(m + 4, s->local_port); /* the identifier is the socket's, whatever was written */
    return icmp_echo_request_out(st, p, s->local_addr, dst);
}
