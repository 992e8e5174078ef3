/* SPDX-License-Identifier: MIT */
/* csum.c: the Internet checksum of RFC 1071 (one's complement sum of 16-bit words). */
#include "csum.h"

#include "bytes.h"

uint32_t csum_add(uint32_t sum, const void *data, size_t len_bytes)
{
    const uint8_t *p = data;
    uint64_t acc = sum;

    /* RFC 1071 §2(B): the sum is independent of byte order, so adding big-endian pairs
     * into a wide accumulator and folding the carries later gives the same answer. */
    while (len_bytes >= 2) {
        acc += (uint32_t)(p[0] << 8 | p[1]);
        p += 2;
        len_bytes -= 2;
    }
    if (len_bytes)
        acc += (uint32_t)p[0] << 8; /* an odd final byte is padded with zero */
    while (acc >> 32)
        acc = (acc & 0xffffffffu) + (acc >> 32);
    return (uint32_t)acc;
}

uint16_t csum_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffffu) + (sum >> 16);
    return (uint16_t)~sum;
}

uint32_t csum_pseudo(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len_bytes)
{
    uint8_t ph[12];
    put_be32(ph, src);
    put_be32(ph + 4, dst);
    ph[8] = 0;
    ph[9] = proto;
    put_be16(ph + 10, len_bytes);
    return csum_add(0, ph, sizeof(ph));
}
