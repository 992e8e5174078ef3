#!/usr/bin/env python3
"""make_corpus.py: writes the seed corpora: for fuzz_input (tests/fuzz/corpus), valid frames in
its record format ([time step][length, 2 bytes][frame]); for fuzz_stateful
(tests/fuzz/corpus_stateful), records that act on the connections its stack starts with (see
the record format at the top of fuzz_stateful.c). Either way the fuzzer starts from inputs
that reach deep. `make_corpus.py [DIR]` writes DIR/corpus and DIR/corpus_stateful (DIR
defaults to tests/fuzz)."""
import os
import struct
import sys

OUR_MAC = bytes.fromhex("027461706972")
HOST_MAC = bytes.fromhex("020000000001")
OUR_IP = bytes([10, 0, 0, 2])
HOST_IP = bytes([10, 0, 0, 1])
BROADCAST = bytes([10, 0, 0, 255])


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def eth(payload, etype=0x0800, dst=OUR_MAC):
    return dst + HOST_MAC + struct.pack("!H", etype) + payload


def ip(payload, proto=1, ident=1, frag=0, src=HOST_IP, dst=OUR_IP, total=None):
    total = total if total is not None else 20 + len(payload)
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, ident, frag, 64, proto, 0, src, dst)
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload


def icmp_echo(data, ident=7, seq=1, typ=8):
    m = struct.pack("!BBHHH", typ, 0, 0, ident, seq) + data
    return m[:2] + struct.pack("!H", csum(m)) + m[4:]


def udp(data, dport, sport=40000, src=HOST_IP, dst=OUR_IP):
    h = struct.pack("!HHHH", sport, dport, 8 + len(data), 0)
    pseudo = src + dst + struct.pack("!BBH", 0, 17, 8 + len(data))
    return h[:6] + struct.pack("!H", csum(pseudo + h + data) or 0xFFFF) + data


def tcp(dport, flags, seq=1000, ack=0, data=b"", sport=40000, src=HOST_IP, dst=OUR_IP,
        options=b"\x02\x04\x05\xb4"):
    off = (20 + len(options)) // 4
    h = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, off << 4, flags, 65535, 0, 0) + options
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(h) + len(data))
    return h[:16] + struct.pack("!H", csum(pseudo + h + data)) + h[18:] + data


def arp(op, tpa=OUR_IP, spa=HOST_IP, sha=HOST_MAC):
    return struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + sha + spa + b"\0" * 6 + tpa


def record(frame, step=0):
    return bytes([step]) + struct.pack("!H", len(frame)) + frame


def fragments(payload, ident, chunk=1480, proto=1):
    out = []
    for off in range(0, len(payload), chunk):
        piece = payload[off:off + chunk]
        mf = 0x2000 if off + chunk < len(payload) else 0
        out.append(eth(ip(piece, proto=proto, ident=ident, frag=mf | off // 8,
                          total=20 + len(piece))))
    return out


def input_seeds(outdir):
    os.makedirs(outdir, exist_ok=True)
    big = icmp_echo(bytes(range(256)) * 16)
    seeds = {
        "arp_request": record(eth(arp(1), 0x0806, b"\xff" * 6)),
        "arp_reply": record(eth(arp(2), 0x0806)),
        "ping": record(eth(ip(icmp_echo(b"abcdefgh" * 7)))),
        "ping_empty": record(eth(ip(icmp_echo(b"")))),
        "unknown_proto": record(eth(ip(b"\0" * 16, proto=99))),
        "frag_ping": b"".join(record(f) for f in fragments(big, 42)),
        "frag_reverse": b"".join(record(f, 1) for f in reversed(fragments(big, 43))),
        "frag_incomplete": record(fragments(big, 44)[0], 5),
        "dest_unreach": record(eth(ip(struct.pack("!BBHI", 3, 3, 0, 0) +
                                      ip(b"\0" * 8, proto=17, src=OUR_IP, dst=HOST_IP)))),
    }
    seeds.update({
        "udp_echo": record(eth(ip(udp(b"hello tapir", 7), proto=17))),
        "udp_empty": record(eth(ip(udp(b"", 7), proto=17))),
        "udp_closed_port": record(eth(ip(udp(b"x", 4242), proto=17))),
        "udp_broadcast": record(eth(ip(udp(b"dhcp?", 68, dst=BROADCAST), proto=17, dst=BROADCAST),
                                    dst=b"\xff" * 6)),
        "udp_frag": b"".join(record(f) for f in fragments(udp(bytes(3000), 7), 45, proto=17)),
        "ping_reply": record(eth(ip(icmp_echo(b"pong", ident=1, typ=0)))),
        "ping_unreach": record(eth(ip(struct.pack("!BBHI", 3, 1, 0, 0) +
                                      ip(icmp_echo(b"", ident=1), src=OUR_IP, dst=HOST_IP)))),
    })
    seeds.update({
        "tcp_syn": record(eth(ip(tcp(7, 0x02), proto=6))),
        "tcp_syn_closed": record(eth(ip(tcp(4444, 0x02), proto=6))),
        "tcp_rst": record(eth(ip(tcp(7, 0x04), proto=6))),
        "tcp_data": record(eth(ip(tcp(7, 0x18, ack=1, data=b"hello"), proto=6))),
    })
    for name, blob in seeds.items():
        with open(os.path.join(outdir, name), "wb") as f:
            f.write(blob)



# ---- fuzz_stateful ------------------------------------------------------------------------------

# Its slots, in the order of fuzz_stateful.c's enum.
(S_SYN_RECEIVED, S_UNACKED, S_OUT_OF_ORDER, S_ZERO_WINDOW, S_FIN_WAIT_1, S_FIN_WAIT_2,
 S_CLOSE_WAIT, S_LAST_ACK, S_TIME_WAIT, S_CLOSING, S_SYN_SENT, S_ACTIVE, S_KEEPALIVE, S_NEW_1,
 S_NEW_2, S_COOKIE, S_NO_LISTENER, S_ACTIVE_NEW) = range(18)
# Its application actions.
(APP_SEND, APP_RECV, APP_CLOSE, APP_SHUTDOWN, APP_NODELAY, APP_QUICKACK, APP_KEEPALIVE,
 APP_BUFFERS, APP_ACCEPT, APP_CONNECT, APP_CUBIC, APP_INFO, APP_UDP_SEND, APP_PING,
 APP_LISTENER, APP_PEER_DEAF) = range(16)
FIN, SYN, RST, PSH, ACK, URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
# Bases of the mode byte: sequence number (bits 0-1), acknowledgment (bits 2-3).
SEQ_RCV_NXT, SEQ_RCV_EDGE, SEQ_PEER_NXT, SEQ_IRS = 0, 1, 2, 3
ACK_SND_NXT, ACK_SND_UNA, ACK_SND_MAX, ACK_ISS = 0, 4, 8, 12
NO_TS, OLD_TS, BAD_CSUM, FRAGMENTS = 0x10, 0x20, 0x40, 0x80
# Time steps: below 100 in ms, 100-199 in tenths of a second, 200-255 in tens of seconds.
MS_40, MS_250, S_1, S_5, S_60, S_500 = 40, 102, 110, 150, 206, 250
SYN_OPTS = bytes([2, 4, 0x05, 0xb4, 1, 3, 3, 7, 4, 2])


def seg(slot, flags, mode=0, seq=0, ack=0, wnd=65535, urp=0, plen=0, opts=b"", sacks=(),
        dt=0):
    return (bytes([0, dt, slot, flags, mode]) + struct.pack("!hhHHH", seq, ack, wnd, urp, plen)
            + bytes([len(opts)]) + opts + bytes([len(sacks)])
            + b"".join(struct.pack("!hH", start, length) for start, length in sacks))


def app(slot, action, arg=0, dt=0):
    return bytes([1, dt, slot, action]) + struct.pack("!H", arg)


def icmp_about(slot, typ, code, seq=0, info=0, dt=0):
    return bytes([2, dt, slot, typ, code]) + struct.pack("!hH", seq, info)


def raw(frame, dt=0):
    return bytes([3, dt]) + struct.pack("!H", len(frame)) + frame


def stateful_seeds(outdir):
    os.makedirs(outdir, exist_ok=True)
    data = ACK | PSH
    big = icmp_echo(bytes(range(256)) * 16)
    seeds = {
        "empty": b"",
        # Data on every connection, in sequence.
        "data_everywhere": b"".join(seg(k, data, plen=100) for k in range(18)),
        # S_UNACKED: its data acknowledged whole, in pieces, then SACKed around a hole.
        "ack_all": seg(S_UNACKED, ACK, ACK_SND_MAX),
        "ack_partial": seg(S_UNACKED, ACK, ACK_SND_UNA, ack=1448, dt=MS_40)
        + seg(S_UNACKED, ACK, ACK_SND_UNA, ack=1448, dt=MS_40),
        "sack_recovery": b"".join(seg(S_UNACKED, ACK, ACK_SND_UNA, sacks=[(1448, n * 500)],
                                      dt=5) for n in (1, 2, 3, 4))
        + seg(S_UNACKED, ACK, ACK_SND_MAX, dt=MS_40),
        "dsack": seg(S_UNACKED, ACK, ACK_SND_UNA, ack=1448, sacks=[(0, 1448)]),
        "rto_then_ack": seg(S_UNACKED, ACK, ACK_SND_MAX, dt=S_1),
        "ack_too_far": seg(S_UNACKED, ACK, ACK_SND_MAX, ack=5000),
        # S_OUT_OF_ORDER: the hole filled, and more out of order.
        "fill_hole": seg(S_OUT_OF_ORDER, data, plen=1000) + app(S_OUT_OF_ORDER, APP_RECV, 4000),
        "more_ooo": b"".join(seg(S_OUT_OF_ORDER, data, seq=3000 + 200 * k, plen=100)
                             for k in range(8)),
        "rcv_edge": seg(S_OUT_OF_ORDER, data, SEQ_RCV_EDGE, seq=-100, plen=200),
        # S_ZERO_WINDOW: probes, then the window opens.
        "persist": seg(S_ZERO_WINDOW, ACK, wnd=0, dt=S_1) + seg(S_ZERO_WINDOW, ACK, dt=S_5),
        "window_update": seg(S_ZERO_WINDOW, ACK, wnd=10),
        # The closing states.
        "fin_wait_1_acked": seg(S_FIN_WAIT_1, ACK, ACK_SND_MAX)
        + seg(S_FIN_WAIT_1, ACK | FIN, ACK_SND_MAX),
        "fin_wait_2_fin": seg(S_FIN_WAIT_2, ACK | FIN, plen=10),
        "close_wait_close": app(S_CLOSE_WAIT, APP_RECV, 100) + app(S_CLOSE_WAIT, APP_CLOSE)
        + seg(S_CLOSE_WAIT, ACK, ACK_SND_MAX),
        "last_ack_acked": seg(S_LAST_ACK, ACK, ACK_SND_MAX),
        "closing_acked": seg(S_CLOSING, ACK, ACK_SND_MAX),
        "time_wait_syn": seg(S_TIME_WAIT, SYN, seq=20000, opts=SYN_OPTS)
        + app(S_TIME_WAIT, APP_ACCEPT),
        "time_wait_rst": seg(S_TIME_WAIT, RST),
        "time_wait_expires": seg(S_TIME_WAIT, ACK, dt=S_60),
        # The opens: ours answered (with every option, and simultaneously), the cookie's
        # handshake, fresh passive opens accepted.
        "syn_sent_answered": seg(S_SYN_SENT, SYN | ACK, SEQ_IRS, opts=SYN_OPTS)
        + app(S_SYN_SENT, APP_SEND, 3000),
        "syn_sent_simultaneous": seg(S_SYN_SENT, SYN, opts=SYN_OPTS)
        + seg(S_SYN_SENT, SYN | ACK, SEQ_PEER_NXT, seq=-1, opts=SYN_OPTS),
        "syn_sent_refused": seg(S_SYN_SENT, RST | ACK),
        "syn_sent_retries": seg(S_SYN_SENT, ACK, ACK_ISS, dt=S_5),
        "cookie": seg(S_COOKIE, SYN, opts=SYN_OPTS) + seg(S_COOKIE, ACK, SEQ_RCV_NXT)
        + app(S_COOKIE, APP_ACCEPT) + app(S_COOKIE, APP_SEND, 100),
        "new_conn": seg(S_NEW_1, SYN, opts=SYN_OPTS) + seg(S_NEW_1, ACK)
        + app(S_NEW_1, APP_ACCEPT) + seg(S_NEW_1, data, plen=500)
        + app(S_NEW_1, APP_RECV, 500) + app(S_NEW_1, APP_SEND, 500),
        "syn_received_done": seg(S_SYN_RECEIVED, ACK) + app(S_SYN_RECEIVED, APP_ACCEPT),
        "syn_received_rst": seg(S_SYN_RECEIVED, RST),
        "no_listener": seg(S_NO_LISTENER, SYN) + seg(S_NO_LISTENER, ACK, plen=10),
        "connect_again": app(S_ACTIVE_NEW, APP_CONNECT)
        + seg(S_ACTIVE_NEW, SYN | ACK, opts=SYN_OPTS) + app(S_ACTIVE_NEW, APP_SEND, 10000)
        + seg(S_ACTIVE_NEW, ACK, ACK_SND_MAX, dt=5),
        # RFC 5961: a reset and a SYN inside the window draw challenge ACKs; an ACK beyond
        # what was sent is dropped; only the exact reset counts.
        "rst_in_window": seg(S_UNACKED, RST, seq=100),
        "rst_exact": seg(S_UNACKED, RST),
        "syn_in_window": seg(S_UNACKED, SYN, seq=10),
        "challenge_flood": b"".join(seg(S_KEEPALIVE, RST, seq=1 + k) for k in range(16)),
        # Options and odd headers.
        "urgent": seg(S_KEEPALIVE, data | URG, urp=5, plen=20),
        "paws": seg(S_KEEPALIVE, data, OLD_TS, plen=10),
        "no_timestamp": seg(S_KEEPALIVE, data, NO_TS, plen=10),
        "bad_checksum": seg(S_KEEPALIVE, data, BAD_CSUM, plen=10),
        "fragmented": seg(S_KEEPALIVE, data, FRAGMENTS, plen=2000),
        "options_odd": seg(S_KEEPALIVE, data, plen=10, opts=bytes([1, 1, 1, 0, 2, 4, 0, 0])),
        "old_data": seg(S_KEEPALIVE, data, seq=-300, plen=600),
        "window_scaled": seg(S_ACTIVE, ACK, ACK_SND_MAX, wnd=1) + seg(S_ACTIVE, data, plen=1000),
        "newreno": b"".join(seg(S_ACTIVE, ACK, ACK_SND_UNA, dt=2) for _ in range(4))
        + seg(S_ACTIVE, ACK, ACK_SND_UNA, ack=1000),
        # ICMP errors about connections.
        "icmp_frag_needed": icmp_about(S_UNACKED, 3, 4, info=576),
        "icmp_unreach_syn_sent": icmp_about(S_SYN_SENT, 3, 3),
        "icmp_quench": icmp_about(S_ACTIVE, 4, 0),
        # The application.
        "app_calls": b"".join(app(S_KEEPALIVE, a, 0x1234) for a in range(15)),
        "shutdown_both": app(S_UNACKED, APP_SHUTDOWN, 2) + seg(S_UNACKED, ACK | FIN, ACK_SND_MAX),
        "keepalive_runs_out": app(S_KEEPALIVE, APP_RECV, 1000) + seg(S_KEEPALIVE, ACK, dt=S_60),
        "peer_deaf": app(0, APP_PEER_DEAF, 1) + app(S_UNACKED, APP_SEND, 20000, dt=S_500)
        + app(S_KEEPALIVE, APP_CLOSE),
        "peer_back": seg(S_UNACKED, ACK, ACK_SND_MAX, dt=S_500) + app(S_UNACKED, APP_SEND, 5000)
        + seg(S_UNACKED, ACK, ACK_SND_MAX, dt=5),
        "close_all": b"".join(app(k, APP_CLOSE) for k in range(18)) + app(0, APP_CLOSE, dt=S_500),
        "listener_closed": app(S_NEW_1, APP_LISTENER) + seg(S_NEW_2, SYN, opts=SYN_OPTS),
        "udp_arp_pending": app(0, APP_UDP_SEND, 77 | 5 << 8) + app(0, APP_UDP_SEND, 78 | 1 << 8)
        + raw(eth(arp(2, spa=bytes([10, 0, 0, 77]), sha=bytes.fromhex("02000000004d")), 0x0806)),
        "udp_big_to_gateway": app(0, APP_UDP_SEND, 1 | 200 << 8) + app(0, APP_PING, 40),
        # The half-reassembled datagrams completed.
        # (the harness sent the first 1480 bytes of a 3008-byte echo request, and the last
        # 800 of a 2280-byte UDP datagram, whose checksum 0 means none)
        "frag_complete": b"".join(raw(f) for f in fragments(icmp_echo(b"\x42" * 3000),
                                                             0xF001)[1:])
        + raw(eth(ip(struct.pack("!HHHH", 40000, 7, 2280, 0) + bytes(1472), proto=17,
                     ident=0xF002, frag=0x2000))),
        "frag_new": b"".join(raw(f) for f in fragments(big, 77)),
        "udp_echo": raw(eth(ip(udp(b"hello", 7), proto=17))),
    }
    for name, blob in seeds.items():
        with open(os.path.join(outdir, name), "wb") as f:
            f.write(blob)


def main(root):
    input_seeds(os.path.join(root, "corpus"))
    stateful_seeds(os.path.join(root, "corpus_stateful"))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__)))
