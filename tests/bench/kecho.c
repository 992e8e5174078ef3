/* SPDX-License-Identifier: MIT */
/* kecho.c: the kernel's side of the Linux reference of `make bench` (issue 8): what tapir's
 * services do on echo (port 7, RFC 862, TCP and UDP), discard (TCP 9, RFC 863) and chargen
 * (TCP 19, RFC 864), done by the kernel's own sockets, so conn_rate, hold_conns, tcp_rr, udp_rr
 * and tcp_stream measure the same services on both sides. One thread, epoll, non-blocking; a
 * connection's unsent echo is kept until the socket takes it (and reading stops meanwhile, so a
 * peer that never reads cannot make it grow). Chargen sends the RFC 864 stream (72 characters
 * and CRLF a line, the 95 printable characters rotating) from one prebuilt buffer, as much as
 * the socket takes, and throws away what the peer sends; discard throws away everything.
 *
 *   kecho [--addr A] [--port N] [--discard-port N] [--chargen-port N] [--backlog N]
 *         [--seconds S]
 *
 * Defaults: 0.0.0.0, ports 7, 9 and 19 (a port of 0 leaves that service out), backlog 4096
 * (the kernel caps it at net.core.somaxconn), and a bound of 600 s; SIGINT or SIGTERM stop it
 * sooner. At exit it prints "kecho: accepted N echoed_bytes B udp_datagrams D discarded_bytes
 * X chargen_bytes Y". */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF_BYTES 65536u
#define CG_LINE 74u               /* 72 characters, CR, LF */
#define CG_PERIOD (95u * CG_LINE) /* the stream repeats after 95 lines */

enum service { SVC_ECHO, SVC_DISCARD, SVC_CHARGEN };

/* A connection: its service; for echo, bytes still to send (from off on; NULL buf when nothing
 * waits); for chargen, where in the period the stream is (off). */
struct pending {
    uint8_t *buf;
    size_t off, len;
    enum service svc;
};

struct server {
    int ep, ufd;
    int lfd[3];           /* the listening sockets, by service; -1 for one left out */
    struct pending *pend; /* by descriptor */
    size_t npend;
    uint64_t accepted, echoed, datagrams, discarded, generated;
    uint8_t buf[BUF_BYTES];
    uint8_t chargen[CG_PERIOD + BUF_BYTES]; /* the stream from its start, a period and more */
};

static volatile sig_atomic_t stop;
static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static int set_events(struct server *s, int fd, uint32_t events, int op)
{
    struct epoll_event ev = {.events = events, .data.fd = fd};
    return epoll_ctl(s->ep, op, fd, &ev);
}

static void conn_close(struct server *s, int fd)
{
    if ((size_t)fd < s->npend) {
        free(s->pend[fd].buf);
        s->pend[fd] = (struct pending){0};
    }
    close(fd);
}

/* Reads and throws away what is there (discard, and what a chargen peer sends); closes on the
 * peer's FIN or an error. Bounded, so one busy peer does not hold the loop. */
static void conn_drain(struct server *s, int fd)
{
    for (int k = 0; k < 64; k++) {
        ssize_t n = recv(fd, s->buf, sizeof(s->buf), 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            return conn_close(s, fd);
        if (n < 0)
            return;
        if (s->pend[fd].svc == SVC_DISCARD)
            s->discarded += (uint64_t)n;
    }
}

/* Chargen: as much of the stream as the socket takes now (up to a bound). */
static void chargen_send(struct server *s, int fd)
{
    struct pending *p = &s->pend[fd];
    for (int k = 0; k < 64; k++) {
        ssize_t n = send(fd, s->chargen + p->off, BUF_BYTES, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            return conn_close(s, fd);
        if (n <= 0)
            return;
        s->generated += (uint64_t)n;
        p->off = (p->off + (size_t)n) % CG_PERIOD;
    }
}

static void chargen_build(struct server *s)
{
    for (size_t i = 0; i < sizeof(s->chargen); i++) {
        size_t line = i / CG_LINE % 95, col = i % CG_LINE;
        s->chargen[i] = col == 72 ? '\r' : col == 73 ? '\n' : (uint8_t)(' ' + (line + col) % 95);
    }
}

/* Sends what is pending; true when all of it went. */
static bool flush_pending(struct server *s, int fd)
{
    struct pending *p = &s->pend[fd];
    while (p->off < p->len) {
        ssize_t n = send(fd, p->buf + p->off, p->len - p->off, MSG_NOSIGNAL);
        if (n < 0)
            return false;
        p->off += (size_t)n;
        s->echoed += (uint64_t)n;
    }
    free(p->buf);
    *p = (struct pending){0};
    return true;
}

/* Keeps what send() did not take and waits for room instead of reading more. */
static void keep_rest(struct server *s, int fd, const uint8_t *data, size_t len)
{
    struct pending *p = &s->pend[fd];
    p->buf = malloc(len);
    if (!p->buf)
        return conn_close(s, fd);
    memcpy(p->buf, data, len);
    p->off = 0;
    p->len = len;
    set_events(s, fd, EPOLLOUT, EPOLL_CTL_MOD);
}

static void conn_readable(struct server *s, int fd)
{
    for (;;) {
        ssize_t n = recv(fd, s->buf, sizeof(s->buf), 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            return conn_close(s, fd); /* the peer's FIN (or a reset): echo ends */
        if (n < 0)
            return;
        ssize_t w = send(fd, s->buf, (size_t)n, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN)
            return conn_close(s, fd);
        w = w < 0 ? 0 : w;
        s->echoed += (uint64_t)w;
        if (w < n)
            return keep_rest(s, fd, s->buf + w, (size_t)(n - w));
    }
}

static void conn_writable(struct server *s, int fd)
{
    if (flush_pending(s, fd))
        set_events(s, fd, EPOLLIN, EPOLL_CTL_MOD);
    else if (errno != EAGAIN)
        conn_close(s, fd);
}

/* Accepts all that wait on service svc's socket; the table by descriptor grows to fit. */
static void accept_all(struct server *s, enum service svc)
{
    for (;;) {
        int fd = accept4(s->lfd[svc], NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or out of descriptors: the rest wait in the backlog */
        if ((size_t)fd >= s->npend) {
            size_t n = (size_t)fd * 2 + 64;
            struct pending *p = realloc(s->pend, n * sizeof(*p));
            if (!p) {
                close(fd);
                continue;
            }
            memset(p + s->npend, 0, (n - s->npend) * sizeof(*p));
            s->pend = p;
            s->npend = n;
        }
        s->accepted++;
        s->pend[fd] = (struct pending){.svc = svc};
        if (set_events(s, fd, svc == SVC_CHARGEN ? EPOLLIN | EPOLLOUT : EPOLLIN, EPOLL_CTL_ADD) < 0)
            close(fd);
    }
}

static void udp_echo(struct server *s)
{
    for (;;) {
        struct sockaddr_in peer;
        socklen_t plen = sizeof(peer);
        ssize_t n = recvfrom(s->ufd, s->buf, sizeof(s->buf), 0, (struct sockaddr *)&peer, &plen);
        if (n < 0)
            return;
        sendto(s->ufd, s->buf, (size_t)n, 0, (struct sockaddr *)&peer, plen);
        s->datagrams++;
    }
}

static void on_event(struct server *s, const struct epoll_event *ev)
{
    int fd = ev->data.fd;
    for (enum service svc = SVC_ECHO; svc <= SVC_CHARGEN; svc++)
        if (fd == s->lfd[svc])
            return accept_all(s, svc);
    if (fd == s->ufd)
        return udp_echo(s);
    if (s->pend[fd].svc == SVC_ECHO) {
        if (ev->events & EPOLLOUT)
            conn_writable(s, fd);
        else
            conn_readable(s, fd);
        return;
    }
    if (s->pend[fd].svc == SVC_CHARGEN && (ev->events & EPOLLOUT)) {
        chargen_send(s, fd);
        if (s->pend[fd].svc != SVC_CHARGEN || !(ev->events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
            return; /* closed, or nothing to read */
    }
    conn_drain(s, fd);
}

/* ---- Setup ---------------------------------------------------------------------------------- */

static int open_socket(int type, const struct sockaddr_in *a, int backlog)
{
    if (!a->sin_port)
        return -1; /* that service left out */
    int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)a, sizeof(*a)) < 0 ||
        (type == SOCK_STREAM && listen(fd, backlog) < 0)) {
        close(fd);
        return -1;
    }
    return fd;
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: kecho [--addr A] [--port N] [--discard-port N] [--chargen-port N] "
                    "[--backlog N] [--seconds S]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(7)};
    uint16_t port[3] = {7, 9, 19};
    int backlog = 4096;
    double seconds = 600;
    static const struct option longs[] = {{"addr", required_argument, 0, 'a'},
                                          {"port", required_argument, 0, 'p'},
                                          {"discard-port", required_argument, 0, 'd'},
                                          {"chargen-port", required_argument, 0, 'c'},
                                          {"backlog", required_argument, 0, 'b'},
                                          {"seconds", required_argument, 0, 's'},
                                          {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (ch) {
        case 'a':
            if (!inet_aton(optarg, &a.sin_addr))
                usage();
            break;
        case 'p':
            port[SVC_ECHO] = (uint16_t)atoi(optarg);
            break;
        case 'd':
            port[SVC_DISCARD] = (uint16_t)atoi(optarg);
            break;
        case 'c':
            port[SVC_CHARGEN] = (uint16_t)atoi(optarg);
            break;
        case 'b':
            backlog = atoi(optarg);
            break;
        case 's':
            seconds = atof(optarg);
            break;
        default:
            usage();
        }
    }
    if (optind != argc || seconds <= 0 || !port[SVC_ECHO])
        usage();
    raise_nofile();
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    static struct server s;
    chargen_build(&s);
    s.ep = epoll_create1(EPOLL_CLOEXEC);
    bool ok = s.ep >= 0;
    for (enum service svc = SVC_ECHO; svc <= SVC_CHARGEN; svc++) {
        a.sin_port = htons(port[svc]);
        s.lfd[svc] = open_socket(SOCK_STREAM, &a, backlog);
        if (port[svc] && (s.lfd[svc] < 0 || set_events(&s, s.lfd[svc], EPOLLIN, EPOLL_CTL_ADD) < 0))
            ok = false;
    }
    a.sin_port = htons(port[SVC_ECHO]);
    s.ufd = open_socket(SOCK_DGRAM, &a, 0);
    if (!ok || s.ufd < 0 || set_events(&s, s.ufd, EPOLLIN, EPOLL_CTL_ADD) < 0) {
        perror("kecho");
        return 1;
    }
    fprintf(stderr,
            "kecho: echo on %s:%u (TCP and UDP), discard %u, chargen %u (0: none), "
            "for at most %.0f s\n",
            inet_ntoa(a.sin_addr), port[SVC_ECHO], port[SVC_DISCARD], port[SVC_CHARGEN], seconds);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct epoll_event evs[256];
    while (!stop) {
        int n = epoll_wait(s.ep, evs, 256, 100);
        for (int k = 0; k < n; k++)
            on_event(&s, &evs[k]);
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((double)(t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 > seconds)
            break;
    }
    printf("kecho: accepted %llu echoed_bytes %llu udp_datagrams %llu discarded_bytes %llu "
           "chargen_bytes %llu\n",
           (unsigned long long)s.accepted, (unsigned long long)s.echoed,
           (unsigned long long)s.datagrams, (unsigned long long)s.discarded,
           (unsigned long long)s.generated);
    return 0;
}
