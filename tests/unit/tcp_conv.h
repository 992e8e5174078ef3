/* SPDX-License-Identifier: MIT */
/* tcp_conv.h: one TCP conversation for the unit tests: the test plays the peer, 10.0.0.1,
 * with crafted segments, and reads back what the stack (10.0.0.2) sent on the connection.
 * Shared by the TCP unit tests (test_tcp_*.c; the Makefile links it into each). It includes
 * no stack header, so a test may include <netinet/tcp.h> (whose state names collide with the
 * stack's tcp.h). */
#ifndef TAPIR_TEST_TCP_CONV_H
#define TAPIR_TEST_TCP_CONV_H

#include "fixture.h"

#include <sys/socket.h>

#include "tapir/sock.h"

#define PEER FX_GW_IP
#define LPORT 80
#define RPORT 40000
#define PEER_ISN 0x12345678u /* below 2^31 (test_window_in_handshake_follows_buffer_...) */
#define WMAX 65535u

struct tcp_conn;

/* ---- set-up ---- */

/* Restarts the fixture's stack with cfg and teaches it the peer's MAC. ARP entries live for
 * days, so a test spanning minutes of virtual time sees only TCP. */
void restart(struct fixture *f, struct tapir_config *cfg);
/* cmocka setup: a fixture with the default configuration, the peer's MAC learnt. */
int setup_tcp(void **state);
#define TCP_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup_tcp, fx_teardown)

const struct tapir_tcp_stats *tcps(const struct fixture *f);

/* A listener on *:port; rcvbuf > 0 sets SO_RCVBUF first (the buffer is then rcvbuf bytes). */
struct tapir_sock *listener(struct fixture *f, uint16_t port, int backlog, int rcvbuf);

/* ---- the peer's side of one connection ---- */

struct conv {
    struct fixture *f;
    struct tapir_sock *l; /* the listener (passive opens) */
    struct tapir_sock *s; /* our socket on the connection */
    uint16_t lport, rport;
    uint32_t iss;  /* our initial sequence number */
    uint32_t irs;  /* the peer's */
    uint32_t pseq; /* the peer's next sequence number */
    uint32_t pack; /* what the peer acknowledges of ours */
    uint16_t pwnd; /* the window field the peer sends */
    /* RFC 7323: when ts is set, every segment from the peer carries NOP, NOP, timestamps
     * with these values (the test moves them). */
    bool ts;
    uint32_t tsval, tsecr;
};

struct conv conv_new(struct fixture *f, uint16_t rport);
/* The peer's conversation from RPORT, with a listener on LPORT (backlog 8, rcvbuf as for
 * listener()) in cv.l. */
struct conv conv_listen(struct fixture *f, int rcvbuf);
/* The same, through a passive open (PEER_ISN, MSS 1460) accepted: cv.s. */
struct conv conv_accepted(struct fixture *f, int rcvbuf);
/* Closes cv->s, then cv->l (either may be NULL). */
void conv_close(struct conv *cv);

/* One segment from the peer, every field given; mss >= 0 adds an MSS option, then opts
 * (olen bytes), then the timestamps if cv->ts. */
void seg_in_opts(struct conv *cv, uint8_t flags, uint32_t seq, uint32_t ack, int mss,
                 const uint8_t *opts, size_t olen, const void *data, size_t len);
void seg_in(struct conv *cv, uint8_t flags, uint32_t seq, uint32_t ack, int mss, const void *data,
            size_t len);
/* The peer sends in sequence (SEQ = its next, ACK = what it has of ours) and moves on. */
void peer_send(struct conv *cv, uint8_t flags, const void *data, size_t len);
/* A pure ACK from the peer. It should draw nothing (test_pure_ack_in_established_draws_nothing
 * pins that); elsewhere a stray ACK in answer is let pass, so one bug fails one test. */
void peer_ack(struct conv *cv);

/* A frame the stack sent, checked to be ours on this connection. */
struct fx_tcp_view as_ours(const struct conv *cv, const struct fx_frame *fr);
/* Exactly one segment went out, on this connection. */
struct fx_tcp_view out_one(struct conv *cv);
/* Every segment out since the last look; pure ACKs (no data, flags ACK alone) are kept only
 * if keep_acks. Returns the count; views are valid until the stack sends again. */
size_t out_all(struct conv *cv, struct fx_tcp_view *v, size_t max, bool keep_acks);
/* Exactly one pure ACK went out with this seq and ack; returns its window. */
uint16_t expect_ack(struct conv *cv, uint32_t seq, uint32_t ack);
/* The same, but delayed (RFC 1122 §4.2.3.2): nothing now, nothing until cfg.tcp_delack_us
 * has passed, then exactly that one ACK, sent by the delayed-ACK timer. Call it right after
 * the segment that armed the timer. */
uint16_t expect_delayed_ack(struct conv *cv, uint32_t seq, uint32_t ack);

/* The connection by its 4-tuple (NULL once it has left the table), and its state's name. */
struct tcp_conn *conn_of(const struct conv *cv);
const char *state_of(const struct conv *cv);
/* (Needs the stack's tcp.h, for the state names.) */
#define expect_state(cv, st) assert_string_equal(state_of(cv), tcp_state_name(st))

/* The peer's SYN to our listener; returns our SYN,ACK (checked) and records our ISS. */
struct fx_tcp_view syn_to_listener(struct conv *cv, uint32_t peer_isn, int mss);
/* The same with option bytes after the MSS (and the timestamps if cv->ts). */
struct fx_tcp_view syn_to_listener_opts(struct conv *cv, uint32_t peer_isn, int mss,
                                        const uint8_t *opts, size_t olen);
/* The peer's ACK that ends the handshake syn_to_listener began, then the accept: cv->s. */
void complete_passive_open(struct conv *cv);
/* A passive open through the listener cv->l, accepted: cv->s. */
void passive_open(struct conv *cv, uint32_t peer_isn, int mss);
/* The connect call: our SYN (checked), then cv->lport and cv->iss are known. */
struct fx_tcp_view connect_syn(struct conv *cv, int rcvbuf);
/* An active open answered by the peer's SYN,ACK (MSS 1460, no other option). */
void active_open(struct conv *cv, uint32_t peer_isn);

/* ---- the application's side ---- */

void app_send(struct tapir_sock *s, const void *data, size_t len);
/* The application reads exactly want (len bytes): no more is waiting. */
void expect_read(struct tapir_sock *s, const void *want, size_t len);
void expect_nothing_to_read(struct tapir_sock *s);
/* An int socket option at IPPROTO_TCP (or SOL_SOCKET), which must succeed. */
void set_tcp_opt(struct tapir_sock *s, int name, int v);
void set_sock_opt(struct tapir_sock *s, int name, int v);
#define TC_TCP_NODELAY 1 /* <netinet/tcp.h>'s numbers, which the stack's tcp.h cannot include */
#define TC_TCP_QUICKACK 12

/* ---- reading our options ---- */

/* The options of a segment we sent (RFC 9293 §3.2, RFC 7323, RFC 2018). */
struct tc_opts {
    int mss;    /* -1: none */
    int wscale; /* -1: none */
    bool sack_permitted;
    bool ts;
    uint32_t tsval, tsecr;
    unsigned sack_count;
    uint32_t sack[4][2]; /* [start, end) */
    unsigned kinds;      /* bit k set when option kind k (< 32) appeared */
};
struct tc_opts opts_of(const struct fx_tcp_view *v);

#endif
