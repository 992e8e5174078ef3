/* SPDX-License-Identifier: MIT */
/* tcp.h: TCP (RFC 9293): the connection block (TCB), its eleven states, and what input,
 * output, timers and the socket calls share. */
#ifndef TAPIR_TCP_H
#define TAPIR_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "pkb.h"
#include "timer.h"

struct tapir_stack;
struct tapir_sock;
struct ip_in;
struct tcp_cc_ops;

#define TCP_HDR_MIN 20u
#define TCP_HDR_MAX 60u
#define TCP_DEFAULT_MSS 536u       /* RFC 9293 §3.7.1: assumed when no MSS option came */
#define TCP_WINDOW_MAX 65535u      /* the window field; RFC 7323 scales it by 2^wscale */
#define TCP_WSCALE_MAX 14u         /* RFC 7323 §2.3 */
#define TCP_TS_LEN 12u             /* NOP, NOP, the timestamps option: on every segment */
#define TCP_SACK_BLOCKS_MAX 4u     /* what fits in the option space (3 beside timestamps) */
#define TCP_SCOREBOARD 32u         /* SACKed ranges the sender remembers (RFC 6675) */
#define TCP_DUPTHRESH 3u           /* RFC 5681 §3.2, RFC 6675 §2 */
#define TCP_TX_MARKS 64u           /* RACK: when new data went out, by sequence (tcp_rack.c) */
#define TCP_TLP_DELACK_US 200000u  /* RFC 8985 §7.2 WCDelAckT: a lone segment's ACK may wait */
#define TCP_TLP_MIN_US 2000u       /* a floor under the probe timeout (Linux: two ticks) */
#define TCP_PAWS_IDLE_US (24ull * 86400 * 1000000) /* RFC 7323 §5.5: TS.Recent expires */
#define TCP_CONN_BUCKETS 1024u     /* 4-tuple hash buckets */
#define TCP_OOO_RANGES 32u         /* out-of-order byte ranges kept per connection */
#define TCP_RING_MIN_BYTES 512u    /* a byte ring's first allocation (a power of two) */
#define TCP_RTO_INITIAL_US 1000000u /* RFC 6298 §2.1: 1 s before any measurement */
#define TCP_RTO_GRANULARITY_US 1000u /* G of RFC 6298 §2: the timestamp clock's tick */
#define TCP_RTO_AFTER_SYN_LOSS_US 3000000u /* RFC 6298 §5.7: 3 s once a SYN was lost */
#define TCP_RTO_MAX_US 60000000u   /* RFC 6298 §2.5: a maximum of at least 60 s */
#define TCP_RETRIES_MAX 15u        /* data: Linux's tcp_retries2, about 15 minutes */
#define TCP_SYN_RETRIES_MAX 6u     /* Linux's tcp_syn_retries: gives up after about 2 min */
#define TCP_PERSIST_MIN_US 200000u
#define TCP_PERSIST_MAX_US 60000000u
#define TCP_ORPHAN_PROBES 8u       /* Linux's tcp_orphan_retries (0 there means 8) */

/* Option names from <netinet/tcp.h>, which cannot be included with this header: its enum of
 * Linux's state names (TCP_ESTABLISHED, ...) would collide with ours. */
#define TCP_NODELAY_OPT 1
#define TCP_KEEPIDLE_OPT 4
#define TCP_KEEPINTVL_OPT 5
#define TCP_KEEPCNT_OPT 6
#define TCP_INFO_OPT 11
#define TCP_QUICKACK_OPT 12
#define TCP_CONGESTION_OPT 13

/* Control bits. */
#define TCP_FIN 0x01u
#define TCP_SYN 0x02u
#define TCP_RST 0x04u
#define TCP_PSH 0x08u
#define TCP_ACK 0x10u
#define TCP_URG 0x20u

/* RFC 9293 §3.3.2: the states, in one enum with a name table (tcp_state_name). */
enum tcp_state {
    TCP_CLOSED,
    TCP_LISTEN,
    TCP_SYN_SENT,
    TCP_SYN_RECEIVED,
    TCP_ESTABLISHED,
    TCP_FIN_WAIT_1,
    TCP_FIN_WAIT_2,
    TCP_CLOSE_WAIT,
    TCP_CLOSING,
    TCP_LAST_ACK,
    TCP_TIME_WAIT,
    TCP_STATE_COUNT
};

/* Sequence numbers compare modulo 2^32 (RFC 9293 §3.4). */
static inline bool seq_lt(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }
static inline bool seq_le(uint32_t a, uint32_t b) { return (int32_t)(a - b) <= 0; }
static inline bool seq_gt(uint32_t a, uint32_t b) { return (int32_t)(a - b) > 0; }
static inline bool seq_ge(uint32_t a, uint32_t b) { return (int32_t)(a - b) >= 0; }

/* A byte ring for a connection's send or receive buffer, allocated on first use and grown
 * by doubling up to limit, freed when the connection ends. */
struct tcp_ring {
    uint8_t *buf;
    uint32_t cap;    /* bytes allocated (0 or a power of two) */
    uint32_t head;   /* index of the first byte held */
    uint32_t len;    /* bytes held */
    uint32_t limit;  /* the most it may hold */
};

/* Out-of-order data already in the receive ring, as offsets from rcv_nxt: [start, end). */
struct tcp_range {
    uint32_t start, end;
};

/* RACK (RFC 8985): new data up to `end` first went out at xmit_us. A connection keeps these
 * in a small ring, in sending order, which is also sequence order. */
struct tcp_tx_mark {
    uint32_t end;
    uint64_t xmit_us;
};

/* A SACK block (RFC 2018 §3): sequence numbers [start, end). */
struct tcp_sack_block {
    uint32_t start, end;
};

/* A parsed segment. */
struct tcp_seg {
    uint32_t src, dst;          /* addresses, host order */
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t wnd;               /* as sent: not yet scaled */
    uint16_t mss;               /* from the MSS option, 0 if none */
    int8_t wscale;              /* the window scale option (SYN only), -1 if none */
    bool sack_permitted;        /* SYN only */
    bool has_ts;                /* RFC 7323 timestamps */
    uint32_t tsval, tsecr;
    uint8_t sack_count;
    struct tcp_sack_block sack[TCP_SACK_BLOCKS_MAX];
    const uint8_t *data;        /* the payload */
    uint32_t len;               /* payload bytes */
};

/* Segment length as RFC 9293 §3.4 counts it: data plus one for SYN and one for FIN. */
static inline uint32_t tcp_seg_len(const struct tcp_seg *seg)
{
    return seg->len + ((seg->flags & TCP_SYN) ? 1u : 0u) + ((seg->flags & TCP_FIN) ? 1u : 0u);
}

/* CUBIC's state (RFC 9438 §4): where the last loss was, and the current epoch. */
struct tcp_cubic_state {
    uint32_t w_max, origin, w_est; /* bytes */
    uint64_t epoch_us, k_us;
};

/* The transmission control block (RFC 9293 §3.3.1). */
struct tcp_conn {
    struct tapir_stack *st;
    struct tapir_sock *sock;      /* NULL once the application has closed it (an orphan) */
    enum tcp_state state;
    uint32_t local_addr, remote_addr;
    uint16_t local_port, remote_port;
    struct tcp_conn *hash_next;   /* chain in the 4-tuple hash */
    bool hashed;

    /* Send sequence variables (RFC 9293 §3.3.1). */
    uint32_t iss, snd_una, snd_nxt, snd_max; /* snd_max: highest sequence sent */
    uint32_t snd_wnd, snd_wl1, snd_wl2; /* snd_wnd already scaled */
    uint32_t max_snd_wnd;         /* the largest window the peer offered (RFC 5961 §5) */
    uint16_t snd_mss;             /* the most data per segment the peer takes */
    /* Receive sequence variables. */
    uint32_t irs, rcv_nxt;
    uint32_t rcv_adv;             /* right edge of the window last advertised */
    uint16_t rcv_mss;             /* what we advertised */

    /* Options agreed on the SYNs: window scaling and timestamps (RFC 7323), SACK (RFC 2018). */
    bool ws_ok, ts_ok, sack_ok;
    uint8_t snd_wscale, rcv_wscale; /* shift for the peer's windows; for ours */
    uint32_t ts_offset;           /* RFC 7323 §5.4: our timestamp clock starts at random */
    uint32_t ts_recent;           /* RFC 7323 §4.3: the TSval to echo */
    uint64_t ts_recent_us;        /* when it was taken (PAWS forgets it after 24 days) */
    uint32_t last_ack_sent;       /* Last.ACK.sent of RFC 7323 §4.3 */

    struct tcp_ring sndq;         /* from snd_una on: sent-unacknowledged, then unsent */
    struct tcp_ring rcvq;         /* in-order bytes for the application, then out-of-order */
    struct tcp_range ooo[TCP_OOO_RANGES]; /* most recently changed first (RFC 2018 §4) */
    unsigned ooo_count;
    bool dsack_pending;           /* RFC 2883: the next ACK reports a duplicate first */
    struct tcp_sack_block dsack;  /* what arrived twice */

    bool fin_pending;             /* the application closed its side: FIN after the data */
    bool fin_sent;                /* our FIN went out once; it is sequence number fin_seq */
    uint32_t fin_seq;
    bool fin_received;            /* the peer's FIN is in rcv_nxt */
    bool ack_now;                 /* an ACK must go out on the next tcp_output */
    bool snd_mem_limited;         /* the send ring could not grow (memory budget): room is
                                   * what its buffer holds, until a send grows it again */
    bool nodelay;                 /* TCP_NODELAY: no Nagle */
    bool force_one;               /* the override timer fired: one segment goes regardless */

    struct tapir_timer rexmit;    /* retransmission, and SYN retries */
    struct tapir_timer persist;   /* zero-window probes, and the SWS override (RFC 1122) */
    struct tapir_timer timewait;  /* 2*MSL in TIME_WAIT */
    struct tapir_timer delack;    /* a delayed ACK (RFC 1122 §4.2.3.2) */
    struct tapir_timer keepalive; /* RFC 1122 §4.2.3.6 */

    /* Round-trip time and the retransmission timeout (RFC 6298). */
    uint64_t srtt_us, rttvar_us;  /* 0 until the first measurement */
    uint64_t rtt_last_us, rtt_min_us;
    bool rtt_timing;              /* Karn: timing the segment ending at rtt_seq */
    uint32_t rtt_seq;
    uint64_t rtt_start_us;
    uint64_t rto_us;
    uint64_t rto_base_us;         /* the RTO without backoff */
    bool syn_lost;                /* a SYN timed out: 3 s without a measurement (§5.7) */
    unsigned retries;             /* consecutive timeouts */
    unsigned persist_backoff;
    uint64_t oow_ack_us;          /* when an unacceptable empty segment was last answered */

    /* Congestion control (RFC 5681; the algorithm behind cc, tcp_cc.c) and loss recovery:
     * NewReno (RFC 6582) without SACK, the scoreboard of RFC 6675 with it. */
    const struct tcp_cc_ops *cc;
    uint32_t cwnd, ssthresh;      /* bytes */
    uint32_t bytes_acked;         /* RFC 3465 appropriate byte counting in avoidance */
    unsigned dupacks;
    bool in_recovery;
    bool rto_recovery;            /* the recovery began with a timeout: all unSACKed is lost */
    uint32_t recover;             /* snd_max when recovery (or an RTO) began */
    uint32_t high_rxt;            /* RFC 6675 HighRxt: retransmitted up to here */
    uint32_t rxt_mark;            /* snd_max when snd_una's hole was last retransmitted */
    uint32_t pipe;                /* RFC 6675 SetPipe, kept current in recovery */
    struct tcp_sack_block sacked[TCP_SCOREBOARD]; /* sorted, disjoint, above snd_una */
    unsigned sacked_count;
    uint32_t sacked_bytes;
    unsigned dsacks;              /* D-SACK blocks received (RFC 2883) */
    /* Undoing a needless cwnd reduction: D-SACKs for every retransmission of a loss episode
     * say nothing was lost (RFC 2883 §5; Linux's DSACK undo). */
    bool undo_ok;
    uint32_t undo_marker;         /* snd_una when the episode began */
    int undo_retrans;             /* its retransmissions not yet reported duplicate */
    uint32_t prior_cwnd, prior_ssthresh;
    uint64_t last_send_us;        /* for cwnd after idle (RFC 5681 §4.1) */

    /* RACK-TLP (RFC 8985), with SACK: time-based loss detection and the tail loss probe. */
    struct tcp_tx_mark tx_marks[TCP_TX_MARKS];
    unsigned tx_head, tx_count;
    uint64_t rack_xmit_us;        /* RACK.xmit_ts: the latest send time of a delivered segment */
    uint32_t rack_end;            /* RACK.end_seq: that segment's end */
    uint64_t rack_rtt_us;         /* RACK.rtt: its round trip */
    bool rack_reord;              /* RACK.reord: reordering seen, so the count of SACKs
                                   * (DupThresh) no longer condemns a segment, only time */
    uint32_t rack_lost_end;       /* unSACKed bytes first sent below this are lost */
    unsigned reo_wnd_mult;        /* RACK.reo_wnd_mult: grows with D-SACKs (§6.2 step 4) */
    unsigned reo_wnd_persist;     /* recoveries left before the multiplier resets */
    unsigned rack_dsacks_seen;    /* dsacks when the multiplier last looked */
    uint64_t reo_wnd_bump_us;     /* when it last grew (once a round trip at most) */
    uint64_t rxt_us;              /* when snd_una's hole was last retransmitted */
    struct tapir_timer rack_timer; /* the reordering window of a segment not yet lost */
    bool tlp_armed;               /* the rexmit timer is the probe timeout (PTO) now */
    bool tlp_out, tlp_rxt;        /* a probe is unacknowledged; it was a retransmission */
    uint32_t tlp_end;             /* TLP.end_seq: snd_max when the probe went */
    unsigned tlp_dsacks;          /* dsacks when it went: a D-SACK since means no loss */
    union {
        struct tcp_cubic_state cubic;
    } cc_state;

    /* Delayed ACKs and keepalive. */
    uint32_t rcv_seg_max_bytes;   /* the largest segment the peer has sent: its "full size" */
    struct tcp_conn *ack_held_next; /* on tcp.ack_held: an ACK owed at the end of the burst */
    bool ack_held;
    bool quickack;                /* TCP_QUICKACK: every segment acknowledged at once */
    bool keepalive_on;
    uint64_t keep_idle_us, keep_intvl_us;
    unsigned keep_cnt, keep_probes;
    uint64_t last_rx_us;

    /* What `ss -ti` would show. */
    uint64_t retransmits;         /* timeouts over the connection's life */
    uint64_t rexmit_segs, fast_retransmits, rexmit_bytes;
    uint64_t bytes_sent, bytes_acked_total, bytes_received;
    uint64_t segs_out, segs_in;

    int error;                    /* why it ended: ECONNREFUSED, ECONNRESET, ETIMEDOUT */
    bool error_posted;            /* handed to the socket (reported once) */

    bool orphan;                  /* the application closed it: free it when it ends */
    bool orphan_counted;          /* in st->tcp.orphan_count */

    /* A listener's queues (SYN_RECEIVED children, then established ones waiting for
     * accept), and a child's place in them. */
    struct tcp_conn *listener;    /* set while the child is in one of the listener's queues */
    struct tcp_conn *queue_next;
    bool in_accept_queue;
    struct tcp_conn *syn_head;
    struct tcp_conn *accept_head, *accept_tail;
    unsigned accept_count, syn_count, backlog;
};

struct tcp_table {
    struct tcp_conn *conns[TCP_CONN_BUCKETS]; /* synchronized and SYN_RECEIVED, by 4-tuple */
    struct tcp_conn *last_hit;    /* the last lookup's answer: a bulk flow skips the hash */
    uint64_t isn_key[2];          /* RFC 6528's secret, from the seeded PRNG */
    uint64_t cookie_key[2];       /* the SYN cookies' secret (tcp_syncookie.c) */
    uint64_t cookie_sent_us;      /* when a cookie last went: only then are ACKs checked */
    struct tcp_conn *cookie_scratch; /* the SYN,ACK of a cookie is built on this, not kept */
    unsigned conn_count;          /* connection blocks in use (cfg.tcp_max_conns) */
    unsigned orphan_count;        /* of them, orphans (cfg.tcp_max_orphans) */
    uint64_t challenge_window_us; /* RFC 5961 §7: challenge ACKs this second */
    unsigned challenge_count;
    unsigned challenge_budget;    /* this second's, drawn at random around the rate */
    struct tcp_conn *ack_held;    /* connections owed an ACK when the receive burst ends */
};

/* In a receive burst (tapir_rx_batch_begin), in-order data is acknowledged when the burst
 * ends, or once this many full segments wait: a stretch ACK, as Linux sends for what GRO
 * merged (RFC 5681 §4.2's "every second segment" is a SHOULD; over a TAP each ACK is a
 * system call, and the kernel's own TCP counts bytes acknowledged, not ACKs). */
#define TCP_BATCH_ACK_SEGS 16u

/* connect with an ephemeral port whose 4-tuple is still in use tries this many others. */
#define TCP_CONNECT_PORT_TRIES 64u

void tcp_init(struct tapir_stack *st);
void tcp_free(struct tapir_stack *st);
/* The receive burst is over: the ACKs it held go out. */
void tcp_send_held_acks(struct tapir_stack *st);
void tcp_input(struct tapir_stack *st, struct pkb *p, const struct ip_in *ip);

const char *tcp_state_name(enum tcp_state state);
/* The one place a connection changes state; it emits the trace line. */
void tcp_set_state(struct tcp_conn *c, enum tcp_state next);

/* Connections (tcp.c). */
/* A new connection block, or NULL: out of memory, or cfg.tcp_max_conns reached (counted). */
struct tcp_conn *tcp_conn_new(struct tapir_stack *st);
bool tcp_conn_limit_reached(const struct tapir_stack *st);
/* The application let go of c: count it among the orphans; false when there are too many
 * already (then the caller resets it, as Linux does with "too many orphaned sockets"). */
bool tcp_orphan_admit(struct tcp_conn *c);
/* A reset to the peer (unless the state has none to send) and the end. */
void tcp_abort(struct tcp_conn *c);
void tcp_conn_free(struct tcp_conn *c);
void tcp_hash_add(struct tcp_conn *c);
struct tcp_conn *tcp_lookup(struct tapir_stack *st, uint32_t local_addr, uint16_t local_port,
                            uint32_t remote_addr, uint16_t remote_port);
uint32_t tcp_isn(struct tapir_stack *st, const struct tcp_conn *c);
/* SipHash-2-4 of two 64-bit words, keyed by k. */
uint64_t tcp_siphash(const uint64_t k[2], uint64_t m0, uint64_t m1);
/* A connection block's fields as a new one has them (tcp_conn_new uses it). */
void tcp_conn_init(struct tapir_stack *st, struct tcp_conn *c);

/* SYN cookies (tcp_syncookie.c, RFC 4987 §3.6). A SYN that finds the SYN queue full is
 * answered statelessly; the handshake's ACK, if its cookie checks out, opens the connection
 * (into l's accept queue). tcp_syncookie_ack returns false when seg is no cookie's ACK. */
void tcp_syncookie_syn(struct tcp_conn *l, const struct tcp_seg *seg);
bool tcp_syncookie_ack(struct tcp_conn *l, const struct tcp_seg *seg);
/* Sets up a passive open's child of listener l for the peer of seg (addresses, buffers, the
 * listener's options); the caller fills in the sequence numbers. */
void tcp_child_setup(struct tcp_conn *c, const struct tcp_conn *l, const struct tcp_seg *seg);
/* The options a SYN asked for (RFC 7323, RFC 2018), and the peer's MSS. */
void tcp_negotiate(struct tcp_conn *c, const struct tcp_seg *seg);
uint16_t tcp_peer_mss(const struct tcp_conn *c, const struct tcp_seg *seg);
/* A segment for a synchronized (or SYN_RECEIVED) connection, from the sequence check on. */
void tcp_established_input(struct tcp_conn *c, struct tcp_seg *seg);
/* Before our SYN: the options the configuration lets us offer (window scale, timestamps,
 * SACK-permitted), and a random start for our timestamp clock. */
void tcp_offer_options(struct tcp_conn *c);
/* Does a connection (one in TIME_WAIT, say, whose socket is gone) still use the port? */
bool tcp_port_has_conns(struct tapir_stack *st, uint32_t addr, uint16_t port);
/* The connection ends (CLOSED): timers stop, it leaves the hash, the socket learns err (0
 * for a clean end), and an orphan is freed. */
void tcp_done(struct tcp_conn *c, int err);
void tcp_enter_time_wait(struct tcp_conn *c);
/* An orphan in FIN_WAIT_2 waits for the peer's FIN at most 2*MSL (Linux's tcp_fin_timeout). */
void tcp_orphan_fin_wait_2(struct tcp_conn *c);

/* Rings (tcp.c). */
uint32_t ring_free(const struct tcp_ring *r);
/* Room to write without growing the buffer. */
static inline uint32_t ring_room_now(const struct tcp_ring *r) { return r->cap - r->len; }
int ring_write_at(struct tapir_stack *st, struct tcp_ring *r, uint32_t off, const void *src,
                  uint32_t n);
void ring_read_at(const struct tcp_ring *r, uint32_t off, void *dst, uint32_t n);
void ring_consume(struct tcp_ring *r, uint32_t n);
void ring_release(struct tapir_stack *st, struct tcp_ring *r);
/* An empty ring gives its buffer back while the stack is short of memory. */
void ring_trim(struct tapir_stack *st, struct tcp_ring *r);

/* Output (tcp_output.c). */
/* Sends what the windows allow, plus a pure ACK when one is due. */
void tcp_output(struct tcp_conn *c);
/* Our FIN is due (the application closed) but has not gone out yet. */
bool tcp_fin_unsent(const struct tcp_conn *c);
/* The same, but at most max_segments data segments (a retransmission timeout sends one). */
void tcp_output_segments(struct tcp_conn *c, unsigned max_segments);
/* The handshake is done: the RTO falls back to its base (RFC 6298 §5.7). */
void tcp_handshake_done(struct tcp_conn *c);
/* One segment from the connection: seq, flags, and len bytes of the send ring from off. */
int tcp_send_segment(struct tcp_conn *c, uint32_t seq, uint8_t flags, uint32_t off, uint32_t len);
/* RFC 9293 §3.10.7.1: the reset a segment to nowhere gets. */
void tcp_send_reset_for(struct tapir_stack *st, const struct tcp_seg *seg);
/* An ACK now: for data, for a challenge (RFC 5961), or for an unacceptable segment. */
void tcp_send_ack(struct tcp_conn *c);
void tcp_arm_rexmit(struct tcp_conn *c);
void tcp_arm_persist(struct tcp_conn *c);
void tcp_arm_keepalive(struct tcp_conn *c);
/* Bytes the peer's window still lets us send from snd_nxt: up to the edge it offered,
 * snd_wl2 + snd_wnd (0 when the window is shut or used up). */
static inline uint32_t tcp_send_room(const struct tcp_conn *c)
{
    uint32_t edge = c->snd_wl2 + c->snd_wnd;
    return seq_gt(edge, c->snd_nxt) ? edge - c->snd_nxt : 0;
}
/* The window we can offer now: free receive space, never shrinking what was offered, and
 * growing only by a useful step (receiver SWS avoidance). */
uint32_t tcp_rcv_window(const struct tcp_conn *c);
uint8_t tcp_choose_wscale(uint32_t rcvbuf_bytes);
/* The option bytes a data segment sent now would carry beyond the timestamps (SACK and
 * D-SACK blocks): the payload gives way to them, so the segment never outgrows the MSS. */
uint32_t tcp_sack_option_len(const struct tcp_conn *c);
/* Nagle and sender SWS avoidance: may n new bytes (of unsent queued) go now? */
bool tcp_nagle_ok(const struct tcp_conn *c, uint32_t n, uint32_t unsent);
/* PAWS (tcp_input.c): is the segment an old duplicate by its timestamp? */
bool tcp_paws_reject(struct tcp_conn *c, const struct tcp_seg *seg);
/* Delayed ACKs (tcp_input.c): may the ACK for in-order data just taken wait? */
bool tcp_delack_ok(const struct tcp_conn *c, bool filled_hole);

/* Socket glue: wakes the owner (tcp_sock.c); hands a finished handshake to its listener's
 * accept queue (tcp.c). */
void tcp_wake(struct tcp_conn *c);
void tcp_child_established(struct tcp_conn *child);

/* Stream sockets (tcp_sock.c), called by sock.c for SOCK_STREAM. */
int tcp_sock_open(struct tapir_sock *s);
void tcp_sock_buffers(struct tapir_sock *s);
int tcp_sock_listen(struct tapir_sock *s, int backlog);
int tcp_sock_accept(struct tapir_sock *s, struct tapir_sock **out, struct sockaddr_in *peer);
int tcp_sock_connect(struct tapir_sock *s, const struct sockaddr_in *sa);
int tcp_sock_connected(struct tapir_sock *s);
ssize_t tcp_sock_send(struct tapir_sock *s, const void *buf, size_t len);
ssize_t tcp_sock_recv(struct tapir_sock *s, void *buf, size_t len, int flags,
                      struct sockaddr_in *src);
short tcp_sock_events(const struct tapir_sock *s);
int tcp_sock_shutdown(struct tapir_sock *s, int how);
void tcp_sock_close(struct tapir_sock *s);
/* Socket options at IPPROTO_TCP, and SO_KEEPALIVE. */
int tcp_sock_setopt(struct tapir_sock *s, int name, int v);
int tcp_sock_set_congestion(struct tapir_sock *s, const void *val, socklen_t len);
int tcp_sock_getopt(struct tapir_sock *s, int name, void *val, socklen_t *len);
int tcp_sock_keepalive(struct tapir_sock *s, bool on);
/* What `ss -ti` shows (tcp.c), and the same as Linux's struct tcp_info (tcp_info.c, which
 * alone includes <netinet/tcp.h>): writes at most cap bytes, returns the struct's size. */
struct tapir_conn_info;
void tcp_conn_info(const struct tcp_conn *c, struct tapir_conn_info *i);
size_t tcp_info_fill(const struct tapir_conn_info *i, void *out, size_t cap);
struct tapir_sock *sock_tcp_listener(struct tapir_stack *st, uint32_t addr, uint16_t port);

/* The most data a segment carries: the peer's MSS less our timestamps option (RFC 6691). */
static inline uint16_t tcp_smss(const struct tcp_conn *c)
{
    return (uint16_t)(c->snd_mss - (c->ts_ok ? TCP_TS_LEN : 0u));
}

/* Round-trip time (tcp.c): a measurement updates SRTT, RTTVAR and the RTO (RFC 6298 §2). */
void tcp_rtt_sample(struct tcp_conn *c, uint64_t rtt_us);
/* Our timestamp clock (RFC 7323 §5.4): milliseconds, from a per-connection random start. */
uint32_t tcp_ts_now(const struct tcp_conn *c);

/* Congestion control (tcp_cc.c). An algorithm decides how cwnd grows in congestion
 * avoidance and where ssthresh falls; slow start and recovery are shared. */
struct tcp_cc_ops {
    const char *name;
    void (*init)(struct tcp_conn *c);
    void (*cong_avoid)(struct tcp_conn *c, uint32_t acked_bytes);
    uint32_t (*ssthresh)(struct tcp_conn *c); /* a loss: the new ssthresh */
    void (*restart)(struct tcp_conn *c);      /* optional: sending again after idle */
};
/* "reno" or "cubic"; NULL for a name we do not have. */
const struct tcp_cc_ops *tcp_cc_find(const char *name);
uint32_t tcp_initial_window(const struct tcp_conn *c);
void tcp_cc_init(struct tcp_conn *c);
void tcp_cc_before_send(struct tcp_conn *c);
uint32_t tcp_cwnd_room(const struct tcp_conn *c);
/* An ACK moved snd_una by acked bytes, with flight_before bytes outstanding before it. */
void tcp_cc_ack(struct tcp_conn *c, uint32_t acked, uint32_t flight_before);
/* After any ACK (the scoreboard is current): recovery's bookkeeping. */
void tcp_cc_after_ack(struct tcp_conn *c);
void tcp_cc_dupack(struct tcp_conn *c);
void tcp_cc_timeout(struct tcp_conn *c);
/* A D-SACK for [start, end): one retransmission was needless; all of them undo the cut. */
void tcp_cc_dsack(struct tcp_conn *c, uint32_t start, uint32_t end);
void tcp_retransmit(struct tcp_conn *c, uint32_t seq, uint32_t len);

/* SACK (tcp_sack.c). */
unsigned tcp_sack_blocks_out(const struct tcp_conn *c, struct tcp_sack_block *out, unsigned max);
/* Takes in a segment's SACK blocks; true if any byte was newly SACKed. */
bool tcp_sack_update(struct tcp_conn *c, const struct tcp_seg *seg);
void tcp_sack_advance(struct tcp_conn *c); /* snd_una moved: forget what is below it */
void tcp_sack_clear(struct tcp_conn *c);
uint32_t tcp_sack_high(const struct tcp_conn *c);
/* RFC 6675 IsLost: by the count of SACKs above seq (DupThresh), or by RACK's clock. */
bool tcp_sack_is_lost(const struct tcp_conn *c, uint32_t seq);
bool tcp_sack_dupthresh_lost(const struct tcp_conn *c, uint32_t seq); /* the count alone */
uint32_t tcp_sack_pipe(const struct tcp_conn *c);
uint32_t tcp_sack_next_hole(const struct tcp_conn *c, bool lost_only, uint32_t max_len,
                            uint32_t *seq);
uint32_t tcp_sack_skip(const struct tcp_conn *c, uint32_t seq, uint32_t *room);
/* The end of the part of hole [start, end) known lost: start when none of it is. */
uint32_t tcp_sack_lost_end(const struct tcp_conn *c, uint32_t start, uint32_t end);

/* RACK-TLP (tcp_rack.c, RFC 8985): only on connections that agreed on SACK. */
void tcp_rack_sent(struct tcp_conn *c, uint32_t end); /* new data up to end went out now */
/* After an ACK: what it delivered updates RACK, which marks what was sent well before as
 * lost (rack_lost_end), and decides the fate of an outstanding tail loss probe. */
void tcp_rack_ack(struct tcp_conn *c, const struct tcp_seg *seg);
/* RFC 8985 §7.2: the probe timeout, or 0 when no probe is due. */
uint64_t tcp_tlp_timeout_us(const struct tcp_conn *c);
/* After new data went out or an ACK came: the probe is (re)scheduled PTO from now, if that
 * comes before the retransmission timer. */
void tcp_tlp_schedule(struct tcp_conn *c);
void tcp_tlp_fire(struct tcp_conn *c);
void tcp_rack_timer_fire(struct tapir_stack *st, struct tapir_timer *t);
void tcp_rack_reset(struct tcp_conn *c); /* a timeout: the probe and the timer are moot */
void tcp_rack_recovery_done(struct tcp_conn *c); /* a recovery ended: reo_wnd_mult decays */
/* A segment was SACKed or acknowledged after snd_una's retransmission went out, and the
 * reordering window has passed since: that retransmission was lost too. */
bool tcp_rack_rxt_lost(struct tcp_conn *c);
/* RFC 8985 §6.2 step 4: the reordering window. */
uint64_t tcp_rack_reo_wnd_us(const struct tcp_conn *c);
/* Enter recovery if a loss is known (RACK or the scoreboard) and none is under way. */
void tcp_cc_loss_check(struct tcp_conn *c);

#endif
