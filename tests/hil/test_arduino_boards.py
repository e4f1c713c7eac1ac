"""The scenario suite judges kit-built sketches like any board: the hobby
sketch (fixtures/sketches/hobby-module, no kWh filtering), built with the
Arduino host kit from the shipped description arduino-hobby, FAILS the kWh
spike scenario with the finding (what it published, when, the meter's
truth) when it is judged as any board, i.e. without the description's
`expect.filters_spikes: false`. Checked from outside, with an inner pytest
run of tests/hil/test_scenarios.py, as test_any_firmware.py does with a fake
board; the sketch is built once here and given with --board-binary.

The scenario suite itself runs on the sketches in CI with
`--board arduino-mep-module` / `--board arduino-hobby -m representative`.
"""

import subprocess
import sys

import pytest

from osgp_hil import plugin_args
from osgp_hil.boards import load_board
from osgp_hil.build import BuildError, BuildUnavailable, build_program
from osgp_hil.paths import binary_or_none
from test_any_firmware import SCENARIOS, pythonpath

pytestmark = [pytest.mark.virtual_only(reason="starts its own rigs"),
              pytest.mark.skipif(binary_or_none("mepsim") is None,
                                 reason="mepsim not built (set MEPSIM_BIN)")]

SPIKE_WH = 1 << 24          # s16-kwh-spike: Fwd_Act_Wh + 2^24 Wh for 3 polls


@pytest.fixture(scope="module")
def hobby(tmp_path_factory):
    """The hobby sketch built with the kit (skip without the kit)."""
    try:
        return build_program(load_board("arduino-hobby"), tmp_path_factory.mktemp("build"))
    except BuildUnavailable as e:
        pytest.skip(str(e))
    except BuildError as e:
        pytest.fail(str(e), pytrace=False)


def test_the_hobby_sketch_fails_the_spike_scenario_saying_what_and_when(hobby, tmp_path,
                                                                        monkeypatch):
    monkeypatch.setenv("PYTHONPATH", pythonpath())
    desc = tmp_path / "hobby-judged.yaml"
    desc.write_text(f"description: arduino-hobby\nname: hobby-judged\nbinary: {hobby}\n"
                    f"expect: {{filters_spikes: true}}      # judged as any board\n")
    r = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rsxX",
                        "--hil-artifacts", str(tmp_path / "art"), *plugin_args(),
                        str(SCENARIOS), "-k", "s16", "--board", str(desc)],
                       cwd=str(tmp_path), capture_output=True, text=True, timeout=600)
    out = r.stdout + r.stderr
    assert r.returncode == 1 and "1 failed" in out, out[-4000:]
    assert "skipped" not in out.split("short test summary")[-1], out[-3000:]
    # the finding: the value it published, when, and the meter's truth
    lines = [ln for ln in out.splitlines() if "published Fwd_Act_Wh=" in ln
             and "above the meter's truth" in ln]
    assert lines, out[-4000:]
    published = int(lines[0].split("published Fwd_Act_Wh=")[1].split()[0])
    truth = int(lines[0].split("above the meter's truth ")[1].split()[0])
    assert published - truth >= SPIKE_WH - 1000, lines[0]
    assert " UTC (+" in lines[0], lines[0]
    # it came from the sketch's own page, kept in the artefacts
    art = next((tmp_path / "art" / "test_scenarios").glob("*s16*"))
    assert f"{published}" in (art / "published.json").read_text()
    assert "Hobby MEP module starting" in (art / "hobby-judged.log").read_text()
