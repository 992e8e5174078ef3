/* SPDX-License-Identifier: MIT */
/* cli.c: the host flags every tapir program shares; see cli.h. */
#include "cli.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"
#include "tap_fault.h"

static const uint8_t default_mac[6] = {0x02, 0x74, 0x61, 0x70, 0x69, 0x72}; /* "tapir" */

void cli_host_init(struct cli_host *h, const char *prog, bool demo_defaults)
{
    memset(h, 0, sizeof(*h));
    h->prog = prog;
    tapir_config_defaults(&h->cfg);
    memcpy(h->cfg.mac, default_mac, 6);
    if (demo_defaults) {
        h->tap_name = "tap0";
        inet_pton(AF_INET, "10.0.0.2", &h->cfg.addr);
        h->cfg.prefix_len = 24;
        h->have_ip = true;
    }
}

int cli_usage_error(const char *prog, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see %s --help)\n", prog);
    va_end(ap);
    return EXIT_USAGE;
}

static bool parse_prefix(const char *s, struct in_addr *addr, unsigned *len)
{
    char buf[32];
    const char *slash = strchr(s, '/');
    if (!slash || (size_t)(slash - s) >= sizeof(buf))
        return false;
    memcpy(buf, s, (size_t)(slash - s));
    buf[slash - s] = '\0';
    char *end;
    unsigned long n = strtoul(slash + 1, &end, 10);
    if (*end || slash[1] == '\0' || n > 32 || inet_pton(AF_INET, buf, addr) != 1)
        return false;
    *len = (unsigned)n;
    return true;
}

static bool parse_mac(const char *s, uint8_t mac[6])
{
    unsigned v[6];
    char extra;
    if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &extra) != 6)
        return false;
    for (int i = 0; i < 6; i++) {
        if (v[i] > 0xff)
            return false;
        mac[i] = (uint8_t)v[i];
    }
    return !(mac[0] & 1u); /* a group address cannot be a host's */
}

bool cli_parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end || !*s || *s == '-')
        return false;
    *out = v;
    return true;
}

bool cli_parse_addr(const char *addr, const char *port, struct sockaddr_in *out)
{
    uint64_t p;
    memset(out, 0, sizeof(*out));
    out->sin_family = AF_INET;
    if (inet_pton(AF_INET, addr, &out->sin_addr) != 1 || !cli_parse_u64(port, &p) || p > 65535)
        return false;
    out->sin_port = htons((uint16_t)p);
    return true;
}

int cli_parse_timeout(const char *prog, const char *arg, uint64_t *timeout_ms)
{
    if (!cli_parse_u64(arg, timeout_ms) || *timeout_ms == 0 || *timeout_ms > 3600000)
        return cli_usage_error(prog, "--timeout wants 1..3600000 ms, not '%s'", arg);
    return 0;
}

int cli_parse_server(const char *prog, int argc, char **argv, struct sockaddr_in *server)
{
    if (argc - optind != 2)
        return cli_usage_error(prog, "wants SERVER and PORT, e.g. 10.0.0.1 9000");
    if (!cli_parse_addr(argv[optind], argv[optind + 1], server))
        return cli_usage_error(prog, "'%s %s' is not an IPv4 address and a port", argv[optind],
                               argv[optind + 1]);
    return 0;
}

/* A plain decimal number such as 2, 0.5 or .25 (no sign, exponent, hex, inf or nan), with
 * *end after it. */
static bool parse_decimal(const char *s, double *v, const char **end)
{
    const char *p = s;
    while (isdigit((unsigned char)*p) || *p == '.')
        p++;
    if (p == s)
        return false;
    char *e;
    errno = 0;
    *v = strtod(s, &e);
    if (errno || e != p || !isfinite(*v))
        return false;
    *end = p;
    return true;
}

bool cli_parse_seconds(const char *s, double max_s, uint64_t *us)
{
    double v;
    const char *end;
    if (!parse_decimal(s, &v, &end) || *end || v > max_s)
        return false;
    *us = (uint64_t)(v * 1e6 + 0.5);
    return true;
}

/* A probability as a fraction (0.02) or a percentage (2%), 0..1, into parts per million. */
static bool parse_probability(const char *s, uint32_t *ppm)
{
    double p;
    const char *end;
    if (!parse_decimal(s, &p, &end))
        return false;
    if (*end == '%') {
        p /= 100;
        end++;
    }
    if (*end || p > 1)
        return false;
    *ppm = (uint32_t)(p * 1e6 + 0.5);
    return true;
}

/* Milliseconds, maybe fractional (0.5), from 0 to a minute, into microseconds. */
static bool parse_ms(const char *s, uint64_t *us)
{
    double ms;
    const char *end;
    if (!parse_decimal(s, &ms, &end) || *end || ms > 60000)
        return false;
    *us = (uint64_t)(ms * 1000 + 0.5);
    return true;
}

/* A rate as tc writes it: 100mbit, 1gbit, 500kbit, 2.5mbit, 64000bit or plain bits per
 * second; 1 kbit/s to 100 Gbit/s. (tc's "kbps" means bytes, so byte units are refused.) */
static bool parse_rate(const char *s, uint64_t *bps)
{
    static const struct {
        const char *unit;
        double scale;
    } units[] = {{"", 1}, {"bit", 1}, {"kbit", 1e3}, {"mbit", 1e6}, {"gbit", 1e9}};
    double v;
    const char *end;
    if (!parse_decimal(s, &v, &end))
        return false;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcasecmp(end, units[i].unit) != 0)
            continue;
        v *= units[i].scale;
        if (v < 1e3 || v > 100e9)
            return false;
        *bps = (uint64_t)(v + 0.5);
        return true;
    }
    return false;
}

/* The probability a fault flag sets, and the flag's name; NULL for the other fault flags. */
static uint32_t *fault_probability(struct faults *f, int opt, const char **flag)
{
    switch (opt) {
    case CLI_OPT_LOSS: *flag = "--loss"; return &f->loss_ppm;
    case CLI_OPT_DUP: *flag = "--dup"; return &f->dup_ppm;
    case CLI_OPT_REORDER: *flag = "--reorder"; return &f->reorder_ppm;
    case CLI_OPT_CORRUPT: *flag = "--corrupt"; return &f->corrupt_ppm;
    default: return NULL;
    }
}

/* One of the fault flags (drivers/faults.h): 0, or EXIT_USAGE after one line. */
static int cli_fault_option(struct cli_host *h, int opt, const char *arg)
{
    struct faults *f = &h->faults;
    const char *flag;
    uint32_t *ppm = fault_probability(f, opt, &flag);
    uint64_t v;
    h->faulty = true;
    if (ppm) {
        if (!parse_probability(arg, ppm))
            return cli_usage_error(h->prog,
                                   "%s wants a probability from 0 to 1 such as 0.02 or 2%%, "
                                   "not '%s'",
                                   flag, arg);
        return 0;
    }
    switch (opt) {
    case CLI_OPT_DELAY:
        if (!parse_ms(arg, &f->delay_us))
            return cli_usage_error(h->prog, "--delay wants milliseconds from 0 to 60000 such as "
                                   "50 or 0.5, not '%s'", arg);
        return 0;
    case CLI_OPT_REORDER_MS:
        if (!parse_ms(arg, &f->reorder_us) || f->reorder_us == 0)
            return cli_usage_error(h->prog, "--reorder-ms wants milliseconds from 0.001 to 60000, "
                                   "not '%s'", arg);
        h->reorder_us_given = true;
        return 0;
    case CLI_OPT_RATE:
        if (!parse_rate(arg, &f->rate_bps))
            return cli_usage_error(h->prog, "--rate wants 1kbit to 100gbit such as 100mbit or "
                                   "500kbit, not '%s'", arg);
        return 0;
    case CLI_OPT_QUEUE:
        if (!cli_parse_u64(arg, &v) || v < 1514 || v > FAULTS_QUEUE_MAX_BYTES)
            return cli_usage_error(h->prog, "--queue wants bytes from 1514 to %llu, not '%s'",
                                   (unsigned long long)FAULTS_QUEUE_MAX_BYTES, arg);
        f->queue_bytes = v;
        return 0;
    default: return cli_usage_error(h->prog, "internal: unknown fault option %d", opt);
    }
}

/* The throwaway stack of cc_known never starts, so nothing is sent; a driver needs a send. */
static int cc_probe_send(void *ctx, const void *frame, size_t len_bytes)
{
    (void)ctx;
    (void)frame;
    (void)len_bytes;
    return -ENETDOWN;
}

/* True when the stack knows the congestion control algorithm NAME. The stack's own check
 * decides (tapir_stack_new refuses a config whose tcp_congestion it has no ops for), so a
 * new algorithm in stack/tcp_cc.c needs no change here: the public API has no lookup by
 * name, and a throwaway stack of the defaults is cheap (its pools fill on first use). */
static bool cc_known(const char *name)
{
    static const struct tapir_driver nowhere = {.send = cc_probe_send};
    struct tapir_config cfg;
    tapir_config_defaults(&cfg);
    cfg.tcp_congestion = name;
    struct tapir_stack *st = tapir_stack_new(&cfg, &nowhere);
    tapir_stack_free(st);
    return st != NULL;
}

static bool on_link(const struct tapir_config *cfg, struct in_addr a)
{
    uint32_t mask = cfg->prefix_len ? ~0u << (32 - cfg->prefix_len) : 0;
    return ((ntohl(a.s_addr) ^ ntohl(cfg->addr.s_addr)) & mask) == 0;
}

int cli_host_option(struct cli_host *h, int opt, const char *arg)
{
    uint64_t v;
    switch (opt) {
    case CLI_OPT_TAP: h->tap_name = arg; return 0;
    case CLI_OPT_IP:
        if (!parse_prefix(arg, &h->cfg.addr, &h->cfg.prefix_len))
            return cli_usage_error(h->prog, "--ip wants ADDR/LEN such as 10.0.0.2/24, not '%s'",
                                   arg);
        h->have_ip = true;
        return 0;
    case CLI_OPT_GW:
        if (inet_pton(AF_INET, arg, &h->cfg.gateway) != 1)
            return cli_usage_error(h->prog, "--gw wants an IPv4 address such as 10.0.0.1, not '%s'",
                                   arg);
        return 0;
    case CLI_OPT_MAC:
        if (!parse_mac(arg, h->cfg.mac))
            return cli_usage_error(
                h->prog, "--mac wants a unicast MAC such as 02:00:00:00:00:02, not '%s'", arg);
        return 0;
    case CLI_OPT_MTU:
        if (!cli_parse_u64(arg, &v) || v < 68 || v > 9000)
            return cli_usage_error(h->prog, "--mtu wants a number from 68 to 9000, not '%s'", arg);
        h->cfg.mtu_bytes = (unsigned)v;
        return 0;
    case CLI_OPT_PCAP: h->pcap_path = arg; return 0;
    case CLI_OPT_TRACE:
        if (tapir_trace_parse(arg, &h->cfg.trace_mask) < 0)
            return cli_usage_error(
                h->prog, "--trace wants a list of eth,arp,ip,icmp,udp,tcp or all, not '%s'", arg);
        return 0;
    case CLI_OPT_SEED:
        if (!cli_parse_u64(arg, &h->cfg.seed))
            return cli_usage_error(h->prog, "--seed wants a non-negative number, not '%s'", arg);
        h->seed_given = true;
        return 0;
    case CLI_OPT_CC:
        if (!cc_known(arg))
            return cli_usage_error(h->prog, "--cc wants reno or cubic, not '%s'", arg);
        h->cfg.tcp_congestion = arg;
        return 0;
    case CLI_OPT_BUSY_POLL:
        if (!cli_parse_u64(arg, &v) || v > CLI_BUSY_POLL_MAX_US)
            return cli_usage_error(h->prog, "--busy-poll wants microseconds from 0 to %u, such "
                                   "as 50, not '%s'", CLI_BUSY_POLL_MAX_US, arg);
        h->cfg.busy_poll_us = v;
        return 0;
    case CLI_OPT_MEM_BUDGET:
        if (!cli_parse_u64(arg, &v) || v < 1 || v > CLI_MEM_BUDGET_MAX_MIB)
            return cli_usage_error(h->prog, "--mem-budget wants MiB from 1 to %u, such as 64, "
                                   "not '%s'", CLI_MEM_BUDGET_MAX_MIB, arg);
        h->cfg.mem_budget_bytes = (size_t)v << 20;
        return 0;
    case CLI_OPT_LOSS:
    case CLI_OPT_DUP:
    case CLI_OPT_REORDER:
    case CLI_OPT_REORDER_MS:
    case CLI_OPT_CORRUPT:
    case CLI_OPT_DELAY:
    case CLI_OPT_RATE:
    case CLI_OPT_QUEUE: return cli_fault_option(h, opt, arg);
    default: return cli_usage_error(h->prog, "internal: unknown host option %d", opt);
    }
}

int cli_parse(struct cli_host *h, int argc, char **argv, const struct cli_extra *x)
{
    static const struct option host_opts[] = {CLI_HOST_LONGOPTS};
    struct option all[64];
    size_t n = 0;
    for (size_t i = 0; i < sizeof(host_opts) / sizeof(host_opts[0]); i++)
        all[n++] = host_opts[i];
    for (const struct option *o = x->opts; o && o->name && n < 62; o++)
        all[n++] = *o;
    all[n++] = (struct option){"help", no_argument, 0, CLI_OPT_HELP};
    all[n] = (struct option){0, 0, 0, 0};
    /* ':' first: a missing value comes back as ':', not '?', so it gets its own message. */
    char shortopts[64] = ":h";
    if (x->shortopts && strlen(x->shortopts) < sizeof(shortopts) - 2)
        strcat(shortopts, x->shortopts);
    opterr = 0;
    int c, rc;
    while ((c = getopt_long(argc, argv, shortopts, all, NULL)) != -1) {
        if (c == 'h' || c == CLI_OPT_HELP) {
            x->usage(stdout);
            exit(0);
        }
        /* getopt_long leaves the letter of a bad short option in optopt, and the value of a
         * long one (above any letter), or 0 for an unknown long one: then argv names it. */
        if (c == ':')
            return optopt > 0 && optopt < 0x100
                       ? cli_usage_error(h->prog, "-%c needs a value", optopt)
                       : cli_usage_error(h->prog, "%s needs a value", argv[optind - 1]);
        if (c == '?')
            return optopt > 0 && optopt < 0x100
                       ? cli_usage_error(h->prog, "unknown option '-%c'", optopt)
                       : cli_usage_error(h->prog, "unknown option '%s'", argv[optind - 1]);
        rc = c >= CLI_OPT_TAP && c <= CLI_OPT_HOST_LAST ? cli_host_option(h, c, optarg)
                                                        : x->on_opt(c, optarg, x->ctx);
        if (rc)
            return rc;
    }
    return 0;
}

enum { OPT_PORT = 0x200, OPT_QUIET, OPT_TIMEOUT, OPT_CONNECT };

static int server_option(int opt, const char *arg, void *ctx)
{
    struct cli_server *o = ctx;
    uint64_t v;
    if (opt == OPT_QUIET) {
        o->quiet = true;
        return 0;
    }
    if (!cli_parse_u64(arg, &v) || v == 0 || v > 65535)
        return cli_usage_error(o->host.prog, "--port wants 1..65535, not '%s'", arg);
    o->port = (uint16_t)v;
    return 0;
}

int cli_parse_server_cmdline(struct cli_server *o, const char *prog, uint16_t default_port,
                             int argc, char **argv, void (*usage)(FILE *out))
{
    static const struct option opts[] = {{"port", required_argument, 0, OPT_PORT},
                                         {"quiet", no_argument, 0, OPT_QUIET},
                                         {0, 0, 0, 0}};
    const struct cli_extra x = {.opts = opts, .on_opt = server_option, .ctx = o, .usage = usage};
    cli_host_init(&o->host, prog, true);
    o->port = default_port;
    o->quiet = false;
    int rc = cli_parse(&o->host, argc, argv, &x);
    if (rc)
        return rc;
    if (optind < argc)
        return cli_usage_error(prog, "unexpected argument '%s'", argv[optind]);
    return cli_host_finish(&o->host);
}

static int client_option(int opt, const char *arg, void *ctx)
{
    struct cli_client *o = ctx;
    if (opt == OPT_CONNECT) {
        o->connect = true;
        return 0;
    }
    return cli_parse_timeout(o->host.prog, arg, &o->timeout_ms);
}

int cli_parse_client_cmdline(struct cli_client *o, const char *prog, uint64_t default_timeout_ms,
                             bool with_connect, int argc, char **argv, void (*usage)(FILE *out))
{
    static const struct option opts[] = {{"timeout", required_argument, 0, OPT_TIMEOUT},
                                         {"connect", no_argument, 0, OPT_CONNECT},
                                         {0, 0, 0, 0}};
    static const struct option timeout_only[] = {{"timeout", required_argument, 0, OPT_TIMEOUT},
                                                 {0, 0, 0, 0}};
    const struct cli_extra x = {.opts = with_connect ? opts : timeout_only,
                                .on_opt = client_option, .ctx = o, .usage = usage};
    cli_host_init(&o->host, prog, true);
    o->timeout_ms = default_timeout_ms;
    o->connect = false;
    int rc = cli_parse(&o->host, argc, argv, &x);
    if (rc == 0)
        rc = cli_parse_server(prog, argc, argv, &o->server);
    return rc ? rc : cli_host_finish(&o->host);
}

int cli_host_finish(struct cli_host *h)
{
    if (!h->tap_name)
        return cli_usage_error(h->prog, "--tap NAME is required, e.g. --tap tap0");
    if (!h->have_ip)
        return cli_usage_error(h->prog, "--ip ADDR/LEN is required, e.g. --ip 10.0.0.2/24");
    if (h->cfg.gateway.s_addr && !on_link(&h->cfg, h->cfg.gateway))
        return cli_usage_error(h->prog, "--gw %s is not on the subnet given by --ip",
                               inet_ntoa(h->cfg.gateway));
    if (h->faults.queue_bytes && !h->faults.rate_bps)
        return cli_usage_error(h->prog, "--queue bounds the queue of the --rate bottleneck; "
                                        "give --rate too");
    return 0;
}

void cli_host_usage(FILE *out)
{
    fprintf(out,
            "  --tap NAME      TAP interface to attach to; it must exist (scripts/tap-up makes it)\n"
            "  --ip ADDR/LEN   our address and subnet, e.g. 10.0.0.2/24\n"
            "  --gw ADDR       gateway for addresses off the subnet, e.g. 10.0.0.1 (default none)\n"
            "  --mac MAC       our Ethernet address (default 02:74:61:70:69:72)\n"
            "  --mtu BYTES     IP MTU, 68..9000 (default 1500)\n"
            "  --pcap FILE     write every frame in and out to FILE (pcap; tshark, Wireshark)\n"
            "  --trace LIST    print a line per event for the layers in LIST:\n"
            "                  eth,arp,ip,icmp,udp,tcp or all\n"
            "  --seed N        seed the PRNG (IP IDs, ports, ISNs) to replay a run;\n"
            "                  by default a random seed is drawn and printed\n"
            "  --cc NAME       TCP congestion control, reno or cubic (default reno); a\n"
            "                  socket may still choose its own with TCP_CONGESTION\n"
            "  --busy-poll US  after a frame arrives, poll the link without sleeping for up\n"
            "                  to US microseconds (e.g. 50): lower latency for a busy core\n"
            "                  while traffic flows (default 0: always sleep)\n"
            "  --mem-budget MIB  all the stack's buffers and connections together may take\n"
            "                  at most MIB MiB (default 64); past it, new connections,\n"
            "                  frames and buffer growth are refused and counted\n"
            "Fault injection, both ways between tapir and the kernel (P: 0.02 or 2%%):\n"
            "  --loss P        lose each frame with probability P\n"
            "  --dup P         duplicate each frame with probability P\n"
            "  --reorder P     hold a frame back by up to --reorder-ms more with probability P\n"
            "  --reorder-ms MS how long --reorder may hold a frame (default max(--delay, 10))\n"
            "  --corrupt P     flip one bit past the Ethernet header of an IPv4 frame\n"
            "  --delay MS      one-way delay in milliseconds, e.g. 50 or 0.5\n"
            "  --rate RATE     a bottleneck each way: 100mbit, 1gbit, 500kbit or bits/s\n"
            "  --queue BYTES   its drop-tail queue (default the larger of 100 full frames\n"
            "                  and rate x 2 x delay)\n"
            "                  the faults' counters print with the others; --seed replays them\n");
}

static uint64_t monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* The TAP's MTU as the kernel sees it should equal ours, or big frames are dropped. */
static void warn_mtu(const struct cli_host *h)
{
    struct tap_dev probe = {.fd = -1};
    snprintf(probe.name, sizeof(probe.name), "%s", h->tap_name);
    int kernel_mtu = tap_kernel_mtu(&probe);
    if (kernel_mtu > 0 && (unsigned)kernel_mtu != h->cfg.mtu_bytes)
        fprintf(stderr, "%s: warning: %s has MTU %d but tapir uses %u; set them equal\n", h->prog,
                h->tap_name, kernel_mtu, h->cfg.mtu_bytes);
}

/* The fault link of the host cli_host_open started, for cli_signals and cli_print_stats,
 * which are given only the host. A program opens one host through the command line. */
static struct {
    struct tapir_host *host;
    struct tap_fault *fault_link;
} opened_with_faults;

static const struct tap_fault *fault_link_of(const struct tapir_host *host)
{
    return host && opened_with_faults.host == host ? opened_with_faults.fault_link : NULL;
}

static void fault_link_forget(const struct tapir_host *host)
{
    if (opened_with_faults.host == host) {
        opened_with_faults.host = NULL;
        opened_with_faults.fault_link = NULL;
    }
}

/* One line saying what the link will do, so a log shows which faults a run had. */
static void print_faults(const struct cli_host *h)
{
    const struct faults *f = &h->faults;
    int n = 0;
    printf("%s: faults each way:", h->prog);
    if (f->loss_ppm)
        printf("%sloss %g%%", n++ ? ", " : " ", f->loss_ppm / 1e4);
    if (f->dup_ppm)
        printf("%sdup %g%%", n++ ? ", " : " ", f->dup_ppm / 1e4);
    if (f->reorder_ppm)
        printf("%sreorder %g%% (up to %g ms)", n++ ? ", " : " ", f->reorder_ppm / 1e4,
               f->reorder_us / 1e3);
    if (f->corrupt_ppm)
        printf("%scorrupt %g%%", n++ ? ", " : " ", f->corrupt_ppm / 1e4);
    if (f->delay_us)
        printf("%sdelay %g ms", n++ ? ", " : " ", f->delay_us / 1e3);
    if (f->rate_bps)
        printf("%srate %g Mbit/s, queue %llu bytes", n++ ? ", " : " ", f->rate_bps / 1e6,
               (unsigned long long)faults_queue_bytes(f));
    printf("%s\n", n ? "" : " none");
    fflush(stdout);
}

/* tapir_open's work, on a TAP link with faults. */
static struct tapir_host *open_with_faults(struct cli_host *h, char *msg, size_t msg_len)
{
    if (!h->reorder_us_given)
        h->faults.reorder_us = h->faults.delay_us > 10000 ? h->faults.delay_us : 10000;
    print_faults(h);
    h->fault_link = tap_fault_open(h->tap_name, &h->faults, h->cfg.seed ^ CLI_FAULT_SEED_SALT,
                                   msg, msg_len);
    if (!h->fault_link)
        return NULL;
    struct tapir_link link = tap_fault_link(h->fault_link);
    struct tapir_host *host = tapir_open_link(&h->cfg, &link);
    if (!host) {
        snprintf(msg, msg_len, "cannot start the stack: %s", strerror(errno));
        tap_fault_close(h->fault_link);
        h->fault_link = NULL;
        return NULL;
    }
    opened_with_faults.host = host;
    opened_with_faults.fault_link = h->fault_link;
    return host;
}

struct tapir_host *cli_host_open(struct cli_host *h)
{
    if (!h->seed_given && getrandom(&h->cfg.seed, sizeof(h->cfg.seed), 0) != sizeof(h->cfg.seed))
        h->cfg.seed = monotonic_us() ^ (uint64_t)getpid() << 32;
    printf("%s: seed %llu (replay with --seed %llu)\n", h->prog, (unsigned long long)h->cfg.seed,
           (unsigned long long)h->cfg.seed);
    if (h->cfg.busy_poll_us)
        printf("%s: busy-poll: the host thread spins up to %llu us after each frame\n", h->prog,
               (unsigned long long)h->cfg.busy_poll_us);
    fflush(stdout);
    if (h->pcap_path && !(h->pcap = fopen(h->pcap_path, "wb"))) {
        fprintf(stderr, "%s: cannot write --pcap %s: %s\n", h->prog, h->pcap_path,
                strerror(errno));
        return NULL;
    }
    h->cfg.pcap_out = h->pcap;
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    h->cfg.pcap_clock_offset_us =
        (int64_t)((uint64_t)wall.tv_sec * 1000000u + (uint64_t)wall.tv_nsec / 1000u) -
        (int64_t)monotonic_us();
    h->cfg.trace_out = stdout;
    char msg[256];
    struct tapir_host *host = h->faulty ? open_with_faults(h, msg, sizeof(msg))
                                        : tapir_open(&h->cfg, h->tap_name, msg, sizeof(msg));
    if (!host) {
        fprintf(stderr, "%s: %s\n", h->prog, msg);
        if (h->pcap)
            fclose(h->pcap);
        h->pcap = NULL;
        return NULL;
    }
    warn_mtu(h);
    return host;
}

void cli_host_close(struct cli_host *h, struct tapir_host *host)
{
    tapir_host_close(host);
    if (h->fault_link) {
        fault_link_forget(host);
        tap_fault_close(h->fault_link); /* the host thread that used it has stopped */
        h->fault_link = NULL;
    }
    if (h->pcap)
        fclose(h->pcap);
    h->pcap = NULL;
}

int cli_signalfd(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

struct stats_out {
    FILE *out;
    const struct tap_fault *fault_link; /* or NULL */
};

/* Under the host lock, which also serializes the fault link. */
static void print_stats(struct tapir_stack *st, void *arg)
{
    const struct stats_out *o = arg;
    tapir_stats_print(st, o->out);
    tapir_conns_print(st, o->out);
    if (o->fault_link)
        tap_fault_print(o->fault_link, o->out);
}

void cli_print_stats(struct tapir_host *host, FILE *out)
{
    struct stats_out o = {.out = out, .fault_link = fault_link_of(host)};
    tapir_host_call(host, print_stats, &o);
    fflush(out);
}

bool cli_signals(int sfd, struct tapir_host *host)
{
    struct signalfd_siginfo si;
    bool stop = false;
    while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGUSR1)
            cli_print_stats(host, stdout);
        else
            stop = true;
    }
    return stop;
}
