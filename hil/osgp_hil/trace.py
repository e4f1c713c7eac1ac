"""Per-test trace of the meter line: every byte with a timestamp, plus the
board's control-line events.

Two sources (documented choice, hil/README.md "Traces"):

* virtual rig: ``PtyTap``, a relay between the board (mepmod) and the meter
  (mepsim's PTY). mepmod opens the tap's PTY, the tap copies bytes both ways
  and stamps every chunk as it passes (time.time(), microseconds). This sees
  EVERY byte, also partial frames the meter discards, junk and latch-up
  garbage, which mepsim's own log does not dump. Added latency is one
  select() round (well under 1 ms), far inside the 50 ms gap rule (mep.md 4).
* bench rig (and line events on both rigs): ``parse_mepsim_log`` reads
  mepsim's ``-vv`` log: "rx N bytes" / "tx N bytes" hex dumps of whole frames
  (millisecond wall-clock stamps, UTC) and "line event: transceiver off".

``Trace.write(path)`` writes one line per record:
``09:24:28.988123  +1.234567  module->meter  19  00 11 30 ...``
"""

import datetime
import os
import pty
import re
import select
import termios
import threading
import time
import tty
from dataclasses import dataclass
from pathlib import Path

TO_METER = "module->meter"
TO_MODULE = "meter->module"
LINE = "line"


@dataclass
class Record:
    t: float            # wall clock, seconds since the epoch
    kind: str           # TO_METER, TO_MODULE or LINE
    data: bytes = b""   # bytes (TO_METER / TO_MODULE)
    line: str = ""      # LINE: "transceiver" / "enable"
    on: bool = False
    source: str = ""    # "tap", "mepsim-log", "modem"


class Trace:
    def __init__(self, t0=None):
        self.t0 = time.time() if t0 is None else t0
        self.records = []
        self._lock = threading.Lock()

    def add(self, rec):
        with self._lock:
            self.records.append(rec)

    def extend(self, recs):
        with self._lock:
            self.records.extend(recs)

    def sorted(self):
        with self._lock:
            return sorted(self.records, key=lambda r: r.t)

    def bytes(self, kind):
        """Everything that went one way, concatenated."""
        return b"".join(r.data for r in self.sorted() if r.kind == kind)

    def line_events(self):
        return [(r.t, r.line, r.on) for r in self.sorted() if r.kind == LINE]

    def format(self):
        out = []
        for r in self.sorted():
            stamp = datetime.datetime.fromtimestamp(r.t, datetime.timezone.utc)
            head = f"{stamp:%H:%M:%S.%f}  {r.t - self.t0:+10.6f}"
            if r.kind == LINE:
                out.append(f"{head}  {LINE:<13}  {r.line} {'on' if r.on else 'off'}  [{r.source}]")
            else:
                out.append(f"{head}  {r.kind:<13}  {len(r.data):3d}  {r.data.hex(' ').upper()}"
                           f"  [{r.source}]")
        return "\n".join(out) + ("\n" if out else "")

    def write(self, path):
        Path(path).write_text(self.format())


# ---- mepsim -vv log ---------------------------------------------------------
LOG_RE = re.compile(r"^(\d\d):(\d\d):(\d\d)\.(\d{3}) (\S+) (.*)$")
HEX_RE = re.compile(r"^(rx|tx) (\d+) bytes:((?: [0-9A-F]{2})*)$")
EVENT_RE = re.compile(r"^line event: (transceiver|enable) (on|off)$")


def _stamp(h, m, s, ms, near):
    """Wall time of HH:MM:SS.mmm (UTC) on the day closest to `near`."""
    day = datetime.datetime.fromtimestamp(near, datetime.timezone.utc).replace(
        hour=int(h), minute=int(m), second=int(s), microsecond=int(ms) * 1000)
    t = day.timestamp()
    for cand in (t - 86400, t + 86400):
        if abs(cand - near) < abs(t - near):
            t = cand
    return t


def parse_mepsim_log(text, near=None, meter=None):
    """Records from mepsim's -v/-vv log. rx = module->meter, tx = meter->module.
    `near`: a wall time within 12 h of the log (default now); meter: only
    lines of that meter name."""
    near = time.time() if near is None else near
    recs = []
    for ln in text.splitlines():
        m = LOG_RE.match(ln)
        if not m:
            continue
        h, mi, s, ms, name, msg = m.groups()
        if meter and name != meter:
            continue
        hx = HEX_RE.match(msg)
        if hx:
            data = bytes.fromhex(hx.group(3))
            kind = TO_METER if hx.group(1) == "rx" else TO_MODULE
            recs.append(Record(_stamp(h, mi, s, ms, near), kind, data, source="mepsim-log"))
            continue
        ev = EVENT_RE.match(msg)
        if ev:
            recs.append(Record(_stamp(h, mi, s, ms, near), LINE, line=ev.group(1),
                               on=ev.group(2) == "on", source="mepsim-log"))
    return recs


# ---- PTY tap (virtual rig) --------------------------------------------------
class PtyTap:
    """Relay board <-> meter through a new PTY, recording every byte.

    meter_path: mepsim's PTY symlink; board_link: symlink created for the
    board (mepmod --port board_link). The tap keeps its own slave fd open so
    the board may close and reopen the port (power cycle) without EIO."""

    def __init__(self, meter_path, board_link, trace):
        self.trace = trace
        self.board_link = Path(board_link)
        self.meter_fd = os.open(str(meter_path), os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.meter_fd)
        termios.tcflush(self.meter_fd, termios.TCIOFLUSH)
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        if self.board_link.is_symlink() or self.board_link.exists():
            self.board_link.unlink()
        os.symlink(os.ttyname(self.slave), self.board_link)
        self.bytes_to_meter = 0
        self.bytes_to_module = 0
        self._stop_r, self._stop_w = os.pipe()
        self._t = threading.Thread(target=self._run, name="pty-tap", daemon=True)
        self._t.start()

    @staticmethod
    def _write_all(fd, data):
        while data:
            try:
                n = os.write(fd, data)
                data = data[n:]
            except BlockingIOError:
                select.select([], [fd], [], 0.05)

    def _run(self):
        fds = [self.master, self.meter_fd, self._stop_r]
        while True:
            r, _, _ = select.select(fds, [], [], 0.5)
            if self._stop_r in r:
                return
            for fd in r:
                try:
                    chunk = os.read(fd, 4096)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    # EIO: no process has the other side open right now
                    time.sleep(0.01)
                    continue
                if not chunk:
                    continue
                now = time.time()
                if fd == self.master:
                    self.trace.add(Record(now, TO_METER, chunk, source="tap"))
                    self.bytes_to_meter += len(chunk)
                    self._write_all(self.meter_fd, chunk)
                else:
                    self.trace.add(Record(now, TO_MODULE, chunk, source="tap"))
                    self.bytes_to_module += len(chunk)
                    self._write_all(self.master, chunk)

    def close(self):
        if self._t is None:
            return
        os.write(self._stop_w, b"x")
        self._t.join(5)
        self._t = None
        for fd in (self.master, self.slave, self.meter_fd, self._stop_r, self._stop_w):
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            if self.board_link.is_symlink():
                self.board_link.unlink()
        except OSError:
            pass
