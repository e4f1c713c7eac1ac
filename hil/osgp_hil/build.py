"""Making a board's program from its description's ``build`` key, once per
test session.

``build: {sketch: DIR}`` builds an Arduino sketch folder with the Arduino
host kit (``hil/arduino-host/build DIR -o OUT --board B --abi N``; the kit is
found at ``$ARDUINO_HOST_BUILD`` or in the checkout); ``build: {command:
...}`` runs any build that leaves the program at ``{out}``. OUT is
``<build root>/<board name>/<board name>`` (the plugin's build root is
``<--hil-artifacts>/_build``); the build's output goes to
``<build root>/<board name>.build.log``.

Once per session: a build is remembered by its command line for the rest
of the process, and a file lock next to OUT serialises pytest-xdist
workers (the second finds the program up to date: the kit's rebuilds are
incremental, a few seconds). Where the kit keeps its objects is the kit's
business (``$AHK_BUILD_DIR``, default ``hil/arduino-host/build-out``).
"""

import fcntl
import os
import subprocess
import time
from pathlib import Path

from . import paths

_built = {}          # command line -> (program, seconds) built by this process


class BuildError(Exception):
    """The build ran and failed: the message has its command and output tail."""


class BuildUnavailable(Exception):
    """The build cannot run here (no kit, no checkout): a reason to skip."""


def kit_command():
    """The Arduino host kit's build command: $ARDUINO_HOST_BUILD, else the checkout's."""
    env = os.environ.get("ARDUINO_HOST_BUILD")
    if env:
        p = Path(env)
        if not (p.is_file() and os.access(p, os.X_OK)):
            raise BuildError(f"$ARDUINO_HOST_BUILD={env} is not an executable file")
        return p
    if paths.CHECKOUT is not None:
        p = paths.CHECKOUT / "hil" / "arduino-host" / "build"
        if p.is_file():
            return p
    raise BuildUnavailable("the Arduino host kit (hil/arduino-host/build) is not available: run "
                           "from a checkout, set $ARDUINO_HOST_BUILD, or give --board-binary")


def _values(out):
    return {"out": str(out), "checkout": None if paths.CHECKOUT is None else str(paths.CHECKOUT)}


def build_argv(spec, out, virtual_time=False):
    """The build's command line for board description `spec` making `out`;
    `virtual_time`: the kit's co-simulation variant (`--virtual-time`, a
    program for mepsim-cosim --firmware PATH)."""
    b = spec.build
    vals = _values(out)
    if b.sketch is not None:
        if "{checkout}" in b.sketch and vals["checkout"] is None:
            raise BuildUnavailable(f"board {spec.name}: build.sketch {b.sketch!r} is in the "
                                   f"checkout, and this package is not running from one")
        sketch = Path(os.path.expanduser(b.sketch.format(**vals)))
        if not sketch.is_absolute():
            sketch = Path(b.cwd) / sketch
        if not sketch.is_dir():
            raise BuildError(f"board {spec.name}: build.sketch: {sketch} is not a sketch folder "
                             f"({spec.source})")
        return [str(kit_command()), str(sketch), "-o", str(out), "--board", b.board,
                "--abi", str(b.abi)] + (["--virtual-time"] if virtual_time else [])
    if virtual_time:
        raise BuildUnavailable(f"board {spec.name}: build.command makes a program for the "
                               f"wall clock; the virtual-time rig builds sketches (build.sketch)")
    from .boards import BoardError, _expand
    try:
        return _expand(b.command, vals, spec.source, "$.build.command")
    except BoardError as e:                # {checkout} outside a checkout
        raise BuildUnavailable(f"board {spec.name}: {e}") from None


def build_program(spec, root, virtual_time=False):
    """Build board `spec`'s program under `root` (once per process and
    command line; `virtual_time`: the co-simulation variant, in its own
    directory); return its path. BuildError when the build fails,
    BuildUnavailable when it cannot run here."""
    root = Path(root)
    out = root / (spec.name + ("-vt" if virtual_time else "")) / spec.name
    argv = build_argv(spec, out, virtual_time)
    key = tuple(argv)
    if key in _built and Path(_built[key][0]).exists():
        return Path(_built[key][0])
    out.parent.mkdir(parents=True, exist_ok=True)
    log = root / f"{spec.name}.build.log"
    with open(root / f"{spec.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)           # another xdist worker may be building it
        t0 = time.monotonic()
        try:
            r = subprocess.run(argv, cwd=spec.build.cwd, capture_output=True, text=True,
                               timeout=spec.build.timeout_s, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise BuildError(f"board {spec.name}: build did not finish within "
                             f"{spec.build.timeout_s:.0f} s: {' '.join(argv)}") from None
        except OSError as e:
            raise BuildError(f"board {spec.name}: cannot run the build {argv[0]}: "
                             f"{e.strerror}") from None
        took = time.monotonic() - t0
        with open(log, "a") as f:
            f.write(f"$ {' '.join(argv)}\n{r.stdout}{r.stderr}"
                    f"--- exit status {r.returncode} after {took:.1f} s\n")
    if r.returncode != 0:
        tail = (r.stdout + r.stderr)[-4000:]
        raise BuildError(f"board {spec.name}: build failed (exit status {r.returncode}): "
                         f"{' '.join(argv)}\n--- output tail ---\n{tail}")
    if not out.is_file():
        raise BuildError(f"board {spec.name}: the build succeeded but made no {out}: "
                         f"{' '.join(argv)}")
    _built[key] = (str(out), took)
    return out


def built_programs():
    """{program path: build seconds} built by this process (for reports)."""
    return {p: t for p, t in _built.values()}
