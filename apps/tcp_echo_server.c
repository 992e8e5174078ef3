/* SPDX-License-Identifier: MIT */
/* tcp_echo_server.c: the seeds' TCP server over tapir. It listens, then serves one client at
 * a time, as the seeds' server loop does: accept, then recv and send back until recv returns
 * 0 (the client's FIN), then close and accept the next.
 *
 *   Python (the seed):                     tapir:
 *   ss = socket()                          lfd = tapir_socket(AF_INET, SOCK_STREAM, 0)
 *   ss.bind(("10.0.0.2", 7))               tapir_bind(lfd, &addr, sizeof(addr))
 *   ss.listen(5)                           tapir_listen(lfd, 5)
 *   cs, addr = ss.accept()                 fd = tapir_accept(lfd, &peer, &peer_len)
 *   data = cs.recv(1024)                   n = tapir_recv(fd, buf, sizeof(buf), 0)
 *   cs.send(data)                          tapir_send(fd, buf, n, 0)
 *   cs.close()                             tapir_close(fd)
 *
 * Each recv prints how many bytes it got: a stream has no message boundaries, so what the
 * client sent in one send may come in several recvs, or several sends in one. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "tapir/socket.h"

#define PROG "tcp_echo_server"
#define SHOW_BYTES 60

static void usage(FILE *out)
{
    fprintf(out,
            "usage: " PROG " [--port N] [--quiet] [host options]\n"
            "\n"
            "Echoes what each TCP client sends, one client after another, like the seeds' TCP\n"
            "server, over a tapir host (by default 10.0.0.2/24 on tap0). Try from the host:\n"
            "  nc 10.0.0.2 7\n"
            "\n"
            "  --port N        TCP port to listen on (default 7)\n"
            "  --quiet         do not print a line per connection and per recv\n");
    cli_host_usage(out);
    fprintf(out, "  -h, --help      this text\n");
}

/* One line per recv: how many bytes, and their start with non-printing bytes escaped. */
static void log_recv(const uint8_t *buf, size_t len)
{
    printf("  recv %zu bytes: '", len);
    for (size_t i = 0; i < len && i < SHOW_BYTES; i++)
        printf(isprint(buf[i]) ? "%c" : "\\x%02x", buf[i]);
    printf("'%s\n", len > SHOW_BYTES ? "..." : "");
    fflush(stdout);
}

/* The communication loop with one client. Returns false when a signal asks us to stop. */
static bool serve_client(int fd, int sfd, struct tapir_host *host, bool quiet)
{
    static uint8_t buf[65536];
    struct pollfd fds[2] = {{.fd = fd, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
    for (;;) {
        if (tapir_poll(fds, 2, -1) < 0 && errno != EINTR)
            return true;
        if ((fds[1].revents & POLLIN) && cli_signals(sfd, host))
            return false;
        if (!fds[0].revents)
            continue;
        ssize_t n = tapir_recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0 && errno == EAGAIN)
            continue;
        if (n <= 0) {
            if (!quiet)
                printf("  %s\n", n == 0 ? "recv 0: the client closed" : strerror(errno));
            return true;
        }
        if (!quiet)
            log_recv(buf, (size_t)n);
        if (tapir_send(fd, buf, (size_t)n, 0) != n) /* blocks until all is queued */
            return true;
    }
}

int main(int argc, char **argv)
{
    struct cli_server o;
    int rc = cli_parse_server_cmdline(&o, PROG, 7, argc, argv, usage);
    if (rc)
        return rc;
    int sfd = cli_signalfd();
    struct tapir_host *host = sfd >= 0 ? cli_host_open(&o.host) : NULL;
    if (!host)
        return EXIT_USAGE;
    int lfd = tapir_socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in me = {.sin_family = AF_INET, .sin_port = htons(o.port)};
    int one = 1;
    tapir_setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (lfd < 0 || tapir_bind(lfd, (struct sockaddr *)&me, sizeof(me)) < 0 ||
        tapir_listen(lfd, 5) < 0) {
        fprintf(stderr, PROG ": cannot listen on TCP port %u: %s\n", o.port, strerror(errno));
        cli_host_close(&o.host, host);
        return 1;
    }
    char addr[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &o.host.cfg.addr, addr, sizeof(addr));
    printf(PROG ": listening on %s:%u; try: nc %s %u (Ctrl-C stops)\n", addr, o.port, addr,
           o.port);
    fflush(stdout);

    struct pollfd fds[2] = {{.fd = lfd, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
    bool running = true;
    while (running) {
        if (tapir_poll(fds, 2, -1) < 0 && errno != EINTR)
            break;
        if ((fds[1].revents & POLLIN) && cli_signals(sfd, host))
            break;
        if (!(fds[0].revents & POLLIN))
            continue;
        struct sockaddr_in peer;
        socklen_t peer_len = sizeof(peer);
        int fd = tapir_accept(lfd, (struct sockaddr *)&peer, &peer_len);
        if (fd < 0)
            continue;
        char paddr[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &peer.sin_addr, paddr, sizeof(paddr));
        if (!o.quiet)
            printf("client %s:%u connected\n", paddr, ntohs(peer.sin_port));
        fflush(stdout);
        running = serve_client(fd, sfd, host, o.quiet);
        tapir_close(fd);
        if (!o.quiet)
            printf("client %s:%u done\n", paddr, ntohs(peer.sin_port));
        fflush(stdout);
    }
    printf(PROG ": stopping\n");
    tapir_close(lfd);
    cli_host_close(&o.host, host);
    close(sfd);
    return 0;
}
