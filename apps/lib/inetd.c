/* SPDX-License-Identifier: MIT */
/* inetd.c: the host's services; see inetd.h. Every socket of the small services and of HTTP
 * is non-blocking and one tapir_poll waits on all of them, as a classic single-threaded
 * server does. A connection whose peer is slow to read is not read from either (echo keeps
 * at most one buffer of pending bytes), so one client cannot make the server hold unbounded
 * memory. The blocking service gets a thread per connection, a bounded number of them. */
#include "inetd.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "tapir/socket.h"

#define INETD_MAX_CONNS 16384u     /* TCP connections at once (issue 8 holds 10,000) */
#define ECHO_BUF_BYTES 16384u      /* one recv or send; shared, not per connection */
#define CHARGEN_LINE 72u           /* RFC 864: 72 characters, then CR LF */
#define CHARGEN_PERIOD (95u * (CHARGEN_LINE + 2u)) /* then the pattern repeats: 7030 bytes */
#define HTTP_MAX_CONNS 64u
#define HTTP_WWW_PREFIX "/www"
#define CONN_JOBS_MAX 16u          /* threads of the blocking service at once */
#define CONN_JOB_TIMEOUT_S 60      /* a blocked send or recv there gives up after this */
#define MEM_RETRY_MS 10            /* a send refused for memory is tried again this soon */

enum service { SVC_ECHO, SVC_DISCARD, SVC_DAYTIME, SVC_CHARGEN, SVC_COUNT };

static const unsigned short service_port[SVC_COUNT] = {7, 9, 13, 19};

struct conn {
    int fd;
    enum service svc;
    uint32_t pend_off, pend_len; /* echo: bytes received and not yet sent back */
    uint8_t *pend;               /* echo: those bytes, held only while the client is slow */
    uint64_t chargen_pos;        /* chargen: position in the endless pattern */
    bool mem_wait;               /* a send found the stack out of memory (ENOBUFS): nothing
                                  * to poll for, so it is tried again on a short timer */
};

/* A connection of the blocking service, served on a thread of its own. */
struct conn_job {
    struct inetd *d;
    pthread_t thread;
    int fd;        /* -1 once closed (by the thread, or by inetd_close to stop it) */
    bool busy;     /* a thread was started and not yet joined */
    bool finished; /* the thread is done: join it */
};

struct inetd {
    /* An idle connection holds no buffer (10,000 of them must fit in a few MiB): data is
     * read into scratch and echoed from it; only what a slow client leaves unsent is kept,
     * in conn.pend. chargen sends straight out of a prebuilt stretch of its pattern. */
    uint8_t scratch[ECHO_BUF_BYTES];
    uint8_t chargen_buf[CHARGEN_PERIOD + ECHO_BUF_BYTES];
    int udp_echo, udp_discard;
    int listeners[SVC_COUNT];
    struct conn *conns[INETD_MAX_CONNS];
    unsigned nconns;
    struct inetd_config cfg;
    struct http_server *http;    /* or NULL */
    int conn_listener;           /* the blocking service's, or -1 */
    pthread_mutex_t jobs_lock;   /* the jobs' fd, busy and finished */
    struct conn_job jobs[CONN_JOBS_MAX];
    struct pollfd *fds;          /* rebuilt on each call: listeners, UDP, conns, HTTP, extra */
    unsigned fds_cap;
    uint8_t dgram[65536];
};

static int open_socket(int type, unsigned short port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    int one = 1;
    int fd = tapir_socket(AF_INET, type | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    if (type == SOCK_STREAM)
        tapir_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (tapir_bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        (type == SOCK_STREAM && tapir_listen(fd, 128) < 0)) {
        int e = errno;
        tapir_close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* The timings first, then SO_KEEPALIVE, so the timer is armed once, with them. */
static int keepalive_on(int fd, const struct inetd_keepalive *k)
{
    int one = 1;
    if (tapir_setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &k->idle_s, sizeof(k->idle_s)) < 0 ||
        tapir_setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &k->intvl_s, sizeof(k->intvl_s)) < 0 ||
        tapir_setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &k->cnt, sizeof(k->cnt)) < 0)
        return -1;
    return tapir_setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
}

/* --keepalive on a new connection of any service. The values were checked on the command
 * line; a refusal here is the stack's, and serving on without keepalive beats refusing the
 * client. */
static void tcp_options(int fd, void *ctx)
{
    const struct inetd *d = ctx;
    if (d->cfg.keepalive.idle_s && keepalive_on(fd, &d->cfg.keepalive) < 0)
        fprintf(stderr, "inetd: cannot turn keepalive on: %s\n", strerror(errno));
}

static int open_http(struct inetd *d)
{
    int fd = open_socket(SOCK_STREAM, d->cfg.http_port);
    if (fd < 0)
        return -1;
    const struct http_config hc = {
        .root = d->cfg.www_dir, .root_prefix = HTTP_WWW_PREFIX,
        .page = d->cfg.http_page, .page_ctx = d->cfg.http_page_ctx, .log = d->cfg.log,
        .on_accept = tcp_options, .accept_ctx = d, .max_conns = HTTP_MAX_CONNS};
    d->http = http_server_new(fd, &hc); /* owns fd from now on */
    return d->http ? 0 : -1;
}

static void chargen_build(uint8_t *period);

struct inetd *inetd_open(const struct inetd_config *cfg)
{
    struct inetd *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->cfg = *cfg;
    d->conn_listener = -1;
    chargen_build(d->chargen_buf);
    pthread_mutex_init(&d->jobs_lock, NULL);
    for (unsigned i = 0; i < CONN_JOBS_MAX; i++)
        d->jobs[i].fd = -1;
    /* Listeners, UDP echo and discard, connections, the blocking service's listener,
     * HTTP's listener and connections, the caller's descriptor. */
    d->fds_cap = SVC_COUNT + 2 + INETD_MAX_CONNS + 1 + 1 + HTTP_MAX_CONNS + 1;
    d->fds = calloc(d->fds_cap, sizeof(*d->fds));
    d->udp_echo = open_socket(SOCK_DGRAM, 7);
    d->udp_discard = open_socket(SOCK_DGRAM, 9);
    bool ok = d->fds && d->udp_echo >= 0 && d->udp_discard >= 0;
    for (int s = 0; s < SVC_COUNT; s++)
        ok = (d->listeners[s] = open_socket(SOCK_STREAM, service_port[s])) >= 0 && ok;
    if (ok && cfg->http_port)
        ok = open_http(d) == 0;
    if (ok && cfg->conn_port && cfg->conn_serve)
        ok = (d->conn_listener = open_socket(SOCK_STREAM, cfg->conn_port)) >= 0;
    if (!ok) {
        int e = errno;
        inetd_close(d);
        errno = e;
        return NULL;
    }
    return d;
}

static void conn_close(struct inetd *d, unsigned i)
{
    tapir_close(d->conns[i]->fd);
    free(d->conns[i]->pend);
    free(d->conns[i]);
    d->conns[i] = d->conns[--d->nconns];
}

static void jobs_stop(struct inetd *d);

void inetd_close(struct inetd *d)
{
    if (!d)
        return;
    jobs_stop(d);
    while (d->nconns)
        conn_close(d, 0);
    http_server_free(d->http);
    tapir_close(d->udp_echo);
    tapir_close(d->udp_discard);
    for (int s = 0; s < SVC_COUNT; s++)
        tapir_close(d->listeners[s]);
    if (d->conn_listener >= 0)
        tapir_close(d->conn_listener);
    pthread_mutex_destroy(&d->jobs_lock);
    free(d->fds);
    free(d);
}

static unsigned jobs_busy(struct inetd *d)
{
    unsigned n = 0;
    pthread_mutex_lock(&d->jobs_lock);
    for (unsigned i = 0; i < CONN_JOBS_MAX; i++)
        n += d->jobs[i].busy && !d->jobs[i].finished;
    pthread_mutex_unlock(&d->jobs_lock);
    return n;
}

unsigned inetd_connections(struct inetd *d)
{
    return d->nconns + (d->http ? http_connections(d->http) : 0) + jobs_busy(d);
}

/* RFC 867: the date and time as a line of text; then the server closes. */
static void daytime_send(struct conn *c)
{
    char line[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    size_t n = strftime(line, sizeof(line), "%A, %B %d, %Y %H:%M:%S-UTC\r\n", &tm);
    tapir_send(c->fd, line, n, 0);
}

static void accept_all(struct inetd *d, enum service svc)
{
    for (;;) {
        int fd = tapir_accept(d->listeners[svc], NULL, NULL);
        if (fd < 0)
            return; /* EAGAIN: no more for now */
        struct conn *c = d->nconns < INETD_MAX_CONNS ? calloc(1, sizeof(*c)) : NULL;
        if (!c) {
            tapir_close(fd); /* at capacity: refuse by closing */
            continue;
        }
        tapir_fcntl(fd, F_SETFL, O_NONBLOCK);
        tcp_options(fd, d);
        c->fd = fd;
        c->svc = svc;
        d->conns[d->nconns++] = c;
        if (svc == SVC_DAYTIME) {
            daytime_send(c);
            conn_close(d, d->nconns - 1);
        }
    }
}

/* RFC 864's pattern: line k holds the 95 printable characters from position k on, 72 of
 * them; after 95 lines it starts over. Built once, one period and one send's worth more, so
 * that ECHO_BUF_BYTES from any position in the period lie in one piece. */
static void chargen_build(uint8_t *buf)
{
    for (uint32_t i = 0; i < CHARGEN_PERIOD + ECHO_BUF_BYTES; i++) {
        uint32_t pos = i % CHARGEN_PERIOD;
        uint32_t line = pos / (CHARGEN_LINE + 2), col = pos % (CHARGEN_LINE + 2);
        if (col == CHARGEN_LINE)
            buf[i] = '\r';
        else if (col == CHARGEN_LINE + 1)
            buf[i] = '\n';
        else
            buf[i] = (uint8_t)(' ' + (line + col) % 95);
    }
}

#define CHARGEN_BURST 64 /* sends per wake-up before the client gets a look in */

/* After a failed send: true if the connection lives on. EAGAIN waits for POLLOUT; ENOBUFS
 * (the stack's memory budget is spent, and this connection has nothing in flight whose
 * acknowledgment would make room) waits for memory, tried again on a timer. */
static bool send_may_retry(struct conn *c)
{
    if (errno == ENOBUFS)
        c->mem_wait = true;
    return errno == EAGAIN || errno == ENOBUFS;
}

/* chargen: sends while there is room, straight from the prebuilt pattern; anything the
 * client sends is read and ignored. */
static bool chargen_serve(struct inetd *d, struct conn *c)
{
    ssize_t n;
    while ((n = tapir_recv(c->fd, d->scratch, sizeof(d->scratch), 0)) > 0)
        ;
    if (n == 0)
        return false;
    /* A bounded burst, then back to poll: a reader as fast as we write would otherwise keep
     * the send buffer from ever filling, and the client's FIN would go unread. */
    for (int burst = 0; burst < CHARGEN_BURST; burst++) {
        const uint8_t *from = d->chargen_buf + c->chargen_pos % CHARGEN_PERIOD;
        if ((n = tapir_send(c->fd, from, ECHO_BUF_BYTES, 0)) <= 0)
            return send_may_retry(c);
        c->chargen_pos += (uint64_t)n;
    }
    return true;
}

/* echo: what could not be sent back yet is kept, and the rest read only once it has gone
 * (so a client that does not read is not fed more than its own window's worth). */
static bool echo_hold(struct conn *c, const uint8_t *data, size_t len)
{
    c->pend = malloc(len);
    if (!c->pend)
        return false; /* no memory: the connection ends rather than lose bytes */
    memcpy(c->pend, data, len);
    c->pend_off = 0;
    c->pend_len = (uint32_t)len;
    return true;
}

/* Serves one connection; false when it is finished. */
static bool conn_serve(struct inetd *d, struct conn *c, short revents)
{
    if (revents & (POLLERR | POLLNVAL))
        return false;
    if (c->svc == SVC_CHARGEN)
        return chargen_serve(d, c);
    for (;;) {
        if (c->pend_len) { /* echo: give back what is pending before reading more */
            ssize_t w = tapir_send(c->fd, c->pend + c->pend_off, c->pend_len, 0);
            if (w < 0)
                return send_may_retry(c);
            c->pend_off += (uint32_t)w;
            c->pend_len -= (uint32_t)w;
            if (c->pend_len)
                return true;
            free(c->pend);
            c->pend = NULL;
        }
        ssize_t n = tapir_recv(c->fd, d->scratch, sizeof(d->scratch), 0);
        if (n == 0)
            return false; /* the client closed: so do we */
        if (n < 0)
            return errno == EAGAIN;
        if (c->svc != SVC_ECHO)
            continue; /* discard */
        ssize_t w = tapir_send(c->fd, d->scratch, (size_t)n, 0);
        if (w < 0 && !send_may_retry(c))
            return false;
        if (w < n && !echo_hold(c, d->scratch + (w > 0 ? w : 0), (size_t)(n - (w > 0 ? w : 0))))
            return false;
    }
}

static void udp_serve(struct inetd *d)
{
    struct sockaddr_in from;
    socklen_t from_len = sizeof(from);
    ssize_t n;
    while ((n = tapir_recvfrom(d->udp_echo, d->dgram, sizeof(d->dgram), 0,
                               (struct sockaddr *)&from, &from_len)) >= 0) {
        tapir_sendto(d->udp_echo, d->dgram, (size_t)n, 0, (struct sockaddr *)&from, from_len);
        from_len = sizeof(from); /* a failed echo is lost, as the service allows */
    }
    while (tapir_recv(d->udp_discard, d->dgram, sizeof(d->dgram), 0) >= 0)
        ;
}

/* ---- The blocking service: a thread per connection ------------------------------------ */

static void *job_run(void *arg)
{
    struct conn_job *j = arg;
    struct inetd *d = j->d;
    d->cfg.conn_serve(j->fd, d->cfg.conn_root, d->cfg.log);
    /* Under the lock, so inetd_close never closes a descriptor this thread already gave
     * back (the number could be another socket's by then). */
    pthread_mutex_lock(&d->jobs_lock);
    if (j->fd >= 0)
        tapir_close(j->fd);
    j->fd = -1;
    j->finished = true;
    pthread_mutex_unlock(&d->jobs_lock);
    return NULL;
}

/* Joins the threads that have finished; returns the free slot, or NULL when all are busy. */
static struct conn_job *jobs_reap(struct inetd *d)
{
    struct conn_job *free_job = NULL;
    for (unsigned i = 0; i < CONN_JOBS_MAX; i++) {
        struct conn_job *j = &d->jobs[i];
        pthread_mutex_lock(&d->jobs_lock);
        bool done = j->busy && j->finished;
        pthread_mutex_unlock(&d->jobs_lock);
        if (done) {
            pthread_join(j->thread, NULL);
            j->busy = j->finished = false;
        }
        if (!j->busy && !free_job)
            free_job = j;
    }
    return free_job;
}

/* Accepts one connection for the blocking service onto a thread of its own. Its send and
 * recv time out, so a client that stops reading or writing frees its thread in a minute. */
static void job_accept(struct inetd *d)
{
    struct conn_job *j = jobs_reap(d);
    int fd = j ? tapir_accept(d->conn_listener, NULL, NULL) : -1;
    if (fd < 0)
        return;
    const struct timeval tmo = {.tv_sec = CONN_JOB_TIMEOUT_S};
    tapir_fcntl(fd, F_SETFL, 0); /* blocking, whatever the listener was */
    tapir_setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof(tmo));
    tapir_setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tmo, sizeof(tmo));
    tcp_options(fd, d);
    *j = (struct conn_job){.d = d, .fd = fd, .busy = true};
    if (pthread_create(&j->thread, NULL, job_run, j) != 0) {
        fprintf(stderr, "inetd: cannot start a thread: refusing the connection\n");
        tapir_close(fd);
        j->busy = false;
        j->fd = -1;
    }
}

/* Closing a socket wakes a thread blocked on it (EBADF, tapir/socket.h), so every thread
 * returns soon; nothing else opens sockets meanwhile, so the number is not reused. */
static void jobs_stop(struct inetd *d)
{
    pthread_mutex_lock(&d->jobs_lock);
    for (unsigned i = 0; i < CONN_JOBS_MAX; i++) {
        struct conn_job *j = &d->jobs[i];
        if (j->busy && j->fd >= 0) {
            tapir_close(j->fd);
            j->fd = -1;
        }
    }
    pthread_mutex_unlock(&d->jobs_lock);
    for (unsigned i = 0; i < CONN_JOBS_MAX; i++)
        if (d->jobs[i].busy)
            pthread_join(d->jobs[i].thread, NULL);
}

/* ---- The loop -------------------------------------------------------------------------- */

/* The sooner of two poll timeouts, where -1 is "none". */
static int sooner(int a, int b) { return a < 0 ? b : b < 0 ? a : a < b ? a : b; }

int inetd_serve(struct inetd *d, int extra_fd, int timeout_ms)
{
    struct pollfd *f = d->fds;
    unsigned n = 0;
    for (int s = 0; s < SVC_COUNT; s++)
        f[n++] = (struct pollfd){.fd = d->listeners[s], .events = POLLIN};
    f[n++] = (struct pollfd){.fd = d->udp_echo, .events = POLLIN};
    f[n++] = (struct pollfd){.fd = d->udp_discard, .events = POLLIN};
    unsigned first_conn = n;
    bool mem_wait = false;
    for (unsigned i = 0; i < d->nconns; i++) {
        const struct conn *c = d->conns[i];
        short ev = c->svc == SVC_CHARGEN ? (POLLIN | POLLOUT) : c->pend_len ? POLLOUT : POLLIN;
        mem_wait |= c->mem_wait;
        f[n++] = (struct pollfd){.fd = c->fd, .events = c->mem_wait ? 0 : ev};
    }
    if (mem_wait)
        timeout_ms = sooner(timeout_ms, MEM_RETRY_MS);
    unsigned conn_l = n, http_first = n + 1;
    /* The blocking service's listener while a thread is free: the rest wait in its backlog. */
    f[n++] = (struct pollfd){.fd = d->conn_listener >= 0 && jobs_reap(d) ? d->conn_listener : -1,
                             .events = POLLIN};
    if (d->http)
        n += http_poll_fill(d->http, f + n, d->fds_cap - n - 1);
    f[n++] = (struct pollfd){.fd = extra_fd, .events = POLLIN};
    if (d->http)
        timeout_ms = sooner(timeout_ms, http_poll_timeout(d->http));
    if (tapir_poll(f, n, timeout_ms) < 0)
        return -1;
    /* Connections first (from the last, so closing one moves only served ones), then new
     * ones: accept_all appends to the table. */
    for (unsigned i = d->nconns; i-- > 0;) {
        struct conn *c = d->conns[i];
        short rev = f[first_conn + i].revents;
        if (c->mem_wait && !(rev & (POLLERR | POLLNVAL))) {
            c->mem_wait = false; /* its turn again: the timer ran, or something else woke us */
            rev |= POLLOUT;
        }
        if (rev && !conn_serve(d, c, rev))
            conn_close(d, i);
    }
    for (int s = 0; s < SVC_COUNT; s++)
        if (f[s].revents & POLLIN)
            accept_all(d, (enum service)s);
    udp_serve(d);
    if (d->http)
        http_poll_handle(d->http, f + http_first);
    if (f[conn_l].revents & POLLIN)
        job_accept(d);
    return f[n - 1].revents;
}
