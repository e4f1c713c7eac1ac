"""Helpers for the module-firmware end-to-end tests (test_fw_*.py).

The processes are the osgp_hil harness's (hil/osgp_hil/harness.py): a
`Meter` (mepsim on a PTY with a control socket), a `Board` (mepmod from the
shipped board description, template values from the test, extra arguments
appended), a private mosquitto `Broker`, an MQTT collector, all stopped and
checked by the `rig` fixture's `Rig.finish()`: a process that died by a
signal, exited uncleanly after SIGTERM, ended on its own or left a sanitizer
report fails the test. The module JSON contract and the Home Assistant rules
(`HaFilter`, docs/module-behaviour.md 8.4) come from `osgp_hil.contract`.

Here: the tests' own clients for what the processes serve (raw HTTP GETs,
`DashRecorder`, `ModelSampler`) and thin starters with the tests' defaults.
"""

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from osgp_hil import paths
from osgp_hil.boards import default_board
from osgp_hil.contract import (BT28_INDEX, DASH_INTEGERS, DASH_MEMBERS, DASH_STRINGS,  # noqa: F401
                               HA_INTEGER_MEMBERS, MQTT_TOPICS, HaFilter, is_json_int)
from osgp_hil.harness import Board, Broker, Meter, MqttCapture, Rig
from osgp_hil.mepsim_control import MepsimControl
from osgp_hil.procs import SANITIZER_MARKS, free_port, wait_for  # noqa: F401

REPO = paths.CHECKOUT
MEPSIM_BIN = paths.binary_or_none("mepsim") or Path("mepsim (not found: set MEPSIM_BIN)")
MEPMOD_BIN = paths.binary_or_none("mepmod") or Path("mepmod (not found: set MEPMOD_BIN)")
MOSQUITTO_BIN = Path(shutil.which("mosquitto") or "/usr/sbin/mosquitto")

# A 20-character MBK as the utility hands it out (docs/module-behaviour.md 3).
MBK = "MEPtestKey0123456789"
WRONG_MBK = "WrongKey000000000000"


def need_binaries(*bins):
    """Skip (with the path in the reason) if a binary has not been built."""
    for b in bins:
        if not Path(b).is_file() or not os.access(b, os.X_OK):
            pytest.skip(f"{b} not built (set MEPSIM_BIN/MEPMOD_BIN or build into <repo>/build)")


def run_to_exit(args, cwd, timeout=10):
    """Run mepsim with args to completion (command-line tests); a sanitizer
    report fails the test whatever the exit code."""
    r = subprocess.run([str(paths.mepsim_bin())] + [str(a) for a in args], cwd=str(cwd),
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    for mark in SANITIZER_MARKS:
        assert mark not in r.stderr, r.stderr
    return r


def run_mepsim(tmp, pty_name="meter.pty", extra=(), mbk=MBK):
    """Start mepsim on a PTY with a control socket -> (Meter, pty path, control path)."""
    tmp = Path(tmp)
    pty = tmp / pty_name
    ctl = tmp / (pty_name + ".ctl")
    sim = Meter(tmp, name="mepsim-" + pty_name)
    sim.start(args=["--pty", pty, "--mbk", mbk, "--control", ctl, *extra])
    return sim, pty, ctl


def run_mepmod(rig, pty, http_port, mbk=MBK, ctl=None, extra=(), name="mepmod", wait=True):
    """Start mepmod (the shipped board description) on pty; wait until its
    HTTP port answers. Returns the harness Board (alive, stop, stderr, stdout)."""
    board = Board(rig, spec=default_board(), name=name)
    return board.launch(port=pty, control=ctl, mbk=mbk, http_port=http_port, extra=extra,
                        wait=wait)


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
    """GET /getDashDataWS -> (status, parsed JSON or None, headers).

    Not-ready and stale answers are 503 text/plain (firmware/README.md,
    "Served states"): their body is no JSON document, so doc is None."""
    status, headers, body = http_get(port, "/getDashDataWS")
    try:
        doc = json.loads(body)
    except ValueError:
        if status == 200:
            raise
        doc = None
    return status, doc, headers


def wait_ready(port, timeout=30):
    """Wait until /getDashDataWS answers 200 (boot reads done, first poll in)."""
    def ready():
        st, doc, _ = get_dash(port)
        return doc if st == 200 else None
    return wait_for(ready, timeout, "mepmod to serve readings (200 from /getDashDataWS)",
                    interval=0.2)

# ---- mepsim control socket -------------------------------------------------
def control(ctl_path):
    """A MepsimControl client (osgp_hil.mepsim_control)."""
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
class MqttCollector(MqttCapture):
    """Subscribes on the test's broker and records (monotonic time, topic,
    payload, retain), comparable with DashRecorder's times."""

    def __init__(self, port, topics=("#",), client_id=None):
        super().__init__(f"127.0.0.1:{port}", topics, client_id, clock=time.monotonic)


@pytest.fixture
def rig(tmp_path):
    """The harness Rig of one test: everything added is stopped and checked."""
    r = Rig(artifacts=tmp_path)
    yield r
    problems = r.finish()
    assert not problems, "; ".join(problems)


def dump_logs(*procs):
    """Text for an assertion message: the tail of each process's stderr."""
    return "\n".join(f"--- {p.name} ---\n{p.stderr()[-3000:]}" for p in procs)


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
                # 200: the JSON contract; not ready or stale: 503 text/plain,
                # never a JSON body a careless consumer could store as data
                if status == 200 and headers.get("content-type") != "application/json":
                    self.errors.append(f"Content-Type {headers.get('content-type')!r} on 200")
                if status != 200 and doc is not None:
                    self.errors.append(f"a JSON body on a {status} answer: {doc!r}")
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
