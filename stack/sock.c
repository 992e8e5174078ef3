/* SPDX-License-Identifier: MIT */
/* sock.c: the core's non-blocking sockets (datagram sockets for now): open, bind, connect,
 * send, receive, options and a readiness mask. Errors are negative errnos, as the kernel's. */
#include "sock.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include "core.h"

#define SOCK_BUF_MIN 2304u          /* Linux's SOCK_MIN_RCVBUF */
#define SOCK_BUF_MAX (8u << 20)     /* twice the 4 MiB a caller may ask for */

static void sock_wake(struct tapir_sock *s)
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

int tapir_sock_open(struct tapir_stack *st, int type, int protocol, struct tapir_sock **out)
{
    if ((type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) != SOCK_DGRAM)
        return -ESOCKTNOSUPPORT;
    if (protocol != 0 && protocol != IPPROTO_UDP)
        return -EPROTONOSUPPORT;
    struct tapir_sock *s = tapir_mem_alloc(st, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->st = st;
    s->type = SOCK_DGRAM;
    s->protocol = IPPROTO_UDP;
    s->rcvbuf_bytes = st->cfg.sock_rcvbuf_bytes;
    s->sndbuf_bytes = st->cfg.sock_sndbuf_bytes;
    s->all_next = st->udp.all;
    if (st->udp.all)
        st->udp.all->all_prev = s;
    st->udp.all = s;
    *out = s;
    return 0;
}

void tapir_sock_close(struct tapir_sock *s)
{
    if (!s)
        return;
    struct tapir_stack *st = s->st;
    if (s->local_port)
        udp_port_unlink(st, s);
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
    struct tapir_stack *st = s->st;
    if (port == 0) {
        int rc = udp_pick_ephemeral(st, addr, &port);
        if (rc < 0)
            return rc;
    } else if (udp_port_in_use(st, addr, port, s->reuseaddr)) {
        return -EADDRINUSE;
    }
    s->local_addr = addr;
    s->local_port = port;
    udp_port_link(st, s);
    return 0;
}

int tapir_sock_bind(struct tapir_sock *s, const struct sockaddr_in *sa)
{
    uint32_t addr;
    uint16_t port;
    int rc = sock_addr_in(sa, &addr, &port);
    if (rc < 0)
        return rc;
    if (s->local_port)
        return -EINVAL; /* already bound */
    if (addr != 0 && addr != s->st->ip_addr)
        return -EADDRNOTAVAIL;
    return sock_bind_port(s, addr, port);
}

/* An unbound socket that sends or connects gets an ephemeral port on every address. */
static int sock_autobind(struct tapir_sock *s)
{
    return s->local_port ? 0 : sock_bind_port(s, 0, 0);
}

int tapir_sock_connect(struct tapir_sock *s, const struct sockaddr_in *sa)
{
    if (sa && sa->sin_family == AF_UNSPEC) {
        s->connected = false; /* dissolve the association, as connect(2) on UDP allows */
        s->remote_addr = 0;
        s->remote_port = 0;
        return 0;
    }
    uint32_t addr;
    uint16_t port;
    int rc = sock_addr_in(sa, &addr, &port);
    if (rc < 0)
        return rc;
    if (ipv4_is_broadcast(s->st, addr) && !s->broadcast)
        return -EACCES;
    if ((rc = sock_autobind(s)) < 0)
        return rc;
    s->remote_addr = addr;
    s->remote_port = port;
    s->connected = true;
    s->so_error = 0;
    return 0;
}

/* A pending ICMP error is reported by exactly one call, then cleared (as sock_error()). */
static int sock_take_error(struct tapir_sock *s)
{
    int e = s->so_error;
    s->so_error = 0;
    return -e;
}

ssize_t tapir_sock_sendto(struct tapir_sock *s, const void *buf, size_t len, int flags,
                          const struct sockaddr_in *dst)
{
    (void)flags; /* MSG_DONTWAIT and MSG_NOSIGNAL are what every core call does anyway */
    uint32_t addr = s->remote_addr;
    uint16_t port = s->remote_port;
    if (s->connected && s->so_error)
        return sock_take_error(s); /* as Linux: any send on the socket reports it */
    if (dst) {
        int rc = sock_addr_in(dst, &addr, &port);
        if (rc < 0)
            return rc;
    } else if (!s->connected) {
        return -EDESTADDRREQ;
    }
    if (!buf && len)
        return -EFAULT;
    if (len > UDP_MAX_PAYLOAD || len > s->sndbuf_bytes)
        return -EMSGSIZE;
    if (ipv4_is_broadcast(s->st, addr) && !s->broadcast)
        return -EACCES; /* as Linux: sending to a broadcast address needs SO_BROADCAST */
    if (port == 0)
        return -EINVAL;
    int rc = sock_autobind(s);
    if (rc < 0)
        return rc;
    rc = udp_output(s->st, s, buf, len, addr, port);
    return rc < 0 ? rc : (ssize_t)len;
}

ssize_t tapir_sock_recvfrom(struct tapir_sock *s, void *buf, size_t len, int flags,
                            struct sockaddr_in *src, int *msg_flags)
{
    struct pkb *p = s->rxq.head;
    if (msg_flags)
        *msg_flags = 0;
    if (!p)
        return s->so_error ? sock_take_error(s) : -EAGAIN;
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
    short ev = POLLOUT;
    if (s->rxq.head)
        ev |= POLLIN;
    if (s->so_error)
        ev |= POLLERR;
    return ev;
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
 * getsockopt reports the doubled value. */
static uint32_t sock_buf_size(int v)
{
    uint64_t d = v < 0 ? 0 : (uint64_t)v * 2;
    return (uint32_t)(d < SOCK_BUF_MIN ? SOCK_BUF_MIN : d > SOCK_BUF_MAX ? SOCK_BUF_MAX : d);
}

int tapir_sock_setopt(struct tapir_sock *s, int level, int name, const void *val, socklen_t len)
{
    int v, rc;
    if (level != SOL_SOCKET)
        return -ENOPROTOOPT;
    if ((rc = sock_opt_int(val, len, &v)) < 0)
        return rc;
    switch (name) {
    case SO_REUSEADDR: s->reuseaddr = v != 0; return 0;
    case SO_BROADCAST: s->broadcast = v != 0; return 0;
    case SO_RCVBUF: s->rcvbuf_bytes = sock_buf_size(v); return 0;
    case SO_SNDBUF: s->sndbuf_bytes = sock_buf_size(v); return 0;
    default: return -ENOPROTOOPT;
    }
}

int tapir_sock_getopt(struct tapir_sock *s, int level, int name, void *val, socklen_t *len)
{
    int v;
    if (level != SOL_SOCKET)
        return -ENOPROTOOPT;
    if (!val || !len || *len < (socklen_t)sizeof(int))
        return -EINVAL;
    switch (name) {
    case SO_REUSEADDR: v = s->reuseaddr; break;
    case SO_BROADCAST: v = s->broadcast; break;
    case SO_RCVBUF: v = (int)s->rcvbuf_bytes; break;
    case SO_SNDBUF: v = (int)s->sndbuf_bytes; break;
    case SO_ERROR: v = -sock_take_error(s); break;
    case SO_TYPE: v = s->type; break;
    default: return -ENOPROTOOPT;
    }
    memcpy(val, &v, sizeof(v));
    *len = sizeof(v);
    return 0;
}

static void sock_fill(struct sockaddr_in *sa, uint32_t addr, uint16_t port)
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
    sock_fill(sa, s->remote_addr, s->remote_port);
    return 0;
}
