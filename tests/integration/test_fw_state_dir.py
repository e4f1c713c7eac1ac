"""mepmod --state-dir keeps the published energy floor across restarts
(firmware/host/host_state.h, firmware/README.md "Energy floor"): restarting
mepmod (SIGTERM or kill -9), mepsim (which starts again from its profile, so
its registers go back) or both never makes the published energy fall, and
nothing jumps without Energy_Suspect. A floor saved for another meter is
ignored with a log line; a corrupt state file or a bad directory is exit 2
before anything starts.
"""

import json
import signal
import struct
import subprocess
import time
import zlib
from pathlib import Path

import pytest

from fwfixtures import (MBK, control, free_port, http_get, model_truth, rig,  # noqa: F401
                        run_mepsim, wait_for)
from osgp_hil import paths

HIGH = 2_000_000   # set on the first meter: a restarted mepsim goes back to its profile's 1 234 567


def mepmod_bin():
    b = paths.binary_or_none("mepmod")
    if b is None:
        pytest.skip("mepmod not built (set MEPMOD_BIN)")
    return str(b)


class Mod:
    """mepmod as a plain process, so a test can kill -9 it."""

    def __init__(self, tmp, pty, port, ctl, state_dir, n):
        self.log = Path(tmp) / f"mepmod-{n}.log"
        self.p = subprocess.Popen(
            [mepmod_bin(), "--port", str(pty), "--mbk", MBK, "--http-port", str(port),
             "--control", str(ctl), "--state-dir", str(state_dir)],
            stdout=subprocess.DEVNULL, stderr=open(self.log, "wb"))

    def text(self):
        return self.log.read_text(errors="replace")

    def stop(self, sig=signal.SIGTERM):
        if self.p.poll() is None:
            self.p.send_signal(sig)
        return self.p.wait(10)


def dash(port):
    try:
        st, _, body = http_get(port, "/getDashDataWS", timeout=2.0)
    except OSError:
        return None, None
    try:
        return st, json.loads(body)
    except ValueError:
        return st, None


class Watch:
    """Every contract document seen, in order (status codes ignored, 8.4)."""

    def __init__(self, port):
        self.port = port
        self.docs = []

    def poll(self, seconds, interval=0.25):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            st, doc = dash(self.port)
            if doc is not None:
                assert st == 200 and "Fwd_Act_Wh" in doc, (st, doc)
                self.docs.append(doc)
            time.sleep(interval)

    def until_ready(self, timeout=40):
        end = time.monotonic() + timeout
        n = len(self.docs)
        while time.monotonic() < end:
            self.poll(0.5)
            if len(self.docs) > n:
                return self.docs[-1]
        raise AssertionError(f"no document within {timeout} s")


def test_restart_matrix_published_energy_never_falls(rig):  # noqa: F811
    state = rig.tmp / "state"
    state.mkdir()
    sim, pty, ctl = run_mepsim(rig.tmp)
    with control(ctl) as c:
        c.set_register("fwd_wh", HIGH)
    port = free_port()
    w = Watch(port)
    mods = []

    def start_mod():
        m = Mod(rig.tmp, pty, port, ctl, state, len(mods))
        mods.append(m)
        wait_for(lambda: dash(port)[0] is not None, 10, "mepmod HTTP", interval=0.1)
        return m

    try:
        mod = start_mod()
        w.until_ready()
        w.poll(7)                                   # > one 5 s save period
        assert (state / "mepmod-floor.state").is_file()
        published_before = max(d["Fwd_Act_Wh"] for d in w.docs)

        # 1. mepmod restarted cleanly: the floor as published at exit
        assert mod.stop() == 0
        mod = start_mod()
        assert "energy floor loaded" in mod.text()
        w.until_ready()
        w.poll(3)

        # 2. mepsim restarted from its profile: its registers go back
        assert sim.stop() == 0
        sim, pty2, ctl = run_mepsim(rig.tmp)
        assert pty2 == pty
        w.poll(12)

        # 3. mepmod killed (no exit save) and restarted against the lower meter
        mod.stop(signal.SIGKILL)
        mod = start_mod()
        w.until_ready()
        w.poll(4)

        # 4. both: kill -9 mepmod, restart mepsim, start mepmod
        mod.stop(signal.SIGKILL)
        assert sim.stop() == 0
        sim, _, ctl = run_mepsim(rig.tmp)
        mod = start_mod()
        w.until_ready()
        w.poll(4)
        with control(ctl) as c:
            truth = model_truth(c)["fwd_wh"]
        assert truth < published_before, "the restarted meter should be below what was published"
        assert mod.stop() == 0
    finally:
        for m in mods:
            m.stop(signal.SIGKILL)
        sim.stop()

    fwd = [d["Fwd_Act_Wh"] for d in w.docs]
    falls = [(a, b) for a, b in zip(fwd, fwd[1:]) if b < a]
    assert not falls, f"published energy fell: {falls[:5]}"
    assert fwd[-1] >= published_before
    # unflagged documents follow the meter (published values lag by at most
    # one 5 s save period: a few Wh at this load)
    unflagged = [(d["Fwd_Act_Wh"], d["Raw_Fwd_Act_Wh"]) for d in w.docs
                 if not d["Energy_Suspect"] and not 0 <= d["Raw_Fwd_Act_Wh"] - d["Fwd_Act_Wh"] <= 20]
    assert not unflagged, unflagged[:2]
    assert w.docs[-1]["Energy_Suspect"], "the floor is held while the meter is below it"


def _blob(serial, fwd, rev):
    """The core's store blob (firmware/core/mepc_private.h mepc_store_blob, little-endian host)."""
    return struct.pack("<II32sqq", 0x4D455043, 1, serial.encode(), fwd, rev)


def _state_text(blob):
    return f"mepmod-floor 1\nblob {blob.hex()}\ncrc32 {zlib.crc32(blob):08x}\n"


def test_floor_for_another_meter_is_ignored_with_a_log_line(rig):  # noqa: F811
    state = rig.tmp / "state"
    state.mkdir()
    (state / "mepmod-floor.state").write_text(_state_text(_blob("SOME-OTHER-METER", 9_000_000, 0)))
    sim, pty, ctl = run_mepsim(rig.tmp)
    port = free_port()
    mod = Mod(rig.tmp, pty, port, ctl, state, 0)
    w = Watch(port)
    try:
        wait_for(lambda: dash(port)[0] is not None, 10, "mepmod HTTP", interval=0.1)
        doc = w.until_ready()
        with control(ctl) as c:
            truth = model_truth(c)["fwd_wh"]
        assert doc["Fwd_Act_Wh"] <= truth < 9_000_000
        assert not doc["Energy_Suspect"]
        assert "SOME-OTHER-METER" in mod.text() and "ignored" in mod.text()
    finally:
        mod.stop()
        sim.stop()


@pytest.mark.parametrize("content, problem", [
    ("garbage\n", "first line"),
    ("mepmod-floor 1\nblob 00zz\ncrc32 00000000\n", "blob"),
    (None, "CRC mismatch"),
])
def test_corrupt_state_file_is_exit_2_and_nothing_starts(rig, content, problem):  # noqa: F811
    state = rig.tmp / "state"
    state.mkdir()
    if content is None:
        good = _state_text(_blob("X", 1, 2))
        content = good.replace("blob 43", "blob 44")   # one bit of the magic changed, CRC kept
    (state / "mepmod-floor.state").write_text(content)
    port = free_port()
    r = subprocess.run([mepmod_bin(), "--port", str(rig.tmp / "none.pty"), "--mbk", MBK,
                        "--http-port", str(port), "--state-dir", str(state)],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2, r
    assert "mepmod-floor.state" in r.stderr and problem in r.stderr, r.stderr
    assert dash(port) == (None, None), "nothing may listen after a start-up error"
    assert (state / "mepmod-floor.state").read_text() == content, "the file is left as it was"


def test_state_dir_must_be_an_existing_directory(rig):  # noqa: F811
    r = subprocess.run([mepmod_bin(), "--port", str(rig.tmp / "none.pty"), "--mbk", MBK,
                        "--state-dir", str(rig.tmp / "missing")], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "--state-dir" in r.stderr and "missing" in r.stderr, r
