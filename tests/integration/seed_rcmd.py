#!/usr/bin/env python3
"""seed_rcmd.py: the seeds' remote-command clients and servers (seed 003), for test_seed_apps.sh.

Written as the seeds write them, with a timeout on every socket and a few flags for the test:

  naive-client HOST PORT CMD...     send(cmd); recv(1024); once per command (the seed's client)
  framed-client HOST PORT CMD...    a 4-byte big-endian length before each message, both ways;
                                    reads exactly 4 bytes, then exactly that many
      --ahead PAUSE                 send every command first, PAUSE seconds apart, before
                                    reading any reply (a user typing ahead of the output)
      --out DIR                     write what each recv (naive) or reply (framed) brought to
                                    DIR/1, DIR/2, ...
  naive-server HOST PORT            cmd = recv(1024); Popen(cmd, shell=True); send(stdout);
                                    send(stderr) (the seed's server), a client at a time
  framed-server HOST PORT           the same, each message behind struct.pack("!I", len)
      --clients N                   serve N clients, one after another (default 1)

Each client prints one line per recv or reply: "recv N: LEN bytes: 'first bytes...'".
The seeds pack the header with struct.pack("i"), the machine's byte order; "!I" is network
order, as tapir's rcmd_server and rcmd_client use.
"""
import os
import socket
import struct
import subprocess
import sys
import time

TIMEOUT = 10


def show(i, data, out_dir):
    print(f"recv {i}: {len(data)} bytes: {data[:40]!r}{'...' if len(data) > 40 else ''}",
          flush=True)
    if out_dir:
        with open(os.path.join(out_dir, str(i)), "wb") as f:
            f.write(data)


def recv_exact(conn, n):
    """The seeds' fix: recv until n bytes have come."""
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError(f"the peer closed after {len(data)} of {n} bytes")
        data += chunk
    return data


def naive_client(addr, commands, ahead, out_dir):
    client = socket.socket()
    client.settimeout(TIMEOUT)
    client.connect(addr)
    if ahead is None:
        for i, cmd in enumerate(commands, 1):
            client.send(cmd.encode("utf-8"))
            from_server_msg = client.recv(1024)
            show(i, from_server_msg, out_dir)
    else:
        for cmd in commands:
            client.send(cmd.encode("utf-8"))
            time.sleep(ahead)
        show(1, client.recv(1024), out_dir)  # one recv, as the naive client does per command
    client.close()


def framed_client(addr, commands, ahead, out_dir):
    client = socket.socket()
    client.settimeout(TIMEOUT)
    client.connect(addr)

    def send_msg(cmd):
        data = cmd.encode("utf-8")
        client.sendall(struct.pack("!I", len(data)) + data)

    def recv_msg(i):
        (length,) = struct.unpack("!I", recv_exact(client, 4))
        show(i, recv_exact(client, length), out_dir)

    if ahead is None:
        for i, cmd in enumerate(commands, 1):
            send_msg(cmd)
            recv_msg(i)
    else:
        for cmd in commands:
            send_msg(cmd)
            time.sleep(ahead)
        for i in range(1, len(commands) + 1):
            recv_msg(i)
    client.close()


def run(cmd):
    obj = subprocess.Popen(cmd, shell=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = obj.communicate(timeout=TIMEOUT)
    return out, err


def serve(addr, framed, clients):
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(addr)
    server.listen(3)
    server.settimeout(TIMEOUT)
    print("READY", flush=True)
    for _ in range(clients):
        conn, peer = server.accept()
        conn.settimeout(TIMEOUT)
        serve_one(conn, framed)
    server.close()


def serve_one(conn, framed):
    while True:
        if framed:
            header = conn.recv(4, socket.MSG_WAITALL)
            if len(header) < 4:
                break
            (length,) = struct.unpack("!I", header)
            cmd = recv_exact(conn, length)
        else:
            cmd = conn.recv(1024)
            if not cmd:
                break
        print(f"command {cmd!r}", flush=True)
        out, err = run(cmd.decode("utf-8"))
        if framed:
            conn.send(struct.pack("!I", len(out) + len(err)))  # the seed's two sends
            conn.send(out + err)
        else:
            conn.send(out)  # two sends: Nagle holds the second until the first is acked
            conn.send(err)
    print("CLOSED", flush=True)
    conn.close()


def main(argv):
    args = argv[1:]
    ahead = out_dir = None
    clients = 1
    while args and args[0].startswith("--"):
        if args[0] == "--ahead":
            ahead = float(args[1])
        elif args[0] == "--out":
            out_dir = args[1]
        elif args[0] == "--clients":
            clients = int(args[1])
        else:
            sys.exit(f"seed_rcmd.py: unknown option {args[0]}")
        args = args[2:]
    if len(args) < 3:
        sys.exit(__doc__)
    mode, addr = args[0], (args[1], int(args[2]))
    if mode == "naive-client":
        naive_client(addr, args[3:], ahead, out_dir)
    elif mode == "framed-client":
        framed_client(addr, args[3:], ahead, out_dir)
    elif mode in ("naive-server", "framed-server"):
        serve(addr, mode == "framed-server", clients)
    else:
        sys.exit(f"seed_rcmd.py: unknown mode {mode}")


if __name__ == "__main__":
    main(sys.argv)
