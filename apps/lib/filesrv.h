/* SPDX-License-Identifier: MIT */
/* filesrv.h: the file download protocol of seed 002, framed with a header as seed 003's fix
 * for "sticky packets" frames messages, and the server's side of one connection.
 *
 * One request and one reply per connection. All numbers are big-endian.
 *
 *   request  (client -> server)   u16 name_len    1..FILEPROTO_NAME_MAX
 *                                 name_len bytes  the file's name, relative to the served
 *                                                 directory, '/' between components
 *   reply    (server -> client)   u8  status      'O' (FILEPROTO_OK): the file follows
 *                                                 'E' (FILEPROTO_ERR): a message follows
 *                                 u64 length      bytes that follow: the file's size, or the
 *                                                 message's (at most FILEPROTO_MSG_MAX)
 *                                 length bytes    the file, or the message (UTF-8, one line)
 *   then the server closes its side (FIN), and the client closes.
 *
 * In Python (tests/integration/file_proto.py speaks it against tapir):
 *   s.sendall(struct.pack("!H", len(name)) + name)
 *   status, length = struct.unpack("!BQ", recv_exactly(s, 9))
 *
 * Why a header: a stream has no message boundaries. The seed's server sends the file and
 * closes, so the client cannot tell a missing file from an empty one, nor a download cut
 * short from a complete one; the seed reads the whole file into memory first. With the size
 * up front the client knows when it has everything (a short download is an error), shows
 * progress, and an error has a channel of its own. The request is framed too, so a name
 * split over two segments (or followed by more bytes) is read exactly.
 *
 * What the server refuses: absolute names, any '..' component, names whose resolution
 * (symlinks included) leaves the served directory (openat2's RESOLVE_BENEATH checks this
 * in the kernel, as it opens, so a symlink swapped in between a check and the open cannot
 * slip through), and anything that is not a regular file. */
#ifndef TAPIR_APPS_FILESRV_H
#define TAPIR_APPS_FILESRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define FILEPROTO_NAME_MAX 1024
#define FILEPROTO_MSG_MAX 1024
#define FILEPROTO_REPLY_HDR_LEN 9
#define FILEPROTO_OK 'O'
#define FILEPROTO_ERR 'E'
#define FILEPROTO_DEFAULT_PORT 2020

/* How serving one connection ended. */
enum filesrv_result {
    FILESRV_SENT = 0,    /* the whole file went out */
    FILESRV_REFUSED = 1, /* the client got an error reply (no such file, refused, ...) */
    FILESRV_FAILED = -1, /* the connection failed (reset, timeout, closed early) */
};

/* Serves one connection on the tapir stream socket fd, blocking: reads the request, sends
 * the reply from root_dir, half-closes and waits (bounded) for the client to close, so our
 * close is a clean FIN rather than a reset. Streams the file in chunks, never holding it in
 * memory. Writes a line per request and per outcome to log (NULL: silent). Does not close fd;
 * safe to run in many threads at once (no shared state). */
enum filesrv_result filesrv_serve(int fd, const char *root_dir, FILE *log);

/* True when root_dir is a directory we can serve from; else false with one line in msg. */
bool filesrv_root_ok(const char *root_dir, char *msg, size_t msg_len);

/* Reads exactly len bytes from the tapir stream socket fd (SO_RCVTIMEO bounds each wait).
 * False at an error or a timeout (errno says which), or at an early end (errno 0). */
bool fileproto_recv_all(int fd, void *buf, size_t len);

/* name made printable for a message: non-printing bytes as \xNN, cut at about 200
 * characters with "...". */
void fileproto_quote(const char *name, size_t len, char *out, size_t out_len);

#endif
