#!/usr/bin/env bash
# test_mem_budget.sh: tapir with a small memory budget (--mem-budget 12) under a client that
# pushes its echo service far past it: 16 connections each send 3 MiB and read nothing until
# everything has been written (tests/integration/mem_pressure_client.py). The stack fills its
# budget and refuses the rest, counted (allocations refused, data dropped for want of memory);
# its own count of memory in use never passes the budget, and its resident memory grows by no
# more than the budget. Then the client reads: every byte of every connection comes back in
# order (nothing already accepted was lost: what was dropped is sent again), the stack gives
# its memory back, and a new connection and ping work as before. Peak resident memory is
# printed.
set -u
. "$(dirname "$0")/lib.sh"

BUDGET_MIB=12
CONNS=16
BYTES=$((3 << 20))

start_tapir --mem-budget "$BUDGET_MIB" || { not_ok "tapir starts"; done_testing; }
ok "tapir starts with --mem-budget $BUDGET_MIB"
base_kb=$(tapir_vmrss_kb)
diag "VmRSS after start-up: ${base_kb:-?} kB"

fifo=$TEST_TMP/go
mkfifo "$fifo"
client_out=$TEST_TMP/client.out
python3 "$TAPIR_ROOT/tests/integration/mem_pressure_client.py" "$TAPIR_IP" 7 "$CONNS" "$BYTES" 8 \
    <"$fifo" >"$client_out" 2>"$TEST_TMP/client.err" &
client=$!
exec 8>"$fifo"
for ((i = 0; i < 300; i++)); do # 30 s
    grep -q '^full' "$client_out" && break
    kill -0 "$client" 2>/dev/null || break
    sleep 0.1
done
check "the client wrote without reading ($(head -n 1 "$client_out") bytes)" grep -q '^full' "$client_out"

# Under pressure: the budget is full, the refusals counted, the limit kept.
tapir_stats
budget=$((BUDGET_MIB << 20))
in_use=$(tapir_counter Memory "bytes in use now (of the memory budget)")
max_use=$(tapir_counter Memory "bytes in use at most")
refused=$(tapir_counter Memory "allocations refused: over the memory budget")
nomem=$(tapir_counter Tcp "dropped: no memory to hold the data (memory budget)")
diag "under pressure: in use ${in_use:-?} B, at most ${max_use:-?} B of $budget; refused ${refused:-?}, segments dropped ${nomem:-?}"
check_le "in use at most stays within the budget" "${max_use:-missing}" "$budget"
check_ge "the budget was reached: most of it in use at its peak" "${max_use:-0}" $((budget * 3 / 4))
check_ge "allocations over the budget were refused (counted)" "${refused:-0}" 1
check_ge "segments with no memory for them were dropped (counted)" "${nomem:-0}" 1
if tapir_is_sanitized; then
    skip "VmHWM within the budget of start-up" "sanitizer build"
else
    hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$TAPIR_PID/status")
    diag "peak VmHWM ${hwm:-?} kB (start-up ${base_kb:-?} kB, budget $((budget >> 10)) kB)"
    # The stack's memory is within the budget; the echo service may hold one buffer per
    # connection of its own (64 KiB each) on top.
    check_le "VmHWM grew by no more than the budget and the service's own buffers" \
        "$(( ${hwm:-999999999} - ${base_kb:-0} ))" $(((budget >> 10) + CONNS * 64 + 2048))
fi
# A connection while the budget is spent: refused or served, never a crash.
bounded 10 python3 -c 'import socket; s = socket.create_connection(("10.0.0.2", 7), timeout=5)' \
    >/dev/null 2>&1
check "tapir is alive under pressure" _tapir_running

# The client reads: everything comes back.
echo go >&8
exec 8>&-
wait "$client"
rc=$?
check_eq "the client read every echo back" "$rc" 0
check "all $CONNS connections came back byte-exact" grep -qx "echoed $CONNS exact $CONNS" "$client_out"
[ "$rc" -eq 0 ] || diag <"$TEST_TMP/client.err"

# And the stack recovers.
check "a new connection echoes once the pressure is gone" \
    bounded 20 python3 -c '
import socket
s = socket.create_connection(("10.0.0.2", 7), timeout=5)
s.sendall(b"after the storm\n")
got = b""
while len(got) < 16:
    got += s.recv(100)
assert got == b"after the storm\n", got
'
bounded 10 ping -c 2 -i 0.2 -W 2 "$TAPIR_IP" >"$TEST_TMP/ping.out" 2>&1
check_eq "ping works" "$?" 0
sleep 1
tapir_stats
after=$(tapir_counter Memory "bytes in use now (of the memory budget)")
diag "in use after: ${after:-?} B"
check_le "the memory came back (under a quarter of the budget in use)" "${after:-missing}" $((budget / 4))

check_tapir_stopped_cleanly
done_testing
