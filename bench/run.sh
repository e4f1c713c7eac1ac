#!/usr/bin/env bash
# Run the benchmarks and print their figures (never fails on a figure).
#   bench/run.sh [build-dir]       default: build-bench (plain optimised build)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build-bench}
bash ci/deps.sh
cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$B" -j"$(nproc)" >/dev/null

echo "== (a) one RC4 read transaction inside the emulator, no I/O"
"$B/bench/bench_txn" --count 200000
echo
echo "   instructions per transaction (callgrind, difference of two runs / 1000):"
for c in bt23-13-mbk bt28-full-mbk bt23-13-mak bt28-full-mbk-enc; do
  i1=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$B/bench/bench_txn" --case $c --count 1000 2>&1 | awk '/Collected/ {print $4}')
  i2=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$B/bench/bench_txn" --case $c --count 2000 2>&1 | awk '/Collected/ {print $4}')
  printf '   %-20s %8d instructions/transaction\n' "$c" $(( (i2 - i1) / 1000 ))
done
echo
echo "== (b) meters per process, one transaction per second each, over PTYs"
"$B/bench/bench_scale" --mepsim "$B/simulator/mepsim" ${SCALE_ARGS:-}
