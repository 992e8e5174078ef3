/* SPDX-License-Identifier: MIT */
/* file_client.c: seed 002's file download client over tapir. It connects from the tapir host
 * (10.0.0.2 by default) to a file server, asks for a name, saves what comes back, shows its
 * progress, and prints the SHA-256 of what it received, to compare with sha256sum.
 *
 *   Python (the seed):                          tapir:
 *   tcp_socket.connect((ip, port))              tapir_connect(fd, &server, sizeof(server))
 *   tcp_socket.send(file_name.encode())         tapir_send(fd, u16 length + name), framed
 *   data = tcp_socket.recv(4096) ... until b""  a 9-byte header (status, size), then recv
 *   file.write(data)                              until size bytes have come, into the file
 *
 * The header (apps/lib/filesrv.h) is why this client can say what the seed's cannot: the
 * server's error ("no such file", "refused") instead of an empty file, a download cut short
 * instead of a silently truncated one, and a percentage and ETA while it runs. The file is
 * written as it arrives, so a 1 GiB download needs no more memory than a small one.
 *
 * Progress goes to stderr: a bar redrawn in place (carriage returns) when stderr is a
 * terminal, plain lines (each 10%, or every 5 s) when it is not, so a log stays readable. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "filesrv.h"
#include "sha256.h"
#include "tapir/socket.h"

#define PROG "file_client"
#define CHUNK_BYTES (256 * 1024)
#define BAR_WIDTH 24
#define BAR_REDRAW_US 100000u   /* at most ten redraws a second */
#define LINES_EVERY_US 5000000u /* without a terminal: a line each 10%, or every 5 s */

enum progress_mode { PROGRESS_AUTO, PROGRESS_BAR, PROGRESS_LINES, PROGRESS_NONE };

struct options {
    struct cli_host host;
    struct sockaddr_in server;
    const char *name;   /* the file to ask for */
    const char *output; /* where to save it; default the name's last component */
    uint64_t timeout_ms;
    enum progress_mode progress;
    char *typed_name; /* the name typed at the prompt (freed at exit) */
};

struct progress {
    enum progress_mode mode; /* BAR, LINES or NONE by now */
    uint64_t total, start_us, last_us;
    int last_tenth; /* LINES: the last 10% step printed */
};

/* One download in flight. */
struct download {
    int sock, sfd;
    struct tapir_host *host;
    uint64_t timeout_ms;
    int out_fd;
    const char *out_path;
    uint64_t total, got;
    struct sha256 hash;
    struct progress progress;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: " PROG " [options] SERVER PORT [NAME]\n"
            "\n"
            "Downloads NAME from the file server at SERVER:PORT over a tapir host (by default\n"
            "10.0.0.2/24 on tap0), like seed 002's client; without NAME it asks for one. Shows\n"
            "progress on stderr and prints the SHA-256 of what it saved. Try against a server\n"
            "on the host:\n"
            "  python3 tests/integration/file_proto.py serve --dir /tmp --bind 10.0.0.1\n"
            "  " PROG " 10.0.0.1 2020 some-file\n"
            "\n"
            "  --output PATH      where to save it (default: NAME's last component)\n"
            "  --timeout MS       how long to wait to connect, and for data (default 10000)\n"
            "  --progress MODE    auto (a bar on a terminal, lines otherwise), bar, lines\n"
            "                     or none\n");
    cli_host_usage(out);
    fprintf(out, "  -h, --help         this text\n");
}

/* --- the command line ----------------------------------------------------------------- */

enum { OPT_OUTPUT = 0x200, OPT_TIMEOUT, OPT_PROGRESS };

static int on_option(int opt, const char *arg, void *ctx)
{
    static const char *const modes[] = {"auto", "bar", "lines", "none"};
    struct options *o = ctx;
    switch (opt) {
    case OPT_OUTPUT:
        o->output = arg;
        return 0;
    case OPT_TIMEOUT:
        return cli_parse_timeout(PROG, arg, &o->timeout_ms);
    case OPT_PROGRESS:
        for (int i = 0; i < 4; i++)
            if (strcmp(arg, modes[i]) == 0) {
                o->progress = (enum progress_mode)i;
                return 0;
            }
        return cli_usage_error(PROG, "--progress wants auto, bar, lines or none, not '%s'", arg);
    default:
        return cli_usage_error(PROG, "internal: unknown option %d", opt);
    }
}

/* The seed's input("请输入需要下载的文件名:"): the name, when the command line has none. */
static int ask_name(struct options *o)
{
    size_t cap = 0;
    printf("file name: ");
    fflush(stdout);
    ssize_t len = getline(&o->typed_name, &cap, stdin);
    while (len > 0 && (o->typed_name[len - 1] == '\n' || o->typed_name[len - 1] == '\r'))
        o->typed_name[--len] = '\0';
    if (len <= 0)
        return cli_usage_error(PROG, "no file name given (give NAME, or type one)");
    o->name = o->typed_name;
    return 0;
}

/* The default output: the name's last component, if that is a file name at all. */
static int default_output(struct options *o)
{
    const char *slash = strrchr(o->name, '/');
    const char *base = slash ? slash + 1 : o->name;
    if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
        return cli_usage_error(PROG, "'%s' ends in no file name; give --output PATH", o->name);
    o->output = base;
    return 0;
}

static int parse_cmdline(struct options *o, int argc, char **argv)
{
    static const struct option opts[] = {{"output", required_argument, 0, OPT_OUTPUT},
                                         {"timeout", required_argument, 0, OPT_TIMEOUT},
                                         {"progress", required_argument, 0, OPT_PROGRESS},
                                         {0, 0, 0, 0}};
    const struct cli_extra x = {.opts = opts, .on_opt = on_option, .ctx = o, .usage = usage};
    memset(o, 0, sizeof(*o));
    cli_host_init(&o->host, PROG, true);
    o->timeout_ms = 10000;
    int rc = cli_parse(&o->host, argc, argv, &x);
    if (rc)
        return rc;
    int positional = argc - optind;
    if (positional < 2 || positional > 3)
        return cli_usage_error(PROG, "wants SERVER PORT [NAME], e.g. 10.0.0.1 2020 big.bin");
    if (!cli_parse_addr(argv[optind], argv[optind + 1], &o->server) || !o->server.sin_port)
        return cli_usage_error(PROG, "'%s %s' is not an IPv4 address and a port", argv[optind],
                               argv[optind + 1]);
    o->name = positional == 3 ? argv[optind + 2] : NULL;
    if (!o->name && (rc = ask_name(o)) != 0)
        return rc;
    size_t len = strlen(o->name);
    if (len == 0 || len > FILEPROTO_NAME_MAX)
        return cli_usage_error(PROG, "a file name has 1 to %d bytes", FILEPROTO_NAME_MAX);
    if (!o->output && (rc = default_output(o)) != 0)
        return rc;
    return cli_host_finish(&o->host);
}

/* --- progress --------------------------------------------------------------------------- */

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Bytes as people read them: 512 B, 90.0 KiB, 200.0 MiB, 1.00 GiB. */
static void human_bytes(double v, char *out, size_t len)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    snprintf(out, len, u == 0 ? "%.0f %s" : v < 10 ? "%.2f %s" : "%.1f %s", v, units[u]);
}

/* Seconds as h:mm:ss or m:ss; "--:--" when there is no estimate yet. */
static void human_eta(double secs, char *out, size_t len)
{
    if (secs < 0 || secs > 360000) {
        snprintf(out, len, "--:--");
        return;
    }
    unsigned s = (unsigned)(secs + 0.5);
    if (s >= 3600)
        snprintf(out, len, "%u:%02u:%02u", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(out, len, "%u:%02u", s / 60, s % 60);
}

static void progress_start(struct progress *p, enum progress_mode mode, uint64_t total)
{
    if (mode == PROGRESS_AUTO)
        mode = isatty(STDERR_FILENO) ? PROGRESS_BAR : PROGRESS_LINES;
    *p = (struct progress){.mode = mode, .total = total, .start_us = now_us(), .last_tenth = 0};
    p->last_us = p->start_us;
}

/* The figures both forms show: percent, rate and time left. */
static void progress_figures(const struct progress *p, uint64_t got, uint64_t now, int *pct,
                             double *rate, double *eta)
{
    double secs = (double)(now - p->start_us) / 1e6;
    *pct = p->total ? (int)(got * 100 / p->total) : 100;
    *rate = secs > 0 ? (double)got / secs : 0;
    *eta = *rate > 0 && secs >= 0.2 ? (double)(p->total - got) / *rate : -1;
}

/* "\r[#########---------------]  37%  74.0 MiB / 200.0 MiB  94.1 MiB/s  ETA 0:01" */
static void progress_bar(const struct progress *p, uint64_t got, uint64_t now)
{
    int pct;
    double rate, eta;
    progress_figures(p, got, now, &pct, &rate, &eta);
    char bar[BAR_WIDTH + 1], done[16], total[16], speed[16], left[16];
    int filled = pct * BAR_WIDTH / 100;
    for (int i = 0; i < BAR_WIDTH; i++)
        bar[i] = i < filled ? '#' : '-';
    bar[BAR_WIDTH] = '\0';
    human_bytes((double)got, done, sizeof(done));
    human_bytes((double)p->total, total, sizeof(total));
    human_bytes(rate, speed, sizeof(speed));
    human_eta(eta, left, sizeof(left));
    /* \033[K clears what a longer previous line left at the end. */
    fprintf(stderr, "\r[%s] %3d%%  %s / %s  %s/s  ETA %s\033[K", bar, pct, done, total, speed,
            left);
    fflush(stderr);
}

/* "progress: 20971520/209715200 bytes (10%), 94.1 MiB/s, ETA 0:02" */
static void progress_line(const struct progress *p, uint64_t got, uint64_t now)
{
    int pct;
    double rate, eta;
    progress_figures(p, got, now, &pct, &rate, &eta);
    char speed[16], left[16];
    human_bytes(rate, speed, sizeof(speed));
    human_eta(eta, left, sizeof(left));
    fprintf(stderr, "progress: %llu/%llu bytes (%d%%), %s/s, ETA %s\n", (unsigned long long)got,
            (unsigned long long)p->total, pct, speed, left);
    fflush(stderr);
}

static void progress_update(struct progress *p, uint64_t got)
{
    uint64_t now = now_us();
    if (p->mode == PROGRESS_BAR && now - p->last_us >= BAR_REDRAW_US) {
        progress_bar(p, got, now);
        p->last_us = now;
    } else if (p->mode == PROGRESS_LINES && p->total) {
        int tenth = (int)(got * 10 / p->total);
        if (tenth > p->last_tenth || now - p->last_us >= LINES_EVERY_US) {
            progress_line(p, got, now);
            p->last_tenth = tenth;
            p->last_us = now;
        }
    }
}

/* The last state: the bar at its end (then a newline), or a last line at 100%. */
static void progress_end(struct progress *p, uint64_t got)
{
    uint64_t now = now_us();
    if (p->mode == PROGRESS_BAR) {
        progress_bar(p, got, now);
        fputc('\n', stderr);
    } else if (p->mode == PROGRESS_LINES && p->last_tenth < 10) {
        progress_line(p, got, now);
    }
    fflush(stderr);
}

/* Before an error message: ends the bar's line, so the message starts a line of its own. */
static void progress_break(const struct progress *p)
{
    if (p->mode == PROGRESS_BAR)
        fputc('\n', stderr);
}

/* --- the download ----------------------------------------------------------------------- */

static int connect_to(const struct options *o)
{
    int fd = tapir_socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {.tv_sec = (time_t)(o->timeout_ms / 1000),
                         .tv_usec = (suseconds_t)(o->timeout_ms % 1000 * 1000)};
    if (fd < 0 || tapir_setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
        tapir_setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
        return -1;
    if (tapir_connect(fd, (const struct sockaddr *)&o->server, sizeof(o->server)) < 0) {
        int e = errno == EINPROGRESS ? ETIMEDOUT : errno; /* SO_SNDTIMEO ran out */
        tapir_close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* Why a receive stopped, from errno: 0 for the server's early close. */
static const char *recv_failure(void)
{
    return errno == 0        ? "the server closed the connection"
           : errno == EAGAIN ? "the server went quiet"
           : errno == EINTR  ? "interrupted"
                             : strerror(errno);
}

static bool send_request(int fd, const char *name)
{
    size_t len = strlen(name);
    uint8_t req[2 + FILEPROTO_NAME_MAX];
    req[0] = (uint8_t)(len >> 8);
    req[1] = (uint8_t)len;
    memcpy(req + 2, name, len);
    if (tapir_send(fd, req, 2 + len, 0) == (ssize_t)(2 + len))
        return true;
    fprintf(stderr, PROG ": cannot send the request: %s\n", strerror(errno));
    return false;
}

/* The reply's header. True with the file's size in *size; false after printing why there
 * is no file (the server's own message, for an error reply). */
static bool read_reply(int fd, uint64_t *size)
{
    uint8_t hdr[FILEPROTO_REPLY_HDR_LEN];
    if (!fileproto_recv_all(fd, hdr, sizeof(hdr))) {
        fprintf(stderr, PROG ": no reply: %s\n", recv_failure());
        return false;
    }
    uint64_t len = 0;
    for (int i = 1; i < FILEPROTO_REPLY_HDR_LEN; i++)
        len = len << 8 | hdr[i];
    if (hdr[0] == FILEPROTO_OK) {
        *size = len;
        return true;
    }
    if (hdr[0] != FILEPROTO_ERR || len > FILEPROTO_MSG_MAX) {
        fprintf(stderr, PROG ": not a file server's reply (it starts 0x%02x)\n", hdr[0]);
        return false;
    }
    char msg[FILEPROTO_MSG_MAX], shown[2 * FILEPROTO_MSG_MAX];
    if (!fileproto_recv_all(fd, msg, (size_t)len)) {
        fprintf(stderr, PROG ": the server's error message was cut short: %s\n", recv_failure());
        return false;
    }
    fileproto_quote(msg, (size_t)len, shown, sizeof(shown)); /* it came off the network */
    fprintf(stderr, PROG ": the server says: %s\n", shown);
    return false;
}

static bool write_all(int fd, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        buf += n;
        len -= (size_t)n;
    }
    return true;
}

/* Waits until the socket is readable (true), or the timeout passes (EAGAIN) or a signal
 * asks us to stop (EINTR). Polling the signalfd too is what lets Ctrl-C stop a download
 * cleanly: the partial file is removed and our close resets the connection. */
static bool wait_readable(struct download *d)
{
    struct pollfd fds[2] = {{.fd = d->sock, .events = POLLIN}, {.fd = d->sfd, .events = POLLIN}};
    int n = tapir_poll(fds, 2, (int)d->timeout_ms);
    if (n < 0)
        return errno == EINTR; /* a signal the signalfd will show next time round */
    if ((fds[1].revents & POLLIN) && cli_signals(d->sfd, d->host)) {
        errno = EINTR;
        return false;
    }
    if (n == 0)
        errno = EAGAIN;
    return n > 0;
}

/* Receives the body into the output file, hashing and showing progress. False after
 * printing why it stopped short. */
static bool receive_file(struct download *d)
{
    static uint8_t buf[CHUNK_BYTES];
    while (d->got < d->total) {
        if (!wait_readable(d)) {
            progress_break(&d->progress);
            fprintf(stderr,
                    PROG ": download stopped at %llu of %llu bytes: ", (unsigned long long)d->got,
                    (unsigned long long)d->total);
            if (errno == EAGAIN)
                fprintf(stderr, "nothing came for %llu ms (--timeout)\n",
                        (unsigned long long)d->timeout_ms);
            else
                fprintf(stderr, "%s\n", recv_failure());
            return false;
        }
        uint64_t left = d->total - d->got;
        ssize_t n =
            tapir_recv(d->sock, buf, left < sizeof(buf) ? (size_t)left : sizeof(buf), MSG_DONTWAIT);
        if (n < 0 && errno == EAGAIN)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = 0;
            progress_break(&d->progress);
            fprintf(stderr, PROG ": download cut short at %llu of %llu bytes: %s\n",
                    (unsigned long long)d->got, (unsigned long long)d->total, recv_failure());
            return false;
        }
        if (!write_all(d->out_fd, buf, (size_t)n)) {
            progress_break(&d->progress);
            fprintf(stderr, PROG ": cannot write %s: %s\n", d->out_path, strerror(errno));
            return false;
        }
        sha256_update(&d->hash, buf, (size_t)n);
        d->got += (uint64_t)n;
        progress_update(&d->progress, d->got);
    }
    progress_end(&d->progress, d->got);
    return true;
}

static bool is_regular_file(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

static void print_result(struct download *d, uint64_t start_us)
{
    uint8_t digest[SHA256_DIGEST_LEN];
    char hex[SHA256_HEX_LEN];
    sha256_final(&d->hash, digest);
    sha256_hex(digest, hex);
    double secs = (double)(now_us() - start_us) / 1e6;
    printf("saved %llu bytes to %s in %.2f s (%.1f MiB/s)\n", (unsigned long long)d->got,
           d->out_path, secs, secs > 0 ? (double)d->got / secs / 1048576 : 0.0);
    printf("sha256: %s\n", hex);
    fflush(stdout);
}

/* The request, the reply and the file. 0, or 1 after one line saying what went wrong. */
static int download(struct download *d, const struct options *o)
{
    char quoted[256];
    fileproto_quote(o->name, strlen(o->name), quoted, sizeof(quoted));
    if (!send_request(d->sock, o->name) || !read_reply(d->sock, &d->total))
        return 1;
    printf("'%s': %llu bytes, saving to %s\n", quoted, (unsigned long long)d->total, o->output);
    fflush(stdout);
    d->out_path = o->output;
    d->out_fd = open(o->output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (d->out_fd < 0) {
        fprintf(stderr, PROG ": cannot write %s: %s\n", o->output, strerror(errno));
        return 1;
    }
    uint64_t start = now_us();
    sha256_init(&d->hash);
    progress_start(&d->progress, o->progress, d->total);
    bool ok = receive_file(d);
    bool regular = is_regular_file(d->out_fd);
    if (close(d->out_fd) < 0 && ok) { /* a full disk may only show here */
        fprintf(stderr, PROG ": cannot write %s: %s\n", o->output, strerror(errno));
        ok = false;
    }
    /* A failed download leaves no partial file behind, as the seed removes its empty one;
     * but only a regular file (never --output /dev/null). */
    if (!ok) {
        if (regular)
            unlink(o->output);
        return 1;
    }
    print_result(d, start);
    return 0;
}

/* A clean end: the server's FIN (it closes first, having sent everything), then ours. */
static void finish_connection(int fd)
{
    char rest[4096];
    for (int i = 0; i < 16 && tapir_recv(fd, rest, sizeof(rest), 0) > 0; i++)
        ;
    tapir_close(fd);
}

int main(int argc, char **argv)
{
    struct options o;
    int rc = parse_cmdline(&o, argc, argv);
    if (rc) {
        free(o.typed_name);
        return rc;
    }
    int sfd = cli_signalfd();
    struct tapir_host *host = sfd >= 0 ? cli_host_open(&o.host) : NULL;
    if (!host) {
        free(o.typed_name);
        return EXIT_USAGE;
    }
    char addr[INET_ADDRSTRLEN], quoted[256];
    inet_ntop(AF_INET, &o.server.sin_addr, addr, sizeof(addr));
    fileproto_quote(o.name, strlen(o.name), quoted, sizeof(quoted));
    struct download d = {.sfd = sfd, .host = host, .timeout_ms = o.timeout_ms, .out_fd = -1};
    d.sock = connect_to(&o);
    if (d.sock < 0) {
        fprintf(stderr, PROG ": cannot connect to %s:%u: %s\n", addr, ntohs(o.server.sin_port),
                strerror(errno));
        rc = 1;
    } else {
        printf("connected to %s:%u, asking for '%s'\n", addr, ntohs(o.server.sin_port), quoted);
        fflush(stdout);
        rc = download(&d, &o);
        if (rc == 0)
            finish_connection(d.sock);
        else
            tapir_close(d.sock); /* unread data, if any, makes it a reset: the server stops */
    }
    cli_host_close(&o.host, host);
    close(sfd);
    free(o.typed_name);
    return rc;
}
