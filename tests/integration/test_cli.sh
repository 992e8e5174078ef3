#!/usr/bin/env bash
# test_cli.sh: tapir's command line and signals. --help lists every flag and exits 0; each bad or
# missing argument (the fault flags', --cc's and --keepalive's too) exits 2 with exactly one
# "tapir: ..." line on stderr; a missing tap points at scripts/tap-up; an unprivileged user is
# told about permissions; a tap already in use and an unwritable --pcap file are refused; the
# fault flags, given good values, are announced and add a Faults block to the counters;
# --keepalive's defaults are announced; SIGINT and SIGTERM exit 0 after printing the counters;
# SIGUSR1 prints them and tapir carries on; --seed N is echoed in the first line; --trace icmp
# prints a line per echo request.
set -u
. "$(dirname "$0")/lib.sh"

# run_tapir NAME ARGS...: runs tapir in the foreground (bounded), leaving its exit status in RC
# and its output in $TEST_TMP/NAME.out and .err.
run_tapir() {
    local name=$1
    shift
    timeout 10 "$TAPIR" "$@" >"$TEST_TMP/$name.out" 2>"$TEST_TMP/$name.err" </dev/null
    RC=$?
}

# --- --help ---
run_tapir help --help
check_eq "--help exits 0" "$RC" 0
missing=
for flag in --tap --ip --gw --mac --mtu --pcap --trace --seed --cc --loss --dup --reorder \
    --reorder-ms --corrupt --delay --rate --queue --keepalive; do
    grep -q -- "$flag" "$TEST_TMP/help.out" || missing="$missing $flag"
done
check_eq "--help mentions every flag" "${missing:-none missing}" "none missing"

# --- bad or missing arguments: exit 2, exactly one line on stderr, starting "tapir:" ---
# check_usage_error DESCRIPTION ARGS...
check_usage_error() {
    local desc=$1 lines first
    shift
    run_tapir usage "$@"
    lines=$(wc -l <"$TEST_TMP/usage.err")
    first=$(head -n 1 "$TEST_TMP/usage.err")
    if [ "$RC" = 2 ] && [ "$lines" = 1 ] && [[ "$first" == tapir:* ]]; then
        ok "$desc: exit 2, one 'tapir:' line on stderr"
    else
        not_ok "$desc: exit 2, one 'tapir:' line on stderr"
        diag "tapir $*: exit status $RC, $lines lines on stderr:"
        diag <"$TEST_TMP/usage.err"
    fi
}
check_usage_error "no arguments"
check_usage_error "no --tap" --ip 10.0.0.2/24
check_usage_error "no --ip" --tap tap0
check_usage_error "--ip without a prefix length" --tap tap0 --ip 10.0.0.2
check_usage_error "--ip with prefix length 33" --tap tap0 --ip 10.0.0.2/33
check_usage_error "--ip without a value" --tap tap0 --ip
check_usage_error "--mtu 5" --tap tap0 --ip 10.0.0.2/24 --mtu 5
check_usage_error "--mtu 9001" --tap tap0 --ip 10.0.0.2/24 --mtu 9001
check_usage_error "--mac ff:ff:ff:ff:ff:ff (broadcast)" --tap tap0 --ip 10.0.0.2/24 --mac ff:ff:ff:ff:ff:ff
check_usage_error "--mac 02:00:00:00:00 (five octets)" --tap tap0 --ip 10.0.0.2/24 --mac 02:00:00:00:00
check_usage_error "--trace bogus" --tap tap0 --ip 10.0.0.2/24 --trace bogus
check_usage_error "--seed -1" --tap tap0 --ip 10.0.0.2/24 --seed -1
check_usage_error "--gw off the subnet" --tap tap0 --ip 10.0.0.2/24 --gw 192.168.7.1
# the fault flags: probabilities 0..1 (or 0%..100%), milliseconds, rates, queue bytes
check_usage_error "--loss 1.5 (above 1)" --tap tap0 --ip 10.0.0.2/24 --loss 1.5
check_usage_error "--loss 150% (above 100%)" --tap tap0 --ip 10.0.0.2/24 --loss 150%
check_usage_error "--loss -0.1 (negative)" --tap tap0 --ip 10.0.0.2/24 --loss -0.1
check_usage_error "--loss 2%x (trailing junk)" --tap tap0 --ip 10.0.0.2/24 --loss 2%x
check_usage_error "--loss without a value" --tap tap0 --ip 10.0.0.2/24 --loss
check_usage_error "--dup nan" --tap tap0 --ip 10.0.0.2/24 --dup nan
check_usage_error "--reorder 2" --tap tap0 --ip 10.0.0.2/24 --reorder 2
check_usage_error "--corrupt 0x1 (hex)" --tap tap0 --ip 10.0.0.2/24 --corrupt 0x1
check_usage_error "--delay -5" --tap tap0 --ip 10.0.0.2/24 --delay -5
check_usage_error "--delay 60001 (over a minute)" --tap tap0 --ip 10.0.0.2/24 --delay 60001
check_usage_error "--delay 5ms (units are implied)" --tap tap0 --ip 10.0.0.2/24 --delay 5ms
check_usage_error "--reorder-ms 0" --tap tap0 --ip 10.0.0.2/24 --reorder 0.1 --reorder-ms 0
check_usage_error "--rate 100mbps (bytes are refused)" --tap tap0 --ip 10.0.0.2/24 --rate 100mbps
check_usage_error "--rate 10 (below 1 kbit/s)" --tap tap0 --ip 10.0.0.2/24 --rate 10
check_usage_error "--rate 200gbit (above 100 gbit/s)" --tap tap0 --ip 10.0.0.2/24 --rate 200gbit
check_usage_error "--rate fast" --tap tap0 --ip 10.0.0.2/24 --rate fast
check_usage_error "--queue 100 (below one full frame)" --tap tap0 --ip 10.0.0.2/24 --rate 1mbit --queue 100
check_usage_error "--queue without --rate" --tap tap0 --ip 10.0.0.2/24 --queue 100000
run_tapir usage --tap tap0 --ip 10.0.0.2/24 --loss 1.5
check "--loss 1.5: the line names the flag and the value" \
    grep -q "^tapir: --loss wants a probability .*'1.5'" "$TEST_TMP/usage.err"
# --cc: the algorithms the stack has, by their exact names
check_usage_error "--cc bogus" --tap tap0 --ip 10.0.0.2/24 --cc bogus
check_usage_error "--cc CUBIC (names are lower case)" --tap tap0 --ip 10.0.0.2/24 --cc CUBIC
check_usage_error "--cc without a value" --tap tap0 --ip 10.0.0.2/24 --cc
run_tapir usage --tap tap0 --ip 10.0.0.2/24 --cc bogus
check "--cc bogus: the line names the choices and the value" \
    grep -q "^tapir: --cc wants reno or cubic, not 'bogus'" "$TEST_TMP/usage.err"
# --keepalive IDLE[,INTVL[,CNT]]: seconds 1..32767, CNT 1..127
check_usage_error "--keepalive 0" --tap tap0 --ip 10.0.0.2/24 --keepalive 0
check_usage_error "--keepalive 32768 (above Linux's maximum)" --tap tap0 --ip 10.0.0.2/24 --keepalive 32768
check_usage_error "--keepalive 10,0" --tap tap0 --ip 10.0.0.2/24 --keepalive 10,0
check_usage_error "--keepalive 10,5,128 (CNT above 127)" --tap tap0 --ip 10.0.0.2/24 --keepalive 10,5,128
check_usage_error "--keepalive 10,5,3,1 (four values)" --tap tap0 --ip 10.0.0.2/24 --keepalive 10,5,3,1
check_usage_error "--keepalive 10, (trailing comma)" --tap tap0 --ip 10.0.0.2/24 --keepalive 10,
check_usage_error "--keepalive -5" --tap tap0 --ip 10.0.0.2/24 --keepalive -5
check_usage_error "--keepalive 10s (units are implied)" --tap tap0 --ip 10.0.0.2/24 --keepalive 10s
check_usage_error "--keepalive without a value" --tap tap0 --ip 10.0.0.2/24 --keepalive
run_tapir usage --tap tap0 --ip 10.0.0.2/24 --keepalive 10,0
check "--keepalive 10,0: the line names the flag and the value" \
    grep -q "^tapir: --keepalive wants IDLE\[,INTVL\[,CNT\]\] .*'10,0'" "$TEST_TMP/usage.err"
check_usage_error "an unknown option" --tap tap0 --ip 10.0.0.2/24 --bogus
check_usage_error "a stray argument" --tap tap0 --ip 10.0.0.2/24 stray

# --- environment problems: exit 2 with one clear line ---
run_tapir nosuch --tap nosuchtap0 --ip 10.0.0.2/24
lines=$(wc -l <"$TEST_TMP/nosuch.err")
if [ "$RC" = 2 ] && [ "$lines" = 1 ] && grep -q '^tapir:.*scripts/tap-up' "$TEST_TMP/nosuch.err"; then
    ok "--tap nosuchtap0: exit 2, one line pointing at scripts/tap-up"
else
    not_ok "--tap nosuchtap0: exit 2, one line pointing at scripts/tap-up"
    diag "exit status $RC, stderr:"
    diag <"$TEST_TMP/nosuch.err"
fi

# As nobody, with the namespace's tap0 present: no access to /dev/net/tun or to the tap.
timeout 10 setpriv --reuid=65534 --regid=65534 --clear-groups \
    "$TAPIR" --tap tap0 --ip 10.0.0.2/24 >"$TEST_TMP/nobody.out" 2>"$TEST_TMP/nobody.err" </dev/null
RC=$?
lines=$(wc -l <"$TEST_TMP/nobody.err")
if [ "$RC" = 2 ] && [ "$lines" = 1 ] && grep -qiE '^tapir:.*(permission|root)' "$TEST_TMP/nobody.err"; then
    ok "as an unprivileged user: exit 2, one line about permission or root"
else
    not_ok "as an unprivileged user: exit 2, one line about permission or root"
    diag "exit status $RC, stderr:"
    diag <"$TEST_TMP/nobody.err"
fi
diag "unprivileged: $(head -n 1 "$TEST_TMP/nobody.err")"

run_tapir pcap --tap tap0 --ip 10.0.0.2/24 --pcap /nonexistent-dir/capture.pcap
if [ "$RC" = 2 ] && [ "$(wc -l <"$TEST_TMP/pcap.err")" = 1 ] && grep -q '^tapir:.*pcap' "$TEST_TMP/pcap.err"; then
    ok "--pcap into a missing directory: exit 2, one line about the capture file"
else
    not_ok "--pcap into a missing directory: exit 2, one line about the capture file"
    diag "exit status $RC, stderr:"
    diag <"$TEST_TMP/pcap.err"
fi

# --- fault flags that parse: tapir starts, says what it will do, and prints the Faults block ---
start_tapir --loss 2% --dup 0.01 --reorder 0.5% --reorder-ms 2.5 --corrupt 0 --delay 0.5 \
    --rate 1.5gbit --queue 65536 || not_ok "tapir starts with every fault flag"
check_eq "every fault flag is accepted and announced" "$(grep '^tapir: faults' "$TAPIR_OUT")" \
    "tapir: faults each way: loss 2%, dup 1%, reorder 0.5% (up to 2.5 ms), delay 0.5 ms, rate 1500 Mbit/s, queue 65536 bytes"
tapir_stats
for ((i = 0; i < 40; i++)); do # 2 s: the Faults block follows the stack's own
    grep -q '^    [0-9]* frames held now$' "$TAPIR_OUT" && break
    sleep 0.05
done
check "SIGUSR1 prints the Faults block too" grep -q '^Faults:$' "$TAPIR_OUT"
stop_tapir TERM
check_eq "tapir with faults exits 0 on SIGTERM" "$TAPIR_RC" 0

# --- --cc and --keepalive that parse: tapir starts and says what keepalive will do ---
start_tapir --cc cubic --keepalive 600 || not_ok "tapir starts with --cc cubic --keepalive 600"
check_eq "--keepalive 600: INTVL defaults to 75 s and CNT to 9, as Linux's" \
    "$(grep '^tapir: keepalive' "$TAPIR_OUT")" \
    "tapir: keepalive on TCP connections: idle 600 s, then up to 9 probes 75 s apart"
stop_tapir TERM
start_tapir --keepalive 20 || not_ok "tapir starts with --keepalive 20"
check_eq "--keepalive 20: INTVL defaults to IDLE when that is shorter than 75 s" \
    "$(grep '^tapir: keepalive' "$TAPIR_OUT")" \
    "tapir: keepalive on TCP connections: idle 20 s, then up to 9 probes 20 s apart"
stop_tapir TERM

# --- signals, seed, trace ---
start_tapir --seed 424242 --trace icmp || { not_ok "tapir starts"; done_testing; }
check_eq "--seed 424242 is echoed in the first line" \
    "$(head -n 1 "$TAPIR_OUT" | grep -o '^tapir: seed [0-9]*')" "tapir: seed 424242"

run_tapir busy --tap tap0 --ip 10.0.0.3/24
if [ "$RC" = 2 ] && [ "$(wc -l <"$TEST_TMP/busy.err")" = 1 ] && grep -q '^tapir:.*tap0' "$TEST_TMP/busy.err"; then
    ok "a second tapir on the tap in use: exit 2, one line naming tap0"
else
    not_ok "a second tapir on the tap in use: exit 2, one line naming tap0"
    diag "exit status $RC, stderr:"
    diag <"$TEST_TMP/busy.err"
fi

timeout 10 ping -c 2 -i 0.2 -W 2 "$TAPIR_IP" >"$TEST_TMP/ping.out" 2>&1
check "ping is answered" grep -q ' 2 received' "$TEST_TMP/ping.out"
check_ge "--trace icmp prints a line per echo request" "$(grep -c 'echo request' "$TAPIR_OUT")" 2

tapir_stats
check "SIGUSR1 prints the counters (Ethernet: through Memory:)" \
    grep -q 'packet buffers in use at most$' "$TAPIR_OUT"
check_ge "SIGUSR1 counters show the pings answered" "$(tapir_counter Icmp "echo replies sent")" 2
sleep 0.2
check "tapir keeps running after SIGUSR1" _tapir_running

for sig in INT TERM; do
    if [ "$sig" = INT ]; then
        : # tapir from the run above
    else
        start_tapir || { not_ok "tapir starts again"; continue; }
    fi
    blocks_before=$(_tapir_blocks)
    stop_tapir "$sig"
    check_eq "SIG$sig: tapir exits 0" "$TAPIR_RC" 0
    check_ge "SIG$sig: tapir prints its counters on the way out" "$(_tapir_blocks)" $((blocks_before + 1))
    check "SIG$sig: no sanitizer report" bash -c "! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' '$TAPIR_ERR'"
done

done_testing
