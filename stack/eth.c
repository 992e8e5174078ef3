/* SPDX-License-Identifier: MIT */
/* eth.c: Ethernet II input and output: our MAC and broadcast in, IPv4 and ARP up, the rest
 * counted and dropped. */
#include "eth.h"

#include "bytes.h"
#include "core.h"

static void eth_drop(struct tapir_stack *st, struct pkb *p, uint64_t *counter, const char *why)
{
    (*counter)++;
    tapir_trace(st, TAPIR_TRACE_ETH, "eth: drop %s, %u bytes", why, p->len);
    pkb_free(st, p);
}

static const char *mac_str(const uint8_t *m, char *buf)
{
    snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
    return buf;
}

void eth_input(struct tapir_stack *st, struct pkb *p)
{
    struct tapir_eth_stats *s = &st->stats.eth;
    s->rx_frames++;
    s->rx_bytes += p->len;
    if (p->len < ETH_HDR_LEN)
        return eth_drop(st, p, &s->drop_runt, "runt");
    /* 4 more bytes allow an 802.1Q tag; anything longer cannot be an MTU-sized frame. */
    if (p->len > ETH_HDR_LEN + 4 + st->cfg.mtu_bytes)
        return eth_drop(st, p, &s->drop_oversize, "oversize");

    const uint8_t *h = p->data;
    if (memcmp(h, st->cfg.mac, ETH_ADDR_LEN) != 0 && !eth_is_broadcast(h))
        return eth_drop(st, p, &s->drop_not_for_us, "not for us");
    uint16_t type = get_be16(h + 12);
    if (tapir_tracing(st, TAPIR_TRACE_ETH)) {
        char a[18], b[18];
        tapir_trace(st, TAPIR_TRACE_ETH, "eth: in %s > %s type 0x%04x len %u", mac_str(h + 6, a),
                    mac_str(h, b), type, p->len);
    }
    switch (type) {
    case ETH_TYPE_IPV4:
        pkb_pull(p, ETH_HDR_LEN);
        ipv4_input(st, p);
        return;
    case ETH_TYPE_ARP:
        pkb_pull(p, ETH_HDR_LEN);
        arp_input(st, p);
        return;
    default:
        return eth_drop(st, p, &s->drop_unknown_type, "unknown type");
    }
}

void eth_output(struct tapir_stack *st, struct pkb *p, const uint8_t *dst_mac, uint16_t type)
{
    struct tapir_eth_stats *s = &st->stats.eth;
    uint8_t *h = pkb_push(p, ETH_HDR_LEN);
    memcpy(h, dst_mac, ETH_ADDR_LEN);
    memcpy(h + 6, st->cfg.mac, ETH_ADDR_LEN);
    put_be16(h + 12, type);
    /* IEEE 802.3 minimum frame: a real NIC pads in hardware; on a TAP we pad ourselves so
     * captures look like the wire would. */
    if (p->len < ETH_MIN_FRAME) {
        size_t pad = ETH_MIN_FRAME - p->len;
        memset(pkb_put(p, pad), 0, pad);
    }
    if (tapir_tracing(st, TAPIR_TRACE_ETH)) {
        char a[18], b[18];
        tapir_trace(st, TAPIR_TRACE_ETH, "eth: out %s > %s type 0x%04x len %u",
                    mac_str(st->cfg.mac, a), mac_str(dst_mac, b), type, p->len);
    }
    pcap_record(st, p->data, p->len);
    if (st->drv.send(st->drv.ctx, p->data, p->len) < 0) {
        s->tx_errors++;
    } else {
        s->tx_frames++;
        s->tx_bytes += p->len;
    }
    pkb_free(st, p);
}
