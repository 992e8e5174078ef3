/* SPDX-License-Identifier: MIT */
/* sock.c: the core's non-blocking sockets (datagram sockets for now: UDP, and ICMP ping
 * sockets as on Linux): open, bind, connect, send, receive, shutdown, options and a readiness
 * mask; and the port tables that find a socket by its local port. Errors are negative
 * errnos, as the kernel's. */
#include "sock.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include "core.h"
#include "icmp.h"
#include "tcp.h"

#define SOCK_RCVBUF_MIN 2304u       /* Linux's SOCK_MIN_RCVBUF */
#define SOCK_SNDBUF_MIN 4608u       /* Linux's SOCK_MIN_SNDBUF */
#define SOCK_BUF_MAX (8u << 20)     /* twice the 4 MiB a caller may ask for */

void sock_wake(struct tapir_sock *s)
{
    if (s->wakeup)
        s->wakeup(s->wakeup_ctx);
}

void sock_enqueue(struct tapir_sock *s, struct pkb *p)
{
    s->rx_queued_bytes += p->cap;
    pkb_queue_push(&s->rxq, p);
    sock_wake(s);
}

void sock_set_error(struct tapir_sock *s, int err)
{
    s->so_error = err;
    sock_wake(s);
}

/* The port table a socket lives in: UDP ports, or ping identifiers. */
static struct tapir_sock **sock_ports(struct tapir_sock *s)
{
    if (s->protocol == IPPROTO_TCP)
        return s->st->udp.tcp_ports;
    return s->protocol == IPPROTO_ICMP ? s->st->udp.ping_ids : s->st->udp.ports;
}

static void port_link(struct tapir_sock **table, struct tapir_sock *s)
{
    struct tapir_sock **head = &table[port_bucket(s->local_port)];
    s->port_next = *head;
    *head = s;
}

static void port_unlink(struct tapir_sock **table, struct tapir_sock *s)
{
    struct tapir_sock **pp = &table[port_bucket(s->local_port)];
    while (*pp && *pp != s)
        pp = &(*pp)->port_next;
    if (*pp)
        *pp = s->port_next;
    s->port_next = NULL;
}

/* Would binding (addr, port) clash with a socket already there? Two sockets may share a port
 * when their addresses differ and neither is the wildcard, or when both set SO_REUSEADDR. */
static bool port_in_use(struct tapir_sock *const *table, uint32_t addr, uint16_t port,
                        bool reuseaddr)
{
    for (struct tapir_sock *s = table[port_bucket(port)]; s; s = s->port_next) {
        if (s->local_port != port)
            continue;
        if (s->local_addr && addr && s->local_addr != addr)
            continue;
        if (!(reuseaddr && s->reuseaddr))
            return true;
    }
    return false;
}

static int port_pick_ephemeral(struct tapir_stack *st, struct tapir_sock *const *table,
                               uint32_t addr, uint16_t *port)
{
    /* RFC 6056 §3.3.1, Algorithm 1: start at a random port in the range and walk up until
     * one is free, so successive ports cannot be guessed. */
    const uint32_t count = EPHEMERAL_PORT_MAX - EPHEMERAL_PORT_MIN + 1;
    uint32_t next = EPHEMERAL_PORT_MIN + tapir_rand32(st) % count;
    for (uint32_t i = 0; i < count; i++) {
        if (!port_in_use(table, addr, (uint16_t)next, false)) {
            *port = (uint16_t)next;
            return 0;
        }
        next = next == EPHEMERAL_PORT_MAX ? EPHEMERAL_PORT_MIN : next + 1;
    }
    return -EAGAIN; /* as Linux when the range is exhausted */
}

/* SOCK_DGRAM with 0 or IPPROTO_UDP is UDP, with IPPROTO_ICMP a ping socket; SOCK_STREAM
 * with 0 or IPPROTO_TCP is TCP. */
static int sock_pick_protocol(int type, int protocol)
{
    int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (base == SOCK_STREAM)
        return protocol == 0 || protocol == IPPROTO_TCP ? IPPROTO_TCP : -EPROTONOSUPPORT;
    if (base != SOCK_DGRAM)
        return -ESOCKTNOSUPPORT;
    if (protocol == 0 || protocol == IPPROTO_UDP)
        return IPPROTO_UDP;
    if (protocol == IPPROTO_ICMP)
        return IPPROTO_ICMP;
    return -EPROTONOSUPPORT;
}

int sock_alloc(struct tapir_stack *st, int type, int protocol, struct tapir_sock **out)
{
    struct tapir_sock *s = tapir_mem_alloc(st, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->st = st;
    s->type = type;
    s->protocol = protocol;
    s->rcvbuf_bytes = st->cfg.sock_rcvbuf_bytes;
    s->sndbuf_bytes = st->cfg.sock_sndbuf_bytes;
    s->all_next = st->udp.all;
    if (st->udp.all)
        st->udp.all->all_prev = s;
    st->udp.all = s;
    *out = s;
    return 0;
}

int tapir_sock_open(struct tapir_stack *st, int type, int protocol, struct tapir_sock **out)
{
    int proto = sock_pick_protocol(type, protocol);
    if (proto < 0)
        return proto;
    int base = proto == IPPROTO_TCP ? SOCK_STREAM : SOCK_DGRAM;
    int rc = sock_alloc(st, base, proto, out);
    if (rc == 0 && proto == IPPROTO_TCP && (rc = tcp_sock_open(*out)) < 0)
        tapir_sock_close(*out);
    return rc;
}

void tapir_sock_close(struct tapir_sock *s)
{
    if (!s)
        return;
    struct tapir_stack *st = s->st;
    if (s->tcp)
        tcp_sock_close(s);
    if (s->local_port) /* (an accepted socket is not in the table: then this finds nothing) */
        port_unlink(sock_ports(s), s);
    pkb_queue_purge(st, &s->rxq);
    if (s->all_prev)
        s->all_prev->all_next = s->all_next;
    else
        st->udp.all = s->all_next;
    if (s->all_next)
        s->all_next->all_prev = s->all_prev;
    tapir_mem_free(st, s);
}

/* Reads an AF_INET address; -EINVAL for a NULL or short one, -EAFNOSUPPORT for another
 * family. */
static int sock_addr_in(const struct sockaddr_in *sa, uint32_t *addr, uint16_t *port)
{
    if (!sa)
        return -EINVAL;
    if (sa->sin_family != AF_INET)
        return -EAFNOSUPPORT;
    *addr = ntohl(sa->sin_addr.s_addr);
    *port = ntohs(sa->sin_port);
    return 0;
}

static int sock_bind_port(struct tapir_sock *s, uint32_t addr, uint16_t port)
{
    struct tapir_sock **table = sock_ports(s);
    if (port == 0) {
        int rc = port_pick_ephemeral(s->st, table, addr, &port);
        if (rc < 0)
            return rc;
    } else if (port_in_use(table, addr, port, s->reuseaddr)) {
        return -EADDRINUSE;
    } else if (s->protocol == IPPROTO_TCP && !s->reuseaddr &&
               tcp_port_has_conns(s->st, addr, port)) {
        return -EADDRINUSE; /* as Linux: a port in TIME_WAIT needs SO_REUSEADDR */
    }
    s->local_addr = addr;
    s->local_port = port;
    port_link(table, s);
    return 0;
}

int tapir_sock_bind(struct tapir_sock *s, const struct sockaddr_in *sa)
{
    uint32_t addr;
    uint16_t port;
    /* As Linux's inet_bind: AF_UNSPEC with INADDR_ANY is taken as AF_INET, for old programs. */
    bool unspec_any = sa && sa->sin_family == AF_UNSPEC && sa->sin_addr.s_addr == INADDR_ANY;
    int rc = unspec_any ? (addr = 0, port = ntohs(sa->sin_port), 0) : sock_addr_in(sa, &addr, &port);
    if (rc < 0)
        return rc;
    if (s->local_port)
        return -EINVAL; /* already bound */
    if (addr != 0 && addr != s->st->ip_addr)
        return -EADDRNOTAVAIL;
    if ((rc = sock_bind_port(s, addr, port)) < 0)
        return rc;
    s->addr_bound = addr != 0;
    s->port_bound = port != 0;
    return 0;
}

/* An unbound socket that sends or connects gets an ephemeral port on every address. */
int sock_autobind(struct tapir_sock *s)
{
    return s->local_port ? 0 : sock_bind_port(s, 0, 0);
}

int sock_autobind_again(struct tapir_sock *s)
{
    port_unlink(sock_ports(s), s);
    s->local_port = 0;
    return sock_bind_port(s, 0, 0);
}

/* connect(AF_UNSPEC) dissolves the association, and, as Linux's __udp_disconnect, gives back
 * the address and the port that connect or a first send chose rather than bind. */
static void sock_disconnect(struct tapir_sock *s)
{
    s->connected = false;
    s->remote_addr = 0;
    s->remote_port = 0;
    if (!s->addr_bound)
        s->local_addr = 0;
    if (!s->port_bound && s->local_port) {
        port_unlink(sock_ports(s), s);
        s->local_port = 0;
    }
}

int tapir_sock_connect(struct tapir_sock *s, const struct sockaddr_in *sa)
{
    if (s->protocol == IPPROTO_TCP)
        return tcp_sock_connect(s, sa);
    if (sa && sa->sin_family == AF_UNSPEC) {
        sock_disconnect(s);
        return 0;
    }
    uint32_t addr, next_hop;
    uint16_t port;
    int rc = sock_addr_in(sa, &addr, &port);
    if (rc < 0)
        return rc;
    if ((rc = ipv4_route(s->st, addr, &next_hop)) < 0)
        return rc;
    if (ipv4_is_broadcast(s->st, addr) && !s->broadcast)
        return -EACCES;
    if ((rc = sock_autobind(s)) < 0)
        return rc;
    /* As Linux: connecting fixes our address too (the route's source), so getsockname tells
     * a program which of its addresses it talks from. */
    if (!s->local_addr)
        s->local_addr = s->st->ip_addr;
    s->remote_addr = addr;
    s->remote_port = port;
    s->connected = true;
    s->so_error = 0;
    return 0;
}

int sock_icmp_errno(uint8_t type, uint8_t code)
{
    /* Destination unreachable by code, as Linux's icmp_err_convert: only the "fatal" codes
     * reach a socket that has not asked for every error (IP_RECVERR, which tapir lacks); the
     * soft ones (net or host unreachable, which a route change may cure) are ignored. Code 4,
     * fragmentation needed, is EMSGSIZE, as with path MTU discovery on. */
    static const int unreach[16] = {
        [ICMP_PROTO_UNREACH] = ENOPROTOOPT, [ICMP_PORT_UNREACH] = ECONNREFUSED,
        [ICMP_FRAG_NEEDED] = EMSGSIZE,      [6] = ENETUNREACH,  /* network unknown */
        [7] = EHOSTDOWN,                    /* host unknown */
        [8] = ENONET,                       /* source host isolated */
        [9] = ENETUNREACH,  [10] = EHOSTUNREACH, /* administratively prohibited */
        [13] = EHOSTUNREACH, [14] = EHOSTUNREACH, [15] = EHOSTUNREACH, /* filtered, precedence */
    };
    if (type == ICMP_DEST_UNREACH)
        return code < 16 ? unreach[code] : 0;
    if (type == ICMP_PARAM_PROBLEM)
        return EPROTO;
    return 0; /* time exceeded, source quench (RFC 6633), redirect: soft */
}

/* A pending ICMP error is reported by exactly one call, then cleared (as sock_error()). */
int sock_take_error(struct tapir_sock *s)
{
    int e = s->so_error;
    s->so_error = 0;
    return -e;
}

int tapir_sock_listen(struct tapir_sock *s, int backlog)
{
    if (s->protocol != IPPROTO_TCP)
        return -EOPNOTSUPP; /* only stream sockets listen */
    return tcp_sock_listen(s, backlog);
}

int tapir_sock_accept(struct tapir_sock *s, struct tapir_sock **out, struct sockaddr_in *peer)
{
    if (s->protocol != IPPROTO_TCP)
        return -EOPNOTSUPP;
    return tcp_sock_accept(s, out, peer);
}

int tapir_sock_connected(struct tapir_sock *s)
{
    if (s->protocol != IPPROTO_TCP)
        return s->connected ? 0 : -ENOTCONN;
    return tcp_sock_connected(s);
}

/* A ping socket sends an echo request the caller wrote, header and all; as Linux, the type
 * must be echo with code 0, and the stack fills in the identifier and the checksum. */
static int ping_check(const void *buf, size_t len)
{
    if (len > ICMP_MAX_MSG)
        return -EMSGSIZE;
    if (len < ICMP_HDR_LEN)
        return -EINVAL;
    if (!buf)
        return -EFAULT;
    const uint8_t *h = buf;
    return h[0] == ICMP_ECHO_REQUEST && h[1] == 0 ? 0 : -EINVAL;
}

static int udp_check(const void *buf, size_t len)
{
    if (!buf && len)
        return -EFAULT;
    /* As Linux, a datagram bigger than SO_SNDBUF still goes: the buffer bounds what is
     * queued, and nothing waits in a UDP socket's send queue here. */
    if (len > UDP_MAX_PAYLOAD)
        return -EMSGSIZE;
    return 0;
}

ssize_t tapir_sock_sendto(struct tapir_sock *s, const void *buf, size_t len, int flags,
                          const struct sockaddr_in *dst)
{
    uint32_t addr = s->remote_addr;
    uint16_t port = s->remote_port;
    bool ping = s->protocol == IPPROTO_ICMP;
    if (flags & MSG_OOB)
        return -EOPNOTSUPP;
    if (s->protocol == IPPROTO_TCP)
        return tcp_sock_send(s, buf, len); /* a stream has its peer: dst is ignored */
    /* MSG_DONTWAIT and MSG_NOSIGNAL are what every core call does anyway. */
    if (s->connected && s->so_error)
        return sock_take_error(s); /* as Linux: any send on the socket reports it */
    if (s->shut_wr)
        return -EPIPE;
    if (dst) {
        /* As Linux's udp_sendmsg, AF_UNSPEC is taken as AF_INET (not on a ping socket). */
        struct sockaddr_in as_inet = *dst;
        if (!ping && as_inet.sin_family == AF_UNSPEC)
            as_inet.sin_family = AF_INET;
        int rc = sock_addr_in(&as_inet, &addr, &port);
        if (rc < 0)
            return rc;
    } else if (!s->connected) {
        return -EDESTADDRREQ;
    }
    int rc = ping ? ping_check(buf, len) : udp_check(buf, len);
    if (rc < 0)
        return rc;
    if (ipv4_is_broadcast(s->st, addr) && !s->broadcast)
        return -EACCES; /* as Linux: sending to a broadcast address needs SO_BROADCAST */
    if (port == 0 && !ping) /* a ping socket has no destination port */
        return -EINVAL;
    if ((rc = sock_autobind(s)) < 0)
        return rc;
    rc = ping ? icmp_ping_output(s->st, s, buf, len, addr)
              : udp_output(s->st, s, buf, len, addr, port);
    return rc < 0 ? rc : (ssize_t)len;
}

ssize_t tapir_sock_recvfrom(struct tapir_sock *s, void *buf, size_t len, int flags,
                            struct sockaddr_in *src, int *msg_flags)
{
    struct pkb *p = s->rxq.head;
    if (msg_flags)
        *msg_flags = 0;
    if (s->protocol == IPPROTO_TCP)
        return tcp_sock_recv(s, buf, len, flags, src);
    if (!p)
        return s->so_error ? sock_take_error(s) : -EAGAIN; /* blocking callers check shut_rd */
    size_t n = p->len < len ? p->len : len;
    if (n && !buf)
        return -EFAULT;
    if (n)
        memcpy(buf, p->data, n);
    if (p->len > len && msg_flags)
        *msg_flags |= MSG_TRUNC;
    if (src) {
        memset(src, 0, sizeof(*src));
        src->sin_family = AF_INET;
        src->sin_addr.s_addr = htonl(p->peer_addr);
        src->sin_port = htons(p->peer_port);
    }
    ssize_t ret = (flags & MSG_TRUNC) ? (ssize_t)p->len : (ssize_t)n;
    if (!(flags & MSG_PEEK)) {
        pkb_queue_pop(&s->rxq);
        s->rx_queued_bytes -= p->cap;
        pkb_free(s->st, p);
    }
    return ret;
}

short tapir_sock_events(const struct tapir_sock *s)
{
    if (s->protocol == IPPROTO_TCP)
        return tcp_sock_events(s);
    short ev = POLLOUT;
    if (s->rxq.head)
        ev |= POLLIN;
    if (s->so_error)
        ev |= POLLERR;
    if (s->shut_rd) /* as Linux's datagram_poll: a reader sees the end */
        ev |= POLLIN | POLLRDHUP;
    if (s->shut_rd && s->shut_wr)
        ev |= POLLHUP;
    return ev;
}

int tapir_sock_shutdown(struct tapir_sock *s, int how)
{
    if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
        return -EINVAL;
    if (s->protocol == IPPROTO_TCP)
        return tcp_sock_shutdown(s, how);
    s->shut_rd |= how != SHUT_WR;
    s->shut_wr |= how != SHUT_RD;
    sock_wake(s);
    /* As Linux's inet_shutdown: an unconnected datagram socket reports ENOTCONN, yet the
     * shutdown still takes effect, which is how one thread wakes another blocked in recv. */
    return s->connected ? 0 : -ENOTCONN;
}

void tapir_sock_set_wakeup(struct tapir_sock *s, void (*fn)(void *ctx), void *ctx)
{
    s->wakeup = fn;
    s->wakeup_ctx = ctx;
}

static int sock_opt_int(const void *val, socklen_t len, int *out)
{
    if (!val || len < (socklen_t)sizeof(int))
        return -EINVAL;
    memcpy(out, val, sizeof(int));
    return 0;
}

/* As Linux: the kernel doubles a requested buffer size to allow for its bookkeeping, and
 * getsockopt reports the doubled value. The request is read as unsigned, so a negative one
 * asks for the most. */
static uint32_t sock_buf_size(int v, uint32_t floor)
{
    uint64_t d = (uint64_t)(uint32_t)v * 2;
    return (uint32_t)(d < floor ? floor : d > SOCK_BUF_MAX ? SOCK_BUF_MAX : d);
}

/* SO_LINGER: on with a zero timeout makes close abort with a reset (RFC 9293 §3.10.5);
 * a non-zero timeout is kept and reported, but close never blocks here. */
static int sock_set_linger(struct tapir_sock *s, const void *val, socklen_t len)
{
    struct linger l;
    if (!val || len < (socklen_t)sizeof(l))
        return -EINVAL;
    memcpy(&l, val, sizeof(l));
    s->linger_on = l.l_onoff != 0;
    s->linger_s = l.l_linger < 0 ? 0 : l.l_linger;
    return 0;
}

int tapir_sock_setopt(struct tapir_sock *s, int level, int name, const void *val, socklen_t len)
{
    int v, rc;
    bool tcp_level = level == IPPROTO_TCP && s->protocol == IPPROTO_TCP;
    if (level != SOL_SOCKET && !tcp_level)
        return -ENOPROTOOPT;
    if (level == SOL_SOCKET && name == SO_LINGER)
        return sock_set_linger(s, val, len);
    if (tcp_level && name == TCP_CONGESTION_OPT)
        return tcp_sock_set_congestion(s, val, len); /* a name, not an int */
    if ((rc = sock_opt_int(val, len, &v)) < 0)
        return rc;
    if (tcp_level)
        return tcp_sock_setopt(s, name, v);
    switch (name) {
    case SO_KEEPALIVE: return tcp_sock_keepalive(s, v != 0);
    case SO_REUSEADDR: s->reuseaddr = v != 0; return 0;
    case SO_BROADCAST: s->broadcast = v != 0; return 0;
    case SO_RCVBUF: s->rcvbuf_bytes = sock_buf_size(v, SOCK_RCVBUF_MIN); break;
    case SO_SNDBUF: s->sndbuf_bytes = sock_buf_size(v, SOCK_SNDBUF_MIN); break;
    default: return -ENOPROTOOPT;
    }
    tcp_sock_buffers(s);
    return 0;
}

/* As Linux: a short buffer gets the first bytes of the value, and *len says how many. */
int opt_copy_out(void *val, socklen_t *len, const void *v, size_t size)
{
    socklen_t n = *len < size ? *len : (socklen_t)size;
    memcpy(val, v, n);
    *len = n;
    return 0;
}

int tapir_sock_getopt(struct tapir_sock *s, int level, int name, void *val, socklen_t *len)
{
    int v;
    if (!val || !len)
        return -EFAULT;
    if ((int)*len < 0)
        return -EINVAL;
    if (level == IPPROTO_TCP && s->protocol == IPPROTO_TCP)
        return tcp_sock_getopt(s, name, val, len);
    if (level == SOL_SOCKET && name == SO_LINGER) {
        struct linger l = {.l_onoff = s->linger_on, .l_linger = s->linger_s};
        return opt_copy_out(val, len, &l, sizeof(l));
    }
    if (level != SOL_SOCKET) /* (SOL_SOCKET is 1, as IPPROTO_ICMP: test it first) */
        return level == IPPROTO_IP || level == s->protocol
                   ? -ENOPROTOOPT  /* a level we have, with no options to read yet */
                   : -EOPNOTSUPP; /* as Linux's ip_getsockopt for a foreign level */
    switch (name) {
    case SO_REUSEADDR: v = s->reuseaddr; break;
    case SO_BROADCAST: v = s->broadcast; break;
    case SO_KEEPALIVE: v = s->tcp ? s->tcp->keepalive_on : 0; break;
    case SO_RCVBUF: v = (int)s->rcvbuf_bytes; break;
    case SO_SNDBUF: v = (int)s->sndbuf_bytes; break;
    case SO_ERROR: v = -sock_take_error(s); break;
    case SO_TYPE: v = s->type; break;
    default: return -ENOPROTOOPT;
    }
    return opt_copy_out(val, len, &v, sizeof(v));
}

void sock_fill(struct sockaddr_in *sa, uint32_t addr, uint16_t port)
{
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_addr.s_addr = htonl(addr);
    sa->sin_port = htons(port);
}

int tapir_sock_getsockname(const struct tapir_sock *s, struct sockaddr_in *sa)
{
    if (!sa)
        return -EFAULT;
    sock_fill(sa, s->local_addr, s->local_port);
    return 0;
}

int tapir_sock_getpeername(const struct tapir_sock *s, struct sockaddr_in *sa)
{
    if (!sa)
        return -EFAULT;
    if (!s->connected)
        return -ENOTCONN;
    if (s->tcp && (s->tcp->state == TCP_SYN_SENT || s->tcp->state == TCP_CLOSED))
        return -ENOTCONN; /* as Linux: no peer until the handshake is done */
    sock_fill(sa, s->remote_addr, s->remote_port);
    return 0;
}
