"""The two Arduino ESP32 sketches of the repo, built with the Arduino host kit
(hil/arduino-host/build) and run against mepsim on a PTY, through the osgp_hil
harness (Meter, Board, Rig) with the shipped board descriptions
arduino-mep-module and arduino-hobby (hil/osgp_hil/boards/):

* firmware/arduino/mep_module: the Arduino port of firmware/core. Its MBK is
  given the way a user gives it (POST /setup, the description's `provision`),
  it serves the module JSON contract (docs/module-behaviour.md 8.1) with
  values equal to the meter's within one poll, keeps its key across a
  restart (Preferences in the state dir), and holds a meter-side kWh spike
  (S16) instead of publishing it.
* fixtures/sketches/hobby-module: a naive third-party style sketch (blocking
  delay()s and `while (!Serial2.available())` loops, restart to apply its
  settings). Same value check; a kWh spike IS published unfiltered, which is
  what the scenario suite must catch on such a firmware.

The sketches are built once per module with the descriptions' `build` key
(osgp_hil.build): without the kit (hil/arduino-host/build, or
$ARDUINO_HOST_BUILD) the tests skip saying so; with it, a failing sketch
build fails the tests. mepsim is found as the harness finds it ($MEPSIM_BIN,
PATH, <repo>/build). Each test leaves mepsim.log, the board's log and
trace.txt in its tmp directory; a process that crashed, hung, exited
uncleanly or left a sanitizer report fails the test.
"""

import dataclasses
import json
import threading
import time
import urllib.parse

import pytest

from osgp_hil import procs
from osgp_hil.boards import load_board
from osgp_hil.build import BuildError, BuildUnavailable, build_program
from osgp_hil.harness import Broker, MqttCapture, Rig
from osgp_hil.rig import virtual_rig

DESCRIPTIONS = {"mep_module": "arduino-mep-module", "hobby": "arduino-hobby"}
MBK = "MEPtestKey0123456789"  # 20 characters, as a utility hands it out (docs/module-behaviour.md 3)

# docs/module-behaviour.md 8.1: BT28 value index of each numeric contract member.
BT28_INDEX = {
    "Fwd_W": 0, "Rev_W": 1, "Freq_mHz": 11, "L1_RMS_A": 4, "L2_RMS_A": 5, "L3_RMS_A": 6,
    "L1_RMS_V": 7, "L2_RMS_V": 8, "L3_RMS_V": 9, "L1_Fwd_W": 26, "L2_Fwd_W": 27, "L3_Fwd_W": 28,
    "L1_Rev_W": 29, "L2_Rev_W": 30, "L3_Rev_W": 31, "Fwd_Avg_W": 47, "Rev_Avg_W": 48,
    "L1_Fwd_Avg_W": 49, "L2_Fwd_Avg_W": 50, "L3_Fwd_Avg_W": 51, "L1_Rev_Avg_W": 52,
    "L2_Rev_Avg_W": 53, "L3_Rev_Avg_W": 54,
}
CONTRACT_STRINGS = ["ESP_SW", "ESP_SW_By", "ESP_SW_Version", "Meter_Manufacturer", "Meter_Model",
                    "Meter_SW_Version", "Utility_SN", "CurrentDateTimeString", "CurrentDateTime"]
CONTRACT_INTEGERS = ["Fwd_Act_Wh", "Rev_Act_Wh"] + list(BT28_INDEX)
# what the host port (firmware/host/host_dash.c) serves besides the contract, and its 503 body
HOST_EXTRAS = ["Status", "Status_Text", "Energy_Suspect", "Suspect_Reason", "Raw_Fwd_Act_Wh",
               "Raw_Rev_Act_Wh", "Clock_Source", "Energy_Age_s", "Generation", "Counters"]
# the lines of a not-ready or stale answer: 503 text/plain, no JSON (firmware/README.md
# "Served states"), the same words as the host port's
NOT_READY_FIELDS = ["not ready", "Status", "Status_Text", "CurrentDateTime"]
CONTRACT_KEYS = ("Utility_SN", "Fwd_Act_Wh", "Rev_Act_Wh", "Fwd_W", "CurrentDateTime")
POLL_S = {"mep_module": 2.0, "hobby": 3.5}  # poll period (+ the hobby's blocking reads)
SPIKE_WH = 1 << 24                          # S16: 2^24 Wh ~ 16 777 kWh


# ---- fixtures -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Both sketches built once with the kit: {name: board description with
    the built program as its binary}."""
    root = tmp_path_factory.mktemp("sketches")
    out = {}
    for name, desc in DESCRIPTIONS.items():
        spec = load_board(desc)
        t0 = time.monotonic()
        try:
            program = build_program(spec, root)
        except BuildUnavailable as e:
            pytest.skip(str(e))
        except BuildError as e:
            pytest.fail(str(e), pytrace=False)
        print(f"built {name} in {time.monotonic() - t0:.1f} s")
        out[name] = dataclasses.replace(spec, binary=str(program), build=None)
    return out


@pytest.fixture
def rigs(tmp_path):
    """rigs(spec) -> a Rig whose board is that description; every rig is
    finished (processes stopped and checked) at teardown."""
    made = []

    def make(spec):
        cfg = virtual_rig(spec)
        cfg.meter.mbk, cfg.meter.seed = MBK, 11
        r = Rig(cfg, tmp_path / f"rig{len(made)}")
        made.append(r)
        r.meter.start()
        return r

    yield make
    problems = []
    for r in made:
        problems += r.finish()
    assert not problems, "\n".join(problems)


def start(rigs, built, name, provision=False, extra=()):
    """A rig with sketch `name` as the board, booted with empty flash
    (provision=False) or set up by its description."""
    r = rigs(built[name])
    r.board.start(extra=extra, provision=provision)
    return r, r.board


class Sampler:
    """mepsim's model truth (`get`) every 0.1 s, so a published value can be
    matched against what a read could have served one poll earlier."""

    def __init__(self, meter):
        self.c = meter.control()
        self.samples = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            g = self.c.get()
            self.samples.append((time.monotonic(), g["bt23"]["fwd_wh"], g["bt23"]["rev_wh"], g["bt28"]))
            self._stop.wait(0.1)

    def window(self, t0, t1):
        return [s for s in list(self.samples) if t0 <= s[0] <= t1]

    def stop(self):
        self._stop.set()
        self._t.join(5)


# RMS voltages and currents move every second in the model; a read can fall
# between two samples, so they are checked against the window's range (+0.1 %).
DRIFTING = {f"L{i}_RMS_{u}" for i in (1, 2, 3) for u in "VA"}


def mismatches(doc, samples):
    """[] if the doc's energy and BT28 members equal what the model served in
    the window: the steady BT28 members all from one sample (the module must
    serve one BT28 reply whole, 8.1/10), the drifting ones within its range."""
    assert samples, "no model samples in the window"
    bad = []
    for member, k in (("Fwd_Act_Wh", 1), ("Rev_Act_Wh", 2)):
        if not any(abs(doc[member] - s[k]) <= 1 for s in samples):
            bad.append(f"{member} {doc[member]} vs model {sorted({s[k] for s in samples})}")
    steady = {m: i for m, i in BT28_INDEX.items() if m not in DRIFTING}
    if not any(all(doc[m] == s[3][i] for m, i in steady.items()) for s in samples):
        last = samples[-1][3]
        bad.append("steady BT28 members match no single model sample; the last differs in " +
                   str({m: (doc[m], last[i]) for m, i in steady.items() if doc[m] != last[i]}))
    for m in sorted(DRIFTING):
        vals = [s[3][BT28_INDEX[m]] for s in samples]
        slack = abs(max(vals)) // 1000
        if not min(vals) - slack <= doc[m] <= max(vals) + slack:
            bad.append(f"{m} {doc[m]} outside the model's [{min(vals)}, {max(vals)}]")
    return bad


def check_contract(doc, name):
    for m in CONTRACT_STRINGS:
        assert isinstance(doc.get(m), str) and doc[m], f"{name}: {m} = {doc.get(m)!r}"
    for m in CONTRACT_INTEGERS:
        assert isinstance(doc.get(m), int) and not isinstance(doc[m], bool), \
            f"{name}: {m} = {doc.get(m)!r} is not a JSON integer"


def values_follow_the_meter(rig, board, name, seconds=8.0):
    """Every document fetched for `seconds` equals the model within one poll."""
    sampler = Sampler(rig.meter)
    try:
        time.sleep(POLL_S[name] + 1)  # samples from before the first checked doc
        end = time.monotonic() + seconds
        checked = 0
        while time.monotonic() < end:
            t = time.monotonic()
            st, doc, _ = board.get()
            assert st == 200, f"{name}: {st} {doc}"
            check_contract(doc, name)
            bad = mismatches(doc, sampler.window(t - POLL_S[name] - 1.5, t + 0.05))
            assert not bad, f"{name} at {t:.1f}: {bad}\n{board.stderr()[-4000:]}"
            checked += 1
            time.sleep(0.5)
        assert checked >= 8
    finally:
        sampler.stop()


def watch_spike(rig, board, seconds):
    """Inject S16 (fwd + 2^24 Wh for 3 BT23 reads) and record (doc, truth)."""
    c = rig.meter.control()
    base = c.get()["bt23"]["fwd_wh"]
    c.glitch("spike delta=2^24 polls=3")
    seen = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        st, doc, _ = board.get()
        if st == 200:
            seen.append((doc, c.get()["bt23"]["fwd_wh"]))
        time.sleep(0.3)
    return base, seen


# ---- mep_module (firmware/arduino) -------------------------------------------------------
def not_ready_fields(board):
    """GET /getDashDataWS where nothing can be served: assert the answer is a
    503 text/plain body no JSON parser takes, return its fields."""
    st, doc, headers = board.get(record=False)
    ctype = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
    assert st == 503 and doc is None and ctype.startswith("text/plain"), (st, doc, headers)
    st, body = board.request("GET", "/getDashDataWS")
    assert st == 503 and body.startswith("not ready: "), (st, body)
    with pytest.raises(ValueError):
        json.loads(body)
    fields = dict(line.partition(": ")[::2] for line in body.splitlines())
    assert list(fields) == NOT_READY_FIELDS, body
    assert "Utility_SN" not in body and "Fwd_Act_Wh" not in body
    assert fields["CurrentDateTime"].endswith(".000Z")
    return fields


class StatusIgnoringClient:
    """GETs /getDashDataWS every `interval` s and, like the HA integration
    (docs/module-behaviour.md 8.4), takes every body that parses as JSON as
    the meter's data whatever the status code. Keeps (t, status, body, doc)."""

    def __init__(self, board, interval=0.25):
        self.board, self.interval, self.records = board, interval, []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            st, body = self.board.request("GET", "/getDashDataWS", timeout=3.0)
            try:
                doc = json.loads(body) if st is not None else None
            except ValueError:
                doc = None
            self.records.append((time.monotonic(), st, body, doc))
            self._stop.wait(self.interval)

    def stop(self):
        self._stop.set()
        self._t.join(10)
        return self.records

    def stored(self):
        return [(t, d) for t, _, _, d in self.records if d is not None]

    def assert_never_garbage(self):
        """Every JSON body is a whole contract document with 200, every other
        answer a non-JSON 503 'not ready: ...'."""
        for _, st, body, doc in self.records:
            if st is None:
                continue
            if doc is not None:
                assert st == 200 and isinstance(doc, dict), (st, body[:200])
                missing = [k for k in CONTRACT_KEYS if k not in doc]
                assert not missing, f"JSON body without {missing}: {body[:200]}"
            else:
                assert st == 503 and body.startswith("not ready: "), (st, body[:200])


def setup_mep_module(rigs, built):
    rig, board = start(rigs, built, "mep_module")
    fields = not_ready_fields(board)
    assert "MBK" in fields["not ready"] and fields["Status"] == "NO_KEY", f"before a key: {fields}"
    # the description's provision: POST /setup with the key (and its poll period)
    ((request, st, body),) = board.provision()
    assert request == "POST /setup" and st == 200 and json.loads(body)["ok"], body
    board.wait_json(timeout=60)
    return rig, board


def test_mep_module_serves_the_contract_equal_to_the_meter_within_one_poll(rigs, built):
    rig, board = setup_mep_module(rigs, built)
    doc = board.get_json()
    # the 34 members in the reference's order, then the host port's extras (8.1)
    assert list(doc) == CONTRACT_STRINGS + CONTRACT_INTEGERS + HOST_EXTRAS, list(doc)
    assert doc["Status"] == "OK" and doc["Energy_Suspect"] is False and doc["Clock_Source"] == "meter"
    values_follow_the_meter(rig, board, "mep_module")
    st, status, _ = board.get("/status")
    assert st == 200 and status["status"] == "OK" and status["transceiver_on"] and status["enable_on"]


def test_mep_module_refuses_a_bad_key_and_changes_nothing(rigs, built):
    rig, board = start(rigs, built, "mep_module")
    st, body = board.request("POST", "/setup", "mbk=short&mqtt_port=1884")
    assert st == 400 and "mbk" in json.loads(body)["error"], body
    assert not_ready_fields(board)["Status"] == "NO_KEY"
    st, body = board.request("GET", "/setup")
    assert st == 200 and 'name="mqtt_port" value="1883"' in body


def test_mep_module_keeps_its_key_across_a_restart(rigs, built):
    rig, board = setup_mep_module(rigs, built)
    board.restart()                     # SIGTERM, same state dir, no POST
    doc = board.wait_json(timeout=60)
    assert doc["Utility_SN"]


def test_mep_module_not_ready_and_stale_answers_are_never_stored_as_data(rigs, built):
    # firmware/README.md "Served states": before a key, while the first energy value is
    # being confirmed, and once the meter has been silent for 3 polls + 2 s, the answer is a
    # text/plain 503; a consumer that ignores status codes stores nothing, shows nothing stale
    rig, board = start(rigs, built, "mep_module")
    client = StatusIgnoringClient(board)
    try:
        time.sleep(1.0)
        ((request, st, body),) = board.provision()
        assert st == 200, body
        board.wait_json(timeout=60)
        time.sleep(2.0)
        c = rig.meter.control()
        fid = c.inject("silence dir=to-module")
        t_silent = time.monotonic()
        procs.wait_for(lambda: client.records and client.records[-1][1] == 503, 15,
                       "503 while the meter is silent", interval=0.2)
        time.sleep(3.0)
        t_503 = time.monotonic()
        c.clear(fid)
        board.wait_json(timeout=60)
        time.sleep(1.0)
    finally:
        client.stop()
    client.assert_never_garbage()
    reasons = [body.splitlines()[0] for _, st, body, _ in client.records if st == 503]
    assert any("MBK" in r for r in reasons), reasons[:5]
    assert any("not confirmed" in r for r in reasons), sorted(set(reasons))
    assert any("stale" in r for r in reasons), sorted(set(reasons))
    # 3 polls (2 s) + 2 s slack + one poll of phase + a request in flight: stale by 9 s
    late = [round(t - t_silent, 2) for t, d in client.stored() if t_silent + 9 <= t <= t_503]
    assert not late, f"stale readings served as live at {late[:5]} s of silence"
    after = [d for t, d in client.stored() if t > t_503]
    assert after and all(d["Utility_SN"] for d in after)


def test_mep_module_holds_a_kwh_spike(rigs, built):
    rig, board = setup_mep_module(rigs, built)
    base, seen = watch_spike(rig, board, 12)
    assert seen, board.stderr()[-4000:]
    published = [d["Fwd_Act_Wh"] for d, _ in seen]
    assert max(published) < base + 1000, f"the spike was published: {published}"
    held = [d for d, _ in seen if d["Energy_Suspect"]]
    assert held, f"the spike was never flagged: {[(d['Raw_Fwd_Act_Wh'], d['Energy_Suspect']) for d, _ in seen]}"
    assert any(d["Raw_Fwd_Act_Wh"] >= base + SPIKE_WH for d in held), held[0]


def test_mep_module_publishes_the_mqtt_topics_and_discovery(rigs, built, tmp_path):
    pytest.importorskip("paho.mqtt.client", reason="python3-paho-mqtt is not installed")
    rig = rigs(built["mep_module"])
    broker = rig.add(Broker(rig.artifacts))      # skips when mosquitto is not installed
    cap = MqttCapture(broker.address, ("#",), client_id="sketch-test", clock=time.monotonic)
    rig.collectors.append(cap)
    board = rig.board.start(extra=["--mqtt", broker.address], provision=False)
    # MQTT needs a network: the board joins any SSID at once (the module restarts for it)
    body = "mbk=" + urllib.parse.quote(MBK) + "&wifi_ssid=HomeNet&wifi_pass=secret&mqtt_host=broker.lan"
    st, reply = board.request("POST", "/setup", body)
    assert st == 200 and json.loads(reply)["restarting"], reply
    total = "esp32-mep/meterConsumptionTotal/mydatajson"
    cap.wait_topic(total, 60, count=2)
    msgs = cap.snapshot()
    topics = {t for _, t, _, _ in msgs}
    assert ("esp32-mep/lwt", b"Online") in {(t, p) for _, t, p, _ in msgs}
    for t in ["sensors", "meterConsumptionTotal", "meterConsumptionFwd", "meterConsumptionRev",
              "frequency"]:
        assert f"esp32-mep/{t}/mydatajson" in topics, sorted(topics)
    doc = json.loads([p for _, t, p, _ in msgs if t == total][-1])
    assert sorted(doc) == ["Fwd_Act_Wh", "Rev_Act_Wh"] and doc["Fwd_Act_Wh"] > 0
    config = [t for t in topics if t.startswith("homeassistant/sensor/esp32-mep/")]
    assert len(config) >= 20, sorted(topics)
    times = [t for t, topic, _, _ in msgs if topic == total]
    assert all(8.0 <= b - a <= 13.0 for a, b in zip(times, times[1:])), times


# ---- hobby-module (fixtures/sketches) ------------------------------------------------------
def setup_hobby(rigs, built):
    rig, board = start(rigs, built, "hobby")
    assert board.get()[0] == 503
    # the description's provision: GET /settings?mbk=...; the sketch saves, waits
    # 2 s and restarts (ESP.restart(): the kit relaunches it), which it waits for
    ((request, st, _),) = board.provision()
    assert request == "GET /settings?mbk={mbk}" and st in (200, None)
    board.wait_json(timeout=90)
    return rig, board


def test_hobby_module_serves_the_contract_equal_to_the_meter_within_one_poll(rigs, built):
    rig, board = setup_hobby(rigs, built)
    values_follow_the_meter(rig, board, "hobby", seconds=10.0)


def test_hobby_module_publishes_a_kwh_spike_unfiltered(rigs, built):
    rig, board = setup_hobby(rigs, built)
    base, seen = watch_spike(rig, board, 15)
    spiked = [d["Fwd_Act_Wh"] for d, truth in seen if d["Fwd_Act_Wh"] >= truth + SPIKE_WH - 10]
    assert spiked, (f"the hobby sketch did not publish the spike: "
                    f"{[d['Fwd_Act_Wh'] for d, _ in seen]}\n{board.stderr()[-4000:]}")
    # and afterwards the true value again (it publishes whatever the meter says)
    assert abs(seen[-1][0]["Fwd_Act_Wh"] - seen[-1][1]) <= 1, seen[-1]


def test_hobby_module_power_cycles_and_restarts_on_a_silent_meter(rigs, built):
    """The kit copes with blocking code: timeouts in `while (!Serial2.available())`
    loops, GPIO power cycles seen by the meter, ESP.restart() after 5 failures,
    and readings again once the meter answers."""
    rig, board = setup_hobby(rigs, built)
    c = rig.meter.control()
    fault = c.inject("silence")
    board.console.mark()
    board.expect(r"Hobby MEP module starting", 60)    # restarted after 5 timeouts
    status = c.list_faults()
    cycles = int(status.split("cycles_long=")[1].split()[0]) + \
        int(status.split("cycles_short=")[1].split()[0])
    assert cycles >= 4, f"the meter saw {cycles} transceiver power cycles:\n{status}"
    # after the restart, with the meter still silent, there is nothing to serve
    procs.wait_for(lambda: board.get()[0] == 503, 10, "the restarted sketch's 503",
                   interval=0.2, abort=board._abort_if_dead)
    c.clear(fault)
    doc = board.wait_json(timeout=60)
    truth = c.get()["bt23"]["fwd_wh"]
    assert abs(doc["Fwd_Act_Wh"] - truth) <= 1, (doc["Fwd_Act_Wh"], truth)
