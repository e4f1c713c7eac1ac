"""labgrid (0.4.1) resource and driver for the emulated meter.

``MepMeterEmulator`` (resource) describes the meter side of a bench: the
serial device wired to the board's MEP connector plus what mepsim emulates on
it (profile, keys, seed, line format). ``MepMeterDriver`` (driver) starts
mepsim on that device when activated, exposes the control-socket client
(``control``, ``truth()``, ``counters()``) and stops mepsim when deactivated.

Local mode: with ``pty: true`` the resource's ``port`` is not a device but a
path where mepsim creates a pseudo-terminal (symlink); the board side (or a
test, through a RawSerialPort on the same path) opens that path. This is how
tests/hil runs the driver without hardware.

Load it from an environment file:

    imports:
      - ../osgp_hil_labgrid.py      # hil/examples/osgp_hil_labgrid.py
    targets:
      main:
        resources:
          MepMeterEmulator: {port: /dev/serial/by-id/usb-FTDI_..., profile: nes-3ph}
        drivers:
          MepMeterDriver: {}

Importing this module twice under different names would register the
classes twice (labgrid raises RegistrationError), so environment files import
it through the small shim in hil/examples, which imports it once by its
package name.
"""

import tempfile
import time
from pathlib import Path

import attr
from labgrid.driver.common import Driver
from labgrid.factory import target_factory
from labgrid.resource.common import Resource
from labgrid.step import step

from .. import paths, procs
from ..mepsim_control import MepsimControl


@target_factory.reg_resource
@attr.s(eq=False)
class MepMeterEmulator(Resource):
    """The meter UART of a bench and the meter mepsim emulates on it.

    Args:
        port (str): serial device (/dev/serial/by-id/...) or, with pty, the
            path where mepsim puts its PTY symlink
        speed (int): line rate, default 9600 (mep.md 2)
        format (str): 8N1 (default), 8E1, 7E1
        pty (bool): local mode, mepsim creates a PTY at `port`
        profile (str): profile file or fixtures/meters name; None = built-in
        mbk, mak (str): keys (16/20 ASCII or 32/40 hex)
        seed (int), seq_start (int): model seed and first sequence number
        mepsim (str): binary; default $MEPSIM_BIN or <repo>/build
        logdir (str): where mepsim.log and the control socket go
    """
    port = attr.ib(validator=attr.validators.instance_of(str))
    speed = attr.ib(default=9600, validator=attr.validators.instance_of(int))
    format = attr.ib(default="8N1", validator=attr.validators.in_(["8N1", "8E1", "7E1", "8N2"]))
    pty = attr.ib(default=False, validator=attr.validators.instance_of(bool))
    profile = attr.ib(default=None, validator=attr.validators.optional(
        attr.validators.instance_of(str)))
    mbk = attr.ib(default="MEPtestKey0123456789", validator=attr.validators.instance_of(str))
    mak = attr.ib(default=None, validator=attr.validators.optional(
        attr.validators.instance_of(str)))
    seed = attr.ib(default=1, validator=attr.validators.instance_of(int))
    seq_start = attr.ib(default=None, validator=attr.validators.optional(
        attr.validators.instance_of(int)))
    mepsim = attr.ib(default=None, validator=attr.validators.optional(
        attr.validators.instance_of(str)))
    logdir = attr.ib(default=None, validator=attr.validators.optional(
        attr.validators.instance_of(str)))


@target_factory.reg_driver
@attr.s(eq=False)
class MepMeterDriver(Driver):
    """Runs mepsim on the bound MepMeterEmulator while active."""

    bindings = {"meter": "MepMeterEmulator"}

    def __attrs_post_init__(self):
        super().__attrs_post_init__()
        self.proc = None
        self.control = None
        self.rundir = None

    def _argv(self):
        m = self.meter
        binary = paths.find_binary("mepsim", m.mepsim)      # NotFound names where it looked
        argv = [binary, "--pty" if m.pty else "--uart", m.port, "--baud", m.speed,
                "--format", m.format, "--mbk", m.mbk, "--seed", m.seed,
                "--control", Path(self.rundir) / "meter.ctl", "-vv"]
        if m.mak:
            argv += ["--mak", m.mak]
        if m.seq_start is not None:
            argv += ["--seq-start", hex(m.seq_start)]
        if m.profile:
            p = Path(m.profile)
            if not p.is_file():
                p = paths.find_in(m.profile, paths.fixture("meters"))
            argv += ["--profile", p]
        return argv

    def on_activate(self):
        # short directory for the Unix socket (path length limit)
        self.rundir = tempfile.mkdtemp(prefix="mepsim-lg-")
        logdir = Path(self.meter.logdir or self.rundir)
        logdir.mkdir(parents=True, exist_ok=True)
        self.proc = procs.Proc("mepsim", self._argv(), logdir)
        end = time.monotonic() + 10
        while "mepsim: ready" not in self.proc.stdout():
            if not self.proc.alive() or time.monotonic() > end:
                err = self.proc.stderr()[-2000:]
                self.proc.stop()
                self.proc = None
                raise RuntimeError(f"mepsim did not start on {self.meter.port}:\n{err}")
            time.sleep(0.02)
        self.control = MepsimControl(str(Path(self.rundir) / "meter.ctl"))

    def on_deactivate(self):
        if self.control:
            self.control.close()
            self.control = None
        if self.proc:
            rc = self.proc.stop()
            problems = self.proc.problems(rc)
            self.proc = None
            if problems:
                raise RuntimeError("; ".join(problems))

    @Driver.check_active
    @step()
    def truth(self):
        """The model's truth (`get` on the control socket)."""
        return self.control.get()

    @Driver.check_active
    @step()
    def counters(self):
        return self.control.counters()

    @Driver.check_active
    def log(self):
        """mepsim's -vv log so far (frames with hex dumps, line events)."""
        return self.proc.stderr()
