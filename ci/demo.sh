#!/usr/bin/env bash
# The main job: build, start an emulated three-phase meter on ./meter.pty and
# the module firmware against it, and show live readings in the terminal.
#
#   ci/demo.sh                 real time
#   SPEED=60 ci/demo.sh        simulated clock 60x faster
#   PROFILE=fixtures/meters/nes-1ph.json ci/demo.sh
#   MBK=... MAK=...            the meter's keys (default: the profile's)
#
# Before the live view it prints everything a newcomer needs: the meter's
# identity and the keys it expects, its PTY and control socket, the module's
# HTTP addresses and the MQTT broker. Logs: ./meter.log (the emulator's
# decoded frames), ./mepmod.log (the firmware). Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/deps.sh

# Build with progress: a first build takes about a minute on 2 cores.
echo "demo: building into build-demo/ (a first build takes about a minute; log: build-demo.log)"
cmake -S . -B build-demo -DCMAKE_BUILD_TYPE=RelWithDebInfo >build-demo.log 2>&1 ||
  { echo "demo: cmake failed, see build-demo.log" >&2; tail -20 build-demo.log >&2; exit 1; }
progress() {
  # one status line that rewrites itself on a terminal, a dot per step otherwise
  if [ -t 1 ]; then
    awk '/^\[ *[0-9]+%\]/ { pct = $1 $2; gsub(/[\[\]]/, "", pct);
         printf "\r  %-5s %-60s", pct, substr($NF, 1, 60); fflush() }
         END { printf "\r  built.%-64s\n", "" }'
  else
    awk '/^\[ *[0-9]+%\]/ { printf "."; fflush() } END { print " built." }'
  fi
}
if ! cmake --build build-demo -j"$(nproc)" --target mepsim mepmod 2>&1 | tee -a build-demo.log | progress; then
  echo "demo: the build failed; the last lines of build-demo.log:" >&2
  grep -m5 -B2 -A3 'error' build-demo.log >&2 || tail -20 build-demo.log >&2
  exit 1
fi

SPEED=${SPEED:-1}
HTTP_PORT=${HTTP_PORT:-8080}
PROFILE=${PROFILE:-fixtures/meters/nes-3ph.json}
MBK=${MBK:-}
MAK=${MAK:-}
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

key_args=()
[ -n "$MBK" ] && key_args+=(--mbk "$MBK")
[ -n "$MAK" ] && key_args+=(--mak "$MAK")

build-demo/simulator/mepsim --pty ./meter.pty --profile "$PROFILE" --speed "$SPEED" \
  --control ./meter.sock -v "${key_args[@]}" >meter.log 2>&1 &
pids+=($!)
for _ in $(seq 50); do [ -e ./meter.pty ] && [ -S ./meter.sock ] && break; sleep 0.1; done
[ -e ./meter.pty ] || { echo "mepsim did not start; see meter.log" >&2; cat meter.log >&2; exit 1; }

mqtt_args=()
mqtt_line="none (install mosquitto for MQTT and Home Assistant discovery)"
if [ -x /usr/sbin/mosquitto ]; then
  MQTT_PORT=${MQTT_PORT:-18830}
  printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$MQTT_PORT" >build-demo/mosquitto.conf
  /usr/sbin/mosquitto -c build-demo/mosquitto.conf >build-demo/mosquitto.log 2>&1 &
  pids+=($!)
  mqtt_args=(--mqtt "127.0.0.1:$MQTT_PORT")
  mqtt_line="127.0.0.1:$MQTT_PORT (mosquitto, anonymous; try: mosquitto_sub -h 127.0.0.1 -p $MQTT_PORT -t 'esp32-mep/#' -v)"
  sleep 0.3
fi

# What the meter is and expects: its identity from the control socket, its
# keys from the profile (or MBK/MAK above).
ident=$(/usr/bin/python3 - ./meter.sock "$PROFILE" "$MBK" "$MAK" <<'PY'
import json, socket, sys
sock, prof, mbk, mak = sys.argv[1:5]
p = json.load(open(prof))
keys = p.get("keys", {})
mbk = mbk or keys.get("mbk", "?")
mak = mak or keys.get("mak", "?")
ident = p.get("identity", {})
try:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(2)
    s.connect(sock)
    s.sendall(b'{"cmd":"status"}\n')
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    json.loads(buf)["meters"][0]
except (OSError, ValueError, KeyError, IndexError):
    print("(the control socket did not answer: see meter.log)")
print(f"meter:        {p.get('name', prof)}: {ident.get('manufacturer', '?')} {ident.get('model', '?')}, "
      f"firmware {ident.get('fw_version', '?')}")
print(f"  serials:    utility {ident.get('utility_serial', '?')}, meter {ident.get('meter_serial', '?')}; "
      f"generation {p.get('generation', '?')}; TLS required: {'yes' if p.get('tls_required') else 'no'}")
print(f"  keys:       MBK {mbk}   MAK {mak}")
PY
)
fw_key=${MBK:-$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["keys"]["mbk"])' "$PROFILE")}
cat <<INFO

$ident
  line:       ./meter.pty -> $(readlink ./meter.pty) (9600 baud 8N1), clock speed ${SPEED}x
  control:    ./meter.sock   e.g. build-demo/simulator/mepsim-ctl -s ./meter.sock glitch "spike delta=2^24 polls=3"
  log:        ./meter.log (decoded frames)
module:       mepmod, reading the meter with the MBK above (log: ./mepmod.log)
  readings:   http://127.0.0.1:$HTTP_PORT/getDashDataWS (the module JSON contract)
  dashboard:  http://127.0.0.1:$HTTP_PORT/
  MQTT:       $mqtt_line
Ctrl-C stops everything. The first readings appear once the module has confirmed them (about 10 s).

INFO
# The firmware's log goes to a file so it does not scroll the live view away.
build-demo/firmware/host/mepmod --port ./meter.pty --mbk "$fw_key" --http-port "$HTTP_PORT" \
  --control ./meter.sock --display "${mqtt_args[@]}" 2>mepmod.log &
pids+=($!)
wait "${pids[-1]}"
