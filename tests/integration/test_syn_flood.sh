#!/usr/bin/env bash
# test_syn_flood.sh: a SYN flood from random spoofed sources (hping3 -S --rand-source, 50,000
# SYNs at up to 20,000 a second) against tapir's TCP echo port does not lock out a real client.
# While it lasts, tests/integration/syn_flood_client.py opens one connection after another to
# port 7, each echoing a line byte for byte and closing cleanly: every one must succeed. The
# flood fills the listener's SYN queue, so tapir answers with SYN cookies (RFC 4987), and the
# real client's connections are opened from validated cookies (both counters above 0). After
# it tapir is alive and answers ping, its peak RSS (VmHWM) stayed under 64 MiB (plain build
# only), and it exits cleanly. The SYN,ACKs to the spoofed sources go to the gateway, the
# namespace's kernel, which does not forward: nothing leaves the namespace (checked).
set -u
. "$(dirname "$0")/lib.sh"

if ! command -v hping3 >/dev/null 2>&1; then
    skip "a SYN flood against tapir" "hping3 is not installed (scripts/install-deps installs it)"
    done_testing
fi

FLOOD_COUNT=50000
RSS_LIMIT_KB=65536 # 64 MiB

start_tapir --seed 9 || { not_ok "tapir starts"; done_testing; }
ok "tapir starts"

# Where the SYN,ACKs to 2^32 made-up addresses go: tapir sends them to its gateway, 10.0.0.1,
# the kernel of this namespace. It must have nowhere to send them on.
links=$(ip -o link show | awk -F': ' '{print $2}' | sort | tr '\n' ' ')
check_eq "the namespace holds only lo and tap0" "$links" "lo tap0 "
check_eq "the namespace has no default route" "$(ip route show default)" ""
check_eq "the namespace's kernel does not forward" "$(sysctl -n net.ipv4.ip_forward)" 0

# Resolve both sides first, so neither the flood nor the client waits on ARP.
timeout 10 ping -c 1 -W 2 "$TAPIR_IP" >/dev/null 2>&1

# The real client, in the background until the flood is over (it is stopped by pid in lib.sh's
# cleanup if the test dies; its own --max-seconds and socket timeouts bound it otherwise).
stopfile=$TEST_TMP/flood-over
client_out=$TEST_TMP/client.out
setpriv --pdeathsig TERM -- python3 "$TAPIR_ROOT/tests/integration/syn_flood_client.py" \
    "$TAPIR_IP" 7 "$stopfile" --max-seconds 150 >"$client_out" 2>"$TEST_TMP/client.err" \
    </dev/null 9>&- &
APP_PID=$!
for ((i = 0; i < 300; i++)); do # 30 s: python starts slowly on a loaded machine
    grep -q '^ready$' "$client_out" 2>/dev/null && break
    kill -0 "$APP_PID" 2>/dev/null || break
    sleep 0.1
done
grep -q '^ready$' "$client_out" 2>/dev/null || diag "the client did not say it was ready"

started=$SECONDS
bounded 120 hping3 -q -S --rand-source -p 7 -i u50 -c "$FLOOD_COUNT" "$TAPIR_IP" \
    >"$TEST_TMP/hping.out" 2>&1
hping_rc=$?
sent=$(awk '/packets transmitted/ {print $1}' "$TEST_TMP/hping.out")
diag "hping3 sent ${sent:-?} SYNs in about $((SECONDS - started)) s (exit status $hping_rc)"
# hping3 exits 1 when it saw no reply (to spoofed sources, there may be none): not a failure.
if [ "$hping_rc" -le 1 ] && [ "${sent:-0}" = "$FLOOD_COUNT" ]; then
    ok "hping3 sent its $FLOOD_COUNT spoofed SYNs"
else
    not_ok "hping3 sent its $FLOOD_COUNT spoofed SYNs"
    diag <"$TEST_TMP/hping.out"
fi

# The flood is over: the client makes its last connection and reports (bounded: 60 s).
touch "$stopfile"
for ((i = 0; i < 600; i++)); do
    kill -0 "$APP_PID" 2>/dev/null || break
    sleep 0.1
done
kill -s KILL "$APP_PID" 2>/dev/null
wait "$APP_PID" 2>/dev/null
client_rc=$?
APP_PID=
field() { awk -v k="$1" '$1 == k {print $2}' "$client_out"; }
conns=$(field connections)
good=$(field succeeded)
diag "client: ${conns:-?} connections, ${good:-?} succeeded, slowest $(field slowest_ms) ms" \
    "(exit status $client_rc)"
check_ge "the client kept connecting through the flood (at least 3 connections)" \
    "${conns:-missing}" 3
if [ -n "$conns" ] && [ "$client_rc" = 0 ] && [ "$good" = "$conns" ]; then
    ok "all $conns client connections during the flood connected, echoed and closed"
else
    not_ok "all ${conns:-?} client connections during the flood connected, echoed and closed"
    grep '^failure: ' "$client_out" | diag
    diag <"$TEST_TMP/client.err"
fi

check "tapir is still running after the flood" _tapir_running
check "ping is still answered after the flood" \
    bash -c "timeout 15 ping -c 3 -i 0.2 -W 2 $TAPIR_IP | grep -q ' 3 received'"

tapir_stats || not_ok "tapir prints its counters on SIGUSR1"
for c in "segments received" "segments sent" "connections established" \
    "SYN cookies sent (the SYN queue was full)" \
    "SYN cookies validated: connections opened from them" \
    "ACKs to a listener with no valid cookie (reset)" "SYNs dropped: listen queue full" \
    "retransmission timeouts" "connection blocks allocated" \
    "connection blocks refused: tcp_max_conns reached" "connection blocks freed"; do
    diag "Tcp: $(tapir_counter Tcp "$c") $c"
done
diag "Ip: $(tapir_counter Ip "dropped: source is broadcast, multicast or ours")" \
    "dropped: source is broadcast, multicast or ours"
# The whole Memory block of the last counters.
awk '/^Ethernet:$/ { n = 0; delete b } /^Memory:$/ { m = 1; next } /^[^ ]/ { m = 0 }
     m && /^    / { b[++n] = $0 } END { for (i = 1; i <= n; i++) print "Memory:" b[i] }' \
    "$TAPIR_OUT" | sed 's/:  */: /' | diag
check_ge "Tcp: the flood filled the SYN queue (SYN cookies sent > 0)" \
    "$(tapir_counter Tcp "SYN cookies sent (the SYN queue was full)")" 1
check_ge "Tcp: the client got in on SYN cookies (cookies validated > 0)" \
    "$(tapir_counter Tcp "SYN cookies validated: connections opened from them")" 1

# The namespace's kernel received the SYN,ACKs for the spoofed sources and dropped them.
snmp_ip() { awk -v k="$1" '/^Ip:/ { if (!n) { for (i = 2; i <= NF; i++) col[$i] = i; n = 1 }
                                    else print $col[k] }' /proc/net/snmp; }
diag "the namespace's kernel: $(snmp_ip InAddrErrors) datagrams for other addresses dropped," \
    "$(snmp_ip ForwDatagrams) forwarded"
check_eq "nothing was forwarded out of the namespace" "$(snmp_ip ForwDatagrams)" 0

check_peak_rss "$RSS_LIMIT_KB"

check_tapir_stopped_cleanly
done_testing
