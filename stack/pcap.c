/* SPDX-License-Identifier: MIT */
/* pcap.c: writes every frame in and out as a classic pcap file (LINKTYPE_ETHERNET, microsecond
 * timestamps from the stack's own clock, so a simulation's capture is reproducible). */
#include <stdint.h>
#include <string.h>

#include "core.h"

#define PCAP_MAGIC 0xa1b2c3d4u
#define PCAP_LINKTYPE_ETHERNET 1u
#define PCAP_SNAPLEN 262144u

/* pcap files are written in the writer's byte order; readers detect it from the magic. */
struct pcap_file_header {
    uint32_t magic;
    uint16_t version_major, version_minor;
    int32_t thiszone;
    uint32_t sigfigs, snaplen, linktype;
};

struct pcap_record_header {
    uint32_t ts_sec, ts_usec, incl_len, orig_len;
};

void pcap_begin(struct tapir_stack *st)
{
    if (!st->cfg.pcap_out || st->pcap_started)
        return;
    struct pcap_file_header h = {PCAP_MAGIC, 2, 4, 0, 0, PCAP_SNAPLEN, PCAP_LINKTYPE_ETHERNET};
    fwrite(&h, sizeof(h), 1, st->cfg.pcap_out);
    st->pcap_started = 1;
}

void pcap_record(struct tapir_stack *st, const uint8_t *frame, size_t len_bytes)
{
    FILE *f = st->cfg.pcap_out;
    if (!f)
        return;
    pcap_begin(st);
    uint64_t t_us = st->now_us + (uint64_t)st->cfg.pcap_clock_offset_us;
    struct pcap_record_header r = {
        .ts_sec = (uint32_t)(t_us / 1000000u),
        .ts_usec = (uint32_t)(t_us % 1000000u),
        .incl_len = (uint32_t)len_bytes,
        .orig_len = (uint32_t)len_bytes,
    };
    fwrite(&r, sizeof(r), 1, f);
    fwrite(frame, 1, len_bytes, f);
}

void tapir_flush(struct tapir_stack *st)
{
    st->rx_batch = false;
    tcp_send_held_acks(st);
    if (st->cfg.pcap_out)
        fflush(st->cfg.pcap_out);
    if (st->cfg.trace_out)
        fflush(st->cfg.trace_out);
}
