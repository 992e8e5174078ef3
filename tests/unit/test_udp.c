/* SPDX-License-Identifier: MIT */
/* test_udp.c: UDP (RFC 768, RFC 1122 §4.1) and the core's datagram sockets: input checks, demux,
 * port unreachable, output, ports, ICMP errors, receive buffers and the socket calls. */
#include "fixture.h"

#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>

#include "tapir/sock.h"

static uint8_t big[70000];

static int setup_learned(void **state)
{
    int rc = fx_setup(state);
    if (rc == 0)
        fx_learn_gateway(*state);
    return rc;
}
#define FX_TEST_LEARNED(fn) cmocka_unit_test_setup_teardown(fn, setup_learned, fx_teardown)

static struct tapir_sock *sock_new(struct fixture *f)
{
    struct tapir_sock *s = NULL;
    assert_int_equal(tapir_sock_open(f->st, SOCK_DGRAM, 0, &s), 0);
    assert_non_null(s);
    return s;
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
    assert_int_equal(len, sizeof(v));
    return v;
}

/* A socket bound to ip:port (optionally with SO_REUSEADDR first). */
static struct tapir_sock *sock_bound(struct fixture *f, uint32_t ip, uint16_t port, bool reuse)
{
    struct tapir_sock *s = sock_new(f);
    if (reuse)
        set_int(s, SO_REUSEADDR, 1);
    struct sockaddr_in a = sin_of(ip, port);
    assert_int_equal(tapir_sock_bind(s, &a), 0);
    return s;
}

static uint16_t local_port(const struct tapir_sock *s)
{
    struct sockaddr_in a;
    assert_int_equal(tapir_sock_getsockname(s, &a), 0);
    return ntohs(a.sin_port);
}

/* Injects a UDP datagram whose header (and IP total length) the caller controls: udp_len bytes
 * of udp as the IP payload. */
static void inject_raw_udp(struct fixture *f, const uint8_t *udp, size_t len)
{
    struct fx_ip ip = fx_ip_default();
    ip.proto = 17;
    fx_inject_ip(f, fx_gw_mac, &ip, udp, len);
}

/* Reads one datagram and checks it is exactly want (len bytes) from src:sport. */
static void expect_datagram(struct tapir_sock *s, const void *want, size_t len, uint32_t src,
                            uint16_t sport)
{
    uint8_t buf[2000];
    struct sockaddr_in from;
    int mf = -1;
    assert_int_equal(tapir_sock_recvfrom(s, buf, sizeof(buf), 0, &from, &mf), (ssize_t)len);
    assert_int_equal(mf, 0);
    if (len)
        assert_memory_equal(buf, want, len);
    assert_int_equal(from.sin_family, AF_INET);
    assert_int_equal(ntohl(from.sin_addr.s_addr), src);
    assert_int_equal(ntohs(from.sin_port), sport);
}

static void expect_empty(struct tapir_sock *s)
{
    uint8_t buf[16];
    assert_int_equal(tapir_sock_recvfrom(s, buf, sizeof(buf), 0, NULL, NULL), -EAGAIN);
}

/* --- input --- */

static void test_datagram_to_bound_socket_is_received_with_payload_and_source(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *s = sock_bound(f, 0, 7000, false);
    uint8_t data[333];
    fx_pattern(data, sizeof(data), 1);
    fx_inject_udp(f, FX_GW_IP, 5353, FX_OUR_IP, 7000, data, sizeof(data));
    expect_datagram(s, data, sizeof(data), FX_GW_IP, 5353);
    expect_empty(s);
    assert_int_equal(fx_stats(f)->udp.rx_datagrams, 1);
    fx_expect_none(f);
    tapir_sock_close(s);
}

static void test_zero_length_datagram_is_delivered_as_empty(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *s = sock_bound(f, 0, 7000, false);
    fx_inject_udp(f, FX_GW_IP, 1234, FX_OUR_IP, 7000, NULL, 0);
    assert_true(tapir_sock_events(s) & POLLIN);
    expect_datagram(s, NULL, 0, FX_GW_IP, 1234);
    expect_empty(s);
    tapir_sock_close(s);
}

static void test_zero_checksum_means_none_and_is_accepted(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *s = sock_bound(f, 0, 7000, false);
    uint8_t udp[16];
    size_t n = fx_udp_build(udp, FX_GW_IP, FX_OUR_IP, 99, 7000, "nocsum", 6, 0);
    inject_raw_udp(f, udp, n);
    expect_datagram(s, "nocsum", 6, FX_GW_IP, 99);
    assert_int_equal(fx_stats(f)->udp.drop_bad_checksum, 0);
    tapir_sock_close(s);
}

static void test_bad_checksum_is_dropped(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *s = sock_bound(f, 0, 7000, false);
    uint8_t udp[16];
    size_t n = fx_udp_build(udp, FX_GW_IP, FX_OUR_IP, 99, 7000, "abcdefg", 7, -1);
    udp[9] ^= 0x01; /* data changed after the checksum */
    inject_raw_udp(f, udp, n);
    expect_empty(s);
    fx_expect_none(f); /* and no port unreachable either */
    assert_int_equal(fx_stats(f)->udp.drop_bad_checksum, 1);
    assert_int_equal(fx_stats(f)->udp.rx_datagrams, 0);
    tapir_sock_close(s);
}

static void test_length_field_beyond_ip_payload_is_dropped(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *s = sock_bound(f, 0, 7000, false);
    uint8_t udp[16];
    size_t n = fx_udp_build(udp, FX_GW_IP, FX_OUR_IP, 99, 7000, "abcd", 4, 0);
    udp[5] = (uint8_t)(n + 1); /* one byte more than the IP payload carries */
    inject_raw_udp(f, udp, n);
    expect_empty(s);
    assert_int_equal(fx_stats(f)->udp.drop_bad_length, 1);
    tapir_sock_close(s);
}

static void test_length_field_below_header_is_dropped(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *s = sock_bound(f, 0, 7000, false);
    for (uint8_t l = 0; l < 8; l++) {
        uint8_t udp[16];
        size_t n = fx_udp_build(udp, FX_GW_IP, FX_OUR_IP, 99, 7000, "abcd", 4, 0);
        udp[4] = 0;
        udp[5] = l;
        inject_raw_udp(f, udp, n);
    }
    expect_empty(s);
    assert_int_equal(fx_stats(f)->udp.drop_bad_length, 8);
    tapir_sock_close(s);
}

static void test_length_field_shorter_than_payload_trims_padding(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *s = sock_bound(f, 0, 7000, false);
    uint8_t udp[32];
    size_t n = fx_udp_build(udp, FX_GW_IP, FX_OUR_IP, 99, 7000, "abc", 3, -1);
    memcpy(udp + n, "PAD", 3); /* IP payload longer than the UDP length: padding */
    inject_raw_udp(f, udp, n + 3);
    expect_datagram(s, "abc", 3, FX_GW_IP, 99);
    tapir_sock_close(s);
}

static void test_shorter_than_header_is_dropped(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *s = sock_bound(f, 0, 7000, false);
    uint8_t udp[8];
    fx_udp_build(udp, FX_GW_IP, FX_OUR_IP, 99, 7000, NULL, 0, 0);
    for (size_t len = 0; len < 8; len++)
        inject_raw_udp(f, udp, len);
    expect_empty(s);
    fx_expect_none(f);
    assert_int_equal(fx_stats(f)->udp.drop_truncated, 8);
    tapir_sock_close(s);
}

/* --- short receive buffers --- */

static void test_short_buffer_truncates_and_discards_rest(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *s = sock_bound(f, 0, 7000, false);
    fx_inject_udp(f, FX_GW_IP, 1, FX_OUR_IP, 7000, "0123456789", 10);
    fx_inject_udp(f, FX_GW_IP, 1, FX_OUR_IP, 7000, "next", 4);
    char buf[16] = {0};
    int mf = 0;
    assert_int_equal(tapir_sock_recvfrom(s, buf, 4, 0, NULL, &mf), 4);
    assert_memory_equal(buf, "0123", 4);
    assert_true(mf & MSG_TRUNC);
    /* The rest of the first datagram is gone: the next read is the next datagram. */
    assert_int_equal(tapir_sock_recvfrom(s, buf, sizeof(buf), 0, NULL, &mf), 4);
    assert_memory_equal(buf, "next", 4);
    assert_false(mf & MSG_TRUNC);
    expect_empty(s);
    tapir_sock_close(s);
}

static void test_peek_leaves_datagram_queued(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *s = sock_bound(f, 0, 7000, false);
    fx_inject_udp(f, FX_GW_IP, 1, FX_OUR_IP, 7000, "0123456789", 10);
    char buf[16];
    int mf = 0;
    assert_int_equal(tapir_sock_recvfrom(s, buf, 3, MSG_PEEK, NULL, &mf), 3);
    assert_true(mf & MSG_TRUNC);
    assert_int_equal(tapir_sock_recvfrom(s, buf, sizeof(buf), MSG_PEEK, NULL, &mf), 10);
    assert_int_equal(mf, 0);
    expect_datagram(s, "0123456789", 10, FX_GW_IP, 1);
    expect_empty(s);
    tapir_sock_close(s);
}

static void test_trunc_flag_returns_real_length(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *s = sock_bound(f, 0, 7000, false);
    fx_inject_udp(f, FX_GW_IP, 1, FX_OUR_IP, 7000, "0123456789", 10);
    char buf[4];
    int mf = 0;
    assert_int_equal(tapir_sock_recvfrom(s, buf, sizeof(buf), MSG_TRUNC, NULL, &mf), 10);
    assert_memory_equal(buf, "0123", 4);
    assert_true(mf & MSG_TRUNC);
    expect_empty(s);
    tapir_sock_close(s);
}

/* --- no socket: port unreachable --- */

static void test_no_socket_sends_port_unreachable_quoting_datagram(void **state)
{
    struct fixture *f = *state;
    uint8_t data[40];
    fx_pattern(data, sizeof(data), 9);
    fx_inject_udp(f, FX_GW_IP, 4444, FX_OUR_IP, 9999, data, sizeof(data));
    struct fx_ip_view ip;
    struct fx_icmp_view m = fx_as_icmp(fx_expect_one(f), &ip);
    assert_int_equal(m.type, 3);
    assert_int_equal(m.code, 3);
    assert_int_equal(ip.dst, FX_GW_IP);
    assert_int_equal(ip.src, FX_OUR_IP);
    /* The quote: the offending IP header, then (at least) the UDP header. */
    uint8_t udp[64], ipb[128];
    size_t n = fx_udp_build(udp, FX_GW_IP, FX_OUR_IP, 4444, 9999, data, sizeof(data), -1);
    struct fx_ip h = fx_ip_default();
    h.proto = 17;
    fx_ip_build(ipb, &h, udp, n);
    assert_true(m.data_len >= 28);
    assert_memory_equal(m.data, ipb, 28);
    assert_int_equal(fx_stats(f)->udp.drop_no_port, 1);
    assert_int_equal(fx_stats(f)->icmp.tx_dest_unreach, 1);
}

static void test_no_port_unreachable_for_broadcasts(void **state)
{
    struct fixture *f = *state;
    fx_inject_udp(f, FX_GW_IP, 4444, FX_BCAST_IP, 9999, "x", 1);
    fx_inject_udp(f, FX_GW_IP, 4444, 0xffffffffu, 9999, "x", 1);
    fx_expect_none(f);
    assert_int_equal(fx_stats(f)->udp.drop_no_port, 2);
    assert_int_equal(fx_stats(f)->icmp.tx_dest_unreach, 0);
}

/* --- demux --- */

static void test_exact_address_socket_beats_wildcard(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *any = sock_bound(f, 0, 7000, true);
    struct tapir_sock *exact = sock_bound(f, FX_OUR_IP, 7000, true);
    fx_inject_udp(f, FX_GW_IP, 1, FX_OUR_IP, 7000, "u", 1);
    expect_datagram(exact, "u", 1, FX_GW_IP, 1);
    expect_empty(any);
    tapir_sock_close(exact);
    tapir_sock_close(any);
}

static void test_broadcast_reaches_wildcard_socket_only(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *any = sock_bound(f, 0, 7000, true);
    struct tapir_sock *exact = sock_bound(f, FX_OUR_IP, 7000, true);
    fx_inject_udp(f, FX_GW_IP, 1, FX_BCAST_IP, 7000, "b1", 2);
    fx_inject_udp(f, FX_GW_IP, 1, 0xffffffffu, 7000, "b2", 2);
    expect_datagram(any, "b1", 2, FX_GW_IP, 1);
    expect_datagram(any, "b2", 2, FX_GW_IP, 1);
    expect_empty(exact);
    fx_expect_none(f);
    tapir_sock_close(exact);
    tapir_sock_close(any);
}

static void test_connected_socket_receives_only_its_peer(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *s = sock_bound(f, 0, 7000, false);
    struct sockaddr_in peer = sin_of(FX_PEER_IP, 5000);
    assert_int_equal(tapir_sock_connect(s, &peer), 0);
    fx_inject_udp(f, FX_GW_IP, 5000, FX_OUR_IP, 7000, "wrong host", 10);
    fx_inject_udp(f, FX_PEER_IP, 5001, FX_OUR_IP, 7000, "wrong port", 10);
    fx_inject_udp(f, FX_PEER_IP, 5000, FX_OUR_IP, 7000, "peer", 4);
    expect_datagram(s, "peer", 4, FX_PEER_IP, 5000);
    expect_empty(s);
    assert_int_equal(fx_stats(f)->udp.drop_no_port, 2);
    tapir_sock_close(s);
}

static void test_connected_socket_beats_wildcard_for_its_peer(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *any = sock_bound(f, 0, 7000, true);
    struct tapir_sock *conn = sock_bound(f, 0, 7000, true);
    struct sockaddr_in peer = sin_of(FX_PEER_IP, 5000);
    assert_int_equal(tapir_sock_connect(conn, &peer), 0);
    fx_inject_udp(f, FX_PEER_IP, 5000, FX_OUR_IP, 7000, "p", 1);
    fx_inject_udp(f, FX_GW_IP, 5000, FX_OUR_IP, 7000, "g", 1);
    expect_datagram(conn, "p", 1, FX_PEER_IP, 5000);
    expect_datagram(any, "g", 1, FX_GW_IP, 5000);
    expect_empty(conn);
    expect_empty(any);
    tapir_sock_close(conn);
    tapir_sock_close(any);
}

/* --- output --- */

static void test_sendto_builds_correct_frame_via_gateway(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *s = sock_bound(f, 0, 7000, false);
    uint8_t data[101]; /* odd: the checksum pads */
    fx_pattern(data, sizeof(data), 5);
    struct sockaddr_in dst = sin_of(FX_FAR_IP, 53);
    assert_int_equal(tapir_sock_sendto(s, data, sizeof(data), 0, &dst), (ssize_t)sizeof(data));
    const struct fx_frame *fr = fx_expect_one(f);
    assert_memory_equal(fx_as_eth(fr).dst, fx_gw_mac, 6);
    assert_memory_equal(fx_as_eth(fr).src, fx_our_mac, 6);
    struct fx_ip_view ip;
    struct fx_udp_view u = fx_as_udp(fr, &ip); /* pseudo-header checksum verified here */
    assert_int_equal(ip.src, FX_OUR_IP);
    assert_int_equal(ip.dst, FX_FAR_IP);
    assert_int_equal(u.sport, 7000);
    assert_int_equal(u.dport, 53);
    assert_int_equal(u.len, 8 + sizeof(data));
    assert_int_equal(u.data_len, sizeof(data));
    assert_memory_equal(u.data, data, sizeof(data));
    assert_int_equal(fx_stats(f)->udp.tx_datagrams, 1);
    tapir_sock_close(s);
}

static void test_sendto_zero_bytes_sends_bare_header(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *s = sock_bound(f, 0, 7000, false);
    struct sockaddr_in dst = sin_of(FX_GW_IP, 9);
    assert_int_equal(tapir_sock_sendto(s, NULL, 0, 0, &dst), 0);
    struct fx_udp_view u = fx_as_udp(fx_expect_one(f), NULL);
    assert_int_equal(u.len, 8);
    assert_int_equal(u.data_len, 0);
    assert_int_equal(u.dport, 9);
    tapir_sock_close(s);
}

static void test_sendto_largest_datagram_is_fragmented(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *s = sock_bound(f, 0, 7000, false);
    fx_pattern(big, 65507, 77);
    struct sockaddr_in dst = sin_of(FX_FAR_IP, 4000);
    assert_int_equal(tapir_sock_sendto(s, big, 65507, 0, &dst), 65507);
    size_t n;
    const struct fx_frame *frs = fx_take_all(f, &n);
    /* 65515 bytes of IP payload in 1480-byte pieces: 44 full fragments and 395 bytes. */
    assert_int_equal(n, 45);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(fx_as_ip(&frs[i]).total_len, i + 1 < n ? 1500 : 20 + 395);
    static uint8_t dgram[65536];
    size_t len = fx_reassemble(frs, n, 1500, dgram, sizeof(dgram));
    assert_int_equal(len, 65515);
    assert_int_equal(fx_be16(dgram), 7000);
    assert_int_equal(fx_be16(dgram + 2), 4000);
    assert_int_equal(fx_be16(dgram + 4), 65515);
    assert_int_equal(fx_udp_csum(FX_OUR_IP, FX_FAR_IP, dgram, len), 0);
    assert_memory_equal(dgram + 8, big, 65507);
    tapir_sock_close(s);
}

static void test_sendto_too_large_is_emsgsize(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *s = sock_new(f);
    struct sockaddr_in dst = sin_of(FX_FAR_IP, 4000);
    assert_int_equal(tapir_sock_sendto(s, big, 65508, 0, &dst), -EMSGSIZE);
    fx_expect_none(f);
    tapir_sock_close(s);
}

static void test_sendto_without_destination_on_unconnected_is_edestaddrreq(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *s = sock_bound(f, 0, 7000, false);
    assert_int_equal(tapir_sock_sendto(s, "x", 1, 0, NULL), -EDESTADDRREQ);
    fx_expect_none(f);
    tapir_sock_close(s);
}

static void test_broadcast_needs_so_broadcast_then_goes_to_broadcast_mac(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *s = sock_bound(f, 0, 7000, false);
    const uint32_t dsts[] = {FX_BCAST_IP, 0xffffffffu};
    for (size_t i = 0; i < 2; i++) {
        struct sockaddr_in dst = sin_of(dsts[i], 67);
        assert_int_equal(tapir_sock_sendto(s, "b", 1, 0, &dst), -EACCES);
    }
    fx_expect_none(f);
    set_int(s, SO_BROADCAST, 1);
    for (size_t i = 0; i < 2; i++) {
        struct sockaddr_in dst = sin_of(dsts[i], 67);
        assert_int_equal(tapir_sock_sendto(s, "b", 1, 0, &dst), 1);
        const struct fx_frame *fr = fx_expect_one(f);
        assert_memory_equal(fx_as_eth(fr).dst, fx_bcast_mac, 6);
        struct fx_ip_view ip;
        fx_as_udp(fr, &ip);
        assert_int_equal(ip.dst, dsts[i]);
    }
    tapir_sock_close(s);
}

/* --- ports --- */

static void test_same_port_twice_is_eaddrinuse_unless_both_reuseaddr(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *a = sock_bound(f, 0, 7000, false);
    struct tapir_sock *b = sock_new(f);
    struct sockaddr_in addr = sin_of(0, 7000);
    assert_int_equal(tapir_sock_bind(b, &addr), -EADDRINUSE);
    set_int(b, SO_REUSEADDR, 1); /* not enough: a did not set it */
    assert_int_equal(tapir_sock_bind(b, &addr), -EADDRINUSE);
    tapir_sock_close(a);
    tapir_sock_close(b);

    a = sock_bound(f, 0, 7001, true);
    b = sock_bound(f, 0, 7001, true);
    assert_int_equal(local_port(a), 7001);
    assert_int_equal(local_port(b), 7001);
    tapir_sock_close(a);
    tapir_sock_close(b);
}

static void test_bind_errors(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *s = sock_new(f);
    struct sockaddr_in addr = sin_of(FX_PEER_IP, 7000);
    assert_int_equal(tapir_sock_bind(s, &addr), -EADDRNOTAVAIL);
    addr = sin_of(0, 7000);
    addr.sin_family = AF_INET6;
    assert_int_equal(tapir_sock_bind(s, &addr), -EAFNOSUPPORT);
    addr = sin_of(FX_OUR_IP, 7000);
    assert_int_equal(tapir_sock_bind(s, &addr), 0);
    addr = sin_of(FX_OUR_IP, 7001);
    assert_int_equal(tapir_sock_bind(s, &addr), -EINVAL); /* already bound */
    assert_int_equal(local_port(s), 7000);
    tapir_sock_close(s);
}

static void test_unbound_sendto_autobinds_ephemeral_port(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *s = sock_new(f);
    assert_int_equal(local_port(s), 0);
    struct sockaddr_in dst = sin_of(FX_GW_IP, 9);
    assert_int_equal(tapir_sock_sendto(s, "x", 1, 0, &dst), 1);
    uint16_t port = local_port(s);
    assert_true(port >= 32768 && port <= 60999);
    assert_int_equal(fx_as_udp(fx_expect_one(f), NULL).sport, port);
    tapir_sock_close(s);
}

static void test_many_ephemeral_binds_never_collide(void **state)
{
    struct fixture *f = *state;
    enum { N = 2000 };
    static struct tapir_sock *socks[N];
    static uint8_t seen[65536];
    memset(seen, 0, sizeof(seen));
    for (int i = 0; i < N; i++) {
        socks[i] = sock_new(f);
        struct sockaddr_in any = sin_of(0, 0);
        assert_int_equal(tapir_sock_bind(socks[i], &any), 0);
        uint16_t p = local_port(socks[i]);
        assert_true(p >= 32768 && p <= 60999);
        assert_int_equal(seen[p], 0);
        seen[p] = 1;
    }
    for (int i = 0; i < N; i++)
        tapir_sock_close(socks[i]);
}

static void test_different_seeds_give_different_first_ports(void **state)
{
    struct fixture *f = *state;
    uint16_t first[4];
    for (unsigned i = 0; i < 4; i++) {
        struct tapir_config cfg;
        fx_config(&cfg);
        cfg.seed = 1000 + i;
        fx_restart(f, &cfg);
        struct tapir_sock *s = sock_new(f);
        struct sockaddr_in any = sin_of(0, 0);
        assert_int_equal(tapir_sock_bind(s, &any), 0);
        first[i] = local_port(s);
        tapir_sock_close(s);
    }
    int distinct = 0;
    for (unsigned i = 0; i < 4; i++) {
        bool dup = false;
        for (unsigned j = 0; j < i; j++)
            dup |= first[i] == first[j];
        distinct += !dup;
    }
    assert_true(distinct >= 3);
}

/* --- ICMP errors --- */

/* The socket s sends "hi" to peer and the peer answers with port unreachable quoting it. */
static void send_and_get_port_unreachable(struct fixture *f, struct tapir_sock *s,
                                          const struct sockaddr_in *dst)
{
    assert_int_equal(tapir_sock_sendto(s, "hi", 2, 0, dst), 2);
    struct fx_ip_view ip;
    fx_as_udp(fx_expect_one(f), &ip);
    uint8_t icmp[128];
    size_t n = fx_icmp_build(icmp, 3, 3, 0, ip.hdr, ip.hdr_len + 8);
    struct fx_ip h = fx_ip_default();
    h.src = FX_PEER_IP;
    fx_inject_ip(f, fx_peer_mac, &h, icmp, n);
}

static void test_port_unreachable_on_connected_socket_is_econnrefused_once(void **state)
{
    struct fixture *f = *state;
    fx_learn(f, FX_PEER_IP, fx_peer_mac);
    struct tapir_sock *s = sock_new(f);
    struct sockaddr_in peer = sin_of(FX_PEER_IP, 5000);
    assert_int_equal(tapir_sock_connect(s, &peer), 0);

    send_and_get_port_unreachable(f, s, NULL);
    assert_int_equal(fx_stats(f)->udp.rx_icmp_errors, 1);
    assert_true(tapir_sock_events(s) & POLLERR);
    assert_int_equal(tapir_sock_sendto(s, "x", 1, 0, NULL), -ECONNREFUSED);
    assert_false(tapir_sock_events(s) & POLLERR);
    fx_expect_none(f);
    assert_int_equal(tapir_sock_sendto(s, "x", 1, 0, NULL), 1); /* only once */
    fx_clear(f);

    send_and_get_port_unreachable(f, s, NULL);
    assert_int_equal(tapir_sock_recvfrom(s, big, 100, 0, NULL, NULL), -ECONNREFUSED);
    expect_empty(s);

    send_and_get_port_unreachable(f, s, NULL);
    assert_int_equal(get_int(s, SO_ERROR), ECONNREFUSED);
    assert_int_equal(get_int(s, SO_ERROR), 0);
    assert_false(tapir_sock_events(s) & POLLERR);
    tapir_sock_close(s);
}

static void test_port_unreachable_ignored_by_unconnected_socket(void **state)
{
    struct fixture *f = *state;
    fx_learn(f, FX_PEER_IP, fx_peer_mac);
    struct tapir_sock *s = sock_new(f);
    struct sockaddr_in peer = sin_of(FX_PEER_IP, 5000);
    send_and_get_port_unreachable(f, s, &peer);
    assert_false(tapir_sock_events(s) & POLLERR);
    assert_int_equal(get_int(s, SO_ERROR), 0);
    assert_int_equal(tapir_sock_sendto(s, "x", 1, 0, &peer), 1);
    expect_empty(s);
    assert_int_equal(fx_stats(f)->udp.rx_icmp_errors, 0);
    tapir_sock_close(s);
}

/* --- receive buffer --- */

static void test_small_rcvbuf_drops_excess_and_reading_frees_space(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *s = sock_new(f);
    set_int(s, SO_RCVBUF, 4096);
    struct sockaddr_in any = sin_of(0, 7000);
    assert_int_equal(tapir_sock_bind(s, &any), 0);
    uint8_t data[1000];
    fx_pattern(data, sizeof(data), 3);
    for (int i = 0; i < 50; i++)
        fx_inject_udp(f, FX_GW_IP, 1, FX_OUR_IP, 7000, data, sizeof(data));
    uint64_t queued = fx_stats(f)->udp.rx_datagrams, dropped = fx_stats(f)->udp.drop_rcvbuf;
    assert_true(queued >= 2);
    assert_true(dropped >= 1);
    assert_int_equal(queued + dropped, 50);
    assert_int_equal(fx_stats(f)->mem.pkb_in_use, queued);
    uint64_t got = 0;
    while (tapir_sock_recvfrom(s, big, sizeof(big), 0, NULL, NULL) == (ssize_t)sizeof(data))
        got++;
    assert_int_equal(got, queued);
    assert_int_equal(fx_stats(f)->mem.pkb_in_use, 0);
    /* Space is back: the same burst queues as many again. */
    for (int i = 0; i < 50; i++)
        fx_inject_udp(f, FX_GW_IP, 1, FX_OUR_IP, 7000, data, sizeof(data));
    assert_int_equal(fx_stats(f)->udp.rx_datagrams, 2 * queued);
    tapir_sock_close(s);
    assert_int_equal(fx_stats(f)->mem.pkb_in_use, 0);
}

/* --- readiness --- */

static void count_wakeup(void *ctx)
{
    (*(int *)ctx)++;
}

static void test_wakeup_called_and_pollin_follows_queue(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *s = sock_bound(f, 0, 7000, false);
    int wakes = 0;
    tapir_sock_set_wakeup(s, count_wakeup, &wakes);
    assert_int_equal(tapir_sock_events(s), POLLOUT);
    fx_inject_udp(f, FX_GW_IP, 1, FX_OUR_IP, 7000, "w", 1);
    assert_int_equal(wakes, 1);
    assert_int_equal(tapir_sock_events(s), POLLIN | POLLOUT);
    expect_datagram(s, "w", 1, FX_GW_IP, 1);
    assert_int_equal(tapir_sock_events(s), POLLOUT);
    tapir_sock_close(s);
}

/* --- broadcasts --- */

static void test_broadcast_reaches_every_socket_bound_to_the_port(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *a = sock_bound(f, 0, 7000, true);
    struct tapir_sock *b = sock_bound(f, 0, 7000, true);
    struct tapir_sock *other = sock_bound(f, 0, 7001, false);
    int wakes_a = 0, wakes_b = 0;
    tapir_sock_set_wakeup(a, count_wakeup, &wakes_a);
    tapir_sock_set_wakeup(b, count_wakeup, &wakes_b);
    uint8_t data[300];
    fx_pattern(data, sizeof(data), 21);
    fx_inject_udp(f, FX_GW_IP, 1234, FX_BCAST_IP, 7000, data, sizeof(data));
    fx_inject_udp(f, FX_GW_IP, 1234, 0xffffffffu, 7000, "all", 3);
    assert_int_equal(wakes_a, 2);
    assert_int_equal(wakes_b, 2);
    assert_int_equal(fx_stats(f)->udp.rx_datagrams, 4);
    assert_int_equal(fx_stats(f)->mem.pkb_in_use, 4); /* a copy each */
    /* Each socket has its own copy: reading one leaves the other's intact. */
    expect_datagram(a, data, sizeof(data), FX_GW_IP, 1234);
    expect_datagram(a, "all", 3, FX_GW_IP, 1234);
    expect_empty(a);
    expect_datagram(b, data, sizeof(data), FX_GW_IP, 1234);
    expect_datagram(b, "all", 3, FX_GW_IP, 1234);
    expect_empty(b);
    expect_empty(other);
    assert_int_equal(fx_stats(f)->mem.pkb_in_use, 0);
    fx_expect_none(f);
    tapir_sock_close(a);
    tapir_sock_close(b);
    tapir_sock_close(other);
}

/* As Linux: connecting fixes the socket's address to our unicast one, so a connected socket
 * no longer hears broadcasts, even from its peer; the unconnected one still does. */
static void test_broadcast_skips_connected_sockets(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *any = sock_bound(f, 0, 7000, true);
    struct tapir_sock *mine = sock_bound(f, 0, 7000, true);
    struct sockaddr_in gw = sin_of(FX_GW_IP, 1234);
    assert_int_equal(tapir_sock_connect(mine, &gw), 0);
    fx_inject_udp(f, FX_GW_IP, 1234, FX_BCAST_IP, 7000, "b", 1);
    expect_datagram(any, "b", 1, FX_GW_IP, 1234);
    expect_empty(mine);
    fx_inject_udp(f, FX_GW_IP, 1234, FX_OUR_IP, 7000, "u", 1); /* unicast from the peer */
    expect_datagram(mine, "u", 1, FX_GW_IP, 1234);
    tapir_sock_close(any);
    tapir_sock_close(mine);
}

static void test_broadcast_to_full_socket_still_reaches_the_others(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *full = sock_new(f);
    set_int(full, SO_REUSEADDR, 1);
    set_int(full, SO_RCVBUF, 1); /* the floor: room for one datagram */
    struct sockaddr_in any = sin_of(0, 7000);
    assert_int_equal(tapir_sock_bind(full, &any), 0);
    struct tapir_sock *roomy = sock_bound(f, 0, 7000, true);
    for (int i = 0; i < 5; i++)
        fx_inject_udp(f, FX_GW_IP, 1, FX_BCAST_IP, 7000, "bcast", 5);
    assert_true(fx_stats(f)->udp.drop_rcvbuf >= 1);
    for (int i = 0; i < 5; i++)
        expect_datagram(roomy, "bcast", 5, FX_GW_IP, 1);
    expect_empty(roomy);
    tapir_sock_close(full);
    tapir_sock_close(roomy);
    assert_int_equal(fx_stats(f)->mem.pkb_in_use, 0);
}

static void test_broadcast_to_unheard_port_never_draws_port_unreachable(void **state)
{
    struct fixture *f = *state;
    /* Sockets on other ports, and one bound to our unicast address on this port (which
     * broadcasts do not reach): nobody hears port 7000's broadcasts. */
    struct tapir_sock *other = sock_bound(f, 0, 7001, false);
    struct tapir_sock *exact = sock_bound(f, FX_OUR_IP, 7000, false);
    for (int i = 0; i < 3; i++) {
        fx_inject_udp(f, FX_GW_IP, 4444, FX_BCAST_IP, 7000, "x", 1);
        fx_inject_udp(f, FX_GW_IP, 4444, 0xffffffffu, 7000, "x", 1);
    }
    fx_expect_none(f);
    assert_int_equal(fx_stats(f)->udp.drop_no_port, 6);
    assert_int_equal(fx_stats(f)->icmp.tx_dest_unreach, 0);
    expect_empty(other);
    expect_empty(exact);
    /* The same datagram to our own address does draw one. */
    fx_inject_udp(f, FX_GW_IP, 4444, FX_OUR_IP, 7002, "x", 1);
    assert_int_equal(fx_as_icmp(fx_expect_one(f), NULL).type, 3);
    tapir_sock_close(other);
    tapir_sock_close(exact);
}

/* --- shutdown --- */

static struct tapir_sock *sock_connected(struct fixture *f, uint16_t port)
{
    struct tapir_sock *s = sock_bound(f, 0, port, false);
    struct sockaddr_in gw = sin_of(FX_GW_IP, 1);
    assert_int_equal(tapir_sock_connect(s, &gw), 0);
    return s;
}

static void test_shutdown_rd_reports_pollin_rdhup_and_keeps_queue(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *s = sock_connected(f, 7000);
    fx_inject_udp(f, FX_GW_IP, 1, FX_OUR_IP, 7000, "before", 6);
    int wakes = 0;
    tapir_sock_set_wakeup(s, count_wakeup, &wakes);
    assert_int_equal(tapir_sock_shutdown(s, SHUT_RD), 0);
    assert_int_equal(wakes, 1); /* a blocked reader must be woken */
    assert_int_equal(tapir_sock_events(s), POLLIN | POLLRDHUP | POLLOUT);
    /* As Linux: queued datagrams are still read, then the queue is empty (a blocking reader
     * sees the end; the core says -EAGAIN), and a datagram arriving later is still queued. */
    expect_datagram(s, "before", 6, FX_GW_IP, 1);
    expect_empty(s);
    assert_int_equal(tapir_sock_events(s), POLLIN | POLLRDHUP | POLLOUT);
    fx_inject_udp(f, FX_GW_IP, 1, FX_OUR_IP, 7000, "after", 5);
    expect_datagram(s, "after", 5, FX_GW_IP, 1);
    /* Sending still works. */
    assert_int_equal(tapir_sock_sendto(s, "out", 3, 0, NULL), 3);
    fx_clear(f);
    tapir_sock_close(s);
}

static void test_shutdown_wr_makes_sends_epipe(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *s = sock_connected(f, 7000);
    assert_int_equal(tapir_sock_shutdown(s, SHUT_WR), 0);
    assert_int_equal(tapir_sock_events(s), POLLOUT); /* as Linux: no HUP for half */
    struct sockaddr_in dst = sin_of(FX_GW_IP, 9);
    assert_int_equal(tapir_sock_sendto(s, "x", 1, 0, NULL), -EPIPE);
    assert_int_equal(tapir_sock_sendto(s, "x", 1, 0, &dst), -EPIPE);
    assert_int_equal(tapir_sock_sendto(s, NULL, 0, 0, &dst), -EPIPE);
    fx_expect_none(f);
    assert_int_equal(fx_stats(f)->udp.tx_datagrams, 0);
    /* Receiving still works. */
    fx_inject_udp(f, FX_GW_IP, 1, FX_OUR_IP, 7000, "in", 2);
    expect_datagram(s, "in", 2, FX_GW_IP, 1);
    tapir_sock_close(s);
}

static void test_shutdown_both_ways_reports_pollhup(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *s = sock_connected(f, 7000);
    assert_int_equal(tapir_sock_shutdown(s, SHUT_RDWR), 0);
    assert_int_equal(tapir_sock_events(s), POLLIN | POLLRDHUP | POLLHUP | POLLOUT);
    assert_int_equal(tapir_sock_sendto(s, "x", 1, 0, NULL), -EPIPE);
    tapir_sock_close(s);

    /* The two halves add up. */
    s = sock_connected(f, 7001);
    assert_int_equal(tapir_sock_shutdown(s, SHUT_RD), 0);
    assert_false(tapir_sock_events(s) & POLLHUP);
    assert_int_equal(tapir_sock_shutdown(s, SHUT_WR), 0);
    assert_int_equal(tapir_sock_events(s), POLLIN | POLLRDHUP | POLLHUP | POLLOUT);
    assert_int_equal(tapir_sock_shutdown(s, SHUT_RDWR), 0); /* again: no harm */
    tapir_sock_close(s);
}

static void test_shutdown_bad_how_is_einval_and_does_nothing(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *s = sock_connected(f, 7000);
    const int bad[] = {-1, 3, 4, 100};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(tapir_sock_shutdown(s, bad[i]), -EINVAL);
    assert_int_equal(tapir_sock_events(s), POLLOUT);
    assert_int_equal(tapir_sock_sendto(s, "x", 1, 0, NULL), 1);
    fx_clear(f);
    /* EINVAL comes before ENOTCONN. */
    struct tapir_sock *u = sock_new(f);
    assert_int_equal(tapir_sock_shutdown(u, 3), -EINVAL);
    assert_int_equal(tapir_sock_events(u), POLLOUT);
    tapir_sock_close(u);
    tapir_sock_close(s);
}

static void test_shutdown_unconnected_is_enotconn_but_takes_effect(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *s = sock_bound(f, 0, 7000, false);
    int wakes = 0;
    tapir_sock_set_wakeup(s, count_wakeup, &wakes);
    assert_int_equal(tapir_sock_shutdown(s, SHUT_RD), -ENOTCONN);
    assert_int_equal(wakes, 1);
    assert_int_equal(tapir_sock_events(s), POLLIN | POLLRDHUP | POLLOUT);
    assert_int_equal(tapir_sock_shutdown(s, SHUT_WR), -ENOTCONN);
    assert_int_equal(tapir_sock_events(s), POLLIN | POLLRDHUP | POLLHUP | POLLOUT);
    struct sockaddr_in dst = sin_of(FX_GW_IP, 9);
    assert_int_equal(tapir_sock_sendto(s, "x", 1, 0, &dst), -EPIPE);
    fx_expect_none(f);
    /* Never bound, never connected: the same. */
    struct tapir_sock *fresh = sock_new(f);
    assert_int_equal(tapir_sock_shutdown(fresh, SHUT_RDWR), -ENOTCONN);
    assert_true(tapir_sock_events(fresh) & POLLHUP);
    tapir_sock_close(fresh);
    tapir_sock_close(s);
}

/* --- ICMP errors, as Linux reports them --- */

/* Linux (__udp4_lib_err) reports only the "fatal" ICMP errors to a connected socket without
 * IP_RECVERR: host and network unreachable, time exceeded and other soft errors are not
 * reported at all, and the codes map as icmp_err_convert (EHOSTDOWN, ENONET, ...). */
static void test_linux_icmp_errors_reported_as_icmp_err_convert(void **state)
{
    struct fixture *f = *state;
    fx_learn(f, FX_PEER_IP, fx_peer_mac);
    struct tapir_sock *s = sock_new(f);
    struct sockaddr_in peer = sin_of(FX_PEER_IP, 5000);
    assert_int_equal(tapir_sock_connect(s, &peer), 0);
    static const uint8_t cases[][2] = {
        {3, 0},  {3, 1},  {3, 2},  {3, 3},  {3, 4},  {3, 5},  {3, 6},
        {3, 7},  {3, 8},  {3, 9},  {3, 10}, {3, 11}, {3, 12}, {3, 13},
        {3, 14}, {3, 15}, {3, 16}, {11, 0}, {11, 1}, {12, 0}, {4, 0},
    };
    char wrong[1024] = "";
    size_t used = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(tapir_sock_sendto(s, "hi", 2, 0, NULL), 2);
        struct fx_ip_view ip;
        fx_as_udp(fx_expect_one(f), &ip);
        fx_inject_icmp(f, FX_PEER_IP, fx_peer_mac, cases[i][0], cases[i][1], 0, ip.hdr,
                       ip.hdr_len + 8);
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

/* --- socket calls --- */

static void test_getpeername_and_connect_unspec_dissolves(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *s = sock_bound(f, 0, 7000, false);
    struct sockaddr_in a;
    assert_int_equal(tapir_sock_getpeername(s, &a), -ENOTCONN);
    struct sockaddr_in peer = sin_of(FX_PEER_IP, 5000);
    assert_int_equal(tapir_sock_connect(s, &peer), 0);
    assert_int_equal(tapir_sock_getpeername(s, &a), 0);
    assert_int_equal(ntohl(a.sin_addr.s_addr), FX_PEER_IP);
    assert_int_equal(ntohs(a.sin_port), 5000);
    struct sockaddr_in unspec;
    memset(&unspec, 0, sizeof(unspec));
    unspec.sin_family = AF_UNSPEC;
    assert_int_equal(tapir_sock_connect(s, &unspec), 0);
    assert_int_equal(tapir_sock_getpeername(s, &a), -ENOTCONN);
    assert_int_equal(tapir_sock_sendto(s, "x", 1, 0, NULL), -EDESTADDRREQ);
    fx_inject_udp(f, FX_GW_IP, 1, FX_OUR_IP, 7000, "any", 3); /* no longer filtered */
    expect_datagram(s, "any", 3, FX_GW_IP, 1);
    assert_int_equal(local_port(s), 7000);
    tapir_sock_close(s);
}

static void test_so_type_is_dgram(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *s = sock_new(f);
    assert_int_equal(get_int(s, SO_TYPE), SOCK_DGRAM);
    tapir_sock_close(s);
}

static void test_open_rejects_mismatched_protocols(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *s = NULL;
    assert_int_equal(tapir_sock_open(f->st, SOCK_RAW, 0, &s), -ESOCKTNOSUPPORT);
    assert_int_equal(tapir_sock_open(f->st, SOCK_STREAM, 17, &s), -EPROTONOSUPPORT);
    assert_int_equal(tapir_sock_open(f->st, SOCK_DGRAM, 6, &s), -EPROTONOSUPPORT);
    assert_null(s);
    assert_int_equal(tapir_sock_open(f->st, SOCK_DGRAM, 17, &s), 0);
    tapir_sock_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX_TEST(test_datagram_to_bound_socket_is_received_with_payload_and_source),
        FX_TEST(test_zero_length_datagram_is_delivered_as_empty),
        FX_TEST(test_zero_checksum_means_none_and_is_accepted),
        FX_TEST_LEARNED(test_bad_checksum_is_dropped),
        FX_TEST(test_length_field_beyond_ip_payload_is_dropped),
        FX_TEST(test_length_field_below_header_is_dropped),
        FX_TEST(test_length_field_shorter_than_payload_trims_padding),
        FX_TEST_LEARNED(test_shorter_than_header_is_dropped),
        FX_TEST(test_short_buffer_truncates_and_discards_rest),
        FX_TEST(test_peek_leaves_datagram_queued),
        FX_TEST(test_trunc_flag_returns_real_length),
        FX_TEST_LEARNED(test_no_socket_sends_port_unreachable_quoting_datagram),
        FX_TEST_LEARNED(test_no_port_unreachable_for_broadcasts),
        FX_TEST(test_exact_address_socket_beats_wildcard),
        FX_TEST_LEARNED(test_broadcast_reaches_wildcard_socket_only),
        FX_TEST(test_connected_socket_receives_only_its_peer),
        FX_TEST(test_connected_socket_beats_wildcard_for_its_peer),
        FX_TEST_LEARNED(test_sendto_builds_correct_frame_via_gateway),
        FX_TEST_LEARNED(test_sendto_zero_bytes_sends_bare_header),
        FX_TEST_LEARNED(test_sendto_largest_datagram_is_fragmented),
        FX_TEST_LEARNED(test_sendto_too_large_is_emsgsize),
        FX_TEST(test_sendto_without_destination_on_unconnected_is_edestaddrreq),
        FX_TEST(test_broadcast_needs_so_broadcast_then_goes_to_broadcast_mac),
        FX_TEST(test_same_port_twice_is_eaddrinuse_unless_both_reuseaddr),
        FX_TEST(test_bind_errors),
        FX_TEST_LEARNED(test_unbound_sendto_autobinds_ephemeral_port),
        FX_TEST(test_many_ephemeral_binds_never_collide),
        FX_TEST(test_different_seeds_give_different_first_ports),
        FX_TEST(test_port_unreachable_on_connected_socket_is_econnrefused_once),
        FX_TEST(test_port_unreachable_ignored_by_unconnected_socket),
        FX_TEST(test_small_rcvbuf_drops_excess_and_reading_frees_space),
        FX_TEST(test_wakeup_called_and_pollin_follows_queue),
        FX_TEST(test_broadcast_reaches_every_socket_bound_to_the_port),
        FX_TEST(test_broadcast_skips_connected_sockets),
        FX_TEST(test_broadcast_to_full_socket_still_reaches_the_others),
        FX_TEST_LEARNED(test_broadcast_to_unheard_port_never_draws_port_unreachable),
        FX_TEST_LEARNED(test_shutdown_rd_reports_pollin_rdhup_and_keeps_queue),
        FX_TEST(test_shutdown_wr_makes_sends_epipe),
        FX_TEST_LEARNED(test_shutdown_both_ways_reports_pollhup),
        FX_TEST_LEARNED(test_shutdown_bad_how_is_einval_and_does_nothing),
        FX_TEST(test_shutdown_unconnected_is_enotconn_but_takes_effect),
        FX_TEST(test_getpeername_and_connect_unspec_dissolves),
        FX_TEST(test_so_type_is_dgram),
        FX_TEST(test_open_rejects_mismatched_protocols),
    };
    const struct CMUnitTest linux_departures[] = {
        FX_TEST_LEARNED(test_linux_icmp_errors_reported_as_icmp_err_convert),
    };
    int failed = cmocka_run_group_tests_name("udp", tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("udp: linux departures", linux_departures, NULL, NULL);
    return failed;
}
