"""Optical port (ANSI C12.18 over the IR probe, docs/optical.md) on mepsim's
transports, driven by the c1218 client helper.

Separate port (--optical-pty): a full session reading the tables the
guide's tasks name, with values equal to what the MEP side serves at the
same simulated instant; each response-code path; toggle-bit duplicates;
NAK and retransmission; the channel traffic timeout back to BASE; a BT07
write running the procedure like MEP does. Sharing the UART on Gen 2/3:
see test_optical_shared.py.
"""

import json
import time
from pathlib import Path

import pytest


from osgp_hil import c1218  # noqa: E402
from osgp_hil import mepframe  # noqa: E402
from osgp_hil.c1218 import ET, IAR, ISC, ISSS, OK, ONP, ERR, SNS  # noqa: E402
from osgp_hil.link import DEFAULT_SEQ, RawModule  # noqa: E402
from osgp_hil.paths import fixture_path  # noqa: E402

MK = b"OPTICAL-MK-000000001"
PK = b"OPTICAL-PK-000000001"
RK = b"OPTICAL-RK-000000001"


def profile_with(tmp_path, name="nes-3ph.json", **optical):
    """A copy of a fixture profile with keys merged into its "optical" object."""
    data = json.loads(Path(fixture_path("meters", name)).read_text())
    data.setdefault("optical", {}).update(optical)
    p = tmp_path / ("opt-" + name)
    p.write_text(json.dumps(data))
    return str(p)


@pytest.fixture
def optical(mepsim, tmp_path):
    """Factory: (sim, Meter on meter.pty, C1218Client on optical.pty)."""
    clients = []

    def start(*extra):
        sim = mepsim("--pty", "meter.pty", "--optical-pty", "optical.pty", "--seq-start", hex(DEFAULT_SEQ),
                     "--seed", "1", *extra)
        m = RawModule(sim)
        c = c1218.C1218Client.open(sim.pty("optical.pty"))
        clients.append(c)
        time.sleep(0.12)
        return sim, m, c

    yield start
    for c in clients:
        c.close()


def test_full_session_reads_what_mep_serves(optical):
    sim, m, c = optical()
    m.ctl.freeze_clock(True)   # same simulated instant for both sides
    code, ident = c.identify()
    assert code == OK
    # NES form: ok | 00 10 00 07 0F 11 + ET03 serial (30 ASCII) (docs/optical.md 3.3)
    assert ident[:6] == bytes([0x00, 0x10, 0x00, 0x07, 0x0F, 0x11]) and len(ident) == 36
    # termineter's Negotiate: 512 bytes, 2 packets, 9600 (docs/optical.md 3.3)
    code, neg = c.negotiate(512, 2, [6])
    assert code == OK and neg == bytes([0x02, 0x00, 0x02, 0x06])
    assert c.logon(7, "PYTEST")[0] == OK
    # Open tables without Security (docs/optical.md 4, checklist 5)
    for table in (0, 1, ET(3)):
        code, data = c.read(table)
        assert code == OK, table
        store = m.ctl.read_table(table)
        if table == 0:
            # BT00's write sets (its last BT00.13 + BT00.14 bytes) name what
            # each port lets a client write (docs/optical.md 3.3): the rest is the same
            data, store = data[:-(data[13] + data[14])], store[:-(store[13] + store[14])]
        assert data == store, "table %d differs between optical and the store" % table
    assert c.security(MK)[0] == OK
    for table in (23, 28, 21):
        code, opt = c.read(table)
        assert code == OK, table
        rsp = m.read(table)
        assert rsp.code == 0 and rsp.digest_ok
        assert opt == rsp.data, "table %d: optical %s != MEP %s" % (table, opt.hex(), rsp.data.hex())
    # BT01 and ET03 identical to the MEP side too
    assert c.read(1)[1] == m.read("BT01").data
    assert c.read(ET(3))[1] == m.read("ET03").data
    # partial read of BT23 equals the slice MEP serves
    code, part = c.read(23, 0, 8)
    assert code == OK and part == m.read("BT23", 0, 8).data
    assert c.logoff()[0] == OK
    assert c.terminate()[0] == OK
    st = m.ctl.request({"cmd": "optical"})
    assert st["state"] == "BASE" and st["shared"] is False
    assert st["counters"]["auth_ok"] == 1


def test_response_codes(optical):
    sim, m, c = optical()
    # wrong state: a read before Identify/Logon -> isss (docs/optical.md 3.5)
    assert c.read(1)[0] == ISSS
    assert c.identify()[0] == OK
    assert c.read(1)[0] == ISSS          # ID state: reads need a session
    assert c.logon()[0] == OK
    # no permission: BT23 needs a key (isc)
    assert c.read(23)[0] == ISC
    # wrong password: err, session kept, level unchanged (docs/optical.md 4)
    assert c.security(b"WRONG-PASSWORD-00000")[0] == ERR
    assert c.read(1)[0] == OK
    assert c.read(23)[0] == ISC
    # RK reads, but may not write ET51 (writable with MK/PK only)
    assert c.security(RK)[0] == OK
    assert c.read(23, 0, 8)[0] == OK
    assert c.write_table(ET(51), b"\x00", offset=0)[0] == ISC
    # unknown table: iar (G p.23)
    assert c.read(99)[0] == IAR
    assert c.read(ET(200))[0] == IAR
    # partial read running past the end: zero-filled, count = requested (G p.9)
    size = len(c.read(1)[1])
    code, data = c.read(1, size - 4, 10)
    assert code == OK and len(data) == 10 and data[4:] == bytes(6)
    # offset beyond the end: onp [E]
    assert c.read(1, size + 10, 4)[0] == ONP
    # a reply larger than 64 x 1 without Negotiate: onp
    assert c.read(23)[0] == ONP
    # index reads are not supported: sns
    assert c.service(bytes([0x31, 0, 1, 0, 0, 0, 4]))[0] == SNS
    # bad write cksum: err
    assert c.security(MK)[0] == OK
    assert c.write_table(ET(51), b"\x00", offset=0, bad_cksum=True)[0] == ERR
    assert c.terminate()[0] == OK
    ctr = m.ctl.request({"cmd": "optical"})["counters"]
    assert ctr["auth_fail"] == 1 and ctr["responses"]["isc"] >= 3


def test_toggle_duplicate_is_acked_not_executed(optical):
    sim, m, c = optical()
    c.session(MK)
    before = m.ctl.request({"cmd": "optical"})["counters"]["requests"]
    pkt = c1218.packet(bytes([0x3F, 0, 1, 0, 0, 0, 0, 8]), c.toggle)
    c.toggle ^= 1
    c.send_packet(pkt)
    _, _, first, _ = c.read_packet()
    assert first[0] == OK
    # the same packet again (same toggle and CRC): ACK, no second reply (docs/optical.md 2.4)
    c.send_packet(pkt)
    assert c.collect(0.4) == b""
    ctr = m.ctl.request({"cmd": "optical"})["counters"]
    assert ctr["duplicates"] == 1
    assert ctr["requests"] == before + 1
    # the next new packet is served normally
    assert c.read(1, 0, 4)[0] == OK


def test_nak_makes_the_meter_retransmit(optical):
    sim, m, c = optical()
    c.session(MK)
    c.send_acks = False
    c.send_packet(c1218.packet(bytes([0x3F, 0, 1, 0, 0, 0, 0, 8]), c.toggle))
    c.toggle ^= 1
    _, _, _, first = c.read_packet()
    c.write(bytes([c1218.NAK]))                 # reply garbled: NAK (docs/optical.md 2.5)
    _, _, _, again = c.read_packet()
    assert again == first                        # identical bytes, same toggle
    c.write(bytes([c1218.ACK]))
    c.send_acks = True
    assert c.collect(0.3) == b""                 # no further retransmission after the ACK
    ctr = m.ctl.request({"cmd": "optical"})["counters"]
    assert ctr["naks_rx"] == 1 and ctr["retransmits"] == 1


def test_bad_crc_gets_nak(optical):
    sim, m, c = optical()
    pkt = bytearray(c1218.packet(b"\x20"))
    pkt[-1] ^= 0xFF
    c.write(pkt)
    assert c.wait_ack() == c1218.NAK
    assert c.identify()[0] == OK


def test_channel_timeout_returns_to_base(optical, tmp_path):
    prof = profile_with(tmp_path, timing={"channel_timeout_ms": 700})
    sim, m, c = optical("--profile", prof)
    c.session(MK)
    assert c.read(1, 0, 4)[0] == OK
    time.sleep(1.2)                              # > 700 ms without a packet (docs/optical.md 3.5)
    assert c.read(1, 0, 4)[0] == ISSS            # back in BASE: reads are out of state
    st = m.ctl.request({"cmd": "optical"})
    assert st["state"] == "BASE" and st["counters"]["channel_timeouts"] >= 1
    c.session(MK)                                # a new session works
    assert c.read(1, 0, 4)[0] == OK


def test_bt07_write_runs_the_procedure(optical):
    sim, m, c = optical()
    before = m.ctl.counters()["procedures"]
    c.session(MK)
    # EP39 "scheduled read data + alarms" written to BT07 over optical goes
    # through the meter's procedure path (docs/optical.md 3.3, docs/mep.md 8.1)
    proc = mepframe.table_id("EP39") & 0x0FFF
    params = bytes([0x04, 0x01, 0x06, 0x00, 1, 2, 3, 4, 5, 6])
    code, _ = c.write_table(7, bytes([proc & 0xFF, proc >> 8, 0x05]) + params)
    assert code == OK
    assert m.ctl.counters()["procedures"] == before + 1
    code, res = c.read(8, 0, 4)              # the result is in BT08 (ET50.30 bit1 = 0)
    assert code == OK and res[0:3] == bytes([0x27, 0x08, 5]), res.hex()
    # the same call over MEP posts the same result code (no client registered here)
    assert m.procedure("EP39", 6, params).code == 0
    mep = m.read("BT08").data
    assert mep[0:3] == bytes([0x27, 0x08, 6]) and mep[3] == res[3], (mep.hex(), res.hex())


def test_gen4_has_no_shared_port_and_control_reports_it(mepsim):
    sim = mepsim("--pty", "meter.pty", "--profile", fixture_path("meters", "nes-3ph-fw4.json"))
    ctl = sim.control()
    with pytest.raises(Exception) as e:
        ctl.request({"cmd": "optical"})
    assert "no optical port" in str(e.value)


def test_optical_options_are_validated(tmp_path):
    import subprocess
    from osgp_hil.paths import mepsim_bin
    bad = profile_with(tmp_path, keys={"mk": "X" * 21})
    r = subprocess.run([mepsim_bin(), "--pty", str(tmp_path / "m.pty"), "--profile", bad],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "$.optical.keys.mk" in r.stderr
    r = subprocess.run([mepsim_bin(), "--pty", str(tmp_path / "m.pty"), "--optical-pty", str(tmp_path / "o"),
                        "--optical-uart", "/dev/null"], stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 2 and "--optical-pty" in r.stderr
