#!/usr/bin/env bash
# test_ping.sh: the host's ping gets an echo reply of the right size from tapir at 0, 1472 (one
# full 1500-byte frame), 4000, 20000 and 65507 bytes (the largest IPv4 datagram), and the counters
# show tapir reassembling the fragmented requests and fragmenting its replies.
set -u
. "$(dirname "$0")/lib.sh"

start_tapir || { not_ok "tapir starts"; done_testing; }
ok "tapir starts"

sizes=(0 1472 4000 20000 65507)
for size in "${sizes[@]}"; do
    out=$TEST_TMP/ping.$size
    bounded 20 ping -c 2 -s "$size" -W 2 "$TAPIR_IP" >"$out" 2>&1
    if grep -q ' 2 received' "$out" && ! grep -qE 'DUP!|wrong data|truncated' "$out"; then
        ok "ping -s $size: both echo requests answered"
    else
        not_ok "ping -s $size: both echo requests answered"
        diag <"$out"
    fi
    # ping prints "N bytes from ..." with N the ICMP length: the payload plus the 8-byte header.
    replies=$(grep -c "^$((size + 8)) bytes from $TAPIR_IP:" "$out")
    check_eq "ping -s $size: replies carry $((size + 8)) bytes of ICMP" "$replies" 2
done

# IP payload per fragment at MTU 1500 is 1480 bytes; each request and each reply of size S is
# ceil((S + 8) / 1480) fragments.
frags=0
fragmented=0
for size in "${sizes[@]}"; do
    n=$(((size + 8 + 1479) / 1480))
    if [ "$n" -gt 1 ]; then
        frags=$((frags + 2 * n))
        fragmented=$((fragmented + 2))
    fi
done

tapir_stats || not_ok "tapir prints its counters on SIGUSR1"
check_ge "Icmp: echo replies sent for every request" "$(tapir_counter Icmp "echo replies sent")" 10
check_ge "Ip: every fragment of the big requests received" \
    "$(tapir_counter Ip "fragments received")" "$frags"
check_ge "Ip: the big requests were reassembled" \
    "$(tapir_counter Ip "packets reassembled ok")" "$fragmented"
check_ge "Ip: the big replies were fragmented" \
    "$(tapir_counter Ip "packets fragmented ok")" "$fragmented"
check_ge "Ip: fragments created for the big replies" \
    "$(tapir_counter Ip "fragments created")" "$frags"
for text in "reassemblies failed: fragments overlap inconsistently" \
    "reassemblies failed: past 65535 bytes" \
    "fragments dropped: length not a multiple of 8 or beyond the end"; do
    check_eq "Ip: none of '$text'" "$(tapir_counter Ip "$text")" 0
done

check_tapir_stopped_cleanly
done_testing
