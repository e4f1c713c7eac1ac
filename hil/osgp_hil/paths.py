"""Where the rig's programs and fixture files are, for an installed package
and for a checkout alike.

Programs (mepsim, mepsim-ctl, mepmod, a board's binary) are looked up in
this order, and the first that exists wins:

1. an explicit path (a command-line option or a rig/board file key);
2. the program's environment variable (``MEPSIM_BIN``, ``MEPSIM_CTL``,
   ``MEPMOD_BIN``, a board description's ``binary.env``);
3. ``PATH``;
4. the checkout's ``build/`` tree (``<checkout>/build/simulator/mepsim``),
   when the package runs from a checkout (``PYTHONPATH=hil`` or an editable
   install).

Fixture files (``fixtures/meters``, ``fixtures/scenarios``) come from
``--hil-fixtures`` / ``set_fixtures_dir()``, then ``$OSGP_FIXTURES``, then
``<checkout>/fixtures``.
"""

import os
import shutil
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# hil/osgp_hil -> hil -> checkout; only a checkout has fixtures/meters there
_CANDIDATE = PACKAGE_DIR.parents[1]
CHECKOUT = _CANDIDATE if (_CANDIDATE / "fixtures" / "meters").is_dir() else None

# the programs the package knows: environment variable, path under build/
PROGRAMS = {
    "mepsim": ("MEPSIM_BIN", "simulator/mepsim"),
    "mepsim-ctl": ("MEPSIM_CTL", "simulator/mepsim-ctl"),
    "mepmod": ("MEPMOD_BIN", "firmware/host/mepmod"),
    "mepsim-cosim": ("MEPSIM_COSIM_BIN", "cosim/mepsim-cosim"),
}

_fixtures_override = [None]     # set by the plugin's --hil-fixtures


class NotFound(Exception):
    """A program or a fixture directory is not where any rule looked."""


def candidates(name, explicit=None, env=None, build=None):
    """Every place find_binary() looks, in order, as (rule, path). mepsim-ctl
    is also looked for next to the mepsim that would be used."""
    env_name, build_rel = PROGRAMS.get(name, (None, None))
    env = env or env_name
    build = build or build_rel
    out = []
    if explicit:
        out.append(("option", Path(os.path.expanduser(str(explicit)))))
    if env and os.environ.get(env):
        out.append((f"${env}", Path(os.environ[env])))
    if name == "mepsim-ctl":
        sim = binary_or_none("mepsim")
        if sim is not None:
            out.append(("next to mepsim", sim.parent / name))
    found = shutil.which(name)
    if found:
        out.append(("PATH", Path(found)))
    if CHECKOUT is not None and build:
        out.append(("checkout build/", CHECKOUT / "build" / build))
    return out


def find_binary(name, explicit=None, env=None, build=None, executable=True):
    """The program's path; NotFound names every place that was tried. An
    explicit path or an environment variable that is set is final: a
    mistyped path is an error, not a silent fallback to another build.
    executable=False accepts any file (a script a board command runs with
    its interpreter)."""
    def usable(p):
        return p.is_file() and (not executable or os.access(p, os.X_OK))
    tried = candidates(name, explicit, env, build)
    for rule, p in tried:
        if rule == "option" or rule.startswith("$"):
            if usable(p):
                return p
            raise NotFound(f"{name}: {p} (from {rule}) is not "
                           f"{'an executable file' if executable else 'a file'}")
        if usable(p):
            return p
    where = ", ".join(f"{r}: {p}" for r, p in tried) or "nowhere"
    env_name = env or PROGRAMS.get(name, (None,))[0]
    hint = f"set ${env_name}, " if env_name else ""
    raise NotFound(f"{name} not found (looked at {where}); {hint}put it on PATH or build "
                   f"into <checkout>/build")


def binary_or_none(name, explicit=None):
    try:
        return find_binary(name, explicit)
    except NotFound:
        return None


def mepsim_bin():
    """The mepsim program as a string (NotFound says where it looked)."""
    return str(find_binary("mepsim"))


def set_fixtures_dir(path):
    _fixtures_override[0] = Path(path) if path else None


def fixtures_dir():
    """The directory holding meters/ and scenarios/."""
    for p in (_fixtures_override[0], os.environ.get("OSGP_FIXTURES"),
              CHECKOUT / "fixtures" if CHECKOUT else None):
        if p:
            return Path(p)
    raise NotFound("fixture files not found: pass --hil-fixtures DIR or set $OSGP_FIXTURES "
                   "to a checkout's fixtures/ directory")


def fixture(*parts):
    """A path under the fixtures directory (meters/nes-3ph.json, scenarios/...)."""
    return fixtures_dir().joinpath(*parts)


def fixture_path(*parts):
    """fixture(*parts) as a string (for command lines and JSON)."""
    return str(fixture(*parts))


def find_in(name, directory):
    """A file given as a path, a name in directory, or a name without .json."""
    p = Path(name)
    for cand in (p, Path(directory) / p, Path(directory) / (p.name + ".json")):
        if cand.is_file():
            return cand
    raise NotFound(f"{name!r} not found (looked as a path and in {directory})")
