/* SPDX-License-Identifier: MIT */
/* http.c: the small HTTP/1.1 server; see http.h. Requests are parsed as RFC 9112 §2-§6
 * describes them (request line, header fields, the persistence rules of §9.3), strictly
 * where the RFC says a server must reject (whitespace before a field's colon, obsolete line
 * folding, a second Host); files are opened with openat2(RESOLVE_BENEATH), so the kernel
 * itself refuses any path, symlinks included, that would leave the served directory. */
#include "http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "tapir/socket.h"

#define MAX_CONNS_DEFAULT 64u
#define IDLE_MS_DEFAULT 15000u
#define REQUEST_MS_DEFAULT 10000u
#define LINGER_MS 2000u          /* after our FIN, how long we read what the client still sends */
#define HEAD_MAX 1024u           /* our response header */
#define OUT_BYTES (32768u + HEAD_MAX) /* what one send may carry: header and body together */
#define LISTING_MAX 10000u       /* directory entries an index page shows */
#define LOG_LINE_MAX 200         /* request line shown in the log, bytes */
#define METHOD_MAX 16
#define HTTP_INCOMPLETE (-1)

enum conn_state {
    CONN_READ,   /* waiting for (the rest of) a request */
    CONN_WRITE,  /* sending a response */
    CONN_LINGER, /* our side is shut; reading until the client closes (then ours is a FIN) */
};

struct http_conn {
    int fd;
    enum conn_state state;
    bool keep_alive;             /* after this response, wait for another request */
    uint64_t deadline_ms;        /* when the connection is closed if still in this state */
    char peer[INET_ADDRSTRLEN + 8];
    size_t req_len;              /* bytes in req */
    size_t req_used;             /* of them, the request being answered */
    char *body;                  /* a page being sent (malloc'd), or NULL */
    size_t body_len, body_off;
    int file_fd;                 /* or a file being sent, or -1 */
    uint64_t file_left;
    size_t out_len, out_off;     /* bytes of out ready to send, and sent */
    char req[HTTP_REQUEST_MAX];
    char out[OUT_BYTES];
};

struct http_server {
    int listen_fd;
    int root_fd;                 /* O_PATH of cfg.root, or -1 */
    struct http_config cfg;
    size_t prefix_len;
    struct http_conn **conns;
    unsigned nconns;
    unsigned polled;             /* connections http_poll_fill wrote entries for */
};

/* A request as parsed: pointers into the connection's buffer. */
struct http_request {
    char method[METHOD_MAX];
    const char *target;
    size_t target_len;
    int minor;                   /* HTTP/1.minor */
    bool conn_close, conn_keep_alive, has_host, has_body;
    size_t line_len;             /* the request line, for the log */
};

/* ---- Small helpers --------------------------------------------------------------------- */

static uint64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A growing string for pages: listings and error pages. On allocation failure it stays
 * NULL and later appends do nothing; the caller answers 500. */
struct strbuf {
    char *p;
    size_t len, cap;
    bool failed;
};

static void sb_printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct strbuf *b, const char *fmt, ...)
{
    for (int tries = 0; tries < 2 && !b->failed; tries++) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->len;
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? room : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = true;
        } else if ((size_t)n < room) {
            b->len += (size_t)n;
            return;
        } else {
            size_t cap = (b->cap ? b->cap * 2 : 1024) + (size_t)n;
            char *p = realloc(b->p, cap);
            if (!p)
                b->failed = true;
            else
                b->p = p, b->cap = cap;
        }
    }
}

static void sb_put(struct strbuf *b, const char *s, size_t n)
{
    if (!b->failed && b->cap - b->len <= n) {
        size_t cap = (b->cap ? b->cap * 2 : 1024) + n;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    if (b->failed)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* Text for HTML: the five characters that mean something there are escaped. */
static void sb_html_n(struct strbuf *b, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        switch (s[i]) {
        case '<': sb_put(b, "&lt;", 4); break;
        case '>': sb_put(b, "&gt;", 4); break;
        case '&': sb_put(b, "&amp;", 5); break;
        case '"': sb_put(b, "&quot;", 6); break;
        case '\'': sb_put(b, "&#39;", 5); break;
        case '\0': break;
        default: sb_put(b, s + i, 1);
        }
    }
}

static void sb_html(struct strbuf *b, const char *s) { sb_html_n(b, s, strlen(s)); }

char *http_html_escape(const char *s, size_t len)
{
    struct strbuf b = {0};
    sb_put(&b, "", 0); /* an empty string, not NULL, for empty input */
    sb_html_n(&b, s, len);
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/* A name for a URL: RFC 3986's unreserved characters as they are, the rest %XX. */
static void sb_url(struct strbuf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (isalnum(ch) || strchr("-._~", ch))
            sb_printf(b, "%c", ch);
        else
            sb_printf(b, "%%%02X", ch);
    }
}

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 301: return "Moved Permanently";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

const char *http_content_type(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {"html", "text/html; charset=utf-8"}, {"htm", "text/html; charset=utf-8"},
        {"txt", "text/plain; charset=utf-8"}, {"css", "text/css; charset=utf-8"},
        {"js", "text/javascript; charset=utf-8"}, {"json", "application/json"},
        {"png", "image/png"}, {"jpg", "image/jpeg"}, {"jpeg", "image/jpeg"},
        {"gif", "image/gif"}, {"svg", "image/svg+xml"}, {"ico", "image/x-icon"},
        {"pdf", "application/pdf"}, {"pcap", "application/vnd.tcpdump.pcap"},
    };
    const char *dot = strrchr(name, '.'), *slash = strrchr(name, '/');
    if (dot && (!slash || dot > slash))
        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
            if (strcasecmp(dot + 1, types[i].ext) == 0)
                return types[i].type;
    return "application/octet-stream";
}

/* ---- Parsing (RFC 9112) ---------------------------------------------------------------- */

/* RFC 9110 §5.6.2's tchar: what a method or a field name is made of. */
static bool is_tchar(unsigned char ch)
{
    return isalnum(ch) || (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static int hex_value(unsigned char ch)
{
    return isdigit(ch) ? ch - '0' : isxdigit(ch) ? (tolower(ch) - 'a' + 10) : -1;
}

bool http_decode_path(const char *target, size_t len, char *out, size_t out_len)
{
    size_t n = 0;
    if (len == 0 || target[0] != '/' || out_len == 0)
        return false;
    for (size_t i = 0; i < len && target[i] != '?' && target[i] != '#'; i++) {
        int ch = (unsigned char)target[i];
        if (ch == '%') {
            int hi = i + 2 < len ? hex_value((unsigned char)target[i + 1]) : -1;
            int lo = hi >= 0 ? hex_value((unsigned char)target[i + 2]) : -1;
            if (lo < 0)
                return false;
            ch = hi * 16 + lo;
            i += 2;
        }
        if (ch == 0 || n + 1 >= out_len)
            return false;
        out[n++] = (char)ch;
    }
    out[n] = '\0';
    /* "..", decoded, as any segment: refused rather than resolved, so no spelling of it
     * (%2e%2e, ..%2f) reaches the file system. */
    for (const char *seg = out; seg; seg = strchr(seg, '/')) {
        seg++;
        if (seg[0] == '.' && seg[1] == '.' && (seg[2] == '/' || seg[2] == '\0'))
            return false;
    }
    return true;
}

/* A bare LF ends a line too (RFC 9112 §2.2); the CR before it, if any, is not part of it. */
static size_t line_content_len(const char *line, size_t len_with_lf)
{
    size_t n = len_with_lf - 1;
    return n && line[n - 1] == '\r' ? n - 1 : n;
}

/* Bytes up to where the request line could still be a good one: a method of tchars, then
 * a space. Lets garbage (a TLS hello, binary) be refused at once, not after 8 KiB. */
static bool plausible_start(const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] == ' ')
            return i > 0;
        if (!is_tchar((unsigned char)buf[i]) || i >= METHOD_MAX)
            return false;
    }
    return true;
}

/* "HTTP/1.1" into its minor version; -1 for anything that is not HTTP/DIGIT.DIGIT; -2 for
 * a major version other than 1. */
static int parse_version(const char *v, size_t len)
{
    if (len != 8 || memcmp(v, "HTTP/", 5) != 0 || !isdigit((unsigned char)v[5]) || v[6] != '.' ||
        !isdigit((unsigned char)v[7]))
        return -1;
    return v[5] == '1' ? v[7] - '0' : -2;
}

/* RFC 9112 §3: method SP request-target SP HTTP-version. 0 or an error status. */
static int parse_request_line(const char *line, size_t len, struct http_request *rq)
{
    const char *sp1 = memchr(line, ' ', len);
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - line)) : NULL;
    if (!sp2 || sp1 == line || (size_t)(sp1 - line) >= METHOD_MAX || sp2 == sp1 + 1)
        return 400;
    for (const char *p = line; p < sp1; p++)
        if (!is_tchar((unsigned char)*p))
            return 400;
    memcpy(rq->method, line, (size_t)(sp1 - line));
    rq->method[sp1 - line] = '\0';
    rq->target = sp1 + 1;
    rq->target_len = (size_t)(sp2 - rq->target);
    for (size_t i = 0; i < rq->target_len; i++)
        if (rq->target[i] <= ' ' || rq->target[i] >= 0x7f)
            return 400;
    int minor = parse_version(sp2 + 1, len - (size_t)(sp2 + 1 - line));
    if (minor == -2)
        return 505;
    if (minor < 0)
        return 400;
    rq->minor = minor;
    return 0;
}

static bool value_is(const char *v, size_t len, const char *word)
{
    return strlen(word) == len && strncasecmp(v, word, len) == 0;
}

/* Connection's options, a comma-separated list (RFC 9110 §7.6.1). */
static void parse_connection(const char *v, size_t len, struct http_request *rq)
{
    while (len) {
        const char *comma = memchr(v, ',', len);
        size_t n = comma ? (size_t)(comma - v) : len, t = n;
        const char *w = v;
        while (t && (*w == ' ' || *w == '\t'))
            w++, t--;
        while (t && (w[t - 1] == ' ' || w[t - 1] == '\t'))
            t--;
        rq->conn_close |= value_is(w, t, "close");
        rq->conn_keep_alive |= value_is(w, t, "keep-alive");
        v += n + (comma ? 1 : 0);
        len -= n + (comma ? 1 : 0);
    }
}

/* One field line, "name: value" (RFC 9112 §5). 0 or 400. */
static int parse_field(const char *line, size_t len, struct http_request *rq)
{
    const char *colon = memchr(line, ':', len);
    if (!colon || colon == line)
        return 400;
    for (const char *p = line; p < colon; p++)
        if (!is_tchar((unsigned char)*p)) /* also whitespace before the colon: §5.1 says 400 */
            return 400;
    size_t name_len = (size_t)(colon - line);
    const char *v = colon + 1;
    size_t vlen = len - name_len - 1;
    for (size_t i = 0; i < vlen; i++)
        if ((unsigned char)v[i] < ' ' && v[i] != '\t') /* a CR or NUL inside: smuggling */
            return 400;
    while (vlen && (*v == ' ' || *v == '\t'))
        v++, vlen--;
    while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
        vlen--;
    if (value_is(line, name_len, "host")) {
        if (rq->has_host)
            return 400; /* RFC 9112 §3.2: more than one Host */
        rq->has_host = true;
    } else if (value_is(line, name_len, "connection")) {
        parse_connection(v, vlen, rq);
    } else if (value_is(line, name_len, "content-length")) {
        if (!vlen)
            return 400;
        for (size_t i = 0; i < vlen; i++)
            if (!isdigit((unsigned char)v[i]))
                return 400;
        rq->has_body |= !(vlen == 1 && v[0] == '0');
    } else if (value_is(line, name_len, "transfer-encoding")) {
        rq->has_body = true;
    }
    return 0;
}

/* Parses the request at the start of buf. Returns 0 with *used (the request's bytes, up to
 * and including the empty line) when it is complete, HTTP_INCOMPLETE when more must come,
 * or an error status, after which the connection is closed. */
static int parse_request(const char *buf, size_t len, struct http_request *rq, size_t *used)
{
    memset(rq, 0, sizeof(*rq));
    size_t pos = 0;
    /* RFC 9112 §2.2: an empty line or two before the request line are ignored. */
    for (int skip = 0; skip < 2 && pos < len && (buf[pos] == '\r' || buf[pos] == '\n'); skip++)
        pos += buf[pos] == '\r' && pos + 1 < len && buf[pos + 1] == '\n' ? 2 : 1;
    const char *line = buf + pos, *lf = memchr(line, '\n', len - pos);
    if (!lf) {
        if (!plausible_start(line, len - pos))
            return 400;
        return len >= HTTP_REQUEST_MAX ? 414 : HTTP_INCOMPLETE;
    }
    size_t n = (size_t)(lf - line) + 1;
    rq->line_len = line_content_len(line, n);
    int status = parse_request_line(line, rq->line_len, rq);
    for (pos += n; status == 0;) {
        const char *f = buf + pos;
        lf = memchr(f, '\n', len - pos);
        if (!lf)
            return len >= HTTP_REQUEST_MAX ? 431 : HTTP_INCOMPLETE;
        n = (size_t)(lf - f) + 1;
        pos += n;
        size_t flen = line_content_len(f, n);
        if (flen == 0)
            break;
        if (f[0] == ' ' || f[0] == '\t')
            return 400; /* obsolete line folding (RFC 9112 §5.2) */
        status = parse_field(f, flen, rq);
    }
    if (status == 0 && rq->minor >= 1 && !rq->has_host)
        status = 400; /* RFC 9112 §3.2: an HTTP/1.1 request without Host */
    *used = pos;
    return status;
}

/* ---- Responses ------------------------------------------------------------------------- */

/* RFC 9112 §9.3: 1.1 stays open unless asked to close, 1.0 closes unless asked to stay.
 * A request with a body we did not read (we take none) ends the connection too. */
static bool wants_keep_alive(const struct http_request *rq)
{
    if (rq->conn_close || rq->has_body)
        return false;
    return rq->minor >= 1 || rq->conn_keep_alive;
}

/* Writes the status line and header into c->out; body_len is what Content-Length says. */
static void write_head(struct http_conn *c, const struct http_request *rq, int status,
                       const char *type, uint64_t body_len, const char *extra)
{
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    const char *conn = !c->keep_alive ? "Connection: close\r\n"
                       : rq && rq->minor == 0 ? "Connection: keep-alive\r\n"
                                              : "";
    int n = snprintf(c->out, HEAD_MAX,
                     "HTTP/1.1 %d %s\r\nServer: tapir\r\nDate: %s\r\n%s%s%sContent-Length: "
                     "%llu\r\n%s%s\r\n",
                     status, reason(status), date, type ? "Content-Type: " : "", type ? type : "",
                     type ? "\r\n" : "", (unsigned long long)body_len, extra ? extra : "", conn);
    c->out_len = n > 0 && (size_t)n < HEAD_MAX ? (size_t)n : 0;
    c->out_off = 0;
}

/* The request line as the log shows it: printable, cut short. */
static void log_request(const struct http_server *s, const struct http_conn *c,
                        const struct http_request *rq, int status, uint64_t len)
{
    if (!s->cfg.log)
        return;
    char line[LOG_LINE_MAX + 4];
    size_t n = rq ? rq->line_len : 0, k = 0;
    const char *src = rq ? rq->target - strlen(rq->method) - 1 : c->req;
    if (!rq)
        for (n = 0; n < c->req_len && c->req[n] != '\r' && c->req[n] != '\n'; n++)
            ;
    for (; k < n && k < LOG_LINE_MAX; k++)
        line[k] = isprint((unsigned char)src[k]) ? src[k] : '?';
    if (n > LOG_LINE_MAX)
        memcpy(line + k, "...", 3), k += 3;
    line[k] = '\0';
    fprintf(s->cfg.log, "http: %s \"%s\" %d %llu\n", c->peer, line, status,
            (unsigned long long)len);
    fflush(s->cfg.log);
}

static bool is_head(const struct http_request *rq)
{
    return rq && strcmp(rq->method, "HEAD") == 0;
}

/* Logs the response and puts its header in c->out, to be sent. */
static void begin(struct http_server *s, struct http_conn *c, const struct http_request *rq,
                  int status, const char *type, uint64_t len, const char *extra)
{
    log_request(s, c, rq, status, len);
    write_head(c, rq, status, type, len, extra);
    c->state = CONN_WRITE;
}

/* Starts a response whose body is in memory (body malloc'd, taken over; NULL for none). */
static void respond(struct http_server *s, struct http_conn *c, const struct http_request *rq,
                    int status, const char *type, char *body, size_t len, const char *extra)
{
    begin(s, c, rq, status, type, len, extra);
    if (is_head(rq) || !len) {
        free(body);
        body = NULL;
        len = 0;
    }
    c->body = body;
    c->body_len = len;
    c->body_off = 0;
}

/* A short HTML page for an error. The text is ours: nothing from the request is echoed. */
static void respond_error(struct http_server *s, struct http_conn *c,
                          const struct http_request *rq, int status, const char *extra)
{
    struct strbuf b = {0};
    sb_printf(&b,
              "<!DOCTYPE html>\n<html><head><title>%d %s</title></head>\n"
              "<body><h1>%d %s</h1></body></html>\n",
              status, reason(status), status, reason(status));
    if (status >= 400 && status != 404 && status != 403 && status != 405)
        c->keep_alive = false; /* the request was not understood: where would the next start? */
    respond(s, c, rq, status, b.failed ? NULL : "text/html; charset=utf-8", b.failed ? NULL : b.p,
            b.failed ? 0 : b.len, extra);
}

static void respond_page(struct http_server *s, struct http_conn *c, const struct http_request *rq,
                         struct http_page *page)
{
    if (!page->body && page->len) {
        respond_error(s, c, rq, 500, NULL);
        return;
    }
    respond(s, c, rq, page->status ? page->status : 200, page->content_type, page->body,
            page->len, page->no_store ? "Cache-Control: no-store\r\n" : NULL);
}

/* openat2 beneath the served directory: the kernel refuses "..", absolute symlinks and any
 * other way out (EXDEV), whatever the path says. */
static int open_beneath(int root_fd, const char *rel, int flags)
{
    struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC | O_NOCTTY),
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
    return (int)syscall(SYS_openat2, root_fd, *rel ? rel : ".", &how, sizeof(how));
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names in the directory dir_fd (which it takes over), sorted, directories with a '/'. */
static char **list_dir(int dir_fd, size_t *count)
{
    DIR *d = fdopendir(dir_fd);
    char **names = NULL;
    size_t n = 0, cap = 0;
    if (!d) {
        close(dir_fd);
        return NULL;
    }
    for (struct dirent *e; (e = readdir(d)) && n < LISTING_MAX;) {
        if (e->d_name[0] == '.' && (e->d_name[1] == '\0' || strcmp(e->d_name, "..") == 0))
            continue;
        struct stat st;
        bool dir = e->d_type == DT_DIR ||
                   (e->d_type == DT_UNKNOWN && fstatat(dirfd(d), e->d_name, &st, 0) == 0 &&
                    S_ISDIR(st.st_mode));
        if (n == cap) {
            char **more = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof(*names));
            if (!more)
                break;
            names = more;
        }
        size_t len = strlen(e->d_name);
        if (!(names[n] = malloc(len + 2)))
            break;
        memcpy(names[n], e->d_name, len);
        memcpy(names[n] + len, dir ? "/" : "", dir ? 2 : 1);
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof(*names), entry_cmp);
    *count = n;
    return names;
}

/* An index page for a directory with no index.html. */
static void respond_listing(struct http_server *s, struct http_conn *c,
                            const struct http_request *rq, int dir_fd, const char *path)
{
    size_t n = 0;
    char **names = list_dir(dir_fd, &n);
    struct strbuf b = {0};
    sb_printf(&b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of ");
    sb_html(&b, path);
    sb_printf(&b, "</title></head>\n<body><h1>Index of ");
    sb_html(&b, path);
    sb_printf(&b, "</h1>\n<ul>\n");
    if (strcmp(path, "/") != 0 && strlen(path) > s->prefix_len + 1)
        sb_printf(&b, "<li><a href=\"../\">../</a></li>\n");
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(names[i]);
        bool dir = len && names[i][len - 1] == '/';
        if (dir)
            names[i][len - 1] = '\0';
        sb_printf(&b, "<li><a href=\"");
        sb_url(&b, names[i]);
        sb_printf(&b, "%s\">", dir ? "/" : "");
        sb_html(&b, names[i]);
        sb_printf(&b, "%s</a></li>\n", dir ? "/" : "");
        free(names[i]);
    }
    free(names);
    sb_printf(&b, "</ul>\n</body></html>\n");
    if (b.failed) {
        free(b.p);
        respond_error(s, c, rq, 500, NULL);
        return;
    }
    respond(s, c, rq, 200, "text/html; charset=utf-8", b.p, b.len, NULL);
}

static int errno_status(int e)
{
    return e == EACCES || e == EPERM ? 403 : e == EXDEV || e == ELOOP ? 403 : 404;
}

/* Starts sending an open regular file. */
static void respond_file(struct http_server *s, struct http_conn *c, const struct http_request *rq,
                         int fd, const struct stat *st, const char *name)
{
    char extra[96];
    struct tm tm;
    gmtime_r(&st->st_mtime, &tm);
    strftime(extra, sizeof(extra), "Last-Modified: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
    begin(s, c, rq, 200, http_content_type(name), (uint64_t)st->st_size, extra);
    if (is_head(rq)) {
        close(fd);
        return;
    }
    c->file_fd = fd;
    c->file_left = (uint64_t)st->st_size;
}

/* rel (below the root, no leading '/') names a directory, open as fd: its index.html, or a
 * listing; a URL without its final slash is redirected first, or relative links would
 * resolve one level up. */
static void respond_dir(struct http_server *s, struct http_conn *c, const struct http_request *rq,
                        int fd, const char *rel, const char *path)
{
    size_t plen = strlen(path);
    if (path[plen - 1] != '/') {
        close(fd);
        char extra[HEAD_MAX / 2];
        size_t raw = strcspn(rq->target, "?# "); /* the target as sent: printable, no CR LF */
        if (raw > sizeof(extra) - 16) {
            respond_error(s, c, rq, 414, NULL);
            return;
        }
        snprintf(extra, sizeof(extra), "Location: %.*s/\r\n", (int)raw, rq->target);
        respond_error(s, c, rq, 301, extra);
        return;
    }
    char index[PATH_MAX + 16];
    int n = snprintf(index, sizeof(index), "%s%sindex.html", rel, *rel ? "/" : "");
    int ifd = n > 0 && (size_t)n < sizeof(index)
                  ? open_beneath(s->root_fd, index, O_RDONLY | O_NONBLOCK)
                  : -1;
    struct stat st;
    if (ifd >= 0 && fstat(ifd, &st) == 0 && S_ISREG(st.st_mode)) {
        close(fd);
        respond_file(s, c, rq, ifd, &st, "index.html");
        return;
    }
    if (ifd >= 0)
        close(ifd);
    respond_listing(s, c, rq, fd, path);
}

/* A path below the root (after the prefix), decoded and free of "..". */
static void respond_path(struct http_server *s, struct http_conn *c, const struct http_request *rq,
                         const char *path)
{
    const char *rel = path + s->prefix_len;
    while (*rel == '/')
        rel++;
    char trimmed[PATH_MAX];
    size_t tl = strlen(rel);
    if (tl >= sizeof(trimmed)) {
        respond_error(s, c, rq, 414, NULL);
        return;
    }
    memcpy(trimmed, rel, tl + 1);
    while (tl && trimmed[tl - 1] == '/')
        trimmed[--tl] = '\0';
    /* O_NONBLOCK: opening a FIFO someone left in the tree must not hang the server. */
    int fd = open_beneath(s->root_fd, trimmed, O_RDONLY | O_NONBLOCK);
    struct stat st;
    if (fd < 0) {
        if (errno == ENOSYS)
            fprintf(stderr, "http: the kernel has no openat2 (Linux 5.6 or later needed)\n");
        respond_error(s, c, rq, errno == ENOSYS ? 500 : errno_status(errno), NULL);
        return;
    }
    if (fstat(fd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))) {
        close(fd);
        respond_error(s, c, rq, 403, NULL);
        return;
    }
    if (S_ISDIR(st.st_mode)) {
        respond_dir(s, c, rq, fd, trimmed, path);
        return;
    }
    if (path[strlen(path) - 1] == '/') { /* "file/": not a directory */
        close(fd);
        respond_error(s, c, rq, 404, NULL);
        return;
    }
    respond_file(s, c, rq, fd, &st, trimmed);
}

/* Past the request line and fields: what to answer. */
static void respond_request(struct http_server *s, struct http_conn *c,
                            const struct http_request *rq)
{
    if (strcmp(rq->method, "GET") != 0 && strcmp(rq->method, "HEAD") != 0) {
        respond_error(s, c, rq, 405, "Allow: GET, HEAD\r\n");
        return;
    }
    const char *target = rq->target;
    size_t tlen = rq->target_len;
    /* RFC 9112 §3.2.2: a server takes the absolute form too; the authority is ignored. */
    size_t scheme = tlen > 7 && strncasecmp(target, "http://", 7) == 0    ? 7
                    : tlen > 8 && strncasecmp(target, "https://", 8) == 0 ? 8
                                                                          : 0;
    if (scheme) {
        const char *p = memchr(target + scheme, '/', tlen - scheme);
        size_t skip = p ? (size_t)(p - target) : tlen;
        target += skip;
        tlen -= skip;
        if (!tlen)
            target = "/", tlen = 1;
    }
    char path[PATH_MAX];
    if (!http_decode_path(target, tlen, path, sizeof(path))) {
        respond_error(s, c, rq, 400, NULL);
        return;
    }
    struct http_page page = {0};
    if (s->cfg.page && s->cfg.page(s->cfg.page_ctx, path, &page)) {
        respond_page(s, c, rq, &page);
        return;
    }
    const char *pre = s->cfg.root_prefix ? s->cfg.root_prefix : "";
    if (s->root_fd < 0 || strncmp(path, pre, s->prefix_len) != 0 ||
        (path[s->prefix_len] != '/' && path[s->prefix_len] != '\0')) {
        respond_error(s, c, rq, 404, NULL);
        return;
    }
    if (path[s->prefix_len] == '\0') { /* "/www": the directory wants its slash */
        char extra[HEAD_MAX / 2];
        snprintf(extra, sizeof(extra), "Location: %s/\r\n", pre);
        respond_error(s, c, rq, 301, extra);
        return;
    }
    respond_path(s, c, rq, path);
}

/* ---- Connections ----------------------------------------------------------------------- */

/* Tries to answer the request at the start of c->req. False when more bytes must come. */
static bool start_response(struct http_server *s, struct http_conn *c)
{
    struct http_request rq;
    size_t used = 0;
    int status = parse_request(c->req, c->req_len, &rq, &used);
    if (status == HTTP_INCOMPLETE)
        return false;
    c->req_used = status == 0 ? used : c->req_len;
    if (status) { /* not understood: answered with the error, then the connection ends */
        c->keep_alive = false;
        respond_error(s, c, NULL, status, NULL);
        return true;
    }
    c->keep_alive = wants_keep_alive(&rq);
    respond_request(s, c, &rq);
    return true;
}

/* Fills c->out from the page or the file once the last of it has gone. 0, or -1 when the
 * file cannot be read (it shrank: Content-Length cannot be kept, so the connection ends). */
static int refill(struct http_conn *c)
{
    size_t room = OUT_BYTES - c->out_len;
    if (c->body && c->body_off < c->body_len) {
        size_t n = c->body_len - c->body_off < room ? c->body_len - c->body_off : room;
        memcpy(c->out + c->out_len, c->body + c->body_off, n);
        c->body_off += n;
        c->out_len += n;
    } else if (c->file_fd >= 0 && c->file_left) {
        size_t want = c->file_left < room ? (size_t)c->file_left : room;
        ssize_t n = read(c->file_fd, c->out + c->out_len, want);
        if (n <= 0)
            return -1;
        c->file_left -= (uint64_t)n;
        c->out_len += (size_t)n;
    }
    return 0;
}

/* Sends what there is. 1 when the response is all sent, 0 when the socket is full, -1 when
 * the connection failed. */
static int conn_write(struct http_conn *c, uint64_t now, unsigned idle_ms)
{
    for (;;) {
        if (c->out_off == c->out_len) {
            c->out_off = c->out_len = 0;
            if (refill(c) < 0)
                return -1;
            if (!c->out_len)
                return 1;
        } else if (c->out_off == 0 && c->out_len < OUT_BYTES / 2 && refill(c) < 0) {
            return -1; /* the header and the start of the body go out together */
        }
        ssize_t n = tapir_send(c->fd, c->out + c->out_off, c->out_len - c->out_off, 0);
        if (n < 0)
            return errno == EAGAIN ? 0 : -1;
        c->out_off += (size_t)n;
        c->deadline_ms = now + idle_ms; /* progress */
    }
}

static void response_done(struct http_conn *c)
{
    free(c->body);
    c->body = NULL;
    if (c->file_fd >= 0)
        close(c->file_fd);
    c->file_fd = -1;
}

/* After a response: the next request (keep-alive) or our half of the close. */
static void conn_next(const struct http_server *s, struct http_conn *c, uint64_t now)
{
    response_done(c);
    if (!c->keep_alive) {
        tapir_shutdown(c->fd, SHUT_WR);
        c->state = CONN_LINGER;
        c->deadline_ms = now + LINGER_MS;
        return;
    }
    memmove(c->req, c->req + c->req_used, c->req_len - c->req_used);
    c->req_len -= c->req_used;
    c->req_used = 0;
    c->state = CONN_READ;
    c->deadline_ms = now + (c->req_len ? s->cfg.request_ms : s->cfg.idle_ms);
}

/* Serves one connection as far as it can go now. False when it is finished. */
static bool conn_step(struct http_server *s, struct http_conn *c, uint64_t now)
{
    for (;;) {
        if (c->state == CONN_WRITE) {
            int rc = conn_write(c, now, s->cfg.idle_ms);
            if (rc <= 0)
                return rc == 0;
            conn_next(s, c, now);
            continue;
        }
        if (c->state == CONN_READ && start_response(s, c)) {
            c->deadline_ms = now + s->cfg.idle_ms; /* the response's turn to make progress */
            continue;
        }
        /* Reading: more of a request, or (lingering) whatever the client still sends. */
        char *into = c->state == CONN_LINGER ? c->req : c->req + c->req_len;
        size_t room = c->state == CONN_LINGER ? sizeof(c->req) : sizeof(c->req) - c->req_len;
        ssize_t n = tapir_recv(c->fd, into, room, 0);
        if (n <= 0)
            return n < 0 && errno == EAGAIN;
        if (c->state == CONN_READ) {
            if (c->req_len == 0) /* a request begins: it has request_ms to arrive whole */
                c->deadline_ms = now + s->cfg.request_ms;
            c->req_len += (size_t)n;
        }
    }
}

static void conn_close(struct http_server *s, unsigned i)
{
    struct http_conn *c = s->conns[i];
    response_done(c);
    tapir_close(c->fd);
    free(c);
    s->conns[i] = s->conns[--s->nconns];
}

static void accept_all(struct http_server *s, uint64_t now)
{
    while (s->nconns < s->cfg.max_conns) {
        struct sockaddr_in peer;
        socklen_t peer_len = sizeof(peer);
        int fd = tapir_accept(s->listen_fd, (struct sockaddr *)&peer, &peer_len);
        if (fd < 0)
            return; /* EAGAIN: no more for now */
        struct http_conn *c = malloc(sizeof(*c));
        if (!c) {
            tapir_close(fd);
            continue;
        }
        int one = 1;
        tapir_fcntl(fd, F_SETFL, O_NONBLOCK);
        /* Each send is a whole header-and-body buffer: nothing for Nagle to coalesce, and
         * a response's last small segment should not wait for an ACK. */
        tapir_setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (s->cfg.on_accept)
            s->cfg.on_accept(fd, s->cfg.accept_ctx);
        memset(c, 0, offsetof(struct http_conn, req));
        c->fd = fd;
        c->file_fd = -1;
        c->state = CONN_READ;
        c->deadline_ms = now + s->cfg.idle_ms;
        char a[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &peer.sin_addr, a, sizeof(a));
        snprintf(c->peer, sizeof(c->peer), "%s:%u", a, ntohs(peer.sin_port));
        s->conns[s->nconns++] = c;
    }
}

/* ---- The server ------------------------------------------------------------------------ */

struct http_server *http_server_new(int listen_fd, const struct http_config *cfg)
{
    struct http_server *s = calloc(1, sizeof(*s));
    if (!s) {
        tapir_close(listen_fd);
        return NULL;
    }
    s->listen_fd = listen_fd;
    s->root_fd = -1;
    s->cfg = *cfg;
    s->cfg.max_conns = cfg->max_conns ? cfg->max_conns : MAX_CONNS_DEFAULT;
    s->cfg.idle_ms = cfg->idle_ms ? cfg->idle_ms : IDLE_MS_DEFAULT;
    s->cfg.request_ms = cfg->request_ms ? cfg->request_ms : REQUEST_MS_DEFAULT;
    s->prefix_len = cfg->root_prefix ? strlen(cfg->root_prefix) : 0;
    if (s->prefix_len && cfg->root_prefix[s->prefix_len - 1] == '/')
        s->prefix_len--; /* "/www/" means "/www" */
    s->conns = calloc(s->cfg.max_conns, sizeof(*s->conns));
    if (cfg->root)
        s->root_fd = open(cfg->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (!s->conns || (cfg->root && s->root_fd < 0)) {
        int e = errno;
        http_server_free(s);
        errno = e;
        return NULL;
    }
    tapir_fcntl(listen_fd, F_SETFL, O_NONBLOCK);
    return s;
}

void http_server_free(struct http_server *s)
{
    if (!s)
        return;
    while (s->nconns)
        conn_close(s, 0);
    tapir_close(s->listen_fd);
    if (s->root_fd >= 0)
        close(s->root_fd);
    free(s->conns);
    free(s);
}

unsigned http_poll_max(const struct http_server *s) { return 1 + s->cfg.max_conns; }

unsigned http_connections(const struct http_server *s) { return s->nconns; }

unsigned http_poll_fill(struct http_server *s, struct pollfd *fds, unsigned room)
{
    unsigned n = 0;
    if (room == 0)
        return 0;
    /* A full table leaves new clients in the accept queue (-1: poll skips the entry). */
    fds[n++] = (struct pollfd){.fd = s->nconns < s->cfg.max_conns ? s->listen_fd : -1,
                               .events = POLLIN};
    for (s->polled = 0; s->polled < s->nconns && n < room; s->polled++) {
        const struct http_conn *c = s->conns[s->polled];
        fds[n++] = (struct pollfd){.fd = c->fd,
                                   .events = c->state == CONN_WRITE ? POLLOUT : POLLIN};
    }
    return n;
}

int http_poll_timeout(const struct http_server *s)
{
    if (!s->nconns)
        return -1;
    uint64_t now = monotonic_ms(), first = UINT64_MAX;
    for (unsigned i = 0; i < s->nconns; i++)
        if (s->conns[i]->deadline_ms < first)
            first = s->conns[i]->deadline_ms;
    return first <= now ? 0 : first - now > INT_MAX ? INT_MAX : (int)(first - now);
}

void http_poll_handle(struct http_server *s, const struct pollfd *fds)
{
    uint64_t now = monotonic_ms();
    /* From the last polled, so closing one (the last takes its place) moves only served
     * ones; connections accepted below were not polled and wait for the next round. */
    for (unsigned i = s->polled; i-- > 0;) {
        short rev = fds[1 + i].revents;
        if (rev && ((rev & POLLNVAL) || !conn_step(s, s->conns[i], now)))
            conn_close(s, i);
    }
    s->polled = 0;
    if (fds[0].revents & POLLIN)
        accept_all(s, now);
    for (unsigned i = s->nconns; i-- > 0;)
        if (s->conns[i]->deadline_ms <= now)
            conn_close(s, i); /* too slow: a request, a reader, or a lingering close */
}
