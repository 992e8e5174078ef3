/* SPDX-License-Identifier: MIT */
/* csum.h: the Internet checksum (RFC 1071), computed in pieces and folded at the end. */
#ifndef TAPIR_CSUM_H
#define TAPIR_CSUM_H

#include <stddef.h>
#include <stdint.h>

/* Adds len bytes at data to a running 32-bit sum. Pieces must start at even offsets of the
 * checksummed message, except the last. */
uint32_t csum_add(uint32_t sum, const void *data, size_t len_bytes);
/* Folds the sum to 16 bits and complements it: the value to put in a header. */
uint16_t csum_fold(uint32_t sum);
/* The sum of the IPv4 pseudo header that UDP (RFC 768) and TCP (RFC 9293 §3.1) checksums
 * cover: source, destination, zero, protocol, transport length. Addresses in host order. */
uint32_t csum_pseudo(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len_bytes);
/* One-shot checksum over a buffer; verifying a buffer that contains its checksum gives 0. */
static inline uint16_t csum(const void *data, size_t len_bytes)
{
    return csum_fold(csum_add(0, data, len_bytes));
}

#endif
