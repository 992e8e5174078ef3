#!/usr/bin/env bash
# test_ping_flood.sh: tapir answers a flood of 10,000 echo requests (ping -f) without losing one,
# and is still healthy afterwards (buffers returned to the pool).
set -u
. "$(dirname "$0")/lib.sh"

start_tapir || { not_ok "tapir starts"; done_testing; }
ok "tapir starts"

out=$TEST_TMP/flood.out
bounded 60 ping -f -c 10000 -W 1 "$TAPIR_IP" >"$out" 2>&1
rc=$?
if grep -q '10000 packets transmitted, 10000 received' "$out" && grep -q ' 0% packet loss' "$out"; then
    ok "ping -f -c 10000: 10000 received, 0% packet loss"
else
    not_ok "ping -f -c 10000: 10000 received, 0% packet loss"
    diag "ping exit status $rc"
    grep -v '^\.*$' "$out" | diag
fi

check "tapir is still running after the flood" _tapir_running
tapir_stats || not_ok "tapir prints its counters on SIGUSR1"
check_ge "Icmp: 10000 echo replies sent" "$(tapir_counter Icmp "echo replies sent")" 10000
check_eq "Memory: no packet buffer held after the flood" \
    "$(tapir_counter Memory "packet buffers in use now")" 0
check_eq "Memory: the packet buffer pool never ran dry" \
    "$(tapir_counter Memory "packet buffer requests refused: pool empty")" 0
check_eq "Ethernet: the driver never failed to send" \
    "$(tapir_counter Ethernet "frames the driver failed to send")" 0

check_tapir_stopped_cleanly
done_testing
