/* SPDX-License-Identifier: MIT */
/* tap_fault.c: faults between tapir and the kernel (see tap_fault.h). Each direction has a
 * bottleneck and a heap of held frames; one PRNG decides both, in the order frames come.
 *
 * The host thread sleeps in ppoll() on one descriptor, the link's rx_fd. Here that is an
 * epoll set holding the TAP and an eventfd: the TAP wakes it for frames from the kernel, the
 * eventfd when the stack, on an application thread, holds back a frame due before anything
 * the host thread knows of. (The shim re-reads next_rx_us after each call, but a call that
 * blocks half-way, a send waiting for room, has sent frames before it sleeps.) Frames held on
 * their way out go to the TAP from the receive callback, which the host thread calls when
 * next_rx_us (the earlier of both heaps) comes due. */
#include "tap_fault.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

enum { TF_IN, TF_OUT, TF_DIRS }; /* from the kernel to the stack; from the stack out */

#define TF_FRAME_BYTES 65536u   /* beyond any frame the TAP gives at an MTU up to 9000 */

struct tap_fault {
    struct tap_dev tap;
    struct fault_model model;       /* one PRNG for both ways, so a seed replays */
    struct fault_path path[TF_DIRS];
    struct fault_queue held[TF_DIRS];
    uint64_t offered[TF_DIRS];
    uint64_t next_order;
    int epoll_fd;                   /* the link's rx_fd: the TAP and wake_fd */
    int wake_fd;                    /* eventfd: an earlier frame waits to go out */
    uint8_t frame[TF_FRAME_BYTES];  /* one frame read from the TAP */
};

static uint64_t monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int tf_epoll_add(int epoll_fd, int fd)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    return epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

struct tap_fault *tap_fault_open(const char *name, const struct faults *faults, uint64_t seed,
                                 char *msg, size_t msg_len)
{
    struct tap_fault *tf = calloc(1, sizeof(*tf));
    if (!tf) {
        snprintf(msg, msg_len, "cannot allocate the fault link: %s", strerror(errno));
        return NULL;
    }
    tf->epoll_fd = tf->wake_fd = -1;
    int rc = tap_open(&tf->tap, name, msg, msg_len);
    if (rc < 0) {
        free(tf);
        errno = -rc;
        return NULL;
    }
    faults_init(&tf->model, faults, seed);
    for (int d = 0; d < TF_DIRS && rc == 0; d++)
        rc = fault_queue_init(&tf->held[d], TAP_FAULT_MAX_FRAMES);
    if (rc == 0) {
        tf->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        tf->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        rc = tf->epoll_fd < 0 || tf->wake_fd < 0 ? -errno : 0;
    }
    if (rc == 0)
        rc = tf_epoll_add(tf->epoll_fd, tf->tap.fd);
    if (rc == 0)
        rc = tf_epoll_add(tf->epoll_fd, tf->wake_fd);
    if (rc < 0) {
        snprintf(msg, msg_len, "cannot set up the fault link: %s", strerror(-rc));
        tap_fault_close(tf);
        errno = -rc;
        return NULL;
    }
    return tf;
}

void tap_fault_close(struct tap_fault *tf)
{
    if (!tf)
        return;
    for (int d = 0; d < TF_DIRS; d++)
        if (tf->held[d].heap)
            fault_queue_free(&tf->held[d]);
    if (tf->epoll_fd >= 0)
        close(tf->epoll_fd);
    if (tf->wake_fd >= 0)
        close(tf->wake_fd);
    tap_close(&tf->tap);
    free(tf);
}

/* How many copies of a len-byte frame direction d can still hold (0, 1 or 2). */
static unsigned tf_room(const struct tap_fault *tf, int d, size_t len)
{
    const struct fault_queue *q = &tf->held[d];
    unsigned room = fault_queue_room(q);
    uint64_t bytes_left = q->bytes < TAP_FAULT_MAX_BYTES ? TAP_FAULT_MAX_BYTES - q->bytes : 0;
    uint64_t fit = len ? bytes_left / len : 2;
    if (fit < room)
        room = (unsigned)fit;
    return room < 2 ? room : 2;
}

/* One frame into the model, its copies into direction d's heap. */
static void tf_offer(struct tap_fault *tf, int d, const uint8_t *frame, size_t len,
                     uint64_t now_us)
{
    struct fault_verdict v;
    tf->offered[d]++;
    faults_decide(&tf->model, &tf->path[d], now_us, frame, len, tf_room(tf, d, len), &v);
    for (unsigned i = 0; i < v.copies; i++)
        if (fault_queue_push(&tf->held[d], &v.copy[i], tf->next_order++, frame, len) < 0)
            tf->model.stats.overflow++;
}

/* Writes every frame due by now to the TAP, in order. A write the kernel refuses is lost, as
 * it would be without faults, and counted by tap_send. */
static void tf_flush_out(struct tap_fault *tf, uint64_t now_us)
{
    struct fault_queue *q = &tf->held[TF_OUT];
    while (fault_queue_next_us(q) <= now_us) {
        struct fault_frame f = fault_queue_pop(q);
        tap_send(&tf->tap, f.data, f.len);
        free(f.data);
    }
}

/* The driver's send, on whichever thread holds the host lock. */
static int tf_send(void *ctx, const void *frame, size_t len)
{
    struct tap_fault *tf = ctx;
    uint64_t now = monotonic_us();
    uint64_t before = fault_queue_next_us(&tf->held[TF_OUT]);
    tf_flush_out(tf, now); /* whatever was due goes first */
    tf_offer(tf, TF_OUT, frame, len, now);
    tf_flush_out(tf, now);
    uint64_t after = fault_queue_next_us(&tf->held[TF_OUT]);
    if (after < before) {
        /* A frame now waits that the host thread does not know of: wake it to sleep anew. */
        uint64_t one = 1;
        ssize_t n = write(tf->wake_fd, &one, sizeof(one));
        (void)n; /* a full counter already means "wake up" */
    }
    return 0; /* held or lost, the sender cannot tell */
}

/* The link's receive, on the host thread: due frames out, the kernel's frames in through the
 * model, then the frames due to the stack. */
static int tf_receive(void *ctx, struct tapir_stack *st, uint64_t now_us)
{
    struct tap_fault *tf = ctx;
    uint64_t drained;
    ssize_t r = read(tf->wake_fd, &drained, sizeof(drained));
    (void)r;
    tf_flush_out(tf, now_us);
    for (int n = 0; n < TAP_RX_BATCH; n++) {
        ssize_t len = read(tf->tap.fd, tf->frame, sizeof(tf->frame));
        if (len < 0 && errno == EINTR)
            continue;
        if (len < 0)
            break; /* EAGAIN: drained */
        tf->tap.rx_frames++;
        tf_offer(tf, TF_IN, tf->frame, (size_t)len, now_us);
    }
    int count = 0;
    struct fault_queue *q = &tf->held[TF_IN];
    while (fault_queue_next_us(q) <= now_us) {
        struct fault_frame f = fault_queue_pop(q);
        tapir_input(st, f.data, f.len, now_us);
        free(f.data);
        count++;
    }
    return count;
}

static uint64_t tf_next_rx(void *ctx)
{
    const struct tap_fault *tf = ctx;
    uint64_t in = fault_queue_next_us(&tf->held[TF_IN]);
    uint64_t out = fault_queue_next_us(&tf->held[TF_OUT]);
    return in < out ? in : out;
}

struct tapir_link tap_fault_link(struct tap_fault *tf)
{
    return (struct tapir_link){.driver = {.send = tf_send, .ctx = tf},
                               .rx_fd = tf->epoll_fd,
                               .receive = tf_receive,
                               .next_rx_us = tf_next_rx,
                               .rx_ctx = tf};
}

struct tap_fault_stats tap_fault_stats(const struct tap_fault *tf)
{
    return (struct tap_fault_stats){.from_kernel = tf->offered[TF_IN],
                                    .from_stack = tf->offered[TF_OUT],
                                    .faults = tf->model.stats,
                                    .held = tf->held[TF_IN].count + tf->held[TF_OUT].count};
}

void tap_fault_print(const struct tap_fault *tf, FILE *out)
{
    struct tap_fault_stats s = tap_fault_stats(tf);
    const struct {
        uint64_t v;
        const char *text;
    } lines[] = {
        {s.from_kernel, "frames from the kernel"},
        {s.from_stack, "frames from tapir"},
        {s.faults.lost, "frames lost"},
        {s.faults.duplicated, "frames duplicated"},
        {s.faults.reordered, "frames reordered"},
        {s.faults.corrupted, "frames corrupted"},
        {s.faults.queue_drops, "frames dropped: bottleneck queue full"},
        {s.faults.overflow, "frames dropped: no room to hold them"},
        {s.held, "frames held now"},
    };
    fprintf(out, "Faults:\n");
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        fprintf(out, "    %llu %s\n", (unsigned long long)lines[i].v, lines[i].text);
    fflush(out);
}
