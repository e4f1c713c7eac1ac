"""A meter that keeps its state across restarts (mepsim --state FILE,
simulator/store/sim_state.h): registers never go back (SIGTERM or kill -9),
E and registration are kept, a bad or mismatched state file exits 2 before
any PTY exists; and the --control path checks (too long: exit 2 before the
PTY; a live socket of another mepsim: exit 1, the socket left alone)."""

import json
import os
import signal
import time

from fwfixtures import run_to_exit as run
from osgp_hil.harness import Meter
from osgp_hil.link import DEFAULT_SEQ, RawModule
from osgp_hil.mepframe import OK, le32
from osgp_hil.paths import fixture_path


def args_for(state, *extra):
    return ["--pty", "m.pty", "--state", state, "--seed", "5", "--speed", "100",
            "--seq-start", hex(DEFAULT_SEQ)] + list(extra)


def fwd_wh(m):
    rsp = m.read("BT23", 0, 4)
    assert rsp.code == OK and rsp.digest_ok, rsp
    return le32(rsp.data, 0)


def meter_status(m):
    return m.ctl.status()["meters"][0]




def test_sigterm_restart_continues_registers_e_and_registration(tmp_path):
    sim = Meter(tmp_path)
    try:
        sim.start(args=args_for("meter.state"))
        m = RawModule(sim, "m.pty", seq=DEFAULT_SEQ)
        for phase in (1, 2, 3):
            m.ctl.set_load(phase, watts=3000, pf=1.0)
        time.sleep(0.12)
        assert m.write("ET50", bytes([0x01]), offset=30).code == OK   # register (docs/mep.md 10.2)
        st = meter_status(m)
        assert st["registered"] is True
        handle = st["handle"]
        before = fwd_wh(m)
        e_before = meter_status(m)["e"]
        assert sim.stop() == 0
        saved = json.loads((tmp_path / "meter.state").read_text())
        assert saved["format"] == "mepsim-state" and saved["version"] == 1
        assert saved["seq_next"] == e_before and "ET50" in saved["tables"]

        sim.start(args=args_for("meter.state"))
        m2 = RawModule(sim, "m.pty", seq=m.seq)
        time.sleep(0.12)
        st = meter_status(m2)
        assert st["e"] == e_before, (hex(st["e"]), hex(e_before))   # E kept
        assert st["registered"] is True and st["handle"] == handle   # registration kept
        after = fwd_wh(m2)                                            # the request E is accepted
        assert after >= before, (before, after)
    finally:
        sim.check_clean_exit()


def test_kill9_restart_registers_never_go_back(tmp_path):
    sim = Meter(tmp_path)
    try:
        sim.start(args=args_for("k.state"))
        m = RawModule(sim, "m.pty", seq=DEFAULT_SEQ)
        for phase in (1, 2, 3):
            m.ctl.set_load(phase, watts=3000, pf=1.0)
        time.sleep(0.12)
        deadline = time.time() + 12
        while not (tmp_path / "k.state").exists() and time.time() < deadline:
            time.sleep(0.2)
        assert (tmp_path / "k.state").exists(), "no periodic save within 12 s"
        time.sleep(2.0)                               # reads after the last save are lost by kill -9
        last = fwd_wh(m)
        sim.stop(sig=signal.SIGKILL)
        assert not (tmp_path / "k.state.tmp").exists()
        json.loads((tmp_path / "k.state").read_text())  # the file on disk is whole

        sim.start(args=args_for("k.state"))
        m2 = RawModule(sim, "m.pty", seq=m.seq)
        time.sleep(0.12)
        first = fwd_wh(m2)
        assert first >= last, (last, first)           # never back
        time.sleep(0.5)
        assert fwd_wh(m2) > first                     # and it goes on
    finally:
        sim.check_clean_exit()


def bad_state_case(tmp_path, text, needle):
    (tmp_path / "bad.state").write_text(text)
    r = run(["--pty", "m.pty", "--state", "bad.state", "--exit-after", "5"], tmp_path)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "bad.state" in r.stderr and needle in r.stderr, r.stderr
    assert not os.path.lexists(tmp_path / "m.pty")   # nothing started


def test_bad_state_files_exit_2_before_the_pty(tmp_path):
    # a good file from a real run, then broken copies of it
    r = run(["--pty", "g.pty", "--state", "good.state", "--exit-after", "0.3"], tmp_path)
    assert r.returncode == 0, r.stderr
    good = (tmp_path / "good.state").read_text()
    bad_state_case(tmp_path, good[:-40], "not valid JSON")
    bad_state_case(tmp_path, good.replace('"version": 1', '"version": 99'),
                   "state version 99 is not supported")
    bad_state_case(tmp_path, '{"hello": 1}', "not a mepsim state file")
    bad_state_case(tmp_path, good.replace('"seq_next"', '"seq_nxt"'), "seq_nxt: unknown key")
    # saved for another profile
    r = run(["--pty", "m.pty", "--state", "good.state", "--profile", fixture_path("meters/nes-1ph.json"),
             "--exit-after", "5"], tmp_path)
    assert r.returncode == 2 and "this meter runs profile \"nes-1ph\"" in r.stderr, r.stderr
    assert not os.path.lexists(tmp_path / "m.pty")
    # a folder that does not exist
    r = run(["--pty", "m.pty", "--state", "no/such/dir/s.state", "--exit-after", "5"], tmp_path)
    assert r.returncode == 2 and "does not exist" in r.stderr, r.stderr
    assert not os.path.lexists(tmp_path / "m.pty")


def test_state_dir_in_a_config_keeps_one_file_per_meter(tmp_path):
    (tmp_path / "st").mkdir()
    cfg = {"state_dir": "st", "meters": [{"name": "a", "pty": "a.pty"}, {"name": "b", "pty": "b.pty"}]}
    (tmp_path / "c.json").write_text(json.dumps(cfg))
    r = run(["--config", "c.json", "--exit-after", "0.3"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "st" / "a.json").read_text())["format"] == "mepsim-state"
    assert json.loads((tmp_path / "st" / "b.json").read_text())["format"] == "mepsim-state"


def test_control_path_too_long_exits_2_before_the_pty(tmp_path):
    long_path = "c" * 120 + ".ctl"
    r = run(["--pty", "m.pty", "--control", long_path, "--exit-after", "5"], tmp_path)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "too long for a Unix socket" in r.stderr, r.stderr
    assert not os.path.lexists(tmp_path / "m.pty")


def test_second_mepsim_refuses_a_live_control_socket(tmp_path):
    sim = Meter(tmp_path)
    try:
        sim.start(args=["--pty", "m.pty", "--control", "live.ctl"])
        r = run(["--pty", "other.pty", "--control", "live.ctl", "--exit-after", "5"], tmp_path)
        assert r.returncode == 1, (r.returncode, r.stderr)
        assert "live.ctl" in r.stderr and "live" in r.stderr, r.stderr
        assert not os.path.lexists(tmp_path / "other.pty")
        assert (tmp_path / "live.ctl").exists()                  # not deleted
        assert sim.ctl.status()["meters"][0]["name"] == "meter0"  # still served by the first
    finally:
        sim.check_clean_exit()


def test_periodic_save_only_when_something_changed(tmp_path):
    sim = Meter(tmp_path)
    path = tmp_path / "p.state"
    try:
        sim.start(args=["--pty", "m.pty", "--state", "p.state", "--seed", "5"])
        ctl = sim.ctl
        for phase in (1, 2, 3):
            ctl.set_load(phase, watts=0, pf=1.0)      # registers stand still
        deadline = time.time() + 8
        while not path.exists() and time.time() < deadline:
            time.sleep(0.2)
        assert path.exists(), "no save within 8 s of a change"
        first = path.stat().st_mtime_ns
        time.sleep(6.0)                               # one more period: nothing changed
        assert path.stat().st_mtime_ns == first
        ctl.set_load(1, watts=3000, pf=1.0)           # now the registers move
        deadline = time.time() + 8
        while path.stat().st_mtime_ns == first and time.time() < deadline:
            time.sleep(0.2)
        assert path.stat().st_mtime_ns != first, "no save within 8 s of a change"
        saved = json.loads(path.read_text())
        assert saved["model"]["loads"][0]["watts"] == 3000.0 and saved["model"]["loads"][0]["override"]
    finally:
        sim.check_clean_exit()
