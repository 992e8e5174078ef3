/* SPDX-License-Identifier: MIT */
/* tapir/sock.h: the core's own non-blocking sockets. A single-threaded program (or a test)
 * that drives tapir_input/tapir_timers itself uses these directly; the blocking BSD-like shim
 * is built on them. Calls return >= 0 or a negative errno, never block, and never raise a
 * signal. Addresses are libc's struct sockaddr_in, in network byte order. */
#ifndef TAPIR_SOCK_H
#define TAPIR_SOCK_H

#include <netinet/in.h>
#include <stddef.h>
#include <sys/types.h>

#include "tapir/stack.h"

#ifdef __cplusplus
extern "C" {
#endif

struct tapir_sock;

/* SOCK_DGRAM with protocol 0 or IPPROTO_UDP is a UDP socket; SOCK_DGRAM with IPPROTO_ICMP is
 * a ping socket, as on Linux: it sends echo requests the caller writes (an 8-byte ICMP header,
 * type 8 code 0, then data; the stack sets the identifier to the socket's port and the
 * checksum) and receives the matching echo replies, header first, with port 0 as the source.
 * -EPROTONOSUPPORT, -ESOCKTNOSUPPORT otherwise; -ENOMEM. */
int tapir_sock_open(struct tapir_stack *st, int type, int protocol, struct tapir_sock **out);
/* Frees the socket; datagrams still queued are discarded. */
void tapir_sock_close(struct tapir_sock *s);

/* -EINVAL (already bound, NULL address), -EAFNOSUPPORT (not AF_INET), -EADDRINUSE,
 * -EADDRNOTAVAIL (neither INADDR_ANY nor our address; broadcasts are received on INADDR_ANY).
 * Port 0 picks an ephemeral port. */
int tapir_sock_bind(struct tapir_sock *s, const struct sockaddr_in *addr);
/* Fixes the peer: later sends may omit it, and only its datagrams are received. AF_UNSPEC
 * dissolves the association. Binds an ephemeral port first if needed. */
int tapir_sock_connect(struct tapir_sock *s, const struct sockaddr_in *addr);

/* For stream sockets (TCP): a datagram socket returns -EOPNOTSUPP, as on Linux. accept gives
 * a new socket, or -EAGAIN when none is waiting. */
int tapir_sock_listen(struct tapir_sock *s, int backlog);
int tapir_sock_accept(struct tapir_sock *s, struct tapir_sock **out, struct sockaddr_in *peer);

/* A stream socket's connect returns -EINPROGRESS; this says how it went: 0 when
 * established, -EAGAIN while the handshake runs, or the error (reported once). */
int tapir_sock_connected(struct tapir_sock *s);

/* One datagram, 0 to 65507 bytes. dst may be NULL on a connected socket (-EDESTADDRREQ if
 * not); -EMSGSIZE, -EACCES (broadcast without SO_BROADCAST), -ENETUNREACH, -ENOBUFS, -EPIPE
 * after shutdown(SHUT_WR), -EOPNOTSUPP for MSG_OOB, -EINVAL for a ping socket's message that
 * is not an echo request, or a pending ICMP error of a connected socket (-ECONNREFUSED, ...).
 * Returns len. */
ssize_t tapir_sock_sendto(struct tapir_sock *s, const void *buf, size_t len, int flags,
                          const struct sockaddr_in *dst);
/* One datagram. Queued datagrams come before a pending ICMP error, which is reported once
 * the queue is empty. A buffer shorter than the datagram gets its beginning and MSG_TRUNC in
 * *msg_flags; the rest is discarded (unless MSG_PEEK). MSG_TRUNC in flags makes the return
 * value the datagram's real length, as on Linux. -EAGAIN when nothing is queued. */
ssize_t tapir_sock_recvfrom(struct tapir_sock *s, void *buf, size_t len, int flags,
                            struct sockaddr_in *src, int *msg_flags);

/* POLLIN when a datagram waits, POLLOUT (a datagram socket can always send), POLLERR when an
 * error is pending; after shutdown(SHUT_RD) POLLIN|POLLRDHUP, after both directions POLLHUP. */
short tapir_sock_events(const struct tapir_sock *s);
/* SHUT_RD, SHUT_WR or SHUT_RDWR (-EINVAL otherwise). Receiving stops (a blocking reader then
 * sees 0 bytes: queued datagrams are still read first), sending gives -EPIPE. As Linux, an
 * unconnected socket returns -ENOTCONN, but the shutdown still takes effect. */
int tapir_sock_shutdown(struct tapir_sock *s, int how);
/* Called (from inside tapir_input/tapir_timers) whenever the events may have changed. */
void tapir_sock_set_wakeup(struct tapir_sock *s, void (*fn)(void *ctx), void *ctx);

/* SOL_SOCKET: SO_REUSEADDR, SO_BROADCAST, SO_RCVBUF, SO_SNDBUF, SO_ERROR (get, clears),
 * SO_TYPE (get). -ENOPROTOOPT for the rest; -EINVAL for a short optlen. */
int tapir_sock_setopt(struct tapir_sock *s, int level, int name, const void *val, socklen_t len);
int tapir_sock_getopt(struct tapir_sock *s, int level, int name, void *val, socklen_t *len);
int tapir_sock_getsockname(const struct tapir_sock *s, struct sockaddr_in *addr);
int tapir_sock_getpeername(const struct tapir_sock *s, struct sockaddr_in *addr); /* -ENOTCONN */

#ifdef __cplusplus
}
#endif
#endif
