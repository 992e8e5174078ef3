/* SPDX-License-Identifier: MIT */
/* tapir/stack.h: one stack instance, its configuration, its three entry points and its counters. */
#ifndef TAPIR_STACK_H
#define TAPIR_STACK_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct tapir_stack;

/* Where frames go out. The stack calls send() once per frame, synchronously; the frame is only
 * valid during the call. A negative return (a negative errno) is counted as a transmit error. */
struct tapir_driver {
    int (*send)(void *ctx, const void *frame, size_t len_bytes);
    void *ctx;
};

/* What --trace turns on: one bit per layer. */
enum tapir_trace_bit {
    TAPIR_TRACE_ETH = 1u << 0,
    TAPIR_TRACE_ARP = 1u << 1,
    TAPIR_TRACE_IP = 1u << 2,
    TAPIR_TRACE_ICMP = 1u << 3,
    TAPIR_TRACE_UDP = 1u << 4,
    TAPIR_TRACE_TCP = 1u << 5,
    TAPIR_TRACE_ALL = 0x3fu,
};

struct tapir_config {
    uint8_t mac[6];             /* our Ethernet address */
    struct in_addr addr;        /* our IPv4 address (network byte order, as libc keeps it) */
    unsigned prefix_len;        /* on-link subnet: 10.0.0.2/24 has prefix_len 24 */
    struct in_addr gateway;     /* next hop for off-link destinations; INADDR_ANY for none */
    unsigned mtu_bytes;         /* IP MTU of the link, 68..9000 (RFC 791: every host takes 68) */
    uint64_t seed;              /* seeds the stack's PRNG: IP IDs, later ISNs and ports */

    FILE *trace_out;            /* trace lines go here when a bit of trace_mask is set */
    unsigned trace_mask;        /* enum tapir_trace_bit */
    FILE *pcap_out;             /* every frame in and out, as a pcap file; NULL for none */
    int64_t pcap_clock_offset_us; /* added to now_us in pcap timestamps: a program on a real
                                   * link passes wall clock minus monotonic so captures line up
                                   * with tcpdump; simulations leave 0 and stay reproducible */

    /* Bounds. Every queue has one, and a counter for what it turned away. */
    unsigned pkb_frames;        /* MTU-sized packet buffers, allocated on first use, then kept */
    unsigned pkb_large_frames;  /* 64 KiB buffers for reassembly and big datagrams */
    unsigned arp_cache_entries;
    unsigned arp_pending_frames;    /* frames held per unresolved neighbour */
    unsigned arp_pending_total;     /* frames held for all unresolved neighbours together */
    unsigned arp_retries;           /* requests sent before giving up on a neighbour */
    uint64_t arp_retry_us;          /* between those requests */
    uint64_t arp_reachable_us;      /* how long a learned entry lives without being refreshed */
    unsigned ipfrag_max_datagrams;  /* datagrams in reassembly at once; the oldest is evicted */
    uint64_t ipfrag_timeout_us;     /* RFC 791 reassembly timer; Linux uses 30 s */
    unsigned icmp_err_burst;        /* token bucket for the ICMP errors we send */
    unsigned icmp_err_per_s;
    unsigned sock_rcvbuf_bytes;     /* default SO_RCVBUF */
    unsigned sock_sndbuf_bytes;     /* default SO_SNDBUF */
    uint64_t tcp_msl_us;            /* maximum segment lifetime; TIME_WAIT lasts twice this */
    unsigned tcp_challenge_ack_per_s; /* RFC 5961 §7 rate limit */
    unsigned tcp_rcvbuf_bytes;      /* a TCP socket's receive buffer (its SO_RCVBUF is twice
                                     * this, as Linux reports); the most window we offer */
    unsigned tcp_sndbuf_bytes;      /* a TCP socket's send buffer */
    uint64_t tcp_rto_min_us;        /* RFC 6298 §2.4 says 1 s; Linux (and we) use 200 ms */
    uint64_t tcp_delack_us;         /* longest an ACK is delayed (RFC 1122: under 500 ms) */
    unsigned tcp_initial_cwnd_segments; /* RFC 6928: 10 */
    const char *tcp_congestion;     /* "reno" or "cubic" (TCP_CONGESTION per socket) */
    bool tcp_timestamps;            /* RFC 7323 timestamps, offered on our SYNs */
    bool tcp_window_scaling;        /* RFC 7323 window scaling */
    bool tcp_sack;                  /* RFC 2018 selective acknowledgments */
    bool tcp_syncookies;            /* RFC 4987 §3.6: a full SYN queue answers with cookies */
    unsigned tcp_max_conns;         /* connection blocks at most (sockets, handshakes, TIME_WAIT) */
    unsigned tcp_max_orphans;       /* closed by their application but not yet done (Linux's
                                     * tcp_max_orphans): beyond it, a close resets */
    uint64_t tcp_keepalive_idle_us; /* SO_KEEPALIVE's defaults: Linux's 2 h, */
    uint64_t tcp_keepalive_intvl_us; /* 75 s between probes, */
    unsigned tcp_keepalive_probes;  /* and 9 unanswered probes end the connection */

    /* For the host thread of tapir/socket.h; the core does no I/O and ignores it. After a
     * frame arrives the thread polls the link without sleeping for up to this long before it
     * sleeps in ppoll(): a reply then costs no wake-up, at the price of a busy core while
     * traffic flows (as Linux's SO_BUSY_POLL). 0, the default, never spins. */
    uint64_t busy_poll_us;

    /* The memory budget: everything the stack allocates (connection blocks, socket buffers,
     * packet buffers, reassembly, tables) together, at least 1 MiB. Past it new work is
     * refused and counted (mem.budget_refused): a frame is dropped, a window does not grow,
     * a send or socket() fails with ENOBUFS; nothing already accepted is lost, and once
     * buffers are freed work goes on. Default 64 MiB. */
    size_t mem_budget_bytes;
};

/* Fills in the defaults: MTU 1500, the buffers and timers Linux would use. Address, MAC and seed
 * are left for the caller. */
void tapir_config_defaults(struct tapir_config *cfg);

/* Returns NULL and sets errno (EINVAL for a bad config, ENOMEM) on failure. */
struct tapir_stack *tapir_stack_new(const struct tapir_config *cfg, const struct tapir_driver *drv);
void tapir_stack_free(struct tapir_stack *st);

/* Brings the interface up at time now_us: announces our address with a gratuitous ARP. */
void tapir_start(struct tapir_stack *st, uint64_t now_us);

/* The three entry points. Time is monotonic microseconds, always supplied by the caller. */
int tapir_input(struct tapir_stack *st, const void *frame, size_t len_bytes, uint64_t now_us);
void tapir_timers(struct tapir_stack *st, uint64_t now_us);
uint64_t tapir_next_deadline(const struct tapir_stack *st); /* UINT64_MAX when nothing is due */

/* Zero-copy input for drivers: borrow a receive buffer, read a frame into it, hand it back.
 * tapir_rx_buffer returns NULL when the pool is empty (the frame should then be read into a
 * scratch buffer and dropped; it is counted in eth.drop_no_buffer by tapir_rx_drop). */
struct pkb;
struct pkb *tapir_rx_buffer(struct tapir_stack *st, uint8_t **buf, size_t *cap_bytes);
int tapir_input_pkb(struct tapir_stack *st, struct pkb *p, size_t len_bytes, uint64_t now_us);
void tapir_rx_release(struct tapir_stack *st, struct pkb *p); /* buffer unused: nothing read */
void tapir_rx_drop(struct tapir_stack *st);

/* Counters, netstat -s style. Each layer lists its counters once, here; the struct, the printer
 * and the tests all come from these lists. Drops are named for their reason. */
#define TAPIR_ETH_STATS(X)                                                                         \
    X(rx_frames, "frames received")                                                                \
    X(rx_bytes, "bytes received")                                                                  \
    X(tx_frames, "frames sent")                                                                    \
    X(tx_bytes, "bytes sent")                                                                      \
    X(tx_errors, "frames the driver failed to send")                                               \
    X(drop_runt, "dropped: shorter than an Ethernet header")                                       \
    X(drop_oversize, "dropped: longer than the MTU allows")                                        \
    X(drop_not_for_us, "dropped: destination MAC is not ours or broadcast")                        \
    X(drop_unknown_type, "dropped: EtherType neither IPv4 nor ARP")                                \
    X(drop_no_buffer, "dropped: no free packet buffer")

#define TAPIR_ARP_STATS(X)                                                                         \
    X(rx_requests, "requests received")                                                            \
    X(rx_replies, "replies received")                                                              \
    X(tx_requests, "requests sent")                                                                \
    X(tx_replies, "replies sent")                                                                  \
    X(tx_gratuitous, "gratuitous announcements sent")                                              \
    X(entries_added, "cache entries added")                                                        \
    X(entries_updated, "cache entries updated (RFC 826 merge)")                                    \
    X(entries_expired, "cache entries aged out")                                                   \
    X(entries_evicted, "cache entries evicted to make room")                                       \
    X(resolve_failed, "neighbours that never answered")                                            \
    X(drop_truncated, "dropped: shorter than an ARP packet")                                       \
    X(drop_bad_format, "dropped: not Ethernet/IPv4 ARP")                                           \
    X(drop_bad_op, "dropped: opcode neither request nor reply")                                    \
    X(drop_bad_sender, "dropped: sender address is broadcast, multicast or zero")                  \
    X(drop_addr_conflict, "dropped: another host claims our address")                              \
    X(drop_not_for_us, "ignored: about another host")                                              \
    X(drop_pending_full, "outgoing frames dropped: pending queue full")                            \
    X(drop_unresolved, "outgoing frames dropped: neighbour never answered")                        \
    X(drop_cache_full, "outgoing frames dropped: cache full of unresolved entries")

#define TAPIR_IP_STATS(X)                                                                          \
    X(rx_packets, "total packets received")                                                        \
    X(rx_delivered, "incoming packets delivered")                                                  \
    X(tx_packets, "requests sent out")                                                             \
    X(drop_truncated, "dropped: shorter than an IPv4 header")                                      \
    X(drop_bad_version, "dropped: version is not 4")                                               \
    X(drop_bad_ihl, "dropped: header length below 20 or past the packet")                          \
    X(drop_bad_length, "dropped: total length disagrees with the frame")                           \
    X(drop_bad_checksum, "dropped: bad header checksum")                                           \
    X(drop_bad_source, "dropped: source is broadcast, multicast or ours")                          \
    X(drop_not_for_us, "dropped: not addressed to us (no forwarding)")                             \
    X(drop_unknown_proto, "dropped: unknown protocol")                                             \
    X(drop_no_route, "outgoing packets dropped: no route")                                         \
    X(drop_needs_frag, "outgoing packets dropped: too big and DF set")                             \
    X(drop_too_big, "outgoing packets dropped: longer than 65535 bytes")                           \
    X(drop_no_buffer, "outgoing packets dropped: no free packet buffer")                           \
    X(frag_rx, "fragments received")                                                               \
    X(frag_reassembled, "packets reassembled ok")                                                  \
    X(frag_dup, "duplicate fragments (consistent overlap)")                                        \
    X(frag_drop_overlap, "reassemblies failed: fragments overlap inconsistently")                  \
    X(frag_drop_timeout, "reassemblies failed: timed out")                                         \
    X(frag_drop_too_big, "reassemblies failed: past 65535 bytes")                                  \
    X(frag_drop_bad_len, "fragments dropped: length not a multiple of 8 or beyond the end")        \
    X(frag_drop_evicted, "reassemblies failed: evicted by newer datagrams")                        \
    X(frag_drop_no_buffer, "fragments dropped: no reassembly buffer")                              \
    X(frag_tx_ok, "packets fragmented ok")                                                         \
    X(frag_tx_created, "fragments created")

#define TAPIR_ICMP_STATS(X)                                                                        \
    X(rx_msgs, "ICMP messages received")                                                           \
    X(tx_msgs, "ICMP messages sent")                                                               \
    X(rx_echo_requests, "echo requests received")                                                  \
    X(rx_echo_replies, "echo replies received")                                                    \
    X(rx_dest_unreach, "destination unreachable received")                                         \
    X(rx_time_exceeded, "time exceeded received")                                                  \
    X(rx_other_errors, "other errors received")                                                    \
    X(tx_echo_replies, "echo replies sent")                                                        \
    X(tx_echo_requests, "echo requests sent")                                                      \
    X(tx_dest_unreach, "destination unreachable sent")                                             \
    X(tx_time_exceeded, "time exceeded sent")                                                      \
    X(errors_unclaimed, "errors about a protocol with no handler")                                 \
    X(errors_in_ratelimited, "errors ignored: over the rate limit for errors received")            \
    X(local_unreach, "host unreachable reported to our own senders (ARP gave up)")                 \
    X(drop_truncated, "dropped: shorter than its type needs")                                      \
    X(drop_bad_checksum, "dropped: bad checksum")                                                  \
    X(drop_unknown_type, "ignored: type we do not handle")                                         \
    X(drop_broadcast_echo, "ignored: echo request to a broadcast address")                         \
    X(err_ratelimited, "errors not sent: rate limit")                                              \
    X(err_suppressed, "errors not sent: about an ICMP error, broadcast or later fragment")         \
    X(rx_ping_replies, "echo replies delivered to ping sockets")                                   \
    X(rx_ping_errors, "errors reported to ping sockets")                                           \
    X(drop_ping_rcvbuf, "dropped: ping socket's receive buffer full")

#define TAPIR_UDP_STATS(X)                                                                         \
    X(rx_datagrams, "datagrams received")                                                          \
    X(tx_datagrams, "datagrams sent")                                                              \
    X(rx_icmp_errors, "ICMP errors reported to sockets")                                           \
    X(drop_truncated, "dropped: shorter than a UDP header")                                        \
    X(drop_bad_length, "dropped: length field disagrees with the IP payload")                      \
    X(drop_bad_checksum, "dropped: bad checksum")                                                  \
    X(drop_no_port, "dropped: no socket on the port")                                              \
    X(drop_rcvbuf, "dropped: receive buffer full")                                                 \
    X(drop_no_buffer, "dropped: no buffer to copy a broadcast for another socket")

#define TAPIR_TCP_STATS(X)                                                                         \
    X(rx_segments, "segments received")                                                            \
    X(tx_segments, "segments sent")                                                                \
    X(rx_bytes, "data bytes received in order")                                                    \
    X(tx_bytes, "data bytes queued by applications")                                               \
    X(established, "connections established")                                                      \
    X(retransmits, "retransmission timeouts")                                                      \
    X(timeouts, "connections dropped after too many retransmissions")                              \
    X(window_probes, "zero-window probes sent")                                                    \
    X(rexmit_segments, "segments retransmitted")                                                   \
    X(fast_retransmits, "fast retransmits (recoveries entered)")                                   \
    X(lost_retransmits, "retransmissions found lost again (SACK)")                                 \
    X(rack_recoveries, "recoveries begun by RACK's time-based loss detection")                     \
    X(tlp_probes, "tail loss probes sent (RFC 8985)")                                              \
    X(tlp_repairs, "tail losses repaired by a probe")                                              \
    X(spurious_undos, "cwnd reductions undone: every retransmission was a duplicate (D-SACK)")     \
    X(reordering_seen, "connections that saw reordering (RACK then waits, RFC 8985)")              \
    X(dsack_sent, "D-SACK blocks sent (RFC 2883)")                                                 \
    X(sack_blocks_invalid, "SACK blocks ignored: outside what was sent")                           \
    X(dsack_received, "D-SACK blocks received (a duplicate arrived)")                              \
    X(delayed_acks, "ACKs sent by the delayed-ACK timer")                                          \
    X(keepalive_probes, "keepalive probes sent")                                                   \
    X(keepalive_timeouts, "connections dropped: keepalive unanswered")                             \
    X(drop_paws, "dropped: old timestamp (PAWS, RFC 7323 §5)")                                     \
    X(rx_resets, "resets accepted")                                                                \
    X(tx_resets, "resets sent")                                                                    \
    X(rx_no_conn, "segments for no connection (answered with a reset)")                            \
    X(rx_out_of_order, "segments kept out of order")                                               \
    X(rx_syn_in_window, "SYNs in a synchronized state (RFC 5961 §4)")                              \
    X(challenge_acks, "challenge ACKs sent (RFC 5961)")                                            \
    X(challenge_acks_limited, "challenge ACKs not sent: rate limit")                               \
    X(oow_acks_limited, "ACKs for unacceptable empty segments not sent: rate limit")               \
    X(rst_ignored_time_wait, "resets ignored in TIME_WAIT (RFC 1337)")                             \
    X(time_wait_reopened, "TIME_WAIT connections reopened by a new SYN")                           \
    X(listen_overflows, "SYNs dropped: listen queue full")                                         \
    X(drop_syn_fin, "SYNs with FIN to a listener dropped (as Linux)")                              \
    X(syncookies_sent, "SYN cookies sent (the SYN queue was full)")                                \
    X(syncookies_validated, "SYN cookies validated: connections opened from them")                 \
    X(syncookies_failed, "ACKs to a listener with no valid cookie (reset)")                        \
    X(icmp_aborts, "connections aborted by an ICMP error while opening")                           \
    X(icmp_ignored, "ICMP errors ignored: no such connection or sequence number")                  \
    X(conns_allocated, "connection blocks allocated")                                              \
    X(conns_refused, "connection blocks refused: tcp_max_conns reached")                           \
    X(orphans_reset, "orphans reset: too many, or the peer's window stayed shut")                  \
    X(conns_freed, "connection blocks freed")                                                      \
    X(drop_truncated, "dropped: shorter than a TCP header")                                        \
    X(drop_bad_offset, "dropped: data offset outside the segment")                                 \
    X(drop_bad_checksum, "dropped: bad checksum")                                                  \
    X(drop_broadcast, "dropped: sent to a broadcast address")                                      \
    X(drop_out_of_window, "dropped: outside the receive window")                                   \
    X(drop_bad_ack, "dropped: acknowledges what was never sent (RFC 5961 §5)")                     \
    X(drop_rcvbuf, "dropped: receive buffer full")                                                 \
    X(drop_ooo_full, "dropped: too many out-of-order ranges")                                      \
    X(drop_nomem, "dropped: no memory to hold the data (memory budget)")                           \
    X(rings_trimmed, "empty buffers given back under memory pressure")                             \
    X(drop_after_fin, "dropped: data after the peer's FIN")                                        \
    X(closed_with_unread, "connections reset: closed with unread data (RFC 1122 §4.2.2.13)")

#define TAPIR_MEM_STATS(X)                                                                         \
    X(allocs, "allocations made (pools grow, then stop)")                                          \
    X(alloc_bytes, "bytes allocated")                                                              \
    X(alloc_failed, "allocations failed: libc out of memory")                                      \
    X(budget_refused, "allocations refused: over the memory budget")                               \
    X(in_use_bytes, "bytes in use now (of the memory budget)")                                     \
    X(in_use_max_bytes, "bytes in use at most")                                                    \
    X(pkb_exhausted, "packet buffer requests refused: pool empty")                                 \
    X(pkb_in_use, "packet buffers in use now")                                                     \
    X(pkb_in_use_max, "packet buffers in use at most")

#define TAPIR_STATS_FIELD(name, text) uint64_t name;
struct tapir_eth_stats { TAPIR_ETH_STATS(TAPIR_STATS_FIELD) };
struct tapir_arp_stats { TAPIR_ARP_STATS(TAPIR_STATS_FIELD) };
struct tapir_ip_stats { TAPIR_IP_STATS(TAPIR_STATS_FIELD) };
struct tapir_icmp_stats { TAPIR_ICMP_STATS(TAPIR_STATS_FIELD) };
struct tapir_udp_stats { TAPIR_UDP_STATS(TAPIR_STATS_FIELD) };
struct tapir_tcp_stats { TAPIR_TCP_STATS(TAPIR_STATS_FIELD) };
struct tapir_mem_stats { TAPIR_MEM_STATS(TAPIR_STATS_FIELD) };
#undef TAPIR_STATS_FIELD

struct tapir_stats {
    struct tapir_eth_stats eth;
    struct tapir_arp_stats arp;
    struct tapir_ip_stats ip;
    struct tapir_icmp_stats icmp;
    struct tapir_udp_stats udp;
    struct tapir_tcp_stats tcp;
    struct tapir_mem_stats mem;
};

const struct tapir_stats *tapir_stats(const struct tapir_stack *st);
/* Prints every counter, per layer, in the style of `netstat -s`. */
void tapir_stats_print(const struct tapir_stack *st, FILE *out);

/* One TCP connection or listener, as `ss -ti` shows it. Addresses in network order, ports in
 * host order. */
struct tapir_conn_info {
    struct in_addr local_addr, remote_addr;
    uint16_t local_port, remote_port;
    const char *state;              /* "ESTABLISHED", "LISTEN", ... */
    uint64_t rto_us;
    unsigned retries;               /* consecutive timeouts now */
    uint64_t retransmits;           /* timeouts over the connection's life */
    uint32_t snd_mss, rcv_mss;
    uint32_t snd_wnd, rcv_wnd;      /* the peer's window; the one we offer */
    uint32_t unacked_bytes, unsent_bytes, rcvq_bytes;
    unsigned accept_queue, syn_queue, backlog; /* listeners */
    /* RTT (RFC 6298) and congestion control (RFC 5681). */
    uint64_t srtt_us, rttvar_us, rtt_min_us;
    uint32_t cwnd_bytes, ssthresh_bytes; /* ssthresh 0: not yet set (still "infinite") */
    const char *congestion;         /* "reno", "cubic" */
    bool in_recovery;
    uint32_t sacked_bytes;          /* SACKed above snd_una */
    /* Options agreed on the SYNs (RFC 7323, RFC 2018). */
    bool timestamps, sack, window_scaling;
    unsigned snd_wscale, rcv_wscale;
    /* Totals over the connection's life. */
    uint64_t bytes_sent, bytes_retrans, bytes_acked, bytes_received;
    uint64_t segs_out, segs_in, segs_retrans, fast_retransmits;
    uint64_t last_data_recv_ms;     /* since the peer was last heard from */
    bool keepalive;
    unsigned keepalive_probes;      /* sent and unanswered now */
};
/* Calls fn for every listener, then every connection (not ordered). */
void tapir_conns_each(const struct tapir_stack *st,
                      void (*fn)(const struct tapir_conn_info *info, void *arg), void *arg);
/* Prints them, a line each, under a "Connections:" heading. */
void tapir_conns_print(const struct tapir_stack *st, FILE *out);

/* Parses "eth,arp,ip,icmp" (or "all") into trace bits. Returns 0, or -EINVAL naming nothing. */
int tapir_trace_parse(const char *list, unsigned *mask);

/* A driver that reads frames in bursts may call this before one; tapir_flush ends it. In a
 * burst, TCP acknowledges in-order data at the burst's end (or every TCP_BATCH_ACK_SEGS full
 * segments) rather than every second segment: over a TAP, fewer ACKs are fewer writes. */
void tapir_rx_batch_begin(struct tapir_stack *st);
/* Ends a receive burst (its held ACKs go out) and flushes the pcap and trace streams (the
 * stack buffers them). */
void tapir_flush(struct tapir_stack *st);

#ifdef __cplusplus
}
#endif
#endif
