/* SPDX-License-Identifier: MIT */
/* rcmd_server.c: the seeds' remote-command server over tapir, and their "sticky packet"
 * lesson. A client sends a shell command; the server runs it with /bin/sh -c and sends back
 * what it printed (stdout and stderr together).
 *
 * THIS IS A TEACHING TOOL. It gives a shell, as the user running it (root, if you are root),
 * to anyone who can reach its port. So it starts only with --allow-commands, listens only on
 * the tap address (10.0.0.2 by default), answers only peers on the tap's own subnet, and is
 * meant for a private network namespace (scripts/netns-shell). Never bridge that tap to a
 * network you share.
 *
 *   Python (the seeds, 003):                        tapir:
 *   server.bind(("10.0.0.2", 8000))                  tapir_bind(lfd, &me, ...), me = --ip
 *   conn, addr = server.accept()                     fd = tapir_accept(lfd, &peer, &peer_len)
 *   cmd = conn.recv(1024)                            --naive: tapir_recv(fd, cmd, 1024, 0)
 *   obj = subprocess.Popen(cmd, shell=True,          spawn_shell(): posix_spawn of
 *       stdout=PIPE, stderr=PIPE)                        /bin/sh -c cmd, 1>&2 on one pipe
 *   conn.send(obj.stdout.read())                     --naive: each piece read from the pipe
 *                                                        is sent as soon as it is read
 *   header = struct.pack('i', len(out))              framed (the default): 4 bytes, but
 *                                                        big-endian ('!I'), network order
 *   conn.send(header); conn.send(out)                header and output in one tapir_send
 *
 * --naive is the seeds' first version, and shows their two kinds of sticky packet: a reply
 * longer than the client's recv(1024) is left half-read and comes out of the client's next
 * recv, as if it were the next command's output; and replies the client has not read yet
 * pile up in its receive buffer, so one recv returns several of them run together (Nagle's
 * algorithm does the same to several small sends in flight). A command with no output sends
 * nothing, and the naive client waits for a reply that never comes: a stream cannot carry an
 * empty message.
 *
 * The default is the seeds' fix: every message, both ways, goes behind a 4-byte length. The
 * seed packs it with struct.pack('i'), the machine's own byte order; here it is network order
 * (big-endian, htonl), so machines of either order agree. The reader reads exactly 4 bytes,
 * then exactly that many: message boundaries come back, and an empty output is a header of 0.
 * The seed sends the header and the output in two sends; with Nagle on, the second would wait
 * for the ACK of the first (up to the peer's delayed-ACK time), so the two go in one send. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "tapir/socket.h"

#define PROG "rcmd_server"
#define NAIVE_RECV_BYTES 1024           /* the seed's conn.recv(1024) */
#define COMMAND_MAX_BYTES 65536         /* framed: a longer command closes the connection */
#define OUTPUT_MAX_BYTES (16u << 20)    /* framed: output is kept to send its length first */
#define PIPE_READ_BYTES 4096
#define SEND_TIMEOUT_S 30               /* a client that stops reading this long is dropped */

struct rcmd_opts {
    struct cli_host host;
    bool allow_commands, naive, quiet;
    uint16_t port;
    uint64_t limit_s; /* a command running longer is killed */
};

enum { OPT_ALLOW = 0x300, OPT_NAIVE, OPT_PORT, OPT_LIMIT, OPT_QUIET };

static void usage(FILE *out)
{
    fprintf(out,
            "usage: " PROG " --allow-commands [--naive] [--port N] [options]\n"
            "\n"
            "A TEACHING TOOL that GIVES A SHELL TO ANYONE WHO CAN REACH ITS PORT: it runs each\n"
            "command a client sends with /bin/sh -c, as the user running it (root, if you are\n"
            "root), and sends back the output. It refuses to start without --allow-commands,\n"
            "listens only on the tap address (--ip, by default 10.0.0.2), and answers only\n"
            "peers on that subnet. Run it in a private network namespace (scripts/netns-shell).\n"
            "It is the seeds' remote-command server over a tapir host (by default 10.0.0.2/24\n"
            "on tap0); try: rcmd_client 10.0.0.2 8000 with a server on the host, or Python.\n"
            "\n"
            "  --allow-commands  run the commands clients send (required; see above)\n"
            "  --naive         the seeds' first version: one recv(1024) is one command, the\n"
            "                  output goes back raw, as it comes: shows the sticky packets\n"
            "                  (default: each message behind a 4-byte big-endian length)\n"
            "  --port N        TCP port to listen on (default 8000)\n"
            "  --limit S       kill a command still running after S seconds (default 10)\n"
            "  --quiet         do not print a line per connection and per command\n");
    cli_host_usage(out);
    fprintf(out, "  -h, --help      this text\n");
}

static int rcmd_option(int opt, const char *arg, void *ctx)
{
    struct rcmd_opts *o = ctx;
    uint64_t v;
    switch (opt) {
    case OPT_ALLOW: o->allow_commands = true; return 0;
    case OPT_NAIVE: o->naive = true; return 0;
    case OPT_QUIET: o->quiet = true; return 0;
    case OPT_LIMIT:
        if (!cli_parse_u64(arg, &o->limit_s) || o->limit_s == 0 || o->limit_s > 3600)
            return cli_usage_error(PROG, "--limit wants 1..3600 seconds, not '%s'", arg);
        return 0;
    default:
        if (!cli_parse_u64(arg, &v) || v == 0 || v > 65535)
            return cli_usage_error(PROG, "--port wants 1..65535, not '%s'", arg);
        o->port = (uint16_t)v;
        return 0;
    }
}

static int parse_args(struct rcmd_opts *o, int argc, char **argv)
{
    static const struct option opts[] = {{"allow-commands", no_argument, 0, OPT_ALLOW},
                                         {"naive", no_argument, 0, OPT_NAIVE},
                                         {"port", required_argument, 0, OPT_PORT},
                                         {"limit", required_argument, 0, OPT_LIMIT},
                                         {"quiet", no_argument, 0, OPT_QUIET},
                                         {0, 0, 0, 0}};
    const struct cli_extra x = {.opts = opts, .on_opt = rcmd_option, .ctx = o, .usage = usage};
    memset(o, 0, sizeof(*o));
    cli_host_init(&o->host, PROG, true);
    o->port = 8000;
    o->limit_s = 10;
    int rc = cli_parse(&o->host, argc, argv, &x);
    if (rc)
        return rc;
    if (optind < argc)
        return cli_usage_error(PROG, "unexpected argument '%s'", argv[optind]);
    if (!o->allow_commands) {
        fprintf(stderr, PROG ": refusing to start: this server runs any shell command a client "
                        "sends, a shell for anyone who can reach the port; if that is what you "
                        "want, in a private network namespace, add --allow-commands\n");
        return EXIT_USAGE;
    }
    return cli_host_finish(&o->host);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* /bin/sh -c cmd in a process group of its own (so a time limit kills its children too),
 * stdin from /dev/null, stdout and stderr into one pipe whose read end is returned. The
 * signals our signalfd takes are blocked in this process; the shell must not inherit that. */
static int spawn_shell(const char *cmd, pid_t *pid)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none;
    sigemptyset(&none);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, p[1], STDERR_FILENO);
    posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
    posix_spawnattr_init(&at);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
    char *argv[] = {"sh", "-c", (char *)cmd, NULL};
    int rc = posix_spawn(pid, "/bin/sh", &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(p[1]);
    if (rc) {
        close(p[0]);
        errno = rc;
        return -1;
    }
    return p[0];
}

/* Where a command's output goes as it is read: straight to the client (naive), or into a
 * buffer behind room for the length (framed). False: stop (client gone, or too much). */
struct sink {
    bool (*put)(struct sink *k, const uint8_t *data, size_t len);
    int fd;                 /* the client */
    uint8_t *buf;           /* framed: 4 bytes of header, then the output */
    size_t len, cap;        /* bytes of output in buf, and room for them */
    size_t total, sends;    /* output bytes, and tapir_send calls (naive) */
};

static bool put_naive(struct sink *k, const uint8_t *data, size_t len)
{
    k->total += len;
    k->sends++;
    return tapir_send(k->fd, data, len, 0) == (ssize_t)len;
}

static bool put_framed(struct sink *k, const uint8_t *data, size_t len)
{
    if (k->len + len > OUTPUT_MAX_BYTES)
        return false;
    if (k->len + len > k->cap) {
        size_t cap = k->cap ? k->cap : PIPE_READ_BYTES;
        while (cap < k->len + len)
            cap *= 2;
        uint8_t *b = realloc(k->buf, 4 + cap);
        if (!b)
            return false;
        k->buf = b;
        k->cap = cap;
    }
    memcpy(k->buf + 4 + k->len, data, len);
    k->len += len;
    k->total += len;
    return true;
}

enum run_end { RUN_DONE, RUN_TIMEOUT, RUN_CUT, RUN_STOP, RUN_FAILED };

/* Reads the command's output into the sink until the pipe's end, the time limit, the sink's
 * refusal or a signal to stop. */
static enum run_end pump_output(int pipe_fd, uint64_t deadline, int sfd, struct tapir_host *host,
                                struct sink *k)
{
    struct pollfd fds[2] = {{.fd = pipe_fd, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
    uint8_t buf[PIPE_READ_BYTES];
    for (;;) {
        uint64_t now = now_ms();
        if (now >= deadline)
            return RUN_TIMEOUT;
        if (tapir_poll(fds, 2, (int)(deadline - now)) < 0 && errno != EINTR)
            return RUN_FAILED;
        if ((fds[1].revents & POLLIN) && cli_signals(sfd, host))
            return RUN_STOP;
        if (!fds[0].revents)
            continue;
        ssize_t n = read(pipe_fd, buf, sizeof(buf));
        if (n == 0)
            return RUN_DONE;
        if (n < 0 && errno != EINTR)
            return RUN_FAILED;
        if (n > 0 && !k->put(k, buf, (size_t)n))
            return RUN_CUT;
    }
}

/* True once the shell has exited (its wait status in *status), false if it is still running
 * at the deadline: the end of its output is not the end of the command. */
static bool reaped_by(pid_t pid, uint64_t deadline_ms, int *status)
{
    for (;;) {
        if (waitpid(pid, status, WNOHANG) == pid)
            return true;
        if (now_ms() >= deadline_ms)
            return false;
        nanosleep(&(struct timespec){.tv_nsec = 5 * 1000 * 1000}, NULL);
    }
}

/* Runs one command, its output into the sink. Returns how it ended; *status is the shell's
 * wait status. */
static enum run_end run_command(const char *cmd, const struct rcmd_opts *o, int sfd,
                                struct tapir_host *host, struct sink *k, int *status)
{
    pid_t pid;
    int pipe_fd = spawn_shell(cmd, &pid);
    if (pipe_fd < 0) {
        char msg[128];
        int len = snprintf(msg, sizeof(msg), PROG ": cannot run /bin/sh: %s\n", strerror(errno));
        k->put(k, (const uint8_t *)msg, (size_t)len);
        return RUN_FAILED;
    }
    uint64_t deadline_ms = now_ms() + o->limit_s * 1000;
    enum run_end end = pump_output(pipe_fd, deadline_ms, sfd, host, k);
    close(pipe_fd);
    if (end == RUN_DONE && !reaped_by(pid, deadline_ms, status))
        end = RUN_TIMEOUT; /* it closed its output, but ran on */
    if (end != RUN_DONE) {
        kill(-pid, SIGKILL); /* the whole process group: the shell and what it started */
        waitpid(pid, status, 0);
    }
    if (end == RUN_TIMEOUT) {
        char msg[96];
        int len = snprintf(msg, sizeof(msg), "[" PROG ": killed after %llu s (--limit)]\n",
                           (unsigned long long)o->limit_s);
        k->put(k, (const uint8_t *)msg, (size_t)len);
    }
    return end;
}

/* Waits until fd is readable; false when a signal asks us to stop. */
static bool wait_readable(int fd, int sfd, struct tapir_host *host, bool *stop)
{
    struct pollfd fds[2] = {{.fd = fd, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
    for (;;) {
        if (tapir_poll(fds, 2, -1) < 0 && errno != EINTR)
            return false;
        if ((fds[1].revents & POLLIN) && cli_signals(sfd, host)) {
            *stop = true;
            return false;
        }
        if (fds[0].revents)
            return true;
    }
}

/* Reads exactly len bytes, as the seeds' fixed client does (recv until the length is
 * reached). Returns the count read: less than len at the end of the stream or on an error. */
static size_t recv_exact(int fd, void *buf, size_t len, int sfd, struct tapir_host *host,
                         bool *stop)
{
    size_t got = 0;
    while (got < len && wait_readable(fd, sfd, host, stop)) {
        ssize_t n = tapir_recv(fd, (uint8_t *)buf + got, len - got, MSG_DONTWAIT);
        if (n < 0 && errno == EAGAIN)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return got;
}

/* The seed: whatever one recv(1024) returns is one command, however the client's sends
 * were cut or joined on the way. */
static bool read_naive(int fd, const struct rcmd_opts *o, int sfd, struct tapir_host *host,
                       char *cmd, size_t *len, bool *stop)
{
    while (wait_readable(fd, sfd, host, stop)) {
        ssize_t n = tapir_recv(fd, cmd, NAIVE_RECV_BYTES, MSG_DONTWAIT);
        if (n < 0 && errno == EAGAIN)
            continue;
        if (n > 0) {
            *len = (size_t)n;
            return true;
        }
        if (!o->quiet)
            printf("  recv %s\n", n == 0 ? "0: the client closed" : strerror(errno));
        break;
    }
    return false;
}

/* The fix: exactly 4 bytes of length, then exactly that many. */
static bool read_framed(int fd, const struct rcmd_opts *o, int sfd, struct tapir_host *host,
                        char *cmd, size_t *len, bool *stop)
{
    uint8_t header[4];
    size_t got = recv_exact(fd, header, 4, sfd, host, stop);
    if (got == 4) {
        uint32_t be;
        memcpy(&be, header, 4);
        uint32_t want = ntohl(be);
        if (want > COMMAND_MAX_BYTES) {
            printf("  a header announcing %u bytes, more than %u: closing\n", want,
                   COMMAND_MAX_BYTES);
            return false;
        }
        if (recv_exact(fd, cmd, want, sfd, host, stop) == want) {
            *len = want;
            return true;
        }
    }
    if (!o->quiet && !*stop)
        printf("  recv 0: the client closed%s\n", got ? ", in the middle of a message" : "");
    return false;
}

/* The next command into cmd, NUL-terminated. False when the client is gone (after a line
 * saying how) or a signal asks us to stop (*stop). */
static bool read_command(int fd, const struct rcmd_opts *o, int sfd, struct tapir_host *host,
                         char *cmd, bool *stop)
{
    size_t len = 0;
    if (!(o->naive ? read_naive : read_framed)(fd, o, sfd, host, cmd, &len, stop))
        return false;
    cmd[len] = '\0';
    while (len && (cmd[len - 1] == '\n' || cmd[len - 1] == '\r')) /* typed into nc */
        cmd[--len] = '\0';
    return true;
}

/* One line per command: what ran, what came of it, how it was sent. */
static void log_command(const char *cmd, enum run_end end, int status, const struct sink *k,
                        bool naive)
{
    char how[64] = "";
    if (end == RUN_TIMEOUT)
        snprintf(how, sizeof(how), "killed at the time limit");
    else if (end == RUN_CUT)
        snprintf(how, sizeof(how), naive ? "client gone" : "output over %u bytes: cut",
                 OUTPUT_MAX_BYTES);
    else if (WIFEXITED(status))
        snprintf(how, sizeof(how), "exit %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(how, sizeof(how), "signal %d", WTERMSIG(status));
    printf("  $ %s  -> %zu bytes (%s), ", cmd, k->total, how);
    if (!naive)
        printf("sent behind a 4-byte length header\n");
    else if (k->total)
        printf("sent raw in %zu send%s, as read from the pipe\n", k->sends,
               k->sends == 1 ? "" : "s");
    else
        printf("nothing sent: a stream cannot carry an empty message\n");
    fflush(stdout);
}

/* The seeds' communication loop with one client. Returns false when a signal asks us to stop. */
static bool serve_client(int fd, const struct rcmd_opts *o, int sfd, struct tapir_host *host)
{
    static char cmd[COMMAND_MAX_BYTES + 1];
    bool stop = false;
    while (read_command(fd, o, sfd, host, cmd, &stop)) {
        struct sink k = {.put = o->naive ? put_naive : put_framed, .fd = fd};
        int status = 0;
        enum run_end end = run_command(cmd, o, sfd, host, &k, &status);
        bool sent = o->naive;
        if (!o->naive && end != RUN_STOP) {
            if (!k.buf)
                k.buf = malloc(4);
            if (k.buf) {
                uint32_t be = htonl((uint32_t)k.len); /* network order, unlike the seed's 'i' */
                memcpy(k.buf, &be, 4);
                sent = tapir_send(fd, k.buf, 4 + k.len, 0) == (ssize_t)(4 + k.len);
            }
        }
        free(k.buf);
        if (!o->quiet)
            log_command(cmd, end, status, &k, o->naive);
        if (end == RUN_STOP)
            return false;
        if (!sent || (o->naive && end == RUN_CUT))
            break; /* the client is gone */
    }
    fflush(stdout);
    return !stop;
}

/* Only peers on the tap's own subnet: not someone routed in through --gw. */
static bool peer_allowed(const struct cli_host *h, struct in_addr peer)
{
    uint32_t mask = h->cfg.prefix_len ? ~0u << (32 - h->cfg.prefix_len) : 0;
    return ((ntohl(peer.s_addr) ^ ntohl(h->cfg.addr.s_addr)) & mask) == 0;
}

static int listen_on_tap(const struct rcmd_opts *o)
{
    int lfd = tapir_socket(AF_INET, SOCK_STREAM, 0);
    /* The tap address, not INADDR_ANY: the port is not offered on any other address. */
    struct sockaddr_in me = {.sin_family = AF_INET, .sin_port = htons(o->port),
                             .sin_addr = o->host.cfg.addr};
    int one = 1;
    if (lfd < 0 || tapir_setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        tapir_bind(lfd, (struct sockaddr *)&me, sizeof(me)) < 0 || tapir_listen(lfd, 5) < 0) {
        fprintf(stderr, PROG ": cannot listen on TCP port %u: %s\n", o->port, strerror(errno));
        if (lfd >= 0)
            tapir_close(lfd);
        return -1;
    }
    char addr[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &me.sin_addr, addr, sizeof(addr));
    printf(PROG ": WARNING: runs any command a client on %s/%u sends (a teaching tool)\n", addr,
           o->host.cfg.prefix_len);
    printf(PROG ": listening on %s:%u, %s; Ctrl-C stops\n", addr, o->port,
           o->naive ? "naive: one recv(1024) per command, output sent raw"
                    : "framed: a 4-byte big-endian length before each message");
    fflush(stdout);
    return lfd;
}

/* The seeds' server loop: one client after another. */
static void serve(int lfd, const struct rcmd_opts *o, int sfd, struct tapir_host *host)
{
    struct pollfd fds[2] = {{.fd = lfd, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
    for (bool running = true; running;) {
        if (tapir_poll(fds, 2, -1) < 0 && errno != EINTR)
            break;
        if ((fds[1].revents & POLLIN) && cli_signals(sfd, host))
            break;
        struct sockaddr_in peer;
        socklen_t peer_len = sizeof(peer);
        int fd = (fds[0].revents & POLLIN)
                     ? tapir_accept(lfd, (struct sockaddr *)&peer, &peer_len)
                     : -1;
        if (fd < 0)
            continue;
        char paddr[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &peer.sin_addr, paddr, sizeof(paddr));
        bool allowed = peer_allowed(&o->host, peer.sin_addr);
        if (!o->quiet || !allowed)
            printf("client %s:%u %s\n", paddr, ntohs(peer.sin_port),
                   allowed ? "connected" : "refused: not on the tap's subnet");
        fflush(stdout);
        struct timeval tv = {.tv_sec = SEND_TIMEOUT_S};
        tapir_setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (allowed)
            running = serve_client(fd, o, sfd, host);
        tapir_close(fd);
        if (!o->quiet && allowed)
            printf("client %s:%u done\n", paddr, ntohs(peer.sin_port));
        fflush(stdout);
    }
}

int main(int argc, char **argv)
{
    struct rcmd_opts o;
    int rc = parse_args(&o, argc, argv);
    if (rc)
        return rc;
    int sfd = cli_signalfd(); /* before the host thread starts, so it inherits the mask */
    struct tapir_host *host = sfd >= 0 ? cli_host_open(&o.host) : NULL;
    if (!host)
        return EXIT_USAGE;
    int lfd = listen_on_tap(&o);
    if (lfd >= 0) {
        serve(lfd, &o, sfd, host);
        printf(PROG ": stopping\n");
        tapir_close(lfd);
    }
    cli_host_close(&o.host, host);
    close(sfd);
    return lfd >= 0 ? 0 : 1;
}
