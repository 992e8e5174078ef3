/* SPDX-License-Identifier: MIT */
/* http_server.c: a static file server over tapir. It serves one directory (--dir, default
 * the current one) over HTTP/1.1 on TCP port 80 of its own tapir host, for curl or a browser
 * on the host: GET and HEAD, keep-alive, an index page for directories without index.html,
 * and nothing outside the directory (apps/lib/http.c does the work). One thread serves every
 * connection, polling them all with tapir_poll, as the tapir host serves its own pages. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "http.h"
#include "tapir/socket.h"

#define PROG "http_server"
#define HTTP_BACKLOG 128

struct options {
    struct cli_host host;
    const char *dir;
    uint16_t port;
    bool quiet;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: " PROG " [--dir DIR] [--port N] [--quiet] [host options]\n"
            "\n"
            "Serves the files under DIR over HTTP/1.1 from a tapir host (by default\n"
            "10.0.0.2/24 on tap0; stop tapir first: a TAP has one owner). Try from the host:\n"
            "  curl http://10.0.0.2/\n"
            "\n"
            "  --dir DIR       the directory to serve (default: the current one)\n"
            "  --port N        TCP port to listen on (default 80)\n"
            "  --quiet         no line per request\n");
    cli_host_usage(out);
    fprintf(out, "  -h, --help      this text\n");
}

enum { OPT_DIR = 0x200, OPT_PORT, OPT_QUIET };

static int server_option(int opt, const char *arg, void *ctx)
{
    struct options *o = ctx;
    uint64_t v;
    switch (opt) {
    case OPT_DIR: o->dir = arg; return 0;
    case OPT_QUIET: o->quiet = true; return 0;
    case OPT_PORT:
        if (!cli_parse_u64(arg, &v) || v == 0 || v > 65535)
            return cli_usage_error(PROG, "--port wants 1..65535, not '%s'", arg);
        o->port = (uint16_t)v;
        return 0;
    default: return cli_usage_error(PROG, "internal: unknown option %d", opt);
    }
}

static int parse_args(int argc, char **argv, struct options *o)
{
    static const struct option opts[] = {{"dir", required_argument, 0, OPT_DIR},
                                         {"port", required_argument, 0, OPT_PORT},
                                         {"quiet", no_argument, 0, OPT_QUIET},
                                         {0, 0, 0, 0}};
    const struct cli_extra x = {.opts = opts, .on_opt = server_option, .ctx = o, .usage = usage};
    cli_host_init(&o->host, PROG, true);
    o->dir = ".";
    o->port = 80;
    o->quiet = false;
    int rc = cli_parse(&o->host, argc, argv, &x);
    if (rc)
        return rc;
    if (optind < argc)
        return cli_usage_error(PROG, "unexpected argument '%s'", argv[optind]);
    struct stat st;
    if (stat(o->dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return cli_usage_error(PROG, "--dir %s is not a directory we can read", o->dir);
    return cli_host_finish(&o->host);
}

static int listen_on(uint16_t port)
{
    struct sockaddr_in me = {.sin_family = AF_INET, .sin_port = htons(port)};
    int one = 1;
    int fd = tapir_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    tapir_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (tapir_bind(fd, (struct sockaddr *)&me, sizeof(me)) < 0 ||
        tapir_listen(fd, HTTP_BACKLOG) < 0) {
        int e = errno;
        tapir_close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* Serves until SIGINT or SIGTERM. */
static void serve(struct http_server *hs, int sfd, struct tapir_host *host)
{
    unsigned room = http_poll_max(hs) + 1;
    struct pollfd *fds = calloc(room, sizeof(*fds));
    if (!fds) {
        perror(PROG);
        return;
    }
    for (;;) {
        unsigned n = http_poll_fill(hs, fds, room - 1);
        fds[n] = (struct pollfd){.fd = sfd, .events = POLLIN};
        if (tapir_poll(fds, n + 1, http_poll_timeout(hs)) < 0 && errno != EINTR) {
            perror(PROG ": poll");
            break;
        }
        http_poll_handle(hs, fds);
        if ((fds[n].revents & POLLIN) && cli_signals(sfd, host))
            break;
    }
    free(fds);
}

int main(int argc, char **argv)
{
    struct options o;
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc;
    int sfd = cli_signalfd(); /* before the host thread starts, so it inherits the mask */
    struct tapir_host *host = sfd >= 0 ? cli_host_open(&o.host) : NULL;
    if (!host)
        return EXIT_USAGE;
    int lfd = listen_on(o.port);
    if (lfd < 0) {
        fprintf(stderr, PROG ": cannot listen on TCP port %u: %s\n", o.port, strerror(errno));
        cli_host_close(&o.host, host);
        return 1;
    }
    const struct http_config cfg = {.root = o.dir, .log = o.quiet ? NULL : stdout};
    struct http_server *hs = http_server_new(lfd, &cfg);
    if (!hs) {
        fprintf(stderr, PROG ": cannot serve %s: %s\n", o.dir, strerror(errno));
        cli_host_close(&o.host, host);
        return 1;
    }
    char addr[INET_ADDRSTRLEN], url_port[8] = "";
    inet_ntop(AF_INET, &o.host.cfg.addr, addr, sizeof(addr));
    if (o.port != 80)
        snprintf(url_port, sizeof(url_port), ":%u", o.port);
    printf(PROG ": serving %s on http://%s%s/; try: curl http://%s%s/ (Ctrl-C stops)\n", o.dir,
           addr, url_port, addr, url_port);
    fflush(stdout);
    serve(hs, sfd, host);
    printf(PROG ": stopping\n");
    http_server_free(hs);
    cli_host_close(&o.host, host);
    close(sfd);
    return 0;
}
