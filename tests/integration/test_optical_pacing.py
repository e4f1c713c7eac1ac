"""The optical port paces its replies at the line rate (docs/optical.md 1).

A meter's optical port sends 10 bit times per byte (8N1) at 9600 bit/s until
a Negotiate changes the rate; the emulator's optical replies go through the
same device code as the MEP port (simulator/io/sim_serial) and leave paced.
ET16 (2,585 bytes, tests/unit/test_tables.c) plus packet framing takes
2,585 x 10 / 9600 = 2.69 s at 9600: the bound below (2.6 s) leaves 3 % for
the pacer writing each byte up to 1 ms early. Upper bounds are generous
(a loaded CI machine is slow, never fast).
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from osgp_hil import c1218  # noqa: E402
from osgp_hil.c1218 import ET, OK  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
MK = b"OPTICAL-MK-000000001"
ET16_BYTES = 2585


def mepsim_bin():
    return os.environ.get("MEPSIM_BIN", str(ROOT / "build" / "simulator" / "mepsim"))


@pytest.fixture
def optical_meter(tmp_path):
    """Factory: a mepsim with a separate optical PTY; returns a C1218Client."""
    procs, clients = [], []

    def start(bauds=None):
        data = json.loads((ROOT / "fixtures" / "meters" / "nes-3ph.json").read_text())
        if bauds:
            data.setdefault("optical", {})["bauds"] = bauds
        prof = tmp_path / "pacing-profile.json"
        prof.write_text(json.dumps(data))
        p = subprocess.Popen([mepsim_bin(), "--pty", "meter.pty", "--optical-pty", "optical.pty", "--profile",
                              str(prof), "--seed", "1"], cwd=str(tmp_path), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        procs.append(p)
        for line in p.stdout:
            if line.startswith("mepsim: ready"):
                break
        else:
            pytest.fail("mepsim did not start: %s" % p.stderr.read())
        c = c1218.C1218Client.open(str(tmp_path / "optical.pty"), reply_timeout=10.0)
        clients.append(c)
        return c

    yield start
    for c in clients:
        c.close()
    for p in procs:
        p.terminate()
        _, err = p.communicate(timeout=10)
        assert "Sanitizer" not in err, err


def timed_et16_read(c):
    t0 = time.monotonic()
    code, data = c.read(ET(16))
    return code, data, time.monotonic() - t0


def test_et16_at_9600_takes_its_wire_time(optical_meter):
    c = optical_meter()
    assert c.identify()[0] == OK
    code, neg = c.negotiate(1024, 4, [6])
    assert code == OK
    assert c.logon(7, "PACING")[0] == OK
    assert c.security(MK)[0] == OK
    code, data, took = timed_et16_read(c)
    assert code == OK and len(data) == ET16_BYTES
    assert took >= 2.6, "2,585 bytes at 9600 8N1 arrived in %.3f s (wire time 2.69 s)" % took
    assert took < 15.0


def test_negotiated_rate_paces_what_follows(optical_meter):
    c = optical_meter(bauds=[6, 8])   # 9600 and 19200 (docs/optical.md 1 baud codes)
    assert c.identify()[0] == OK
    code, neg = c.negotiate(1024, 4, [8])
    assert code == OK and neg[-1] == 8
    time.sleep(0.05)                  # the new rate applies once our ACK of that reply arrived
    assert c.logon(7, "PACING")[0] == OK
    assert c.security(MK)[0] == OK
    code, data, took = timed_et16_read(c)
    assert code == OK and len(data) == ET16_BYTES
    # 2,585 bytes at 19200: 1.35 s; clearly faster than 9600 (2.69 s)
    assert 1.3 <= took < 2.4, "ET16 at 19200 took %.3f s" % took
