#!/usr/bin/env python3
"""make_corpus.py: writes the seed corpus for fuzz_input: valid frames in its record format
([time step][length, 2 bytes][frame]), so the fuzzer starts from inputs that reach deep."""
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


def main(outdir):
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


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus"))
