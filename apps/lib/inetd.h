/* SPDX-License-Identifier: MIT */
/* inetd.h: the classic small services the tapir host offers, served through the socket shim
 * from one thread with tapir_poll: echo (RFC 862) on UDP and TCP port 7, discard (RFC 863)
 * on 9, daytime (RFC 867) on TCP 13, chargen (RFC 864) on TCP 19. */
#ifndef TAPIR_APPS_INETD_H
#define TAPIR_APPS_INETD_H

#include <poll.h>

struct inetd;

/* RFC 1122 §4.2.3.6 keepalive for every accepted TCP connection, so a client that vanished
 * does not hold its connection (and, for echo, its buffer) forever. idle_s 0: off. */
struct inetd_keepalive {
    int idle_s;  /* TCP_KEEPIDLE: seconds of silence before the first probe */
    int intvl_s; /* TCP_KEEPINTVL: seconds between probes */
    int cnt;     /* TCP_KEEPCNT: unanswered probes that end the connection */
};

/* Opens every service on the default host; keepalive may be NULL (off). NULL (errno set)
 * when a port cannot be had. */
struct inetd *inetd_open(const struct inetd_keepalive *keepalive);
void inetd_close(struct inetd *d);
/* Waits (up to timeout_ms, -1 forever) for work or for extra_fd, serves what is ready, and
 * returns extra_fd's revents (0 if it had none), or -1 with errno (EINTR) from the poll. */
int inetd_serve(struct inetd *d, int extra_fd, int timeout_ms);
/* TCP connections open now. */
unsigned inetd_connections(const struct inetd *d);

#endif
