#!/usr/bin/env bash
# test_faults.sh: fault injection against the kernel's own stack. With --loss 0.2 (each way) a
# burst of pings loses some replies but not all, and tapir's Faults counters show the frames
# lost; --delay 50 (each way) makes every round trip, ping or UDP echo, take at least 100 ms
# (and not much more); 1 MiB echoed over TCP through --delay 10 --rate 20mbit comes back intact
# and no faster than the bottleneck allows; --rate 1mbit makes a full-size ping's round trip
# take at least its two serializations (2 x 12.1 ms). Each run exits 0 on SIGTERM with the
# Faults block in its last counters.
set -u
. "$(dirname "$0")/lib.sh"

# faults NAME: a counter from the Faults block tapir printed last (on its way out).
faults() { tapir_counter Faults "$1"; }

# min_rtt_ms FILE: ping's minimum round trip, in whole milliseconds (rounded down).
min_rtt_ms() { awk '/^rtt min/ { split($0, a, "= "); split(a[2], b, "/"); print int(b[1]) }' "$1"; }

# stop_and_check NAME: stops tapir, which prints its counters on the way out.
stop_and_check() {
    stop_tapir TERM
    check_eq "$1: tapir exits 0 on SIGTERM" "$TAPIR_RC" 0
    check "$1: the last counters include the Faults block" grep -q '^Faults:$' "$TAPIR_OUT"
    if _tapir_sanitizer_report; then
        not_ok "$1: no sanitizer report"
        diag <"$TAPIR_ERR"
    fi
}

# --- loss: some replies lost, not all ---
start_tapir --loss 0.2 --seed 1 || { not_ok "tapir --loss 0.2 starts"; done_testing; }
ok "tapir --loss 0.2 --seed 1 starts"
check "the faults are announced" grep -q '^tapir: faults each way: loss 20%$' "$TAPIR_OUT"
# Resolve ARP both ways first (through the same 20% loss: one ping at a time until one is
# answered), so the burst below measures the pings alone; the kernel would drop most of a
# burst sent while it waits for an ARP reply.
answered=no
for ((i = 0; i < 20; i++)); do
    bounded 5 ping -c 1 -W 1 "$TAPIR_IP" >>"$TEST_TMP/warmup.out" 2>&1 && { answered=yes; break; }
done
check_eq "a ping is answered through the loss (ARP resolved both ways)" "$answered" yes
bounded 15 ping -c 50 -i 0.01 -W 1 "$TAPIR_IP" >"$TEST_TMP/loss.out" 2>&1
received=$(grep -oE '[0-9]+ received' "$TEST_TMP/loss.out" | grep -oE '^[0-9]+')
diag "ping -c 50 through 20% loss each way: ${received:-?} replies (about 32 expected)"
check_ge "some of 50 pings are answered through 20% loss" "${received:-0}" 1
check_le "not all of 50 pings are answered through 20% loss" "${received:-50}" 49
stop_and_check "--loss 0.2"
lost=$(faults "frames lost")
diag "Faults: ${lost:-?} lost of $(faults "frames from the kernel") in and $(faults "frames from tapir") out"
check_ge "the Faults counters show frames lost" "${lost:-0}" 1
check_eq "nothing else was done to the frames" \
    "$(faults "frames duplicated") $(faults "frames corrupted") $(faults "frames dropped: bottleneck queue full")" "0 0 0"

# --- delay: 50 ms each way ---
start_tapir --delay 50 || { not_ok "tapir --delay 50 starts"; done_testing; }
ok "tapir --delay 50 starts"
bounded 10 ping -c 5 -i 0.2 -W 2 "$TAPIR_IP" >"$TEST_TMP/delay.out" 2>&1
check "ping is answered through the delay" grep -q ' 5 received' "$TEST_TMP/delay.out"
rtt=$(min_rtt_ms "$TEST_TMP/delay.out")
diag "ping through 50 ms each way: min rtt ${rtt:-?} ms"
check_ge "every round trip takes at least 100 ms" "${rtt:-0}" 100
check_le "and not much more (the delay is not applied twice)" "${rtt:-1000}" 150
# A UDP echo is answered by an application thread (tapir's echo service), not the host thread.
UDP_RTT_PY='
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3); best = 10**9
for i in range(3):
    t0 = time.monotonic(); s.sendto(b"x", (sys.argv[1], 7)); s.recvfrom(64)
    best = min(best, int((time.monotonic() - t0) * 1000)); time.sleep(0.1)
print(best)
'
rtt=$(bounded 15 python3 -c "$UDP_RTT_PY" "$TAPIR_IP" 2>&1)
diag "UDP echo through 50 ms each way: min rtt ${rtt:-?} ms"
check_ge "a UDP echo, answered by an application thread, takes at least 100 ms" "${rtt:-0}" 100
check_le "and is sent when due (not at the host thread's next wake)" "${rtt:-1000}" 150
stop_and_check "--delay 50"
check_eq "no frame lost without --loss" "$(faults "frames lost")" 0

# echo_through BYTES: sends BYTES random bytes to tapir's TCP echo (port 7) while reading them
# back; prints "ok MS" with the milliseconds it took when every byte came back in order.
ECHO_PY='
import os, socket, sys, threading, time
n = int(sys.argv[2]); data = os.urandom(n); t0 = time.monotonic()
s = socket.create_connection((sys.argv[1], 7), timeout=20)
t = threading.Thread(target=s.sendall, args=(data,)); t.start()
got = bytearray()
while len(got) < n:
    chunk = s.recv(65536)
    if not chunk: break
    got += chunk
t.join(); s.close()
print("ok" if bytes(got) == data else "bad", int((time.monotonic() - t0) * 1000))
'
echo_through() { bounded 30 python3 -c "$ECHO_PY" "$TAPIR_IP" "$1" 2>&1; }

# --- a TCP stream through delay and a bottleneck ---
# Here the frames held on their way out come from an application thread (tapir's echo
# service), not from the host thread answering pings: the link must wake the host thread to
# send them when due.
start_tapir --delay 10 --rate 20mbit || { not_ok "tapir --delay 10 --rate 20mbit starts"; done_testing; }
ok "tapir --delay 10 --rate 20mbit starts"
read -r verdict ms < <(echo_through 1048576)
diag "1 MiB echoed through 10 ms and 20 Mbit/s each way: ${verdict:-?} in ${ms:-?} ms"
check_eq "1 MiB comes back from the echo service byte for byte" "${verdict:-}" ok
# 1 MiB at 20 Mbit/s is 419 ms on the wire each way, headers aside.
check_ge "the bottleneck paces it: at least 419 ms" "${ms:-0}" 419
stop_and_check "--delay 10 --rate 20mbit"
check_eq "no frame held in flight was refused for room" \
    "$(faults "frames dropped: no room to hold them")" 0

# --- rate: 1 Mbit/s each way ---
start_tapir --rate 1mbit || { not_ok "tapir --rate 1mbit starts"; done_testing; }
ok "tapir --rate 1mbit starts"
# 1472 bytes of ICMP data make a 1514-byte frame: 12.1 ms at 1 Mbit/s, once each way.
bounded 10 ping -c 3 -i 0.2 -s 1472 -W 2 "$TAPIR_IP" >"$TEST_TMP/rate.out" 2>&1
check "full-size pings are answered through the bottleneck" grep -q ' 3 received' "$TEST_TMP/rate.out"
rtt=$(min_rtt_ms "$TEST_TMP/rate.out")
diag "1514-byte frames at 1 Mbit/s each way: min rtt ${rtt:-?} ms"
check_ge "a full-size round trip takes at least two serializations (24 ms)" "${rtt:-0}" 24
stop_and_check "--rate 1mbit"

done_testing
