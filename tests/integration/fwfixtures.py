"""Helpers for the module-firmware end-to-end tests (test_fw_*.py).

Owns: starting real processes for one test - mepsim on a PTY with a control
socket, mepmod (the firmware's host port) on that PTY, a private mosquitto
broker on 127.0.0.1 - plus small clients for what they serve (HTTP GET, an
MQTT collector) and `HaFilter`, a model of the Home Assistant integration's
acceptance rules (module-behaviour.md 8.4) applied to every JSON document a
test fetched.

Binaries come from MEPSIM_BIN / MEPMOD_BIN (defaults under <repo>/build).
Every process is stopped at teardown; a process that died by a signal or left
a sanitizer report fails the test (`Proc.check`).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "hil"))

MEPSIM_BIN = Path(os.environ.get("MEPSIM_BIN", REPO / "build" / "simulator" / "mepsim"))
MEPMOD_BIN = Path(os.environ.get("MEPMOD_BIN", REPO / "build" / "firmware" / "host" / "mepmod"))
MOSQUITTO_BIN = Path(os.environ.get("MOSQUITTO_BIN", "/usr/sbin/mosquitto"))

# A 20-character MBK as the utility hands it out (module-behaviour 3).
MBK = "MEPtestKey0123456789"
WRONG_MBK = "WrongKey000000000000"

# The 34 members of module-behaviour.md 8.1, in the reference's order.
DASH_STRINGS = ["ESP_SW", "ESP_SW_By", "ESP_SW_Version", "Meter_Manufacturer", "Meter_Model",
                "Meter_SW_Version", "Utility_SN", "CurrentDateTimeString", "CurrentDateTime"]
DASH_INTEGERS = ["Fwd_Act_Wh", "Rev_Act_Wh", "Fwd_W", "Rev_W", "Freq_mHz",
                 "L1_RMS_A", "L2_RMS_A", "L3_RMS_A", "L1_RMS_V", "L2_RMS_V", "L3_RMS_V",
                 "L1_Fwd_W", "L2_Fwd_W", "L3_Fwd_W", "L1_Rev_W", "L2_Rev_W", "L3_Rev_W",
                 "Fwd_Avg_W", "Rev_Avg_W", "L1_Fwd_Avg_W", "L2_Fwd_Avg_W", "L3_Fwd_Avg_W",
                 "L1_Rev_Avg_W", "L2_Rev_Avg_W", "L3_Rev_Avg_W"]
DASH_MEMBERS = DASH_STRINGS + DASH_INTEGERS
# The 16 members HA needs as integers at setup (8.4).
HA_INTEGER_MEMBERS = ["Fwd_Act_Wh", "Rev_Act_Wh", "L1_RMS_A", "L2_RMS_A", "L3_RMS_A",
                      "L1_RMS_V", "L2_RMS_V", "L3_RMS_V", "Fwd_W", "Rev_W",
                      "L1_Fwd_W", "L2_Fwd_W", "L3_Fwd_W", "L1_Rev_W", "L2_Rev_W", "L3_Rev_W"]

# BT28 value index of every BT28-derived output member (module-behaviour 7).
BT28_INDEX = {
    "Fwd_W": 0, "Rev_W": 1, "ImportReactive_VAr": 2, "ExportReactive_VAr": 3,
    "L1_RMS_A": 4, "L2_RMS_A": 5, "L3_RMS_A": 6, "L1_RMS_V": 7, "L2_RMS_V": 8, "L3_RMS_V": 9,
    "L1_PF_Fac": 10, "Freq_mHz": 11, "L2_PF_Fac": 13, "L3_PF_Fac": 14,
    "L1_Fwd_W": 26, "L2_Fwd_W": 27, "L3_Fwd_W": 28, "L1_Rev_W": 29, "L2_Rev_W": 30,
    "L3_Rev_W": 31, "Fwd_Avg_W": 47, "Rev_Avg_W": 48, "L1_Fwd_Avg_W": 49, "L2_Fwd_Avg_W": 50,
    "L3_Fwd_Avg_W": 51, "L1_Rev_Avg_W": 52, "L2_Rev_Avg_W": 53, "L3_Rev_Avg_W": 54,
}

# The 8.2 MQTT topics (after "<prefix>/") and their members.
MQTT_TOPICS = {
    "sensors/mydatajson": ["L1_RMS_A", "L2_RMS_A", "L3_RMS_A", "L1_RMS_V", "L2_RMS_V",
                           "L3_RMS_V", "L1_PF_Fac", "L2_PF_Fac", "L3_PF_Fac",
                           "ExportReactive_VAr", "ImportReactive_VAr"],
    "meterConsumptionTotal/mydatajson": ["Fwd_Act_Wh", "Rev_Act_Wh"],
    "meterConsumptionFwd/mydatajson": ["Fwd_W", "Fwd_Avg_W", "L1_Fwd_W", "L2_Fwd_W", "L3_Fwd_W",
                                       "L1_Fwd_Avg_W", "L2_Fwd_Avg_W", "L3_Fwd_Avg_W"],
    "meterConsumptionRev/mydatajson": ["Rev_W", "Rev_Avg_W", "L1_Rev_W", "L2_Rev_W", "L3_Rev_W",
                                       "L1_Rev_Avg_W", "L2_Rev_Avg_W", "L3_Rev_Avg_W"],
    "frequency/mydatajson": ["Freq_mHz"],
}

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer")


def need_binaries(*bins):
    """Skip (with the path in the reason) if a binary has not been built."""
    for b in bins:
        if not Path(b).is_file() or not os.access(b, os.X_OK):
            pytest.skip(f"{b} not built (set MEPSIM_BIN/MEPMOD_BIN or build into <repo>/build)")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, timeout, what, interval=0.05):
    """Poll cond() until it returns a truthy value; fail naming `what`."""
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        try:
            last = cond()
        except (OSError, ValueError) as e:  # not up yet
            last = None
            err = e
        else:
            err = None
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}"
                         + (f" (last error: {err})" if err else ""))


class Proc:
    """A child process with its output in files (never a pipe that can fill)."""

    def __init__(self, name, argv, tmp, env=None):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.out_path = Path(tmp) / f"{name}.out"
        self.err_path = Path(tmp) / f"{name}.err"
        self._out = open(self.out_path, "wb")
        self._err = open(self.err_path, "wb")
        e = dict(os.environ)
        e.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        e.update(env or {})
        self.p = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self._out,
                                  stderr=self._err, env=e)
        self.stop_called = False  # the test ended it on purpose

    def alive(self):
        return self.p.poll() is None

    def stderr(self):
        return self.err_path.read_text(errors="replace")

    def stdout(self):
        return self.out_path.read_text(errors="replace")

    def stop(self, sig=signal.SIGTERM, timeout=10):
        self.stop_called = True
        if self.alive():
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)
                raise AssertionError(f"{self.name} did not exit within {timeout} s of {sig!r}")
        self._out.close()
        self._err.close()
        return self.p.returncode

    def check(self, expect_clean=True):
        """Fail if the process crashed or a sanitizer reported anything."""
        err = self.stderr()
        for mark in SANITIZER_MARKS:
            assert mark not in err, f"{self.name}: sanitizer report:\n{err[-4000:]}"
        rc = self.p.returncode
        if expect_clean and rc is not None:
            assert rc == 0, f"{self.name} exited with {rc}; stderr:\n{err[-3000:]}"


def run_mepsim(tmp, pty_name="meter.pty", extra=(), mbk=MBK):
    """Start mepsim on a PTY with a control socket; wait until both exist."""
    need_binaries(MEPSIM_BIN)
    tmp = Path(tmp)
    pty = tmp / pty_name
    ctl = tmp / (pty_name + ".ctl")
    argv = [MEPSIM_BIN, "--pty", pty, "--mbk", mbk, "--control", ctl, *extra]
    proc = Proc("mepsim-" + pty_name, argv, tmp)
    wait_for(lambda: (pty.exists() and ctl.exists()) or not proc.alive(), 10,
             "mepsim to create its PTY and control socket")
    assert proc.alive(), f"mepsim exited at start-up:\n{proc.stderr()}"
    return proc, pty, ctl


def run_mepmod(tmp, pty, http_port, mbk=MBK, ctl=None, extra=(), name="mepmod", wait=True):
    """Start mepmod on pty; wait until its HTTP port answers."""
    need_binaries(MEPMOD_BIN)
    argv = [MEPMOD_BIN, "--port", pty, "--mbk", mbk, "--http-port", http_port]
    if ctl:
        argv += ["--control", ctl]
    argv += list(extra)
    proc = Proc(name, argv, tmp)
    if wait:
        wait_for(lambda: not proc.alive() or http_get(http_port, "/status")[0] == 200, 10,
                 "mepmod's HTTP server")
        assert proc.alive(), f"mepmod exited at start-up:\n{proc.stderr()}"
    return proc


def http_get(port, path, timeout=3.0):
    """One GET on a fresh connection: (status, headers dict lower-case, body bytes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n"
                  f"Connection: close\r\n\r\n".encode())
        return read_http_response(s)


def read_http_response(s):
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise ValueError(f"connection closed before the response head: {buf!r}")
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    while len(body) < n:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body[:n]


def get_dash(port):
    """GET /getDashDataWS -> (status, parsed JSON, headers)."""
    status, headers, body = http_get(port, "/getDashDataWS")
    return status, json.loads(body), headers


def wait_ready(port, timeout=30):
    """Wait until /getDashDataWS answers 200 (boot reads done, first poll in)."""
    def ready():
        st, doc, _ = get_dash(port)
        return doc if st == 200 else None
    return wait_for(ready, timeout, "mepmod to serve readings (200 from /getDashDataWS)",
                    interval=0.2)


# ---- mepsim control socket -------------------------------------------------
def control(ctl_path):
    """A MepsimControl client (hil/mepsim_control.py, engineer h3)."""
    from mepsim_control import MepsimControl  # noqa: E402 (path set above)
    return MepsimControl(str(ctl_path))


def _find(d, *names):
    for n in names:
        if isinstance(d, dict) and n in d:
            return d[n]
    return None


def model_truth(ctl):
    """Model truth from `get`: {"fwd_wh", "rev_wh", "bt28": [...]}, as a read
    would serve them now (the meter's own view, not our decode)."""
    g = ctl.get()
    bt23 = _find(g, "bt23", "BT23") or {}
    fwd = _find(bt23, "fwd_wh", "Fwd_Act_Wh", "fwd")
    rev = _find(bt23, "rev_wh", "Rev_Act_Wh", "rev")
    if fwd is None:
        fwd = _find(g, "bt23_fwd_wh", "fwd_wh")
        rev = _find(g, "bt23_rev_wh", "rev_wh")
    bt28 = _find(g, "bt28", "BT28", "bt28_values")
    if isinstance(bt28, dict):
        bt28 = _find(bt28, "values", "v")
    assert fwd is not None and bt28 is not None, f"unexpected `get` reply layout: {g}"
    return {"fwd_wh": int(fwd), "rev_wh": int(rev), "bt28": [int(x) for x in bt28], "raw": g}


# ---- MQTT --------------------------------------------------------------------
class Broker:
    """A private mosquitto on 127.0.0.1:<free port> with a generated config."""

    def __init__(self, tmp, port=None):
        if not MOSQUITTO_BIN.exists():
            pytest.skip(f"{MOSQUITTO_BIN} is not installed: MQTT tests need a real broker")
        self.port = port or free_port()
        conf = Path(tmp) / "mosquitto.conf"
        conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
                        f"persistence false\nlog_dest stderr\nlog_type error\nlog_type warning\n")
        self.proc = Proc("mosquitto", [MOSQUITTO_BIN, "-c", conf], tmp)

        def up():
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        wait_for(up, 10, f"mosquitto on port {self.port}")

    def stop(self):
        self.proc.stop()


class MqttCollector:
    """Subscribes to everything and records (time, topic, payload, retain)."""

    def __init__(self, port, topics=("#",), client_id=None):
        import paho.mqtt.client as mqtt
        self.messages = []
        self.lock = threading.Lock()
        kw = {}
        if hasattr(mqtt, "CallbackAPIVersion"):
            kw["callback_api_version"] = mqtt.CallbackAPIVersion.VERSION1
        self.c = mqtt.Client(client_id=client_id or f"fwtest-{os.getpid()}-{time.monotonic_ns()}",
                             **kw)
        self._subscribed = threading.Event()

        def on_connect(c, userdata, flags, rc):
            for t in topics:
                c.subscribe(t, qos=0)
            self._subscribed.set()

        def on_message(c, userdata, msg):
            with self.lock:
                self.messages.append((time.monotonic(), msg.topic, msg.payload, bool(msg.retain)))

        self.c.on_connect = on_connect
        self.c.on_message = on_message
        self.c.connect("127.0.0.1", port, keepalive=30)
        self.c.loop_start()
        assert self._subscribed.wait(10), "MQTT collector could not connect/subscribe"
        time.sleep(0.2)  # SUBACK in flight

    def snapshot(self):
        with self.lock:
            return list(self.messages)

    def on_topic(self, topic):
        return [m for m in self.snapshot() if m[1] == topic]

    def wait_topic(self, topic, timeout, count=1):
        return wait_for(lambda: len(self.on_topic(topic)) >= count and self.on_topic(topic),
                        timeout, f"{count} MQTT message(s) on {topic}")

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


# ---- Home Assistant integration model (module-behaviour.md 8.4) -----------------
def is_json_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


class HaFilter:
    """The HA integration's acceptance rules, applied to documents in order.

    offer(doc, t) returns a list of reasons the object would be held (empty =
    accepted and no "Problem"). t is the time the document was fetched (s).
    Rules (8.4): integer members; first object accepted; Fwd_Act_Wh a JSON
    integer; Δt = max(seconds since the last accepted object, 60); limit =
    16 A × 3 × 230 V / 3600 × 3 × Δt; 0 <= ΔFwd <= limit, or any Δ once the
    real gap exceeds 1800 s; always |(Fwd_W - Rev_W) - Σ(Lx_Fwd_W - Lx_Rev_W)|
    <= 3 W; CurrentDateTime must differ from the previous refresh when the
    refreshes are at HA's minimum interval (>= 5 s) apart.
    """

    REFRESH_MIN_S = 5.0

    def __init__(self):
        self.accepted = None
        self.accepted_t = None
        self.history = []  # (t, CurrentDateTime)

    @staticmethod
    def limit_wh(dt_s):
        return 16 * 3 * 230 / 3600 * 3 * max(dt_s, 60.0)

    def offer(self, doc, t):
        problems = []
        sn = doc.get("Utility_SN")
        if not isinstance(sn, str) or not sn:
            problems.append(f"Utility_SN not a non-empty string: {sn!r}")
        for k in HA_INTEGER_MEMBERS:
            if not is_json_int(doc.get(k)):
                problems.append(f"{k} not a JSON integer: {doc.get(k)!r}")
        if not problems:
            fwd_sum = sum(doc[f"L{i}_Fwd_W"] - doc[f"L{i}_Rev_W"] for i in (1, 2, 3))
            if abs((doc["Fwd_W"] - doc["Rev_W"]) - fwd_sum) > 3:
                problems.append(f"sum rule: Fwd_W-Rev_W = {doc['Fwd_W'] - doc['Rev_W']} vs "
                                f"per-phase {fwd_sum}")
            if self.accepted is not None:
                gap = t - self.accepted_t
                d = doc["Fwd_Act_Wh"] - self.accepted["Fwd_Act_Wh"]
                if gap <= 1800 and not (0 <= d <= self.limit_wh(gap)):
                    problems.append(f"energy step {d} Wh after {gap:.1f} s outside "
                                    f"[0, {self.limit_wh(gap):.0f}]")
        older = [h for h in self.history if h[0] <= t - self.REFRESH_MIN_S]
        if older and older[-1][1] == doc.get("CurrentDateTime"):
            problems.append(f"CurrentDateTime {doc.get('CurrentDateTime')!r} unchanged since "
                            f"{t - older[-1][0]:.1f} s ago")
        self.history.append((t, doc.get("CurrentDateTime")))
        if not problems:
            self.accepted = doc
            self.accepted_t = t
        return problems


class Rig:
    """Processes of one test; stop() kills everything and checks for crashes."""

    def __init__(self, tmp):
        self.tmp = Path(tmp)
        self.procs = []
        self.broker = None
        self.collectors = []

    def add(self, proc):
        self.procs.append(proc)
        return proc

    def stop(self):
        for c in self.collectors:
            try:
                c.close()
            except Exception:  # noqa: BLE001 - best effort at teardown
                pass
        errors = []
        for p in reversed(self.procs):
            try:
                if p.alive():
                    # still running at teardown: SIGTERM must give a clean exit (0)
                    rc = p.stop()
                    if rc != 0:
                        errors.append(f"{p.name} exited with {rc} after SIGTERM:\n"
                                      f"{p.stderr()[-2000:]}")
                elif not p.stop_called:
                    errors.append(f"{p.name} ended on its own (status {p.p.returncode}):\n"
                                  f"{p.stderr()[-2000:]}")
                else:
                    p.stop()  # closes the log files
                p.check(expect_clean=False)
            except AssertionError as e:
                errors.append(str(e))
        if self.broker:
            self.broker.stop()
        assert not errors, "; ".join(errors)


@pytest.fixture
def rig(tmp_path):
    r = Rig(tmp_path)
    yield r
    r.stop()


def dump_logs(*procs):
    """Text for an assertion message: the tail of each process's stderr."""
    return "\n".join(f"--- {p.name} ---\n{p.stderr()[-3000:]}" for p in procs)


def which(name):
    return shutil.which(name)


@pytest.fixture
def silent_pty(tmp_path):
    """A PTY nobody answers on: enough to test mepmod's edges without a meter."""
    import pty as _pty
    import tty as _tty
    master, slave = _pty.openpty()
    _tty.setraw(slave)
    link = tmp_path / "silent.pty"
    os.symlink(os.ttyname(slave), link)
    yield link
    os.close(master)
    os.close(slave)


class DashRecorder:
    """Fetches /getDashDataWS every `interval` s in a thread and keeps every
    answer as (t, status, doc) - the run's complete record for HaFilter and
    the monotonic-energy checks."""

    def __init__(self, http_port, interval=0.5):
        self.port = http_port
        self.interval = interval
        self.records = []
        self.errors = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            t = time.monotonic()
            try:
                status, doc, headers = get_dash(self.port)
                if headers.get("content-type") != "application/json":
                    self.errors.append(f"Content-Type {headers.get('content-type')!r}")
                self.records.append((t, status, doc))
            except (OSError, ValueError) as e:
                self.errors.append(f"{type(e).__name__}: {e}")
            self._stop.wait(self.interval)

    def stop(self):
        self._stop.set()
        self._t.join(10)
        return self.records

    def ok_docs(self):
        return [(t, d) for t, s, d in list(self.records) if s == 200]


class ModelSampler:
    """Samples mepsim's model truth (`get`) every `interval` s in a thread, so
    a published value can be matched against what a read could have served
    in the poll before it was published."""

    def __init__(self, ctl_path, interval=0.1):
        self.ctl_path = ctl_path
        self.interval = interval
        self.samples = []  # (t, truth)
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        c = None
        while not self._stop.is_set():
            try:
                if c is None:
                    c = control(self.ctl_path)
                self.samples.append((time.monotonic(), model_truth(c)))
            except (OSError, ConnectionError, ValueError):
                c = None  # mepsim restarting: reconnect on the next round
            self._stop.wait(self.interval)
        if c:
            c.close()

    def window(self, t0, t1):
        return [s for t, s in list(self.samples) if t0 <= t <= t1]

    def stop(self):
        self._stop.set()
        self._t.join(10)


def model_value(truth, member):
    if member == "Fwd_Act_Wh":
        return truth["fwd_wh"]
    if member == "Rev_Act_Wh":
        return truth["rev_wh"]
    return truth["bt28"][BT28_INDEX[member]]


# Members the model lets drift continuously (slow voltage deviation and the
# currents that follow it): a read between two 100 ms samples may lie a hair
# outside the sampled range, so they get 0.1 % slack. Everything else exact.
DRIFTING = {"L1_RMS_V", "L2_RMS_V", "L3_RMS_V", "L1_RMS_A", "L2_RMS_A", "L3_RMS_A"}


def check_against_model(doc, members, samples):
    """Each member's published value must lie within the range the model
    served during the window (exact for values that did not move)."""
    assert samples, "no model samples in the window"
    bad = []
    for m in members:
        vals = [model_value(s, m) for s in samples]
        slack = abs(max(vals)) // 1000 if m in DRIFTING else 0
        if not (min(vals) - slack <= doc[m] <= max(vals) + slack):
            bad.append(f"{m}={doc[m]} not in model range [{min(vals)}, {max(vals)}]")
    return bad
