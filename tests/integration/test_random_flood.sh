#!/usr/bin/env bash
# test_random_flood.sh: 1,000,000 random frames written into tap0 from the host side
# (tests/integration/random_flood.py, a fixed seed): random bytes, random Ethernet payloads for
# IPv4 and ARP, well-formed ARP with random fields, valid IPv4 headers with random protocols,
# options and fragment fields, and random TCP, UDP and ICMP headers behind them, all from
# 10.0.0.0/24. Afterwards tapir must be alive and answer ping (4000 bytes too), have counted
# every frame the TAP handed it under exactly one fate at the Ethernet and IPv4 layers, give
# back every packet buffer once its timers ran (the reassembly timer is 30 s, so this test waits
# for it), and stay small: VmRSS under 8 MiB afterwards, peak (VmHWM) under 64 MiB (both for the
# plain build; a sanitizer build's shadow memory makes them meaningless). The writer goes as fast
# as python can; frames the TAP's queue had no room for are counted (tap0 tx_dropped) and shown.
set -u
. "$(dirname "$0")/lib.sh"

SEED=${RANDOM_FLOOD_SEED:-20240910}
COUNT=${RANDOM_FLOOD_COUNT:-1000000}
RSS_LIMIT_KB=8192  # as test_memory.sh: the pools are bounded, so a flood must not grow them
HWM_LIMIT_KB=65536 # 64 MiB

start_tapir --seed 1 || { not_ok "tapir starts"; done_testing; }
ok "tapir starts"
timeout 10 ping -c 1 -W 2 "$TAPIR_IP" >/dev/null 2>&1 # both sides know each other's MAC

# tap0's counters in this namespace (/sys/class/net shows the original namespace's devices):
# tx_packets are the frames tapir read, tx_dropped those the TAP's queue had no room for.
tap_tx() { awk -v f="$1" '{sub(/:/, " ")} $1 == "tap0" {print (f == "packets" ? $11 : $13)}' /proc/net/dev; }
drops0=$(tap_tx dropped)

out=$TEST_TMP/flood.out
bounded 90 python3 "$TAPIR_ROOT/tests/integration/random_flood.py" --iface tap0 --seed "$SEED" \
    --count "$COUNT" --max-seconds 25 >"$out" 2>"$TEST_TMP/flood.err"
check_eq "random_flood.py ran" "$?" 0
diag <"$TEST_TMP/flood.err"
val() { awk -v k="$1" '$1 == k {print $2}' "$out"; }
sent=$(val sent)
ring_drops=$(($(tap_tx dropped) - drops0))
diag "$(grep '^pool' "$out" | paste -sd ' ')"
diag "sent ${sent:-?} frames in $(val seconds) s ($(val rate) frames/s; $(val send_errors) refused);" \
    "$ring_drops of them lost in the TAP's full queue, $((${sent:-0} - ring_drops)) reached tapir"
# The writer stops after 25 s: on a slow machine it may write fewer than $COUNT (shown above).
check_ge "the writer wrote random frames into tap0" "${sent:-0}" 1

sleep 1 # let tapir drain tap0
check "tapir is still running after the flood" _tapir_running
check "ping is answered after the flood" \
    bash -c "timeout 15 ping -c 3 -i 0.2 -W 2 $TAPIR_IP | grep -q ' 3 received'"
check "a fragmented ping (4000 bytes) is answered after the flood" \
    bash -c "timeout 15 ping -c 3 -i 0.2 -s 4000 -W 2 $TAPIR_IP | grep -q ' 3 received'"

read_before=$(tap_tx packets)
tapir_stats || not_ok "tapir prints its counters on SIGUSR1"
read_after=$(tap_tx packets)
cnt() { tapir_counter "$1" "$2"; }
eth_rx=$(cnt Ethernet "frames received")
# The TAP counts a frame as tapir reads it: tapir's count lies between the two readings.
if _is_number "${eth_rx:-}" && [ "$read_before" -le "$eth_rx" ] && [ "$eth_rx" -le "$read_after" ]; then
    ok "Ethernet: tapir counted every frame the TAP handed it ($eth_rx, tap0 tx_packets)"
else
    not_ok "Ethernet: tapir counted every frame the TAP handed it (tap0 tx_packets)"
    diag "tapir: '${eth_rx:-}', tap0 tx_packets before and after: $read_before $read_after"
fi
check_ge "Ethernet: at least the frames that reached tapir were received" \
    "${eth_rx:-missing}" "$((${sent:-0} - ring_drops))"

# sum LAYER PREFIX...: the sum of LAYER's counters whose text starts with one of the PREFIXes.
sum() {
    local layer=$1
    shift
    awk -v layer="$layer" -v prefixes="$(printf '%s|' "$@")" '
        BEGIN { n = split(prefixes, pre, "|") - 1 }
        /^Ethernet:$/ { delete v; blk++ }
        /^[A-Z][a-z]+:$/ { cur = substr($0, 1, length($0) - 1); next }
        cur == layer && /^    [0-9]+ / {
            num = $1; txt = substr($0, 6 + length(num))
            for (i = 1; i <= n; i++) if (index(txt, pre[i]) == 1) { v[txt] = num; break }
        }
        END { s = 0; for (t in v) s += v[t]; print s }
    ' "$TAPIR_OUT"
}
eth_drops=$(sum Ethernet "dropped:")
arp_in=$(sum Arp "dropped:" "requests received" "replies received")
ip_rx=$(cnt Ip "total packets received")
check_eq "Ethernet: every frame was dropped for a reason or handed to IPv4 or ARP" \
    "$eth_rx" "$((eth_drops + ip_rx + arp_in))"

# IPv4: each packet was dropped by validation, went to reassembly or was delivered (to ICMP, UDP
# or TCP, or dropped as an unknown protocol); a reassembled datagram is delivered once more.
ip_val_drops=$(sum Ip "dropped:")
frag_rx=$(cnt Ip "fragments received")
reassembled=$(cnt Ip "packets reassembled ok")
delivered=$(cnt Ip "incoming packets delivered")
check_eq "Ip: every packet was dropped for a reason, went to reassembly or was delivered" \
    "$((ip_rx + reassembled))" "$((ip_val_drops + frag_rx + delivered))"

# The drop counters, per layer (the text of each that is not 0 is in tapir's output).
total=0
line=
for layer in Ethernet Arp Ip Icmp Udp Tcp; do
    n=$(sum "$layer" "dropped:" "ignored:" "fragments dropped:" "reassemblies failed:")
    line="$line $layer $n,"
    total=$((total + n))
done
diag "drops and ignores counted:${line%,}; $total in all, for ${eth_rx} frames received"
check_ge "tapir counted drops under many reasons" "$total" 1

# Buffers come back once the timers run: reassembly gives up after 30 s, ARP after 3 s.
for ((i = 0; i < 50; i++)); do # 50 s
    [ "$(cnt Memory "packet buffers in use now")" = 0 ] && break
    sleep 1
    tapir_stats || break
done
check_eq "Memory: no packet buffer held once the timers ran" \
    "$(cnt Memory "packet buffers in use now")" 0
check_eq "Memory: the packet buffer pools never ran dry" \
    "$(cnt Memory "packet buffer requests refused: pool empty")" 0
diag "Memory: $(cnt Memory "packet buffers in use at most") packet buffers in use at most," \
    "$(cnt Memory "allocations made (pools grow, then stop)") allocations," \
    "$(cnt Memory "bytes allocated") bytes"

rss=$(tapir_vmrss_kb)
hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$TAPIR_PID/status" 2>/dev/null)
diag "tapir's VmRSS now ${rss:-?} kB, peak (VmHWM) ${hwm:-?} kB"
if tapir_is_sanitized; then
    skip "VmRSS under $RSS_LIMIT_KB kB after the flood" "sanitizer build (VmRSS ${rss:-?} kB)"
    skip "peak RSS under 64 MiB" "sanitizer build (VmHWM ${hwm:-?} kB)"
else
    check_le "VmRSS under $RSS_LIMIT_KB kB after the flood (${rss:-?} kB)" "${rss:-missing}" "$RSS_LIMIT_KB"
    check_le "peak RSS (VmHWM) under 64 MiB (${hwm:-?} kB)" "${hwm:-missing}" "$HWM_LIMIT_KB"
fi

check "ping is still answered" bash -c "timeout 10 ping -c 2 -i 0.2 -W 2 $TAPIR_IP | grep -q ' 2 received'"
check_tapir_stopped_cleanly
done_testing
