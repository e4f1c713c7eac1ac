"""The suite judges any firmware: a third-party program (tests/hil/fakeboard.py,
a few lines of Python serving the module JSON contract) is put in the loop
with --board-command / --board, exactly as hil/README.md's "bring your own
firmware" walk-through does, and the suite's verdicts are checked from
outside (inner pytest runs):

* an honest board passes, and its published documents meet the contract;
* a board that publishes a kWh spike FAILS the spike scenario with a
  message naming the value it published, when, and the meter's truth;
* the same board declaring `expect.filters_spikes: false` is an expected
  failure (xfail), not a pass;
* a board that publishes only the MQTT topics (8.2) is judged on those:
  its spike fails the spike scenario the same way;
* a board that reports no lines skips the line scenarios with the reason;
* a board that dies is reported with its log tail at once, not as a hang.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import osgp_hil
from osgp_hil import plugin_args
from osgp_hil.paths import binary_or_none

HERE = Path(__file__).resolve().parent
FAKE = HERE / "fakeboard.py"
SCENARIOS = HERE / "test_scenarios.py"
COMMAND = f"{sys.executable} {FAKE} --port {{port}} --http-port {{http_port}} --control {{control}}"

pytestmark = [pytest.mark.virtual_only(reason="starts its own board programs"),
              pytest.mark.skipif(binary_or_none("mepsim") is None,
                                 reason="mepsim not built (set MEPSIM_BIN)")]


def pythonpath():
    """PYTHONPATH for child processes in other directories: this package
    first (a relative PYTHONPATH=hil would not resolve there)."""
    here = str(Path(osgp_hil.__file__).resolve().parents[1])
    rest = [str(Path(p).resolve()) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return os.pathsep.join([here] + rest)


@pytest.fixture(autouse=True)
def _child_env(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", pythonpath())
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")


def run_suite(tmp_path, *args, timeout=240):
    """pytest on the scenario suite in a child process -> (rc, output)."""
    r = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rsxX",
                        "--hil-artifacts", str(tmp_path / "art"), *plugin_args(), *args],
                       cwd=str(tmp_path), capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout + r.stderr


HONEST = '''
from osgp_hil.contract import ha_contract_problems

def test_my_firmware_serves_the_meter(rig):
    doc = rig.board.wait_json(timeout=20)
    assert ha_contract_problems(doc) == []
    truth = rig.meter.truth()["bt23"]["fwd_wh"]
    assert 0 <= truth - doc["Fwd_Act_Wh"] <= 1000

def test_lines_are_not_reported(rig):
    rig.wait_line("transceiver", True, 5)
'''


def test_bring_your_own_firmware_walkthrough(pytester):
    """The README's few-line test file, against the fake firmware."""
    pytester.makepyfile(test_myfw=HONEST)
    r = pytester.runpytest_subprocess(*plugin_args(), "-rs", "--board-command", COMMAND,
                                      timeout=120)
    r.assert_outcomes(passed=1, skipped=1)
    r.stdout.fnmatch_lines(["osgp-hil rig: virtual (virtual: mepsim PTY + board board)*",
                            "*board board reports no transceiver/ENABLE lines*"])


def test_a_spike_publishing_board_fails_the_spike_scenario_saying_what_and_when(tmp_path):
    spike = 1 << 24
    rc, out = run_suite(tmp_path, str(SCENARIOS), "-k", "s16",
                        "--board-command", f"{COMMAND} --spike-wh {spike} --spike-at 4 "
                                           f"--spike-for 3")
    assert rc == 1, out[-4000:]
    assert "1 failed" in out, out[-3000:]
    # the finding: what was published, when, and the meter's truth
    assert "s16-kwh-spike" in out and "published Fwd_Act_Wh=" in out, out[-4000:]
    line = next(ln for ln in out.splitlines() if "published Fwd_Act_Wh=" in ln)
    published = int(line.split("published Fwd_Act_Wh=")[1].split()[0])
    truth = int(line.split("above the meter's truth ")[1].split()[0])
    assert published - truth >= spike - 1000, line
    assert " UTC (+" in line, line                       # when: wall clock and run time


def test_an_mqtt_only_board_is_judged_on_its_topics(tmp_path):
    pytest.importorskip("paho.mqtt.client", reason="python3-paho-mqtt is not installed")
    f = tmp_path / "mqttfw.yaml"
    f.write_text(f"""name: mqttfw
command: {sys.executable} {FAKE} --port {{port}} --control {{control}} --mqtt {{mqtt}} --mqtt-prefix {{mqtt_prefix}} --spike-wh 16777216 --spike-at 4 --spike-for 3
ready: {{log: "publishing to", timeout_s: 20}}
outputs: {{mqtt: mqttfw}}
expect: {{mqtt: true}}
""")
    rc, out = run_suite(tmp_path, str(SCENARIOS), "-k", "s16", "--board", str(f))
    assert rc == 1 and "1 failed" in out, out[-3000:]
    assert "MQTT published Fwd_Act_Wh=" in out and "above the meter's truth" in out, out[-3000:]
    art = next((tmp_path / "art" / "test_scenarios").glob("*s16*"))
    assert "mqttfw/meterConsumptionTotal/mydatajson" in (art / "published.json").read_text()


def test_a_board_declaring_no_spike_filter_is_an_expected_failure(tmp_path):
    f = tmp_path / "naive.yaml"
    f.write_text(f"name: naive\ncommand: {COMMAND} --spike-wh 16777216 --spike-at 4 "
                 f"--spike-for 3\nlines: none\nexpect: {{filters_spikes: false}}\n")
    rc, out = run_suite(tmp_path, str(SCENARIOS), "-k", "s16", "--board", str(f))
    assert rc == 0 and "1 xfailed" in out, out[-3000:]
    assert "filters_spikes: false" in out


def test_line_scenarios_skip_on_a_board_without_line_reports(tmp_path):
    t0 = time.monotonic()
    rc, out = run_suite(tmp_path, str(SCENARIOS), "-k", "s09", "--board-command", COMMAND)
    assert rc == 0 and "1 skipped" in out, out[-3000:]
    assert "this board reports none" in out and "board-line-protocol.md" in out
    assert time.monotonic() - t0 < 60                   # decided before anything waits


def test_a_board_that_dies_is_reported_with_its_log_tail(pytester):
    pytester.makepyfile(test_dies='''
def test_reads(rig):
    rig.board.wait_json(timeout=20)
    rig.board.expect(r"a line this board never prints", timeout=120)
''')
    t0 = time.monotonic()
    r = pytester.runpytest_subprocess(*plugin_args(), "--board-command",
                                      f"{COMMAND} --die-after 1.5", timeout=120)
    took = time.monotonic() - t0
    r.assert_outcomes(failed=1)
    r.stdout.fnmatch_lines(["*board board died (exit status 3)*", "*--- log tail ---*",
                            "*fakeboard: crashing now*"])
    assert took < 60, f"a dead board must end the wait at once, took {took:.0f} s"


def test_a_board_that_never_starts_names_the_command(pytester):
    pytester.makepyfile(test_nostart='''
def test_reads(board):
    pass
''')
    r = pytester.runpytest_subprocess(*plugin_args(), "--board-command",
                                      "/nonexistent/fw --port {port} --http {http_port}",
                                      timeout=60)
    r.assert_outcomes(errors=1)
    r.stdout.fnmatch_lines(["*board: cannot run /nonexistent/fw*"])
