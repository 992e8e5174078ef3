/* SPDX-License-Identifier: MIT */
/* filesrv.c: the server's side of one file download connection (seed 002); the protocol and
 * what is refused are in filesrv.h. */
#include "filesrv.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "tapir/socket.h"

/* Big enough that a send keeps the stack's send buffer full between reads, small enough for
 * a thread per client: the file goes through this buffer, never into memory whole. */
#define FILESRV_CHUNK_BYTES (256 * 1024)
#define FILESRV_REQUEST_TIMEOUT_S 10 /* for the client to send its request */
#define FILESRV_SEND_TIMEOUT_S 60    /* for one chunk to go out: a stalled client is dropped */
#define FILESRV_LINGER_TIMEOUT_S 5   /* for the client's FIN after ours */

/* One connection's facts, for the log lines. */
struct filesrv_conn {
    int fd;
    FILE *log;
    char peer[INET_ADDRSTRLEN + 8]; /* "10.0.0.1:40312" */
    char name[256];                 /* the request's name, quoted */
};

static void conn_log(const struct filesrv_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* One line, "PEER: ...", written with one call so threads' lines do not interleave. */
static void conn_log(const struct filesrv_conn *c, const char *fmt, ...)
{
    if (!c->log)
        return;
    char line[512];
    int n = snprintf(line, sizeof(line), "%s: ", c->peer);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    fprintf(c->log, "%s\n", line);
    fflush(c->log);
}

void fileproto_quote(const char *name, size_t len, char *out, size_t out_len)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 8 < out_len; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (o > 200) {
            o += (size_t)snprintf(out + o, out_len - o, "...");
            break;
        }
        /* UTF-8 bytes (>= 0x80) pass: a name in Chinese prints as itself, as in the seed. */
        if (ch >= 0x80 || (isprint(ch) && ch != '\\'))
            out[o++] = (char)ch;
        else
            o += (size_t)snprintf(out + o, out_len - o, "\\x%02x", ch);
    }
    out[o < out_len ? o : out_len - 1] = '\0';
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void set_timeout(int fd, int optname, int seconds)
{
    struct timeval tv = {.tv_sec = seconds};
    tapir_setsockopt(fd, SOL_SOCKET, optname, &tv, sizeof(tv));
}

/* Sends all of buf. False when the connection failed or stalled (errno says which). */
static bool send_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = tapir_send(fd, p, len, 0); /* blocks; a timeout may cut it short */
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

bool fileproto_recv_all(int fd, void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = tapir_recv(fd, p, len, 0);
        if (n <= 0) {
            if (n == 0)
                errno = 0;
            return false;
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static bool send_header(int fd, uint8_t status, uint64_t length)
{
    uint8_t hdr[FILEPROTO_REPLY_HDR_LEN];
    hdr[0] = status;
    for (int i = 0; i < 8; i++)
        hdr[1 + i] = (uint8_t)(length >> (56 - 8 * i));
    return send_all(fd, hdr, sizeof(hdr));
}

/* An error reply: the header and one line of text. The request was answered, so this is
 * FILESRV_REFUSED even if the client has gone (it no longer cares). */
static enum filesrv_result send_error(const struct filesrv_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static enum filesrv_result send_error(const struct filesrv_conn *c, const char *fmt, ...)
{
    char msg[FILEPROTO_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    size_t len = n < 0 ? 0 : (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1;
    conn_log(c, "%s", msg);
    if (send_header(c->fd, FILEPROTO_ERR, len))
        send_all(c->fd, msg, len);
    return FILESRV_REFUSED;
}

/* The request: a u16 length, then the name. 0 and the name (NUL-terminated) in name, or an
 * error reply's result, or FILESRV_FAILED when the client went away. */
static int read_request(struct filesrv_conn *c, char name[FILEPROTO_NAME_MAX + 1])
{
    uint8_t hdr[2];
    if (!fileproto_recv_all(c->fd, hdr, sizeof(hdr))) {
        conn_log(c, "no request: %s", errno ? strerror(errno) : "the client closed");
        return FILESRV_FAILED;
    }
    size_t len = (size_t)hdr[0] << 8 | hdr[1];
    if (len == 0)
        return send_error(c, "bad request: an empty file name");
    if (len > FILEPROTO_NAME_MAX)
        return send_error(c, "bad request: a %zu-byte name; at most %d bytes", len,
                          FILEPROTO_NAME_MAX);
    if (!fileproto_recv_all(c->fd, name, len)) {
        conn_log(c, "request cut short: %s", errno ? strerror(errno) : "the client closed");
        return FILESRV_FAILED;
    }
    name[len] = '\0';
    fileproto_quote(name, len, c->name, sizeof(c->name));
    if (memchr(name, '\0', len))
        return send_error(c, "bad request: a NUL byte in the name '%s'", c->name);
    return 0;
}

/* True when a '/'-separated component of name is "..". */
static bool has_dotdot(const char *name)
{
    for (const char *p = name; *p;) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return true;
        p += n;
        p += *p == '/';
    }
    return false;
}

/* Opens name below root_fd, the kernel refusing any resolution that leaves it (RESOLVE_
 * BENEATH: '..' above the root, absolute symlinks, symlinks that climb out). O_NONBLOCK so a
 * FIFO in the directory cannot hang the open; it is refused as "not a regular file" next. */
static int open_beneath(int root_fd, const char *name)
{
    struct open_how how = {.flags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
    return (int)syscall(SYS_openat2, root_fd, name, &how, sizeof(how));
}

/* Checks and opens the requested file. Its descriptor, or -1 after an error reply (the
 * result in *result). */
static int open_requested(const struct filesrv_conn *c, const char *root_dir, const char *name,
                          enum filesrv_result *result)
{
    *result = FILESRV_REFUSED;
    if (name[0] == '/') {
        send_error(c,
                   "refused: '%s' is an absolute path; names are relative to the served "
                   "directory",
                   c->name);
        return -1;
    }
    if (has_dotdot(name)) {
        send_error(c,
                   "refused: '%s' has a '..' component; it may not leave the served "
                   "directory",
                   c->name);
        return -1;
    }
    int root_fd = open(root_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root_fd < 0) {
        send_error(c, "server error: cannot open the served directory: %s", strerror(errno));
        return -1;
    }
    int fd = open_beneath(root_fd, name);
    int e = errno;
    close(root_fd);
    if (fd >= 0)
        return fd;
    if (e == ENOENT || e == ENOTDIR)
        send_error(c, "no such file: '%s'", c->name);
    else if (e == EXDEV || e == ELOOP)
        send_error(c, "refused: '%s' leads out of the served directory (a symlink)", c->name);
    else if (e == ENOSYS)
        send_error(c, "server error: the kernel has no openat2 (Linux 5.6 or later needed)");
    else
        send_error(c, "cannot open '%s': %s", c->name, strerror(e));
    return -1;
}

/* Sends the file whose descriptor is fd (size bytes), chunk by chunk. */
static enum filesrv_result send_file(const struct filesrv_conn *c, int fd, uint64_t size)
{
    uint8_t *buf = malloc(FILESRV_CHUNK_BYTES);
    if (!buf)
        return send_error(c, "server error: out of memory");
    uint64_t start = now_us(), sent = 0;
    enum filesrv_result result = FILESRV_FAILED;
    conn_log(c, "'%s': sending %llu bytes", c->name, (unsigned long long)size);
    if (!send_header(c->fd, FILEPROTO_OK, size))
        goto out;
    while (sent < size) {
        size_t want =
            size - sent < FILESRV_CHUNK_BYTES ? (size_t)(size - sent) : FILESRV_CHUNK_BYTES;
        ssize_t n = read(fd, buf, want);
        if (n <= 0) { /* the file shrank or failed: the client sees a short download */
            conn_log(c, "'%s': reading failed at byte %llu: %s", c->name, (unsigned long long)sent,
                     n == 0 ? "the file shrank" : strerror(errno));
            goto out;
        }
        if (!send_all(c->fd, buf, (size_t)n)) {
            conn_log(c, "'%s': sending failed at byte %llu: %s", c->name, (unsigned long long)sent,
                     errno == EAGAIN ? "the client stopped reading" : strerror(errno));
            goto out;
        }
        sent += (uint64_t)n;
    }
    double secs = (double)(now_us() - start) / 1e6;
    conn_log(c, "'%s': sent %llu bytes in %.2f s (%.1f MiB/s)", c->name, (unsigned long long)sent,
             secs, secs > 0 ? (double)sent / secs / 1048576 : 0.0);
    result = FILESRV_SENT;
out:
    free(buf);
    return result;
}

/* The reply to a readable request: an error, or the header and the file. */
static enum filesrv_result serve_request(const struct filesrv_conn *c, const char *root_dir,
                                         const char *name)
{
    enum filesrv_result result;
    int fd = open_requested(c, root_dir, name, &result);
    if (fd < 0)
        return result;
    struct stat st;
    if (fstat(fd, &st) < 0)
        result = send_error(c, "cannot read '%s': %s", c->name, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        result = send_error(c, "not a regular file: '%s'", c->name);
    else {
        posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        result = send_file(c, fd, (uint64_t)st.st_size);
    }
    close(fd);
    return result;
}

/* Our FIN, then the client's: it closes once it has everything. Reading until then means
 * our close never finds unread data, which would make it a reset that could destroy the
 * reply's tail before the client read it (RFC 1122 §4.2.2.13). */
static void linger_for_client_close(int fd)
{
    char sink[4096];
    set_timeout(fd, SO_RCVTIMEO, FILESRV_LINGER_TIMEOUT_S);
    tapir_shutdown(fd, SHUT_WR);
    for (int i = 0; i < 256 && tapir_recv(fd, sink, sizeof(sink), 0) > 0; i++)
        ;
}

enum filesrv_result filesrv_serve(int fd, const char *root_dir, FILE *log)
{
    struct filesrv_conn c = {.fd = fd, .log = log};
    struct sockaddr_in peer = {0};
    socklen_t peer_len = sizeof(peer);
    char addr[INET_ADDRSTRLEN] = "?";
    if (tapir_getpeername(fd, (struct sockaddr *)&peer, &peer_len) == 0)
        inet_ntop(AF_INET, &peer.sin_addr, addr, sizeof(addr));
    snprintf(c.peer, sizeof(c.peer), "%s:%u", addr, ntohs(peer.sin_port));
    set_timeout(fd, SO_RCVTIMEO, FILESRV_REQUEST_TIMEOUT_S);
    set_timeout(fd, SO_SNDTIMEO, FILESRV_SEND_TIMEOUT_S);

    char name[FILEPROTO_NAME_MAX + 1];
    int rc = read_request(&c, name);
    if (rc == FILESRV_FAILED)
        return FILESRV_FAILED;
    enum filesrv_result result = rc == 0 ? serve_request(&c, root_dir, name) : FILESRV_REFUSED;
    if (result != FILESRV_FAILED)
        linger_for_client_close(fd);
    return result;
}

bool filesrv_root_ok(const char *root_dir, char *msg, size_t msg_len)
{
    int fd = open(root_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(msg, msg_len, "cannot serve '%s': %s", root_dir, strerror(errno));
        return false;
    }
    close(fd);
    return true;
}
