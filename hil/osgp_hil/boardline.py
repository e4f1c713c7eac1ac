"""The board-line protocol from Python (docs/board-line-protocol.md).

A firmware (or a board's simulation, or a test) reports its transceiver
supply and the meter's ENABLE line to mepsim's control socket:

    from osgp_hil.boardline import BoardLine
    with BoardLine("/tmp/run/meter.ctl") as bl:
        bl.transceiver(True)           # {"line":"transceiver","on":true}
        time.sleep(1.0)                # module-behaviour 2: 1 s before ENABLE
        bl.enable(True)                # {"line":"enable","on":true}

Each event is one JSON line; mepsim answers each with one line
(``{"ok":true}``); a refusal raises ``BoardLineError`` with mepsim's text.
On (re)connecting, report both lines (mepsim takes both as "on" until told
otherwise). Standard library only.

``encode(line, on, meter=None)`` gives the exact bytes of one event, for a
firmware port written in another language to compare against.
"""

import json

from .mepsim_control import MepsimControl

LINES = ("transceiver", "enable")


class BoardLineError(Exception):
    """mepsim refused an event, or the socket is gone."""


def encode(line, on, meter=None):
    """One event as the bytes sent on the socket (no spaces, '\\n' at the end)."""
    if line not in LINES:
        raise ValueError(f"line must be one of {', '.join(LINES)}, not {line!r}")
    if not isinstance(on, bool):
        raise ValueError(f"on must be True or False, not {on!r}")
    obj = {"line": line, "on": on}
    if meter is not None:
        obj["meter"] = meter
    return (json.dumps(obj, separators=(",", ":")) + "\n").encode()


class BoardLine:
    """A connection to one mepsim control socket that reports line events."""

    def __init__(self, path, meter=None, timeout=5.0):
        self.path = str(path)
        self.meter = meter
        try:
            self.ctl = MepsimControl(self.path, timeout)
        except OSError as e:
            raise BoardLineError(f"cannot connect to {self.path}: {e.strerror or e}") from None

    def close(self):
        self.ctl.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def report(self, line, on):
        """Send one event and wait for mepsim's answer; returns the reply dict."""
        try:
            rep = self.ctl.send_line(encode(line, on, self.meter))
        except (OSError, ConnectionError) as e:
            raise BoardLineError(f"{self.path}: {e}") from None
        if not rep.get("ok"):
            raise BoardLineError(f"mepsim refused {line} {'on' if on else 'off'}: "
                                 f"{rep.get('error', rep)}")
        return rep

    def transceiver(self, on):
        """The RS-232 transceiver's supply (MAX3232 VCC) switched on or off."""
        return self.report("transceiver", bool(on))

    def enable(self, on):
        """The meter's ENABLE input asserted (True) or released (False)."""
        return self.report("enable", bool(on))

    def both(self, transceiver, enable):
        """Both levels, as a firmware sends them after (re)connecting."""
        self.transceiver(transceiver)
        return self.enable(enable)
