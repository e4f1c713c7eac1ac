"""Rig description: what the bench is wired to, loaded strictly from YAML.

A rig file says where the meter-side UART is, which modem input senses the
board's transceiver supply and which senses the meter ENABLE line
(module-behaviour.md 2), which modem output drives the board's reset or
supply relay and with what pulse lengths, the board's console UART, how to
reach the board's outputs (HTTP, MQTT) and which meter profile and keys
mepsim emulates, and which program is the board on the virtual rig (the
board description keys of ``boards.py`` inside ``board:``).
``hil/examples/bench.yaml`` is the annotated example.

Validation is strict: an unknown key, a wrong type, a bad value or a device
that does not exist is a ``RigError`` whose message names the file, the key
path (``$.lines.enable.input``) or the device, and nothing is returned.

``virtual_rig()`` is the built-in rig: mepsim on a PTY and a board program
(mepmod by default), as CI runs them.
"""

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

INPUTS = ("CTS", "DSR", "DCD", "RI")
OUTPUTS = ("DTR", "RTS")
FORMATS = ("8N1", "8E1", "7E1", "8N2")
# ET13 baud codes' rates (mep.md 2); the emulator accepts these.
BAUDS = (300, 600, 1200, 2400, 4800, 9600, 14400, 19200, 28800, 38400, 57600, 115200)


class RigError(Exception):
    """A rig description is wrong; the message names file, key path or device."""


@dataclass
class SenseLine:
    input: str                 # CTS, DSR, DCD or RI
    inverted: bool = False     # the line is "on" when the input reads deasserted


@dataclass
class DriveLine:
    output: str                # DTR or RTS
    inverted: bool = False     # asserted by driving the pin OFF
    pulse_ms: int = 200        # reset: hold time; power: off time of a power cycle


@dataclass
class MeterSide:
    uart: Optional[str] = None         # bench: the adapter wired to the board's MEP port
    baud: int = 9600                   # mep.md 2: default 9600
    format: str = "8N1"                # mep.md 2: 8N1 [E]
    profile: Optional[str] = None      # meter profile JSON (None: mepsim's built-in)
    scenario_dir: Optional[str] = None  # default: <fixtures>/scenarios (paths.fixtures_dir)
    mbk: str = "MEPtestKey0123456789"
    mak: Optional[str] = None
    seq_start: Optional[int] = None
    seed: int = 1
    mepsim: Optional[str] = None       # binary; default $MEPSIM_BIN, PATH, <checkout>/build


@dataclass
class Lines:
    port: Optional[str] = None         # adapter whose modem lines are used (default meter.uart)
    transceiver: Optional[SenseLine] = None
    enable: Optional[SenseLine] = None
    reset: Optional[DriveLine] = None
    power: Optional[DriveLine] = None
    poll_ms: float = 5.0               # sim_modem.h: 5 ms resolves S09's T to +-5 ms
    debounce: int = 2                  # equal samples before a level counts


@dataclass
class Console:
    port: Optional[str] = None
    baud: int = 115200                 # module-behaviour.md 2: debug console 115200
    log: str = "console.log"           # file name inside each test's artefact directory


@dataclass
class Board:
    console: Console = field(default_factory=Console)
    http: Optional[str] = None         # base URL, e.g. http://192.168.1.50/
    mqtt_broker: Optional[str] = None  # host[:port]
    mqtt_prefix: str = "esp32-mep"
    boot_timeout_s: float = 60.0
    spec: Optional[object] = None      # boards.BoardSpec: the program (virtual) / expectations


@dataclass
class RigConfig:
    name: str
    kind: str                          # "virtual", "virtual-time" or "bench"
    meter: MeterSide
    lines: Lines
    board: Board
    source: Optional[str] = None       # file it came from

    @property
    def is_virtual(self):
        """The board is emulated (a program here), on either clock."""
        return self.kind in ("virtual", "virtual-time")

    @property
    def is_virtual_time(self):
        """Meter and board are one mepsim-cosim on one virtual clock (osgp_hil.vtrig)."""
        return self.kind == "virtual-time"


# ---- schema ---------------------------------------------------------------
# A schema is {key: (checker, required)}; a checker is a type, a tuple of
# allowed values, a nested schema dict or a callable(value, path) -> value.

def _int(lo=None, hi=None):
    def check(v, path):
        if isinstance(v, bool) or not isinstance(v, int):
            raise RigError(f"{path}: expected an integer, got {v!r}")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise RigError(f"{path}: {v} is outside [{lo}, {hi}]")
        return v
    return check


def _num(lo, hi):
    def check(v, path):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise RigError(f"{path}: expected a number, got {v!r}")
        if not lo <= v <= hi:
            raise RigError(f"{path}: {v} is outside [{lo}, {hi}]")
        return v
    return check


def _str(v, path):
    if not isinstance(v, str) or not v:
        raise RigError(f"{path}: expected a non-empty string, got {v!r}")
    return v


def _bool(v, path):
    if not isinstance(v, bool):
        raise RigError(f"{path}: expected true or false, got {v!r}")
    return v


def _one_of(values, upper=True):
    def check(v, path):
        if not isinstance(v, str) or (v.upper() if upper else v) not in values:
            raise RigError(f"{path}: {v!r} is not one of {', '.join(values)}")
        return v.upper() if upper else v
    return check


def _key(v, path):
    # mepsim: 16/20 ASCII characters or 32/40 hex digits (mep.md 5.1)
    if not isinstance(v, str) or not (len(v) in (16, 20) or
                                      (len(v) in (32, 40) and re.fullmatch(r"[0-9A-Fa-f]+", v))):
        raise RigError(f"{path}: a key is 16 or 20 ASCII characters or 32/40 hex digits")
    return v


def _url(v, path):
    if not isinstance(v, str) or not re.fullmatch(r"https?://[^/\s]+/?", v):
        raise RigError(f"{path}: expected http(s)://host[:port][/] without a path, got {v!r}")
    return v.rstrip("/")


def _hostport(v, path):
    if not isinstance(v, str) or not re.fullmatch(r"[A-Za-z0-9_.\-]+(:\d{1,5})?", v):
        raise RigError(f"{path}: expected host[:port], got {v!r}")
    return v


def _prefix(v, path):
    if not isinstance(v, str) or not 0 < len(v) <= 24:   # module-behaviour.md 8.2
        raise RigError(f"{path}: MQTT prefix must be 1..24 characters")
    return v


def _any(v, path):
    return v            # validated by boards.parse_board with its own key paths


SENSE = {"input": (_one_of(INPUTS), True), "inverted": (_bool, False)}
DRIVE = {"output": (_one_of(OUTPUTS), True), "inverted": (_bool, False),
         "pulse_ms": (_int(1, 600000), False)}

SCHEMA = {
    "name": (_str, False),
    "kind": (_one_of(("virtual", "bench"), upper=False), False),
    "meter": ({
        "uart": (_str, False),
        "baud": (_int(300, 115200), False),
        "format": (_one_of(FORMATS), False),
        "profile": (_str, False),
        "scenario_dir": (_str, False),
        "mbk": (_key, False),
        "mak": (_key, False),
        "seq_start": (_int(0, 0xFFFFFFFF), False),
        "seed": (_int(0, None), False),
        "mepsim": (_str, False),
    }, True),
    "lines": ({
        "port": (_str, False),
        "transceiver": (SENSE, False),
        "enable": (SENSE, False),
        "reset": (DRIVE, False),
        "power": (DRIVE, False),
        "poll_ms": (_num(1, 1000), False),
        "debounce": (_int(1, 1000), False),
    }, False),
    "board": ({
        "console": ({"port": (_str, False), "baud": (_int(300, 4000000), False),
                     "log": (_str, False)}, False),
        "http": (_url, False),
        "mqtt": ({"broker": (_hostport, True), "prefix": (_prefix, False)}, False),
        "boot_timeout_s": (_num(1, 3600), False),
        # the board description keys (boards.py), validated there
        "name": (_any, False), "description": (_any, False), "binary": (_any, False),
        "command": (_any, False), "env": (_any, False), "ready": (_any, False),
        "outputs": (_any, False), "lines": (_any, False), "expect": (_any, False),
        "args": (_any, False), "exit_codes": (_any, False), "build": (_any, False),
        "state_files": (_any, False), "provision": (_any, False), "scenarios": (_any, False),
    }, False),
}
BOARD_KEYS = ("name", "description", "binary", "command", "env", "ready", "outputs", "lines",
              "expect", "args", "exit_codes", "build", "state_files", "provision", "scenarios")


def _walk(data, schema, path):
    if not isinstance(data, dict):
        raise RigError(f"{path}: expected a mapping, got {type(data).__name__}")
    out = {}
    for k in data:
        if k not in schema:
            raise RigError(f"{path}.{k}: unknown key (allowed: {', '.join(schema)})")
    for k, (checker, required) in schema.items():
        p = f"{path}.{k}"
        if k not in data or data[k] is None:
            if required:
                raise RigError(f"{p}: missing")
            continue
        v = data[k]
        if isinstance(checker, dict):
            out[k] = _walk(v, checker, p)
        else:
            out[k] = checker(v, p)
    return out


def _resolve(base, p):
    """A relative path in a rig file is relative to that file."""
    if p is None:
        return None
    q = Path(os.path.expanduser(p))
    return str(q if q.is_absolute() else (Path(base) / q))


def parse_rig(data, source="<rig>", base_dir=".", check_devices=True):
    """Validate a parsed YAML document; return a RigConfig or raise RigError."""
    try:
        d = _walk(data, SCHEMA, "$")
    except RigError as e:
        raise RigError(f"{source}: {e}") from None
    m, ln, b = d["meter"], d.get("lines", {}), d.get("board", {})
    kind = d.get("kind", "bench")
    spec = _board_spec(b, kind, source, base_dir)

    def err(msg):
        return RigError(f"{source}: {msg}")

    if m.get("baud", 9600) not in BAUDS:
        raise err(f"$.meter.baud: {m['baud']} is not an ET13 rate ({', '.join(map(str, BAUDS))})")
    sense = {n: SenseLine(**ln[n]) for n in ("transceiver", "enable") if n in ln}
    drive = {n: DriveLine(**ln[n]) for n in ("reset", "power") if n in ln}
    if len(sense) == 2 and sense["transceiver"].input == sense["enable"].input:
        raise err(f"$.lines.enable.input: {sense['enable'].input} already senses the transceiver")
    if len(drive) == 2 and drive["reset"].output == drive["power"].output:
        raise err(f"$.lines.power.output: {drive['power'].output} already drives reset")

    meter = MeterSide(
        uart=m.get("uart"), baud=m.get("baud", 9600), format=m.get("format", "8N1"),
        profile=_resolve(base_dir, m.get("profile")),
        scenario_dir=_resolve(base_dir, m["scenario_dir"]) if "scenario_dir" in m else None,
        mbk=m.get("mbk", MeterSide.mbk), mak=m.get("mak"), seq_start=m.get("seq_start"),
        seed=m.get("seed", 1), mepsim=_resolve(base_dir, m.get("mepsim")))
    lines = Lines(port=ln.get("port"), transceiver=sense.get("transceiver"),
                  enable=sense.get("enable"), reset=drive.get("reset"), power=drive.get("power"),
                  poll_ms=ln.get("poll_ms", 5.0), debounce=ln.get("debounce", 2))
    c = b.get("console", {})
    mq = b.get("mqtt", {})
    board = Board(console=Console(port=c.get("port"), baud=c.get("baud", 115200),
                                  log=c.get("log", "console.log")),
                  http=b.get("http"), mqtt_broker=mq.get("broker"),
                  mqtt_prefix=mq.get("prefix", "esp32-mep"),
                  boot_timeout_s=b.get("boot_timeout_s", 60.0), spec=spec)
    rig = RigConfig(name=d.get("name", Path(source).stem), kind=kind, meter=meter, lines=lines,
                    board=board, source=source)

    if kind == "bench":
        if not meter.uart:
            raise err("$.meter.uart: missing (a bench rig needs the meter-side UART)")
        if not board.http and not board.mqtt_broker and not board.console.port:
            raise err("$.board: a bench rig needs at least one of http, mqtt, console to "
                      "read the board's outputs")
        if (lines.transceiver or lines.enable or lines.reset or lines.power) is None \
                and lines.port:
            raise err("$.lines.port: given but no line is sensed or driven")
    if meter.profile and not Path(meter.profile).is_file():
        raise err(f"$.meter.profile: {meter.profile} does not exist")
    if check_devices:
        for path, dev in (("$.meter.uart", meter.uart), ("$.lines.port", lines.port),
                          ("$.board.console.port", board.console.port)):
            if dev and not os.path.exists(dev):
                raise err(f"{path}: device {dev} does not exist (is the adapter plugged in? "
                          f"see `ls /dev/serial/by-id/`)")
    return rig


def _board_spec(b, kind, source, base_dir):
    """The board description inside `board:` (virtual: the program; bench:
    outputs and expectations). Virtual rigs default to the shipped mepmod."""
    from .boards import BoardError, parse_board
    given = {k: b[k] for k in BOARD_KEYS if k in b}
    if not given:
        return None
    if kind == "virtual" and "command" not in given and "description" not in given:
        given["description"] = "mepmod"
    try:
        return parse_board(given, source=source, base_dir=base_dir, path="$.board",
                           need_command=kind == "virtual")
    except BoardError as e:
        raise RigError(str(e)) from None


def read_yaml(path, what="rig file", error=RigError):
    """A YAML file's document; `error` names the file (and line:column)."""
    import yaml
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise error(f"{path}: cannot read the {what}: {e.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise error(f"{path}{where}: not valid YAML: {getattr(e, 'problem', e)}") from None
    if data is None:
        raise error(f"{path}: the {what} is empty")
    return data


def load_rig(path, check_devices=True):
    """Load and validate a rig file; RigError names the problem."""
    data = read_yaml(path)
    return parse_rig(data, source=str(path), base_dir=str(Path(path).resolve().parent),
                     check_devices=check_devices)


def virtual_rig(spec=None):
    """The built-in rig: mepsim on a PTY + a board program (spec: a
    boards.BoardSpec; default the shipped mepmod description), as in CI."""
    if spec is None:
        from .boards import default_board
        spec = default_board()
    return RigConfig(name="virtual", kind="virtual", meter=MeterSide(), lines=Lines(),
                     board=Board(boot_timeout_s=30.0, spec=spec), source=None)


def virtual_time_rig(spec=None):
    """The virtual-time rig: the emulated meter and our firmware core in one
    mepsim-cosim process on one virtual clock (osgp_hil.vtrig); the board is
    mepmod's core (spec: its description, default mepmod's)."""
    from .vtrig import virtual_time_board
    return RigConfig(name="virtual-time", kind="virtual-time", meter=MeterSide(), lines=Lines(),
                     board=Board(boot_timeout_s=30.0, spec=virtual_time_board(spec)), source=None)
