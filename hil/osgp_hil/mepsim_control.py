"""mepsim_control: client for mepsim's control socket (JSON lines over a Unix socket).

Standard library only. One method per command of simulator/app/sim_control.h;
every method returns the reply as a dict (or the part of it named below) and
raises MepsimControlError when mepsim answers {"ok": false, "error": ...}.
Faults use the fault-set commands (inject, glitch, clear, list, faults,
fault_status), the same names and parameters as scenario files
(fixtures/scenarios/README.md). Line events (docs/board-line-protocol.md)
are ``line()``; a firmware reports them with ``osgp_hil.boardline``.

    from osgp_hil.mepsim_control import MepsimControl
    ctl = MepsimControl("/tmp/run/ctl.sock")
    ctl.set_load(1, watts=2000, pf=0.95)
    print(ctl.get()["bt23"]["fwd_wh"])
"""

import json
import socket


class MepsimControlError(Exception):
    """mepsim refused a request; the message is mepsim's own error text."""


class MepsimControl:
    def __init__(self, path, timeout=5.0):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self._buf = b""

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- transport ----
    def send_line(self, line):
        """Send one raw request line; return the raw reply dict (no ok check)."""
        if isinstance(line, str):
            line = line.encode()
        self.sock.sendall(line.rstrip(b"\n") + b"\n")
        while b"\n" not in self._buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("mepsim closed the control connection")
            self._buf += chunk
        reply, self._buf = self._buf.split(b"\n", 1)
        return json.loads(reply)

    def request(self, obj):
        """Send a request dict; return the reply, raising on ok:false."""
        rep = self.send_line(json.dumps(obj))
        if not rep.get("ok"):
            raise MepsimControlError(rep.get("error", "unknown error"))
        return rep

    def _cmd(self, cmd, meter=None, **fields):
        obj = {"cmd": cmd}
        if meter is not None:
            obj["meter"] = meter
        obj.update({k: v for k, v in fields.items() if v is not None})
        return self.request(obj)

    # ---- commands ----
    def status(self):
        return self._cmd("status")

    def get(self, meter=None):
        return self._cmd("get", meter)

    def set_load(self, phase, watts, pf=None, meter=None):
        return self._cmd("set_load", meter, phase=phase, watts=watts, pf=pf)

    def set_clock(self, utc=None, unix=None, meter=None):
        return self._cmd("set_clock", meter, utc=utc, unix=unix)

    def set_speed(self, speed, meter=None):
        return self._cmd("set_speed", meter, speed=speed)

    def set_register(self, name, value, meter=None):
        return self._cmd("set_register", meter, name=name, value=value)

    def alert(self, flags=1, meter=None):
        return self._cmd("alert", meter, flags=flags)

    def clear_alert(self, flags=0xFF, meter=None):
        return self._cmd("clear_alert", meter, flags=flags)

    def counters(self, meter=None):
        return self._cmd("counters", meter)

    def read_table(self, table, offset=None, count=None, meter=None):
        """Table bytes as mepsim would serve them now (bytes)."""
        rep = self._cmd("read_table", meter, table=table, offset=offset, count=count)
        return bytes.fromhex(rep["hex"])

    def set_seq(self, e, meter=None):
        """Move the meter's next acceptable sequence number E (S03)."""
        return self._cmd("set_seq", meter, e=e)

    def bump_idt(self, meter=None):
        """IDT version + 1; E jumps by 25 under policy idt_bump_adds_25 (mep.md 5.5)."""
        return self._cmd("bump_idt", meter)

    def freeze_clock(self, frozen=True, meter=None):
        return self._cmd("freeze_clock", meter, frozen=bool(frozen))

    # ---- the port's whole fault set: line + protocol faults, kWh glitches ----
    # Names/parameters: fixtures/scenarios/README.md (same as scenario files).
    def inject(self, spec, meter=None):
        """Line or protocol fault, e.g. "flip rate=0.001 dir=to-module" or "busy";
        returns its id ("3" line fault, "p2" protocol fault) for clear()."""
        return self._cmd("inject", meter, spec=spec)["id"]

    def glitch(self, spec, meter=None):
        """kWh glitch, e.g. "spike delta=2^24 polls=3"; returns its id ("g1")."""
        return self._cmd("glitch", meter, spec=spec)["id"]

    def clear(self, what="all", meter=None):
        """Stop faults/glitches: a name, an id (3, p2, g1) or "all"."""
        return self._cmd("clear", meter, what=what)["reply"]

    def list_faults(self, meter=None):
        """Active faults and glitches, one line each (text)."""
        return self._cmd("list", meter)["reply"]

    def fault_status(self, meter=None):
        """Counters: injected per fault, glitched per glitch, power cycles
        (long/short), latch-ups and latchups_cleared, error codes sent,
        replays (identical resends), reboots."""
        return self._cmd("fault_status", meter)

    def faults(self, line, meter=None):
        """Text form ("inject drop p=0.5", "clear all", "status"); returns the reply text."""
        return self._cmd("faults", meter, line=line)["reply"]

    def scenario(self, action, path=None, meter=None):
        """action = load (validates strictly, then runs the timeline on the
        running meter), start (restart), stop (and clear all faults), status."""
        return self._cmd("scenario", meter, action=action,
                         path=str(path) if path is not None else None)["scenario"]

    def line(self, line, on, meter=None):
        """Report a module line event: line = "transceiver" or "enable"."""
        obj = {"line": line, "on": bool(on)}
        if meter is not None:
            obj["meter"] = meter
        return self.request(obj)

    def quit(self):
        return self._cmd("quit")
