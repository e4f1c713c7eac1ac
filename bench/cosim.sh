#!/usr/bin/env bash
# Figures of mepsim-cosim (cosim/README.md): how many simulated hours one wall
# second buys for our firmware core and for the example Arduino sketch
# (firmware/arduino/mep_module built with the host kit for virtual time), both
# polling every 2 s at 9600 baud, and the wall time of every scenario file run
# through the co-simulation. Prints figures; never fails on one (a loaded
# machine gives lower numbers: the load average is printed with them).
#   bench/cosim.sh [build-dir]     default: build-bench (Release)
# The sketch is built with hil/arduino-host/build into $AHK_BUILD_DIR (default
# <build-dir>/ahk); without a C++ compiler its figure is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build-bench}
cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$B" -j2 --target mepsim-cosim >/dev/null
BIN=$B/cosim/mepsim-cosim
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# "simulated S s in W s wall (X x), ..." -> W
wall_of() { sed -n 's/^simulated [0-9]* s in \([0-9.]*\) s wall.*/\1/p'; }

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "== our core (firmware/core), default profile, poll 2000 ms, 9600 baud, 24 simulated hours"
echo "   goal: >= 8640x (24 h in <= 10 s); best of 3 runs"
for mode in "no files" "with --out (published.jsonl + wire.jsonl + counters.json)"; do
  best=""
  for _ in 1 2 3; do
    if [ "$mode" = "no files" ]; then
      w=$("$BIN" --duration 24h --poll-ms 2000 | wall_of)
    else
      rm -rf "$TMP/day"
      w=$("$BIN" --duration 24h --poll-ms 2000 --out "$TMP/day" | wall_of)
    fi
    if [ -z "$best" ] || awk "BEGIN{exit !($w < $best)}"; then best=$w; fi
  done
  awk -v w="$best" -v m="$mode" 'BEGIN{printf "   %-60s %6.2f s wall  %8.0f x  %7.1f simulated h per wall s\n", m, w, 86400/w, 24/w}'
done
echo
echo "== the example Arduino sketch (firmware/arduino/mep_module, --virtual-time, 64-bit),"
echo "   default profile, poll 2000 ms, 9600 baud, 24 simulated hours; goal >= 8640x; best of 3 runs"
export AHK_BUILD_DIR=${AHK_BUILD_DIR:-$(cd "$B" && pwd)/ahk}
if hil/arduino-host/build firmware/arduino/mep_module -o "$TMP/mep_module" --virtual-time >"$TMP/sketch-build.log" 2>&1; then
  best="" line_best=""
  for _ in 1 2 3; do
    line=$("$BIN" --firmware "$TMP/mep_module" --duration 24h --out "$TMP/sketch-day" --published none --capture none)
    w=$(printf '%s\n' "$line" | wall_of)
    if [ -z "$best" ] || awk "BEGIN{exit !($w < $best)}"; then best=$w; line_best=$line; fi
  done
  awk -v w="$best" 'BEGIN{printf "   %-60s %6.2f s wall  %8.0f x  %7.1f simulated h per wall s\n", "no files but counters.json", w, 86400/w, 24/w}'
  python3 - "$TMP/sketch-day/counters.json" <<'PY' || true
import json, sys
c = json.load(open(sys.argv[1]))
k = c["sketch"]
print(f"   syncs {k['syncs']} ({k['syncs'] / (c['run']['simulated_s'] / 2):.1f} per 2 s poll), bytes sent ahead "
      f"{k['bytes_sent_ahead']} of {c['run']['wire_bytes_to_module']}, late {k['bytes_late']}, held {k['held_us'] / 1e6:.0f} s")
PY
else
  echo "   skipped: the sketch did not build ($TMP/sketch-build.log):"
  tail -3 "$TMP/sketch-build.log" | sed 's/^/   /'
fi
echo
echo "== 7 simulated days, default profile, poll 2000 ms, no files"
"$BIN" --duration 7d --poll-ms 2000 | sed 's/^/   /'
echo
echo "== every scenario file through the co-simulation (timeline held until the first reading,"
echo "   as tests/hil does; the real-time scenario suite needs 402 s of CI time for them)"
total=0
for f in fixtures/scenarios/*.json; do
  line=$("$BIN" --scenario "$f" --out "$TMP/$(basename "$f" .json)")
  w=$(printf '%s\n' "$line" | wall_of)
  s=$(printf '%s\n' "$line" | sed -n 's/^simulated \([0-9]*\) s.*/\1/p')
  total=$(awk -v a="$total" -v b="$w" 'BEGIN{print a + b}')
  printf '   %-36s %5s simulated s  %6s s wall\n' "$(basename "$f" .json)" "$s" "$w"
done
printf '   %-36s %25s s wall (sum of the runs, process start-up not counted)\n' "all scenarios" "$total"
