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
echo "   instructions per transaction (callgrind, difference of two runs / 1000; meter + the"
echo "   client's request digest):"
for c in bt23-13-mbk bt28-full-mbk bt23-13-mak bt28-full-mbk-enc; do
  i1=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$B/bench/bench_txn" --case $c --count 1000 2>&1 | awk '/Collected/ {print $4}')
  i2=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$B/bench/bench_txn" --case $c --count 2000 2>&1 | awk '/Collected/ {print $4}')
  printf '   %-20s %8d instructions/transaction\n' "$c" $(( (i2 - i1) / 1000 ))
done
echo "   meter side only (sim_meter_on_frame, callgrind --toggle-collect) against the floor of three"
echo "   digest passes (MAK check, MBK check, reply digest: docs/mep.md 5.6; bench_txn --floor):"
f1=$(valgrind --tool=callgrind --toggle-collect=floor_three_passes --callgrind-out-file=/dev/null "$B/bench/bench_txn" --floor --count 1000 2>&1 | awk '/Collected/ {print $4}')
f2=$(valgrind --tool=callgrind --toggle-collect=floor_three_passes --callgrind-out-file=/dev/null "$B/bench/bench_txn" --floor --count 2000 2>&1 | awk '/Collected/ {print $4}')
floor=$(( (f2 - f1) / 1000 ))
printf '   %-20s %8d instructions\n' "floor (3 passes)" "$floor"
for c in bt23-13-mbk bt23-13-mak bt28-full-mbk bt28-full-mbk-enc; do
  m1=$(valgrind --tool=callgrind --toggle-collect=sim_meter_on_frame --callgrind-out-file=/dev/null "$B/bench/bench_txn" --case $c --count 1000 2>&1 | awk '/Collected/ {print $4}')
  m2=$(valgrind --tool=callgrind --toggle-collect=sim_meter_on_frame --callgrind-out-file=/dev/null "$B/bench/bench_txn" --case $c --count 2000 2>&1 | awk '/Collected/ {print $4}')
  m=$(( (m2 - m1) / 1000 ))
  printf '   %-20s %8d instructions/transaction, meter side = %s x floor\n' "$c" "$m" \
    "$(awk -v a="$m" -v b="$floor" 'BEGIN { printf "%.2f", a / b }')"
done
echo "   through the MEP line core (sim_line, as mepsim per request; --describe = with the request"
echo "   description the live display / -v show, built only then):"
for opt in --line --describe; do
  i1=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$B/bench/bench_txn" --case bt23-13-mbk $opt --count 1000 2>&1 | awk '/Collected/ {print $4}')
  i2=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$B/bench/bench_txn" --case bt23-13-mbk $opt --count 2000 2>&1 | awk '/Collected/ {print $4}')
  printf '   %-20s %8d instructions/transaction %s\n' bt23-13-mbk $(( (i2 - i1) / 1000 )) "$opt"
done
echo
echo "== (a2) TLS mode (mep.md 7): sim_tls on the meter <-> host_tls (mepmod's client), in process"
echo "   (RC4 figures above are the meter alone; TLS transactions are round trips, meter share shown)"
echo "   instructions (callgrind; whole round trip / meter side only):"
for c in tls-bt23-13 tls-bt28-full; do
  i1=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$B/bench/bench_txn" --case $c --count 1000 2>&1 | awk '/Collected/ {print $4}')
  i2=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$B/bench/bench_txn" --case $c --count 2000 2>&1 | awk '/Collected/ {print $4}')
  m1=$(valgrind --tool=callgrind --toggle-collect=sim_meter_on_frame --callgrind-out-file=/dev/null "$B/bench/bench_txn" --case $c --count 1000 2>&1 | awk '/Collected/ {print $4}')
  m2=$(valgrind --tool=callgrind --toggle-collect=sim_meter_on_frame --callgrind-out-file=/dev/null "$B/bench/bench_txn" --case $c --count 2000 2>&1 | awk '/Collected/ {print $4}')
  printf '   %-20s %8d instructions/round trip, meter side %d\n' "$c" $(( (i2 - i1) / 1000 )) $(( (m2 - m1) / 1000 ))
done
h1=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$B/bench/bench_txn" --case tls-handshake --count 10 2>&1 | awk '/Collected/ {print $4}')
h2=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$B/bench/bench_txn" --case tls-handshake --count 20 2>&1 | awk '/Collected/ {print $4}')
printf '   %-20s %8d instructions/handshake (both sides)\n' tls-handshake $(( (h2 - h1) / 10 ))
echo "   bytes and wire time:"
"$B/bench/bench_txn" --wire | sed 's/^/   /'
echo
echo "== (b) meters per process, one transaction per second each (PTYs up to 4000 meters, the kernel's"
echo "   default PTY limit being 4096; Unix sockets above; the meter's turnaround policy set to 0)"
"$B/bench/bench_scale" --mepsim "$B/simulator/mepsim" ${SCALE_ARGS:-}
echo
echo "== (c) memory per meter and start-up: RSS of mepsim with 1 and with N meters (default profile)"
python3 bench/bench_memory.py --mepsim "$B/simulator/mepsim" --meters ${MEM_METERS:-1000} --transport pty
python3 bench/bench_memory.py --mepsim "$B/simulator/mepsim" --meters 10000 --transport unix
python3 bench/bench_memory.py --mepsim "$B/simulator/mepsim" --meters 10000 --transport tcp
echo
echo "== (d) optical port pacing from the reader's side (ET16, 2,585 bytes per read; within 1 % of nominal)"
python3 bench/bench_optical.py --mepsim "$B/simulator/mepsim"
