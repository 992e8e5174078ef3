# SPDX-License-Identifier: MIT
# tapir.py: gdb commands for looking inside a running tapir stack.
#   gdb -x scripts/gdb/tapir.py build/debug/tapir
# (A .gdbinit in the repository would be refused by gdb's auto-load safe path unless you add
# the directory to it; loading this file with -x always works.)
#
#   tapir-arp  [EXPR]   the ARP cache of the struct tapir_stack * EXPR, one line per entry
#   tapir-frag [EXPR]   datagrams in reassembly
#   tapir-stats [EXPR]  every non-zero counter
#   tapir-conns [EXPR]  every TCP listener (with its queues) and every connection, one line each
#   p *c                a struct tcp_conn, pretty-printed on one line: state, addresses,
#                       sequence numbers relative to the ISNs, windows, queues, congestion
#                       control (cwnd, ssthresh, recovery, the SACK scoreboard), RTT and RTO,
#                       armed timers, flags such as tlp_out (p/r *c: raw fields)
#
# Without EXPR a command looks for the stack itself: st in the selected frame, else c->st,
# l->st, s->st or h->st there, else the shim's default host ('socket.c'::fdt).
import errno

import gdb
import gdb.printing

TIMER_IDLE = 0xFFFFFFFF
TCP_WINDOW_MAX = 65535
TCP_SSTHRESH_INFINITE = 0x7FFFFFFF  # tcp_cc.c: "arbitrarily high" (RFC 5681 §3.1)


def _ip(v):
    v = int(v)
    return "%d.%d.%d.%d" % (v >> 24, (v >> 16) & 255, (v >> 8) & 255, v & 255)


def _stack(arg):
    if not arg:
        return _find_stack()
    st = gdb.parse_and_eval(arg)
    if st.type.code == gdb.TYPE_CODE_PTR:
        st = st.dereference()
    return st


# Where a stack is usually within reach: the core's functions take st, or c (a connection),
# l (a listener), s (a socket); host_main has h; the shim keeps the default host in fdt.
_STACK_EXPRS = ("st", "c->st", "l->st", "s->st", "h->st", "'socket.c'::fdt.default_host->st")


def _find_stack():
    for expr in _STACK_EXPRS:
        try:
            v = gdb.parse_and_eval(expr)
            t = v.type.strip_typedefs()
            if t.code == gdb.TYPE_CODE_PTR:
                if t.target().strip_typedefs().tag != "tapir_stack" or not int(v):
                    continue
                v = v.dereference()
            elif t.tag != "tapir_stack":
                continue
            v.fetch_lazy()  # a wild pointer fails here, not halfway through a listing
            return v
        except (gdb.error, gdb.MemoryError, RuntimeError):
            continue
    raise gdb.GdbError("no struct tapir_stack in reach here; name one, e.g. c->st or h->st")


# ---- TCP ------------------------------------------------------------------------------------


def _seq(a, b):
    """a - b modulo 2^32, as the stack counts sequence numbers."""
    return (int(a) - int(b)) & 0xFFFFFFFF


_state_count_cache = []


def _state_count():
    """TCP_STATE_COUNT from the program's enum (11: CLOSED to TIME_WAIT)."""
    if not _state_count_cache:
        try:
            _state_count_cache.append(int(gdb.parse_and_eval("TCP_STATE_COUNT")))
        except gdb.error:
            return 11
    return _state_count_cache[0]


def _state(c):
    name = str(c["state"])  # the enumerator, TCP_ESTABLISHED, as tcp_state_name() without TCP_
    return name[4:] if name.startswith("TCP_") else name


def _endpoint(addr, port):
    return "%s:%d" % (_ip(addr), int(port))


def _rcv_window(c):
    """The window we offer now, as tcp_rcv_window() (tcp_output.c) computes it: free receive
    space less the rounding slack of window scaling, never less than what is left of the
    window last advertised (rcv_adv), moved only by a useful step (receiver SWS avoidance),
    at most 65535 << rcv_wscale."""
    ws_ok = bool(c["ws_ok"])
    wscale = int(c["rcv_wscale"]) if ws_ok else 0
    slack = (1 << wscale) - 1 if ws_ok else 0
    limit, held = int(c["rcvq"]["limit"]), int(c["rcvq"]["len"])
    free = (limit - held) & 0xFFFFFFFF  # unsigned, as in C
    free = free - slack if free > slack else 0
    left = _seq(c["rcv_adv"], c["rcv_nxt"])
    offered = left if 0 < left < 0x80000000 else 0
    step = min(limit // 2, int(c["rcv_mss"]))
    w = free if free > offered and free - offered >= step else offered
    return min(w, TCP_WINDOW_MAX << wscale)


def _ms(us):
    """Microseconds as milliseconds, with the digits that matter: 0.153, 12.5, 200."""
    ms = int(us) / 1000.0
    if ms >= 100 or ms == int(ms):
        return "%d" % round(ms)
    return "%.1f" % ms if ms >= 10 else "%.3f" % ms


# The connection's timers, in the order they matter to a reader. The retransmission timer
# doubles as the tail loss probe's (RFC 8985 §7.2) while tlp_armed is set: shown as "tlp".
_TIMERS = ("rexmit", "persist", "delack", "keepalive", "rack_timer", "timewait")


def _timers(c, now):
    armed = []
    for name in _TIMERS:
        t = c[name]
        if int(t["heap_index"]) != TIMER_IDLE:
            left = (int(t["deadline_us"]) - now) / 1e6 if now is not None else float("nan")
            label = {"rack_timer": "rack"}.get(name, name)
            if name == "rexmit" and bool(c["tlp_armed"]):
                label = "tlp"
            armed.append("%s in %.3f s" % (label, left))
    return ", ".join(armed) or "none"


def _congestion(c):
    """cwnd and ssthresh (from the end of the handshake on), recovery and the SACK
    scoreboard when there is something to say."""
    cwnd = int(c["cwnd"])
    if not cwnd:
        return ""  # tcp_cc_init() runs when the handshake completes
    ssthresh = int(c["ssthresh"])
    out = "  cwnd %d ssthresh %s" % (
        cwnd, "inf" if ssthresh >= TCP_SSTHRESH_INFINITE else str(ssthresh))
    if bool(c["in_recovery"]):
        out += " in_recovery"
        if bool(c["rto_recovery"]):
            out += " (rto)"
        if bool(c["sack_ok"]):
            out += " pipe %d" % int(c["pipe"])
    if int(c["dupacks"]):
        out += " dupacks %d" % int(c["dupacks"])
    ranges = int(c["sacked_count"])
    if ranges:  # the RFC 6675 scoreboard: what the peer has above snd_una
        out += " sacked %d bytes in %d range%s" % (
            int(c["sacked_bytes"]), ranges, "" if ranges == 1 else "s")
    if int(c["dsacks"]):
        out += " dsacks %d" % int(c["dsacks"])
    return out


def _rtt(c):
    srtt = int(c["srtt_us"])
    out = "  srtt %s ms rttvar %s ms" % (_ms(srtt), _ms(c["rttvar_us"])) if srtt else "  srtt -"
    out += " rto %s ms retries %d" % (_ms(c["rto_us"]), int(c["retries"]))
    timeouts, resent = int(c["retransmits"]), int(c["rexmit_segs"])
    if timeouts or resent:
        out += " (timeouts %d, segs resent %d)" % (timeouts, resent)
    return out


def tcp_conn_summary(c, columns=False):
    """One line about a struct tcp_conn (a value, not a pointer); columns pads the state and
    the addresses so that a listing lines up."""
    if not 0 <= int(c["state"]) < _state_count():
        # Garbage: c read before its first assignment (at a function's opening line), or freed.
        return "<not a live tcp_conn: state %d; uninitialized or freed? (p/r for raw)>" % int(
            c["state"])
    state = _state(c)
    local = _endpoint(c["local_addr"], c["local_port"])
    head = "%-12s %-21s %-21s" if columns else "%s %s %s"
    if state == "LISTEN":
        return (head + " syn %d accept %d backlog %d") % (
            state, local, "*", int(c["syn_count"]), int(c["accept_count"]), int(c["backlog"]))
    try:
        now = int(c["st"]["now_us"])
    except gdb.error:
        now = None
    line = (head + " snd una %d nxt %d max %d wnd %d  rcv nxt %d wnd %d  "
            "sndq %d rcvq %d%s%s  timers %s") % (
        state, local, _endpoint(c["remote_addr"], c["remote_port"]),
        _seq(c["snd_una"], c["iss"]), _seq(c["snd_nxt"], c["iss"]),
        _seq(c["snd_max"], c["iss"]), int(c["snd_wnd"]), _seq(c["rcv_nxt"], c["irs"]),
        _rcv_window(c), int(c["sndq"]["len"]), int(c["rcvq"]["len"]),
        _congestion(c), _rtt(c), _timers(c, now))
    flags = [f for f in ("fin_pending", "fin_sent", "fin_received", "orphan", "tlp_out",
                         "rack_reord") if bool(c[f])]
    if int(c["listener"]):
        flags.append("in accept queue" if bool(c["in_accept_queue"]) else "in syn queue")
    elif not int(c["sock"]) and "orphan" not in flags:
        flags.append("no socket")
    err = int(c["error"])
    if err:
        flags.append("error " + errno.errorcode.get(err, str(err)))
    if flags:
        line += "  [" + " ".join(flags) + "]"
    return line


class TcpConnPrinter:
    """p *c: a struct tcp_conn on one line."""

    def __init__(self, val):
        self.val = val

    def to_string(self):
        try:
            return tcp_conn_summary(self.val)
        except gdb.MemoryError as e:
            return "<unreadable tcp_conn: %s>" % e
        except gdb.error as e:  # a field renamed in stack/tcp.h: say which, p/r still works
            return "<tcp_conn the printer does not know: %s (p/r for raw)>" % e


def _pretty_printers():
    pp = gdb.printing.RegexpCollectionPrettyPrinter("tapir")
    pp.add_printer("tcp_conn", "^tcp_conn$", TcpConnPrinter)
    return pp


class TapirArp(gdb.Command):
    """Show a stack's ARP cache: tapir-arp ST"""

    def __init__(self):
        super().__init__("tapir-arp", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        st = _stack(arg)
        names = {0: "FREE", 1: "INCOMPLETE", 2: "REACHABLE"}
        e = st["arp"]["lru_head"]
        now = int(st["now_us"])
        while int(e):
            ent = e.dereference()
            mac = ":".join("%02x" % int(ent["mac"][i]) for i in range(6))
            left = (int(ent["timer"]["deadline_us"]) - now) / 1e6
            print("%-15s %-17s %-10s pending %d  timer in %.3f s" % (
                _ip(ent["ip"]), mac, names.get(int(ent["state"]), "?"),
                int(ent["pending"]["count"]), left))
            e = ent["lru_next"]


class TapirFrag(gdb.Command):
    """Show datagrams in reassembly: tapir-frag ST"""

    def __init__(self):
        super().__init__("tapir-frag", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        st = _stack(arg)
        s = st["frag"]["oldest"]
        while int(s):
            slot = s.dereference()
            print("%s > %s id %d proto %d: %d of %s bytes" % (
                _ip(slot["src"]), _ip(slot["dst"]), int(slot["id"]), int(slot["proto"]),
                int(slot["bytes_have"]), int(slot["payload_len"]) or "?"))
            s = slot["age_next"]


class TapirStats(gdb.Command):
    """Show a stack's non-zero counters: tapir-stats ST"""

    def __init__(self):
        super().__init__("tapir-stats", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        stats = _stack(arg)["stats"]
        for layer in stats.type.fields():
            group = stats[layer.name]
            for f in group.type.fields():
                v = int(group[f.name])
                if v:
                    print("%-5s %-22s %d" % (layer.name, f.name, v))


class TapirConns(gdb.Command):
    """Show every TCP listener and connection: tapir-conns [ST]
Listeners (from the stack's sockets) first, with their SYN and accept queues; then every
connection in the 4-tuple hash; then connections a socket still holds that left the hash
(CLOSED, waiting for the application to close)."""

    def __init__(self):
        super().__init__("tapir-conns", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        st = _stack(arg)
        shown = 0
        unhashed = []
        s = st["udp"]["all"]
        while int(s):
            c = s.dereference()["tcp"]
            if int(c):
                conn = c.dereference()
                if _state(conn) == "LISTEN":
                    print(tcp_conn_summary(conn, columns=True))
                    shown += 1
                elif not bool(conn["hashed"]):
                    unhashed.append(conn)
            s = s.dereference()["all_next"]
        buckets = st["tcp"]["conns"]
        buckets.fetch_lazy()  # one read of the whole table, not one per bucket
        lo, hi = buckets.type.range()
        for i in range(lo, hi + 1):
            c = buckets[i]
            while int(c):
                conn = c.dereference()
                print(tcp_conn_summary(conn, columns=True))
                shown += 1
                c = conn["hash_next"]
        for conn in unhashed:
            print(tcp_conn_summary(conn, columns=True) + "  (not hashed)")
            shown += 1
        if not shown:
            print("no TCP listeners or connections")


TapirArp()
TapirFrag()
TapirStats()
TapirConns()
gdb.printing.register_pretty_printer(gdb.current_objfile(), _pretty_printers(), replace=True)
