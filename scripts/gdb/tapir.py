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
#   p *c                a struct tcp_conn, pretty-printed: state, addresses, sequence numbers
#                       relative to the ISNs, windows, queues, RTO, timers (p/r *c: raw fields)
#
# Without EXPR a command looks for the stack itself: st in the selected frame, else c->st,
# l->st, s->st or h->st there, else the shim's default host ('socket.c'::fdt).
import errno

import gdb
import gdb.printing

TIMER_IDLE = 0xFFFFFFFF
TCP_WINDOW_MAX = 65535


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


def _state(c):
    name = str(c["state"])  # the enumerator, TCP_ESTABLISHED, as tcp_state_name() without TCP_
    return name[4:] if name.startswith("TCP_") else name


def _endpoint(addr, port):
    return "%s:%d" % (_ip(addr), int(port))


def _rcv_window(c):
    """The window we offer now, as tcp_rcv_window(): free receive space, never less than
    what is left of the window last advertised (rcv_adv)."""
    free = (int(c["rcvq"]["limit"]) - int(c["rcvq"]["len"])) & 0xFFFFFFFF  # unsigned, as in C
    left = _seq(c["rcv_adv"], c["rcv_nxt"])
    offered = left if 0 < left < 0x80000000 else 0
    return min(max(free, offered), TCP_WINDOW_MAX)


def _timers(c, now):
    armed = []
    for name in ("rexmit", "persist", "timewait"):
        t = c[name]
        if int(t["heap_index"]) != TIMER_IDLE:
            left = (int(t["deadline_us"]) - now) / 1e6 if now is not None else float("nan")
            armed.append("%s in %.3f s" % (name, left))
    return ", ".join(armed) or "none"


def tcp_conn_summary(c, columns=False):
    """One line about a struct tcp_conn (a value, not a pointer); columns pads the state and
    the addresses so that a listing lines up."""
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
            "sndq %d rcvq %d  rto %d ms retries %d  timers %s") % (
        state, local, _endpoint(c["remote_addr"], c["remote_port"]),
        _seq(c["snd_una"], c["iss"]), _seq(c["snd_nxt"], c["iss"]),
        _seq(c["snd_max"], c["iss"]), int(c["snd_wnd"]), _seq(c["rcv_nxt"], c["irs"]),
        _rcv_window(c), int(c["sndq"]["len"]), int(c["rcvq"]["len"]),
        int(c["rto_us"]) // 1000, int(c["retries"]), _timers(c, now))
    flags = [f for f in ("fin_pending", "fin_sent", "fin_received", "orphan") if bool(c[f])]
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
