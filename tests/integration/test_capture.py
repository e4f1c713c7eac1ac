"""pcapng captures (mepsim --capture FILE.pcapng, capture/README.md), read
back by Wireshark's dissector (hil/wireshark/mep.lua, through tshark) and by
mepsim-decode.

One mepsim serves a MEP port and a separate optical port; the module reads
tables over MEP (plain and RC4-encrypted) and a C12.18 client runs an
optical session. The capture holds one interface per port and one packet
per frame; tshark names the fields (mep.table, mep.seq, mep.code,
c1218.service); mepsim-decode prints the exchanges as mepsim -v logs them.
mepsniff records a real exchange heard on two PTY pairs standing in for
the adapters on the module's and the meter's TX lines.
The field BT28 exchange of docs/module-behaviour.md 7 is a fixture
(fixtures/captures/field-bt28.pcapng) that must stay what the document
says and dissect to the document's values.

tshark tests skip with a reason when tshark is not installed
(ci/deps.sh installs it).
"""

import importlib.util
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest

from osgp_hil import c1218
from osgp_hil import mepframe, paths
from osgp_hil.link import DEFAULT_SEQ, RawModule

ROOT = Path(__file__).resolve().parents[2]
LUA = ROOT / "hil" / "wireshark" / "mep.lua"
FIELD_FIXTURE = ROOT / "fixtures" / "captures" / "field-bt28.pcapng"
MAKE_FIELD = ROOT / "fixtures" / "captures" / "make_field_bt28.py"
TSHARK = shutil.which("tshark")
needs_tshark = pytest.mark.skipif(TSHARK is None, reason="tshark is not installed "
                                  "(apt-get install tshark; ci/deps.sh installs it)")


def decode_bin():
    p = Path(paths.mepsim_bin()).parent / "mepsim-decode"
    if not p.is_file():
        pytest.fail(f"mepsim-decode not built next to mepsim ({p})", pytrace=False)
    return str(p)


def tshark_fields(capture, *fields):
    """One row per packet: the values of fields ("" when absent)."""
    argv = [TSHARK, "-n", "-X", f"lua_script:{LUA}", "-r", str(capture), "-T", "fields"]
    for f in fields:
        argv += ["-e", f]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "Lua: Error" not in r.stderr and "Error" not in r.stderr.replace("Running as", ""), r.stderr
    return [tuple(line.split("\t")) for line in r.stdout.splitlines()]


@pytest.fixture
def recorded(mepsim, tmp_path):
    """A capture of MEP reads and an optical session, with mepsim's -v log."""
    cap = tmp_path / "run.pcapng"
    sim = mepsim("--pty", "meter.pty", "--optical-pty", "optical.pty", "--seq-start", hex(DEFAULT_SEQ),
                 "--seed", "1", "--capture", str(cap), "-v")
    m = RawModule(sim, seq=DEFAULT_SEQ)
    time.sleep(0.12)
    assert m.read("BT28").code == 0
    assert m.read("BT23", 0, 8).code == 0
    assert m.read("BT01", encrypt=True).code == 0
    c = c1218.C1218Client.open(sim.pty("optical.pty"))
    try:
        assert c.identify()[0] == c1218.OK
        assert c.logon(2, "TEST")[0] == c1218.OK
        assert c.read(1)[0] == c1218.OK
        assert c.read(23)[0] == c1218.ISC          # no key: insufficient security clearance
        assert c.terminate()[0] == c1218.OK
    finally:
        c.close()
    time.sleep(0.2)
    return sim, cap


@needs_tshark
def test_wireshark_reads_mep_and_optical_fields(recorded):
    sim, cap = recorded
    rows = tshark_fields(cap, "frame.interface_id", "mep.table", "mep.seq", "mep.code", "mep.encrypted",
                         "c1218.service", "c1218.code", "c1218.crc_ok")
    mep = [r[1:5] for r in rows if r[0] == "0"]
    seq = DEFAULT_SEQ
    assert mep == [
        ("28", f"0x{seq:08x}", "", ""), ("", "", "0x00", ""),           # BT28 full read -> OK
        ("23", f"0x{seq + 1:08x}", "", ""), ("", "", "0x00", ""),       # BT23 partial read -> OK
        ("", "", "", "1"), ("", "", "", "1"),                            # encrypted request and reply
    ]
    optical = [(r[5], r[6], r[7]) for r in rows if r[0] == "1" and (r[5] or r[6])]
    assert optical == [
        ("0x20", "", "1"), ("", "0x00", "1"),     # identify -> ok
        ("0x50", "", "1"), ("", "0x00", "1"),     # logon -> ok
        ("0x30", "", "1"), ("", "0x00", "1"),     # full-read BT01 -> ok
        ("0x30", "", "1"), ("", "0x03", "1"),     # full-read BT23 -> isc
        ("0x21", "", "1"), ("", "0x00", "1"),     # terminate -> ok
    ]
    # each of the 10 packets is ACKed by the other side (docs/optical.md 2.3, 2.5)
    acks = [r for r in tshark_fields(cap, "c1218.ack") if r == ("0x06",)]
    assert len(acks) == len(optical)


@needs_tshark
def test_shared_uart_capture_tells_mep_from_c1218(mepsim, tmp_path):
    """A Gen 2/3 meter shares one UART between MEP and the optical port
    (docs/optical.md 6): one interface holds both, each frame dissected as
    what it is."""
    cap = tmp_path / "shared.pcapng"
    sim = mepsim("--pty", "meter.pty", "--seq-start", hex(DEFAULT_SEQ), "--seed", "1", "--capture", str(cap))
    m = RawModule(sim, seq=DEFAULT_SEQ)
    time.sleep(0.12)
    assert m.read("BT01").code == 0
    c = c1218.C1218Client(m.link.fd)
    assert c.identify()[0] == c1218.OK
    assert c.terminate()[0] == c1218.OK
    time.sleep(1.3)                     # the line returns to MEP once quiet (docs/optical.md 6)
    assert m.read("BT21").code == 0
    time.sleep(0.2)
    rows = tshark_fields(cap, "frame.interface_id", "mepsim.port", "mep.table", "c1218.service", "c1218.code")
    assert {r[0] for r in rows} == {"0"} and {r[1] for r in rows} == {"1"}
    assert [r[2] for r in rows if r[2]] == ["1", "21"]
    # the first packet after the switch is NAKed by the meter and sent again (docs/optical.md 6)
    assert [r[3] for r in rows if r[3]] == ["0x20", "0x20", "0x21"]
    assert [r[4] for r in rows if r[4]] == ["0x00", "0x00"]


def test_noise_is_recorded_as_raw_bytes(mepsim, tmp_path):
    """Bytes no receiver takes as a frame stay in the capture, as raw bytes."""
    cap = tmp_path / "noise.pcapng"
    sim = mepsim("--pty", "meter.pty", "--seq-start", hex(DEFAULT_SEQ), "--seed", "1", "--capture", str(cap))
    m = RawModule(sim, seq=DEFAULT_SEQ)
    time.sleep(0.12)
    m.link.send(bytes([0x7F, 0x80, 0x55]))
    time.sleep(0.15)                    # > 50 ms: the meter drops the garbage (docs/mep.md 4)
    assert m.read("BT01").code == 0
    time.sleep(0.2)
    r = subprocess.run([decode_bin(), str(cap)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    lines = [line.split(" ", 2)[2] for line in r.stdout.splitlines()]
    assert lines == ["-> raw 3 bytes: 7F 80 55", f"READ BT01 full seq=0x{DEFAULT_SEQ:08X} -> OK 24 bytes"]
    if TSHARK:
        assert [r[0] for r in tshark_fields(cap, "mepsim.frame")] == ["4", "1", "1"]


def _mep_lines(text):
    """Plaintext MEP exchanges of a -v log or a decode, as "REQUEST seq=...
    -> RESULT" without the key level the meter adds (MAK/MBK); encrypted
    ones ("enc") only the meter can read."""
    out = []
    for line in text.splitlines():
        m = re.search(r"((?:READ|WRITE|CALL) .* seq=0x[0-9A-F]{8})(?: (?:MAK|MBK))? (-> .*)$", line)
        if m:
            out.append(f"{m.group(1)} {m.group(2)}")
    return out


def test_decode_prints_what_the_v_log_shows(recorded):
    sim, cap = recorded
    r = subprocess.run([decode_bin(), str(cap)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    decoded = _mep_lines(r.stdout)
    assert decoded == _mep_lines(sim.stderr()), r.stdout
    assert len(decoded) == 2
    assert "RC4 request len=15 enc (not decrypted: no key) -> enc reply" in r.stdout
    optical = [line.split(" ", 2)[2] for line in r.stdout.splitlines() if " optical " in line]
    assert optical == ["optical identify -> ok", "optical logon user-id 2 -> ok",
                       "optical full-read BT01 -> ok 24 bytes", "optical full-read BT23 -> isc",
                       "optical terminate -> ok"]


def test_decode_refuses_what_is_not_a_capture(tmp_path):
    bad = tmp_path / "notes.pcapng"
    bad.write_text("not a capture\n")
    r = subprocess.run([decode_bin(), str(bad)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert str(bad) in r.stderr and "not a valid pcapng file" in r.stderr
    assert r.stdout == ""
    cut = tmp_path / "cut.pcapng"
    cut.write_bytes(FIELD_FIXTURE.read_bytes()[:-10])
    r = subprocess.run([decode_bin(), str(cut)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "runs past the end" in r.stderr
    r = subprocess.run([decode_bin(), str(tmp_path / "missing.pcapng")], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "cannot read" in r.stderr


def test_capture_to_an_unwritable_place_stops_mepsim(tmp_path):
    r = subprocess.run([paths.mepsim_bin(), "--pty", str(tmp_path / "m.pty"), "--capture",
                        str(tmp_path / "no-such-dir" / "x.pcapng"), "--exit-after", "1"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "--capture" in r.stderr and "no-such-dir" in r.stderr
    assert not (tmp_path / "m.pty").exists()
    r = subprocess.run([paths.mepsim_bin(), "--pty", str(tmp_path / "m.pty"), "--capture="],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "--capture" in r.stderr and "file name" in r.stderr


@needs_tshark
@pytest.mark.parametrize("direction,marked_dir", [("to-module", "2"), ("to-meter", "1")])
def test_flip_fault_is_marked(mepsim, tmp_path, direction, marked_dir):
    cap = tmp_path / "flip.pcapng"
    sim = mepsim("--pty", "meter.pty", "--seq-start", hex(DEFAULT_SEQ), "--seed", "1", "--capture", str(cap))
    m = RawModule(sim, seq=DEFAULT_SEQ)
    time.sleep(0.12)
    assert m.ctl.inject(f"flip rate=0.05 dir={direction} count=1") == "1"
    try:
        m.read("BT01")          # one exchange through the fault; the reply may not even parse
    except Exception:
        pass
    time.sleep(0.2)
    rows = tshark_fields(cap, "mepsim.direction", "mepsim.flags.fault", "frame.comment")
    marked = [r for r in rows if r[1] in ("1", "True")]
    assert [(r[0], r[2]) for r in marked] == [(marked_dir, "flip injected")], rows


def _fixture_writer():
    spec = importlib.util.spec_from_file_location("make_field_bt28", MAKE_FIELD)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@needs_tshark
def test_tls_records_go_to_the_tls_dissector(tmp_path):
    """A TLS_HANDSHAKE frame (docs/mep.md 3.5) carrying a real ClientHello."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    conn = ctx.wrap_bio(incoming, outgoing, server_hostname="meter")
    with pytest.raises(ssl.SSLWantReadError):
        conn.do_handshake()
    body = bytes([0x58]) + outgoing.read()
    w = _fixture_writer()
    cap = tmp_path / "tls.pcapng"
    cap.write_bytes(w.shb() + w.idb("meter0", "MEP") + w.epb(w.T0_US, w.TO_METER, len(body).to_bytes(2, "big") + body))
    rows = tshark_fields(cap, "mep.tls_code", "tls.record.content_type", "tls.handshake.type")
    assert rows == [("0x58", "22", "1")]     # handshake record, ClientHello


def _documented_exchanges():
    """(request, reply) byte pairs of docs/module-behaviour.md 7, read by the fixture's generator."""
    mod = _fixture_writer()
    return [(rq, rp) for rq, rp, _ in mod.exchanges((ROOT / "docs" / "module-behaviour.md").read_text())]


@needs_tshark
def test_field_bt28_fixture_dissects_to_the_documented_values():
    rows = tshark_fields(FIELD_FIXTURE, "mepsim.direction", "mep.length", "mep.table", "mep.seq", "mep.code",
                         "mep.count", "mep.digest", "mep.next_seq")
    (rq1, rp1), (rq2, rp2) = _documented_exchanges()
    be = int.from_bytes
    assert rows == [
        ("1", str(len(rq1) - 2), str(be(rq1[3:5], "big")), f"0x{be(rq1[7:11], 'big'):08x}", "", "512",
         rq1[-8:].hex(), ""),
        # BT28 reply: OK, count 220 = 55 values (docs/module-behaviour.md 7)
        ("2", str(len(rp1) - 2), "", "", "0x00", "220", rp1[-8:].hex(), ""),
        ("1", str(len(rq2) - 2), "28", f"0x{be(rq2[7:11], 'big'):08x}", "", "512", rq2[-8:].hex(), ""),
        # 0x0C: the next acceptable sequence number follows the code (docs/mep.md 3.4)
        ("2", str(len(rp2) - 2), "", "", "0x0c", "", rp2[-8:].hex(), f"0x{be(rp2[3:7], 'big'):08x}"),
    ]
    assert rows[0][2] == "28" and rows[1][5] == "220"


# ---- mepsniff: a real link sniffed on two adapters (two PTY pairs here) ----

def sniff_bin():
    p = Path(paths.mepsim_bin()).parent / "mepsniff"
    if not p.is_file():
        pytest.fail(f"mepsniff not built next to mepsim ({p})", pytrace=False)
    return str(p)


@pytest.fixture
def adapters():
    """Two PTY pairs standing in for the UART adapters on the module's and
    the meter's TX lines: (master fd to write the line's bytes, device path)."""
    pairs = [os.openpty() for _ in range(2)]
    yield [(m, os.ttyname(s)) for m, s in pairs]
    for m, s in pairs:
        os.close(m)
        os.close(s)


def _start_sniffer(argv, tmp_path):
    err = open(tmp_path / "mepsniff.err", "w+")
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, text=True)
    deadline = time.monotonic() + 10
    while "listening" not in (tmp_path / "mepsniff.err").read_text():
        assert proc.poll() is None, (tmp_path / "mepsniff.err").read_text()
        assert time.monotonic() < deadline, "mepsniff did not start"
        time.sleep(0.02)
    return proc


def test_mepsniff_records_a_module_meter_exchange(meter, adapters, tmp_path):
    (module_tx, module_dev), (meter_tx, meter_dev) = adapters
    cap = tmp_path / "sniffed.pcapng"
    proc = _start_sniffer([sniff_bin(), "--module-tx", module_dev, "--meter-tx", meter_dev, "-o", str(cap)],
                          tmp_path)
    # a real exchange with the emulated meter; the sniffer hears both TX lines
    req = mepframe.read("BT28", seq=meter.next_seq(), key=meter.key)
    os.write(module_tx, bytes(req))
    rsp = meter.link.exchange(req)
    assert rsp.code == 0 and rsp.digest_ok
    os.write(meter_tx, rsp.frame)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0, (tmp_path / "mepsniff.err").read_text()
    want = f"sniff READ BT28 full seq=0x{DEFAULT_SEQ:08X} -> OK {len(rsp.data)} bytes"
    assert any(line.endswith(want) for line in out.splitlines()), out
    # the same capture format as mepsim --capture
    r = subprocess.run([decode_bin(), str(cap)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and want in r.stdout, r.stdout + r.stderr
    if TSHARK:
        rows = tshark_fields(cap, "mepsim.direction", "mep.table", "mep.code")
        assert rows == [("1", "28", ""), ("2", "", "0x00")]


def test_mepsniff_refuses_a_missing_adapter(adapters, tmp_path):
    (_, module_dev), _ = adapters
    r = subprocess.run([sniff_bin(), "--module-tx", module_dev, "--meter-tx", str(tmp_path / "ttyUSB9"),
                        "-o", str(tmp_path / "x.pcapng")], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "ttyUSB9" in r.stderr
    assert not (tmp_path / "x.pcapng").exists()
    r = subprocess.run([sniff_bin(), "--module-tx", module_dev], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "--meter-tx" in r.stderr
