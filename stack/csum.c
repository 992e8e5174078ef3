/* SPDX-License-Identifier: MIT */
/* csum.c: the Internet checksum of RFC 1071 (one's complement sum of 16-bit words). */
#include "csum.h"

#include <string.h>

#include "bytes.h"

/* A 16-bit one's complement sum, folded from a wide one. */
static uint32_t fold16(uint64_t acc)
{
    while (acc >> 16)
        acc = (acc & 0xffffu) + (acc >> 16);
    return (uint32_t)acc;
}

uint32_t csum_add(uint32_t sum, const void *data, size_t len_bytes)
{
    /* RFC 1071 §2(B): the one's complement sum does not depend on byte order, and §2(C):
     * it can be taken in wider words. So native 32-bit words go into two 64-bit
     * accumulators (no carry is lost before 2^32 words; two let the adds overlap), the
     * total is folded to 16 bits, and only that is put in network order. This runs over
     * every byte twice (sent and received): it was a third of the stack's cost taken two
     * bytes at a time. */
    const uint8_t *p = data;
    uint64_t a0 = 0, a1 = 0;
    for (; len_bytes >= 16; p += 16, len_bytes -= 16) {
        uint32_t w[4];
        memcpy(w, p, sizeof(w));
        a0 += (uint64_t)w[0] + w[1];
        a1 += (uint64_t)w[2] + w[3];
    }
    for (; len_bytes >= 4; p += 4, len_bytes -= 4) {
        uint32_t w;
        memcpy(&w, p, sizeof(w));
        a0 += w;
    }
    uint8_t tail[4] = {0, 0, 0, 0}; /* an odd final byte is padded with zero (RFC 1071) */
    memcpy(tail, p, len_bytes);
    uint32_t w;
    memcpy(&w, tail, sizeof(w));
    uint32_t s = fold16(a0 + a1 + w);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    s = (s >> 8 | s << 8) & 0xffffu; /* the sum of swapped words is the swapped sum */
#endif
    return fold16((uint64_t)sum + s);
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
