/* SPDX-License-Identifier: MIT */
/* inetd.c: the small services; see inetd.h. Every socket is non-blocking and one tapir_poll
 * waits on all of them, as a classic single-threaded server does. A connection whose peer
 * is slow to read is not read from either (echo keeps at most one buffer of pending bytes),
 * so one client cannot make the server hold unbounded memory. */
#include "inetd.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tapir/socket.h"

#define INETD_MAX_CONNS 1024u
#define ECHO_BUF_BYTES 16384u
#define CHARGEN_LINE 72u           /* RFC 864: 72 characters, then CR LF */

enum service { SVC_ECHO, SVC_DISCARD, SVC_DAYTIME, SVC_CHARGEN, SVC_COUNT };

static const unsigned short service_port[SVC_COUNT] = {7, 9, 13, 19};

struct conn {
    int fd;
    enum service svc;
    uint32_t pend_off, pend_len; /* echo: bytes received and not yet sent back */
    uint64_t chargen_pos;        /* chargen: position in the endless pattern */
    uint8_t buf[ECHO_BUF_BYTES];
};

struct inetd {
    int udp_echo, udp_discard;
    int listeners[SVC_COUNT];
    struct conn *conns[INETD_MAX_CONNS];
    unsigned nconns;
    struct inetd_keepalive keepalive; /* idle_s 0: off */
    struct pollfd *fds;          /* rebuilt on each call: listeners, UDP, conns, extra */
    uint8_t dgram[65536];
};

static int open_socket(int type, unsigned short port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    int one = 1;
    int fd = tapir_socket(AF_INET, type | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    if (type == SOCK_STREAM)
        tapir_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (tapir_bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        (type == SOCK_STREAM && tapir_listen(fd, 128) < 0)) {
        int e = errno;
        tapir_close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

struct inetd *inetd_open(const struct inetd_keepalive *keepalive)
{
    struct inetd *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    if (keepalive)
        d->keepalive = *keepalive;
    d->fds = calloc(INETD_MAX_CONNS + SVC_COUNT + 3, sizeof(*d->fds));
    d->udp_echo = open_socket(SOCK_DGRAM, 7);
    d->udp_discard = open_socket(SOCK_DGRAM, 9);
    bool ok = d->fds && d->udp_echo >= 0 && d->udp_discard >= 0;
    for (int s = 0; s < SVC_COUNT; s++)
        ok = (d->listeners[s] = open_socket(SOCK_STREAM, service_port[s])) >= 0 && ok;
    if (!ok) {
        int e = errno;
        inetd_close(d);
        errno = e;
        return NULL;
    }
    return d;
}

static void conn_close(struct inetd *d, unsigned i)
{
    tapir_close(d->conns[i]->fd);
    free(d->conns[i]);
    d->conns[i] = d->conns[--d->nconns];
}

void inetd_close(struct inetd *d)
{
    if (!d)
        return;
    while (d->nconns)
        conn_close(d, 0);
    tapir_close(d->udp_echo);
    tapir_close(d->udp_discard);
    for (int s = 0; s < SVC_COUNT; s++)
        tapir_close(d->listeners[s]);
    free(d->fds);
    free(d);
}

unsigned inetd_connections(const struct inetd *d) { return d->nconns; }

/* RFC 867: the date and time as a line of text; then the server closes. */
static void daytime_send(struct conn *c)
{
    char line[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    size_t n = strftime(line, sizeof(line), "%A, %B %d, %Y %H:%M:%S-UTC\r\n", &tm);
    tapir_send(c->fd, line, n, 0);
}

/* The timings first, then SO_KEEPALIVE, so the timer is armed once, with them. */
static int keepalive_on(int fd, const struct inetd_keepalive *k)
{
    int one = 1;
    if (tapir_setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &k->idle_s, sizeof(k->idle_s)) < 0 ||
        tapir_setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &k->intvl_s, sizeof(k->intvl_s)) < 0 ||
        tapir_setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &k->cnt, sizeof(k->cnt)) < 0)
        return -1;
    return tapir_setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
}

static void accept_all(struct inetd *d, enum service svc)
{
    for (;;) {
        int fd = tapir_accept(d->listeners[svc], NULL, NULL);
        if (fd < 0)
            return; /* EAGAIN: no more for now */
        struct conn *c = d->nconns < INETD_MAX_CONNS ? calloc(1, sizeof(*c)) : NULL;
        if (!c) {
            tapir_close(fd); /* at capacity: refuse by closing */
            continue;
        }
        tapir_fcntl(fd, F_SETFL, O_NONBLOCK);
        /* The values were checked on the command line; a refusal here is the stack's, and
         * serving on without keepalive beats refusing the client. */
        if (d->keepalive.idle_s && keepalive_on(fd, &d->keepalive) < 0)
            fprintf(stderr, "inetd: cannot turn keepalive on: %s\n", strerror(errno));
        c->fd = fd;
        c->svc = svc;
        d->conns[d->nconns++] = c;
        if (svc == SVC_DAYTIME) {
            daytime_send(c);
            conn_close(d, d->nconns - 1);
        }
    }
}

/* RFC 864's pattern: line k holds the 95 printable characters from position k on, 72 of
 * them. Fills buf with the stream's bytes from pos on. */
static void chargen_fill(uint8_t *buf, size_t len, uint64_t pos)
{
    for (size_t i = 0; i < len; i++, pos++) {
        uint64_t line = pos / (CHARGEN_LINE + 2), col = pos % (CHARGEN_LINE + 2);
        if (col == CHARGEN_LINE)
            buf[i] = '\r';
        else if (col == CHARGEN_LINE + 1)
            buf[i] = '\n';
        else
            buf[i] = (uint8_t)(' ' + (line + col) % 95);
    }
}

#define CHARGEN_BURST 64 /* sends per wake-up before the client gets a look in */

/* Serves one connection; false when it is finished. */
static bool conn_serve(struct conn *c, short revents)
{
    if (revents & (POLLERR | POLLNVAL))
        return false;
    if (c->svc == SVC_CHARGEN) {
        /* Send while there is room; anything the client sends is read and ignored. */
        ssize_t n;
        while ((n = tapir_recv(c->fd, c->buf, sizeof(c->buf), 0)) > 0)
            ;
        if (n == 0)
            return false;
        chargen_fill(c->buf, sizeof(c->buf), c->chargen_pos);
        /* A bounded burst, then back to poll: a reader as fast as we write would otherwise
         * keep the send buffer from ever filling, and the client's FIN would go unread. */
        for (int burst = 0; burst < CHARGEN_BURST; burst++) {
            if ((n = tapir_send(c->fd, c->buf, sizeof(c->buf), 0)) <= 0)
                return errno == EAGAIN;
            c->chargen_pos += (uint64_t)n;
            chargen_fill(c->buf, sizeof(c->buf), c->chargen_pos);
        }
        return true;
    }
    for (;;) {
        if (c->pend_len) { /* echo: give back what is pending before reading more */
            ssize_t w = tapir_send(c->fd, c->buf + c->pend_off, c->pend_len, 0);
            if (w < 0)
                return errno == EAGAIN;
            c->pend_off += (uint32_t)w;
            c->pend_len -= (uint32_t)w;
            if (c->pend_len)
                return true;
        }
        ssize_t n = tapir_recv(c->fd, c->buf, sizeof(c->buf), 0);
        if (n == 0)
            return false; /* the client closed: so do we */
        if (n < 0)
            return errno == EAGAIN;
        if (c->svc == SVC_ECHO) {
            c->pend_off = 0;
            c->pend_len = (uint32_t)n;
        }
    }
}

static void udp_serve(struct inetd *d)
{
    struct sockaddr_in from;
    socklen_t from_len = sizeof(from);
    ssize_t n;
    while ((n = tapir_recvfrom(d->udp_echo, d->dgram, sizeof(d->dgram), 0,
                               (struct sockaddr *)&from, &from_len)) >= 0) {
        tapir_sendto(d->udp_echo, d->dgram, (size_t)n, 0, (struct sockaddr *)&from, from_len);
        from_len = sizeof(from); /* a failed echo is lost, as the service allows */
    }
    while (tapir_recv(d->udp_discard, d->dgram, sizeof(d->dgram), 0) >= 0)
        ;
}

int inetd_serve(struct inetd *d, int extra_fd, int timeout_ms)
{
    struct pollfd *f = d->fds;
    unsigned n = 0;
    for (int s = 0; s < SVC_COUNT; s++)
        f[n++] = (struct pollfd){.fd = d->listeners[s], .events = POLLIN};
    f[n++] = (struct pollfd){.fd = d->udp_echo, .events = POLLIN};
    f[n++] = (struct pollfd){.fd = d->udp_discard, .events = POLLIN};
    unsigned first_conn = n;
    for (unsigned i = 0; i < d->nconns; i++) {
        const struct conn *c = d->conns[i];
        short ev = c->svc == SVC_CHARGEN ? (POLLIN | POLLOUT) : c->pend_len ? POLLOUT : POLLIN;
        f[n++] = (struct pollfd){.fd = c->fd, .events = ev};
    }
    f[n++] = (struct pollfd){.fd = extra_fd, .events = POLLIN};
    if (tapir_poll(f, n, timeout_ms) < 0)
        return -1;
    /* Connections first (from the last, so closing one moves only served ones), then new
     * ones: accept_all appends to the table. */
    for (unsigned i = d->nconns; i-- > 0;)
        if (f[first_conn + i].revents && !conn_serve(d->conns[i], f[first_conn + i].revents))
            conn_close(d, i);
    for (int s = 0; s < SVC_COUNT; s++)
        if (f[s].revents & POLLIN)
            accept_all(d, (enum service)s);
    udp_serve(d);
    return f[n - 1].revents;
}
