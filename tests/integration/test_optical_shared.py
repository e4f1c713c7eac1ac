"""Gen 2/3 shared UART (docs/optical.md 6): one line for MEP and the optical port.

The first 0xEE at a MEP frame boundary switches the line to optical and that
packet gets a NAK; during the optical session MEP requests get no answer;
after Terminate (or a timeout) the line returns to MEP; 0xEE bytes inside a
MEP frame never switch it; the D.O.S. timer ends long sessions; the control
socket's simulated probe (optical_session) occupies the line for N seconds.
"""

import json
import time
from pathlib import Path

import pytest


from osgp_hil import c1218  # noqa: E402
from osgp_hil import mepframe  # noqa: E402
from osgp_hil.c1218 import OK  # noqa: E402
from osgp_hil.link import DEFAULT_SEQ, LinkTimeout, RawModule  # noqa: E402
from osgp_hil.paths import fixture_path  # noqa: E402

MK = b"OPTICAL-MK-000000001"


@pytest.fixture
def shared(mepsim, tmp_path):
    def start(profile=None, **optical):
        args = ["--pty", "meter.pty", "--seq-start", hex(DEFAULT_SEQ), "--seed", "1"]
        if profile or optical:
            data = json.loads(Path(fixture_path("meters", profile or "nes-3ph.json")).read_text())
            data.setdefault("optical", {}).update(optical)
            p = tmp_path / "shared-profile.json"
            p.write_text(json.dumps(data))
            args += ["--profile", str(p)]
        sim = mepsim(*args)
        m = RawModule(sim)
        time.sleep(0.12)
        return sim, m, c1218.C1218Client(m.link.fd)
    return start


def mep_silent(m, table="BT01", wait=0.6):
    """A MEP request that gets no answer at all."""
    req = mepframe.read(table, seq=m.next_seq())
    m.link.send(req.frame)
    data, _times = m.link.collect(wait)
    return data


def test_optical_session_blocks_mep_and_releases_after_terminate(shared):
    sim, m, c = shared()
    assert m.read("BT01").code == 0                    # MEP works before
    ident = c.session(MK)
    assert c.naks == 1                                 # the switch garbles the first packet (6)
    assert ident[:1] == b"\x00"
    # MEP request during the optical session: no answer (the optical side
    # hunts past it); the sequence number it used is now lost for the meter
    assert mep_silent(m) == b""
    code, bt23 = c.read(23, 0, 8)
    assert code == OK and len(bt23) == 8
    st = m.ctl.request({"cmd": "optical"})
    assert st["shared"] is True and st["holds_line"] is True and st["state"] == "SESSION"
    assert c.terminate()[0] == OK
    time.sleep(1.3)                                    # the line returns to MEP once quiet (1 s hold)
    st = m.ctl.request({"cmd": "optical"})
    assert st["holds_line"] is False and st["counters"]["line_switches"] == 1
    rsp = m.read("BT01")
    # the request sent during the session never reached the meter, so E did
    # not move: our counter is one ahead, which the window accepts (docs/mep.md 5.5)
    assert rsp.code == 0 and rsp.digest_ok


def test_0xee_inside_a_mep_frame_does_not_switch(shared):
    sim, m, c = shared()
    # find a request whose frame carries 0xEE (in its digest) after byte 0
    seq = m.next_seq()
    for off in range(24):
        for cnt in range(1, 25 - off):
            req = mepframe.read("BT01", off, cnt, seq=seq)
            if 0xEE in req.frame[1:]:
                break
        else:
            continue
        break
    else:
        pytest.skip("no frame with 0xEE found")
    rsp = m.link.exchange(req)
    assert rsp.code == 0 and rsp.digest_ok
    assert m.ctl.request({"cmd": "optical"})["counters"]["line_switches"] == 0


def test_dos_timer_closes_long_session_and_holds_off(shared):
    sim, m, c = shared(dos={"enabled": True, "session_s": 1, "holdoff_s": 2})
    c.session(MK)
    assert c.read(1, 0, 4)[0] == OK
    time.sleep(1.3)                                    # older than session_s: closed (docs/optical.md 3.5, 6)
    st = m.ctl.request({"cmd": "optical"})
    assert st["state"] == "BASE" and st["counters"]["dos_closes"] == 1
    # optical packets are ignored during the hold-off: no ACK, no NAK
    c.write(c1218.packet(b"\x20"))
    assert c.collect(0.5) == b""
    time.sleep(1.2)                                    # line quiet: back to MEP
    assert m.read("BT01").code == 0


def test_simulated_probe_occupies_the_line(shared):
    sim, m, c = shared()
    assert m.read("BT01").code == 0
    st = m.ctl.request({"cmd": "optical_session", "action": "start", "seconds": 1.5})
    assert st["probe"] is True and st["holds_line"] is True
    # MEP gets no answer; the meter's optical replies to the probe are on the wire
    wire = mep_silent(m, wait=0.9)
    assert wire and wire.count(bytes([0x06, 0xEE])) >= 1, wire.hex()
    assert not wire.startswith(b"\x00"), "a MEP reply went out during the probe session"
    # a second start is refused while one runs
    with pytest.raises(Exception):
        m.ctl.request({"cmd": "optical_session", "action": "start", "seconds": 1})
    time.sleep(0.9)
    m.link.drain(0.1)
    st = m.ctl.request({"cmd": "optical"})
    assert st["probe"] is False and st["counters"]["probe_sessions"] == 1
    assert st["counters"]["mep_bytes_blocked"] > 0
    assert m.read("BT01").code == 0                    # MEP back


def test_probe_stop_and_bad_requests(shared):
    sim, m, c = shared()
    m.ctl.request({"cmd": "optical_session", "action": "start", "seconds": 60, "echo": False})
    assert mep_silent(m, wait=0.4) == b""              # echo off: nothing on the wire at all
    st = m.ctl.request({"cmd": "optical_session", "action": "stop"})
    assert st["stopped"] is True and st["probe"] is False
    time.sleep(0.1)
    assert m.read("BT01").code == 0
    for bad in ({"cmd": "optical_session", "action": "start"},
                {"cmd": "optical_session", "action": "start", "seconds": 0},
                {"cmd": "optical_session", "action": "jump"},
                {"cmd": "optical_session", "action": "start", "seconds": 1, "bogus": 1}):
        with pytest.raises(Exception):
            m.ctl.request(bad)
    assert m.ctl.request({"cmd": "optical"})["probe"] is False


def test_scenario_optical_step_runs_a_probe_session(mepsim, tmp_path):
    scen = json.loads(Path(fixture_path("scenarios", "s35-optical-session.json")).read_text())
    scen["profile"] = fixture_path("meters", "nes-3ph.json")
    scen["timeline"] = [{"at": 0.3, "optical": {"seconds": 1.5}}, {"at": 5, "end": True}]
    p = tmp_path / "s35-short.json"
    p.write_text(json.dumps(scen))
    sim = mepsim("--pty", "meter.pty", "--scenario", str(p), "--seq-start", hex(DEFAULT_SEQ))
    m = RawModule(sim)
    time.sleep(0.6)
    st = m.ctl.request({"cmd": "optical"})
    assert st["probe"] is True and st["holds_line"] is True
    assert mep_silent(m, wait=0.5)                     # optical replies only, no MEP answer
    time.sleep(1.2)
    m.link.drain(0.1)
    assert m.ctl.request({"cmd": "optical"})["probe"] is False
    assert m.read("BT01").code == 0
    assert "optical probe session 1.5 s" in sim.stderr()
