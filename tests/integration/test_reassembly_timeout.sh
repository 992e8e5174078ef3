#!/usr/bin/env bash
# test_reassembly_timeout.sh: datagrams whose fragments never all arrive are given up after the
# reassembly timeout (30 s, as Linux) and counted; tapir then sends ICMP Time Exceeded (code 1)
# for the one whose fragment zero it holds, to a unicast address, and no ICMP error for one
# without fragment zero (RFC 1122 §3.3.2) or for ones sent to a broadcast address (RFC 1122
# §3.2.2: "MUST NOT"). Takes about 40 s: the timeout is real time here.
set -u
. "$(dirname "$0")/lib.sh"

start_tapir || { not_ok "tapir starts"; done_testing; }
ok "tapir starts"
timeout 10 ping -c 1 -W 2 "$TAPIR_IP" >/dev/null 2>&1 # both sides know each other's MAC

out=$TEST_TMP/probe.out
bounded 60 python3 "$TAPIR_ROOT/tests/integration/reassembly_probe.py" --iface tap0 --listen 36 \
    >"$out" 2>"$TEST_TMP/probe.err"
check_eq "reassembly_probe.py ran" "$?" 0
diag <"$out"
id_of() { awk -v n="$1" '$1 == "sent" && $2 == n {print $3}' "$out"; }

te=$(awk -v id="$(id_of unicast)" '$1 == "icmp" && $3 == "type" && $4 == 11 && $6 == 1 && $8 == id' "$out")
check_eq "one ICMP Time Exceeded (code 1) about the unicast datagram with fragment zero" \
    "$(echo -n "$te" | grep -c .)" 1
when=$(echo "$te" | awk 'NR == 1 {print int($2)}')
if _is_number "${when:-}" && [ "$when" -ge 25 ] && [ "$when" -le 35 ]; then
    ok "it came about 30 s after the fragment (${when} s)"
else
    not_ok "it came about 30 s after the fragment"
    diag "after '${when:-never}' s"
fi
check "its ICMP checksum is right" bash -c "echo '$te' | grep -q 'checksum ok'"
check_eq "no ICMP error about the datagram without fragment zero" \
    "$(awk -v id="$(id_of no-first)" '$1 == "icmp" && $8 == id' "$out" | grep -c .)" 0
check_eq "no ICMP error about the datagram sent to 255.255.255.255" \
    "$(awk -v id="$(id_of bcast)" '$1 == "icmp" && $8 == id' "$out" | grep -c .)" 0
check_eq "no ICMP error about the datagram sent to 10.0.0.255" \
    "$(awk -v id="$(id_of dbcast)" '$1 == "icmp" && $8 == id' "$out" | grep -c .)" 0

tapir_stats || not_ok "tapir prints its counters on SIGUSR1"
check_ge "Ip: four reassemblies timed out" "$(tapir_counter Ip "reassemblies failed: timed out")" 4
check_eq "Memory: no packet buffer held once they timed out" \
    "$(tapir_counter Memory "packet buffers in use now")" 0
check "ping is still answered" bash -c "timeout 10 ping -c 1 -W 2 $TAPIR_IP | grep -q ' 1 received'"

check_tapir_stopped_cleanly
done_testing
