"""Malformed input on the line (docs/mep.md 3.1, 5.6): answered per policy or
dropped, never a crash or a hang, and the meter's state is intact after."""

import time

import pytest

from osgp_hil import mepframe
from osgp_hil.mepframe import OK, AUTH

BAD_INPUTS = {
    "short_frame": bytes.fromhex("00 03 30 00 01"),                          # body < 15
    "overlong_body": b"\x01\xDD" + bytes(477),                              # length 477 > 476
    "length_ffff": b"\xFF\xFF" + bytes(range(256)) * 2,
    "garbage": bytes((i * 37 + 11) & 0xFF for i in range(300)),
    "truncated_then_silence": bytes.fromhex("00 14 3F 00 17 00 00"),
    "client_zero_pair": b"\x00\x00" * 5,
    "max_body_random": b"\x01\xDC" + bytes((i * 13) & 0xFF for i in range(476)),
    "unknown_code": mepframe.raw_request(bytes([0x77, 0x00, 0x01]), seq=0).frame,
    "write_count_mismatch": mepframe.raw_request(bytes.fromhex("40 0832 0010 01"), seq=0).frame,
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_malformed_input_leaves_meter_working_and_state_intact(meter, name):
    m = meter
    for phase in (1, 2, 3):
        m.ctl.set_load(phase, watts=0)                      # registers must not move
    before = m.ctl.get()["registers"]
    e_before = m.ctl.status()["meters"][0]["e"]
    m.link.send(BAD_INPUTS[name])
    time.sleep(0.2)
    data = m.link.expect_silence(0.3)
    # whatever came back (if anything) is whole frames, never a crash
    assert m.sim.proc.poll() is None, "mepsim died on %s" % name
    while len(data) >= 2:
        n = (data[0] << 8) | data[1]
        assert len(data) >= n + 2, data.hex()
        data = data[n + 2:]
    assert data == b""
    st = m.ctl.status()["meters"][0]
    if name not in ("unknown_code", "write_count_mismatch"):
        assert st["e"] == e_before                            # no sequence number consumed
    m.seq = st["e"]
    rsp = m.read("BT23", 0, 8)
    assert rsp.code == OK and rsp.digest_ok
    assert mepframe.le32(rsp.data, 0) == before["fwd_wh"]
    assert m.ctl.get()["registers"] == before


def test_authenticated_unknown_request_code_gets_an_answer(meter):
    req = mepframe.raw_request(bytes([0x77, 0x00, 0x01]), seq=meter.next_seq(), key=meter.key)
    rsp = meter.link.exchange(req)
    assert rsp.code not in (OK, AUTH)                        # 0x01/0x02 per docs/mep.md 3.4
    assert rsp.digest_ok


def test_flood_of_garbage_does_not_hang_the_meter(meter):
    junk = bytes((i * 101 + 7) & 0xFF for i in range(20000))
    meter.link.send(junk)
    time.sleep(0.3)
    meter.link.drain()
    meter.seq = meter.ctl.status()["meters"][0]["e"]
    assert meter.read("BT52").code == OK
