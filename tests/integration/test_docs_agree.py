"""The documentation agrees with the programs.

What the docs state about the code - option names, control commands,
scenario counts, versions - is checked against the code itself, so a
change to one without the other fails here:

* every long option a program prints in --help has an entry in its man
  page source (packaging/man/*.scd), and the man pages name no option the
  program does not know;
* every control command of mepsim's command table (mepsim --help, generated
  from simulator/app/sim_control.c) is listed in the README's control-socket
  section, and the README lists none the table lacks;
* every "N scenario files" / "all N files in fixtures/scenarios" the READMEs
  state equals the number of files there;
* the programs' --version and mepsim-ctl's VERSION equal CMake's
  project(VERSION).
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from fwfixtures import MEPMOD_BIN, MEPSIM_BIN

ROOT = Path(__file__).resolve().parents[2]
MAN = ROOT / "packaging" / "man"
CTL = ROOT / "simulator" / "mepsim-ctl"
OPT = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]+)")


def _help(cmd):
    r = subprocess.run(cmd + ["--help"], capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, f"{cmd} --help exited {r.returncode}: {r.stderr}"
    return r.stdout


def _cosim_bin():
    b = MEPSIM_BIN.parent.parent / "cosim" / "mepsim-cosim"
    if not b.is_file():
        pytest.skip(f"{b} not built")
    return b


def _programs():
    return {
        "mepsim": lambda: [str(MEPSIM_BIN)],
        "mepmod": lambda: [str(MEPMOD_BIN)],
        "mepsim-ctl": lambda: [sys.executable, str(CTL)],
        "mepsim-profile": lambda: [sys.executable, str(ROOT / "simulator" / "mepsim-profile")],
        "mepsim-cosim": lambda: [str(_cosim_bin())],
    }


def _options_in_help(text):
    """Options a --help defines: the ones in the first column of its option
    lines ("  --pty PATH   create ...", "  --socket SOCKET, -s SOCKET"), not
    options its prose mentions."""
    out = set()
    for line in text.splitlines():
        m = re.match(r"^\s{1,6}(-\S.*?)(?:\s{2,}|$)", line)
        if m:
            out |= set(OPT.findall(m.group(1)))
    return out


def _options_in_man(page):
    """Options a man page defines: its definition lines (an scdoc term line
    starting with *-...*), not options its prose mentions."""
    out = set()
    for line in page.splitlines():
        if line.startswith("*-"):
            out |= set(re.findall(r"\*(--[a-z][a-z0-9-]+)\*", line))
    return out


@pytest.mark.parametrize("prog", sorted(_programs()))
def test_man_page_lists_every_option(prog):
    if prog in ("mepsim", "mepmod") and not Path(_programs()[prog]()[0]).is_file():
        pytest.skip(f"{prog} not built")
    cmd = _programs()[prog]()
    helped = _options_in_help(_help(cmd))
    if prog == "mepsim-profile":    # options live with its subcommands
        helped |= _options_in_help(_help(cmd + ["import"])) | _options_in_help(_help(cmd + ["dump"]))
    page = (MAN / f"{prog}.1.scd").read_text()
    documented = _options_in_man(page)
    missing = sorted(helped - documented - {"--help"})
    assert not missing, f"{prog} --help has options its man page lacks: {missing}"
    unknown = sorted(documented - helped - {"--help", "--version"})
    assert not unknown, f"the {prog} man page documents options {prog} --help does not know: {unknown}"


def _control_table():
    text = _help([str(MEPSIM_BIN)])
    sec = text.split("Control socket:", 1)[1]
    return set(re.findall(r"^  ([a-z_]+)(?:\{[^}]*\}\s+|\s{2,})", sec, re.M))


def test_readme_lists_the_control_commands():
    if not MEPSIM_BIN.is_file():
        pytest.skip("mepsim not built")
    table = _control_table()
    assert len(table) >= 20, f"could not read the command table from mepsim --help: {sorted(table)}"
    readme = (ROOT / "README.md").read_text()
    sec = readme.split("### Control socket", 1)[1].split("\n### ", 1)[0]
    listed = set(re.findall(r"`([a-z_]+)`", sec.split("Commands:", 1)[1].split("\n\n", 1)[0]))
    assert table - listed == set(), f"README's control section omits {sorted(table - listed)}"
    assert listed - table == set(), f"README's control section lists unknown {sorted(listed - table)}"


COUNT = re.compile(r"(?:all (\d+) (?:scenario )?files in\s+`?fixtures/scenarios|(\d+) scenario files)")


@pytest.mark.parametrize("doc", ["README.md", "hil/README.md", "fixtures/scenarios/README.md",
                                 "cosim/README.md"])
def test_scenario_counts(doc):
    n = len(list((ROOT / "fixtures" / "scenarios").glob("*.json")))
    path = ROOT / doc
    if not path.is_file():
        pytest.skip(f"{doc} absent")
    text = " ".join(path.read_text().split())
    for m in COUNT.finditer(text):
        stated = int(m.group(1) or m.group(2))
        assert stated == n, f"{doc} says {m.group(0)!r} but fixtures/scenarios has {n} files"


def _project_version():
    m = re.search(r"project\(\w+ VERSION (\d+\.\d+\.\d+)", (ROOT / "CMakeLists.txt").read_text())
    assert m, "no project(VERSION) in CMakeLists.txt"
    return m.group(1)


@pytest.mark.parametrize("prog", sorted(_programs()))
def test_version_is_the_projects(prog):
    cmd = _programs()[prog]()
    if prog in ("mepsim", "mepmod") and not Path(cmd[0]).is_file():
        pytest.skip(f"{prog} not built")
    r = subprocess.run(cmd + ["--version"], capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, f"{prog} --version exited {r.returncode}: {r.stderr.strip()}"
    assert _project_version() in r.stdout, \
        f"{prog} --version says {r.stdout.strip()!r}, CMakeLists.txt says {_project_version()}"


def test_hil_package_version_is_the_projects():
    m = re.search(r'^version = "([^"]+)"', (ROOT / "hil" / "pyproject.toml").read_text(), re.M)
    assert m and m.group(1) == _project_version()
