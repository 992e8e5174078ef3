/* SPDX-License-Identifier: MIT */
/* tapbench.c: the helpers of the raw TAP references; see tapbench.h. */
#include "tapbench.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

const uint8_t tb_our_mac[6] = {0x02, 0x74, 0x61, 0x70, 0x69, 0x72};
volatile sig_atomic_t tb_stop;

static void on_stop(int sig)
{
    (void)sig;
    tb_stop = 1;
}

void tb_on_signals(unsigned max_s)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop; /* no SA_RESTART: poll() and read() return EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGALRM, &sa, NULL);
    if (max_s)
        alarm(max_s);
}

int tb_tap_attach(const char *prog, const char *name)
{
    if (strlen(name) >= IFNAMSIZ || if_nametoindex(name) == 0) {
        fprintf(stderr, "%s: no interface named %s (scripts/tap-up %s makes one)\n", prog, name,
                name);
        exit(1);
    }
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    memcpy(ifr.ifr_name, name, strlen(name));
    if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) < 0) {
        fprintf(stderr, "%s: cannot attach to %s: %s\n", prog, name, strerror(errno));
        exit(1);
    }
    return fd;
}

void tb_if_mac(const char *prog, const char *name, uint8_t mac[6])
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
    if (s < 0 || ioctl(s, SIOCGIFHWADDR, &ifr) < 0) {
        fprintf(stderr, "%s: cannot read the MAC address of %s: %s\n", prog, name, strerror(errno));
        exit(1);
    }
    memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
    close(s);
}

uint32_t tb_sum(uint32_t sum, const void *data, size_t len)
{
    const uint8_t *p = data;
    for (; len > 1; p += 2, len -= 2)
        sum += tb_get16(p);
    if (len)
        sum += (uint32_t)p[0] << 8;
    return sum;
}

uint16_t tb_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

uint64_t tb_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

bool tb_parse_seconds(const char *s, uint64_t *ns)
{
    const char *p = s;
    while (isdigit((unsigned char)*p) || *p == '.')
        p++;
    char *end;
    double v = strtod(s, &end);
    if (p == s || end != p || *p || v <= 0 || v > 3600)
        return false;
    *ns = (uint64_t)(v * 1e9);
    return true;
}

bool tb_parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || !*s || *s == '-')
        return false;
    *out = v;
    return true;
}
