/* SPDX-License-Identifier: MIT */
/* test_tcp_rack.c: loss detection by time and its companions, segment by crafted segment
 * through tcp_conv (the test plays the peer): RACK (RFC 8985 §6) finding a loss in a window
 * too small for three duplicate ACKs, the tail loss probe (§7) with new data and with the
 * last segment again, and what its ACK says (§7.4); D-SACKs we send (RFC 2883 §4); undoing a
 * needless cwnd cut when every retransmission comes back duplicate; and reordering, once
 * seen, leaving the decision to RACK's clock instead of the count of SACKs.
 *
 * Every connection: SACK on, timestamps off (so a segment carries 1460 bytes), a round trip
 * of 10 ms measured on the handshake: min_RTT 10 ms, so RACK's reordering window is 2.5 ms,
 * and SRTT 10 ms, so the probe timeout is 20 ms. */
#include "fixture.h"

#include "core.h"
#include "tcp.h"
#include "tcp_conv.h"

#define MS 1000u
#define SMSS 1460u
#define RTT_US (10u * MS)

static uint8_t pat[64 * 1024];

/* A passive open with SACK-permitted on the peer's SYN, the handshake's ACK RTT_US after our
 * SYN,ACK (the connection's only RTT sample so far), accepted into cv->s. */
static struct conv open_sack_conn(struct fixture *f)
{
    struct tapir_config cfg;
    fx_config(&cfg);
    cfg.tcp_timestamps = false;
    restart(f, &cfg);
    struct conv cv = conv_listen(f, 0);
    const uint8_t sack_perm[] = {1, 1, 4, 2}; /* NOP, NOP, SACK-permitted */
    syn_to_listener_opts(&cv, PEER_ISN, 1460, sack_perm, sizeof(sack_perm));
    fx_advance(f, RTT_US);
    complete_passive_open(&cv);
    struct tcp_conn *c = conn_of(&cv);
    assert_true(c->sack_ok);
    assert_int_equal(c->srtt_us, RTT_US);
    assert_int_equal(tcp_smss(c), SMSS);
    return cv;
}

/* Our first data byte. */
static uint32_t una0(const struct conv *cv) { return cv->iss + 1; }

/* An ACK from the peer for our bytes up to una0 + ack_rel, with SACK blocks [s, e) relative
 * to una0 (the first block first, as the peer would order them). */
static void peer_sack(struct conv *cv, uint32_t ack_rel, unsigned n, const uint32_t blocks[][2])
{
    uint8_t opt[2 + 2 + 8 * 4] = {1, 1, 5, (uint8_t)(2 + 8 * n)};
    assert_true(n <= 4);
    for (unsigned i = 0; i < n; i++) {
        uint32_t s = una0(cv) + blocks[i][0], e = una0(cv) + blocks[i][1];
        uint8_t *p = opt + 4 + 8 * i;
        p[0] = (uint8_t)(s >> 24), p[1] = (uint8_t)(s >> 16), p[2] = (uint8_t)(s >> 8), p[3] = (uint8_t)s;
        p[4] = (uint8_t)(e >> 24), p[5] = (uint8_t)(e >> 16), p[6] = (uint8_t)(e >> 8), p[7] = (uint8_t)e;
    }
    seg_in_opts(cv, FX_TCP_ACK, cv->pseq, una0(cv) + ack_rel, -1, opt, 4 + 8 * n, NULL, 0);
}

/* Exactly one data segment went out: at una0 + rel, SMSS bytes of the pattern. */
static void expect_data(struct conv *cv, uint32_t rel)
{
    struct fx_tcp_view v[4];
    size_t n = out_all(cv, v, 4, false);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].seq - una0(cv), rel);
    assert_int_equal(v[0].data_len, SMSS);
    assert_memory_equal(v[0].data, pat + rel, SMSS);
}

static void expect_no_data(struct conv *cv)
{
    struct fx_tcp_view v[4];
    size_t n = out_all(cv, v, 4, false);
    if (n)
        fail_msg("%zu data segments went out, the first at +%u (%zu bytes)", n,
                 v[0].seq - una0(cv), v[0].data_len);
}

/* The application writes `segments` full segments; `sent` of them go at once. */
static void send_segments(struct conv *cv, unsigned segments, unsigned sent)
{
    app_send(cv->s, pat, segments * SMSS);
    struct fx_tcp_view v[16];
    assert_int_equal(out_all(cv, v, 16, false), sent);
}

/* ==== RACK (RFC 8985 §6) ================================================================== */

/* Three segments, the first lost: two SACKed above it are not three duplicate ACKs (nor
 * more than 2 * SMSS), so RFC 6675 alone would wait for the RTO. RACK: the first segment
 * went out no later than the delivered ones, so once RACK.rtt + reo_wnd (2.5 ms) have passed
 * since it was sent it is lost, and a fast retransmit repairs it. */
static void test_rack_repairs_a_loss_in_a_three_segment_window(void **state)
{
    struct fixture *f = *state;
    struct conv cv = open_sack_conn(f);
    send_segments(&cv, 3, 3);
    fx_advance(f, RTT_US);
    const uint32_t sacked[][2] = {{SMSS, 3 * SMSS}};
    peer_sack(&cv, 0, 1, sacked);
    expect_no_data(&cv); /* not yet: it may only be reordered */
    fx_advance(f, 2 * MS);
    expect_no_data(&cv);
    fx_advance(f, 1 * MS); /* 2.5 ms after the SACK: RACK's timer */
    expect_data(&cv, 0);
    assert_int_equal(tcps(f)->rack_recoveries, 1);
    assert_int_equal(tcps(f)->fast_retransmits, 1);
    assert_int_equal(tcps(f)->retransmits, 0); /* no timeout */
    assert_true(conn_of(&cv)->in_recovery);
    /* The retransmission is acknowledged with everything: recovery is over. */
    fx_advance(f, RTT_US);
    peer_sack(&cv, 3 * SMSS, 0, NULL);
    assert_false(conn_of(&cv)->in_recovery);
    conv_close(&cv);
}

/* Once a segment has been SACKed after one sent later than it (reordering, RFC 8985 §6.2
 * step 3), the count of SACKs no longer decides: five segments SACKed above a hole start no
 * recovery at once, only after the reordering window. Without the reordering, the same five
 * start it at once (RFC 6675's DupThresh). */
static void test_reordering_seen_leaves_the_decision_to_time(void **state)
{
    struct fixture *f = *state;
    struct conv cv = open_sack_conn(f);
    send_segments(&cv, 8, 8);
    fx_advance(f, RTT_US);
    const uint32_t third[][2] = {{2 * SMSS, 3 * SMSS}};
    peer_sack(&cv, 0, 1, third);
    assert_int_equal(tcps(f)->reordering_seen, 0);
    const uint32_t second_too[][2] = {{SMSS, 3 * SMSS}};
    peer_sack(&cv, 0, 1, second_too); /* the second arrives after the third */
    assert_int_equal(tcps(f)->reordering_seen, 1);
    assert_true(conn_of(&cv)->rack_reord);
    const uint32_t five[][2] = {{SMSS, 6 * SMSS}};
    peer_sack(&cv, 0, 1, five);
    expect_no_data(&cv);
    assert_int_equal(tcps(f)->fast_retransmits, 0);
    fx_advance(f, 3 * MS);
    expect_data(&cv, 0);
    assert_int_equal(tcps(f)->fast_retransmits, 1);
    conv_close(&cv);
}

static void test_without_reordering_dupthresh_sacks_recover_at_once(void **state)
{
    struct fixture *f = *state;
    struct conv cv = open_sack_conn(f);
    send_segments(&cv, 8, 8);
    fx_advance(f, RTT_US);
    const uint32_t five[][2] = {{SMSS, 6 * SMSS}};
    peer_sack(&cv, 0, 1, five);
    expect_data(&cv, 0);
    assert_int_equal(tcps(f)->fast_retransmits, 1);
    assert_int_equal(tcps(f)->rack_recoveries, 0); /* the count's doing, not the clock's */
    conv_close(&cv);
}

/* ==== The tail loss probe (RFC 8985 §7) ==================================================== */

/* No ACK at all for two segments, and nothing new to send: two SRTTs later (20 ms, not the
 * 200 ms RTO) the last segment goes again. */
static void test_tlp_sends_the_last_segment_again_after_two_srtt(void **state)
{
    struct fixture *f = *state;
    struct conv cv = open_sack_conn(f);
    send_segments(&cv, 2, 2);
    struct tcp_conn *c = conn_of(&cv);
    assert_true(c->tlp_armed);
    fx_advance(f, 19 * MS);
    expect_no_data(&cv);
    fx_advance(f, 1 * MS);
    expect_data(&cv, SMSS);
    assert_int_equal(tcps(f)->tlp_probes, 1);
    assert_int_equal(tcps(f)->retransmits, 0);
    assert_true(c->tlp_out);
    assert_false(c->tlp_armed); /* the retransmission timer now */
    /* The ACK covers both without a D-SACK: the probe repaired a loss (§7.4), and cwnd comes
     * down as for any loss: Reno's max(FlightSize / 2, 2 * SMSS). */
    uint32_t cwnd_before = c->cwnd;
    fx_advance(f, RTT_US);
    peer_sack(&cv, 2 * SMSS, 0, NULL);
    assert_int_equal(tcps(f)->tlp_repairs, 1);
    assert_false(c->tlp_out);
    assert_int_equal(c->ssthresh, 2 * SMSS);
    assert_int_equal(c->cwnd, 2 * SMSS);
    assert_true(c->cwnd < cwnd_before);
    conv_close(&cv);
}

/* The same probe, but the ACK carries a D-SACK for it: both copies arrived, so the original
 * was never lost (only its ACK) and cwnd stays. */
static void test_tlp_answered_with_a_dsack_means_no_loss(void **state)
{
    struct fixture *f = *state;
    struct conv cv = open_sack_conn(f);
    send_segments(&cv, 2, 2);
    fx_advance(f, 20 * MS);
    expect_data(&cv, SMSS);
    struct tcp_conn *c = conn_of(&cv);
    uint32_t cwnd_before = c->cwnd;
    fx_advance(f, RTT_US);
    const uint32_t dup[][2] = {{SMSS, 2 * SMSS}}; /* below the ACK: a D-SACK */
    peer_sack(&cv, 2 * SMSS, 1, dup);
    assert_int_equal(tcps(f)->dsack_received, 1);
    assert_int_equal(tcps(f)->tlp_repairs, 0);
    assert_int_equal(c->cwnd, cwnd_before);
    conv_close(&cv);
}

/* With data waiting beyond cwnd, the probe is one new segment (cwnd does not hold it). Its
 * SACK shows that all ten sent before it are missing: RACK condemns them at once (they went
 * out well before the probe) and recovery starts with the first. */
static void test_tlp_sends_new_data_and_its_sack_starts_recovery(void **state)
{
    struct fixture *f = *state;
    struct conv cv = open_sack_conn(f);
    send_segments(&cv, 12, 10); /* the initial window: 10 segments */
    fx_advance(f, 20 * MS);
    expect_data(&cv, 10 * SMSS);
    assert_int_equal(tcps(f)->tlp_probes, 1);
    fx_advance(f, RTT_US);
    const uint32_t probe[][2] = {{10 * SMSS, 11 * SMSS}};
    peer_sack(&cv, 0, 1, probe);
    struct fx_tcp_view v[16];
    size_t n = out_all(&cv, v, 16, false);
    assert_true(n >= 1);
    assert_int_equal(v[0].seq - una0(&cv), 0);
    assert_int_equal(tcps(f)->rack_recoveries, 1);
    assert_int_equal(tcps(f)->retransmits, 0);
    conv_close(&cv);
}

/* A single segment in flight: the probe waits for the peer's delayed ACK too (2 SRTT +
 * 200 ms), which is the RTO's time or later, so the RTO comes first and no probe goes. */
static void test_no_probe_before_the_rto_for_a_lone_segment(void **state)
{
    struct fixture *f = *state;
    struct conv cv = open_sack_conn(f);
    send_segments(&cv, 1, 1);
    assert_false(conn_of(&cv)->tlp_armed);
    assert_int_equal(tcp_tlp_timeout_us(conn_of(&cv)), 2 * RTT_US + TCP_TLP_DELACK_US);
    conv_close(&cv);
}

/* ==== D-SACK (RFC 2883) and undo =========================================================== */

/* Data that arrives twice is reported in the first SACK block of an immediate ACK: all of a
 * segment below rcv_nxt, or the front of one that overlaps it. */
static void test_duplicate_data_draws_a_dsack(void **state)
{
    struct fixture *f = *state;
    struct conv cv = open_sack_conn(f);
    uint32_t b = cv.pseq;
    peer_send(&cv, FX_TCP_ACK, pat, 100);
    (void)out_all(&cv, (struct fx_tcp_view[4]){0}, 4, true); /* its ACK, whenever it goes */
    fx_advance(f, 100 * MS);
    (void)out_all(&cv, (struct fx_tcp_view[4]){0}, 4, true);
    seg_in(&cv, FX_TCP_ACK, b, cv.pack, -1, pat, 100); /* all of it again */
    struct fx_tcp_view v = out_one(&cv);
    assert_int_equal(v.ack, b + 100);
    struct tc_opts o = opts_of(&v);
    assert_int_equal(o.sack_count, 1);
    assert_int_equal(o.sack[0][0], b);
    assert_int_equal(o.sack[0][1], b + 100);
    assert_int_equal(tcps(f)->dsack_sent, 1);
    /* [50, 150): the front was had already, the rest is new. */
    seg_in(&cv, FX_TCP_ACK, b + 50, cv.pack, -1, pat + 50, 100);
    v = out_one(&cv);
    assert_int_equal(v.ack, b + 150);
    o = opts_of(&v);
    assert_int_equal(o.sack_count, 1);
    assert_int_equal(o.sack[0][0], b + 50);
    assert_int_equal(o.sack[0][1], b + 100);
    assert_int_equal(tcps(f)->dsack_sent, 2);
    /* Reported once: the next ACK carries no SACK option. */
    seg_in(&cv, FX_TCP_ACK, b + 150, cv.pack, -1, pat + 150, 100);
    fx_advance(f, 100 * MS);
    v = out_one(&cv);
    assert_int_equal(opts_of(&v).sack_count, 0);
    expect_read(cv.s, pat, 250);
    conv_close(&cv);
}

/* A fast retransmit halves cwnd; then the original turns up (the ACK covers everything) and
 * the retransmission is reported duplicate: nothing was lost, and cwnd and ssthresh go back
 * to what they were. */
static void test_dsack_for_every_retransmission_undoes_the_cut(void **state)
{
    struct fixture *f = *state;
    struct conv cv = open_sack_conn(f);
    send_segments(&cv, 8, 8);
    struct tcp_conn *c = conn_of(&cv);
    uint32_t cwnd0 = c->cwnd, ssthresh0 = c->ssthresh;
    fx_advance(f, RTT_US);
    const uint32_t five[][2] = {{SMSS, 6 * SMSS}};
    peer_sack(&cv, 0, 1, five);
    expect_data(&cv, 0);
    assert_int_equal(c->cwnd, 4 * SMSS); /* FlightSize 8 segments / 2 */
    fx_advance(f, RTT_US);
    const uint32_t dup[][2] = {{0, SMSS}};
    peer_sack(&cv, 8 * SMSS, 1, dup);
    assert_int_equal(tcps(f)->spurious_undos, 1);
    assert_false(c->in_recovery);
    assert_int_equal(c->cwnd, cwnd0);
    assert_int_equal(c->ssthresh, ssthresh0);
    conv_close(&cv);
}

/* Two retransmissions and a D-SACK for only one of them: a loss was real, the cut stays. */
static void test_dsack_for_some_retransmissions_keeps_the_cut(void **state)
{
    struct fixture *f = *state;
    struct conv cv = open_sack_conn(f);
    send_segments(&cv, 8, 8);
    struct tcp_conn *c = conn_of(&cv);
    fx_advance(f, RTT_US);
    /* Holes at segments 0 and 2; four segments SACKed above the second. */
    const uint32_t two[][2] = {{3 * SMSS, 7 * SMSS}, {SMSS, 2 * SMSS}};
    peer_sack(&cv, 0, 2, two);
    struct fx_tcp_view v[8];
    assert_int_equal(out_all(&cv, v, 8, false), 2);
    uint32_t cut = c->cwnd;
    fx_advance(f, RTT_US);
    const uint32_t dup[][2] = {{0, SMSS}};
    peer_sack(&cv, 8 * SMSS, 1, dup);
    assert_int_equal(tcps(f)->spurious_undos, 0);
    assert_int_equal(c->cwnd, cut);
    conv_close(&cv);
}

/* ==== A retransmission's size ============================================================= */

/* While the peer's data waits out of order, every segment we send carries SACK blocks, and
 * the payload gives way to them: a retransmission too, or it would outgrow the MTU and go
 * out in IP fragments (fx_as_tcp, under out_all, refuses a fragment). */
static void test_retransmission_leaves_room_for_sack_blocks(void **state)
{
    struct fixture *f = *state;
    struct conv cv = open_sack_conn(f);
    send_segments(&cv, 8, 8);
    /* The peer's bytes [100, 200) arrive before [0, 100): our ACK has one SACK block. */
    seg_in(&cv, FX_TCP_ACK, cv.pseq + 100, una0(&cv), -1, pat, 100);
    struct fx_tcp_view v[8];
    assert_int_equal(out_all(&cv, v, 8, true), 1);
    assert_int_equal(opts_of(&v[0]).sack_count, 1);
    fx_advance(f, RTT_US);
    const uint32_t five[][2] = {{SMSS, 6 * SMSS}};
    peer_sack(&cv, 0, 1, five);
    /* The lost segment goes again in two: SMSS less the option, then the 12 bytes left. */
    assert_int_equal(out_all(&cv, v, 8, false), 2);
    assert_int_equal(v[0].seq, una0(&cv));
    assert_int_equal(opts_of(&v[0]).sack_count, 1);
    assert_int_equal(v[0].data_len, SMSS - 12); /* NOP, NOP, SACK, length, one block */
    assert_memory_equal(v[0].data, pat, SMSS - 12);
    assert_int_equal(v[1].seq, una0(&cv) + SMSS - 12);
    assert_int_equal(v[1].data_len, 12);
    assert_memory_equal(v[1].data, pat + SMSS - 12, 12);
    conv_close(&cv);
}

int main(void)
{
    for (size_t i = 0; i < sizeof(pat); i++)
        pat[i] = (uint8_t)(i * 7 + (i >> 8));
    const struct CMUnitTest tests[] = {
        TCP_TEST(test_rack_repairs_a_loss_in_a_three_segment_window),
        TCP_TEST(test_reordering_seen_leaves_the_decision_to_time),
        TCP_TEST(test_without_reordering_dupthresh_sacks_recover_at_once),
        TCP_TEST(test_tlp_sends_the_last_segment_again_after_two_srtt),
        TCP_TEST(test_tlp_answered_with_a_dsack_means_no_loss),
        TCP_TEST(test_tlp_sends_new_data_and_its_sack_starts_recovery),
        TCP_TEST(test_no_probe_before_the_rto_for_a_lone_segment),
        TCP_TEST(test_duplicate_data_draws_a_dsack),
        TCP_TEST(test_dsack_for_every_retransmission_undoes_the_cut),
        TCP_TEST(test_dsack_for_some_retransmissions_keeps_the_cut),
        TCP_TEST(test_retransmission_leaves_room_for_sack_blocks),
    };
    return cmocka_run_group_tests_name("tcp_rack", tests, NULL, NULL);
}
