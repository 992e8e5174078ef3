#!/usr/bin/env python3
"""inject_frames.py: writes hostile Ethernet frames into a TAP interface from the host side, for
tests/integration/test_hostile_frames.sh. A frame sent on the host's tap0 comes out of the TAP
file descriptor, so it reaches the stack attached to it and nothing else.

    inject_frames.py [--iface tap0] [--seed 1] [--count 1000] [--mac 02:74:61:70:69:72]
                     [--ip 10.0.0.2] [--host-ip 10.0.0.1]

Most frames carry the stack's MAC as destination and a valid EtherType, and IPv4 ones a valid
header checksum, so that each reaches the layer whose check it is meant to fail. Every address
used is in 10.0.0.0/24 or is one of the bad sources being tested. With a fixed seed the frames are
the same on every run.

A few kinds are valid echo requests that take unusual paths (IP options, Ethernet padding after
the datagram, fragments out of order with a duplicate): the script listens on the interface
while it sends and afterwards, and checks that each is answered with the same identifier,
sequence and data. It also checks every IPv4 frame the stack sends meanwhile: header and ICMP
checksums right, addressed to the host (the only real neighbour used as a source), and only
echo replies or destination-unreachable errors.

Prints one line per kind: "sent KIND N" (frames; "refused KIND N" for frames the kernel would
not send: Ethernet runts, which AF_PACKET refuses below 14 bytes, and frames longer than the
interface's MTU allows), "total N", then
"requests KIND N" and "answered KIND N" for the valid kinds, "replies_checked N" and
"bad_replies N" (each bad one also as a "bad: ..." line).
"""
import argparse
import random
import socket
import struct
import sys
import time

ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
BROADCAST = b"\xff" * 6


def mac_bytes(s):
    return bytes(int(x, 16) for x in s.split(":"))


def ip_bytes(s):
    return socket.inet_aton(s)


def csum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return (~total) & 0xFFFF


class Injector:
    def __init__(self, args):
        self.rng = random.Random(args.seed)
        self.our_mac = mac_bytes(args.mac)
        self.our_ip = ip_bytes(args.ip)
        self.host_ip = ip_bytes(args.host_ip)
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        self.sock.bind((args.iface, 0))
        self.host_mac = self.sock.getsockname()[4]
        # Frames the stack sends come in on the host's side of the TAP: listen to them.
        self.listen = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
        self.listen.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)  # SO_RCVBUFFORCE: root only
        self.listen.bind((args.iface, 0))
        self.listen.setblocking(False)
        self.expected = {}  # (icmp id, seq) -> (kind, data)
        self.requests = {}
        self.answered = {}
        self.replies_checked = 0
        self.bad = []
        self.frags = {}  # ip id -> {offset: bytes}, for fragmented replies
        self.frag_total = {}
        self.sent = {}
        self.refused = {}
        self.order = []
        self.since_pause = 0

    # --- building blocks ---

    def rand_unicast_mac(self):
        m = bytearray(self.rng.randbytes(6))
        m[0] = (m[0] & 0xFE) | 0x02  # unicast, locally administered
        return bytes(m)

    def eth(self, dst, ethertype, payload, src=None):
        return dst + (src or self.host_mac) + struct.pack("!H", ethertype) + payload

    def ip_header(self, src, dst, proto, payload_len, *, ihl=5, version=4, total_len=None,
                  frag=0, ident=None, good_csum=True, options=b""):
        if total_len is None:
            total_len = ihl * 4 + payload_len
        ident = self.rng.randrange(65536) if ident is None else ident
        h = struct.pack("!BBHHHBBH4s4s", (version << 4) | (ihl & 0xF), 0, total_len & 0xFFFF,
                        ident, frag, 64, proto, 0, src, dst) + options
        c = csum(h)
        if not good_csum:
            c ^= 1 + self.rng.randrange(0xFFFF)  # never the right one
        return h[:10] + struct.pack("!H", c) + h[12:]

    def ipv4(self, payload, *, src=None, dst=None, proto=1, **kw):
        src = src or self.host_ip
        dst = dst or self.our_ip
        return self.eth(self.our_mac, ETH_P_IP,
                        self.ip_header(src, dst, proto, len(payload), **kw) + payload)

    def icmp_echo(self, data, good_csum=True, expect=None):
        ident, seq = self.rng.randrange(65536), self.rng.randrange(65536)
        if expect:
            self.expected[(ident, seq)] = (expect, data)
            self.requests[expect] = self.requests.get(expect, 0) + 1
        m = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + data
        c = csum(m)
        if not good_csum:
            c ^= 1 + self.rng.randrange(0xFFFF)
        return m[:2] + struct.pack("!H", c) + m[4:]

    def arp(self, *, htype=1, ptype=ETH_P_IP, hlen=6, plen=4, op=1, sha=None, spa=None,
            tha=b"\0" * 6, tpa=None):
        sha = self.host_mac if sha is None else sha
        spa = self.host_ip if spa is None else spa
        tpa = self.our_ip if tpa is None else tpa
        return struct.pack("!HHBBH", htype, ptype, hlen, plen, op) + sha + spa + tha + tpa

    def send(self, kind, frame):
        if isinstance(frame, list):
            for f in frame:
                self.send(kind, f)
            return
        self.order.append(kind)
        try:
            self.sock.send(frame)
        except OSError:
            self.refused[kind] = self.refused.get(kind, 0) + 1
            return
        self.sent[kind] = self.sent.get(kind, 0) + 1
        # Pace the writes so the TAP's queue (a few hundred frames) never overflows.
        self.since_pause += 1
        if self.since_pause >= 32:
            self.since_pause = 0
            time.sleep(0.002)
            self.drain()

    # --- what the stack sends back ---

    def drain(self):
        """Reads every frame waiting on the listening socket; returns how many."""
        n = 0
        while True:
            try:
                f, addr = self.listen.recvfrom(70000)
            except BlockingIOError:
                return n
            n += 1
            if addr[2] != socket.PACKET_OUTGOING and f[6:12] == self.our_mac and len(f) >= 34 and f[12:14] == b"\x08\x00":
                self.check_reply(f)

    def bad_reply(self, why, f):
        self.bad.append("%s: %s" % (why, f[:48].hex()))

    def check_reply(self, f):
        self.replies_checked += 1
        ip = f[14:]
        ihl = (ip[0] & 0xF) * 4
        total = struct.unpack("!H", ip[2:4])[0]
        if ip[0] >> 4 != 4 or ihl < 20 or total > len(ip) or total < ihl:
            return self.bad_reply("malformed IPv4 header", f)
        if csum(ip[:ihl]) != 0:
            return self.bad_reply("bad IPv4 header checksum", f)
        if ip[12:16] != self.our_ip or ip[16:20] != self.host_ip:
            return self.bad_reply("addressed %s > %s, not %s > %s" % (
                socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20]),
                socket.inet_ntoa(self.our_ip), socket.inet_ntoa(self.host_ip)), f)
        if ip[9] != 1:
            return self.bad_reply("protocol %d, not ICMP" % ip[9], f)
        frag = struct.unpack("!H", ip[6:8])[0]
        body = ip[ihl:total]
        if frag & 0x3FFF:  # a fragment: reassemble by IP id before looking at the ICMP
            ident = struct.unpack("!H", ip[4:6])[0]
            pieces = self.frags.setdefault(ident, {})
            pieces[(frag & 0x1FFF) * 8] = body
            if not frag & 0x2000:
                self.frag_total[ident] = (frag & 0x1FFF) * 8 + len(body)
            want = self.frag_total.get(ident)
            if want is None or sum(len(b) for b in pieces.values()) < want:
                return
            body = b"".join(pieces[o] for o in sorted(pieces))
            del self.frags[ident]
            if len(body) != want:
                return self.bad_reply("fragments of id %d do not add up" % ident, f)
        if len(body) < 8 or csum(body) != 0:
            return self.bad_reply("bad ICMP checksum or length", f)
        if body[0] == 3 and body[1] == 2:
            return  # protocol unreachable, for the unknown protocols
        if body[0] != 0:
            return self.bad_reply("ICMP type %d code %d" % (body[0], body[1]), f)
        key = struct.unpack("!HH", body[4:8])
        exp = self.expected.pop(key, None)
        if exp is None:
            return self.bad_reply("echo reply to no request of ours (id %d seq %d)" % key, f)
        kind, data = exp
        if body[8:] != data:
            return self.bad_reply("%s: reply data differs (%d bytes, sent %d)" % (
                kind, len(body) - 8, len(data)), f)
        self.answered[kind] = self.answered.get(kind, 0) + 1

    def collect(self, quiet_s=1.0, max_s=5.0):
        """Reads replies until nothing arrived for quiet_s (or max_s passed)."""
        end = time.time() + max_s
        last = time.time()
        while time.time() < end and time.time() - last < quiet_s:
            if self.drain():
                last = time.time()
            time.sleep(0.01)

    # --- the kinds: each returns one frame ---

    def eth_runt(self):
        return self.rng.randbytes(self.rng.randrange(1, 14))

    def eth_oversize(self):
        # Longer than a 1500-byte MTU allows even with an 802.1Q tag (1518): an IPv4 header that
        # is valid and matches the length. The host's tap0 must have a larger MTU for the kernel
        # to send it (the test raises it); otherwise it is refused.
        n = self.rng.randrange(1519, 4000) - 14
        payload = self.icmp_echo(self.rng.randbytes(n - 20 - 8))
        return self.ipv4(payload)

    def eth_wrong_mac(self):
        return self.eth(self.rand_unicast_mac(), ETH_P_IP,
                        self.ip_header(self.host_ip, self.our_ip, 1, 8) + self.icmp_echo(b""))

    def eth_unknown_type(self):
        while True:
            t = self.rng.randrange(0x0600, 0x10000)
            if t not in (ETH_P_IP, ETH_P_ARP, 0x8100, 0x88A8, 0x9100):
                break
        return self.eth(self.our_mac, t, self.rng.randbytes(self.rng.randrange(46, 200)))

    def arp_truncated(self):
        whole = self.arp()
        return self.eth(self.rng.choice([self.our_mac, BROADCAST]), ETH_P_ARP,
                        whole[: self.rng.randrange(0, 28)])

    def arp_bad_format(self):
        field = self.rng.randrange(4)
        kw = {}
        if field == 0:
            kw["htype"] = self.rng.choice([0, 6, 0x100, 0xFFFF])
        elif field == 1:
            kw["ptype"] = self.rng.choice([0x86DD, 0, 0x0806, 0x1234])
        elif field == 2:
            kw["hlen"] = self.rng.choice([0, 4, 8, 255])
        else:
            kw["plen"] = self.rng.choice([0, 6, 16, 255])
        # Sender fields stay well-formed but name a host that does not exist.
        return self.eth(BROADCAST, ETH_P_ARP,
                        self.arp(sha=self.rand_unicast_mac(), spa=ip_bytes("10.0.0.201"), **kw))

    def arp_bad_op(self):
        op = self.rng.choice([0, 3, 4, 8, 9, 0x100, 0xFFFF])
        return self.eth(BROADCAST, ETH_P_ARP,
                        self.arp(op=op, sha=self.rand_unicast_mac(), spa=ip_bytes("10.0.0.202")))

    def arp_bad_sender(self):
        choice = self.rng.randrange(4)
        sha, spa = self.rand_unicast_mac(), ip_bytes("10.0.0.203")
        if choice == 0:
            sha = b"\0" * 6
        elif choice == 1:
            sha = bytes([0x01, 0x00, 0x5E, 0, 0, self.rng.randrange(256)])  # multicast
        elif choice == 2:
            spa = ip_bytes("224.0.0.%d" % self.rng.randrange(1, 255))
        else:
            spa = self.rng.choice([ip_bytes("255.255.255.255"), ip_bytes("10.0.0.255")])
        return self.eth(BROADCAST, ETH_P_ARP, self.arp(op=self.rng.choice([1, 2]), sha=sha, spa=spa))

    def ip_truncated(self):
        whole = self.ip_header(self.host_ip, self.our_ip, 1, 8)
        return self.eth(self.our_mac, ETH_P_IP, whole[: self.rng.randrange(0, 20)])

    def ip_bad_version(self):
        v = self.rng.choice([0, 1, 2, 3, 5, 6, 7, 15])
        return self.ipv4(self.icmp_echo(b"x" * 8), version=v)

    def ip_bad_ihl(self):
        if self.rng.randrange(2):
            ihl = self.rng.randrange(0, 5)  # below 20 bytes
            payload = self.icmp_echo(b"y" * 16)
            return self.ipv4(payload, ihl=ihl, total_len=20 + len(payload))
        # Longer than the packet: the frame ends right after a 20-byte header.
        ihl = self.rng.randrange(6, 16)
        return self.eth(self.our_mac, ETH_P_IP,
                        self.ip_header(self.host_ip, self.our_ip, 1, 0, ihl=ihl, total_len=20))

    def ip_bad_length(self):
        payload = self.icmp_echo(self.rng.randbytes(self.rng.randrange(0, 64)))
        if self.rng.randrange(2):
            total = 20 + len(payload) + self.rng.randrange(1, 1000)  # past the frame
        else:
            total = self.rng.randrange(0, 20)  # shorter than the header
        return self.ipv4(payload, total_len=total)

    def ip_bad_checksum(self):
        return self.ipv4(self.icmp_echo(self.rng.randbytes(32)), good_csum=False)

    def ip_bad_source(self):
        src = self.rng.choice(["0.0.0.0", "127.0.0.1", "127.1.2.3", "224.0.0.1", "239.1.2.3",
                               "255.255.255.255", "10.0.0.255", "10.0.0.2"])
        return self.ipv4(self.icmp_echo(b"z" * 8), src=ip_bytes(src))

    def ip_not_for_us(self):
        last = self.rng.choice([n for n in range(1, 255) if n != 2])
        return self.ipv4(self.icmp_echo(b"w" * 8), dst=ip_bytes("10.0.0.%d" % last))

    def ip_unknown_proto(self):
        proto = self.rng.choice([143, 200, 252, 253, 254])
        return self.ipv4(self.rng.randbytes(self.rng.randrange(8, 64)), proto=proto)

    def icmp_truncated(self):
        return self.ipv4(self.rng.randbytes(self.rng.randrange(0, 8)))

    def icmp_bad_checksum(self):
        return self.ipv4(self.icmp_echo(self.rng.randbytes(self.rng.randrange(0, 100)),
                                        good_csum=False))

    def ip_fragment(self):
        # Fragments of datagrams that never complete: offset 0 is never sent. Some share an
        # identification and overlap (consistently or not), some have bad lengths. The source
        # is a neighbour that does not exist, so nothing answers and no real datagram collides.
        ident = self.rng.randrange(8)  # few ids, so overlaps happen
        off8 = self.rng.randrange(1, 64)
        mf = self.rng.randrange(4) != 0
        length = self.rng.choice([8, 16, 24, 64, 13, 100, 1024])
        data = bytes([ident]) * length if self.rng.randrange(2) else self.rng.randbytes(length)
        frag = (0x2000 if mf else 0) | off8
        return self.ipv4(data, src=ip_bytes("10.0.0.3"), proto=self.rng.choice([1, 17, 253]),
                         frag=frag, ident=0x7100 + ident)

    def random_deep(self):
        # Random bytes behind a header addressed to us with a valid EtherType.
        return self.eth(self.our_mac, self.rng.choice([ETH_P_IP, ETH_P_ARP]),
                        self.rng.randbytes(self.rng.randrange(0, 1501)))

    def random_frame(self):
        return self.rng.randbytes(self.rng.randrange(14, 1515))

    def valid_echo_options(self):
        # A good echo request with IP options (NOPs, then end of list): must be answered.
        n_words = self.rng.randrange(1, 11)
        options = b"\x01" * (n_words * 4 - 1) + b"\x00"
        data = self.rng.randbytes(self.rng.randrange(0, 64))
        return self.ipv4(self.icmp_echo(data, expect="valid_echo_options"),
                         ihl=5 + n_words, options=options)

    def valid_echo_padded(self):
        # A short echo request in a frame padded to the 60-byte Ethernet minimum with junk after
        # the datagram (a NIC pads with zeros; anything is legal): the reply carries no padding.
        data = self.rng.randbytes(self.rng.randrange(0, 18))
        frame = self.ipv4(self.icmp_echo(data, expect="valid_echo_padded"))
        return frame + self.rng.randbytes(60 - len(frame))

    def valid_echo_fragmented(self):
        # A good echo request cut into fragments (multiples of 8 bytes), sent out of order with
        # one fragment repeated: must be reassembled and answered. Sent back to back, so the
        # other kinds cannot push it out of the reassembly table.
        data = self.rng.randbytes(self.rng.randrange(1000, 4000))
        msg = self.icmp_echo(data, expect="valid_echo_fragmented")
        cuts, off = [], 0
        while off < len(msg):
            n = min(len(msg) - off, 8 * self.rng.randrange(1, 185))
            if off == 0 and n == len(msg):  # at least two fragments
                n = (len(msg) - 1) // 8 * 8
            cuts.append((off, msg[off:off + n]))
            off += n
        cuts.append(self.rng.choice(cuts))  # a duplicate, consistent with the original
        self.rng.shuffle(cuts)
        ident = self.rng.randrange(65536)
        frames = []
        for off, piece in cuts:
            mf = 0x2000 if off + len(piece) < len(msg) else 0
            frames.append(self.ipv4(piece, frag=mf | (off // 8), ident=ident))
        return frames


# kind -> how many of the --count items it gets, by weight (a fragmented echo request is several
# frames; runts are extra, and refused).
WEIGHTS = [
    ("eth_wrong_mac", 60), ("eth_unknown_type", 60), ("eth_oversize", 20),
    ("arp_truncated", 50), ("arp_bad_format", 50), ("arp_bad_op", 50), ("arp_bad_sender", 30),
    ("ip_truncated", 30), ("ip_bad_version", 50), ("ip_bad_ihl", 50), ("ip_bad_length", 50),
    ("ip_bad_checksum", 60), ("ip_bad_source", 50), ("ip_not_for_us", 50),
    ("ip_unknown_proto", 50), ("icmp_truncated", 40), ("icmp_bad_checksum", 50),
    ("ip_fragment", 100), ("random_deep", 30), ("random_frame", 40), ("valid_echo_options", 10),
    ("valid_echo_padded", 10), ("valid_echo_fragmented", 10),
]
VALID_KINDS = ["valid_echo_options", "valid_echo_padded", "valid_echo_fragmented"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--iface", default="tap0")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--runts", type=int, default=10, help="runt frames to try (kernel refuses)")
    ap.add_argument("--mac", default="02:74:61:70:69:72")
    ap.add_argument("--ip", default="10.0.0.2")
    ap.add_argument("--host-ip", default="10.0.0.1")
    args = ap.parse_args()
    inj = Injector(args)

    total_weight = sum(w for _, w in WEIGHTS)
    plan = []
    for kind, w in WEIGHTS:
        plan += [kind] * (args.count * w // total_weight)
    while len(plan) < args.count:  # rounding
        plan.append("random_deep")
    inj.rng.shuffle(plan)
    for kind in plan:
        inj.send(kind, getattr(inj, kind)())
    for _ in range(args.runts):
        inj.send("eth_runt", inj.eth_runt())
    inj.collect()

    for kind in [k for k, _ in WEIGHTS] + ["eth_runt"]:
        if kind in inj.sent:
            print("sent %s %d" % (kind, inj.sent[kind]))
        if kind in inj.refused:
            print("refused %s %d" % (kind, inj.refused[kind]))
    print("total %d" % sum(inj.sent.values()))
    for kind in VALID_KINDS:
        print("requests %s %d" % (kind, inj.requests.get(kind, 0)))
        print("answered %s %d" % (kind, inj.answered.get(kind, 0)))
    print("replies_checked %d" % inj.replies_checked)
    print("bad_replies %d" % len(inj.bad))
    for b in inj.bad[:20]:
        print("bad: %s" % b)
    return 0


if __name__ == "__main__":
    sys.exit(main())
