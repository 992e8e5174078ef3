/* SPDX-License-Identifier: MIT */
/* threaded_echo_server.c: the seeds' concurrent server (socketserver.ThreadingTCPServer)
 * over tapir: a thread per connection, each running the echo loop, so one slow client no
 * longer holds up the others as in tcp_echo_server's one-after-another loop.
 *
 *   Python (the seeds, 003):                     tapir:
 *   class Myserver(socketserver.BaseRequestHandler):
 *       def handle(self):                         echo_thread(arg): one per connection
 *           data = self.request.recv(1024)        tapir_recv(c->fd, buf, sizeof(buf), 0)
 *           self.request.send(data)               tapir_send(c->fd, buf, n, 0)
 *   server = socketserver.ThreadingTCPServer(     tapir_listen(lfd, 128), then per accept:
 *       ip_port, Myserver)                        pthread_create(..., echo_thread, c)
 *   server.serve_forever()                        the accept loop in serve()
 *
 * Two departures from ThreadingTCPServer, both about bounds. The number of threads is capped
 * (--max-clients): past it a connection is accepted, logged as refused, and closed at once,
 * so the client's first recv returns 0, rather than a thread being started for every
 * connection anyone opens. And the listen backlog is 128, not socketserver's 5, so a hundred
 * clients connecting at once wait in the accept queue instead of having their SYNs dropped.
 *
 * The shim is made for this: each thread blocks in its own tapir_recv, asleep on a condition
 * variable, while the host thread moves frames for all of them under the one host lock. */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "tapir/socket.h"

#define PROG "threaded_echo_server"
#define BACKLOG 128
#define ECHO_BUF_BYTES 16384

/* The connections being served, one slot per thread, for the count and for a clean stop. */
struct pool {
    pthread_mutex_t lock;
    pthread_cond_t idle;     /* signalled when a thread ends */
    unsigned max, active;
    unsigned most;           /* the largest number ever active at once */
    bool quiet;
    bool stopping;           /* stop_clients has shut the connections down */
    int *fds;                /* max slots; -1 when free */
};

struct conn {
    struct pool *pool;
    unsigned slot;
    int fd;
    char peer[INET_ADDRSTRLEN + 8]; /* "10.0.0.1:40312" */
};

struct threaded_opts {
    struct cli_host host;
    uint16_t port;
    unsigned max_clients;
    bool quiet;
};

enum { OPT_PORT = 0x300, OPT_MAX, OPT_QUIET };

static void usage(FILE *out)
{
    fprintf(out,
            "usage: " PROG " [--port N] [--max-clients N] [--quiet] [host options]\n"
            "\n"
            "Echoes what each TCP client sends, a thread per client so that many are served\n"
            "at once, like the seeds' socketserver.ThreadingTCPServer, over a tapir host (by\n"
            "default 10.0.0.2/24 on tap0). Try from the host, in two shells at once:\n"
            "  nc 10.0.0.2 7\n"
            "\n"
            "  --port N        TCP port to listen on (default 7)\n"
            "  --max-clients N at most N clients (threads) at once, 1..1024 (default 128);\n"
            "                  one more is accepted, logged as refused and closed\n"
            "  --quiet         do not print a line per connection\n");
    cli_host_usage(out);
    fprintf(out, "  -h, --help      this text\n");
}

static int threaded_option(int opt, const char *arg, void *ctx)
{
    struct threaded_opts *o = ctx;
    uint64_t v;
    if (opt == OPT_QUIET) {
        o->quiet = true;
        return 0;
    }
    if (opt == OPT_MAX) {
        if (!cli_parse_u64(arg, &v) || v == 0 || v > 1024)
            return cli_usage_error(PROG, "--max-clients wants 1..1024, not '%s'", arg);
        o->max_clients = (unsigned)v;
        return 0;
    }
    if (!cli_parse_u64(arg, &v) || v == 0 || v > 65535)
        return cli_usage_error(PROG, "--port wants 1..65535, not '%s'", arg);
    o->port = (uint16_t)v;
    return 0;
}

static int parse_args(struct threaded_opts *o, int argc, char **argv)
{
    static const struct option opts[] = {{"port", required_argument, 0, OPT_PORT},
                                         {"max-clients", required_argument, 0, OPT_MAX},
                                         {"quiet", no_argument, 0, OPT_QUIET},
                                         {0, 0, 0, 0}};
    const struct cli_extra x = {.opts = opts, .on_opt = threaded_option, .ctx = o,
                                .usage = usage};
    memset(o, 0, sizeof(*o));
    cli_host_init(&o->host, PROG, true);
    o->port = 7;
    o->max_clients = 128;
    int rc = cli_parse(&o->host, argc, argv, &x);
    if (rc)
        return rc;
    if (optind < argc)
        return cli_usage_error(PROG, "unexpected argument '%s'", argv[optind]);
    return cli_host_finish(&o->host);
}

/* The seed's handle(): echo until the client's FIN (recv returns 0). */
static void *echo_thread(void *arg)
{
    struct conn *c = arg;
    struct pool *p = c->pool;
    uint8_t buf[ECHO_BUF_BYTES];
    size_t total = 0;
    ssize_t n;
    while ((n = tapir_recv(c->fd, buf, sizeof(buf), 0)) > 0) {
        if (tapir_send(c->fd, buf, (size_t)n, 0) != n)
            break;
        total += (size_t)n;
    }
    int e = errno;
    pthread_mutex_lock(&p->lock);
    tapir_close(c->fd); /* under the lock: stop_clients never sees a descriptor reused */
    p->fds[c->slot] = -1;
    p->active--;
    if (!p->quiet)
        printf("client %s done: %zu bytes echoed, %s (%u active)\n", c->peer, total,
               p->stopping  ? "the server is stopping"
               : n == 0     ? "recv 0: the client closed"
                            : strerror(e),
               p->active);
    fflush(stdout);
    pthread_cond_signal(&p->idle);
    pthread_mutex_unlock(&p->lock);
    free(c);
    return NULL;
}

/* A thread for the new connection, or a refusal when --max-clients are busy. */
static void start_client(struct pool *p, int fd, const struct sockaddr_in *peer)
{
    char addr[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &peer->sin_addr, addr, sizeof(addr));
    struct conn *c = calloc(1, sizeof(*c));
    pthread_mutex_lock(&p->lock);
    unsigned slot = 0;
    while (slot < p->max && p->fds[slot] >= 0)
        slot++;
    if (!c || slot == p->max) {
        printf("client %s:%u refused: %u clients already (--max-clients %u)\n", addr,
               ntohs(peer->sin_port), p->active, p->max);
        pthread_mutex_unlock(&p->lock);
        fflush(stdout);
        free(c);
        tapir_close(fd); /* the client's first recv returns 0 */
        return;
    }
    *c = (struct conn){.pool = p, .slot = slot, .fd = fd};
    snprintf(c->peer, sizeof(c->peer), "%s:%u", addr, ntohs(peer->sin_port));
    pthread_attr_t attr;
    pthread_t t;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024); /* not 8 MiB each: the loop needs little */
    int rc = pthread_create(&t, &attr, echo_thread, c);
    pthread_attr_destroy(&attr);
    if (rc == 0) {
        p->fds[slot] = fd;
        p->active++;
        p->most = p->active > p->most ? p->active : p->most;
        if (!p->quiet)
            printf("client %s connected (%u active)\n", c->peer, p->active);
    } else {
        printf("client %s refused: cannot start a thread: %s\n", c->peer, strerror(rc));
    }
    pthread_mutex_unlock(&p->lock);
    fflush(stdout);
    if (rc) {
        free(c);
        tapir_close(fd);
    }
}

/* Ends every connection (each thread's recv returns 0 at SHUT_RD) and waits, at most
 * 5 seconds, for the threads to finish, so none touches the host after it is closed. */
static bool stop_clients(struct pool *p)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 5;
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    for (unsigned i = 0; i < p->max; i++)
        if (p->fds[i] >= 0)
            tapir_shutdown(p->fds[i], SHUT_RDWR);
    while (p->active > 0 && pthread_cond_timedwait(&p->idle, &p->lock, &deadline) == 0)
        ;
    bool all = p->active == 0;
    pthread_mutex_unlock(&p->lock);
    return all;
}

static int listen_on(const struct threaded_opts *o)
{
    int lfd = tapir_socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in me = {.sin_family = AF_INET, .sin_port = htons(o->port)};
    int one = 1;
    if (lfd < 0 || tapir_setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        tapir_bind(lfd, (struct sockaddr *)&me, sizeof(me)) < 0 ||
        tapir_listen(lfd, BACKLOG) < 0) {
        fprintf(stderr, PROG ": cannot listen on TCP port %u: %s\n", o->port, strerror(errno));
        if (lfd >= 0)
            tapir_close(lfd);
        return -1;
    }
    char addr[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &o->host.cfg.addr, addr, sizeof(addr));
    printf(PROG ": listening on %s:%u, a thread per client, at most %u at once; try: nc %s %u "
           "(Ctrl-C stops)\n",
           addr, o->port, o->max_clients, addr, o->port);
    fflush(stdout);
    return lfd;
}

/* serve_forever(): accept, and hand each connection to a thread of its own. */
static void serve(int lfd, struct pool *p, int sfd, struct tapir_host *host)
{
    struct pollfd fds[2] = {{.fd = lfd, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
    for (;;) {
        if (tapir_poll(fds, 2, -1) < 0 && errno != EINTR)
            return;
        if ((fds[1].revents & POLLIN) && cli_signals(sfd, host))
            return;
        struct sockaddr_in peer;
        socklen_t peer_len = sizeof(peer);
        int fd = (fds[0].revents & POLLIN)
                     ? tapir_accept(lfd, (struct sockaddr *)&peer, &peer_len)
                     : -1;
        if (fd >= 0)
            start_client(p, fd, &peer);
    }
}

int main(int argc, char **argv)
{
    struct threaded_opts o;
    int rc = parse_args(&o, argc, argv);
    if (rc)
        return rc;
    struct pool p = {.lock = PTHREAD_MUTEX_INITIALIZER, .idle = PTHREAD_COND_INITIALIZER,
                     .max = o.max_clients, .quiet = o.quiet,
                     .fds = malloc(o.max_clients * sizeof(int))};
    int sfd = cli_signalfd(); /* before any thread starts, so all inherit the mask */
    struct tapir_host *host = sfd >= 0 && p.fds ? cli_host_open(&o.host) : NULL;
    if (!host)
        return EXIT_USAGE;
    for (unsigned i = 0; i < p.max; i++)
        p.fds[i] = -1;
    int lfd = listen_on(&o);
    if (lfd >= 0) {
        serve(lfd, &p, sfd, host);
        tapir_close(lfd);
        bool all = stop_clients(&p);
        printf(PROG ": stopping; at most %u clients were served at once%s\n", p.most,
               all ? "" : " (some threads did not finish in 5 s)");
        fflush(stdout);
        if (!all)
            _exit(1); /* a thread still in the shim: closing the host under it is worse */
    }
    cli_host_close(&o.host, host);
    close(sfd);
    free(p.fds);
    return lfd >= 0 ? 0 : 1;
}
