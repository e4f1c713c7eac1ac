"""Cloning a meter into a profile (simulator/mepsim-profile, fixtures/meters/README.md
"Cloned profiles"), round trip by each route.

A source mepsim serves a shipped profile; the meter is cloned live over the
optical port (password), live over MEP (MBK), from a pcapng capture that
mepsim recorded while a client read the tables, and from a termineter
dump_tables file written from live reads. A second mepsim serves the clone:
every imported static table reads back byte-identical over the same port,
and BT23 starts from the imported registers. Bad input exits 2 with a
message and writes nothing.
"""

import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from osgp_hil import c1218  # noqa: E402
from osgp_hil.c1218 import OK  # noqa: E402
from osgp_hil import mepframe  # noqa: E402
from osgp_hil.link import DEFAULT_SEQ, RawModule  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "simulator" / "mepsim-profile"
MK = "OPTICAL-MK-000000001"
MBK = "02" * 16
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "hil"), str(ROOT / "tests" / "integration")]))


def run_tool(*args):
    return subprocess.run([sys.executable, str(TOOL), *map(str, args)], capture_output=True, text=True,
                          env=ENV, timeout=180)


def table_id(name):
    return mepframe.table_id(name)


def start(mepsim, *extra, name="mepsim"):
    sim = mepsim("--pty", "meter.pty", "--optical-pty", "optical.pty", "--seq-start", hex(DEFAULT_SEQ),
                 "--seed", "1", *extra, name=name)
    time.sleep(0.12)
    return sim


def source(mepsim, *extra, a=0):
    """The meter to clone and its forward energy now (BT23 summation 0 at A)."""
    src = start(mepsim, *extra)
    return src, struct.unpack_from("<I", src.ctl.read_table(23), a)[0]


def tool_ok(tmp_path, *args, output="clone.json"):
    out = tmp_path / output
    r = run_tool(*args, "-o", out)
    assert r.returncode == 0, r.stderr
    return out


def read_optical(sim, tables, password=MK, seq=None):
    """Full reads over the optical port with the project's C12.18 client."""
    c = c1218.C1218Client.open(sim.pty("optical.pty"))
    try:
        c.identify()
        assert c.negotiate(1024, 8, [6])[0] == OK
        assert c.logon(2, "PYTEST")[0] == OK
        assert c.security(password.encode())[0] == OK
        out = {}
        for t in tables:
            code, data = c.read(t)
            assert code == OK, "optical read of table %d -> %s" % (t, code)
            out[t] = data
        c.logoff()
        return out
    finally:
        c.close()


def read_mep(sim, tables, key=bytes.fromhex(MBK), seq=DEFAULT_SEQ):
    """Reads over MEP with the MBK; partial reads past the 465-byte reply limit."""
    m = RawModule(sim, key=key, seq=seq)
    out = {}
    for t in tables:
        size = len(sim.ctl.read_table(t))
        data = bytearray()
        while len(data) < size:
            rsp = m.read(t, len(data), min(256, size - len(data)))
            assert rsp.code == mepframe.OK and rsp.digest_ok, (t, rsp)
            data += rsp.data
        out[t] = bytes(data)
    return out


def verbatim(profile):
    return {table_id(e["table"]): bytes.fromhex(e["hex"]) for e in profile["tables"]}


def check_clone(mepsim, clone_path, route_reader, source_bt23_fwd):
    """Serve the clone; every imported table reads back byte-identical."""
    prof = json.loads(Path(clone_path).read_text())
    imported = verbatim(prof)
    assert {table_id(n) for n in prof["import"]["verbatim"]} == set(imported)
    # the clone starts at the imported E (seq_start from ET04.103)
    clone = mepsim("--pty", "meter.pty", "--optical-pty", "optical.pty", "--seed", "1", "--profile", clone_path,
                   name="clone")
    time.sleep(0.12)
    got = route_reader(clone, sorted(imported), seq=prof["seq_start"])
    for t, data in imported.items():
        if t == table_id("ET04"):
            # ET04.103 (fw 4.0+: .129-.136) is E, moving with every MEP request
            # (docs/mep.md 5.5): the clone's starts where the import left it
            e_at = 129 if prof["generation"] >= 4 else 103
            assert struct.unpack_from("<I", got[t], e_at)[0] >= prof["seq_start"]
            got[t] = got[t][:103] + data[103:107] + got[t][107:129] + data[129:137] + got[t][137:]
        assert got[t] == data, "table %s differs in the clone" % t
    # dynamic: BT23 starts from the imported registers and integrates on
    regs = prof["model"]["registers"]
    a = 1 if prof["bt21"]["flags0"] & 0x04 else 0     # demand-reset counter first (docs/mep.md 12.6)
    bt23 = clone.ctl.read_table(23)
    fwd, imp = struct.unpack_from("<II", bt23, a)[0], struct.unpack_from("<I", bt23, a + 8)[0]
    assert source_bt23_fwd <= regs["fwd_wh"] <= source_bt23_fwd + 20
    assert regs["fwd_wh"] <= fwd <= regs["fwd_wh"] + 20    # integrating on from the import
    assert regs["imp_varh"] <= imp <= regs["imp_varh"] + 20
    return prof, imported


def test_clone_live_optical(mepsim, tmp_path):
    src, fwd0 = source(mepsim)
    out = tool_ok(tmp_path, "import", "--optical", src.pty("optical.pty"), "--password", MK)
    prof, imported = check_clone(mepsim, out, read_optical, fwd0)
    assert prof["import"]["route"] == "optical"
    # the identity, dimensions and ratings were derived from the bytes
    assert prof["identity"]["utility_serial"] == "EMU3PH000000001"
    assert prof["identity"]["fw_version"] == "3.72.04"
    assert prof["bt21"]["summations"] == 11 and prof["bt21"]["present_values"] == 55
    assert prof["et11"]["et16_entry"] == 517
    assert prof["ratings"] == {"rated_voltage_v": 230, "max_current_a": 100}
    # the loads of nes-3ph.json, from the BT28 snapshot (docs/mep.md 12.8)
    assert [(x["watts"], x["pf"], x["capacitive"]) for x in prof["model"]["load"]] == [
        (320, 0.711, True), (59, 0.335, True), (53, 0.274, True)]
    assert {0, 1, 21, table_id("ET03"), table_id("ET04"), table_id("ET11"), table_id("ET16")} <= set(imported)
    # the source serves the same bytes over the same port
    again = read_optical(src, [1, 21, table_id("ET03"), table_id("ET11")])
    for t, data in again.items():
        assert imported[t] == data


def test_clone_live_mep_gen4(mepsim, tmp_path):
    """Gen 4 (ET04 of 140 bytes, BT00 with 20-byte sets, ET85) over MEP with the MBK."""
    src, fwd0 = source(mepsim, "--profile", ROOT / "fixtures" / "meters" / "nes-3ph-fw4.json", a=1)
    out = tool_ok(tmp_path, "import", "--mep", src.pty(), "--mbk", MBK)
    prof, imported = check_clone(mepsim, out, read_mep, fwd0)
    assert prof["generation"] == 4 and prof["keys"]["mbk"] == MBK
    assert len(imported[table_id("ET04")]) == 140 and prof["bt21"]["summations"] == 19
    for t in (0, 1, 21, table_id("ET11"), table_id("ET13")):
        assert imported[t] == src.ctl.read_table(t)


def test_clone_from_capture(mepsim, tmp_path):
    cap = tmp_path / "session.pcapng"
    src, fwd0 = source(mepsim, "--capture", cap)
    # a module's session on the MEP line (MAK; ET16 and BT28 in partial reads) ...
    on_mep = [21, 27, 28, table_id("ET11"), table_id("ET16")]
    mep = read_mep(src, on_mep, key=mepframe.MAK_EXAMPLE)
    # ... and a probe's on the optical port
    on_optical = [0, 1, 23, table_id("ET03"), table_id("ET04")]
    read_optical(src, on_optical)
    src.check_clean_exit()         # the capture is complete once mepsim stopped
    out = tool_ok(tmp_path, "import", cap)
    prof, imported = check_clone(mepsim, out, read_optical, fwd0)
    assert prof["import"]["route"] == "capture"
    assert prof["optical"]["keys"] == {"mk": MK}      # the Security request the capture shows
    assert set(imported) == set(on_mep + on_optical) - {23, 28}
    assert imported[table_id("ET16")] == mep[table_id("ET16")] and len(imported[table_id("ET16")]) == 5 * 517
    assert prof["model"]["load"][0]["watts"] == 320   # from the BT28 the module read


def test_clone_from_termineter_dump(mepsim, tmp_path):
    src, fwd0 = source(mepsim)
    dump = tool_ok(tmp_path, "dump", "--optical", src.pty("optical.pty"), "--password", MK,
                   output="smart_meter_tables.csv")
    # termineter dump_tables: "table id,table name,data length,data hex"
    lines = dump.read_text().splitlines()
    first = lines[0].split(",")
    assert first[0] == "0" and int(first[2]) * 2 == len(first[3])
    assert any(line.startswith("2051,ET03,143,") for line in lines)
    out = tool_ok(tmp_path, "import", dump, "--password", MK)   # a dump does not hold it
    prof, _ = check_clone(mepsim, out, read_optical, fwd0)
    assert prof["import"]["route"] == "dump"


# ---- bad input: message, exit 2, nothing written ----------------------------

def expect_bad(tmp_path, args, words):
    out = tmp_path / "never.json"
    r = run_tool("import", *args, "-o", out)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert words in r.stderr, r.stderr
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".mepsim-profile-")]


def test_bad_files(tmp_path):
    expect_bad(tmp_path, [tmp_path / "missing.csv"], "cannot read")
    junk = tmp_path / "junk.pcapng"
    junk.write_bytes(b"not a capture at all")
    expect_bad(tmp_path, [junk], "not a pcapng file")
    cut = tmp_path / "cut.pcapng"
    cut.write_bytes(b"\x0a\x0d\x0d\x0a\x1c\x00\x00\x00\x4d\x3c\x2b\x1a")
    expect_bad(tmp_path, [cut], "cut short")
    dump = tmp_path / "dump.csv"
    dump.write_text("1,GEN_MFG_TBL,24,4e4553203833333331" + "00" * 15 + "\n21,ACT_REGS,10,zz\n")
    expect_bad(tmp_path, [dump], "dump.csv:2: data is not hex")
    dump.write_text("1,GEN_MFG_TBL,25," + "00" * 24 + "\n")
    expect_bad(tmp_path, [dump], "dump.csv:1: length says 25 bytes, data has 24")
    dump.write_text("just one field\n")
    expect_bad(tmp_path, [dump], "dump.csv:1: expected 'table id,table name,length,hex data'")


def test_wrong_password_and_key(mepsim, tmp_path):
    src = start(mepsim)
    expect_bad(tmp_path, ["--optical", src.pty("optical.pty"), "--password", "WRONG-PASSWORD-00000"],
               "wrong password")
    expect_bad(tmp_path, ["--mep", src.pty(), "--mbk", "03" * 16], "wrong MBK")


def test_field_capture_reads_bt28_only(tmp_path):
    """The field BT28 exchange (docs/module-behaviour.md 7, fixtures/captures): the
    read pairs with its reply, the 0x0C exchange carries no table; a dynamic
    table alone is no profile."""
    field = ROOT / "fixtures" / "captures" / "field-bt28.pcapng"
    dump = tool_ok(tmp_path, "dump", field, output="field.csv")
    (line,) = dump.read_text().splitlines()
    tid, name, length, data = line.split(",")
    assert (tid, name, length) == ("28", "BT28", "220") and len(bytes.fromhex(data)) == 220
    expect_bad(tmp_path, [field], "no static table mepsim serves was read")
