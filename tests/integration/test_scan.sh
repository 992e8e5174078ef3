#!/usr/bin/env bash
# test_scan.sh: nmap sees tapir as it is, and tapir shrugs the scans off. A SYN scan of TCP ports
# 1-1024 with OS detection (nmap -sS -O: besides the SYNs, probes with odd flag combinations to
# an open and a closed port, an ICMP echo with odd codes, a UDP datagram to a closed port)
# finds exactly the services tapir serves open (echo 7, discard 9, daytime 13, chargen 19, HTTP
# 80) and every other port closed (tapir answers each with a reset, at least 1019 of them). A
# UDP scan of 7, 9, 53 and 123 finds echo and discard open (or open|filtered: a silent port may
# be either) and 53 and 123 closed (tapir's ICMP port unreachable). Afterwards every service
# still works (tests/integration/services_probe.py), ping is answered, and tapir exits cleanly.
set -u
. "$(dirname "$0")/lib.sh"

if ! command -v nmap >/dev/null 2>&1; then
    skip "nmap scans of tapir" "nmap is not installed (scripts/install-deps installs it)"
    done_testing
fi

TCP_OPEN="7 9 13 19 80"
# -n: no DNS; -T4 and few retries keep each scan to seconds (nmap still backs off if replies
# go missing); --host-timeout gives up before `bounded` has to.
NMAP=(nmap -n -T4 --max-retries 3 --host-timeout 100s)

start_tapir || { not_ok "tapir starts"; done_testing; }
ok "tapir starts"
timeout 10 ping -c 1 -W 2 "$TAPIR_IP" >/dev/null 2>&1 # ARP resolved before the scans

# gnmap_ports FILE: "PORT/PROTO STATE" for each port nmap listed (-oG's "Ports:" field).
gnmap_ports() {
    awk -F'\t' '{ for (i = 1; i <= NF; i++) if ($i ~ /^Ports: /) print substr($i, 8) }' "$1" |
        tr ',' '\n' | awk -F/ 'NF >= 3 { gsub(/ /, "", $1); print $1 "/" $3, $2 }'
}
# gnmap_ignored FILE STATE: how many ports nmap left out of the list in STATE (0 if none).
gnmap_ignored() {
    awk -F'\t' -v st="$2" '{ for (i = 1; i <= NF; i++) if ($i ~ /^Ignored State: /) {
            split(substr($i, 16), a, /[ ()]+/); if (a[1] == st) n += a[2] } }
        END { print n + 0 }' "$1"
}
# scan_ok NAME RC FILE: nmap finished, and found the host up.
scan_ok() {
    if [ "$2" = 0 ] && grep -q 'Status: Up' "$3"; then
        ok "nmap $1 finished and found $TAPIR_IP up"
    else
        not_ok "nmap $1 finished and found $TAPIR_IP up"
        diag "nmap exit status $2; its output:"
        diag <"$TEST_TMP/$1.txt"
    fi
}

# --- TCP: a SYN scan of 1-1024 with OS detection ---------------------------------------------

started=$SECONDS
bounded 150 "${NMAP[@]}" -sS -O -p 1-1024 -oG "$TEST_TMP/tcp.gnmap" -oX "$TEST_TMP/tcp.xml" \
    "$TAPIR_IP" >"$TEST_TMP/tcp.txt" 2>&1
rc=$?
diag "nmap -sS -O -p 1-1024 took about $((SECONDS - started)) s"
scan_ok tcp "$rc" "$TEST_TMP/tcp.gnmap"

open=$(gnmap_ports "$TEST_TMP/tcp.gnmap" | awk '$2 == "open" {sub(/\/tcp$/, "", $1); print $1}' |
    sort -n | tr '\n' ' ')
check_eq "TCP: exactly tapir's services are open ($TCP_OPEN)" "${open% }" "$TCP_OPEN"
listed_closed=$(gnmap_ports "$TEST_TMP/tcp.gnmap" | awk '$2 == "closed"' | wc -l)
closed=$(($(gnmap_ignored "$TEST_TMP/tcp.gnmap" closed) + listed_closed))
check_eq "TCP: the other 1019 ports of 1-1024 are closed" "$closed" 1019
others=$(gnmap_ports "$TEST_TMP/tcp.gnmap" | awk '$2 != "open" && $2 != "closed"')
[ -z "$others" ] || diag "TCP ports neither open nor closed: $others"

# OS detection needs an open and a closed TCP port, and a closed UDP port, to send its probes to.
if grep -q '<portused state="open" proto="tcp"' "$TEST_TMP/tcp.xml" &&
    grep -q '<portused state="closed" proto="tcp"' "$TEST_TMP/tcp.xml"; then
    ok "nmap -O probed an open and a closed TCP port"
else
    not_ok "nmap -O probed an open and a closed TCP port"
    grep -E '^(OS|Warning|Too many|No exact)' "$TEST_TMP/tcp.txt" | diag
fi
guess=$(sed -n 's/.*<osmatch name="\([^"]*\)" accuracy="\([0-9]*\)".*/\1 (\2%)/p' \
    "$TEST_TMP/tcp.xml" | head -n 1)
diag "nmap's best OS guess: ${guess:-none}"

# --- UDP: two served ports, two closed ones ---------------------------------------------------

started=$SECONDS
bounded 120 "${NMAP[@]}" -sU -p 7,9,53,123 -oG "$TEST_TMP/udp.gnmap" -oX "$TEST_TMP/udp.xml" \
    "$TAPIR_IP" >"$TEST_TMP/udp.txt" 2>&1
rc=$?
diag "nmap -sU -p 7,9,53,123 took about $((SECONDS - started)) s"
scan_ok udp "$rc" "$TEST_TMP/udp.gnmap"
gnmap_ports "$TEST_TMP/udp.gnmap" | sed 's/^/UDP /' | diag
udp_state() {
    local s
    s=$(gnmap_ports "$TEST_TMP/udp.gnmap" | awk -v p="$1/udp" '$1 == p {print $2}')
    # A port nmap left out of the list is in the "Ignored State" (with four ports, none is).
    [ -n "$s" ] || s="missing"
    echo "$s"
}
for p in 7 9; do
    s=$(udp_state "$p")
    case "$s" in
    open | "open|filtered") ok "UDP $p, served by tapir: $s" ;;
    *) not_ok "UDP $p, served by tapir: open or open|filtered, got $s" ;;
    esac
done
for p in 53 123; do
    check_eq "UDP $p, not served: closed (ICMP port unreachable)" "$(udp_state "$p")" closed
done

# --- after the scans: every service works ------------------------------------------------------

check "tapir is still running after the scans" _tapir_running
bounded 60 python3 -u "$TAPIR_ROOT/tests/integration/services_probe.py" "$TAPIR_IP" \
    >"$TEST_TMP/services.out" 2>&1
rc=$?
while IFS= read -r line; do
    case "$line" in
    "ok - "*) ok "after the scans: ${line#ok - }" ;;
    "not ok - "*) not_ok "after the scans: ${line#not ok - }" ;;
    "# "*) echo "$line" ;;
    *) echo "#   $line" ;; # a traceback, say
    esac
done <"$TEST_TMP/services.out"
[ "$rc" = 0 ] || [ "$rc" = 1 ] || not_ok "services_probe.py finished (exit status $rc)"
check "ping is still answered after the scans" \
    bash -c "timeout 15 ping -c 3 -i 0.2 -W 2 $TAPIR_IP | grep -q ' 3 received'"

tapir_stats || not_ok "tapir prints its counters on SIGUSR1"
for c in "segments received" "segments sent" "resets sent" \
    "segments for no connection (answered with a reset)" "connections established" \
    "SYNs in a synchronized state (RFC 5961 §4)" "challenge ACKs sent (RFC 5961)" \
    "connection blocks allocated" "connection blocks freed"; do
    diag "Tcp: $(tapir_counter Tcp "$c") $c"
done
for c in "datagrams received" "dropped: no socket on the port"; do
    diag "Udp: $(tapir_counter Udp "$c") $c"
done
for c in "echo requests received" "destination unreachable sent" "errors not sent: rate limit"; do
    diag "Icmp: $(tapir_counter Icmp "$c") $c"
done
check_ge "Tcp: a reset for each closed port scanned (at least 1019 resets sent)" \
    "$(tapir_counter Tcp "resets sent")" 1019
check_ge "Icmp: port unreachable sent for the closed UDP ports (at least 2)" \
    "$(tapir_counter Icmp "destination unreachable sent")" 2

check_peak_rss
check_tapir_stopped_cleanly
done_testing
