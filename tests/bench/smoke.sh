#!/usr/bin/env bash
# smoke.sh: make test's guard that `make bench` has not rotted. Runs scripts/bench with
# BENCH_SMOKE=1 (every measurement once and very briefly, in its own network namespace) and
# checks that each result line came out with a number, and a ratio where it has a reference.
# It asserts nothing about speed: under a loaded test run the figures mean nothing.
set -u
cd "$(dirname "$0")/../.." || exit 1

out=$(mktemp "${TMPDIR:-/tmp}/tapir-bench-smoke.XXXXXX") || {
    echo "not ok - mktemp failed"
    exit 1
}
trap 'rm -f "$out"' EXIT

BENCH_SMOKE=1 BENCH_TIMEOUT=${BENCH_TIMEOUT:-150} scripts/bench >"$out" 2>&1
rc=$?

count=0
failed=0
result() {
    count=$((count + 1))
    if [ "$1" = ok ]; then echo "ok - $2"; else echo "not ok - $2"; failed=$((failed + 1)); fi
}

num='[0-9]+(\.[0-9]+)?'
# NAME UNIT [REFERENCE]: the line scripts/bench must print for each measurement.
expect() {
    local pattern="^$1 $num $2"
    [ -n "${3:-}" ] && pattern="$pattern $num of $3"
    if grep -qE "$pattern\$" "$out"; then
        result ok "bench line '$1' with a number${3:+ and its ratio to $3}"
    else
        result not_ok "bench line '$1' with a number${3:+ and its ratio to $3}"
    fi
}

expect tap_ceiling_rx_fps frames/s
expect tap_ceiling_rx_gbps Gbit/s
expect tap_ceiling_rx_offered_fps frames/s tap_ceiling_rx_fps
expect tap_ceiling_tx_fps frames/s
expect tap_ceiling_tx_gbps Gbit/s
for mode in "" _busy; do
    for stat in median p99; do
        expect "tap_floor${mode}_ping_$stat" us
        expect "tapir${mode}_ping_$stat" us "tap_floor${mode}_ping_$stat"
    done
done
expect tcp_rx_gbps Gbit/s tap_ceiling_rx_gbps
expect tcp_tx_gbps Gbit/s tap_ceiling_tx_gbps
if [ "$rc" -eq 0 ]; then
    result ok "scripts/bench exits 0"
else
    result not_ok "scripts/bench exits 0 (got $rc)"
fi

sed 's/^/# /' "$out" | head -n 80
echo "1..$count"
[ "$failed" -eq 0 ]
