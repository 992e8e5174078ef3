#!/usr/bin/env bash
# test_tcp_apps.sh: the seeds' TCP programs over tapir, against the host's own tools.
# tcp_echo_server serves nc and python clients one after another and logs each recv;
# tcp_echo_client connects out from tapir to a python3 echo server on the host (tapir's
# active open), prints each echo, skips an empty line (a stream cannot carry an empty
# message), and closes cleanly at "exit"; a closed port is "Connection refused".
set -u
. "$(dirname "$0")/lib.sh"

BIN=$(dirname "$TAPIR")

"$BIN/tcp_echo_server" --help >/dev/null 2>&1
check_eq "tcp_echo_server --help exits 0" "$?" 0
"$BIN/tcp_echo_client" 10.0.0.1 >/dev/null 2>"$TEST_TMP/usage.err" </dev/null
check_eq "tcp_echo_client without a port exits 2" "$?" 2

# --- tcp_echo_server: clients one after another ---
srv=$TEST_TMP/server.out
if start_app "$srv" "listening on" "$BIN/tcp_echo_server" --tap tap0 --ip "$TAPIR_IP/24"; then
    ok "tcp_echo_server starts on tap0"
    reply=$(printf 'first client\n' | bounded 10 nc -N "$TAPIR_IP" 7)
    check_eq "nc gets its line echoed" "$reply" "first client"
    cat >"$TEST_TMP/two.py" <<'PY'
import socket, sys, os
data = os.urandom(200000)
s = socket.create_connection((sys.argv[1], 7), timeout=10)
s.sendall(data)
s.shutdown(socket.SHUT_WR)
got = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    got += b
print("ok - 200000 random bytes echoed byte-exact" if got == data else
      f"not ok - 200000 random bytes echoed byte-exact (got {len(got)})")
PY
    bounded 30 python3 "$TEST_TMP/two.py" "$TAPIR_IP"
    check "the server logs each client" test "$(grep -c 'connected$' "$srv")" -ge 2
    check "the server logs the recv of the first line" grep -q "recv 13 bytes: 'first client\\\\x0a'" "$srv"
    check "the server sees each close as recv 0" test "$(grep -c 'recv 0: the client closed' "$srv")" -ge 2
    stop_app
    check_eq "tcp_echo_server exits 0 on SIGTERM" "$APP_RC" 0
else
    not_ok "tcp_echo_server starts on tap0"
fi

# --- tcp_echo_client: tapir's active open to a listener on the host ---
cat >"$TEST_TMP/echo_server.py" <<'PY'
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.0.0.1", 9000))
s.listen(5)
s.settimeout(20)
print("READY", flush=True)
c, peer = s.accept()
c.settimeout(20)
n = 0
while True:
    b = c.recv(65536)
    if not b:
        break
    n += len(b)
    c.sendall(b)
c.close()
print("BYTES", n, flush=True)
PY
python3 "$TEST_TMP/echo_server.py" >"$TEST_TMP/py.out" 2>&1 &
py_pid=$!
for ((i = 0; i < 100; i++)); do
    grep -q READY "$TEST_TMP/py.out" && break
    sleep 0.05
done
printf 'hello over tcp\n\nsecond line\nexit\nnever sent\n' >"$TEST_TMP/client.in"
bounded 30 bash -c 'exec "$@" <"$0"' "$TEST_TMP/client.in" \
    "$BIN/tcp_echo_client" --tap tap0 --ip "$TAPIR_IP/24" 10.0.0.1 9000 >"$TEST_TMP/client.out" 2>&1
check_eq "tcp_echo_client exits 0 at 'exit'" "$?" 0
check "it connects" grep -q "^connected to 10.0.0.1:9000$" "$TEST_TMP/client.out"
check "it prints the echo" grep -q "^echo: hello over tcp$" "$TEST_TMP/client.out"
check "an empty line is skipped, as the seeds say" grep -q "empty line is no message" "$TEST_TMP/client.out"
check "the next line still works" grep -q "^echo: second line$" "$TEST_TMP/client.out"
for ((i = 0; i < 100; i++)); do
    grep -q BYTES "$TEST_TMP/py.out" && break
    sleep 0.05
done
check_eq "the host's server saw the client close, after exactly the lines before 'exit'" \
    "$(awk '/^BYTES/ {print $2}' "$TEST_TMP/py.out")" 25
kill -s TERM "$py_pid" 2>/dev/null
wait "$py_pid" 2>/dev/null
diag <"$TEST_TMP/client.out"

printf 'anyone?\n' >"$TEST_TMP/closed.in"
bounded 30 bash -c 'exec "$@" <"$0"' "$TEST_TMP/closed.in" \
    "$BIN/tcp_echo_client" --tap tap0 --ip "$TAPIR_IP/24" 10.0.0.1 9001 >"$TEST_TMP/refused.out" 2>&1
check_eq "a closed port: exit status 1" "$?" 1
check "... saying Connection refused" grep -q "Connection refused" "$TEST_TMP/refused.out"

done_testing
