#!/bin/sh
# bench/soak.sh: soak a firmware for N simulated days against the emulated
# meter in virtual time (mepsim-cosim, cosim/README.md): the week-long
# glitch and fault mix of fixtures/soak/soak-7d.json (its timeline ends at
# day 7; longer runs go on polling a clean meter), then the verdict from
# counters.json. Prints figures; exits 1 when the firmware published bogus
# energy (a fall, or a value above the meter's truth), 2 on a usage error,
# and the program's own status when it failed (a sanitizer report, a bad file).
#
#   bench/soak.sh [--firmware core|PATH] [--days N] [--out DIR] [--build DIR]
#
# --firmware PATH is a sketch built with
#   hil/arduino-host/build SKETCH -o PATH --virtual-time
# when mepsim-cosim supports it (mepsim-cosim --help).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FW=core DAYS=7 OUT= BUILD=$ROOT/build
while [ $# -gt 0 ]; do
  case $1 in
    --firmware) FW=${2:?--firmware needs core or a PATH}; shift 2 ;;
    --days) DAYS=${2:?--days needs a number}; shift 2 ;;
    --out) OUT=${2:?--out needs a directory}; shift 2 ;;
    --build) BUILD=${2:?--build needs a build directory}; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "soak.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case $DAYS in ''|*[!0-9]*|0) echo "soak.sh: --days: '$DAYS' is not a positive whole number" >&2; exit 2 ;; esac
BIN=${MEPSIM_COSIM_BIN:-$BUILD/cosim/mepsim-cosim}
[ -x "$BIN" ] || { echo "soak.sh: $BIN not built (cmake --build $BUILD, or set MEPSIM_COSIM_BIN)" >&2; exit 2; }
[ -n "$OUT" ] || OUT=$(mktemp -d "${TMPDIR:-/tmp}/soak.XXXXXX")

"$BIN" --firmware "$FW" --scenario "$ROOT/fixtures/soak/soak-7d.json" --duration "${DAYS}d" \
  --capture none --published none --out "$OUT" || exit $?

python3 - "$OUT/counters.json" "$DAYS" <<'EOF'
import json, sys
k = json.load(open(sys.argv[1]))
r = k["run"]
print(f"soak {sys.argv[2]} d: published {r['published']} values ({r['suspect']} held as suspect), "
      f"fell {r['published_fell']}, above truth {r['published_above_truth']}, "
      f"step errors {r['scenario_step_errors']}, peak RSS {r['peak_rss_kib'] / 1024:.1f} MiB, "
      f"module status {k['firmware'].get('status')}")
bad = r["published_fell"] or r["published_above_truth"]
print("verdict:", "BOGUS ENERGY PUBLISHED" if bad else "no bogus energy", f"({sys.argv[1]})")
sys.exit(1 if bad else 0)
EOF
