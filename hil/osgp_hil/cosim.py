"""Client of one ``mepsim-cosim --control-stdio`` process: the emulated meter
and the firmware core on one virtual clock, driven step by step
(cosim/cosim_ctl.h: one JSON request per line on its stdin, one JSON reply
per line on its stdout, then the summary line after ``finish``).

The meter methods have the names and return values of
osgp_hil.mepsim_control.MepsimControl (status, get, counters, inject,
glitch, clear, list_faults, fault_status, faults, scenario), so
harness.Meter's helpers work on either; the rest drive the clock (advance,
run_until), the module (board, http, mqtt, lines) and the run (finish).

    c = Cosim([bin, "--control-stdio", "--scenario", f], workdir)
    c.board("start", poll_ms=500)
    c.advance(30)
    status, ctype, body = c.http("/getDashDataWS")
    print(c.finish())   # "simulated 30 s in 0.05 s wall (...)"
"""

import json
import os
import select
import signal
import subprocess
import time
from pathlib import Path

from .procs import sanitizer_reports, tail

REPLY_TIMEOUT_S = 600.0      # a long advance under ASan takes a while; a hang does not


class CosimError(Exception):
    """mepsim-cosim refused a request (its own error text), or the process
    ended or stopped answering."""


class Cosim:
    def __init__(self, argv, workdir, name="mepsim-cosim", env=None):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.err_path = self.workdir / f"{name}.log"
        self._err = open(self.err_path, "ab")
        e = dict(os.environ)
        e.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        e.update(env or {})
        try:
            self.p = subprocess.Popen(self.argv, cwd=str(self.workdir), stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=self._err, env=e)
        except OSError as ex:
            self._err.close()
            raise CosimError(f"{name}: cannot run {self.argv[0]}: {ex.strerror}") from None
        self._buf = b""
        self.t = 0.0             # virtual seconds at the last reply
        self.rc = None
        self.summary = None      # the last line, after finish()

    # ---- transport ----
    def alive(self):
        return self.p.poll() is None

    def stderr(self):
        try:
            return self.err_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _readline(self, timeout=REPLY_TIMEOUT_S):
        fd = self.p.stdout.fileno()
        end = time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = end - time.monotonic()
            if left <= 0:
                raise CosimError(f"{self.name}: no reply within {timeout:.0f} s")
            r, _, _ = select.select([fd], [], [], min(left, 1.0))
            if not r:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                raise CosimError(f"{self.name} ended (status {self.p.wait(5)}):\n"
                                 f"{tail(self.stderr())}")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode("utf-8", "replace")

    def send_line(self, line):
        """One raw request line; the raw reply dict (no ok check)."""
        if isinstance(line, str):
            line = line.encode()
        try:
            self.p.stdin.write(line.rstrip(b"\n") + b"\n")
            self.p.stdin.flush()
        except (BrokenPipeError, ValueError):
            raise CosimError(f"{self.name} is not running:\n{tail(self.stderr())}") from None
        rep = json.loads(self._readline())
        if isinstance(rep.get("t"), (int, float)):
            self.t = float(rep["t"])
        return rep

    def request(self, obj):
        rep = self.send_line(json.dumps(obj))
        if not rep.get("ok"):
            raise CosimError(rep.get("error", "unknown error"))
        return rep

    def _cmd(self, cmd, **fields):
        obj = {"cmd": cmd}
        obj.update({k: v for k, v in fields.items() if v is not None})
        return self.request(obj)

    # ---- the clock ----
    def now(self):
        return self._cmd("now")["t"]

    def advance(self, s):
        return self._cmd("advance", s=float(s))["t"]

    def run_until(self, t):
        return self._cmd("run_until", t=float(t))["t"]

    # ---- the meter (MepsimControl's names and shapes) ----
    def status(self, meter=None):
        return self._cmd("status")

    def get(self, meter=None):
        return self._cmd("get")

    def counters(self, meter=None):
        return self._cmd("counters")

    def inject(self, spec, meter=None):
        return self._cmd("inject", spec=spec)["id"]

    def glitch(self, spec, meter=None):
        return self._cmd("glitch", spec=spec)["id"]

    def clear(self, what="all", meter=None):
        return self._cmd("clear", what=what)["reply"]

    def list_faults(self, meter=None):
        return self._cmd("list")["reply"]

    def fault_status(self, meter=None):
        return self._cmd("fault_status")

    def faults(self, line, meter=None):
        return self._cmd("faults", line=line)["reply"]

    def scenario(self, action, path=None, meter=None):
        if path is not None:
            raise CosimError("scenario load: a co-simulation runs the scenario it was started "
                             "with (--scenario FILE)")
        return self._cmd("scenario", action=action)["scenario"]

    # ---- the module ----
    def board(self, action, poll_ms=None, prefix=None):
        return self._cmd("board", action=action, poll_ms=poll_ms, prefix=prefix)["board"]

    def http(self, path="/getDashDataWS"):
        """(status or None, content type, body text) of a GET now."""
        r = self._cmd("http", path=path)
        return r.get("status"), r.get("content_type", ""), r.get("body", r.get("error", ""))

    def mqtt(self):
        """[(virtual s, topic, payload bytes, retain)] published since the last call."""
        return [(m["t"], m["topic"], m["payload"].encode(), bool(m["retain"]))
                for m in self._cmd("mqtt")["messages"]]

    def lines(self):
        """[(virtual s, "transceiver"|"enable", on)] since the last call."""
        return [(e["t"], e["line"], bool(e["on"])) for e in self._cmd("lines")["events"]]

    # ---- the end ----
    def finish(self, timeout=REPLY_TIMEOUT_S):
        """End the run now; returns the summary line (counters.json is written)."""
        if self.summary is not None or not self.alive():
            return self.summary
        self.request({"cmd": "finish"})
        self.p.stdin.close()
        self.summary = self._readline(timeout)
        self.rc = self.p.wait(timeout)
        self._err.close()
        return self.summary

    def stop(self):
        """finish() if it still answers, else kill; returns the exit status
        ("hang" if it had to be killed)."""
        if self.rc is not None:
            return self.rc
        if self.alive():
            try:
                self.finish(timeout=60)
            except (CosimError, subprocess.TimeoutExpired, OSError, ValueError):
                self.p.send_signal(signal.SIGKILL)
                self.p.wait(5)
                self.rc = "hang"
        if self.rc is None:
            self.rc = self.p.wait(5)
        if not self._err.closed:
            self._err.close()
        return self.rc

    def problems(self):
        """Why the run counts as broken: a sanitizer report, a hang, a
        non-zero exit status."""
        rc = self.stop()
        err = self.stderr()
        out = sanitizer_reports(self.name, err)
        if rc == "hang":
            out.append(f"{self.name}: stopped answering; killed")
        elif rc != 0:
            out.append(f"{self.name}: exit status {rc}:\n{tail(err)}")
        return out
