/* SPDX-License-Identifier: MIT */
/* tap_ingress.c: the TAP ceiling inward: reads frames from a TAP as fast as one thread can,
 * one read() per frame (as a TAP without offloads allows), doing nothing with them, and
 * reports the frame and byte rates. A sender on the host side (udp_blast) must offer more than
 * this takes, so that the reader is the limit: `make bench` prints both.
 *
 *   tap_ingress [--tap NAME] --seconds S [--wait-seconds W]
 *
 * The clock starts at the first frame (waiting up to W seconds, default 10, for it) and runs
 * for S seconds. The last line is "tap_ingress: frames N bytes N seconds S". */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tapbench.h"

#define CLOCK_EVERY 64 /* frames between looks at the clock: it costs more than a read */

struct tally {
    uint64_t frames, bytes;
};

/* Blocks (up to wait_ns) for the first frame; it is counted. False when none came. */
static bool first_frame(int fd, uint8_t *buf, size_t cap, uint64_t wait_ns, struct tally *t)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    uint64_t give_up = tb_now_ns() + wait_ns;
    while (!tb_stop && tb_now_ns() < give_up) {
        ssize_t n = read(fd, buf, cap);
        if (n >= 0) {
            t->frames++;
            t->bytes += (uint64_t)n;
            return true;
        }
        poll(&pfd, 1, 10);
    }
    return false;
}

/* Reads until end_ns: every frame counted, nothing else done with it. */
static void read_until(int fd, uint8_t *buf, size_t cap, uint64_t end_ns, struct tally *t)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    unsigned since_clock = 0;
    while (!tb_stop) {
        ssize_t n = read(fd, buf, cap);
        if (n >= 0) {
            t->frames++;
            t->bytes += (uint64_t)n;
            if (++since_clock < CLOCK_EVERY)
                continue;
        } else if (errno == EAGAIN) {
            poll(&pfd, 1, 1); /* the sender fell behind: then the reader is not the limit */
        }
        since_clock = 0;
        if (tb_now_ns() >= end_ns)
            return;
    }
}

static int usage(void)
{
    fprintf(stderr, "usage: tap_ingress [--tap NAME] --seconds S [--wait-seconds W]\n");
    return 2;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"tap", required_argument, 0, 't'},
                                         {"seconds", required_argument, 0, 's'},
                                         {"wait-seconds", required_argument, 0, 'w'},
                                         {0, 0, 0, 0}};
    static uint8_t buf[65536];
    const char *tap = "tap0";
    uint64_t run_ns = 0, wait_ns = 10000000000ull;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 't')
            tap = optarg;
        else if (!(c == 's' && tb_parse_seconds(optarg, &run_ns)) &&
                 !(c == 'w' && tb_parse_seconds(optarg, &wait_ns)))
            return usage();
    }
    if (!run_ns) {
        fprintf(stderr, "tap_ingress: --seconds S is required\n");
        return 2;
    }
    tb_on_signals((unsigned)((run_ns + wait_ns) / 1000000000u) + 10);
    int fd = tb_tap_attach("tap_ingress", tap);
    printf("tap_ingress: reading %s\n", tap);
    fflush(stdout);
    struct tally t = {0};
    if (!first_frame(fd, buf, sizeof(buf), wait_ns, &t)) {
        fprintf(stderr, "tap_ingress: no frame came within the wait\n");
        return 1;
    }
    uint64_t t0 = tb_now_ns();
    read_until(fd, buf, sizeof(buf), t0 + run_ns, &t);
    double s = (double)(tb_now_ns() - t0) / 1e9;
    printf("tap_ingress: frames %llu bytes %llu seconds %.6f frames_per_s %.0f gbit_per_s %.3f\n",
           (unsigned long long)t.frames, (unsigned long long)t.bytes, s, (double)t.frames / s,
           (double)t.bytes * 8 / s / 1e9);
    return 0;
}
