#!/usr/bin/env bash
# test_udp_apps.sh: the seeds' UDP programs over tapir, against the host's own tools.
# udp_echo_server echoes 0..65507-byte datagrams from python3 byte-exact (an empty one too) and
# logs each sender; udp_client sends each stdin line as one datagram to a python3 server on the
# host, prints the replies (an empty line makes an empty datagram), stops at "exit"; with
# --connect a closed port shows as "Connection refused", without it as a timeout.
set -u
. "$(dirname "$0")/lib.sh"

BIN=$(dirname "$TAPIR")

# --- the command lines ---
"$BIN/udp_echo_server" --help >"$TEST_TMP/help.out" 2>&1
check_eq "udp_echo_server --help exits 0" "$?" 0
"$BIN/udp_client" --help >"$TEST_TMP/help.out" 2>&1
check_eq "udp_client --help exits 0" "$?" 0
"$BIN/udp_client" 10.0.0.1 >/dev/null 2>"$TEST_TMP/usage.err" </dev/null
check_eq "udp_client without a port exits 2" "$?" 2
check_eq "... with one line on stderr" "$(wc -l <"$TEST_TMP/usage.err")" 1
"$BIN/udp_echo_server" --port 70000 >/dev/null 2>"$TEST_TMP/usage.err" </dev/null
check_eq "udp_echo_server --port 70000 exits 2" "$?" 2

# --- udp_echo_server against python3 ---
srv_out=$TEST_TMP/server.out
if start_app "$srv_out" "echoing UDP on" "$BIN/udp_echo_server" --tap tap0 --ip "$TAPIR_IP/24" --port 7; then
    ok "udp_echo_server starts on tap0"
    cat >"$TEST_TMP/echo_sizes.py" <<'PY'
import os, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.0.0.1", 0))
s.settimeout(3)
for size in (0, 1, 5, 1472, 8000, 65507):
    data = b"hello" if size == 5 else os.urandom(size)
    s.sendto(data, (sys.argv[1], 7))
    try:
        got, peer = s.recvfrom(70000)
    except socket.timeout:
        print(f"not ok - {size}-byte datagram echoed (no reply)")
        continue
    good = got == data and peer == (sys.argv[1], 7)
    print(("ok" if good else "not ok") + f" - {size}-byte datagram echoed byte-exact")
print("PORT", s.getsockname()[1])
PY
    bounded 60 python3 "$TEST_TMP/echo_sizes.py" "$TAPIR_IP" >"$TEST_TMP/sizes.out" 2>&1
    grep -E '^(ok|not ok)' "$TEST_TMP/sizes.out"
    port=$(awk '/^PORT/ {print $2}' "$TEST_TMP/sizes.out")
    check "the server logs the sender and the data" grep -q "^from $HOST_IP:$port, 5 bytes: 'hello'$" "$srv_out"
    check "the server logs the empty datagram" grep -q "^from $HOST_IP:$port, 0 bytes: ''$" "$srv_out"
    reply=$(printf 'over nc\n' | bounded 5 nc -u -w 1 "$TAPIR_IP" 7)
    check_eq "nc -u gets its line echoed" "$reply" "over nc"
    stop_app
    check_eq "udp_echo_server exits 0 on SIGTERM" "$APP_RC" 0
    check "... saying it stops" grep -q "stopping" "$srv_out"
else
    not_ok "udp_echo_server starts on tap0"
fi

# --- udp_client against a python3 server on the host ---
cat >"$TEST_TMP/upper_server.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.0.0.1", 9999))
s.settimeout(15)
print("READY", flush=True)
n = 0
try:
    while True:
        data, peer = s.recvfrom(70000)
        n += 1
        s.sendto(data.upper(), peer)
except socket.timeout:
    pass
print("RECEIVED", n)
PY
python3 "$TEST_TMP/upper_server.py" >"$TEST_TMP/upper.out" 2>&1 &
py_pid=$!
for ((i = 0; i < 100; i++)); do # until it is bound, or its port would be unreachable
    grep -q READY "$TEST_TMP/upper.out" && break
    sleep 0.05
done
printf 'hello tapir\n\nexit\nnever sent\n' >"$TEST_TMP/client.in"
bounded 20 bash -c 'exec "$@" <"$0"' "$TEST_TMP/client.in" \
    "$BIN/udp_client" --tap tap0 --ip "$TAPIR_IP/24" 10.0.0.1 9999 >"$TEST_TMP/client.out" 2>&1
check_eq "udp_client exits 0 at 'exit'" "$?" 0
check "udp_client prints the server's reply" grep -q "^reply from 10.0.0.1:9999, 11 bytes: HELLO TAPIR$" "$TEST_TMP/client.out"
check "an empty line is an empty datagram, and comes back" grep -q "^reply from 10.0.0.1:9999, 0 bytes: $" "$TEST_TMP/client.out"
kill -s TERM "$py_pid" 2>/dev/null
wait "$py_pid" 2>/dev/null
diag <"$TEST_TMP/client.out"

# --- a closed port: connected and not ---
printf 'anyone?\n' >"$TEST_TMP/closed.in"
bounded 20 bash -c 'exec "$@" <"$0"' "$TEST_TMP/closed.in" \
    "$BIN/udp_client" --tap tap0 --ip "$TAPIR_IP/24" --connect 10.0.0.1 9998 >"$TEST_TMP/refused.out" 2>&1
check "with --connect, a closed port is 'Connection refused'" grep -q "Connection refused" "$TEST_TMP/refused.out"
bounded 20 bash -c 'exec "$@" <"$0"' "$TEST_TMP/closed.in" \
    "$BIN/udp_client" --tap tap0 --ip "$TAPIR_IP/24" --timeout 300 10.0.0.1 9998 >"$TEST_TMP/timeout.out" 2>&1
check "unconnected, a closed port is a timeout, as on Linux" grep -q "no reply within 300 ms" "$TEST_TMP/timeout.out"

done_testing
