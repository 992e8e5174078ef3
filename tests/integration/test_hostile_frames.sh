#!/usr/bin/env bash
# test_hostile_frames.sh: tapir survives 1000 random, truncated and malformed frames written into
# tap0 from the host side (tests/integration/inject_frames.py, fixed seed): it stays up, still
# answers ping (fragmented too), and counts each kind of bad frame under its own drop reason, at
# least as many times as that kind was injected. Valid echo requests mixed in (with IP options,
# with Ethernet padding, in fragments out of order) are each answered with the right data, and
# everything tapir sends meanwhile is well-formed and goes only to the host.
set -u
. "$(dirname "$0")/lib.sh"

SEED=${INJECT_SEED:-20240601}

start_tapir --seed 1 || { not_ok "tapir starts"; done_testing; }
ok "tapir starts"

# Resolve both sides first, so the stack's answers to the valid frames go straight out.
timeout 10 ping -c 1 -W 2 "$TAPIR_IP" >/dev/null 2>&1

# tap0's MTU goes up while injecting so the kernel lets the oversize frames through (tapir keeps
# its 1500); it comes back down before the host sends anything big of its own.
ip link set tap0 mtu 9000
if bounded 60 python3 "$TAPIR_ROOT/tests/integration/inject_frames.py" --iface tap0 --seed "$SEED" \
    --count 1000 >"$TEST_TMP/inject.out" 2>"$TEST_TMP/inject.err"; then
    ok "inject_frames.py wrote its frames into tap0"
else
    not_ok "inject_frames.py wrote its frames into tap0"
    diag <"$TEST_TMP/inject.err"
fi
ip link set tap0 mtu 1500
grep -E '^(sent|refused|total) ' "$TEST_TMP/inject.out" | diag
sent() { awk -v k="$1" '$1 == "sent" && $2 == k {print $3; f=1} END {if (!f) print 0}' "$TEST_TMP/inject.out"; }
total=$(awk '$1 == "total" {print $2}' "$TEST_TMP/inject.out")
check_ge "at least 1000 hostile frames were sent" "${total:-0}" 1000

sleep 0.5 # let tapir drain tap0
check "tapir is still running after the hostile frames" _tapir_running

check "ping is still answered after the hostile frames" \
    bash -c "timeout 15 ping -c 2 -i 0.2 -W 2 $TAPIR_IP | grep -q ' 2 received'"
check "a fragmented ping (4000 bytes) is still answered" \
    bash -c "timeout 15 ping -c 2 -i 0.2 -s 4000 -W 2 $TAPIR_IP | grep -q ' 2 received'"

tapir_stats || not_ok "tapir prints its counters on SIGUSR1"

check_ge "tapir received every injected frame (Ethernet: frames received)" \
    "$(tapir_counter Ethernet "frames received")" "$total"

# kind injected -> the counter (layer and text, as stack.h names it) it must land in.
expectations=(
    "eth_wrong_mac|Ethernet|dropped: destination MAC is not ours or broadcast"
    "eth_unknown_type|Ethernet|dropped: EtherType neither IPv4 nor ARP"
    "eth_runt|Ethernet|dropped: shorter than an Ethernet header"
    "eth_oversize|Ethernet|dropped: longer than the MTU allows"
    "arp_truncated|Arp|dropped: shorter than an ARP packet"
    "arp_bad_format|Arp|dropped: not Ethernet/IPv4 ARP"
    "arp_bad_op|Arp|dropped: opcode neither request nor reply"
    "arp_bad_sender|Arp|dropped: sender address is broadcast, multicast or zero"
    "ip_truncated|Ip|dropped: shorter than an IPv4 header"
    "ip_bad_version|Ip|dropped: version is not 4"
    "ip_bad_ihl|Ip|dropped: header length below 20 or past the packet"
    "ip_bad_length|Ip|dropped: total length disagrees with the frame"
    "ip_bad_checksum|Ip|dropped: bad header checksum"
    "ip_bad_source|Ip|dropped: source is broadcast, multicast or ours"
    "ip_not_for_us|Ip|dropped: not addressed to us (no forwarding)"
    "ip_unknown_proto|Ip|dropped: unknown protocol"
    "icmp_truncated|Icmp|dropped: shorter than its type needs"
    "icmp_bad_checksum|Icmp|dropped: bad checksum"
    "ip_fragment|Ip|fragments received"
)
reasons=0
for e in "${expectations[@]}"; do
    IFS='|' read -r kind layer text <<<"$e"
    n=$(sent "$kind")
    [ "$n" -gt 0 ] || continue # runts, which AF_PACKET refuses to send
    v=$(tapir_counter "$layer" "$text")
    check_ge "$n $kind frames counted as $layer '$text'" "${v:-missing}" "$n"
    case "$text" in dropped:*) [ "${v:-0}" -gt 0 ] && reasons=$((reasons + 1)) ;; esac
done
check_ge "drops were counted under at least five distinct reasons" "$reasons" 5

# The valid requests among the hostile frames: each answered, with the same data.
requests_total=0
for kind in valid_echo_options valid_echo_padded valid_echo_fragmented; do
    req=$(awk -v k="$kind" '$1 == "requests" && $2 == k {print $3}' "$TEST_TMP/inject.out")
    ans=$(awk -v k="$kind" '$1 == "answered" && $2 == k {print $3}' "$TEST_TMP/inject.out")
    requests_total=$((requests_total + ${req:-0}))
    if _is_number "${req:-}" && [ "$req" -gt 0 ] && [ "${ans:-}" = "$req" ]; then
        ok "all $req $kind echo requests answered with their data"
    else
        not_ok "all ${req:-?} $kind echo requests answered with their data"
        diag "answered: ${ans:-?}"
    fi
done
check_ge "Icmp: the valid echo requests among them were received" \
    "$(tapir_counter Icmp "echo requests received")" "$requests_total"
bad=$(awk '$1 == "bad_replies" {print $2}' "$TEST_TMP/inject.out")
check_eq "every IPv4 frame tapir sent meanwhile was well-formed and for the host" "${bad:-missing}" 0
grep '^bad:' "$TEST_TMP/inject.out" | diag

check "tapir is still running after reading its counters" _tapir_running
check_peak_rss
check_tapir_stopped_cleanly
done_testing
