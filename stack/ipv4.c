/* SPDX-License-Identifier: MIT */
/* ipv4.c: IPv4 input and output (RFC 791 §3.1, RFC 1122 §3.2.1): header validation, local
 * delivery (a host, never a router), routing to the on-link neighbour or the gateway. */
#include "ipv4.h"

#include <errno.h>

#include "bytes.h"
#include "core.h"
#include "tcp.h"
#include "csum.h"
#include "icmp.h"

bool ipv4_is_broadcast(const struct tapir_stack *st, uint32_t addr)
{
    if (addr == 0xffffffffu)
        return true;
    /* The directed broadcast of our subnet (RFC 1122 §3.2.1.3 (c)); a /31 or /32 has none. */
    return st->ip_netmask < 0xfffffffeu && addr == (st->ip_addr | ~st->ip_netmask);
}

static bool ipv4_is_bad_source(const struct tapir_stack *st, uint32_t src)
{
    /* RFC 1122 §3.2.1.3: a host silently discards datagrams whose source is a broadcast or
     * multicast address, 0.0.0.0 or loopback; and one claiming our own address is spoofed. */
    return src == 0 || (src >> 24) == 127u || ipv4_is_multicast(src) ||
           ipv4_is_broadcast(st, src) || src == st->ip_addr;
}

static void ipv4_drop(struct tapir_stack *st, struct pkb *p, uint64_t *counter, const char *why)
{
    (*counter)++;
    tapir_trace(st, TAPIR_TRACE_IP, "ip: drop %s, %u bytes", why, p->len);
    pkb_free(st, p);
}

static void ipv4_trace_in(struct tapir_stack *st, const struct ip_in *ip)
{
    char a[IP_STR_LEN], b[IP_STR_LEN];
    tapir_trace(st, TAPIR_TRACE_IP, "ip: in %s > %s proto %u len %u id %u off %u%s%s",
                ip_str(ip->src, a), ip_str(ip->dst, b), ip->proto, ip->total_len, ip->id,
                ip->frag_offset_bytes, ip->more_fragments ? " MF" : "",
                ip->dont_fragment ? " DF" : "");
}

/* RFC 791 §3.1 and RFC 1122 §3.2.1.1-3: check every field we rely on before trusting it.
 * On success fills *ip and trims p to the total length (dropping Ethernet padding). */
static uint64_t *ipv4_validate(struct tapir_stack *st, struct pkb *p, struct ip_in *ip,
                               const char **why)
{
    struct tapir_ip_stats *s = &st->stats.ip;
    const uint8_t *h = p->data;
    if (p->len < IPV4_HDR_MIN)
        return *why = "truncated", &s->drop_truncated;
    if (h[0] >> 4 != 4)
        return *why = "bad version", &s->drop_bad_version;
    unsigned hdr_len = (h[0] & 0xfu) * 4u;
    if (hdr_len < IPV4_HDR_MIN || hdr_len > p->len)
        return *why = "bad header length", &s->drop_bad_ihl;
    unsigned total_len = get_be16(h + 2);
    if (total_len < hdr_len || total_len > p->len)
        return *why = "bad total length", &s->drop_bad_length;
    if (csum(h, hdr_len) != 0)
        return *why = "bad header checksum", &s->drop_bad_checksum;
    pkb_trim(p, total_len);

    /* Options (if any) are not interpreted: a host may ignore the ones it does not
     * implement (RFC 1122 §3.2.1.8), and hdr_len already steps over them. */
    uint16_t frag = get_be16(h + 6);
    *ip = (struct ip_in){
        .src = get_be32(h + 12),
        .dst = get_be32(h + 16),
        .id = get_be16(h + 4),
        .total_len = (uint16_t)total_len,
        .frag_offset_bytes = (uint16_t)((frag & IPV4_OFFSET_MASK) * 8u),
        .hdr_len = (uint8_t)hdr_len,
        .proto = h[9],
        .ttl = h[8],
        .tos = h[1],
        .more_fragments = (frag & IPV4_FLAG_MF) != 0,
        .dont_fragment = (frag & IPV4_FLAG_DF) != 0,
        .hdr = h,
    };
    if (ipv4_is_bad_source(st, ip->src))
        return *why = "bad source address", &s->drop_bad_source;
    ip->to_broadcast = ipv4_is_broadcast(st, ip->dst);
    if (ip->dst != st->ip_addr && !ip->to_broadcast)
        return *why = "not for us", &s->drop_not_for_us; /* RFC 1122 §3.2.1.3: a host does not forward */
    return NULL;
}

void ipv4_input(struct tapir_stack *st, struct pkb *p)
{
    struct ip_in ip;
    st->stats.ip.rx_packets++;
    const char *why = NULL;
    uint64_t *drop = ipv4_validate(st, p, &ip, &why);
    if (drop)
        return ipv4_drop(st, p, drop, why);
    ipv4_trace_in(st, &ip);
    pkb_pull(p, ip.hdr_len);
    if (ip.more_fragments || ip.frag_offset_bytes)
        return ipfrag_input(st, p, &ip);
    ipv4_deliver(st, p, &ip);
}

void ipv4_deliver(struct tapir_stack *st, struct pkb *p, const struct ip_in *ip)
{
    switch (ip->proto) {
    case IPPROTO_ICMP_:
        st->stats.ip.rx_delivered++;
        icmp_input(st, p, ip);
        return;
    case IPPROTO_UDP_:
        st->stats.ip.rx_delivered++;
        udp_input(st, p, ip);
        return;
    case IPPROTO_TCP_:
        st->stats.ip.rx_delivered++;
        tcp_input(st, p, ip);
        return;
    default:
        /* RFC 1122 §3.2.2.1: a host should say "protocol unreachable" for a protocol it does
         * not speak (icmp_send_error refuses for broadcasts and later fragments). */
        icmp_send_error(st, ip, p->data, p->len, ICMP_DEST_UNREACH, ICMP_PROTO_UNREACH);
        return ipv4_drop(st, p, &st->stats.ip.drop_unknown_proto, "unknown protocol");
    }
}

void ipv4_build_header(uint8_t *h, const struct ip_out *out, uint16_t total_len, uint16_t id,
                       uint16_t frag_field)
{
    h[0] = 0x45; /* version 4, five 32-bit words: we send no options */
    h[1] = out->tos;
    put_be16(h + 2, total_len);
    put_be16(h + 4, id);
    put_be16(h + 6, frag_field);
    h[8] = out->ttl ? out->ttl : IPV4_DEFAULT_TTL;
    h[9] = out->proto;
    put_be16(h + 10, 0);
    put_be32(h + 12, out->src);
    put_be32(h + 16, out->dst);
    put_be16(h + 10, csum(h, IPV4_HDR_MIN));
}

/* Our routing table has two lines: the subnet is on-link, the rest goes to the gateway. */
int ipv4_route(const struct tapir_stack *st, uint32_t dst, uint32_t *next_hop)
{
    if (dst == 0 || ipv4_is_multicast(dst))
        return -ENETUNREACH;
    if (ipv4_is_broadcast(st, dst) || ((dst ^ st->ip_addr) & st->ip_netmask) == 0) {
        *next_hop = dst;
        return 0;
    }
    if (!st->ip_gateway)
        return -ENETUNREACH;
    *next_hop = st->ip_gateway;
    return 0;
}

void ipv4_send_datagram(struct tapir_stack *st, struct pkb *p, uint32_t next_hop)
{
    if (tapir_tracing(st, TAPIR_TRACE_IP)) {
        const uint8_t *h = p->data;
        char a[IP_STR_LEN], b[IP_STR_LEN];
        uint16_t frag = get_be16(h + 6);
        tapir_trace(st, TAPIR_TRACE_IP, "ip: out %s > %s proto %u len %u id %u off %u%s%s",
                    ip_str(get_be32(h + 12), a), ip_str(get_be32(h + 16), b), h[9],
                    get_be16(h + 2), get_be16(h + 4), (frag & IPV4_OFFSET_MASK) * 8u,
                    frag & IPV4_FLAG_MF ? " MF" : "", frag & IPV4_FLAG_DF ? " DF" : "");
    }
    arp_output(st, p, next_hop);
}

int ipv4_output(struct tapir_stack *st, struct pkb *p, const struct ip_out *out_in)
{
    struct ip_out out = *out_in;
    uint32_t next_hop;
    if (!out.src)
        out.src = st->ip_addr;
    int rc = ipv4_route(st, out.dst, &next_hop);
    if (rc < 0) {
        ipv4_drop(st, p, &st->stats.ip.drop_no_route, "no route");
        return rc;
    }
    size_t total_len = IPV4_HDR_MIN + p->len;
    if (total_len > IPV4_MAX_TOTAL) {
        ipv4_drop(st, p, &st->stats.ip.drop_too_big, "longer than 65535 bytes");
        return -EMSGSIZE;
    }
    if (total_len > st->cfg.mtu_bytes && out.dont_fragment) {
        ipv4_drop(st, p, &st->stats.ip.drop_needs_frag, "too big for the MTU and DF");
        return -EMSGSIZE;
    }
    st->stats.ip.tx_packets++;
    /* IDs come from the PRNG: unpredictable to off-path attackers (RFC 6864 §4.3 allows any
     * scheme that does not repeat quickly within a (src, dst, proto) triple). */
    uint16_t id = (uint16_t)tapir_rand32(st);
    ipv4_build_header(pkb_push(p, IPV4_HDR_MIN), &out, (uint16_t)total_len, id,
                      out.dont_fragment ? IPV4_FLAG_DF : 0);
    if (total_len > st->cfg.mtu_bytes)
        return ipfrag_output(st, p, next_hop);
    ipv4_send_datagram(st, p, next_hop);
    return 0;
}
