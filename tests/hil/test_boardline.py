"""The board-line protocol (docs/board-line-protocol.md) from both helpers: the
C header hil/boardline/mep_boardline.h compiles warning-free as C11 and
C++17 and its events reach a real mepsim; osgp_hil.boardline sends the same
bytes; refusals are reported; and the events come back out of rig.line_events()
as they do for any board (the same call reads the modem inputs on a bench)."""

import shutil
import subprocess
from pathlib import Path

import pytest

from osgp_hil import boardline
from osgp_hil.boardline import BoardLine, BoardLineError
from osgp_hil.paths import PACKAGE_DIR

HEADER_DIR = PACKAGE_DIR.parent / "boardline"
CHECK_C = HEADER_DIR / "boardline_check.c"
WARN = ["-Wall", "-Wextra", "-Werror", "-Wpedantic", "-Wshadow", "-Wconversion"]

needs_source = pytest.mark.skipif(not CHECK_C.is_file(),
                                  reason="hil/boardline/ is not in this installation (a checkout has it)")


def build(tmp_path, lang):
    cc = shutil.which("gcc" if lang == "c" else "g++") or shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler")
    out = tmp_path / f"boardline_check_{lang}"
    std = ["-std=c11"] if lang == "c" else ["-x", "c++", "-std=c++17"]
    r = subprocess.run([cc, *std, *WARN, "-fsanitize=address,undefined", "-I", str(HEADER_DIR),
                        str(CHECK_C), "-o", str(out)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"{lang}: mep_boardline.h does not build cleanly:\n{r.stderr}"
    return out


@needs_source
@pytest.mark.parametrize("lang", ["c", "cpp"])
def test_c_header_events_reach_mepsim(tmp_path, meter, lang):
    exe = build(tmp_path, lang)
    before = meter.counters()
    r = subprocess.run([str(exe), str(meter.ctl_path)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout.strip() == "answers 5 refused 0", r.stdout + r.stderr
    after = meter.counters()
    assert after["line_events"] - before["line_events"] == 5
    assert after["transceiver_off_events"] - before["transceiver_off_events"] == 1
    assert after["enable_off_events"] - before["enable_off_events"] == 1
    lines = meter.status()["meters"][0]["lines"]
    assert lines == {"transceiver": True, "enable": True}


@needs_source
def test_c_header_and_python_helper_send_the_same_bytes(tmp_path):
    exe = build(tmp_path, "c")
    r = subprocess.run([str(exe), "-"], capture_output=True, timeout=30)
    assert r.returncode == 0
    expect = b"".join(boardline.encode(n, o) for n, o in [("transceiver", True), ("enable", False),
                                                          ("enable", True), ("transceiver", False),
                                                          ("transceiver", True)])
    assert r.stdout == expect
    assert expect.startswith(b'{"line":"transceiver","on":true}\n')


def test_python_helper_reports_and_rig_reads_the_events_back(meter, request):
    rig = request.getfixturevalue("_osgp_rig")          # the rig of this test, no board started
    with BoardLine(meter.ctl_path) as bl:
        bl.both(transceiver=True, enable=False)
        bl.enable(True)
        bl.transceiver(False)
        assert meter.status()["meters"][0]["lines"] == {"transceiver": False, "enable": True}
        with pytest.raises(BoardLineError, match=r"unknown meter"):
            BoardLine(meter.ctl_path, meter="nosuch").transceiver(True)
    events = [(n, o) for _, n, o in rig.line_events()]
    assert events == [("transceiver", True), ("enable", False), ("enable", True),
                      ("transceiver", False)]


def test_python_helper_refuses_bad_input_and_missing_sockets(tmp_path):
    with pytest.raises(ValueError, match="line must be one of transceiver, enable"):
        boardline.encode("power", True)
    with pytest.raises(ValueError, match="on must be True or False"):
        boardline.encode("enable", 1)
    with pytest.raises(BoardLineError, match=r"cannot connect to .*nothere\.ctl"):
        BoardLine(tmp_path / "nothere.ctl")
    assert not Path(tmp_path / "nothere.ctl").exists()
