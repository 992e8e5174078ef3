/* SPDX-License-Identifier: MIT */
/* test_tcp_limits.c: bounds on what connections may hold, so that many peers (or one that
 * misbehaves) cannot exhaust the stack: at most cfg.tcp_max_conns connection blocks (a socket
 * beyond it fails with ENOBUFS, a SYN beyond it is dropped, both counted); at most
 * cfg.tcp_max_orphans connections closed by their application but still closing (beyond it a
 * close resets, as Linux's "too many orphaned sockets"); and an orphan whose peer keeps its
 * window shut gives up after TCP_ORPHAN_PROBES probes (Linux's tcp_orphan_retries). */
#include "fixture.h"

#include <errno.h>

#include "core.h"
#include "tcp.h"
#include "tcp_conv.h"

static uint8_t pat[4096];

static void restart_with(struct fixture *f, unsigned max_conns, unsigned max_orphans)
{
    struct tapir_config cfg;
    fx_config(&cfg);
    cfg.tcp_max_conns = max_conns;
    cfg.tcp_max_orphans = max_orphans;
    restart(f, &cfg);
}

static void test_connection_blocks_are_bounded(void **state)
{
    struct fixture *f = *state;
    restart_with(f, 3, 4096);
    struct conv cv = conv_listen(f, 0);      /* block 1: the listener */
    syn_to_listener(&cv, PEER_ISN, 1460);     /* block 2: a handshake */
    struct tapir_sock *s;
    assert_int_equal(tapir_sock_open(f->st, SOCK_STREAM, 0, &s), 0); /* block 3 */
    struct tapir_sock *t = NULL;
    assert_int_equal(tapir_sock_open(f->st, SOCK_STREAM, 0, &t), -ENOBUFS);
    assert_int_equal(tcps(f)->conns_refused, 1);
    /* A SYN from another peer finds no room: dropped (the peer will try again). */
    struct conv other = conv_new(f, RPORT + 1);
    seg_in(&other, FX_TCP_SYN, 77, 0, 1460, NULL, 0);
    fx_expect_none(f);
    assert_int_equal(tcps(f)->conns_refused, 2);
    /* A block given back makes room again. */
    tapir_sock_close(s);
    assert_int_equal(tapir_sock_open(f->st, SOCK_STREAM, 0, &t), 0);
    tapir_sock_close(t);
    tapir_sock_close(cv.l);
}

static void test_orphans_beyond_the_limit_are_reset(void **state)
{
    struct fixture *f = *state;
    restart_with(f, 65536, 1);
    struct conv a = conv_accepted(f, 0);
    struct conv b = conv_new(f, RPORT + 1);
    b.l = a.l;
    passive_open(&b, PEER_ISN + 5000, 1460);
    /* The first close is graceful: a FIN, and the connection lives on as an orphan. */
    tapir_sock_close(a.s);
    struct fx_tcp_view v = out_one(&a);
    assert_int_equal(v.flags, FX_TCP_FIN | FX_TCP_ACK);
    expect_state(&a, TCP_FIN_WAIT_1);
    /* The second would be one orphan too many: a reset, and it is gone. */
    tapir_sock_close(b.s);
    v = out_one(&b);
    assert_int_equal(v.flags, FX_TCP_RST | FX_TCP_ACK);
    assert_null(conn_of(&b));
    assert_int_equal(tcps(f)->orphans_reset, 1);
    tapir_sock_close(a.l);
}

static void test_orphan_facing_a_shut_window_gives_up(void **state)
{
    struct fixture *f = *state;
    struct conv cv = conv_accepted(f, 0);
    /* The peer shuts its window; our data waits, and the application closes. */
    cv.pwnd = 0;
    peer_ack(&cv);
    app_send(cv.s, pat, 1000);
    fx_expect_none(f);
    tapir_sock_close(cv.s);
    fx_expect_none(f); /* the FIN waits behind the data */
    /* The peer answers every probe, still with a zero window: after TCP_ORPHAN_PROBES
     * probes the orphan resets and is freed. */
    unsigned probes = 0;
    bool reset = false;
    for (unsigned step = 0; step < 64 && !reset; step++) {
        fx_advance(f, 60u * 1000000u);
        struct fx_tcp_view v[4];
        size_t n = out_all(&cv, v, 4, true);
        for (size_t i = 0; i < n; i++) {
            if (v[i].flags & FX_TCP_RST) {
                reset = true;
            } else {
                probes++;
                peer_ack(&cv); /* answered: the window is still 0 */
            }
        }
    }
    assert_true(reset);
    assert_int_equal(probes, TCP_ORPHAN_PROBES);
    assert_int_equal(tcps(f)->orphans_reset, 1);
    assert_null(conn_of(&cv));
    tapir_sock_close(cv.l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TCP_TEST(test_connection_blocks_are_bounded),
        TCP_TEST(test_orphans_beyond_the_limit_are_reset),
        TCP_TEST(test_orphan_facing_a_shut_window_gives_up),
    };
    return cmocka_run_group_tests_name("tcp_limits", tests, NULL, NULL);
}
