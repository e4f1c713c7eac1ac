"""Energy and power as a module reads them (docs/mep.md 12.6, 12.8; control-socket truth)."""

import time

from osgp_hil.link import DEFAULT_SEQ, RawModule
from osgp_hil.mepframe import OK, le32

# nes-3ph: BT21 flags0 = 0 -> BT23 summation 0 (Fwd Wh) at 0, 1 (Rev Wh) at 4;
# no present demands -> BT28 value k at 4k (docs/module-behaviour.md 7).


def read_fwd_wh(m):
    rsp = m.read("BT23", 0, 8)
    assert rsp.code == OK and rsp.digest_ok
    return le32(rsp.data, 0)


def test_bt23_energy_grows_as_integral_of_bt28_power_over_sim_time(mepsim):
    sim = mepsim("--pty", "m.pty", "--seq-start", hex(DEFAULT_SEQ), "--speed", "100", "--seed", "3")
    m = RawModule(sim, "m.pty")
    for phase in (1, 2, 3):
        m.ctl.set_load(phase, watts=3000, pf=1.0)
    time.sleep(0.12)
    rsp = m.read("BT28")
    assert rsp.code == OK and rsp.digest_ok
    fwd_w = le32(rsp.data, 0)
    assert abs(fwd_w - 9000) <= 90, fwd_w           # BT28 value 0 = Fwd W L1L2L3
    t0 = m.ctl.get()["sim_time_ms"]
    e0 = read_fwd_wh(m)
    time.sleep(2.0)
    e1 = read_fwd_wh(m)
    t1 = m.ctl.get()["sim_time_ms"]
    sim_s = (t1 - t0) / 1000.0
    assert sim_s > 150, sim_s                        # --speed 100 really runs the clock fast
    expected = fwd_w * sim_s / 3600.0
    # generous: the two reads and the two control calls are a few ms (x100) apart
    assert abs((e1 - e0) - expected) <= 0.1 * expected + 2, (e0, e1, expected)


def test_control_get_matches_what_a_read_serves(meter):
    for phase in (1, 2, 3):
        meter.ctl.set_load(phase, watts=0, pf=1.0)   # freeze the registers
    truth = meter.ctl.get()
    rsp = meter.read("BT23", 0, 8)
    assert rsp.code == OK
    assert le32(rsp.data, 0) == truth["bt23"]["fwd_wh"] == truth["registers"]["fwd_wh"]
    assert le32(rsp.data, 4) == truth["bt23"]["rev_wh"]
    bt28 = meter.read("BT28")
    assert bt28.code == OK
    values = [le32(bt28.data, 4 * k) for k in range(len(bt28.data) // 4)]
    assert values[0] == truth["bt28"][0] == 0       # Fwd W after the loads were set to 0
    assert values[11] == truth["bt28"][11]          # frequency, mHz


def test_set_register_is_served_by_the_next_read(meter):
    for phase in (1, 2, 3):
        meter.ctl.set_load(phase, watts=0)
    meter.ctl.set_register("fwd_wh", 123456789)
    assert read_fwd_wh(meter) == 123456789
