"""Board descriptions: any program can be the board under test.

A board description (YAML; ``boards/mepmod.yaml`` is the default, shipped
with the package) says how to start the firmware on the virtual rig, how to
tell it is up, where its published values come from, whether it reports its
control lines, and which of the suite's expectations do not apply to it:

``name``       name of the board (its log is ``<name>.log``)
``binary``     what ``{binary}`` expands to: a path, or ``{name, env, build}``
               (program name looked up as in ``paths.find_binary``)
``command``    the command line, a template (string or list; nested list or
               ``[ ... ]`` = optional group, dropped when one of its
               placeholders has no value)
``env``        extra environment variables (templates)
``ready``      ``{http: PATH}`` (any HTTP answer), or ``{log: REGEX}`` on the
               console, plus ``timeout_s``
``outputs``    ``http: PATH`` (module JSON contract, module-behaviour 8.1),
               ``mqtt: PREFIX`` (the 8.2 topics), ``console: REGEX`` (named
               groups = contract members); at least one
``lines``      ``control``: reports transceiver/ENABLE on the board-line
               protocol (docs/board-line-protocol.md) to ``{control}``;
               ``none``: reports nothing (scenarios that need lines skip)
``expect``     per-board differences: ``mqtt``, ``raw_members``,
               ``filters_spikes``, ``status_member`` (booleans)
``args``       named argument fragments the suite may add, e.g.
               ``poll_ms: [--poll-ms, "{value}"]``, ``tls: [--tls]``
``exit_codes`` exit statuses that count as a clean stop after SIGTERM
               (negative = killed by that signal; default ``[0, -15]``)
``build``      how to make ``{binary}``: ``{sketch: DIR}`` (an Arduino sketch
               folder, built with the Arduino host kit) or ``{command: ...}``
               (any build that leaves the program at ``{out}``); done once
               per session (``build.py``)
``state_files`` files written into ``{state_dir}`` before the board's first
               start in a test (its flash as a user would have set it up):
               ``[{path: REL, content: TEMPLATE}]``
``provision``  HTTP requests sent once the board is first ready, in order
               (its set-up page as a user would fill it in):
               ``[{request: "POST /setup", body: "mbk={mbk}", status: 200,
               reboots: {log: REGEX}}]``
``scenarios``  which scenarios of the suite it claims to handle:
               ``only: [names]`` or ``skip: {name: reason}``; and
               ``findings: {name: reason}``, scenarios it is known to fail
               (reported as xfail with what it did; a declared finding that
               does not occur fails: the description is out of date)

The program runs in the description's directory (for ``--board-command``,
where pytest started); the shipped descriptions run in the artefact directory.

Placeholders: {binary} {port} {baud} {mbk} {mak} {http_port} {mqtt}
{mqtt_host} {mqtt_port} {mqtt_prefix} {control} {state_dir} {artifacts};
``{value}`` inside ``args``; ``{out}`` and ``{checkout}`` inside ``build``.
In ``provision`` requests and bodies the values are percent-encoded. Validation is strict: a ``BoardError`` names
the file and the key path (``$.ready.timeout_s``).
"""

import os
import re
import shlex
import string
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from .rig import RigError, _bool, _num, _str, _walk, read_yaml

SHIPPED = Path(__file__).resolve().parent / "boards"
PLACEHOLDERS = ("binary", "port", "baud", "mbk", "mak", "http_port", "mqtt", "mqtt_host",
                "mqtt_port", "mqtt_prefix", "control", "state_dir", "artifacts")
EXPECT_KEYS = {
    # the board publishes the 8.2 MQTT topics
    "mqtt": False,
    # it serves Raw_Fwd_Act_Wh / Raw_Rev_Act_Wh / Energy_Suspect (diagnostics, not 8.1)
    "raw_members": False,
    # it never publishes a kWh spike (module-behaviour 8.4/9 S16); false: the
    # spike scenarios are expected to fail (reported as xfail with the finding)
    "filters_spikes": True,
    # it serves a "Status" member (NO_REPLY, AUTH_FAIL, LOOPBACK, ...)
    "status_member": False,
}
LINES = ("control", "none")
# what the build of a board may use: where the program must appear, the checkout
BUILD_PLACEHOLDERS = ("out", "checkout")
HTTP_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")
SCENARIO_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")


class BoardError(RigError):
    """A board description is wrong; the message names file and key path."""


@dataclass
class Ready:
    http: Optional[str] = None        # path probed until it answers at all
    log: Optional[str] = None         # regex on the console
    timeout_s: float = 30.0


@dataclass
class Outputs:
    http: Optional[str] = None        # module JSON contract path
    mqtt: Optional[str] = None        # topic prefix (8.2)
    console: Optional[str] = None     # regex with named groups


@dataclass
class Build:
    """How {binary} is made: an Arduino sketch folder built with the host kit
    (`sketch`, `board`, `abi`) or any command leaving the program at {out}."""
    sketch: Optional[str] = None
    board: str = "esp32"
    abi: int = 32
    command: Optional[list] = None
    timeout_s: float = 1200.0
    cwd: Optional[str] = None          # the description's directory


@dataclass
class StateFile:
    path: str                          # relative to {state_dir}
    content: str                       # template


@dataclass
class ProvisionStep:
    method: str
    path: str                          # template, values percent-encoded
    body: Optional[str] = None         # template, values percent-encoded
    content_type: Optional[str] = None
    status: Optional[tuple] = None     # accepted statuses; None = any 2xx/3xx
    timeout_s: float = 10.0
    reboot_log: Optional[str] = None   # the request restarts the board: wait for this
    reboot_timeout_s: float = 60.0

    @property
    def request(self):
        return f"{self.method} {self.path}"


@dataclass
class BoardSpec:
    name: str
    command: list
    binary: Optional[str] = None
    binary_env: Optional[str] = None
    binary_build: Optional[str] = None
    env: dict = field(default_factory=dict)
    ready: Ready = field(default_factory=Ready)
    outputs: Outputs = field(default_factory=Outputs)
    lines: str = "none"
    expect: dict = field(default_factory=lambda: dict(EXPECT_KEYS))
    args: dict = field(default_factory=dict)
    exit_codes: tuple = (0, -15)
    source: str = "<board>"
    cwd: Optional[str] = None          # where the program runs: the description's directory
                                       # (command line: where pytest started); None = artefacts
    build: Optional[Build] = None
    state_files: list = field(default_factory=list)      # [StateFile]
    provision: list = field(default_factory=list)        # [ProvisionStep]
    scenarios_only: Optional[tuple] = None               # names it claims to handle
    scenarios_skip: dict = field(default_factory=dict)   # name -> why it does not
    scenarios_findings: dict = field(default_factory=dict)  # name -> what it is known to get wrong

    def scenario_skip_reason(self, name):
        """Why this board does not claim scenario `name` (None: it does)."""
        if name in self.scenarios_skip:
            return (f"board {self.name} does not claim this scenario ({self.source}: "
                    f"scenarios.skip): {self.scenarios_skip[name]}")
        if self.scenarios_only is not None and name not in self.scenarios_only:
            return (f"board {self.name} claims only {', '.join(self.scenarios_only)} "
                    f"({self.source}: scenarios.only)")
        return None

    def scenario_names(self):
        """Every scenario name the description mentions."""
        return set(self.scenarios_only or ()) | set(self.scenarios_skip) | set(self.scenarios_findings)

    @property
    def reports_lines(self):
        return self.lines == "control"

    def uses(self, name):
        return name in _placeholders_of(self.command) or \
            any(name in _placeholders_of(v) for v in self.env.values())

    def expand(self, values):
        """argv for `values` (placeholder -> str or None)."""
        return _expand(self.command, values, self.source, "$.command")

    def arg(self, key, value=None):
        """The argv fragment of args[key] with {value}; None if the board has none."""
        if key not in self.args:
            return None
        return _expand(self.args[key], {"value": None if value is None else str(value)},
                       self.source, f"$.args.{key}")

    def state_file_contents(self, values):
        """[(relative path, text)] of `state_files` filled with `values`."""
        return [(f.path, _fill_required(f.content, values, self.source,
                                        f"$.state_files[{i}].content"))
                for i, f in enumerate(self.state_files)]

    def provision_request(self, i, values):
        """(method, path, body) of provision step i; values percent-encoded."""
        st = self.provision[i]
        enc = {k: (None if v is None else urllib.parse.quote(str(v), safe=""))
               for k, v in values.items()}
        path = _fill_required(st.path, enc, self.source, f"$.provision[{i}].request")
        body = None if st.body is None else \
            _fill_required(st.body, enc, self.source, f"$.provision[{i}].body")
        return st.method, path, body

    def environment(self, values):
        out = {}
        for k, v in self.env.items():
            got = _expand([v], values, self.source, f"$.env.{k}")
            out[k] = got[0] if got else ""
        return out


# ---- templates ----------------------------------------------------------
def _placeholders_of(item):
    if isinstance(item, list):
        out = set()
        for x in item:
            out |= _placeholders_of(x)
        return out
    return {f for _, f, _, _ in string.Formatter().parse(str(item)) if f is not None}


def _fill(text, values, source, path):
    missing = [f for f in _placeholders_of(text) if values.get(f) is None]
    if missing:
        return None, missing
    try:
        return text.format(**{k: v for k, v in values.items() if v is not None}), []
    except (ValueError, IndexError, KeyError) as e:
        raise BoardError(f"{source}: {path}: bad template {text!r}: {e}") from None


def _fill_required(text, values, source, path):
    s, miss = _fill(text, values, source, path)
    if miss:
        raise BoardError(f"{source}: {path}: {text!r} needs "
                         + ", ".join("{" + m + "}" for m in miss)
                         + " but the rig has no value for it")
    return s


def _expand(items, values, source, path):
    out = []
    for i, it in enumerate(items):
        if isinstance(it, list):                  # optional group
            part, missing = [], False
            for j, sub in enumerate(it):
                s, miss = _fill(sub, values, source, f"{path}[{i}][{j}]")
                if miss:
                    missing = True
                    break
                part.append(s)
            if not missing:
                out += part
            continue
        s, miss = _fill(it, values, source, f"{path}[{i}]")
        if miss:
            raise BoardError(f"{source}: {path}[{i}]: {it!r} needs "
                             + ", ".join("{" + m + "}" for m in miss)
                             + " but the rig has no value for it (put it in an optional group)")
        out.append(s)
    return out


def split_command(text, path="$.command", source="<board>"):
    """A command string -> template list; `[ ... ]` groups become sub-lists."""
    try:
        toks = shlex.split(text)
    except ValueError as e:
        raise BoardError(f"{source}: {path}: {e}") from None
    out, group = [], None
    for t in toks:
        opens, closes = t.startswith("["), t.endswith("]") and not t.endswith("\\]")
        body = t[1 if opens else 0: len(t) - (1 if closes else 0)]
        if opens:
            if group is not None:
                raise BoardError(f"{source}: {path}: optional groups [ ... ] do not nest")
            group = []
        if group is not None:
            if body:
                group.append(body)
            if closes:
                out.append(group)
                group = None
        else:
            if closes:
                raise BoardError(f"{source}: {path}: ']' without '['")
            out.append(t)
    if group is not None:
        raise BoardError(f"{source}: {path}: '[' without ']'")
    return out


# ---- validation ---------------------------------------------------------
def _template(v, path):
    """A command: a string (shlex, [ ] groups) or a list of strings / lists."""
    if isinstance(v, str):
        items = split_command(v, path)
    elif isinstance(v, list) and v:
        items = []
        for i, it in enumerate(v):
            if isinstance(it, list):
                if not it or not all(isinstance(x, (str, int)) for x in it):
                    raise BoardError(f"{path}[{i}]: an optional group is a non-empty list of strings")
                items.append([str(x) for x in it])
            elif isinstance(it, (str, int)) and not isinstance(it, bool):
                items.append(str(it))
            else:
                raise BoardError(f"{path}[{i}]: expected a string or a list, got {it!r}")
    else:
        raise BoardError(f"{path}: expected a command string or a non-empty list")
    if not items:
        raise BoardError(f"{path}: empty command")
    return items


def _binary(v, path):
    if isinstance(v, str) and v:
        return {"path": v}
    if isinstance(v, dict):
        return _walk(v, {"name": (_str, True), "env": (_str, False), "build": (_str, False)}, path)
    raise BoardError(f"{path}: expected a path or {{name, env, build}}, got {v!r}")


def _regex(v, path):
    _str(v, path)
    try:
        re.compile(v)
    except re.error as e:
        raise BoardError(f"{path}: not a valid regular expression: {e}") from None
    return v


def _http_path(v, path):
    if not isinstance(v, str) or not v.startswith("/"):
        raise BoardError(f"{path}: expected an HTTP path starting with '/', got {v!r}")
    return v


def _lines(v, path):
    if v not in LINES:
        raise BoardError(f"{path}: {v!r} is not one of {', '.join(LINES)}")
    return v


def _env(v, path):
    if not isinstance(v, dict):
        raise BoardError(f"{path}: expected a mapping of variable: value")
    out = {}
    for k, x in v.items():
        if not isinstance(k, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k):
            raise BoardError(f"{path}.{k}: not an environment variable name")
        if not isinstance(x, (str, int)) or isinstance(x, bool):
            raise BoardError(f"{path}.{k}: expected a string")
        out[k] = str(x)
    return out


def _args(v, path):
    if not isinstance(v, dict):
        raise BoardError(f"{path}: expected a mapping of name: [argv template]")
    out = {}
    for k, x in v.items():
        t = _template(x, f"{path}.{k}")
        bad = _placeholders_of(t) - {"value"}
        if bad:
            raise BoardError(f"{path}.{k}: only {{value}} is known here, not "
                             + ", ".join("{" + b + "}" for b in sorted(bad)))
        out[k] = t
    return out


def _exit_codes(v, path):
    if not isinstance(v, list) or not v or not all(isinstance(x, int) and not isinstance(x, bool)
                                                   and -64 <= x <= 255 for x in v):
        raise BoardError(f"{path}: expected a list of exit statuses (-64..255; negative = signal)")
    return tuple(v)


def _text_template(v, path, known):
    """A string template whose placeholders are all in `known`."""
    if not isinstance(v, str):
        raise BoardError(f"{path}: expected a string, got {v!r}")
    try:
        names = _placeholders_of(v)
    except ValueError as e:
        raise BoardError(f"{path}: bad template {v!r}: {e} (write a literal brace as {{{{ or }}}})") \
            from None
    for f in sorted(names):
        if not f.isidentifier():
            raise BoardError(f"{path}: bad template {v!r}: {{{f}}} is not a placeholder "
                             f"(write a literal brace as {{{{ or }}}})")
        if f not in known:
            raise BoardError(f"{path}: unknown placeholder {{{f}}} (known: "
                             + ", ".join("{" + p + "}" for p in known) + ")")
    return v


def _build_spec(v, path):
    d = _walk(v, {"sketch": (_str, False), "command": (_template, False),
                  "board": (_one_of_lower(("esp32", "esp32c3")), False),
                  "abi": (_abi, False), "timeout_s": (_num(1, 7200), False)}, path)
    if ("sketch" in d) == ("command" in d):
        raise BoardError(f"{path}: give sketch (an Arduino sketch folder, built with the host "
                         f"kit) or command (any build leaving the program at {{out}}), one of them")
    if "command" in d:
        if "board" in d or "abi" in d:
            raise BoardError(f"{path}: board and abi go with sketch, not with command")
        for i, it in enumerate(d["command"]):
            for f in sorted(_placeholders_of(it)):
                if f not in BUILD_PLACEHOLDERS:
                    raise BoardError(f"{path}.command[{i}]: unknown placeholder {{{f}}} "
                                     f"(known here: {{out}}, {{checkout}})")
        if "out" not in _placeholders_of(d["command"]):
            raise BoardError(f"{path}.command: never uses {{out}} (where the program must appear)")
    else:
        _text_template(d["sketch"], f"{path}.sketch", ("checkout",))
    return d


def _one_of_lower(values):
    def check(v, path):
        if v not in values:
            raise BoardError(f"{path}: {v!r} is not one of {', '.join(values)}")
        return v
    return check


def _abi(v, path):
    if v not in (32, 64) or isinstance(v, bool):
        raise BoardError(f"{path}: {v!r} is not 32 or 64")
    return v


def _state_files(v, path):
    if not isinstance(v, list) or not v:
        raise BoardError(f"{path}: expected a non-empty list of {{path, content}}")
    out, seen = [], set()
    for i, item in enumerate(v):
        p = f"{path}[{i}]"
        d = _walk(item, {"path": (_str, True), "content": (_any_str, True)}, p)
        rel = d["path"]
        parts = Path(rel).parts
        if Path(rel).is_absolute() or ".." in parts or "{" in rel:
            raise BoardError(f"{p}.path: {rel!r} must be a plain path inside {{state_dir}} "
                             f"(relative, no '..', no placeholders)")
        if rel in seen:
            raise BoardError(f"{p}.path: {rel!r} is written twice")
        seen.add(rel)
        _text_template(d["content"], f"{p}.content", PLACEHOLDERS)
        out.append(StateFile(rel, d["content"]))
    return out


def _any_str(v, path):
    if not isinstance(v, str):
        raise BoardError(f"{path}: expected a string, got {v!r}")
    return v


def _status_list(v, path):
    vals = v if isinstance(v, list) else [v]
    if not vals or not all(isinstance(x, int) and not isinstance(x, bool) and 100 <= x <= 599
                           for x in vals):
        raise BoardError(f"{path}: expected an HTTP status (100-599) or a list of them, got {v!r}")
    return tuple(vals)


def _provision(v, path):
    if not isinstance(v, list) or not v:
        raise BoardError(f"{path}: expected a non-empty list of requests "
                         f"({{request: \"POST /setup\", body: ...}})")
    out = []
    for i, item in enumerate(v):
        p = f"{path}[{i}]"
        d = _walk(item, {"request": (_str, True), "body": (_any_str, False),
                         "content_type": (_str, False), "status": (_status_list, False),
                         "timeout_s": (_num(0.1, 600), False),
                         "reboots": ({"log": (_regex, True),
                                      "timeout_s": (_num(0.1, 3600), False)}, False)}, p)
        m = re.fullmatch(r"([A-Z]+) (/\S*)", d["request"])
        if not m or m.group(1) not in HTTP_METHODS:
            raise BoardError(f"{p}.request: {d['request']!r}: expected 'METHOD /path' "
                             f"(METHOD one of {', '.join(HTTP_METHODS)})")
        _text_template(m.group(2), f"{p}.request", PLACEHOLDERS)
        if "body" in d:
            _text_template(d["body"], f"{p}.body", PLACEHOLDERS)
        if "content_type" in d and "body" not in d:
            raise BoardError(f"{p}.content_type: given without a body")
        rb = d.get("reboots", {})
        out.append(ProvisionStep(method=m.group(1), path=m.group(2), body=d.get("body"),
                                 content_type=d.get("content_type"), status=d.get("status"),
                                 timeout_s=d.get("timeout_s", 10.0), reboot_log=rb.get("log"),
                                 reboot_timeout_s=rb.get("timeout_s", 60.0)))
    return out


def _names(v, path):
    if not isinstance(v, list) or not v:
        raise BoardError(f"{path}: expected a non-empty list of scenario names")
    for i, n in enumerate(v):
        if not isinstance(n, str) or not SCENARIO_NAME.fullmatch(n):
            raise BoardError(f"{path}[{i}]: {n!r} is not a scenario name (fixtures/scenarios/NAME.json)")
    return tuple(v)


def _name_reasons(v, path):
    if not isinstance(v, dict) or not v:
        raise BoardError(f"{path}: expected a mapping of scenario name: reason")
    for n, why in v.items():
        if not isinstance(n, str) or not SCENARIO_NAME.fullmatch(n):
            raise BoardError(f"{path}.{n}: not a scenario name (fixtures/scenarios/NAME.json)")
        if not isinstance(why, str) or not why.strip():
            raise BoardError(f"{path}.{n}: say why the board does not handle it (a non-empty string)")
    return dict(v)


def _scenarios(v, path):
    d = _walk(v, {"only": (_names, False), "skip": (_name_reasons, False),
                  "findings": (_name_reasons, False)}, path)
    if not d:
        raise BoardError(f"{path}: give only: [names], skip: {{name: reason}} or findings: {{name: reason}}")
    if "only" in d and "skip" in d:
        raise BoardError(f"{path}: only and skip together are ambiguous; give one")
    return d


SCHEMA = {
    "name": (_str, False),
    "description": (_str, False),
    "binary": (_binary, False),
    "command": (_template, False),
    "env": (_env, False),
    "ready": ({"http": (_http_path, False), "log": (_regex, False),
               "timeout_s": (_num(0.1, 3600), False)}, False),
    "outputs": ({"http": (_http_path, False), "mqtt": (_str, False),
                 "console": (_regex, False)}, False),
    "lines": (_lines, False),
    "expect": ({k: (_bool, False) for k in EXPECT_KEYS}, False),
    "args": (_args, False),
    "exit_codes": (_exit_codes, False),
    "build": (_build_spec, False),
    "state_files": (_state_files, False),
    "provision": (_provision, False),
    "scenarios": (_scenarios, False),
}
# keys a bench/virtual rig file's `board:` section may hold besides these
KEYS = tuple(SCHEMA)


def _check_placeholders(items, path):
    for i, it in enumerate(items):
        for f in _placeholders_of(it):
            if f not in PLACEHOLDERS:
                raise BoardError(f"{path}[{i}]: unknown placeholder {{{f}}} (known: "
                                 + ", ".join("{" + p + "}" for p in PLACEHOLDERS) + ")")


def _merge(base, over):
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and \
                k not in ("env", "args", "build", "scenarios"):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


MAX_BASES = 4          # description chains deeper than this are a mistake


def _base(name, base_dir, path, chain):
    """The merged keys of description `name` and of its own bases, paths in
    them resolved against their files' directories."""
    raw, src, bdir = _read_yaml(_locate(name, base_dir, path))
    if src in chain:
        raise BoardError(f"{path}: {src} is its own base (" + " -> ".join(chain + [src]) + ")")
    if len(chain) >= MAX_BASES:
        raise BoardError(f"{path}: more than {MAX_BASES} levels of description: "
                         + " -> ".join(chain + [src]))
    try:
        d = _walk(raw, SCHEMA, "$")
    except RigError as e:
        raise BoardError(f"{src}: {e}") from None
    if "binary" in d and "path" in d["binary"]:
        d["binary"] = {"path": _resolve(bdir, d["binary"]["path"])}
    if "build" in d:
        d["build"] = dict(d["build"], _dir=d["build"].get("_dir", bdir))
    if "description" in d:
        parent = _base(d["description"], bdir, f"{src}: $.description", chain + [src])
        d = _merge(parent, {k: v for k, v in d.items() if k != "description"})
    return d


def parse_board(data, source="<board>", base_dir=".", path="$", need_command=True):
    """Validate a parsed board description (merged over its `description`
    base and that one's bases, if any); return a BoardSpec or raise BoardError."""
    try:
        d = _walk(data, SCHEMA, path)
        if "description" in d:
            base = _base(d["description"], base_dir, f"{path}.description", [])
            d = _merge(base, {k: v for k, v in d.items() if k != "description"})
        return _build(d, source, base_dir, path, need_command)
    except BoardError as e:
        msg = str(e)
        raise BoardError(msg if msg.startswith(f"{source}: ") else f"{source}: {msg}") from None
    except RigError as e:
        raise BoardError(f"{source}: {e}") from None


def _resolve(base_dir, p):
    q = Path(os.path.expanduser(p))
    if q.is_absolute() or os.sep not in p:
        return str(q) if q.is_absolute() else p      # a bare name is looked up on PATH
    return str(Path(base_dir) / q)


def _build(d, source, base_dir, path, need_command):
    cmd = d.get("command")
    if cmd is None and need_command:
        raise BoardError(f"{path}.command: missing (how to start the board)")
    cmd = cmd or []
    _check_placeholders(cmd, f"{path}.command")
    # the module JSON contract at its 8.1 path unless the description says otherwise
    outputs = Outputs(**d["outputs"]) if "outputs" in d else \
        Outputs(http="/getDashDataWS" if need_command else None)
    lines = d.get("lines", "none")
    expect = dict(EXPECT_KEYS)
    expect.update(d.get("expect", {}))
    ready_d = d.get("ready", {})
    if "http" in ready_d and "log" in ready_d:
        raise BoardError(f"{path}.ready: give http or log, not both")
    if not ready_d.get("http") and not ready_d.get("log"):
        if outputs.http:
            ready_d = dict(ready_d, http=outputs.http)
        elif need_command:
            raise BoardError(f"{path}.ready: missing http or log (and no outputs.http to probe)")
    ready = Ready(**ready_d)
    if need_command and not (outputs.http or outputs.mqtt or outputs.console):
        raise BoardError(f"{path}.outputs: needs at least one of http, mqtt, console "
                         f"(where the board's published values come from)")
    if expect["mqtt"] and not outputs.mqtt:
        raise BoardError(f"{path}.expect.mqtt: true, but outputs.mqtt names no topic prefix")
    if outputs.mqtt and not 0 < len(outputs.mqtt) <= 24:
        raise BoardError(f"{path}.outputs.mqtt: MQTT prefix must be 1..24 characters")
    if outputs.console and not re.compile(outputs.console).groupindex:
        raise BoardError(f"{path}.outputs.console: the regex has no named group "
                         f"(e.g. (?P<Fwd_Act_Wh>\\d+))")
    env = d.get("env", {})
    for k, v in env.items():
        _check_placeholders([v], f"{path}.env.{k}")
    binary = d.get("binary", {})
    build = None
    if "build" in d:
        b = d["build"]
        bdir = b.get("_dir", base_dir)
        build = Build(sketch=b.get("sketch"), board=b.get("board", "esp32"), abi=b.get("abi", 32),
                      command=b.get("command"), timeout_s=b.get("timeout_s", 1200.0),
                      cwd=str(Path(bdir).resolve()))
    sc = d.get("scenarios", {})
    spec = BoardSpec(
        name=d.get("name") or (Path(source).stem if source.endswith((".yaml", ".yml"))
                               else "board"),
        command=cmd, env=env, ready=ready, outputs=outputs, lines=lines, expect=expect,
        args=d.get("args", {}), exit_codes=d.get("exit_codes", (0, -15)), source=source,
        cwd=None if Path(base_dir).resolve() == SHIPPED else str(Path(base_dir).resolve()),
        binary=_resolve(base_dir, binary["path"]) if "path" in binary else binary.get("name"),
        binary_env=binary.get("env"), binary_build=binary.get("build"),
        build=build, state_files=d.get("state_files", []), provision=d.get("provision", []),
        scenarios_only=sc.get("only"), scenarios_skip=sc.get("skip", {}),
        scenarios_findings=sc.get("findings", {}))
    if need_command:
        used = _placeholders_of(cmd) | set().union(*[_placeholders_of(v) for v in env.values()])
        for key, ph, why in (("command", "port", "the board could not reach the meter"),
                             ("lines", "control", "lines: control reports to {control}"),
                             ("outputs.http", "http_port", "outputs.http is served on {http_port}")):
            if key == "lines" and lines != "control":
                continue
            if key == "outputs.http" and not outputs.http:
                continue
            if ph not in used:
                raise BoardError(f"{path}.{key}: the command never uses {{{ph}}} ({why})")
        if outputs.mqtt and not ({"mqtt", "mqtt_host", "mqtt_port"} & used):
            raise BoardError(f"{path}.outputs.mqtt: the command never uses {{mqtt}} "
                             f"(or {{mqtt_host}}/{{mqtt_port}}): where would it publish?")
        if "binary" in used and not spec.binary and not build:
            raise BoardError(f"{path}.binary: missing ({{binary}} is used in the command)")
        if build and "binary" not in used:
            raise BoardError(f"{path}.build: the command never uses {{binary}} (what the build makes)")
        if spec.state_files and "state_dir" not in used:
            raise BoardError(f"{path}.state_files: the command never uses {{state_dir}} "
                             f"(the board would never see the files)")
        if spec.provision and not (outputs.http or ready.http or "http_port" in used):
            raise BoardError(f"{path}.provision: the board serves no HTTP ({{http_port}} unused): "
                             f"nowhere to send the requests")
    if "name" in d and not re.fullmatch(r"[A-Za-z0-9_.\-]+", spec.name):
        raise BoardError(f"{path}.name: {spec.name!r}: letters, digits, '_', '.', '-' only "
                         f"(it names the log file)")
    return spec


def _locate(name, base_dir, path):
    """A description file: a path (relative to base_dir) or a shipped name."""
    p = Path(os.path.expanduser(name))
    for cand in ((p if p.is_absolute() else Path(base_dir) / p), SHIPPED / f"{name}.yaml"):
        if cand.is_file():
            return cand
    shipped = ", ".join(sorted(x.stem for x in SHIPPED.glob("*.yaml")))
    raise BoardError(f"{path}: {name!r} is neither a file nor a shipped board ({shipped})")


def _read_yaml(p):
    data = read_yaml(p, "board description", BoardError)
    return data, str(p), str(Path(p).resolve().parent)


def load_board(name_or_path, base_dir="."):
    """A board description file or a shipped name (boards/*.yaml: mepmod, arduino-host, ...)."""
    p = _locate(str(name_or_path), base_dir, "--board")
    data, src, bdir = _read_yaml(p)
    return parse_board(data, source=src, base_dir=bdir)


def default_board():
    return load_board("mepmod")


def from_options(board=None, command=None, ready=None, binary=None, lines=None, base_dir="."):
    """The board of the command line: --board FILE|NAME, then --board-command,
    --board-ready (http:/PATH or log:REGEX[,timeout=S]), --board-binary,
    --board-lines on top. None when no option was given."""
    if not any((board, command, ready, binary, lines)):
        return None
    data = {}
    if board:
        data["description"] = board
    if command:
        data["command"] = command
        if not board:
            data.setdefault("outputs", {"http": "/getDashDataWS"})
    if ready:
        data["ready"] = parse_ready_option(ready)
    if binary:
        data["binary"] = binary
    if lines:
        data["lines"] = lines
    if not board and not command:
        data["description"] = "mepmod"
    return parse_board(data, source="command line", base_dir=base_dir)


def parse_ready_option(text):
    """--board-ready http:/status | log:REGEX, optionally ',timeout=S' at the end."""
    m = re.fullmatch(r"(http|log):(.+?)(?:,timeout=([0-9.]+))?", text)
    if not m:
        raise BoardError(f"--board-ready: {text!r}: expected http:/PATH or log:REGEX "
                         f"(optionally ,timeout=SECONDS)")
    out = {m.group(1): m.group(2)}
    if m.group(3):
        out["timeout_s"] = float(m.group(3))
    return out
