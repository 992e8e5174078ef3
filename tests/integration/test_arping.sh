#!/usr/bin/env bash
# test_arping.sh: ARP. tapir announces itself with a gratuitous ARP when it starts (seen on the
# wire and in its counters), answers arping for 10.0.0.2 with its MAC, ignores requests for other
# addresses, and the host's neighbour table learns tapir's MAC from a ping.
set -u
. "$(dirname "$0")/lib.sh"

# Watch tap0 from the host side before tapir starts, to see its gratuitous ARP on the wire.
cat >"$TEST_TMP/sniff_arp.py" <<'PY'
import socket, struct, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
s.bind(("tap0", 0))
s.settimeout(0.2)
print("listening", flush=True)
deadline = time.time() + float(sys.argv[1])
while time.time() < deadline:
    try:
        f = s.recv(2048)
    except socket.timeout:
        continue
    if len(f) < 42:
        continue
    htype, ptype, hlen, plen, op = struct.unpack("!HHBBH", f[14:22])
    mac = lambda b: ":".join("%02x" % x for x in b)
    print("arp op %d dst %s src %s sha %s spa %s tha %s tpa %s" % (
        op, mac(f[0:6]), mac(f[6:12]), mac(f[22:28]), socket.inet_ntoa(f[28:32]),
        mac(f[32:38]), socket.inet_ntoa(f[38:42])), flush=True)
PY
sniff=$TEST_TMP/sniff.out
timeout 20 python3 "$TEST_TMP/sniff_arp.py" 3 >"$sniff" 2>&1 &
sniff_pid=$!
for ((i = 0; i < 100; i++)); do grep -q listening "$sniff" && break; sleep 0.05; done

if ! start_tapir; then
    not_ok "tapir starts"
    kill "$sniff_pid" 2>/dev/null
    done_testing
fi
ok "tapir starts"
wait "$sniff_pid"

# RFC 5227 announcement: a broadcast request with sender and target both 10.0.0.2.
if grep -q "^arp op 1 dst ff:ff:ff:ff:ff:ff src $TAPIR_MAC sha $TAPIR_MAC spa $TAPIR_IP tha 00:00:00:00:00:00 tpa $TAPIR_IP\$" "$sniff"; then
    ok "a gratuitous ARP for $TAPIR_IP from $TAPIR_MAC is on the wire at start"
else
    not_ok "a gratuitous ARP for $TAPIR_IP from $TAPIR_MAC is on the wire at start"
    diag <"$sniff"
fi

out=$TEST_TMP/arping.out
bounded 15 arping -c 3 -w 10 -I tap0 "$TAPIR_IP" >"$out" 2>&1
if grep -qi 'Received 3 response' "$out"; then
    ok "arping -c 3: 3 replies"
else
    not_ok "arping -c 3: 3 replies"
    diag <"$out"
fi
check_eq "arping: every reply comes from $TAPIR_MAC" \
    "$(grep -ci "reply from $TAPIR_IP \[$TAPIR_MAC\]" "$out")" 3

out=$TEST_TMP/arping-other.out
bounded 15 arping -c 2 -w 3 -I tap0 10.0.0.3 >"$out" 2>&1
if grep -qi 'Received 0 response' "$out"; then
    ok "arping for 10.0.0.3 (not tapir's address): no reply"
else
    not_ok "arping for 10.0.0.3 (not tapir's address): no reply"
    diag <"$out"
fi

ip neigh flush dev tap0 >/dev/null 2>&1
timeout 10 ping -c 1 -W 2 "$TAPIR_IP" >/dev/null 2>&1
neigh=$(ip neigh show "$TAPIR_IP" dev tap0)
if echo "$neigh" | grep -qi "lladdr $TAPIR_MAC"; then
    ok "ip neigh shows $TAPIR_IP at $TAPIR_MAC after a ping"
else
    not_ok "ip neigh shows $TAPIR_IP at $TAPIR_MAC after a ping"
    diag "ip neigh: $neigh"
fi

tapir_stats || not_ok "tapir prints its counters on SIGUSR1"
check_ge "Arp: gratuitous announcements sent" "$(tapir_counter Arp "gratuitous announcements sent")" 1
check_ge "Arp: requests received (arping's 3, the other 2, the kernel's)" \
    "$(tapir_counter Arp "requests received")" 5
check_ge "Arp: replies sent for arping's requests" "$(tapir_counter Arp "replies sent")" 3

check_tapir_stopped_cleanly
done_testing
