/* SPDX-License-Identifier: MIT */
/* sha256.h: SHA-256 (FIPS 180-4 §6.2), fed in pieces, for the file download programs to
 * print a digest the host's sha256sum can be compared with. */
#ifndef TAPIR_APPS_SHA256_H
#define TAPIR_APPS_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_LEN 32
#define SHA256_BLOCK_LEN 64
#define SHA256_HEX_LEN (2 * SHA256_DIGEST_LEN + 1) /* with the terminating NUL */

struct sha256 {
    uint32_t h[8];                   /* the hash value H(i) of FIPS 180-4 §6.2.2 */
    uint64_t len_bytes;              /* message length so far (the padding needs it in bits) */
    uint8_t block[SHA256_BLOCK_LEN]; /* a partial block waiting for more input */
    size_t block_len;
};

void sha256_init(struct sha256 *s);
/* Adds len bytes; any split of a message into updates gives the same digest. */
void sha256_update(struct sha256 *s, const void *data, size_t len);
/* Pads, finishes and writes the digest; s must be initialised again before reuse. */
void sha256_final(struct sha256 *s, uint8_t digest[SHA256_DIGEST_LEN]);
/* The digest in lower-case hex, as sha256sum prints it. */
void sha256_hex(const uint8_t digest[SHA256_DIGEST_LEN], char hex[SHA256_HEX_LEN]);

#endif
