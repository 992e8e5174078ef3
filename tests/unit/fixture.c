/* SPDX-License-Identifier: MIT */
/* fixture.c: the unit tests' stack on a capturing fake driver, and frames to build and read. */
#include "fixture.h"

#include <stdio.h>
#include <stdlib.h>

#include "icmp.h"

const uint8_t fx_our_mac[6] = {0x02, 0x74, 0x61, 0x70, 0x69, 0x72};
const uint8_t fx_gw_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
const uint8_t fx_peer_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x03};
const uint8_t fx_other_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x99};
const uint8_t fx_bcast_mac[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
const uint8_t fx_zero_mac[6] = {0};

/* --- small helpers, written independently of the stack's own --- */

uint16_t fx_be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}
uint32_t fx_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}

uint16_t fx_csum(const void *buf, size_t len)
{
    const uint8_t *p = buf;
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (len & 1)
        sum += (uint32_t)p[len - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

void fx_pattern(uint8_t *buf, size_t len, unsigned seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < len; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (uint8_t)(x >> 16);
    }
}

/* --- the fake driver --- */

static int fx_driver_send(void *ctx, const void *frame, size_t len)
{
    struct fixture *f = ctx;
    if (f->nframes >= FX_MAX_FRAMES || len > FX_FRAME_MAX) {
        f->overflowed++;
        return f->send_rc;
    }
    struct fx_frame *fr = &f->frames[f->nframes++];
    fr->len = len;
    memcpy(fr->data, frame, len);
    return f->send_rc;
}

/* --- set-up --- */

void fx_config(struct tapir_config *cfg)
{
    tapir_config_defaults(cfg);
    memcpy(cfg->mac, fx_our_mac, 6);
    cfg->addr.s_addr = htonl(FX_OUR_IP);
    cfg->prefix_len = 24;
    cfg->gateway.s_addr = htonl(FX_GW_IP);
    cfg->seed = FX_SEED;
}

void fx_restart(struct fixture *f, const struct tapir_config *cfg)
{
    if (f->st)
        tapir_stack_free(f->st);
    f->cfg = *cfg;
    struct tapir_driver drv = {.send = fx_driver_send, .ctx = f};
    f->st = tapir_stack_new(&f->cfg, &drv);
    assert_non_null(f->st);
    f->nframes = 0;
    f->overflowed = 0;
    /* Set the stack's clock: calls made outside an entry point (icmp_send_echo_request) use it. */
    tapir_timers(f->st, f->now_us);
}

int fx_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    f->frames = calloc(FX_MAX_FRAMES, sizeof(*f->frames));
    if (!f->frames) {
        free(f);
        return -1;
    }
    f->now_us = FX_NOW_US;
    struct tapir_config cfg;
    fx_config(&cfg);
    fx_restart(f, &cfg);
    *state = f;
    return 0;
}

int fx_teardown(void **state)
{
    struct fixture *f = *state;
    if (!f)
        return 0;
    tapir_stack_free(f->st);
    free(f->frames);
    free(f);
    *state = NULL;
    return 0;
}

const struct tapir_stats *fx_stats(const struct fixture *f)
{
    return tapir_stats(f->st);
}

/* --- time --- */

void fx_advance_to(struct fixture *f, uint64_t now_us)
{
    f->now_us = now_us;
    tapir_timers(f->st, now_us);
}

void fx_advance(struct fixture *f, uint64_t delta_us)
{
    fx_advance_to(f, f->now_us + delta_us);
}

unsigned fx_run_until(struct fixture *f, uint64_t until_us)
{
    unsigned visits = 0;
    uint64_t d;
    while ((d = tapir_next_deadline(f->st)) <= until_us) {
        assert_true(d >= f->now_us); /* never a deadline in the past left unfired */
        fx_advance_to(f, d);
        visits++;
        assert_true(visits < 100000);
    }
    fx_advance_to(f, until_us);
    return visits;
}

/* --- captured output --- */

static void fx_check_overflow(const struct fixture *f)
{
    if (f->overflowed)
        fail_msg("fake driver overflowed: %zu frames past %d", f->overflowed, FX_MAX_FRAMES);
}

const struct fx_frame *fx_expect_one(struct fixture *f)
{
    fx_check_overflow(f);
    if (f->nframes != 1)
        fail_msg("expected exactly one frame out, got %zu", f->nframes);
    f->nframes = 0;
    return &f->frames[0];
}

void fx_expect_none(struct fixture *f)
{
    fx_check_overflow(f);
    if (f->nframes != 0) {
        const struct fx_frame *fr = &f->frames[0];
        fail_msg("expected no frame out, got %zu (first: %zu bytes, type 0x%04x)", f->nframes,
                 fr->len, fr->len >= 14 ? fx_be16(fr->data + 12) : 0);
    }
}

const struct fx_frame *fx_take_all(struct fixture *f, size_t *n)
{
    fx_check_overflow(f);
    *n = f->nframes;
    f->nframes = 0;
    return f->frames;
}

void fx_clear(struct fixture *f)
{
    f->nframes = 0;
    f->overflowed = 0;
}

/* --- building frames --- */

size_t fx_eth(uint8_t *buf, const uint8_t *dst, const uint8_t *src, uint16_t type,
              const void *payload, size_t len)
{
    memcpy(buf, dst, 6);
    memcpy(buf + 6, src, 6);
    put16(buf + 12, type);
    if (len)
        memmove(buf + 14, payload, len);
    return 14 + len;
}

struct fx_arp fx_arp_request(const uint8_t *sha, uint32_t spa, uint32_t tpa)
{
    struct fx_arp a = {
        .htype = 1, .ptype = 0x0800, .op = 1, .hlen = 6, .plen = 4, .spa = spa, .tpa = tpa};
    memcpy(a.sha, sha, 6);
    return a;
}

struct fx_arp fx_arp_reply(const uint8_t *sha, uint32_t spa, const uint8_t *tha, uint32_t tpa)
{
    struct fx_arp a = fx_arp_request(sha, spa, tpa);
    a.op = 2;
    memcpy(a.tha, tha, 6);
    return a;
}

size_t fx_arp_build(uint8_t *buf, const struct fx_arp *a)
{
    put16(buf, a->htype);
    put16(buf + 2, a->ptype);
    buf[4] = a->hlen;
    buf[5] = a->plen;
    put16(buf + 6, a->op);
    memcpy(buf + 8, a->sha, 6);
    put32(buf + 14, a->spa);
    memcpy(buf + 18, a->tha, 6);
    put32(buf + 24, a->tpa);
    return 28;
}

struct fx_ip fx_ip_default(void)
{
    return (struct fx_ip){
        .src = FX_GW_IP,
        .dst = FX_OUR_IP,
        .proto = 1,
        .ttl = 64,
        .tos = 0,
        .id = 0x1234,
        .frag = 0,
        .version = 4,
        .ihl = -1,
        .total_len = -1,
        .checksum = -1,
    };
}

size_t fx_ip_build(uint8_t *buf, const struct fx_ip *ip, const void *payload, size_t len)
{
    size_t hdr = 20 + ip->options_len;
    int ihl = ip->ihl >= 0 ? ip->ihl : (int)(hdr / 4);
    buf[0] = (uint8_t)(ip->version << 4 | (ihl & 0xf));
    buf[1] = ip->tos;
    put16(buf + 2, (uint16_t)(ip->total_len >= 0 ? (unsigned)ip->total_len : hdr + len));
    put16(buf + 4, ip->id);
    put16(buf + 6, ip->frag);
    buf[8] = ip->ttl;
    buf[9] = ip->proto;
    put16(buf + 10, 0);
    put32(buf + 12, ip->src);
    put32(buf + 16, ip->dst);
    if (ip->options_len)
        memcpy(buf + 20, ip->options, ip->options_len);
    /* The checksum covers the header as the IHL field says, when that fits what we wrote. */
    size_t csum_len = (size_t)ihl * 4 >= 20 && (size_t)ihl * 4 <= hdr ? (size_t)ihl * 4 : hdr;
    put16(buf + 10, ip->checksum >= 0 ? (uint16_t)ip->checksum : fx_csum(buf, csum_len));
    if (len)
        memmove(buf + hdr, payload, len);
    return hdr + len;
}

size_t fx_icmp_build(uint8_t *buf, uint8_t type, uint8_t code, uint32_t rest, const void *data,
                     size_t len)
{
    buf[0] = type;
    buf[1] = code;
    put16(buf + 2, 0);
    put32(buf + 4, rest);
    if (len)
        memmove(buf + 8, data, len);
    put16(buf + 2, fx_csum(buf, 8 + len));
    return 8 + len;
}

size_t fx_icmp_echo(uint8_t *buf, uint16_t id, uint16_t seq, const void *data, size_t len)
{
    return fx_icmp_build(buf, 8, 0, (uint32_t)id << 16 | seq, data, len);
}

uint16_t fx_udp_csum(uint32_t src, uint32_t dst, const uint8_t *udp, size_t udp_len)
{
    static uint8_t tmp[12 + 65536];
    assert_true(udp_len <= 65536);
    put32(tmp, src);
    put32(tmp + 4, dst);
    tmp[8] = 0;
    tmp[9] = 17;
    put16(tmp + 10, (uint16_t)udp_len);
    memcpy(tmp + 12, udp, udp_len);
    return fx_csum(tmp, 12 + udp_len);
}

size_t fx_udp_build(uint8_t *buf, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
                    const void *payload, size_t len, int checksum)
{
    put16(buf, sport);
    put16(buf + 2, dport);
    put16(buf + 4, (uint16_t)(8 + len));
    put16(buf + 6, 0);
    if (len)
        memmove(buf + 8, payload, len);
    if (checksum >= 0) {
        put16(buf + 6, (uint16_t)checksum);
    } else {
        uint16_t sum = fx_udp_csum(src, dst, buf, 8 + len);
        put16(buf + 6, sum ? sum : 0xffff);
    }
    return 8 + len;
}

/* --- injecting --- */

static uint8_t fx_scratch[65536 + 256];
static uint8_t fx_scratch2[65536 + 256];

int fx_inject(struct fixture *f, const void *frame, size_t len)
{
    return tapir_input(f->st, frame, len, f->now_us);
}

void fx_inject_arp(struct fixture *f, const uint8_t *eth_dst, const struct fx_arp *a)
{
    uint8_t arp[28], frame[64];
    fx_arp_build(arp, a);
    size_t n = fx_eth(frame, eth_dst, a->sha, 0x0806, arp, sizeof(arp));
    fx_inject(f, frame, n);
}

void fx_inject_ip(struct fixture *f, const uint8_t *src_mac, const struct fx_ip *ip,
                  const void *payload, size_t len)
{
    assert_true(len + 60 <= sizeof(fx_scratch2));
    size_t n = fx_ip_build(fx_scratch2, ip, payload, len);
    n = fx_eth(fx_scratch, fx_our_mac, src_mac, 0x0800, fx_scratch2, n);
    fx_inject(f, fx_scratch, n);
}

void fx_inject_ping(struct fixture *f, uint16_t id, uint16_t seq, const void *data, size_t len)
{
    static uint8_t icmp[65536];
    assert_true(len + 8 <= sizeof(icmp));
    size_t n = fx_icmp_echo(icmp, id, seq, data, len);
    struct fx_ip ip = fx_ip_default();
    fx_inject_ip(f, fx_gw_mac, &ip, icmp, n);
}

void fx_inject_udp(struct fixture *f, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport,
                   const void *payload, size_t len)
{
    static uint8_t udp[65536 + 8], ipb[65536 + 64];
    assert_true(len + 8 <= sizeof(udp));
    size_t n = fx_udp_build(udp, src, dst, sport, dport, payload, len, -1);
    struct fx_ip ip = fx_ip_default();
    ip.src = src;
    ip.dst = dst;
    ip.proto = 17;
    n = fx_ip_build(ipb, &ip, udp, n);
    n = fx_eth(fx_scratch, dst == FX_OUR_IP ? fx_our_mac : fx_bcast_mac, fx_gw_mac, 0x0800, ipb,
               n);
    fx_inject(f, fx_scratch, n);
}

void fx_inject_icmp(struct fixture *f, uint32_t src, const uint8_t *src_mac, uint8_t type,
                    uint8_t code, uint32_t rest, const void *data, size_t len)
{
    static uint8_t icmp[65536];
    assert_true(len + 8 <= sizeof(icmp));
    size_t n = fx_icmp_build(icmp, type, code, rest, data, len);
    struct fx_ip ip = fx_ip_default();
    ip.src = src;
    fx_inject_ip(f, src_mac, &ip, icmp, n);
}

void fx_learn(struct fixture *f, uint32_t ip, const uint8_t *mac)
{
    struct fx_arp a = fx_arp_request(mac, ip, FX_OUR_IP);
    fx_inject_arp(f, fx_bcast_mac, &a);
    const struct fx_frame *fr = fx_expect_one(f);
    struct fx_arp_view v = fx_as_arp(fr);
    assert_int_equal(v.op, 2);
    fx_clear(f);
}

void fx_learn_gateway(struct fixture *f)
{
    fx_learn(f, FX_GW_IP, fx_gw_mac);
}

int fx_send_ping(struct fixture *f, uint32_t dst, uint16_t id, uint16_t seq, const void *data,
                 size_t len)
{
    tapir_timers(f->st, f->now_us);
    return icmp_send_echo_request(f->st, dst, id, seq, data, len);
}

/* --- reading frames --- */

struct fx_eth_view fx_as_eth(const struct fx_frame *fr)
{
    assert_true(fr->len >= 14);
    return (struct fx_eth_view){.dst = fr->data,
                                .src = fr->data + 6,
                                .type = fx_be16(fr->data + 12),
                                .payload = fr->data + 14,
                                .len = fr->len - 14};
}

struct fx_arp_view fx_as_arp(const struct fx_frame *fr)
{
    struct fx_eth_view e = fx_as_eth(fr);
    assert_int_equal(e.type, 0x0806);
    assert_true(e.len >= 28);
    const uint8_t *a = e.payload;
    struct fx_arp_view v = {
        .htype = fx_be16(a),
        .ptype = fx_be16(a + 2),
        .hlen = a[4],
        .plen = a[5],
        .op = fx_be16(a + 6),
        .sha = a + 8,
        .spa = fx_be32(a + 14),
        .tha = a + 18,
        .tpa = fx_be32(a + 24),
    };
    assert_int_equal(v.htype, 1);
    assert_int_equal(v.ptype, 0x0800);
    assert_int_equal(v.hlen, 6);
    assert_int_equal(v.plen, 4);
    return v;
}

struct fx_ip_view fx_as_ip(const struct fx_frame *fr)
{
    struct fx_eth_view e = fx_as_eth(fr);
    assert_int_equal(e.type, 0x0800);
    assert_true(e.len >= 20);
    const uint8_t *h = e.payload;
    assert_int_equal(h[0] >> 4, 4);
    struct fx_ip_view v = {
        .hdr_len = (h[0] & 0xfu) * 4u,
        .total_len = fx_be16(h + 2),
        .tos = h[1],
        .id = fx_be16(h + 4),
        .frag = fx_be16(h + 6),
        .ttl = h[8],
        .proto = h[9],
        .src = fx_be32(h + 12),
        .dst = fx_be32(h + 16),
        .hdr = h,
    };
    assert_true(v.hdr_len >= 20);
    assert_true(v.total_len >= v.hdr_len);
    assert_true(v.total_len <= e.len);
    assert_int_equal(fx_csum(h, v.hdr_len), 0);
    v.payload = h + v.hdr_len;
    v.payload_len = v.total_len - v.hdr_len;
    return v;
}

struct fx_icmp_view fx_as_icmp(const struct fx_frame *fr, struct fx_ip_view *ip_out)
{
    struct fx_ip_view ip = fx_as_ip(fr);
    assert_int_equal(ip.proto, 1);
    assert_int_equal(ip.frag & 0x3fff, 0); /* neither MF nor an offset */
    assert_true(ip.payload_len >= 8);
    assert_int_equal(fx_csum(ip.payload, ip.payload_len), 0);
    const uint8_t *m = ip.payload;
    struct fx_icmp_view v = {
        .type = m[0],
        .code = m[1],
        .id = fx_be16(m + 4),
        .seq = fx_be16(m + 6),
        .rest = fx_be32(m + 4),
        .data = m + 8,
        .data_len = ip.payload_len - 8,
    };
    if (ip_out)
        *ip_out = ip;
    return v;
}

struct fx_udp_view fx_as_udp(const struct fx_frame *fr, struct fx_ip_view *ip_out)
{
    struct fx_ip_view ip = fx_as_ip(fr);
    assert_int_equal(ip.proto, 17);
    assert_int_equal(ip.frag & 0x3fff, 0);
    assert_true(ip.payload_len >= 8);
    const uint8_t *u = ip.payload;
    struct fx_udp_view v = {
        .sport = fx_be16(u),
        .dport = fx_be16(u + 2),
        .len = fx_be16(u + 4),
        .checksum = fx_be16(u + 6),
        .data = u + 8,
        .data_len = ip.payload_len - 8,
    };
    assert_int_equal(v.len, ip.payload_len);
    assert_int_not_equal(v.checksum, 0);
    assert_int_equal(fx_udp_csum(ip.src, ip.dst, u, v.len), 0);
    if (ip_out)
        *ip_out = ip;
    return v;
}

size_t fx_reassemble(const struct fx_frame *frames, size_t n, unsigned mtu, uint8_t *out,
                     size_t cap)
{
    assert_true(n >= 1);
    struct fx_ip_view first = fx_as_ip(&frames[0]);
    size_t expect_off = 0;
    for (size_t i = 0; i < n; i++) {
        struct fx_ip_view v = fx_as_ip(&frames[i]);
        assert_true(v.total_len <= mtu);
        assert_int_equal(v.id, first.id);
        assert_int_equal(v.src, first.src);
        assert_int_equal(v.dst, first.dst);
        assert_int_equal(v.proto, first.proto);
        size_t off = (size_t)(v.frag & 0x1fff) * 8;
        bool mf = (v.frag & 0x2000) != 0;
        assert_int_equal(off, expect_off);
        if (i + 1 < n) {
            assert_true(mf);
            assert_int_equal(v.payload_len % 8, 0);
        } else {
            assert_false(mf);
        }
        assert_true(off + v.payload_len <= cap);
        memcpy(out + off, v.payload, v.payload_len);
        expect_off = off + v.payload_len;
    }
    return expect_off;
}

int fx_linux_icmp_errno(uint8_t type, uint8_t code)
{
    /* Destination unreachable, by code: only the "fatal" ones of icmp_err_convert reach a
     * socket that did not ask for IP_RECVERR; fragmentation needed is EMSGSIZE (PMTU
     * discovery on); codes above 15 are dropped by icmp_unreach. */
    static const int unreach[16] = {
        [2] = ENOPROTOOPT,   [3] = ECONNREFUSED,  [4] = EMSGSIZE,      [6] = ENETUNREACH,
        [7] = EHOSTDOWN,     [8] = ENONET,        [9] = ENETUNREACH,   [10] = EHOSTUNREACH,
        [13] = EHOSTUNREACH, [14] = EHOSTUNREACH, [15] = EHOSTUNREACH,
    };
    switch (type) {
    case 3:
        return code < 16 ? unreach[code] : 0;
    case 12:
        return EPROTO; /* parameter problem: fatal */
    default:
        return 0; /* time exceeded, source quench, redirect: soft */
    }
}

/* --- TCP --- */

struct fx_tcp fx_tcp_default(void)
{
    return (struct fx_tcp){
        .src = FX_GW_IP,
        .dst = FX_OUR_IP,
        .sport = 40000,
        .dport = 80,
        .wnd = 65535,
        .mss = -1,
        .data_offset = -1,
        .checksum = -1,
    };
}

uint16_t fx_tcp_csum(uint32_t src, uint32_t dst, const uint8_t *tcp, size_t len)
{
    static uint8_t tmp[12 + 65536];
    assert_true(len <= 65536);
    put32(tmp, src);
    put32(tmp + 4, dst);
    tmp[8] = 0;
    tmp[9] = 6;
    put16(tmp + 10, (uint16_t)len);
    memcpy(tmp + 12, tcp, len);
    return fx_csum(tmp, 12 + len);
}

size_t fx_tcp_build(uint8_t *buf, const struct fx_tcp *t, const void *payload, size_t len)
{
    size_t opt = (t->mss >= 0 ? 4 : 0) + t->options_len;
    size_t padded = (opt + 3) & ~(size_t)3;
    assert_true(padded <= 40);
    size_t hdr = 20 + padded;
    put16(buf, t->sport);
    put16(buf + 2, t->dport);
    put32(buf + 4, t->seq);
    put32(buf + 8, t->ack);
    buf[12] = (uint8_t)((t->data_offset >= 0 ? (unsigned)t->data_offset : hdr / 4) << 4);
    buf[13] = t->flags;
    put16(buf + 14, t->wnd);
    put16(buf + 16, 0);
    put16(buf + 18, 0);
    uint8_t *o = buf + 20;
    if (t->mss >= 0) {
        o[0] = 2;
        o[1] = 4;
        put16(o + 2, (uint16_t)t->mss);
        o += 4;
    }
    if (t->options_len)
        memcpy(o, t->options, t->options_len);
    memset(o + t->options_len, 0, padded - opt);
    if (len)
        memmove(buf + hdr, payload, len);
    put16(buf + 16, t->checksum >= 0 ? (uint16_t)t->checksum
                                     : fx_tcp_csum(t->src, t->dst, buf, hdr + len));
    return hdr + len;
}

void fx_inject_tcp_raw(struct fixture *f, uint32_t src, uint32_t dst, const void *tcp, size_t len)
{
    static uint8_t ipb[65536 + 64];
    assert_true(len + 20 <= 65535);
    struct fx_ip ip = fx_ip_default();
    ip.src = src;
    ip.dst = dst;
    ip.proto = 6;
    size_t n = fx_ip_build(ipb, &ip, tcp, len);
    n = fx_eth(fx_scratch, dst == FX_OUR_IP ? fx_our_mac : fx_bcast_mac,
               src == FX_PEER_IP ? fx_peer_mac : fx_gw_mac, 0x0800, ipb, n);
    fx_inject(f, fx_scratch, n);
}

void fx_inject_tcp(struct fixture *f, const struct fx_tcp *t, const void *payload, size_t len)
{
    static uint8_t seg[65536];
    assert_true(len + 60 <= sizeof(seg));
    size_t n = fx_tcp_build(seg, t, payload, len);
    fx_inject_tcp_raw(f, t->src, t->dst, seg, n);
}

struct fx_tcp_view fx_as_tcp(const struct fx_frame *fr, struct fx_ip_view *ip_out)
{
    struct fx_ip_view ip = fx_as_ip(fr);
    assert_int_equal(ip.proto, 6);
    assert_int_equal(ip.frag & 0x3fff, 0);
    assert_true(ip.payload_len >= 20);
    const uint8_t *t = ip.payload;
    struct fx_tcp_view v = {
        .sport = fx_be16(t),
        .dport = fx_be16(t + 2),
        .seq = fx_be32(t + 4),
        .ack = fx_be32(t + 8),
        .hdr_len = (t[12] >> 4) * 4u,
        .flags = t[13] & 0x3fu,
        .wnd = fx_be16(t + 14),
        .urg = fx_be16(t + 18),
        .mss = -1,
    };
    assert_true(v.hdr_len >= 20 && v.hdr_len <= ip.payload_len);
    assert_int_equal(fx_tcp_csum(ip.src, ip.dst, t, ip.payload_len), 0);
    v.options = t + 20;
    v.options_len = v.hdr_len - 20;
    v.data = t + v.hdr_len;
    v.data_len = ip.payload_len - v.hdr_len;
    for (size_t i = 0; i < v.options_len;) {
        uint8_t kind = v.options[i];
        if (kind == 0)
            break;
        if (kind == 1) {
            i++;
            continue;
        }
        assert_true(i + 1 < v.options_len);
        uint8_t olen = v.options[i + 1];
        assert_true(olen >= 2 && i + olen <= v.options_len);
        if (kind == 2) {
            assert_int_equal(olen, 4);
            v.mss = fx_be16(v.options + i + 2);
        }
        i += olen;
    }
    if (ip_out)
        *ip_out = ip;
    return v;
}
