/* SPDX-License-Identifier: MIT */
/* trace.c: trace lines, the --trace list parser, and the netstat -s style counter printer. */
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "core.h"

void tapir_trace_emit(struct tapir_stack *st, const char *fmt, ...)
{
    va_list ap;
    fprintf(st->cfg.trace_out, "%6llu.%06llu ", (unsigned long long)(st->now_us / 1000000u),
            (unsigned long long)(st->now_us % 1000000u));
    va_start(ap, fmt);
    vfprintf(st->cfg.trace_out, fmt, ap);
    va_end(ap);
    fputc('\n', st->cfg.trace_out);
}

const char *ip_str(uint32_t addr, char *buf)
{
    snprintf(buf, IP_STR_LEN, "%u.%u.%u.%u", addr >> 24, (addr >> 16) & 0xffu,
             (addr >> 8) & 0xffu, addr & 0xffu);
    return buf;
}

static const struct {
    const char *name;
    unsigned bit;
} trace_names[] = {
    {"eth", TAPIR_TRACE_ETH}, {"arp", TAPIR_TRACE_ARP}, {"ip", TAPIR_TRACE_IP},
    {"icmp", TAPIR_TRACE_ICMP}, {"udp", TAPIR_TRACE_UDP}, {"tcp", TAPIR_TRACE_TCP},
    {"all", TAPIR_TRACE_ALL},
};

int tapir_trace_parse(const char *list, unsigned *mask)
{
    unsigned bits = 0;
    const char *p = list;
    while (*p) {
        size_t n = strcspn(p, ",");
        unsigned found = 0;
        for (size_t i = 0; i < sizeof(trace_names) / sizeof(trace_names[0]); i++) {
            if (strlen(trace_names[i].name) == n && strncmp(trace_names[i].name, p, n) == 0)
                found = trace_names[i].bit;
        }
        if (!found)
            return -EINVAL;
        bits |= found;
        p += n;
        if (*p == ',')
            p++;
    }
    if (!bits)
        return -EINVAL;
    *mask = bits;
    return 0;
}

/* A counter's place in struct tapir_stats and the words netstat -s would print beside it. */
struct stat_desc {
    size_t offset;
    const char *text;
};

#define DESC(layer, type)                                                                          \
    static const struct stat_desc layer##_descs[] = {type(DESC_ONE_##layer)};
#define DESC_ONE_eth(name, text) {offsetof(struct tapir_stats, eth.name), text},
#define DESC_ONE_arp(name, text) {offsetof(struct tapir_stats, arp.name), text},
#define DESC_ONE_ip(name, text) {offsetof(struct tapir_stats, ip.name), text},
#define DESC_ONE_icmp(name, text) {offsetof(struct tapir_stats, icmp.name), text},
#define DESC_ONE_udp(name, text) {offsetof(struct tapir_stats, udp.name), text},
#define DESC_ONE_tcp(name, text) {offsetof(struct tapir_stats, tcp.name), text},
#define DESC_ONE_mem(name, text) {offsetof(struct tapir_stats, mem.name), text},
DESC(eth, TAPIR_ETH_STATS)
DESC(arp, TAPIR_ARP_STATS)
DESC(ip, TAPIR_IP_STATS)
DESC(icmp, TAPIR_ICMP_STATS)
DESC(udp, TAPIR_UDP_STATS)
DESC(tcp, TAPIR_TCP_STATS)
DESC(mem, TAPIR_MEM_STATS)

static void print_layer(const struct tapir_stats *s, FILE *out, const char *title,
                        const struct stat_desc *d, size_t n)
{
    fprintf(out, "%s:\n", title);
    for (size_t i = 0; i < n; i++) {
        uint64_t v;
        memcpy(&v, (const char *)s + d[i].offset, sizeof(v));
        fprintf(out, "    %llu %s\n", (unsigned long long)v, d[i].text);
    }
}

#define PRINT_LAYER(title, layer)                                                                  \
    print_layer(s, out, title, layer##_descs, sizeof(layer##_descs) / sizeof(layer##_descs[0]))

void tapir_stats_print(const struct tapir_stack *st, FILE *out)
{
    const struct tapir_stats *s = &st->stats;
    PRINT_LAYER("Ethernet", eth);
    PRINT_LAYER("Arp", arp);
    PRINT_LAYER("Ip", ip);
    PRINT_LAYER("Icmp", icmp);
    PRINT_LAYER("Udp", udp);
    PRINT_LAYER("Tcp", tcp);
    PRINT_LAYER("Memory", mem);
    fflush(out);
}
