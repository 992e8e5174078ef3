/* SPDX-License-Identifier: MIT */
/* tcp_sock.c: stream sockets: what the socket calls mean for a TCP connection (RFC 9293
 * §3.10's user calls: OPEN, SEND, RECEIVE, CLOSE, ABORT), with Linux's errnos. sock.c sends
 * each call here when the socket is SOCK_STREAM. */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include "core.h"
#include "ipv4.h"
#include "sock.h"
#include "tcp.h"

#define TCP_BACKLOG_MAX 4096 /* Linux's somaxconn */

void tcp_wake(struct tcp_conn *c)
{
    struct tapir_sock *s = c->sock;
    if (!s)
        return;
    if (c->error && !c->error_posted) {
        s->so_error = c->error; /* reported once, by the next call, as Linux's sk_err */
        c->error_posted = true;
    }
    sock_wake(s);
}

int tcp_sock_open(struct tapir_sock *s)
{
    struct tcp_conn *c = tcp_conn_new(s->st);
    if (!c)
        return tcp_conn_limit_reached(s->st) ? -ENOBUFS : -ENOMEM;
    c->sock = s;
    s->tcp = c;
    /* As Linux's getsockopt: SO_RCVBUF and SO_SNDBUF read twice what the data may use. */
    s->rcvbuf_bytes = 2u * s->st->cfg.tcp_rcvbuf_bytes;
    s->sndbuf_bytes = 2u * s->st->cfg.tcp_sndbuf_bytes;
    return 0;
}

/* The connection's buffers follow the socket's SO_RCVBUF and SO_SNDBUF (half of each, the
 * other half being Linux's bookkeeping allowance). The window scale is fixed on the SYN, so
 * a buffer grown later offers at most 65535 << wscale. */
void tcp_sock_buffers(struct tapir_sock *s)
{
    struct tcp_conn *c = s->tcp;
    if (!c)
        return;
    c->sndq.limit = s->sndbuf_bytes / 2 > c->sndq.len ? s->sndbuf_bytes / 2 : c->sndq.len;
    uint32_t r = s->rcvbuf_bytes / 2;
    c->rcvq.limit = r > c->rcvq.len ? r : c->rcvq.len;
}

int tcp_sock_listen(struct tapir_sock *s, int backlog)
{
    struct tcp_conn *c = s->tcp;
    backlog = backlog < 0 ? 0 : backlog > TCP_BACKLOG_MAX ? TCP_BACKLOG_MAX : backlog;
    if (c->state == TCP_LISTEN) {
        c->backlog = (unsigned)backlog; /* listen again: a new backlog, as Linux allows */
        return 0;
    }
    if (c->state != TCP_CLOSED || s->connected)
        return -EINVAL;
    int rc = sock_autobind(s);
    if (rc < 0)
        return rc;
    c->local_addr = s->local_addr;
    c->local_port = s->local_port;
    c->backlog = (unsigned)backlog;
    tcp_sock_buffers(s);
    tcp_set_state(c, TCP_LISTEN);
    return 0;
}

struct tapir_sock *sock_tcp_listener(struct tapir_stack *st, uint32_t addr, uint16_t port)
{
    struct tapir_sock *any = NULL;
    for (struct tapir_sock *s = st->udp.tcp_ports[port_bucket(port)]; s; s = s->port_next) {
        if (s->local_port != port || !s->tcp || s->tcp->state != TCP_LISTEN)
            continue;
        if (s->local_addr == addr)
            return s; /* an exact address beats the wildcard */
        if (!s->local_addr)
            any = s;
    }
    return any;
}

int tcp_sock_accept(struct tapir_sock *s, struct tapir_sock **out, struct sockaddr_in *peer)
{
    struct tcp_conn *l = s->tcp;
    if (l->state != TCP_LISTEN)
        return -EINVAL;
    struct tcp_conn *c = l->accept_head;
    if (!c)
        return -EAGAIN;
    struct tapir_sock *ns;
    int rc = sock_alloc(s->st, SOCK_STREAM, IPPROTO_TCP, &ns);
    if (rc < 0)
        return rc;
    l->accept_head = c->queue_next;
    if (!l->accept_head)
        l->accept_tail = NULL;
    l->accept_count--;
    c->queue_next = NULL;
    c->listener = NULL;
    c->in_accept_queue = false;
    ns->tcp = c;
    c->sock = ns;
    ns->local_addr = c->local_addr;
    ns->local_port = c->local_port;
    ns->remote_addr = c->remote_addr;
    ns->remote_port = c->remote_port;
    ns->connected = true;
    ns->rcvbuf_bytes = s->rcvbuf_bytes;
    ns->sndbuf_bytes = s->sndbuf_bytes;
    ns->nodelay = s->nodelay;
    c->nodelay = s->nodelay;
    if (peer)
        sock_fill(peer, c->remote_addr, c->remote_port);
    tcp_wake(c); /* posts an error that came before accept (a reset) */
    *out = ns;
    return 0;
}

/* A fresh active open may reuse a socket whose last connection ended. */
static void tcp_reset_for_open(struct tcp_conn *c)
{
    ring_release(c->st, &c->sndq);
    ring_release(c->st, &c->rcvq);
    c->ooo_count = 0;
    c->fin_pending = c->fin_sent = c->fin_received = false;
    c->error = 0;
    c->error_posted = false;
    c->retries = 0;
    c->rto_us = c->rto_base_us = TCP_RTO_INITIAL_US;
    c->srtt_us = c->rttvar_us = c->rtt_min_us = c->rtt_last_us = 0;
    c->rtt_timing = c->syn_lost = false;
    c->cwnd = 0; /* congestion control starts with the handshake's end */
    c->in_recovery = false;
    c->dupacks = 0;
    c->max_snd_wnd = 0;
    c->rcv_seg_max_bytes = 0;
    c->last_send_us = 0;
    tcp_sack_clear(c);
    c->retransmits = c->rexmit_segs = c->fast_retransmits = c->rexmit_bytes = 0;
    c->bytes_sent = c->bytes_acked_total = c->bytes_received = c->segs_out = c->segs_in = 0;
}

int tcp_sock_connect(struct tapir_sock *s, const struct sockaddr_in *sa)
{
    struct tapir_stack *st = s->st;
    struct tcp_conn *c = s->tcp;
    switch (c->state) {
    case TCP_CLOSED: break;
    case TCP_LISTEN: return -EINVAL;
    case TCP_SYN_SENT:
    case TCP_SYN_RECEIVED: return -EALREADY;
    default: return -EISCONN;
    }
    if (!sa)
        return -EINVAL;
    if (sa->sin_family != AF_INET)
        return -EAFNOSUPPORT;
    uint32_t addr = ntohl(sa->sin_addr.s_addr), next_hop;
    uint16_t port = ntohs(sa->sin_port);
    int rc = ipv4_route(st, addr, &next_hop);
    if (rc < 0 || ipv4_is_broadcast(st, addr))
        return -ENETUNREACH;
    if ((rc = sock_autobind(s)) < 0)
        return rc;
    if (!s->local_addr)
        s->local_addr = st->ip_addr;
    /* That 4-tuple may still be in use (TIME_WAIT): with a port of our choosing, choose
     * another, as Linux's __inet_hash_connect moves on; a bound port is the caller's. */
    for (unsigned tries = 0; tcp_lookup(st, s->local_addr, s->local_port, addr, port); tries++) {
        if (s->port_bound || tries == TCP_CONNECT_PORT_TRIES)
            return -EADDRNOTAVAIL;
        if ((rc = sock_autobind_again(s)) < 0)
            return rc;
        if (!s->local_addr)
            s->local_addr = st->ip_addr;
    }
    tcp_reset_for_open(c);
    tcp_sock_buffers(s);
    c->local_addr = s->local_addr;
    c->local_port = s->local_port;
    c->remote_addr = addr;
    c->remote_port = port;
    s->remote_addr = addr;
    s->remote_port = port;
    s->connected = true;
    c->iss = tcp_isn(st, c);
    c->snd_una = c->snd_nxt = c->snd_max = c->iss;
    c->recover = c->iss;
    c->snd_wnd = 0;
    tcp_offer_options(c);
    c->rcv_nxt = c->rcv_adv = 0;
    tcp_hash_add(c);
    tcp_set_state(c, TCP_SYN_SENT);
    tcp_output(c); /* <SEQ=ISS><CTL=SYN> */
    return -EINPROGRESS;
}

int tcp_sock_connected(struct tapir_sock *s)
{
    struct tcp_conn *c = s->tcp;
    if (s->so_error)
        return sock_take_error(s);
    switch (c->state) {
    case TCP_SYN_SENT:
    case TCP_SYN_RECEIVED: return -EAGAIN;
    case TCP_CLOSED:
    case TCP_LISTEN: return s->connected ? -ECONNRESET : -ENOTCONN;
    default: return 0;
    }
}

ssize_t tcp_sock_send(struct tapir_sock *s, const void *buf, size_t len)
{
    struct tcp_conn *c = s->tcp;
    if (s->so_error)
        return sock_take_error(s);
    if (s->shut_wr || c->fin_pending)
        return -EPIPE;
    switch (c->state) {
    case TCP_ESTABLISHED:
    case TCP_CLOSE_WAIT: break;
    case TCP_SYN_SENT:
    case TCP_SYN_RECEIVED: return -EAGAIN; /* a blocking caller waits for the handshake */
    case TCP_CLOSED:
    case TCP_LISTEN: return s->connected ? -EPIPE : -ENOTCONN;
    default: return -EPIPE;
    }
    if (len == 0)
        return 0;
    if (!buf)
        return -EFAULT;
    uint32_t room = ring_free(&c->sndq);
    uint32_t n = len < room ? (uint32_t)len : room;
    if (n == 0)
        return -EAGAIN;
    int rc = ring_write_at(s->st, &c->sndq, c->sndq.len, buf, n);
    if (rc == -ENOMEM) {
        /* Over the memory budget the ring cannot grow: take what fits in it as it is. With
         * data in flight, its ACKs make room (POLLOUT then); with none, there is nothing to
         * wait for, and the caller learns why. */
        c->snd_mem_limited = true;
        room = ring_room_now(&c->sndq);
        n = n < room ? n : room;
        if (n == 0)
            return c->sndq.len ? -EAGAIN : -ENOBUFS;
        rc = ring_write_at(s->st, &c->sndq, c->sndq.len, buf, n);
    } else if (rc == 0) {
        c->snd_mem_limited = false;
    }
    if (rc < 0)
        return rc;
    c->sndq.len += n;
    s->st->stats.tcp.tx_bytes += n;
    tcp_output(c);
    return n;
}

/* RFC 1122 §4.2.3.3: after the application reads, announce the larger window once it has
 * grown by a full segment or half the buffer, whichever is less, so the sender can go on
 * (and small updates, silly windows, are not sent). And, as Linux's tcp_cleanup_rbuf, only
 * once what the peer may still send has fallen to half the buffer and the window would at
 * least double: while data flows, the ACKs for it carry the window anyway, and an update
 * from the reading thread per segment read would double the ACKs. */
static void tcp_window_update(struct tcp_conn *c)
{
    uint32_t offered = seq_gt(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv - c->rcv_nxt : 0;
    uint32_t now = tcp_rcv_window(c);
    uint32_t step = c->rcv_mss < c->rcvq.limit / 2 ? c->rcv_mss : c->rcvq.limit / 2;
    bool worth_it = offered <= c->rcvq.limit / 2 && now / 2 >= offered;
    if (now >= offered + step && worth_it && c->state != TCP_CLOSED) {
        c->ack_now = true;
        tcp_output(c);
    }
}

ssize_t tcp_sock_recv(struct tapir_sock *s, void *buf, size_t len, int flags,
                      struct sockaddr_in *src)
{
    struct tcp_conn *c = s->tcp;
    uint32_t avail = c->rcvq.len;
    if (avail && len) {
        if (!buf)
            return -EFAULT;
        uint32_t n = len < avail ? (uint32_t)len : avail;
        ring_read_at(&c->rcvq, 0, buf, n);
        if (src)
            sock_fill(src, c->remote_addr, c->remote_port);
        if (!(flags & MSG_PEEK)) {
            ring_consume(&c->rcvq, n);
            if (c->ooo_count == 0) /* out-of-order bytes live past len */
                ring_trim(s->st, &c->rcvq);
            tcp_window_update(c);
        }
        return n;
    }
    if (s->so_error)
        return sock_take_error(s);
    if (len == 0 && avail)
        return 0;
    if (c->fin_received)
        return 0; /* the peer's FIN: end of stream */
    switch (c->state) {
    case TCP_LISTEN: return -ENOTCONN;
    case TCP_CLOSED: return s->connected ? 0 : -ENOTCONN;
    default: return -EAGAIN;
    }
}

/* As Linux's tcp_poll. */
short tcp_sock_events(const struct tapir_sock *s)
{
    const struct tcp_conn *c = s->tcp;
    if (c->state == TCP_LISTEN)
        return c->accept_head ? POLLIN : 0;
    short ev = 0;
    if ((s->shut_rd && s->shut_wr) || c->state == TCP_CLOSED)
        ev |= POLLHUP;
    if (s->shut_rd || c->fin_received)
        ev |= POLLIN | POLLRDHUP;
    if (c->state != TCP_SYN_SENT && c->state != TCP_SYN_RECEIVED) {
        if (c->rcvq.len)
            ev |= POLLIN;
        /* Short of memory, room is what the ring holds; an empty ring may try to grow. */
        bool limited = c->snd_mem_limited && c->sndq.len;
        uint32_t room = limited ? ring_room_now(&c->sndq) : ring_free(&c->sndq);
        if (s->shut_wr || c->fin_pending || room > 0)
            ev |= POLLOUT;
    }
    if (s->so_error)
        ev |= POLLERR;
    return ev;
}

/* The application will send no more: a FIN follows the queued data (RFC 9293 §3.10.4). */
static void tcp_close_send(struct tcp_conn *c)
{
    if (c->fin_pending)
        return;
    c->fin_pending = true;
    if (c->state == TCP_ESTABLISHED || c->state == TCP_SYN_RECEIVED)
        tcp_set_state(c, TCP_FIN_WAIT_1);
    else if (c->state == TCP_CLOSE_WAIT)
        tcp_set_state(c, TCP_LAST_ACK);
    tcp_output(c);
}

int tcp_sock_shutdown(struct tapir_sock *s, int how)
{
    struct tcp_conn *c = s->tcp;
    if (c->state == TCP_CLOSED || c->state == TCP_LISTEN)
        return -ENOTCONN;
    if (how != SHUT_WR)
        s->shut_rd = true;
    if (how != SHUT_RD) {
        s->shut_wr = true;
        if (c->state == TCP_SYN_SENT)
            tcp_done(c, 0); /* nothing was ever sent: the open is abandoned */
        else
            tcp_close_send(c);
    }
    sock_wake(s);
    return 0;
}

/* RFC 9293 §3.10.5 ABORT: a reset to the peer, and the connection is gone. */
void tcp_abort(struct tcp_conn *c)
{
    if (c->state != TCP_CLOSED && c->state != TCP_LISTEN && c->state != TCP_SYN_SENT &&
        c->state != TCP_TIME_WAIT && tcp_send_segment(c, c->snd_nxt, TCP_RST | TCP_ACK, 0, 0) == 0)
        c->st->stats.tcp.tx_resets++;
    tcp_done(c, 0);
}

/* A listener closing takes its unaccepted children with it, resetting the established ones
 * as Linux does. */
static void tcp_close_listener(struct tcp_conn *l)
{
    while (l->syn_head) {
        struct tcp_conn *c = l->syn_head;
        tcp_abort(c); /* unlinks and frees it */
    }
    while (l->accept_head) {
        struct tcp_conn *c = l->accept_head;
        l->accept_head = c->queue_next;
        c->listener = NULL;
        c->in_accept_queue = false;
        c->orphan = true;
        tcp_abort(c);
    }
    l->accept_tail = NULL;
    l->accept_count = 0;
}

void tcp_sock_close(struct tapir_sock *s)
{
    struct tcp_conn *c = s->tcp;
    if (!c)
        return;
    bool abort_now = s->linger_on && s->linger_s == 0; /* SO_LINGER {1, 0}: a reset */
    s->tcp = NULL;
    c->sock = NULL;
    c->orphan = true;
    switch (c->state) {
    case TCP_LISTEN:
        tcp_close_listener(c);
        tcp_set_state(c, TCP_CLOSED); /* the trace (and a breakpoint) see a listener end too */
        tcp_conn_free(c);
        return;
    case TCP_CLOSED:
    case TCP_SYN_SENT:
        tcp_done(c, 0); /* frees the orphan */
        return;
    default: break;
    }
    /* RFC 1122 §4.2.2.13: closing with unread data loses it: say so with a reset. */
    if (c->rcvq.len || abort_now) {
        if (c->rcvq.len)
            c->st->stats.tcp.closed_with_unread++;
        tcp_abort(c);
        return;
    }
    if (!tcp_orphan_admit(c)) {
        c->st->stats.tcp.orphans_reset++; /* too many closing already: no graceful close */
        tcp_abort(c);
        return;
    }
    tcp_close_send(c);
    if (c->state == TCP_FIN_WAIT_2)
        tcp_orphan_fin_wait_2(c);
}

/* ---- Options ---------------------------------------------------------------------------- */

#define TCP_KEEP_MAX_S 32767 /* Linux's MAX_TCP_KEEPIDLE and MAX_TCP_KEEPINTVL */
#define TCP_KEEPCNT_MAX 127  /* Linux's MAX_TCP_KEEPCNT */

int tcp_sock_keepalive(struct tapir_sock *s, bool on)
{
    struct tcp_conn *c = s->tcp;
    if (!c)
        return 0;
    c->keepalive_on = on;
    c->keep_probes = 0;
    if (on && !c->last_rx_us)
        c->last_rx_us = s->st->now_us;
    tcp_arm_keepalive(c);
    return 0;
}

int tcp_sock_setopt(struct tapir_sock *s, int name, int v)
{
    struct tcp_conn *c = s->tcp;
    switch (name) {
    case TCP_NODELAY_OPT:
        s->nodelay = v != 0;
        if (c) {
            c->nodelay = s->nodelay;
            tcp_output(c); /* as Linux: what Nagle held goes now */
        }
        return 0;
    case TCP_KEEPIDLE_OPT:
    case TCP_KEEPINTVL_OPT:
        if (v < 1 || v > TCP_KEEP_MAX_S)
            return -EINVAL;
        if (c && name == TCP_KEEPIDLE_OPT)
            c->keep_idle_us = (uint64_t)v * 1000000u;
        else if (c)
            c->keep_intvl_us = (uint64_t)v * 1000000u;
        if (c)
            tcp_arm_keepalive(c);
        return 0;
    case TCP_KEEPCNT_OPT:
        if (v < 1 || v > TCP_KEEPCNT_MAX)
            return -EINVAL;
        if (c)
            c->keep_cnt = (unsigned)v;
        return 0;
    case TCP_QUICKACK_OPT:
        if (c) {
            c->quickack = v != 0;
            if (c->quickack && timer_armed(&c->delack)) {
                c->ack_now = true; /* as Linux: a pending delayed ACK goes now */
                tcp_output(c);
            }
        }
        return 0;
    default: return -ENOPROTOOPT;
    }
}

int tcp_sock_set_congestion(struct tapir_sock *s, const void *val, socklen_t len)
{
    char name[16];
    if (!val)
        return -EFAULT;
    if ((int)len < 0)
        return -EINVAL;
    size_t n = len < sizeof(name) - 1 ? len : sizeof(name) - 1;
    memcpy(name, val, n);
    name[n] = 0;
    const struct tcp_cc_ops *cc = tcp_cc_find(name);
    if (!cc)
        return -ENOENT; /* as Linux for an algorithm it does not have */
    struct tcp_conn *c = s->tcp;
    if (c && c->cc != cc) {
        c->cc = cc;
        if (c->cwnd) {
            memset(&c->cc_state, 0, sizeof(c->cc_state));
            cc->init(c);
        }
    }
    return 0;
}

int tcp_sock_getopt(struct tapir_sock *s, int name, void *val, socklen_t *len)
{
    const struct tcp_conn *c = s->tcp;
    int v;
    switch (name) {
    case TCP_NODELAY_OPT: v = s->nodelay; break;
    case TCP_KEEPIDLE_OPT: v = c ? (int)(c->keep_idle_us / 1000000u) : 0; break;
    case TCP_KEEPINTVL_OPT: v = c ? (int)(c->keep_intvl_us / 1000000u) : 0; break;
    case TCP_KEEPCNT_OPT: v = c ? (int)c->keep_cnt : 0; break;
    case TCP_QUICKACK_OPT: v = c ? c->quickack : 0; break;
    case TCP_CONGESTION_OPT: {
        char name16[16] = {0};
        if (c && c->cc)
            strncpy(name16, c->cc->name, sizeof(name16) - 1);
        return opt_copy_out(val, len, name16, sizeof(name16));
    }
    case TCP_INFO_OPT: {
        struct tapir_conn_info info;
        unsigned char buf[512];
        if (!c)
            return -ENOTCONN;
        tcp_conn_info(c, &info);
        size_t n = tcp_info_fill(&info, buf, sizeof(buf));
        return opt_copy_out(val, len, buf, n);
    }
    default: return -ENOPROTOOPT;
    }
    return opt_copy_out(val, len, &v, sizeof(v));
}
