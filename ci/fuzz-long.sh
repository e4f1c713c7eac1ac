#!/usr/bin/env bash
# ci/fuzz-long.sh N [TARGET...]: the long fuzz run, outside CI.
#
# Builds every libFuzzer target (tests/fuzz/fuzz_*.c; clang, -DFUZZ=ON) in
# its own build directory, then runs each one for N minutes (N may be a
# fraction: 0.5 = 30 s) on a copy of its seed corpus tests/fuzz/corpus/<name>
# (the copy grows, the repository's corpus never does), one target after
# the other. Prints per target: executions, executions per second, coverage
# (cov/ft from libFuzzer's final stats line), corpus size after the run,
# and the result. Exit status: 0 all clean, 1 a crash/leak/timeout/OOM (the
# reproducer is in $FUZZ_BUILD_DIR/artifacts, the log next to it), a build
# failure or a target without a seed corpus, 2 bad arguments.
#
# Environment: FUZZ_BUILD_DIR (default build-fuzz-long), JOBS (build
# parallelism, default 2), CC (default clang), FUZZ_RUNS (stop a target once
# it has run this many inputs, e.g. 10000000; MINUTES is then the cap: a
# target on a busy machine still reaches the count, not a share of the CPU),
# ASAN_OPTIONS (default below).
# Example: ci/fuzz-long.sh 60            # an hour per target
#          ci/fuzz-long.sh 0.2 fuzz_fw_http fuzz_fw_ctlreply
set -u
cd "$(dirname "$0")/.."

usage() {
  echo "usage: ci/fuzz-long.sh MINUTES [fuzz_TARGET...]  (MINUTES > 0, may be a fraction)" >&2
  exit 2
}
[ $# -ge 1 ] || usage
minutes=$1
shift
[[ "$minutes" =~ ^[0-9]+(\.[0-9]+)?$ ]] || usage
runs=${FUZZ_RUNS:-}
[ -z "$runs" ] || [[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "ci/fuzz-long.sh: FUZZ_RUNS must be a positive integer, not '$runs'" >&2; exit 2; }
secs=$(awk -v m="$minutes" 'BEGIN { s = int(m * 60 + 0.5); print (s < 1 ? 0 : s) }')
[ "$secs" -ge 1 ] || { echo "ci/fuzz-long.sh: $minutes minutes is less than a second" >&2; exit 2; }

names=()
if [ $# -gt 0 ]; then
  for t in "$@"; do
    [ -f "tests/fuzz/$t.c" ] || { echo "ci/fuzz-long.sh: no target $t (tests/fuzz/$t.c)" >&2; exit 2; }
    names+=("$t")
  done
else
  for src in tests/fuzz/fuzz_*.c; do names+=("$(basename "$src" .c)"); done
fi

# A target that builds a whole meter per input spends most of its time in
# fresh pages: ASan's quarantine (256 MB by default) cycles through memory
# it returns to the kernel. 64 MB still holds the blocks of hundreds of
# inputs, far more than one input frees, so a use after free within an
# input is still caught; fuzz_meter_frame runs ~1.6x faster.
export ASAN_OPTIONS=${ASAN_OPTIONS:-allocator_release_to_os_interval_ms=-1:quarantine_size_mb=64}

build=${FUZZ_BUILD_DIR:-build-fuzz-long}
echo "building ${#names[@]} fuzz targets in $build"
mkdir -p "$build"
if ! CC=${CC:-clang} cmake -S . -B "$build" -DFUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build/cmake.log" 2>&1; then
  echo "ci/fuzz-long.sh: cmake failed:"; tail -30 "$build/cmake.log"; exit 1
fi
if ! cmake --build "$build" -j"${JOBS:-2}" --target "${names[@]}" >"$build/build.log" 2>&1; then
  echo "ci/fuzz-long.sh: build failed:"; tail -40 "$build/build.log"; exit 1
fi

mkdir -p "$build/artifacts" "$build/logs"
rc=0
printf '%-20s %7s %12s %9s %7s %7s %7s  %s\n' target seconds executions exec/s cov ft corpus result
for name in "${names[@]}"; do
  bin="$build/tests/$name"
  short=${name#fuzz_}
  seeds=tests/fuzz/corpus/$short
  work="$build/work/$short"
  log="$build/logs/$name.log"
  rm -rf "$work"
  mkdir -p "$work"
  result=ok
  if [ -d "$seeds" ] && [ -n "$(ls -A "$seeds")" ]; then
    cp -r "$seeds"/. "$work"/
  else
    result="NO SEED CORPUS ($seeds)"
    rc=1
  fi
  rm -f "$build/artifacts/$name-"*
  t0=$SECONDS
  # a hang is an input still running after 60 s of wall time: generous, because a long run
  # shares the machine (at low priority a busy machine can hold it off the CPU for seconds)
  timeout $((secs + 120)) "$bin" -max_total_time="$secs" ${runs:+-runs="$runs"} -timeout=60 -report_slow_units=60 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$build/artifacts/$name-" "$work" >"$log" 2>&1
  status=$?
  took=$((SECONDS - t0))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  last=$(grep -aE '^#[0-9]+.*cov: ' "$log" | tail -1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corpus=$(find "$work" -type f | wc -l)
  found=$(ls "$build/artifacts/$name-"* 2>/dev/null | head -1)
  if [ $status -ne 0 ] || [ -n "$found" ]; then
    result="FOUND A PROBLEM (exit $status${found:+, $found}; log $log)"
    rc=1
  fi
  printf '%-20s %7s %12s %9s %7s %7s %7s  %s\n' "$name" "$took" "${execs:-?}" "${rate:-?}" \
    "${cov:-?}" "${ft:-?}" "$corpus" "$result"
done
exit $rc
