#!/usr/bin/env bash
# Run every test from scratch: the README's test command, and what .ci/run calls.
#
#   1. install missing Debian packages (ci/deps.sh)
#   2. build with ASan+UBSan into build/ (from scratch)
#   3. Check unit suites (ctest)
#   4. pytest integration suites against the built mepsim / mepmod, the HIL
#      plugin's suite, the scenario suite in virtual time (our core and two
#      Arduino sketches) and its representative subset in real time (mepmod)
#   4b. the Arduino host kit's tests (hil/arduino-host/tests/run.sh)
#   5. the Check suites again under valgrind (plain build in build-valgrind/)
#   6. libFuzzer smoke run of every fuzz target (clang build in build-fuzz/)
#   7. firmware cross-build for rv32imc (ESP32-C3 ISA) with size figures
#   8. the Debian package, installed into a scratch root and run (ci/package.sh)
#
# Exits non-zero if any step fails. Environment: FUZZ_SECONDS (total fuzz
# budget, default 60), INTEGRATION_WORKERS (default 4), PYTEST_WORKERS (HIL,
# default 2), SKIP_VALGRIND=1, SKIP_FUZZ=1, JOBS.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=${JOBS:-$(nproc)}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
# The integration tests mostly wait on real timers (polls, timeouts, paced
# bytes; the load stays below 1 with two workers), so four pytest-xdist
# workers on the 2-core CI machine take 11 min where two took 17; every test
# has its own PTYs, sockets and ports, and timing bounds are generous. The
# virtual-time HIL runs are CPU-bound: two workers. Every pytest run prints
# its slowest tests (--durations): that is where the CI time goes.
INTEGRATION_WORKERS=${INTEGRATION_WORKERS:-4}
PYTEST_WORKERS=${PYTEST_WORKERS:-2}
PY=/usr/bin/python3
# The osgp_hil package (hil/pyproject.toml) from this tree, not an installed copy.
export PYTHONPATH="$ROOT/hil${PYTHONPATH:+:$PYTHONPATH}"
export CK_DEFAULT_TIMEOUT=${CK_DEFAULT_TIMEOUT:-60}

passed=0
failed=0
failed_steps=()
step() {
  local name=$1; shift
  echo
  echo "=== $name"
  local t0=$SECONDS
  if "$@"; then
    passed=$((passed + 1))
    echo "=== $name: ok ($((SECONDS - t0)) s)"
  else
    failed=$((failed + 1))
    failed_steps+=("$name")
    echo "=== $name: FAILED ($((SECONDS - t0)) s)"
  fi
}

build_asan() {
  rm -rf build
  cmake -S . -B build -DSANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null &&
    cmake --build build -j"$JOBS"
}

unit_tests() {
  ctest --test-dir build --output-on-failure --timeout 300 -j"$JOBS"
}

integration_tests() {
  export MEPSIM_BIN=$ROOT/build/simulator/mepsim
  export MEPMOD_BIN=$ROOT/build/firmware/host/mepmod
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  timeout 1800 "$PY" -m pytest -q -p no:cacheprovider -n "$INTEGRATION_WORKERS" --durations=15 tests/integration "$@"
  local rc=$?
  [ $rc -eq 5 ] && { echo "pytest: no tests collected"; return 1; }
  return $rc
}

hil_tests() {
  # The HIL plugin's own suite on the virtual rig (mepsim on a PTY + mepmod as
  # the board): a separate pytest run because it loads the osgp_hil plugin.
  export MEPSIM_BIN=$ROOT/build/simulator/mepsim
  export MEPMOD_BIN=$ROOT/build/firmware/host/mepmod
  export MEPSIM_COSIM_BIN=$ROOT/build/cosim/mepsim-cosim
  export AHK_BUILD_DIR=$ROOT/build/arduino-host
  local rc=0 r
  hil_run() {   # name, workers, pytest arguments...
    local name=$1 workers=$2; shift 2
    echo "--- $name"
    timeout 1800 "$PY" -m pytest -q -p no:cacheprovider -n "$workers" --durations=10 "$@" \
      --hil-artifacts "build/hil-artifacts/$name" --junitxml "build/hil-$name.xml"
    r=$?
    [ $r -eq 5 ] && { echo "pytest: no tests collected ($name)"; r=1; }
    [ $r -ne 0 ] && rc=$r
  }
  # (the plugin's tests wait on real timers like the integration tests)
  hil_run plugin "$INTEGRATION_WORKERS" tests/hil --ignore tests/hil/test_scenarios.py
  # The whole scenario suite in virtual time (hil/README.md "The virtual-time rig"):
  # the meter at its real timing and the firmware on one clock, nothing waits. Our
  # firmware core, then the two Arduino sketches built with the kit's --virtual-time:
  # the example module (must pass everything) and the naive hobby sketch (its known
  # findings, declared in its board description, are reported as xfail).
  hil_run virtual-time-core "$PYTEST_WORKERS" tests/hil/test_scenarios.py --rig virtual-time
  hil_run virtual-time-mep-module "$PYTEST_WORKERS" tests/hil/test_scenarios.py --rig virtual-time \
    --board arduino-mep-module
  hil_run virtual-time-hobby "$PYTEST_WORKERS" tests/hil/test_scenarios.py --rig virtual-time --board arduino-hobby
  # The real path stays honest: one scenario per fault family plus the spike
  # scenarios in real time, mepsim on a PTY and mepmod as the board. They wait
  # on real timers (6 min of scenarios, the longest 76 s): as many workers as
  # the integration tests.
  hil_run real-time-mepmod "$INTEGRATION_WORKERS" tests/hil/test_scenarios.py -m representative
  return $rc
}

valgrind_one() {
  # one Check suite under valgrind; its log next to it; prints one line
  local t=$1
  if ! CK_FORK=no timeout 900 valgrind -q --error-exitcode=99 --leak-check=full \
      --errors-for-leak-kinds=definite "$t" >"$t.valgrind.log" 2>&1; then
    echo "valgrind: $(basename "$t") FAILED"; tail -40 "$t.valgrind.log"; return 1
  fi
  echo "valgrind: $(basename "$t") clean"
}

valgrind_tests() {
  [ "${SKIP_VALGRIND:-0}" = 1 ] && { echo "skipped (SKIP_VALGRIND=1)"; return 0; }
  rm -rf build-valgrind
  # programs and Check suites only (no man pages, no package)
  cmake -S . -B build-valgrind -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null &&
    cmake --build build-valgrind -j"$JOBS" || return 1
  # the suites are independent: as many at once as there are cores
  export -f valgrind_one
  ls build-valgrind/tests/test_* build-valgrind/tests/fw_test_* 2>/dev/null | grep -v '\.log$' |
    xargs -r -n1 -P"$JOBS" bash -c 'valgrind_one "$0"'
}

fuzz_smoke() {
  [ "${SKIP_FUZZ:-0}" = 1 ] && { echo "skipped (SKIP_FUZZ=1)"; return 0; }
  rm -rf build-fuzz
  local names=() src
  for src in tests/fuzz/fuzz_*.c; do names+=("$(basename "$src" .c)"); done
  CC=clang cmake -S . -B build-fuzz -DFUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null &&
    cmake --build build-fuzz -j"$JOBS" --target "${names[@]}" || return 1
  local targets=(build-fuzz/tests/fuzz_*)
  [ -x "${targets[0]}" ] || { echo "no fuzz targets built"; return 1; }
  local per=$(( FUZZ_SECONDS / ${#targets[@]} ))
  [ $per -lt 5 ] && per=5
  local rc=0 f name corpus
  for f in "${targets[@]}"; do
    name=$(basename "$f"); name=${name#fuzz_}
    corpus=tests/fuzz/corpus/$name
    work=build-fuzz/corpus-$name
    mkdir -p "$work"
    [ -d "$corpus" ] && cp -r "$corpus"/. "$work"/ 2>/dev/null
    echo "fuzz: $(basename "$f") for ${per}s"
    if ! timeout $((per + 60)) "$f" -max_total_time="$per" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix=build-fuzz/ "$work" >"build-fuzz/$name.log" 2>&1; then
      echo "fuzz: $(basename "$f") FOUND A PROBLEM"; tail -60 "build-fuzz/$name.log"; rc=1
    else
      grep -E 'stat::number_of_executed_units|stat::new_units_added|stat::peak_rss' "build-fuzz/$name.log" | sed 's/^/  /'
    fi
  done
  return $rc
}

arduino_kit_tests() {
  # The Arduino host kit's own tests (hil/arduino-host/tests/run.sh): String, Stream, serial
  # pacing, storage, pins -> board lines, WebServer, PubSubClient against a real mosquitto.
  AHK_BUILD_DIR=$ROOT/build/arduino-host bash hil/arduino-host/tests/run.sh
}

debian_package() {
  # the .deb from a Release build of the programs only, checked from a scratch
  # root (ci/package.sh: --version, man pages, completion, one PTY exchange)
  JOBS=$JOBS bash ci/package.sh build-pkg
}

firmware_size() {
  if [ -x ci/fw-size.sh ]; then ci/fw-size.sh; else echo "ci/fw-size.sh not present"; return 1; fi
}

echo "=== dependencies"
bash ci/deps.sh || { echo "dependency installation failed"; echo "summary: 0 passed, 1 failed"; exit 1; }

step "build (ASan+UBSan)" build_asan
if [ $failed -eq 0 ]; then
  step "unit tests (Check)" unit_tests
  step "integration tests (pytest)" integration_tests
  step "HIL plugin tests (pytest, virtual rig)" hil_tests
fi
step "Arduino host kit tests" arduino_kit_tests
step "unit tests under valgrind" valgrind_tests
step "fuzz smoke (libFuzzer, ${FUZZ_SECONDS}s)" fuzz_smoke
step "firmware size (rv32imc)" firmware_size
step "Debian package" debian_package

echo
if [ $failed -ne 0 ]; then
  echo "failed steps: ${failed_steps[*]}"
fi
echo "summary: $passed passed, $failed failed"
[ $failed -eq 0 ]
