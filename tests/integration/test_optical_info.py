"""termineter-style get_info over the optical port, with the project's own
C12.18 client (hil/osgp_hil/c1218.py) on mepsim's optical PTY.

What a probe's get_info / alarm handling needs (docs/optical.md 5 and 7):
BT00 readable without a key and its write sets naming what THIS port lets a
client write (BT07 and ET51 by default, docs/optical.md 3.3: not the MEP
rights), BT01, BT03 (mode and status) with the invalid-password alarm (offset
5 bit 0) set by a bad password (docs/optical.md 4), BT05 exactly 10 bytes
(docs/optical.md 7.9). The alarm is latched: a later good password leaves it
(BT03 needs a key, so a client could never see it otherwise); C12.19
standard procedure 8 "clear manufacturer status flags" written to BT07
clears it, its result in BT08 (the guide names no clearing service,
docs/optical.md 10; simulator/mep/sim_proc.h).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from osgp_hil import c1218  # noqa: E402
from osgp_hil.c1218 import ERR, ET, OK  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
MK = b"OPTICAL-MK-000000001"          # fixtures/meters/nes-3ph.json optical keys
RK = b"OPTICAL-RK-000000001"


def mepsim_bin():
    return os.environ.get("MEPSIM_BIN", str(ROOT / "build" / "simulator" / "mepsim"))


@pytest.fixture
def probe(tmp_path):
    """A C1218Client on a default meter's separate optical PTY (nes-3ph)."""
    p = subprocess.Popen([mepsim_bin(), "--pty", "meter.pty", "--optical-pty", "optical.pty", "--seed", "1",
                          "--profile", str(ROOT / "fixtures" / "meters" / "nes-3ph.json")],
                         cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in p.stdout:
        if line.startswith("mepsim: ready"):
            break
    else:
        pytest.fail("mepsim did not start: %s" % p.stderr.read())
    c = c1218.C1218Client.open(str(tmp_path / "optical.pty"))
    yield c
    c.close()
    p.terminate()
    _, err = p.communicate(timeout=10)
    assert p.returncode == 0, err[-2000:]
    assert "Sanitizer" not in err, err


def bit(data, i):
    return bool(data[i // 8] >> (i % 8) & 1)


def bt00_write_sets(bt00):
    a, e = bt00[13], bt00[14]
    wr = 19 + a + e + bt00[15] + bt00[16]
    assert len(bt00) == wr + a + e
    std, mfg = bt00[wr:wr + a], bt00[wr + a:wr + a + e]
    return ({i for i in range(8 * a) if bit(std, i)}, {i for i in range(8 * e) if bit(mfg, i)})


def invalid_password_alarm(c):
    code, bt03 = c.read(3)
    assert code == OK
    return bool(bt03[5] & 1)


def test_get_info_reads_bt00_bt01_bt03_bt05(probe):
    c = probe
    assert c.identify()[0] == OK
    assert c.negotiate(512, 2, [6])[0] == OK          # termineter's Negotiate
    assert c.logon(2, "GETINFO")[0] == OK
    code, bt00 = c.read(0)                            # open: no key yet (docs/optical.md 7.5)
    assert code == OK
    std, mfg = bt00_write_sets(bt00)
    assert (std, mfg) == ({7}, {51})                  # what the optical port lets a client write
    assert c.security(RK)[0] == OK
    code, bt01 = c.read(1)
    assert code == OK and len(bt01) == 24
    assert bt01[:4] in (b"NES ", b"ELON")
    assert all(b < 0x80 for b in bt01[16:24])          # BCD serial decodes as UTF-8 (7.9)
    code, bt03 = c.read(3)
    assert code == OK and len(bt03) == 4 + bt00[17]    # BT00.17 matches the BT03 served (11.3)
    code, bt05 = c.read(5)
    assert code == OK and len(bt05) == 10              # exactly 10 bytes (7.9)
    code, _ = c.read(ET(3))
    assert code == OK


def test_bad_password_sets_the_alarm_and_sp08_clears_it(probe):
    c = probe
    c.session()
    assert c.security(b"not-the-password-xxx")[0] == ERR
    assert c.security(MK)[0] == OK
    assert invalid_password_alarm(c)                   # set, and latched past the good password
    assert c.write_table(7, bytes([0x08, 0x00, 0x31]))[0] == OK   # SP08, PSN 0x31
    code, bt08 = c.read(8)
    assert code == OK and bytes(bt08[:4]) == bytes([0x08, 0x00, 0x31, 0x00])   # completed
    assert not invalid_password_alarm(c)


def test_read_only_key_cannot_clear_the_alarm(probe):
    c = probe
    c.session()
    assert c.security(b"wrong-wrong-wrong-ww")[0] == ERR
    assert c.security(RK)[0] == OK
    code, _ = c.write_table(7, bytes([0x08, 0x00, 0x32]))
    assert code != OK                                  # RK writes nothing (docs/optical.md 4)
    assert invalid_password_alarm(c)
