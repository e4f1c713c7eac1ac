"""Registration, the alert sequence and EP39 (docs/mep.md 10.2, 10.3, 8.3)."""

import time

from osgp_hil.mepframe import OK


def alert_times(link, duration):
    """Arrival times of `00 00` sequences on an otherwise idle line."""
    data, times = link.collect(duration)
    assert len(data) % 2 == 0 and set(data) <= {0}, data.hex()
    return [times[i] for i in range(0, len(data), 2)]


def test_registered_client_gets_alerts_about_once_per_second_until_ep39(meter):
    m = meter
    # register: ET50 byte 30 (MEP flags) := 01 (RC4 Example 2)
    assert m.write("ET50", bytes([0x01]), offset=30).code == OK
    st = m.ctl.status()["meters"][0]
    assert st["registered"] is True and st["handle"] >= 1000
    assert m.ctl.alert(flags=0x01)["alert_pending"] is True
    ts = alert_times(m.link, 3.3)
    assert 2 <= len(ts) <= 4, ts
    gaps = [b - a for a, b in zip(ts, ts[1:])]
    assert all(0.85 <= g <= 1.5 for g in gaps), gaps    # once per second (docs/mep.md 4)
    # EP39 "scheduled read data + alarms" as the reference module posts it (module-behaviour A4)
    params = bytes([0x04, 0x01, 0x06, 0x00, 1, 2, 3, 4, 5, 6])
    rsp = m.procedure("EP39", 5, params)
    assert rsp.code == OK and rsp.digest_ok
    res = m.read("BT08")                                 # ET50.30 bit1 = 0 -> BT08 (docs/mep.md 8.1)
    assert res.code == OK
    assert res.data[0:3] == bytes([0x27, 0x08, 5]) and res.data[3] == 0, res.data.hex()
    assert m.ctl.status()["meters"][0]["alert_flags"] & 0x01 == 0
    time.sleep(0.2)
    m.link.drain()
    assert alert_times(m.link, 2.2) == []               # alerts stopped
    assert m.ctl.counters()["line"]["alerts"] >= 2


def test_unregistered_client_gets_no_alerts(meter):
    meter.ctl.alert(flags=0x01)
    assert meter.ctl.status()["meters"][0]["registered"] is False
    assert meter.link.expect_silence(1.5) == b""


def test_no_alert_within_one_second_of_a_received_request(meter):
    m = meter
    assert m.write("ET50", bytes([0x01]), offset=30).code == OK
    m.ctl.alert(flags=0x01)
    alert_times(m.link, 1.2)                             # let the first alert pass
    for _ in range(4):                                   # a request every ~0.45 s
        rsp = m.read("BT52")
        assert rsp.code == OK
        data = m.link.expect_silence(0.4)
        assert data == b"", "alert within 1 s of a request: %s" % data.hex()
    assert alert_times(m.link, 1.3) != []                # and they resume afterwards
