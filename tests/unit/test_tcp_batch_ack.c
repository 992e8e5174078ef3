/* SPDX-License-Identifier: MIT */
/* test_tcp_batch_ack.c: ACKs in a receive burst. Between tapir_rx_batch_begin and tapir_flush
 * (the TAP host brackets each burst of frames it reads so), in-order data is acknowledged
 * once at the burst's end, or every TCP_BATCH_ACK_SEGS full segments, instead of every second
 * segment; out-of-order data and a filled hole are still acknowledged at once (fast
 * retransmit needs each duplicate ACK), and outside a burst the usual rule holds. */
#include "fixture.h"

#include "core.h"
#include "tcp.h"
#include "tcp_conv.h"

#define SEG 1460u

static uint8_t pat[64 * 1460];

static void send_segments(struct conv *cv, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        peer_send(cv, FX_TCP_ACK, pat + (cv->pseq - cv->irs - 1) % (sizeof(pat) - SEG), SEG);
}

static struct conv burst_conv(struct fixture *f)
{
    fx_pattern(pat, sizeof(pat), 3);
    struct conv cv = conv_accepted(f, 0);
    cv.irs = PEER_ISN;
    return cv;
}

static void test_burst_acknowledged_once_at_its_end(void **state)
{
    struct fixture *f = *state;
    struct conv cv = burst_conv(f);
    tapir_rx_batch_begin(f->st);
    send_segments(&cv, 10);
    fx_expect_none(f); /* ten segments, no ACK yet */
    tapir_flush(f->st);
    expect_ack(&cv, cv.iss + 1, cv.pseq); /* one ACK for all of them */
    /* Nothing more is owed: a second flush sends nothing. */
    tapir_rx_batch_begin(f->st);
    tapir_flush(f->st);
    fx_expect_none(f);
    conv_close(&cv);
}

static void test_long_burst_acknowledged_every_batch_segs(void **state)
{
    struct fixture *f = *state;
    struct conv cv = burst_conv(f);
    tapir_rx_batch_begin(f->st);
    send_segments(&cv, TCP_BATCH_ACK_SEGS - 1);
    fx_expect_none(f);
    send_segments(&cv, 1);
    expect_ack(&cv, cv.iss + 1, cv.pseq); /* the sixteenth: a stretch ACK at once */
    send_segments(&cv, 3);
    fx_expect_none(f);
    tapir_flush(f->st);
    expect_ack(&cv, cv.iss + 1, cv.pseq);
    conv_close(&cv);
}

static void test_out_of_order_in_a_burst_acknowledged_at_once(void **state)
{
    struct fixture *f = *state;
    struct conv cv = burst_conv(f);
    tapir_rx_batch_begin(f->st);
    send_segments(&cv, 3);
    fx_expect_none(f);
    uint32_t hole = cv.pseq;
    seg_in(&cv, FX_TCP_ACK, hole + SEG, cv.pack, -1, pat, SEG); /* one lost before it */
    struct fx_tcp_view v = out_one(&cv);
    assert_int_equal(v.ack, hole); /* a duplicate ACK at once (RFC 5681 §4.2) */
    seg_in(&cv, FX_TCP_ACK, hole, cv.pack, -1, pat, SEG); /* the hole filled */
    v = out_one(&cv);
    assert_int_equal(v.ack, hole + 2 * SEG); /* at once too */
    cv.pseq = hole + 2 * SEG;
    tapir_flush(f->st);
    fx_expect_none(f); /* nothing left owed */
    conv_close(&cv);
}

static void test_outside_a_burst_every_second_segment(void **state)
{
    struct fixture *f = *state;
    struct conv cv = burst_conv(f);
    send_segments(&cv, 1);
    fx_expect_none(f); /* delayed */
    send_segments(&cv, 1);
    expect_ack(&cv, cv.iss + 1, cv.pseq); /* the second full segment: at once */
    conv_close(&cv);
}

/* A connection that ends while its ACK is held leaves nothing dangling behind. */
static void test_connection_freed_while_held(void **state)
{
    struct fixture *f = *state;
    struct conv cv = burst_conv(f);
    tapir_rx_batch_begin(f->st);
    send_segments(&cv, 2);
    fx_expect_none(f);
    seg_in(&cv, FX_TCP_RST, cv.pseq, 0, -1, NULL, 0); /* the peer resets: the block is freed */
    assert_null(conn_of(&cv));
    tapir_flush(f->st); /* must not touch the freed block (ASan would say so) */
    fx_expect_none(f);
    conv_close(&cv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TCP_TEST(test_burst_acknowledged_once_at_its_end),
        TCP_TEST(test_long_burst_acknowledged_every_batch_segs),
        TCP_TEST(test_out_of_order_in_a_burst_acknowledged_at_once),
        TCP_TEST(test_outside_a_burst_every_second_segment),
        TCP_TEST(test_connection_freed_while_held),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
