#!/usr/bin/env python3
"""blind_inject.py: the client and the attacker of test_blind_attack.sh, in one process.

    blind_inject.py [--mode load|edge] [--iface tap0] [--ip 10.0.0.2] [--host-ip 10.0.0.1]
                    [--port 7] [--seed 1] [--each 300] [--burst 4000] [--min-mib 24]
                    [--interval-ms 2] [--deadline 45]

--mode load (the default): a bulk transfer under attack, below. --mode edge: a quiet echo
connection (1000 bytes sent and echoed, so tapir's RCV.NXT is known exactly), then one forged
segment at a time at RCV.NXT, each with a TSval far ahead of TS.Recent and each one a check must
refuse: data with an ACK above SND.NXT, a SYN, a RST at RCV.NXT + 1, a RST at RCV.NXT - 1. After
each the host sends 100 bytes of its own, which must come back within 3 s: a refused segment
that moved TS.Recent would make PAWS drop them. Prints "count edge_KIND 1" per segment written
and "count edge_stuck 0|1" (1: the connection hung, left open in tapir).

In --mode load the client is the host's own TCP: a socket on 10.0.0.1 that streams a pattern (a random block
of a prime length, repeated) into tapir's echo service and reads the echo back, checking every
byte, until it has sent at least --min-mib MiB and the attack is over; then it sends its FIN
and reads to EOF. The socket's send buffer is kept small (256 KiB asked, the kernel doubles it)
so that the host never has more in flight than tapir's window holds and tap0's queue takes.

The attacker listens on tap0 with AF_PACKET (a BPF filter keeps only tapir's segments on the
connection, their headers only) and learns from them what an attacker on the path would: the
host's ISN (the SYN,ACK acknowledges it), tapir's window scale and timestamps, tapir's sequence
numbers and the right edge of the window it offers. It writes forged segments "from the host"
(10.0.0.1, the client's port, tap0's MAC) into tap0, with PACKET_QDISC_BYPASS, so each reaches
tapir ahead of anything the host's TCP queues afterwards. Every --interval-ms one of, shuffled,
--each of every kind:

    rst_in    RST (half of them RST,ACK) inside the window, never at RCV.NXT: a challenge ACK
    syn_in    SYN (half SYN,ACK) inside the window: a challenge ACK (RFC 5961 §4)
    ack_bad   in-window segment (3 in 4 with data) whose ACK is far above SND.NXT or far below
              SND.UNA - MAX.SND.WND: dropped with a challenge ACK (RFC 5961 §5)
    rst_out   RST below or above the window: dropped silently
    syn_out   SYN below or above the window: dropped (an ACK, RFC 9293)
    data_out  data below or above the window: dropped (an ACK)

then --burst in-window RSTs within half a second, past the challenge ACK rate limit (RFC 5961
§7). Half the forged segments carry a timestamps option whose TSval is ahead of tapir's
TS.Recent (so PAWS passes them on to the checks under test), half carry none.

Why "inside the window, never at RCV.NXT" holds for certain: the client and the attacker are
one thread. When a RST is written, the host has been handed W bytes, so no segment already in
tap0's queue carries a sequence number past ISN + 1 + W, and tapir's RCV.NXT when it reads the
RST is at most that; the RST's sequence number is above it. And tapir never shrinks its window
(RFC 9293 §3.8.6.2.2), so a sequence number below the right edge it has offered is still inside
when the RST arrives. A segment "below the window" is below the last ACK tapir sent, which only
grows; one "above" is past ISN + 1 + W plus the largest window the scale allows.

Prints TAP lines ("ok - " / "not ok - ") for the client's side, "# " comments, and
"count KIND N" for the segments written of each kind (and burst, burst_ms, refused, deferred,
tapir_segments_seen, bytes).
"""
import argparse
import ctypes
import errno
import os
import random
import select
import socket
import struct
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from inject_frames import csum  # noqa: E402
from tcp_probe import diag, say  # noqa: E402

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
SOL_PACKET = 263
PACKET_QDISC_BYPASS = 20
SO_ATTACH_FILTER = 26
SO_RCVBUFFORCE = 33

TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK = 0x01, 0x02, 0x04, 0x08, 0x10

KINDS = ("rst_in", "syn_in", "ack_bad", "rst_out", "syn_out", "data_out")
IN_WINDOW = ("rst_in", "syn_in", "ack_bad")

M32 = 0xFFFFFFFF


def seq_diff(a, b):
    """a - b as a signed 32-bit difference (RFC 9293 sequence arithmetic)."""
    d = (a - b) & M32
    return d - (1 << 32) if d & 0x80000000 else d


def seq_max(a, b):
    if a is None:
        return b
    return b if seq_diff(b, a) > 0 else a


def bpf_filter(src_ip, sport, dport):
    """A classic BPF program: IPv4, source src_ip, TCP, from sport to dport; keep 128 bytes
    (headers with every option), drop everything else."""
    ip = struct.unpack("!I", socket.inet_aton(src_ip))[0]
    # (code, jt, jf, k)
    prog = [
        (0x28, 0, 0, 12),          # ldh [12]             ethertype
        (0x15, 0, 10, ETH_P_IP),   # jeq #0x800, else drop
        (0x20, 0, 0, 26),          # ld [26]              IPv4 source
        (0x15, 0, 8, ip),          # jeq src_ip, else drop
        (0x30, 0, 0, 23),          # ldb [23]             protocol
        (0x15, 0, 6, 6),           # jeq TCP, else drop
        (0xB1, 0, 0, 14),          # ldxb 4*([14]&0xf)    IP header length
        (0x48, 0, 0, 14),          # ldh [x+14]           TCP source port
        (0x15, 0, 3, sport),       # jeq sport, else drop
        (0x48, 0, 0, 16),          # ldh [x+16]           TCP destination port
        (0x15, 0, 1, dport),       # jeq dport, else drop
        (0x06, 0, 0, 128),         # ret #128
        (0x06, 0, 0, 0),           # drop: ret #0
    ]
    raw = b"".join(struct.pack("HBBI", *ins) for ins in prog)
    buf = ctypes.create_string_buffer(raw)
    fprog = struct.pack("HL", len(prog), ctypes.addressof(buf))
    return buf, fprog


class Tap:
    """What the attacker learns from tapir's segments on the connection."""

    def __init__(self):
        self.host_isn = None      # the client's ISN (SYN,ACK's ACK - 1)
        self.wscale = 0           # tapir's receive window scale
        self.ts_ok = False
        self.tapir_mac = None
        self.ack = None           # the highest ACK tapir has sent: tapir's RCV.NXT then
        self.edge = None          # the highest right edge it has offered
        self.snd_max = None       # the highest sequence number it has sent, plus one
        self.tsval = 0            # its latest TSval, and TSecr (its TS.Recent then)
        self.tsecr = 0
        self.seen = 0
        self.synack = False

    def frame(self, f):
        if len(f) < 34:
            return
        ihl = (f[14] & 0x0F) * 4
        tot = struct.unpack_from("!H", f, 16)[0]
        t = 14 + ihl
        if len(f) < t + 20:
            return
        seq, ack = struct.unpack_from("!II", f, t + 4)
        doff = (f[t + 12] >> 4) * 4
        flags = f[t + 13]
        win = struct.unpack_from("!H", f, t + 14)[0]
        dlen = tot - ihl - doff
        self.seen += 1
        wscale = None
        o, end = t + 20, min(t + doff, len(f))
        while o < end:
            kind = f[o]
            if kind == 0:
                break
            if kind == 1:
                o += 1
                continue
            if o + 1 >= end or f[o + 1] < 2:
                break
            ln = f[o + 1]
            if kind == 3 and ln == 3 and o + 2 < end:
                wscale = f[o + 2]
            elif kind == 8 and ln == 10 and o + 10 <= end:
                self.tsval, tsecr = struct.unpack_from("!II", f, o + 2)
                if flags & TCP_SYN:
                    self.ts_ok = True
                else:
                    self.tsecr = tsecr if not self.tsecr else seq_max(self.tsecr, tsecr)
            o += ln
        if (flags & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK):
            self.synack = True
            self.host_isn = (ack - 1) & M32
            self.wscale = min(wscale, 14) if wscale is not None else 0
            self.tapir_mac = f[6:12]
            edge = (ack + win) & M32  # the window on a SYN is never scaled
        elif not self.synack or not (flags & TCP_ACK):
            return
        else:
            edge = (ack + (win << self.wscale)) & M32
        self.ack = seq_max(self.ack, ack)
        self.edge = seq_max(self.edge, edge)
        end_seq = (seq + dlen + (1 if flags & (TCP_SYN) else 0) + (1 if flags & TCP_FIN else 0)) & M32
        self.snd_max = seq_max(self.snd_max, end_seq)


class Attack:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.tap = Tap()
        self.tapir_ip = socket.inet_aton(args.ip)
        self.host_ip = None
        self.sent = {k: 0 for k in KINDS}
        self.burst = 0
        self.burst_ms = 0.0
        self.refused = 0
        self.deferred = 0
        self.ipid = self.rng.randrange(65536)

    # --- sockets ---

    def open(self, cport):
        a = self.args
        self.sniff = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self._bpf_buf, fprog = bpf_filter(a.ip, a.port, cport)
        self.sniff.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
        self.sniff.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20)
        self.sniff.bind((a.iface, 0))
        # Frames that came in before the filter was attached may be queued: drop them.
        self.sniff.setblocking(False)
        self.drain(limit=100000, keep=False)
        self.out = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        self.out.bind((a.iface, 0))
        try:
            self.out.setsockopt(SOL_PACKET, PACKET_QDISC_BYPASS, 1)
        except OSError as e:
            diag(f"PACKET_QDISC_BYPASS refused ({e!r}); tap0's queue discipline must keep order")
        self.host_mac = self.out.getsockname()[4]
        self.cport = cport

    def drain(self, limit=50000, keep=True):
        n = 0
        while n < limit:
            try:
                f = self.sniff.recv(256)
            except BlockingIOError:
                break
            n += 1
            if keep:
                self.tap.frame(f)
        return n

    # --- forging ---

    def frame(self, seq, ack, flags, data=b"", with_ts=False, mss=None):
        t = self.tap
        opts = b""
        if mss:
            opts += struct.pack("!BBH", 2, 4, mss)
        if with_ts:
            # TSval well ahead of TS.Recent (tapir's last TSecr): PAWS lets it through.
            opts += struct.pack("!BBBBII", 1, 1, 8, 10, (t.tsecr + 0x10000000) & M32, t.tsval)
        doff = (20 + len(opts)) // 4
        tcph = struct.pack("!HHIIBBHHH", self.cport, self.args.port, seq & M32, ack & M32,
                           doff << 4, flags, 502, 0, 0) + opts
        pseudo = self.host_ip + self.tapir_ip + struct.pack("!BBH", 0, 6, len(tcph) + len(data))
        c = csum(pseudo + tcph + data)
        tcph = tcph[:16] + struct.pack("!H", c) + tcph[18:]
        self.ipid = (self.ipid + 1) & 0xFFFF
        iph = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcph) + len(data), self.ipid,
                          0x4000, 64, 6, 0, self.host_ip, self.tapir_ip)
        iph = iph[:10] + struct.pack("!H", csum(iph)) + iph[12:]
        eth = t.tapir_mac + self.host_mac + struct.pack("!H", ETH_P_IP)
        return eth + iph + tcph + data

    def room(self, bound, length):
        """The sequence numbers [lo, hi] where a segment of length (SYN counted) is inside
        tapir's window and wholly past bound (the most RCV.NXT can be); None if none."""
        t = self.tap
        lo = (bound + 1) & M32
        # One unit of the window scale less: the window field was rounded to it.
        hi = (t.edge - (1 << t.wscale) - max(length, 1)) & M32
        if seq_diff(hi, lo) < 0:
            return None
        return lo, hi

    def forge(self, kind, bound):
        """The frame for one segment of this kind, or None when it cannot be made now."""
        t, r = self.tap, self.rng
        with_ts = t.ts_ok and r.random() < 0.5
        maxwin = 65535 << t.wscale
        if kind in IN_WINDOW:
            if kind == "ack_bad":
                data = os.urandom(r.randrange(1, 200)) if r.random() < 0.75 else b""
                length = len(data)
            else:
                data, length = b"", 1 if kind == "syn_in" else 0
            span = self.room(bound, length)
            if span is None:
                return None
            lo, hi = span
            seq = (lo + r.randrange(seq_diff(hi, lo) + 1)) & M32
            if kind == "rst_in":
                flags = TCP_RST | (TCP_ACK if r.random() < 0.5 else 0)
                return self.frame(seq, t.snd_max, flags, with_ts=with_ts)
            if kind == "syn_in":
                flags = TCP_SYN | (TCP_ACK if r.random() < 0.5 else 0)
                return self.frame(seq, t.snd_max, flags, with_ts=with_ts, mss=1460)
            # RFC 5961 §5.2: acceptable only if SND.UNA - MAX.SND.WND <= SEG.ACK <= SND.NXT.
            # 2^30 away either way: tapir cannot have sent a gigabyte since, nor have a window
            # near one.
            off = (1 << 30) + r.randrange(1 << 20)
            ack = t.snd_max + off if r.random() < 0.5 else t.snd_max - off
            return self.frame(seq, ack, TCP_ACK | (TCP_PSH if data else 0), data, with_ts)
        data = os.urandom(r.randrange(1, 200)) if kind == "data_out" else b""
        length = len(data) + (1 if kind == "syn_out" else 0)
        if r.random() < 0.5:
            # Below: wholly before the last ACK tapir sent, and RCV.NXT only grows.
            seq = t.ack - max(length, 1) - 1 - r.randrange(1 << 20)
        else:
            # Above: past the most RCV.NXT can be plus the largest window the scale allows.
            seq = bound + maxwin + 1 + r.randrange(1 << 20)
        if kind == "rst_out":
            flags = TCP_RST | (TCP_ACK if r.random() < 0.5 else 0)
            return self.frame(seq, t.snd_max, flags, with_ts=with_ts)
        if kind == "syn_out":
            return self.frame(seq, t.snd_max, TCP_SYN, with_ts=with_ts, mss=1460)
        return self.frame(seq, t.snd_max, TCP_ACK | TCP_PSH, data, with_ts)

    def send(self, frame):
        try:
            self.out.send(frame)
            return True
        except OSError as e:
            if e.errno not in (errno.ENOBUFS, errno.EAGAIN, errno.EBUSY, errno.ENETDOWN):
                raise
            self.refused += 1
            return False


class Client:
    """The host's TCP: streams the pattern to echo and checks what comes back."""

    def __init__(self, args):
        self.period = 1000003  # a prime: a misplaced chunk cannot line up with the pattern
        block = random.Random(args.seed + 1).randbytes(self.period)
        self.pattern = block + block  # any slice up to period long is contiguous
        self.written = 0
        self.read = 0
        self.mismatch = None
        self.eof = False
        self.error = None

    def expected(self, start, n):
        o = start % self.period
        return self.pattern[o:o + n]


def load(args):
    """The bulk transfer under attack (the default mode)."""
    atk = Attack(args)
    atk.host_ip = socket.inet_aton(args.host_ip)
    cl = Client(args)
    t_start = time.monotonic()
    deadline = t_start + args.deadline
    chunk = 256 << 10

    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 256 << 10)
    s.bind((args.host_ip, 0))
    cport = s.getsockname()[1]
    atk.open(cport)
    s.settimeout(10)
    try:
        s.connect((args.ip, args.port))
    except OSError as e:
        say(False, f"connect to {args.ip}:{args.port}: {e!r}")
        return 1
    s.setblocking(False)
    diag(f"client 10.0.0.1:{cport} -> {args.ip}:{args.port}, send buffer {s.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)}")

    # The attack plan: --each of every kind, shuffled, then the burst.
    plan = [k for k in KINDS for _ in range(args.each)]
    atk.rng.shuffle(plan)
    pi = 0
    burst_done = args.burst == 0
    interval = args.interval_ms / 1000.0
    next_inject = time.monotonic() + 0.2  # let the transfer get going first
    min_bytes = args.min_mib << 20
    fin_sent = False
    rbuf = bytearray(chunk)
    rview = memoryview(rbuf)
    pattern = memoryview(cl.pattern)
    poll = select.poll()
    poll.register(s.fileno(), select.POLLIN | select.POLLOUT)
    poll.register(atk.sniff.fileno(), select.POLLIN)
    writing = True
    info_before_fin = None
    attack_t0 = attack_t1 = None

    def bound():
        # The most tapir's RCV.NXT can be: the client's ISN + 1 + what the host was handed
        # (+ 1 for the FIN once sent).
        return (atk.tap.host_isn + 1 + cl.written + (1 if fin_sent else 0)) & M32

    while not cl.eof:
        now = time.monotonic()
        if now > deadline:
            say(False, f"the transfer and the attack finished within {args.deadline:.0f} s "
                f"(sent {cl.written}, read {cl.read}, injected {sum(atk.sent.values())}, burst {atk.burst})")
            break
        attacking = pi < len(plan) or not burst_done
        timeout = max(0.0, next_inject - now) if attacking else 1.0
        for fd, ev in poll.poll(timeout * 1000):
            if fd == atk.sniff.fileno():
                atk.drain()
                continue
            if ev & (select.POLLIN | select.POLLERR | select.POLLHUP):
                for _ in range(32):
                    try:
                        n = s.recv_into(rview, chunk)
                    except BlockingIOError:
                        break
                    except OSError as e:
                        cl.error = e
                        break
                    if n == 0:
                        cl.eof = True
                        break
                    got, want = bytes(rview[:n]), cl.expected(cl.read, n)
                    if cl.mismatch is None and got != want:
                        cl.mismatch = cl.read + next(i for i in range(n) if got[i] != want[i])
                    cl.read += n
            if cl.error:
                break
            if writing and ev & select.POLLOUT:
                for _ in range(32):
                    o = cl.written % cl.period
                    try:
                        n = s.send(pattern[o:o + chunk])
                    except BlockingIOError:
                        break
                    except OSError as e:
                        cl.error = e
                        break
                    cl.written += n
        if cl.error:
            break

        # The attack: one segment every interval, then the burst.
        now = time.monotonic()
        if attacking and now >= next_inject and atk.tap.synack and atk.tap.ack is not None:
            atk.drain()
            if pi < len(plan):
                # Catch up with the schedule (a few at a time: the client has work too).
                for _ in range(16):
                    if pi >= len(plan) or now < next_inject:
                        break
                    # The first kind in the plan that can be made now (in-window ones need
                    # room in the window).
                    frame = None
                    for j in range(pi, min(pi + 8, len(plan))):
                        frame = atk.forge(plan[j], bound())
                        if frame is not None:
                            break
                    if frame is None:
                        atk.deferred += 1
                        next_inject = now + interval
                        break
                    if not atk.send(frame):
                        next_inject = now + interval
                        break
                    if attack_t0 is None:
                        attack_t0 = now
                    atk.sent[plan[j]] += 1
                    plan[pi], plan[j] = plan[j], plan[pi]
                    pi += 1
                    next_inject += interval
            elif not burst_done:
                # In-window RSTs, evenly over half a second: more than the rate limit lets
                # through in any one second. Nothing is written meanwhile, so the bound holds.
                b0 = time.monotonic()
                gap = 0.5 / max(args.burst, 1)
                i = 0
                while i < args.burst and time.monotonic() < deadline:
                    if i % 64 == 0:
                        atk.drain()
                    frame = atk.forge("rst_in", bound())
                    if frame is None:
                        atk.deferred += 1
                        atk.drain()
                        time.sleep(0.001)
                        continue
                    target = b0 + i * gap
                    d = target - time.monotonic()
                    if d > 0:
                        time.sleep(d)
                    if atk.send(frame):
                        i += 1
                atk.burst = i
                atk.burst_ms = (time.monotonic() - b0) * 1000
                burst_done = True
                attack_t1 = time.monotonic()
                next_inject = time.monotonic()

        if writing and not attacking and cl.written >= min_bytes:
            # The attack is over: the client's state, then its FIN.
            info_before_fin = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
            s.shutdown(socket.SHUT_WR)
            fin_sent = True
            writing = False
            poll.modify(s.fileno(), select.POLLIN)

    elapsed = time.monotonic() - t_start
    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    s.close()

    reset = isinstance(cl.error, (ConnectionResetError, BrokenPipeError)) or err in (errno.ECONNRESET, errno.EPIPE)
    say(not reset and cl.error is None, "the client saw no reset and no error on its socket"
        + (f" (got {cl.error!r}, SO_ERROR {err})" if cl.error or err else ""))
    say(cl.eof and cl.read == cl.written,
        f"echo: all {cl.written} bytes came back, then EOF (read {cl.read})")
    say(cl.mismatch is None, "echo: every byte came back as sent (none forged, none misplaced)"
        + (f" (first wrong byte at {cl.mismatch})" if cl.mismatch is not None else ""))
    say(cl.written >= min_bytes, f"the client sent at least {args.min_mib} MiB ({cl.written} bytes)")
    if info_before_fin is not None:
        state = info_before_fin[0]
        total_retrans = struct.unpack_from("I", info_before_fin, 100)[0]
        say(state == 1, f"the client's socket was ESTABLISHED after the attack (tcpi_state {state})")
        diag(f"client: tcpi_total_retrans {total_retrans}")
    else:
        say(False, "the client's socket was ESTABLISHED after the attack (never got there)")
    missing = {k: args.each - n for k, n in atk.sent.items() if n < args.each}
    say(not missing and atk.burst == args.burst,
        f"every segment planned was written: {args.each} of each kind, a burst of {args.burst}"
        + (f" (short: {missing}, burst {atk.burst})" if missing or atk.burst != args.burst else ""))
    diag(f"learnt from tap0: host ISN {atk.tap.host_isn}, tapir window scale {atk.tap.wscale}, "
         f"timestamps {'on' if atk.tap.ts_ok else 'off'}, {atk.tap.seen} of tapir's segments seen")
    diag(f"{cl.written} bytes each way in {elapsed:.2f} s; attack "
         f"{((attack_t1 or time.monotonic()) - (attack_t0 or t_start)):.2f} s")
    for k in KINDS:
        print(f"count {k} {atk.sent[k]}")
    print(f"count burst {atk.burst}")
    print(f"count burst_ms {int(atk.burst_ms + 0.999)}")
    print(f"count refused {atk.refused}")
    print(f"count deferred {atk.deferred}")
    print(f"count tapir_segments_seen {atk.tap.seen}")
    print(f"count bytes {cl.written}")
    sys.stdout.flush()
    return 0


def recv_exactly(s, n, timeout):
    """n bytes from s within timeout seconds, or fewer (what came) on a timeout or EOF."""
    s.settimeout(timeout)
    end = time.monotonic() + timeout
    data = bytearray()
    try:
        while len(data) < n and time.monotonic() < end:
            chunk = s.recv(n - len(data))
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        pass
    except OSError as e:
        diag(f"recv: {e!r}")
    return bytes(data)


def edge(args):
    """Forged segments at RCV.NXT itself, where tapir's RCV.NXT is known exactly: a quiet
    connection whose data has all come back. Each carries a TSval far ahead of TS.Recent; each
    fails a check (a bad ACK, a SYN, a RST off RCV.NXT), so none may change the connection:
    after each the host's own next segment (TSval from its clock) must still be taken."""
    atk = Attack(args)
    atk.host_ip = socket.inet_aton(args.host_ip)
    rng = random.Random(args.seed + 2)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((args.host_ip, 0))
    atk.open(s.getsockname()[1])
    s.settimeout(5)
    try:
        s.connect((args.ip, args.port))
    except OSError as e:
        say(False, f"edge: connect to {args.ip}:{args.port}: {e!r}")
        return 1
    written = 0
    hello = rng.randbytes(1000)
    s.sendall(hello)
    written += len(hello)
    ok_hello = recv_exactly(s, len(hello), 5) == hello
    say(ok_hello, "edge: a quiet connection to echo: 1000 bytes sent and echoed")
    time.sleep(0.1)  # the last ACKs both ways
    atk.drain()
    t = atk.tap
    rcv_nxt = (t.host_isn + 1 + written) & M32 if t.host_isn is not None else None
    if not ok_hello or rcv_nxt is None or t.ack != rcv_nxt or not t.ts_ok:
        say(False, f"edge: tapir's RCV.NXT known from tap0 (ISN {t.host_isn}, its ACK {t.ack}, "
            f"want {rcv_nxt}, timestamps {'on' if t.ts_ok else 'off'})")
        s.close()
        return 0
    steps = [
        ("a segment at RCV.NXT with data and an ACK above SND.NXT (RFC 5961 §5)", "edge_bad_ack",
         lambda: atk.frame(rcv_nxt, t.snd_max + (1 << 30), TCP_ACK | TCP_PSH, b"forged" * 10, True)),
        ("a SYN at RCV.NXT (RFC 5961 §4)", "edge_syn",
         lambda: atk.frame(rcv_nxt, t.snd_max, TCP_SYN, with_ts=True, mss=1460)),
        ("a RST at RCV.NXT + 1 (RFC 5961 §3)", "edge_rst_in",
         lambda: atk.frame(rcv_nxt + 1, t.snd_max, TCP_RST | TCP_ACK, with_ts=True)),
        ("a RST at RCV.NXT - 1, outside the window", "edge_rst_out",
         lambda: atk.frame(rcv_nxt - 1, t.snd_max, TCP_RST, with_ts=True)),
    ]
    stuck = 0
    for what, kind, make in steps:
        atk.drain()
        atk.send(make())
        print(f"count {kind} 1")
        time.sleep(0.05)
        more = rng.randbytes(100)
        try:
            s.sendall(more)
        except OSError as e:
            say(False, f"edge: after {what}: send: {e!r}")
            stuck = 1
            break
        written += len(more)
        back = recv_exactly(s, len(more), 3)
        if not say(back == more, f"edge: after {what} the host's next data is still taken and "
                   "echoed (the forged TSval did not become TS.Recent)"):
            diag(f"got {len(back)} of {len(more)} bytes back within 3 s")
            stuck = 1
            break
        rcv_nxt = (rcv_nxt + len(more)) & M32
    if not stuck:
        s.shutdown(socket.SHUT_WR)
        rest = recv_exactly(s, 1, 3)
        say(rest == b"", "edge: the connection closes cleanly (echo's EOF)")
    s.close()
    print(f"count edge_stuck {stuck}")
    sys.stdout.flush()
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mode", choices=("load", "edge"), default="load")
    ap.add_argument("--iface", default="tap0")
    ap.add_argument("--ip", default="10.0.0.2")
    ap.add_argument("--host-ip", default="10.0.0.1")
    ap.add_argument("--port", type=int, default=7)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--each", type=int, default=300)
    ap.add_argument("--burst", type=int, default=4000)
    ap.add_argument("--min-mib", type=int, default=24)
    ap.add_argument("--interval-ms", type=float, default=2.0)
    ap.add_argument("--deadline", type=float, default=45.0)
    args = ap.parse_args()
    return edge(args) if args.mode == "edge" else load(args)


if __name__ == "__main__":
    sys.exit(main())
