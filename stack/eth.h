/* SPDX-License-Identifier: MIT */
/* eth.h: Ethernet II framing. */
#ifndef TAPIR_ETH_H
#define TAPIR_ETH_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

struct tapir_stack;
struct pkb;

#define ETH_HDR_LEN 14u
#define ETH_ADDR_LEN 6u
#define ETH_MIN_FRAME 60u /* without the FCS, which the TAP neither adds nor wants */
#define ETH_TYPE_IPV4 0x0800u
#define ETH_TYPE_ARP 0x0806u

static const uint8_t eth_broadcast[ETH_ADDR_LEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static inline bool eth_is_broadcast(const uint8_t *mac)
{
    return memcmp(mac, eth_broadcast, ETH_ADDR_LEN) == 0;
}
/* The group bit: broadcast and multicast addresses. */
static inline bool eth_is_group(const uint8_t *mac) { return mac[0] & 1u; }
static inline bool eth_is_zero(const uint8_t *mac)
{
    static const uint8_t zero[ETH_ADDR_LEN];
    return memcmp(mac, zero, ETH_ADDR_LEN) == 0;
}

/* Takes ownership of p, whose data starts at the Ethernet header. */
void eth_input(struct tapir_stack *st, struct pkb *p);
/* Prepends the Ethernet header and hands the frame to the driver; always consumes p. */
void eth_output(struct tapir_stack *st, struct pkb *p, const uint8_t *dst_mac, uint16_t type);

#endif
