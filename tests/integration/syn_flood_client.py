#!/usr/bin/env python3
"""syn_flood_client.py ADDR PORT STOPFILE: the real client of test_syn_flood.sh.

While a SYN flood from spoofed sources fills tapir's SYN queue, this keeps opening connections
to the echo service at ADDR:PORT, one after another: connect, send one line, read it back (it
must come back byte for byte), send a FIN, read tapir's FIN (EOF), close. It goes on until
STOPFILE exists (the flood is over), then makes one last connection, and prints a summary:

    ready                          once, before the first connection (the flood may start)
    connections N                  attempts made
    succeeded N                    of them, everything as above
    failed N                       the rest
    slowest_ms N                   the longest connect + echo + close, for the diagnostics
    failure: TEXT                  the first few failures, what went wrong

Every socket call has a timeout (--timeout, default 15 s: a SYN the kernel's tap0 queue lost
is sent again after 1 s, then 3 s, ...), and --max-seconds bounds the whole run, so a stuck
stack shows as failures, never as a hang. The exit status is 0 when every connection
succeeded.
"""
import argparse
import os
import random
import socket
import sys
import time

MAX_FAILURES_SHOWN = 10


def one_connection(addr, port, n, timeout):
    """One connection's whole life; returns None when it all went right, else what went wrong."""
    line = ("tapir syn flood probe %d %016x\n" % (n, random.getrandbits(64))).encode()
    try:
        s = socket.create_connection((addr, port), timeout=timeout)
    except OSError as e:
        return "connect: %r" % e
    try:
        s.settimeout(timeout)
        s.sendall(line)
        got = b""
        while len(got) < len(line):
            chunk = s.recv(len(line) - len(got))
            if not chunk:
                return "echo: EOF after %d of %d bytes" % (len(got), len(line))
            got += chunk
        if got != line:
            return "echo: sent %r, got back %r" % (line, got)
        s.shutdown(socket.SHUT_WR)
        extra = s.recv(4096)
        if extra:
            return "close: %d unexpected bytes after the echo: %r" % (len(extra), extra[:40])
        return None
    except OSError as e:
        return "echo or close: %r" % e
    finally:
        s.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("addr")
    ap.add_argument("port", type=int)
    ap.add_argument("stopfile")
    ap.add_argument("--timeout", type=float, default=15.0, help="per socket call, seconds")
    ap.add_argument("--pause", type=float, default=0.02,
                    help="seconds between connections (keeps TIME_WAIT ports few)")
    ap.add_argument("--max-seconds", type=float, default=120.0,
                    help="stop after this long even without STOPFILE")
    args = ap.parse_args()

    print("ready", flush=True)
    start = time.monotonic()
    attempts = succeeded = 0
    slowest = 0.0
    failures = []
    last = False
    while True:
        # STOPFILE is looked at before the connection, so the last one starts after the flood.
        last = os.path.exists(args.stopfile) or time.monotonic() - start > args.max_seconds
        t0 = time.monotonic()
        err = one_connection(args.addr, args.port, attempts, args.timeout)
        slowest = max(slowest, time.monotonic() - t0)
        attempts += 1
        if err is None:
            succeeded += 1
        else:
            failures.append("connection %d at %.1f s: %s" % (attempts, t0 - start, err))
        if last:
            break
        time.sleep(args.pause)

    print("connections %d" % attempts)
    print("succeeded %d" % succeeded)
    print("failed %d" % (attempts - succeeded))
    print("slowest_ms %d" % int(slowest * 1000))
    for f in failures[:MAX_FAILURES_SHOWN]:
        print("failure: " + f)
    if len(failures) > MAX_FAILURES_SHOWN:
        print("failure: ... and %d more" % (len(failures) - MAX_FAILURES_SHOWN))
    sys.stdout.flush()
    return 0 if succeeded == attempts else 1


if __name__ == "__main__":
    sys.exit(main())
