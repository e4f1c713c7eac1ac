#!/usr/bin/env bash
# The main job: build, start an emulated three-phase meter on ./meter.pty and
# the module firmware against it, and show live readings in the terminal.
#
#   ci/demo.sh                 real time
#   SPEED=60 ci/demo.sh        simulated clock 60x faster
#   PROFILE=fixtures/meters/nes-1ph.json ci/demo.sh
#
# The emulator's decoded frame log goes to ./meter.log, the firmware's log to
# ./mepmod.log; the firmware's JSON
# is on http://127.0.0.1:${HTTP_PORT:-8080}/getDashDataWS and its dashboard on
# http://127.0.0.1:${HTTP_PORT:-8080}/ . Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/deps.sh
cmake -S . -B build-demo -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-demo -j"$(nproc)" >/dev/null

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
if [ -x /usr/sbin/mosquitto ]; then
  MQTT_PORT=${MQTT_PORT:-18830}
  printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$MQTT_PORT" >build-demo/mosquitto.conf
  /usr/sbin/mosquitto -c build-demo/mosquitto.conf >build-demo/mosquitto.log 2>&1 &
  pids+=($!)
  mqtt_args=(--mqtt "127.0.0.1:$MQTT_PORT")
  sleep 0.3
fi

# The profile's default MBK unless one was given (mepsim prints it in meter.log).
fw_key=${MBK:-$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["keys"]["mbk"])' "$PROFILE")}
echo "meter on ./meter.pty (log: meter.log); firmware log: mepmod.log; dashboard http://127.0.0.1:$HTTP_PORT/"
# The firmware's log goes to a file so it does not scroll the live view away.
build-demo/firmware/host/mepmod --port ./meter.pty --mbk "$fw_key" --http-port "$HTTP_PORT" \
  --control ./meter.sock --display "${mqtt_args[@]}" 2>mepmod.log &
pids+=($!)
wait "${pids[-1]}"
