#!/usr/bin/env bash
# run.sh: the Arduino host kit's tests. Builds the kit library and every tests/test_*.cpp
# program (default ABI 32, as sketches are built; AHK_TEST_ABI=64 for native), runs them
# (under qemu-i386 where the kernel cannot run 32-bit programs) and sums their
# "NAME: N passed, M failed" lines; then checks whole sketches built with `build`: Preferences
# across ESP.restart() with the reboot counter, the program's option errors, and a build that
# names a missing header, and a --virtual-time build (the marker, refusing to run alone).
# Prints "N passed, N failed"; exits 1 if anything failed.
set -u
KIT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ABI="${AHK_TEST_ABI:-32}"
BOARD=esp32
BUILD="${AHK_BUILD_DIR:-$KIT/build-out}"
export AHK_BUILD_DIR="$BUILD"
SAN_TAG="${AHK_SANITIZE:+-san}"
# the reboot sketch crashes on purpose: let the signal reach the launcher (a panic) under ASan
[ -z "${AHK_SANITIZE:-}" ] || export ASAN_OPTIONS="handle_segv=0:${ASAN_OPTIONS:-}"
KITOBJ="$BUILD/kit-$BOARD-$ABI$SAN_TAG"
TESTBIN="$BUILD/tests-$ABI$SAN_TAG"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/kit-tests-XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
export TMPDIR="$WORK"

pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL $*" >&2; }
check() { # check DESCRIPTION COMMAND...
    local what="$1"
    shift
    if "$@"; then ok; else bad "$what"; fi
}

# ---- unit test programs ------------------------------------------------------------
make -s -r -k -j2 -f "$KIT/tools/kit.mk" KIT="$KIT" BOARD=$BOARD ABI="$ABI" KITOBJ="$KITOBJ" \
    TESTBIN="$TESTBIN" AHK_SANITIZE="${AHK_SANITIZE:-}" CXX="${CXX:-g++}" CC="${CC:-gcc}" tests || echo "run.sh: some test programs did not build" >&2

run_prog() {
    if [ "$ABI" = 32 ] && ! "$TESTBIN/.probe" 2>/dev/null; then qemu-i386 "$@"; else "$@"; fi
}
# a probe tells whether this kernel runs the test programs directly
echo 'int main(){return 0;}' | "${CXX:-g++}" $([ "$ABI" = 32 ] && echo -m32) -static -x c++ - -o "$TESTBIN/.probe" 2>/dev/null

# the MQTT bridge for the network tests
bridge="$BUILD/mqtt-bridge"
if [ -f "$KIT/bridge/ahk_mqtt_bridge.c" ] &&
    { [ ! -x "$bridge" ] || [ -n "$(find "$KIT/bridge" -newer "$bridge" -print -quit)" ]; }; then
    "${CC:-gcc}" -std=c11 -O2 -Wall -Wextra -Werror -I"$KIT/bridge" "$KIT/bridge/ahk_mqtt_bridge.c" -o "$bridge" -lmosquitto ||
        echo "run.sh: the MQTT bridge did not build" >&2
fi
export AHK_MQTT_BRIDGE="$bridge"

for src in "$KIT"/tests/test_*.cpp; do
    name="$(basename "$src" .cpp)"
    bin="$TESTBIN/$name"
    if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ]; then
        bad "$name: did not build"
        continue
    fi
    out="$(cd "$WORK" && run_prog "$bin" 2>"$WORK/$name.err")"
    rc=$?
    echo "$out"
    line="$(echo "$out" | grep -E "^$name: [0-9]+ passed, [0-9]+ failed$" | tail -1)"
    if [ -z "$line" ]; then
        cat "$WORK/$name.err" >&2
        bad "$name: exited $rc without a summary"
        continue
    fi
    p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')
    f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed/\1/')
    pass=$((pass + p))
    fail=$((fail + f))
    [ "$f" -eq 0 ] || cat "$WORK/$name.err" >&2
    [ "$rc" -eq 0 ] || [ "$f" -gt 0 ] || bad "$name: exit status $rc"
done

# ---- whole sketches ----------------------------------------------------------------
sk="$WORK/reboot"
if "$KIT/build" "$KIT/tests/sketches/reboot" -o "$sk" --abi "$ABI" >"$WORK/build.log" 2>&1; then
    ok
    state="$WORK/reboot-state"
    "$sk" --state-dir "$state" >"$WORK/reboot.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do
        grep -q "done after" "$WORK/reboot.log" && break
        sleep 0.2
    done
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    check "three boots counted in Preferences" grep -q "boot count 3" "$WORK/reboot.log"
    check "the second .ino file, src/ and generated prototypes" grep -q "Serial done after ESP32-D0WDQ6 rev 1" "$WORK/reboot.log"
    check "reboot counter file" test "$(cat "$state/reboots" 2>/dev/null)" = 2
    check "restart line in the log" grep -q "ESP.restart(): the board reboots; reboots since power-up: 1" "$WORK/reboot.log"
    check "a crash is a panic and a reboot" grep -q "panic: the board reboots; reboots since power-up: 2" "$WORK/reboot.log"
    check "Preferences file" grep -q "u32	count	3" "$state/nvs/boot.prefs"
    [ "$fail" -eq 0 ] || cat "$WORK/reboot.log" >&2

    "$sk" --http-port abc >/dev/null 2>"$WORK/opt.err"
    check "bad --http-port: exit 2" test $? -eq 2
    check "bad --http-port: message names it" grep -q -- "--http-port: 'abc' is not a TCP port" "$WORK/opt.err"
    "$sk" --serial Serial3=/dev/null >/dev/null 2>"$WORK/opt.err"
    check "unknown serial name: exit 2" test $? -eq 2
    check "unknown serial name: message" grep -q "'Serial3' is not a serial port of an esp32" "$WORK/opt.err"
    "$sk" --frobnicate >/dev/null 2>"$WORK/opt.err"
    check "unknown option: exit 2" test $? -eq 2
    "$sk" --pins /nonexistent >/dev/null 2>"$WORK/opt.err"
    check "unreadable --pins: exit 2" test $? -eq 2
    printf 'enable 5 sideways\n' >"$WORK/pins.txt"
    "$sk" --pins "$WORK/pins.txt" --state-dir "$WORK/p" >/dev/null 2>"$WORK/opt.err"
    check "bad pin map line: exit 2 with its line number" grep -q "pins.txt:1:" "$WORK/opt.err"
    check "a bad pin map creates no state directory" test ! -e "$WORK/p"
    check "bad options change nothing (no state directory)" test ! -e "$WORK/reboot.state"
    "$sk" --help >"$WORK/help.txt" 2>&1
    check "--help: exit 0" test $? -eq 0
    check "--help lists the options" grep -q -- "--serial NAME=PATH\[:BAUD\]" "$WORK/help.txt"
else
    cat "$WORK/build.log" >&2
    bad "build of tests/sketches/reboot"
fi

# a --virtual-time build (README.md, "Virtual time"): the marker, and a program that refuses to run
# without the co-simulation (mepsim-cosim --firmware runs it; tests/integration/test_cosim_sketch.py)
if "$KIT/build" "$KIT/tests/sketches/busywait" -o "$WORK/bw" --virtual-time >"$WORK/bw.log" 2>&1; then
    ok
    check "virtual time: the marker file" test -f "$WORK/bw.d/virtual-time"
    "$WORK/bw" --state-dir "$WORK/bw-state" >/dev/null 2>"$WORK/bw.err"
    check "virtual time: without --vt-fd exit 2" test $? -eq 2
    check "virtual time: the message names mepsim-cosim" grep -q "virtual-time build (--virtual-time): run it with mepsim-cosim --firmware" "$WORK/bw.err"
    check "virtual time: refused, so no state directory" test ! -e "$WORK/bw-state"
    "$WORK/bw" --vt-fd 9 --state-dir "$WORK/bw-state" >/dev/null 2>"$WORK/bw.err" 9</dev/null
    check "virtual time: a --vt-fd that is not the co-simulation: exit 3" test $? -eq 3
    "$WORK/bw" --help >"$WORK/bw-help.txt" 2>&1
    check "virtual time: --help lists --vt-fd" grep -q -- "--vt-fd N" "$WORK/bw-help.txt"
else
    cat "$WORK/bw.log" >&2
    bad "build of tests/sketches/busywait --virtual-time"
fi

"$KIT/build" "$KIT/tests/sketches/missing_header" -o "$WORK/mh" --abi "$ABI" >"$WORK/mh.log" 2>&1
check "a missing header fails the build" test $? -ne 0
check "the failure names the header" grep -q "the sketch includes <FooBarSensor.h>, which the kit does not provide" "$WORK/mh.log"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
