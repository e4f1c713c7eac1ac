"""The one harness: ``Meter``, ``Board`` and ``Rig``, used by the pytest
plugin's fixtures and by the emulator's integration tests alike.

``Meter``  one mepsim process: on the virtual rig's PTY, on a bench UART, or
           with any command line a test gives. Control socket (``ctl``,
           ``control()``), the module end of its PTYs (``link()``), truth,
           counters, faults (the fault-set commands), its log.
``Board``  the module under test: any program started from a board
           description (``boards.py``; mepmod by default) or the real board
           of a bench (console UART, HTTP, MQTT, modem lines). Fresh boot,
           power cycle, reset, console ``expect``, published outputs (HTTP
           JSON, MQTT messages, console values). A board that dies is
           reported with its log tail at once, never as a timeout.
``Rig``    one test's meter and board plus anything else it started
           (``add()``), the meter-line trace, the line events of both rigs
           (``line_events()``), and the artefact directory that ``finish()``
           writes (trace.txt, published.json, modem.txt) before it returns
           the problems found (crash, hang, sanitizer report, unclean exit,
           a process that ended on its own).
"""

import http.client
import json
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from . import paths, procs
from .boards import BoardError, default_board
from .build import BuildError, BuildUnavailable, build_program
from .clock import VirtualClock, WallClock
from .link import SerialLink
from .mepsim_control import MepsimControl, MepsimControlError
from .modem import ModemLines, open_adapter
from .rig import MeterSide, virtual_rig
from .trace import LINE, PtyTap, Record, Trace, parse_mepsim_log

MOSQUITTO = "/usr/sbin/mosquitto"


def _need(name, explicit=None, env=None, build=None, executable=True):
    """A program's path; skip the test when it was never configured, fail it
    when a configured path is wrong."""
    try:
        return paths.find_binary(name, explicit, env, build, executable)
    except paths.NotFound as e:
        msg = str(e)
    if "(from " in msg:
        pytest.fail(msg, pytrace=False)
    pytest.skip(msg)


def _teardown(name, proc):
    """Problems of a process at the end of a test: still running -> stopped
    with SIGTERM and its status checked; ended on its own -> reported."""
    if proc is None:
        return []
    died = proc.died()
    rc = proc.stop()
    out = proc.problems(rc)
    if died and not out:
        out.append(f"{name} ended on its own (status {rc}):\n{proc.output_tail()}")
    return out


class _Program:
    """A program that may be started several times (restarts, power cycles):
    ``proc`` is the current run, ``runs`` all of them."""

    proc = None
    runs = ()

    def alive(self):
        return self.proc is not None and self.proc.alive()

    def stdout(self):
        return self._read("out_path")

    def stderr(self):
        return self._read("err_path")

    def _read(self, attr):
        """The output of every run once (restarts append to one file)."""
        seen, out = set(), []
        for p in self.runs:
            path = getattr(p, attr)
            if path not in seen:
                seen.add(path)
                try:
                    out.append(path.read_text(errors="replace"))
                except FileNotFoundError:
                    pass
        return "".join(out)


# ---- console and MQTT ---------------------------------------------------
class Console:
    """Growing log files with expect(regex, timeout): the position in each
    file moves past a match, so successive expects read forward like
    pexpect."""

    def __init__(self, *files):
        self.paths = [Path(p) for p in files]
        self.pos = {p: 0 for p in self.paths}
        self.abort = None        # called every round; raises when the board died

    @property
    def path(self):
        return self.paths[0]

    def _read(self, p):
        try:
            return p.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def text(self):
        return "".join(self._read(p) for p in self.paths)

    def mark(self):
        """Move past everything written so far: the next expect() sees only
        what comes after this call."""
        for p in self.paths:
            self.pos[p] = len(self._read(p))

    def expect(self, regex, timeout=10.0):
        pat = re.compile(regex) if isinstance(regex, str) else regex
        end = time.monotonic() + timeout
        while True:
            if self.abort is not None:
                self.abort()
            for p in self.paths:
                text = self._read(p)
                m = pat.search(text, self.pos[p])
                if m:
                    self.pos[p] = m.end()
                    return m
            if time.monotonic() >= end:
                unread = "".join(self._read(p)[self.pos[p]:] for p in self.paths)[-2000:]
                names = ", ".join(p.name for p in self.paths)
                raise AssertionError(f"console {names}: no match for {pat.pattern!r} "
                                     f"within {timeout} s; unread output:\n{unread}")
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
    """Every message on the given topics as (time, topic, payload, retain);
    time from `clock` (wall clock by default)."""

    def __init__(self, broker, topics=("#",), client_id=None, clock=time.time):
        import paho.mqtt.client as mqtt
        host, _, port = str(broker).partition(":")
        self.messages = []
        self._lock = threading.Lock()
        kw = {}
        if hasattr(mqtt, "CallbackAPIVersion"):
            kw["callback_api_version"] = mqtt.CallbackAPIVersion.VERSION1
        self.c = mqtt.Client(client_id=client_id or f"osgp-hil-{time.monotonic_ns()}", **kw)
        subscribed = threading.Event()

        def on_connect(c, userdata, flags, rc):
            for t in topics:
                c.subscribe(t, qos=0)
            subscribed.set()

        def on_message(c, userdata, msg):
            with self._lock:
                self.messages.append((clock(), msg.topic, msg.payload, bool(msg.retain)))

        self.c.on_connect = on_connect
        self.c.on_message = on_message
        self.c.connect(host or "127.0.0.1", int(port or 1883), keepalive=30)
        self.c.loop_start()
        if not subscribed.wait(10):
            raise AssertionError(f"MQTT capture could not connect to {broker}")
        time.sleep(0.2)      # SUBACK in flight

    def snapshot(self):
        with self._lock:
            return list(self.messages)

    def on_topic(self, topic):
        return [m for m in self.snapshot() if m[1] == topic]

    def wait_topic(self, topic, timeout, count=1):
        return procs.wait_for(lambda: len(self.on_topic(topic)) >= count and self.on_topic(topic),
                              timeout, f"{count} MQTT message(s) on {topic}")

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


class Broker:
    """A private mosquitto on 127.0.0.1:<free port>."""

    def __init__(self, workdir, port=None):
        binary = shutil.which("mosquitto") or MOSQUITTO
        if not Path(binary).is_file():
            pytest.skip(f"{MOSQUITTO} is not installed: MQTT needs a real broker")
        self.port = port or procs.free_port()
        conf = Path(workdir) / f"mosquitto-{self.port}.conf"
        conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
                        f"persistence false\nlog_dest stderr\nlog_type error\nlog_type warning\n")
        self.proc = procs.Proc("mosquitto", [binary, "-c", conf], workdir)
        procs.wait_for(lambda: procs.connects(self.port), 10, f"mosquitto on port {self.port}",
                       abort=self._abort)

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def _abort(self):
        if not self.proc.alive():
            raise AssertionError(f"mosquitto exited at start-up:\n{self.proc.output_tail()}")

    def stop(self):
        return self.proc.stop()

    def teardown(self):
        self.proc.stop()
        return []


# ---- the meter ------------------------------------------------------------
class Meter(_Program):
    """One mepsim process. ``start()`` builds the command line from the rig's
    meter settings (``config``: rig.MeterSide) plus a profile/scenario, or
    takes ``args`` verbatim (a control socket is added unless given)."""

    def __init__(self, workdir, rundir=None, config=None, name="mepsim", bench_uart=False):
        self.workdir = Path(workdir)
        self.rundir = Path(rundir) if rundir else self.workdir
        self.cfg = config or MeterSide()
        self.name = name
        self.bench_uart = bench_uart
        self.ctl_path = self.rundir / f"{name}.ctl"
        self.pty_path = self.rundir / "meter.pty"
        self.proc = None
        self.runs = []             # every process of this meter (restarts)
        self.profile = None
        self.scenario = None
        self._ctl = None
        self._clients = []         # links and control clients handed out

    # ---- process ----
    @property
    def device(self):
        """What the board connects to: the PTY (virtual) or the UART (bench)."""
        return self.cfg.uart if self.bench_uart else str(self.pty_path)

    _help_text = {}     # binary path -> its --help (what options it has)

    def _help(self, binary):
        key = str(binary)
        if key not in Meter._help_text:
            try:
                Meter._help_text[key] = subprocess.run([key, "--help"], capture_output=True, text=True,
                                                       timeout=10).stdout
            except (OSError, subprocess.TimeoutExpired):
                return ""
        return Meter._help_text[key]

    def argv_for(self, binary, profile=None, scenario=None, extra=()):
        argv = [binary]
        argv += ["--uart", self.cfg.uart] if self.bench_uart else ["--pty", self.pty_path]
        argv += ["--baud", self.cfg.baud, "--format", self.cfg.format, "--mbk", self.cfg.mbk,
                 "--seed", self.cfg.seed, "--control", self.ctl_path, "-vv"]
        if self.cfg.mak:
            argv += ["--mak", self.cfg.mak]
        if self.cfg.seq_start is not None:
            argv += ["--seq-start", hex(self.cfg.seq_start)]
        prof = str(paths.find_in(profile, paths.fixture("meters"))) if profile else self.cfg.profile
        if prof:
            argv += ["--profile", prof]
        if scenario:
            if "--scenario" not in self._help(binary):
                pytest.skip(f"scenario {scenario!r}: this mepsim has no --scenario option")
            sdir = Path(self.cfg.scenario_dir) if self.cfg.scenario_dir else paths.fixture("scenarios")
            argv += ["--scenario", str(paths.find_in(scenario, sdir))]
        if "--capture" in self._help(binary):
            # every byte of the run as a pcapng artefact (capture/README.md; Wireshark
            # with hil/wireshark/mep.lua shows it by field names)
            argv += ["--capture", str(self.workdir / f"{self.name}.pcapng")]
        self.profile, self.scenario = prof, scenario
        return argv + list(extra)

    def start(self, profile=None, scenario=None, extra=(), args=None, timeout=10.0):
        """Start mepsim and wait for "mepsim: ready"; returns self."""
        binary = _need("mepsim", self.cfg.mepsim)
        if args is not None:
            args = [str(a) for a in args]
            argv = [binary] + args + ([] if "--control" in args else ["--control", self.ctl_path])
            if "--control" in args:
                self.ctl_path = Path(self.workdir / args[args.index("--control") + 1])
        else:
            argv = self.argv_for(binary, profile, scenario, extra)
        out = self.workdir / f"{self.name}.out"
        off = out.stat().st_size if out.exists() else 0     # a restart appends to the file
        self.proc = procs.Proc(self.name, argv, self.workdir)
        self.runs.append(self.proc)
        proc = self.proc
        try:
            procs.wait_for(lambda: not proc.alive() or "mepsim: ready" in proc.stdout()[off:],
                           timeout, "mepsim to print 'mepsim: ready'")
        except AssertionError:
            raise AssertionError(f"mepsim not ready after {timeout} s:\n{proc.output_tail()}")
        if not proc.alive():
            rc, err = proc.stop(), proc.stderr()
            self.proc = None      # reported here, not again at teardown
            if scenario and "not supported by mepsim yet" in err:
                pytest.skip(f"scenario {scenario!r}: {err.strip().splitlines()[-1]}")
            raise AssertionError(f"mepsim exited at start-up ({rc}):\n{procs.tail(err)}")
        return self


    def log(self):
        return self.stderr()

    def _close_clients(self):
        if self._ctl:
            self._ctl.close()
            self._ctl = None
        for c in self._clients:
            c.close()
        self._clients = []

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Stop mepsim; returns its exit status ("hang" if it had to be killed)."""
        self._close_clients()
        if self.proc is None:
            return None
        return self.proc.stop(sig, timeout)

    def teardown(self):
        """Stop it and return what went wrong (the Rig calls this)."""
        self._close_clients()
        out = _teardown(self.name, self.proc)
        self.proc = None
        return out

    def check_clean_exit(self):
        """Stop with SIGTERM; AssertionError on a hang, a non-zero status or
        a sanitizer report (the emulator's own tests)."""
        rc = self.stop()
        err = self.stderr()
        if rc == "hang":
            raise AssertionError("mepsim did not stop within 10 s of SIGTERM:\n" + procs.tail(err, 4000))
        if rc not in (0, None):
            raise AssertionError(f"mepsim exited with {rc} (negative = signal):\n{procs.tail(err, 4000)}")
        for mark in procs.SANITIZER_MARKS:
            if mark in err:
                raise AssertionError(f"mepsim printed a sanitizer report ({mark}):\n{procs.tail(err, 6000)}")

    def restart(self, **kw):
        problems = self.teardown()
        assert not problems, "; ".join(problems)
        return self.start(**kw)

    # ---- module end and control ----
    def pty(self, name="meter.pty"):
        return str(self.workdir / name)

    def link(self, pty_name="meter.pty"):
        """The module's end of one of this mepsim's PTYs (closed at stop)."""
        link = SerialLink(self.pty(pty_name))
        self._clients.append(link)
        return link

    def control(self):
        """A new control-socket client (closed at stop)."""
        c = MepsimControl(str(self.ctl_path))
        self._clients.append(c)
        return c

    @property
    def control_path(self):
        return str(self.ctl_path)

    @property
    def ctl(self):
        """The shared control-socket client."""
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
        try:
            return getattr(self.ctl, method)(*args)
        except MepsimControlError as e:
            if "unknown cmd" in str(e):
                pytest.skip(f"this mepsim has no {method!r} control command ({e})")
            raise

    @staticmethod
    def _spec(name, params):
        return " ".join([name] + [f"{k}={v}" for k, v in params.items()])

    def inject(self, fault, **params):
        """Start a line or protocol fault by name with parameters, e.g.
        meter.inject("latchup", off=1000, mode="garbage"), or a whole spec
        ("drop p=1 dir=to-module"). Returns its id: an int for a line fault,
        "pN" for a protocol fault."""
        fid = self._fault_cmd("inject", self._spec(fault, params))
        return int(fid) if str(fid).isdigit() else fid

    def inject_any(self, spec):
        """Line or protocol fault from a spec string; returns its id as mepsim gives it."""
        return self._fault_cmd("inject", spec)

    def glitch(self, glitch, **params):
        """kWh glitch, e.g. meter.glitch("spike", delta="2^24", polls=3); returns "gN"."""
        return self._fault_cmd("glitch", self._spec(glitch, params))

    @staticmethod
    def _ids(listing):
        return {ln.split()[0] for ln in listing.splitlines()
                if re.match(r"^(\d+|p\d+|g\d+) ", ln)}

    def clear(self, what="all"):
        """Stop faults/glitches by name, id or "all"; returns how many stopped."""
        before = self._ids(self.fault_status().get("list", ""))
        self._fault_cmd("clear", str(what))
        return len(before - self._ids(self.fault_status().get("list", "")))

    def faults(self):
        """fault_status: active line faults, injected per kind, latched, list."""
        return self._fault_cmd("fault_status")

    def fault_status(self):
        """Injected per fault, glitched per glitch, power cycles seen (long/short),
        latch-ups and latchups_cleared, error codes sent, replays, reboots."""
        return self._fault_cmd("fault_status")

    def scenario_status(self):
        """Progress of the running scenario (control "scenario status")."""
        return self._fault_cmd("scenario", "status")


# ---- the board ------------------------------------------------------------
class Board(_Program):
    """The module under test. Virtual rig: the program of a board
    description (``spec``), started with the rig's values for its template.
    Bench: the real board, reached over the rig file's console/HTTP/MQTT."""

    def __init__(self, rig, spec=None, name=None):
        self.rig = rig
        self.cfg = rig.config.board
        self.spec = spec or getattr(self.cfg, "spec", None) or default_board()
        self.name = name or self.spec.name
        self.virtual = rig.config.is_virtual
        self.proc = None
        self.runs = []
        self.tap = None
        self.broker = None
        self.mqtt = None
        self.lines = None        # bench: ModemLines
        self.http_port = None
        self.base_url = None if self.virtual else self.cfg.http
        self.published = []      # (time, path, status, doc) of every GET
        self.values = {}
        self.argv = None
        self.env = {}
        self.reported = False    # its death was already reported
        self.state_dir = rig.rundir / f"state-{self.name}"
        if self.virtual:
            self.console = Console(rig.artifacts / f"{self.name}.log",
                                   rig.artifacts / f"{self.name}.out")
            self.console.abort = self._abort_if_dead
        elif self.cfg.console.port:
            self.console = SerialConsole(rig.artifacts / self.cfg.console.log,
                                         self.cfg.console.port, self.cfg.console.baud,
                                         rig.serial_factory)
        else:
            self.console = None

    @property
    def mqtt_prefix(self):
        if self.virtual:
            return self.spec.outputs.mqtt or "esp32-mep"
        return self.cfg.mqtt_prefix

    # ---- start / stop ----
    def start(self, extra=(), opts=None, provision=True, on_spawn=None):
        """A fresh boot after the meter: the rig's values, the board's
        optional fragments (`opts`, e.g. {"poll_ms": 500}) and `extra`
        arguments appended. `provision`: write the description's
        `state_files` before the start and send its `provision` requests
        once it is ready (False: a board with empty flash, as unpacked).
        `on_spawn()` runs right after the program starts, before the ready
        probe (the plugin starts a held scenario timeline there)."""
        if not self.virtual:
            return self._start_bench()
        if self.tap is None:
            self.tap = PtyTap(self.rig.meter.pty_path, self.rig.rundir / "board.pty",
                              self.rig.trace)
        if self.broker is None and (self.spec.outputs.mqtt or self.spec.uses("mqtt")) \
                and Path(shutil.which("mosquitto") or MOSQUITTO).is_file():
            self.broker = Broker(self.rig.artifacts)
            self.mqtt = MqttCapture(self.broker.address, (f"{self.mqtt_prefix}/#",))
        return self.launch(port=self.rig.rundir / "board.pty", control=self.rig.meter.ctl_path,
                           mbk=self.rig.config.meter.mbk, mak=self.rig.config.meter.mak,
                           baud=self.rig.config.meter.baud,
                           mqtt=self.broker.address if self.broker else None,
                           extra=extra, opts=opts, provision=provision, on_spawn=on_spawn)

    def program(self):
        """The path {binary} expands to: an explicit path (--board-binary,
        `binary: PATH`), else what `build` makes (once per session), else
        `binary`'s environment variable / PATH / build/ lookup."""
        b = self.spec.binary
        explicit = b if b and ("/" in b) else None
        if explicit is None and self.spec.build is not None:
            try:
                return build_program(self.spec, self.rig.build_root)
            except BuildUnavailable as e:
                pytest.skip(str(e))
            except BuildError as e:
                pytest.fail(str(e), pytrace=False)
        return _need(b if not explicit else Path(b).name, explicit, self.spec.binary_env,
                     self.spec.binary_build, executable=False)

    def launch(self, port, control=None, mbk=None, mak=None, baud=9600, mqtt=None,
               http_port=None, extra=(), opts=None, wait=True, provision=True, on_spawn=None):
        """Start the board's program with these template values; with
        `provision` (and `wait`), its state files first and its provision
        requests once it is ready."""
        binary = None
        if self.spec.uses("binary"):
            binary = self.program()
        if http_port is None and (self.spec.outputs.http or self.spec.ready.http
                                  or self.spec.uses("http_port")):
            http_port = procs.free_port()
        self.http_port = http_port
        self.base_url = f"http://127.0.0.1:{http_port}" if http_port else None
        self.state_dir.mkdir(parents=True, exist_ok=True)
        host, _, mport = (mqtt or "").partition(":")
        self.values = {
            "binary": binary, "port": port, "baud": baud, "mbk": mbk, "mak": mak,
            "http_port": http_port, "control": control, "mqtt": mqtt,
            "mqtt_host": host or None, "mqtt_port": mport or None,
            "mqtt_prefix": self.mqtt_prefix if mqtt else None,
            "state_dir": self.state_dir, "artifacts": self.rig.artifacts}
        self.values = {k: (None if v is None else str(v)) for k, v in self.values.items()}
        argv = self.spec.expand(self.values)
        for key, value in (opts or {}).items():
            frag = self.spec.arg(key, value)
            if frag is None and key in REQUIRED_OPTS:
                pytest.skip(f"board {self.name} declares no args.{key} ({REQUIRED_OPTS[key]})")
            argv += frag or []
        self.argv = argv + [str(a) for a in extra]
        self.env = self.spec.environment(self.values)
        if provision:
            self.write_state_files()
        self._spawn(wait, on_spawn)
        if provision and wait:
            self.provision()
        return self

    def write_state_files(self):
        """The description's `state_files`, written into the state directory
        (replacing what is there): the board's flash as set up by a user."""
        try:
            files = self.spec.state_file_contents(self.values)
        except BoardError as e:
            pytest.fail(str(e), pytrace=False)
        for rel, text in files:
            p = self.state_dir / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
        return [self.state_dir / rel for rel, _ in files]

    def provision(self):
        """Send the description's `provision` requests in order, as a user
        filling in the board's set-up page; a step that restarts the board
        (`reboots`) waits for its log line and then for `ready` again.
        Returns [(request template, status or None, body text)]."""
        done = []
        for i, st in enumerate(self.spec.provision):
            try:
                method, path, body = self.spec.provision_request(i, self.values)
            except BoardError as e:
                pytest.fail(str(e), pytrace=False)
            if st.reboot_log:
                self.console.mark()
            status, text = self.request(method, path, body, st.content_type, st.timeout_s)
            what = f"board {self.name}: provision[{i}] {method} {st.path}"
            if status is None and not st.reboot_log:
                self._abort_if_dead()
                raise AssertionError(f"{what}: no answer ({text})")
            if status is not None and (status not in st.status if st.status
                                       else not 200 <= status < 400):
                raise AssertionError(f"{what}: HTTP {status}, expected "
                                     f"{'/'.join(map(str, st.status)) if st.status else '2xx/3xx'}"
                                     f"; body: {text[:500]!r}")
            if st.reboot_log:
                self.console.expect(st.reboot_log, st.reboot_timeout_s)
                self.wait_ready()
            done.append((f"{method} {st.path}", status, text))
        return done

    def request(self, method, path, body=None, content_type=None, timeout=10.0):
        """One HTTP request to the board -> (status, body text); status None
        and the error text when nothing (or no complete answer) came back."""
        if not self.base_url:
            pytest.skip(f"board {self.name} serves no HTTP (outputs.http / $.board.http)")
        data = None if body is None else body.encode()
        headers = {}
        if data is not None:
            headers["Content-Type"] = content_type or "application/x-www-form-urlencoded"
        req = urllib.request.Request(self.base_url + path, data=data, method=method,
                                     headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8", "replace")
        except (OSError, ValueError, http.client.HTTPException) as e:
            return None, f"{type(e).__name__}: {e}"

    def restart(self):
        """Stop the program with SIGTERM (checked like a teardown: a crash or
        an unclean exit fails) and start it again with the same command line
        and state directory; no provisioning (the flash keeps what it had).
        power_cycle() is the unclean variant."""
        if self.proc is not None:
            problems = _teardown(f"board {self.name}", self.proc)
            assert not problems, "; ".join(problems)
            self.proc = None
        self._spawn()
        return self

    def _spawn(self, wait=True, on_spawn=None):
        self.reported = False
        # relative paths in a command are relative to its description (or to
        # where pytest started, for --board-command)
        self.proc = procs.Proc(self.name, self.argv, self.rig.artifacts, env=self.env,
                               exit_ok=self.spec.exit_codes, cwd=self.spec.cwd)
        self.runs.append(self.proc)
        if on_spawn is not None:
            on_spawn()
        if wait:
            self.wait_ready()

    def wait_ready(self):
        r = self.spec.ready
        if r.log:
            self.console.expect(r.log, r.timeout_s)
        elif r.http and self.base_url:
            procs.wait_for(lambda: self.get(r.http, record=False, timeout=1.0)[0] is not None,
                           r.timeout_s, f"board {self.name} to answer GET {r.http}",
                           abort=self._abort_if_dead)
        self._abort_if_dead()

    def _abort_if_dead(self):
        """A board that died ends any wait at once, with its log tail."""
        p = self.proc
        if p is not None and p.died():
            self.reported = True
            rc = p.p.poll()
            how = f"killed by signal {-rc}" if rc < 0 else f"exit status {rc}"
            raise AssertionError(f"board {self.name} died ({how}); command: "
                                 f"{' '.join(self.argv or [])}\n--- log tail ---\n"
                                 f"{p.output_tail()}")


    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Stop the board's program; returns its exit status."""
        return self.proc.stop(sig, timeout) if self.proc is not None else None

    def teardown(self):
        problems = []
        if self.proc is not None:
            if self.reported:
                self.proc.stop()
            else:
                problems += _teardown(f"board {self.name}", self.proc)
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

    def _start_bench(self):
        lc = self.rig.config.lines
        if any(getattr(lc, n) for n in ("transceiver", "enable", "reset", "power")):
            port = lc.port or self.rig.config.meter.uart
            ser = open_adapter(lc, port, self.rig.config.meter.baud, self.rig.serial_factory)
            self.lines = ModemLines(lc, ser).start()
        if self.cfg.mqtt_broker:
            self.mqtt = MqttCapture(self.cfg.mqtt_broker, (f"{self.cfg.mqtt_prefix}/#",))
        # a fresh boot per test, as on the virtual rig
        if lc.power:
            self.power_cycle()
        elif lc.reset:
            self.reset()
        if self.base_url:
            path = self.spec.outputs.http or "/getDashDataWS"
            procs.wait_for(lambda: self.get(path, record=False)[0] in (200, 503),
                           self.cfg.boot_timeout_s, f"the board's HTTP server at {self.base_url}",
                           interval=0.5)
        return self

    # ---- power and reset ----
    def power_cycle(self, off_ms=None):
        """Cut the supply for off_ms (bench: lines.power.pulse_ms; virtual:
        the program is killed like a power loss and started again)."""
        if self.virtual:
            self._kill()
            time.sleep((3000 if off_ms is None else off_ms) / 1000.0)
            self._spawn()
            return
        if not self.lines or not self.lines.wired("power"):
            pytest.skip("this rig has no power output ($.lines.power)")
        self.lines.pulse("power", off_ms)

    def reset(self, ms=None):
        """Hold reset for ms (default lines.reset.pulse_ms)."""
        if self.virtual:
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
        """Wait for regex on the console (virtual: the program's stderr and stdout)."""
        if self.console is None:
            pytest.skip("this rig has no console ($.board.console.port)")
        return self.console.expect(regex, timeout)

    def get(self, path=None, timeout=3.0, record=True):
        """HTTP GET -> (status, parsed JSON or None, headers); status None
        when nothing answered."""
        path = path or self.spec.outputs.http or "/getDashDataWS"
        if not self.base_url:
            pytest.skip(f"board {self.name} serves no HTTP (outputs.http / $.board.http)")
        req = urllib.request.Request(self.base_url + path, headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                status, body, headers = r.status, r.read(), dict(r.headers)
        except urllib.error.HTTPError as e:
            status, body, headers = e.code, e.read(), dict(e.headers)
        except (OSError, ValueError) as e:
            if record:
                self.published.append((time.time(), path, None, f"no answer: {e}"))
            return None, None, {}
        try:
            doc = json.loads(body) if body else None
        except ValueError:
            doc = None
        if record:
            self.published.append((time.time(), path, status, doc if doc is not None
                                   else body.decode("latin-1")[:2000]))
        return status, doc, headers

    def get_json(self, path=None, timeout=3.0):
        status, doc, _ = self.get(path, timeout)
        assert status == 200, f"GET {path or self.spec.outputs.http}: HTTP {status} ({doc!r})"
        return doc

    def wait_json(self, path=None, timeout=None):
        """GET until it answers 200 (readings in)."""
        t = self.cfg.boot_timeout_s if timeout is None else timeout
        return procs.wait_for(lambda: (lambda s, d, h: d if s == 200 else None)(*self.get(path)),
                              t, f"200 from {path or self.spec.outputs.http}", interval=0.25,
                              abort=self._abort_if_dead)

    def mqtt_messages(self, topic=None):
        if self.mqtt is None:
            pytest.skip(f"board {self.name}: no MQTT broker on this rig (outputs.mqtt / $.board.mqtt)")
        return [m for m in self.mqtt.snapshot() if topic is None or m[1] == topic]

    def wait_mqtt(self, topic, timeout=30.0, count=1):
        pre = self.mqtt_prefix
        full = topic if topic.startswith(pre + "/") else f"{pre}/{topic}"
        return procs.wait_for(lambda: len(self.mqtt_messages(full)) >= count
                              and self.mqtt_messages(full), timeout,
                              f"{count} MQTT message(s) on {full}", abort=self._abort_if_dead)

    def console_values(self):
        """[(wall time of reading, {member: int})] from outputs.console matches."""
        pat = re.compile(self.spec.outputs.console)
        out = []
        for m in pat.finditer(self.console.text() if self.console else ""):
            out.append({k: int(v) if re.fullmatch(r"-?\d+", v or "") else v
                        for k, v in m.groupdict().items()})
        return out

    def mqtt_document(self):
        """The latest value of every member over the 8.2 topics, merged."""
        doc = {}
        for _, topic, payload, _r in (self.mqtt.snapshot() if self.mqtt else []):
            if topic.startswith(self.mqtt_prefix + "/") and topic.endswith("/mydatajson"):
                try:
                    d = json.loads(payload)
                except ValueError:
                    continue
                if isinstance(d, dict):
                    doc.update(d)
        return doc

    def snapshot(self):
        """(status, doc): what the board publishes now, from its primary
        output (HTTP, else MQTT, else the console). Status 200 when a
        document with readings is there."""
        self._abort_if_dead()
        if self.base_url and (self.spec.outputs.http or not self.virtual):
            s, d, _ = self.get()
            return s, d
        if self.spec.outputs.mqtt and self.mqtt is not None:
            d = self.mqtt_document()
            return (200 if "Fwd_Act_Wh" in d else None), (d or None)
        if self.spec.outputs.console:
            vals = self.console_values()
            if vals:
                self.published.append((time.time(), "console", 200, vals[-1]))
            return (200, vals[-1]) if vals else (None, None)
        return None, None


# optional argument fragments a test may need, and why
REQUIRED_OPTS = {"tls": "the scenario's meter profile requires TLS mode (mep.md 7)"}


# ---- the rig ----------------------------------------------------------------
class Rig:
    """One test's rig: meter, board, trace, artefact directory."""

    def __init__(self, config=None, artifacts=None, serial_factory=None, build_root=None):
        self.config = config or virtual_rig()
        self.artifacts = Path(artifacts or tempfile.mkdtemp(prefix="osgp-art-"))
        self.artifacts.mkdir(parents=True, exist_ok=True)
        # where a board description's `build` puts its program (once per session)
        self.build_root = Path(build_root) if build_root else self.artifacts / "_build"
        # PTY links and sockets in a short path (Unix socket paths <= 107 bytes)
        self.rundir = Path(tempfile.mkdtemp(prefix="osgp-hil-"))
        self.serial_factory = serial_factory
        self.trace = Trace()
        if self.config.is_virtual_time:
            # one mepsim-cosim process is meter and board, on one virtual clock
            from .vtrig import CosimMeter
            self.meter = CosimMeter(self)
            self.clock = VirtualClock(lambda: self.meter.ctl)
        else:
            self.meter = Meter(self.artifacts, self.rundir, self.config.meter, name="mepsim",
                               bench_uart=not self.config.is_virtual)
            self.clock = WallClock()
        self._board = None
        self.added = []          # anything else the test started (meters, boards, brokers)
        self.broker = None       # a test's own Broker
        self.collectors = []     # a test's own MqttCapture clients

    @property
    def tmp(self):
        return self.artifacts

    @property
    def board(self):
        if self._board is None:
            if self.config.is_virtual_time:
                from .vtrig import CosimBoard
                self._board = CosimBoard(self)
            else:
                self._board = Board(self)
        return self._board

    def add(self, thing):
        """Stop and check `thing` (a Meter, Board, Broker or procs.Proc) at finish()."""
        if thing is not self._board and thing is not self.meter and \
                all(thing is not x for x in self.added):
            self.added.append(thing)
        return thing

    # ---- line events ----
    def lines_reported(self):
        """Whether this rig sees the board's transceiver/ENABLE lines at all."""
        if self.config.is_virtual_time:
            return True     # the core's HAL line hooks and a sketch's pins alike (vtrig.line_events)
        if self.config.is_virtual:
            return self.board.spec.reports_lines
        b = self._board
        return bool(b and b.lines and (b.lines.wired("transceiver") or b.lines.wired("enable")))

    def line_events(self):
        """(wall time, line, on) of the board's control lines: from mepsim's
        log (board-line protocol, virtual rig) or the modem inputs (bench);
        the core's HAL on the virtual-time rig (virtual seconds)."""
        if self.config.is_virtual_time:
            from .vtrig import line_events
            return line_events(self)
        return self._all_trace().line_events()

    def wait_line(self, name, on, timeout, after=None):
        """Wait for a control-line event (name, on) at or after wall time
        `after`; returns its wall time. Skips when the board reports no lines."""
        if not self.lines_reported():
            pytest.skip(f"board {self.board.name} reports no transceiver/ENABLE lines "
                        f"(lines: none, or no modem inputs wired)")
        if self.config.is_virtual_time:
            from .vtrig import wait_line
            return wait_line(self, name, on, timeout, after)

        def found():
            for t, n, o in self.line_events():
                if n == name and o == on and (after is None or t >= after):
                    return t
            return None
        abort = self._board._abort_if_dead if self._board is not None else None
        return procs.wait_for(found, timeout, f"{name} {'on' if on else 'off'}", interval=0.05,
                              abort=abort)

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
        for c in self.collectors:
            try:
                c.close()
            except Exception:  # noqa: BLE001 - best effort at teardown
                pass
        if self._board is not None:
            problems += self._board.teardown()
        for thing in reversed(self.added):
            if isinstance(thing, procs.Proc):
                problems += _teardown(thing.name, thing)
            else:
                problems += thing.teardown()
        problems += self.meter.teardown()
        if self.broker is not None:
            self.broker.stop()
        try:
            if not self.config.is_virtual_time:   # virtual time: cosim/ in the artefacts
                self._all_trace().write(self.artifacts / "trace.txt")
        except OSError:
            pass
        if self._board is not None:
            self._write_published(self._board)
        shutil.rmtree(self.rundir, ignore_errors=True)
        return problems

    def _write_published(self, b):
        pub = {"http": [{"t": t, "path": p, "status": s, "body": d} for t, p, s, d in b.published],
               "mqtt": [{"t": t, "topic": tp, "payload": pl.decode("utf-8", "replace"),
                         "retain": r} for t, tp, pl, r in (b.mqtt.snapshot() if b.mqtt else [])]}
        (self.artifacts / "published.json").write_text(json.dumps(pub, indent=1, default=str))
        if b.lines is not None:
            (self.artifacts / "modem.txt").write_text(
                "".join(f"{t:.6f} {n} {'on' if o else 'off'}\n" for t, n, o in b.lines.events)
                + "".join(f"pulse {o} {a:.6f}..{z:.6f}\n" for o, a, z in b.lines.pulses))
