"""Child processes of a rig (mepsim, mepmod, mosquitto) and small helpers.

Output goes to files in the test's artefact directory (never a pipe that can
fill); stop() sends SIGTERM and waits with a bound; check() reports a crash
or a sanitizer report. Binaries come from the rig file, then $MEPSIM_BIN /
$MEPMOD_BIN, then <repo>/build.
"""

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer")


def mepsim_bin(explicit=None):
    return Path(explicit or os.environ.get("MEPSIM_BIN", REPO / "build" / "simulator" / "mepsim"))


def mepmod_bin(explicit=None):
    return Path(explicit or os.environ.get("MEPMOD_BIN",
                                           REPO / "build" / "firmware" / "host" / "mepmod"))


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, timeout, what, interval=0.05):
    """Poll cond() until truthy; AssertionError naming `what` after timeout."""
    end = time.monotonic() + timeout
    err = None
    while True:
        try:
            v = cond()
            err = None
        except (OSError, ValueError) as e:
            v, err = None, e
        if v:
            return v
        if time.monotonic() >= end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}"
                                 + (f" (last error: {err})" if err else ""))
        time.sleep(interval)


class Proc:
    def __init__(self, name, argv, workdir, env=None):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.workdir = Path(workdir)
        self.out_path = self.workdir / f"{name}.out"
        self.err_path = self.workdir / f"{name}.log"
        self._out = open(self.out_path, "ab")
        self._err = open(self.err_path, "ab")
        e = dict(os.environ)
        e.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        e.update(env or {})
        self.p = subprocess.Popen(self.argv, cwd=str(self.workdir), stdin=subprocess.DEVNULL,
                                  stdout=self._out, stderr=self._err, env=e)

    def alive(self):
        return self.p.poll() is None

    def stdout(self):
        return self.out_path.read_text(errors="replace")

    def stderr(self):
        return self.err_path.read_text(errors="replace")

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Stop and return the exit status ("hang" if it had to be killed)."""
        rc = self.p.poll()
        if rc is None:
            self.p.send_signal(sig)
            try:
                rc = self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)
                rc = "hang"
        self._out.close()
        self._err.close()
        return rc

    def problems(self, rc):
        """Reasons this run counts as broken (crash, hang, sanitizer report)."""
        out = []
        err = self.stderr()
        for m in SANITIZER_MARKS:
            if m in err:
                out.append(f"{self.name}: sanitizer report ({m}):\n{err[-3000:]}")
                break
        if rc == "hang":
            out.append(f"{self.name}: did not exit within 10 s of SIGTERM")
        elif isinstance(rc, int) and rc < 0 and rc != -signal.SIGKILL:
            out.append(f"{self.name}: killed by signal {-rc}:\n{err[-2000:]}")
        elif isinstance(rc, int) and rc > 0:
            out.append(f"{self.name}: exit status {rc}:\n{err[-2000:]}")
        return out
