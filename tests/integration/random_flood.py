#!/usr/bin/env python3
"""random_flood.py: writes a large number of random frames into a TAP interface from the host
side, for tests/integration/test_random_flood.sh. A frame sent on the host's tap0 comes out of
the TAP file descriptor, so it reaches the stack attached to it and nothing else.

    random_flood.py [--iface tap0] [--seed 1] [--count 1000000] [--pool 8192]
                    [--max-seconds 30] [--mac 02:74:61:70:69:72] [--ip 10.0.0.2]
                    [--host-ip 10.0.0.1]

To be fast it first builds a pool of random frames, then writes the pool over and over until
--count frames were written or --max-seconds passed. The pool mixes kinds, each meant to get a
little further into the stack than the one before:

  raw       random bytes, any length from 14 to 1514
  eth_ip    the stack's MAC, EtherType IPv4, then random bytes
  eth_arp   the stack's MAC or broadcast, EtherType ARP, then random bytes
  arp       a well-formed Ethernet/IPv4 ARP header with random opcode and addresses
  ipv4      a valid IPv4 header (checksum right) with random protocol, options, TTL, and
            random data; now and then a total length that disagrees with the frame
  ipv4_frag the same with random fragment fields (offset, MF)
  tcp       a valid IPv4 header and a TCP header with random flags, numbers, options and data,
            to a listening port (only from the host), its checksum usually right
  udp       the same for UDP (echo and discard ports half the time)
  icmp      the same for ICMP: echo requests, errors quoting random headers, other types

Every IPv4 source is in 10.0.0.0/24 (the host, 10.0.0.1, or neighbours that do not exist), and
no ARP packet claims the host's or the stack's address, so whatever the stack answers stays on
the link and the host's own pings still work afterwards. With a fixed seed the pool is the same
on every run.

Prints "pool KIND N" per kind, then "sent N" (frames the kernel accepted), "send_errors N",
"seconds S" and "rate R" (frames per second). Frames the kernel accepted can still be lost if
the TAP's queue is full (the test reads tap0's tx_dropped).
"""
import argparse
import os
import random
import socket
import struct
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from inject_frames import csum, ip_bytes, mac_bytes  # noqa: E402

ETH_P_IP, ETH_P_ARP = b"\x08\x00", b"\x08\x06"
BROADCAST = b"\xff" * 6
LISTENING_TCP = [7, 9, 13, 19, 80]
UDP_SERVICES = [7, 9]

WEIGHTS = [("raw", 10), ("eth_ip", 10), ("eth_arp", 5), ("arp", 5), ("ipv4", 15),
           ("ipv4_frag", 5), ("tcp", 20), ("udp", 15), ("icmp", 15)]


class Builder:
    def __init__(self, args, host_mac):
        self.rng = random.Random(args.seed)
        self.our_mac = mac_bytes(args.mac)
        self.host_mac = host_mac
        self.our_ip = ip_bytes(args.ip)
        self.host_ip = ip_bytes(args.host_ip)
        net = args.ip.rsplit(".", 1)[0]
        # Sources: the host, neighbours that do not exist, and now and then the subnet's own
        # network, broadcast and our address (the stack drops those).
        self.ghosts = [ip_bytes("%s.%d" % (net, n)) for n in range(100, 200)]
        self.odd_sources = [ip_bytes("%s.%d" % (net, n)) for n in (0, 255)] + [self.our_ip]
        self.other_dsts = [ip_bytes("%s.%d" % (net, n)) for n in (1, 3, 77, 254)]
        self.bcasts = [ip_bytes("%s.255" % net), b"\xff" * 4]

    def rand_mac(self):
        m = bytearray(self.rng.randbytes(6))
        m[0] &= 0xFE  # unicast
        return bytes(m)

    def src(self):
        r = self.rng.random()
        if r < 0.3:
            return self.host_ip
        if r < 0.95:
            return self.rng.choice(self.ghosts)
        return self.rng.choice(self.odd_sources)

    def dst(self):
        r = self.rng.random()
        if r < 0.9:
            return self.our_ip
        if r < 0.95:
            return self.rng.choice(self.bcasts)
        return self.rng.choice(self.other_dsts)

    def eth(self, payload, dst=None, ethertype=ETH_P_IP):
        return (dst or self.our_mac) + self.host_mac + ethertype + payload

    def ip_frame(self, proto, payload, *, src=None, dst=None, frag=None):
        src = src or self.src()
        dst = dst or self.dst()
        rng = self.rng
        options = b""
        if rng.random() < 0.1:
            words = rng.randrange(1, 11)
            options = rng.randbytes(words * 4)
        hdr_len = 20 + len(options)
        payload = payload[:1500 - hdr_len]
        total = hdr_len + len(payload)
        if rng.random() < 0.05:
            total = rng.randrange(65536)  # disagrees with the frame (or happens not to)
        if frag is None:
            frag = 0x4000 if rng.random() < 0.5 else 0  # DF or not
        h = struct.pack("!BBHHHBBH4s4s", 0x40 | (hdr_len // 4), rng.randrange(256), total,
                        rng.randrange(65536), frag, rng.randrange(256), proto, 0, src, dst)
        h += options
        h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
        mac = BROADCAST if dst in self.bcasts and rng.random() < 0.8 else self.our_mac
        return self.eth(h + payload, dst=mac)

    @staticmethod
    def l4_checksum(src, dst, proto, seg, at):
        """seg with its checksum (at byte offset at) set right over the pseudo-header."""
        pseudo = src + dst + struct.pack("!BBH", 0, proto, len(seg))
        c = csum(pseudo + seg[:at] + b"\0\0" + seg[at + 2:])
        return seg[:at] + struct.pack("!H", c) + seg[at + 2:]

    # --- the kinds ---

    def raw(self):
        return self.rng.randbytes(self.rng.randrange(14, 1515))

    def eth_ip(self):
        return self.eth(self.rng.randbytes(self.rng.randrange(0, 1501)))

    def eth_arp(self):
        dst = self.rng.choice([self.our_mac, BROADCAST])
        return self.eth(self.rng.randbytes(self.rng.randrange(0, 100)), dst=dst, ethertype=ETH_P_ARP)

    def arp(self):
        rng = self.rng
        # Never the host's or the stack's address as sender: RFC 826's merge would let a
        # random MAC replace the host's, and the pings afterwards would go astray.
        spa = rng.choice(self.ghosts + [b"\0\0\0\0", ip_bytes("224.0.0.1")])
        tpa = rng.choice([self.our_ip, self.our_ip, rng.choice(self.ghosts), rng.randbytes(4)])
        sha = rng.choice([self.rand_mac(), self.rand_mac(), b"\0" * 6, BROADCAST])
        op = rng.choice([1, 1, 2, 2, 0, 3, 4, rng.randrange(65536)])
        body = struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + sha + spa + rng.randbytes(6) + tpa
        if rng.random() < 0.1:
            body = body[:rng.randrange(len(body))]
        return self.eth(body, dst=rng.choice([self.our_mac, BROADCAST]), ethertype=ETH_P_ARP)

    def ipv4(self):
        proto = self.rng.randrange(256)
        return self.ip_frame(proto, self.rng.randbytes(self.rng.randrange(0, 1480)))

    def ipv4_frag(self):
        rng = self.rng
        frag = rng.randrange(0x10000) & 0xBFFF  # any offset, MF or not, never DF alone
        if frag & 0x3FFF == 0:
            frag |= 0x2000
        proto = rng.choice([1, 6, 17, rng.randrange(256)])
        n = 8 * rng.randrange(0, 185) if rng.random() < 0.8 else rng.randrange(0, 1480)
        return self.ip_frame(proto, rng.randbytes(n), frag=frag)

    def tcp_options(self):
        rng = self.rng
        out = b""
        for _ in range(rng.randrange(0, 6)):
            kind = rng.choice([0, 1, 2, 3, 4, 5, 8, rng.randrange(256)])
            if kind in (0, 1):
                out += bytes([kind])
            elif kind == 2:
                out += b"\x02\x04" + struct.pack("!H", rng.randrange(65536))
            elif kind == 3:
                out += b"\x03\x03" + bytes([rng.randrange(256)])
            elif kind == 4:
                out += b"\x04\x02"
            elif kind == 8:
                out += b"\x08\x0a" + rng.randbytes(8)
            else:  # SACK blocks or anything, with any length byte, sane or not
                ln = rng.choice([0, 1, 2, 10, 18, 34, rng.randrange(256)])
                out += bytes([kind, ln]) + rng.randbytes(max(0, min(ln, 40) - 2))
        out = out[:40]
        return out + b"\0" * (-len(out) % 4)

    def tcp(self):
        rng = self.rng
        src, dst = self.src(), self.dst()
        options = self.tcp_options()
        doff = 5 + len(options) // 4
        if rng.random() < 0.05:
            doff = rng.randrange(16)  # any data offset, past the segment or below 5
        flags = rng.choice([0x02, 0x02, 0x10, 0x12, 0x04, 0x14, 0x11, 0x18, 0x01,
                            rng.randrange(256)])
        # Only the host's segments go to the listening ports: the host resets the connections
        # a SYN opens, where a neighbour that does not exist would leave them half-open for a
        # minute of retransmitted SYN-ACKs (the SYN flood is test_syn_flood.sh's business).
        if src == self.host_ip and rng.random() < 0.7:
            dport = rng.choice(LISTENING_TCP)
        else:
            dport = rng.choice([p for p in (rng.randrange(65536), 5555) if p not in LISTENING_TCP])
        data = rng.randbytes(rng.choice([0, 0, 1, rng.randrange(0, 200)]))
        seg = struct.pack("!HHIIBBHHH", rng.randrange(1024, 65536), dport, rng.randrange(1 << 32),
                          rng.randrange(1 << 32), doff << 4, flags, rng.randrange(65536), 0,
                          rng.randrange(65536)) + options + data
        if rng.random() < 0.85:
            seg = self.l4_checksum(src, dst, 6, seg, 16)
        return self.ip_frame(6, seg, src=src, dst=dst)

    def udp(self):
        rng = self.rng
        src, dst = self.src(), self.dst()
        data = rng.randbytes(rng.randrange(0, 600))
        length = 8 + len(data) if rng.random() < 0.9 else rng.randrange(65536)
        dport = rng.choice(UDP_SERVICES) if rng.random() < 0.5 else rng.randrange(65536)
        seg = struct.pack("!HHHH", rng.randrange(1024, 65536), dport, length, 0) + data
        r = rng.random()
        if r < 0.7:
            seg = self.l4_checksum(src, dst, 17, seg, 6)
        elif r < 0.85:
            seg = seg[:6] + rng.randbytes(2) + seg[8:]
        return self.ip_frame(17, seg, src=src, dst=dst)

    def icmp(self):
        rng = self.rng
        src, dst = self.src(), self.dst()
        typ = rng.choice([8, 8, 0, 3, 3, 4, 5, 11, 12, 13, 14, 17, 18, rng.randrange(256)])
        code = rng.choice([0, 0, 1, 2, 3, 4, rng.randrange(256)])
        if typ in (3, 4, 5, 11, 12):
            # An error quoting a datagram "from us" (or from anyone) with 8 bytes or more.
            qproto = rng.choice([1, 6, 17, rng.randrange(256)])
            qsrc = rng.choice([self.our_ip, self.our_ip, rng.randbytes(4)])
            quoted = struct.pack("!BBHHHBBH4s4s", rng.choice([0x45, 0x45, 0x46, rng.randrange(256)]),
                                 0, rng.randrange(65536), rng.randrange(65536), 0, 64, qproto,
                                 0, qsrc, rng.choice(self.ghosts + [self.host_ip]))
            rest = struct.pack("!I", rng.randrange(1 << 32))
            if typ == 3 and code == 4:
                rest = struct.pack("!HH", 0, rng.choice([0, 1, 68, 100, 576, 1280, 65535]))
            body = rest + quoted[:rng.randrange(0, 21)] + rng.randbytes(rng.randrange(0, 64))
        else:
            body = rng.randbytes(4) + rng.randbytes(rng.randrange(0, 1000))
        msg = struct.pack("!BBH", typ, code, 0) + body
        if rng.random() < 0.85:
            c = csum(msg)
            msg = msg[:2] + struct.pack("!H", c) + msg[4:]
        else:
            msg = msg[:2] + rng.randbytes(2) + msg[4:]
        return self.ip_frame(1, msg, src=src, dst=dst)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--iface", default="tap0")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=1000000)
    ap.add_argument("--pool", type=int, default=8192)
    ap.add_argument("--max-seconds", type=float, default=30.0)
    ap.add_argument("--mac", default="02:74:61:70:69:72")
    ap.add_argument("--ip", default="10.0.0.2")
    ap.add_argument("--host-ip", default="10.0.0.1")
    args = ap.parse_args()

    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    sock.bind((args.iface, 0))
    b = Builder(args, sock.getsockname()[4])
    kinds = [k for k, _ in WEIGHTS]
    weights = [w for _, w in WEIGHTS]
    pool, made = [], {k: 0 for k in kinds}
    for _ in range(args.pool):
        kind = b.rng.choices(kinds, weights)[0]
        frame = getattr(b, kind)()
        assert 14 <= len(frame) <= 1514, (kind, len(frame))
        pool.append(frame)
        made[kind] += 1
    for k in kinds:
        print("pool %s %d" % (k, made[k]))
    print("started", flush=True)

    send = sock.send
    n_pool = len(pool)
    sent = errors = 0
    start = time.monotonic()
    deadline = start + args.max_seconds
    while sent + errors < args.count:
        if time.monotonic() >= deadline:
            break
        batch = min(n_pool, args.count - sent - errors)
        for f in pool[:batch]:
            try:
                send(f)
                sent += 1
            except OSError:
                errors += 1
    seconds = time.monotonic() - start
    print("sent %d" % sent)
    print("send_errors %d" % errors)
    print("seconds %.2f" % seconds)
    print("rate %d" % (sent / seconds if seconds > 0 else 0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
