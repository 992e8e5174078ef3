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

# The windows are the ones the UDP lines below name.
BENCH_SMOKE=1 BENCH_UDP_WINDOWS="1 256" BENCH_TIMEOUT=${BENCH_TIMEOUT:-150} scripts/bench \
    >"$out" 2>&1
rc=$?

count=0
failed=0
result() {
    count=$((count + 1))
    if [ "$1" = ok ]; then echo "ok - $2"; else echo "not ok - $2"; failed=$((failed + 1)); fi
}

num='[0-9]+(\.[0-9]+)?'
# NAME UNIT [REFERENCE]...: the line scripts/bench must print for each measurement, with its
# ratio to each reference, in that order.
expect() {
    local name=$1 unit=$2 pattern="^$1 $num $2" ref what
    shift 2
    for ref in "$@"; do
        pattern="$pattern $num of $ref"
    done
    what="bench line '$name' with a number"
    [ $# -gt 0 ] && what="$what and its ratio to $*"
    if grep -qE "$pattern\$" "$out"; then
        result ok "$what"
    else
        result not_ok "$what"
    fi
}

expect tap_ceiling_rx_fps frames/s
expect tap_ceiling_rx_gbps Gbit/s
expect tap_ceiling_rx_offered_fps frames/s tap_ceiling_rx_fps
expect tap_ceiling_tx_fps frames/s
expect tap_ceiling_tx_gbps Gbit/s
expect linux_veth_ping_median us
expect linux_veth_ping_p99 us
for stat in median p99; do
    expect "tap_floor_ping_$stat" us
    expect "tapir_ping_$stat" us "tap_floor_ping_$stat"
    expect "tap_floor_busy_ping_$stat" us
    expect "tapir_busy_ping_$stat" us "tap_floor_busy_ping_$stat" "linux_veth_ping_$stat"
done
expect linux_veth_tcp_rr_median us
expect linux_veth_tcp_rr_p99 us
expect linux_veth_tcp_rr_tps transactions/s
for mode in "" _busy; do
    expect "tapir${mode}_tcp_rr_median" us "tap_floor${mode}_ping_median" linux_veth_tcp_rr_median
    expect "tapir${mode}_tcp_rr_p99" us "tap_floor${mode}_ping_p99" linux_veth_tcp_rr_p99
    expect "tapir${mode}_tcp_rr_tps" transactions/s linux_veth_tcp_rr_tps
done
for w in 1 256; do
    expect "linux_veth_udp_echo_w${w}_pps" datagrams/s
    expect "linux_veth_udp_echo_w${w}_loss" %
    expect "tapir_udp_echo_w${w}_pps" datagrams/s "linux_veth_udp_echo_w${w}_pps"
    expect "tapir_udp_echo_w${w}_loss" %
done
for name in linux_veth linux_veth_offload; do
    expect "${name}_tcp_rx_gbps" Gbit/s
    expect "${name}_tcp_tx_gbps" Gbit/s
done
expect tcp_rx_gbps Gbit/s tap_ceiling_rx_gbps linux_veth_tcp_rx_gbps
expect tcp_tx_gbps Gbit/s tap_ceiling_tx_gbps linux_veth_tcp_tx_gbps
expect linux_veth_conn_rate conns/s
expect tapir_conn_rate conns/s linux_veth_conn_rate
expect tapir_held_conns conns
expect tapir_rss_idle MiB
expect tapir_rss_held MiB
expect tapir_held_bytes_per_conn bytes
if [ "$rc" -eq 0 ]; then
    result ok "scripts/bench exits 0"
else
    result not_ok "scripts/bench exits 0 (got $rc)"
fi

sed 's/^/# /' "$out" | head -n 200
echo "1..$count"
[ "$failed" -eq 0 ]
