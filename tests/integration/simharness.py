"""simharness: the pieces of the integration-test harness that tests import.

* mepsim_bin(): the binary under test ($MEPSIM_BIN, default <repo>/build/simulator/mepsim).
* Mepsim: one running mepsim in a tmp dir with a control socket; start()
  waits for "mepsim: ready", check_clean_exit() stops it with SIGTERM and
  fails on a crash, a hang or a sanitizer report.
* SerialLink: the module's end of a PTY; reads whole MEP frames with the
  arrival time of every byte (for the timing tests).
* Meter: a started mepsim with its link, control client and a sequence
  counter kept in step with the meter.

The fixtures that use these live in conftest.py. This module has its own
name (not "conftest") so `pytest tests/` with several conftest files still
imports the right helpers. All waits have generous upper bounds.
"""


import os
import select
import signal
import subprocess
import sys
import termios
import time
import tty
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "hil"))

import mepframe  # noqa: E402
from mepsim_control import MepsimControl  # noqa: E402

SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer", "runtime error:")


def mepsim_bin():
    return os.environ.get("MEPSIM_BIN", str(REPO / "build" / "simulator" / "mepsim"))


def fixture_path(*parts):
    return str(REPO.joinpath("fixtures", *parts))


class LinkTimeout(AssertionError):
    pass


class SerialLink:
    """The module's end of a PTY: raw bytes with arrival timestamps."""

    def __init__(self, path):
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.fd)
        termios.tcflush(self.fd, termios.TCIOFLUSH)
        self.pending = bytearray()   # received, not yet consumed
        self.times = []              # arrival time of each pending byte

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def send(self, data):
        data = bytes(data)
        while data:
            try:
                n = os.write(self.fd, data)
            except BlockingIOError:
                select.select([], [self.fd], [], 0.1)
                continue
            data = data[n:]
        return time.monotonic()

    def _fill(self, timeout):
        r, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        if not r:
            return False
        try:
            chunk = os.read(self.fd, 4096)
        except BlockingIOError:
            return False
        now = time.monotonic()
        self.pending += chunk
        self.times += [now] * len(chunk)
        return bool(chunk)

    def drain(self, quiet=0.05):
        """Discard input until the line has been quiet for `quiet` seconds."""
        while self._fill(quiet):
            pass
        self.pending.clear()
        self.times.clear()

    def read_frame(self, timeout=2.0, skip_alerts=True):
        """One length-prefixed frame -> (bytes, [arrival time per byte]).

        `00 00` alert sequences are skipped unless skip_alerts is False."""
        deadline = time.monotonic() + timeout
        while True:
            while len(self.pending) >= 2:
                n = (self.pending[0] << 8) | self.pending[1]
                if n == 0 and skip_alerts:
                    del self.pending[:2]
                    del self.times[:2]
                    continue
                if len(self.pending) >= n + 2:
                    frame, times = bytes(self.pending[:n + 2]), self.times[:n + 2]
                    del self.pending[:n + 2]
                    del self.times[:n + 2]
                    return frame, times
                break
            left = deadline - time.monotonic()
            if left <= 0:
                raise LinkTimeout("no complete frame within %.1f s (have %s)" % (timeout, self.pending.hex()))
            self._fill(left)

    def collect(self, duration):
        """Everything received for `duration` seconds -> (bytes, times)."""
        end = time.monotonic() + duration
        while time.monotonic() < end:
            self._fill(end - time.monotonic())
        data, times = bytes(self.pending), list(self.times)
        self.pending.clear()
        self.times.clear()
        return data, times

    def expect_silence(self, duration):
        data, _ = self.collect(duration)
        return data

    def exchange(self, req, timeout=2.0):
        """Send a mepframe.Request, return the parsed mepframe.Response."""
        self.send(req.frame)
        frame, _ = self.read_frame(timeout)
        return mepframe.parse_response(req, frame)


class Mepsim:
    """One running mepsim process."""

    def __init__(self, workdir, args, name="mepsim"):
        self.workdir = Path(workdir)
        self.control_path = str(self.workdir / ("%s.ctl" % name))
        self.stdout_path = self.workdir / ("%s.out" % name)
        self.stderr_path = self.workdir / ("%s.err" % name)
        self.args = [mepsim_bin()] + list(args)
        if "--control" not in args:
            self.args += ["--control", self.control_path]
        self.proc = None
        self._files = []
        self._links = []
        self._ctls = []

    def start(self, timeout=10.0):
        if not os.path.exists(self.args[0]):
            pytest.fail("mepsim binary not found at %s (set MEPSIM_BIN)" % self.args[0])
        self._files = [open(self.stdout_path, "wb"), open(self.stderr_path, "wb")]
        self.proc = subprocess.Popen(self.args, cwd=str(self.workdir), stdin=subprocess.DEVNULL,
                                     stdout=self._files[0], stderr=self._files[1])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail("mepsim exited with %s during start-up:\n%s" % (self.proc.returncode, self.stderr()))
            if b"mepsim: ready" in self.stdout_path.read_bytes():
                return self
            time.sleep(0.02)
        pytest.fail("mepsim not ready after %.0f s:\n%s" % (timeout, self.stderr()))

    def stdout(self):
        return self.stdout_path.read_text(errors="replace")

    def stderr(self):
        return self.stderr_path.read_text(errors="replace")

    def pty(self, name):
        return str(self.workdir / name)

    def link(self, pty_name):
        link = SerialLink(self.pty(pty_name))
        self._links.append(link)
        return link

    def control(self):
        ctl = MepsimControl(self.control_path)
        self._ctls.append(ctl)
        return ctl

    def stop(self, timeout=10.0):
        """Stop with SIGTERM; return (returncode, stderr)."""
        for c in self._ctls:
            c.close()
        for l in self._links:
            l.close()
        if self.proc is None:
            return None, ""
        try:
            return self._stop(timeout)
        finally:
            for f in self._files:
                f.close()

    def _stop(self, timeout):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return "hang", self.stderr()
        return self.proc.returncode, self.stderr()

    def check_clean_exit(self):
        rc, err = self.stop()
        if rc == "hang":
            pytest.fail("mepsim did not stop within 10 s of SIGTERM:\n" + err[-4000:])
        if rc != 0:
            pytest.fail("mepsim exited with %s (negative = signal):\n%s" % (rc, err[-4000:]))
        for mark in SANITIZER_MARKS:
            if mark in err:
                pytest.fail("mepsim printed a sanitizer report (%s):\n%s" % (mark, err[-6000:]))


class Meter:
    """A started single-meter mepsim with its link, control client and a
    sequence counter kept in step with the meter."""

    def __init__(self, sim, pty_name="meter.pty", key=mepframe.MAK_EXAMPLE, seq=0x10000000):
        self.sim = sim
        self.link = sim.link(pty_name)
        self.ctl = sim.control()
        self.key = key
        self.seq = seq

    def next_seq(self):
        s = self.seq
        self.seq = (self.seq + 1) & 0xFFFFFFFF
        return s

    def read(self, table, offset=None, count=None, key=None, encrypt=False):
        req = mepframe.read(table, offset, count, seq=self.next_seq(), key=key or self.key, encrypt=encrypt)
        return self.link.exchange(req)

    def write(self, table, data, offset=None, key=None, encrypt=False):
        req = mepframe.write(table, data, offset, seq=self.next_seq(), key=key or self.key, encrypt=encrypt)
        return self.link.exchange(req)

    def procedure(self, proc, psn, params=b"", key=None):
        req = mepframe.procedure(proc, psn, params, seq=self.next_seq(), key=key or self.key)
        return self.link.exchange(req)


DEFAULT_SEQ = 0x10000000
