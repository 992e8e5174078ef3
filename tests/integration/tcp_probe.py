#!/usr/bin/env python3
"""tcp_probe.py MODE ADDR: TCP clients for test_tcp.sh against tapir's small services.

Each mode prints TAP lines ("ok - ..." / "not ok - ...") and "# ..." comments; test_tcp.sh
counts them as its own checks. Every socket call has a timeout, so a stuck stack shows as a
failed check, not a hang.

    idle         connects to discard (9), says so, sends nothing for a second, closes
    chargen      reads 1 MiB from port 19 and checks it against RFC 864's pattern; then sends
                 a FIN and expects tapir to stop and close
    daytime      port 13: one line ending in CRLF, then EOF (RFC 867)
    concurrent   200 echo connections from this process: all opened first, then a distinct
                 payload on each, each must get exactly its own bytes back, then all closed
    refused      a connect to a closed port raises ConnectionRefusedError (a RST came back)
    slow         sends 1 MiB to echo while reading the echo slowly through a small receive
                 buffer: both windows close and open again; every byte must come back
"""
import datetime
import os
import random
import socket
import sys
import threading
import time

MIB = 1 << 20


def say(good, text):
    print(("ok" if good else "not ok") + " - " + text, flush=True)
    return good


def diag(text):
    for line in str(text).splitlines() or [""]:
        print("# " + line, flush=True)


def recv_until_eof(s, limit):
    """Reads until EOF (returns data, True) or until limit bytes / an error (data, False)."""
    data = bytearray()
    try:
        while len(data) <= limit:
            chunk = s.recv(65536)
            if not chunk:
                return bytes(data), True
            data += chunk
    except OSError as e:
        diag(f"recv: {e!r} after {len(data)} bytes")
    return bytes(data), False


# ---- chargen -------------------------------------------------------------------------------

CHARGEN_LINES = [
    bytes(32 + (k + c) % 95 for c in range(72)) + b"\r\n" for k in range(95)
]


def chargen_expected(start, length):
    """The RFC 864 stream's bytes [start, start + length)."""
    first = start // 74
    out = bytearray()
    k = first
    while len(out) < (start - first * 74) + length:
        out += CHARGEN_LINES[k % 95]
        k += 1
    off = start - first * 74
    return bytes(out[off:off + length])


def first_difference(a, b):
    for i in range(min(len(a), len(b))):
        if a[i] != b[i]:
            return i
    return min(len(a), len(b))


def mode_chargen(addr):
    s = socket.create_connection((addr, 19), timeout=10)
    data = bytearray()
    t0 = time.monotonic()
    try:
        while len(data) < MIB:
            chunk = s.recv(MIB - len(data))
            if not chunk:
                break
            data += chunk
    except OSError as e:
        diag(f"chargen recv: {e!r}")
    secs = time.monotonic() - t0
    say(len(data) == MIB, f"chargen: 1 MiB read (got {len(data)} bytes in {secs:.2f} s)")
    want = chargen_expected(0, len(data))
    if not say(bytes(data) == want, "chargen: the 1 MiB is RFC 864's pattern (72 characters "
               "from offset k mod 95 on line k, CRLF)"):
        i = first_difference(data, want)
        diag(f"first difference at byte {i} (line {i // 74}, column {i % 74}): "
             f"got {bytes(data[i:i + 16])!r}, want {want[i:i + 16]!r}")
    # Our FIN: chargen reads it as EOF and closes; what it had queued must still follow the
    # pattern, and the EOF must come (bounded: tapir's 4 MiB send buffer, what is in flight in
    # a window of up to the host's tcp_rmem maximum, and what chargen writes before it reads
    # the FIN).
    s.shutdown(socket.SHUT_WR)
    rest, eof = recv_until_eof(s, 64 * MIB)
    say(eof, f"chargen: tapir closes after the client's FIN ({len(rest)} more bytes, then EOF)")
    say(rest == chargen_expected(len(data), len(rest)),
        "chargen: the bytes after the first MiB continue the pattern")
    s.close()


# ---- daytime -------------------------------------------------------------------------------

def mode_daytime(addr):
    s = socket.create_connection((addr, 13), timeout=10)
    data, eof = recv_until_eof(s, 4096)
    s.close()
    diag(f"daytime said {data!r}")
    say(eof, "daytime: tapir closes the connection after the line (EOF)")
    say(data.endswith(b"\r\n") and data.count(b"\n") == 1 and data.count(b"\r") == 1
        and len(data) > 2, "daytime: exactly one line, ending in CRLF")
    say(all(32 <= b < 127 for b in data[:-2]), "daytime: the line is printable ASCII")
    # tapir's format is "%A, %B %d, %Y %H:%M:%S-UTC"; RFC 867 fixes none, so only a loose check
    # that it is about now.
    try:
        t = datetime.datetime.strptime(data[:-2].decode(), "%A, %B %d, %Y %H:%M:%S-UTC")
        now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
        skew = abs((now - t).total_seconds())
        say(skew < 120, f"daytime: the time is now, in UTC ({skew:.0f} s off)")
    except ValueError as e:
        say(False, f"daytime: the time is now, in UTC (could not parse: {e})")


# ---- 200 concurrent echo connections ------------------------------------------------------

def recv_exact(s, n):
    data = bytearray()
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return bytes(data)


def mode_concurrent(addr, n=200):
    rng = random.Random(7)
    socks, errors = [], []
    t0 = time.monotonic()
    for i in range(n):
        try:
            socks.append(socket.create_connection((addr, 7), timeout=15))
        except OSError as e:
            errors.append(f"connect {i}: {e!r}")
            socks.append(None)
    opened = sum(s is not None for s in socks)
    say(opened == n, f"concurrent: {n} echo connections open at once "
        f"({opened} opened in {time.monotonic() - t0:.2f} s)")
    # Distinct payloads: the connection's number, then random bytes of a size of its own.
    payloads = [f"connection {i}:".encode() + rng.randbytes(1 + (i * 997) % 12000)
                for i in range(n)]
    for i, s in enumerate(socks):
        if s is None:
            continue
        try:
            s.sendall(payloads[i])
        except OSError as e:
            errors.append(f"send {i}: {e!r}")
    exact = 0
    for i, s in enumerate(socks):
        if s is None:
            continue
        try:
            got = recv_exact(s, len(payloads[i]))
            # Then our FIN; echo closes at it. Nothing more may come before the EOF.
            s.shutdown(socket.SHUT_WR)
            extra, eof = recv_until_eof(s, 65536)
            if got == payloads[i] and eof and not extra:
                exact += 1
            else:
                errors.append(f"connection {i}: {len(got)} of {len(payloads[i])} bytes back, "
                              f"{'equal' if got == payloads[i] else 'DIFFERENT'}, "
                              f"{len(extra)} bytes after them, eof {eof}")
        except OSError as e:
            errors.append(f"recv {i}: {e!r}")
    for s in socks:
        if s is not None:
            s.close()
    say(exact == n, f"concurrent: each of the {n} connections got exactly its own bytes back "
        f"({exact} did; {sum(map(len, payloads))} bytes in all)")
    say(not errors, f"concurrent: no errors ({len(errors)}) in "
        f"{time.monotonic() - t0:.2f} s")
    for e in errors[:20]:
        diag(e)


# ---- a closed port -------------------------------------------------------------------------

def mode_refused(addr, port=4):
    s = socket.socket()
    s.settimeout(10)
    try:
        s.connect((addr, port))
        say(False, f"refused: connect to closed port {port} raises ConnectionRefusedError "
            "(it connected)")
    except ConnectionRefusedError:
        say(True, f"refused: connect to closed port {port} raises ConnectionRefusedError")
    except OSError as e:
        say(False, f"refused: connect to closed port {port} raises ConnectionRefusedError "
            f"(got {e!r})")
    finally:
        s.close()


# ---- a slow reader -------------------------------------------------------------------------

def mode_slow(addr):
    data = os.urandom(MIB)
    s = socket.socket()
    # A small receive buffer (the kernel doubles it) so our window closes while we sleep.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(60)
    s.connect((addr, 7))
    send_err = []

    def sender():
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except OSError as e:
            send_err.append(repr(e))

    t0 = time.monotonic()
    th = threading.Thread(target=sender, daemon=True)
    th.start()
    # Read nothing for a while: our window goes to zero, tapir's send buffer fills, echo stops
    # reading, tapir's window to us goes to zero too and our sendall stalls.
    time.sleep(1.5)
    got = bytearray()
    eof = False
    try:
        while True:
            chunk = s.recv(1024)
            if not chunk:
                eof = True
                break
            got += chunk
            if len(got) > MIB:
                break
            time.sleep(0.0005)
    except OSError as e:
        diag(f"slow reader: recv: {e!r} after {len(got)} bytes")
    th.join(10)
    s.close()
    secs = time.monotonic() - t0
    say(not send_err and not th.is_alive(), f"slow reader: the 1 MiB was sent "
        f"({'; '.join(send_err) or 'no error'})")
    say(eof, f"slow reader: EOF after the echo ({len(got)} bytes read in {secs:.2f} s)")
    if not say(bytes(got) == data, "slow reader: every byte of the 1 MiB came back, in order"):
        i = first_difference(got, data)
        diag(f"got {len(got)} bytes; first difference at byte {i}")


def mode_idle(addr):
    s = socket.create_connection((addr, 9), timeout=10)
    diag("connected")
    time.sleep(1.0)
    s.close()


MODES = {
    "idle": mode_idle,
    "chargen": mode_chargen,
    "daytime": mode_daytime,
    "concurrent": mode_concurrent,
    "refused": mode_refused,
    "slow": mode_slow,
}

if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in MODES:
        sys.exit(f"usage: {sys.argv[0]} {'|'.join(MODES)} ADDR")
    MODES[sys.argv[1]](sys.argv[2])
