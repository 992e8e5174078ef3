/* SPDX-License-Identifier: MIT */
/* fixture.h: one stack on a capturing fake driver, frame builders and parsers for unit tests. */
#ifndef TAPIR_TEST_FIXTURE_H
#define TAPIR_TEST_FIXTURE_H

/* cmocka.h needs these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <netinet/in.h>

#include "tapir/stack.h"

/* The addresses of the fixture's little world, host byte order. */
#define FX_OUR_IP 0x0a000002u   /* 10.0.0.2, the stack */
#define FX_GW_IP 0x0a000001u    /* 10.0.0.1, the host on the other end of the TAP and gateway */
#define FX_PEER_IP 0x0a000003u  /* 10.0.0.3, another on-link host */
#define FX_BCAST_IP 0x0a0000ffu /* 10.0.0.255, the subnet's directed broadcast */
#define FX_FAR_IP 0x08080808u   /* 8.8.8.8, off-link */
#define FX_IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))

extern const uint8_t fx_our_mac[6];   /* 02:74:61:70:69:72 */
extern const uint8_t fx_gw_mac[6];    /* 02:00:00:00:00:01 */
extern const uint8_t fx_peer_mac[6];  /* 02:00:00:00:00:03 */
extern const uint8_t fx_other_mac[6]; /* 02:00:00:00:00:99, some host that is not us */
extern const uint8_t fx_bcast_mac[6];
extern const uint8_t fx_zero_mac[6];

#define FX_NOW_US 1000000000ull /* the fixture's clock starts at 1000 s */
#define FX_SEED 0x7461706972ull
#define FX_MAX_FRAMES 256
#define FX_FRAME_MAX (14 + 4 + 9000)

struct fx_frame {
    size_t len;
    uint8_t data[FX_FRAME_MAX];
};

struct fixture {
    struct tapir_stack *st;
    struct tapir_config cfg;
    uint64_t now_us;
    struct fx_frame *frames; /* FX_MAX_FRAMES captured frames, oldest first */
    size_t nframes;
    size_t overflowed; /* frames the driver saw beyond FX_MAX_FRAMES (a test failure) */
    int send_rc;       /* what the fake driver's send returns */
};

/* --- set-up --- */

/* A test with a fresh fixture: FX_TEST(test_x) in a cmocka test list. */
#define FX_TEST(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

/* The fixture's configuration: defaults, 10.0.0.2/24, gateway 10.0.0.1, our MAC, fixed seed. */
void fx_config(struct tapir_config *cfg);
/* cmocka setup/teardown: *state becomes a struct fixture with a fresh stack. */
int fx_setup(void **state);
int fx_teardown(void **state);
/* Replaces the fixture's stack with one built from cfg (say, a smaller ARP cache); clears frames.
 */
void fx_restart(struct fixture *f, const struct tapir_config *cfg);
const struct tapir_stats *fx_stats(const struct fixture *f);

/* --- time --- */

/* Moves the clock to now_us and runs the timers due. */
void fx_advance_to(struct fixture *f, uint64_t now_us);
void fx_advance(struct fixture *f, uint64_t delta_us);
/* Fires timers one deadline at a time (tapir_next_deadline) up to until_us; the clock ends at
 * until_us. Returns the number of deadlines visited. */
unsigned fx_run_until(struct fixture *f, uint64_t until_us);

/* --- captured output --- */

/* Exactly one frame went out: returns it (valid until the stack sends again). */
const struct fx_frame *fx_expect_one(struct fixture *f);
void fx_expect_none(struct fixture *f);
/* Every frame captured since the last take; *n gets the count. Valid until the stack sends. */
const struct fx_frame *fx_take_all(struct fixture *f, size_t *n);
void fx_clear(struct fixture *f);

/* --- building frames --- */

/* A 14-byte Ethernet header and payload into buf; returns the frame length. */
size_t fx_eth(uint8_t *buf, const uint8_t *dst, const uint8_t *src, uint16_t type,
              const void *payload, size_t len);

/* An ARP packet; start from fx_arp_request() and override fields. */
struct fx_arp {
    uint16_t htype, ptype, op;
    uint8_t hlen, plen;
    uint8_t sha[6], tha[6];
    uint32_t spa, tpa;
};
struct fx_arp fx_arp_request(const uint8_t *sha, uint32_t spa, uint32_t tpa);
struct fx_arp fx_arp_reply(const uint8_t *sha, uint32_t spa, const uint8_t *tha, uint32_t tpa);
size_t fx_arp_build(uint8_t *buf, const struct fx_arp *a); /* 28 bytes */

/* An IPv4 header; start from fx_ip_default() and override fields. */
struct fx_ip {
    uint32_t src, dst;
    uint8_t proto, ttl, tos;
    uint16_t id;
    uint16_t frag; /* flags and offset as on the wire: 0x2000 MF, 0x4000 DF, 8-byte units */
    uint8_t version;
    int ihl;                /* in 32-bit words; -1: computed from the options */
    int total_len;          /* -1: computed */
    int checksum;           /* -1: computed (correct) */
    const uint8_t *options; /* options_len bytes after the fixed header */
    size_t options_len;
};
struct fx_ip fx_ip_default(void); /* 10.0.0.1 > 10.0.0.2, ICMP, TTL 64, id 0x1234 */
/* Header (with options) followed by payload into buf; returns the bytes written. */
size_t fx_ip_build(uint8_t *buf, const struct fx_ip *ip, const void *payload, size_t len);

/* An ICMP message with a correct checksum; returns 8 + len. */
size_t fx_icmp_build(uint8_t *buf, uint8_t type, uint8_t code, uint32_t rest, const void *data,
                     size_t len);
size_t fx_icmp_echo(uint8_t *buf, uint16_t id, uint16_t seq, const void *data, size_t len);

/* A UDP header and payload into buf (8 + len bytes) from sport to dport; checksum -1 computes
 * the correct one over the src/dst pseudo header, otherwise that value is written. */
size_t fx_udp_build(uint8_t *buf, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
                    const void *payload, size_t len, int checksum);
/* The UDP checksum check over the pseudo header and udp_len bytes at udp: 0 when correct. */
uint16_t fx_udp_csum(uint32_t src, uint32_t dst, const uint8_t *udp, size_t udp_len);

/* Fills buf with a recognisable pattern derived from seed. */
void fx_pattern(uint8_t *buf, size_t len, unsigned seed);

/* --- injecting --- */

int fx_inject(struct fixture *f, const void *frame, size_t len);
void fx_inject_arp(struct fixture *f, const uint8_t *eth_dst, const struct fx_arp *a);
/* An IPv4 datagram in an Ethernet frame to our MAC from src_mac. */
void fx_inject_ip(struct fixture *f, const uint8_t *src_mac, const struct fx_ip *ip,
                  const void *payload, size_t len);
/* An echo request from 10.0.0.1 (gateway MAC) to us. */
void fx_inject_ping(struct fixture *f, uint16_t id, uint16_t seq, const void *data, size_t len);
/* A UDP datagram with a correct checksum from src:sport (gateway MAC) to dst:dport; the
 * Ethernet destination is broadcast when dst is not our address. */
void fx_inject_udp(struct fixture *f, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport,
                   const void *payload, size_t len);
/* An ICMP message (correct checksum, type, code, the 4 bytes after the checksum, then data)
 * from src at src_mac to us. */
void fx_inject_icmp(struct fixture *f, uint32_t src, const uint8_t *src_mac, uint8_t type,
                    uint8_t code, uint32_t rest, const void *data, size_t len);
/* Teaches the stack ip is at mac (an ARP request from it for our address) and drops the reply. */
void fx_learn(struct fixture *f, uint32_t ip, const uint8_t *mac);
void fx_learn_gateway(struct fixture *f); /* 10.0.0.1 at fx_gw_mac */
/* The stack sends an echo request (icmp_send_echo_request) at the fixture's clock. */
int fx_send_ping(struct fixture *f, uint32_t dst, uint16_t id, uint16_t seq, const void *data,
                 size_t len);

/* --- reading frames --- */

struct fx_eth_view {
    const uint8_t *dst, *src;
    uint16_t type;
    const uint8_t *payload;
    size_t len;
};
struct fx_arp_view {
    uint16_t htype, ptype, op;
    uint8_t hlen, plen;
    const uint8_t *sha, *tha;
    uint32_t spa, tpa;
};
struct fx_ip_view {
    unsigned hdr_len, total_len;
    uint8_t proto, ttl, tos;
    uint16_t id, frag;
    uint32_t src, dst;
    const uint8_t *hdr, *payload;
    size_t payload_len;
};
struct fx_icmp_view {
    uint8_t type, code;
    uint16_t id, seq; /* the echo fields */
    uint32_t rest;    /* the 4 bytes after the checksum */
    const uint8_t *data;
    size_t data_len;
};

struct fx_eth_view fx_as_eth(const struct fx_frame *fr);
/* Asserts an ARP frame (EtherType, 28 bytes, Ethernet/IPv4) and parses it. */
struct fx_arp_view fx_as_arp(const struct fx_frame *fr);
/* Asserts an IPv4 frame with a valid header and checksum and a total length that fits. */
struct fx_ip_view fx_as_ip(const struct fx_frame *fr);
/* Asserts an unfragmented ICMP datagram with a valid ICMP checksum. */
struct fx_icmp_view fx_as_icmp(const struct fx_frame *fr, struct fx_ip_view *ip_out);
struct fx_udp_view {
    uint16_t sport, dport, len, checksum;
    const uint8_t *data;
    size_t data_len;
};
/* Asserts an unfragmented UDP datagram whose length field matches the IP payload and whose
 * checksum is nonzero and verifies over the pseudo header, and parses it. */
struct fx_udp_view fx_as_udp(const struct fx_frame *fr, struct fx_ip_view *ip_out);
/* Asserts frames are the fragments of one datagram (same id, in order, 8-byte aligned, MF on all
 * but the last, each within mtu) and puts the reassembled payload in out (cap bytes). Returns the
 * payload length. */
size_t fx_reassemble(const struct fx_frame *frames, size_t n, unsigned mtu, uint8_t *out,
                     size_t cap);

/* What Linux reports on a connected UDP or ping socket without IP_RECVERR when an ICMP error
 * of this type and code arrives about one of its datagrams: a positive errno, or 0 when Linux
 * ignores it (a soft error). Taken from Linux 6.18 (icmp_err_convert and its fatal flags, as
 * __udp4_lib_err and ping_err apply them), independently of the stack's own table. */
int fx_linux_icmp_errno(uint8_t type, uint8_t code);

/* Internet checksum over buf (0 when buf contains its own correct checksum). */
uint16_t fx_csum(const void *buf, size_t len);
uint32_t fx_be32(const uint8_t *p);
uint16_t fx_be16(const uint8_t *p);

/* --- TCP --- */

/* Control bits, as on the wire (the fixture's own names: tests may include the stack's tcp.h). */
#define FX_TCP_FIN 0x01u
#define FX_TCP_SYN 0x02u
#define FX_TCP_RST 0x04u
#define FX_TCP_PSH 0x08u
#define FX_TCP_ACK 0x10u
#define FX_TCP_URG 0x20u

/* A TCP segment; start from fx_tcp_default() and override fields. */
struct fx_tcp {
    uint32_t src, dst;      /* host order, for the pseudo header (and the IP header) */
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t wnd;
    int mss;                /* >= 0: an MSS option (kind 2, length 4) first; -1: none */
    const uint8_t *options; /* then these raw option bytes, zero-padded to a multiple of 4 */
    size_t options_len;
    int data_offset;        /* in 32-bit words; -1: computed from the options */
    int checksum;           /* -1: computed (correct) over the pseudo header */
};
/* 10.0.0.1:40000 > 10.0.0.2:80, no flags, window 65535, no options. */
struct fx_tcp fx_tcp_default(void);
/* Header, options and payload into buf; returns the bytes written. */
size_t fx_tcp_build(uint8_t *buf, const struct fx_tcp *t, const void *payload, size_t len);
/* The TCP checksum check over the pseudo header and len bytes at tcp: 0 when correct. */
uint16_t fx_tcp_csum(uint32_t src, uint32_t dst, const uint8_t *tcp, size_t len);
/* A segment in an IPv4 datagram from t->src (the gateway's MAC, or 10.0.0.3's) to t->dst;
 * the Ethernet destination is broadcast when t->dst is not our address. */
void fx_inject_tcp(struct fixture *f, const struct fx_tcp *t, const void *payload, size_t len);
/* len raw bytes as the payload of a TCP datagram src > dst (for truncated headers). */
void fx_inject_tcp_raw(struct fixture *f, uint32_t src, uint32_t dst, const void *tcp, size_t len);

struct fx_tcp_view {
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags; /* the six control bits */
    uint16_t wnd, urg;
    unsigned hdr_len;
    int mss; /* the MSS option, -1 if none */
    const uint8_t *options;
    size_t options_len;
    const uint8_t *data;
    size_t data_len;
};
/* Asserts an unfragmented TCP segment with a sane data offset, well-formed options and a
 * checksum that verifies over the pseudo header, and parses it. */
struct fx_tcp_view fx_as_tcp(const struct fx_frame *fr, struct fx_ip_view *ip_out);

/* An AF_INET address from a host-order address and port, for the core socket calls. */
static inline struct sockaddr_in sin_of(uint32_t ip, uint16_t port)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(ip);
    a.sin_port = htons(port);
    return a;
}

#endif
