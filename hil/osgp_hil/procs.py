"""Child processes of a rig (mepsim, a board, mosquitto) and small helpers.

Output goes to files (``NAME.out`` / ``NAME.log``), never a pipe that can
fill; ``stop()`` sends a signal and waits with a bound; ``problems()`` says
why a run counts as broken: a crash, a hang, a sanitizer report, an exit
status the caller did not accept; ``died()`` says it exited while nobody had
asked it to (the harness reports that for boards).
"""

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                   "runtime error:")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def connects(port, host="127.0.0.1"):
    with socket.create_connection((host, port), timeout=0.5):
        return True


def wait_for(cond, timeout, what, interval=0.05, abort=None):
    """Poll cond() until truthy and return its value; AssertionError naming
    `what` after timeout. abort() is called every round and may raise (a
    process that died ends the wait at once with its own message)."""
    end = time.monotonic() + timeout
    err = None
    while True:
        if abort is not None:
            abort()
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


def sanitizer_reports(name, err):
    """[the problem] when a sanitizer reported in err (a program's stderr), else []."""
    for m in SANITIZER_MARKS:
        if m in err:
            return [f"{name}: sanitizer report ({m}):\n{tail(err, 3000)}"]
    return []


def tail(text, n=2000):
    return text[-n:] if len(text) > n else text


class Proc:
    """One child process, output in WORKDIR/NAME.out (stdout) and NAME.log
    (stderr). ``exit_ok``: exit statuses that count as clean after stop()
    (a negative status is "killed by that signal")."""

    def __init__(self, name, argv, workdir, env=None, exit_ok=(0,), cwd=None):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.workdir = Path(workdir)
        self.out_path = self.workdir / f"{name}.out"
        self.err_path = self.workdir / f"{name}.log"
        self.exit_ok = tuple(exit_ok)
        self._out = open(self.out_path, "ab")
        self._err = open(self.err_path, "ab")
        e = dict(os.environ)
        e.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        e.update(env or {})
        self.stop_called = False     # ended on purpose (stop / kill), not on its own
        self.rc = None
        try:
            self.p = subprocess.Popen(self.argv, cwd=str(cwd or self.workdir),
                                      stdin=subprocess.DEVNULL, stdout=self._out,
                                      stderr=self._err, env=e)
        except OSError as ex:
            self._out.close()
            self._err.close()
            raise AssertionError(f"{name}: cannot run {self.argv[0]}: {ex.strerror}") from None

    def alive(self):
        return self.p.poll() is None

    # the Popen calls tests use directly
    def poll(self):
        return self.p.poll()

    def wait(self, timeout=None):
        return self.p.wait(timeout)

    @property
    def returncode(self):
        return self.p.returncode

    @property
    def pid(self):
        return self.p.pid

    def send_signal(self, sig):
        self.p.send_signal(sig)

    def stdout(self):
        return self.out_path.read_text(errors="replace")

    def stderr(self):
        return self.err_path.read_text(errors="replace")

    def output_tail(self, n=2000):
        """The end of stderr and of stdout (a program may log to either)."""
        err, out = self.stderr(), self.stdout()
        if err.strip() and out.strip():
            return f"[stderr]\n{tail(err, n)}\n[stdout]\n{tail(out, n // 2)}"
        return tail(err if err.strip() else out, n)

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Stop and return the exit status ("hang" if it had to be killed)."""
        if self.rc is not None and not self.alive():
            return self.rc
        rc = self.p.poll()
        if rc is None:
            self.stop_called = True
            self.p.send_signal(sig)
            try:
                rc = self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)
                rc = "hang"
        self._out.close()
        self._err.close()
        self.rc = rc
        return rc

    def died(self):
        """Exited while nobody had asked it to."""
        return not self.stop_called and self.p.poll() is not None

    def problems(self, rc=None):
        """Reasons this run counts as broken (crash, hang, sanitizer report,
        an unaccepted exit status)."""
        if rc is None:
            rc = self.rc if self.rc is not None else self.p.poll()
        out = sanitizer_reports(self.name, self.stderr())
        if rc == "hang":
            out.append(f"{self.name}: did not exit within 10 s of SIGTERM")
        elif isinstance(rc, int) and rc != -signal.SIGKILL and rc not in self.exit_ok:
            how = f"killed by signal {-rc}" if rc < 0 else f"exit status {rc}"
            out.append(f"{self.name}: {how}:\n{self.output_tail()}")
        return out
