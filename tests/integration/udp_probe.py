#!/usr/bin/env python3
"""udp_probe.py: drives tapir's UDP services from the host with python3's socket module and
prints one TAP line per check. Usage: udp_probe.py ADDR"""
import os
import random
import socket
import struct
import sys

addr = sys.argv[1]
failures = 0


def report(ok, what):
    global failures
    print(("ok - " if ok else "not ok - ") + what)
    if not ok:
        failures += 1


def echo_exact(size):
    rng = random.Random(size)
    payload = bytes(rng.getrandbits(8) for _ in range(size))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        s.sendto(payload, (addr, 7))
        try:
            data, peer = s.recvfrom(70000)
        except socket.timeout:
            report(False, f"UDP echo of {size} bytes (no reply)")
            return
        report(data == payload and peer == (addr, 7), f"UDP echo of {size} bytes is byte-exact")


for size in (0, 1, 1472, 8000, 65507):
    echo_exact(size)

# A connected socket learns of the ICMP port unreachable, as from the kernel's own stack.
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    s.settimeout(3)
    s.connect((addr, 9999))
    s.send(b"anyone there?")
    try:
        s.recv(100)
        report(False, "closed port: ConnectionRefusedError")
    except ConnectionRefusedError:
        report(True, "closed port: connected socket raises ConnectionRefusedError")
    except socket.timeout:
        report(False, "closed port: ConnectionRefusedError (timed out instead)")

# Discard swallows datagrams: nothing comes back.
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    s.settimeout(0.5)
    s.sendto(b"into the void", (addr, 9))
    try:
        s.recvfrom(100)
        report(False, "discard (port 9) sends nothing back")
    except socket.timeout:
        report(True, "discard (port 9) sends nothing back")

# A burst faster than the echo service reads: every reply is exact, the rest counted dropped.
count = int(os.environ.get("UDP_BURST", "10000"))
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.settimeout(1)
    for i in range(count):
        s.sendto(struct.pack("!I", i) + bytes([i & 0xFF]) * 60, (addr, 7))
    got, bad, seen = 0, 0, set()
    while True:
        try:
            data = s.recv(2000)
        except socket.timeout:
            break
        i = struct.unpack("!I", data[:4])[0]
        if len(data) != 64 or data[4:] != bytes([i & 0xFF]) * 60 or i in seen:
            bad += 1
        seen.add(i)
        got += 1
    print(f"# burst: {count} sent, {got} echoed, {bad} wrong")
    report(bad == 0 and got > 0, f"burst of {count}: every echo exact and none duplicated")
    print(f"BURST_LOST {count - got}")

sys.exit(1 if failures else 0)
