/* SPDX-License-Identifier: MIT */
/* inetd.h: the services the tapir host offers, served through the socket shim. From one
 * thread with tapir_poll: the classic small ones, echo (RFC 862) on UDP and TCP port 7,
 * discard (RFC 863) on 9, daytime (RFC 867) on TCP 13, chargen (RFC 864) on TCP 19, and
 * HTTP (apps/lib/http.c) on TCP 80. On threads of their own, one per connection, services
 * written as a blocking function of a connected socket (the file download service). */
#ifndef TAPIR_APPS_INETD_H
#define TAPIR_APPS_INETD_H

#include <poll.h>
#include <stdint.h>
#include <stdio.h>

#include "http.h"

struct inetd;

/* RFC 1122 §4.2.3.6 keepalive for every accepted TCP connection, so a client that vanished
 * does not hold its connection (and, for echo, its buffer) forever. idle_s 0: off. */
struct inetd_keepalive {
    int idle_s;  /* TCP_KEEPIDLE: seconds of silence before the first probe */
    int intvl_s; /* TCP_KEEPINTVL: seconds between probes */
    int cnt;     /* TCP_KEEPCNT: unanswered probes that end the connection */
};

/* A blocking service: serves the connected stream socket fd, then returns; it does not
 * close fd. root is the directory the service was given. */
typedef int (*inetd_conn_fn)(int fd, const char *root, FILE *log);

struct inetd_config {
    struct inetd_keepalive keepalive; /* for every TCP connection; idle_s 0: off */
    FILE *log;                  /* a line per HTTP request and file download; NULL: none */
    /* HTTP on http_port (0: none): the program's pages (http_page, asked first) and the
     * files under www_dir (NULL: none) at URLs under /www/. */
    uint16_t http_port;
    http_page_fn http_page;
    void *http_page_ctx;
    const char *www_dir;
    /* A blocking service on conn_port (0: none), a thread per connection: conn_serve(fd,
     * conn_root, log). */
    uint16_t conn_port;
    inetd_conn_fn conn_serve;
    const char *conn_root;
};

/* Opens every service on the default host. NULL (errno set) when a port cannot be had. */
struct inetd *inetd_open(const struct inetd_config *cfg);
void inetd_close(struct inetd *d);
/* Waits (up to timeout_ms, -1 forever) for work or for extra_fd, serves what is ready, and
 * returns extra_fd's revents (0 if it had none), or -1 with errno (EINTR) from the poll. */
int inetd_serve(struct inetd *d, int extra_fd, int timeout_ms);
/* TCP connections open now, HTTP's and the threaded service's included. */
unsigned inetd_connections(struct inetd *d);

#endif
