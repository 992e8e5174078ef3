#!/usr/bin/env bash
# test_blind_attack.sh: RFC 5961's defences under load. While the host's TCP streams at least
# 24 MiB through tapir's echo service (7) and checks every byte that comes back, an attacker on
# tap0 (blind_inject.py, AF_PACKET) learns the connection from tapir's segments and forges
# segments "from the host" into it: RSTs and SYNs inside the window but never at RCV.NXT (each
# must draw a challenge ACK and reset nothing), in-window segments whose ACK is outside
# [SND.UNA - MAX.SND.WND, SND.NXT] (dropped with a challenge ACK, RFC 5961 §5), RSTs, SYNs and
# data wholly outside the window (dropped), 300 of each, then a burst of in-window RSTs past the
# challenge ACK rate limit (RFC 5961 §7, 1000 a second). Checked: the echo completes byte-exact
# and the client never sees a reset; tapir accepted no reset and sent none; its counters grew by
# at least what was injected of each kind, less the frames lost on the way (tap0's queue, no
# packet buffer); the rate limit held and was reached; the host's TCP counted no reset. Then, on
# a quiet connection where RCV.NXT is known exactly, a bad ACK, a SYN and RSTs at and beside
# RCV.NXT with a TSval from the future: each is refused, and the host's next data still gets
# through (a refused segment must not move TS.Recent, or PAWS drops everything after it). At the
# end no connection block or packet buffer is left; tapir exits 0 on SIGTERM.
set -u
. "$(dirname "$0")/lib.sh"

INJECT=$(dirname "$0")/blind_inject.py
# A different attack on every run (sequence numbers, kinds' order); the seed replays the plan.
SEED=${TAPIR_BLIND_SEED:-$((RANDOM * 32768 + RANDOM))}
EACH=300
BURST=4000
RATE=1000 # cfg.tcp_challenge_ack_per_s, the default (stack/stack.c)
# Each second's budget is drawn between RATE / 2 and RATE * 3 / 2 (CVE-2016-5696): at most this.
MAX_PER_S=$(( (RATE + 1) / 2 + RATE - 1 ))

# relay: the helper's "ok - " / "not ok - " lines become this test's checks, its "count" lines
# are kept for below, anything else becomes a comment.
relay() {
    local line
    while IFS= read -r line; do
        case "$line" in
        "ok - "*) ok "${line#ok - }" ;;
        "not ok - "*) not_ok "${line#not ok - }" ;;
        "count "*) ;;
        "# "*) echo "$line" ;;
        *) echo "#   $line" ;; # a traceback, say
        esac
    done
}

tcp() { tapir_counter Tcp "$1"; }

open_blocks() {
    local a f
    a=$(tcp "connection blocks allocated") && f=$(tcp "connection blocks freed") || return 1
    echo $((a - f))
}

# Frames that never reached tapir's TCP: dropped at tap0's queue, or by tapir for want of a
# packet buffer. Each may have been a forged one, so each lowers what the counters must show.
lost_frames() {
    echo $(( $(cat /sys/class/net/tap0/statistics/tx_dropped 2>/dev/null || echo 0) +
        $(tapir_counter Ethernet "dropped: no free packet buffer" || echo 0) ))
}

# host_snmp GROUP NAME: the host's counter (this namespace's) from /proc/net/snmp or netstat.
host_snmp() {
    awk -v grp="$1:" -v want="$2" '$1 == grp {
        if (!hdr[grp]) { for (i = 2; i <= NF; i++) name[i] = $i; hdr[grp] = 1; next }
        for (i = 2; i <= NF; i++) if (name[i] == want) print $i
    }' /proc/net/snmp /proc/net/netstat
}

COUNTERS=(
    "challenge ACKs sent (RFC 5961)"
    "challenge ACKs not sent: rate limit"
    "SYNs in a synchronized state (RFC 5961 §4)"
    "dropped: acknowledges what was never sent (RFC 5961 §5)"
    "dropped: outside the receive window"
    "dropped: old timestamp (PAWS, RFC 7323 §5)"
    "resets accepted"
    "resets sent"
    "ACKs for unacceptable empty segments not sent: rate limit"
)
declare -A before delta

start_tapir || { not_ok "tapir starts"; done_testing; }
ok "tapir starts"

tapir_stats || not_ok "tapir prints its counters on SIGUSR1"
base_blocks=$(open_blocks)
for name in "${COUNTERS[@]}"; do before[$name]=$(tcp "$name"); done
lost_before=$(lost_frames)
resets_host_before=$(host_snmp Tcp EstabResets)
fastrx_host_before=$(host_snmp TcpExt TCPFastRetrans)

diag "attack seed $SEED (replay the plan with TAPIR_BLIND_SEED=$SEED)"
out=$TEST_TMP/blind.out
t0=$(date +%s.%N)
bounded 60 python3 -u "$INJECT" --iface tap0 --ip "$TAPIR_IP" --host-ip "$HOST_IP" --port 7 \
    --seed "$SEED" --each "$EACH" --burst "$BURST" --min-mib 24 --deadline 45 >"$out" 2>&1
rc=$?
t1=$(date +%s.%N)
relay <"$out"
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    not_ok "blind_inject.py finished within 60 s"
elif [ "$rc" -ne 0 ]; then
    not_ok "blind_inject.py exited $rc"
fi
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%d", b - a + 0.999 }')

# count KIND [FILE]: segments of that kind the helper wrote into tap0 (its "count" lines).
count() { awk -v k="$1" '$1 == "count" && $2 == k { print $3 }' "${2:-$out}"; }
rst_in=$(count rst_in) syn_in=$(count syn_in) ack_bad=$(count ack_bad)
rst_out=$(count rst_out) syn_out=$(count syn_out) data_out=$(count data_out)
burst=$(count burst) burst_ms=$(count burst_ms)
: "${rst_in:=0}" "${syn_in:=0}" "${ack_bad:=0}" "${rst_out:=0}" "${syn_out:=0}"
: "${data_out:=0}" "${burst:=0}" "${burst_ms:=0}"

tapir_stats || not_ok "tapir prints its counters on SIGUSR1"
for name in "${COUNTERS[@]}"; do
    delta[$name]=$(( $(tcp "$name" || echo 0) - ${before[$name]:-0} ))
done
lost=$(( $(lost_frames) - lost_before ))
diag "injected: rst_in $rst_in, syn_in $syn_in, ack_bad $ack_bad, rst_out $rst_out," \
    "syn_out $syn_out, data_out $data_out, burst $burst in ${burst_ms} ms;" \
    "frames lost before tapir's TCP meanwhile: $lost; helper ran ${secs} s;" \
    "waits for room in the window: $(count deferred); sends refused by tap0: $(count refused)"
for name in "${COUNTERS[@]}"; do diag "Tcp '$name': +${delta[$name]}"; done

# floor_of N: N less the frames lost (each might have been one of ours), not below 0.
floor_of() { local n=$(( $1 - lost )); echo $(( n > 0 ? n : 0 )); }

# (a), (b), (c): every in-window RST and SYN and every bad ACK drew a challenge ACK, sent or
# held back by the rate limit.
challenged=$(( delta["challenge ACKs sent (RFC 5961)"] + delta["challenge ACKs not sent: rate limit"] ))
check_ge "Tcp: challenge ACKs sent + rate-limited >= in-window RSTs, SYNs and bad ACKs injected" \
    "$challenged" "$(floor_of $((rst_in + syn_in + ack_bad + burst)))"
check_ge "Tcp: 'SYNs in a synchronized state' grew by the in-window SYNs injected" \
    "${delta["SYNs in a synchronized state (RFC 5961 §4)"]}" "$(floor_of "$syn_in")"
check_ge "Tcp: 'acknowledges what was never sent' grew by the bad ACKs injected (RFC 5961 §5)" \
    "${delta["dropped: acknowledges what was never sent (RFC 5961 §5)"]}" "$(floor_of "$ack_bad")"
# (d)
check_ge "Tcp: 'outside the receive window' grew by the RSTs, SYNs and data injected outside it" \
    "${delta["dropped: outside the receive window"]}" "$(floor_of $((rst_out + syn_out + data_out)))"
check_eq "Tcp: no reset accepted" "${delta["resets accepted"]}" 0
check_eq "Tcp: no reset sent" "${delta["resets sent"]}" 0

# RFC 5961 §7: at most MAX_PER_S challenge ACKs in any one second. The limit's window starts
# with the first challenge after the last one ran out, so a run of s seconds touches at most
# s + 1.
check_le "Tcp: challenge ACKs sent within the rate limit ($MAX_PER_S a second over ${secs} s)" \
    "${delta["challenge ACKs sent (RFC 5961)"]}" $(( MAX_PER_S * (secs + 1) ))
# The burst: under a second touches at most two of the limit's windows, which let at most
# 2 * MAX_PER_S through; the rest of the burst that reached tapir was held back.
if [ "$burst_ms" -lt 1000 ]; then
    want=$(( $(floor_of "$burst") - 2 * MAX_PER_S ))
    if [ "$want" -gt 0 ]; then
        check_ge "Tcp: the burst of $burst in-window RSTs in ${burst_ms} ms reached the rate limit" \
            "${delta["challenge ACKs not sent: rate limit"]}" "$want"
    else
        skip "Tcp: the burst reached the rate limit" "too many frames lost ($lost) to tell"
    fi
else
    skip "Tcp: the burst reached the rate limit" "the burst took ${burst_ms} ms, not under 1 s"
fi

# The host's own view: its TCP counted no connection reset.
check_eq "host TCP: 'EstabResets' did not grow" \
    "$(( $(host_snmp Tcp EstabResets) - resets_host_before ))" 0
diag "host TCP: fast retransmits during the attack:" \
    "$(( $(host_snmp TcpExt TCPFastRetrans) - fastrx_host_before ))" \
    "(tapir's challenge ACKs are duplicate ACKs to it)"

# --- at RCV.NXT itself, on a quiet connection ---
# Under load RCV.NXT moves; on a connection whose data has all come back it is known exactly.
# Each forged segment there carries a TSval far ahead of TS.Recent and fails a check (an ACK
# above SND.NXT, a SYN, a RST off RCV.NXT), so none may touch the connection: were its TSval
# taken as TS.Recent (RFC 7323 §4.3) before the checks threw it out, every segment the host
# sends afterwards would be an "old duplicate" to PAWS, and the connection would hang.
tapir_stats || not_ok "tapir prints its counters on SIGUSR1"
for name in "${COUNTERS[@]}"; do before[$name]=$(tcp "$name"); done
edge_out=$TEST_TMP/edge.out
bounded 30 python3 -u "$INJECT" --mode edge --iface tap0 --ip "$TAPIR_IP" --host-ip "$HOST_IP" \
    --port 7 --seed "$SEED" >"$edge_out" 2>&1
rc=$?
relay <"$edge_out"
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    not_ok "blind_inject.py --mode edge finished within 30 s"
elif [ "$rc" -ne 0 ]; then
    not_ok "blind_inject.py --mode edge exited $rc"
fi
e_ack=$(count edge_bad_ack "$edge_out") e_syn=$(count edge_syn "$edge_out")
e_rst=$(count edge_rst_in "$edge_out") e_out=$(count edge_rst_out "$edge_out")
stuck=$(count edge_stuck "$edge_out")
: "${e_ack:=0}" "${e_syn:=0}" "${e_rst:=0}" "${e_out:=0}" "${stuck:=0}"
tapir_stats || not_ok "tapir prints its counters on SIGUSR1"
for name in "${COUNTERS[@]}"; do
    delta[$name]=$(( $(tcp "$name" || echo 0) - ${before[$name]:-0} ))
done
diag "at RCV.NXT: bad ACK $e_ack, SYN $e_syn, RST + 1 $e_rst, RST - 1 $e_out;" \
    "challenge ACKs +${delta["challenge ACKs sent (RFC 5961)"]}," \
    "PAWS drops +${delta["dropped: old timestamp (PAWS, RFC 7323 §5)"]}"
check_ge "Tcp: at RCV.NXT, challenge ACKs for the bad ACK, the SYN and the RST" \
    "$(( delta["challenge ACKs sent (RFC 5961)"] + delta["challenge ACKs not sent: rate limit"] ))" \
    $((e_ack + e_syn + e_rst))
check_ge "Tcp: at RCV.NXT, the bad ACK counted (RFC 5961 §5)" \
    "${delta["dropped: acknowledges what was never sent (RFC 5961 §5)"]}" "$e_ack"
check_eq "Tcp: at RCV.NXT, no reset accepted" "${delta["resets accepted"]}" 0

# Afterwards: the clients closed first, so tapir keeps no TIME_WAIT: only the listeners are
# left (and the quiet connection, if it hung above: reported there).
allowed=$(( ${base_blocks:-0} + stuck ))
left=
for ((i = 0; i < 50; i++)); do # 5 s
    tapir_stats || break
    left=$(open_blocks)
    [ -n "$left" ] && [ "$left" -le "$allowed" ] && break
    sleep 0.1
done
check_le "Tcp: no connection block left but the listeners'" "$left" "$allowed"
check_eq "Memory: no packet buffer held afterwards" \
    "$(tapir_counter Memory "packet buffers in use now")" 0
check "tapir is still running" _tapir_running

check_peak_rss
check_tapir_stopped_cleanly
done_testing
