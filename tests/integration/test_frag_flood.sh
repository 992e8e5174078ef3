#!/usr/bin/env bash
# test_frag_flood.sh: a fragment attack from the host side (tests/integration/frag_flood.py): tens
# of thousands of fragments of datagrams that never complete, each with its own identification,
# tiny 8-byte fragments, overlaps that agree and overlaps that do not (teardrop among them), bad
# lengths and fragments past 65535 bytes, from 10.0.0.1 and from neighbours that do not exist.
# Meanwhile the host pings with fragmented requests (4000 and 30000 bytes), and legal datagrams
# in tiny or overlapping fragments are mixed into the attack. It checks that:
#   - the legitimate pings are answered during the flood (at least 90%: see below) and all of
#     them after it; the legal tiny/overlapping datagrams are all reassembled, and each is
#     echoed with its data or counted as dropped by the echo socket's full receive buffer;
#   - each kind of attack lands in its drop counter, and every datagram that took a reassembly
#     slot is accounted for (reassembled, failed by reason, evicted or timed out) once the
#     30 s reassembly timer has run, with no packet buffer left in use;
#   - tapir is alive, its pools never ran dry, and its peak RSS (VmHWM) stays under 64 MiB.
# The attack is paced (--rate) so the TAP queue does not overflow: frames lost there would be
# the link's loss, not the stack's; should some be lost anyway (tap0 tx_dropped), the lower
# bounds below allow for them. It takes about 45 s: the last datagrams are left to time out.
set -u
. "$(dirname "$0")/lib.sh"

SEED=${FRAG_FLOOD_SEED:-20240909}
RATE=${FRAG_FLOOD_RATE:-20000}
HWM_LIMIT_KB=65536 # 64 MiB
SLOTS=16           # cfg.ipfrag_max_datagrams: the reassembly table's size
# During the flood every new identification evicts the oldest datagram in reassembly; a ping's
# fragments reach tapir back to back, so it is lost only if 16 new datagrams slip in between.
# Loss here is then rare; 90% leaves room for a loaded machine without hiding a broken stack.
LEGIT_MIN_PERCENT=90

start_tapir --seed 1 || { not_ok "tapir starts"; done_testing; }
ok "tapir starts"
timeout 10 ping -c 1 -W 2 "$TAPIR_IP" >/dev/null 2>&1 # both sides know each other's MAC

# Frames the host queued for tapir but the TAP's queue had no room for (this namespace's
# /proc/net/dev; /sys/class/net shows the original namespace's devices).
tap_tx_dropped() { awk '{sub(/:/, " ")} $1 == "tap0" {print $13}' /proc/net/dev; }
ring_drops0=$(tap_tx_dropped)

# The attack runs until it has written 50,000 frames and the pings below are done.
out=$TEST_TMP/flood.out
stop=$TEST_TMP/flood.stop
setpriv --pdeathsig TERM -- timeout --kill-after=5 90 \
    python3 "$TAPIR_ROOT/tests/integration/frag_flood.py" --iface tap0 --seed "$SEED" \
    --min-frames 50000 --rate "$RATE" --max-seconds 60 --stop-file "$stop" \
    >"$out" 2>"$TEST_TMP/flood.err" </dev/null 9>&- &
flood_pid=$!
for ((i = 0; i < 200; i++)); do # 10 s
    grep -q '^started' "$out" 2>/dev/null && break
    kill -0 "$flood_pid" 2>/dev/null || break
    sleep 0.05
done
check "frag_flood.py started" grep -q '^started' "$out"

# The legitimate traffic, concurrently: fragmented echo requests of 4000 and 30000 bytes.
setpriv --pdeathsig TERM -- timeout 60 ping -s 4000 -i 0.05 -c 100 -W 2 "$TAPIR_IP" \
    >"$TEST_TMP/ping4000" 2>&1 </dev/null 9>&- &
p1=$!
setpriv --pdeathsig TERM -- timeout 60 ping -s 30000 -i 0.4 -c 12 -W 2 "$TAPIR_IP" \
    >"$TEST_TMP/ping30000" 2>&1 </dev/null 9>&- &
p2=$!
wait "$p1" "$p2"
touch "$stop"
wait "$flood_pid"
check_eq "frag_flood.py finished" "$?" 0
ring_drops=$(($(tap_tx_dropped) - ring_drops0))
diag "$(grep -vE '^(started|sent|expect)' "$out" | paste -sd ' ')"
grep '^sent' "$out" | diag
diag <"$TEST_TMP/flood.err"
val() { awk -v k="$1" '$1 == k {print $2}' "$out"; }
expect() { awk -v k="$1" '$1 == "expect" && $2 == k {print $3}' "$out"; }
frames=$(val frames)
check_ge "at least 50,000 fragments written" "${frames:-0}" 50000
check_eq "the attack went on until the pings were done" "$(val stop_seen)" yes
diag "frames lost in the TAP queue (tap0 tx_dropped): $ring_drops"
# at_least N: N less the frames lost in the TAP queue (each could take one event away).
at_least() {
    local n=$(($1 - ring_drops))
    echo $((n < 0 ? 0 : n))
}

# ping_counts FILE: "TRANSMITTED RECEIVED" from ping's summary.
ping_counts() {
    awk '/packets transmitted/ {print $1, $4}' "$1"
}
read -r tx4 rx4 <<<"$(ping_counts "$TEST_TMP/ping4000")"
read -r tx30 rx30 <<<"$(ping_counts "$TEST_TMP/ping30000")"
diag "during the flood: ping -s 4000: ${rx4:-?}/${tx4:-?} answered; ping -s 30000: ${rx30:-?}/${tx30:-?}"
legit_tx=$((${tx4:-0} + ${tx30:-0}))
legit_rx=$((${rx4:-0} + ${rx30:-0}))
check_ge "fragmented pings were sent during the flood" "$legit_tx" 100
check_ge "at least $LEGIT_MIN_PERCENT% of them answered ($legit_rx of $legit_tx)" \
    "$((legit_rx * 100))" "$((legit_tx * LEGIT_MIN_PERCENT))"
req=$(val echo_requests)
answered=$(val echo_answered)
check_ge "legal datagrams in tiny or overlapping fragments were sent" "${req:-0}" 10
check_eq "no wrong echo" "$(val echo_bad)" 0

check "tapir is still running after the flood" _tapir_running

# After the flood: every fragmented ping is answered.
bounded 30 ping -s 4000 -i 0.05 -c 20 -W 2 "$TAPIR_IP" >"$TEST_TMP/after4000" 2>&1
bounded 30 ping -s 30000 -i 0.2 -c 3 -W 2 "$TAPIR_IP" >"$TEST_TMP/after30000" 2>&1
read -r atx4 arx4 <<<"$(ping_counts "$TEST_TMP/after4000")"
read -r atx30 arx30 <<<"$(ping_counts "$TEST_TMP/after30000")"
check_eq "after the flood: 20 of 20 pings of 4000 bytes answered" "${arx4:-0}" 20
check_eq "after the flood: 3 of 3 pings of 30000 bytes answered" "${arx30:-0}" 3
legit_tx=$((legit_tx + ${atx4:-0} + ${atx30:-0}))
legit_rx=$((legit_rx + ${arx4:-0} + ${arx30:-0}))

tapir_stats || not_ok "tapir prints its counters on SIGUSR1"
in_use=$(tapir_counter Memory "packet buffers in use now")
check_le "right after: packet buffers in use bounded by the reassembly table (${in_use:-?})" \
    "${in_use:-missing}" "$SLOTS"

# The datagrams still in reassembly time out after 30 s (an ICMP Time Exceeded to a neighbour
# that does not exist then waits for ARP, up to 3 s): wait for every buffer to come back.
for ((i = 0; i < 50; i++)); do # 50 s
    [ "$(tapir_counter Memory "packet buffers in use now")" = 0 ] && break
    sleep 1
    tapir_stats || break
done
check_eq "Memory: no packet buffer held once the reassembly timer ran" \
    "$(tapir_counter Memory "packet buffers in use now")" 0

c() { tapir_counter Ip "$1"; }
reassembled=$(c "packets reassembled ok")
overlap=$(c "reassemblies failed: fragments overlap inconsistently")
timeout_=$(c "reassemblies failed: timed out")
too_big=$(c "reassemblies failed: past 65535 bytes")
bad_len=$(c "fragments dropped: length not a multiple of 8 or beyond the end")
evicted=$(c "reassemblies failed: evicted by newer datagrams")
dup=$(c "duplicate fragments (consistent overlap)")
frag_rx=$(c "fragments received")
diag "Ip: $frag_rx fragments, $reassembled reassembled, $dup duplicates; failed: $evicted evicted," \
    "$timeout_ timed out, $overlap overlapping, $too_big past 65535, $bad_len bad length"

check_ge "Ip: every fragment written was received (less ${ring_drops} lost in the TAP queue)" \
    "${frag_rx:-missing}" "$((frames - ring_drops))"
check_ge "Ip: $(expect overlap) inconsistent overlaps counted" "${overlap:-missing}" \
    "$(at_least "$(expect overlap)")"
check_ge "Ip: $(expect too_big) fragments past 65535 bytes counted" "${too_big:-missing}" \
    "$(at_least "$(expect too_big)")"
check_ge "Ip: $(expect bad_len) fragments of a bad length counted" "${bad_len:-missing}" \
    "$(at_least "$(expect bad_len)")"
check_ge "Ip: $(expect dup) consistent duplicates counted" "${dup:-missing}" \
    "$(at_least "$(expect dup)")"
check_ge "Ip: the legal datagrams and the answered pings were reassembled" \
    "${reassembled:-missing}" "$(at_least $(($(expect reassembled) + legit_rx)))"
# Each legal datagram was echoed with its data, or reached the echo service's socket when its
# receive buffer was full (a reassembled datagram is charged its 64 KiB buffer, so a few queued
# fill it while the service's thread waits for a CPU the flood keeps busy).
rcvbuf_drops=$(tapir_counter Udp "dropped: receive buffer full")
diag "legal datagrams: ${req:-?} sent, ${answered:-?} echoed, ${rcvbuf_drops:-?} dropped by the" \
    "echo socket's full receive buffer"
check_ge "Udp: each legal datagram was echoed or counted as a receive-buffer drop" \
    "$((${answered:-0} + ${rcvbuf_drops:-0}))" "$(at_least "${req:-0}")"
check_ge "Ip: the $(expect incomplete) never-completed datagrams were evicted or timed out" \
    "$((${evicted:-0} + ${timeout_:-0}))" "$(at_least "$(expect incomplete)")"

# Every datagram that took a slot ended one way, counted once: reassembled, failed (overlap, past
# 65535, beyond the end), evicted or timed out; plus the fragments dropped before taking one. A
# ping's datagram takes a second slot only if it was evicted halfway and the rest of it came
# after, so the excess is bounded by the lost pings' fragments.
resolved=$((reassembled + overlap + too_big + bad_len + timeout_ + evicted))
started=$(($(expect slots) + $(expect slotless) + legit_tx))
diag "reassembly outcomes counted: $resolved; datagrams started (attack and pings) plus slotless" \
    "drops: $started"
check_ge "every datagram started is accounted for by a reassembly counter" "$resolved" \
    "$(at_least "$started")"
check_le "and nothing more than the lost pings' fragments could add" \
    "$resolved" "$((started + (legit_tx - legit_rx) * 21 + ring_drops))"

check_eq "Ip: no fragment dropped for want of a reassembly buffer" \
    "$(c "fragments dropped: no reassembly buffer")" 0
check_eq "Memory: the packet buffer pools never ran dry" \
    "$(tapir_counter Memory "packet buffer requests refused: pool empty")" 0
check_eq "Ethernet: no frame dropped for want of a buffer" \
    "$(tapir_counter Ethernet "dropped: no free packet buffer")" 0

diag "packet buffers in use at most: $(tapir_counter Memory "packet buffers in use at most")"
check_peak_rss "$HWM_LIMIT_KB"

check "ping is still answered" bash -c "timeout 10 ping -c 2 -i 0.2 -W 2 $TAPIR_IP | grep -q ' 2 received'"
check_tapir_stopped_cleanly
done_testing
