"""mepsim's command line: errors name the problem and exit 2; -v logs."""

import os
import re
import time

import pytest

from fwfixtures import run_to_exit as run

from osgp_hil import mepframe
from osgp_hil.link import RawModule
from osgp_hil.paths import fixture_path, fixtures_dir, mepsim_bin
from osgp_hil.mepframe import OK

REPO_FIXTURES = fixtures_dir()




@pytest.mark.parametrize("args, needle", [
    (["--pty", "x.pty", "--bogus"], "--bogus"),
    (["--pty", "x.pty", "--speed", "fast"], "--speed"),
    (["--pty", "x.pty", "--seq-start", "0x1FFFFFFFF"], "--seq-start"),
    (["--pty", "x.pty", "--policy", "seq_reply=maybe"], "seq_reply"),
    (["--pty", "x.pty", "--policy", "no_such_policy=1"], "no_such_policy"),
    (["--pty", "x.pty", "--mak", "short"], "--mak"),
    (["--pty", "x.pty", "--start-time", "2026-13-01T00:00:00Z"], "--start-time"),
    (["--pty", "x.pty", "--format", "9Q1"], "--format"),
    (["--pty"], "--pty"),
    ([], "no transport"),
    (["--pty", "x.pty", "--uart", "/dev/null"], "only one"),
])
def test_bad_cli_flag_exits_2_naming_it(tmp_path, args, needle):
    if not os.path.exists(mepsim_bin()):
        pytest.fail("mepsim binary not found at %s" % mepsim_bin())
    r = run(args, tmp_path)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert needle in r.stderr, r.stderr
    assert not (tmp_path / "x.pty").exists()                # nothing left behind


def test_bad_profile_file_exits_2_naming_file_and_field(tmp_path):
    prof = tmp_path / "broken.json"
    prof.write_text('{"name": "x", "no_such_key": 1}')
    r = run(["--pty", "x.pty", "--profile", str(prof)], tmp_path)
    assert r.returncode == 2, r.stderr
    assert "broken.json" in r.stderr
    assert not (tmp_path / "x.pty").exists()


def test_bad_config_file_exits_2_with_json_path(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text('{"meters": [{"name": "a", "pty": "a.pty", "sped": 3}]}')
    r = run(["--config", str(cfg)], tmp_path)
    assert r.returncode == 2
    assert "meters[0].sped" in r.stderr and "c.json" in r.stderr


def test_pty_path_that_is_a_regular_file_is_not_overwritten(tmp_path):
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    r = run(["--pty", str(victim), "--exit-after", "1"], tmp_path)
    assert r.returncode != 0 and "not a symlink" in r.stderr
    assert victim.read_text() == "keep me"


def test_help_and_version_exit_0(tmp_path):
    r = run(["--help"], tmp_path)
    assert r.returncode == 0 and "--pty PATH" in r.stdout and "seq_reply" in r.stdout
    r = run(["--version"], tmp_path)
    assert r.returncode == 0 and r.stdout.startswith("mepsim ")


def test_exit_after_stops_cleanly_and_removes_the_symlink(tmp_path):
    r = run(["--pty", "e.pty", "--control", "e.sock", "--exit-after", "0.3"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert not os.path.lexists(tmp_path / "e.pty")
    assert not os.path.exists(tmp_path / "e.sock")


def test_sigterm_removes_the_pty_symlink(mepsim, tmp_path):
    sim = mepsim("--pty", "t.pty")
    assert os.path.islink(tmp_path / "t.pty")
    rc = sim.stop()
    assert rc == 0
    assert not os.path.lexists(tmp_path / "t.pty")


def test_verbose_log_shows_the_decoded_request(mepsim):
    sim = mepsim("-v", "--pty", "v.pty", "--seq-start", "0x77635B91")
    m = RawModule(sim, "v.pty", seq=0x77635B91)
    assert m.read("BT23", 0, 44).code == OK
    m.sim.stop()
    log = m.sim.stderr()
    line = re.search(r"^\d\d:\d\d:\d\d\.\d\d\d meter0 READ BT23 off=0 n=44 seq=0x77635B91 MAK -> OK 44 bytes$",
                     log, re.M)
    assert line, log


def test_very_verbose_log_has_hex_dumps(mepsim):
    sim = mepsim("-vv", "--pty", "v.pty", "--seq-start", "0x10")
    m = RawModule(sim, "v.pty", seq=0x10)
    req_hex = " ".join("%02X" % b for b in mepframe.read("BT52", seq=0x10).frame)
    assert m.read("BT52").code == OK
    m.sim.stop()
    assert req_hex in m.sim.stderr()


@pytest.mark.parametrize("profile", sorted(p.name for p in (REPO_FIXTURES / "meters").glob("*.json")))
def test_every_fixture_profile_starts(tmp_path, profile):
    prof = fixture_path("meters", profile)
    r = run(["--pty", "g.pty", "--profile", prof, "--exit-after", "0.2"], tmp_path)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("cfg", sorted(p.name for p in (REPO_FIXTURES / "configs").glob("*.json"))
                         if (REPO_FIXTURES / "configs").is_dir() else [])
def test_example_config_files_start(tmp_path, cfg):
    r = run(["--config", str(REPO_FIXTURES / "configs" / cfg), "--exit-after", "0.3"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "mepsim: ready" in r.stdout


def test_verbose_log_reports_line_events(mepsim):
    sim = mepsim("-v", "--pty", "v.pty", "--seq-start", "0x10")
    m = RawModule(sim, "v.pty", seq=0x10)
    m.link.send(bytes.fromhex("00 14 3F 00"))             # torn request
    time.sleep(0.15)
    m.link.send(b"\x00\x00")
    m.ctl.line("enable", False)
    time.sleep(0.1)
    m.sim.stop()
    log = m.sim.stderr()
    assert "partial request of 4 bytes discarded" in log
    assert "client sent 00 00" in log
    assert "line event: enable off" in log
