/* SPDX-License-Identifier: MIT */
/* tcp_info.c: getsockopt(TCP_INFO) in the shape of Linux's struct tcp_info, so a program
 * written for Linux reads it unchanged. This file alone includes <netinet/tcp.h> (whose enum
 * of state names would collide with tcp.h's); it sees the connection only as the
 * tapir_conn_info that `ss -ti`-style printing uses. Units are Linux's: microseconds for
 * times, segments for cwnd and ssthresh. */
#include <netinet/tcp.h>
#include <string.h>

#include "tapir/stack.h"

size_t tcp_info_fill(const struct tapir_conn_info *i, void *out, size_t cap);

/* Linux's numbering of the states (include/net/tcp_states.h). */
static uint8_t linux_state(const char *name)
{
    static const char *const names[] = {
        "", "ESTABLISHED", "SYN_SENT", "SYN_RECEIVED", "FIN_WAIT_1", "FIN_WAIT_2",
        "TIME_WAIT", "CLOSED", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING",
    };
    for (uint8_t k = 1; k < sizeof(names) / sizeof(names[0]); k++)
        if (strcmp(names[k], name) == 0)
            return k;
    return TCP_CLOSE;
}

static uint32_t clamp32(uint64_t v) { return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v; }

size_t tcp_info_fill(const struct tapir_conn_info *i, void *out, size_t cap)
{
    struct tcp_info t;
    memset(&t, 0, sizeof(t));
    uint32_t mss = i->snd_mss ? i->snd_mss : 1;
    t.tcpi_state = linux_state(i->state);
    t.tcpi_ca_state = i->in_recovery ? TCP_CA_Recovery : i->retries ? TCP_CA_Loss : TCP_CA_Open;
    t.tcpi_retransmits = (uint8_t)(i->retries > 255 ? 255 : i->retries);
    t.tcpi_backoff = t.tcpi_retransmits;
    t.tcpi_probes = (uint8_t)(i->keepalive_probes > 255 ? 255 : i->keepalive_probes);
    t.tcpi_options = (uint8_t)((i->timestamps ? TCPI_OPT_TIMESTAMPS : 0) |
                               (i->sack ? TCPI_OPT_SACK : 0) |
                               (i->window_scaling ? TCPI_OPT_WSCALE : 0));
    t.tcpi_snd_wscale = i->snd_wscale & 0xf;
    t.tcpi_rcv_wscale = i->rcv_wscale & 0xf;
    t.tcpi_rto = clamp32(i->rto_us);
    t.tcpi_snd_mss = i->snd_mss;
    t.tcpi_rcv_mss = i->rcv_mss;
    t.tcpi_advmss = i->rcv_mss;
    t.tcpi_unacked = (i->unacked_bytes + mss - 1) / mss;
    t.tcpi_sacked = i->sacked_bytes / mss;
    t.tcpi_last_data_recv = clamp32(i->last_data_recv_ms);
    t.tcpi_rtt = clamp32(i->srtt_us);
    t.tcpi_rttvar = clamp32(i->rttvar_us);
    t.tcpi_snd_ssthresh = i->ssthresh_bytes ? i->ssthresh_bytes / mss : 0x7fffffffu;
    t.tcpi_snd_cwnd = i->cwnd_bytes / mss;
    t.tcpi_rcv_space = i->rcv_wnd;
    t.tcpi_reordering = 3;
    t.tcpi_total_retrans = clamp32(i->segs_retrans);
    size_t n = sizeof(t) < cap ? sizeof(t) : cap;
    memcpy(out, &t, n);
    return n;
}
