#!/usr/bin/env bash
# test_gdb.sh: the gdb helpers (scripts/gdb/tapir.py) against live programs, and what
# docs/gdb.md claims with them. gdb runs each program in batch mode with a command file; a
# breakpoint on tcp_set_state() prints *c (the struct tcp_conn pretty-printer) and the next
# state at every transition.
#
#   1. tapir, the passive side. The host opens an echo connection to port 7, sends a line and
#      closes first: SYN_RECEIVED -> ESTABLISHED -> CLOSE_WAIT -> LAST_ACK -> CLOSED, with
#      tapir-conns at each stop. Then daytime (port 13), which tapir closes first, with the MSL
#      cut to 0.5 s from gdb: ... FIN_WAIT_1 -> FIN_WAIT_2 -> TIME_WAIT -> CLOSED after 2*MSL.
#   2. tcp_echo_client, tapir's active open and close against a Python echo server on the host:
#      SYN_SENT -> ESTABLISHED -> FIN_WAIT_1 -> FIN_WAIT_2 -> TIME_WAIT; stopped there, two
#      `finish`es later `p *c` shows the TIME_WAIT timer at 2*MSL (the config's tcp_msl_us).
#      On a copy of the TCB ($x), the printer's rarer fields: recovery, the SACK scoreboard,
#      an armed tail loss probe; garbage is named as such; p/r stays raw.
#   3. tapir with --loss 0.3: a retransmission timeout, p *c on entering tcp_cc_timeout
#      (the RTO already doubled) and at the tcp_retransmit that follows (cwnd one segment,
#      ssthresh cut, in recovery after the timeout).
#
# The binaries are TAPIR_BUILD's when compiled with -O0 (so c and next are never optimized
# out); otherwise build/debug's, built (or brought up to date) as `make debug` builds them;
# should that build fail, TAPIR_BUILD's own if they have debug information.
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

GDB_BIN=$(dirname "$TAPIR")
if ! _built_O0 "$GDB_BIN/tapir" || ! _built_O0 "$GDB_BIN/tcp_echo_client"; then
    GDB_BIN=$TAPIR_ROOT/build/debug
    if ! bounded 240 make -C "$TAPIR_ROOT" BUILD=build/debug OPT="-O0 -g3" build/debug/tapir \
        build/debug/tcp_echo_client >"$TEST_TMP/make.log" 2>&1; then
        diag "make BUILD=build/debug OPT=\"-O0 -g3\" build/debug/tapir build/debug/tcp_echo_client failed:"
        tail -n 20 "$TEST_TMP/make.log" | diag
        if ! _has_debug_info "$TAPIR"; then
            not_ok "a tapir with debug information to run under gdb"
            done_testing
        fi
        diag "trying $(dirname "$TAPIR") (optimized, with debug information) instead"
        GDB_BIN=$(dirname "$TAPIR")
    fi
fi
check "gdb runs a tapir with debug information ($GDB_BIN/tapir)" _has_debug_info "$GDB_BIN/tapir"

# --- gdb, in the background ---------------------------------------------------------------------

GDB_PID=
GDB_RC=
GDB_PROG=

# gdb runs: its /proc entry is there and not a zombie. (No entry at all, as when bash has just
# reaped it, is "not running" too.)
_gdb_running() {
    [ -n "$GDB_PID" ] || return 1
    local state
    state=$(awk '{print $3}' "/proc/$GDB_PID/stat" 2>/dev/null)
    [ -n "$state" ] && [ "$state" != Z ]
}

# The program gdb started: gdb's child (the shell it starts programs with execs it). comm is
# cut to 15 characters.
inferior_pid() {
    ps -o pid=,comm= --ppid "$GDB_PID" 2>/dev/null |
        awk -v p="${GDB_PROG:0:15}" '$2 == p { print $1; f = 1; exit } END { exit !f }'
}

# start_gdb LOG CMDS PROGRAM: gdb -batch with the helpers and CMDS on PROGRAM, output in LOG.
# --pdeathsig: gdb gets SIGTERM (and kills its program) if this shell dies without cleaning up.
start_gdb() {
    GDB_PROG=$(basename "$3")
    GDB_RC=
    setpriv --pdeathsig TERM -- gdb -nx -batch -x "$TAPIR_ROOT/scripts/gdb/tapir.py" \
        -x "$2" "$3" >"$1" 2>&1 </dev/null 9>&- &
    GDB_PID=$!
}

# stop_gdb: SIGTERM to the program (tapir reads it from its signalfd and exits; gdb's script
# then goes on to its end), then to gdb itself (it kills its inferior and quits), then SIGKILL,
# and SIGKILL to a program that outlived its debugger; every wait bounded. GDB_RC: gdb's status.
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
    if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "${GDB_PROG:0:15}" ]; then
        echo "# stop_gdb: $GDB_PROG (pid $pid) outlived gdb; sending SIGKILL"
        kill -s KILL "$pid" 2>/dev/null
    fi
    return 0
}

# gdb_wait SECONDS CMD [ARGS]: polls CMD every 50 ms while gdb runs; its status at the end.
gdb_wait() {
    local i n=$(($1 * 20))
    shift
    for ((i = 0; i < n; i++)); do
        "$@" && return 0
        _gdb_running || break
        sleep 0.05
    done
    "$@"
}

_gdb_cleanup() {
    local rc=$?
    stop_gdb >&9 2>&1
    [ -n "${PY_PID:-}" ] && kill -s KILL "$PY_PID" 2>/dev/null
    return "$rc"
}
trap '_gdb_cleanup; _cleanup' EXIT

# The settings every command file starts with.
GDB_PRELUDE='set pagination off
set confirm off
set width 0
set disable-randomization off
set debuginfod enabled off
handle SIGTERM nostop noprint pass'

# transitions LOG: from each stop's "$N = <tcp_conn summary>" then "$M = TCP_<next>", one
# line per transition, "LOCAL REMOTE FROM TO".
transitions() {
    awk '
        /^@/ { have = 0; next }
        /^\$[0-9]+ = TCP_/ { if (have) print key, from, substr($3, 5); have = 0; next }
        /^\$[0-9]+ = / { from = $3; key = $4 " " $5; have = 1 }
    ' "$1"
}

# chain FILE LOCAL REMOTE: that connection's transitions, "FROM>TO FROM>TO ...".
chain() {
    awk -v l="$2" -v r="$3" '$1 == l && $2 == r { printf "%s%s>%s", sep, $3, $4; sep = " " }' "$1"
}

# The summary p *c printed at the stop where the connection LOCAL REMOTE went to state TO.
tcb_before() {
    awk -v l="$2" -v r="$3" -v to="TCP_$4" '
        /^@/ { line = ""; next }
        /^\$[0-9]+ = TCP_/ { if (line != "" && $3 == to) { print line; exit } line = ""; next }
        /^\$[0-9]+ = / { if ($4 == l && $5 == r) line = $0 }
    ' "$1"
}

no_python_errors() {
    if grep -qE 'Traceback|Python Exception|Error occurred in Python' "$1"; then
        not_ok "$2: no Python error from the helpers"
        grep -E -A3 'Traceback|Python Exception|Error occurred in Python' "$1" | diag
    else
        ok "$2: no Python error from the helpers"
    fi
}

# === 1. tapir: a passive open and close (echo), an active close (daytime) ========================

LOG1=$TEST_TMP/gdb-tapir.log
INF_OUT=$TEST_TMP/tapir.out
INF_ERR=$TEST_TMP/tapir.err
cat >"$TEST_TMP/tapir.gdb" <<EOF
$GDB_PRELUDE
break tcp_set_state
commands
silent
echo @stop\\n
print *c
print next
if c->listener
print *c->listener
end
if next == TCP_LISTEN
set var c->st->cfg.tcp_msl_us = 500000
end
tapir-conns
continue
end
run --tap tap0 --ip $TAPIR_IP/24 --gw $HOST_IP >'$INF_OUT' 2>'$INF_ERR' </dev/null
EOF
start_gdb "$LOG1" "$TEST_TMP/tapir.gdb" "$GDB_BIN/tapir"

# Ready: tapir has attached to tap0 and the echo listener has gone through tcp_set_state.
_tapir_ready() {
    grep -q ' on tap0, mac ' "$INF_OUT" 2>/dev/null && ip link show tap0 | grep -q LOWER_UP &&
        grep -A1 -E '^\$[0-9]+ = CLOSED +0\.0\.0\.0:7 ' "$LOG1" | grep -q ' = TCP_LISTEN$'
}
if gdb_wait 60 _tapir_ready; then # gdb reads the symbols first
    ok "tapir runs under gdb with the helpers loaded and listens on port 7"
else
    not_ok "tapir runs under gdb with the helpers loaded and listens on port 7"
    diag <"$LOG1"
    diag <"$INF_ERR"
    done_testing
fi

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

# Daytime: tapir writes a line and closes first, so tapir's side is the active close.
cat >"$TEST_TMP/daytime.py" <<'PY'
import socket, sys
s = socket.create_connection((sys.argv[1], 13), timeout=20)
got = b""
while chunk := s.recv(100):         # until tapir's FIN
    got += chunk
s.close()                           # then ours
print(len(got))
PY
day_len=$(bounded 30 python3 "$TEST_TMP/daytime.py" "$TAPIR_IP" 2>&1)
check "the host reads a daytime line up to tapir's FIN" _is_number "$day_len"

# The last transitions: LAST_ACK -> CLOSED follows the host's ACK of tapir's FIN; daytime's
# TIME_WAIT -> CLOSED comes 2*MSL (1 s here) after the host's FIN.
_closed_both() {
    transitions "$LOG1" >"$TEST_TMP/transitions"
    grep -qE '^10\.0\.0\.2:7 [0-9.:]+ LAST_ACK CLOSED$' "$TEST_TMP/transitions" &&
        grep -qE '^10\.0\.0\.2:13 [0-9.:]+ TIME_WAIT CLOSED$' "$TEST_TMP/transitions"
}
gdb_wait 20 _closed_both

stop_gdb
check_eq "gdb exits 0 once tapir has stopped" "$GDB_RC" 0
check "tapir under gdb exited normally on SIGTERM" grep -q 'exited normally' "$LOG1"

transitions "$LOG1" >"$TEST_TMP/transitions"
diag "transitions seen by the breakpoint (local remote from to):"
diag <"$TEST_TMP/transitions"

check "the echo listener: 0.0.0.0:7 CLOSED -> LISTEN" \
    grep -qx '0\.0\.0\.0:7 0\.0\.0\.0:0 CLOSED LISTEN' "$TEST_TMP/transitions"

peer=$(awk '$1 == "10.0.0.2:7" && $2 ~ /^10\.0\.0\.1:[0-9]+$/ { print $2; exit }' "$TEST_TMP/transitions")
check_eq "the connection from ${peer:-10.0.0.1} to 10.0.0.2:7: a passive close" \
    "$(chain "$TEST_TMP/transitions" 10.0.0.2:7 "${peer:-x}")" \
    "CLOSED>SYN_RECEIVED SYN_RECEIVED>ESTABLISHED ESTABLISHED>CLOSE_WAIT CLOSE_WAIT>LAST_ACK LAST_ACK>CLOSED"

# The TCB when the host's FIN arrives: 12 bytes echoed and acknowledged, 12 received (sequence
# numbers relative to the ISNs, each SYN counting one), nothing queued, congestion control
# and the RTT estimator running, no timer armed.
fin_tcb=$(tcb_before "$LOG1" 10.0.0.2:7 "${peer:-x}" CLOSE_WAIT)
diag "at the host's FIN: $fin_tcb"
check "p *c shows addresses, sequence numbers from the ISNs, queues, cwnd, srtt and the RTO" \
    grep -qE "= ESTABLISHED +10\.0\.0\.2:7 +${peer:-x} +snd una 13 nxt 13 max 13 wnd [0-9]+  rcv nxt 1[34] wnd [0-9]+  sndq 0 rcvq 0  cwnd [0-9]+ ssthresh inf  srtt [0-9.]+ ms rttvar [0-9.]+ ms rto [0-9]+ ms retries 0  timers none  \[fin_received\]$" \
    <<<"$fin_tcb"
syn_tcb=$(tcb_before "$LOG1" 10.0.0.2:7 "${peer:-x}" ESTABLISHED)
diag "at the handshake's ACK: $syn_tcb"
check "p *c shows the armed retransmission timer and the SYN queue" \
    grep -qE "snd una 0 nxt 1 max 1 .* rto 1000 ms retries 0  timers rexmit in [0-9.]+ s  \[in syn queue\]$" \
    <<<"$syn_tcb"
# Our FIN takes a sequence number: 13 once the echo is out, 14 when the FIN is acknowledged.
last_tcb=$(tcb_before "$LOG1" 10.0.0.2:7 "${peer:-x}" CLOSED)
diag "at the ACK of tapir's FIN: $last_tcb"
check "p *c in LAST_ACK: the FIN took sequence number 13 (snd una 14)" \
    grep -qE "= LAST_ACK .* snd una 14 nxt 14 max 14 .*\[fin_pending fin_sent fin_received orphan\]$" \
    <<<"$last_tcb"
check "p *c->listener shows the listener with the handshake in its SYN queue" \
    grep -qE '^\$[0-9]+ = LISTEN +0\.0\.0\.0:7 +\* +syn 1 accept 0 backlog [0-9]+$' "$LOG1"

# tapir-conns (no argument: the stack is found through c->st) lists the listener and the
# connection, one line each.
conns=$(awk '/^@stop/ { n++ } n && !/^\$/ && !/^@stop/ { print n, $0 }' "$LOG1")
check "tapir-conns lists the echo listener with its queue counts" \
    grep -qE '^[0-9]+ LISTEN +0\.0\.0\.0:7 +\* +syn [0-9]+ accept [0-9]+ backlog [0-9]+$' <<<"$conns"
check "tapir-conns lists the established connection" \
    grep -qE "^[0-9]+ ESTABLISHED +10\\.0\\.0\\.2:7 +${peer:-x} +snd una " <<<"$conns"

# Daytime: tapir's active close, and TIME_WAIT ending after 2*MSL (set to 0.5 s at LISTEN).
dpeer=$(awk '$1 == "10.0.0.2:13" && $2 ~ /^10\.0\.0\.1:[0-9]+$/ { print $2; exit }' "$TEST_TMP/transitions")
check_eq "the daytime connection from ${dpeer:-10.0.0.1}: tapir closes first, TIME_WAIT ends" \
    "$(chain "$TEST_TMP/transitions" 10.0.0.2:13 "${dpeer:-x}")" \
    "CLOSED>SYN_RECEIVED SYN_RECEIVED>ESTABLISHED ESTABLISHED>FIN_WAIT_1 FIN_WAIT_1>FIN_WAIT_2 FIN_WAIT_2>TIME_WAIT TIME_WAIT>CLOSED"
tw_tcb=$(tcb_before "$LOG1" 10.0.0.2:13 "${dpeer:-x}" TIME_WAIT)
diag "at the host's FIN: $tw_tcb"
if _is_number "$day_len"; then
    # SYN 1, the line from 1, our FIN at day_len + 1, acknowledged: snd una day_len + 2.
    n=$((day_len + 2))
    check "p *c in FIN_WAIT_2: the line and our FIN acknowledged (snd una $n), the peer's FIN in (rcv nxt 2)" \
        grep -qE "= FIN_WAIT_2 .* snd una $n nxt $n max $n .* rcv nxt 2 .*\[fin_pending fin_sent fin_received orphan\]$" \
        <<<"$tw_tcb"
fi
no_python_errors "$LOG1" "tapir"
check "tapir's stderr is empty" test ! -s "$INF_ERR"

# === 2. tcp_echo_client: an active open and an active close =======================================

cat >"$TEST_TMP/echo_server.py" <<'PY'
import socket
s = socket.create_server(("10.0.0.1", 9000))
s.settimeout(30)
c, _ = s.accept()
c.settimeout(30)
while data := c.recv(65536):
    c.sendall(data)
c.close()
PY
python3 "$TEST_TMP/echo_server.py" >"$TEST_TMP/echo_server.out" 2>&1 9>&- &
PY_PID=$!
for ((i = 0; i < 100; i++)); do # 5 s
    ss -ltn 2>/dev/null | grep -q '10\.0\.0\.1:9000 ' && break
    sleep 0.05
done

LOG2=$TEST_TMP/gdb-client.log
printf 'hello\nexit\n' >"$TEST_TMP/client.in"
# At TIME_WAIT the breakpoint does not continue: the script goes on after `run` with two
# `finish`es (out of tcp_set_state, out of tcp_enter_time_wait, which arms the timer), then
# looks at the TCB, then at copies of it made to show what a quiet connection never does.
cat >"$TEST_TMP/client.gdb" <<EOF
$GDB_PRELUDE
break tcp_set_state
commands
silent
echo @stop\\n
print *c
print next
if next != TCP_TIME_WAIT
continue
end
end
run --tap tap0 --ip $TAPIR_IP/24 --gw $HOST_IP $HOST_IP 9000 <'$TEST_TMP/client.in' >'$TEST_TMP/client.out' 2>'$TEST_TMP/client.err'
finish
finish
echo @timewait\\n
print *c
print c->st->cfg.tcp_msl_us
echo @copy\\n
set \$x = *c
set var \$x.state = TCP_ESTABLISHED
set var \$x.in_recovery = 1
set var \$x.pipe = 1448
set var \$x.sacked_count = 2
set var \$x.sacked_bytes = 2896
set var \$x.tlp_armed = 1
set var \$x.tlp_out = 1
set var \$x.rexmit.heap_index = 0
set var \$x.rexmit.deadline_us = c->st->now_us + 5000
print \$x
set var \$x.state = 99
print \$x
echo @raw\\n
print/r *c
continue
EOF
start_gdb "$LOG2" "$TEST_TMP/client.gdb" "$GDB_BIN/tcp_echo_client"
_gdb_done() { ! _gdb_running; }
gdb_wait 60 _gdb_done # the client ends by itself once the four-way close is done
if _gdb_running; then
    not_ok "tcp_echo_client under gdb finishes within 60 s"
    diag <"$LOG2"
fi
stop_gdb
check_eq "gdb exits 0 once tcp_echo_client has finished" "$GDB_RC" 0
check "tcp_echo_client under gdb exited normally" grep -q 'exited normally' "$LOG2"
check "it got its echo" grep -qx 'echo: hello' "$TEST_TMP/client.out"
kill -s TERM "$PY_PID" 2>/dev/null
wait "$PY_PID" 2>/dev/null
PY_PID=

transitions "$LOG2" >"$TEST_TMP/transitions2"
diag "transitions seen by the breakpoint (local remote from to):"
diag <"$TEST_TMP/transitions2"
cport=$(awk '$2 == "10.0.0.1:9000" { print $1; exit }' "$TEST_TMP/transitions2")
check_eq "tcp_echo_client's connection (${cport:-?} to 10.0.0.1:9000): active open, active close" \
    "$(chain "$TEST_TMP/transitions2" "${cport:-x}" 10.0.0.1:9000)" \
    "CLOSED>SYN_SENT SYN_SENT>ESTABLISHED ESTABLISHED>FIN_WAIT_1 FIN_WAIT_1>FIN_WAIT_2 FIN_WAIT_2>TIME_WAIT"
tw=$(awk '/^@timewait/ { getline; print; exit }' "$LOG2")
diag "in TIME_WAIT: $tw"
msl=$(awk '/^@timewait/ { getline; getline; print $3 }' "$LOG2")
if _is_number "$msl"; then
    two_msl=$(awk -v m="$msl" 'BEGIN { printf "%.3f", 2 * m / 1e6 }')
    check "p *c in TIME_WAIT: the timewait timer at 2*MSL ($two_msl s) and nothing else" \
        grep -qE "= TIME_WAIT +${cport:-x} +10\.0\.0\.1:9000 +snd una 7 nxt 7 max 7 .* cwnd [0-9]+ ssthresh inf  srtt [0-9.]+ ms .*  timers timewait in $two_msl s  \[fin_pending fin_sent fin_received\]$" \
        <<<"$tw"
else
    not_ok "p *c in TIME_WAIT: the timewait timer at 2*MSL"
    diag <"$LOG2"
fi
copy=$(awk '/^@copy/ { getline; print; getline; print }' "$LOG2")
check "p \$x: recovery with the SACK scoreboard" \
    grep -qE '^\$[0-9]+ = ESTABLISHED .* cwnd [0-9]+ ssthresh inf in_recovery pipe 1448 sacked 2896 bytes in 2 ranges  srtt ' <<<"$copy"
check "p \$x: the tail loss probe armed on the retransmission timer, and one out" \
    grep -qE '  timers tlp in 0\.005 s, timewait in [0-9.]+ s  \[fin_pending fin_sent fin_received tlp_out\]$' <<<"$copy"
check "p \$x: a TCB with no valid state is called what it is" \
    grep -qE '^\$[0-9]+ = <not a live tcp_conn: state 99; ' <<<"$copy"
check "p/r *c prints the raw struct" \
    grep -qE '^\$[0-9]+ = \{st = 0x[0-9a-f]+, sock = .* snd_una = [0-9]+, snd_nxt = ' "$LOG2"
no_python_errors "$LOG2" "tcp_echo_client"

# === 3. tapir with loss: a retransmission timeout ==================================================

LOG3=$TEST_TMP/gdb-loss.log
INF_OUT=$TEST_TMP/tapir-loss.out
INF_ERR=$TEST_TMP/tapir-loss.err
cat >"$TEST_TMP/loss.gdb" <<EOF
$GDB_PRELUDE
break tcp_cc_timeout
commands
silent
echo @cc_timeout\\n
print *c
continue
end
break tcp_retransmit
commands
silent
echo @retransmit\\n
print *c
continue
end
run --tap tap0 --ip $TAPIR_IP/24 --gw $HOST_IP --loss 0.3 --seed 7 >'$INF_OUT' 2>'$INF_ERR' </dev/null
EOF
start_gdb "$LOG3" "$TEST_TMP/loss.gdb" "$GDB_BIN/tapir"
if gdb_wait 60 grep -q ' on tap0, mac ' "$INF_OUT" 2>/dev/null; then
    ok "tapir runs under gdb with --loss 0.3"
else
    not_ok "tapir runs under gdb with --loss 0.3"
    diag <"$LOG3"
fi

# Lines to echo, one at a time, until gdb has shown a timeout and the retransmission after it
# (each echo lost, or the ACK of it, costs tapir a timeout: about half the rounds at 30% loss).
cat >"$TEST_TMP/echo_until.py" <<'PY'
import re, socket, sys, time
log, deadline = sys.argv[2], time.monotonic() + 25
def seen():
    with open(log, errors="replace") as f:
        return re.search(r"^@cc_timeout\n(.*\n)*?@retransmit\n", f.read(), re.M) is not None
s = socket.create_connection((sys.argv[1], 7), timeout=10)
rounds = 0
while not seen() and time.monotonic() < deadline:
    line = b"line %d %s\n" % (rounds, b"x" * 1000)
    s.sendall(line)
    got = b""
    while len(got) < len(line):
        chunk = s.recv(65536)
        if not chunk:
            sys.exit("tapir closed the connection")
        got += chunk
    rounds += 1
print("rounds", rounds, "seen", seen())
PY
loss_out=$(bounded 40 python3 "$TEST_TMP/echo_until.py" "$TAPIR_IP" "$LOG3" 2>&1)
diag "echo under loss: $loss_out"
stop_gdb
check_eq "gdb exits 0 once tapir has stopped" "$GDB_RC" 0

before=$(awk '/^@cc_timeout/ { getline; print; exit }' "$LOG3")
after=$(awk '/^@cc_timeout/ { t = 1 } t && /^@retransmit/ { getline; print; exit }' "$LOG3")
diag "entering tcp_cc_timeout: $before"
diag "at the retransmission: $after"
check "p *c entering tcp_cc_timeout: the first timeout, the RTO doubled" \
    grep -qE '^\$[0-9]+ = ESTABLISHED .* cwnd [0-9]+ ssthresh [0-9inf]+ .* rto ([4-9][0-9]{2}|[0-9]{4,}) ms retries 1 \(timeouts 1, ' \
    <<<"$before"
check "p *c at the retransmission: cwnd one segment, ssthresh cut, in recovery after the timeout" \
    grep -qE '^\$[0-9]+ = ESTABLISHED .* cwnd 14[0-9]{2} ssthresh [0-9]+ in_recovery \(rto\) pipe [0-9]+.* retries 1 \(timeouts 1, segs resent [0-9]+\)  timers ' \
    <<<"$after"
cwnd_before=$(grep -oE 'cwnd [0-9]+' <<<"$before" | cut -d' ' -f2)
cwnd_after=$(grep -oE 'cwnd [0-9]+' <<<"$after" | cut -d' ' -f2)
ssthresh_after=$(grep -oE 'ssthresh [0-9]+' <<<"$after" | cut -d' ' -f2)
check_ge "cwnd before the timeout ($cwnd_before) is larger than after ($cwnd_after)" \
    "${cwnd_before:-0}" "$((${cwnd_after:-0} + 1))"
check_ge "ssthresh after the timeout is at least two segments" "${ssthresh_after:-0}" \
    "$((2 * ${cwnd_after:-1}))"
no_python_errors "$LOG3" "tapir with loss"
check "tapir's stderr is empty" test ! -s "$INF_ERR"

done_testing
