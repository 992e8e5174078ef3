/* SPDX-License-Identifier: MIT */
/* tapir/socket.h: the BSD-like socket shim.
 *
 * Porting a socket program to tapir means adding a prefix: socket() becomes tapir_socket(),
 * recv() becomes tapir_recv(), and so on. The types and constants are libc's own
 * (struct sockaddr_in, socklen_t, AF_INET, SOCK_DGRAM, MSG_PEEK, POLLIN, ...). Every call
 * returns -1 and sets errno on failure, with the errno the Linux kernel would set.
 *
 * A program first starts a host: a stack on a link, with a thread of its own that reads
 * frames and runs timers. Application threads call in under the host's one lock; a blocking
 * call sleeps on a condition variable and uses no CPU until it can finish.
 *
 *   struct tapir_host *h = tapir_open(&cfg, "tap0", msg, sizeof(msg));
 *   int fd = tapir_socket(AF_INET, SOCK_DGRAM, 0);
 *   tapir_bind(fd, (struct sockaddr *)&addr, sizeof(addr));
 *   n = tapir_recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&peer, &peer_len);
 *
 * Descriptors. tapir sockets have descriptors of their own, numbered from TAPIR_FD_BASE so
 * they never collide with the kernel's. Passing one to read(2) or close(2) fails with EBADF,
 * and passing a kernel descriptor to a tapir call fails with EBADF; tapir_poll() is the one
 * call that takes both. The number of open tapir sockets is limited by RLIMIT_NOFILE
 * (ulimit -n), as the kernel's are (EMFILE).
 *
 * Where this departs from Linux, on purpose:
 *   - No call raises SIGPIPE: a send on a shut-down socket returns EPIPE, as if MSG_NOSIGNAL
 *     were always given.
 *   - tapir_close() on a socket another thread is blocked on wakes that thread, which gets
 *     EBADF. (Linux leaves it blocked, which is rarely what a program wants.)
 */
#ifndef TAPIR_SOCKET_H
#define TAPIR_SOCKET_H

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "tapir/stack.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Hosts ------------------------------------------------------------------------------ */

struct tapir_host;

/* A link the host's thread drives: where frames go (driver) and where they come from. */
struct tapir_link {
    struct tapir_driver driver;
    int rx_fd;  /* readable (POLLIN) when frames are waiting */
    /* Feeds every waiting frame into st; called on the host thread under the host lock.
     * Returns how many it fed (busy polling, tapir_config.busy_poll_us, counts on it). */
    int (*receive)(void *rx_ctx, struct tapir_stack *st, uint64_t now_us);
    /* Optional: when a frame already on the link becomes due (UINT64_MAX: none). */
    uint64_t (*next_rx_us)(void *rx_ctx);
    void *rx_ctx;
};

/* Starts a host on the existing TAP interface tap_name and makes it the default for
 * tapir_socket(). Returns NULL with errno set on failure, and one line saying what to do in
 * msg (may be NULL). The stack clock is CLOCK_MONOTONIC in microseconds. */
struct tapir_host *tapir_open(const struct tapir_config *cfg, const char *tap_name, char *msg,
                              size_t msg_len);
/* The same on any link (drivers/wire.c gives one for tests with two hosts in one process). */
struct tapir_host *tapir_open_link(const struct tapir_config *cfg, const struct tapir_link *link);
/* Stops the thread and frees the host. Its sockets are closed: threads blocked on them wake
 * with EBADF, and their descriptors become invalid. */
void tapir_host_close(struct tapir_host *h);
/* Runs fn(stack, arg) under the host lock: for reading counters, tapir_stats_print, or the
 * core calls of tapir/stack.h. fn must not call the shim. */
void tapir_host_call(struct tapir_host *h, void (*fn)(struct tapir_stack *st, void *arg),
                     void *arg);

/* ---- Sockets ---------------------------------------------------------------------------- */

#define TAPIR_FD_BASE (1 << 28)

/* socket(2) on the default host (the last one opened). domain AF_INET; type SOCK_STREAM
 * (protocol 0 or IPPROTO_TCP) or SOCK_DGRAM, optionally | SOCK_NONBLOCK | SOCK_CLOEXEC; for
 * SOCK_DGRAM protocol 0 or IPPROTO_UDP for UDP, IPPROTO_ICMP for a ping socket (send an ICMP
 * echo request header and data; the identifier is the socket's port; receive the echo
 * replies). Errors: EAFNOSUPPORT, ESOCKTNOSUPPORT, EPROTONOSUPPORT, EMFILE, ENOMEM, ENETDOWN
 * (no host open). */
int tapir_socket(int domain, int type, int protocol);
/* The same on a given host. */
int tapir_socket_on(struct tapir_host *h, int domain, int type, int protocol);

/* bind(2). EBADF, EFAULT (NULL addr), EINVAL (short addrlen, or already bound), EAFNOSUPPORT,
 * EADDRINUSE (also a TCP port whose connection lingers in TIME_WAIT, unless SO_REUSEADDR),
 * EADDRNOTAVAIL (not INADDR_ANY nor our address). Port 0 picks an ephemeral port
 * (32768-60999). */
int tapir_bind(int fd, const struct sockaddr *addr, socklen_t addrlen);
/* connect(2). On a stream socket: the three-way handshake; blocks until it is done (bounded
 * by SO_SNDTIMEO, then EINPROGRESS), or on a non-blocking socket returns EINPROGRESS at once
 * (POLLOUT, then SO_ERROR, tell how it went). ECONNREFUSED (a reset), ETIMEDOUT (no answer
 * after the SYN retries), EALREADY (still connecting), EISCONN, EADDRNOTAVAIL.
 * On a datagram socket: fixes the peer and our address (getsockname shows it),
 * binding an ephemeral port if needed; AF_UNSPEC dissolves the association and gives back
 * what connect chose. EBADF, EFAULT, EINVAL, EAFNOSUPPORT, ENETUNREACH (no route), EACCES
 * (broadcast without SO_BROADCAST). */
int tapir_connect(int fd, const struct sockaddr *addr, socklen_t addrlen);
/* listen(2) and accept(2), for stream sockets. The backlog (at most 4096) bounds the queue
 * of connections waiting for accept, as on Linux (SYNs beyond it are dropped and counted).
 * accept blocks (SO_RCVTIMEO bounds it) unless the socket is non-blocking (EAGAIN); the new
 * socket is blocking. EINVAL (accept on a socket that is not listening), EOPNOTSUPP (a
 * datagram socket). */
int tapir_listen(int fd, int backlog);
int tapir_accept(int fd, struct sockaddr *addr, socklen_t *addrlen);

/* send(2), sendto(2), sendmsg(2). On a stream socket: queues the bytes for sending; blocks
 * until all are queued (a non-blocking socket queues what fits and returns that count, or
 * EAGAIN); the address is ignored; EPIPE after shutdown(SHUT_WR) or once the connection is
 * closed, ECONNRESET (once) after a reset, ENOTCONN before connect.
 * On a datagram socket one call is one datagram, 0 to 65507 bytes (a ping socket:
 * 8 to 65515, echo request header first); sendmsg gathers its iovecs, and a msg_namelen of 0
 * means no address. EBADF, EFAULT, EDESTADDRREQ (no address on an unconnected socket),
 * EMSGSIZE, EACCES (broadcast without SO_BROADCAST), EINVAL (a ping
 * message that is not an echo request), EOPNOTSUPP (MSG_OOB), EPIPE (after SHUT_WR),
 * ENETUNREACH, ENOBUFS, EAGAIN (SO_SNDTIMEO expired or non-blocking), and on a connected
 * socket a pending error from an ICMP message (ECONNREFUSED, EHOSTUNREACH, ...). */
ssize_t tapir_send(int fd, const void *buf, size_t len, int flags);
ssize_t tapir_sendto(int fd, const void *buf, size_t len, int flags,
                     const struct sockaddr *dest_addr, socklen_t addrlen);
ssize_t tapir_sendmsg(int fd, const struct msghdr *msg, int flags);

/* recv(2), recvfrom(2), recvmsg(2). On a stream socket: the bytes that have arrived, up to
 * len (a stream has no message boundaries); 0 at the peer's FIN (end of stream); ECONNRESET
 * (once) after a reset; ENOTCONN before connect.
 * On a datagram socket: one datagram; a buffer too small gets its beginning and
 * the rest is lost (recvmsg sets MSG_TRUNC in msg_flags; MSG_TRUNC in flags returns the
 * datagram's real length). MSG_PEEK leaves it queued; MSG_DONTWAIT does not block. Blocks
 * until a datagram arrives, SO_RCVTIMEO expires (EAGAIN), the socket is shut down for
 * reading (returns 0) or closed by another thread (EBADF). EBADF, EFAULT, EINVAL, EAGAIN,
 * and a pending ICMP error (ECONNREFUSED, ...) once the queue is empty. */
ssize_t tapir_recv(int fd, void *buf, size_t len, int flags);
ssize_t tapir_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *src_addr,
                       socklen_t *addrlen);
ssize_t tapir_recvmsg(int fd, struct msghdr *msg, int flags);

/* shutdown(2): SHUT_RD wakes readers (they return 0), SHUT_WR makes sends fail with EPIPE
 * and, on a stream, sends a FIN after the queued data (a half-close: the peer may go on
 * sending). EBADF, EINVAL (bad how), ENOTCONN (not connected; on a datagram socket, as Linux,
 * it still takes effect). */
int tapir_shutdown(int fd, int how);
/* close(2). Threads blocked on the socket wake with EBADF. A stream socket closes
 * gracefully (FIN after the queued data; the connection finishes on its own, TIME_WAIT
 * included) unless unread data is lost or SO_LINGER is {1, 0}: then a reset (RFC 1122
 * §4.2.2.13). A listener's unaccepted connections are reset. EBADF. */
int tapir_close(int fd);

/* SOL_SOCKET options: SO_REUSEADDR, SO_BROADCAST, SO_RCVBUF, SO_SNDBUF (doubled, as Linux;
 * a stream uses half of each for its data, and window scaling lets its window reach it),
 * SO_LINGER (struct linger; {1, 0} makes close reset; other timeouts are kept but close never
 * blocks), SO_KEEPALIVE; IPPROTO_TCP: TCP_NODELAY (Nagle off), TCP_QUICKACK, TCP_KEEPIDLE,
 * TCP_KEEPINTVL, TCP_KEEPCNT, TCP_CONGESTION ("reno", "cubic"), TCP_INFO (get: struct
 * tcp_info, as Linux); SO_RCVTIMEO, SO_SNDTIMEO (struct timeval; zero means forever; EDOM for bad microseconds),
 * SO_ERROR (get: the pending error, cleared), SO_TYPE (get). As Linux, getsockopt with a
 * short optlen writes the first optlen bytes and says so in *optlen. EBADF, EFAULT, EINVAL
 * (a negative optlen, or a setsockopt value shorter than an int), ENOPROTOOPT (unknown
 * option), EOPNOTSUPP (getsockopt at a level the socket does not have). */
int tapir_setsockopt(int fd, int level, int optname, const void *optval, socklen_t optlen);
int tapir_getsockopt(int fd, int level, int optname, void *optval, socklen_t *optlen);
/* getsockname(2), getpeername(2): EBADF, EFAULT, EINVAL, ENOTCONN (getpeername). */
int tapir_getsockname(int fd, struct sockaddr *addr, socklen_t *addrlen);
int tapir_getpeername(int fd, struct sockaddr *addr, socklen_t *addrlen);

/* poll(2) over tapir sockets and kernel descriptors (stdin, pipes, signalfds) in one array.
 * timeout_ms < 0 waits forever. A closed tapir descriptor reports POLLNVAL. EFAULT, EINVAL,
 * EINTR (from the kernel's poll), ENOMEM. */
int tapir_poll(struct pollfd *fds, nfds_t nfds, int timeout_ms);
/* fcntl(2): F_GETFL (O_RDWR, | O_NONBLOCK), F_SETFL (O_NONBLOCK; other flags ignored),
 * F_GETFD / F_SETFD (accepted; tapir descriptors do not survive exec anyway). EBADF,
 * EINVAL. */
int tapir_fcntl(int fd, int cmd, ...);

#ifdef __cplusplus
}
#endif
#endif
