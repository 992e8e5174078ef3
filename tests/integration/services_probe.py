#!/usr/bin/env python3
"""services_probe.py ADDR: one short check of each service tapir serves, for test_scan.sh (after
a port scan, every service must still work).

    TCP 7 echo       a line comes back byte for byte; after our FIN, tapir's FIN (EOF)
    TCP 9 discard    64 KiB are taken and nothing comes back; after our FIN, EOF
    TCP 13 daytime   one line of printable text ending in CRLF, then EOF (RFC 867)
    TCP 19 chargen   the first three lines are RFC 864's rotating pattern
    TCP 80 HTTP      GET /stats.txt answers 200 with the counters ("Tcp:" in the body)
    UDP 7 echo       a datagram comes back the same

Prints one TAP line ("ok - ..." / "not ok - ...") per service and "# ..." comments; the exit
status is 0 when every check passed. Every socket call has a timeout, so a stuck service is a
failed check, never a hang.
"""
import socket
import sys

TIMEOUT = 10.0


def say(good, text):
    print(("ok" if good else "not ok") + " - " + text, flush=True)
    return good


def read_to_eof(s, limit):
    """Everything until EOF, or None when more than limit bytes come first."""
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk
        if len(data) > limit:
            return None


def recv_exactly(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def tcp_echo(addr):
    line = b"tapir is still here after the scan\n"
    with socket.create_connection((addr, 7), timeout=TIMEOUT) as s:
        s.sendall(line)
        got = recv_exactly(s, len(line))
        if got != line:
            return "sent %r, got back %r" % (line, got)
        s.shutdown(socket.SHUT_WR)
        rest = read_to_eof(s, 4096)
        if rest != b"":
            return "after the echo and our FIN: %r instead of EOF" % rest
    return None


def tcp_discard(addr):
    with socket.create_connection((addr, 9), timeout=TIMEOUT) as s:
        s.sendall(bytes(range(256)) * 256)
        s.shutdown(socket.SHUT_WR)
        rest = read_to_eof(s, 4096)
        if rest != b"":
            return "discard sent something back: %r" % (rest[:40] if rest else rest)
    return None


def tcp_daytime(addr):
    with socket.create_connection((addr, 13), timeout=TIMEOUT) as s:
        data = read_to_eof(s, 1024)
    if data is None:
        return "more than 1 KiB and no EOF"
    if not data.endswith(b"\r\n") or data.count(b"\n") != 1:
        return "not one line ending in CRLF: %r" % data
    text = data[:-2]
    if not text or not all(32 <= b < 127 for b in text):
        return "not printable text: %r" % data
    print("# daytime: %s" % text.decode(), flush=True)
    return None


def chargen_line(i):
    # RFC 864: the 95 printable characters from space on; line i starts i characters in.
    chars = bytes(range(32, 127))
    return bytes(chars[(i + k) % 95] for k in range(72)) + b"\r\n"


def tcp_chargen(addr):
    want = b"".join(chargen_line(i) for i in range(3))
    with socket.create_connection((addr, 19), timeout=TIMEOUT) as s:
        got = recv_exactly(s, len(want))
    if got != want:
        return "the first %d bytes are not RFC 864's pattern: %r" % (len(want), got[:80])
    return None


def tcp_http(addr):
    req = b"GET /stats.txt HTTP/1.1\r\nHost: " + addr.encode() + b"\r\nConnection: close\r\n\r\n"
    with socket.create_connection((addr, 80), timeout=TIMEOUT) as s:
        s.sendall(req)
        data = read_to_eof(s, 1 << 20)
    if data is None:
        return "more than 1 MiB and no EOF"
    head, _, body = data.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0]
    if not status.startswith(b"HTTP/1.") or status.split(b" ")[1:2] != [b"200"]:
        return "status line %r" % status
    if b"Tcp:" not in body:
        return "no Tcp: counters in %d bytes of body" % len(body)
    return None


def udp_echo(addr):
    msg = b"tapir udp echo after the scan"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2.0)
        for _ in range(3):  # a datagram may be lost; try again
            s.sendto(msg, (addr, 7))
            try:
                got, src = s.recvfrom(2048)
            except socket.timeout:
                continue
            if got != msg or src != (addr, 7):
                return "sent %r, got %r from %r" % (msg, got, src)
            return None
    return "no answer to three datagrams"


CHECKS = [
    ("TCP 7 echo: a line comes back, then EOF after our FIN", tcp_echo),
    ("TCP 9 discard: 64 KiB taken, nothing back, EOF after our FIN", tcp_discard),
    ("TCP 13 daytime: one line ending in CRLF, then EOF", tcp_daytime),
    ("TCP 19 chargen: the RFC 864 pattern", tcp_chargen),
    ("TCP 80 HTTP: GET /stats.txt answers 200 with the counters", tcp_http),
    ("UDP 7 echo: the datagram comes back", udp_echo),
]


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    addr = sys.argv[1]
    failed = 0
    for text, fn in CHECKS:
        try:
            err = fn(addr)
        except OSError as e:
            err = repr(e)
        if not say(err is None, text):
            print("# " + err, flush=True)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
