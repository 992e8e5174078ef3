/* SPDX-License-Identifier: MIT */
/* fuzz_stateful.c: libFuzzer target that starts every input from a busy stack: a listener with
 * a handshake half done, connections in every state of RFC 9293 §3.3.2 (data unacknowledged,
 * data out of order, a zero window, each closing state, an active open unanswered), an ARP
 * resolution pending and two datagrams half reassembled. The input is a sequence of records
 * that either craft a segment on one of those connections (the harness fills in addresses,
 * ports, sequence and acknowledgment numbers relative to the connection's own, and the
 * timestamps), act as the application, send an ICMP error about a connection, or inject a raw
 * frame; time moves between records. So fuzzed segments pass the sequence checks and reach
 * SACK, PAWS, RFC 5961's challenges, FIN handling, urgent data and window updates. The peer,
 * 10.0.0.1, answers the stack's ARP requests unless a record makes it deaf. At the end the
 * peer resets what the application still holds, every socket is closed, every timer runs
 * out, and no packet buffer or connection block may be left; every frame the stack sent must
 * be well formed. TAPIR_FUZZ_TRACE=1 in the environment traces every layer to stderr.
 *
 * The peer's connections are the slots below (the enum), the application's calls enum
 * app_action. Record: [kind][time step] then, by kind % 4:
 *   0 segment  [slot][flags][mode][seq off:2][ack off:2][window:2][urgent:2][payload len:2]
 *              [option len][options...][SACK blocks][blocks: start off:2, len:2 ...]
 *   1 app      [slot][action][arg:2]
 *   2 ICMP     [slot][type][code][seq off:2][info:2]
 *   3 raw      [len:2][frame...]
 * Multi-byte fields are big-endian; a record cut short reads zeros. The time step is 0-99 ms
 * (below 100), 0.1-9.9 s (100-199) or 10-550 s (200-255). mode: bits 0-1 pick the sequence
 * number's base (RCV.NXT, the right edge of our window, the peer's own next, IRS), bits 2-3
 * the acknowledgment's (SND.NXT, SND.UNA, SND.MAX, ISS); bit 4 leaves the timestamps out,
 * bit 5 sends an old TSval (PAWS), bit 6 spoils the checksum, bit 7 sends two IP fragments.
 * SACK block offsets count from SND.UNA. Offsets are signed. */
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bytes.h"
#include "core.h"
#include "tapir/sock.h"
#include "tcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OUR_IP 0x0a000002u
#define PEER_IP 0x0a000001u
#define SILENT_IP 0x0a00004du /* 10.0.0.77: ARP asks for it, nobody answers */
#define PEER_ISN 0x7f000000u  /* every passive open's peer starts here, plus its slot */
#define TS_BASE 0x10000u      /* the peer's timestamp clock: milliseconds plus this */

static const uint8_t our_mac[6] = {0x02, 0x74, 0x61, 0x70, 0x69, 0x72};
static const uint8_t peer_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};

/* The connections the records name, by slot. Each has a fixed 4-tuple (ours 10.0.0.2, the
 * peer 10.0.0.1); its TCB, when it has one, gives the sequence numbers. */
enum {
    S_SYN_RECEIVED, /* a SYN to :7, never completed */
    S_UNACKED,      /* established, 4000 bytes sent and not acknowledged */
    S_OUT_OF_ORDER, /* established, two ranges of the peer's data held out of order */
    S_ZERO_WINDOW,  /* established, the peer's window shut with data waiting: persist */
    S_FIN_WAIT_1,   /* data and FIN sent, closed by the application (an orphan) */
    S_FIN_WAIT_2,   /* shut down for writing, the FIN acknowledged */
    S_CLOSE_WAIT,   /* the peer sent data and FIN, unread */
    S_LAST_ACK,     /* the peer's FIN, then ours (an orphan) */
    S_TIME_WAIT,    /* both FINs acknowledged, our close first (an orphan) */
    S_CLOSING,      /* both FINs crossed */
    S_SYN_SENT,     /* our SYN to 10.0.0.1:5000, unanswered */
    S_ACTIVE,       /* our open to :5001, answered without options (no SACK, no TS) */
    S_KEEPALIVE,    /* established, keepalive every second, NODELAY, 300 bytes unread */
    S_NEW_1,        /* 4-tuples with no connection yet: the fuzzer may open them */
    S_NEW_2,
    S_COOKIE,      /* to :9, whose SYN queue is full: SYN cookies */
    S_NO_LISTENER, /* to :4444, where nothing listens */
    S_ACTIVE_NEW,  /* for the application's own connect (to :5002) */
    SLOTS
};

struct slot {
    uint16_t lport, rport;   /* ours, the peer's */
    struct tapir_sock *sock; /* the application's socket; NULL when none or closed */
    bool ts;                 /* the peer puts timestamps on its segments */
    /* What the peer knows from the wire, for when there is no TCB to ask. */
    uint32_t peer_nxt;   /* the peer's next sequence number */
    uint32_t seen_ack;   /* the last acknowledgment we sent */
    uint32_t seen_end;   /* the highest sequence number we sent, plus one */
    uint32_t seen_tsval; /* our last TSval, which the peer echoes */
};

struct fz {
    struct tapir_stack *st;
    uint64_t now;
    struct slot slots[SLOTS];
    struct tapir_sock *listen7, *listen9;
    struct tapir_sock *udp_echo, *udp_other, *ping;
    uint16_t ip_id;
    bool arp_asked; /* the stack has asked who 10.0.0.1 is */
    bool peer_deaf; /* ... and the peer does not answer (APP_PEER_DEAF) */
};

/* One harness, reset for every input (libFuzzer runs them one at a time). */
static struct fz fz;

/* Scratch for frames and payloads: big enough for a 64 KiB send. */
static uint8_t frame_buf[14 + 20 + 4096];
static uint8_t l4_buf[4096];
static uint8_t pattern[65536];
static uint8_t read_buf[65536];

/* A broken invariant: says which (libFuzzer then prints the stack and keeps the input). */
static _Noreturn void fail(const char *why)
{
    fprintf(stderr, "fuzz_stateful: %s\n", why);
    abort();
}

/* ---- Checking what the stack sends ---------------------------------------------------------- */

/* RFC 1071, two bytes at a time: deliberately not the stack's own csum.c. */
static uint32_t sum16(uint32_t s, const uint8_t *p, size_t n)
{
    for (; n >= 2; p += 2, n -= 2)
        s += (uint32_t)(p[0] << 8 | p[1]);
    if (n)
        s += (uint32_t)p[0] << 8;
    return s;
}

static uint16_t fold(uint32_t s)
{
    while (s >> 16)
        s = (s & 0xffffu) + (s >> 16);
    return (uint16_t)~s;
}

static uint32_t pseudo_sum(const uint8_t *ip, uint8_t proto, size_t len)
{
    uint32_t s = sum16(0, ip + 12, 8);
    return s + proto + (uint32_t)len;
}

static struct slot *slot_of(uint16_t lport, uint16_t rport)
{
    for (int i = 0; i < SLOTS; i++)
        if (fz.slots[i].lport == lport && fz.slots[i].rport == rport)
            return &fz.slots[i];
    return NULL;
}

/* Our TSval, if the options carry one. */
static bool find_tsval(const uint8_t *o, size_t n, uint32_t *tsval)
{
    for (size_t i = 0; i < n;) {
        if (o[i] == 0)
            break;
        if (o[i] == 1) {
            i++;
            continue;
        }
        if (i + 1 >= n || o[i + 1] < 2 || i + o[i + 1] > n)
            fail("the stack sent malformed TCP options");
        if (o[i] == 8 && o[i + 1] == 10) {
            *tsval = get_be32(o + i + 2);
            return true;
        }
        i += o[i + 1];
    }
    return false;
}

/* A TCP segment we sent, whole: its checksum, its header, and what the peer learns. */
static void check_tcp_out(const uint8_t *ip, const uint8_t *t, size_t len)
{
    if (len < 20 || fold(sum16(pseudo_sum(ip, 6, len), t, len)) != 0)
        fail("the stack sent a TCP segment with a bad checksum");
    size_t doff = (size_t)(t[12] >> 4) * 4;
    if (doff < 20 || doff > len)
        fail("the stack sent a TCP data offset outside the segment");
    if (get_be32(ip + 12) != OUR_IP)
        fail("the stack sent a TCP segment from an address not ours");
    struct slot *sl = get_be32(ip + 16) == PEER_IP ? slot_of(get_be16(t), get_be16(t + 2)) : NULL;
    if (!sl)
        return;
    uint8_t flags = t[13];
    uint32_t seq = get_be32(t + 4);
    uint32_t end = seq + (uint32_t)(len - doff) + !!(flags & TCP_SYN) + !!(flags & TCP_FIN);
    if (flags & TCP_ACK)
        sl->seen_ack = get_be32(t + 8);
    if (seq_gt(end, sl->seen_end) || (flags & TCP_SYN))
        sl->seen_end = end;
    find_tsval(t + 20, doff - 20, &sl->seen_tsval);
}

/* Every frame out: an Ethernet header and no more than the MTU; an IPv4 packet's header and
 * checksums must be right, and its lengths agree with the frame. */
static int fuzz_send(void *ctx, const void *frame, size_t len)
{
    (void)ctx;
    const uint8_t *f = frame;
    if (len < 14 || len > 14 + 1500)
        fail("the stack sent a frame shorter than Ethernet or longer than the MTU");
    if (get_be16(f + 12) == 0x0806 && len >= 42 && get_be16(f + 20) == 1 &&
        get_be32(f + 38) == PEER_IP)
        fz.arp_asked = true; /* answered once the stack returns (answer_arp) */
    if (get_be16(f + 12) != 0x0800)
        return 0;
    const uint8_t *ip = f + 14;
    size_t ihl = (size_t)(ip[0] & 15) * 4, tot = get_be16(ip + 2);
    if (len < 14 + 20 || ip[0] >> 4 != 4 || ihl < 20 || tot < ihl || tot > len - 14)
        fail("the stack sent an IPv4 header that disagrees with the frame");
    if (fold(sum16(0, ip, ihl)) != 0)
        fail("the stack sent an IPv4 header with a bad checksum");
    bool fragment = get_be16(ip + 6) & 0x3fff;
    if (ip[9] == 6 && !fragment)
        check_tcp_out(ip, ip + ihl, tot - ihl);
    return 0;
}

/* Cheap invariants of one connection, after every record. */
static void check_conn(const struct tcp_conn *c)
{
    if (c->state >= TCP_STATE_COUNT || c->state == TCP_LISTEN)
        fail("a TCB in no state, or LISTEN in the 4-tuple hash");
    if (seq_gt(c->snd_una, c->snd_nxt) || seq_gt(c->snd_nxt, c->snd_max))
        fail("SND.UNA <= SND.NXT <= SND.MAX broken");
    if (c->ooo_count > TCP_OOO_RANGES || c->sacked_count > TCP_SCOREBOARD)
        fail("more out-of-order ranges or SACK blocks than the arrays hold");
    if (c->sacked_bytes > c->snd_max - c->snd_una)
        fail("more bytes SACKed than are outstanding");
    if (c->rcvq.len > c->rcvq.cap || c->sndq.len > c->sndq.cap)
        fail("a byte ring holds more than it has room for");
}

/* ---- Frames from the peer ------------------------------------------------------------------- */

static void input(const uint8_t *f, size_t len)
{
    tapir_input(fz.st, f, len, fz.now);
}

/* An IPv4 packet from src (the peer, usually) to us, as one frame, or as fragments of
 * at most frag_bytes of payload each (a multiple of 8) when frag_bytes is not 0. */
static void send_ipv4(uint32_t src, uint8_t proto, const uint8_t *pl, size_t len, size_t frag_bytes)
{
    uint16_t id = fz.ip_id++;
    size_t off = 0;
    do {
        size_t n = len - off;
        bool more = false;
        if (frag_bytes && n > frag_bytes) {
            n = frag_bytes;
            more = true;
        }
        if (n > 1480)
            n = 1480; /* the caller keeps whole packets under the MTU */
        uint8_t *f = frame_buf, *ip = f + 14;
        memcpy(f, our_mac, 6);
        memcpy(f + 6, peer_mac, 6);
        put_be16(f + 12, 0x0800);
        ip[0] = 0x45;
        ip[1] = 0;
        put_be16(ip + 2, (uint16_t)(20 + n));
        put_be16(ip + 4, id);
        put_be16(ip + 6, (uint16_t)((more ? 0x2000u : 0) | off / 8));
        ip[8] = 64;
        ip[9] = proto;
        put_be16(ip + 10, 0);
        put_be32(ip + 12, src);
        put_be32(ip + 16, OUR_IP);
        put_be16(ip + 10, fold(sum16(0, ip, 20)));
        memcpy(ip + 20, pl + off, n);
        input(f, 14 + 20 + n);
        off += n;
    } while (off < len);
}

struct seg_spec {
    uint8_t flags;
    uint32_t seq, ack;
    uint16_t wnd, urp;
    const uint8_t *opts; /* options before the timestamps */
    size_t olen;
    bool no_ts, old_ts, bad_csum, frag;
    size_t plen; /* payload bytes, taken from the pattern */
    unsigned nsack;
    uint32_t sack[4][2];
};

/* The options of a segment: the given ones, then the timestamps (if the peer uses them),
 * then SACK blocks, as many as fit in 40 bytes; padded with EOL. Returns the length. */
static size_t build_options(const struct slot *sl, const struct seg_spec *g, uint8_t *o)
{
    size_t n = g->olen > 40 ? 40 : g->olen;
    if (n)
        memcpy(o, g->opts, n);
    if (sl->ts && !g->no_ts && n + 12 <= 40) {
        uint32_t tsval = (uint32_t)(fz.now / 1000) + TS_BASE;
        if (g->old_ts)
            tsval -= 0x40000000u;
        o[n] = o[n + 1] = 1;
        o[n + 2] = 8;
        o[n + 3] = 10;
        put_be32(o + n + 4, tsval);
        put_be32(o + n + 8, (g->flags & TCP_ACK) ? sl->seen_tsval : 0);
        n += 12;
    }
    unsigned blocks = g->nsack;
    while (blocks && n + 4 + 8 * blocks > 40)
        blocks--;
    if (blocks) {
        o[n] = o[n + 1] = 1;
        o[n + 2] = 5;
        o[n + 3] = (uint8_t)(2 + 8 * blocks);
        n += 4;
        for (unsigned i = 0; i < blocks; i++, n += 8) {
            put_be32(o + n, g->sack[i][0]);
            put_be32(o + n + 4, g->sack[i][1]);
        }
    }
    while (n % 4)
        o[n++] = 0;
    return n;
}

/* A segment from the peer on slot sl's 4-tuple. */
static void send_seg(struct slot *sl, const struct seg_spec *g)
{
    uint8_t *t = l4_buf;
    size_t olen = build_options(sl, g, t + 20);
    size_t hlen = 20 + olen;
    size_t room = (g->frag ? 2 * 1480 : 1480) - hlen;
    size_t plen = g->plen < room ? g->plen : room;
    put_be16(t, sl->rport);
    put_be16(t + 2, sl->lport);
    put_be32(t + 4, g->seq);
    put_be32(t + 8, g->ack);
    t[12] = (uint8_t)(hlen / 4 << 4);
    t[13] = g->flags;
    put_be16(t + 14, g->wnd);
    put_be16(t + 16, 0);
    put_be16(t + 18, g->urp);
    memcpy(t + hlen, pattern, plen);
    size_t len = hlen + plen;
    uint8_t ph[12];
    put_be32(ph, PEER_IP);
    put_be32(ph + 4, OUR_IP);
    ph[8] = 0;
    ph[9] = 6;
    put_be16(ph + 10, (uint16_t)len);
    uint16_t ck = fold(sum16(sum16(0, ph, 12), t, len));
    put_be16(t + 16, g->bad_csum ? (uint16_t)(ck ^ 0x5a5a) : ck);
    uint32_t end = g->seq + (uint32_t)plen + !!(g->flags & TCP_SYN) + !!(g->flags & TCP_FIN);
    if (seq_gt(end, sl->peer_nxt))
        sl->peer_nxt = end;
    /* Fragments split the segment near its middle, on an 8-byte boundary. */
    send_ipv4(PEER_IP, 6, t, len, g->frag ? ((len / 2 + 7) & ~(size_t)7) : 0);
}

static struct tcp_conn *conn_of(const struct slot *sl)
{
    return tcp_lookup(fz.st, OUR_IP, sl->lport, PEER_IP, sl->rport);
}

/* A segment in sequence: from the peer's next byte, acknowledging everything we sent. */
static void peer_send(struct slot *sl, uint8_t flags, uint32_t ack, size_t plen, uint16_t wnd)
{
    struct tcp_conn *c = conn_of(sl);
    struct seg_spec g = {
        .flags = flags, .seq = c ? c->rcv_nxt : sl->peer_nxt, .ack = ack, .wnd = wnd, .plen = plen};
    send_seg(sl, &g);
}

/* The SYN of a passive open: MSS 1460, window scale 7, SACK permitted, timestamps. */
static const uint8_t syn_opts[] = {2, 4, 0x05, 0xb4, 1, 3, 3, 7, 4, 2};

static void peer_syn(struct slot *sl, uint32_t isn)
{
    struct seg_spec g = {
        .flags = TCP_SYN, .seq = isn, .wnd = 65535, .opts = syn_opts, .olen = sizeof(syn_opts)};
    sl->ts = true;
    sl->peer_nxt = isn;
    send_seg(sl, &g);
}

/* ---- The application ------------------------------------------------------------------------ */

static struct tapir_sock *tcp_socket(uint16_t port)
{
    struct tapir_sock *s;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (tapir_sock_open(fz.st, SOCK_STREAM, 0, &s) < 0)
        return NULL;
    if (port && tapir_sock_bind(s, &sin) < 0) {
        tapir_sock_close(s);
        return NULL;
    }
    return s;
}

static struct tapir_sock *listener(uint16_t port, int backlog)
{
    struct tapir_sock *s = tcp_socket(port);
    if (s && tapir_sock_listen(s, backlog) < 0) {
        tapir_sock_close(s);
        s = NULL;
    }
    return s;
}

static void connect_slot(struct slot *sl)
{
    struct sockaddr_in to = {
        .sin_family = AF_INET, .sin_port = htons(sl->rport), .sin_addr.s_addr = htonl(PEER_IP)};
    sl->sock = tcp_socket(sl->lport);
    if (sl->sock)
        tapir_sock_connect(sl->sock, &to);
}

/* Takes what a listener has queued; a connection lands in its slot, or is closed at once. */
static void accept_all(struct tapir_sock *l)
{
    struct tapir_sock *s;
    struct sockaddr_in peer;
    while (l && tapir_sock_accept(l, &s, &peer) == 0) {
        struct sockaddr_in me;
        tapir_sock_getsockname(s, &me);
        struct slot *sl = slot_of(ntohs(me.sin_port), ntohs(peer.sin_port));
        if (sl && !sl->sock)
            sl->sock = s;
        else
            tapir_sock_close(s);
    }
}

static void app_send(struct slot *sl, size_t n)
{
    if (sl->sock)
        tapir_sock_sendto(sl->sock, pattern, n, 0, NULL);
}

static void app_close(struct slot *sl)
{
    if (sl->sock)
        tapir_sock_close(sl->sock);
    sl->sock = NULL;
}

static void set_int(struct tapir_sock *s, int level, int name, int v)
{
    if (s)
        tapir_sock_setopt(s, level, name, &v, sizeof(v));
}

/* Reads what the UDP sockets hold; the echo socket answers, as fuzz_input's does. */
static void drain_udp(void)
{
    struct tapir_sock *socks[3] = {fz.udp_echo, fz.udp_other, fz.ping};
    for (int i = 0; i < 3; i++) {
        struct sockaddr_in from;
        ssize_t n;
        while (socks[i] && (n = tapir_sock_recvfrom(socks[i], read_buf, sizeof(read_buf), 0, &from,
                                                    NULL)) != -EAGAIN)
            if (i == 0 && n >= 0)
                tapir_sock_sendto(socks[i], read_buf, (size_t)n, 0, &from);
    }
}

/* ---- The state every input starts from ------------------------------------------------------ */

static void tick(void)
{
    fz.now += 1000;
    tapir_timers(fz.st, fz.now);
}

/* A passive open through the listener on :7, accepted. */
static struct slot *passive_open(int i)
{
    struct slot *sl = &fz.slots[i];
    peer_syn(sl, PEER_ISN + (uint32_t)i * 0x01000000u);
    struct tcp_conn *c = conn_of(sl);
    if (c)
        peer_send(sl, TCP_ACK, c->snd_nxt, 0, 65535);
    accept_all(fz.listen7);
    tick();
    return sl;
}

static void build_connections(void)
{
    struct slot *sl;
    peer_syn(&fz.slots[S_SYN_RECEIVED], PEER_ISN);

    sl = passive_open(S_UNACKED);
    app_send(sl, 4000);

    sl = passive_open(S_OUT_OF_ORDER);
    struct tcp_conn *c = conn_of(sl);
    if (c) {
        struct seg_spec g = {.flags = TCP_ACK | TCP_PSH,
                             .seq = c->rcv_nxt + 1000,
                             .ack = c->snd_nxt,
                             .wnd = 65535,
                             .plen = 500};
        send_seg(sl, &g);
        g.seq = c->rcv_nxt + 2000;
        g.plen = 300;
        send_seg(sl, &g);
    }

    sl = passive_open(S_ZERO_WINDOW);
    if ((c = conn_of(sl)))
        peer_send(sl, TCP_ACK, c->snd_nxt, 0, 0);
    app_send(sl, 2000);

    sl = passive_open(S_FIN_WAIT_1);
    app_send(sl, 1000);
    app_close(sl);

    sl = passive_open(S_FIN_WAIT_2);
    if (sl->sock)
        tapir_sock_shutdown(sl->sock, SHUT_WR);
    if ((c = conn_of(sl)))
        peer_send(sl, TCP_ACK, c->snd_nxt, 0, 65535);

    sl = passive_open(S_CLOSE_WAIT);
    if ((c = conn_of(sl)))
        peer_send(sl, TCP_ACK | TCP_PSH | TCP_FIN, c->snd_nxt, 3, 65535);

    sl = passive_open(S_LAST_ACK);
    if ((c = conn_of(sl)))
        peer_send(sl, TCP_ACK | TCP_FIN, c->snd_nxt, 0, 65535);
    app_close(sl);

    sl = passive_open(S_TIME_WAIT);
    app_close(sl);
    if ((c = conn_of(sl)))
        peer_send(sl, TCP_ACK | TCP_FIN, c->snd_nxt, 0, 65535);

    sl = passive_open(S_CLOSING);
    if (sl->sock)
        tapir_sock_shutdown(sl->sock, SHUT_WR);
    if ((c = conn_of(sl)))
        peer_send(sl, TCP_ACK | TCP_FIN, c->snd_una, 0, 65535);

    sl = passive_open(S_KEEPALIVE);
    set_int(sl->sock, SOL_SOCKET, SO_KEEPALIVE, 1);
    set_int(sl->sock, IPPROTO_TCP, TCP_KEEPIDLE_OPT, 1);
    set_int(sl->sock, IPPROTO_TCP, TCP_KEEPINTVL_OPT, 1);
    set_int(sl->sock, IPPROTO_TCP, TCP_KEEPCNT_OPT, 3);
    set_int(sl->sock, IPPROTO_TCP, TCP_NODELAY_OPT, 1);
    if ((c = conn_of(sl)))
        peer_send(sl, TCP_ACK | TCP_PSH, c->snd_nxt, 300, 65535);

    connect_slot(&fz.slots[S_SYN_SENT]);

    /* An active open the peer answers with nothing but an MSS: no SACK, no timestamps, no
     * window scaling, so NewReno and unscaled windows are in play too. */
    sl = &fz.slots[S_ACTIVE];
    connect_slot(sl);
    if ((c = conn_of(sl))) {
        static const uint8_t mss_only[] = {2, 4, 0x03, 0xe8};
        struct seg_spec g = {.flags = TCP_SYN | TCP_ACK,
                             .seq = 0x5000,
                             .ack = c->snd_nxt,
                             .wnd = 32768,
                             .opts = mss_only,
                             .olen = sizeof(mss_only)};
        send_seg(sl, &g);
        app_send(sl, 2500);
    }
    tick();
}

/* A listener on :9 whose SYN queue is full (backlog 0 takes 16 handshakes): the next SYN
 * gets a cookie. */
static void fill_syn_queue(void)
{
    fz.listen9 = listener(9, 0);
    struct slot filler = {.lport = 9};
    for (uint16_t i = 0; i < 16; i++) {
        filler.rport = (uint16_t)(41000 + i);
        struct seg_spec g = {.flags = TCP_SYN, .seq = 0x1000, .wnd = 8192};
        send_seg(&filler, &g);
    }
}

/* UDP sockets, a datagram waiting on ARP for a neighbour that never answers, a ping socket,
 * and two datagrams half reassembled: the first fragment of an echo request, the last of a
 * UDP datagram. */
static void build_udp_and_ip(void)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(7)};
    if (tapir_sock_open(fz.st, SOCK_DGRAM, IPPROTO_UDP, &fz.udp_echo) == 0)
        tapir_sock_bind(fz.udp_echo, &sin);
    if (tapir_sock_open(fz.st, SOCK_DGRAM, IPPROTO_UDP, &fz.udp_other) == 0) {
        struct sockaddr_in to = {
            .sin_family = AF_INET, .sin_port = htons(9), .sin_addr.s_addr = htonl(SILENT_IP)};
        tapir_sock_sendto(fz.udp_other, "who?", 4, 0, &to);
    }
    sin.sin_port = htons(1);
    if (tapir_sock_open(fz.st, SOCK_DGRAM, IPPROTO_ICMP, &fz.ping) == 0)
        tapir_sock_bind(fz.ping, &sin);

    uint8_t *m = l4_buf;
    memset(m, 0x42, 3008);
    m[0] = 8; /* echo request; the checksum covers the whole reassembled message */
    m[1] = 0;
    put_be16(m + 2, 0);
    put_be16(m + 4, 0x1234);
    put_be16(m + 6, 1);
    put_be16(m + 2, fold(sum16(0, m, 3008)));
    struct {
        uint16_t id;
        uint8_t proto;
        uint16_t frag;
        size_t len;
    } parts[2] = {{0xf001, 1, 0x2000, 1480}, {0xf002, 17, 185, 800}};
    for (int i = 0; i < 2; i++) {
        uint8_t *f = frame_buf, *ip = f + 14;
        memcpy(f, our_mac, 6);
        memcpy(f + 6, peer_mac, 6);
        put_be16(f + 12, 0x0800);
        ip[0] = 0x45;
        ip[1] = 0;
        put_be16(ip + 2, (uint16_t)(20 + parts[i].len));
        put_be16(ip + 4, parts[i].id);
        put_be16(ip + 6, parts[i].frag);
        ip[8] = 64;
        ip[9] = parts[i].proto;
        put_be16(ip + 10, 0);
        put_be32(ip + 12, PEER_IP);
        put_be32(ip + 16, OUR_IP);
        put_be16(ip + 10, fold(sum16(0, ip, 20)));
        memcpy(ip + 20, m, parts[i].len);
        input(f, 14 + 20 + parts[i].len);
    }
}

/* An ARP packet from the peer about itself: a request for our address (op 1, broadcast),
 * which is how the stack first learns the peer's MAC, or the reply to our request (op 2). */
static void peer_arp(uint16_t op)
{
    uint8_t f[42];
    if (op == 1)
        memset(f, 0xff, 6);
    else
        memcpy(f, our_mac, 6);
    memcpy(f + 6, peer_mac, 6);
    put_be16(f + 12, 0x0806);
    static const uint8_t hdr[6] = {0, 1, 8, 0, 6, 4};
    memcpy(f + 14, hdr, 6);
    put_be16(f + 20, op);
    memcpy(f + 22, peer_mac, 6);
    put_be32(f + 28, PEER_IP);
    if (op == 1)
        memset(f + 32, 0, 6);
    else
        memcpy(f + 32, our_mac, 6);
    put_be32(f + 38, OUR_IP);
    input(f, sizeof(f));
}

/* The peer answers the stack's ARP requests for it (once its entry has aged out, after a
 * long step), as a host would, unless a record has made it deaf. */
static void answer_arp(void)
{
    if (fz.arp_asked && !fz.peer_deaf) {
        fz.arp_asked = false;
        peer_arp(2);
    }
}

static bool fuzz_setup(void)
{
    static const uint16_t ports[SLOTS][2] = {
        [S_SYN_RECEIVED] = {7, 40000},   [S_UNACKED] = {7, 40001},
        [S_OUT_OF_ORDER] = {7, 40002},   [S_ZERO_WINDOW] = {7, 40003},
        [S_FIN_WAIT_1] = {7, 40004},     [S_FIN_WAIT_2] = {7, 40005},
        [S_CLOSE_WAIT] = {7, 40006},     [S_LAST_ACK] = {7, 40007},
        [S_TIME_WAIT] = {7, 40008},      [S_CLOSING] = {7, 40009},
        [S_SYN_SENT] = {33010, 5000},    [S_ACTIVE] = {33011, 5001},
        [S_KEEPALIVE] = {7, 40012},      [S_NEW_1] = {7, 40013},
        [S_NEW_2] = {7, 40014},          [S_COOKIE] = {9, 40015},
        [S_NO_LISTENER] = {4444, 40016}, [S_ACTIVE_NEW] = {33017, 5002},
    };
    memset(&fz, 0, sizeof(fz));
    for (int i = 0; i < SLOTS; i++) {
        fz.slots[i].lport = ports[i][0];
        fz.slots[i].rport = ports[i][1];
        fz.slots[i].ts = true;
    }
    fz.slots[S_ACTIVE].ts = false;

    struct tapir_config cfg;
    tapir_config_defaults(&cfg);
    memcpy(cfg.mac, our_mac, 6);
    cfg.addr.s_addr = htonl(OUR_IP);
    cfg.gateway.s_addr = htonl(PEER_IP);
    cfg.prefix_len = 24;
    cfg.seed = 1;
    cfg.pkb_frames = 128; /* small pools, so running out is reachable */
    cfg.pkb_large_frames = 4;
    cfg.ipfrag_max_datagrams = 4;
    cfg.arp_cache_entries = 8;
    cfg.tcp_rcvbuf_bytes = 65536; /* a window a few records can fill */
    cfg.tcp_sndbuf_bytes = 65536;
    cfg.mem_budget_bytes = 1u << 20;  /* the least allowed: a few records can exhaust it */
    if (getenv("TAPIR_FUZZ_TRACE")) { /* to follow one input: every layer traced to stderr */
        cfg.trace_out = stderr;
        cfg.trace_mask = TAPIR_TRACE_ALL;
    }
    struct tapir_driver drv = {.send = fuzz_send, .ctx = &fz};
    fz.st = tapir_stack_new(&cfg, &drv);
    if (!fz.st)
        return false;
    fz.now = 1000000;
    tapir_start(fz.st, fz.now);
    peer_arp(1);
    fz.listen7 = listener(7, 8);
    build_connections();
    fill_syn_queue();
    build_udp_and_ip();
    tick();
    if (getenv("TAPIR_FUZZ_TRACE")) {
        const struct tapir_mem_stats *m = &tapir_stats(fz.st)->mem;
        fprintf(stderr, "fuzz_stateful: set up, %llu bytes in use, %llu allocations refused\n",
                (unsigned long long)m->in_use_bytes, (unsigned long long)m->budget_refused);
        tapir_conns_print(fz.st, stderr);
    }
    return true;
}

/* ---- Records -------------------------------------------------------------------------------- */

struct rd {
    const uint8_t *p;
    size_t n;
};

static uint8_t rd8(struct rd *r)
{
    if (!r->n)
        return 0;
    r->n--;
    return *r->p++;
}

static uint16_t rd16(struct rd *r)
{
    uint16_t hi = rd8(r);
    return (uint16_t)(hi << 8 | rd8(r));
}

static const uint8_t *rdn(struct rd *r, size_t *len)
{
    const uint8_t *p = r->p;
    if (*len > r->n)
        *len = r->n;
    r->p += *len;
    r->n -= *len;
    return p;
}

static uint64_t step_us(uint8_t dt)
{
    if (dt < 100)
        return dt * 1000ull;
    if (dt < 200)
        return (dt - 100u) * 100000ull;
    return (dt - 200u) * 10000000ull;
}

static struct slot *rd_slot(struct rd *r)
{
    return &fz.slots[rd8(r) % SLOTS];
}

static struct slot *record_segment(struct rd *r)
{
    struct slot *sl = rd_slot(r);
    struct seg_spec g = {.flags = rd8(r)};
    uint8_t mode = rd8(r);
    int16_t seq_off = (int16_t)rd16(r), ack_off = (int16_t)rd16(r);
    g.wnd = rd16(r);
    g.urp = rd16(r);
    g.plen = rd16(r);
    g.olen = rd8(r) % 41;
    g.opts = rdn(r, &g.olen);
    g.nsack = rd8(r) % 5;
    g.no_ts = mode & 0x10;
    g.old_ts = mode & 0x20;
    g.bad_csum = mode & 0x40;
    g.frag = mode & 0x80;

    struct tcp_conn *c = conn_of(sl);
    uint32_t rcv_nxt = c ? c->rcv_nxt : sl->seen_ack;
    uint32_t una = c ? c->snd_una : sl->seen_end;
    uint32_t seq_base[4] = {rcv_nxt, c ? c->rcv_adv : rcv_nxt, sl->peer_nxt, c ? c->irs : 0};
    uint32_t ack_base[4] = {c ? c->snd_nxt : sl->seen_end, una, c ? c->snd_max : sl->seen_end,
                            c ? c->iss : 0};
    g.seq = seq_base[mode & 3] + (uint32_t)(int32_t)seq_off;
    g.ack = ack_base[(mode >> 2) & 3] + (uint32_t)(int32_t)ack_off;
    for (unsigned i = 0; i < g.nsack; i++) {
        int16_t start = (int16_t)rd16(r);
        uint16_t len = rd16(r);
        g.sack[i][0] = una + (uint32_t)(int32_t)start;
        g.sack[i][1] = g.sack[i][0] + len;
    }
    send_seg(sl, &g);
    return sl;
}

enum app_action {
    APP_SEND,
    APP_RECV,
    APP_CLOSE,
    APP_SHUTDOWN,
    APP_NODELAY,
    APP_QUICKACK,
    APP_KEEPALIVE,
    APP_BUFFERS,
    APP_ACCEPT,
    APP_CONNECT,
    APP_CUBIC,
    APP_INFO,
    APP_UDP_SEND,
    APP_PING,
    APP_LISTENER,
    APP_PEER_DEAF,
    APP_ACTIONS
};

static struct slot *record_app(struct rd *r)
{
    struct slot *sl = rd_slot(r);
    uint8_t action = rd8(r) % APP_ACTIONS;
    uint16_t arg = rd16(r);
    struct tapir_sock *s = sl->sock;
    switch (action) {
    case APP_SEND:
        app_send(sl, arg);
        break;
    case APP_RECV:
        if (s)
            tapir_sock_recvfrom(s, read_buf, arg, (arg & 0x8000) ? MSG_PEEK : 0, NULL, NULL);
        break;
    case APP_CLOSE:
        app_close(sl);
        break;
    case APP_SHUTDOWN:
        if (s)
            tapir_sock_shutdown(s, arg % 3); /* SHUT_RD, SHUT_WR, SHUT_RDWR */
        break;
    case APP_NODELAY:
        set_int(s, IPPROTO_TCP, TCP_NODELAY_OPT, arg & 1);
        break;
    case APP_QUICKACK:
        set_int(s, IPPROTO_TCP, TCP_QUICKACK_OPT, arg & 1);
        break;
    case APP_KEEPALIVE:
        set_int(s, IPPROTO_TCP, TCP_KEEPIDLE_OPT, 1 + arg % 8);
        set_int(s, IPPROTO_TCP, TCP_KEEPINTVL_OPT, 1 + (arg >> 3) % 4);
        set_int(s, IPPROTO_TCP, TCP_KEEPCNT_OPT, 1 + (arg >> 5) % 4);
        set_int(s, SOL_SOCKET, SO_KEEPALIVE, !(arg & 0x8000));
        break;
    case APP_BUFFERS:
        set_int(s, SOL_SOCKET, (arg & 1) ? SO_SNDBUF : SO_RCVBUF, (arg >> 1) * 8);
        break;
    case APP_ACCEPT:
        accept_all(sl->lport == 9 ? fz.listen9 : fz.listen7);
        break;
    case APP_CONNECT:
        /* Only the slots of our own opens connect, and only once their connection is gone. */
        if (sl->lport > 30000 && !sl->sock && !conn_of(sl))
            connect_slot(sl);
        break;
    case APP_CUBIC:
        if (s)
            tapir_sock_setopt(s, IPPROTO_TCP, TCP_CONGESTION_OPT, (arg & 1) ? "cubic" : "reno", 5);
        break;
    case APP_INFO:
        if (s) {
            socklen_t len = arg % 512;
            tapir_sock_getopt(s, IPPROTO_TCP, TCP_INFO_OPT, read_buf, &len);
        }
        break;
    case APP_UDP_SEND:
        /* To a neighbour by its last byte: 10.0.0.1 answers ARP, the rest do not. */
        if (fz.udp_other) {
            struct sockaddr_in to = {.sin_family = AF_INET,
                                     .sin_port = htons(9),
                                     .sin_addr.s_addr = htonl(0x0a000000u | (arg & 0xff))};
            size_t n = (size_t)(arg >> 8) * 300; /* past 65507: EMSGSIZE */
            tapir_sock_sendto(fz.udp_other, pattern, n < sizeof(pattern) ? n : sizeof(pattern), 0,
                              &to);
        }
        break;
    case APP_PING:
        if (fz.ping) {
            struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(PEER_IP)};
            uint8_t echo[64] = {8, 0};
            tapir_sock_sendto(fz.ping, echo, 8 + arg % 56, 0, &to);
        }
        break;
    case APP_LISTENER:
        /* Closing a listener drops its queues; the next one listens afresh. */
        if (sl->lport == 7) {
            if (fz.listen7)
                tapir_sock_close(fz.listen7);
            fz.listen7 = (arg & 1) ? listener(7, arg >> 1 & 15) : NULL;
        }
        break;
    case APP_PEER_DEAF:
        /* The peer stops (or starts again) answering ARP: once its entry ages out, what the
         * stack sends waits on ARP and is dropped when ARP gives up. */
        fz.peer_deaf = arg & 1;
        break;
    }
    return sl;
}

/* An ICMP error from the peer about one of our segments on the slot's connection: the
 * quoted header carries the connection's ports and SND.UNA plus an offset. */
static struct slot *record_icmp(struct rd *r)
{
    struct slot *sl = rd_slot(r);
    uint8_t type = rd8(r), code = rd8(r);
    int16_t seq_off = (int16_t)rd16(r);
    uint16_t info = rd16(r);
    struct tcp_conn *c = conn_of(sl);
    uint8_t *m = l4_buf, *q = m + 8;
    memset(m, 0, 8 + 20 + 8);
    m[0] = type;
    m[1] = code;
    put_be16(m + 6, info); /* next-hop MTU of "fragmentation needed", a pointer, ... */
    q[0] = 0x45;
    put_be16(q + 2, 20 + 40);
    q[8] = 64;
    q[9] = 6;
    put_be32(q + 12, OUR_IP);
    put_be32(q + 16, PEER_IP);
    put_be16(q + 10, fold(sum16(0, q, 20)));
    put_be16(q + 20, sl->lport);
    put_be16(q + 22, sl->rport);
    put_be32(q + 24, (c ? c->snd_una : sl->seen_end) + (uint32_t)(int32_t)seq_off);
    put_be16(m + 2, fold(sum16(0, m, 8 + 20 + 8)));
    send_ipv4(PEER_IP, 1, m, 8 + 20 + 8, 0);
    return sl;
}

static void record_raw(struct rd *r)
{
    size_t len = rd16(r);
    const uint8_t *f = rdn(r, &len);
    input(f, len);
}

/* ---- The end: everything closed, every timer run out ---------------------------------------- */

/* After each record: the connection it named still holds together, and the pools are within
 * their bounds. (Every slot is checked at the end, before the teardown.) */
static void check_after(const struct slot *sl)
{
    const struct tcp_conn *c = sl ? conn_of(sl) : NULL;
    if (c)
        check_conn(c);
    if (tapir_stats(fz.st)->mem.pkb_in_use > 128 + 4)
        fail("more packet buffers in use than the pools have");
}

/* The peer aborts what the application still holds open: a reset at exactly RCV.NXT (RFC
 * 5961 §3.2 accepts nothing else), acknowledging our SYN when that is all we sent. What the
 * application had closed already is left to run its course. */
static void peer_resets_open(void)
{
    for (int i = 0; i < SLOTS; i++) {
        struct slot *sl = &fz.slots[i];
        struct tcp_conn *c = sl->sock ? conn_of(sl) : NULL;
        if (!c || c->state == TCP_TIME_WAIT)
            continue;
        struct seg_spec g = {.flags = TCP_RST, .seq = c->rcv_nxt, .no_ts = true};
        if (c->state == TCP_SYN_SENT) {
            g.flags |= TCP_ACK;
            g.ack = c->snd_nxt;
        }
        send_seg(sl, &g);
    }
}

static void fuzz_teardown(void)
{
    for (int i = 0; i < SLOTS; i++)
        check_after(&fz.slots[i]);
    accept_all(fz.listen7);
    accept_all(fz.listen9);
    peer_resets_open();
    for (int i = 0; i < SLOTS; i++)
        app_close(&fz.slots[i]);
    struct tapir_sock *socks[] = {fz.listen7, fz.listen9, fz.udp_echo, fz.udp_other, fz.ping};
    for (size_t i = 0; i < sizeof(socks) / sizeof(socks[0]); i++)
        if (socks[i])
            tapir_sock_close(socks[i]);
    /* Orphans retransmit, probe and time out; TIME_WAIT ends; ARP gives up; reassembly times
     * out. The stack must go quiet within a bounded number of steps, and then hold nothing. */
    for (int steps = 0; tapir_next_deadline(fz.st) != UINT64_MAX; steps++) {
        if (steps > 100000)
            fail("timers still firing after 100000 steps: the stack never goes quiet");
        uint64_t t = tapir_next_deadline(fz.st);
        if (t > fz.now)
            fz.now = t;
        tapir_timers(fz.st, fz.now);
        answer_arp();
    }
    const struct tapir_stats *s = tapir_stats(fz.st);
    if (s->mem.pkb_in_use != 0)
        fail("a packet buffer still in use after everything closed and every timer ran out");
    if (s->tcp.conns_allocated != s->tcp.conns_freed) {
        tapir_conns_print(fz.st, stderr); /* which one */
        fail("a connection block never freed after everything closed and every timer ran out");
    }
    tapir_stack_free(fz.st);
    fz.st = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!pattern[1])
        for (size_t i = 0; i < sizeof(pattern); i++)
            pattern[i] = (uint8_t)('a' + i % 26);
    if (!fuzz_setup())
        fail("the stack could not be set up");
    size_t records = 0;
    struct rd r = {data, size};
    while (r.n >= 2) {
        uint8_t kind = rd8(&r);
        fz.now += step_us(rd8(&r));
        tapir_timers(fz.st, fz.now);
        struct slot *sl = NULL;
        switch (kind % 4) {
        case 0:
            sl = record_segment(&r);
            break;
        case 1:
            sl = record_app(&r);
            break;
        case 2:
            sl = record_icmp(&r);
            break;
        case 3:
            record_raw(&r);
            break;
        }
        answer_arp();
        drain_udp();
        check_after(sl);
        records++;
    }
    if (getenv("TAPIR_FUZZ_TRACE")) {
        fprintf(stderr, "fuzz_stateful: %zu records\n", records);
        tapir_conns_print(fz.st, stderr);
    }
    fuzz_teardown();
    return 0;
}
