#!/usr/bin/env bash
# test_pcap.sh: --pcap FILE writes a capture that tshark reads: every frame in and out (the
# gratuitous ARP, the host's ARP request and tapir's reply, echo requests and replies, the
# fragments of a 4000-byte ping in both directions), nothing malformed, no checksum or other
# expert warnings. Skipped (TAP SKIP) when tshark is not installed.
set -u
. "$(dirname "$0")/lib.sh"

pcap=$TEST_TMP/tapir.pcap
start_tapir --pcap "$pcap" || { not_ok "tapir starts with --pcap"; done_testing; }
ok "tapir starts with --pcap"

sizes=(56 1472 4000)
answered=0
for size in "${sizes[@]}"; do
    timeout 15 ping -c 2 -i 0.2 -s "$size" -W 2 "$TAPIR_IP" 2>&1 | grep -q ' 2 received' &&
        answered=$((answered + 1))
done
check_eq "pings of ${sizes[*]} bytes answered" "$answered" "${#sizes[@]}"
check_tapir_stopped_cleanly

magic=$(od -An -tx4 -N4 "$pcap" 2>/dev/null | tr -d ' ')
if [ "$magic" = a1b2c3d4 ] || [ "$magic" = d4c3b2a1 ]; then
    ok "the capture starts with the pcap magic number"
else
    not_ok "the capture starts with the pcap magic number"
    diag "first word: '$magic'"
fi

TSHARK=${TSHARK:-tshark} # TSHARK=none exercises the skip
if ! command -v "$TSHARK" >/dev/null 2>&1; then
    skip "tshark absent, pcap check skipped" "tshark is not installed"
    done_testing
fi

# tshark_count FILTER: how many frames of the capture match the display filter.
tshark_count() {
    timeout 60 "$TSHARK" -r "$pcap" -o ip.check_checksum:TRUE -Y "$1" -T fields -e frame.number \
        2>/dev/null | grep -c .
}

if bounded 60 "$TSHARK" -r "$pcap" >"$TEST_TMP/tshark.out" 2>"$TEST_TMP/tshark.err"; then
    ok "tshark -r reads the capture"
else
    not_ok "tshark -r reads the capture"
    grep -v 'Running as user' "$TEST_TMP/tshark.err" | diag
fi
frames=$(grep -c . "$TEST_TMP/tshark.out")
# 1 announcement + ARP request and reply + 2x(request, reply) at 56 and 1472 bytes + 2x(3+3)
# fragments at 4000 bytes = 23; the kernel may ARP again, but not a hundred times.
if [ "$frames" -ge 23 ] && [ "$frames" -le 100 ]; then
    ok "the capture holds a plausible number of frames ($frames)"
else
    not_ok "the capture holds a plausible number of frames"
    diag "got $frames frames, want 23..100"
    diag <"$TEST_TMP/tshark.out"
fi

check_eq "echo requests in the capture (reassembled by tshark)" "$(tshark_count 'icmp.type == 8')" 6
check_eq "echo replies in the capture, each matched to its request" \
    "$(tshark_count 'icmp.type == 0 && icmp.resp_to')" 6
check_eq "fragments tapir sent for the 4000-byte replies" \
    "$(tshark_count "ip.src == $TAPIR_IP && (ip.flags.mf == 1 || ip.frag_offset > 0)")" 6
check_ge "the gratuitous ARP announcement is in the capture" \
    "$(tshark_count "arp.isannouncement && arp.src.hw_mac == $TAPIR_MAC")" 1
check_ge "tapir's ARP reply to the host is in the capture" \
    "$(tshark_count "arp.opcode == 2 && arp.src.proto_ipv4 == $TAPIR_IP && arp.src.hw_mac == $TAPIR_MAC")" 1
check_eq "tshark finds no malformed frame" "$(tshark_count '_ws.malformed')" 0
bad=$(tshark_count '_ws.expert.severity >= "Warning" || ip.checksum.status == "Bad" || icmp.checksum.status == "Bad"')
check_eq "tshark finds no checksum problem or other expert warning" "$bad" 0
if [ "$bad" != 0 ]; then
    timeout 60 "$TSHARK" -r "$pcap" -o ip.check_checksum:TRUE -Y '_ws.expert.severity >= "Warning"' \
        -T fields -e frame.number -e _ws.expert.message 2>/dev/null | diag
fi

done_testing
