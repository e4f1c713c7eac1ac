"""mepsim --scenario: fixtures/scenarios timelines on the line layer, the
protocol-fault and glitch hooks, the model and the meter's own controls
(docs/mep.md 5.5, docs/module-behaviour.md 9); plus the control-socket fault commands."""

import json
import subprocess
import time

import pytest

from osgp_hil import mepframe
from osgp_hil.link import RawModule
from osgp_hil.paths import find_binary, fixtures_dir, mepsim_bin
from osgp_hil.mepframe import OK, SEQ

SCEN = fixtures_dir() / "scenarios"


def test_seq_jump_steps_move_e_at_their_simulated_times(mepsim):
    # s03: E += 100 at t=30 s, += 25 at t=60 s; at speed 100 that is 0.3 s and 0.6 s
    sim = mepsim("--pty", "s.pty", "--scenario", SCEN / "s03-counter-jump.json", "--speed", "100",
                 "--seq-start", "0x1000")
    m = RawModule(sim, "s.pty", seq=0x1000)
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
    m = RawModule(sim, "s.pty", seq=0x10)
    time.sleep(0.3)
    req = mepframe.read("BT52", seq=m.next_seq(), key=m.key)
    m.link.send(req.frame)
    data, _ = m.link.collect(0.3)
    assert len(data) == 20 + 8                             # reply + trailing junk (S12)
    assert mepframe.parse_response(req, data[:20]).code == OK
    assert m.ctl.fault_status()["injected"]["trailing"] >= 1


def test_scenario_with_a_bad_step_parameter_is_refused_naming_the_json_path(tmp_path):
    # "the meter never starts on a bad file": s16 with one unknown glitch parameter
    doc = json.loads((SCEN / "s16-kwh-spike.json").read_text())
    doc["profile"] = str(fixtures_dir() / "meters" / doc["profile"])
    doc["timeline"][0]["params"]["bogus"] = 1
    bad = tmp_path / "bad16.json"
    bad.write_text(json.dumps(doc))
    r = subprocess.run([mepsim_bin(), "--pty", "x.pty", "--scenario", str(bad)],
                       cwd=str(tmp_path), capture_output=True, text=True, timeout=10)
    assert r.returncode == 2
    assert "bad16.json: $.timeline[0].params.bogus" in r.stderr and "spike" in r.stderr
    assert not (tmp_path / "x.pty").exists()


def test_scenario_and_profile_together_are_refused(tmp_path):
    r = subprocess.run([mepsim_bin(), "--pty", "x.pty", "--profile", str(fixtures_dir() / "meters" / "nes-3ph.json"),
                        "--scenario", str(SCEN / "s03-counter-jump.json")],
                       cwd=str(tmp_path), capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "--scenario" in r.stderr


@pytest.mark.parametrize("name", sorted(p.name for p in SCEN.glob("*.json")))
def test_every_scenario_starts_and_runs_its_timeline(tmp_path, name):
    # all 34 run: line/protocol faults and glitches in the port's fault set, reboot/seq_jump on the meter
    r = subprocess.run([mepsim_bin(), "--pty", "x.pty", "--scenario", str(SCEN / name), "--speed", "1000",
                        "--exit-after", "0.5"], cwd=str(tmp_path), capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    assert "Sanitizer" not in r.stderr, r.stderr
    assert "not started" not in r.stderr, r.stderr


def _flipped_replies(mepsim, name, seed):
    """Six BT01 reads through a 1 %/bit flip fault seeded with `seed` -> raw reply bytes."""
    sim = mepsim("--pty", f"{name}.pty", "--seq-start", "0x100", "--seed", str(seed), name=name)
    m = RawModule(sim, f"{name}.pty", seq=0x100)
    assert m.ctl.inject("flip rate=0.01 dir=to-module") == "1"
    out = []
    for _ in range(6):
        req = mepframe.read("BT01", seq=m.next_seq(), key=m.key)
        m.link.send(req.frame)
        data, _ = m.link.collect(0.25)
        out.append(data)
    st = m.ctl.fault_status()
    assert st["injected"]["flip"] >= 1
    return out, st["injected"]["flip"]


def test_fault_runs_are_deterministic_for_a_given_seed(mepsim):
    # runs are deterministic for a given seed: same seed, same flipped bits
    a, na = _flipped_replies(mepsim, "a", 7)
    b, nb = _flipped_replies(mepsim, "b", 7)
    c, _ = _flipped_replies(mepsim, "c", 8)
    assert a == b and na == nb
    assert a != c                                          # another seed flips other bits


def test_control_socket_fault_set_commands(mepsim):
    sim = mepsim("--pty", "f.pty", "--seq-start", "0x10", "--seed", "1")
    m = RawModule(sim, "f.pty", seq=0x10)
    assert m.ctl.inject("table-error table=BT01 code=5") == "p1"     # protocol fault
    assert m.read("BT01").code == 0x05
    gid = m.ctl.glitch("spike delta=2^24 polls=1")
    assert gid == "g1"
    assert m.read("BT23", 0, 44).code == OK
    st = m.ctl.fault_status()
    assert st["injected"]["table-error"] == 1 and st["glitched"]["spike"] >= 1
    assert st["error_codes"].get("0x05") == 1
    assert "p1 table-error" in m.ctl.list_faults()
    assert m.ctl.clear("all") == "cleared all"
    assert m.read("BT01").code == OK
    with pytest.raises(Exception, match="unknown fault"):
        m.ctl.inject("nosuch")
    with pytest.raises(Exception, match="bogus"):
        m.ctl.glitch("spike bogus=1")


def test_scenario_load_on_a_running_meter_is_strict(mepsim, tmp_path):
    sim = mepsim("--pty", "l.pty", "--seq-start", "0x10", "--seed", "1")
    m = RawModule(sim, "l.pty", seq=0x10)
    bad = tmp_path / "bad.json"
    bad.write_text('{"description": "x", "profile": "nes-3ph.json", "expect": {}, "timeline": [{"at": 1, "fault": "nosuch"}]}')
    with pytest.raises(Exception, match="bad.json"):
        m.ctl.scenario("load", bad)
    with pytest.raises(Exception, match="none loaded"):
        m.ctl.scenario("status")
    st = m.ctl.scenario("load", SCEN / "s03-counter-jump.json")
    assert st["name"] == "s03-counter-jump.json" and st["steps"] == 3


def test_mepsim_ctl_cli(mepsim):
    sim = mepsim("--pty", "c.pty", "--seed", "1")
    ctl = find_binary("mepsim-ctl")
    sock = str(sim.control_path)

    def run(*args):
        return subprocess.run(["/usr/bin/python3", str(ctl), "--socket", sock, *args],
                              capture_output=True, text=True, timeout=10)
    r = run("inject", "flip rate=0.001 dir=to-module")
    assert r.returncode == 0 and r.stdout.startswith("1 flip"), r.stderr
    r = run("glitch", "spike", "delta=2^24", "polls=3")
    assert r.returncode == 0 and r.stdout.startswith("g1 spike")
    r = run("status")
    assert r.returncode == 0 and "power_cycles_long: 0" in r.stdout
    r = run("inject", "nosuch")
    assert r.returncode == 1 and "unknown fault" in r.stderr
    r = run("frobnicate")
    assert r.returncode == 2 and "unknown command" in r.stderr
    r = subprocess.run(["/usr/bin/python3", str(ctl), "--socket", sock + ".missing", "list"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 3
    r = run("clear")
    assert r.returncode == 0 and "cleared all" in r.stdout
