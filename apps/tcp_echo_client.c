/* SPDX-License-Identifier: MIT */
/* tcp_echo_client.c: the seeds' TCP client over tapir. It connects (tapir's active open: SYN,
 * SYN-ACK, ACK over the TAP), then reads lines from stdin, sends each, and prints the echo;
 * "exit" or end of input closes the connection (FIN) and ends the program.
 *
 *   Python (the seeds, 000/004):             tapir:
 *   client = socket.socket()                  fd = tapir_socket(AF_INET, SOCK_STREAM, 0)
 *   client.connect(("10.0.0.1", 9000))        tapir_connect(fd, &server, sizeof(server))
 *   msg = input(">>: ")                       getline(&line, &cap, stdin)
 *   client.send(msg.encode("utf-8"))          tapir_send(fd, line, len, 0)
 *   data = client.recv(1024)                  tapir_recv(fd, echo + got, want - got, 0)
 *   client.close()                            tapir_shutdown(fd, SHUT_WR), then tapir_close
 *
 * As the seeds warn, a TCP stream cannot carry an empty message: sending zero bytes sends
 * nothing, and a recv waiting for the echo would wait forever. So an empty line is skipped.
 * And since a stream has no boundaries, the echo of one line may arrive in pieces: the client
 * reads until it has as many bytes as it sent. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "tapir/socket.h"

#define PROG "tcp_echo_client"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: " PROG " [options] SERVER PORT\n"
            "\n"
            "Connects to SERVER:PORT over a tapir host (by default 10.0.0.2/24 on tap0), sends\n"
            "each line typed on stdin and prints the echo, like the seeds' TCP client; 'exit' or\n"
            "end of input stops it. Try against an echo server on the host at 10.0.0.1:9000\n"
            "(the README has a three-line Python one), then: " PROG " 10.0.0.1 9000\n"
            "\n"
            "  --timeout MS    how long to wait for each echo (default 5000)\n");
    cli_host_usage(out);
    fprintf(out, "  -h, --help      this text\n");
}

static int connect_to(const struct cli_client *o)
{
    int fd = tapir_socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {.tv_sec = (time_t)(o->timeout_ms / 1000),
                         .tv_usec = (suseconds_t)(o->timeout_ms % 1000 * 1000)};
    if (fd < 0 || tapir_setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
        tapir_setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
        return -1;
    if (tapir_connect(fd, (const struct sockaddr *)&o->server, sizeof(o->server)) < 0) {
        int e = errno;
        tapir_close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* Sends one line and prints its echo. False when the connection is over. */
static bool exchange(int fd, const char *line, size_t len)
{
    static char echo[65536];
    if (tapir_send(fd, line, len, 0) != (ssize_t)len) {
        printf("send failed: %s\n", strerror(errno));
        return false;
    }
    size_t got = 0, want = len < sizeof(echo) ? len : sizeof(echo);
    while (got < want) {
        ssize_t n = tapir_recv(fd, echo + got, want - got, 0);
        if (n == 0) {
            printf("the server closed the connection\n");
            return false;
        }
        if (n < 0) {
            printf("recv failed: %s\n", errno == EAGAIN ? "no echo in time" : strerror(errno));
            return false;
        }
        got += (size_t)n;
    }
    printf("echo: %.*s\n", (int)got, echo);
    fflush(stdout);
    return true;
}

/* The seeds' communication loop: a line typed, its echo printed. Returns why it ended
 * ("exit", "end of input"), or NULL when the connection failed (exchange said how). */
static const char *talk(int fd)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    const char *why = "end of input";
    while ((len = getline(&line, &cap, stdin)) >= 0) {
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = '\0';
        if (strcmp(line, "exit") == 0) {
            why = "exit";
            break;
        }
        if (len == 0) {
            printf("(an empty line is no message on a stream: skipped)\n");
            continue;
        }
        if (!exchange(fd, line, (size_t)len)) {
            why = NULL; /* the connection is already over, and exchange said why */
            break;
        }
    }
    free(line);
    return why;
}

int main(int argc, char **argv)
{
    struct cli_client o;
    int rc = cli_parse_client_cmdline(&o, PROG, 5000, false, argc, argv, usage);
    if (rc)
        return rc;
    struct tapir_host *host = cli_host_open(&o.host);
    if (!host)
        return EXIT_USAGE;
    char addr[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &o.server.sin_addr, addr, sizeof(addr));
    int fd = connect_to(&o);
    if (fd < 0) {
        fprintf(stderr, PROG ": cannot connect to %s:%u: %s\n", addr, ntohs(o.server.sin_port),
                strerror(errno));
        cli_host_close(&o.host, host);
        return 1;
    }
    printf("connected to %s:%u\n", addr, ntohs(o.server.sin_port));
    fflush(stdout);
    const char *why = talk(fd);
    /* A clean end: our FIN first (shutdown), then wait for the server's (recv returns 0),
     * so the four-way close completes before the host goes away. */
    if (why)
        printf("%s: closing the connection\n", why);
    fflush(stdout);
    tapir_shutdown(fd, SHUT_WR);
    static char rest[4096];
    ssize_t n;
    while ((n = tapir_recv(fd, rest, sizeof(rest), 0)) > 0)
        ;
    if (why && n == 0)
        printf("the server closed too (recv returned 0)\n");
    tapir_close(fd);
    cli_host_close(&o.host, host);
    return 0;
}
