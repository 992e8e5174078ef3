/* SPDX-License-Identifier: MIT */
/* test_tcp_ports.c: what a blind attacker would have to guess about a connection the stack
 * opens: its ephemeral port (RFC 6056) and its initial sequence number (RFC 6528). Both come
 * from the seeded PRNG (cfg.seed, tapir's --seed): the same seed replays them exactly, so a
 * run can be reproduced; another seed gives others, so they cannot be known from one run to
 * the next. Successive connections' ports are not sequential (RFC 6056 §3.3.1, Algorithm 1:
 * a random start for each, in Linux's 32768-60999). The passive side's ISNs are pinned in
 * test_tcp_input.c (test_isn_key_follows_the_seed), UDP's first port in test_udp.c. */
#include "fixture.h"

#include <errno.h>
#include <stdlib.h>

#include "tcp.h"
#include "tcp_conv.h"

#define PORT_MIN 32768u
#define PORT_MAX 60999u
#define FIXED_LPORT 45000 /* for the ISN of one 4-tuple: the same local port on every stack */

/* Restarts the fixture's stack with this seed (the clock does not move: fx_restart keeps it). */
static void restart_seeded(struct fixture *f, uint64_t seed)
{
    struct tapir_config cfg;
    fx_config(&cfg);
    cfg.seed = seed;
    restart(f, &cfg);
}

/* A socket connecting to the peer at rport, bound to lport first unless it is 0; returns
 * the SYN's view (cv->lport and cv->iss are then known). The socket stays in SYN_SENT. */
static struct fx_tcp_view syn_from(struct conv *cv, uint16_t lport)
{
    if (!lport)
        return connect_syn(cv, 0);
    assert_int_equal(tapir_sock_open(cv->f->st, SOCK_STREAM, 0, &cv->s), 0);
    struct sockaddr_in me = sin_of(0, lport);
    assert_int_equal(tapir_sock_bind(cv->s, &me), 0);
    struct sockaddr_in to = sin_of(PEER, cv->rport);
    assert_int_equal(tapir_sock_connect(cv->s, &to), -EINPROGRESS);
    struct fx_ip_view ip;
    struct fx_tcp_view v = fx_as_tcp(fx_expect_one(cv->f), &ip);
    assert_int_equal(v.flags, FX_TCP_SYN);
    assert_int_equal(v.sport, lport);
    assert_int_equal(v.dport, cv->rport);
    cv->lport = v.sport;
    cv->iss = v.seq;
    return v;
}

struct first_syn {
    uint16_t port;
    uint32_t isn;
};

/* The first connection a fresh stack with this seed opens to the peer's RPORT. */
static struct first_syn first_connection(struct fixture *f, uint64_t seed, uint16_t lport)
{
    restart_seeded(f, seed);
    struct conv cv = conv_new(f, RPORT);
    struct fx_tcp_view v = syn_from(&cv, lport);
    struct first_syn r = {v.sport, v.seq};
    tapir_sock_close(cv.s);
    fx_clear(f);
    return r;
}

/* Unbound: the same seed picks the same port and the same ISN; three seeds, three ports and
 * three ISNs. */
static void test_first_port_and_isn_follow_the_seed(void **state)
{
    struct fixture *f = *state;
    struct first_syn a = first_connection(f, 101, 0), again = first_connection(f, 101, 0);
    struct first_syn b = first_connection(f, 102, 0), c = first_connection(f, 103, 0);
    assert_int_equal(a.port, again.port);
    assert_int_equal(a.isn, again.isn);
    struct first_syn all[] = {a, b, c};
    for (unsigned i = 0; i < 3; i++) {
        assert_in_range(all[i].port, PORT_MIN, PORT_MAX);
        for (unsigned j = 0; j < i; j++) {
            assert_int_not_equal(all[i].port, all[j].port);
            assert_int_not_equal(all[i].isn, all[j].isn);
        }
    }
}

/* One 4-tuple (the local port bound, so that only the key differs): its ISN follows the seed,
 * not only the clock. The clock moves it by one every 4 us (RFC 6528 §3); the key is what a
 * blind attacker cannot know. */
static void test_isn_of_one_4_tuple_follows_the_seed(void **state)
{
    struct fixture *f = *state;
    struct first_syn a = first_connection(f, 7, FIXED_LPORT);
    struct first_syn again = first_connection(f, 7, FIXED_LPORT);
    struct first_syn b = first_connection(f, 8, FIXED_LPORT);
    struct first_syn c = first_connection(f, 9, FIXED_LPORT);
    assert_int_equal(a.isn, again.isn);
    assert_int_not_equal(a.isn, b.isn);
    assert_int_not_equal(a.isn, c.isn);
    assert_int_not_equal(b.isn, c.isn);
    /* The ISNs of two seeds are not a fixed distance apart that one connection would reveal:
     * another 4-tuple (another remote port) moves them by other amounts. */
    restart_seeded(f, 7);
    struct conv cv7 = conv_new(f, RPORT + 1);
    uint32_t a2 = syn_from(&cv7, FIXED_LPORT).seq;
    tapir_sock_close(cv7.s);
    fx_clear(f);
    restart_seeded(f, 8);
    struct conv cv8 = conv_new(f, RPORT + 1);
    uint32_t b2 = syn_from(&cv8, FIXED_LPORT).seq;
    tapir_sock_close(cv8.s);
    fx_clear(f);
    assert_int_not_equal(b.isn - a.isn, b2 - a2);
    /* The same seed 4 ms later: the clock's 1000 ticks, nothing else. */
    restart_seeded(f, 7);
    fx_advance(f, 4000);
    struct conv later = conv_new(f, RPORT);
    assert_int_equal(syn_from(&later, FIXED_LPORT).seq - a.isn, 1000);
    tapir_sock_close(later.s);
    fx_clear(f);
}

enum { NCONN = 200 };

/* The ports of NCONN successive connections (all kept open) to the peer's RPORT. */
static void successive_ports(struct fixture *f, uint64_t seed, uint16_t *ports, unsigned n)
{
    static struct conv cv[NCONN];
    restart_seeded(f, seed);
    for (unsigned i = 0; i < n; i++) {
        cv[i] = conv_new(f, RPORT);
        ports[i] = syn_from(&cv[i], 0).sport;
    }
    for (unsigned i = 0; i < n; i++)
        tapir_sock_close(cv[i].s);
    fx_clear(f);
}

/* RFC 6056 §3.3.1: each connection's port starts the search at a random point, so one port
 * tells nothing of the next. NCONN successive ports: distinct, in range, spread over the whole
 * range, rarely near the one before, rising about as often as falling; and the same seed
 * replays them all. (The seed is fixed, so these bounds are checked once and cannot flake;
 * they hold with room for any seed a uniform choice could give.) */
static void test_successive_ports_are_not_sequential(void **state)
{
    struct fixture *f = *state;
    static uint16_t ports[NCONN], replay[NCONN];
    static uint8_t seen[65536];
    memset(seen, 0, sizeof(seen));
    successive_ports(f, 4242, ports, NCONN);
    unsigned near = 0, rises = 0, buckets_hit = 0;
    bool bucket[(PORT_MAX - PORT_MIN) / 1000 + 1] = {false};
    for (unsigned i = 0; i < NCONN; i++) {
        assert_in_range(ports[i], PORT_MIN, PORT_MAX);
        assert_int_equal(seen[ports[i]], 0); /* a port in use is never picked again */
        seen[ports[i]] = 1;
        unsigned b = (ports[i] - PORT_MIN) / 1000;
        buckets_hit += !bucket[b];
        bucket[b] = true;
        if (i == 0)
            continue;
        near += abs((int)ports[i] - (int)ports[i - 1]) <= 16;
        rises += ports[i] > ports[i - 1];
    }
    /* A uniform choice lands within 16 of the last port 33 times in 28232: about 0.2 times in
     * 199; a sequential one every time. */
    assert_in_range(near, 0, 3);
    /* About half rise (199 / 2, standard deviation 7). */
    assert_in_range(rises, 60, 139);
    /* 200 uniform ports leave a given 1000-port bucket empty with probability 0.1 %. */
    assert_in_range(buckets_hit, 24, sizeof(bucket) / sizeof(bucket[0]));
    /* Replayable: the same seed, the same ports in the same order. */
    successive_ports(f, 4242, replay, NCONN);
    assert_memory_equal(ports, replay, sizeof(ports));
    /* Another seed: another sequence (its first ports differ). */
    successive_ports(f, 4243, replay, 4);
    assert_memory_not_equal(ports, replay, 4 * sizeof(ports[0]));
}

/* One active open to PEER:RPORT, closed at once both ways, so it stays in TIME_WAIT. */
static void connection_into_time_wait(struct fixture *f)
{
    struct conv cv = conv_new(f, RPORT);
    active_open(&cv, PEER_ISN);
    tapir_sock_close(cv.s);
    out_one(&cv); /* our FIN */
    cv.pack = cv.iss + 2;
    peer_send(&cv, FX_TCP_ACK | FX_TCP_FIN, NULL, 0);
    fx_clear(f);
    expect_state(&cv, TCP_TIME_WAIT);
}

/* With many connections to one server in TIME_WAIT, connect never fails for a port it chose
 * itself: a port whose 4-tuple is still in use is passed over for another (as Linux). */
static void test_connect_passes_over_ports_in_time_wait(void **state)
{
    struct fixture *f = *state;
    for (unsigned i = 0; i < 1500; i++)
        connection_into_time_wait(f);
    for (unsigned i = 0; i < 500; i++) {
        struct tapir_sock *s;
        assert_int_equal(tapir_sock_open(f->st, SOCK_STREAM, 0, &s), 0);
        struct sockaddr_in to = sin_of(PEER, RPORT);
        assert_int_equal(tapir_sock_connect(s, &to), -EINPROGRESS);
        tapir_sock_close(s);
        fx_clear(f);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TCP_TEST(test_first_port_and_isn_follow_the_seed),
        TCP_TEST(test_isn_of_one_4_tuple_follows_the_seed),
        TCP_TEST(test_successive_ports_are_not_sequential),
        TCP_TEST(test_connect_passes_over_ports_in_time_wait),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
