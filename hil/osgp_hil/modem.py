"""Modem lines of the bench adapter: sense the board's control lines, drive
its reset/supply relay (Python twin of simulator/sim_modem.c).

The board's transceiver supply (active high) and the meter ENABLE line
(driven through an inverting stage, ~8-9 V at the meter) are wired to modem
INPUTS of the USB-serial adapter (CTS/DSR/DCD/RI); the board's reset or
supply relay hangs on a modem OUTPUT (DTR/RTS). See hil/README.md for the
wiring and module-behaviour.md 2 and 6 for what the lines do.

``ModemLines`` works on any object with pyserial's attributes (``cts``,
``dsr``, ``cd``, ``ri`` readable, ``dtr``, ``rts`` writable), so tests inject
a fake; ``open_adapter()`` makes the real pyserial one. Time and sleep are
injectable too. Semantics match sim_modem: a level counts after ``debounce``
equal samples ``poll_ms`` apart and is stamped with the FIRST sample that
showed it; an output "asserted" means the action (reset held / supply cut),
idle means the board runs.
"""

import threading
import time

PYSERIAL_ATTR = {"CTS": "cts", "DSR": "dsr", "DCD": "cd", "RI": "ri"}
SENSED = ("transceiver", "enable")
DRIVEN = ("reset", "power")


class ModemError(Exception):
    """A line that is not wired, a port failure or a wait that timed out."""


class ModemLines:
    def __init__(self, lines, ser, clock=time.monotonic, sleep=time.sleep):
        """lines: rig.Lines; ser: pyserial-like object (already open)."""
        self.cfg = lines
        self.ser = ser
        self.clock = clock
        self.sleep = sleep
        self.events = []          # (t, line, on), debounced, t = first sample of the level
        self.samples = 0
        self.bounces = 0
        self.pulses = []          # (output, t_assert, t_release)
        self._level = {}
        self._cand = {}           # line -> (on, count, since)
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._thread = None
        self._stop = threading.Event()
        for out in DRIVEN:
            if getattr(lines, out) is not None:
                self._drive(out, False)   # idle: board running

    # ---- inputs ----
    def wired(self, name):
        return getattr(self.cfg, name) is not None

    def raw(self, name):
        """Undebounced level of a sensed line now (polarity applied)."""
        s = getattr(self.cfg, name)
        if s is None:
            raise ModemError(f"line {name!r} is not wired in the rig file ($.lines.{name})")
        pin = bool(getattr(self.ser, PYSERIAL_ATTR[s.input]))
        return pin != s.inverted

    def sample(self, now=None):
        """Read every sensed input once and run the debounce; returns new events."""
        now = self.clock() if now is None else now
        new = []
        with self._cond:
            self.samples += 1
            for name in SENSED:
                if not self.wired(name):
                    continue
                on = self.raw(name)
                if name in self._level and self._level[name] == on:
                    if name in self._cand:
                        self.bounces += 1
                        del self._cand[name]
                    continue
                c = self._cand.get(name)
                if c and c[0] == on:
                    c = (on, c[1] + 1, c[2])
                else:
                    if c:
                        self.bounces += 1
                    c = (on, 1, now)
                self._cand[name] = c
                if c[1] >= self.cfg.debounce:
                    del self._cand[name]
                    self._level[name] = on
                    ev = (c[2], name, on)
                    self.events.append(ev)
                    new.append(ev)
            if new:
                self._cond.notify_all()
        return new

    def level(self, name):
        """Debounced level, or None while not known yet."""
        with self._lock:
            return self._level.get(name)

    def start(self):
        """Sample every poll_ms in a thread until stop()."""
        if self._thread or not (self.wired("transceiver") or self.wired("enable")):
            return self
        self._stop.clear()

        def run():
            period = self.cfg.poll_ms / 1000.0
            while not self._stop.is_set():
                try:
                    self.sample()
                except OSError:
                    pass   # a failed read is no evidence; try again next period
                self._stop.wait(period)
        self._thread = threading.Thread(target=run, name="modem-lines", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._thread:
            self._stop.set()
            self._thread.join(5)
            self._thread = None

    def wait_for(self, name, on, timeout, after=None):
        """Wait for an event (line, on) stamped at or after `after`; return its time."""
        if not self.wired(name):
            raise ModemError(f"line {name!r} is not wired in the rig file ($.lines.{name})")
        deadline = self.clock() + timeout
        with self._cond:
            while True:
                for t, n, o in self.events:
                    if n == name and o == on and (after is None or t >= after):
                        return t
                left = deadline - self.clock()
                if left <= 0:
                    raise ModemError(f"{name} did not go {'on' if on else 'off'} within "
                                     f"{timeout:.1f} s (events: {self.events[-6:]})")
                self._cond.wait(min(left, 0.05))

    # ---- outputs ----
    def _drive(self, out, asserted):
        d = getattr(self.cfg, out)
        if d is None:
            raise ModemError(f"output {out!r} is not wired in the rig file ($.lines.{out})")
        setattr(self.ser, d.output.lower(), bool(asserted) != d.inverted)

    def set(self, out, asserted):
        """Hold an output asserted (reset held / supply cut) or release it."""
        self._drive(out, asserted)

    def pulse(self, out, ms=None):
        """Assert `out` for ms (default: its pulse_ms), then release. Blocks."""
        d = getattr(self.cfg, out)
        if d is None:
            raise ModemError(f"output {out!r} is not wired in the rig file ($.lines.{out})")
        ms = d.pulse_ms if ms is None else ms
        if ms <= 0:
            raise ModemError(f"{out}: pulse length must be positive, got {ms}")
        t0 = self.clock()
        self._drive(out, True)
        try:
            self.sleep(ms / 1000.0)
        finally:
            self._drive(out, False)
        t1 = self.clock()
        self.pulses.append((out, t0, t1))
        return t0, t1


def open_adapter(lines, port, baud=9600, serial_factory=None):
    """Open `port` with pyserial for its modem lines. DTR/RTS are set to the
    idle levels BEFORE open: pyserial otherwise asserts both when it opens,
    which would pulse the board's reset/supply relay."""
    if serial_factory is None:
        import serial
        serial_factory = serial.Serial
    ser = serial_factory()
    ser.port = port
    ser.baudrate = baud
    for out in DRIVEN:
        d = getattr(lines, out)
        if d is not None:
            setattr(ser, d.output.lower(), d.inverted)   # deasserted level
    ser.open()
    return ser
