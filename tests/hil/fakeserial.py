"""A fake pyserial object for the bench fixtures: modem inputs the test sets,
outputs it records with (time, pin, level), and console bytes it feeds."""

import threading


class FakeSerial:
    def __init__(self, *args, clock=None, **kw):
        self.cts = self.dsr = self.cd = self.ri = False
        self._dtr = self._rts = True        # pyserial's default before open
        self.port = args[0] if args else None
        self.baudrate = args[1] if len(args) > 1 else kw.get("baudrate", 9600)
        self.is_open = False
        self.opened_with = None
        self.history = []                   # (time, "dtr"/"rts", level)
        self.clock = clock or (lambda: 0.0)
        self.rx = bytearray()
        self._rx_lock = threading.Lock()
        if args:                             # Serial(port, baud, ...) opens at once
            self.open()

    def open(self):
        self.is_open = True
        self.opened_with = {"dtr": self._dtr, "rts": self._rts}

    def close(self):
        self.is_open = False

    @property
    def dtr(self):
        return self._dtr

    @dtr.setter
    def dtr(self, v):
        self._dtr = bool(v)
        self.history.append((self.clock(), "dtr", bool(v)))

    @property
    def rts(self):
        return self._rts

    @rts.setter
    def rts(self, v):
        self._rts = bool(v)
        self.history.append((self.clock(), "rts", bool(v)))

    def feed(self, data):
        with self._rx_lock:
            self.rx += data

    def read(self, n):
        import time
        with self._rx_lock:
            out, self.rx = bytes(self.rx[:n]), self.rx[n:]
        if not out:
            time.sleep(0.01)
        return out


class FakeClock:
    """Monotonic time the test advances; sleep() advances it."""

    def __init__(self, t=100.0):
        self.t = t

    def __call__(self):
        return self.t

    def sleep(self, s):
        self.t += s
