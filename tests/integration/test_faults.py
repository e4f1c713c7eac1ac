"""Line faults through the control socket's fault-set commands (inject, clear,
fault_status; sim_fault on the port's line hooks)."""

import time

import pytest

from osgp_hil import mepframe
from osgp_hil.mepframe import OK
from osgp_hil.mepsim_control import MepsimControlError


def test_truncate_fault_cuts_one_reply_then_wears_off(meter):
    fid = meter.ctl.inject("truncate len=5 count=1")
    assert int(fid) > 0
    req = mepframe.read("BT52", seq=meter.next_seq(), key=meter.key)
    meter.link.send(req.frame)
    data, _ = meter.link.collect(0.3)
    assert len(data) == 5 and data[:2] == b"\x00\x12"      # first 5 bytes of the 20-byte reply
    time.sleep(0.06)
    assert meter.read("BT52").code == OK                  # count=1: worn off
    lst = meter.ctl.fault_status()
    assert lst["injected"]["truncate"] == 1 and lst["active"] == 0


def test_silence_to_module_until_stopped(meter):
    meter.ctl.inject("silence dir=to-module")
    req = mepframe.read("BT52", seq=meter.next_seq(), key=meter.key)
    meter.link.send(req.frame)
    assert meter.link.expect_silence(0.3) == b""
    assert meter.ctl.status()["meters"][0]["e"] == req.seq + 1   # the meter heard and answered
    assert meter.ctl.clear("silence") == "cleared 1"
    assert meter.read("BT52").code == OK


def test_bad_fault_spec_is_refused(meter):
    with pytest.raises(MepsimControlError, match="fault"):
        meter.ctl.inject("teleport p=1")
    with pytest.raises(MepsimControlError, match="unknown fault or glitch"):
        meter.ctl.clear("teleport")
    assert meter.ctl.fault_status()["active"] == 0


def test_latched_transceiver_sends_noise_until_a_long_power_cycle(meter):
    """S09 garbage mode: the latched output drives noise toward the module
    on its own (here 200 bytes/s of 0x55), not only garbles replies; a
    transceiver power cycle of >= off ms clears the latch-up and the line is
    quiet again (docs/module-behaviour.md 6)."""
    meter.ctl.inject("latchup off=300 by=power noise=200 pattern=0x55")
    data, _ = meter.link.collect(1.0)
    assert 150 <= len(data) <= 260, len(data)              # 200 bytes/s, scheduling slack
    assert set(data) == {0x55}
    assert meter.ctl.fault_status()["noise_bytes"] >= len(data)
    meter.ctl.line("transceiver", False)
    time.sleep(0.1)
    meter.link.collect(0.05)                               # what was on the wire at the switch
    assert meter.link.expect_silence(0.3) == b""           # transceiver off: nothing is driven
    time.sleep(0.1)                                        # off >= 300 ms in total
    meter.ctl.line("transceiver", True)
    st = meter.ctl.fault_status()
    assert st["latched"] is False and st["latchups_cleared"] == 1
    assert meter.link.expect_silence(0.4) == b""
    time.sleep(0.06)
    assert meter.read("BT52").code == OK


def test_latch_up_noise_parameters_are_checked(meter):
    with pytest.raises(MepsimControlError, match="noise"):
        meter.ctl.inject("latchup noise=5000")
    with pytest.raises(MepsimControlError, match="random"):
        meter.ctl.inject("latchup pattern=0x12")
    with pytest.raises(MepsimControlError, match="noise"):
        meter.ctl.inject("flip noise=10")
    assert meter.ctl.fault_status()["active"] == 0
