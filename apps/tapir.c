/* SPDX-License-Identifier: MIT */
/* tapir.c: the demo host. Starts a stack on a TAP interface; the stack answers ARP and ping
 * on its own thread, and this program serves the classic small services through the socket
 * shim, as any application would: echo (UDP and TCP 7), discard (9), daytime (TCP 13) and
 * chargen (TCP 19). Counters print on SIGUSR1 and on exit. */
#include <arpa/inet.h>
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
            "  -h, --help      this text\n"
            "\n"
            "Example (as root): scripts/tap-up tap0 && tapir --tap tap0 --ip 10.0.0.2/24 "
            "--gw 10.0.0.1\n");
}

static int no_options(int opt, const char *arg, void *ctx)
{
    (void)opt;
    (void)arg;
    (void)ctx;
    return EXIT_USAGE; /* not reached: getopt_long knows no other option */
}

static int parse_args(int argc, char **argv, struct cli_host *h)
{
    const struct cli_extra x = {.on_opt = no_options, .usage = usage};
    cli_host_init(h, "tapir", false);
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
    int rc = parse_args(argc, argv, &ch);
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
    fflush(stdout);

    struct inetd *services = inetd_open();
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
