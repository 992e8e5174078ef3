/* SPDX-License-Identifier: MIT */
/* rcmd_client.c: the seeds' remote-command client over tapir, and their "sticky packet"
 * lesson from the client's side. It reads commands from stdin, one a line, sends each to a
 * server that runs it (rcmd_server, or the seeds' Python server), and prints the output.
 * "exit" or end of input closes the connection.
 *
 *   Python (the seeds, 003):                      tapir:
 *   client.connect(("10.0.0.1", 8000))             tapir_connect(fd, &server, sizeof(server))
 *   cmd = input(">>: ")                            getline(&line, &cap, stdin)
 *   client.send(cmd.encode("utf-8"))               --naive: tapir_send(fd, line, len, 0)
 *   data = client.recv(1024)                       --naive: tapir_recv(fd, buf, 1024, 0), once
 *   header = struct.pack('i', len(cmd))            framed (the default): 4 bytes, big-endian
 *   length = struct.unpack('i', recv(4))[0]        recv_exact(fd, header, 4), ntohl
 *   while got < length: data += recv(...)          recv_exact(fd, body, length)
 *
 * --naive is the seeds' first client: one recv of at most 1024 bytes (--recv-size) per
 * command, printed as it is. So a longer reply is left half-read, and the rest comes out of
 * the next command's recv; and a reply the server sent in two sends (the seeds' server sends
 * stdout, then stderr) can come in two recvs: the server's Nagle holds the second send until
 * tapir acknowledges the first, and tapir delays that ACK (up to 40 ms) hoping to send it
 * with data. A command with no output gets nothing back at all, and the recv waits out
 * --timeout: a stream cannot carry an empty message.
 *
 * The default frames every message, both ways, with a 4-byte length in network byte order
 * (big-endian; the seed's struct.pack('i') uses the machine's order), and reads exactly 4
 * bytes, then exactly that many: each reply is exactly one command's output, however TCP cut
 * or joined it on the way. An empty command, and an empty reply, are then possible too. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "tapir/socket.h"

#define PROG "rcmd_client"
#define REPLY_MAX_BYTES (64u << 20) /* framed: a longer announced reply ends the session */

struct rcmd_opts {
    struct cli_host host;
    struct sockaddr_in server;
    bool naive;
    size_t recv_bytes; /* --naive: the size of its one recv per command */
    uint64_t timeout_ms;
};

enum { OPT_NAIVE = 0x300, OPT_RECV_SIZE, OPT_TIMEOUT };

static void usage(FILE *out)
{
    fprintf(out,
            "usage: " PROG " [--naive] [--recv-size N] [--timeout MS] [options] SERVER PORT\n"
            "\n"
            "Sends each command typed on stdin (one a line) to a remote-command server at\n"
            "SERVER:PORT and prints its output, like the seeds' client, over a tapir host (by\n"
            "default 10.0.0.2/24 on tap0). 'exit' or end of input stops it. The server runs\n"
            "what you send as a shell command: see rcmd_server --help.\n"
            "\n"
            "  --naive         the seeds' first client: the command goes raw, and one recv of\n"
            "                  --recv-size bytes is taken as its output (sticky packets);\n"
            "                  the server must be naive too (default: each message behind a\n"
            "                  4-byte big-endian length)\n"
            "  --recv-size N   --naive: bytes per recv, 1..65536 (default 1024, the seed's)\n"
            "  --timeout MS    how long to wait for a reply (default 15000)\n");
    cli_host_usage(out);
    fprintf(out, "  -h, --help      this text\n");
}

static int rcmd_option(int opt, const char *arg, void *ctx)
{
    struct rcmd_opts *o = ctx;
    uint64_t v;
    switch (opt) {
    case OPT_NAIVE: o->naive = true; return 0;
    case OPT_TIMEOUT: return cli_parse_timeout(PROG, arg, &o->timeout_ms);
    default:
        if (!cli_parse_u64(arg, &v) || v == 0 || v > 65536)
            return cli_usage_error(PROG, "--recv-size wants 1..65536 bytes, not '%s'", arg);
        o->recv_bytes = (size_t)v;
        return 0;
    }
}

static int parse_args(struct rcmd_opts *o, int argc, char **argv)
{
    static const struct option opts[] = {{"naive", no_argument, 0, OPT_NAIVE},
                                         {"recv-size", required_argument, 0, OPT_RECV_SIZE},
                                         {"timeout", required_argument, 0, OPT_TIMEOUT},
                                         {0, 0, 0, 0}};
    const struct cli_extra x = {.opts = opts, .on_opt = rcmd_option, .ctx = o, .usage = usage};
    memset(o, 0, sizeof(*o));
    cli_host_init(&o->host, PROG, true);
    o->recv_bytes = 1024;
    o->timeout_ms = 15000;
    int rc = cli_parse(&o->host, argc, argv, &x);
    if (rc == 0)
        rc = cli_parse_server(PROG, argc, argv, &o->server);
    return rc ? rc : cli_host_finish(&o->host);
}

static int connect_to(const struct rcmd_opts *o)
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
        errno = e == EINPROGRESS ? ETIMEDOUT : e;
        return -1;
    }
    return fd;
}

/* Prints what came, under a line saying how much; marks a reply that stops mid-line. */
static void print_reply(const char *what, const char *data, size_t len)
{
    printf("[%s %zu bytes]\n", what, len);
    fwrite(data, 1, len, stdout);
    if (len && data[len - 1] != '\n')
        printf("\n[...cut mid-line]\n");
    fflush(stdout);
}

/* Says why a recv brought nothing. False: the connection is over. */
static bool recv_failed(ssize_t n, const struct rcmd_opts *o)
{
    if (n == 0)
        printf("the server closed the connection (recv returned 0)\n");
    else if (errno == EAGAIN)
        printf("[nothing within %llu ms%s]\n", (unsigned long long)o->timeout_ms,
               o->naive ? ": a command with no output sends nothing, and a stream cannot "
                          "carry an empty message"
                        : "");
    else
        printf("recv failed: %s\n", strerror(errno));
    fflush(stdout);
    return n < 0 && errno == EAGAIN && o->naive; /* naive: the next command may still work */
}

/* The seeds' first client: send the command raw, take one recv as its output. */
static bool naive_exchange(int fd, const struct rcmd_opts *o, const char *cmd, size_t len)
{
    static char buf[65536];
    if (len == 0) {
        printf("(an empty line is no message on a stream: skipped)\n");
        return true;
    }
    if (tapir_send(fd, cmd, len, 0) != (ssize_t)len) {
        printf("send failed: %s\n", strerror(errno));
        return false;
    }
    ssize_t n = tapir_recv(fd, buf, o->recv_bytes, 0);
    if (n <= 0)
        return recv_failed(n, o);
    print_reply("recv", buf, (size_t)n);
    return true;
}

/* Reads exactly len bytes (the seeds' loop of recvs). Returns the count, less than len at
 * the end of the stream or on an error (errno, or 0 for the end). */
static size_t recv_exact(int fd, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = tapir_recv(fd, (char *)buf + got, len - got, 0);
        if (n <= 0) {
            if (n == 0)
                errno = 0;
            break;
        }
        got += (size_t)n;
    }
    return got;
}

/* The fix: the command behind its length, then exactly one reply. */
static bool framed_exchange(int fd, const struct rcmd_opts *o, const char *cmd, size_t len)
{
    char *msg = malloc(4 + len);
    uint32_t be = htonl((uint32_t)len);
    if (!msg)
        return false;
    memcpy(msg, &be, 4); /* header and command in one send: Nagle would hold a second one */
    memcpy(msg + 4, cmd, len);
    bool ok = tapir_send(fd, msg, 4 + len, 0) == (ssize_t)(4 + len);
    free(msg);
    if (!ok) {
        printf("send failed: %s\n", strerror(errno));
        return false;
    }
    uint8_t header[4];
    if (recv_exact(fd, header, 4) != 4)
        return recv_failed(errno ? -1 : 0, o);
    memcpy(&be, header, 4);
    uint32_t want = ntohl(be);
    char *reply = want <= REPLY_MAX_BYTES ? malloc(want ? want : 1) : NULL;
    if (!reply) {
        printf("a reply of %u bytes announced: more than we take; closing\n", want);
        return false;
    }
    size_t got = recv_exact(fd, reply, want);
    if (got == want)
        print_reply("reply", reply, got);
    else
        recv_failed(errno ? -1 : 0, o);
    free(reply);
    return got == want;
}

int main(int argc, char **argv)
{
    struct rcmd_opts o;
    int rc = parse_args(&o, argc, argv);
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
    if (o.naive)
        printf("connected to %s:%u (naive: commands raw, one recv(%zu) per command)\n", addr,
               ntohs(o.server.sin_port), o.recv_bytes);
    else
        printf("connected to %s:%u (framed: a 4-byte big-endian length before each message)\n",
               addr, ntohs(o.server.sin_port));
    fflush(stdout);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, stdin)) >= 0) {
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = '\0';
        if (strcmp(line, "exit") == 0)
            break;
        if (!(o.naive ? naive_exchange : framed_exchange)(fd, &o, line, (size_t)len))
            break;
    }
    free(line);
    /* Our FIN first; then whatever is still on its way, until the server's FIN. */
    tapir_shutdown(fd, SHUT_WR);
    static char rest[4096];
    while (tapir_recv(fd, rest, sizeof(rest), 0) > 0)
        ;
    tapir_close(fd);
    cli_host_close(&o.host, host);
    return 0;
}
