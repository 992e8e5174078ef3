/* SPDX-License-Identifier: MIT */
/* socket.c: the blocking BSD-like shim (tapir/socket.h) over the core's non-blocking sockets.
 *
 * A host is a stack, its link, and a thread that sleeps in ppoll() on the link and on an
 * eventfd until a frame arrives or a timer is due (with busy_poll_us, it first spins for a
 * while after each frame, so the next one costs no wake-up). Application threads call in
 * under the host's one lock. A call that cannot finish yet sleeps on its socket's condition
 * variable; the core's wakeup callback (run under the lock, from the host thread or from
 * another application thread) signals it, and also writes to the eventfd of every
 * tapir_poll() that waits on the socket, so one poll() can wait on tapir sockets and kernel
 * descriptors alike.
 *
 * Descriptors live in one process-wide table (the one global of tapir, as libc's own file
 * table is), with its own lock. Lock order: the table lock is never held while taking a host
 * lock. A socket is reference-counted: the table holds one reference and every call in
 * progress holds one, so a close from another thread frees nothing under a sleeping caller. */
#include "tapir/socket.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"
#include "tapir/sock.h"

#define NO_DEADLINE UINT64_MAX
#define SCRATCH_BYTES 65536u   /* more than the largest datagram (65515 bytes) */
#define POLL_STACK_FDS 32u     /* tapir_poll works on the stack up to this many fds */

struct poll_waiter {
    int efd;
    bool rung; /* the eventfd was written for this socket: once wakes the poller */
    struct poll_waiter *prev, *next;
};

struct shim_sock {
    struct tapir_host *host;
    struct tapir_sock *core;   /* NULL once closed */
    int fd;
    unsigned refs;             /* the table's, plus one per call in progress (table lock) */
    bool nonblock;
    bool stream;               /* SOCK_STREAM: a send queues all it is given */
    uint64_t rcvtimeo_us, sndtimeo_us; /* 0: wait forever */
    pthread_cond_t cond;       /* callers waiting on this socket, with the host lock */
    struct poll_waiter *waiters; /* tapir_poll() calls waiting on it (host lock) */
    struct shim_sock *close_next;
};

struct tapir_host {
    pthread_mutex_t lock;      /* the stack lock: everything below, and the core */
    struct tapir_stack *st;
    struct tapir_link link;
    struct tap_dev tap;        /* when tapir_open() attached to a TAP itself */
    bool owns_tap;
    pthread_t thread;
    bool thread_started;
    int wake_fd;               /* eventfd: wakes the host thread */
    uint64_t sleep_until_us;   /* the deadline the host thread sleeps towards */
    uint64_t busy_poll_us;     /* cfg->busy_poll_us: spin this long after a frame (0: never) */
    uint64_t last_rx_us;       /* when the host thread last read a frame (host thread only) */
    bool stopping;
    unsigned callers;          /* calls in progress on this host's sockets (table lock) */
    uint8_t scratch[SCRATCH_BYTES]; /* sendmsg/recvmsg gather buffer (host lock) */
};

static struct fd_table {
    pthread_mutex_t lock;
    pthread_cond_t idle;       /* a host's last caller left */
    struct shim_sock **slots;  /* descriptor TAPIR_FD_BASE + i is slots[i] */
    unsigned cap;
    unsigned *free_idx;        /* free slots, lowest on top */
    unsigned free_count;
    unsigned open_count;
    struct tapir_host *default_host;
} fdt = {.lock = PTHREAD_MUTEX_INITIALIZER, .idle = PTHREAD_COND_INITIALIZER};

static uint64_t monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static struct timespec timespec_at(uint64_t us)
{
    return (struct timespec){.tv_sec = (time_t)(us / 1000000u),
                             .tv_nsec = (long)(us % 1000000u) * 1000};
}

/* -1 with errno, the shim's way of failing; err is a negative errno. */
static int fail(long err)
{
    errno = (int)-err;
    return -1;
}

static long result(long rc) { return rc < 0 ? fail(rc) : rc; }

/* now + timeo_us, where 0 or a sum past the clock's range means "never". */
static uint64_t deadline_after(uint64_t timeo_us)
{
    uint64_t now = monotonic_us();
    return timeo_us == 0 || timeo_us >= NO_DEADLINE - now ? NO_DEADLINE : now + timeo_us;
}

/* ---- The host thread -------------------------------------------------------------------- */

static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

/* The host thread's next reason to wake on its own: a timer, or a frame due on the link. */
static uint64_t host_deadline(struct tapir_host *h)
{
    uint64_t d = tapir_next_deadline(h->st);
    if (h->link.next_rx_us)
        d = min_u64(d, h->link.next_rx_us(h->link.rx_ctx));
    return d;
}

static void host_ring(struct tapir_host *h)
{
    uint64_t one = 1;
    ssize_t n = write(h->wake_fd, &one, sizeof(one));
    (void)n; /* a full counter already means "wake up" */
}

/* After an application call: if it armed a timer earlier than the host thread expects to
 * wake (an ARP retry, a retransmission), wake the thread so it sleeps anew. */
static void host_kick(struct tapir_host *h)
{
    if (host_deadline(h) < h->sleep_until_us) {
        h->sleep_until_us = 0;
        host_ring(h);
    }
}

/* An application thread takes the stack lock. The core's clock moves only forward, and every
 * entry into it brings its own time, so bring the clock up to now (running whatever timers
 * are due) before the call uses it. */
static void host_lock(struct tapir_host *h)
{
    pthread_mutex_lock(&h->lock);
    tapir_timers(h->st, monotonic_us());
}

/* Busy polling: until spin_end_us (or the deadline, whichever is first), looks at the link
 * and the eventfd without sleeping. Waking a sleeping thread costs tens of microseconds; a
 * look costs one system call. The lock is not held, so application threads run meanwhile.
 * Returns ppoll's answer: > 0 when something is ready, 0 when the time ran out. */
static int host_spin(struct pollfd pfd[2], uint64_t spin_end_us, uint64_t deadline_us)
{
    static const struct timespec zero = {0, 0};
    uint64_t end = min_u64(spin_end_us, deadline_us);
    int n = 0;
    while (n == 0 && monotonic_us() < end)
        n = ppoll(pfd, 2, &zero, NULL);
    return n;
}

/* Waits, without the lock, for a frame, a ring of the eventfd or the deadline: first by
 * spinning while the last frame is under busy_poll_us old, then asleep in ppoll(). */
static int host_wait(struct tapir_host *h, struct pollfd pfd[2], uint64_t deadline_us)
{
    if (h->busy_poll_us && h->last_rx_us) {
        int n = host_spin(pfd, h->last_rx_us + h->busy_poll_us, deadline_us);
        if (n != 0)
            return n;
    }
    uint64_t now = monotonic_us();
    struct timespec wait, *timeout = NULL;
    if (deadline_us != NO_DEADLINE) {
        wait = timespec_at(deadline_us > now ? deadline_us - now : 0);
        timeout = &wait;
    }
    return ppoll(pfd, 2, timeout, NULL);
}

static void *host_main(void *arg)
{
    struct tapir_host *h = arg;
    struct pollfd pfd[2] = {{.fd = h->link.rx_fd, .events = POLLIN},
                            {.fd = h->wake_fd, .events = POLLIN}};
    pthread_mutex_lock(&h->lock);
    while (!h->stopping) {
        uint64_t deadline = host_deadline(h), now;
        h->sleep_until_us = deadline;
        pthread_mutex_unlock(&h->lock);
        int n = host_wait(h, pfd, deadline);
        pthread_mutex_lock(&h->lock);
        if (n > 0 && (pfd[1].revents & POLLIN)) {
            uint64_t count;
            ssize_t r = read(h->wake_fd, &count, sizeof(count));
            (void)r;
        }
        now = monotonic_us();
        bool rx_due = h->link.next_rx_us && h->link.next_rx_us(h->link.rx_ctx) <= now;
        tapir_rx_batch_begin(h->st);
        if (((n > 0 && (pfd[0].revents & POLLIN)) || rx_due) &&
            h->link.receive(h->link.rx_ctx, h->st, now) > 0)
            h->last_rx_us = now;
        tapir_timers(h->st, monotonic_us());
        tapir_flush(h->st);
    }
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

static void host_free(struct tapir_host *h)
{
    tapir_stack_free(h->st);
    if (h->owns_tap)
        tap_close(&h->tap);
    if (h->wake_fd >= 0)
        close(h->wake_fd);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

/* Starts the thread (with every signal blocked, so a program's signalfd or sigwait sees its
 * signals) and makes h the default host. */
static struct tapir_host *host_start(struct tapir_host *h, const struct tapir_config *cfg)
{
    pthread_mutex_init(&h->lock, NULL);
    h->busy_poll_us = cfg->busy_poll_us;
    h->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    h->st = h->wake_fd >= 0 ? tapir_stack_new(cfg, &h->link.driver) : NULL;
    if (!h->st) {
        int e = errno;
        host_free(h);
        errno = e;
        return NULL;
    }
    tapir_start(h->st, monotonic_us()); /* before any socket call can reach the stack */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&h->thread, NULL, host_main, h);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        host_free(h);
        errno = rc;
        return NULL;
    }
    h->thread_started = true;
    pthread_mutex_lock(&fdt.lock);
    fdt.default_host = h;
    pthread_mutex_unlock(&fdt.lock);
    return h;
}

struct tapir_host *tapir_open_link(const struct tapir_config *cfg, const struct tapir_link *link)
{
    if (!cfg || !link || !link->driver.send || !link->receive) {
        errno = EINVAL;
        return NULL;
    }
    struct tapir_host *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->link = *link;
    h->wake_fd = -1;
    return host_start(h, cfg);
}

static int tap_link_receive(void *ctx, struct tapir_stack *st, uint64_t now_us)
{
    return tap_receive(ctx, st, now_us);
}

struct tapir_host *tapir_open(const struct tapir_config *cfg, const char *tap_name, char *msg,
                              size_t msg_len)
{
    char scratch[8];
    if (!msg) {
        msg = scratch;
        msg_len = sizeof(scratch);
    }
    if (!cfg || !tap_name) {
        snprintf(msg, msg_len, "tapir_open needs a configuration and a TAP name");
        errno = EINVAL;
        return NULL;
    }
    struct tapir_host *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    int rc = tap_open(&h->tap, tap_name, msg, msg_len);
    if (rc < 0) {
        free(h);
        errno = -rc;
        return NULL;
    }
    h->owns_tap = true;
    h->wake_fd = -1;
    h->link = (struct tapir_link){.driver = {.send = tap_send, .ctx = &h->tap},
                                  .rx_fd = h->tap.fd,
                                  .receive = tap_link_receive,
                                  .rx_ctx = &h->tap};
    struct tapir_host *started = host_start(h, cfg);
    if (!started)
        snprintf(msg, msg_len, "cannot start the stack: %s", strerror(errno));
    return started;
}

void tapir_host_call(struct tapir_host *h, void (*fn)(struct tapir_stack *st, void *arg),
                     void *arg)
{
    host_lock(h);
    fn(h->st, arg);
    host_kick(h);
    pthread_mutex_unlock(&h->lock);
}

/* ---- The descriptor table --------------------------------------------------------------- */

static bool fdt_grow(void)
{
    unsigned cap = fdt.cap ? fdt.cap * 2 : 64;
    struct shim_sock **slots = realloc(fdt.slots, cap * sizeof(*slots));
    if (!slots)
        return false;
    fdt.slots = slots;
    unsigned *free_idx = realloc(fdt.free_idx, cap * sizeof(*free_idx));
    if (!free_idx)
        return false;
    fdt.free_idx = free_idx;
    /* The new slots go under the free ones already there (none: the table was full), the
     * lowest on top, so descriptors are handed out lowest first, as POSIX does. */
    for (unsigned i = cap; i > fdt.cap; i--) {
        fdt.slots[i - 1] = NULL;
        fdt.free_idx[fdt.free_count++] = i - 1;
    }
    fdt.cap = cap;
    return true;
}

static unsigned fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
        rl.rlim_cur > (rlim_t)(INT32_MAX - TAPIR_FD_BASE))
        return (unsigned)(INT32_MAX - TAPIR_FD_BASE);
    return (unsigned)rl.rlim_cur;
}

/* Gives s a descriptor; the table holds the reference s was created with. */
static int fdt_insert(struct shim_sock *s)
{
    int rc;
    pthread_mutex_lock(&fdt.lock);
    if (fdt.open_count >= fd_limit())
        rc = -EMFILE;
    else if (!fdt.free_count && !fdt_grow())
        rc = -ENOMEM;
    else {
        unsigned i = fdt.free_idx[--fdt.free_count];
        fdt.slots[i] = s;
        fdt.open_count++;
        s->fd = TAPIR_FD_BASE + (int)i;
        rc = s->fd;
    }
    pthread_mutex_unlock(&fdt.lock);
    return rc;
}

static struct shim_sock *fdt_lookup(int fd)
{
    if (fd < TAPIR_FD_BASE || (unsigned)(fd - TAPIR_FD_BASE) >= fdt.cap)
        return NULL;
    return fdt.slots[fd - TAPIR_FD_BASE];
}

/* Takes the descriptor out of the table (it may be reused at once); the caller inherits the
 * table's reference. Table lock held. */
static void fdt_remove(struct shim_sock *s)
{
    unsigned i = (unsigned)(s->fd - TAPIR_FD_BASE);
    fdt.slots[i] = NULL;
    fdt.free_idx[fdt.free_count++] = i;
    fdt.open_count--;
}

/* Drops one reference; the last frees the socket. Table lock held. */
static void sock_unref_locked(struct shim_sock *s)
{
    if (--s->refs == 0) {
        pthread_cond_destroy(&s->cond);
        free(s);
    }
}

/* ---- Entering and leaving a call -------------------------------------------------------- */

/* Ends a call: wakes the host thread if the call armed an earlier timer, releases the lock,
 * and drops the call's counts. */
static void sock_leave(struct shim_sock *s)
{
    struct tapir_host *h = s->host;
    host_kick(h);
    pthread_mutex_unlock(&h->lock);
    pthread_mutex_lock(&fdt.lock);
    if (--h->callers == 0)
        pthread_cond_broadcast(&fdt.idle);
    sock_unref_locked(s);
    pthread_mutex_unlock(&fdt.lock);
}

/* Finds fd's socket, counts this call on it and its host, and takes the host lock. NULL
 * (with EBADF) when fd is not an open tapir socket. */
static struct shim_sock *sock_enter(int fd)
{
    pthread_mutex_lock(&fdt.lock);
    struct shim_sock *s = fdt_lookup(fd);
    if (s) {
        s->refs++;
        s->host->callers++;
    }
    pthread_mutex_unlock(&fdt.lock);
    if (!s) {
        errno = EBADF;
        return NULL;
    }
    host_lock(s->host);
    if (!s->core) { /* closed by another thread since we found it */
        sock_leave(s);
        errno = EBADF;
        return NULL;
    }
    return s;
}

/* Wakes everything waiting on s: blocked calls and pollers. Host lock held. */
static void sock_wakeup(void *ctx)
{
    struct shim_sock *s = ctx;
    pthread_cond_broadcast(&s->cond);
    for (struct poll_waiter *w = s->waiters; w; w = w->next) {
        if (w->rung)
            continue; /* a burst of segments wakes the poller once, not once each */
        w->rung = true;
        uint64_t one = 1;
        ssize_t n = write(w->efd, &one, sizeof(one));
        (void)n;
    }
}

/* Closes the core socket; whoever waits on s wakes and finds it gone. Host lock held. */
static void sock_close_core(struct shim_sock *s)
{
    if (!s->core)
        return;
    tapir_sock_close(s->core);
    s->core = NULL;
    sock_wakeup(s);
}

/* Sleeps on s until woken or deadline_us; false when the deadline has passed. */
static bool sock_wait(struct shim_sock *s, uint64_t deadline_us)
{
    if (deadline_us == NO_DEADLINE) {
        pthread_cond_wait(&s->cond, &s->host->lock);
        return true;
    }
    if (monotonic_us() >= deadline_us)
        return false;
    struct timespec at = timespec_at(deadline_us);
    pthread_cond_timedwait(&s->cond, &s->host->lock, &at);
    return true; /* the caller retries once more; the next wait sees the deadline passed */
}

typedef long (*core_op)(struct tapir_sock *core, void *arg);

/* Runs op until it stops saying -EAGAIN, sleeping between tries unless the call must not
 * block; SO_RCVTIMEO or SO_SNDTIMEO bound the sleep (then -EAGAIN, as Linux). A reader of a
 * socket shut down for reading gets 0 instead of sleeping. Host lock held throughout. */
static long sock_run(struct shim_sock *s, core_op op, void *arg, int flags, bool reading)
{
    bool block = !s->nonblock && !(flags & MSG_DONTWAIT);
    uint64_t timeo_us = reading ? s->rcvtimeo_us : s->sndtimeo_us;
    uint64_t deadline = deadline_after(timeo_us);
    for (;;) {
        if (!s->core)
            return -EBADF; /* closed by another thread while we slept */
        long rc = op(s->core, arg);
        if (rc != -EAGAIN || !block)
            return rc;
        short ev = tapir_sock_events(s->core);
        if (reading && (ev & POLLRDHUP))
            return 0;
        /* A socket that is ready yet says EAGAIN means it (a datagram socket whose ephemeral
         * ports are all taken, say): sleeping would wait for a wakeup that never comes. */
        if (ev & (reading ? POLLIN : POLLOUT))
            return rc;
        if (!sock_wait(s, deadline))
            return -EAGAIN;
    }
}

/* ---- Addresses -------------------------------------------------------------------------- */

/* Reads a caller's address. AF_UNSPEC needs only the family; AF_INET a whole sockaddr_in
 * (the core rejects other families with EAFNOSUPPORT). */
static int addr_from_user(const struct sockaddr *a, socklen_t len, struct sockaddr_in *out)
{
    if ((int)len < 0 || len > sizeof(struct sockaddr_storage))
        return -EINVAL;
    if (len && !a)
        return -EFAULT;
    if (len < sizeof(sa_family_t))
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    memcpy(out, a, len < sizeof(*out) ? len : sizeof(*out));
    if (out->sin_family != AF_UNSPEC && len < sizeof(*out))
        return -EINVAL;
    return 0;
}

static int addr_check_out(const struct sockaddr *a, const socklen_t *len)
{
    if (!a || !len)
        return -EFAULT;
    return (int)*len < 0 ? -EINVAL : 0;
}

/* Writes an address back as the kernel does: truncated to the caller's buffer, with the
 * real length in *len. */
static void addr_to_user(const struct sockaddr_in *sin, struct sockaddr *a, socklen_t *len)
{
    size_t n = *len < sizeof(*sin) ? *len : sizeof(*sin);
    memcpy(a, sin, n);
    *len = sizeof(*sin);
}

/* ---- Sockets ---------------------------------------------------------------------------- */

/* A shim socket around a core one (or none yet), with the one reference the table will
 * hold. */
static struct shim_sock *shim_sock_new(struct tapir_host *h)
{
    struct shim_sock *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* timed waits use monotonic time */
    pthread_cond_init(&s->cond, &attr);
    pthread_condattr_destroy(&attr);
    s->host = h;
    s->refs = 1;
    return s;
}

/* Gives s (holding its core socket) a descriptor, or frees both. Host lock not held. */
static int shim_sock_install(struct shim_sock *s)
{
    int rc = fdt_insert(s);
    if (rc >= 0)
        return rc;
    pthread_mutex_lock(&s->host->lock);
    tapir_sock_close(s->core);
    pthread_mutex_unlock(&s->host->lock);
    pthread_cond_destroy(&s->cond);
    free(s);
    return fail(rc);
}

int tapir_socket_on(struct tapir_host *h, int domain, int type, int protocol)
{
    if (!h)
        return fail(-ENETDOWN);
    if (domain != AF_INET)
        return fail(-EAFNOSUPPORT);
    struct shim_sock *s = shim_sock_new(h);
    if (!s)
        return fail(-ENOMEM);
    s->nonblock = (type & SOCK_NONBLOCK) != 0;
    s->stream = (type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) == SOCK_STREAM;
    host_lock(h);
    int rc = tapir_sock_open(h->st, type, protocol, &s->core);
    if (rc == 0)
        tapir_sock_set_wakeup(s->core, sock_wakeup, s);
    pthread_mutex_unlock(&h->lock);
    if (rc < 0) {
        pthread_cond_destroy(&s->cond);
        free(s);
        return fail(rc);
    }
    return shim_sock_install(s);
}

int tapir_socket(int domain, int type, int protocol)
{
    pthread_mutex_lock(&fdt.lock);
    struct tapir_host *h = fdt.default_host;
    pthread_mutex_unlock(&fdt.lock);
    return tapir_socket_on(h, domain, type, protocol);
}

int tapir_close(int fd)
{
    pthread_mutex_lock(&fdt.lock);
    struct shim_sock *s = fdt_lookup(fd);
    if (s) {
        fdt_remove(s);
        s->host->callers++;
    }
    pthread_mutex_unlock(&fdt.lock);
    if (!s)
        return fail(-EBADF);
    host_lock(s->host);
    sock_close_core(s);
    sock_leave(s); /* drops the table's reference */
    return 0;
}

void tapir_host_close(struct tapir_host *h)
{
    if (!h)
        return;
    /* Take the host's sockets out of the table first, so no new call can find them. */
    struct shim_sock *closing = NULL;
    pthread_mutex_lock(&fdt.lock);
    if (fdt.default_host == h)
        fdt.default_host = NULL;
    for (unsigned i = 0; i < fdt.cap; i++) {
        struct shim_sock *s = fdt.slots[i];
        if (s && s->host == h) {
            fdt_remove(s);
            s->close_next = closing;
            closing = s;
        }
    }
    pthread_mutex_unlock(&fdt.lock);
    pthread_mutex_lock(&h->lock);
    for (struct shim_sock *s = closing; s; s = s->close_next)
        sock_close_core(s);
    h->stopping = true;
    host_ring(h);
    pthread_mutex_unlock(&h->lock);
    if (h->thread_started)
        pthread_join(h->thread, NULL);
    /* Callers woken above still hold references; wait until they have left. */
    pthread_mutex_lock(&fdt.lock);
    while (closing) {
        struct shim_sock *next = closing->close_next;
        sock_unref_locked(closing);
        closing = next;
    }
    while (h->callers)
        pthread_cond_wait(&fdt.idle, &fdt.lock);
    pthread_mutex_unlock(&fdt.lock);
    host_free(h);
}

/* bind and connect: one address in, one core call. */
static int sock_addr_call(int fd, const struct sockaddr *addr, socklen_t addrlen,
                          int (*call)(struct tapir_sock *, const struct sockaddr_in *))
{
    struct sockaddr_in sin;
    struct shim_sock *s = sock_enter(fd);
    if (!s)
        return -1;
    int rc = addr_from_user(addr, addrlen, &sin);
    if (rc == 0)
        rc = call(s->core, &sin);
    sock_leave(s);
    return (int)result(rc);
}

int tapir_bind(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
    return sock_addr_call(fd, addr, addrlen, tapir_sock_bind);
}

static long connected_op(struct tapir_sock *core, void *arg)
{
    (void)arg;
    return tapir_sock_connected(core);
}

/* A stream socket's connect waits for the handshake (bounded by SO_SNDTIMEO, as Linux),
 * unless the socket is non-blocking: then EINPROGRESS, and POLLOUT and SO_ERROR tell the
 * rest. */
int tapir_connect(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
    struct sockaddr_in sin;
    struct shim_sock *s = sock_enter(fd);
    if (!s)
        return -1;
    long rc = addr_from_user(addr, addrlen, &sin);
    if (rc == 0)
        rc = tapir_sock_connect(s->core, &sin);
    if (rc == -EINPROGRESS && !s->nonblock) {
        rc = sock_run(s, connected_op, NULL, 0, false);
        if (rc == -EAGAIN)
            rc = -EINPROGRESS; /* SO_SNDTIMEO ran out: still opening, as Linux says */
    }
    sock_leave(s);
    return (int)result(rc);
}

/* listen and shutdown: one int in, one core call. */
static int sock_int_call(int fd, int arg, int (*call)(struct tapir_sock *, int))
{
    struct shim_sock *s = sock_enter(fd);
    if (!s)
        return -1;
    int rc = call(s->core, arg);
    sock_leave(s);
    return (int)result(rc);
}

int tapir_listen(int fd, int backlog)
{
    return sock_int_call(fd, backlog, tapir_sock_listen);
}

struct accept_args {
    struct tapir_sock *child;
    struct sockaddr_in peer;
};

static long accept_op(struct tapir_sock *core, void *arg)
{
    struct accept_args *a = arg;
    return tapir_sock_accept(core, &a->child, &a->peer);
}

int tapir_accept(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
    struct shim_sock *s = sock_enter(fd); /* as Linux: the descriptor is checked first */
    if (!s)
        return -1;
    struct accept_args a = {0};
    long rc = sock_run(s, accept_op, &a, 0, true);
    struct shim_sock *child = rc == 0 ? shim_sock_new(s->host) : NULL;
    if (rc == 0 && !child) {
        tapir_sock_close(a.child);
        rc = -ENOMEM;
    }
    if (child) {
        child->core = a.child;
        child->stream = true;
        tapir_sock_set_wakeup(child->core, sock_wakeup, child);
    }
    sock_leave(s);
    if (!child)
        return fail(rc);
    int child_fd = shim_sock_install(child);
    int check = addr && child_fd >= 0 ? addr_check_out(addr, addrlen) : 0;
    if (check < 0) { /* as Linux: the connection is accepted, then lost to the bad address */
        tapir_close(child_fd);
        return fail(check);
    }
    if (child_fd >= 0 && addr)
        addr_to_user(&a.peer, addr, addrlen);
    return child_fd;
}

/* ---- Sending and receiving -------------------------------------------------------------- */

struct send_args {
    const uint8_t *buf;
    size_t len;
    int flags;
    const struct sockaddr_in *dst;
    bool stream;
    size_t done;               /* stream: bytes queued so far */
};

/* A datagram goes whole or not at all; a stream send queues what fits and, when the caller
 * may wait, comes back for the rest as the send buffer drains. */
static long send_op(struct tapir_sock *core, void *arg)
{
    struct send_args *a = arg;
    if (!a->stream)
        return tapir_sock_sendto(core, a->buf, a->len, a->flags, a->dst);
    while (a->done < a->len) {
        long n = tapir_sock_sendto(core, a->buf + a->done, a->len - a->done, a->flags, a->dst);
        if (n <= 0)
            return n == 0 ? -EAGAIN : n;
        a->done += (size_t)n;
    }
    return (long)a->done;
}

/* dst NULL: the connected peer. Host lock held. A stream that queued part of the data before
 * an error or a timeout reports the part, as send(2) does. */
static long sock_send(struct shim_sock *s, const void *buf, size_t len, int flags,
                      const struct sockaddr_in *dst)
{
    struct send_args a = {.buf = buf, .len = len, .flags = flags, .dst = dst, .stream = s->stream};
    if (a.stream && len == 0)
        return tapir_sock_sendto(s->core, buf, 0, flags, dst);
    long rc = sock_run(s, send_op, &a, flags, false);
    return a.done > 0 ? (long)a.done : rc;
}

ssize_t tapir_sendto(int fd, const void *buf, size_t len, int flags,
                     const struct sockaddr *dest_addr, socklen_t addrlen)
{
    struct sockaddr_in sin;
    struct shim_sock *s = sock_enter(fd);
    if (!s)
        return -1;
    long n = dest_addr ? addr_from_user(dest_addr, addrlen, &sin) : 0;
    if (n == 0)
        n = sock_send(s, buf, len, flags, dest_addr ? &sin : NULL);
    sock_leave(s);
    return result(n);
}

ssize_t tapir_send(int fd, const void *buf, size_t len, int flags)
{
    return tapir_sendto(fd, buf, len, flags, NULL, 0);
}

/* The iovecs' total length, or a negative errno (EFAULT, EINVAL, EMSGSIZE as Linux). */
static long iov_total(const struct iovec *iov, size_t iovlen)
{
    if (iovlen > IOV_MAX)
        return -EMSGSIZE;
    if (iovlen && !iov)
        return -EFAULT;
    size_t total = 0;
    for (size_t i = 0; i < iovlen; i++) {
        if (iov[i].iov_len && !iov[i].iov_base)
            return -EFAULT;
        if (iov[i].iov_len > SSIZE_MAX - total)
            return -EINVAL;
        total += iov[i].iov_len;
    }
    return (long)total;
}

/* One datagram from several pieces: gathers them into the host's scratch buffer, under the
 * lock, and sends that. */
static long sock_send_gathered(struct shim_sock *s, const struct msghdr *msg, size_t total,
                               int flags, const struct sockaddr_in *dst)
{
    if (total > SCRATCH_BYTES)
        return -EMSGSIZE; /* more than any datagram */
    size_t off = 0;
    for (size_t i = 0; i < msg->msg_iovlen; i++) {
        if (msg->msg_iov[i].iov_len) /* an empty piece may have a NULL base */
            memcpy(s->host->scratch + off, msg->msg_iov[i].iov_base, msg->msg_iov[i].iov_len);
        off += msg->msg_iov[i].iov_len;
    }
    return sock_send(s, s->host->scratch, off, flags, dst);
}

ssize_t tapir_sendmsg(int fd, const struct msghdr *msg, int flags)
{
    struct sockaddr_in sin;
    struct shim_sock *s = sock_enter(fd);
    if (!s)
        return -1;
    long n = msg ? iov_total(msg->msg_iov, msg->msg_iovlen) : -EFAULT;
    /* As Linux's copy_msghdr_from_user: a name of length 0 is no name. */
    bool named = n >= 0 && msg->msg_name && msg->msg_namelen;
    if (named) {
        int rc = addr_from_user(msg->msg_name, msg->msg_namelen, &sin);
        if (rc < 0)
            n = rc;
    }
    if (n >= 0) {
        const struct sockaddr_in *dst = named ? &sin : NULL;
        n = msg->msg_iovlen == 1
                ? sock_send(s, msg->msg_iov[0].iov_base, (size_t)n, flags, dst)
                : sock_send_gathered(s, msg, (size_t)n, flags, dst);
    }
    sock_leave(s);
    return result(n);
}

struct recv_args {
    void *buf;
    size_t len;
    int flags;
    struct sockaddr_in from;
    int msg_flags;
};

static long recv_op(struct tapir_sock *core, void *arg)
{
    struct recv_args *a = arg;
    return tapir_sock_recvfrom(core, a->buf, a->len, a->flags & (MSG_PEEK | MSG_TRUNC),
                               &a->from, &a->msg_flags);
}

ssize_t tapir_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *src_addr,
                       socklen_t *addrlen)
{
    struct shim_sock *s = sock_enter(fd);
    if (!s)
        return -1;
    struct recv_args a = {.buf = buf, .len = len, .flags = flags};
    long n = sock_run(s, recv_op, &a, flags, true);
    sock_leave(s);
    /* As Linux: the address is written after the datagram is taken, so a bad address buffer
     * loses the datagram and says EFAULT. */
    if (n >= 0 && src_addr && a.from.sin_family == AF_INET) {
        int rc = addr_check_out(src_addr, addrlen);
        if (rc < 0)
            return fail(rc);
        addr_to_user(&a.from, src_addr, addrlen);
    }
    return result(n);
}

ssize_t tapir_recv(int fd, void *buf, size_t len, int flags)
{
    return tapir_recvfrom(fd, buf, len, flags, NULL, NULL);
}

/* Spreads n bytes of src over the iovecs. */
static void iov_scatter(const struct iovec *iov, size_t iovlen, const uint8_t *src, size_t n)
{
    for (size_t i = 0; i < iovlen && n; i++) {
        size_t k = iov[i].iov_len < n ? iov[i].iov_len : n;
        if (k)
            memcpy(iov[i].iov_base, src, k);
        src += k;
        n -= k;
    }
}

ssize_t tapir_recvmsg(int fd, struct msghdr *msg, int flags)
{
    struct shim_sock *s = sock_enter(fd);
    if (!s)
        return -1;
    long n = msg ? iov_total(msg->msg_iov, msg->msg_iovlen) : -EFAULT;
    if (n >= 0 && msg->msg_name && (int)msg->msg_namelen < 0)
        n = -EINVAL;
    struct recv_args a = {0};
    size_t room = 0;
    bool direct = n >= 0 && msg->msg_iovlen == 1;
    if (n >= 0) {
        room = (size_t)n < SCRATCH_BYTES ? (size_t)n : SCRATCH_BYTES;
        a = (struct recv_args){.buf = direct ? msg->msg_iov[0].iov_base : s->host->scratch,
                               .len = direct ? (size_t)n : room,
                               .flags = flags};
        n = sock_run(s, recv_op, &a, flags, true);
    }
    if (n > 0 && !direct) /* still under the lock: nobody else has touched scratch */
        iov_scatter(msg->msg_iov, msg->msg_iovlen, s->host->scratch,
                    (size_t)n < room ? (size_t)n : room);
    sock_leave(s);
    if (n < 0)
        return fail(n);
    if (msg->msg_name) {
        if (a.from.sin_family == AF_INET)
            addr_to_user(&a.from, msg->msg_name, &msg->msg_namelen);
        else
            msg->msg_namelen = 0; /* no datagram, no sender (the shut-down case) */
    }
    msg->msg_controllen = 0; /* no ancillary data */
    msg->msg_flags = a.msg_flags;
    return n;
}

int tapir_shutdown(int fd, int how)
{
    return sock_int_call(fd, how, tapir_sock_shutdown);
}

/* ---- Options ---------------------------------------------------------------------------- */

/* SO_RCVTIMEO / SO_SNDTIMEO: a struct timeval, zero meaning "forever", as Linux. */
static int timeo_set(uint64_t *timeo_us, const void *val, socklen_t len)
{
    struct timeval tv;
    if (len < sizeof(tv))
        return -EINVAL;
    memcpy(&tv, val, sizeof(tv));
    if (tv.tv_usec < 0 || tv.tv_usec >= 1000000)
        return -EDOM;
    if (tv.tv_sec < 0) {
        *timeo_us = 1; /* as Linux: a negative timeout does not wait */
        return 0;
    }
    /* Seconds beyond what microseconds can count are as good as forever. */
    uint64_t max_s = (NO_DEADLINE - 1000000u) / 1000000u;
    *timeo_us = (uint64_t)tv.tv_sec > max_s ? NO_DEADLINE - 1
                                             : (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
    return 0;
}

/* As Linux's sock_getsockopt: a short buffer gets the first bytes, and *len says how many. */
static int timeo_get(uint64_t timeo_us, void *val, socklen_t *len)
{
    struct timeval tv = {.tv_sec = (time_t)(timeo_us / 1000000u),
                         .tv_usec = (suseconds_t)(timeo_us % 1000000u)};
    socklen_t n = *len < sizeof(tv) ? *len : (socklen_t)sizeof(tv);
    memcpy(val, &tv, n);
    *len = n;
    return 0;
}

int tapir_setsockopt(int fd, int level, int optname, const void *optval, socklen_t optlen)
{
    struct shim_sock *s = sock_enter(fd);
    if (!s)
        return -1;
    int rc = 0;
    if (!optval && optlen)
        rc = -EFAULT;
    else if ((int)optlen < 0)
        rc = -EINVAL;
    else if (level == SOL_SOCKET && optname == SO_RCVTIMEO)
        rc = timeo_set(&s->rcvtimeo_us, optval, optlen);
    else if (level == SOL_SOCKET && optname == SO_SNDTIMEO)
        rc = timeo_set(&s->sndtimeo_us, optval, optlen);
    else
        rc = tapir_sock_setopt(s->core, level, optname, optval, optlen);
    sock_leave(s);
    return (int)result(rc);
}

int tapir_getsockopt(int fd, int level, int optname, void *optval, socklen_t *optlen)
{
    struct shim_sock *s = sock_enter(fd);
    if (!s)
        return -1;
    int rc;
    if (!optval || !optlen)
        rc = -EFAULT;
    else if ((int)*optlen < 0)
        rc = -EINVAL;
    else if (level == SOL_SOCKET && optname == SO_RCVTIMEO)
        rc = timeo_get(s->rcvtimeo_us, optval, optlen);
    else if (level == SOL_SOCKET && optname == SO_SNDTIMEO)
        rc = timeo_get(s->sndtimeo_us, optval, optlen);
    else
        rc = tapir_sock_getopt(s->core, level, optname, optval, optlen);
    sock_leave(s);
    return (int)result(rc);
}

static int sock_name(int fd, struct sockaddr *addr, socklen_t *addrlen, bool peer)
{
    struct shim_sock *s = sock_enter(fd);
    if (!s)
        return -1;
    struct sockaddr_in sin;
    int rc = addr_check_out(addr, addrlen);
    if (rc == 0)
        rc = peer ? tapir_sock_getpeername(s->core, &sin) : tapir_sock_getsockname(s->core, &sin);
    sock_leave(s);
    if (rc < 0)
        return fail(rc);
    addr_to_user(&sin, addr, addrlen);
    return 0;
}

int tapir_getsockname(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
    return sock_name(fd, addr, addrlen, false);
}

int tapir_getpeername(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
    return sock_name(fd, addr, addrlen, true);
}

int tapir_fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    int arg = (cmd == F_SETFL || cmd == F_SETFD) ? va_arg(ap, int) : 0;
    va_end(ap);
    struct shim_sock *s = sock_enter(fd);
    if (!s)
        return -1;
    int rc = 0;
    switch (cmd) {
    case F_GETFL: rc = O_RDWR | (s->nonblock ? O_NONBLOCK : 0); break;
    case F_SETFL: s->nonblock = (arg & O_NONBLOCK) != 0; break;
    case F_GETFD: rc = FD_CLOEXEC; break;
    case F_SETFD: break;
    default: rc = -EINVAL;
    }
    sock_leave(s);
    return (int)result(rc);
}

/* ---- poll ------------------------------------------------------------------------------- */

struct poll_call {
    struct pollfd *fds;
    nfds_t nfds;
    struct shim_sock **socks;   /* per entry: the tapir socket, or NULL */
    struct poll_waiter *waiters;/* per entry */
    struct pollfd *kfds;        /* kernel entries (tapir ones disabled with fd -1), eventfd */
    int efd;
};

static short poll_revents(struct shim_sock *s, short events)
{
    if (!s->core)
        return POLLNVAL;
    short ev = tapir_sock_events(s->core);
    if (ev & POLLIN)
        ev |= POLLRDNORM;
    if (ev & POLLOUT)
        ev |= POLLWRNORM;
    return (short)(ev & (events | POLLERR | POLLHUP));
}

static void waiter_link(struct shim_sock *s, struct poll_waiter *w)
{
    w->rung = false;
    w->prev = NULL;
    w->next = s->waiters;
    if (s->waiters)
        s->waiters->prev = w;
    s->waiters = w;
}

static void waiter_unlink(struct shim_sock *s, struct poll_waiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else if (s->waiters == w)
        s->waiters = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
}

enum poll_waiters { WAITERS_KEEP, WAITERS_ADD, WAITERS_REMOVE };

/* Fills revents of the tapir entries; with WAITERS_ADD also registers the call's eventfd on
 * each socket under the same lock, so no wakeup between the check and the sleep is lost. */
#define POLL_SCAN_RUN 64u

/* Each thread keeps one eventfd for the poll calls it sleeps in, made on its first and closed
 * when the thread ends: a poll that sleeps costs no eventfd2 and close. A write that comes
 * after its poll returned only wakes the next one early, and that one looks and sleeps again.
 * (The key holds fd + 1, since a thread's value starts as NULL.) */
static pthread_key_t poll_efd_key;
static pthread_once_t poll_efd_once = PTHREAD_ONCE_INIT;

static void poll_efd_close(void *v) { close((int)((intptr_t)v - 1)); }
static void poll_efd_key_make(void) { (void)pthread_key_create(&poll_efd_key, poll_efd_close); }

static int poll_thread_efd(void)
{
    pthread_once(&poll_efd_once, poll_efd_key_make);
    intptr_t v = (intptr_t)pthread_getspecific(poll_efd_key);
    if (v)
        return (int)(v - 1);
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (pthread_setspecific(poll_efd_key, (void *)(intptr_t)(fd + 1)) != 0) {
        close(fd);
        return -ENOMEM;
    }
    return fd;
}

static int poll_scan(struct poll_call *pc, enum poll_waiters mode)
{
    int ready = 0;
    /* A run of sockets of one host takes its lock once (up to POLL_SCAN_RUN of them, so a
     * poll of thousands does not keep the host thread waiting long). */
    struct tapir_host *locked = NULL;
    unsigned run = 0;
    for (nfds_t i = 0; i < pc->nfds; i++) {
        struct shim_sock *s = pc->socks[i];
        if (!s)
            continue;
        if (s->host != locked || ++run == POLL_SCAN_RUN) {
            if (locked)
                pthread_mutex_unlock(&locked->lock);
            locked = s->host;
            run = 0;
            pthread_mutex_lock(&locked->lock);
        }
        pc->fds[i].revents = poll_revents(s, pc->fds[i].events);
        if (mode == WAITERS_ADD) {
            pc->waiters[i].efd = pc->efd;
            waiter_link(s, &pc->waiters[i]);
        } else if (mode == WAITERS_REMOVE) {
            waiter_unlink(s, &pc->waiters[i]);
        }
        ready += pc->fds[i].revents != 0;
    }
    if (locked)
        pthread_mutex_unlock(&locked->lock);
    return ready;
}

/* Polls the kernel entries (and the eventfd when waiting); copies their revents back. */
static int poll_kernel(struct poll_call *pc, int timeout_ms, bool with_efd, bool *woken)
{
    nfds_t n = pc->nfds + (with_efd ? 1 : 0);
    int rc = poll(pc->kfds, n, timeout_ms);
    if (rc < 0)
        return -errno;
    int ready = 0;
    for (nfds_t i = 0; i < pc->nfds; i++) {
        if (pc->socks[i] || pc->fds[i].fd >= TAPIR_FD_BASE)
            continue;
        pc->fds[i].revents = pc->kfds[i].revents;
        ready += pc->kfds[i].revents != 0;
    }
    if (with_efd && (pc->kfds[pc->nfds].revents & POLLIN)) {
        uint64_t count;
        ssize_t r = read(pc->efd, &count, sizeof(count));
        (void)r;
        *woken = true;
    }
    return ready;
}

static int poll_remaining_ms(uint64_t deadline_us)
{
    if (deadline_us == NO_DEADLINE)
        return -1;
    uint64_t now = monotonic_us();
    if (now >= deadline_us)
        return 0;
    uint64_t ms = (deadline_us - now + 999) / 1000;
    return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

/* bad: entries already marked POLLNVAL, which make the call return at once, as poll(2). */
static int poll_wait(struct poll_call *pc, int timeout_ms, int bad)
{
    uint64_t deadline = timeout_ms < 0 ? NO_DEADLINE : monotonic_us() + (uint64_t)timeout_ms * 1000u;
    if (timeout_ms == 0)
        deadline = 0; /* already passed: look, do not wait */
    bool woken = false;
    for (;;) {
        int ready = poll_scan(pc, WAITERS_KEEP);
        int k = poll_kernel(pc, 0, false, &woken);
        if (k < 0)
            return k;
        if (ready + k + bad > 0 || poll_remaining_ms(deadline) == 0)
            return ready + k + bad;
        if (pc->efd < 0 && (pc->efd = poll_thread_efd()) < 0)
            return pc->efd;
        pc->kfds[pc->nfds] = (struct pollfd){.fd = pc->efd, .events = POLLIN};
        ready = poll_scan(pc, WAITERS_ADD);
        if (ready == 0)
            k = poll_kernel(pc, poll_remaining_ms(deadline), true, &woken);
        ready = poll_scan(pc, WAITERS_REMOVE);
        if (k < 0)
            return k;
        if (ready + k > 0)
            return ready + k;
    }
}

int tapir_poll(struct pollfd *fds, nfds_t nfds, int timeout_ms)
{
    if (nfds && !fds)
        return fail(-EFAULT);
    if (nfds > 1024 && nfds > fd_limit() + (nfds_t)1024) /* no getrlimit for a small poll */
        return fail(-EINVAL);
    struct shim_sock *socks_stack[POLL_STACK_FDS];
    struct poll_waiter waiters_stack[POLL_STACK_FDS];
    struct pollfd kfds_stack[POLL_STACK_FDS + 1];
    struct poll_call pc = {.fds = fds, .nfds = nfds, .efd = -1,
                           .socks = socks_stack, .waiters = waiters_stack, .kfds = kfds_stack};
    void *heap = NULL;
    if (nfds > POLL_STACK_FDS) {
        size_t each = sizeof(*pc.socks) + sizeof(*pc.waiters) + sizeof(*pc.kfds);
        heap = malloc(nfds * each + sizeof(*pc.kfds));
        if (!heap)
            return fail(-ENOMEM);
        pc.kfds = heap;
        pc.waiters = (struct poll_waiter *)(pc.kfds + nfds + 1);
        pc.socks = (struct shim_sock **)(pc.waiters + nfds);
    }
    pthread_mutex_lock(&fdt.lock);
    for (nfds_t i = 0; i < nfds; i++) {
        fds[i].revents = 0;
        pc.socks[i] = NULL;
        pc.kfds[i] = fds[i];
        if (fds[i].fd < TAPIR_FD_BASE)
            continue;
        pc.kfds[i].fd = -1; /* the kernel does not know it */
        struct shim_sock *s = fdt_lookup(fds[i].fd);
        if (s) {
            s->refs++;
            s->host->callers++;
            pc.socks[i] = s;
        } else {
            fds[i].revents = POLLNVAL;
        }
    }
    pthread_mutex_unlock(&fdt.lock);

    int bad = 0;
    for (nfds_t i = 0; i < nfds; i++)
        bad += fds[i].revents == POLLNVAL;
    int rc = poll_wait(&pc, timeout_ms, bad);

    pthread_mutex_lock(&fdt.lock);
    for (nfds_t i = 0; i < nfds; i++) {
        struct shim_sock *s = pc.socks[i];
        if (!s)
            continue;
        if (--s->host->callers == 0)
            pthread_cond_broadcast(&fdt.idle);
        sock_unref_locked(s);
    }
    pthread_mutex_unlock(&fdt.lock);
    free(heap);
    return rc < 0 ? fail(rc) : rc;
}
