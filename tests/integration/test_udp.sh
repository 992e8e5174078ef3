#!/usr/bin/env bash
# test_udp.sh: tapir's UDP echo (7) and discard (9) against python3's socket module and nc -u:
# byte-exact echoes from 0 to 65507 bytes, port unreachable reaching a connected socket as
# ConnectionRefusedError, a bad checksum counted, and a burst never corrupted.
set -u
. "$(dirname "$0")/lib.sh"

start_tapir || { not_ok "tapir starts"; done_testing; }
ok "tapir starts"

probe=$TEST_TMP/udp_probe.out
bounded 60 python3 "$(dirname "$0")/udp_probe.py" "$TAPIR_IP" >"$probe" 2>&1
grep -E '^(ok|not ok)' "$probe"
grep '^#' "$probe" | diag
lost=$(awk '/^BURST_LOST/ {print $2}' "$probe")

reply=$(printf 'hello tapir\n' | bounded 5 nc -u -w 1 "$TAPIR_IP" 7)
check "nc -u gets its line echoed" test "$reply" = "hello tapir"

# A datagram with a wrong checksum, written straight onto the link.
cat >"$TEST_TMP/bad_csum.py" <<'PY'
import socket, struct, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("tap0", 0))
src = bytes(map(int, "10.0.0.1".split("."))); dst = socket.inet_aton(sys.argv[1])
udp = struct.pack("!HHHH", 40000, 7, 12, 0x1234) + b"oops"
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, src, dst)
w = sum(struct.unpack("!10H", ip)); w = (w & 0xffff) + (w >> 16); w = (w & 0xffff) + (w >> 16)
ip = ip[:10] + struct.pack("!H", ~w & 0xffff) + ip[12:]
for _ in range(3):
    s.send(bytes.fromhex("027461706972") + bytes.fromhex("020000000001") + b"\x08\x00" + ip + udp)
PY
bounded 10 python3 "$TEST_TMP/bad_csum.py" "$TAPIR_IP"
sleep 0.3
tapir_stats || not_ok "tapir prints its counters on SIGUSR1"
check_ge "Udp: the bad checksums are counted" "$(tapir_counter Udp "dropped: bad checksum")" 3
check_ge "Udp: the closed port is counted" "$(tapir_counter Udp "dropped: no socket on the port")" 1
check_ge "Icmp: port unreachable sent" "$(tapir_counter Icmp "destination unreachable sent")" 1
# What the burst lost was counted somewhere: by tapir (a full receive buffer, a pool with no
# buffer, a frame the kernel would not take) or, on a loaded machine where tapir's thread
# waits for a core, by the kernel (tap0's queue to tapir full, or the client's socket full).
host_udp() {
    awk -v want="$1" '/^Udp:/ {
        if (!hdr) { for (i = 2; i <= NF; i++) name[i] = $i; hdr = 1; next }
        for (i = 2; i <= NF; i++) if (name[i] == want) print $i
    }' /proc/net/snmp
}
tap_dropped=$(ip -s link show tap0 | awk '/TX:/ {getline; print $4; exit}')
host_rcvbuf=$(host_udp RcvbufErrors)
diag "drops: tapir's receive buffer $(tapir_counter Udp "dropped: receive buffer full"), tap0's queue ${tap_dropped:-?}, the client's socket ${host_rcvbuf:-?}"
dropped=$(( $(tapir_counter Udp "dropped: receive buffer full") \
          + $(tapir_counter Ethernet "dropped: no free packet buffer") \
          + $(tapir_counter Ethernet "frames the driver failed to send") \
          + ${tap_dropped:-0} + ${host_rcvbuf:-0} ))
check_ge "every datagram the burst lost was counted as dropped (lost ${lost:-?})" \
    "$dropped" "${lost:-x}"
check_eq "Memory: no packet buffer held afterwards" \
    "$(tapir_counter Memory "packet buffers in use now")" 0
check "tapir is still running" _tapir_running

check_tapir_stopped_cleanly
done_testing
