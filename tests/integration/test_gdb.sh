#!/usr/bin/env bash
# test_gdb.sh: the gdb helpers (scripts/gdb/tapir.py) against a live tapir. gdb runs tapir in
# batch mode with a breakpoint on tcp_set_state() whose commands print *c (the struct tcp_conn
# pretty-printer), the next state and tapir-conns, then continue; the host opens a TCP echo
# connection to port 7, sends a line, reads it back and closes first. The printed transitions
# must show the listener entering LISTEN and the server side of the connection going
# SYN_RECEIVED -> ESTABLISHED -> CLOSE_WAIT -> LAST_ACK -> CLOSED (a passive close).
#
# The binary is TAPIR_BUILD's when it was compiled with -O0 (so c and next are never optimized
# out); otherwise build/debug/tapir, built (or brought up to date) as `make debug` builds it;
# should that build fail, TAPIR_BUILD's own binary if it has debug information.
set -u
. "$(dirname "$0")/lib.sh"

if ! command -v gdb >/dev/null 2>&1; then
    skip "gdb helpers against a live tapir" "gdb is not installed (scripts/install-deps installs it)"
    done_testing
fi

# True when every C compile unit of the binary records -O0 in its DW_AT_producer.
_built_O0() {
    local producers
    producers=$(readelf --debug-dump=info "$1" 2>/dev/null | grep 'DW_AT_producer' | grep -E 'GNU C|clang')
    [ -n "$producers" ] && ! grep -qv -- ' -O0' <<<"$producers"
}
_has_debug_info() { readelf -S "$1" 2>/dev/null | grep -q '\.debug_info'; }

GDB_TAPIR=$TAPIR
if ! _built_O0 "$TAPIR"; then
    GDB_TAPIR=$TAPIR_ROOT/build/debug/tapir
    if ! bounded 240 make -C "$TAPIR_ROOT" BUILD=build/debug OPT="-O0 -g3" build/debug/tapir \
        >"$TEST_TMP/make.log" 2>&1; then
        diag "make BUILD=build/debug OPT=\"-O0 -g3\" build/debug/tapir failed:"
        tail -n 20 "$TEST_TMP/make.log" | diag
        if ! _has_debug_info "$TAPIR"; then
            not_ok "a tapir with debug information to run under gdb"
            done_testing
        fi
        diag "trying $TAPIR (optimized, with debug information) instead"
        GDB_TAPIR=$TAPIR
    fi
fi
check "gdb runs a tapir with debug information ($GDB_TAPIR)" _has_debug_info "$GDB_TAPIR"

# --- gdb, in the background ---------------------------------------------------------------------

GDB_PID=
GDB_RC=
GDB_LOG=$TEST_TMP/gdb.log
INF_OUT=$TEST_TMP/tapir.out
INF_ERR=$TEST_TMP/tapir.err

_gdb_running() {
    [ -n "$GDB_PID" ] && [ -e "/proc/$GDB_PID" ] &&
        [ "$(awk '{print $3}' "/proc/$GDB_PID/stat" 2>/dev/null)" != Z ]
}

# The tapir gdb started: gdb's child (the shell it starts programs with execs tapir).
inferior_pid() {
    ps -o pid=,comm= --ppid "$GDB_PID" 2>/dev/null | awk '$2 == "tapir" { print $1; f = 1; exit } END { exit !f }'
}

# stop_gdb: SIGTERM to tapir (it reads it from its signalfd and exits; gdb's script ends with
# its run), then to gdb itself (it kills its inferior and quits), then SIGKILL, and SIGKILL to a
# tapir that outlived its debugger; every wait bounded.
stop_gdb() {
    [ -n "$GDB_PID" ] || return 0
    local pid i sig
    pid=$(inferior_pid) && kill -s TERM "$pid" 2>/dev/null
    for sig in TERM KILL; do
        for ((i = 0; i < 200; i++)); do # 10 s
            _gdb_running || break 2
            sleep 0.05
        done
        echo "# stop_gdb: gdb still running after 10 s; sending SIG$sig"
        kill -s "$sig" "$GDB_PID" 2>/dev/null
    done
    wait "$GDB_PID" 2>/dev/null
    GDB_RC=$?
    GDB_PID=
    if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = tapir ]; then
        echo "# stop_gdb: tapir (pid $pid) outlived gdb; sending SIGKILL"
        kill -s KILL "$pid" 2>/dev/null
    fi
    return 0
}

_gdb_cleanup() {
    local rc=$?
    stop_gdb >&9 2>&1
    return "$rc"
}
trap '_gdb_cleanup; _cleanup' EXIT

cat >"$TEST_TMP/cmds.gdb" <<EOF
set pagination off
set confirm off
set width 0
set disable-randomization off
set debuginfod enabled off
handle SIGTERM nostop noprint pass
break tcp_set_state
commands
silent
echo @stop\\n
print *c
print next
if c->listener
print *c->listener
end
tapir-conns
continue
end
run --tap tap0 --ip $TAPIR_IP/24 --gw $HOST_IP >'$INF_OUT' 2>'$INF_ERR' </dev/null
EOF

# --pdeathsig: gdb gets SIGTERM (and kills tapir) if this shell dies without cleaning up.
setpriv --pdeathsig TERM -- gdb -nx -batch -x "$TAPIR_ROOT/scripts/gdb/tapir.py" \
    -x "$TEST_TMP/cmds.gdb" "$GDB_TAPIR" >"$GDB_LOG" 2>&1 </dev/null 9>&- &
GDB_PID=$!

# Ready: tapir has attached to tap0 and the echo listener has gone through tcp_set_state.
ready=0
for ((i = 0; i < 1200; i++)); do # 60 s: gdb reads the symbols first
    _gdb_running || break
    if grep -q ' on tap0, mac ' "$INF_OUT" 2>/dev/null && ip link show tap0 | grep -q LOWER_UP &&
        grep -A1 -E '^\$[0-9]+ = CLOSED +0\.0\.0\.0:7 ' "$GDB_LOG" | grep -q ' = TCP_LISTEN$'; then
        ready=1
        break
    fi
    sleep 0.05
done
if [ "$ready" -eq 1 ]; then
    ok "tapir runs under gdb with the helpers loaded and listens on port 7"
else
    not_ok "tapir runs under gdb with the helpers loaded and listens on port 7"
    diag <"$GDB_LOG"
    diag <"$INF_ERR"
    done_testing
fi

# --- one echo over TCP, closed by the host first --------------------------------------------------

cat >"$TEST_TMP/echo_once.py" <<'PY'
import socket, sys
s = socket.create_connection((sys.argv[1], 7), timeout=20)
s.sendall(b"hello tapir\n")
got = b""
while not got.endswith(b"\n"):
    chunk = s.recv(100)
    if not chunk:
        break
    got += chunk
s.shutdown(socket.SHUT_WR)          # our FIN first: tapir's side is the passive close
rest = s.recv(100)                  # b"": tapir's FIN, sent once its echo service closed
s.close()
print("echo %r eof %s" % (got, rest == b""))
PY
reply=$(bounded 30 python3 "$TEST_TMP/echo_once.py" "$TAPIR_IP" 2>&1)
check_eq "the host gets its line echoed over TCP and tapir's FIN after its own" \
    "$reply" "echo b'hello tapir\n' eof True"

# The last transition (LAST_ACK -> CLOSED) follows the host's ACK of tapir's FIN.
for ((i = 0; i < 400; i++)); do # 20 s
    grep -A1 -E '^\$[0-9]+ = LAST_ACK +10\.0\.0\.2:7 +10\.0\.0\.1:' "$GDB_LOG" |
        grep -q ' = TCP_CLOSED$' && break
    _gdb_running || break
    sleep 0.05
done

stop_gdb
check_eq "gdb exits 0 once tapir has stopped" "$GDB_RC" 0
check "tapir under gdb exited normally on SIGTERM" grep -q 'exited normally' "$GDB_LOG"

# --- what the breakpoint printed --------------------------------------------------------------------

# Each stop prints "$N = <tcp_conn summary>" then "$M = TCP_<next>": one line per transition,
# "LOCAL REMOTE FROM TO".
awk '
    /^@stop/ { have = 0; next }
    /^\$[0-9]+ = TCP_/ { if (have) print key, from, substr($3, 5); have = 0; next }
    /^\$[0-9]+ = / { from = $3; key = $4 " " $5; have = 1 }
' "$GDB_LOG" >"$TEST_TMP/transitions"
diag "transitions seen by the breakpoint (local remote from to):"
diag <"$TEST_TMP/transitions"

check "the echo listener: 0.0.0.0:7 CLOSED -> LISTEN" \
    grep -qx '0\.0\.0\.0:7 0\.0\.0\.0:0 CLOSED LISTEN' "$TEST_TMP/transitions"

peer=$(awk '$1 == "10.0.0.2:7" && $2 ~ /^10\.0\.0\.1:[0-9]+$/ { print $2; exit }' "$TEST_TMP/transitions")
chain=$(awk -v peer="$peer" '$1 == "10.0.0.2:7" && $2 == peer { printf "%s%s>%s", sep, $3, $4; sep = " " }' \
    "$TEST_TMP/transitions")
check_eq "the connection from ${peer:-10.0.0.1} to 10.0.0.2:7: a passive close" "$chain" \
    "CLOSED>SYN_RECEIVED SYN_RECEIVED>ESTABLISHED ESTABLISHED>CLOSE_WAIT CLOSE_WAIT>LAST_ACK LAST_ACK>CLOSED"

# The TCB when the host's FIN arrives: 12 bytes echoed and acknowledged, 12 received (sequence
# numbers relative to the ISNs, each SYN counting one), nothing queued, no timer armed.
fin_tcb=$(grep -E "^\\\$[0-9]+ = ESTABLISHED +10\\.0\\.0\\.2:7 +10\\.0\\.0\\.1:" -A1 "$GDB_LOG" |
    grep -B1 ' = TCP_CLOSE_WAIT$' | head -n 1)
diag "at the host's FIN: $fin_tcb"
check "p *c shows the addresses, the sequence numbers relative to the ISNs and the queues" \
    grep -qE "= ESTABLISHED +10\.0\.0\.2:7 +${peer:-x} +snd una 13 nxt 13 max 13 wnd [0-9]+  rcv nxt 1[34] wnd [0-9]+  sndq 0 rcvq 0  rto [0-9]+ ms retries 0  timers none" \
    <<<"$fin_tcb"
syn_tcb=$(grep -E "^\\\$[0-9]+ = SYN_RECEIVED +10\\.0\\.0\\.2:7 +${peer:-x} " "$GDB_LOG" | head -n 1)
diag "at the handshake's ACK: $syn_tcb"
check "p *c shows the armed retransmission timer and the SYN queue" \
    grep -qE "snd una 0 nxt 1 max 1 .* timers rexmit in [0-9.]+ s  \[in syn queue\]$" <<<"$syn_tcb"
check "p *c->listener shows the listener with the handshake in its SYN queue" \
    grep -qE '^\$[0-9]+ = LISTEN +0\.0\.0\.0:7 +\* +syn 1 accept 0 backlog [0-9]+$' "$GDB_LOG"

# tapir-conns (no argument: the stack is found through c->st) at the host's FIN lists the
# listener and the connection, one line each.
conns=$(awk '/^@stop/ { n++ } n && !/^\$/ && !/^@stop/ { print n, $0 }' "$GDB_LOG")
check "tapir-conns lists the echo listener with its queue counts" \
    grep -qE '^[0-9]+ LISTEN +0\.0\.0\.0:7 +\* +syn [0-9]+ accept [0-9]+ backlog [0-9]+$' <<<"$conns"
check "tapir-conns lists the established connection" \
    grep -qE "^[0-9]+ ESTABLISHED +10\\.0\\.0\\.2:7 +${peer:-x} +snd una " <<<"$conns"
if grep -qE 'Traceback|Python Exception|Error occurred in Python' "$GDB_LOG"; then
    not_ok "no Python error from the helpers"
    grep -E -A3 'Traceback|Python Exception|Error occurred in Python' "$GDB_LOG" | diag
else
    ok "no Python error from the helpers"
fi
check "tapir's stderr is empty" test ! -s "$INF_ERR"

done_testing
