/* SPDX-License-Identifier: MIT */
/* test_tcp_syncookie.c: SYN cookies (RFC 4987 §3.6), segment by crafted segment through
 * tcp_conv. A listener whose SYN queue is full (backlog + 16 handshakes that never finish)
 * answers the next SYN with a cookie and keeps nothing; the handshake's ACK, if it brings the
 * cookie back, opens the connection, with the MSS, window scale and SACK the SYN asked for
 * (the last two through the timestamp's echo). A forged or stale ACK gets a reset. */
#include "fixture.h"

#include "core.h"
#include "tcp.h"
#include "tcp_conv.h"

#define BACKLOG 1
#define SYN_QUEUE (BACKLOG + 16) /* tcp_listen_input's bound */
#define COOKIE_PORT 50000

static uint8_t pat[4096];

/* A listener with backlog 1, and its SYN queue filled by handshakes that never finish (as a
 * flood from spoofed addresses leaves it). Returns the listener. */
static struct tapir_sock *flooded_listener(struct fixture *f)
{
    struct tapir_sock *l = listener(f, LPORT, BACKLOG, 0);
    for (unsigned i = 0; i < SYN_QUEUE; i++) {
        struct conv cv = conv_new(f, (uint16_t)(41000 + i));
        cv.l = l;
        syn_to_listener(&cv, 1000u * i, 1460);
    }
    assert_int_equal(tcps(f)->syncookies_sent, 0);
    return l;
}

/* The SYN that finds the queue full: a SYN,ACK whose ISN is the cookie, and no block kept.
 * *syn_ack (if given) is that SYN,ACK. */
static struct conv cookie_syn(struct fixture *f, struct tapir_sock *l, const uint8_t *opts,
                              size_t olen, int mss, struct tc_opts *syn_ack)
{
    uint64_t allocated = tcps(f)->conns_allocated;
    struct conv cv = conv_new(f, COOKIE_PORT);
    cv.l = l;
    struct fx_tcp_view v = syn_to_listener_opts(&cv, PEER_ISN, mss, opts, olen);
    if (syn_ack)
        *syn_ack = opts_of(&v);
    assert_int_equal(tcps(f)->syncookies_sent, 1);
    assert_int_equal(tcps(f)->conns_allocated, allocated); /* stateless */
    assert_null(conn_of(&cv));
    return cv;
}

static void test_full_syn_queue_answers_with_a_cookie_that_opens_the_connection(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *l = flooded_listener(f);
    struct conv cv = cookie_syn(f, l, NULL, 0, 1400, NULL);
    fx_advance(f, 5000);
    complete_passive_open(&cv); /* the ACK brings the cookie back: accept gives it */
    assert_int_equal(tcps(f)->syncookies_validated, 1);
    expect_state(&cv, TCP_ESTABLISHED);
    struct tcp_conn *c = conn_of(&cv);
    assert_int_equal(c->snd_mss, 1400); /* from the cookie's MSS bits */
    assert_false(c->ws_ok);             /* no timestamps, so no room for the rest */
    assert_false(c->sack_ok);
    /* It works as any connection: data both ways. */
    peer_send(&cv, FX_TCP_ACK | FX_TCP_PSH, pat, 100);
    expect_read(cv.s, pat, 100);
    app_send(cv.s, pat + 100, 200);
    struct fx_tcp_view v[4];
    size_t n = out_all(&cv, v, 4, false);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].seq, cv.iss + 1);
    assert_int_equal(v[0].data_len, 200);
    assert_memory_equal(v[0].data, pat + 100, 200);
    conv_close(&cv);
}

/* With timestamps on the SYN, window scale and SACK-permitted travel in the low bits of our
 * TSval and come back in the ACK's TSecr. */
static void test_cookie_keeps_window_scale_and_sack_through_the_timestamp(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *l = flooded_listener(f);
    /* After the MSS: SACK-permitted, timestamps (TSval 77), NOP, window scale 9. */
    const uint8_t opts[] = {4, 2, 8, 10, 0, 0, 0, 77, 0, 0, 0, 0, 1, 3, 3, 9};
    struct tc_opts o;
    struct conv cv = cookie_syn(f, l, opts, sizeof(opts), 1460, &o);
    assert_true(o.ts);
    assert_true(o.sack_permitted);
    assert_true(o.wscale >= 0);
    assert_int_equal(o.tsecr, 77);
    assert_int_equal(o.tsval & 31u, 9u | 16u); /* wscale 9, SACK on */
    fx_advance(f, 5000);
    cv.ts = true;
    cv.tsval = 78;
    cv.tsecr = o.tsval;
    complete_passive_open(&cv);
    struct tcp_conn *c = conn_of(&cv);
    assert_true(c->ts_ok);
    assert_true(c->sack_ok);
    assert_true(c->ws_ok);
    assert_int_equal(c->snd_wscale, 9);
    assert_int_equal(c->rcv_wscale, o.wscale);
    assert_int_equal(c->snd_mss, 1460);
    /* Our clock goes on from the TSval the peer saw: never backwards. */
    app_send(cv.s, pat, 100);
    struct fx_tcp_view v = out_one(&cv);
    struct tc_opts d = opts_of(&v);
    assert_true(d.ts);
    assert_true(d.tsval - o.tsval < 1000u);
    assert_int_equal(d.tsecr, 78);
    conv_close(&cv);
}

/* Without timestamps nothing can carry window scale and SACK-permitted to the ACK, so the
 * cookie's SYN,ACK must not offer them (as Linux's does not): had it offered window scaling,
 * the peer would scale its window and read ours scaled while we do neither, and its window of
 * 64 KiB would look like 63 bytes to us. The window the ACK brings is taken as it is. */
static void test_cookie_without_timestamps_offers_no_window_scale_or_sack(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *l = flooded_listener(f);
    /* After the MSS: NOP, NOP, SACK-permitted, NOP, window scale 9; no timestamps. */
    const uint8_t opts[] = {1, 1, 4, 2, 1, 3, 3, 9};
    struct tc_opts o;
    struct conv cv = cookie_syn(f, l, opts, sizeof(opts), 1460, &o);
    assert_false(o.ts);
    assert_int_equal(o.wscale, -1);
    assert_false(o.sack_permitted);
    assert_int_equal(o.mss, 1460);
    fx_advance(f, 5000);
    cv.pwnd = 1000;
    complete_passive_open(&cv);
    struct tcp_conn *c = conn_of(&cv);
    assert_false(c->ws_ok);
    assert_false(c->sack_ok);
    assert_int_equal(c->snd_wscale, 0);
    assert_int_equal(c->rcv_wscale, 0);
    assert_int_equal(c->snd_wnd, 1000); /* the peer's window field, unscaled */
    conv_close(&cv);
}

/* An ACK to the listener that carries no cookie of ours (or one too old) is reset. */
static void test_forged_or_stale_cookie_is_reset(void **state)
{
    struct fixture *f = *state;
    struct tapir_sock *l = flooded_listener(f);
    struct conv cv = cookie_syn(f, l, NULL, 0, 1460, NULL);
    /* Forged: one more than the cookie. */
    seg_in(&cv, FX_TCP_ACK, cv.pseq, cv.iss + 2, -1, NULL, 0);
    struct fx_tcp_view v = out_one(&cv);
    assert_int_equal(v.flags, FX_TCP_RST);
    assert_int_equal(tcps(f)->syncookies_failed, 1);
    /* Stale: the right cookie, three minutes later. */
    fx_advance(f, 180u * 1000000u);
    fx_take_all(f, &(size_t){0}); /* the flood's half-open handshakes resent their SYN,ACKs */
    seg_in(&cv, FX_TCP_ACK, cv.pseq, cv.iss + 1, -1, NULL, 0);
    v = out_one(&cv);
    assert_int_equal(v.flags, FX_TCP_RST);
    assert_int_equal(tcps(f)->syncookies_validated, 0);
    assert_null(conn_of(&cv));
    tapir_sock_close(l);
}

/* syncookies off: the SYN that finds the queue full is dropped, as before. */
static void test_without_cookies_a_full_syn_queue_drops(void **state)
{
    struct fixture *f = *state;
    struct tapir_config cfg;
    fx_config(&cfg);
    cfg.tcp_syncookies = false;
    restart(f, &cfg);
    struct tapir_sock *l = flooded_listener(f);
    struct conv cv = conv_new(f, COOKIE_PORT);
    cv.l = l;
    seg_in(&cv, FX_TCP_SYN, PEER_ISN, 0, 1460, NULL, 0);
    fx_expect_none(f);
    assert_int_equal(tcps(f)->listen_overflows, 1);
    assert_int_equal(tcps(f)->syncookies_sent, 0);
    tapir_sock_close(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TCP_TEST(test_full_syn_queue_answers_with_a_cookie_that_opens_the_connection),
        TCP_TEST(test_cookie_keeps_window_scale_and_sack_through_the_timestamp),
        TCP_TEST(test_cookie_without_timestamps_offers_no_window_scale_or_sack),
        TCP_TEST(test_forged_or_stale_cookie_is_reset),
        TCP_TEST(test_without_cookies_a_full_syn_queue_drops),
    };
    return cmocka_run_group_tests_name("tcp_syncookie", tests, NULL, NULL);
}
