#!/usr/bin/env bash
# test_seed_apps.sh: the seeds' TCP programs of issue 7 over tapir, against python3 and nc.
# Echo: the server serves clients one after another and prints recv 0 at each close; the
# client prints echoes, stops at "exit" and at end of input. Chat: lines both ways through
# tcp_chat, listening and connecting, and each side sees the other's close. Remote command:
# the sticky packets of --naive (a long reply split over recvs, two replies in one recv, the
# seed server's stderr arriving in the next command's recv, an empty reply never arriving)
# and the 4-byte length header's exact replies, from the server's and from the client's side;
# the server refuses to start without --allow-commands. Threads: 100 clients at once, each
# echoed its own payload, and one client more refused. Bad flags exit 2; a closed port says
# "Connection refused".
set -u
. "$(dirname "$0")/lib.sh"

BIN=$(dirname "$TAPIR")
HERE=$(cd "$(dirname "$0")" && pwd)
RCMD_PY=$HERE/seed_rcmd.py
HOST_FLAGS=(--tap tap0 --ip "$TAPIR_IP/24")

# wait_for FILE TEXT [SECONDS]: until TEXT (a grep -F pattern) is in FILE; bounded (default 10 s).
wait_for() {
    local i
    for ((i = 0; i < ${3:-10} * 20; i++)); do
        grep -qF -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    diag "no '$2' in $(basename "$1") within ${3:-10} s; it has:"
    diag <"$1"
    return 1
}

# wait_pid PID [SECONDS]: waits for a background job (bounded, default 10 s, then SIGKILL);
# its exit status in WAIT_RC.
wait_pid() {
    local i
    for ((i = 0; i < ${2:-10} * 20; i++)); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.05
    done
    kill -s KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    WAIT_RC=$?
}

# has_lines FILE LINE...: each LINE is a whole line of FILE.
has_lines() {
    local file=$1 line
    shift
    for line; do grep -qxF -- "$line" "$file" || return 1; done
}

# bounded_in SECONDS FILE CMD [ARGS]: bounded, with stdin from FILE (a background job's stdin
# would be /dev/null otherwise).
bounded_in() {
    local secs=$1 file=$2
    shift 2
    bounded "$secs" bash -c 'exec "$@" <"$0"' "$file" "$@"
}

# start_py OUT SCRIPT [ARGS]: a python3 program in the background, its pid in PY_PID (a
# server prints READY once it listens: wait_for OUT READY).
start_py() {
    local out=$1
    shift
    python3 "$@" >"$out" 2>&1 9>&- &
    PY_PID=$!
}

# start_fed OUT READY FIFO PROGRAM [ARGS]: a demo program whose stdin is FIFO, held open on
# fd 7 by this shell, so the test types into it line by line (echo ... >&7) and closing fd 7
# is its end of input. Waits (bounded) for READY in its output. (APP_PID: lib.sh's cleanup
# kills it if the test dies.)
start_fed() {
    local out=$1 ready=$2 fifo=$3
    shift 3
    rm -f "$fifo"
    mkfifo "$fifo"
    setpriv --pdeathsig TERM -- "$@" >"$out" 2>"$out.err" <"$fifo" 9>&- &
    APP_PID=$!
    exec 7<>"$fifo" # read-write: opening never blocks, even if the program died first
    wait_for "$out" "$ready"
}

# --- the command lines: help, bad flags (exit 2, one line), the refusal to start ---
for prog in tcp_echo_server tcp_echo_client tcp_chat rcmd_server rcmd_client threaded_echo_server; do
    "$BIN/$prog" --help >"$TEST_TMP/help.out" 2>&1
    check_eq "$prog --help exits 0" "$?" 0
done
"$BIN/rcmd_server" --help >"$TEST_TMP/help.out" 2>&1
check "rcmd_server --help says it gives a shell to anyone who can reach the port" \
    grep -q "GIVES A SHELL TO ANYONE WHO CAN REACH ITS PORT" "$TEST_TMP/help.out"
usage_error() { # DESCRIPTION PROGRAM ARGS...: exit 2 and one line on stderr
    local desc=$1
    shift
    "$@" >"$TEST_TMP/usage.out" 2>"$TEST_TMP/usage.err" </dev/null
    local rc=$?
    if [ "$rc" = 2 ] && [ "$(wc -l <"$TEST_TMP/usage.err")" = 1 ]; then
        ok "$desc: exit 2, one line"
    else
        not_ok "$desc: exit 2, one line"
        diag "exit $rc; stderr:"
        diag <"$TEST_TMP/usage.err"
    fi
}
usage_error "tcp_chat --bogus" "$BIN/tcp_chat" --bogus
usage_error "tcp_chat without SERVER PORT or --listen" "$BIN/tcp_chat"
usage_error "tcp_chat --listen with SERVER PORT" "$BIN/tcp_chat" --listen 10.0.0.1 9000
usage_error "tcp_chat --port without --listen" "$BIN/tcp_chat" --port 9000 10.0.0.1 9000
usage_error "tcp_chat --listen --port 0" "$BIN/tcp_chat" --listen --port 0
usage_error "rcmd_server --allow-commands --port 70000" "$BIN/rcmd_server" --allow-commands --port 70000
usage_error "rcmd_server --allow-commands --limit x" "$BIN/rcmd_server" --allow-commands --limit x
usage_error "rcmd_client --recv-size 0" "$BIN/rcmd_client" --recv-size 0 10.0.0.1 8000
usage_error "rcmd_client without a port" "$BIN/rcmd_client" 10.0.0.1
usage_error "threaded_echo_server --max-clients 0" "$BIN/threaded_echo_server" --max-clients 0
usage_error "threaded_echo_server with an argument" "$BIN/threaded_echo_server" 7
usage_error "tcp_echo_server --bogus" "$BIN/tcp_echo_server" --bogus
usage_error "tcp_echo_client --timeout x" "$BIN/tcp_echo_client" --timeout x 10.0.0.1 9000
usage_error "rcmd_server without --allow-commands refuses to start" "$BIN/rcmd_server" "${HOST_FLAGS[@]}"
check "... saying why and what flag it wants" \
    grep -q "refusing to start: this server runs any shell command.*add --allow-commands" "$TEST_TMP/usage.err"
check "... before it starts a host (nothing on stdout)" test ! -s "$TEST_TMP/usage.out"

# --- tcp_echo_server: one client after another; recv 0 at each close ---
srv=$TEST_TMP/echo_server.out
if start_app "$srv" "listening on" "$BIN/tcp_echo_server" "${HOST_FLAGS[@]}"; then
    reply=$(printf 'hello tapir\nsecond line\n' | bounded 10 nc -N "$TAPIR_IP" 7)
    check_eq "nc: both lines echoed" "$reply" $'hello tapir\nsecond line'
    cat >"$TEST_TMP/one_after_another.py" <<'PY'
# Two clients as in the seeds; the second must wait until the first has closed.
import socket, sys
a = socket.socket(); a.settimeout(10); a.connect((sys.argv[1], 7))
a.send("from a".encode("utf-8")); print("a got", a.recv(1024).decode("utf-8"), flush=True)
b = socket.socket(); b.settimeout(10); b.connect((sys.argv[1], 7))  # the backlog takes it
b.send("from b".encode("utf-8")); b.settimeout(1)
try:
    print("b got", b.recv(1024).decode("utf-8"), "while a is still connected")
except socket.timeout:
    print("b waits while a is connected", flush=True)
a.close()
b.settimeout(10); print("b got", b.recv(1024).decode("utf-8"), "after a closed", flush=True)
b.close()
PY
    bounded 20 python3 "$TEST_TMP/one_after_another.py" "$TAPIR_IP" >"$TEST_TMP/oaa.out" 2>&1
    check "python: the first client is echoed" grep -qx "a got from a" "$TEST_TMP/oaa.out"
    check "... the second waits while the first is connected" grep -qx "b waits while a is connected" "$TEST_TMP/oaa.out"
    check "... and is echoed once the first has closed" grep -qx "b got from b after a closed" "$TEST_TMP/oaa.out"
    check "the server logs nc's line as one recv" grep -qF "recv 24 bytes: 'hello tapir\\x0asecond line\\x0a'" "$srv"
    check_eq "the server prints recv 0 at each of the three closes" \
        "$(grep -c 'recv 0: the client closed' "$srv")" 3
    check "... in order: each client done before the next connects" \
        awk '/connected$/ { if (open) bad = 1; open = 1 } /done$/ { open = 0 } END { exit bad }' "$srv"
    stop_app
    check_eq "tcp_echo_server exits 0 on SIGTERM" "$APP_RC" 0
else
    not_ok "tcp_echo_server starts on tap0"
fi
diag <"$TEST_TMP/oaa.out"

# --- tcp_echo_client against the seeds' server in python: "exit", then end of input ---
cat >"$TEST_TMP/echo_server.py" <<'PY'
import socket
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("10.0.0.1", 9000))
server.listen(5)
server.settimeout(20)
print("READY", flush=True)
for client in range(2):
    conn, addr = server.accept()
    conn.settimeout(20)
    while True:
        from_client_msg = conn.recv(1024)
        if not from_client_msg:
            print("client", client, "closed", flush=True)
            break
        print("client", client, "sent", from_client_msg, flush=True)
        conn.send(from_client_msg)
    conn.close()
PY
start_py "$TEST_TMP/echo_py.out" "$TEST_TMP/echo_server.py"
wait_for "$TEST_TMP/echo_py.out" READY
printf 'hello\nexit\nnot sent\n' >"$TEST_TMP/exit.in"
bounded_in 20 "$TEST_TMP/exit.in" "$BIN/tcp_echo_client" "${HOST_FLAGS[@]}" 10.0.0.1 9000 >"$TEST_TMP/exit.out" 2>&1
check_eq "tcp_echo_client exits 0 at 'exit'" "$?" 0
check "... having printed the echo, then the close both ways" \
    has_lines "$TEST_TMP/exit.out" "echo: hello" "exit: closing the connection" \
    "the server closed too (recv returned 0)"
printf 'one\ntwo' >"$TEST_TMP/eof.in"
bounded_in 20 "$TEST_TMP/eof.in" "$BIN/tcp_echo_client" "${HOST_FLAGS[@]}" 10.0.0.1 9000 >"$TEST_TMP/eof.out" 2>&1
check_eq "tcp_echo_client exits 0 at the end of input" "$?" 0
check "... having printed both echoes, then the close" \
    has_lines "$TEST_TMP/eof.out" "echo: one" "echo: two" "end of input: closing the connection"
wait_pid "$PY_PID"
check "the python server got 'hello' and the close" \
    has_lines "$TEST_TMP/echo_py.out" "client 0 sent b'hello'" "client 0 closed"
check "... nothing after 'exit'" test "$(grep -c "not sent" "$TEST_TMP/echo_py.out")" = 0
check "... then 'one', 'two' and the close at the end of input" \
    has_lines "$TEST_TMP/echo_py.out" "client 1 sent b'one'" "client 1 sent b'two'" "client 1 closed"

# --- tcp_chat --listen: lines both ways with a python peer; we type "exit" ---
cat >"$TEST_TMP/chat_peer.py" <<'PY'
import socket, sys
def recv_line(s):
    line = b""
    while not line.endswith(b"\n"):
        b = s.recv(1)
        if not b:
            return line
        line += b
    return line
client = socket.socket(); client.settimeout(10)
client.connect(("10.0.0.2", 9000))
client.send("hello from python\n".encode("utf-8"))
print("got:", recv_line(client), flush=True)
client.send("bye from python\n".encode("utf-8"))
print("got:", recv_line(client), flush=True)
print("EOF" if client.recv(1024) == b"" else "no EOF", flush=True)
client.close()
PY
chat=$TEST_TMP/chat_listen.out
if start_fed "$chat" "waiting for a peer on 10.0.0.2:9000" "$TEST_TMP/chat.in" \
    "$BIN/tcp_chat" "${HOST_FLAGS[@]}" --listen --port 9000; then
    start_py "$TEST_TMP/chat_peer.out" "$TEST_TMP/chat_peer.py"
    wait_for "$chat" "peer: hello from python"
    check "tcp_chat --listen prints the peer's line" grep -qx "peer: hello from python" "$chat"
    echo "hello from tapir" >&7
    wait_for "$TEST_TMP/chat_peer.out" "got: b'hello from tapir"
    check "the peer gets the line typed into tcp_chat" grep -qx "got: b'hello from tapir\\\\n'" "$TEST_TMP/chat_peer.out"
    wait_for "$chat" "peer: bye from python"
    echo "exit" >&7
    wait_pid "$APP_PID"
    APP_PID=
    check_eq "tcp_chat exits 0 after 'exit'" "$WAIT_RC" 0
    check "... closing its side, then seeing the peer's close" \
        has_lines "$chat" "exit: closing our side (FIN)" "the peer closed the connection (recv returned 0)"
    wait_pid "$PY_PID"
    check "the peer sees tapir's close as recv returning b''" grep -qx "got: b''" "$TEST_TMP/chat_peer.out"
else
    not_ok "tcp_chat --listen starts"
fi
exec 7>&-
diag <"$chat"

# --- tcp_chat --listen with nc: a line each way; nc's end of input (-N: a FIN) ends it ---
chat=$TEST_TMP/chat_nc.out
if start_fed "$chat" "waiting for a peer on 10.0.0.2:9003" "$TEST_TMP/chat_nc.in" \
    "$BIN/tcp_chat" "${HOST_FLAGS[@]}" --listen --port 9003; then
    echo "hello nc" >&7 # typed before the peer comes: sent once it has
    reply=$(printf 'hello from nc\n' | bounded 10 nc -N "$TAPIR_IP" 9003)
    check_eq "nc gets the line typed into tcp_chat" "$reply" "hello nc"
    wait_pid "$APP_PID"
    APP_PID=
    check_eq "tcp_chat exits 0 at nc's close" "$WAIT_RC" 0
    check "... having printed nc's line, then the close" \
        has_lines "$chat" "peer: hello from nc" "the peer closed the connection (recv returned 0)"
else
    not_ok "tcp_chat --listen starts (for nc)"
fi
exec 7>&-

# --- tcp_chat connecting: the python peer closes first ---
cat >"$TEST_TMP/chat_server.py" <<'PY'
# PORT talk: greet, read one line, close first. PORT until-eof: read until the peer closes.
import socket, sys
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("10.0.0.1", int(sys.argv[1])))
server.listen(1); server.settimeout(20)
print("READY", flush=True)
conn, addr = server.accept(); conn.settimeout(10)
if sys.argv[2] == "talk":
    conn.send("welcome from python\n".encode("utf-8"))
data = b""
while sys.argv[2] != "talk" or not data.endswith(b"\n"):
    b = conn.recv(1024)
    if not b:
        print("EOF", flush=True)
        break
    data += b
print("got:", data, flush=True)
conn.close()
PY
start_py "$TEST_TMP/chat_server.out" "$TEST_TMP/chat_server.py" 9001 talk
wait_for "$TEST_TMP/chat_server.out" READY
chat=$TEST_TMP/chat_connect.out
if start_fed "$chat" "connected to 10.0.0.1:9001" "$TEST_TMP/chat2.in" \
    "$BIN/tcp_chat" "${HOST_FLAGS[@]}" 10.0.0.1 9001; then
    wait_for "$chat" "peer: welcome from python"
    check "tcp_chat (connecting) prints the peer's line" grep -qx "peer: welcome from python" "$chat"
    echo "hi python" >&7
    wait_pid "$PY_PID"
    check "the peer gets the typed line" grep -qx "got: b'hi python\\\\n'" "$TEST_TMP/chat_server.out"
    wait_pid "$APP_PID"
    APP_PID=
    check_eq "tcp_chat exits 0 when the peer closes (its stdin still open)" "$WAIT_RC" 0
    check "... saying the peer closed" grep -qx "the peer closed the connection (recv returned 0)" "$chat"
else
    not_ok "tcp_chat connects"
fi
exec 7>&-

# --- tcp_chat: end of input closes, an unfinished last line still goes ---
start_py "$TEST_TMP/chat_eof.out" "$TEST_TMP/chat_server.py" 9002 until-eof
wait_for "$TEST_TMP/chat_eof.out" READY
printf 'line one\nline two' >"$TEST_TMP/chat_eof.in"
bounded_in 20 "$TEST_TMP/chat_eof.in" "$BIN/tcp_chat" "${HOST_FLAGS[@]}" 10.0.0.1 9002 >"$TEST_TMP/chat3.out" 2>&1
check_eq "tcp_chat exits 0 at the end of input" "$?" 0
wait_pid "$PY_PID"
check "the peer gets both lines, then the close" \
    has_lines "$TEST_TMP/chat_eof.out" EOF "got: b'line one\\nline two\\n'"
check "tcp_chat says it closed at the end of input" grep -q "^end of input: closing our side" "$TEST_TMP/chat3.out"

# --- rcmd_server: the sticky packets of --naive, and the length header's exact replies ---
seq 1 1000 >"$TEST_TMP/seq.txt" # the long reply: 3893 bytes
prefix_of() { cmp -s -n "$(stat -c %s "$1")" "$1" "$2"; } # FILE1 is a prefix of FILE2
for mode in naive framed; do
    flag=()
    [ "$mode" = naive ] && flag=(--naive)
    srv=$TEST_TMP/rcmd_$mode.out
    if ! start_app "$srv" "listening on 10.0.0.2:8000" "$BIN/rcmd_server" "${HOST_FLAGS[@]}" --allow-commands "${flag[@]}"; then
        not_ok "rcmd_server ${flag[*]} starts"
        continue
    fi
    long=$TEST_TMP/$mode.long
    ahead=$TEST_TMP/$mode.ahead
    mkdir -p "$long" "$ahead"
    bounded 20 python3 "$RCMD_PY" --out "$long" $mode-client "$TAPIR_IP" 8000 "seq 1 1000" "echo marker" >"$long.log" 2>&1
    bounded 20 python3 "$RCMD_PY" --ahead 0.3 --out "$ahead" $mode-client "$TAPIR_IP" 8000 "echo one" "echo two" >"$ahead.log" 2>&1
    if [ $mode = naive ]; then
        check "naive: the 3893-byte reply overflows the client's recv(1024)" \
            test "$(stat -c %s "$long/1")" -le 1024
        check "... which holds its start" prefix_of "$long/1" "$TEST_TMP/seq.txt"
        cat "$long/1" "$long/2" >"$long/both" 2>/dev/null
        check "... and the next command's recv gets more of it" prefix_of "$long/both" "$TEST_TMP/seq.txt"
        check_eq "... not 'marker'" "$(grep -c marker "$long/2")" 0
        check_eq "naive: two commands sent ahead, one recv holds both replies" "$(cat "$ahead/1")" $'one\ntwo'
        check "the naive server sends raw, as read from the pipe" grep -q "sent raw in" "$srv"
    else
        check "framed: the 3893-byte reply comes whole" cmp -s "$long/1" "$TEST_TMP/seq.txt"
        check_eq "... and the next reply is exactly 'marker'" "$(cat "$long/2")" marker
        check_eq "framed: two commands sent ahead, first reply exactly 'one'" "$(cat "$ahead/1")" one
        check_eq "... second exactly 'two'" "$(cat "$ahead/2")" two
        check "the framed server logs the header" grep -q "sent behind a 4-byte length header" "$srv"
    fi
    diag <"$long.log"
    diag <"$ahead.log"
    if [ $mode = framed ]; then
        kill -s USR1 "$APP_PID"
        wait_for "$srv" "LISTEN"
        check "rcmd_server listens on the tap address only, not 0.0.0.0" \
            grep -qE "LISTEN +10\.0\.0\.2:8000 " "$srv"
    fi
    stop_app
    check_eq "rcmd_server ${flag[*]} exits 0 on SIGTERM" "$APP_RC" 0
done
check "rcmd_server warns that it runs any command a client sends" \
    grep -q "WARNING: runs any command a client on 10.0.0.2/24 sends" "$srv"

# --- rcmd_client against the seeds' python server, naive then framed ---
# run_rcmd_client INPUT OUT [FLAGS]: rcmd_client to the python server on 10.0.0.1:8000.
run_rcmd_client() {
    local out=$2
    printf "$1" >"$out.in"
    shift 2
    bounded_in 30 "$out.in" "$BIN/rcmd_client" "${HOST_FLAGS[@]}" "$@" 10.0.0.1 8000 >"$out" 2>&1
    RUN_RC=$?
}
recvs() { sed -n '/^\[recv/{n;p}' "$1" | sed -n "$2p"; } # FILE N: the Nth recv's first line
start_py "$TEST_TMP/rcmd_py_naive.out" "$RCMD_PY" --clients 3 naive-server 10.0.0.1 8000
wait_for "$TEST_TMP/rcmd_py_naive.out" READY
out=$TEST_TMP/rcmd_client_long.out
run_rcmd_client 'seq 1 1000\necho marker\nexit\n' "$out" --naive
check_eq "rcmd_client --naive exits 0 at 'exit'" "$RUN_RC" 0
check_eq "naive: the 3893-byte reply fills the one recv(1024)" "$(sed -n 's/^\[recv \([0-9]*\) bytes\]$/\1/p' "$out" | head -n 1)" 1024
check_eq "... and the next command's recv gets more of it (line 284 on), not 'marker'" "$(recvs "$out" 2)" 284
# The seed's server sends stdout, then stderr: two sends. The host's Nagle holds the second
# until tapir acknowledges the first, and tapir delays that ACK (40 ms) for data to ride on,
# so the naive client's one recv sees only "out"; "err" is what the next command receives.
out=$TEST_TMP/rcmd_client_nagle.out
run_rcmd_client 'echo out; echo err >&2\necho second\n' "$out" --naive
check_eq "naive: Nagle holds the server's second send, the first recv has only stdout" "$(recvs "$out" 1)" out
check_eq "... and the next command's recv gets the first one's stderr, not 'second'" "$(recvs "$out" 2)" err
diag <"$out"
out=$TEST_TMP/rcmd_client_empty.out
run_rcmd_client 'true\n' "$out" --naive --timeout 1000
check "naive: a command without output sends nothing, the recv times out" \
    grep -q "^\[nothing within 1000 ms: a command with no output sends nothing" "$out"
wait_pid "$PY_PID"
start_py "$TEST_TMP/rcmd_py_framed.out" "$RCMD_PY" framed-server 10.0.0.1 8000
wait_for "$TEST_TMP/rcmd_py_framed.out" READY
out=$TEST_TMP/rcmd_client_framed.out
run_rcmd_client 'seq 1 1000\necho out; echo err >&2\necho second\ntrue\n' "$out"
check_eq "rcmd_client (framed) exits 0 at the end of input" "$RUN_RC" 0
grep -v '^[0-9]*$' "$out" | diag
awk '/^\[reply/ { n++; next } n == 1' "$out" >"$TEST_TMP/framed_seq.txt"
check "framed: the 3893-byte reply comes whole" cmp -s "$TEST_TMP/framed_seq.txt" "$TEST_TMP/seq.txt"
check_eq "... then each reply is exactly its command's output, an empty one too" \
    "$(awk '/^\[reply 3893/ { skip = 1; next } /^\[reply/ { skip = 0 } !skip' "$out" | grep -v '^connected to\|^rcmd_client: seed')" \
    $'[reply 8 bytes]\nout\nerr\n[reply 7 bytes]\nsecond\n[reply 0 bytes]'
wait_pid "$PY_PID"
check "the python server saw each command whole" \
    has_lines "$TEST_TMP/rcmd_py_framed.out" "command b'echo second'" "command b'true'" CLOSED

# --- threaded_echo_server: 100 clients at once, one more refused ---
cat >"$TEST_TMP/hundred.py" <<'PY'
# socketserver's lesson: many clients at once. 100 threads connect, wait for each other,
# send a payload of their own (a size and bytes of their own), read their echo, and stay
# connected until all have checked; then one client more must be turned away (recv -> b"").
import os, socket, sys, threading
N = 100
barrier = threading.Barrier(N + 1, timeout=30)
results = [None] * N
def client(i):
    payload = f"client {i:03d} ".encode() + os.urandom(1000 + 97 * i)
    try:
        s = socket.socket(); s.settimeout(20); s.connect((sys.argv[1], 7))
        barrier.wait()                      # all 100 connected at once
        s.sendall(payload)
        got = b""
        while len(got) < len(payload):
            b = s.recv(65536)
            if not b:
                break
            got += b
        results[i] = got == payload
        barrier.wait()                      # all checked, all still connected
        barrier.wait()                      # the extra client has been tried
        s.close()
    except Exception as e:
        results[i] = repr(e)
        barrier.abort()
threads = [threading.Thread(target=client, args=(i,)) for i in range(N)]
for t in threads: t.start()
try:
    barrier.wait(); print("connected", N, flush=True)
    barrier.wait()
    extra = socket.socket(); extra.settimeout(10); extra.connect((sys.argv[1], 7))
    try:                                    # closed: a FIN, or a reset if our bytes came first
        extra.send(b"one too many")
        print("extra client:", "closed at once" if extra.recv(100) == b"" else "echoed", flush=True)
    except ConnectionResetError:
        print("extra client:", "closed at once", flush=True)
    except OSError as e:
        print("extra client:", repr(e), flush=True)
    extra.close()
    barrier.wait()
except threading.BrokenBarrierError:
    print("barrier broken", flush=True)
for t in threads: t.join(30)
bad = [i for i in range(N) if results[i] is not True]
print("echoed", N - len(bad), "of", N, "byte-exact", flush=True)
for i in bad[:5]: print("client", i, ":", results[i])
PY
srv=$TEST_TMP/threaded.out
if start_app "$srv" "listening on" "$BIN/threaded_echo_server" "${HOST_FLAGS[@]}" --max-clients 100; then
    bounded 60 python3 "$TEST_TMP/hundred.py" "$TAPIR_IP" >"$TEST_TMP/hundred.out" 2>&1
    check "100 clients connected at once" grep -qx "connected 100" "$TEST_TMP/hundred.out"
    check "... each got its own payload back, byte-exact" grep -qx "echoed 100 of 100 byte-exact" "$TEST_TMP/hundred.out"
    check "the server had 100 threads at once" grep -q "connected (100 active)" "$srv"
    check "one client more is closed at once" grep -qx "extra client: closed at once" "$TEST_TMP/hundred.out"
    check "... and the server says why" grep -q "refused: 100 clients already (--max-clients 100)" "$srv"
    for ((i = 0; i < 100; i++)); do
        [ "$(grep -c 'recv 0: the client closed' "$srv")" -ge 100 ] && break
        sleep 0.05
    done
    check_eq "every thread saw its client's close (recv 0)" "$(grep -c 'recv 0: the client closed' "$srv")" 100
    stop_app
    check_eq "threaded_echo_server exits 0 on SIGTERM" "$APP_RC" 0
    diag <"$TEST_TMP/hundred.out"
else
    not_ok "threaded_echo_server starts"
fi

# --- a closed port: Connection refused, exit 1 ---
bounded_in 20 /dev/null "$BIN/tcp_chat" "${HOST_FLAGS[@]}" 10.0.0.1 9009 >"$TEST_TMP/refused.out" 2>&1
check_eq "tcp_chat to a closed port exits 1" "$?" 1
check "... saying Connection refused" grep -q "^tcp_chat: cannot connect to 10.0.0.1:9009: Connection refused$" "$TEST_TMP/refused.out"
bounded_in 20 /dev/null "$BIN/rcmd_client" "${HOST_FLAGS[@]}" 10.0.0.1 9009 >"$TEST_TMP/refused.out" 2>&1
check_eq "rcmd_client to a closed port exits 1" "$?" 1
check "... saying Connection refused" grep -q "^rcmd_client: cannot connect to 10.0.0.1:9009: Connection refused$" "$TEST_TMP/refused.out"

# --- under make asan (TAPIR_BUILD=build/asan): no sanitizer report from any program ---
reports=$(grep -lE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: UndefinedBehaviorSanitizer' \
    "$TEST_TMP"/*.out "$TEST_TMP"/*.err 2>/dev/null)
check_eq "no sanitizer report from the programs" "$reports" ""
[ -n "$reports" ] && head -n 40 $reports | diag

done_testing
