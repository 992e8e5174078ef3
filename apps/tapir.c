/* SPDX-License-Identifier: MIT */
/* tapir.c: the demo host. Starts a stack on a TAP interface; the stack answers ARP and ping
 * on its own thread, and this program serves its services through the socket shim, as any
 * application would: echo (UDP and TCP 7), discard (9), daytime (TCP 13), chargen (TCP 19),
 * HTTP (TCP 80: a page of the live counters and connections, and the files of --www DIR),
 * and with --files DIR the file download service (TCP 2020), with keepalive on their TCP
 * connections if --keepalive asks. Counters print on SIGUSR1 and on exit. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "filesrv.h"
#include "http.h"
#include "inetd.h"
#include "tapir/socket.h"

#define HTTP_PORT 80
#define STATUS_REFRESH_S 2 /* the status page reloads itself this often in a browser */

/* What the command line asks of the services. */
struct services_opts {
    struct inetd_keepalive keepalive;
    const char *www_dir;   /* --www */
    const char *files_dir; /* --files */
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: tapir --tap NAME --ip ADDR/LEN [options]\n"
            "\n"
            "A user-space TCP/IP host on a Linux TAP interface. It answers ARP and ping, serves\n"
            "echo (UDP and TCP port 7), discard (9), daytime (TCP 13), chargen (TCP 19) and\n"
            "HTTP (TCP 80: its live counters and connections at /, as text at /stats.txt),\n"
            "and prints its counters (netstat -s style) on SIGUSR1 and when it exits.\n"
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
            "  --www DIR       HTTP also serves the files under DIR, at http://ADDR/www/\n"
            "  --files DIR     the file download service on TCP %d serves the files under DIR\n"
            "                  (the protocol of file_server and file_client)\n"
            "  -h, --help      this text\n"
            "\n"
            "Example (as root): scripts/tap-up tap0 && tapir --tap tap0 --ip 10.0.0.2/24 "
            "--gw 10.0.0.1\n",
            FILEPROTO_DEFAULT_PORT);
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

enum { OPT_KEEPALIVE = 0x200, OPT_WWW, OPT_FILES };

static int services_option(int opt, const char *arg, void *ctx)
{
    struct services_opts *o = ctx;
    struct stat st;
    char msg[256];
    switch (opt) {
    case OPT_KEEPALIVE:
        if (parse_keepalive(arg, &o->keepalive))
            return 0;
        return cli_usage_error("tapir", "--keepalive wants IDLE[,INTVL[,CNT]] in seconds, "
                               "1..32767 (CNT 1..127), such as 60 or 10,5,3, not '%s'", arg);
    case OPT_WWW:
        if (stat(arg, &st) < 0 || !S_ISDIR(st.st_mode))
            return cli_usage_error("tapir", "--www %s is not a directory", arg);
        o->www_dir = arg;
        return 0;
    case OPT_FILES:
        if (!filesrv_root_ok(arg, msg, sizeof(msg)))
            return cli_usage_error("tapir", "--files: %s", msg);
        o->files_dir = arg;
        return 0;
    default: return cli_usage_error("tapir", "internal: unknown option %d", opt);
    }
}

static int parse_args(int argc, char **argv, struct cli_host *h, struct services_opts *o)
{
    static const struct option opts[] = {{"keepalive", required_argument, 0, OPT_KEEPALIVE},
                                         {"www", required_argument, 0, OPT_WWW},
                                         {"files", required_argument, 0, OPT_FILES},
                                         {0, 0, 0, 0}};
    const struct cli_extra x = {.opts = opts, .on_opt = services_option, .ctx = o, .usage = usage};
    cli_host_init(h, "tapir", false);
    *o = (struct services_opts){0};
    int rc = cli_parse(h, argc, argv, &x);
    if (rc)
        return rc;
    if (optind < argc)
        return cli_usage_error("tapir", "unexpected argument '%s'", argv[optind]);
    return cli_host_finish(h);
}

/* The HTTP status page: what SIGUSR1 prints (every counter, the connection table, the
 * faults), read under the host lock at each request, so reloading shows live numbers. */
struct status_page {
    struct tapir_host *host;
    const struct cli_host *ch;
    uint64_t started_s;
    bool www;
};

static uint64_t monotonic_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec;
}

/* One line about the host: address, link, uptime. */
static void print_host_line(const struct status_page *sp, FILE *f)
{
    char addr[INET_ADDRSTRLEN];
    const uint8_t *mac = sp->ch->cfg.mac;
    inet_ntop(AF_INET, &sp->ch->cfg.addr, addr, sizeof(addr));
    fprintf(f, "tapir %s/%u on %s, mac %02x:%02x:%02x:%02x:%02x:%02x, mtu %u, up %llu s\n", addr,
            sp->ch->cfg.prefix_len, sp->ch->tap_name, mac[0], mac[1], mac[2], mac[3], mac[4],
            mac[5], sp->ch->cfg.mtu_bytes, (unsigned long long)(monotonic_s() - sp->started_s));
}

/* The counters as text: the host line, then cli_print_stats's blocks. NULL on failure. */
static char *stats_text(const struct status_page *sp, size_t *len)
{
    char *text = NULL;
    FILE *f = open_memstream(&text, len);
    if (!f)
        return NULL;
    print_host_line(sp, f);
    fprintf(f, "\n");
    cli_print_stats(sp->host, f);
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

/* text (escaped) into f, between <pre> and </pre>. */
static bool print_pre(FILE *f, const char *text, size_t len)
{
    char *escaped = http_html_escape(text, len);
    if (!escaped)
        return false;
    fprintf(f, "<pre>\n%s</pre>\n", escaped);
    free(escaped);
    return true;
}

/* The same text in a page a browser reloads by itself, the connection table first: it is
 * what changes most as one watches. */
static char *stats_html(const struct status_page *sp, const char *text, size_t text_len,
                        size_t *len)
{
    const char *conns = strstr(text, "\nConnections:\n"), *faults = NULL;
    if (conns)
        faults = strstr(++conns, "\nFaults:\n");
    const char *conns_end = faults ? faults + 1 : text + text_len;
    char *html = NULL;
    FILE *f = open_memstream(&html, len);
    if (!f)
        return NULL;
    char addr[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &sp->ch->cfg.addr, addr, sizeof(addr));
    fprintf(f,
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\n"
            "<meta http-equiv=\"refresh\" content=\"%d\">\n<title>tapir %s</title></head>\n"
            "<body><h1>tapir %s</h1>\n"
            "<p>The stack's connections and counters, live: this page reloads every %d s. "
            "<a href=\"/stats.txt\">As text</a>%s.</p>\n",
            STATUS_REFRESH_S, addr, addr, STATUS_REFRESH_S,
            sp->www ? "; <a href=\"/www/\">the files of --www</a>" : "");
    bool ok = true;
    if (conns) {
        ok = print_pre(f, conns, (size_t)(conns_end - conns)) && ok;
        ok = print_pre(f, text, (size_t)(conns - text)) && ok; /* the host line, the counters */
        if (faults) /* the link's faults, when it has some */
            ok = print_pre(f, conns_end, (size_t)(text + text_len - conns_end)) && ok;
    } else {
        ok = print_pre(f, text, text_len);
    }
    fprintf(f, "</body></html>\n");
    if (fclose(f) != 0 || !ok) {
        free(html);
        return NULL;
    }
    return html;
}

static bool status_page(void *ctx, const char *path, struct http_page *page)
{
    const struct status_page *sp = ctx;
    bool html = strcmp(path, "/") == 0;
    if (!html && strcmp(path, "/stats.txt") != 0)
        return false;
    size_t len = 0;
    char *text = stats_text(sp, &len);
    page->no_store = true;
    page->status = 200;
    if (text && html) {
        char *h = stats_html(sp, text, len, &len);
        free(text);
        text = h;
    }
    if (!text) {
        *page = (struct http_page){.status = 500};
        return true;
    }
    page->content_type = html ? "text/html; charset=utf-8" : "text/plain; charset=utf-8";
    page->body = text;
    page->len = len;
    return true;
}

/* HOOK: the file download service (seed 002's protocol, apps/lib/filesrv.c) as one of
 * inetd's blocking services, a thread per connection. filesrv_serve leaves fd open; inetd
 * closes it. */
static int files_serve(int fd, const char *root, FILE *log)
{
    return (int)filesrv_serve(fd, root, log);
}

/* The banner: how to reach each service from the host. */
static void print_banner(const struct cli_host *ch, const struct services_opts *o)
{
    char addr[INET_ADDRSTRLEN];
    const uint8_t *mac = ch->cfg.mac;
    inet_ntop(AF_INET, &ch->cfg.addr, addr, sizeof(addr));
    printf("tapir: %s/%u on %s, mac %02x:%02x:%02x:%02x:%02x:%02x, mtu %u\n", addr,
           ch->cfg.prefix_len, ch->tap_name, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5],
           ch->cfg.mtu_bytes);
    printf("tapir: try 'ping %s', 'ping -s 65507 %s', 'arping -I %s %s';\n"
           "       echo on 7 (TCP and UDP), discard 9, daytime 13, chargen 19:\n"
           "       'nc %s 7', 'nc -u %s 7', 'nc %s 13';\n"
           "       HTTP on 80, the live counters and connections (or a browser):\n"
           "       'curl http://%s/', 'curl http://%s/stats.txt'",
           addr, addr, ch->tap_name, addr, addr, addr, addr, addr, addr);
    if (o->www_dir)
        printf(",\n       the files of %s: 'curl http://%s/www/'", o->www_dir, addr);
    printf(";\n");
    if (o->files_dir)
        printf("       file downloads from %s on %d: "
               "'python3 tests/integration/file_proto.py get %s %d NAME';\n",
               o->files_dir, FILEPROTO_DEFAULT_PORT, addr, FILEPROTO_DEFAULT_PORT);
    printf("       'kill -USR1 %d' prints the counters, Ctrl-C stops\n", (int)getpid());
    if (o->keepalive.idle_s)
        printf("tapir: keepalive on TCP connections: idle %d s, then up to %d probes %d s "
               "apart\n",
               o->keepalive.idle_s, o->keepalive.cnt, o->keepalive.intvl_s);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    struct cli_host ch;
    struct services_opts opts;
    int rc = parse_args(argc, argv, &ch, &opts);
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
    print_banner(&ch, &opts);

    struct status_page sp = {.host = host, .ch = &ch, .started_s = monotonic_s(),
                             .www = opts.www_dir != NULL};
    const struct inetd_config cfg = {
        .keepalive = opts.keepalive, .log = stdout,
        .http_port = HTTP_PORT, .http_page = status_page, .http_page_ctx = &sp,
        .www_dir = opts.www_dir,
        .conn_port = opts.files_dir ? FILEPROTO_DEFAULT_PORT : 0,
        .conn_serve = files_serve, .conn_root = opts.files_dir};
    struct inetd *services = inetd_open(&cfg);
    if (!services) {
        fprintf(stderr, "tapir: cannot open the services: %s\n", strerror(errno));
        cli_host_close(&ch, host);
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
