#!/usr/bin/env bash
# test_tcp_loss.sh: tapir's TCP against the host's under loss (issue 6). Through --loss 0.02
# --reorder 0.02 each way: 50 MiB from the host into discard (9), every byte counted by tapir,
# and 4 MiB through echo (7) back byte for byte; 50 MiB from chargen (19), every byte checked
# against RFC 864's pattern; the faults happened (frames lost) and both TCPs recovered (tapir's
# retransmissions and fast recoveries, the host's). --cc cubic: a lossy chargen transfer runs
# on CUBIC (the connection table says so) and recovers; --cc bogus is a usage error. A reader
# that stops: tapir's send stalls on the zero window, tapir probes it, and the stream resumes
# at once when the window reopens, with no gap and no duplicate. --keepalive 1,1,3: an idle
# connection whose peer answers survives; one whose peer vanished is dropped within
# idle + cnt * intvl (plus slack) and traced to CLOSED.
set -u
. "$(dirname "$0")/lib.sh"

PROBE=$(dirname "$0")/tcp_loss_probe.py
FAULTS=(--loss 0.02 --reorder 0.02 --seed 6) # a fixed seed, so a run's decisions can be replayed
MIB=$((1 << 20))

# relay: the probe's "ok - " / "not ok - " lines become this test's checks; the rest comments.
relay() {
    local line
    while IFS= read -r line; do
        case "$line" in
        "ok - "*) ok "${line#ok - }" ;;
        "not ok - "*) not_ok "${line#not ok - }" ;;
        "# "*) echo "$line" ;;
        *) echo "#   $line" ;; # a traceback, say
        esac
    done
}

# start_probe SECONDS MODE ARGS...: runs tcp_loss_probe.py MODE $TAPIR_IP ARGS in the
# background, bounded (and stopped if this shell dies); its output goes to PROBE_OUT.
PROBE_PID=
PROBE_OUT=
_probes=0
start_probe() {
    local secs=$1 mode=$2
    shift 2
    _probes=$((_probes + 1))
    PROBE_OUT=$TEST_TMP/probe.$_probes.$mode.out
    PROBE_DESC=$mode
    PROBE_SECS=$secs
    setpriv --pdeathsig TERM -- timeout --kill-after=5 "$secs" \
        python3 -u "$PROBE" "$mode" "$TAPIR_IP" "$@" >"$PROBE_OUT" 2>&1 9>&- &
    PROBE_PID=$!
}

# wait_probe_line TEXT SECONDS: true once the probe has printed a line starting with TEXT.
wait_probe_line() {
    local i
    for ((i = 0; i < $2 * 20; i++)); do
        grep -q "^$1" "$PROBE_OUT" 2>/dev/null && return 0
        kill -0 "$PROBE_PID" 2>/dev/null || break
        sleep 0.05
    done
    grep -q "^$1" "$PROBE_OUT" 2>/dev/null
}

# finish_probe: waits for the probe (its own timeout bounds it), relays its checks; one failed
# check if it timed out or died.
finish_probe() {
    local rc
    wait "$PROBE_PID"
    rc=$?
    PROBE_PID=
    relay <"$PROBE_OUT"
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        not_ok "$PROBE_DESC: the probe finished within $PROBE_SECS s"
    elif [ "$rc" -ne 0 ]; then
        not_ok "$PROBE_DESC: the probe exited $rc"
    fi
}

# run_probe SECONDS MODE ARGS...: start_probe, then finish_probe.
run_probe() {
    start_probe "$@"
    finish_probe
}

# figure KEY: the value of KEY in the last probe's "# figures" line.
figure() { sed -n "s/^# figures .*\b$1=\([^ ]*\).*/\1/p" "$PROBE_OUT" | tail -n 1; }

# probe_port TEXT: the port in the probe's "TEXT port N" line.
probe_port() { sed -n "s/^$1 port \([0-9]*\)$/\1/p" "$PROBE_OUT" | tail -n 1; }

tcp() { tapir_counter Tcp "$1"; }
faults() { tapir_counter Faults "$1"; }

# conn_field PORT NAME: a field of the connection with the host's port PORT in the last
# connection table tapir printed: "unsent" from its first line ("unsent 4194304"), anything
# else from its second ("cubic ts sack ... snd_wnd:0 ..."); "cc" is the algorithm's name.
conn_field() {
    local lines
    lines=$(grep -A1 -E "^    [A-Z_]+ +$TAPIR_IP:[0-9]+ $HOST_IP:$1 " "$TAPIR_OUT" | tail -n 2)
    [ -n "$lines" ] || return 1
    case "$2" in
    cc) sed -n '2s/^ *\([a-z]*\) .*/\1/p' <<<"$lines" ;;
    unacked | unsent | rcvq) sed -n "1s/.* $2 \([0-9]*\).*/\1/p" <<<"$lines" ;;
    *) sed -n "2s/.* $2:\([^ ]*\).*/\1/p" <<<"$lines" ;;
    esac
}

# last_table: the last connection table tapir printed (and what followed it).
last_table() {
    awk '/^Connections:$/ { buf = "" } { buf = buf $0 "\n" } END { printf "%s", buf }' "$TAPIR_OUT"
}

# host_netstat FILE PREFIX NAME: a counter of the host's TCP in this namespace
# (/proc/net/snmp "Tcp:", /proc/net/netstat "TcpExt:").
host_netstat() {
    awk -v pfx="$2:" -v want="$3" '$1 == pfx {
        if (!hdr) { for (i = 2; i <= NF; i++) name[i] = $i; hdr = 1; next }
        for (i = 2; i <= NF; i++) if (name[i] == want) print $i
    }' "/proc/net/$1"
}
host_retrans() { host_netstat snmp Tcp RetransSegs; }
host_rtos() { host_netstat netstat TcpExt TCPTimeouts; }
host_recoveries() { host_netstat netstat TcpExt TCPSackRecovery; }

now() { date +%s.%N; }
ms_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%d", (b - a) * 1000 }'; }

# stop_and_check NAME: stops tapir (its counters print on the way out) and checks it went well.
stop_and_check() {
    stop_tapir TERM
    check_eq "$1: tapir exits 0 on SIGTERM" "$TAPIR_RC" 0
    if _tapir_sanitizer_report; then
        not_ok "$1: no sanitizer report"
        diag <"$TAPIR_ERR"
    fi
}

# ================================================================================================
# 1. Through 2% loss and 2% reordering each way: host -> tapir, then tapir -> host
# ================================================================================================
start_tapir "${FAULTS[@]}" || { not_ok "tapir ${FAULTS[*]} starts"; done_testing; }
ok "tapir ${FAULTS[*]} starts"

# --- a. 50 MiB into discard ---
tapir_stats || not_ok "tapir prints its counters on SIGUSR1"
rx_before=$(tcp "data bytes received in order")
host_retrans_before=$(host_retrans)
host_rtos_before=$(host_rtos)
host_recoveries_before=$(host_recoveries)
start_probe 120 discard $((50 * MIB)) "$TEST_TMP/go.discard"
if wait_probe_line "# acked port" 100; then
    port=$(probe_port "# acked")
    tapir_stats || not_ok "tapir prints its counters on SIGUSR1"
    check_eq "discard: tapir's connection received exactly 50 MiB in order (bytes_received)" \
        "$(conn_field "$port" bytes_received)" $((50 * MIB))
    check_eq "discard: and holds none of it unread (rcvq)" "$(conn_field "$port" rcvq)" 0
    check_eq "Tcp: 'data bytes received in order' grew by exactly 50 MiB" \
        "$(($(tcp "data bytes received in order") - ${rx_before:-0}))" $((50 * MIB))
else
    not_ok "discard: the host's 50 MiB were all acknowledged"
fi
touch "$TEST_TMP/go.discard"
finish_probe
discard_ms=$(figure ms)
host_retrans_discard=$(($(host_retrans) - host_retrans_before))
host_rtos_discard=$(($(host_rtos) - host_rtos_before))
diag "50 MiB host -> discard: ${discard_ms:-?} ms; the host's TCP retransmitted" \
    "$host_retrans_discard segments in $(($(host_recoveries) - host_recoveries_before)) SACK" \
    "recoveries, $host_rtos_discard retransmission timeouts"
# What tapir made of them: segments it had no room to keep out of order (the host must send
# them again) and duplicates (a retransmission whose original was only late).
oow=$(tcp "dropped: outside the receive window")
paws=$(tcp "dropped: old timestamp (PAWS, RFC 7323 §5)")
diag "tapir dropped $(tcp "dropped: too many out-of-order ranges") segments for want of an" \
    "out-of-order range and $((${oow:-0} + ${paws:-0})) duplicates"
check_ge "discard: the host's TCP had losses to repair (RetransSegs grew)" "$host_retrans_discard" 1

# --- a. 4 MiB through echo: exact both ways ---
run_probe 60 echo $((4 * MIB))
diag "4 MiB through echo: $(figure ms) ms"

# --- b. 50 MiB from chargen ---
tapir_stats || not_ok "tapir prints its counters on SIGUSR1"
rexmit_before=$(tcp "segments retransmitted")
fast_before=$(tcp "fast retransmits (recoveries entered)")
rto_before=$(tcp "retransmission timeouts")
run_probe 120 chargen $((50 * MIB))
chargen_ms=$(figure ms)
tapir_stats || not_ok "tapir prints its counters on SIGUSR1"
rexmit=$(($(tcp "segments retransmitted") - rexmit_before))
fast=$(($(tcp "fast retransmits (recoveries entered)") - fast_before))
rtos=$(($(tcp "retransmission timeouts") - rto_before))
diag "50 MiB chargen -> host: ${chargen_ms:-?} ms; tapir retransmitted $rexmit segments in" \
    "$fast fast recoveries, $rtos retransmission timeouts"
check_ge "chargen: tapir retransmitted what was lost (segments retransmitted)" "$rexmit" 1
check_ge "chargen: tapir recovered by fast retransmit (recoveries entered)" "$fast" 1

stop_and_check "loss and reordering"
lost=$(faults "frames lost")
reordered=$(faults "frames reordered")
diag "Faults: ${lost:-?} frames lost and ${reordered:-?} reordered of" \
    "$(faults "frames from the kernel") in and $(faults "frames from tapir") out"
check_ge "Faults: frames were lost" "${lost:-0}" 1
check_ge "Faults: frames were reordered" "${reordered:-0}" 1
diag "Tcp at exit: $(tcp "retransmission timeouts") retransmission timeouts," \
    "$(tcp "fast retransmits (recoveries entered)") fast recoveries," \
    "$(tcp "segments retransmitted") segments retransmitted," \
    "$(tcp "D-SACK blocks received (a duplicate arrived)") D-SACKs received"

# ================================================================================================
# e. --cc: CUBIC end to end through the same faults; a bogus name is a usage error
# ================================================================================================
timeout 10 "$TAPIR" --tap tap0 --ip "$TAPIR_IP/24" --cc bogus \
    >"$TEST_TMP/bogus.out" 2>"$TEST_TMP/bogus.err" </dev/null
rc=$?
check_eq "--cc bogus: exit 2 (usage)" "$rc" 2
check "--cc bogus: one line naming the flag, the value and the choices" \
    grep -qx "tapir: --cc wants reno or cubic, not 'bogus' (see tapir --help)" "$TEST_TMP/bogus.err"

start_tapir --cc cubic "${FAULTS[@]}" || { not_ok "tapir --cc cubic starts"; done_testing; }
ok "tapir --cc cubic ${FAULTS[*]} starts"
# The probe reads 20 MiB, then holds the connection open (reading nothing) until go: the
# table shows the connection's algorithm and what its recovery did.
start_probe 90 pause 0 $((20 * MIB)) 0 $MIB "$TEST_TMP/go.cubic"
if wait_probe_line "# paused port" 80; then
    port=$(probe_port "# paused")
    tapir_stats || not_ok "tapir prints its counters on SIGUSR1"
    check_eq "cubic: the connection table shows the chargen connection on cubic" \
        "$(conn_field "$port" cc)" cubic
    cubic_fast=$(conn_field "$port" fast_retrans)
    diag "cubic: 20 MiB through the faults; the connection's fast recoveries ${cubic_fast:-?}," \
        "retransmission timeouts (now/total) $(conn_field "$port" retrans), cwnd" \
        "$(conn_field "$port" cwnd), ssthresh $(conn_field "$port" ssthresh)"
    check_ge "cubic: the connection recovered from losses by fast retransmit" "${cubic_fast:-0}" 1
else
    not_ok "cubic: 20 MiB read from chargen"
fi
touch "$TEST_TMP/go.cubic"
finish_probe
stop_and_check "--cc cubic"

# ================================================================================================
# c. A zero window: the reader stops for 3 s, tapir probes, the stream resumes
# ================================================================================================
PCAP=$TEST_TMP/zero-window.pcap
start_tapir --pcap "$PCAP" || { not_ok "tapir --pcap starts"; done_testing; }
ok "tapir --pcap starts (zero window)"
tapir_stats || not_ok "tapir prints its counters on SIGUSR1"
zwp_before=$(tcp "zero-window probes sent")
# An 8 KiB receive buffer (16 KiB as the kernel counts it): 256 KiB read, 3 s of nothing,
# then 8 MiB more.
start_probe 60 pause 8192 $((256 << 10)) 3 $((8 * MIB)) "$TEST_TMP/go.zero"
if wait_probe_line "# paused port" 20; then
    port=$(probe_port "# paused")
    sleep 1.5 # the host's buffer fills, its window closes, tapir's first probes go out
    tapir_stats || not_ok "tapir prints its counters on SIGUSR1"
    check_eq "zero window: tapir sees the host's window closed (snd_wnd 0)" \
        "$(conn_field "$port" snd_wnd)" 0
    check_ge "zero window: tapir's send is stalled with bytes unsent" \
        "$(conn_field "$port" unsent)" 1
    check_ge "zero window: tapir sent zero-window probes" \
        "$(tcp "zero-window probes sent")" $((${zwp_before:-0} + 1))
else
    not_ok "zero window: the probe read its first 256 KiB"
fi
touch "$TEST_TMP/go.zero"
finish_probe
resume_ms=$(figure resume_ms)
diag "zero window: 8 MiB read in ${resume_ms:-?} ms after the 3 s stall;" \
    "$(($(tcp "zero-window probes sent") - ${zwp_before:-0})) zero-window probes"
# A stack that missed the window update would wait for its next probe (backed off by then
# to 1.6 s or more) at every stall; 8 MiB through a 16 KiB window takes hundreds of them.
check_le "zero window: the 8 MiB after the stall take under 3 s" "${resume_ms:-99999}" 3000
stop_and_check "zero window"

# tshark_count FILTER: frames of the zero-window connection in the capture that match FILTER.
tshark_count() {
    bounded 60 tshark -r "$PCAP" -Y "tcp.port == ${port:-0} && ($1)" 2>>"$TEST_TMP/tshark.err" |
        wc -l
}

if command -v tshark >/dev/null 2>&1; then
    # tapir's probes carry the old sequence number snd_una - 1 and no data, as Linux's do;
    # tshark calls that a keep-alive. The host answers them (at most one per 500 ms: Linux's
    # tcp_invalid_ratelimit) with its zero window.
    check_ge "tshark: tapir's zero-window probes are in the capture" \
        "$(tshark_count "ip.src == $TAPIR_IP && tcp.analysis.keep_alive")" 1
    check_ge "tshark: the host answers them with its zero window" \
        "$(tshark_count "ip.src == $HOST_IP && tcp.analysis.zero_window")" 1
    # From the host's first window update after the stall to tapir's next data segment.
    bounded 60 tshark -r "$PCAP" -Y "tcp.port == ${port:-0}" -T fields -E separator=/t \
        -e frame.time_relative -e ip.src -e tcp.len -e tcp.window_size \
        >"$TEST_TMP/zero.frames" 2>>"$TEST_TMP/tshark.err"
    gap_ms=$(awk -F'\t' -v me="$TAPIR_IP" -v host="$HOST_IP" '
        $2 == host && $4 == 0 { closed = 1 }
        closed && !t && $2 == host && $4 > 0 { t = $1 }
        t && $2 == me && $3 > 0 { printf "%d", ($1 - t) * 1000; exit }' "$TEST_TMP/zero.frames")
    diag "tshark: tapir's next data ${gap_ms:-?} ms after the host's window reopened"
    check_le "tshark: tapir sends as soon as the window reopens (within 200 ms)" \
        "${gap_ms:-99999}" 200
else
    skip "tshark: the zero-window probes in the capture" "tshark is not installed"
fi

# ================================================================================================
# d. Keepalive: an answering peer keeps its connection; a vanished one is dropped
# ================================================================================================
KA_IDLE=1 KA_INTVL=1 KA_CNT=3
start_tapir --keepalive "$KA_IDLE,$KA_INTVL,$KA_CNT" --trace tcp ||
    { not_ok "tapir --keepalive starts"; done_testing; }
ok "tapir --keepalive $KA_IDLE,$KA_INTVL,$KA_CNT --trace tcp starts"
want="tapir: keepalive on TCP connections: idle $KA_IDLE s, then up to $KA_CNT probes"
check_eq "the keepalive settings are announced" "$(grep '^tapir: keepalive' "$TAPIR_OUT")" \
    "$want $KA_INTVL s apart"

# The positive control: 4 s of silence, answered probes, and the connection still echoes.
touch "$TEST_TMP/go.alive" # nothing to wait for afterwards
run_probe 30 keepalive 4 "$TEST_TMP/go.alive"
tapir_stats || not_ok "tapir prints its counters on SIGUSR1"
ka_probes=$(tcp "keepalive probes sent")
diag "keepalive: $ka_probes probes over 4 s of silence with the host answering"
check_ge "keepalive: tapir probed the idle connection" "${ka_probes:-0}" 1
check_eq "keepalive: and dropped nothing, the host answered" \
    "$(tcp "connections dropped: keepalive unanswered")" 0

# The host vanishes: its address goes, so the kernel drops what tapir sends without a word
# (no RST, no ICMP; tapir's ARP entry for it is still fresh, so the probes do go out).
start_probe 60 keepalive 0 "$TEST_TMP/go.vanish"
if wait_probe_line "# connected port" 10; then
    port=$(probe_port "# connected")
    ip addr del "$HOST_IP/24" dev tap0
    t0=$(now)
    limit=$((KA_IDLE + KA_CNT * KA_INTVL + 5)) # seconds: the verdict is due after 4
    dropped=
    while [ "$(ms_since "$t0")" -lt $((limit * 1000)) ]; do
        tapir_stats || break
        dropped=$(tcp "connections dropped: keepalive unanswered")
        [ "${dropped:-0}" -ge 1 ] && break
        sleep 0.2
    done
    elapsed_ms=$(ms_since "$t0")
    ip addr add "$HOST_IP/24" dev tap0
    diag "keepalive: the vanished host's connection dropped after about $elapsed_ms ms" \
        "(idle $KA_IDLE s + $KA_CNT probes x $KA_INTVL s = $((KA_IDLE + KA_CNT * KA_INTVL)) s)"
    check_eq "keepalive: the vanished host's connection is dropped (keepalive unanswered)" \
        "${dropped:-}" 1
    check_ge "keepalive: after its $KA_CNT unanswered probes" \
        "$(($(tcp "keepalive probes sent") - ${ka_probes:-0}))" "$KA_CNT"
    check_le "keepalive: within idle + cnt x intvl + 5 s" "$elapsed_ms" $((limit * 1000))
    check_ge "keepalive: and not before the probes had their time (3 s)" "$elapsed_ms" \
        $(((KA_IDLE + (KA_CNT - 1) * KA_INTVL) * 1000))
    check "keepalive: --trace tcp shows the connection going to CLOSED" grep -qE \
        "tcp $HOST_IP:$port>$TAPIR_IP:7 [A-Z_]+ -> CLOSED" "$TAPIR_OUT"
    check_eq "keepalive: the last connection table has nothing to the vanished port" \
        "$(last_table | grep -cE "^    [A-Z_]+ +$TAPIR_IP:7 $HOST_IP:$port ")" 0
else
    not_ok "keepalive: a second echo connection"
fi
touch "$TEST_TMP/go.vanish"
finish_probe
# The host is back: tapir serves as before.
reply=$(printf 'back again\n' | bounded 10 nc -N -w 5 "$TAPIR_IP" 7)
check_eq "keepalive: with the host back, echo answers a new connection" "$reply" "back again"
check_tapir_stopped_cleanly

done_testing
