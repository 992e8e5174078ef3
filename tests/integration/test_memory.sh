#!/usr/bin/env bash
# test_memory.sh: tapir stays small and stops allocating. Its VmRSS is under 8 MiB after start-up
# and after a ping flood plus 65507-byte pings; and a second, identical round of traffic makes no
# allocation at all (Memory: "allocations made" does not grow: the pools reached steady state).
# The RSS bound is for the plain build: a sanitizer build's shadow memory and quarantine make RSS
# meaningless, so there it is skipped; the allocation count is checked either way.
set -u
. "$(dirname "$0")/lib.sh"

LIMIT_KB=8192

start_tapir || { not_ok "tapir starts"; done_testing; }
ok "tapir starts"

# check_rss WHEN
check_rss() {
    local rss
    rss=$(tapir_vmrss_kb)
    if tapir_is_sanitized; then
        skip "VmRSS under $LIMIT_KB kB $1" "sanitizer build (VmRSS ${rss:-?} kB)"
    else
        check_le "VmRSS under $LIMIT_KB kB $1 (${rss:-?} kB)" "${rss:-missing}" "$LIMIT_KB"
    fi
}

# traffic ROUND: a ping flood, then three 65507-byte pings (fragmented both ways).
traffic() {
    local out=$TEST_TMP/round.$1
    bounded 60 ping -f -c 2000 -W 1 "$TAPIR_IP" >"$out.flood" 2>&1
    bounded 20 ping -c 3 -i 0.2 -s 65507 -W 2 "$TAPIR_IP" >"$out.big" 2>&1
    if grep -q ' 2000 received' "$out.flood" && grep -q ' 3 received' "$out.big"; then
        ok "round $1: flood of 2000 and three 65507-byte pings all answered"
    else
        not_ok "round $1: flood of 2000 and three 65507-byte pings all answered"
        grep -v '^\.*$' "$out.flood" "$out.big" | diag
    fi
}

check_rss "after start-up"

traffic 1
check_rss "after a ping flood and 65507-byte pings"
tapir_stats || not_ok "tapir prints its counters on SIGUSR1"
allocs1=$(tapir_counter Memory "allocations made (pools grow, then stop)")
bytes1=$(tapir_counter Memory "bytes allocated")
diag "after round 1: ${allocs1:-?} allocations, ${bytes1:-?} bytes"

traffic 2
check_rss "after a second round"
tapir_stats || not_ok "tapir prints its counters on SIGUSR1"
allocs2=$(tapir_counter Memory "allocations made (pools grow, then stop)")
check_eq "no allocation during an identical second round (steady state)" "${allocs2:-missing}" "${allocs1:-missing}"
check_eq "bytes allocated unchanged by the second round" \
    "$(tapir_counter Memory "bytes allocated")" "${bytes1:-missing}"
check_eq "Memory: no allocation failed" "$(tapir_counter Memory "allocations failed: libc out of memory")" 0
check_eq "Memory: none refused by the budget" \
    "$(tapir_counter Memory "allocations refused: over the memory budget")" 0
check_eq "Memory: no packet buffer held after the traffic" \
    "$(tapir_counter Memory "packet buffers in use now")" 0

check_tapir_stopped_cleanly
done_testing
