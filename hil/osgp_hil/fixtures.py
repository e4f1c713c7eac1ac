"""The objects behind the ``meter``, ``board`` and ``rig`` fixtures.

``Meter``  mepsim as the meter, on the virtual rig's PTY or the bench UART:
           start with a profile or a scenario, read the model's truth and
           counters, inject and clear faults through the control socket.
``Board``  the module under test: mepmod behind a PTY tap (virtual) or the
           real board (bench: console UART, HTTP, MQTT, modem lines). Power
           cycle, reset, console ``expect``, HTTP JSON GET, captured MQTT.
``Rig``    both, plus the per-test meter-line trace and the artefact
           directory (console log, trace, published values) that
           ``finish()`` writes so a failed bench run can be read afterwards.

Everything a test started is stopped in ``Rig.finish()``, which returns
the problems found (crash, sanitizer report, hang) for the plugin to fail
the test with.
"""

import json
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from . import procs
from .modem import ModemLines, open_adapter
from .trace import LINE, Record, Trace, PtyTap, parse_mepsim_log

REPO = procs.REPO
# hil/mepsim_control.py (the control-socket client, owned by h3) sits next
# to this package, not in it.
if str(REPO / "hil") not in sys.path:
    sys.path.insert(0, str(REPO / "hil"))
from mepsim_control import MepsimControl, MepsimControlError  # noqa: E402


class Console:
    """A growing log file with expect(regex, timeout); the position moves
    past each match, so successive expects read forward like pexpect."""

    def __init__(self, path):
        self.path = Path(path)
        self.pos = 0

    def text(self):
        try:
            return self.path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def expect(self, regex, timeout=10.0):
        pat = re.compile(regex) if isinstance(regex, str) else regex
        end = time.monotonic() + timeout
        while True:
            text = self.text()
            m = pat.search(text, self.pos)
            if m:
                self.pos = m.end()
                return m
            if time.monotonic() >= end:
                tail = text[self.pos:][-2000:]
                raise AssertionError(f"console {self.path.name}: no match for {pat.pattern!r} "
                                     f"within {timeout} s; unread output:\n{tail}")
            time.sleep(0.05)


class SerialConsole(Console):
    """Bench: a pyserial reader thread appends the board's console to a file."""

    def __init__(self, path, port, baud, serial_factory=None):
        super().__init__(path)
        if serial_factory is None:
            import serial
            serial_factory = serial.Serial
        self.ser = serial_factory(port, baud, timeout=0.1)
        self._stop = threading.Event()
        self._f = open(self.path, "ab")
        self._t = threading.Thread(target=self._run, name="console", daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            data = self.ser.read(4096)
            if data:
                self._f.write(data)
                self._f.flush()

    def close(self):
        self._stop.set()
        self._t.join(5)
        self.ser.close()
        self._f.close()


class MqttCapture:
    """Every message under <prefix>/# as (time, topic, payload, retain)."""

    def __init__(self, broker, prefix):
        import paho.mqtt.client as mqtt
        host, _, port = broker.partition(":")
        self.messages = []
        self._lock = threading.Lock()
        kw = {}
        if hasattr(mqtt, "CallbackAPIVersion"):
            kw["callback_api_version"] = mqtt.CallbackAPIVersion.VERSION1
        self.c = mqtt.Client(client_id=f"osgp-hil-{time.monotonic_ns()}", **kw)
        subscribed = threading.Event()

        def on_connect(c, userdata, flags, rc):
            c.subscribe(f"{prefix}/#", qos=0)
            subscribed.set()

        def on_message(c, userdata, msg):
            with self._lock:
                self.messages.append((time.time(), msg.topic, msg.payload, bool(msg.retain)))

        self.c.on_connect = on_connect
        self.c.on_message = on_message
        self.c.connect(host, int(port or 1883), keepalive=30)
        self.c.loop_start()
        if not subscribed.wait(10):
            raise AssertionError(f"MQTT capture could not connect to {broker}")

    def snapshot(self):
        with self._lock:
            return list(self.messages)

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


class Meter:
    """mepsim as the meter of this test."""

    def __init__(self, rig):
        self.rig = rig
        self.cfg = rig.config.meter
        self.proc = None
        self.ctl_path = rig.rundir / "meter.ctl"
        self.pty_path = rig.rundir / "meter.pty"
        self._ctl = None
        self.profile = None
        self.scenario = None
        self.runs = []     # every mepsim process this test started

    @property
    def device(self):
        """What the board side connects to: the PTY (virtual) or the UART (bench)."""
        return str(self.pty_path) if self.rig.config.is_virtual else self.cfg.uart

    def _help(self, binary):
        try:
            return subprocess.run([str(binary), "--help"], capture_output=True, text=True,
                                  timeout=10).stdout
        except (OSError, subprocess.TimeoutExpired):
            return ""

    def start(self, profile=None, scenario=None, extra=()):
        """Start mepsim with a profile (file or fixtures/meters name) or a
        scenario (fixtures/scenarios name); skips when mepsim cannot run
        scenarios yet."""
        binary = procs.mepsim_bin(self.cfg.mepsim)
        if not binary.is_file():
            pytest.skip(f"mepsim not built at {binary} (set MEPSIM_BIN or build into <repo>/build)")
        argv = [binary]
        if self.rig.config.is_virtual:
            argv += ["--pty", self.pty_path]
        else:
            argv += ["--uart", self.cfg.uart]
        argv += ["--baud", self.cfg.baud, "--format", self.cfg.format, "--mbk", self.cfg.mbk,
                 "--seed", self.cfg.seed, "--control", self.ctl_path, "-vv"]
        if self.cfg.mak:
            argv += ["--mak", self.cfg.mak]
        if self.cfg.seq_start is not None:
            argv += ["--seq-start", hex(self.cfg.seq_start)]
        prof = self._find(profile, REPO / "fixtures" / "meters") if profile else self.cfg.profile
        if prof:
            argv += ["--profile", prof]
        if scenario:
            if "--scenario" not in self._help(binary):
                pytest.skip(f"scenario {scenario!r}: this mepsim has no --scenario option yet "
                            f"(scenario runs arrive with the fault-injection issue)")
            argv += ["--scenario", self._find(scenario, Path(self.cfg.scenario_dir))]
        argv += list(extra)
        self.profile, self.scenario = prof, scenario
        self.proc = procs.Proc("mepsim", argv, self.rig.artifacts)
        self.runs.append(self.proc)
        try:
            procs.wait_for(lambda: not self.proc.alive() or "mepsim: ready" in self.proc.stdout(),
                           10, "mepsim to print 'mepsim: ready'")
        except AssertionError:
            raise AssertionError(f"mepsim not ready after 10 s:\n{self.proc.stderr()[-2000:]}")
        if not self.proc.alive():
            rc, err = self.proc.stop(), self.proc.stderr()
            self.proc = None      # reported here, not again at teardown
            if scenario and "not supported by mepsim yet" in err:
                pytest.skip(f"scenario {scenario!r}: {err.strip().splitlines()[-1]}")
            raise AssertionError(f"mepsim exited at start-up ({rc}):\n{err[-2000:]}")
        return self

    @staticmethod
    def _find(name, directory):
        p = Path(name)
        for cand in (p, Path(directory) / p, Path(directory) / (p.name + ".json")):
            if cand.is_file():
                return str(cand)
        raise AssertionError(f"{name!r} not found (looked as a path and in {directory})")

    def stop(self):
        if self._ctl:
            self._ctl.close()
            self._ctl = None
        if self.proc is None:
            return []
        rc = self.proc.stop()
        problems = self.proc.problems(rc)
        self.proc = None
        return problems

    def restart(self, **kw):
        problems = self.stop()
        assert not problems, "; ".join(problems)
        return self.start(**kw)

    # ---- control socket ----
    @property
    def ctl(self):
        if self._ctl is None:
            self._ctl = MepsimControl(str(self.ctl_path))
        return self._ctl

    def truth(self):
        """The model's truth as a read would serve it now (`get`)."""
        return self.ctl.get()

    def counters(self):
        return self.ctl.counters()

    def status(self):
        return self.ctl.status()

    def _fault_cmd(self, method, *args):
        fn = getattr(self.ctl, method, None)
        if fn is None:
            pytest.skip(f"hil/mepsim_control.py has no {method}() yet; fault commands arrive "
                        f"with another issue")
        try:
            return fn(*args)
        except MepsimControlError as e:
            if "unknown cmd" in str(e):
                pytest.skip(f"this mepsim has no {method!r} control command yet ({e}); fault "
                            f"commands arrive with another issue")
            raise

    def inject(self, fault, **params):
        """Start a line fault (sim_fault.h) by name with parameters, e.g.
        meter.inject("latchup", off=1000, mode="garbage"), or with a whole
        spec string meter.inject("drop p=1 dir=to-module"). Returns its id."""
        spec = " ".join([fault] + [f"{k}={v}" for k, v in params.items()])
        return self._fault_cmd("fault", spec)

    def clear(self, what="all"):
        """Stop faults by name, id or "all"; returns how many stopped."""
        return self._fault_cmd("fault_stop", what)

    def faults(self):
        """Active faults and per-kind injection counters (fault_list)."""
        return self._fault_cmd("fault_list")

    # the port's whole fault set (line + protocol faults, kWh glitches)
    def inject_any(self, spec):
        """Line or protocol fault from a spec string ("busy", "auth first=1");
        returns its id ("3" or "p2")."""
        return self._fault_cmd("inject", spec)

    def glitch(self, glitch, **params):
        """kWh glitch, e.g. meter.glitch("spike", delta="2^24", polls=3); returns "gN"."""
        spec = " ".join([glitch] + [f"{k}={v}" for k, v in params.items()])
        return self._fault_cmd("glitch", spec)

    def fault_status(self):
        """Injected per fault, glitched per glitch, power cycles seen (long/short),
        latch-ups and latchups_cleared, error codes sent, replays, reboots."""
        return self._fault_cmd("fault_status")

    def scenario_status(self):
        """Progress of the running scenario (control "scenario status")."""
        return self._fault_cmd("scenario", "status")

    def log(self):
        return "".join(p.stderr() for p in self.runs)


class Board:
    """The module under test."""

    def __init__(self, rig):
        self.rig = rig
        self.cfg = rig.config.board
        self.proc = None         # virtual: mepmod
        self.runs = []
        self.tap = None
        self.broker = None
        self.mqtt = None
        self.lines = None        # bench: ModemLines
        self.http_port = None
        self.base_url = self.cfg.http
        self.published = []      # (time, path, status, doc) of every GET
        self.extra = ()
        if rig.config.is_virtual:
            self.console = Console(rig.artifacts / "mepmod.log")
        elif self.cfg.console.port:
            self.console = SerialConsole(rig.artifacts / self.cfg.console.log,
                                         self.cfg.console.port, self.cfg.console.baud,
                                         rig.serial_factory)
        else:
            self.console = None

    # ---- start / stop ----
    def start(self, extra=()):
        if self.rig.config.is_virtual:
            return self._start_virtual(extra)
        return self._start_bench()

    def _start_virtual(self, extra):
        binary = procs.mepmod_bin(self.cfg.mepmod)
        if not binary.is_file():
            pytest.skip(f"mepmod not built at {binary} (set MEPMOD_BIN or build into <repo>/build)")
        self.extra = tuple(extra)
        if self.tap is None:
            self.tap = PtyTap(self.rig.meter.pty_path, self.rig.rundir / "board.pty",
                              self.rig.trace)
        mosq = Path(shutil.which("mosquitto") or "/usr/sbin/mosquitto")
        if self.broker is None and mosq.is_file():
            port = procs.free_port()
            conf = self.rig.rundir / "mosquitto.conf"
            conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n"
                            f"persistence false\nlog_dest stderr\nlog_type error\n")
            self.broker = procs.Proc("mosquitto", [mosq, "-c", conf], self.rig.artifacts)
            self.broker.port = port
            procs.wait_for(lambda: _connects(port), 10, f"mosquitto on port {port}")
            self.mqtt = MqttCapture(f"127.0.0.1:{port}", self.cfg.mqtt_prefix)
        self.http_port = procs.free_port()
        self.base_url = f"http://127.0.0.1:{self.http_port}"
        self._spawn()
        return self

    def _spawn(self):
        argv = [procs.mepmod_bin(self.cfg.mepmod), "--port", self.rig.rundir / "board.pty",
                "--mbk", self.rig.config.meter.mbk, "--http-port", self.http_port,
                "--control", self.rig.meter.ctl_path]
        if self.broker is not None:
            argv += ["--mqtt", f"127.0.0.1:{self.broker.port}", "--mqtt-prefix",
                     self.cfg.mqtt_prefix]
        argv += list(self.extra)
        self.proc = procs.Proc("mepmod", argv, self.rig.artifacts)
        self.runs.append(self.proc)
        procs.wait_for(lambda: not self.proc.alive() or self._status_ok(), 10,
                       "mepmod's HTTP server")
        if not self.proc.alive():
            raise AssertionError(f"mepmod exited at start-up ({self.proc.p.returncode}):\n"
                                 f"{self.proc.stderr()[-2000:]}")

    def _status_ok(self):
        return self.get("/status", record=False)[0] == 200

    def _start_bench(self):
        lc = self.rig.config.lines
        if any(getattr(lc, n) for n in ("transceiver", "enable", "reset", "power")):
            port = lc.port or self.rig.config.meter.uart
            ser = open_adapter(lc, port, self.rig.config.meter.baud, self.rig.serial_factory)
            self.lines = ModemLines(lc, ser).start()
        if self.cfg.mqtt_broker:
            self.mqtt = MqttCapture(self.cfg.mqtt_broker, self.cfg.mqtt_prefix)
        # a fresh boot per test, as on the virtual rig
        if lc.power:
            self.power_cycle()
        elif lc.reset:
            self.reset()
        if self.base_url:
            procs.wait_for(lambda: self.get("/getDashDataWS", record=False)[0] in (200, 503),
                           self.cfg.boot_timeout_s, f"the board's HTTP server at {self.base_url}",
                           interval=0.5)
        return self

    def stop(self):
        problems = []
        if self.proc is not None:
            problems += self.proc.problems(self.proc.stop())
            self.proc = None
        if self.mqtt:
            self.mqtt.close()
        if self.broker is not None:
            self.broker.stop()
            self.broker = None
        if self.tap:
            self.tap.close()
            self.tap = None
        if self.lines:
            self.lines.stop()
            try:
                self.lines.ser.close()
            except OSError:
                pass
        if isinstance(self.console, SerialConsole):
            self.console.close()
        return problems

    # ---- power and reset ----
    def power_cycle(self, off_ms=None):
        """Cut the supply for off_ms (default lines.power.pulse_ms; virtual:
        mepmod is killed like a power loss and started again)."""
        if self.rig.config.is_virtual:
            off = 3000 if off_ms is None else off_ms
            self._kill()
            time.sleep(off / 1000.0)
            self._spawn()
            return
        if not self.lines or not self.lines.wired("power"):
            pytest.skip("this rig has no power output ($.lines.power)")
        self.lines.pulse("power", off_ms)

    def reset(self, ms=None):
        """Hold reset for ms (default lines.reset.pulse_ms)."""
        if self.rig.config.is_virtual:
            self._kill()
            time.sleep((200 if ms is None else ms) / 1000.0)
            self._spawn()
            return
        if not self.lines or not self.lines.wired("reset"):
            pytest.skip("this rig has no reset output ($.lines.reset)")
        self.lines.pulse("reset", ms)

    def _kill(self):
        if self.proc is not None:
            self.proc.stop(sig=signal.SIGKILL)
            self.proc = None

    # ---- outputs ----
    def expect(self, regex, timeout=10.0):
        """Wait for regex on the console (virtual: mepmod's log)."""
        if self.console is None:
            pytest.skip("this rig has no console ($.board.console.port)")
        return self.console.expect(regex, timeout)

    def get(self, path="/getDashDataWS", timeout=3.0, record=True):
        """HTTP GET -> (status, parsed JSON or None, headers)."""
        if not self.base_url:
            pytest.skip("this rig has no HTTP base URL ($.board.http)")
        req = urllib.request.Request(self.base_url + path, headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                status, body, headers = r.status, r.read(), dict(r.headers)
        except urllib.error.HTTPError as e:
            status, body, headers = e.code, e.read(), dict(e.headers)
        try:
            doc = json.loads(body) if body else None
        except ValueError:
            doc = None
        if record:
            self.published.append((time.time(), path, status, doc if doc is not None
                                   else body.decode("latin-1")[:2000]))
        return status, doc, headers

    def get_json(self, path="/getDashDataWS", timeout=3.0):
        status, doc, _ = self.get(path, timeout)
        assert status == 200, f"GET {path}: HTTP {status} ({doc!r})"
        return doc

    def wait_json(self, path="/getDashDataWS", timeout=None):
        """GET until it answers 200 (readings in)."""
        t = self.cfg.boot_timeout_s if timeout is None else timeout
        return procs.wait_for(lambda: (lambda s, d, h: d if s == 200 else None)(*self.get(path)),
                              t, f"200 from {path}", interval=0.25)

    def mqtt_messages(self, topic=None):
        if self.mqtt is None:
            pytest.skip("this rig has no MQTT broker ($.board.mqtt)")
        return [m for m in self.mqtt.snapshot() if topic is None or m[1] == topic]

    def wait_mqtt(self, topic, timeout=30.0, count=1):
        full = f"{self.cfg.mqtt_prefix}/{topic}" if not topic.startswith(self.cfg.mqtt_prefix) \
            else topic
        return procs.wait_for(lambda: len(self.mqtt_messages(full)) >= count
                              and self.mqtt_messages(full), timeout,
                              f"{count} MQTT message(s) on {full}")


def _connects(port):
    import socket
    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True


class Rig:
    """One test's rig: meter, board, trace, artefact directory."""

    def __init__(self, config, artifacts, serial_factory=None):
        self.config = config
        self.artifacts = Path(artifacts)
        self.artifacts.mkdir(parents=True, exist_ok=True)
        # PTY links and sockets in a short path (Unix socket paths <= 107 bytes)
        self.rundir = Path(tempfile.mkdtemp(prefix="osgp-hil-"))
        self.serial_factory = serial_factory
        self.trace = Trace()
        self.meter = Meter(self)
        self._board = None

    @property
    def board(self):
        if self._board is None:
            self._board = Board(self)
        return self._board

    def line_events(self):
        """(wall time, line, on) of the board's control lines, from mepsim's
        log (virtual) or the modem inputs (bench)."""
        return self._all_trace().line_events()

    def wait_line(self, name, on, timeout, after=None):
        """Wait for a control-line event (name, on) at or after wall time
        `after`; returns its wall time. Works on both rigs."""
        def found():
            for t, n, o in self.line_events():
                if n == name and o == on and (after is None or t >= after):
                    return t
            return None
        return procs.wait_for(found, timeout, f"{name} {'on' if on else 'off'}", interval=0.05)

    def _all_trace(self):
        t = Trace(self.trace.t0)
        t.extend(self.trace.sorted())
        if self.config.is_virtual:
            log_recs = [r for r in parse_mepsim_log(self.meter.log(), self.trace.t0)
                        if r.kind == LINE]
        else:
            log_recs = parse_mepsim_log(self.meter.log(), self.trace.t0)
            if self._board is not None and self._board.lines is not None:
                mono_to_wall = time.time() - time.monotonic()
                log_recs += [Record(tt + mono_to_wall, LINE, line=n, on=o, source="modem")
                             for tt, n, o in self._board.lines.events]
        t.extend(log_recs)
        return t

    def finish(self):
        """Stop everything, write the artefacts; return the problems found."""
        problems = []
        if self._board is not None:
            problems += self._board.stop()
        problems += self.meter.stop()
        full = self._all_trace()
        full.write(self.artifacts / "trace.txt")
        if self._board is not None:
            b = self._board
            pub = {"http": [{"t": t, "path": p, "status": s, "body": d} for t, p, s, d in b.published],
                   "mqtt": [{"t": t, "topic": tp, "payload": pl.decode("utf-8", "replace"),
                             "retain": r} for t, tp, pl, r in (b.mqtt.snapshot() if b.mqtt else [])]}
            (self.artifacts / "published.json").write_text(json.dumps(pub, indent=1))
            if b.lines is not None:
                (self.artifacts / "modem.txt").write_text(
                    "".join(f"{t:.6f} {n} {'on' if o else 'off'}\n" for t, n, o in b.lines.events)
                    + "".join(f"pulse {o} {a:.6f}..{z:.6f}\n" for o, a, z in b.lines.pulses))
        shutil.rmtree(self.rundir, ignore_errors=True)
        return problems
