#!/usr/bin/env python3
"""tcp_loss_probe.py MODE ADDR [ARGS]: TCP clients for test_tcp_loss.sh, the host's own TCP
against tapir's small services through a lossy link.

Each mode prints TAP lines ("ok - ..." / "not ok - ...") and "# ..." comments, as
tcp_probe.py does, and ends with one "# figures k=v ..." line the test reads its numbers
from. Every socket has a timeout and every wait is bounded, so a stuck stack shows as a
failed check, not a hang.

    discard ADDR BYTES GO       sends BYTES (a seeded random stream) to discard (9), waits
                                until the kernel says all of it is acknowledged, prints
                                "# acked port N", waits for the file GO (the test reads
                                tapir's connection table meanwhile), then closes and
                                expects discard to close too
    echo ADDR BYTES             sends BYTES random bytes to echo (7) while reading them
                                back; every byte must come back, in order
    chargen ADDR BYTES          reads BYTES from chargen (19), checking each byte against
                                RFC 864's pattern as it arrives
    pause ADDR RCVBUF FIRST SECS THEN GO
                                chargen through a receive buffer of RCVBUF bytes: reads FIRST
                                bytes, stops reading for SECS seconds (prints "# paused port N"
                                and, after SECS, waits for the file GO), then reads THEN more;
                                every byte must follow the pattern (no gap, no duplicate)
    keepalive ADDR IDLE GO      echo (7): a line back and forth, "# connected port N", IDLE
                                seconds of silence, another line; then waits for the file GO
                                (IDLE 0: no second line, the test makes the host vanish
                                meanwhile) and closes
"""
import os
import random
import socket
import sys
import termios
import threading
import time
import fcntl

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tcp_probe import chargen_expected, diag, first_difference, say  # noqa: E402

MIB = 1 << 20
TIMEOUT_S = 30  # every socket call; far above any stall the tests allow


def figures(**kv):
    print("# figures " + " ".join(f"{k}={v}" for k, v in kv.items()), flush=True)


def wait_for_file(path, secs=60):
    """Waits (bounded) until the test creates path; False if it never does."""
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        if os.path.exists(path):
            return True
        time.sleep(0.02)
    diag(f"{path} never appeared within {secs} s")
    return False


def connect(addr, port, rcvbuf=None):
    s = socket.socket()
    s.settimeout(TIMEOUT_S)
    if rcvbuf:
        # Before connect, so the window scale and the first window offered follow it.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect((addr, port))
    return s


def recv_until_eof(s, limit):
    """Reads until EOF: (bytes read, True), or (bytes read, False) past limit or on an error."""
    n = 0
    try:
        while n <= limit:
            chunk = s.recv(65536)
            if not chunk:
                return n, True
            n += len(chunk)
    except OSError as e:
        diag(f"recv: {e!r} after {n} bytes")
    return n, False


def outq(s):
    """Bytes the kernel still holds for the socket: unsent plus sent and unacknowledged
    (SIOCOUTQ, the same number as TIOCOUTQ)."""
    return int.from_bytes(fcntl.ioctl(s.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"), "little")


# ---- host -> tapir --------------------------------------------------------------------------

def mode_discard(addr, nbytes, go):
    nbytes = int(nbytes)
    data = random.Random(9).randbytes(nbytes)
    s = connect(addr, 9)
    port = s.getsockname()[1]
    t0 = time.monotonic()
    s.sendall(data)
    # sendall returns once the kernel has the bytes; the transfer ends when tapir has
    # acknowledged them all.
    deadline = time.monotonic() + TIMEOUT_S
    while outq(s) and time.monotonic() < deadline:
        time.sleep(0.005)
    secs = time.monotonic() - t0
    left = outq(s)
    say(left == 0, f"discard: all {nbytes} bytes sent and acknowledged ({left} left) "
        f"in {secs:.2f} s")
    print(f"# acked port {port}", flush=True)
    wait_for_file(go)
    s.shutdown(socket.SHUT_WR)
    extra, eof = recv_until_eof(s, 0)
    say(eof and extra == 0, f"discard: tapir closes after our FIN and sends nothing "
        f"({extra} bytes, eof {eof})")
    s.close()
    figures(port=port, ms=int(secs * 1000))


def mode_echo(addr, nbytes):
    nbytes = int(nbytes)
    data = os.urandom(nbytes)
    s = connect(addr, 7)
    err = []

    def sender():
        try:
            s.sendall(data)
        except OSError as e:
            err.append(repr(e))

    t0 = time.monotonic()
    th = threading.Thread(target=sender, daemon=True)
    th.start()
    got = bytearray()
    try:
        while len(got) < nbytes:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    except OSError as e:
        diag(f"echo: recv: {e!r} after {len(got)} bytes")
    secs = time.monotonic() - t0
    th.join(TIMEOUT_S)
    say(not err and not th.is_alive(), f"echo: {nbytes} bytes sent "
        f"({'; '.join(err) or 'no error'})")
    if not say(bytes(got) == data, f"echo: all {nbytes} bytes came back, in order "
               f"({len(got)} in {secs:.2f} s)"):
        diag(f"first difference at byte {first_difference(got, data)}")
    s.shutdown(socket.SHUT_WR)
    extra, eof = recv_until_eof(s, 1 << 16)
    say(eof and extra == 0, f"echo: then EOF and nothing more ({extra} bytes, eof {eof})")
    s.close()
    figures(ms=int(secs * 1000))


# ---- tapir -> host --------------------------------------------------------------------------

class ChargenChecker:
    """Checks a chargen stream chunk by chunk. The pattern repeats every 95 lines of 74
    bytes, so each chunk is compared with a slice of a few periods, not rebuilt byte by
    byte: 50 MiB checks in well under a second."""

    PERIOD = 95 * 74

    def __init__(self, max_chunk):
        reps = max_chunk // self.PERIOD + 2
        self.pattern = chargen_expected(0, self.PERIOD) * reps
        self.pos = 0
        self.bad_at = None  # stream offset of the first wrong byte

    def feed(self, chunk):
        if self.bad_at is None:
            off = self.pos % self.PERIOD
            want = self.pattern[off:off + len(chunk)]
            if chunk != want:
                self.bad_at = self.pos + first_difference(chunk, want)
                diag(f"chargen: first wrong byte at {self.bad_at} (line {self.bad_at // 74}, "
                     f"column {self.bad_at % 74}): got {bytes(chunk[:16])!r}..., "
                     f"want {want[:16]!r}...")
        self.pos += len(chunk)


def read_chargen(s, checker, nbytes, bufsize=MIB):
    """Reads until checker has seen nbytes (or EOF / an error). Returns the bytes read."""
    buf = bytearray(bufsize)
    view = memoryview(buf)
    n = 0
    try:
        while n < nbytes:
            k = s.recv_into(view, min(bufsize, nbytes - n))
            if not k:
                diag(f"chargen: EOF after {n} bytes")
                break
            checker.feed(view[:k])
            n += k
    except OSError as e:
        diag(f"chargen: recv: {e!r} after {n} bytes")
    return n


def mode_chargen(addr, nbytes):
    nbytes = int(nbytes)
    s = connect(addr, 19)
    checker = ChargenChecker(MIB)
    t0 = time.monotonic()
    n = read_chargen(s, checker, nbytes)
    secs = time.monotonic() - t0
    s.close()  # with chargen's bytes unread: a reset, and tapir forgets the connection
    say(n == nbytes, f"chargen: {nbytes} bytes read ({n} in {secs:.2f} s)")
    say(n > 0 and checker.bad_at is None, "chargen: every byte is RFC 864's pattern "
        "(no gap, no duplicate, no corruption)")
    figures(ms=int(secs * 1000))


def mode_pause(addr, rcvbuf, first, secs, then, go):
    rcvbuf, first, then, secs = int(rcvbuf), int(first), int(then), float(secs)
    s = connect(addr, 19, rcvbuf)
    port = s.getsockname()[1]
    checker = ChargenChecker(MIB)
    n1 = read_chargen(s, checker, first)
    print(f"# paused port {port}", flush=True)
    time.sleep(secs)
    wait_for_file(go)
    # Resuming: what the kernel buffered comes at once; past it, every byte had to wait for
    # our window to reopen and tapir to notice.
    t0 = time.monotonic()
    n2 = read_chargen(s, checker, then)
    resume_s = time.monotonic() - t0
    s.close()
    say(n1 == first and n2 == then, f"pause: {first} bytes read, a {secs:g} s pause, then "
        f"{then} more ({n1} and {n2})")
    say(n2 > 0 and checker.bad_at is None, "pause: every byte is RFC 864's pattern across "
        "the stall (no gap, no duplicate)")
    figures(port=port, resume_ms=int(resume_s * 1000))


# ---- keepalive ------------------------------------------------------------------------------

def exchange(s, line):
    s.sendall(line)
    got = b""
    while len(got) < len(line):
        chunk = s.recv(len(line) - len(got))
        if not chunk:
            break
        got += chunk
    return got == line


def mode_keepalive(addr, idle, go):
    idle = float(idle)
    s = connect(addr, 7)
    port = s.getsockname()[1]
    try:
        say(exchange(s, b"before the silence\n"), "keepalive: a line echoed")
    except OSError as e:
        say(False, f"keepalive: a line echoed ({e!r})")
    print(f"# connected port {port}", flush=True)
    if idle > 0:
        time.sleep(idle)
        try:
            say(exchange(s, b"after the silence\n"),
                f"keepalive: after {idle:g} s of silence the connection still echoes")
        except OSError as e:
            say(False, f"keepalive: after {idle:g} s of silence the connection still echoes "
                f"({e!r})")
    wait_for_file(go)
    s.close()


MODES = {
    "discard": (mode_discard, 2),
    "echo": (mode_echo, 1),
    "chargen": (mode_chargen, 1),
    "pause": (mode_pause, 5),
    "keepalive": (mode_keepalive, 2),
}

if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in MODES or len(sys.argv) != 3 + MODES[sys.argv[1]][1]:
        sys.exit(f"usage: {sys.argv[0]} {'|'.join(MODES)} ADDR [ARGS] (see the docstring)")
    MODES[sys.argv[1]][0](sys.argv[2], *sys.argv[3:])
