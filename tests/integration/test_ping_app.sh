#!/usr/bin/env bash
# test_ping_app.sh: apps/ping, tapir's own ping, against the host (10.0.0.1, the kernel's side of
# tap0): three requests 0.2 s apart draw three reply lines and the summary in iputils' format
# with 0% loss; -s 4000 and -s 65507 leave as fragments the kernel reassembles and come back as
# fragments tapir reassembles; an address on the subnet that nobody answers ARP for gives 100%
# loss and exit 1 (and, once ARP gives up, "Destination Host Unreachable"); SIGINT prints the
# summary; bad flags and an unroutable address exit 2 with one "ping:" line.
set -u
. "$(dirname "$0")/lib.sh"

PING=$(dirname "$TAPIR")/ping
if [ ! -x "$PING" ]; then
    not_ok "$PING is built"
    done_testing
fi

# ping_run NAME SECONDS ARGS...: runs apps/ping in the foreground (bounded); output in
# $TEST_TMP/NAME.out and .err, exit status in RC.
ping_run() {
    local name=$1 secs=$2
    shift 2
    bounded "$secs" "$PING" "$@" >"$TEST_TMP/$name.out" 2>"$TEST_TMP/$name.err" </dev/null
    RC=$?
    if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$TEST_TMP/$name.err"; then
        not_ok "ping $*: no sanitizer report"
        diag <"$TEST_TMP/$name.err"
    fi
}

show() {
    diag "exit status $RC; stdout and stderr:"
    diag <"$TEST_TMP/$1.out"
    diag <"$TEST_TMP/$1.err"
}

# The kernel's own IP counter NAME (Ip: line of /proc/net/snmp, this namespace's).
host_ip() {
    awk -v want="$1" '/^Ip:/ {
        if (!hdr) { for (i = 2; i <= NF; i++) name[i] = $i; hdr = 1; next }
        for (i = 2; i <= NF; i++) if (name[i] == want) print $i
    }' /proc/net/snmp
}

TIME_RE='time=[0-9]+(\.[0-9]+)? ms'
# A reply later than the interval makes two requests out at once, and ping then adds ", pipe 2"
# (iputils does the same); a loaded machine can do that to a 0.2 s interval.
RTT_RE='^rtt min/avg/max/mdev = [0-9]+\.[0-9]{3}/[0-9]+\.[0-9]{3}/[0-9]+\.[0-9]{3}/[0-9]+\.[0-9]{3} ms(, pipe [0-9]+)?$'

# --- three requests, 0.2 s apart ---
ping_run three 20 -c 3 -i 0.2 "$HOST_IP"
out=$TEST_TMP/three.out
check_eq "-c 3 -i 0.2 $HOST_IP: exit 0" "$RC" 0
check "the first line after the seed is iputils' header" \
    grep -qx "PING $HOST_IP ($HOST_IP) 56(84) bytes of data." "$out"
for seq in 1 2 3; do
    check "reply line for icmp_seq=$seq in ping's format" \
        grep -qE "^64 bytes from $HOST_IP: icmp_seq=$seq( ttl=[0-9]+)? $TIME_RE\$" "$out"
done
check_eq "exactly three reply lines" "$(grep -c ' bytes from ' "$out")" 3
check "the summary heading" grep -qx -- "--- $HOST_IP ping statistics ---" "$out"
check "3 transmitted, 3 received, 0% loss" \
    grep -qE "^3 packets transmitted, 3 received, 0% packet loss, time [0-9]+ms\$" "$out"
check "the rtt line" grep -qE "$RTT_RE" "$out"
elapsed=$(sed -n 's/.*, time \([0-9]*\)ms$/\1/p' "$out")
check_ge "the time covers two intervals (>= 400 ms)" "${elapsed:-0}" 400
check_le "and not much more (<= 1500 ms)" "${elapsed:-99999}" 1500
[ "$TAP_FAILED" -eq 0 ] || show three

# --- fragments both ways: -s 4000, then the largest, -s 65507 ---
reasm_before=$(host_ip ReasmOKs)
frag_before=$(host_ip FragCreates)
ping_run big 20 -c 2 -i 0.2 -s 4000 "$HOST_IP"
check_eq "-s 4000: exit 0" "$RC" 0
check "-s 4000: header says 4000(4028)" grep -qx "PING $HOST_IP ($HOST_IP) 4000(4028) bytes of data." "$TEST_TMP/big.out"
check_eq "-s 4000: two replies of 4008 bytes" \
    "$(grep -cE "^4008 bytes from $HOST_IP: icmp_seq=[12]( ttl=[0-9]+)? $TIME_RE\$" "$TEST_TMP/big.out")" 2
check "-s 4000: 0% loss" grep -q '^2 packets transmitted, 2 received, 0% packet loss' "$TEST_TMP/big.out"
check_ge "-s 4000: the kernel reassembled our fragmented requests" \
    "$(( $(host_ip ReasmOKs) - reasm_before ))" 2
check_ge "-s 4000: the kernel fragmented its replies (3 fragments each)" \
    "$(( $(host_ip FragCreates) - frag_before ))" 6
grep -q '^2 packets transmitted, 2 received' "$TEST_TMP/big.out" || show big

ping_run huge 20 -c 1 -s 65507 "$HOST_IP"
check_eq "-s 65507: exit 0" "$RC" 0
check "-s 65507: one reply of 65515 bytes" \
    grep -qE "^65515 bytes from $HOST_IP: icmp_seq=1( ttl=[0-9]+)? $TIME_RE\$" "$TEST_TMP/huge.out"
[ "$RC" -eq 0 ] || show huge

# --- nobody at 10.0.0.99: no ARP answer ---
t0=$(date +%s%N)
ping_run nobody 15 -c 1 -W 1 10.0.0.99
t1=$(date +%s%N)
check_eq "-W 1 10.0.0.99 (no such host): exit 1" "$RC" 1
check "-W 1 10.0.0.99: 100% packet loss" \
    grep -qE '^1 packets transmitted, 0 received, 100% packet loss, time [0-9]+ms$' "$TEST_TMP/nobody.out"
check "-W 1 10.0.0.99: no rtt line" bash -c "! grep -q '^rtt' '$TEST_TMP/nobody.out'"
ms=$(( (t1 - t0) / 1000000 ))
check_le "-W 1 10.0.0.99: gives up after about a second (${ms} ms, start-up included)" "$ms" 4000
[ "$RC" -eq 1 ] || show nobody

# Waiting longer than ARP's three tries: the request is reported unreachable, as Linux does.
ping_run unreach 15 -c 1 -W 8 10.0.0.99
check_eq "-W 8 10.0.0.99: exit 1" "$RC" 1
check "-W 8 10.0.0.99: 'Destination Host Unreachable' once ARP gives up" \
    grep -qE '^From 10\.0\.0\.2 icmp_seq=1 Destination Host Unreachable$' "$TEST_TMP/unreach.out"
check "-W 8 10.0.0.99: the summary counts the error" \
    grep -qE '^1 packets transmitted, 0 received, \+1 errors, 100% packet loss, time [0-9]+ms$' \
    "$TEST_TMP/unreach.out"
grep -q 'errors' "$TEST_TMP/unreach.out" || show unreach

# --- SIGINT: the summary, and exit 0 since replies came ---
reset=(env "--default-signal=INT")
env --default-signal=INT true 2>/dev/null || reset=(env)
"${reset[@]}" setpriv --pdeathsig TERM -- "$PING" -i 0.2 "$HOST_IP" \
    >"$TEST_TMP/int.out" 2>"$TEST_TMP/int.err" </dev/null 9>&- &
pid=$!
for ((i = 0; i < 100; i++)); do # 10 s
    [ "$(grep -c ' bytes from ' "$TEST_TMP/int.out" 2>/dev/null)" -ge 3 ] && break
    sleep 0.1
done
kill -s INT "$pid"
for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
kill -s KILL "$pid" 2>/dev/null
wait "$pid"
RC=$?
check_eq "SIGINT: exit 0 (replies came)" "$RC" 0
check "SIGINT: the summary is printed" grep -qE '^[0-9]+ packets transmitted, [0-9]+ received' "$TEST_TMP/int.out"
check "SIGINT: with the rtt line" grep -qE "$RTT_RE" "$TEST_TMP/int.out" || show int
check "SIGINT: no sanitizer report" \
    bash -c "! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' '$TEST_TMP/int.err'"
[ "$RC" -eq 0 ] || show int

# --- errors: exit 2, one "ping:" line on stderr ---
check_usage() {
    local desc=$1 lines
    shift
    ping_run usage 10 "$@"
    lines=$(wc -l <"$TEST_TMP/usage.err")
    if [ "$RC" = 2 ] && [ "$lines" = 1 ] && grep -q '^ping: ' "$TEST_TMP/usage.err"; then
        ok "$desc: exit 2, one 'ping:' line"
    else
        not_ok "$desc: exit 2, one 'ping:' line"
        show usage
    fi
}
check_usage "no destination"
check_usage "two destinations" "$HOST_IP" 10.0.0.3
check_usage "a name, not an address" tapir.example
check_usage "-c 0" -c 0 "$HOST_IP"
check_usage "-c x" -c x "$HOST_IP"
check_usage "-c without a value" "$HOST_IP" -c
check_usage "-i -1" -i -1 "$HOST_IP"
check_usage "-i 1e3 (no exponents)" -i 1e3 "$HOST_IP"
check_usage "-s 65508 (past the largest datagram)" -s 65508 "$HOST_IP"
check_usage "-W 0" -W 0 "$HOST_IP"
check_usage "an unknown option" -x "$HOST_IP"
check_usage "a bad host flag" --mtu 5 "$HOST_IP"
check_usage "our own address (tapir has no loopback)" -c 1 "$TAPIR_IP"
check_usage "off the subnet with no gateway (no route)" -c 1 192.168.77.1
grep -q 'Network is unreachable' "$TEST_TMP/usage.err" ||
    not_ok "no route: the line says 'Network is unreachable'"
"$PING" --help >"$TEST_TMP/help.out" 2>&1
check_eq "--help exits 0" "$?" 0
check "--help lists -c, -i, -s, -W and the host flags" \
    bash -c "grep -q -- '-c COUNT' '$TEST_TMP/help.out' && grep -q -- '-W TIMEOUT' '$TEST_TMP/help.out' && grep -q -- '--tap' '$TEST_TMP/help.out'"

done_testing
