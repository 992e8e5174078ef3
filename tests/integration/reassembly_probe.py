#!/usr/bin/env python3
"""reassembly_probe.py: for tests/integration/test_reassembly_timeout.sh. Writes into a TAP
interface, from the host side, the beginnings of IPv4 datagrams that never complete, then
listens for what the stack sends back while their reassembly times out.

    reassembly_probe.py [--iface tap0] [--listen SECONDS] [--mac ...] [--ip ...] [--host-ip ...]

Datagrams (ICMP echo requests from the host address, each with its own IP identification):
  unicast     fragment zero (MF) to the stack's address: its timeout earns an ICMP Time
              Exceeded, code 1 (RFC 792; RFC 1122 §3.3.2: only when fragment zero arrived)
  no-first    a later fragment only, to the stack's address: no fragment zero, no ICMP
  bcast       fragment zero to 255.255.255.255 } no ICMP error about a datagram sent to a
  dbcast      fragment zero to 10.0.0.255      } broadcast address (RFC 1122 §3.2.2)

Prints "sent NAME ID" for each, then one line per ICMP message the stack sends:
  "icmp AFTER_S type T code C quoted_id ID quoted_dst ADDR checksum ok|bad"
"""
import argparse
import os
import socket
import struct
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import inject_frames as inj_mod  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iface", default="tap0")
    ap.add_argument("--listen", type=float, default=36.0)
    ap.add_argument("--mac", default="02:74:61:70:69:72")
    ap.add_argument("--ip", default="10.0.0.2")
    ap.add_argument("--host-ip", default="10.0.0.1")
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()
    inj = inj_mod.Injector(args)
    ip_b = inj_mod.ip_bytes

    probes = [
        ("unicast", args.ip, 0x2000 | 0, 0x5101),
        ("no-first", args.ip, 0x2000 | 2, 0x5102),
        ("bcast", "255.255.255.255", 0x2000 | 0, 0x5103),
        ("dbcast", "10.0.0.255", 0x2000 | 0, 0x5104),
    ]
    for name, dst, frag, ident in probes:
        msg = inj.icmp_echo(b"f" * 200)
        piece = msg[:64] if frag & 0x1FFF == 0 else msg[16:80]
        frame = inj.ipv4(piece, dst=ip_b(dst), frag=frag, ident=ident)
        if dst != args.ip:
            frame = inj_mod.BROADCAST + frame[6:]
        inj.sock.send(frame)
        print("sent %s %d" % (name, ident), flush=True)

    start = time.time()
    while time.time() - start < args.listen:
        try:
            f, addr = inj.listen.recvfrom(70000)
        except BlockingIOError:
            time.sleep(0.05)
            continue
        if addr[2] == socket.PACKET_OUTGOING or f[6:12] != inj.our_mac:
            continue
        ip = f[14:]
        ihl = (ip[0] & 0xF) * 4
        total = struct.unpack("!H", ip[2:4])[0]
        if ip[9] != 1:
            continue
        body = ip[ihl:total]
        if len(body) < 8 + 20:
            print("icmp %.1f short %d bytes" % (time.time() - start, len(body)), flush=True)
            continue
        quote = body[8:]
        print("icmp %.1f type %d code %d quoted_id %d quoted_dst %s checksum %s" % (
            time.time() - start, body[0], body[1], struct.unpack("!H", quote[4:6])[0],
            socket.inet_ntoa(quote[16:20]), "ok" if inj_mod.csum(body) == 0 else "bad"),
            flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
