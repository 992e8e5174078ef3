# lib.sh: sourced by every tests/integration/test_*.sh. It moves the test into a private network
# namespace of its own (so nothing touches this machine's network), brings up tap0 there (host side
# 10.0.0.1/24), and gives the tests a few helpers:
#
#   start_tapir [ARGS]     starts $TAPIR_BUILD/tapir on tap0 as 10.0.0.2/24 (gw 10.0.0.1) in the
#                          background; waits until it has attached to tap0 (bounded)
#   stop_tapir [SIGNAL]    signals tapir by pid (default TERM), waits (bounded), then SIGKILL;
#                          leaves its exit status in TAPIR_RC
#   tapir_stats            asks the running tapir for its counters (SIGUSR1) and waits for them
#   tapir_counter [LAYER] TEXT
#                          prints the value of the counter named TEXT from the last counters tapir
#                          printed (on SIGUSR1 or at exit); LAYER (Ethernet, Arp, Ip, Icmp, Memory)
#                          narrows the search
#   start_app OUT READY_TEXT PROGRAM [ARGS]
#                          starts one of the demo programs in the background, output in OUT;
#                          waits (bounded) until READY_TEXT appears in it and tap0 has carrier
#   stop_app               SIGTERM to it by pid, bounded wait, then SIGKILL; status in APP_RC
#   bounded SECONDS CMD [ARGS]
#                          runs CMD under timeout in the background and waits for it, so a
#                          signal to the test (a suite timeout) is handled at once and CMD stopped
#   ok / not_ok / check / check_ge / check_le / check_eq / skip / diag / done_testing   TAP output
#
# Environment: TAPIR_BUILD (default build), the directory that holds the tapir binary, relative
# to the repository root or absolute; TAPIR_TEST_TIMEOUT (default 300) bounds one test file;
# TAPIR_TEST_KEEP=1 keeps the temporary directory (tapir's output, captures) for a look afterwards.
#
# Safety: tapir and every tool run inside the namespace; only 10.0.0.0/24 exists there. Processes
# are stopped by pid only. Every wait is bounded.

TAPIR_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TAPIR_TEST_SCRIPT=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
# shellcheck disable=SC2034 # used by the tests that source this file
TAPIR_MAC=02:74:61:70:69:72
TAPIR_IP=10.0.0.2
HOST_IP=10.0.0.1

# --- into a private network namespace -----------------------------------------------------------

# TAPIR_TEST_NETNS carries the outer namespace's identity: inside, ours must differ from it.
_tapir_netns_id() { readlink /proc/self/ns/net; }

if [ -z "${TAPIR_TEST_NETNS:-}" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "not ok - $(basename "$0") needs root (unshare --net, a TAP device); run it with sudo"
        exit 1
    fi
    TAPIR_TEST_NETNS=$(_tapir_netns_id)
    export TAPIR_TEST_NETNS
    # --kill-child (implies --fork): if unshare is killed (a timeout), the test shell gets SIGTERM
    # and cleans up; the namespace disappears with its last process.
    exec timeout --kill-after=10 "${TAPIR_TEST_TIMEOUT:-300}" \
        unshare --net --kill-child=TERM -- "$BASH" "$TAPIR_TEST_SCRIPT" "$@"
    echo "not ok - could not re-execute $0 under unshare --net"
    exit 1
fi
if [ "$(_tapir_netns_id)" = "$TAPIR_TEST_NETNS" ]; then
    echo "not ok - refusing to run: still in the original network namespace (TAPIR_TEST_NETNS set?)"
    exit 1
fi

# --- TAP output -----------------------------------------------------------------------------------

TAP_COUNT=0
TAP_FAILED=0

ok() {
    TAP_COUNT=$((TAP_COUNT + 1))
    echo "ok - $*"
}

not_ok() {
    TAP_COUNT=$((TAP_COUNT + 1))
    TAP_FAILED=$((TAP_FAILED + 1))
    echo "not ok - $*"
}

# skip DESCRIPTION REASON: a TAP skip, counted as passing.
skip() {
    TAP_COUNT=$((TAP_COUNT + 1))
    echo "ok - $1 # SKIP $2"
}

# diag TEXT...: a TAP comment; with no arguments, comments out stdin (bounded to 40 lines).
diag() {
    if [ $# -gt 0 ]; then
        echo "# $*"
    else
        head -n 40 | sed 's/^/#   /'
    fi
}

# check DESCRIPTION COMMAND [ARGS]: ok when the command succeeds.
check() {
    local desc=$1
    shift
    if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

_is_number() { [[ "${1:-}" =~ ^[0-9]+$ ]]; }

# check_ge DESCRIPTION ACTUAL MINIMUM
check_ge() {
    if _is_number "$2" && _is_number "$3" && [ "$2" -ge "$3" ]; then
        ok "$1"
    else
        not_ok "$1"
        diag "got '${2:-}', want at least '${3:-}'"
    fi
}

# check_le DESCRIPTION ACTUAL MAXIMUM
check_le() {
    if _is_number "$2" && _is_number "$3" && [ "$2" -le "$3" ]; then
        ok "$1"
    else
        not_ok "$1"
        diag "got '${2:-}', want at most '${3:-}'"
    fi
}

# check_eq DESCRIPTION ACTUAL EXPECTED
check_eq() {
    if [ "${2:-}" = "${3:-}" ]; then
        ok "$1"
    else
        not_ok "$1"
        diag "got '${2:-}', want '${3:-}'"
    fi
}

# done_testing: prints the plan and exits non-zero if anything failed.
done_testing() {
    echo "1..$TAP_COUNT"
    [ "$TAP_FAILED" -eq 0 ] && exit 0
    exit 1
}

# --- the namespace: lo, no IPv6, tap0 ------------------------------------------------------------

TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/tapir-test.XXXXXX") || {
    echo "not ok - mktemp failed"
    exit 1
}
TAPIR_PID=
_BOUNDED_PID=
TAPIR_RC=
TAPIR_OUT=
TAPIR_ERR=
_tapir_runs=0

case "${TAPIR_BUILD:-build}" in
/*) TAPIR="${TAPIR_BUILD}/tapir" ;;
*) TAPIR="$TAPIR_ROOT/${TAPIR_BUILD:-build}/tapir" ;;
esac

exec 9>&1 # the test's stdout, for messages from traps
_cleanup() {
    local rc=$?
    exec 1>&9 # a trap may have fired inside a redirection
    [ -n "${APP_PID:-}" ] && kill -s KILL "$APP_PID" 2>/dev/null
    if [ -n "$_BOUNDED_PID" ]; then
        kill -s TERM "$_BOUNDED_PID" 2>/dev/null # timeout passes it on to its command
        wait "$_BOUNDED_PID" 2>/dev/null
    fi
    if [ -n "$TAPIR_PID" ]; then
        stop_tapir TERM >/dev/null 2>&1
        if _tapir_sanitizer_report; then
            echo "not ok - tapir's sanitizer report (found while cleaning up)"
            sed 's/^/#   /' "$TAPIR_ERR" | head -n 60
            rc=1
        fi
    fi
    if [ -n "${TAPIR_TEST_KEEP:-}" ]; then
        echo "# kept $TEST_TMP (TAPIR_TEST_KEEP)"
    else
        rm -rf "$TEST_TMP"
    fi
    exit "$rc"
}
trap _cleanup EXIT
_interrupted() {
    # A trap can run inside a command's redirection (bounded ... >file): write to the test's own
    # stdout, saved as fd 9 above.
    not_ok "$(basename "$TAPIR_TEST_SCRIPT") interrupted by SIG$1 (a timeout?)" >&9
    exit "$2"
}
trap '_interrupted TERM 143' TERM
trap '_interrupted INT 130' INT

ip link set lo up
# Before tap0 exists: the host's IPv6 chatter (router solicitations, MLD) would disturb counters.
sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
if ! "$TAPIR_ROOT/scripts/tap-up" tap0 "$HOST_IP/24" >"$TEST_TMP/tap-up.log" 2>&1; then
    echo "not ok - scripts/tap-up tap0 $HOST_IP/24 failed"
    diag <"$TEST_TMP/tap-up.log"
    exit 1
fi

if [ ! -x "$TAPIR" ]; then
    echo "not ok - $TAPIR is not built (make all, or set TAPIR_BUILD)"
    exit 1
fi

# bounded SECONDS CMD [ARGS...]: CMD's exit status (124 when it timed out). Bash runs a trap only
# between commands, and `wait` is such a point; a long command in the foreground would hold the
# test's cleanup back until it finished.
bounded() {
    local secs=$1 rc
    shift
    timeout --kill-after=5 "$secs" "$@" 9>&- &
    _BOUNDED_PID=$!
    wait "$_BOUNDED_PID"
    rc=$?
    _BOUNDED_PID=
    return "$rc"
}

# --- the demo programs (apps/) ---------------------------------------------------------------

APP_PID=
APP_RC=

start_app() {
    local out=$1 ready=$2 i
    shift 2
    setpriv --pdeathsig TERM -- "$@" >"$out" 2>"$out.err" </dev/null 9>&- &
    APP_PID=$!
    for ((i = 0; i < 200; i++)); do # 10 s
        grep -q "$ready" "$out" 2>/dev/null && ip link show tap0 | grep -q LOWER_UP && return 0
        kill -0 "$APP_PID" 2>/dev/null || break
        sleep 0.05
    done
    diag "$* did not become ready; its output:"
    diag <"$out"
    diag <"$out.err"
    return 1
}

stop_app() {
    local i
    [ -n "$APP_PID" ] || return 1
    kill -s TERM "$APP_PID" 2>/dev/null
    for ((i = 0; i < 100; i++)); do
        kill -0 "$APP_PID" 2>/dev/null || break
        sleep 0.05
    done
    kill -s KILL "$APP_PID" 2>/dev/null
    wait "$APP_PID" 2>/dev/null
    APP_RC=$?
    APP_PID=
}

# --- tapir ---------------------------------------------------------------------------------------

# True when the binary was built with AddressSanitizer.
tapir_is_sanitized() { grep -qa '__asan_init' "$TAPIR"; }

# True when tapir's stderr holds an ASan/UBSan/LSan report.
_tapir_sanitizer_report() {
    [ -n "$TAPIR_ERR" ] && [ -f "$TAPIR_ERR" ] &&
        grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: UndefinedBehaviorSanitizer' "$TAPIR_ERR"
}

_tapir_running() {
    [ -n "$TAPIR_PID" ] || return 1
    local state
    state=$(awk '{print $3}' "/proc/$TAPIR_PID/stat" 2>/dev/null) || return 1
    [ -n "$state" ] && [ "$state" != Z ]
}

# start_tapir [ARGS...]: starts tapir on tap0 with our address and gateway plus ARGS. Returns 0 once
# it has printed its interface line and tap0 has carrier (it holds the TAP open); 1 otherwise.
start_tapir() {
    if [ -n "$TAPIR_PID" ]; then
        echo "# start_tapir: tapir is already running (pid $TAPIR_PID)"
        return 1
    fi
    _tapir_runs=$((_tapir_runs + 1))
    TAPIR_OUT=$TEST_TMP/tapir.$_tapir_runs.out
    TAPIR_ERR=$TEST_TMP/tapir.$_tapir_runs.err
    TAPIR_RC=
    # A background job in a script has SIGINT ignored; give tapir the default back so tests can
    # send it SIGINT (coreutils >= 8.31). --pdeathsig: tapir gets SIGTERM if this shell dies
    # without cleaning up.
    local reset=(env "--default-signal=INT,QUIT")
    env --default-signal=INT true 2>/dev/null || reset=(env)
    "${reset[@]}" setpriv --pdeathsig TERM -- \
        "$TAPIR" --tap tap0 --ip "$TAPIR_IP/24" --gw "$HOST_IP" "$@" \
        >"$TAPIR_OUT" 2>"$TAPIR_ERR" </dev/null 9>&- &
    TAPIR_PID=$!
    local i
    for ((i = 0; i < 200; i++)); do # 10 s
        if ! _tapir_running; then
            echo "# start_tapir: tapir exited during start-up; its output:"
            sed 's/^/#   /' "$TAPIR_OUT" "$TAPIR_ERR" | head -n 40
            wait "$TAPIR_PID" 2>/dev/null
            TAPIR_RC=$?
            TAPIR_PID=
            return 1
        fi
        if grep -q ' on tap0, mac ' "$TAPIR_OUT" && ip link show tap0 | grep -q 'LOWER_UP'; then
            echo "# $(head -n 1 "$TAPIR_OUT") [pid $TAPIR_PID, $TAPIR]"
            return 0
        fi
        sleep 0.05
    done
    echo "# start_tapir: tapir did not attach to tap0 within 10 s"
    return 1
}

# stop_tapir [SIGNAL]: sends SIGNAL (default TERM) to tapir, waits up to 10 s, then SIGKILL.
# Sets TAPIR_RC to its exit status; returns 0 if it exited by itself.
stop_tapir() {
    local sig=${1:-TERM} i graceful=0
    [ -n "$TAPIR_PID" ] || return 1
    kill -s "$sig" "$TAPIR_PID" 2>/dev/null
    for ((i = 0; i < 200; i++)); do
        _tapir_running || { graceful=1; break; }
        sleep 0.05
    done
    if [ "$graceful" -eq 0 ]; then
        echo "# stop_tapir: tapir ignored SIG$sig for 10 s; sending SIGKILL"
        kill -s KILL "$TAPIR_PID" 2>/dev/null
    fi
    wait "$TAPIR_PID" 2>/dev/null
    TAPIR_RC=$?
    TAPIR_PID=
    [ "$graceful" -eq 1 ]
}

# check_tapir_stopped_cleanly: stops tapir (SIGTERM) and reports exit 0 and no sanitizer report.
check_tapir_stopped_cleanly() {
    stop_tapir TERM
    if [ "$TAPIR_RC" = 0 ] && ! _tapir_sanitizer_report; then
        ok "tapir exits 0 on SIGTERM with no sanitizer report"
    else
        not_ok "tapir exits 0 on SIGTERM with no sanitizer report"
        diag "exit status $TAPIR_RC; stderr:"
        diag <"$TAPIR_ERR"
    fi
}

# The number of complete counter blocks tapir has printed so far.
_tapir_blocks() { grep -c 'packet buffers in use at most$' "$TAPIR_OUT" 2>/dev/null; }

# tapir_stats: SIGUSR1, then waits (up to 5 s) until the new block is complete.
tapir_stats() {
    _tapir_running || return 1
    local before i
    before=$(_tapir_blocks)
    kill -s USR1 "$TAPIR_PID"
    for ((i = 0; i < 100; i++)); do
        [ "$(_tapir_blocks)" -gt "$before" ] && return 0
        sleep 0.05
    done
    echo "# tapir_stats: no counters within 5 s of SIGUSR1"
    return 1
}

# tapir_counter [LAYER] TEXT: the value of the counter printed as "    N TEXT" in the last block.
tapir_counter() {
    local layer='' text
    if [ $# -ge 2 ]; then
        layer=$1
        text=$2
    else
        text=$1
    fi
    [ -f "$TAPIR_OUT" ] || return 1
    awk -v want="$text" -v layer="$layer" '
        /^Ethernet:$/ { blk++ }
        /^[A-Z][a-z]+:$/ { cur = substr($0, 1, length($0) - 1); next }
        /^    [0-9]+ / {
            line = substr($0, 5); num = line; sub(/ .*/, "", num)
            txt = substr(line, length(num) + 2)
            if (txt == want && (layer == "" || cur == layer)) { v = num; found = blk; hits[blk]++ }
        }
        END { if (blk > 0 && found == blk && hits[blk] == 1) print v; else exit 1 }
    ' "$TAPIR_OUT"
}

# check_peak_rss [LIMIT_KB]: reports tapir's peak resident set (VmHWM) and checks it is under
# LIMIT_KB (default 65536: the default memory budget, 64 MiB). Skipped for a sanitizer build,
# whose shadow memory makes the figure meaningless.
check_peak_rss() {
    local limit=${1:-65536} hwm
    hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$TAPIR_PID/status" 2>/dev/null)
    diag "tapir's peak RSS (VmHWM): ${hwm:-?} kB"
    if tapir_is_sanitized; then
        skip "peak RSS under $limit kB" "sanitizer build (VmHWM ${hwm:-?} kB)"
    else
        check_le "peak RSS under $limit kB (${hwm:-?} kB)" "${hwm:-missing}" "$limit"
    fi
}

# tapir_vmrss_kb: tapir's resident set size in kB.
tapir_vmrss_kb() {
    awk '/^VmRSS:/ {print $2}' "/proc/$TAPIR_PID/status" 2>/dev/null
}
