/* SPDX-License-Identifier: MIT */
/* udp_echo_server.c: the seeds' UDP server over tapir. It binds a port, then loops: receive a
 * datagram with recvfrom, print who sent what, send it back with sendto. UDP keeps message
 * boundaries, so each datagram comes back whole and alone, an empty one included.
 *
 *   Python (the seed):                     tapir:
 *   s = socket(type=SOCK_DGRAM)            fd = tapir_socket(AF_INET, SOCK_DGRAM, 0)
 *   s.bind(("10.0.0.2", 7))                tapir_bind(fd, &addr, sizeof(addr))
 *   msg, addr = s.recvfrom(65535)          n = tapir_recvfrom(fd, buf, ..., &from, &len)
 *   s.sendto(msg, addr)                    tapir_sendto(fd, buf, n, 0, &from, len)
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "tapir/socket.h"

#define PROG "udp_echo_server"
#define SHOW_BYTES 60 /* how much of each datagram the log line shows */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: " PROG " [--port N] [--quiet] [host options]\n"
            "\n"
            "Echoes every UDP datagram back to its sender, like the seeds' UDP server, over a\n"
            "tapir host (by default 10.0.0.2/24 on tap0). Try from the host: nc -u 10.0.0.2 7\n"
            "\n"
            "  --port N        UDP port to serve (default 7)\n"
            "  --quiet         do not print a line per datagram\n");
    cli_host_usage(out);
    fprintf(out, "  -h, --help      this text\n");
}

/* One line per datagram: sender, length, and the start of the data with non-printing bytes
 * escaped. */
static void log_datagram(const struct sockaddr_in *from, const uint8_t *buf, size_t len)
{
    char addr[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &from->sin_addr, addr, sizeof(addr));
    printf("from %s:%u, %zu bytes: '", addr, ntohs(from->sin_port), len);
    for (size_t i = 0; i < len && i < SHOW_BYTES; i++)
        printf(isprint(buf[i]) ? "%c" : "\\x%02x", buf[i]);
    printf("'%s\n", len > SHOW_BYTES ? "..." : "");
    fflush(stdout);
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
    int fd = tapir_socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in me = {.sin_family = AF_INET, .sin_port = htons(o.port)};
    if (fd < 0 || tapir_bind(fd, (struct sockaddr *)&me, sizeof(me)) < 0) {
        fprintf(stderr, PROG ": cannot bind UDP port %u: %s\n", o.port, strerror(errno));
        cli_host_close(&o.host, host);
        return 1;
    }
    char addr[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &o.host.cfg.addr, addr, sizeof(addr));
    printf(PROG ": echoing UDP on %s:%u; try: nc -u %s %u (Ctrl-C stops)\n", addr, o.port, addr,
           o.port);
    fflush(stdout);

    static uint8_t buf[65536];
    struct pollfd fds[2] = {{.fd = fd, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
    for (;;) {
        /* Wait for a datagram or a signal at once: tapir_poll mixes both kinds of fd. */
        if (tapir_poll(fds, 2, -1) < 0 && errno != EINTR)
            break;
        if ((fds[1].revents & POLLIN) && cli_signals(sfd, host))
            break;
        if (!(fds[0].revents & POLLIN))
            continue;
        struct sockaddr_in from;
        socklen_t from_len = sizeof(from);
        ssize_t n = tapir_recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from,
                                   &from_len);
        if (n < 0)
            continue; /* EAGAIN; or an error a client's ICMP caused, which is theirs */
        if (!o.quiet)
            log_datagram(&from, buf, (size_t)n);
        if (tapir_sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, from_len) < 0)
            fprintf(stderr, PROG ": echo lost: %s\n", strerror(errno));
    }
    printf(PROG ": stopping\n");
    tapir_close(fd);
    cli_host_close(&o.host, host);
    close(sfd);
    return 0;
}
