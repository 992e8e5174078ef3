/* SPDX-License-Identifier: MIT */
/* tapir.c: the demo host. Starts a stack on a TAP interface; the stack answers ARP and ping
 * on its own thread, and this program serves UDP echo (RFC 862) and discard (RFC 863) through
 * the socket shim, as any application would. Counters print on SIGUSR1 and on exit. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "tapir/socket.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: tapir --tap NAME --ip ADDR/LEN [options]\n"
            "\n"
            "A user-space TCP/IP host on a Linux TAP interface. It answers ARP and ping, serves\n"
            "UDP echo (port 7) and discard (port 9), and prints its counters (netstat -s style)\n"
            "on SIGUSR1 and when it exits.\n"
            "\n");
    cli_host_usage(out);
    fprintf(out,
            "  -h, --help      this text\n"
            "\n"
            "Example (as root): scripts/tap-up tap0 && tapir --tap tap0 --ip 10.0.0.2/24 "
            "--gw 10.0.0.1\n");
}

static int parse_args(int argc, char **argv, struct cli_host *h)
{
    static const struct option longopts[] = {
        CLI_HOST_LONGOPTS, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    cli_host_init(h, "tapir", false);
    opterr = 0;
    int c, rc;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 'h': usage(stdout); exit(0);
        case ':': return cli_usage_error("tapir", "%s needs a value", argv[optind - 1]);
        case '?': return cli_usage_error("tapir", "unknown option '%s'", argv[optind - 1]);
        default:
            if ((rc = cli_host_option(h, c, optarg)) != 0)
                return rc;
        }
    }
    if (optind < argc)
        return cli_usage_error("tapir", "unexpected argument '%s'", argv[optind]);
    return cli_host_finish(h);
}

/* A UDP socket bound to port on every address, non-blocking: the loop below polls. */
static int open_service(uint16_t port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    int fd = tapir_socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (fd >= 0 && tapir_bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        tapir_close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* Echo: every datagram goes back to its sender, unchanged; discard: read and forget. */
static void serve(int echo_fd, int discard_fd, uint8_t *buf, size_t cap)
{
    struct sockaddr_in from;
    socklen_t from_len = sizeof(from);
    ssize_t n;
    while ((n = tapir_recvfrom(echo_fd, buf, cap, 0, (struct sockaddr *)&from, &from_len)) >= 0) {
        tapir_sendto(echo_fd, buf, (size_t)n, 0, (struct sockaddr *)&from, from_len);
        from_len = sizeof(from); /* a failed echo is lost, as the service allows */
    }
    while (tapir_recv(discard_fd, buf, cap, 0) >= 0)
        ;
}

static void print_stats(struct tapir_stack *st, void *arg) { tapir_stats_print(st, arg); }

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
           "       UDP echo on port 7 and discard on 9: 'nc -u %s 7';\n"
           "       'kill -USR1 %d' prints the counters, Ctrl-C stops\n",
           addr, addr, ch.tap_name, addr, addr, (int)getpid());
    fflush(stdout);

    int echo_fd = open_service(7), discard_fd = open_service(9);
    if (echo_fd < 0 || discard_fd < 0) {
        fprintf(stderr, "tapir: cannot open the UDP services: %s\n", strerror(errno));
        return 1;
    }
    static uint8_t buf[65536];
    struct pollfd fds[3] = {{.fd = sfd, .events = POLLIN},
                            {.fd = echo_fd, .events = POLLIN},
                            {.fd = discard_fd, .events = POLLIN}};
    for (;;) {
        if (tapir_poll(fds, 3, -1) < 0 && errno != EINTR) {
            perror("tapir: poll");
            break;
        }
        serve(echo_fd, discard_fd, buf, sizeof(buf));
        if ((fds[0].revents & POLLIN) && cli_signals(sfd, host))
            break;
    }
    printf("tapir: stopping\n");
    tapir_close(echo_fd);
    tapir_close(discard_fd);
    tapir_host_call(host, print_stats, stdout);
    fflush(stdout);
    cli_host_close(&ch, host);
    close(sfd);
    return 0;
}
