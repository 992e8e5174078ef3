#!/usr/bin/env bash
# test_file_apps.sh: seed 002's file download over tapir, both ways, against python3 programs
# written like the seed's (file_proto.py). tapir's file_server serves a 200 MiB file to the
# host's client byte-exact (sha256sum agrees) without holding it in memory, serves a client
# while another stalls (a thread per client), refuses missing names and names leaving its
# directory with a clear error, and stops promptly mid-download; tapir's file_client
# downloads 200 MiB from the host's server and prints the sha256 sha256sum prints, draws a
# progress bar under a pseudo-terminal and plain lines without one, asks for the name when
# none is given, reports the server's errors and a refused connection, and leaves no partial
# file; bad flags exit 2 with one line.
set -u
. "$(dirname "$0")/lib.sh"

BIN=$(dirname "$TAPIR")
PROTO=$TAPIR_ROOT/tests/integration/file_proto.py
SRV=$TEST_TMP/served
mkdir -p "$SRV/sub" "$TEST_TMP/dl"
ln -s "$TAPIR_ROOT/README.md" "$TEST_TMP/outside-target"

# The served directory: 200 MiB of random bytes, a small file, an empty one, a symlink that
# stays inside and two that lead out.
head -c 200M /dev/urandom >"$SRV/big.bin"
big_sum=$(sha256sum "$SRV/big.bin" | cut -c1-64)
echo "hello from the served directory" >"$SRV/sub/small.txt"
echo "一个文件" >"$SRV/文件.txt" # names are UTF-8 on the wire (the seed used GBK)
: >"$SRV/empty"
ln -s sub/small.txt "$SRV/inside-link"
ln -s /etc/passwd "$SRV/abs-link"
ln -s ../outside-target "$SRV/rel-link"

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# on_pty OUT CMD [ARGS]: runs CMD on a pseudo-terminal (stdout and stderr both), its
# transcript in OUT; CMD's exit status.
on_pty() {
    local out=$1
    shift
    bounded 60 python3 -c '
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
out = b""
while True:
    try:
        data = os.read(fd, 65536)
    except OSError:  # EIO: the child has gone and closed the terminal
        break
    if not data:
        break
    out += data
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(out)
sys.exit(os.waitstatus_to_exitcode(status))' "$@" >"$out"
}

# usage_error DESCRIPTION PATTERN CMD [ARGS]: CMD exits 2 with one stderr line matching PATTERN.
usage_error() {
    local desc=$1 pattern=$2 rc
    shift 2
    "$@" >/dev/null 2>"$TEST_TMP/usage.err" </dev/null
    rc=$?
    if [ "$rc" = 2 ] && [ "$(wc -l <"$TEST_TMP/usage.err")" = 1 ] &&
        grep -q -- "$pattern" "$TEST_TMP/usage.err"; then
        ok "$desc"
    else
        not_ok "$desc"
        diag "exit status $rc; stderr:"
        diag <"$TEST_TMP/usage.err"
    fi
}

# --- the command lines ---
"$BIN/file_server" --help >"$TEST_TMP/help.out" 2>&1
check_eq "file_server --help exits 0" "$?" 0
"$BIN/file_client" --help >"$TEST_TMP/help.out" 2>&1
check_eq "file_client --help exits 0" "$?" 0
usage_error "file_server --port 0: exit 2" "--port wants" "$BIN/file_server" --port 0
usage_error "file_server --dir on a missing directory: exit 2" "cannot serve" \
    "$BIN/file_server" --dir "$TEST_TMP/nowhere"
usage_error "file_server --dir on a file: exit 2" "Not a directory" \
    "$BIN/file_server" --dir "$SRV/big.bin"
usage_error "file_server with an unknown flag: exit 2" "unknown option" "$BIN/file_server" --bogus
usage_error "file_client without a port: exit 2" "wants SERVER PORT" "$BIN/file_client" 10.0.0.1
usage_error "file_client with a bad address: exit 2" "not an IPv4 address" \
    "$BIN/file_client" 10.0.0.300 2020 x
usage_error "file_client --progress fancy: exit 2" "--progress wants" \
    "$BIN/file_client" --progress fancy 10.0.0.1 2020 x
usage_error "file_client with no name and nothing typed: exit 2" "no file name" \
    "$BIN/file_client" 10.0.0.1 2020
usage_error "file_client asking for a directory with no --output: exit 2" "give --output" \
    "$BIN/file_client" 10.0.0.1 2020 sub/

# --- tapir's file_server, the host's client ---
srv_out=$TEST_TMP/server.out
get() { bounded 60 python3 "$PROTO" get "$TAPIR_IP" 2020 "$@"; }
if start_app "$srv_out" "serving" "$BIN/file_server" --tap tap0 --ip "$TAPIR_IP/24" --dir "$SRV"; then
    ok "file_server starts on tap0"
    t0=$(now_ms)
    get big.bin --output "$TEST_TMP/dl/py-big.bin" >"$TEST_TMP/py-big.out" 2>&1
    rc=$?
    t1=$(now_ms)
    check_eq "the host's client downloads 200 MiB from tapir: exit 0" "$rc" 0
    check_eq "... sha256sum of the copy equals the original's" \
        "$(sha256sum "$TEST_TMP/dl/py-big.bin" | cut -c1-64)" "$big_sum"
    check_eq "... and the client's own sha256 too" \
        "$(awk '/^sha256:/ {print $2}' "$TEST_TMP/py-big.out")" "$big_sum"
    diag "200 MiB from tapir's file_server: $((t1 - t0)) ms with python's start-up;" \
        "$(head -n 1 "$TEST_TMP/py-big.out")"
    check "the server logs the whole file sent" grep -q "'big.bin': sent 209715200 bytes" "$srv_out"
    hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$APP_PID/status")
    check_le "the server streamed it: peak memory under 64 MiB (kB)" "$hwm" 65536
    rm -f "$TEST_TMP/dl/py-big.bin"

    get sub/small.txt --output "$TEST_TMP/dl/small" >/dev/null 2>&1
    check_eq "a small file in a subdirectory arrives intact" "$(cat "$TEST_TMP/dl/small")" \
        "hello from the served directory"
    get empty --output "$TEST_TMP/dl/empty" >/dev/null 2>&1
    check_eq "an empty file is a download of 0 bytes, not an error" \
        "$?:$(stat -c %s "$TEST_TMP/dl/empty")" "0:0"
    get 文件.txt --output "$TEST_TMP/dl/utf8" >/dev/null 2>&1
    check_eq "a name in Chinese is served" "$(cat "$TEST_TMP/dl/utf8")" "一个文件"
    get inside-link --output "$TEST_TMP/dl/via-link" >/dev/null 2>&1
    check_eq "a symlink that stays inside the directory is served" "$(cat "$TEST_TMP/dl/via-link")" \
        "hello from the served directory"

    refused() { # refused DESCRIPTION NAME PATTERN
        get "$2" --output "$TEST_TMP/dl/refused" >"$TEST_TMP/refused.out" 2>&1
        local rc=$?
        if [ "$rc" = 1 ] && grep -q "the server says: $3" "$TEST_TMP/refused.out"; then
            ok "$1"
        else
            not_ok "$1"
            diag "exit status $rc; output:"
            diag <"$TEST_TMP/refused.out"
        fi
    }
    refused "a missing file: a clear error and exit 1" missing.txt "no such file: 'missing.txt'"
    refused "'../etc/passwd' is refused" ../etc/passwd "refused: '../etc/passwd' has a '..' component"
    refused "'sub/../../x' is refused" sub/../../x "refused: .* has a '..' component"
    refused "an absolute path is refused" /etc/passwd "refused: '/etc/passwd' is an absolute path"
    refused "a symlink to an absolute path outside is refused" abs-link "refused: 'abs-link' leads out"
    refused "a relative symlink climbing out is refused" rel-link "refused: 'rel-link' leads out"
    refused "a directory is not a file" sub "not a regular file: 'sub'"
    check "the server logs each refusal" grep -q "refused: 'rel-link' leads out" "$srv_out"

    # A thread per client: a client that connects and never asks holds one thread for 9 s
    # while another is served; a server of one client at a time would make it wait that long.
    timeout 20 python3 -c 'import socket, sys, time
s = socket.create_connection((sys.argv[1], 2020)); print("CONNECTED", flush=True); time.sleep(9)' \
        "$TAPIR_IP" >"$TEST_TMP/staller.out" &
    staller=$!
    for ((i = 0; i < 100; i++)); do
        grep -q CONNECTED "$TEST_TMP/staller.out" && break
        sleep 0.05
    done
    t0=$(now_ms)
    get sub/small.txt --output "$TEST_TMP/dl/small2" >/dev/null 2>&1
    check_eq "a client is served while another stalls (a thread each)" "$?" 0
    check_le "... without waiting for it (ms)" $(($(now_ms) - t0)) 6000
    kill "$staller" 2>/dev/null
    wait "$staller" 2>/dev/null

    # A client that asks for the big file and stops reading: the server's thread blocks in
    # send; SIGTERM must still stop the server promptly and cleanly.
    timeout 30 python3 -c 'import socket, struct, sys, time
s = socket.create_connection((sys.argv[1], 2020)); s.sendall(struct.pack("!H", 7) + b"big.bin")
s.recv(9); time.sleep(20)' "$TAPIR_IP" &
    reader=$!
    for ((i = 0; i < 100; i++)); do # the second "sending" line: this client's
        [ "$(grep -c "'big.bin': sending" "$srv_out")" -ge 2 ] && break
        sleep 0.05
    done
    sleep 0.5
    stop_app # SIGKILL after 5 s
    check_eq "file_server exits 0 on SIGTERM with a download in flight, within 5 s" "$APP_RC" 0
    kill "$reader" 2>/dev/null
    wait "$reader" 2>/dev/null
else
    not_ok "file_server starts on tap0"
fi

# --- tapir's file_client, the host's server ---
timeout 120 python3 "$PROTO" serve --dir "$SRV" --bind "$HOST_IP" --port 2020 >"$TEST_TMP/pyserver.out" 2>&1 &
py_pid=$!
for ((i = 0; i < 100; i++)); do
    grep -q "^serving" "$TEST_TMP/pyserver.out" && break
    sleep 0.05
done
client() { bounded 60 "$BIN/file_client" --tap tap0 --ip "$TAPIR_IP/24" "$@"; }
cd "$TEST_TMP/dl" || exit 1

t0=$(now_ms)
client "$HOST_IP" 2020 big.bin >"$TEST_TMP/client-big.out" 2>"$TEST_TMP/client-big.err"
rc=$?
t1=$(now_ms)
check_eq "file_client downloads 200 MiB from the host's server: exit 0" "$rc" 0
check_eq "... the sha256 it prints is sha256sum's" \
    "$(awk '/^sha256:/ {print $2}' "$TEST_TMP/client-big.out")" "$big_sum"
check_eq "... saved under the name's last component" \
    "$(sha256sum big.bin 2>/dev/null | cut -c1-64)" "$big_sum"
diag "200 MiB to tapir's file_client: $((t1 - t0)) ms with start-up;" \
    "$(grep '^saved' "$TEST_TMP/client-big.out")"
check "without a terminal, progress is plain lines" \
    grep -q '^progress: 209715200/209715200 bytes (100%)' "$TEST_TMP/client-big.err"
check_ge "... one per 10%" "$(grep -c '^progress: ' "$TEST_TMP/client-big.err")" 10
check "... and no carriage returns" bash -c "! grep -q $'\r' '$TEST_TMP/client-big.err'"
rm -f big.bin

on_pty "$TEST_TMP/pty.out" "$BIN/file_client" --tap tap0 --ip "$TAPIR_IP/24" \
    --output pty-big.bin "$HOST_IP" 2020 big.bin
check_eq "on a pseudo-terminal: exit 0" "$?" 0
check_eq "... the same sha256" "$(tr -d '\r' <"$TEST_TMP/pty.out" | awk '/^sha256:/ {print $2}')" \
    "$big_sum"
check "... a progress bar redrawn in place: carriage returns" \
    grep -q $'\r\\[#*-*\\] *[0-9]*%' "$TEST_TMP/pty.out"
check_ge "... redrawn several times" "$(tr '\r' '\n' <"$TEST_TMP/pty.out" | grep -c '^\[[#-]*\] ')" 3
check "... ending at 100% with the rate and ETA" \
    grep -qE $'\r\\[#{24}\\] 100%  200.0 MiB / 200.0 MiB  [0-9.]+ [KMG]iB/s  ETA 0:00' "$TEST_TMP/pty.out"
check "... and no plain progress lines" bash -c "! grep -q '^progress: ' '$TEST_TMP/pty.out'"
rm -f pty-big.bin

printf 'sub/small.txt\n' | client "$HOST_IP" 2020 >"$TEST_TMP/typed.out" 2>&1
check_eq "with no NAME it asks for one, as the seed's input(): exit 0" "$?" 0
check "... with a prompt" grep -q "^file name: " "$TEST_TMP/typed.out"
check_eq "... and saves it" "$(cat small.txt 2>/dev/null)" "hello from the served directory"
client "$HOST_IP" 2020 文件.txt >"$TEST_TMP/utf8.out" 2>&1
check_eq "a name in Chinese: saved under that name" "$?:$(cat 文件.txt 2>/dev/null)" "0:一个文件"

client "$HOST_IP" 2020 missing.txt >"$TEST_TMP/missing.out" 2>&1
check_eq "file_client, a missing file: exit 1" "$?" 1
check "... printing the server's error" \
    grep -q "^file_client: the server says: no such file: 'missing.txt'$" "$TEST_TMP/missing.out"
check "... and leaving no file behind" test ! -e missing.txt
client --output passwd "$HOST_IP" 2020 ../etc/passwd >"$TEST_TMP/escape.out" 2>&1
check_eq "file_client, '../etc/passwd': exit 1" "$?" 1
check "... printing the refusal" grep -q "the server says: refused: '../etc/passwd'" "$TEST_TMP/escape.out"
check "... and leaving no file behind" test ! -e passwd
kill -s TERM "$py_pid" 2>/dev/null
wait "$py_pid" 2>/dev/null

# A server that promises 16 bytes and sends 3, then one that sends 3 and goes quiet: what
# the seed's client would have saved as a complete file.
cat >"$TEST_TMP/liar.py" <<'PY'
import socket, struct, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 2021))
s.listen(5)
s.settimeout(20)
print("READY", flush=True)
for quiet in (False, True):
    c, _ = s.accept()
    c.recv(100)
    c.sendall(struct.pack("!BQ", ord("O"), 16) + b"abc")
    if quiet:
        time.sleep(5)
    c.close()
PY
timeout 30 python3 "$TEST_TMP/liar.py" "$HOST_IP" >"$TEST_TMP/liar.out" 2>&1 &
liar=$!
for ((i = 0; i < 100; i++)); do
    grep -q READY "$TEST_TMP/liar.out" && break
    sleep 0.05
done
client "$HOST_IP" 2021 short.bin >"$TEST_TMP/short.out" 2>&1
check_eq "file_client, a download cut short: exit 1" "$?" 1
check "... saying so" grep -q "download cut short at 3 of 16 bytes: the server closed the connection" \
    "$TEST_TMP/short.out"
check "... and leaving no file behind" test ! -e short.bin
client --timeout 1000 "$HOST_IP" 2021 quiet.bin >"$TEST_TMP/quiet.out" 2>&1
check_eq "file_client, a server that goes quiet: exit 1" "$?" 1
check "... after --timeout" grep -q "stopped at 3 of 16 bytes: nothing came for 1000 ms" \
    "$TEST_TMP/quiet.out"
kill -s TERM "$liar" 2>/dev/null
wait "$liar" 2>/dev/null

client "$HOST_IP" 2020 big.bin >"$TEST_TMP/refused.out" 2>&1
check_eq "file_client to a port with no server: exit 1" "$?" 1
check "... saying so in one line" \
    grep -q "^file_client: cannot connect to 10.0.0.1:2020: Connection refused$" "$TEST_TMP/refused.out"

done_testing
