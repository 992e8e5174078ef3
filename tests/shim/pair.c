/* SPDX-License-Identifier: MIT */
/* pair.c: see pair.h. */
#include "pair.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

static void pair_config(struct tapir_config *cfg, const char *addr, uint8_t last_mac_byte,
                        uint64_t seed)
{
    tapir_config_defaults(cfg);
    static const uint8_t mac[6] = {0x02, 0, 0, 0, 0, 0};
    memcpy(cfg->mac, mac, 6);
    cfg->mac[5] = last_mac_byte;
    inet_pton(AF_INET, addr, &cfg->addr);
    cfg->prefix_len = 24;
    cfg->seed = seed;
}

int pair_open(struct pair *p, const struct wire_faults *faults, uint64_t seed)
{
    static const struct wire_faults none;
    memset(p, 0, sizeof(*p));
    p->wire = wire_new(faults ? faults : &none, seed, 4096);
    if (!p->wire)
        return -1;
    if (wire_set_realtime(p->wire) < 0) {
        wire_free(p->wire);
        return -1;
    }
    struct tapir_config ca, cb;
    pair_config(&ca, PAIR_ADDR_A, 1, seed);
    pair_config(&cb, PAIR_ADDR_B, 2, seed + 1);
    struct tapir_link la = wire_link(p->wire, 0), lb = wire_link(p->wire, 1);
    p->a = tapir_open_link(&ca, &la);
    p->b = p->a ? tapir_open_link(&cb, &lb) : NULL;
    if (!p->b) {
        pair_stop(p);
        return -1;
    }
    return 0;
}

void pair_start(struct pair *p, const struct wire_faults *faults, uint64_t seed)
{
    assert_int_equal(pair_open(p, faults, seed), 0);
    assert_non_null(p->a);
    assert_non_null(p->b);
}

void pair_stop(struct pair *p)
{
    tapir_host_close(p->a);
    tapir_host_close(p->b);
    wire_free(p->wire);
    memset(p, 0, sizeof(*p));
}

struct sockaddr_in pair_sin(const char *addr, uint16_t port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, addr, &sin.sin_addr);
    return sin;
}

int pair_udp(struct tapir_host *h, uint16_t port)
{
    int fd = tapir_socket_on(h, AF_INET, SOCK_DGRAM, 0);
    assert_true(fd >= TAPIR_FD_BASE);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
    assert_int_equal(tapir_bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    return fd;
}

uint64_t pair_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void pair_sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000u, .tv_nsec = (long)(ms % 1000u) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

int pair_join(pthread_t t, unsigned timeout_ms)
{
    struct timespec at;
    clock_gettime(CLOCK_REALTIME, &at); /* pthread_timedjoin_np's clock */
    at.tv_sec += timeout_ms / 1000u;
    at.tv_nsec += (long)(timeout_ms % 1000u) * 1000000;
    if (at.tv_nsec >= 1000000000) {
        at.tv_sec++;
        at.tv_nsec -= 1000000000;
    }
    return pthread_timedjoin_np(t, NULL, &at);
}

static void pair_copy_stats(struct tapir_stack *st, void *arg)
{
    memcpy(arg, tapir_stats(st), sizeof(struct tapir_stats));
}

struct tapir_stats pair_stats(struct tapir_host *h)
{
    struct tapir_stats s;
    tapir_host_call(h, pair_copy_stats, &s);
    return s;
}
