#!/usr/bin/env python3
"""file_proto.py: seed 002's file download client and server, in Python as the seed writes
them, speaking the protocol of tapir's file_server and file_client (apps/lib/filesrv.h):

    request:  struct.pack("!H", len(name)) + name          (name: UTF-8, 1..1024 bytes)
    reply:    struct.pack("!BQ", status, length) + body    (status b"O": body is the file,
                                                            b"E": body is an error message)
    then the server closes; the client closes after reading the body.

The size in front is seed 003's fix for "sticky packets": the client knows when it has the
whole file, and a missing file is an error, not an empty download.

    python3 file_proto.py get SERVER PORT NAME [-o OUT]    download NAME, print its sha256
    python3 file_proto.py serve [--dir DIR] [--bind ADDR] [--port PORT]

Exit status: 0 on success, 1 when the download failed (the server's error, a refused
connection, a short download), 2 for bad arguments.
"""
import argparse
import hashlib
import os
import socket
import stat
import struct
import sys
import time

NAME_MAX = 1024
CHUNK = 256 * 1024
OK, ERR = ord("O"), ord("E")


def recv_exactly(sock, n):
    """n bytes, or fewer if the peer closed first."""
    data = b""
    while len(data) < n:
        part = sock.recv(n - len(data))
        if not part:
            break
        data += part
    return data


# --- the client ---------------------------------------------------------------------------

def get(server, port, name, out_path, timeout):
    # 创建tcp套接字, 连接服务器 (create the socket, connect)
    tcp_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp_socket.settimeout(timeout)
    try:
        tcp_socket.connect((server, port))
    except OSError as e:
        print(f"file_proto: cannot connect to {server}:{port}: {e.strerror or e}", file=sys.stderr)
        return 1
    # 发送下载文件名, 带长度报头 (send the name, behind its length)
    raw = name.encode("utf-8")
    tcp_socket.sendall(struct.pack("!H", len(raw)) + raw)
    header = recv_exactly(tcp_socket, 9)
    if len(header) < 9:
        print("file_proto: the server closed without a reply", file=sys.stderr)
        return 1
    status, length = struct.unpack("!BQ", header)
    if status == ERR:
        msg = recv_exactly(tcp_socket, min(length, 1024)).decode("utf-8", "replace")
        print(f"file_proto: the server says: {msg}", file=sys.stderr)
        return 1
    if status != OK:
        print(f"file_proto: not a file server (reply starts {header[:1]!r})", file=sys.stderr)
        return 1
    if out_path is None:
        out_path = os.path.basename(name)
    # 接收文件数据, 原封不动地写入 (receive, write byte for byte), hashing as it comes
    digest = hashlib.sha256()
    got = 0
    start = time.monotonic()
    with open(out_path, "wb") as f:
        while got < length:
            data = tcp_socket.recv(min(CHUNK, length - got))
            if not data:
                break
            f.write(data)
            digest.update(data)
            got += len(data)
    tcp_socket.close()
    if got < length:
        print(f"file_proto: download cut short: {got} of {length} bytes", file=sys.stderr)
        return 1
    secs = time.monotonic() - start
    print(f"saved {got} bytes to {out_path} in {secs:.2f} s "
          f"({got / max(secs, 1e-6) / 1048576:.1f} MiB/s)")
    print(f"sha256: {digest.hexdigest()}")
    return 0


# --- the server ---------------------------------------------------------------------------

def check_name(root, name):
    """The real path to serve, or an error message: the same refusals as filesrv.c."""
    if name.startswith("/"):
        return None, (f"refused: '{name}' is an absolute path; "
                      "names are relative to the served directory")
    if ".." in name.split("/"):
        return None, (f"refused: '{name}' has a '..' component; "
                      "it may not leave the served directory")
    path = os.path.realpath(os.path.join(root, name))
    if os.path.commonpath([root, path]) != root:
        return None, f"refused: '{name}' leads out of the served directory (a symlink)"
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None, f"no such file: '{name}'"
    if not stat.S_ISREG(mode):
        return None, f"not a regular file: '{name}'"
    return path, None


def send_reply(client_socket, root, name):
    path, err = check_name(root, name)
    if err:
        print(f"  {err}", flush=True)
        body = err.encode("utf-8")
        client_socket.sendall(struct.pack("!BQ", ERR, len(body)) + body)
        return
    # 文件太大会报错, so never read it whole: a header with the size, then chunks
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        print(f"  sending '{name}', {size} bytes", flush=True)
        client_socket.sendall(struct.pack("!BQ", OK, size))
        sent = 0
        while sent < size:
            chunk = f.read(min(CHUNK, size - sent))
            if not chunk:
                break
            client_socket.sendall(chunk)
            sent += len(chunk)


def serve(root, bind, port):
    root = os.path.realpath(root)
    # 创建一个服务器套接字, 地址重用 (the server socket, SO_REUSEADDR as the seed sets it)
    server_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server_socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server_socket.bind((bind, port))
    server_socket.listen(128)
    print(f"serving {root} on {bind}:{port}", flush=True)
    while True:
        # 接收一个客户端, 开始对他进行服务 (one client at a time, as the seed)
        client_socket, client_address = server_socket.accept()
        client_socket.settimeout(30)
        print(f"request from {client_address}", flush=True)
        try:
            # 取出文件名: its length first, then exactly that many bytes
            header = recv_exactly(client_socket, 2)
            n = struct.unpack("!H", header)[0] if len(header) == 2 else 0
            if 0 < n <= NAME_MAX:
                name = recv_exactly(client_socket, n).decode("utf-8", "replace")
                send_reply(client_socket, root, name)
            elif len(header) == 2:
                body = f"bad request: a {n}-byte name; 1 to {NAME_MAX} bytes".encode()
                client_socket.sendall(struct.pack("!BQ", ERR, len(body)) + body)
            # Our FIN, then the client's, so our close never finds unread data (a reset).
            client_socket.shutdown(socket.SHUT_WR)
            while client_socket.recv(4096):
                pass
        except OSError as e:
            print(f"  {e}", flush=True)
        client_socket.close()


def main():
    p = argparse.ArgumentParser(description="seed 002's file download, tapir's protocol")
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("get", help="download NAME from SERVER:PORT")
    g.add_argument("server")
    g.add_argument("port", type=int)
    g.add_argument("name")
    g.add_argument("-o", "--output", help="where to save it (default: the name's last part)")
    g.add_argument("--timeout", type=float, default=20, help="seconds (default 20)")
    s = sub.add_parser("serve", help="serve DIR's files")
    s.add_argument("--dir", default=".")
    s.add_argument("--bind", default="")
    s.add_argument("--port", type=int, default=2020)
    a = p.parse_args()
    if a.cmd == "get":
        return get(a.server, a.port, a.name, a.output, a.timeout)
    serve(a.dir, a.bind, a.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
