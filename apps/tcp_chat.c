/* SPDX-License-Identifier: MIT */
/* tcp_chat.c: the seeds' two-party TCP chat over tapir, where both sides type. One side
 * listens (--listen), the other connects (SERVER PORT); each line typed is sent, each line
 * received is printed as "peer: ...", and "exit" or end of input closes our side.
 *
 *   Python (seed 003's TCP pair):            tapir:
 *   server.listen(3)                          tapir_listen(lfd, 1)    (--listen)
 *   conn, addr = server.accept()              fd = tapir_accept(lfd, &peer, &peer_len)
 *   client.connect(ip_port)                   tapir_connect(fd, &server, sizeof(server))
 *   msg = conn.recv(1024); print(msg)         tapir_recv(fd, buf, sizeof(buf), MSG_DONTWAIT)
 *   to_client_msg = input(...)                read(0, ...), split into lines
 *   conn.send(to_client_msg.encode())         tapir_send(fd, line, len, 0)
 *
 * The seeds' version takes turns: input() blocks until we type, recv() until the peer
 * writes, so whoever speaks out of turn waits. Here one tapir_poll() waits on stdin (a kernel
 * descriptor) and the socket together, so either side may type at any time.
 *
 * A stream has no message boundaries, so the chat makes its own: a line ends at '\n'. What
 * arrives is cut at each '\n' however the recvs split it, and the newline is sent in the same
 * send as its line (two sends would let Nagle hold the newline back for an ACK).
 *
 * The end is TCP's four-way close: "exit" or end of input sends our FIN (shutdown SHUT_WR);
 * the peer sees recv return 0 and closes too; we print what it still sends until its FIN (for
 * up to PEER_FIN_WAIT_MS). When the peer closes first, our recv returns 0: we say so, and
 * close. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "tapir/socket.h"

#define PROG "tcp_chat"
#define LINE_MAX_BYTES 4096 /* a longer line is sent (or printed) in pieces of this size */
/* After our FIN, how long to wait for the peer's. A program answers at once (its recv
 * returns 0 and it closes); nc keeps its half open until its own input ends, so a person
 * at an nc would keep us waiting: we close anyway after this. */
#define PEER_FIN_WAIT_MS 2000

struct chat_opts {
    struct cli_host host;
    bool listen;
    bool port_given;
    uint16_t port;             /* --listen: ours */
    struct sockaddr_in server; /* otherwise: whom to connect to */
    uint64_t timeout_ms;       /* connect, and each send */
};

/* Bytes up to the next '\n', in each direction. */
struct line_buf {
    char buf[LINE_MAX_BYTES];
    size_t len;
};

enum { OPT_LISTEN = 0x300, OPT_PORT, OPT_TIMEOUT };
#define STOPPED (-2) /* wait_for_peer: a signal asked us to stop */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: " PROG " --listen [--port N] [options]\n"
            "       " PROG " [options] SERVER PORT\n"
            "\n"
            "A two-party line chat over TCP, like the seeds' chat, over a tapir host (by\n"
            "default 10.0.0.2/24 on tap0). Each line typed is sent; each line received is\n"
            "printed as 'peer: ...'; 'exit' or end of input (Ctrl-D) closes the connection.\n"
            "Either side may type at any time. Try:\n"
            "  " PROG " --listen          then on the host: nc -N 10.0.0.2 9000\n"
            "  nc -l 10.0.0.1 9000 on the host, then: " PROG " 10.0.0.1 9000\n"
            "\n"
            "  --listen        wait for one peer to connect, instead of connecting\n"
            "  --port N        with --listen, the TCP port to listen on (default 9000)\n"
            "  --timeout MS    how long to wait for the connection to open (default 5000)\n"
            "After 'exit' it waits up to 2 s for the peer to close its side too.\n");
    cli_host_usage(out);
    fprintf(out, "  -h, --help      this text\n");
}

static int chat_option(int opt, const char *arg, void *ctx)
{
    struct chat_opts *o = ctx;
    uint64_t v;
    switch (opt) {
    case OPT_LISTEN: o->listen = true; return 0;
    case OPT_TIMEOUT: return cli_parse_timeout(PROG, arg, &o->timeout_ms);
    default:
        if (!cli_parse_u64(arg, &v) || v == 0 || v > 65535)
            return cli_usage_error(PROG, "--port wants 1..65535, not '%s'", arg);
        o->port = (uint16_t)v;
        o->port_given = true;
        return 0;
    }
}

static int parse_args(struct chat_opts *o, int argc, char **argv)
{
    static const struct option opts[] = {{"listen", no_argument, 0, OPT_LISTEN},
                                         {"port", required_argument, 0, OPT_PORT},
                                         {"timeout", required_argument, 0, OPT_TIMEOUT},
                                         {0, 0, 0, 0}};
    const struct cli_extra x = {.opts = opts, .on_opt = chat_option, .ctx = o, .usage = usage};
    memset(o, 0, sizeof(*o));
    cli_host_init(&o->host, PROG, true);
    o->port = 9000;
    o->timeout_ms = 5000;
    int rc = cli_parse(&o->host, argc, argv, &x);
    if (rc)
        return rc;
    if (o->listen && optind < argc)
        return cli_usage_error(PROG, "--listen takes no SERVER PORT, but got '%s'", argv[optind]);
    if (!o->listen && o->port_given)
        return cli_usage_error(PROG, "--port is for --listen; to connect, give SERVER PORT");
    if (!o->listen && (rc = cli_parse_server(PROG, argc, argv, &o->server)))
        return rc;
    return cli_host_finish(&o->host);
}

static void set_timeouts(int fd, uint64_t timeout_ms)
{
    struct timeval tv = {.tv_sec = (time_t)(timeout_ms / 1000),
                         .tv_usec = (suseconds_t)(timeout_ms % 1000 * 1000)};
    tapir_setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    tapir_setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static void print_peer_addr(const char *what, const struct sockaddr_in *a)
{
    char addr[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a->sin_addr, addr, sizeof(addr));
    printf("%s %s:%u; type lines to send, 'exit' or end of input (Ctrl-D) ends the chat\n", what,
           addr, ntohs(a->sin_port));
    fflush(stdout);
}

/* --listen: the seed's server. Waits for one peer, then stops listening: a chat has two
 * parties, so a third connection attempt is refused with a reset. Returns the connection,
 * -1 on a failure, STOPPED on Ctrl-C or SIGTERM. */
static int wait_for_peer(const struct chat_opts *o, int sfd, struct tapir_host *host)
{
    int lfd = tapir_socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in me = {.sin_family = AF_INET, .sin_port = htons(o->port),
                             .sin_addr = o->host.cfg.addr};
    int one = 1, fd = -1;
    if (lfd < 0 || tapir_setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        tapir_bind(lfd, (struct sockaddr *)&me, sizeof(me)) < 0 || tapir_listen(lfd, 1) < 0) {
        fprintf(stderr, PROG ": cannot listen on TCP port %u: %s\n", o->port, strerror(errno));
        goto out;
    }
    char addr[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &me.sin_addr, addr, sizeof(addr));
    printf(PROG ": waiting for a peer on %s:%u; try: nc -N %s %u (Ctrl-C stops)\n", addr,
           o->port, addr, o->port);
    fflush(stdout);
    struct pollfd fds[2] = {{.fd = lfd, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
    while (fd < 0) {
        if (tapir_poll(fds, 2, -1) < 0 && errno != EINTR)
            break;
        if ((fds[1].revents & POLLIN) && cli_signals(sfd, host)) {
            fd = STOPPED;
            break;
        }
        struct sockaddr_in peer;
        socklen_t peer_len = sizeof(peer);
        if ((fds[0].revents & POLLIN) &&
            (fd = tapir_accept(lfd, (struct sockaddr *)&peer, &peer_len)) >= 0)
            print_peer_addr("a peer connected from", &peer);
    }
out:
    if (lfd >= 0)
        tapir_close(lfd);
    return fd;
}

/* The seed's client: tapir's active open. A closed port is "Connection refused". */
static int connect_to(const struct chat_opts *o)
{
    char addr[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &o->server.sin_addr, addr, sizeof(addr));
    int fd = tapir_socket(AF_INET, SOCK_STREAM, 0);
    if (fd >= 0) {
        set_timeouts(fd, o->timeout_ms);
        if (tapir_connect(fd, (const struct sockaddr *)&o->server, sizeof(o->server)) == 0) {
            print_peer_addr("connected to", &o->server);
            return fd;
        }
    }
    int e = errno;
    fprintf(stderr, PROG ": cannot connect to %s:%u: %s\n", addr, ntohs(o->server.sin_port),
            e == EINPROGRESS ? "no answer in time" : strerror(e));
    if (fd >= 0)
        tapir_close(fd);
    return -1;
}

/* Prints each complete line received as "peer: ...", keeping a partial one for later. */
static void print_peer_lines(struct line_buf *in, const char *data, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bool eol = data[i] == '\n';
        if (!eol)
            in->buf[in->len++] = data[i];
        if (eol || in->len == sizeof(in->buf)) {
            printf("peer: %.*s\n", (int)in->len, in->buf);
            in->len = 0;
        }
    }
    fflush(stdout);
}

static void print_peer_rest(struct line_buf *in)
{
    if (in->len)
        printf("peer: %.*s\n", (int)in->len, in->buf);
    in->len = 0;
    fflush(stdout);
}

static bool is_exit(const char *line, size_t len)
{
    if (len && line[len - 1] == '\r') /* a terminal in CRLF mode, or nc -C */
        len--;
    return len == 4 && memcmp(line, "exit", 4) == 0;
}

enum typed { TYPED_MORE, TYPED_EXIT, TYPED_EOF, TYPED_FAILED };

/* Sends one line, its newline included, in one send. */
static bool send_line(int fd, const char *line, size_t len)
{
    if (tapir_send(fd, line, len, 0) == (ssize_t)len)
        return true;
    printf("send failed: %s\n", strerror(errno));
    return false;
}

/* Sends each complete line typed, up to "exit". */
static enum typed send_typed_lines(int fd, struct line_buf *out, bool eof)
{
    size_t start = 0;
    for (size_t i = 0; i < out->len; i++) {
        if (out->buf[i] != '\n')
            continue;
        if (is_exit(out->buf + start, i - start))
            return TYPED_EXIT;
        if (!send_line(fd, out->buf + start, i + 1 - start))
            return TYPED_FAILED;
        start = i + 1;
    }
    memmove(out->buf, out->buf + start, out->len - start);
    out->len -= start;
    /* A line as long as the buffer goes as it is; an unfinished last line at the end of
     * input goes with the newline it lacks. */
    if (eof && out->len && out->len < sizeof(out->buf)) {
        if (is_exit(out->buf, out->len))
            return TYPED_EXIT;
        out->buf[out->len++] = '\n';
    }
    if (out->len == sizeof(out->buf) || (eof && out->len)) {
        if (!send_line(fd, out->buf, out->len))
            return TYPED_FAILED;
        out->len = 0;
    }
    return eof ? TYPED_EOF : TYPED_MORE;
}

/* Reads what was typed and sends the lines it completes. */
static enum typed read_typed(int fd, struct line_buf *out)
{
    ssize_t n = read(STDIN_FILENO, out->buf + out->len, sizeof(out->buf) - out->len);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return TYPED_MORE;
    if (n > 0)
        out->len += (size_t)n;
    return send_typed_lines(fd, out, n <= 0);
}

enum chat_end { END_LOCAL, END_PEER, END_SIGNAL, END_ERROR };

/* Reads what the peer sent. Returns END_PEER at its FIN, END_ERROR on a failure, or
 * END_LOCAL (meaning: carry on). */
static enum chat_end read_peer(int fd, struct line_buf *in)
{
    char buf[LINE_MAX_BYTES];
    ssize_t n = tapir_recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0) {
        print_peer_lines(in, buf, (size_t)n);
        return END_LOCAL;
    }
    if (n < 0 && errno == EAGAIN)
        return END_LOCAL;
    print_peer_rest(in);
    if (n == 0)
        printf("the peer closed the connection (recv returned 0)\n");
    else
        printf("the connection failed: %s\n", strerror(errno));
    fflush(stdout);
    return n == 0 ? END_PEER : END_ERROR;
}

/* Both sides typing: one poll over the socket, stdin and the signals. */
static enum chat_end chat(int fd, int sfd, struct tapir_host *host, struct line_buf *in)
{
    static struct line_buf out;
    struct pollfd fds[3] = {{.fd = fd, .events = POLLIN},
                            {.fd = STDIN_FILENO, .events = POLLIN},
                            {.fd = sfd, .events = POLLIN}};
    for (;;) {
        if (tapir_poll(fds, 3, -1) < 0 && errno != EINTR)
            return END_ERROR;
        if ((fds[2].revents & POLLIN) && cli_signals(sfd, host))
            return END_SIGNAL;
        if (fds[0].revents) {
            enum chat_end e = read_peer(fd, in);
            if (e != END_LOCAL)
                return e;
        }
        enum typed t = fds[1].revents ? read_typed(fd, &out) : TYPED_MORE;
        if (t == TYPED_FAILED)
            return END_ERROR;
        if (t != TYPED_MORE) {
            printf("%s: closing our side (FIN)\n", t == TYPED_EOF ? "end of input" : "exit");
            fflush(stdout);
            return END_LOCAL;
        }
    }
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* After our FIN: the peer may still send; print it until its FIN, for at most timeout_ms. */
static void wait_for_peer_close(int fd, struct line_buf *in, uint64_t timeout_ms)
{
    uint64_t deadline = now_ms() + timeout_ms;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    for (uint64_t now = now_ms(); now < deadline; now = now_ms()) {
        if (tapir_poll(&pfd, 1, (int)(deadline - now)) <= 0)
            continue;
        if (read_peer(fd, in) != END_LOCAL)
            return;
    }
    print_peer_rest(in);
    printf("the peer did not close within %llu ms; closing anyway\n",
           (unsigned long long)timeout_ms);
}

int main(int argc, char **argv)
{
    struct chat_opts o;
    int rc = parse_args(&o, argc, argv);
    if (rc)
        return rc;
    int sfd = cli_signalfd(); /* before the host thread starts, so it inherits the mask */
    struct tapir_host *host = sfd >= 0 ? cli_host_open(&o.host) : NULL;
    if (!host)
        return EXIT_USAGE;
    int fd = o.listen ? wait_for_peer(&o, sfd, host) : connect_to(&o);
    rc = fd == STOPPED ? 0 : 1;
    if (fd >= 0) {
        static struct line_buf in;
        set_timeouts(fd, o.timeout_ms);
        enum chat_end end = chat(fd, sfd, host, &in);
        if (end == END_LOCAL) {
            tapir_shutdown(fd, SHUT_WR); /* our FIN: the peer's recv returns 0 */
            wait_for_peer_close(fd, &in, PEER_FIN_WAIT_MS);
        }
        rc = end == END_ERROR ? 1 : 0;
        tapir_close(fd);
    }
    cli_host_close(&o.host, host);
    close(sfd);
    return rc;
}
