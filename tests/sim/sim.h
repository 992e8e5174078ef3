/* SPDX-License-Identifier: MIT */
/* sim.h: the simulation harness of the sim tests: two stacks, 10.0.0.1 (side 0) and 10.0.0.2
 * (side 1), joined by drivers/wire.c in virtual time, with a driver wrapper between each stack
 * and the wire that parses every TCP segment leaving it (counting, checking windows, losing
 * frames on demand), helpers to run the clock until something holds, to open connections, to
 * move data and check it, and to read each stack's trace of TCP state changes. Used by
 * test_sim_tcp.c, test_sim_tcp_data.c and test_sim_soak.c.
 *
 * Times are microseconds of virtual time throughout (SEC and MS convert); side 0 is host A,
 * side 1 host B; a function taking a `side` means that stack. */
#ifndef TAPIR_TEST_SIM_H
#define TAPIR_TEST_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <netinet/in.h>

#include "tapir/sock.h"
#include "tapir/stack.h"
#include "wire.h"

#define HOST_A 0x0a000001u /* 10.0.0.1, side 0 */
#define HOST_B 0x0a000002u /* 10.0.0.2, side 1 */
#define SEC 1000000ull     /* one second, in microseconds */
#define MS 1000ull         /* one millisecond, in microseconds */
#define DEFAULT_MSL_US (30 * SEC)
#define SERVER_PORT 80     /* where open_conn's listener listens, on side 1 */
#define SIM_MAX_DIRS 256   /* directions of 4-tuples the window checker can follow */

/* ---- The simulation -------------------------------------------------------------------------- */

/* One direction of one 4-tuple, as the segments leaving its sender show it. */
struct sim_dir {
    uint32_t src, dst;
    uint16_t sport, dport;
    bool have_edge;
    uint32_t edge; /* the right edge of the window this sender offered (ack + wnd), largest */
    int wscale;    /* the window scale its SYN offered (RFC 7323), -1 for none */
};

/* A segment, parsed by the driver wrapper; drop_fn sees it. */
struct seg_view {
    uint32_t src, dst;
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t wnd;
    uint32_t len;
    int wscale; /* a SYN's window scale option, -1 if none */
};

struct sim;

/* The driver each stack gets: it looks at the frame, maybe drops it, then hands it to the
 * wire's own driver. */
struct tap_end {
    struct sim *s;
    int end;
    struct tapir_driver inner;
};

struct sim {
    struct wire *wire;
    struct tapir_stack *st[2];
    FILE *trace[2]; /* each stack's trace in memory (see sim_opts.trace_to_memory) */
    char *trace_buf[2];
    size_t trace_len[2];
    struct tap_end tap[2];
    uint64_t msl_us;
    int woke; /* set by every socket's wakeup */

    /* Losses, decided as a frame leaves its stack, before the wire's own faults. */
    bool drop[2];          /* frames from this side vanish (a one-way black hole) */
    uint32_t loss_ppm[2];  /* frames from this side lost at random, parts per million */
    uint64_t rng;          /* for loss_ppm */
    /* Called for each TCP segment not lost otherwise; true loses it. */
    bool (*drop_fn)(struct sim *s, int from, const struct seg_view *v);
    uint64_t dropped[2];   /* frames lost by any of the above */
    uint64_t data_lost[2]; /* of them, TCP segments carrying data (not IP fragments) */

    /* The window checker (check_segment) and what it counts, per sending side. */
    struct sim_dir dirs[SIM_MAX_DIRS];
    unsigned ndirs;
    uint64_t window_violations, window_shrinks;
    char violation[256]; /* the first one, for the failure message */
    uint64_t tcp_segs[2];     /* TCP segments each side sent (lost ones too) */
    uint64_t data_segs[2];    /* of them, those carrying data */
    uint64_t zero_windows[2]; /* ACKs offering a zero window */
    uint64_t resets[2];       /* segments with RST */
    uint32_t last_syn_seq[2]; /* the sequence number of each side's latest SYN */
    uint32_t max_wnd[2]; /* the largest window each side offered, in bytes */

    /* A storm guard: past this many TCP segments (both ways) the link is cut, so a segment
     * storm fails its test in a moment instead of running for minutes. 0: no guard. */
    uint64_t seg_budget;
    bool storm;
    char storm_note[256];

    void *bufs[8]; /* the test's data (make_pattern), freed with the sim even if it fails */
};

/* A link of 1 ms each way without faults. */
extern const struct wire_faults clean_link;

/* The defaults with side's address (HOST_A or HOST_B)/24, MAC 02:00:00:00:00:0<side + 1>
 * and PRNG seed stack_seed. */
void sim_stack_config(struct tapir_config *cfg, int side, uint64_t stack_seed);

/* How sim_start_opts builds the two stacks and the wire. */
struct sim_opts {
    uint64_t msl_us;      /* the stacks' MSL; 0 leaves the stack's default (30 s) */
    const char *cc;       /* congestion control of both stacks; NULL leaves the default */
    unsigned pkb_frames;  /* packet buffers per stack; 0 leaves the default */
    unsigned wire_frames; /* the most frames in flight on the wire */
    uint64_t wire_salt;   /* the wire's fault PRNG is seeded with seed ^ wire_salt */
    bool trace_to_memory; /* each stack traces TCP into memory, for states() and entered() */
    FILE *trace_out;      /* otherwise both trace TCP here; NULL: no trace */
    uint64_t seg_budget;  /* the storm guard (struct sim); 0: none */
};

/* Builds the stacks (seeds seed * 2 + side) and the wire with faults, starts the clock at
 * 1 s and both stacks at it. The loss PRNG is seeded from seed too. */
void sim_start_opts(struct sim *s, const struct wire_faults *faults, uint64_t seed,
                    const struct sim_opts *o);
/* The TCP tests' simulation: traced into memory, a storm guard of 100000 segments, the
 * given MSL. TCP_SIM_SEED=k in the environment adds 1000 * k to every seed. */
void sim_start(struct sim *s, const struct wire_faults *faults, uint64_t seed, uint64_t msl_us);
/* Frees the stacks, the traces, the wire and the test's buffers. */
void sim_free(struct sim *s);

/* cmocka setup and teardown: *state is a zeroed struct sim; teardown prints both traces when
 * TCP_SIM_TRACE is set, and frees whatever the test left (when it failed half-way). */
int sim_setup(void **state);
int sim_teardown(void **state);
#define SIM_TEST(fn) cmocka_unit_test_setup_teardown(fn, sim_setup, sim_teardown)
/* TCP_SIM_ONLY=pattern in the environment runs only the tests it matches. */
void sim_filter_tests_from_env(void);

/* The window checker, for each TCP segment leaving side `from` (called by the driver wrapper;
 * a test may feed it segments of its own). RFC 9293 §3.8.6: data stays inside the window the
 * peer offered, and no receiver moves its right edge back. It sees whole segments only: a
 * segment the stack sent as IP fragments goes by unparsed and uncounted. */
void check_segment(struct sim *s, int from, const struct seg_view *v);

/* ---- Running the clock ----------------------------------------------------------------------- */

/* The virtual time, in microseconds (the wire's clock). */
static inline uint64_t now(const struct sim *s) { return wire_now(s->wire); }
/* A socket wakeup callback (ctx: the sim): it sets s->woke, which stops wire_run. */
void on_wake(void *ctx);
/* Brings the stacks' clocks to the wire's, so what a socket call arms counts from now. */
void sync_stacks(struct sim *s);
/* Runs dt_us of virtual time. */
void run_for(struct sim *s, uint64_t dt_us);
/* Runs until done(arg) is true or max_us passed, calling done first and after every socket
 * wakeup (done may move data); returns done's last answer. */
bool run_until(struct sim *s, bool (*done)(void *), void *arg, uint64_t max_us);
/* Runs until cond holds or max_us passed; cond is checked at every wakeup and every ms. */
#define RUN_UNTIL(s, cond, max_us)                                                             \
    do {                                                                                       \
        uint64_t end_ = now(s) + (max_us);                                                     \
        while (!(cond) && now(s) < end_) {                                                     \
            uint64_t step_ = now(s) + MS < end_ ? now(s) + MS : end_;                          \
            (s)->woke = 0;                                                                     \
            wire_run((s)->wire, step_, &(s)->woke);                                            \
            sync_stacks(s);                                                                    \
        }                                                                                      \
    } while (0)

/* ---- The trace: one connection's state changes ----------------------------------------------- */

/* The states of the connection (laddr:lport, raddr:rport) in side's trace as one string,
 * "CLOSED SYN_SENT ESTABLISHED", a break in the chain shown as "!OLD". The result lives in
 * one of four rotating buffers, so two can be compared in one assertion. */
const char *states_at(struct sim *s, int side, uint32_t laddr, uint16_t lport, uint32_t raddr,
                      uint16_t rport);
/* The same for a connection between A and B as seen from side (0 is A, 1 is B). */
const char *states(struct sim *s, int side, uint16_t lport, uint16_t rport);
/* The time (us) of the nth (from 0) change into state `to`, or UINT64_MAX. */
uint64_t entered(struct sim *s, int side, uint16_t lport, uint16_t rport, const char *to,
                 unsigned nth);

/* ---- Sockets --------------------------------------------------------------------------------- */

/* A TCP socket on side, its wakeup set to on_wake. */
struct tapir_sock *tcp_open(struct sim *s, int side);
/* An AF_INET address from a host-order address and port. */
struct sockaddr_in sin_of(uint32_t addr, uint16_t port);
/* Binds k to addr:port (0 for any), which must succeed. */
void bind_to(struct tapir_sock *k, uint32_t addr, uint16_t port);
/* k's local port (getsockname). */
uint16_t local_port(const struct tapir_sock *k);
/* SO_REUSEADDR on, which must succeed. */
void set_reuseaddr(struct tapir_sock *k);
/* SO_RCVBUF = bytes (Linux's rule: the buffer is then twice that, half for data). */
void set_rcvbuf(struct tapir_sock *k, int bytes);
/* A listener on *:port on side (backlog 8); rcvbuf_bytes > 0 sets SO_RCVBUF first. */
struct tapir_sock *listen_on(struct sim *s, int side, uint16_t port, int rcvbuf_bytes);
/* Connects k to to_side:port: in progress, not writable yet. */
void start_connect(struct sim *s, struct tapir_sock *k, int to_side, uint16_t port);
/* How a connect ended within max_us: 0, or the error (taken from the socket). */
int wait_connected(struct sim *s, struct tapir_sock *k, uint64_t max_us);
/* For waiting on two connects at once: true once *rc holds how k's connect ended. */
bool poll_connected(struct tapir_sock *k, int *rc);
/* The next connection on l, from host A, within max_us; its wakeup set to on_wake. */
struct tapir_sock *wait_accept(struct sim *s, struct tapir_sock *l, uint64_t max_us);

/* A connection from A (cli) to B's listener on SERVER_PORT (srv, accepted). */
struct conn {
    struct tapir_sock *lis, *cli, *srv;
    uint16_t cport;
};
/* Opens c: the client from port cport (0: an ephemeral one), the listener's SO_RCVBUF
 * srv_rcvbuf_bytes (0: the default); connect and accept each within 60 s (SYNs may be lost). */
void open_conn(struct sim *s, struct conn *c, uint16_t cport, int srv_rcvbuf_bytes);
/* The same from an ephemeral port, the client's SO_RCVBUF set too (before it connects). */
void open_conn_rcvbufs(struct sim *s, struct conn *c, int srv_rcvbuf_bytes, int cli_rcvbuf_bytes);
/* Closes the client, the server and the listener, in that order. */
void close_conn(struct conn *c);

/* Sends text (without its NUL), all of it at once. */
void send_str(struct tapir_sock *k, const char *text);
/* Reads exactly len_bytes (at most 256), running the wire while it waits, and compares. */
void expect_bytes(struct sim *s, struct tapir_sock *k, const void *want, size_t len_bytes);
/* A read returns end of stream, and the socket shows POLLRDHUP. */
void expect_eof(struct tapir_sock *k);

/* Every socket is closed: lets every timer run out (up to 30 minutes), then checks that every
 * connection block is freed, no packet buffer is held, no data was dropped for room, no storm
 * cut the link, and no segment went past its peer's window. */
void settle(struct sim *s);
/* The end of a TCP test: brings the stacks' clocks to now, closes the n sockets in order,
 * settles (with all of settle's checks) and frees the sim. */
void close_settle_free(struct sim *s, struct tapir_sock *const *socks, size_t n);
/* The same for the sockets listed: CLOSE_SETTLE_FREE(s, c.cli, c.srv, c.lis). */
#define CLOSE_SETTLE_FREE(s, ...)                                                              \
    close_settle_free((s), (struct tapir_sock *const[]){__VA_ARGS__},                          \
                      sizeof((struct tapir_sock *const[]){__VA_ARGS__}) /                      \
                          sizeof(struct tapir_sock *))

/* ---- Moving bytes ---------------------------------------------------------------------------- */

/* Byte i of the pattern `seed`: it depends on its position in a way no shift or repeat
 * mimics (within 4 GiB), so misplaced data shows. */
uint8_t pattern_byte(uint32_t seed, size_t i);
/* len_bytes of pattern seed in a buffer the sim owns (freed by sim_free). */
uint8_t *make_pattern(struct sim *s, uint32_t seed, size_t len_bytes);

/* One end of a transfer: what it sends, what it expects to read. */
struct stream {
    struct tapir_sock *k;
    const uint8_t *out;
    size_t out_len, sent;
    const uint8_t *in;
    size_t in_len, got;
    bool shut_after_send, shut, want_eof, eof;
    size_t chunk; /* the most read or written per call (0: 64 KiB) */
    bool reading; /* false: the application does not read (yet) */
};
/* Everything sent (and shut down, if asked), everything read (and EOF, if asked). */
bool stream_done(const struct stream *x);
/* Sends and reads what the socket takes now; fails the test on an error or a wrong byte. */
void stream_step(struct stream *x);
/* Runs both ends until both are done or max_us passed; returns whether both are done. */
bool transfer(struct sim *s, struct stream *a, struct stream *b, uint64_t max_us);

#endif
