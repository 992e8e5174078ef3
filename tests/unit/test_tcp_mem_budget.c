/* SPDX-License-Identifier: MIT */
/* test_tcp_mem_budget.c: the memory budget (cfg.mem_budget_bytes). Every allocation of the
 * stack is counted against it, and freeing gives back exactly what was taken; past it an
 * allocation is refused and counted. What a refusal means to TCP: a socket() fails, a segment
 * whose bytes find no room is dropped (and comes again; nothing acknowledged is lost), a send
 * takes what fits in the buffer it has, and while the stack is short of memory an emptied
 * ring gives its buffer back. Once memory is freed, everything goes on as before.
 *
 * The tests take most of the budget with one "hog" allocation and let TCP work in what is
 * left. */
#include "fixture.h"

#include <errno.h>
#include <poll.h>

#include "core.h"
#include "tcp.h"
#include "tcp_conv.h"

#define BUDGET_BYTES (1u << 20)

static uint8_t pat[8192];

static const struct tapir_mem_stats *mem(const struct fixture *f) { return &fx_stats(f)->mem; }

static void restart_small(struct fixture *f)
{
    struct tapir_config cfg;
    fx_config(&cfg);
    cfg.mem_budget_bytes = BUDGET_BYTES;
    restart(f, &cfg);
    fx_pattern(pat, sizeof(pat), 7);
}

/* Takes all of the budget but leave_bytes. */
static void *hog(struct fixture *f, size_t leave_bytes)
{
    size_t in_use = mem(f)->in_use_bytes, header = 64; /* more than the block header */
    assert_true(in_use + leave_bytes + header < BUDGET_BYTES);
    void *p = tapir_mem_alloc(f->st, BUDGET_BYTES - in_use - leave_bytes - header);
    assert_non_null(p);
    return p;
}

static void test_allocations_are_counted_and_refused_past_the_budget(void **state)
{
    struct fixture *f = *state;
    restart_small(f);
    uint64_t base = mem(f)->in_use_bytes;
    assert_true(base > 0); /* the tables made at start-up count too */
    void *p = tapir_mem_alloc(f->st, 1000);
    assert_non_null(p);
    uint64_t taken = mem(f)->in_use_bytes - base;
    assert_true(taken >= 1000 && taken <= 1000 + 64);
    assert_int_equal(mem(f)->budget_refused, 0);
    assert_null(tapir_mem_alloc(f->st, BUDGET_BYTES)); /* more than is left */
    assert_int_equal(mem(f)->budget_refused, 1);
    assert_int_equal(mem(f)->in_use_bytes, base + taken); /* a refusal takes nothing */
    tapir_mem_free(f->st, p);
    assert_int_equal(mem(f)->in_use_bytes, base);
    assert_true(mem(f)->in_use_max_bytes >= base + taken);
    /* Exactly up to the budget is allowed; one byte more is not. */
    void *h = hog(f, 0);
    assert_true(mem(f)->in_use_bytes <= BUDGET_BYTES);
    tapir_mem_free(f->st, h);
    assert_int_equal(mem(f)->in_use_bytes, base);
}

static void test_config_wants_at_least_a_mebibyte(void **state)
{
    (void)state;
    struct tapir_config cfg;
    fx_config(&cfg);
    cfg.mem_budget_bytes = (1u << 20) - 1;
    struct tapir_driver drv = {.send = NULL};
    assert_null(tapir_stack_new(&cfg, &drv));
    assert_int_equal(errno, EINVAL);
    tapir_config_defaults(&cfg);
    assert_int_equal(cfg.mem_budget_bytes, 64u << 20);
}

static void test_socket_refused_then_allowed(void **state)
{
    struct fixture *f = *state;
    restart_small(f);
    void *h = hog(f, 0);
    struct tapir_sock *s = NULL;
    uint64_t refused = mem(f)->budget_refused;
    assert_int_equal(tapir_sock_open(f->st, SOCK_STREAM, 0, &s), -ENOMEM);
    assert_int_equal(tapir_sock_open(f->st, SOCK_DGRAM, IPPROTO_UDP, &s), -ENOMEM);
    assert_true(mem(f)->budget_refused > refused);
    tapir_mem_free(f->st, h);
    assert_int_equal(tapir_sock_open(f->st, SOCK_STREAM, 0, &s), 0);
    tapir_sock_close(s);
}

/* A SYN with no memory for its block is dropped, not answered; its retransmission, once
 * there is memory, opens the connection. */
static void test_syn_dropped_then_accepted(void **state)
{
    struct fixture *f = *state;
    restart_small(f);
    struct conv cv = conv_listen(f, 0);
    void *h = hog(f, 0);
    uint64_t overflows = tcps(f)->listen_overflows;
    seg_in(&cv, FX_TCP_SYN, PEER_ISN, 0, 1460, NULL, 0);
    fx_expect_none(f);
    assert_int_equal(tcps(f)->listen_overflows, overflows + 1);
    tapir_mem_free(f->st, h);
    passive_open(&cv, PEER_ISN, 1460);
    expect_state(&cv, TCP_ESTABLISHED);
    conv_close(&cv);
}

/* Data that finds no memory is dropped and not acknowledged; the same bytes again, after
 * memory is freed, arrive whole. */
static void test_segment_without_room_is_dropped_then_resent(void **state)
{
    struct fixture *f = *state;
    restart_small(f);
    struct conv cv = conv_accepted(f, 0);
    peer_send(&cv, FX_TCP_ACK | FX_TCP_PSH, pat, 100); /* a small ring now exists, and a packet buffer is free */
    expect_delayed_ack(&cv, cv.iss + 1, cv.pseq);
    expect_read(cv.s, pat, 100);
    assert_true(conn_of(&cv)->rcvq.cap < 1400);
    void *h = hog(f, 256);
    uint32_t seq = cv.pseq;
    seg_in(&cv, FX_TCP_ACK, seq, cv.pack, -1, pat + 100, 1400);
    assert_int_equal(tcps(f)->drop_nomem, 1);
    expect_ack(&cv, cv.iss + 1, seq); /* rcv_nxt did not move: the bytes were not taken */
    expect_nothing_to_read(cv.s);
    tapir_mem_free(f->st, h);
    seg_in(&cv, FX_TCP_ACK, seq, cv.pack, -1, pat + 100, 1400);
    cv.pseq = seq + 1400;
    expect_delayed_ack(&cv, cv.iss + 1, cv.pseq);
    expect_read(cv.s, pat + 100, 1400);
    conv_close(&cv);
}

/* A send that cannot grow the ring takes what fits in it; its ACK makes room (and POLLOUT);
 * with nothing in the ring and nothing to grow it with, send fails with ENOBUFS. */
static void test_send_takes_what_fits(void **state)
{
    struct fixture *f = *state;
    restart_small(f);
    struct conv cv = conv_accepted(f, 0);
    app_send(cv.s, pat, 100); /* the ring is made: TCP_RING_MIN_BYTES */
    out_one(&cv);
    uint32_t cap = conn_of(&cv)->sndq.cap;
    assert_true(cap >= 100 && cap < 4000);
    void *h = hog(f, 256);
    ssize_t n = tapir_sock_sendto(cv.s, pat, 4000, 0, NULL);
    assert_int_equal(n, cap - 100);
    assert_false(tapir_sock_events(cv.s) & POLLOUT);
    assert_int_equal(tapir_sock_sendto(cv.s, pat, 4000, 0, NULL), -EAGAIN);
    /* The peer takes the first 100 bytes (Nagle then lets the rest go), then the rest: the
     * ring is empty and, short of memory, given back. */
    cv.pack = cv.iss + 1 + 100;
    seg_in(&cv, FX_TCP_ACK, cv.pseq, cv.pack, -1, NULL, 0);
    struct fx_tcp_view v = out_one(&cv);
    assert_int_equal(v.data_len, cap - 100);
    cv.pack += cap - 100;
    peer_ack(&cv);
    fx_clear(f);
    assert_int_equal(conn_of(&cv)->sndq.len, 0);
    assert_int_equal(conn_of(&cv)->sndq.cap, 0);
    assert_true(tcps(f)->rings_trimmed >= 1);
    assert_true(tapir_sock_events(cv.s) & POLLOUT); /* worth trying: send says why not */
    tapir_mem_free(f->st, h);
    h = hog(f, 0);
    assert_int_equal(tapir_sock_sendto(cv.s, pat, 4000, 0, NULL), -ENOBUFS);
    tapir_mem_free(f->st, h);
    assert_int_equal(tapir_sock_sendto(cv.s, pat, 4000, 0, NULL), 4000);
    assert_false(conn_of(&cv)->snd_mem_limited);
    conv_close(&cv);
}

/* Short of memory, a receive ring read empty gives its buffer back; with plenty, it keeps
 * it for the next burst. */
static void test_empty_rings_given_back_only_under_pressure(void **state)
{
    struct fixture *f = *state;
    restart_small(f);
    struct conv cv = conv_accepted(f, 0);
    peer_send(&cv, FX_TCP_ACK | FX_TCP_PSH, pat, 1000);
    expect_delayed_ack(&cv, cv.iss + 1, cv.pseq);
    expect_read(cv.s, pat, 1000);
    assert_true(conn_of(&cv)->rcvq.cap > 0); /* plenty of memory: kept */
    assert_int_equal(tcps(f)->rings_trimmed, 0);
    void *h = hog(f, BUDGET_BYTES / 8); /* over three quarters in use */
    peer_send(&cv, FX_TCP_ACK | FX_TCP_PSH, pat, 1000);
    expect_delayed_ack(&cv, cv.iss + 1, cv.pseq);
    expect_read(cv.s, pat, 1000);
    assert_int_equal(conn_of(&cv)->rcvq.cap, 0);
    assert_int_equal(tcps(f)->rings_trimmed, 1);
    /* The next data makes a new one. */
    peer_send(&cv, FX_TCP_ACK | FX_TCP_PSH, pat + 1000, 500);
    expect_delayed_ack(&cv, cv.iss + 1, cv.pseq);
    expect_read(cv.s, pat + 1000, 500);
    tapir_mem_free(f->st, h);
    conv_close(&cv);
}

/* One connection that receives, sends and is closed with data unread (so reset); its
 * timers run out. */
static void one_connection(struct fixture *f, struct tapir_sock *l, uint16_t rport)
{
    struct conv cv = conv_new(f, rport);
    cv.l = l;
    passive_open(&cv, PEER_ISN, 1460);
    peer_send(&cv, FX_TCP_ACK | FX_TCP_PSH, pat, 3000);
    app_send(cv.s, pat, 5000);
    tapir_sock_close(cv.s);
    fx_run_until(f, f->now_us + 600ull * 1000000);
    assert_null(conn_of(&cv));
    fx_clear(f);
}

/* A connection gives back all it took. Packet buffers stay in their pool once made, so a
 * first connection fills the pool and the second must leave in use exactly as it found it. */
static void test_connections_give_back_all_they_took(void **state)
{
    struct fixture *f = *state;
    restart_small(f);
    struct tapir_sock *l = listener(f, LPORT, 8, 0);
    one_connection(f, l, RPORT);
    uint64_t before = mem(f)->in_use_bytes, max_before = mem(f)->in_use_max_bytes;
    one_connection(f, l, RPORT + 1);
    assert_int_equal(mem(f)->in_use_bytes, before);
    assert_true(mem(f)->in_use_max_bytes >= max_before);
    tapir_sock_close(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TCP_TEST(test_allocations_are_counted_and_refused_past_the_budget),
        TCP_TEST(test_config_wants_at_least_a_mebibyte),
        TCP_TEST(test_socket_refused_then_allowed),
        TCP_TEST(test_syn_dropped_then_accepted),
        TCP_TEST(test_segment_without_room_is_dropped_then_resent),
        TCP_TEST(test_send_takes_what_fits),
        TCP_TEST(test_empty_rings_given_back_only_under_pressure),
        TCP_TEST(test_connections_give_back_all_they_took),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
