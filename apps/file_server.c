/* SPDX-License-Identifier: MIT */
/* file_server.c: seed 002's file download server over tapir. It serves the files of one
 * directory (--dir, default the current one) on TCP port 2020, with SO_REUSEADDR set as the
 * seed sets it, so a restart need not wait out the last connections' TIME_WAIT.
 *
 *   Python (the seed):                          tapir:
 *   ss.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)  tapir_setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, ..)
 *   ss.bind(("", 8888)); ss.listen(128)         tapir_bind(lfd, ...); tapir_listen(lfd, 128)
 *   cs, addr = ss.accept()                      fd = tapir_accept(lfd, &peer, &peer_len)
 *   name = cs.recv(4096)                        filesrv_serve(fd, dir, stdout), in a thread:
 *   cs.send(open(name, "rb").read())              a framed request, a header, the file in chunks
 *   cs.close()                                  tapir_close(fd)
 *
 * The protocol (apps/lib/filesrv.h) differs from the seed's on purpose: the request and the
 * reply carry lengths (seed 003's fix for "sticky packets"), so a missing file is an error
 * message rather than an empty download, a download cut short is seen as such, and the file
 * is streamed instead of read into memory whole (the seed's comment: "too big a file fails").
 * Names that leave the directory ('..', absolute paths, symlinks out) are refused.
 *
 * A thread per client, as seed 003's socketserver.ThreadingTCPServer: a 1 GiB download takes
 * a while, and one client at a time (the seed's loop) would keep the next one waiting in the
 * listen backlog all that while. At most FILE_SERVER_MAX_CLIENTS threads run (each holds a
 * 256 KiB chunk buffer); beyond that, connections wait in the backlog until one finishes. */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "filesrv.h"
#include "tapir/socket.h"

#define PROG "file_server"
#define FILE_SERVER_MAX_CLIENTS 32
#define FILE_SERVER_BACKLOG 128 /* the seed's listen(128) */

struct options {
    struct cli_host host;
    const char *dir;
    uint16_t port;
    bool quiet;
};

/* A client being served by a thread of its own. */
struct client {
    struct server *srv;
    pthread_t thread;
    int fd;        /* -1 once the thread has closed it */
    bool busy;     /* a thread was started and not yet joined */
    bool finished; /* the thread is done: join it */
};

struct server {
    pthread_mutex_t lock; /* guards the clients' fd, busy and finished */
    struct client clients[FILE_SERVER_MAX_CLIENTS];
    const char *dir;
    FILE *log; /* NULL with --quiet */
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: " PROG " [--dir DIR] [--port N] [--quiet] [host options]\n"
            "\n"
            "Serves the files in DIR for download, like seed 002's server, over a tapir host\n"
            "(by default 10.0.0.2/24 on tap0), a thread per client. The client sends a name;\n"
            "the reply is a header with the size (or an error) and the file. Try from the host:\n"
            "  python3 tests/integration/file_proto.py get 10.0.0.2 2020 NAME\n"
            "\n"
            "  --dir DIR       the directory to serve (default: the current one); names\n"
            "                  leaving it ('..', absolute, symlinks out) are refused\n"
            "  --port N        TCP port to listen on (default 2020)\n"
            "  --quiet         do not print a line per client\n");
    cli_host_usage(out);
    fprintf(out, "  -h, --help      this text\n");
}

enum { OPT_DIR = 0x200, OPT_PORT, OPT_QUIET };

static int on_option(int opt, const char *arg, void *ctx)
{
    struct options *o = ctx;
    uint64_t v;
    switch (opt) {
    case OPT_DIR:
        o->dir = arg;
        return 0;
    case OPT_QUIET:
        o->quiet = true;
        return 0;
    case OPT_PORT:
        if (!cli_parse_u64(arg, &v) || v == 0 || v > 65535)
            return cli_usage_error(PROG, "--port wants 1..65535, not '%s'", arg);
        o->port = (uint16_t)v;
        return 0;
    default:
        return cli_usage_error(PROG, "internal: unknown option %d", opt);
    }
}

static int parse_cmdline(struct options *o, int argc, char **argv)
{
    static const struct option opts[] = {{"dir", required_argument, 0, OPT_DIR},
                                         {"port", required_argument, 0, OPT_PORT},
                                         {"quiet", no_argument, 0, OPT_QUIET},
                                         {0, 0, 0, 0}};
    const struct cli_extra x = {.opts = opts, .on_opt = on_option, .ctx = o, .usage = usage};
    cli_host_init(&o->host, PROG, true);
    o->dir = ".";
    o->port = FILEPROTO_DEFAULT_PORT;
    o->quiet = false;
    int rc = cli_parse(&o->host, argc, argv, &x);
    if (rc)
        return rc;
    if (optind < argc)
        return cli_usage_error(PROG, "unexpected argument '%s'", argv[optind]);
    char msg[256];
    if (!filesrv_root_ok(o->dir, msg, sizeof(msg)))
        return cli_usage_error(PROG, "--dir: %s", msg);
    return cli_host_finish(&o->host);
}

static void *client_thread(void *arg)
{
    struct client *c = arg;
    filesrv_serve(c->fd, c->srv->dir, c->srv->log);
    pthread_mutex_lock(&c->srv->lock);
    tapir_close(c->fd); /* under the lock, so stop_clients never shuts down a reused fd */
    c->fd = -1;
    c->finished = true;
    pthread_mutex_unlock(&c->srv->lock);
    return NULL;
}

/* Joins the threads that have finished; returns a free slot, or NULL when all are busy. */
static struct client *reap_clients(struct server *srv)
{
    struct client *free_slot = NULL;
    for (int i = 0; i < FILE_SERVER_MAX_CLIENTS; i++) {
        struct client *c = &srv->clients[i];
        pthread_mutex_lock(&srv->lock);
        bool done = c->busy && c->finished;
        pthread_mutex_unlock(&srv->lock);
        if (done) {
            pthread_join(c->thread, NULL);
            c->busy = false;
        }
        if (!c->busy && !free_slot)
            free_slot = c;
    }
    return free_slot;
}

/* Accepts one connection and starts its thread in slot c. */
static void accept_client(struct server *srv, int lfd, struct client *c)
{
    struct sockaddr_in peer;
    socklen_t peer_len = sizeof(peer);
    int fd = tapir_accept(lfd, (struct sockaddr *)&peer, &peer_len);
    if (fd < 0)
        return;
    if (srv->log) {
        char addr[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &peer.sin_addr, addr, sizeof(addr));
        fprintf(srv->log, "client %s:%u connected\n", addr, ntohs(peer.sin_port));
        fflush(srv->log);
    }
    *c = (struct client){.srv = srv, .fd = fd, .busy = true};
    if (pthread_create(&c->thread, NULL, client_thread, c) != 0) {
        fprintf(stderr, PROG ": cannot start a thread for the client: %s\n", strerror(errno));
        tapir_close(fd);
        c->busy = false;
    }
}

/* At shutdown: wakes every client thread (its blocked send or recv fails) and joins it. */
static void stop_clients(struct server *srv)
{
    pthread_mutex_lock(&srv->lock);
    for (int i = 0; i < FILE_SERVER_MAX_CLIENTS; i++)
        if (srv->clients[i].busy && srv->clients[i].fd >= 0)
            tapir_shutdown(srv->clients[i].fd, SHUT_RDWR);
    pthread_mutex_unlock(&srv->lock);
    for (int i = 0; i < FILE_SERVER_MAX_CLIENTS; i++)
        if (srv->clients[i].busy)
            pthread_join(srv->clients[i].thread, NULL);
}

static int listen_on(uint16_t port)
{
    int lfd = tapir_socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in me = {.sin_family = AF_INET, .sin_port = htons(port)};
    int one = 1;
    if (lfd < 0 || tapir_setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        tapir_bind(lfd, (struct sockaddr *)&me, sizeof(me)) < 0 ||
        tapir_listen(lfd, FILE_SERVER_BACKLOG) < 0) {
        int e = errno;
        if (lfd >= 0)
            tapir_close(lfd);
        errno = e;
        return -1;
    }
    return lfd;
}

/* Accepts until a signal asks us to stop. While every slot is busy the listener is not
 * polled, so new connections wait in its backlog. */
static void serve(struct server *srv, int lfd, int sfd, struct tapir_host *host)
{
    for (;;) {
        struct client *slot = reap_clients(srv);
        struct pollfd fds[2] = {{.fd = sfd, .events = POLLIN}, {.fd = lfd, .events = POLLIN}};
        if (tapir_poll(fds, slot ? 2 : 1, slot ? -1 : 100) < 0 && errno != EINTR)
            return;
        if ((fds[0].revents & POLLIN) && cli_signals(sfd, host))
            return;
        if (slot && (fds[1].revents & POLLIN))
            accept_client(srv, lfd, slot);
    }
}

int main(int argc, char **argv)
{
    struct options o;
    int rc = parse_cmdline(&o, argc, argv);
    if (rc)
        return rc;
    int sfd = cli_signalfd();
    struct tapir_host *host = sfd >= 0 ? cli_host_open(&o.host) : NULL;
    if (!host)
        return EXIT_USAGE;
    int lfd = listen_on(o.port);
    if (lfd < 0) {
        fprintf(stderr, PROG ": cannot listen on TCP port %u: %s\n", o.port, strerror(errno));
        cli_host_close(&o.host, host);
        return 1;
    }
    char addr[INET_ADDRSTRLEN], *dir = realpath(o.dir, NULL);
    inet_ntop(AF_INET, &o.host.cfg.addr, addr, sizeof(addr));
    printf(PROG ": serving %s on %s:%u; try: python3 tests/integration/file_proto.py get %s %u "
                "NAME (Ctrl-C stops)\n",
           dir ? dir : o.dir, addr, o.port, addr, o.port);
    fflush(stdout);

    static struct server srv; /* 32 slots: keep them off the stack */
    pthread_mutex_init(&srv.lock, NULL);
    srv.dir = o.dir;
    srv.log = o.quiet ? NULL : stdout;
    serve(&srv, lfd, sfd, host);
    printf(PROG ": stopping\n");
    fflush(stdout);
    tapir_close(lfd);
    stop_clients(&srv);
    cli_host_close(&o.host, host);
    pthread_mutex_destroy(&srv.lock);
    free(dir);
    close(sfd);
    return 0;
}
