/* SPDX-License-Identifier: MIT */
/* udp.c: UDP input and output (RFC 768, RFC 1122 §4.1): length and checksum checks, the port
 * table that finds a datagram's socket, ephemeral ports (RFC 6056), port unreachable, and
 * ICMP errors turned into socket errors. */
#include "udp.h"

#include <errno.h>

#include "bytes.h"
#include "core.h"
#include "csum.h"
#include "icmp.h"
#include "ipv4.h"
#include "sock.h"

static void udp_icmp_error(struct tapir_stack *st, const struct icmp_error *err);

void udp_init(struct tapir_stack *st) { st->icmp.error_handlers[IPPROTO_UDP_] = udp_icmp_error; }

void udp_free(struct tapir_stack *st)
{
    while (st->udp.all)
        tapir_sock_close(st->udp.all);
}


/* Could s take a datagram from ip->src:sport to dport? */
static bool udp_matches(const struct tapir_sock *s, const struct ip_in *ip, uint16_t sport,
                        uint16_t dport)
{
    if (s->local_port != dport)
        return false;
    if (s->local_addr && s->local_addr != ip->dst)
        return false; /* bound to our unicast address: broadcasts are not for it */
    return !s->connected || (s->remote_addr == ip->src && s->remote_port == sport);
}

/* The best socket for a unicast datagram: a connected socket whose peer matches beats one
 * bound to our exact address, which beats one bound to the wildcard. */
static struct tapir_sock *udp_lookup(struct tapir_stack *st, const struct ip_in *ip,
                                     uint16_t sport, uint16_t dport)
{
    struct tapir_sock *best = NULL;
    int best_score = -1;
    for (struct tapir_sock *s = st->udp.ports[port_bucket(dport)]; s; s = s->port_next) {
        if (!udp_matches(s, ip, sport, dport))
            continue;
        int score = (s->local_addr ? 1 : 0) + (s->connected ? 2 : 0);
        if (score > best_score) {
            best = s;
            best_score = score;
        }
    }
    return best;
}

static void udp_drop(struct tapir_stack *st, struct pkb *p, uint64_t *counter, const char *why)
{
    (*counter)++;
    tapir_trace(st, TAPIR_TRACE_UDP, "udp: drop %s, %u bytes", why, p->len);
    pkb_free(st, p);
}

/* Queues the datagram in p (UDP header still in front) on s. */
static void udp_deliver(struct tapir_stack *st, struct tapir_sock *s, struct pkb *p,
                        uint32_t src, uint16_t sport)
{
    if (sock_rcvbuf_full(s, p))
        return udp_drop(st, p, &st->stats.udp.drop_rcvbuf, "receive buffer full");
    pkb_pull(p, UDP_HDR_LEN);
    p->peer_addr = src;
    p->peer_port = sport;
    st->stats.udp.rx_datagrams++;
    sock_enqueue(s, p);
}

/* A broadcast goes to every socket that matches, each with its own copy, as Linux's
 * __udp4_lib_mcast_deliver. Nobody listening is no error: a broadcast never draws an ICMP
 * error (RFC 1122 §3.2.2). */
static void udp_broadcast(struct tapir_stack *st, struct pkb *p, const struct ip_in *ip,
                          uint16_t sport, uint16_t dport)
{
    struct tapir_sock *last = NULL;
    for (struct tapir_sock *s = st->udp.ports[port_bucket(dport)]; s; s = s->port_next) {
        if (!udp_matches(s, ip, sport, dport))
            continue;
        if (last) {
            struct pkb *copy = pkb_alloc_for(st, p->len);
            if (!copy)
                st->stats.udp.drop_no_buffer++;
            else {
                memcpy(pkb_put(copy, p->len), p->data, p->len);
                udp_deliver(st, last, copy, ip->src, sport);
            }
        }
        last = s;
    }
    if (!last)
        return udp_drop(st, p, &st->stats.udp.drop_no_port, "no socket for broadcast");
    udp_deliver(st, last, p, ip->src, sport);
}

void udp_input(struct tapir_stack *st, struct pkb *p, const struct ip_in *ip)
{
    struct tapir_udp_stats *c = &st->stats.udp;
    if (p->len < UDP_HDR_LEN)
        return udp_drop(st, p, &c->drop_truncated, "truncated");
    const uint8_t *h = p->data;
    uint16_t sport = get_be16(h), dport = get_be16(h + 2), udp_len = get_be16(h + 4);
    /* RFC 768: the length covers header and data; a longer IP payload is padding. */
    if (udp_len < UDP_HDR_LEN || udp_len > p->len)
        return udp_drop(st, p, &c->drop_bad_length, "bad length");
    pkb_trim(p, udp_len);
    /* RFC 768 / RFC 1122 §4.1.3.4: a zero checksum means the sender computed none; the sum
     * covers a pseudo header (addresses, protocol, length) too. */
    if (get_be16(h + 6) != 0 &&
        csum_fold(csum_add(csum_pseudo(ip->src, ip->dst, IPPROTO_UDP_, udp_len), h, udp_len)) != 0)
        return udp_drop(st, p, &c->drop_bad_checksum, "bad checksum");
    char a[IP_STR_LEN];
    tapir_trace(st, TAPIR_TRACE_UDP, "udp: in %s:%u > :%u len %u", ip_str(ip->src, a), sport,
                dport, udp_len - UDP_HDR_LEN);
    if (ip->to_broadcast)
        return udp_broadcast(st, p, ip, sport, dport);
    struct tapir_sock *s = udp_lookup(st, ip, sport, dport);
    if (!s) {
        /* RFC 1122 §4.1.3.1: port unreachable. */
        icmp_send_error(st, ip, p->data, p->len, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH);
        return udp_drop(st, p, &c->drop_no_port, "no socket");
    }
    udp_deliver(st, s, p, ip->src, sport);
}

int udp_output(struct tapir_stack *st, struct tapir_sock *s, const void *buf, size_t len,
               uint32_t dst, uint16_t dport)
{
    struct pkb *p = pkb_alloc_for(st, UDP_HDR_LEN + len);
    if (!p)
        return -ENOBUFS;
    if (len)
        memcpy(pkb_put(p, len), buf, len);
    uint8_t *h = pkb_push(p, UDP_HDR_LEN);
    uint32_t src = s->local_addr ? s->local_addr : st->ip_addr;
    uint16_t udp_len = (uint16_t)(UDP_HDR_LEN + len);
    put_be16(h, s->local_port);
    put_be16(h + 2, dport);
    put_be16(h + 4, udp_len);
    put_be16(h + 6, 0);
    uint16_t sum = csum_fold(csum_add(csum_pseudo(src, dst, IPPROTO_UDP_, udp_len), h, udp_len));
    put_be16(h + 6, sum ? sum : 0xffff); /* RFC 768: a computed zero is sent as all ones */
    char a[IP_STR_LEN];
    tapir_trace(st, TAPIR_TRACE_UDP, "udp: out :%u > %s:%u len %zu", s->local_port,
                ip_str(dst, a), dport, len);
    struct ip_out out = {.src = src, .dst = dst, .proto = IPPROTO_UDP_};
    int rc = ipv4_output(st, p, &out);
    if (rc == 0)
        st->stats.udp.tx_datagrams++;
    return rc;
}

static void udp_icmp_error(struct tapir_stack *st, const struct icmp_error *err)
{
    if (err->orig_l4_len < UDP_HDR_LEN)
        return;
    uint16_t sport = get_be16(err->orig_l4), dport = get_be16(err->orig_l4 + 2);
    int e = sock_icmp_errno(err->type, err->code);
    /* As Linux without IP_RECVERR: only a connected socket hears about errors, since only
     * there does the error name the one peer the application talks to. */
    for (struct tapir_sock *s = st->udp.ports[port_bucket(sport)]; e && s; s = s->port_next) {
        if (s->local_port == sport && s->connected && s->remote_addr == err->orig_dst &&
            s->remote_port == dport) {
            if (!icmp_error_admit(st))
                return;
            st->stats.udp.rx_icmp_errors++;
            sock_set_error(s, e);
            return;
        }
    }
}
