/* SPDX-License-Identifier: MIT */
/* cli.h: what every tapir program shares on its command line: the flags that describe the
 * host (--tap, --ip, --gw, --mac, --mtu, --pcap, --trace, --seed, --cc, --busy-poll,
 * --mem-budget) and the faults to inject on its link (--loss, --dup, --reorder, --reorder-ms,
 * --corrupt, --delay, --rate, --queue), their checks, and starting the host they describe. */
#ifndef TAPIR_APPS_CLI_H
#define TAPIR_APPS_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "faults.h"
#include "tapir/socket.h"
#include "tapir/stack.h"

#define EXIT_USAGE 2
#define CLI_BUSY_POLL_MAX_US 1000000u /* --busy-poll: a second is already a core for nothing */
#define CLI_MEM_BUDGET_MAX_MIB 65536u /* --mem-budget: 64 GiB */

/* getopt_long entries for the host flags; their values are CLI_OPT_* (above any letter). */
enum {
    CLI_OPT_TAP = 0x100, CLI_OPT_IP, CLI_OPT_GW, CLI_OPT_MAC, CLI_OPT_MTU, CLI_OPT_PCAP,
    CLI_OPT_TRACE, CLI_OPT_SEED, CLI_OPT_LOSS, CLI_OPT_DUP, CLI_OPT_REORDER, CLI_OPT_REORDER_MS,
    CLI_OPT_CORRUPT, CLI_OPT_DELAY, CLI_OPT_RATE, CLI_OPT_QUEUE, CLI_OPT_CC, CLI_OPT_BUSY_POLL,
    CLI_OPT_MEM_BUDGET, CLI_OPT_HOST_LAST = CLI_OPT_MEM_BUDGET,
    CLI_OPT_HELP = 0x1ff, /* --help (-h is 'h') */
};
#define CLI_HOST_LONGOPTS                                                                          \
    {"tap", required_argument, 0, CLI_OPT_TAP}, {"ip", required_argument, 0, CLI_OPT_IP},        \
        {"gw", required_argument, 0, CLI_OPT_GW}, {"mac", required_argument, 0, CLI_OPT_MAC},     \
        {"mtu", required_argument, 0, CLI_OPT_MTU}, {"pcap", required_argument, 0, CLI_OPT_PCAP}, \
        {"trace", required_argument, 0, CLI_OPT_TRACE},                                            \
        {"seed", required_argument, 0, CLI_OPT_SEED},                                              \
        {"loss", required_argument, 0, CLI_OPT_LOSS}, {"dup", required_argument, 0, CLI_OPT_DUP}, \
        {"reorder", required_argument, 0, CLI_OPT_REORDER},                                        \
        {"reorder-ms", required_argument, 0, CLI_OPT_REORDER_MS},                                  \
        {"corrupt", required_argument, 0, CLI_OPT_CORRUPT},                                        \
        {"delay", required_argument, 0, CLI_OPT_DELAY},                                            \
        {"rate", required_argument, 0, CLI_OPT_RATE},                                              \
        {"queue", required_argument, 0, CLI_OPT_QUEUE},                                            \
        {"cc", required_argument, 0, CLI_OPT_CC},                                                  \
        {"busy-poll", required_argument, 0, CLI_OPT_BUSY_POLL},                                    \
        {"mem-budget", required_argument, 0, CLI_OPT_MEM_BUDGET}

struct cli_host {
    const char *prog;          /* for messages: "udp_client: ..." */
    const char *tap_name;
    const char *pcap_path;
    bool have_ip, seed_given;
    struct tapir_config cfg;
    FILE *pcap;
    bool faulty;               /* a fault flag was given: the host runs on a tap_fault link */
    bool reorder_us_given;     /* --reorder-ms; else max(--delay, 10 ms) */
    struct faults faults;
    struct tap_fault *fault_link;
};

/* Defaults: MAC 02:74:61:70:69:72 ("tapir"), MTU 1500; with demo_defaults also tap0 and
 * 10.0.0.2/24, so a demo runs with no flags at all. */
void cli_host_init(struct cli_host *h, const char *prog, bool demo_defaults);
/* A program's own options, beside the host flags and -h/--help. */
struct cli_extra {
    const struct option *opts;  /* ends with a zero entry; values above 0x1ff */
    const char *shortopts;      /* getopt letters such as "c:i:" (ping's), or NULL; not 'h' */
    int (*on_opt)(int opt, const char *arg, void *ctx); /* 0, or an exit status; opt is the
                                                         * long option's value or the letter */
    void *ctx;
    void (*usage)(FILE *out);   /* for --help, which then exits 0 */
};
/* Parses argv with getopt_long: the host flags, the program's own, --help. Positional
 * arguments are left from argv[optind]. Returns 0, or EXIT_USAGE after one line on stderr. */
int cli_parse(struct cli_host *h, int argc, char **argv, const struct cli_extra *x);

/* The demo servers' command line: host flags, --port N, --quiet. */
struct cli_server {
    struct cli_host host;
    uint16_t port;
    bool quiet;
};
int cli_parse_server_cmdline(struct cli_server *o, const char *prog, uint16_t default_port,
                             int argc, char **argv, void (*usage)(FILE *out));

/* The demo clients' command line: host flags, --timeout MS, with_connect: --connect, then
 * SERVER PORT. */
struct cli_client {
    struct cli_host host;
    struct sockaddr_in server;
    uint64_t timeout_ms;
    bool connect;
};
int cli_parse_client_cmdline(struct cli_client *o, const char *prog, uint64_t default_timeout_ms,
                             bool with_connect, int argc, char **argv, void (*usage)(FILE *out));

/* Handles one host flag from getopt_long. Returns 0, or EXIT_USAGE after printing one line. */
int cli_host_option(struct cli_host *h, int opt, const char *arg);
/* After the loop: the checks that need every flag (required ones, gateway on the subnet). */
int cli_host_finish(struct cli_host *h);
/* The host flags' lines for --help. */
void cli_host_usage(FILE *out);
/* Prints "PROG: ..." and the --help hint on stderr; returns EXIT_USAGE. */
int cli_usage_error(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Draws a seed unless --seed gave one and prints it; opens the pcap file; starts the host,
 * on a link with faults (drivers/tap_fault.c) when a fault flag was given. The faults' PRNG
 * is seeded with the stack's seed ^ CLI_FAULT_SEED_SALT, so --seed replays both (as far as
 * real time allows: the draws follow the frames in the order they come). On failure prints
 * one line and returns NULL. */
struct tapir_host *cli_host_open(struct cli_host *h);
#define CLI_FAULT_SEED_SALT 0x6661756c7473ull /* "faults" */
/* Closes the host, its fault link and the pcap file. */
void cli_host_close(struct cli_host *h, struct tapir_host *host);
/* Prints the host's counters (tapir_stats_print), its connections and, on a link with
 * faults, the faults' counters (a "Faults:" block). */
void cli_print_stats(struct tapir_host *host, FILE *out);

/* Parses "ADDR" and "PORT" into an AF_INET address. False for a bad one. */
bool cli_parse_addr(const char *addr, const char *port, struct sockaddr_in *out);
bool cli_parse_u64(const char *s, uint64_t *out);
/* Seconds as a plain decimal number (2, 0.5, .25; no sign or exponent), at most max_s, into
 * microseconds. False for anything else. */
bool cli_parse_seconds(const char *s, double max_s, uint64_t *us);
/* A client's --timeout MS (1 ms to an hour). 0, or EXIT_USAGE after one line. */
int cli_parse_timeout(const char *prog, const char *arg, uint64_t *timeout_ms);
/* A client's two positional arguments, SERVER PORT, from argv[optind]. 0 or EXIT_USAGE. */
int cli_parse_server(const char *prog, int argc, char **argv, struct sockaddr_in *server);

/* A signalfd for SIGINT, SIGTERM and SIGUSR1 (blocked first, before the host thread starts,
 * so it inherits the mask). Poll it with tapir_poll alongside tapir sockets. */
int cli_signalfd(void);
/* Reads the pending signals: true when one asks the program to stop. SIGUSR1 prints the
 * host's counters (cli_print_stats). */
bool cli_signals(int sfd, struct tapir_host *host);

#endif
