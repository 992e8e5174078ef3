/* SPDX-License-Identifier: MIT */
/* tap_egress.c: the TAP ceiling outward: writes one prepared frame to a TAP as fast as one
 * thread can, one write() per frame, and reports the frame and byte rates. The frame is a
 * valid UDP datagram (RFC 768, checksum and all) from 10.0.0.2 to the host at 10.0.0.1, port
 * 9, sized to fill the MTU, so the kernel takes it through IP and UDP as it would tapir's
 * segments and counts it (Udp NoPorts: nobody listens); a write to a TAP runs that whole
 * receive path in the writer's own system call, so this is what the host can take in.
 *
 *   tap_egress [--tap NAME] --seconds S [--size BYTES]
 *
 * BYTES is the UDP payload, default 1472 (a 1500-byte IP packet, a 1514-byte frame). The last
 * line is "tap_egress: frames N bytes N seconds S ...". */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tapbench.h"

#define ETH_HDR 14
#define IP_HDR 20
#define UDP_HDR 8
#define DISCARD_PORT 9
#define CLOCK_EVERY 64

/* The frame: Ethernet to the host's MAC, IPv4 (DF, TTL 64), UDP with its checksum. */
static size_t build_frame(uint8_t *f, const uint8_t host_mac[6], size_t payload)
{
    memcpy(f, host_mac, 6);
    memcpy(f + 6, tb_our_mac, 6);
    tb_put16(f + 12, 0x0800);
    uint8_t *ip = f + ETH_HDR, *udp = ip + IP_HDR;
    memset(ip, 0, IP_HDR);
    ip[0] = 0x45;
    tb_put16(ip + 2, (uint16_t)(IP_HDR + UDP_HDR + payload));
    tb_put16(ip + 6, 0x4000); /* DF: no IP ID is needed */
    ip[8] = 64;
    ip[9] = 17;
    tb_put32(ip + 12, TB_OUR_IP);
    tb_put32(ip + 16, TB_HOST_IP);
    tb_put16(ip + 10, tb_fold(tb_sum(0, ip, IP_HDR)));
    tb_put16(udp, 40000);
    tb_put16(udp + 2, DISCARD_PORT);
    tb_put16(udp + 4, (uint16_t)(UDP_HDR + payload));
    tb_put16(udp + 6, 0);
    for (size_t i = 0; i < payload; i++)
        udp[UDP_HDR + i] = (uint8_t)(' ' + i % 95); /* chargen's characters, not zeros */
    /* The pseudo-header (RFC 768): addresses, protocol, UDP length; then header and data. */
    uint32_t sum = tb_sum(0, ip + 12, 8) + 17 + (uint32_t)(UDP_HDR + payload);
    uint16_t csum = tb_fold(tb_sum(sum, udp, UDP_HDR + payload));
    tb_put16(udp + 6, csum ? csum : 0xffff); /* 0 would mean "no checksum" */
    return ETH_HDR + IP_HDR + UDP_HDR + payload;
}

static int usage(void)
{
    fprintf(stderr, "usage: tap_egress [--tap NAME] --seconds S [--size BYTES]\n");
    return 2;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"tap", required_argument, 0, 't'},
                                         {"seconds", required_argument, 0, 's'},
                                         {"size", required_argument, 0, 'z'},
                                         {0, 0, 0, 0}};
    static uint8_t frame[ETH_HDR + 65535];
    const char *tap = "tap0";
    uint64_t run_ns = 0, payload = 1472;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 't')
            tap = optarg;
        else if (!(c == 's' && tb_parse_seconds(optarg, &run_ns)) &&
                 !(c == 'z' && tb_parse_u64(optarg, &payload) && payload <= 8972))
            return usage();
    }
    if (!run_ns) {
        fprintf(stderr, "tap_egress: --seconds S is required\n");
        return 2;
    }
    tb_on_signals((unsigned)(run_ns / 1000000000u) + 10);
    int fd = tb_tap_attach("tap_egress", tap);
    uint8_t host_mac[6];
    tb_if_mac("tap_egress", tap, host_mac);
    size_t len = build_frame(frame, host_mac, (size_t)payload);
    uint64_t frames = 0, errors = 0, t0 = tb_now_ns(), end = t0 + run_ns, now = t0;
    while (!tb_stop && now < end) {
        for (int i = 0; i < CLOCK_EVERY; i++) {
            if (write(fd, frame, len) == (ssize_t)len)
                frames++;
            else
                errors++;
        }
        now = tb_now_ns();
    }
    double s = (double)(now - t0) / 1e9;
    printf("tap_egress: frames %llu bytes %llu seconds %.6f frames_per_s %.0f gbit_per_s %.3f "
           "errors %llu\n",
           (unsigned long long)frames, (unsigned long long)(frames * len), s, (double)frames / s,
           (double)(frames * len) * 8 / s / 1e9, (unsigned long long)errors);
    return 0;
}
