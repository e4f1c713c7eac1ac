"""mepsim-cosim --firmware PATH: Arduino sketches built with the host kit for
virtual time (hil/arduino-host/build SKETCH -o PATH --virtual-time) run
against the emulated meter on the co-simulation's clock (cosim/README.md,
"Arduino sketches"; the kit's README, "Virtual time").

* firmware/arduino/mep_module (our sketch) publishes the meter's energy within
  a poll, over HTTP and (with WiFi and a broker in its flash) MQTT to the
  co-simulation's virtual broker, and holds the S16 kWh spike;
* fixtures/sketches/hobby-module (blocking delay()s, `while
  (!Serial2.available())`, restarts to apply its key) publishes the spike
  unfiltered, and its poll period and reply timeout measured in virtual time
  are printed next to what they are on a board (the busy-wait rule's cost);
* a sketch that busy-waits on millis() and on an empty UART ends its run;
* two runs give the same wire hash and the same published.jsonl;
* a bad --firmware path is refused with exit status 2.

The sketches are built once per module into $AHK_BUILD_DIR (else a tmp
directory); mepsim-cosim is found as tests/integration/test_cosim.py finds it.
"""

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from test_cosim import SUMMARY, binary, published, run, summary  # noqa: F401 (binary is a fixture)

ROOT = Path(__file__).resolve().parents[2]
KIT_BUILD = ROOT / "hil" / "arduino-host" / "build"
SKETCHES = {
    "mep_module": ROOT / "firmware" / "arduino" / "mep_module",
    "hobby": ROOT / "fixtures" / "sketches" / "hobby-module",
    "busywait": ROOT / "hil" / "arduino-host" / "tests" / "sketches" / "busywait",
    "reboot": ROOT / "hil" / "arduino-host" / "tests" / "sketches" / "reboot",
}
S16 = ROOT / "fixtures" / "scenarios" / "s16-kwh-spike.json"
S08 = ROOT / "fixtures" / "scenarios" / "s08-dead-transmitter.json"
SPIKE_WH = 1 << 20              # the smallest spike of S16 (2^20 Wh)
HOBBY_POLL_MS = 3000            # hobby-module.ino POLL_INTERVAL_MS
HOBBY_TIMEOUT_MS = 2000         # hobby-module.ino REPLY_TIMEOUT_MS


@pytest.fixture(scope="module")
def sketches(tmp_path_factory):
    """The sketches built for virtual time: {name: program path}."""
    if not shutil.which(os.environ.get("CXX", "g++")) or not shutil.which("make"):
        pytest.skip("no C++ compiler or make: the Arduino host kit cannot build")
    root = tmp_path_factory.mktemp("vt-sketches")
    env = dict(os.environ)
    env.setdefault("AHK_BUILD_DIR", str(root / "ahk-build"))
    out = {}
    for name, src in SKETCHES.items():
        t0 = time.monotonic()
        r = subprocess.run([str(KIT_BUILD), str(src), "-o", str(root / name), "--virtual-time"],
                           capture_output=True, text=True, env=env, timeout=900)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        assert (root / f"{name}.d" / "virtual-time").is_file()
        print(f"built {name} for virtual time in {time.monotonic() - t0:.1f} s")
        out[name] = root / name
    return out


def counters(out):
    return json.loads((out / "counters.json").read_text())


def wire(out):
    return [json.loads(line) for line in (out / "wire.jsonl").read_text().splitlines()]


def cosim(binary, program, out, *args, timeout=600):
    r = run(binary, "--firmware", program, "--out", out, *args, timeout=timeout)
    return summary(r)


# ---- values ------------------------------------------------------------------------
def test_mep_module_publishes_the_meters_energy_for_an_hour(binary, sketches, tmp_path):
    s = cosim(binary, sketches["mep_module"], tmp_path, "--duration", "1h", "--seed", "5")
    assert s["simulated_s"] == 3600
    lines = published(tmp_path)
    # one document per 2 s GET of /getDashDataWS once the readings are confirmed
    assert len(lines) == s["published"] and len(lines) > 1500
    steps = [b["Model_Fwd_Wh"] - a["Model_Fwd_Wh"] for a, b in zip(lines, lines[1:])]
    poll_wh = max(steps)        # what the meter counts in one poll period at most
    for line in lines:
        assert 0 <= line["Model_Fwd_Wh"] - line["Fwd_Act_Wh"] <= max(poll_wh, 1), line
        assert line["Model_Rev_Wh"] >= line["Rev_Act_Wh"]
    c = counters(tmp_path)
    assert c["run"]["published_above_truth"] == 0 and c["run"]["published_fell"] == 0
    sk = c["sketch"]
    assert sk["provisioned"] and sk["reboots"] == 0
    # every byte the meter sent was announced ahead and released exactly as announced
    assert sk["ahead_mismatch"] == 0 and sk["bytes_late"] == 0
    assert sk["bytes_sent_ahead"] + sk["bytes_forwarded"] == c["run"]["wire_bytes_to_module"]
    # what the sketch wrote is on the wire, but for a request still leaving when the run ended
    assert 0 <= sk["tx_bytes"] - c["run"]["wire_bytes_to_meter"] < 64
    log = (tmp_path / "board.log").read_text()
    assert "VT end of the run at 3600.000 s since boot" in log


def test_mep_module_mqtt_reaches_the_virtual_broker(binary, sketches, tmp_path):
    """With WiFi and a broker set in its Preferences (--state-dir, the format of
    firmware/arduino/mep_module/README.md), the sketch's PubSubClient connects to
    the co-simulation's broker; meterConsumptionTotal payloads (docs/module-behaviour.md
    8.2) are published values with their topic."""
    state = tmp_path / "flash"
    (state / "nvs").mkdir(parents=True)
    (state / "nvs" / "mep.prefs").write_text("str\tmbk\t02020202020202020202020202020202\nu32\tversion\t1\n"
                                             "str\twifi_ssid\tHome\nstr\tmqtt_host\tbroker.lan\n")
    cosim(binary, sketches["mep_module"], tmp_path / "out", "--duration", "60s", "--state-dir", state)
    lines = published(tmp_path / "out")
    mqtt = [l for l in lines if "Topic" in l]
    assert mqtt and all(l["Topic"] == "esp32-mep/meterConsumptionTotal/mydatajson" for l in mqtt)
    for l in mqtt:
        assert 0 <= l["Model_Fwd_Wh"] - l["Payload"]["Fwd_Act_Wh"] <= 10
    assert [l for l in lines if "Topic" not in l and "Fwd_Act_Wh" in l]   # the HTTP documents too
    assert counters(tmp_path / "out")["sketch"]["mqtt_messages"] > len(mqtt)  # lwt, discovery, other topics
    assert "mqtt: connected to broker.lan:1883" in (tmp_path / "out" / "board.log").read_text()
    assert (state / "nvs" / "mep.prefs").is_file()   # the given flash is kept


@pytest.mark.parametrize("name", ["hobby", "mep_module"])
def test_two_runs_give_the_same_wire_and_values(binary, sketches, tmp_path, name):
    a = cosim(binary, sketches[name], tmp_path / "a", "--duration", "300s", "--seed", "9")
    b = cosim(binary, sketches[name], tmp_path / "b", "--duration", "300s", "--seed", "9")
    assert a["sha"] == b["sha"] and a["published"] == b["published"] > 50
    assert (tmp_path / "a" / "published.jsonl").read_bytes() == (tmp_path / "b" / "published.jsonl").read_bytes()
    c = cosim(binary, sketches[name], tmp_path / "c", "--duration", "300s", "--seed", "10")
    assert c["sha"] != a["sha"]         # the seed reaches the meter and the sketch


# ---- the S16 spike: the hobby sketch publishes it, ours holds it -------------------------
@pytest.mark.parametrize("name,passes_spike", [("hobby", True), ("mep_module", False)])
def test_s16_spike(binary, sketches, tmp_path, name, passes_spike):
    cosim(binary, sketches[name], tmp_path, "--scenario", S16)
    lines = published(tmp_path)
    assert lines, "nothing published"
    spiked = [l for l in lines if l["Fwd_Act_Wh"] - l["Model_Fwd_Wh"] >= SPIKE_WH // 2
              or l["Rev_Act_Wh"] - l["Model_Rev_Wh"] >= SPIKE_WH // 2]
    above = counters(tmp_path)["run"]["published_above_truth"]
    if passes_spike:
        assert spiked and above > 0
    else:
        assert not spiked and above == 0
    if name == "hobby":           # it restarts once to apply the key it was given
        assert counters(tmp_path)["sketch"]["reboots"] >= 1


# ---- the busy-wait rule ----------------------------------------------------------------
def test_busy_waiting_sketch_finishes(binary, sketches, tmp_path):
    t0 = time.monotonic()
    s = cosim(binary, sketches["busywait"], tmp_path, "--duration", "60s", timeout=120)
    assert s["simulated_s"] == 60 and time.monotonic() - t0 < 60
    log = (tmp_path / "board.log").read_text()
    # `while (millis() - t < 500)` ends after exactly 500 virtual ms each time
    assert "busywait: spun 500 ms on millis(), round 20, now 10000 ms" in log
    # `while (!Serial2.available())` with a silent meter: the run still ends at 60 s
    assert "busywait: waiting for a byte that never comes" in log
    assert "busywait: a byte arrived" not in log
    assert "VT end of the run at 60.000 s since boot" in log


def test_restart_and_crash_reboot_the_board_in_virtual_time(binary, sketches, tmp_path):
    """The kit's reboot sketch: ESP.restart() at its first boot, a crash at its
    second; the launcher starts it again with the same flash both times, and
    virtual time goes on (it does not start again at 0)."""
    cosim(binary, sketches["reboot"], tmp_path, "--duration", "30s", timeout=120)
    assert counters(tmp_path)["sketch"]["reboots"] == 2
    log = (tmp_path / "board.log").read_text()
    assert "boot count 3" in log                       # Preferences kept across both
    assert "00:00:00.020 BOOT esp32 board" in log      # boots 2 and 3 start where boot 1 restarted
    assert "VT end of the run at 29.980 s since boot" in log


def request_starts(out):
    """Virtual ms of the start of each request burst to the meter."""
    return [w["t_us"] / 1000 for w in wire(out) if w["dir"] == "to-meter"]


def test_hobby_timing_in_virtual_time(binary, sketches, tmp_path):
    """The busy-wait rule's cost, measured: the hobby sketch's poll period
    (POLL_INTERVAL_MS 3000, checked once per loop() with delay(10)) and its
    reply timeout (REPLY_TIMEOUT_MS 2000, `while (Serial2.available() < 2)
    { delay(1); }`, then a 1 s + 2 s power cycle before the retry) against
    what they are on a board."""
    cosim(binary, sketches["hobby"], tmp_path / "poll", "--duration", "600s", "--seed", "2")
    starts = request_starts(tmp_path / "poll")
    # BT23 requests (0x3F partial read) open each poll once the boot tables are read
    bt23 = [w["t_us"] / 1000 for w in wire(tmp_path / "poll") if w["dir"] == "to-meter" and w["hex"][4:6] == "3f"]
    periods = [b - a for a, b in zip(bt23, bt23[1:])]
    assert len(periods) > 150
    extra = [p - HOBBY_POLL_MS for p in periods]
    # on a board: 3000 ms + at most one loop() (delay(10) + handleClient) = 3000-3011 ms
    print(f"\nhobby poll period: board 3000-3011 ms; virtual time mean {sum(periods) / len(periods):.1f} ms, "
          f"min {min(periods):.1f}, max {max(periods):.1f} (n={len(periods)})")
    assert all(0 < e <= 60 for e in extra), extra

    cosim(binary, sketches["hobby"], tmp_path / "dead", "--scenario", S08)
    starts = request_starts(tmp_path / "dead")
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    # a request that times out is resent after 2000 ms + 1 ms of polling + 3000 ms of power cycle
    retries = [g for g in gaps if 4900 < g < 5200]
    assert retries, gaps
    print(f"hobby timeout + power cycle before a retry: board 5001-5003 ms; virtual time "
          f"{min(retries):.1f}-{max(retries):.1f} ms (n={len(retries)})")
    assert all(abs(g - 5001) <= 20 for g in retries), retries


# ---- errors ------------------------------------------------------------------------------
def test_bad_firmware_path_is_refused(binary, tmp_path):
    r = run(binary, "--firmware", tmp_path / "nope", expect_rc=2)
    assert "--firmware" in r.stderr and "nope" in r.stderr and "No such file" in r.stderr
    assert r.stdout == ""
    fake = tmp_path / "plain"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    r = run(binary, "--firmware", fake, "--out", tmp_path / "out", expect_rc=2)
    assert "not built for virtual time" in r.stderr and "--virtual-time" in r.stderr
    assert not (tmp_path / "out").exists()   # nothing written for a refused run
