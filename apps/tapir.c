/* SPDX-License-Identifier: MIT */
/* tapir.c: the demo host. Attaches a stack to a TAP interface and answers ARP and ping; prints
 * its counters on SIGUSR1 and on exit. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"
#include "tapir/sock.h"
#include "tapir/stack.h"

#define EXIT_USAGE 2

struct options {
    const char *tap_name;
    const char *pcap_path;
    bool seed_given;
    struct tapir_config cfg;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: tapir --tap NAME --ip ADDR/LEN [options]\n"
            "\n"
            "A user-space TCP/IP host on a Linux TAP interface. It answers ARP and ping, serves\n"
            "UDP echo (port 7) and discard (port 9), and prints its counters (netstat -s style)\n"
            "on SIGUSR1 and when it exits.\n"
            "\n"
            "  --tap NAME      TAP interface to attach to; it must exist (scripts/tap-up makes it)\n"
            "  --ip ADDR/LEN   our address and subnet, e.g. 10.0.0.2/24\n"
            "  --gw ADDR       gateway for addresses off the subnet, e.g. 10.0.0.1 (default none)\n"
            "  --mac MAC       our Ethernet address (default 02:74:61:70:69:72)\n"
            "  --mtu BYTES     IP MTU, 68..9000 (default 1500)\n"
            "  --pcap FILE     write every frame in and out to FILE (pcap; tshark, Wireshark)\n"
            "  --trace LIST    print a line per event for the layers in LIST: eth,arp,ip,icmp,udp\n"
            "                  or all\n"
            "  --seed N        seed the PRNG (IP IDs, later ISNs and ports) to replay a run;\n"
            "                  by default a random seed is drawn and printed\n"
            "  -h, --help      this text\n"
            "\n"
            "Example (as root): scripts/tap-up tap0 && tapir --tap tap0 --ip 10.0.0.2/24 "
            "--gw 10.0.0.1\n");
}

static int fail_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "tapir: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see tapir --help)\n");
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

static bool parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end || !*s || *s == '-')
        return false;
    *out = v;
    return true;
}

static bool on_link(const struct tapir_config *cfg, struct in_addr a)
{
    uint32_t mask = cfg->prefix_len ? ~0u << (32 - cfg->prefix_len) : 0;
    return ((ntohl(a.s_addr) ^ ntohl(cfg->addr.s_addr)) & mask) == 0;
}

/* Returns 0, or the exit status for a bad command line. */
static int parse_args(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"tap", required_argument, 0, 't'},  {"ip", required_argument, 0, 'i'},
        {"gw", required_argument, 0, 'g'},   {"mac", required_argument, 0, 'm'},
        {"mtu", required_argument, 0, 'M'},  {"pcap", required_argument, 0, 'p'},
        {"trace", required_argument, 0, 'T'}, {"seed", required_argument, 0, 's'},
        {"help", no_argument, 0, 'h'},       {0, 0, 0, 0},
    };
    static const uint8_t default_mac[6] = {0x02, 0x74, 0x61, 0x70, 0x69, 0x72}; /* "tapir" */
    bool have_ip = false;
    uint64_t v;
    tapir_config_defaults(&o->cfg);
    memcpy(o->cfg.mac, default_mac, 6);
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 't': o->tap_name = optarg; break;
        case 'i':
            if (!parse_prefix(optarg, &o->cfg.addr, &o->cfg.prefix_len))
                return fail_usage("--ip wants ADDR/LEN such as 10.0.0.2/24, not '%s'", optarg);
            have_ip = true;
            break;
        case 'g':
            if (inet_pton(AF_INET, optarg, &o->cfg.gateway) != 1)
                return fail_usage("--gw wants an IPv4 address such as 10.0.0.1, not '%s'", optarg);
            break;
        case 'm':
            if (!parse_mac(optarg, o->cfg.mac))
                return fail_usage("--mac wants a unicast MAC such as 02:00:00:00:00:02, not '%s'",
                                  optarg);
            break;
        case 'M':
            if (!parse_u64(optarg, &v) || v < 68 || v > 9000)
                return fail_usage("--mtu wants a number from 68 to 9000, not '%s'", optarg);
            o->cfg.mtu_bytes = (unsigned)v;
            break;
        case 'p': o->pcap_path = optarg; break;
        case 'T':
            if (tapir_trace_parse(optarg, &o->cfg.trace_mask) < 0)
                return fail_usage("--trace wants a list of eth,arp,ip,icmp,udp or all, not '%s'",
                                  optarg);
            break;
        case 's':
            if (!parse_u64(optarg, &o->cfg.seed))
                return fail_usage("--seed wants a non-negative number, not '%s'", optarg);
            o->seed_given = true;
            break;
        case 'h': usage(stdout); exit(0);
        case ':': return fail_usage("%s needs a value", argv[optind - 1]);
        default: return fail_usage("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return fail_usage("unexpected argument '%s'", argv[optind]);
    if (!o->tap_name)
        return fail_usage("%s", "--tap NAME is required, e.g. --tap tap0");
    if (!have_ip)
        return fail_usage("%s", "--ip ADDR/LEN is required, e.g. --ip 10.0.0.2/24");
    if (o->cfg.gateway.s_addr && !on_link(&o->cfg, o->cfg.gateway))
        return fail_usage("--gw %s is not on the subnet given by --ip", inet_ntoa(o->cfg.gateway));
    return 0;
}

static uint64_t monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int open_signalfd(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

/* Returns true when the program should stop. */
static bool handle_signals(int sfd, struct tapir_stack *st)
{
    struct signalfd_siginfo si;
    bool stop = false;
    while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGUSR1)
            tapir_stats_print(st, stdout);
        else
            stop = true;
    }
    return stop;
}

/* The classic inetd services over UDP (RFC 862 echo, RFC 863 discard), served through the
 * core's own socket calls. */
struct services {
    struct tapir_sock *echo, *discard;
    uint8_t buf[65536];
};

static int open_service(struct tapir_stack *st, uint16_t port, struct tapir_sock **out)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    int rc = tapir_sock_open(st, SOCK_DGRAM, 0, out);
    if (rc == 0 && (rc = tapir_sock_bind(*out, &sa)) < 0)
        tapir_sock_close(*out);
    return rc;
}

static void serve(struct services *sv)
{
    struct sockaddr_in from;
    ssize_t n;
    while ((n = tapir_sock_recvfrom(sv->echo, sv->buf, sizeof(sv->buf), 0, &from, NULL)) >= 0)
        tapir_sock_sendto(sv->echo, sv->buf, (size_t)n, 0, &from); /* a failed echo is lost */
    while (tapir_sock_recvfrom(sv->discard, sv->buf, sizeof(sv->buf), 0, NULL, NULL) >= 0)
        ;
}

/* The driver loop: sleep in poll() until a frame arrives or the next timer is due. */
static void run(struct tap_dev *tap, struct tapir_stack *st, struct services *sv, int sfd,
                bool flush_each_wakeup)
{
    struct pollfd fds[2] = {{.fd = tap->fd, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
    for (;;) {
        uint64_t now = monotonic_us(), deadline = tapir_next_deadline(st);
        struct timespec ts, *timeout = NULL;
        if (deadline != UINT64_MAX) {
            uint64_t wait_us = deadline > now ? deadline - now : 0;
            ts.tv_sec = (time_t)(wait_us / 1000000u);
            ts.tv_nsec = (long)(wait_us % 1000000u) * 1000;
            timeout = &ts;
        }
        if (ppoll(fds, 2, timeout, NULL) < 0 && errno != EINTR) {
            perror("tapir: poll");
            return;
        }
        now = monotonic_us();
        if (fds[0].revents & (POLLERR | POLLHUP | POLLNVAL)) {
            fprintf(stderr, "tapir: %s went away\n", tap->name);
            return;
        }
        if (fds[0].revents & POLLIN)
            tap_receive(tap, st, now);
        tapir_timers(st, monotonic_us());
        serve(sv);
        if (flush_each_wakeup)
            tapir_flush(st);
        if ((fds[1].revents & POLLIN) && handle_signals(sfd, st))
            return;
    }
}

int main(int argc, char **argv)
{
    struct options o = {0};
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc;
    if (!o.seed_given && getrandom(&o.cfg.seed, sizeof(o.cfg.seed), 0) != sizeof(o.cfg.seed))
        o.cfg.seed = monotonic_us() ^ (uint64_t)getpid() << 32;
    printf("tapir: seed %llu (replay with --seed %llu)\n", (unsigned long long)o.cfg.seed,
           (unsigned long long)o.cfg.seed);
    fflush(stdout);

    char msg[256];
    struct tap_dev tap;
    if (tap_open(&tap, o.tap_name, msg, sizeof(msg)) < 0) {
        fprintf(stderr, "tapir: %s\n", msg);
        return EXIT_USAGE;
    }
    int kernel_mtu = tap_kernel_mtu(&tap);
    if (kernel_mtu > 0 && (unsigned)kernel_mtu != o.cfg.mtu_bytes)
        fprintf(stderr, "tapir: warning: %s has MTU %d but tapir uses %u; set them equal\n",
                tap.name, kernel_mtu, o.cfg.mtu_bytes);
    FILE *pcap = NULL;
    if (o.pcap_path && !(pcap = fopen(o.pcap_path, "wb"))) {
        fprintf(stderr, "tapir: cannot write --pcap %s: %s\n", o.pcap_path, strerror(errno));
        return EXIT_USAGE;
    }
    o.cfg.pcap_out = pcap;
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    o.cfg.pcap_clock_offset_us =
        (int64_t)((uint64_t)wall.tv_sec * 1000000u + (uint64_t)wall.tv_nsec / 1000u) -
        (int64_t)monotonic_us();
    o.cfg.trace_out = stdout;
    struct tapir_driver drv = {.send = tap_send, .ctx = &tap};
    struct tapir_stack *st = tapir_stack_new(&o.cfg, &drv);
    int sfd = open_signalfd();
    if (!st || sfd < 0) {
        fprintf(stderr, "tapir: cannot start: %s\n", strerror(errno));
        return 1;
    }
    char addr[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &o.cfg.addr, addr, sizeof(addr));
    printf("tapir: %s/%u on %s, mac %02x:%02x:%02x:%02x:%02x:%02x, mtu %u\n", addr,
           o.cfg.prefix_len, tap.name, o.cfg.mac[0], o.cfg.mac[1], o.cfg.mac[2], o.cfg.mac[3],
           o.cfg.mac[4], o.cfg.mac[5], o.cfg.mtu_bytes);
    printf("tapir: try 'ping %s', 'ping -s 65507 %s', 'arping -I %s %s';\n"
           "       UDP echo on port 7 and discard on 9: 'nc -u %s 7';\n"
           "       'kill -USR1 %d' prints the counters, Ctrl-C stops\n",
           addr, addr, tap.name, addr, addr, (int)getpid());
    fflush(stdout);

    static struct services sv;
    if (open_service(st, 7, &sv.echo) < 0 || open_service(st, 9, &sv.discard) < 0) {
        fprintf(stderr, "tapir: cannot open the UDP services\n");
        return 1;
    }
    tapir_start(st, monotonic_us());
    run(&tap, st, &sv, sfd, pcap != NULL || o.cfg.trace_mask);
    printf("tapir: stopping\n");
    tapir_stats_print(st, stdout);
    tapir_stack_free(st);
    if (pcap)
        fclose(pcap);
    tap_close(&tap);
    close(sfd);
    return 0;
}
