#!/usr/bin/env python3
"""frag_flood.py: a fragment attack on the stack behind a TAP interface, written from the host
side for tests/integration/test_frag_flood.sh. Frames sent on the host's tap0 come out of the
TAP file descriptor, so they reach the stack and nothing else.

    frag_flood.py [--iface tap0] [--seed 1] [--min-frames 50000] [--rate 20000]
                  [--max-seconds 30] [--stop-file PATH] [--sources 10.0.0.1,10.0.0.61,...]
                  [--mac 02:74:61:70:69:72] [--ip 10.0.0.2] [--host-ip 10.0.0.1]

It writes "items" one after another, each the fragments of one datagram (or a lone fragment),
picked at random by weight:

  flood            one 8-byte fragment (now and then a longer one) of a datagram with an
                   identification never used before: first, middle or last, never completed
  tiny_incomplete  a datagram cut into 8-byte fragments, one of them never sent
  tiny_complete    a UDP datagram to the echo port cut into 8-byte fragments, shuffled
                   (fragment zero last): legal, so it must be reassembled and echoed
  overlap_dup      a UDP echo datagram whose fragments overlap consistently (exact repeats and
                   fragments straddling two others, with the same bytes): legal, echoed
  overlap_conflict overlapping fragments that disagree, five patterns: the same range with
                   other bytes, a partial overlap, a superset, the teardrop (a last fragment
                   ending inside data already received) and two different ends
  beyond_end       a fragment with MF set reaching past the end a last fragment set
  bad_len          a lone fragment with MF set and a length that is not a multiple of 8
  pod_slot         fragment zero, then a last fragment ending past 65535 bytes
  pod_lone         a lone fragment ending past 65535 bytes

Every datagram of the attack has its own (source, protocol, identification): the sources are
the --sources addresses (all in 10.0.0.0/24; the ones other than the host do not exist, so the
stack's answers to them wait for ARP that never comes). The host's own ping uses ICMP, which
the attack never sends from the host address, so a legitimate ping's fragments cannot be
mistaken for the attack's. The echo datagrams come from a UDP socket bound on the host, which
receives the stack's echoes; each is checked against what was sent.

It writes at --rate frames per second at most. It keeps going until it has written
--min-frames frames and --stop-file exists (when given), or --max-seconds pass.

Prints "sent KIND ITEMS FRAMES" per kind, then what the stack's counters should show:
  "expect slots N"      datagrams that were given a reassembly slot (every kind but bad_len
                        and pod_lone)
  "expect slotless N"   fragments dropped before any slot was taken (bad_len, pod_lone)
  "expect incomplete N" datagrams that can only end evicted or timed out
  "expect reassembled N", "expect overlap N", "expect bad_len N", "expect too_big N",
  "expect dup N"        at least this much in the matching counter
and "frames N", "flood_frames N", "seconds S", "stop_seen yes|no", "send_errors N",
"echo_requests N", "echo_answered N", "echo_bad N".
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

MF = 0x2000
PROTO_ICMP, PROTO_TCP, PROTO_UDP, PROTO_EXP = 1, 6, 17, 253
ECHO_PORT = 7
# Offsets (bytes) past which a fragment's end exceeds the 65515 bytes of payload IPv4 allows.
POD_OFFSET = 65512

# kind -> weight; the flood is most of the frames.
WEIGHTS = [
    ("flood", 900), ("tiny_incomplete", 15), ("tiny_complete", 10), ("overlap_dup", 10),
    ("overlap_conflict", 25), ("beyond_end", 10), ("bad_len", 10), ("pod_slot", 5),
    ("pod_lone", 5),
]


class FragFlood:
    def __init__(self, args):
        self.rng = random.Random(args.seed)
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        self.sock.bind((args.iface, 0))
        host_mac = self.sock.getsockname()[4]
        self.eth = mac_bytes(args.mac) + host_mac + b"\x08\x00"
        self.dst = ip_bytes(args.ip)
        self.host = ip_bytes(args.host_ip)
        self.sources = [ip_bytes(s) for s in args.sources.split(",")]
        # The echo datagrams' source: a real socket on the host, which gets the echoes.
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((args.host_ip, 0))
        self.udp.setblocking(False)
        self.udp_port = self.udp.getsockname()[1]
        # (source, protocol) -> the next identification: every datagram gets a key of its own.
        self.next_id = {}
        self.combos = []
        for s in self.sources:
            for p in (PROTO_UDP, PROTO_TCP, PROTO_EXP) if s == self.host else \
                    (PROTO_ICMP, PROTO_UDP, PROTO_TCP, PROTO_EXP):
                self.combos.append((s, p))
                self.next_id[(s, p)] = self.rng.randrange(65536)
        self.used = {c: 0 for c in self.combos}
        self.combo_at = 0
        self.items = {k: 0 for k, _ in WEIGHTS}
        self.frames_of = {k: 0 for k, _ in WEIGHTS}
        self.expect = {k: 0 for k in ("slots", "slotless", "incomplete", "reassembled",
                                      "overlap", "bad_len", "too_big", "dup")}
        self.frames = 0
        self.send_errors = 0
        self.echo_expected = {}  # tag -> data
        self.echo_requests = 0
        self.echo_answered = 0
        self.echo_bad = 0

    # --- building blocks ---

    def new_key(self, src=None, proto=None):
        """A (source, protocol, identification) never used before in this run."""
        if src is None:
            for _ in range(len(self.combos)):
                combo = self.combos[self.combo_at]
                self.combo_at = (self.combo_at + 1) % len(self.combos)
                if self.used[combo] < 65536:
                    break
            else:
                raise RuntimeError("out of identifications")
        else:
            combo = (src, proto)
            if self.used[combo] >= 65536:
                raise RuntimeError("out of identifications")
        ident = self.next_id[combo]
        self.next_id[combo] = (ident + 1) & 0xFFFF
        self.used[combo] += 1
        return combo[0], combo[1], ident

    def frag(self, key, off, data, more):
        src, proto, ident = key
        field = (MF if more else 0) | (off // 8)
        h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(data), ident, field, 64, proto, 0,
                        src, self.dst)
        return self.eth + h[:10] + struct.pack("!H", csum(h)) + h[12:] + data

    def udp_echo(self, size):
        """A UDP datagram (header and data) from our socket to the echo port; its data is
        remembered so the echo can be checked."""
        tag = self.echo_requests
        self.echo_requests += 1
        data = struct.pack("!I", tag) + self.rng.randbytes(size - 4)
        self.echo_expected[tag] = data
        length = 8 + len(data)
        pseudo = self.host + self.dst + struct.pack("!BBH", 0, PROTO_UDP, length)
        hdr = struct.pack("!HHHH", self.udp_port, ECHO_PORT, length, 0)
        c = csum(pseudo + hdr + data) or 0xFFFF
        return hdr[:6] + struct.pack("!H", c) + data

    @staticmethod
    def pieces(payload, size):
        """Cuts payload at multiples of size (a multiple of 8): [(offset, bytes, more)]."""
        out = []
        for off in range(0, len(payload), size):
            chunk = payload[off:off + size]
            out.append((off, chunk, off + len(chunk) < len(payload)))
        return out

    def junk(self, n):
        return self.rng.randbytes(n)

    # --- the kinds: each returns its frames ---

    def flood(self):
        key = self.new_key()
        n = 8 if self.rng.randrange(10) else 8 * self.rng.randrange(2, 186)
        where = self.rng.randrange(3)
        if where == 0:  # fragment zero
            frame = self.frag(key, 0, self.junk(n), True)
        elif where == 1:  # a middle fragment
            frame = self.frag(key, 8 * self.rng.randrange(1, 4000), self.junk(n), True)
        else:  # a last fragment
            frame = self.frag(key, 8 * self.rng.randrange(1, 4000), self.junk(n), False)
        self.expect["slots"] += 1
        self.expect["incomplete"] += 1
        return [frame]

    def tiny_incomplete(self):
        key = self.new_key()
        parts = self.pieces(self.junk(8 * self.rng.randrange(4, 17)), 8)
        del parts[self.rng.randrange(len(parts))]
        self.rng.shuffle(parts)
        self.expect["slots"] += 1
        self.expect["incomplete"] += 1
        return [self.frag(key, off, d, more) for off, d, more in parts]

    def ordered_for_completion(self, parts):
        """Shuffled, with fragment zero last: nothing completes the datagram before the last
        frame, so no fragment arrives after it is gone (and starts a new one)."""
        first = [p for p in parts if p[0] == 0]
        rest = [p for p in parts if p[0] != 0]
        self.rng.shuffle(rest)
        return rest + first

    def tiny_complete(self):
        key = self.new_key(self.host, PROTO_UDP)
        parts = self.pieces(self.udp_echo(8 * self.rng.randrange(4, 50) + 4), 8)
        self.expect["slots"] += 1
        self.expect["reassembled"] += 1
        return [self.frag(key, off, d, more) for off, d, more in self.ordered_for_completion(parts)]

    def overlap_dup(self):
        key = self.new_key(self.host, PROTO_UDP)
        payload = self.udp_echo(8 * self.rng.randrange(8, 120) + self.rng.randrange(1, 8))
        parts = self.pieces(payload, 8 * self.rng.randrange(1, 5))
        extra = []
        later = [p for p in parts if p[0] != 0]
        for p in self.rng.sample(later, min(len(later), self.rng.randrange(1, 4))):
            extra.append(p)  # an exact repeat: one of the two copies counts as a duplicate
        if len(payload) > 48:
            # A fragment straddling others, with the same bytes, never at offset 0 (so the
            # datagram still completes only with fragment zero, sent last).
            a = 8 * self.rng.randrange(1, (len(payload) - 16) // 8)
            b = min(len(payload) - 1, a + 8 * self.rng.randrange(1, 8)) // 8 * 8
            if b > a:
                extra.append((a, payload[a:b], True))
        self.expect["slots"] += 1
        self.expect["reassembled"] += 1
        self.expect["dup"] += len([p for p in extra if p in parts])
        order = self.ordered_for_completion(parts[1:] + extra + parts[:1])
        return [self.frag(key, off, d, more) for off, d, more in order]

    def overlap_conflict(self):
        key = self.new_key()
        pattern = self.rng.randrange(5)
        x = 8 * self.rng.randrange(0, 100)
        if pattern == 0:  # the same range, other bytes
            n = 8 * self.rng.randrange(1, 9)
            a = self.junk(n)
            b = bytes(v ^ 0xFF for v in a)
            frames = [self.frag(key, x, a, True), self.frag(key, x, b, True)]
        elif pattern == 1:  # a partial overlap, other bytes where they meet
            a = self.junk(32)
            b = bytes(v ^ 0x55 for v in a[16:]) + self.junk(16)
            frames = [self.frag(key, x, a, True), self.frag(key, x + 16, b, True)]
        elif pattern == 2:  # a superset of what arrived, disagreeing with it
            a = self.junk(8)
            b = self.junk(8) + bytes(v ^ 1 for v in a) + self.junk(16)
            frames = [self.frag(key, x + 8, a, True), self.frag(key, x, b, True)]
        elif pattern == 3:  # teardrop: a last fragment ending inside data already here
            frames = [self.frag(key, x, self.junk(48), True),
                      self.frag(key, x + 24, self.junk(8), False)]
        else:  # two last fragments that end in different places
            n = 8 * self.rng.randrange(1, 9)
            frames = [self.frag(key, x + 8, self.junk(n), False),
                      self.frag(key, x + 8, self.junk(n + self.rng.randrange(1, 8)), False)]
        self.expect["slots"] += 1
        self.expect["overlap"] += 1
        return frames

    def beyond_end(self):
        key = self.new_key()
        x = 8 * self.rng.randrange(1, 100)
        self.expect["slots"] += 1
        self.expect["bad_len"] += 1
        return [self.frag(key, x, self.junk(8 * self.rng.randrange(1, 5)), False),
                self.frag(key, x + 40, self.junk(16), True)]

    def bad_len(self):
        key = self.new_key()
        n = self.rng.choice([0, 1, 3, 7, 9, 13, 15, 100, 1001])
        self.expect["slotless"] += 1
        self.expect["bad_len"] += 1
        return [self.frag(key, 8 * self.rng.randrange(0, 100), self.junk(n), True)]

    def pod_slot(self):
        key = self.new_key()
        self.expect["slots"] += 1
        self.expect["too_big"] += 1
        return [self.frag(key, 0, self.junk(8 * self.rng.randrange(1, 20)), True),
                self.frag(key, POD_OFFSET, self.junk(16 + 8 * self.rng.randrange(0, 100)), False)]

    def pod_lone(self):
        key = self.new_key()
        self.expect["slotless"] += 1
        self.expect["too_big"] += 1
        return [self.frag(key, POD_OFFSET, self.junk(16 + 8 * self.rng.randrange(0, 180)),
                          self.rng.randrange(2) == 0)]

    # --- the echoes ---

    def drain_echoes(self):
        while True:
            try:
                data, _ = self.udp.recvfrom(70000)
            except BlockingIOError:
                return
            tag = struct.unpack("!I", data[:4])[0] if len(data) >= 4 else -1
            want = self.echo_expected.pop(tag, None)
            if want is not None and want == data:
                self.echo_answered += 1
            else:
                self.echo_bad += 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--iface", default="tap0")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--min-frames", type=int, default=50000)
    ap.add_argument("--rate", type=float, default=20000.0, help="frames per second at most")
    ap.add_argument("--max-seconds", type=float, default=30.0)
    ap.add_argument("--stop-file", default=None)
    ap.add_argument("--sources", default="10.0.0.1,10.0.0.61,10.0.0.62,10.0.0.63")
    ap.add_argument("--mac", default="02:74:61:70:69:72")
    ap.add_argument("--ip", default="10.0.0.2")
    ap.add_argument("--host-ip", default="10.0.0.1")
    args = ap.parse_args()
    ff = FragFlood(args)
    kinds = [k for k, _ in WEIGHTS]
    weights = [w for _, w in WEIGHTS]

    print("started", flush=True)
    start = time.monotonic()
    stop_seen = False
    next_check = 0
    while True:
        if ff.frames >= next_check:
            next_check = ff.frames + 256
            now = time.monotonic()
            elapsed = now - start
            if elapsed >= args.max_seconds:
                break
            if ff.frames >= args.min_frames and \
                    (args.stop_file is None or os.path.exists(args.stop_file)):
                stop_seen = args.stop_file is not None
                break
            ahead = ff.frames / args.rate - elapsed
            if ahead > 0:
                time.sleep(ahead)
            ff.drain_echoes()
        kind = ff.rng.choices(kinds, weights)[0]
        frames = getattr(ff, kind)()
        ff.items[kind] += 1
        for f in frames:
            try:
                ff.sock.send(f)
            except OSError:
                ff.send_errors += 1
                continue
            ff.frames += 1
            ff.frames_of[kind] += 1
    seconds = time.monotonic() - start
    # The last echoes: wait until they stop coming (bounded).
    end = time.monotonic() + 3.0
    while time.monotonic() < end and ff.echo_expected:
        ff.drain_echoes()
        time.sleep(0.02)

    for k in kinds:
        print("sent %s %d %d" % (k, ff.items[k], ff.frames_of[k]))
    for k, v in ff.expect.items():
        print("expect %s %d" % (k, v))
    print("frames %d" % ff.frames)
    print("flood_frames %d" % ff.frames_of["flood"])
    print("seconds %.2f" % seconds)
    print("stop_seen %s" % ("yes" if stop_seen else "no"))
    print("send_errors %d" % ff.send_errors)
    print("echo_requests %d" % ff.echo_requests)
    print("echo_answered %d" % ff.echo_answered)
    print("echo_bad %d" % ff.echo_bad)
    return 0


if __name__ == "__main__":
    sys.exit(main())
