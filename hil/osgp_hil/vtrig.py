"""The virtual-time rig (``--rig virtual-time``): the meter and the board of
one test are one ``mepsim-cosim --control-stdio`` process (osgp_hil.cosim):
the emulated meter, line, faults and scenario timeline and the firmware on
one discrete-event clock. The firmware is our core (mepmod's core,
``--firmware core``), or with ``--board`` an Arduino sketch built by the
host kit for virtual time (a description with ``build: {sketch: DIR}``,
built with ``--virtual-time``; or ``--board-binary PATH`` of such a build),
``--firmware PATH``; mepsim-cosim provisions its key itself.

``CosimMeter`` has harness.Meter's interface (truth, counters, status,
faults, ``ctl`` for the scenario commands) and ``CosimBoard`` the part of
harness.Board the rig-agnostic tests use (``spec``, ``snapshot``, ``get``,
``wait_json``, ``published``, ``mqtt``, ``power_cycle``). Time is
``rig.clock`` (osgp_hil.clock.VirtualClock): nothing moves unless a test
sleeps on it, and then the whole station moves at once, as fast as the
machine runs it. The meter runs at speed 1 (a scenario's ``--speed`` is
for the wall-clock rig and is ignored here): the firmware's energy
sanitiser measures rates on the same clock as the meter.

What this rig does not have: a PTY (``link``), the board's console
(``expect``), TLS mode (cosim/README.md "Limits"); for a sketch also its
line events and a supply switch; tests needing them skip.
"""

import json
import re
from dataclasses import replace

import pytest

from . import paths
from .build import BuildError, BuildUnavailable, build_program
from .cosim import Cosim, CosimError
from .harness import Board, Meter, _need

TLS_REASON = ("TLS mode (mep.md 7): the core's TLS client is not on the virtual clock "
              "(cosim/README.md, Limits); the real-time rig runs this scenario")
CORE = "mepmod-core"


def virtual_time_board(spec=None):
    """The board of this rig: by default mepmod's description (its core
    serves the same documents through host_dash) without its command-line
    fragments for TLS, named mepmod-core; else `spec`, a sketch description
    (sketch_board_problem)."""
    if spec is None or spec.name in ("mepmod", CORE):
        from .boards import default_board
        spec = default_board()
        spec = replace(spec, name=CORE, args={k: v for k, v in spec.args.items() if k != "tls"})
    return spec


def sketch_board_problem(spec):
    """Why board description `spec` cannot be the firmware of this rig
    (None: it can: a sketch to build for virtual time, or a program path)."""
    if spec.name in ("mepmod", CORE) or (spec.build is not None and spec.build.sketch) \
            or (spec.binary and "/" in spec.binary):
        return None
    return (f"board {spec.name}: the virtual-time rig runs our firmware core or an Arduino sketch "
            f"for virtual time (a description with build: {{sketch: DIR}}, or --board-binary PATH "
            f"of `hil/arduino-host/build SKETCH -o PATH --virtual-time`); any other board "
            f"program needs --rig virtual")


def firmware_of(rig):
    """mepsim-cosim's --firmware for this rig's board: core, or a sketch's
    virtual-time program (built once per session)."""
    spec = rig.config.board.spec
    if spec is None or spec.name == CORE:
        return "core"
    if spec.binary and "/" in spec.binary:
        return spec.binary
    try:
        return str(build_program(spec, rig.build_root, virtual_time=True))
    except BuildUnavailable as e:
        pytest.skip(str(e))
    except BuildError as e:
        pytest.fail(str(e), pytrace=False)


class CosimMeter(Meter):
    """The meter side of the co-simulation; its process is also the board's."""

    def __init__(self, rig):
        super().__init__(rig.artifacts, rig.rundir, rig.config.meter, name="mepsim-cosim")
        self.rig = rig
        self.cosim = None

    def argv_for(self, binary, profile=None, scenario=None, extra=()):
        argv = [binary, "--control-stdio", "--firmware", firmware_of(self.rig), "--seed", max(1, self.cfg.seed),
                "--out", self.workdir / "cosim", "--capture", "pcapng"]
        prof = str(paths.find_in(profile, paths.fixture("meters"))) if profile else self.cfg.profile
        if prof:
            argv += ["--profile", prof]
        if scenario:
            sdir = paths.fixture("scenarios") if not self.cfg.scenario_dir else self.cfg.scenario_dir
            argv += ["--scenario", str(paths.find_in(scenario, sdir))]
        self.profile, self.scenario = prof, scenario
        rest = list(extra)
        while "--speed" in rest:         # the wall-clock rig's speed; virtual time runs at 1
            i = rest.index("--speed")
            del rest[i:i + 2]
        return argv + rest

    def start(self, profile=None, scenario=None, extra=(), args=None, timeout=10.0):
        binary = _need("mepsim-cosim")
        argv = [binary] + [str(a) for a in args] if args is not None else \
            self.argv_for(binary, profile, scenario, extra)
        self.cosim = Cosim(argv, self.workdir, name=self.name)
        try:
            self.cosim.now()
        except CosimError as e:
            problems = self.cosim.problems()
            self.cosim = None
            raise AssertionError(f"mepsim-cosim did not start: {e}\n" + "\n".join(problems))
        self.proc = self.cosim
        self.runs = [self.cosim]
        return self

    @property
    def ctl(self):
        if self.cosim is None:
            raise AssertionError("the meter was not started (fixture `meter`)")
        return self.cosim

    def control(self):
        return self.ctl

    def link(self, pty_name="meter.pty"):
        pytest.skip("the virtual-time rig has no PTY: meter and board share one process")

    def log(self):
        return self.cosim.stderr() if self.cosim else ""

    def stderr(self):
        return self.log()

    def stdout(self):
        return ""                # its stdout is the control channel

    def stop(self, sig=None, timeout=10.0):
        return self.cosim.stop() if self.cosim else None

    def teardown(self):
        if self.cosim is None:
            return []
        out = self.cosim.problems()
        self.cosim = None
        return out

    def check_clean_exit(self):
        problems = self.teardown()
        if problems:
            raise AssertionError("\n".join(problems))


class VirtualMqtt:
    """The board's MQTT messages as harness.MqttCapture shows them:
    (virtual s, topic, payload, retain), gathered from the co-simulation."""

    def __init__(self, meter):
        self.meter = meter
        self.messages = []

    def snapshot(self):
        if self.meter.cosim is not None and self.meter.cosim.alive():
            self.messages += self.meter.cosim.mqtt()
        return list(self.messages)

    def on_topic(self, topic):
        return [m for m in self.snapshot() if m[1] == topic]

    def close(self):
        pass


class CosimBoard:
    """Our firmware core inside the co-simulation, as a board."""

    virtual = True
    lines = None
    console = None
    tap = None

    def __init__(self, rig, spec=None):
        self.rig = rig
        self.spec = virtual_time_board(spec or getattr(rig.config.board, "spec", None))
        self.name = self.spec.name
        self.published = []      # (virtual s, path, status, doc or text)
        self.mqtt = VirtualMqtt(rig.meter)
        self.poll_ms = None
        self.started = False
        self.sketch = self.spec.name != CORE
        self._lines = []

    @property
    def mqtt_prefix(self):
        return self.spec.outputs.mqtt or "esp32-mep"

    @property
    def _cosim(self):
        return self.rig.meter.ctl

    # ---- start / stop ----
    def start(self, extra=(), opts=None, provision=True, on_spawn=None):
        opts = dict(opts or {})
        if opts.pop("tls", False):
            pytest.skip(TLS_REASON)
        if extra:
            pytest.skip(f"board {self.name}: extra board arguments {list(extra)} have no meaning "
                        f"on the virtual-time rig")
        unknown = sorted(set(opts) - {"poll_ms"})
        if unknown:
            pytest.skip(f"board {self.name} declares no args.{unknown[0]}")
        self.poll_ms = opts.get("poll_ms", self.poll_ms)
        if not self.sketch:      # a sketch boots with the run, provisioned by mepsim-cosim
            self._cosim.board("start", poll_ms=self.poll_ms, prefix=self.mqtt_prefix)
        self.started = True
        if on_spawn is not None:
            on_spawn()
        return self

    def power_cycle(self, off_ms=None):
        """The supply cut for off_ms virtual ms (default 3000), then a fresh boot."""
        if self.sketch:
            pytest.skip(f"board {self.name}: a sketch's supply is not switched on the "
                        f"virtual-time rig")
        self._cosim.board("off")
        self.rig.clock.sleep((3000 if off_ms is None else off_ms) / 1000.0)
        self._cosim.board("start", poll_ms=self.poll_ms, prefix=self.mqtt_prefix)

    def reset(self, ms=None):
        self.power_cycle(200 if ms is None else ms)

    def restart(self):
        self.power_cycle(0)
        return self

    def alive(self):
        return self.rig.meter.cosim is not None and self.rig.meter.cosim.alive()

    def stop(self, sig=None, timeout=10.0):
        if self.alive():
            self._cosim.board("off")
        return 0

    def teardown(self):
        if self.alive():
            self.mqtt.snapshot()         # the last messages, for published.json
        return []

    def _abort_if_dead(self):
        c = self.rig.meter.cosim
        if c is not None and not c.alive():
            raise AssertionError(f"mepsim-cosim died (status {c.p.poll()}):\n{c.stderr()[-2000:]}")

    # ---- outputs ----
    def expect(self, regex, timeout=10.0):
        pytest.skip("the virtual-time rig has no board console (the core logs to "
                    "mepsim-cosim.log with -v -v)")

    def get(self, path=None, timeout=3.0, record=True):
        """HTTP GET now -> (status, parsed JSON or None, headers); status None
        when the board is off."""
        path = path or self.spec.outputs.http or "/getDashDataWS"
        self._abort_if_dead()
        status, ctype, body = self._cosim.http(path)
        t = self.rig.clock.now()
        if status is None:
            if record:
                self.published.append((t, path, None, f"no answer: {body}"))
            return None, None, {}
        try:
            doc = json.loads(body) if body else None
        except ValueError:
            doc = None
        if record:
            self.published.append((t, path, status, doc if doc is not None else body[:2000]))
        return status, doc, {"Content-Type": ctype}

    get_json = Board.get_json

    def wait_json(self, path=None, timeout=None, interval=0.25):
        """GET every `interval` virtual s until it answers 200; the document."""
        end = self.rig.clock.now() + (30.0 if timeout is None else timeout)
        while True:
            status, doc, _ = self.get(path)
            if status == 200:
                return doc
            if self.rig.clock.now() >= end:
                raise AssertionError(f"timed out after {timeout} virtual s waiting for 200 from "
                                     f"{path or self.spec.outputs.http} (last: {status})")
            self.rig.clock.sleep(interval)

    def mqtt_messages(self, topic=None):
        return [m for m in self.mqtt.snapshot() if topic is None or m[1] == topic]

    def wait_mqtt(self, topic, timeout=30.0, count=1, interval=0.5):
        pre = self.mqtt_prefix
        full = topic if topic.startswith(pre + "/") else f"{pre}/{topic}"
        end = self.rig.clock.now() + timeout
        while True:
            got = self.mqtt_messages(full)
            if len(got) >= count:
                return got
            if self.rig.clock.now() >= end:
                raise AssertionError(f"timed out after {timeout} virtual s waiting for {count} "
                                     f"MQTT message(s) on {full}")
            self.rig.clock.sleep(interval)

    mqtt_document = Board.mqtt_document     # the latest value of every 8.2 member, merged

    def console_values(self):
        return []

    def line_events(self):
        """(virtual s, line, on) of its transceiver/ENABLE since the start."""
        c = self.rig.meter.cosim
        if c is not None and c.alive():
            self._lines += c.lines()
        return list(self._lines)

    def snapshot(self):
        """(status, doc) of the module's JSON contract now."""
        s, d, _ = self.get()
        return s, d


def line_events(rig):
    """(virtual s, line, on) of the core's transceiver/ENABLE (its HAL) since the start."""
    return rig.board.line_events()


def wait_line(rig, name, on, timeout, after=None, interval=0.05):
    end = rig.clock.now() + timeout
    while True:
        for t, n, o in line_events(rig):
            if n == name and o == on and (after is None or t >= after):
                return t
        if rig.clock.now() >= end:
            raise AssertionError(f"timed out after {timeout} virtual s waiting for "
                                 f"{name} {'on' if on else 'off'}")
        rig.clock.sleep(interval)


SUMMARY = re.compile(r"^simulated (\S+) s in (\S+) s wall \((\S+) x\), wire sha256 ([0-9a-f]+), "
                     r"published (\d+) values, suspect (\d+)$")
