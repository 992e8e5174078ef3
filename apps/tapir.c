/* SPDX-License-Identifier: MIT */
/* tapir.c: the demo host. Starts a stack on a TAP interface; the stack answers ARP and ping
 * on its own thread, and this program serves the classic small services through the socket
 * shim, as any application would: echo (UDP and TCP 7), discard (9), daytime (TCP 13) and
 * chargen (TCP 19), with keepalive on their TCP connections if --keepalive asks. Counters
 * print on SIGUSR1 and on exit. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "inetd.h"
#include "tapir/socket.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: tapir --tap NAME --ip ADDR/LEN [options]\n"
            "\n"
            "A user-space TCP/IP host on a Linux TAP interface. It answers ARP and ping, serves\n"
            "echo (UDP and TCP port 7), discard (9), daytime (TCP 13) and chargen (TCP 19), and\n"
            "prints its counters (netstat -s style) on SIGUSR1 and when it exits.\n"
            "\n");
    cli_host_usage(out);
    fprintf(out,
            "The services:\n"
            "  --keepalive IDLE[,INTVL[,CNT]]\n"
            "                  keepalive on every TCP connection (SO_KEEPALIVE): after IDLE\n"
            "                  seconds of silence, a probe every INTVL seconds; CNT unanswered\n"
            "                  probes drop the connection. INTVL defaults to the smaller of\n"
            "                  IDLE and 75, CNT to 9 (Linux's defaults); 1..32767 s, CNT 1..127\n"
            "                  (without it keepalive is off, as on a new socket)\n"
            "  -h, --help      this text\n"
            "\n"
            "Example (as root): scripts/tap-up tap0 && tapir --tap tap0 --ip 10.0.0.2/24 "
            "--gw 10.0.0.1\n");
}

#define KEEP_MAX_S 32767       /* Linux's MAX_TCP_KEEPIDLE and MAX_TCP_KEEPINTVL */
#define KEEPCNT_MAX 127        /* Linux's MAX_TCP_KEEPCNT */
#define KEEPINTVL_DEFAULT_S 75 /* Linux's tcp_keepalive_intvl */
#define KEEPCNT_DEFAULT 9      /* Linux's tcp_keepalive_probes */

/* "IDLE[,INTVL[,CNT]]": plain decimal numbers, each in its range. INTVL defaults to Linux's
 * 75 s, but never past a shorter IDLE: who asks for a 10 s idle wants a dead peer found in
 * tens of seconds, not after 9 x 75. */
static bool parse_keepalive(const char *arg, struct inetd_keepalive *k)
{
    static const unsigned long max[3] = {KEEP_MAX_S, KEEP_MAX_S, KEEPCNT_MAX};
    int v[3];
    int n = 0;
    for (const char *p = arg;;) {
        char *end;
        if (n == 3 || !isdigit((unsigned char)*p))
            return false;
        errno = 0;
        unsigned long x = strtoul(p, &end, 10);
        if (errno || x < 1 || x > max[n])
            return false;
        v[n++] = (int)x;
        if (*end == '\0')
            break;
        if (*end != ',')
            return false;
        p = end + 1;
    }
    k->idle_s = v[0];
    k->intvl_s = n > 1 ? v[1] : v[0] < KEEPINTVL_DEFAULT_S ? v[0] : KEEPINTVL_DEFAULT_S;
    k->cnt = n > 2 ? v[2] : KEEPCNT_DEFAULT;
    return true;
}

enum { OPT_KEEPALIVE = 0x200 };

static int services_option(int opt, const char *arg, void *ctx)
{
    struct inetd_keepalive *k = ctx;
    if (opt == OPT_KEEPALIVE && parse_keepalive(arg, k))
        return 0;
    return cli_usage_error("tapir", "--keepalive wants IDLE[,INTVL[,CNT]] in seconds, "
                           "1..32767 (CNT 1..127), such as 60 or 10,5,3, not '%s'", arg);
}

static int parse_args(int argc, char **argv, struct cli_host *h, struct inetd_keepalive *k)
{
    static const struct option opts[] = {{"keepalive", required_argument, 0, OPT_KEEPALIVE},
                                         {0, 0, 0, 0}};
    const struct cli_extra x = {.opts = opts, .on_opt = services_option, .ctx = k, .usage = usage};
    cli_host_init(h, "tapir", false);
    *k = (struct inetd_keepalive){0};
    int rc = cli_parse(h, argc, argv, &x);
    if (rc)
        return rc;
    if (optind < argc)
        return cli_usage_error("tapir", "unexpected argument '%s'", argv[optind]);
    return cli_host_finish(h);
}

int main(int argc, char **argv)
{
    struct cli_host ch;
    struct inetd_keepalive keepalive;
    int rc = parse_args(argc, argv, &ch, &keepalive);
    if (rc)
        return rc;
    int sfd = cli_signalfd(); /* before the host thread starts, so it inherits the mask */
    if (sfd < 0) {
        perror("tapir: signalfd");
        return 1;
    }
    struct tapir_host *host = cli_host_open(&ch);
    if (!host)
        return EXIT_USAGE;
    char addr[INET_ADDRSTRLEN];
    const uint8_t *mac = ch.cfg.mac;
    inet_ntop(AF_INET, &ch.cfg.addr, addr, sizeof(addr));
    printf("tapir: %s/%u on %s, mac %02x:%02x:%02x:%02x:%02x:%02x, mtu %u\n", addr,
           ch.cfg.prefix_len, ch.tap_name, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5],
           ch.cfg.mtu_bytes);
    printf("tapir: try 'ping %s', 'ping -s 65507 %s', 'arping -I %s %s';\n"
           "       echo on 7 (TCP and UDP), discard 9, daytime 13, chargen 19:\n"
           "       'nc %s 7', 'nc -u %s 7', 'nc %s 13';\n"
           "       'kill -USR1 %d' prints the counters, Ctrl-C stops\n",
           addr, addr, ch.tap_name, addr, addr, addr, addr, (int)getpid());
    if (keepalive.idle_s)
        printf("tapir: keepalive on TCP connections: idle %d s, then up to %d probes %d s "
               "apart\n",
               keepalive.idle_s, keepalive.cnt, keepalive.intvl_s);
    fflush(stdout);

    struct inetd *services = inetd_open(&keepalive);
    if (!services) {
        fprintf(stderr, "tapir: cannot open the services: %s\n", strerror(errno));
        return 1;
    }
    for (;;) {
        int rev = inetd_serve(services, sfd, -1);
        if (rev < 0 && errno != EINTR) {
            perror("tapir: poll");
            break;
        }
        if (rev > 0 && cli_signals(sfd, host))
            break;
    }
    printf("tapir: stopping\n");
    inetd_close(services);
    cli_print_stats(host, stdout);
    cli_host_close(&ch, host);
    close(sfd);
    return 0;
}
