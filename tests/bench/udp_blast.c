/* SPDX-License-Identifier: MIT */
/* udp_blast.c: the host-side sender that feeds tap_ingress: UDP datagrams of one size to one
 * address for a bounded time, as fast as the kernel takes them. With UDP GSO (UDP_SEGMENT) one
 * sendmmsg() hands the kernel a batch of 64 KiB buffers that it cuts into MTU-sized datagrams
 * itself, so the sender's own cost per frame is small and it can offer more than one TAP reader
 * takes. Reports what it offered; the kernel drops what the TAP's queue cannot hold.
 *
 *   udp_blast --dst ADDR [--port N] [--size BYTES] --seconds S
 *
 * The last line is "udp_blast: datagrams N seconds S datagrams_per_s R". */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tapbench.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#define BATCH 8          /* buffers per sendmmsg */
#define GSO_BYTES 65000u /* per buffer: under the 64 KiB a UDP datagram may be */

struct blast {
    int fd;
    size_t size, per_buf;
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
};

/* A connected UDP socket to dst:port that cuts size-byte datagrams from each buffer. */
static int blast_socket(const struct sockaddr_in *dst, size_t size)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int gso = (int)size, big = 4 << 20;
    if (fd < 0 || connect(fd, (const struct sockaddr *)dst, sizeof(*dst)) < 0) {
        fprintf(stderr, "udp_blast: socket/connect: %s\n", strerror(errno));
        exit(1);
    }
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    if (setsockopt(fd, SOL_UDP, UDP_SEGMENT, &gso, sizeof(gso)) < 0) {
        fprintf(stderr, "udp_blast: UDP_SEGMENT: %s\n", strerror(errno));
        exit(1);
    }
    return fd;
}

static void blast_init(struct blast *b, const struct sockaddr_in *dst, size_t size)
{
    static uint8_t data[GSO_BYTES];
    memset(data, 'x', sizeof(data));
    b->fd = blast_socket(dst, size);
    b->size = size;
    b->per_buf = GSO_BYTES / size;
    if (b->per_buf > 64)
        b->per_buf = 64; /* the kernel's UDP_MAX_SEGMENTS */
    for (int i = 0; i < BATCH; i++) {
        b->iov[i] = (struct iovec){.iov_base = data, .iov_len = b->per_buf * size};
        memset(&b->msgs[i], 0, sizeof(b->msgs[i]));
        b->msgs[i].msg_hdr.msg_iov = &b->iov[i];
        b->msgs[i].msg_hdr.msg_iovlen = 1;
    }
}

static int usage(void)
{
    fprintf(stderr, "usage: udp_blast --dst ADDR [--port N] [--size BYTES] --seconds S\n");
    return 2;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"dst", required_argument, 0, 'd'},
                                         {"port", required_argument, 0, 'p'},
                                         {"size", required_argument, 0, 'z'},
                                         {"seconds", required_argument, 0, 's'},
                                         {0, 0, 0, 0}};
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(9)};
    uint64_t run_ns = 0, size = 1472, port;
    bool have_dst = false;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            have_dst = inet_pton(AF_INET, optarg, &dst.sin_addr) == 1;
            break;
        case 'p':
            if (!tb_parse_u64(optarg, &port) || port == 0 || port > 65535)
                return usage();
            dst.sin_port = htons((uint16_t)port);
            break;
        case 'z':
            if (!tb_parse_u64(optarg, &size) || size == 0 || size > 8972)
                return usage();
            break;
        case 's':
            if (!tb_parse_seconds(optarg, &run_ns))
                return usage();
            break;
        default:
            return usage();
        }
    }
    if (!have_dst || !run_ns) {
        fprintf(stderr, "udp_blast: --dst and --seconds are required\n");
        return 2;
    }
    tb_on_signals((unsigned)(run_ns / 1000000000u) + 10);
    static struct blast b;
    blast_init(&b, &dst, (size_t)size);
    uint64_t datagrams = 0, errors = 0, t0 = tb_now_ns(), end = t0 + run_ns, now = t0;
    while (!tb_stop && now < end) {
        int n = sendmmsg(b.fd, b.msgs, BATCH, 0);
        if (n > 0)
            for (int i = 0; i < n; i++)
                datagrams += b.msgs[i].msg_len / b.size;
        else
            errors++; /* ENOBUFS and the like: the frames were not offered */
        now = tb_now_ns();
    }
    double s = (double)(now - t0) / 1e9;
    printf("udp_blast: datagrams %llu seconds %.6f datagrams_per_s %.0f errors %llu\n",
           (unsigned long long)datagrams, s, (double)datagrams / s, (unsigned long long)errors);
    return 0;
}
