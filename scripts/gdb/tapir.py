# SPDX-License-Identifier: MIT
# tapir.py: gdb commands for looking inside a running tapir stack.
#   gdb -x scripts/gdb/tapir.py build/debug/tapir
# (A .gdbinit in the repository would be refused by gdb's auto-load safe path unless you add
# the directory to it; loading this file with -x always works.)
#
#   tapir-arp  EXPR    the ARP cache of the struct tapir_stack * EXPR, one line per entry
#   tapir-frag EXPR    datagrams in reassembly
#   tapir-stats EXPR   every non-zero counter
import gdb


def _ip(v):
    v = int(v)
    return "%d.%d.%d.%d" % (v >> 24, (v >> 16) & 255, (v >> 8) & 255, v & 255)


def _stack(arg):
    st = gdb.parse_and_eval(arg)
    if st.type.code == gdb.TYPE_CODE_PTR:
        st = st.dereference()
    return st


class TapirArp(gdb.Command):
    """Show a stack's ARP cache: tapir-arp ST"""

    def __init__(self):
        super().__init__("tapir-arp", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        st = _stack(arg or "st")
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
        st = _stack(arg or "st")
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
        stats = _stack(arg or "st")["stats"]
        for layer in stats.type.fields():
            group = stats[layer.name]
            for f in group.type.fields():
                v = int(group[f.name])
                if v:
                    print("%-5s %-22s %d" % (layer.name, f.name, v))


TapirArp()
TapirFrag()
TapirStats()
