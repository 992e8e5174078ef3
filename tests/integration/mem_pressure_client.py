#!/usr/bin/env python3
"""mem_pressure_client.py: pushes a TCP echo server past its memory. Opens CONNS connections
to HOST:PORT and sends BYTES bytes on each (a pattern of its own per connection) without
reading, for WRITE_SECONDS: the server's buffers fill, and with the client's kernel buffers
full too the server must hold what it cannot send. Then it signals (prints "full" and waits
for a line on stdin, so the test can look at the server meanwhile), reads every echo to the
end and checks it byte for byte.

    mem_pressure_client.py HOST PORT CONNS BYTES [WRITE_SECONDS]

Prints "full", later "echoed N exact M" (connections, and how many came back exact) and
exits 0 only if every byte of every connection came back in order.
"""
import selectors
import socket
import sys
import time


def pattern(conn_index, length):
    unit = bytes((conn_index * 31 + i * 7) % 251 for i in range(251))
    return (unit * (length // len(unit) + 1))[:length]


def main():
    host, port, conns, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    write_seconds = float(sys.argv[5]) if len(sys.argv) > 5 else 8.0
    socks, want, sent, got = [], [], [], []
    for i in range(conns):
        s = socket.create_connection((host, port), timeout=10)
        s.setblocking(False)
        socks.append(s)
        want.append(pattern(i, total))
        sent.append(0)
        got.append(bytearray())
    # Write without reading until everything is out or the time is up.
    deadline = time.monotonic() + write_seconds
    sel = selectors.DefaultSelector()
    for i, s in enumerate(socks):
        sel.register(s, selectors.EVENT_WRITE, i)
    while time.monotonic() < deadline and any(sent[i] < total for i in range(conns)):
        for key, _ in sel.select(timeout=0.2):
            i = key.data
            try:
                sent[i] += key.fileobj.send(want[i][sent[i]:sent[i] + 65536])
            except BlockingIOError:
                pass
            if sent[i] == total:
                sel.unregister(key.fileobj)
    print("full %d" % sum(sent), flush=True)
    sys.stdin.readline()
    # Now read everything back, while sending whatever is left.
    sel.close()
    sel = selectors.DefaultSelector()
    for i, s in enumerate(socks):
        sel.register(s, selectors.EVENT_READ | (selectors.EVENT_WRITE if sent[i] < total else 0), i)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and any(len(got[i]) < total for i in range(conns)):
        for key, ev in sel.select(timeout=0.5):
            i = key.data
            s = key.fileobj
            if ev & selectors.EVENT_WRITE and sent[i] < total:
                try:
                    sent[i] += s.send(want[i][sent[i]:sent[i] + 65536])
                except BlockingIOError:
                    pass
                if sent[i] == total:
                    sel.modify(s, selectors.EVENT_READ, i)
            if ev & selectors.EVENT_READ:
                try:
                    data = s.recv(1 << 20)
                except BlockingIOError:
                    continue
                if not data:
                    sel.unregister(s)
                    continue
                got[i] += data
                if len(got[i]) >= total:
                    sel.unregister(s)
    exact = sum(1 for i in range(conns) if bytes(got[i]) == want[i])
    for s in socks:
        s.close()
    print("echoed %d exact %d" % (conns, exact), flush=True)
    for i in range(conns):
        if bytes(got[i]) != want[i]:
            at = next((k for k in range(min(len(got[i]), total)) if got[i][k] != want[i][k]),
                      min(len(got[i]), total))
            print("conn %d: %d of %d bytes back, first difference at %d" %
                  (i, len(got[i]), total, at), file=sys.stderr)
    return 0 if exact == conns else 1


if __name__ == "__main__":
    sys.exit(main())
