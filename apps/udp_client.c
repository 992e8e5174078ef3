/* SPDX-License-Identifier: MIT */
/* udp_client.c: the seeds' UDP client over tapir. Reads lines from stdin, sends each (without
 * its newline) as one datagram, and prints the reply and who sent it. An empty line is still a
 * datagram, of zero bytes, and comes back as one: UDP has message boundaries. "exit" or EOF
 * ends the program.
 *
 * By default the socket is unconnected, as in the seed, so an ICMP port unreachable from the
 * server's host is not reported (Linux behaves the same); with --connect the socket is
 * connected and the next call fails with ECONNREFUSED instead. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "tapir/socket.h"

#define PROG "udp_client"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: " PROG " [options] SERVER PORT\n"
            "\n"
            "Sends each line typed on stdin to SERVER:PORT as one UDP datagram and prints the\n"
            "reply, like the seeds' UDP client, over a tapir host (by default 10.0.0.2/24 on\n"
            "tap0). 'exit' or end of input stops it. Try against the host's own echo server:\n"
            "  nc -u -l -k 10.0.0.1 9999 on the host, then: " PROG " 10.0.0.1 9999\n"
            "\n"
            "  --timeout MS    how long to wait for each reply (default 2000)\n"
            "  --connect       connect the socket, so an ICMP port unreachable is reported\n");
    cli_host_usage(out);
    fprintf(out, "  -h, --help      this text\n");
}

static int open_socket(const struct cli_client *o)
{
    int fd = tapir_socket(AF_INET, SOCK_DGRAM, 0);
    struct timeval tv = {.tv_sec = (time_t)(o->timeout_ms / 1000),
                         .tv_usec = (suseconds_t)(o->timeout_ms % 1000 * 1000)};
    if (fd < 0 || tapir_setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
        return -1;
    if (o->connect &&
        tapir_connect(fd, (const struct sockaddr *)&o->server, sizeof(o->server)) < 0)
        return -1;
    return fd;
}

/* Sends one line and prints the answer. Returns false when the program should stop. */
static bool exchange(int fd, const struct cli_client *o, const char *line, size_t len)
{
    static char reply[65536];
    if (tapir_sendto(fd, line, len, 0, (const struct sockaddr *)&o->server,
                     sizeof(o->server)) < 0) {
        printf("send failed: %s\n", strerror(errno));
        return errno != EBADF;
    }
    struct sockaddr_in from;
    socklen_t from_len = sizeof(from);
    ssize_t n = tapir_recvfrom(fd, reply, sizeof(reply), 0, (struct sockaddr *)&from, &from_len);
    if (n < 0 && errno == EAGAIN)
        printf("no reply within %llu ms\n", (unsigned long long)o->timeout_ms);
    else if (n < 0)
        printf("recv failed: %s\n", strerror(errno));
    else {
        char addr[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &from.sin_addr, addr, sizeof(addr));
        printf("reply from %s:%u, %zd bytes: %.*s\n", addr, ntohs(from.sin_port), n, (int)n,
               reply);
    }
    fflush(stdout);
    return true;
}

int main(int argc, char **argv)
{
    struct cli_client o;
    int rc = cli_parse_client_cmdline(&o, PROG, 2000, true, argc, argv, usage);
    if (rc)
        return rc;
    struct tapir_host *host = cli_host_open(&o.host);
    if (!host)
        return EXIT_USAGE;
    int fd = open_socket(&o);
    if (fd < 0) {
        fprintf(stderr, PROG ": cannot open the socket: %s\n", strerror(errno));
        cli_host_close(&o.host, host);
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, stdin)) >= 0) {
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = '\0';
        if (strcmp(line, "exit") == 0)
            break;
        if (!exchange(fd, &o, line, (size_t)len))
            break;
    }
    free(line);
    tapir_close(fd);
    cli_host_close(&o.host, host);
    return 0;
}
