/* SPDX-License-Identifier: MIT */
/* tap_floor.c: the TAP floor of `make bench`: answers ARP (RFC 826) for 10.0.0.2 and ICMP echo
 * (RFC 792) on a TAP by swapping addresses and nothing else, so its ping round trip is the
 * lowest any user-space stack can reach over this TAP. Only unfragmented echo requests are
 * answered: a fragment (MF set or an offset) is counted and ignored, so `ping -s` above 1472
 * gets no reply. IP options are not expected either (such a request is ignored too).
 *
 *   tap_floor [--tap NAME] [--busy-poll USEC] [--max-seconds N]
 *
 * It sleeps in poll(); with --busy-poll it first spins on non-blocking reads for up to USEC
 * after the last frame, as tapir's --busy-poll does. SIGTERM or SIGINT stops it (and
 * --max-seconds, default 600, bounds it); it then prints what it answered. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tapbench.h"

#define ETH_HDR 14
#define ARP_LEN 28
#define IP_HDR 20
#define ICMP_HDR 8

struct floor {
    int fd;
    uint64_t busy_poll_ns;
    uint64_t arp_replies, echo_replies, fragments, ignored, write_errors;
    uint8_t frame[65536 + ETH_HDR];
};

/* The Ethernet header of a reply: back to whoever sent, from us. */
static void eth_swap(uint8_t *f)
{
    memcpy(f, f + 6, 6);
    memcpy(f + 6, tb_our_mac, 6);
}

/* An ARP request for our address becomes the reply, in place: the reply's length, or 0. */
static size_t arp_answer(struct floor *fl, uint8_t *f, size_t len)
{
    uint8_t *a = f + ETH_HDR;
    if (len < ETH_HDR + ARP_LEN || tb_get16(a) != 1 || tb_get16(a + 2) != 0x0800 || a[4] != 6 ||
        a[5] != 4 || tb_get16(a + 6) != 1 || tb_get32(a + 24) != TB_OUR_IP)
        return 0;
    eth_swap(f);
    tb_put16(a + 6, 2);
    memcpy(a + 18, a + 8, 10); /* target = the asker's MAC and address */
    memcpy(a + 8, tb_our_mac, 6);
    tb_put32(a + 14, TB_OUR_IP);
    fl->arp_replies++;
    return ETH_HDR + ARP_LEN;
}

/* An unfragmented echo request to us becomes the echo reply, in place, with both checksums
 * computed anew: the reply's length, or 0. */
static size_t echo_answer(struct floor *fl, uint8_t *f, size_t len)
{
    uint8_t *ip = f + ETH_HDR;
    if (len < ETH_HDR + IP_HDR + ICMP_HDR || ip[0] != 0x45 || ip[9] != 1 ||
        tb_get32(ip + 16) != TB_OUR_IP)
        return 0;
    size_t total = tb_get16(ip + 2);
    if (total < IP_HDR + ICMP_HDR || total > len - ETH_HDR)
        return 0;
    if (tb_get16(ip + 6) & 0x3fff) { /* MF or an offset: a fragment, not answered */
        fl->fragments++;
        return 0;
    }
    uint8_t *icmp = ip + IP_HDR;
    if (icmp[0] != 8 || icmp[1] != 0)
        return 0;
    eth_swap(f);
    uint8_t src[4];
    memcpy(src, ip + 12, 4);
    memcpy(ip + 12, ip + 16, 4);
    memcpy(ip + 16, src, 4);
    tb_put16(ip + 10, 0);
    tb_put16(ip + 10, tb_fold(tb_sum(0, ip, IP_HDR)));
    icmp[0] = 0;
    tb_put16(icmp + 2, 0);
    tb_put16(icmp + 2, tb_fold(tb_sum(0, icmp, total - IP_HDR)));
    fl->echo_replies++;
    return ETH_HDR + total;
}

static void answer(struct floor *fl, size_t len)
{
    uint8_t *f = fl->frame;
    size_t out = 0;
    if (len >= ETH_HDR && tb_get16(f + 12) == 0x0806)
        out = arp_answer(fl, f, len);
    else if (len >= ETH_HDR && tb_get16(f + 12) == 0x0800)
        out = echo_answer(fl, f, len);
    if (!out) {
        fl->ignored++;
        return;
    }
    if (write(fl->fd, f, out) != (ssize_t)out)
        fl->write_errors++;
}

/* Reads and answers every frame that is ready: how many there were. */
static unsigned drain(struct floor *fl)
{
    unsigned n = 0;
    for (;;) {
        ssize_t len = read(fl->fd, fl->frame, sizeof(fl->frame));
        if (len < 0 && errno == EINTR && !tb_stop)
            continue;
        if (len < 0)
            return n; /* EAGAIN: nothing more for now */
        n++;
        answer(fl, (size_t)len);
    }
}

static void serve(struct floor *fl)
{
    struct pollfd pfd = {.fd = fl->fd, .events = POLLIN};
    uint64_t last_ns = 0;
    while (!tb_stop) {
        if (drain(fl) > 0) {
            last_ns = tb_now_ns();
            continue;
        }
        /* Busy polling: another non-blocking read costs a system call, a sleep in poll()
         * costs a wake-up, which is most of a ping's round trip over a TAP. */
        if (fl->busy_poll_ns && last_ns && tb_now_ns() - last_ns < fl->busy_poll_ns)
            continue;
        poll(&pfd, 1, -1);
    }
}

static void usage(FILE *out)
{
    fprintf(out, "usage: tap_floor [--tap NAME] [--busy-poll USEC] [--max-seconds N]\n"
                 "Answers ARP for 10.0.0.2 and unfragmented pings on the TAP NAME (default "
                 "tap0),\nby swapping addresses; nothing else.\n");
}

int main(int argc, char **argv)
{
    static struct floor fl;
    static const struct option opts[] = {{"tap", required_argument, 0, 't'},
                                         {"busy-poll", required_argument, 0, 'b'},
                                         {"max-seconds", required_argument, 0, 'm'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *tap = "tap0";
    uint64_t busy_us = 0, max_s = 600;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 't')
            tap = optarg;
        else if (c == 'b' && tb_parse_u64(optarg, &busy_us) && busy_us <= 1000000)
            continue;
        else if (c == 'm' && tb_parse_u64(optarg, &max_s) && max_s > 0 && max_s <= 86400)
            continue;
        else {
            usage(c == 'h' ? stdout : stderr);
            return c == 'h' ? 0 : 2;
        }
    }
    tb_on_signals((unsigned)max_s);
    fl.fd = tb_tap_attach("tap_floor", tap);
    fl.busy_poll_ns = busy_us * 1000;
    printf("tap_floor: answering ARP and ping for 10.0.0.2 on %s (busy-poll %llu us)\n", tap,
           (unsigned long long)busy_us);
    fflush(stdout);
    serve(&fl);
    printf("tap_floor: %llu ARP replies, %llu echo replies, %llu fragments ignored, "
           "%llu other frames ignored, %llu failed writes\n",
           (unsigned long long)fl.arp_replies, (unsigned long long)fl.echo_replies,
           (unsigned long long)fl.fragments, (unsigned long long)fl.ignored,
           (unsigned long long)fl.write_errors);
    return 0;
}
