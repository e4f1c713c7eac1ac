"""mepsim --scenario: fixtures/scenarios timelines that need only the line
layer, the model and the meter's own controls (mep.md 5.5, module-behaviour 9)."""

import subprocess
import time

import pytest

import mepframe
from simharness import REPO, Meter, mepsim_bin
from mepframe import OK, SEQ

SCEN = REPO / "fixtures" / "scenarios"


def test_seq_jump_steps_move_e_at_their_simulated_times(mepsim):
    # s03: E += 100 at t=30 s, += 25 at t=60 s; at speed 100 that is 0.3 s and 0.6 s
    sim = mepsim("--pty", "s.pty", "--scenario", SCEN / "s03-counter-jump.json", "--speed", "100",
                 "--seq-start", "0x1000")
    m = Meter(sim, "s.pty", seq=0x1000)
    time.sleep(0.9)
    st = m.ctl.status()["meters"][0]
    assert st["e"] == 0x1000 + 125
    assert st["scenario"]["name"] == "s03-counter-jump.json" and st["scenario"]["done"] is True
    assert st["scenario"]["next"] == st["scenario"]["steps"] == 3
    rsp = m.read("BT52")                                   # the module's old number is now stale
    assert rsp.code == SEQ and rsp.seq == 0x1000 + 125


def test_trailing_junk_fault_from_the_timeline_hits_one_reply(mepsim):
    # s12: 8 junk bytes after one reply at t=20 s (0.2 s at speed 100)
    sim = mepsim("--pty", "s.pty", "--scenario", SCEN / "s12-trailing-junk.json", "--speed", "100",
                 "--seq-start", "0x10")
    m = Meter(sim, "s.pty", seq=0x10)
    time.sleep(0.3)
    req = mepframe.read("BT52", seq=m.next_seq(), key=m.key)
    m.link.send(req.frame)
    data, _ = m.link.collect(0.3)
    assert len(data) == 20 + 8                             # reply + trailing junk (S12)
    assert mepframe.parse_response(req, data[:20]).code == OK
    assert m.ctl.fault_list()["injected"]["trailing"] >= 1


def test_scenario_with_unsupported_steps_is_refused_naming_the_step(tmp_path):
    r = subprocess.run([mepsim_bin(), "--pty", "x.pty", "--scenario", str(SCEN / "s16-kwh-spike.json")],
                       cwd=str(tmp_path), capture_output=True, text=True, timeout=10)
    assert r.returncode == 2
    assert "s16-kwh-spike.json: timeline[0]" in r.stderr and "glitch" in r.stderr


def test_scenario_and_profile_together_are_refused(tmp_path):
    r = subprocess.run([mepsim_bin(), "--pty", "x.pty", "--profile", str(REPO / "fixtures/meters/nes-3ph.json"),
                        "--scenario", str(SCEN / "s03-counter-jump.json")],
                       cwd=str(tmp_path), capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "--scenario" in r.stderr


@pytest.mark.parametrize("name", sorted(p.name for p in SCEN.glob("*.json")))
def test_every_scenario_starts_or_is_refused_cleanly(tmp_path, name):
    r = subprocess.run([mepsim_bin(), "--pty", "x.pty", "--scenario", str(SCEN / name), "--speed", "1000",
                        "--exit-after", "0.3"], cwd=str(tmp_path), capture_output=True, text=True, timeout=20)
    assert r.returncode in (0, 2), r.stderr
    assert "Sanitizer" not in r.stderr, r.stderr
    if r.returncode == 2:
        assert "not supported by mepsim yet" in r.stderr, r.stderr
