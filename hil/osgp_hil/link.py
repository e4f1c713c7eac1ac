"""The module's end of a meter line, scripted byte by byte.

* ``SerialLink``: the module's end of a PTY (or UART): raw bytes with the
  arrival time of every byte; reads whole MEP frames (for timing tests).
* ``RawModule``: a SerialLink on one meter's PTY plus that meter's control
  client and a sequence counter kept in step with the meter, so a test sends
  MEP requests by name (``mepframe``) and checks the replies.

Used by the emulator's integration tests and by bench tests that talk to
mepsim directly.
"""

import os
import time

from . import mepframe, rawfd

DEFAULT_SEQ = 0x10000000


class LinkTimeout(AssertionError):
    pass


class SerialLink:
    """The module's end of a PTY: raw bytes with arrival timestamps."""

    def __init__(self, path):
        self.path = path
        self.fd = rawfd.open_raw(path)
        self.pending = bytearray()   # received, not yet consumed
        self.times = []              # arrival time of each pending byte

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def send(self, data):
        rawfd.write_all(self.fd, data)
        return time.monotonic()

    def _fill(self, timeout):
        chunk = rawfd.read_some(self.fd, timeout)
        if not chunk:
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


class RawModule:
    """A scripted module on one meter's PTY: its SerialLink, the meter's
    control client and a sequence counter kept in step with the meter.
    ``sim`` is the harness Meter (the mepsim process) behind it."""

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
