/* SPDX-License-Identifier: MIT */
/* test_ping.c: ICMP ping sockets (SOCK_DGRAM, IPPROTO_ICMP), as on Linux: echo requests the
 * caller writes go out with the socket's port as identifier and a correct checksum; echo
 * replies with that identifier are queued, header first; ICMP errors about our requests reach
 * a connected socket. */
#include "fixture.h"

#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>

#include "tapir/sock.h"

static uint8_t big[70000];

static int setup_learned(void **state)
{
    int rc = fx_setup(state);
    if (rc == 0) {
        fx_learn_gateway(*state);
        fx_learn(*state, FX_PEER_IP, fx_peer_mac);
    }
    return rc;
}
#define FX_TEST_LEARNED(fn) cmocka_unit_test_setup_teardown(fn, setup_learned, fx_teardown)

static struct tapir_sock *ping_new(struct fixture *f)
{
    struct tapir_sock *s = NULL;
    assert_int_equal(tapir_sock_open(f->st, SOCK_DGRAM, IPPROTO_ICMP, &s), 0);
    assert_non_null(s);
    return s;
}

/* A ping socket whose identifier is id (bound to addr:id). */
static struct tapir_sock *ping_bound(struct fixture *f, uint32_t addr, uint16_t id)
{
    struct tapir_sock *s = ping_new(f);
    struct sockaddr_in a = sin_of(addr, id);
    assert_int_equal(tapir_sock_bind(s, &a), 0);
    return s;
}

static struct tapir_sock *ping_connected(struct fixture *f, uint32_t peer)
{
    struct tapir_sock *s = ping_new(f);
    struct sockaddr_in a = sin_of(peer, 0);
    assert_int_equal(tapir_sock_connect(s, &a), 0);
    return s;
}

static uint16_t ping_id(const struct tapir_sock *s)
{
    struct sockaddr_in a;
    assert_int_equal(tapir_sock_getsockname(s, &a), 0);
    return ntohs(a.sin_port);
}

static void set_int(struct tapir_sock *s, int name, int v)
{
    assert_int_equal(tapir_sock_setopt(s, SOL_SOCKET, name, &v, sizeof(v)), 0);
}

static int get_int(struct tapir_sock *s, int name)
{
    int v = -1;
    socklen_t len = sizeof(v);
    assert_int_equal(tapir_sock_getopt(s, SOL_SOCKET, name, &v, &len), 0);
    return v;
}

/* An echo request as a program writes it: header (checksum and identifier left to the
 * stack, so garbage here) and len bytes of data. Returns 8 + len. */
static size_t echo_request(uint8_t *buf, uint16_t seq, const void *data, size_t len)
{
    buf[0] = 8;
    buf[1] = 0;
    buf[2] = 0xde; /* checksum: the stack's to fill */
    buf[3] = 0xad;
    buf[4] = 0xbe; /* identifier: the stack's to replace */
    buf[5] = 0xef;
    buf[6] = (uint8_t)(seq >> 8);
    buf[7] = (uint8_t)seq;
    if (len)
        memcpy(buf + 8, data, len);
    return 8 + len;
}

/* An echo reply from src (at mac) with identifier id. */
static void inject_reply(struct fixture *f, uint32_t src, const uint8_t *mac, uint16_t id,
                         uint16_t seq, const void *data, size_t len)
{
    fx_inject_icmp(f, src, mac, 0, 0, (uint32_t)id << 16 | seq, data, len);
}

static void expect_empty(struct tapir_sock *s)
{
    uint8_t buf[16];
    assert_int_equal(tapir_sock_recvfrom(s, buf, sizeof(buf), 0, NULL, NULL), -EAGAIN);
}

/* --- sending --- */

static void test_send_writes_echo_request_with_socket_port_as_id(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *s = ping_new(f);
    uint8_t data[56], msg[64];
    fx_pattern(data, sizeof(data), 5);
    size_t n = echo_request(msg, 7, data, sizeof(data));
    uint8_t copy[64];
    memcpy(copy, msg, n);
    struct sockaddr_in dst = sin_of(FX_GW_IP, 0);
    assert_int_equal(tapir_sock_sendto(s, msg, n, 0, &dst), (ssize_t)n);
    assert_memory_equal(msg, copy, n); /* the caller's buffer is left alone */

    uint16_t id = ping_id(s); /* sending bound an identifier */
    assert_int_not_equal(id, 0);
    struct fx_ip_view ip;
    const struct fx_frame *fr = fx_expect_one(f);
    struct fx_icmp_view m = fx_as_icmp(fr, &ip); /* checksum verified here */
    assert_memory_equal(fx_as_eth(fr).dst, fx_gw_mac, 6);
    assert_int_equal(ip.src, FX_OUR_IP);
    assert_int_equal(ip.dst, FX_GW_IP);
    assert_int_equal(ip.proto, 1);
    assert_int_equal(m.type, 8);
    assert_int_equal(m.code, 0);
    assert_int_equal(m.id, id);
    assert_int_equal(m.seq, 7);
    assert_int_equal(m.data_len, sizeof(data));
    assert_memory_equal(m.data, data, sizeof(data));
    assert_int_equal(fx_stats(f)->icmp.tx_echo_requests, 1);

    /* The next request keeps the identifier. */
    n = echo_request(msg, 8, NULL, 0);
    assert_int_equal(tapir_sock_sendto(s, msg, n, 0, &dst), 8);
    m = fx_as_icmp(fx_expect_one(f), NULL);
    assert_int_equal(m.id, id);
    assert_int_equal(m.seq, 8);
    assert_int_equal(m.data_len, 0);
    tapir_sock_close(s);
}

static void test_bound_socket_sends_its_identifier_via_gateway(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *s = ping_bound(f, FX_OUR_IP, 4242);
    uint8_t msg[16];
    size_t n = echo_request(msg, 1, "abcdefgh", 8);
    struct sockaddr_in dst = sin_of(FX_FAR_IP, 0);
    assert_int_equal(tapir_sock_sendto(s, msg, n, 0, &dst), (ssize_t)n);
    struct fx_ip_view ip;
    const struct fx_frame *fr = fx_expect_one(f);
    struct fx_icmp_view m = fx_as_icmp(fr, &ip);
    assert_memory_equal(fx_as_eth(fr).dst, fx_gw_mac, 6); /* off-link: to the gateway */
    assert_int_equal(ip.dst, FX_FAR_IP);
    assert_int_equal(ip.src, FX_OUR_IP);
    assert_int_equal(m.id, 4242);
    assert_int_equal(m.seq, 1);
    tapir_sock_close(s);
}

static void test_connected_socket_sends_without_address(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *s = ping_connected(f, FX_PEER_IP);
    uint8_t msg[8];
    echo_request(msg, 3, NULL, 0);
    assert_int_equal(tapir_sock_sendto(s, msg, 8, 0, NULL), 8);
    struct fx_ip_view ip;
    const struct fx_frame *fr = fx_expect_one(f);
    struct fx_icmp_view m = fx_as_icmp(fr, &ip);
    assert_memory_equal(fx_as_eth(fr).dst, fx_peer_mac, 6);
    assert_int_equal(ip.dst, FX_PEER_IP);
    assert_int_equal(m.id, ping_id(s));
    tapir_sock_close(s);
}

static void test_largest_echo_request_is_fragmented_with_correct_checksum(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *s = ping_bound(f, 0, 999);
    fx_pattern(big, 65515, 11);
    echo_request(big, 0x1234, NULL, 0);
    struct sockaddr_in dst = sin_of(FX_GW_IP, 0);
    assert_int_equal(tapir_sock_sendto(s, big, 65515, 0, &dst), 65515);
    size_t n;
    const struct fx_frame *frs = fx_take_all(f, &n);
    assert_int_equal(n, 45);
    static uint8_t msg[65536];
    size_t len = fx_reassemble(frs, n, 1500, msg, sizeof(msg));
    assert_int_equal(len, 65515);
    assert_int_equal(fx_csum(msg, len), 0);
    assert_int_equal(msg[0], 8);
    assert_int_equal(fx_be16(msg + 4), 999);
    assert_int_equal(fx_be16(msg + 6), 0x1234);
    assert_memory_equal(msg + 8, big + 8, 65515 - 8);
    tapir_sock_close(s);
}

static void test_send_errors(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *s = ping_new(f);
    uint8_t msg[16];
    echo_request(msg, 1, "12345678", 8);
    struct sockaddr_in dst = sin_of(FX_GW_IP, 0);
    assert_int_equal(tapir_sock_sendto(s, msg, 7, 0, &dst), -EINVAL); /* shorter than a header */
    assert_int_equal(tapir_sock_sendto(s, msg, 0, 0, &dst), -EINVAL);
    msg[0] = 0; /* an echo reply */
    assert_int_equal(tapir_sock_sendto(s, msg, 16, 0, &dst), -EINVAL);
    msg[0] = 13; /* a timestamp request */
    assert_int_equal(tapir_sock_sendto(s, msg, 16, 0, &dst), -EINVAL);
    msg[0] = 8;
    msg[1] = 1;
    assert_int_equal(tapir_sock_sendto(s, msg, 16, 0, &dst), -EINVAL);
    msg[1] = 0;
    assert_int_equal(tapir_sock_sendto(s, NULL, 16, 0, &dst), -EFAULT);
    big[0] = 8;
    big[1] = 0;
    assert_int_equal(tapir_sock_sendto(s, big, 65516, 0, &dst), -EMSGSIZE);
    assert_int_equal(tapir_sock_sendto(s, msg, 16, 0, NULL), -EDESTADDRREQ);
    assert_int_equal(tapir_sock_sendto(s, msg, 16, MSG_OOB, &dst), -EOPNOTSUPP);
    struct sockaddr_in bcast = sin_of(FX_BCAST_IP, 0);
    assert_int_equal(tapir_sock_sendto(s, msg, 16, 0, &bcast), -EACCES);
    struct sockaddr_in far = sin_of(FX_FAR_IP, 0);
    fx_expect_none(f);
    assert_int_equal(ping_id(s), 0); /* nothing sent, nothing bound */
    assert_int_equal(fx_stats(f)->icmp.tx_echo_requests, 0);
    /* Off-link without a gateway: ENETUNREACH. */
    struct tapir_config cfg;
    fx_config(&cfg);
    cfg.gateway.s_addr = 0;
    tapir_sock_close(s);
    fx_restart(f, &cfg);
    s = ping_new(f);
    assert_int_equal(tapir_sock_sendto(s, msg, 16, 0, &far), -ENETUNREACH);
    fx_expect_none(f);
    tapir_sock_close(s);
}

/* --- identifiers --- */

static void test_identifiers_are_separate_from_udp_ports(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *p = ping_bound(f, 0, 5000);
    struct tapir_sock *u = NULL;
    assert_int_equal(tapir_sock_open(f->st, SOCK_DGRAM, 0, &u), 0);
    struct sockaddr_in a = sin_of(0, 5000);
    assert_int_equal(tapir_sock_bind(u, &a), 0); /* UDP port 5000 is another namespace */
    struct tapir_sock *p2 = ping_new(f);
    assert_int_equal(tapir_sock_bind(p2, &a), -EADDRINUSE); /* identifier 5000 is taken */
    /* A UDP datagram to port 5000 does not reach the ping socket, nor a reply the UDP one. */
    fx_inject_udp(f, FX_GW_IP, 1, FX_OUR_IP, 5000, "udp", 3);
    inject_reply(f, FX_GW_IP, fx_gw_mac, 5000, 1, "ping", 4);
    uint8_t buf[32];
    assert_int_equal(tapir_sock_recvfrom(u, buf, sizeof(buf), 0, NULL, NULL), 3);
    assert_memory_equal(buf, "udp", 3);
    assert_int_equal(tapir_sock_recvfrom(p, buf, sizeof(buf), 0, NULL, NULL), 12);
    assert_memory_equal(buf + 8, "ping", 4);
    expect_empty(u);
    expect_empty(p);
    assert_int_equal(get_int(p, SO_TYPE), SOCK_DGRAM);
    tapir_sock_close(p2);
    tapir_sock_close(u);
    tapir_sock_close(p);
}

/* --- receiving --- */

static void count_wakeup(void *ctx)
{
    (*(int *)ctx)++;
}

static void test_reply_with_our_id_is_queued_header_first(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *s = ping_bound(f, 0, 4242);
    int wakes = 0;
    tapir_sock_set_wakeup(s, count_wakeup, &wakes);
    assert_false(tapir_sock_events(s) & POLLIN);
    uint8_t data[100];
    fx_pattern(data, sizeof(data), 8);
    inject_reply(f, FX_GW_IP, fx_gw_mac, 4242, 17, data, sizeof(data));
    assert_int_equal(wakes, 1);
    assert_true(tapir_sock_events(s) & POLLIN);
    assert_int_equal(fx_stats(f)->icmp.rx_ping_replies, 1);
    assert_int_equal(fx_stats(f)->icmp.rx_echo_replies, 1);

    uint8_t buf[200], want[108];
    size_t n = fx_icmp_build(want, 0, 0, 4242u << 16 | 17, data, sizeof(data));
    struct sockaddr_in from;
    memset(&from, 0xaa, sizeof(from));
    int mf = -1;
    assert_int_equal(tapir_sock_recvfrom(s, buf, sizeof(buf), 0, &from, &mf), (ssize_t)n);
    assert_memory_equal(buf, want, n); /* the whole message, its checksum too */
    assert_int_equal(mf, 0);
    assert_int_equal(from.sin_family, AF_INET);
    assert_int_equal(ntohl(from.sin_addr.s_addr), FX_GW_IP);
    assert_int_equal(from.sin_port, 0);
    expect_empty(s);
    fx_expect_none(f);

    /* A short buffer gets the beginning, MSG_TRUNC, and the rest is gone. */
    inject_reply(f, FX_PEER_IP, fx_peer_mac, 4242, 18, data, sizeof(data));
    assert_int_equal(tapir_sock_recvfrom(s, buf, 8, 0, &from, &mf), 8);
    assert_true(mf & MSG_TRUNC);
    assert_int_equal(fx_be16(buf + 6), 18);
    assert_int_equal(ntohl(from.sin_addr.s_addr), FX_PEER_IP);
    expect_empty(s);
    tapir_sock_close(s);
}

static void test_reply_with_other_id_is_not_delivered(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *s = ping_bound(f, 0, 4242);
    /* Every other identifier, so some share a hash bucket with ours. */
    for (uint32_t id = 0; id <= 0xffff; id++)
        if (id != 4242)
            inject_reply(f, FX_GW_IP, fx_gw_mac, (uint16_t)id, 1, "x", 1);
    expect_empty(s);
    assert_false(tapir_sock_events(s) & POLLIN);
    assert_int_equal(fx_stats(f)->icmp.rx_echo_replies, 65535);
    assert_int_equal(fx_stats(f)->icmp.rx_ping_replies, 0);
    /* An echo request with our identifier is answered by the stack, not queued. */
    fx_inject_ping(f, 4242, 1, "req", 3);
    expect_empty(s);
    assert_int_equal(fx_as_icmp(fx_expect_one(f), NULL).type, 0);
    tapir_sock_close(s);
}

static void test_two_sockets_each_get_their_own_replies(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *a = ping_new(f), *b = ping_new(f);
    uint8_t msg[8];
    echo_request(msg, 1, NULL, 0);
    struct sockaddr_in dst = sin_of(FX_GW_IP, 0);
    assert_int_equal(tapir_sock_sendto(a, msg, 8, 0, &dst), 8);
    assert_int_equal(tapir_sock_sendto(b, msg, 8, 0, &dst), 8);
    fx_clear(f);
    uint16_t ida = ping_id(a), idb = ping_id(b);
    assert_int_not_equal(ida, idb);
    inject_reply(f, FX_GW_IP, fx_gw_mac, idb, 2, "B", 1);
    inject_reply(f, FX_GW_IP, fx_gw_mac, ida, 1, "A", 1);
    uint8_t buf[16];
    assert_int_equal(tapir_sock_recvfrom(a, buf, sizeof(buf), 0, NULL, NULL), 9);
    assert_int_equal(buf[8], 'A');
    assert_int_equal(tapir_sock_recvfrom(b, buf, sizeof(buf), 0, NULL, NULL), 9);
    assert_int_equal(buf[8], 'B');
    expect_empty(a);
    expect_empty(b);
    tapir_sock_close(a);
    tapir_sock_close(b);
}

static void test_socket_bound_to_our_address_gets_unicast_replies(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *s = ping_bound(f, FX_OUR_IP, 4242);
    inject_reply(f, FX_GW_IP, fx_gw_mac, 4242, 1, "u", 1);
    uint8_t buf[16];
    assert_int_equal(tapir_sock_recvfrom(s, buf, sizeof(buf), 0, NULL, NULL), 9);
    tapir_sock_close(s);
}

static void test_rcvbuf_overflow_is_counted_and_reading_frees_space(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *s = ping_new(f);
    set_int(s, SO_RCVBUF, 4096);
    struct sockaddr_in a = sin_of(0, 4242);
    assert_int_equal(tapir_sock_bind(s, &a), 0);
    uint8_t data[1000];
    fx_pattern(data, sizeof(data), 4);
    for (int i = 0; i < 50; i++)
        inject_reply(f, FX_GW_IP, fx_gw_mac, 4242, (uint16_t)i, data, sizeof(data));
    uint64_t queued = fx_stats(f)->icmp.rx_ping_replies;
    uint64_t dropped = fx_stats(f)->icmp.drop_ping_rcvbuf;
    assert_true(queued >= 2);
    assert_true(dropped >= 1);
    assert_int_equal(queued + dropped, 50);
    assert_int_equal(fx_stats(f)->mem.pkb_in_use, queued);
    /* The first ones were kept, in order. */
    uint64_t got = 0;
    uint8_t buf[2000];
    ssize_t n;
    while ((n = tapir_sock_recvfrom(s, buf, sizeof(buf), 0, NULL, NULL)) > 0) {
        assert_int_equal(n, 8 + sizeof(data));
        assert_int_equal(fx_be16(buf + 6), got);
        got++;
    }
    assert_int_equal(n, -EAGAIN);
    assert_int_equal(got, queued);
    assert_int_equal(fx_stats(f)->mem.pkb_in_use, 0);
    for (int i = 0; i < 50; i++)
        inject_reply(f, FX_GW_IP, fx_gw_mac, 4242, (uint16_t)i, data, sizeof(data));
    assert_int_equal(fx_stats(f)->icmp.rx_ping_replies, 2 * queued);
    tapir_sock_close(s); /* frees what is still queued */
    assert_int_equal(fx_stats(f)->mem.pkb_in_use, 0);
}

/* --- ICMP errors --- */

/* s sends an echo request; the peer (or a router) answers with an ICMP error of type and code
 * quoting its IP header and the first 8 bytes of the request. */
static void send_and_get_error(struct fixture *f, struct tapir_sock *s,
                               const struct sockaddr_in *dst, uint8_t type, uint8_t code)
{
    uint8_t msg[24];
    size_t n = echo_request(msg, 1, "0123456789abcdef", 16);
    assert_int_equal(tapir_sock_sendto(s, msg, n, 0, dst), (ssize_t)n);
    struct fx_ip_view ip;
    fx_as_icmp(fx_expect_one(f), &ip);
    fx_inject_icmp(f, FX_PEER_IP, fx_peer_mac, type, code, 0, ip.hdr, ip.hdr_len + 8);
}

static void test_port_unreachable_on_connected_socket_is_econnrefused_once(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *s = ping_connected(f, FX_PEER_IP);
    int wakes = 0;
    tapir_sock_set_wakeup(s, count_wakeup, &wakes);
    send_and_get_error(f, s, NULL, 3, 3);
    assert_int_equal(wakes, 1);
    assert_int_equal(fx_stats(f)->icmp.rx_ping_errors, 1);
    assert_true(tapir_sock_events(s) & POLLERR);
    uint8_t buf[32];
    assert_int_equal(tapir_sock_recvfrom(s, buf, sizeof(buf), 0, NULL, NULL), -ECONNREFUSED);
    assert_false(tapir_sock_events(s) & POLLERR);
    expect_empty(s); /* reported once */

    /* Or by the next send, which then sends nothing. */
    send_and_get_error(f, s, NULL, 3, 3);
    uint8_t msg[8];
    echo_request(msg, 2, NULL, 0);
    assert_int_equal(tapir_sock_sendto(s, msg, 8, 0, NULL), -ECONNREFUSED);
    fx_expect_none(f);
    assert_int_equal(tapir_sock_sendto(s, msg, 8, 0, NULL), 8);
    fx_clear(f);

    /* Or by SO_ERROR. */
    send_and_get_error(f, s, NULL, 3, 3);
    assert_int_equal(get_int(s, SO_ERROR), ECONNREFUSED);
    assert_int_equal(get_int(s, SO_ERROR), 0);
    assert_int_equal(fx_stats(f)->icmp.rx_ping_errors, 3);
    tapir_sock_close(s);
}

static void test_queued_replies_come_before_the_error(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *s = ping_connected(f, FX_PEER_IP);
    send_and_get_error(f, s, NULL, 3, 3);
    inject_reply(f, FX_PEER_IP, fx_peer_mac, ping_id(s), 1, "r", 1);
    uint8_t buf[32];
    assert_int_equal(tapir_sock_recvfrom(s, buf, sizeof(buf), 0, NULL, NULL), 9);
    assert_int_equal(tapir_sock_recvfrom(s, buf, sizeof(buf), 0, NULL, NULL), -ECONNREFUSED);
    expect_empty(s);
    tapir_sock_close(s);
}

static void test_administratively_prohibited_is_ehostunreach(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *s = ping_connected(f, FX_PEER_IP);
    const uint8_t codes[] = {10, 13}; /* host prohibited, communication prohibited */
    for (size_t i = 0; i < sizeof(codes); i++) {
        send_and_get_error(f, s, NULL, 3, codes[i]);
        assert_int_equal(tapir_sock_sendto(s, "", 0, 0, NULL), -EHOSTUNREACH);
    }
    send_and_get_error(f, s, NULL, 3, 2); /* protocol unreachable */
    assert_int_equal(get_int(s, SO_ERROR), ENOPROTOOPT);
    send_and_get_error(f, s, NULL, 12, 0); /* parameter problem */
    assert_int_equal(get_int(s, SO_ERROR), EPROTO);
    assert_int_equal(fx_stats(f)->icmp.rx_ping_errors, 4);
    tapir_sock_close(s);
}

/* Sends an echo request on s (connected to the gateway) and copies what an ICMP error about
 * it quotes (its IP header and first 8 bytes) into quote; returns the quote's length. */
static size_t request_quote(struct fixture *f, struct tapir_sock *s, uint8_t quote[64])
{
    uint8_t msg[16];
    size_t n = echo_request(msg, 1, "12345678", 8);
    assert_int_equal(tapir_sock_sendto(s, msg, n, 0, NULL), (ssize_t)n);
    struct fx_ip_view ip;
    fx_as_icmp(fx_expect_one(f), &ip);
    memcpy(quote, ip.hdr, ip.hdr_len + 8);
    return ip.hdr_len + 8;
}

/* Errors acted on share the rate limit of errors sent (cfg.icmp_err_burst, then
 * icmp_err_per_s): a flood of them, forged or not, costs the socket a bounded number of
 * wake-ups, and the rest are counted. */
static void test_errors_received_are_rate_limited(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *s = ping_connected(f, FX_GW_IP);
    uint8_t quote[64];
    size_t qlen = request_quote(f, s, quote);
    unsigned burst = f->cfg.icmp_err_burst;
    for (unsigned i = 0; i < burst + 10; i++)
        fx_inject_icmp(f, FX_GW_IP, fx_gw_mac, 3, 3, 0, quote, qlen);
    assert_int_equal(fx_stats(f)->icmp.rx_ping_errors, burst);
    assert_int_equal(fx_stats(f)->icmp.errors_in_ratelimited, 10);
    assert_int_equal(get_int(s, SO_ERROR), ECONNREFUSED);
    /* A second later the bucket has refilled. */
    fx_advance(f, 1000000);
    fx_inject_icmp(f, FX_GW_IP, fx_gw_mac, 3, 3, 0, quote, qlen);
    assert_int_equal(fx_stats(f)->icmp.rx_ping_errors, burst + 1);
    assert_int_equal(get_int(s, SO_ERROR), ECONNREFUSED);
    tapir_sock_close(s);
}

static void test_errors_ignored_unless_connected_to_that_peer_with_that_id(void **state)
{
    struct fixture *f = *state;
    /* Unconnected: no error (Linux without IP_RECVERR). */
    struct tapir_sock *s = ping_new(f);
    struct sockaddr_in peer = sin_of(FX_PEER_IP, 0);
    send_and_get_error(f, s, &peer, 3, 3);
    assert_false(tapir_sock_events(s) & POLLERR);
    assert_int_equal(get_int(s, SO_ERROR), 0);
    tapir_sock_close(s);

    /* Connected elsewhere: an error about a request to the peer is not ours. */
    s = ping_connected(f, FX_GW_IP);
    send_and_get_error(f, s, &peer, 3, 3);
    assert_int_equal(get_int(s, SO_ERROR), 0);

    /* The quote names another identifier: any other (so some share a hash bucket with ours). */
    uint8_t msg[16];
    size_t n = echo_request(msg, 1, "12345678", 8);
    assert_int_equal(tapir_sock_sendto(s, msg, n, 0, NULL), (ssize_t)n);
    struct fx_ip_view ip;
    fx_as_icmp(fx_expect_one(f), &ip);
    uint8_t quote[64];
    memcpy(quote, ip.hdr, ip.hdr_len + 8);
    for (uint32_t id = 0; id <= 0xffff; id++) {
        if (id == ping_id(s))
            continue;
        quote[ip.hdr_len + 4] = (uint8_t)(id >> 8);
        quote[ip.hdr_len + 5] = (uint8_t)id;
        fx_inject_icmp(f, FX_GW_IP, fx_gw_mac, 3, 3, 0, quote, ip.hdr_len + 8);
    }
    assert_int_equal(get_int(s, SO_ERROR), 0);
    /* The quote is of an echo reply, not a request. */
    memcpy(quote, ip.hdr, ip.hdr_len + 8);
    quote[ip.hdr_len] = 0;
    fx_inject_icmp(f, FX_GW_IP, fx_gw_mac, 3, 3, 0, quote, ip.hdr_len + 8);
    assert_int_equal(get_int(s, SO_ERROR), 0);
    assert_int_equal(fx_stats(f)->icmp.rx_ping_errors, 0);
    /* The real one does arrive. */
    memcpy(quote, ip.hdr, ip.hdr_len + 8);
    fx_inject_icmp(f, FX_GW_IP, fx_gw_mac, 3, 3, 0, quote, ip.hdr_len + 8);
    assert_int_equal(get_int(s, SO_ERROR), ECONNREFUSED);
    tapir_sock_close(s);
}

/* Linux (ping_err) reports only the "fatal" errors to a connected socket without IP_RECVERR:
 * host and network unreachable, time exceeded and the other soft errors are not reported at
 * all, and the codes map as icmp_err_convert (EHOSTDOWN, ENONET, ...). */
static void test_linux_errors_reported_as_icmp_err_convert(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *s = ping_connected(f, FX_PEER_IP);
    static const uint8_t cases[][2] = {
        {3, 0},  {3, 1},  {3, 2},  {3, 3},  {3, 4},  {3, 5},  {3, 6},
        {3, 7},  {3, 8},  {3, 9},  {3, 10}, {3, 11}, {3, 12}, {3, 13},
        {3, 14}, {3, 15}, {3, 16}, {11, 0}, {11, 1}, {12, 0}, {4, 0},
    };
    char wrong[1024] = "";
    size_t used = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        send_and_get_error(f, s, NULL, cases[i][0], cases[i][1]);
        int got = get_int(s, SO_ERROR), want = fx_linux_icmp_errno(cases[i][0], cases[i][1]);
        if (got != want && used < sizeof(wrong) - 64)
            used += (size_t)snprintf(wrong + used, sizeof(wrong) - used,
                                     " type %u code %u: %s (want %s);", cases[i][0], cases[i][1],
                                     got ? strerrorname_np(got) : "none",
                                     want ? strerrorname_np(want) : "none");
    }
    if (used)
        fail_msg("ICMP errors reported unlike Linux:%s", wrong);
    tapir_sock_close(s);
}

/* Linux's ping_lookup matches the identifier and a bound address only: a connected ping
 * socket still receives echo replies from any host. */
static void test_linux_connected_socket_gets_replies_from_any_host(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *s = ping_connected(f, FX_PEER_IP);
    inject_reply(f, FX_GW_IP, fx_gw_mac, ping_id(s), 1, "gw", 2);
    uint8_t buf[16];
    struct sockaddr_in from;
    assert_int_equal(tapir_sock_recvfrom(s, buf, sizeof(buf), 0, &from, NULL), 10);
    assert_int_equal(ntohl(from.sin_addr.s_addr), FX_GW_IP);
    tapir_sock_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX_TEST_LEARNED(test_send_writes_echo_request_with_socket_port_as_id),
        FX_TEST_LEARNED(test_bound_socket_sends_its_identifier_via_gateway),
        FX_TEST_LEARNED(test_connected_socket_sends_without_address),
        FX_TEST_LEARNED(test_largest_echo_request_is_fragmented_with_correct_checksum),
        FX_TEST(test_send_errors),
        FX_TEST(test_identifiers_are_separate_from_udp_ports),
        FX_TEST(test_reply_with_our_id_is_queued_header_first),
        FX_TEST_LEARNED(test_reply_with_other_id_is_not_delivered),
        FX_TEST_LEARNED(test_two_sockets_each_get_their_own_replies),
        FX_TEST(test_socket_bound_to_our_address_gets_unicast_replies),
        FX_TEST(test_rcvbuf_overflow_is_counted_and_reading_frees_space),
        FX_TEST_LEARNED(test_port_unreachable_on_connected_socket_is_econnrefused_once),
        FX_TEST_LEARNED(test_queued_replies_come_before_the_error),
        FX_TEST_LEARNED(test_administratively_prohibited_is_ehostunreach),
        FX_TEST_LEARNED(test_errors_ignored_unless_connected_to_that_peer_with_that_id),
        FX_TEST_LEARNED(test_errors_received_are_rate_limited),
    };
    const struct CMUnitTest linux_departures[] = {
        FX_TEST_LEARNED(test_linux_errors_reported_as_icmp_err_convert),
        FX_TEST_LEARNED(test_linux_connected_socket_gets_replies_from_any_host),
    };
    int failed = cmocka_run_group_tests_name("ping sockets", tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("ping: linux departures", linux_departures, NULL, NULL);
    return failed;
}
