#!/usr/bin/env bash
# test_busy_poll.sh: --busy-poll USEC, the host thread spinning on the TAP after each frame.
# Bad values exit 2 with one "tapir:" line; --help lists the flag; with --busy-poll 50 tapir
# says so, answers pings (small, and fragmented ones that take many frames), and echoes over
# TCP; on a link with faults (--delay) it still waits for the delayed frames. Nothing here
# asserts speed: `make bench` measures that.
set -u
. "$(dirname "$0")/lib.sh"

# run_tapir NAME ARGS...: tapir in the foreground (bounded); status in RC, output in NAME.out/.err.
run_tapir() {
    local name=$1
    shift
    timeout 10 "$TAPIR" "$@" >"$TEST_TMP/$name.out" 2>"$TEST_TMP/$name.err" </dev/null
    RC=$?
}

run_tapir help --help
check "--help lists --busy-poll" grep -q -- '--busy-poll US' "$TEST_TMP/help.out"

for bad in bogus -1 1000001 ''; do
    run_tapir usage --tap tap0 --ip 10.0.0.2/24 --busy-poll "$bad"
    if [ "$RC" = 2 ] && [ "$(wc -l <"$TEST_TMP/usage.err")" = 1 ] &&
        grep -q "^tapir: --busy-poll wants microseconds" "$TEST_TMP/usage.err"; then
        ok "--busy-poll '$bad': exit 2, one line naming the flag"
    else
        not_ok "--busy-poll '$bad': exit 2, one line naming the flag"
        diag "exit status $RC; stderr:"
        diag <"$TEST_TMP/usage.err"
    fi
done

# ping_all DESCRIPTION COUNT ARGS...: every one of COUNT pings answered.
ping_all() {
    local desc=$1 count=$2 out=$TEST_TMP/ping.out
    shift 2
    bounded 30 ping -c "$count" -W 2 "$@" "$TAPIR_IP" >"$out" 2>&1
    if grep -q " $count received" "$out"; then
        ok "$desc"
    else
        not_ok "$desc"
        diag <"$out"
    fi
}

start_tapir --busy-poll 50 || { not_ok "tapir starts with --busy-poll 50"; done_testing; }
ok "tapir starts with --busy-poll 50"
check "it announces the busy polling" \
    grep -q '^tapir: busy-poll: the host thread spins up to 50 us after each frame' "$TAPIR_OUT"
ping_all "--busy-poll 50: 200 pings at 1 ms intervals all answered" 200 -i 0.001
ping_all "--busy-poll 50: 20 pings at 20 ms intervals (past the spin) all answered" 20 -i 0.02
ping_all "--busy-poll 50: 65507-byte pings (45 fragments each way) answered" 3 -i 0.05 -s 65507
echo_out=$(printf 'spin\n' | bounded 10 nc -N -w 5 "$TAPIR_IP" 7)
check_eq "--busy-poll 50: TCP echo answers" "$echo_out" "spin"
check_tapir_stopped_cleanly

# On a link with faults the host thread must still wake for frames held back by --delay.
start_tapir --busy-poll 50 --delay 2 || not_ok "tapir starts with --busy-poll 50 --delay 2"
ping_all "--busy-poll 50 --delay 2: 10 pings answered" 10 -i 0.01
# In microseconds: a frame is stamped with the clock read when the burst it came in began,
# so each delay may end up to a burst's length early; 100 us covers that, not a lost delay.
rtt_min_us=$(awk -F'[/ ]' '/^rtt/ { print int($7 * 1000) }' "$TEST_TMP/ping.out")
check_ge "--busy-poll 50 --delay 2: round trips include both delays (min >= 3.9 ms)" \
    "${rtt_min_us:-0}" 3900
check_tapir_stopped_cleanly

done_testing
