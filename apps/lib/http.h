/* SPDX-License-Identifier: MIT */
/* http.h: a small HTTP/1.1 server (RFC 9110 semantics, RFC 9112 messages) over the tapir
 * socket shim: GET and HEAD of static files under a directory and of pages the program makes,
 * persistent connections (keep-alive), bounded requests, no way out of the directory.
 *
 * It is a non-blocking state machine driven from the caller's poll loop, so one thread
 * serves every connection alongside whatever else it polls (the tapir host's small services):
 *
 *   struct http_server *hs = http_server_new(listen_fd, &cfg);
 *   for (;;) {
 *       unsigned n = http_poll_fill(hs, fds, room);          (plus the caller's own fds)
 *       tapir_poll(fds, n, http_poll_timeout(hs));
 *       http_poll_handle(hs, fds);
 *   }
 *
 * What it answers: 200 with Content-Length (and no body for HEAD); 301 to add the slash a
 * directory's URL needs; 400 for a malformed request or a path that tries to leave the
 * directory ("..", also %-encoded); 403 for a file it may not read; 404; 405 (with Allow)
 * for methods other than GET and HEAD; 414 for a request line, 431 for headers past the
 * bound (HTTP_REQUEST_MAX); 505 for an HTTP version other than 1.0 and 1.1.
 *
 * Bounds: at most max_conns connections (the listener is not polled while they are all in
 * use: new clients wait in the accept queue); a request must arrive whole within
 * request_ms of its first byte, a kept-alive connection may idle idle_ms between requests,
 * and a response must make progress every idle_ms, so a slow client cannot hold a
 * connection forever. */
#ifndef TAPIR_APPS_HTTP_H
#define TAPIR_APPS_HTTP_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define HTTP_REQUEST_MAX 8192 /* request line and headers, bytes */

/* A page the program makes, in answer to a path. */
struct http_page {
    int status;               /* 200, 404, ... */
    const char *content_type; /* "text/html; charset=utf-8" */
    char *body;               /* malloc'd; the server frees it */
    size_t len;
    bool no_store;            /* live content: Cache-Control: no-store */
};
/* Fills page and returns true when path (decoded, "/..." without the query) is one of the
 * program's pages; false to look for a file. Called from http_poll_handle's thread. */
typedef bool (*http_page_fn)(void *ctx, const char *path, struct http_page *page);

struct http_config {
    const char *root;         /* serve files under this directory; NULL for none */
    const char *root_prefix;  /* ...at URLs under this prefix ("/www"); NULL or "" for "/" */
    http_page_fn page;        /* pages made by the program, asked first; may be NULL */
    void *page_ctx;
    FILE *log;                /* a line per request; NULL for none */
    void (*on_accept)(int fd, void *ctx); /* each new connection, for socket options; or NULL */
    void *accept_ctx;
    unsigned max_conns;       /* 0: 64 */
    unsigned idle_ms;         /* 0: 15 s */
    unsigned request_ms;      /* 0: 10 s */
};

/* Serves on listen_fd (a listening tapir socket, which it makes non-blocking and owns from
 * now on). NULL (errno set) on failure; the listener is then closed. */
struct http_server *http_server_new(int listen_fd, const struct http_config *cfg);
/* Closes the listener and every connection. */
void http_server_free(struct http_server *s);

/* The most entries http_poll_fill may write: the listener and one per connection. */
unsigned http_poll_max(const struct http_server *s);
/* Writes the descriptors to poll into fds (at most room, which should be http_poll_max) and
 * returns how many. Between this and http_poll_handle the caller must not touch s. */
unsigned http_poll_fill(struct http_server *s, struct pollfd *fds, unsigned room);
/* Milliseconds until the next connection times out (-1: none), for the poll. */
int http_poll_timeout(const struct http_server *s);
/* Serves what the poll found ready in the entries http_poll_fill wrote, accepts new
 * connections and closes the ones that timed out. */
void http_poll_handle(struct http_server *s, const struct pollfd *fds);
/* Connections open now. */
unsigned http_connections(const struct http_server *s);

/* The Content-Type the server gives a file name: by extension, application/octet-stream
 * for any other. */
const char *http_content_type(const char *name);
/* s as HTML text (& < > " ' escaped), malloc'd and NUL-terminated; NULL when out of memory. */
char *http_html_escape(const char *s, size_t len);
/* Decodes a request target's path (RFC 3986 %XX) into out (out_len bytes, NUL-terminated)
 * and checks it stays inside the served tree: it must start with '/', and neither a NUL
 * byte nor a ".." segment may appear once decoded. Returns false otherwise. The query
 * ("?...") is dropped. */
bool http_decode_path(const char *target, size_t len, char *out, size_t out_len);

#endif
