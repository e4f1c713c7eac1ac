"""Sequence numbers and authentication over a real PTY (docs/mep.md 5.2-5.6)."""

import json
import time

from osgp_hil import mepframe
from osgp_hil.link import DEFAULT_SEQ
from osgp_hil.paths import fixture_path
from osgp_hil.mepframe import AUTH, ISC, OK, SEQ


def test_rc4_example1_first_request_gets_0x0C_byte_exact(mepsim):
    """RC4 Example 1 (docs/mep.md 5.5, vectors rc4_ex1_*): seq 0x01020304 -> 0x0C + 0x77635B90."""
    sim = mepsim("--pty", "m.pty", "--mak", "01" * 16, "--seq-start", "0x77635B90")
    link = sim.link("m.pty")
    link.send(bytes.fromhex("00 14 3F 00 17 00 00 00 00 2C 01 02 03 04 74 86 1F 6D 76 58 DD 56"))
    frame, _ = link.read_frame()
    assert frame == bytes.fromhex("00 0D 0C 77 63 5B 90 35 86 3C 1D F5 B9 14 82")


def test_first_request_gets_0x0C_and_retry_with_returned_number_succeeds(meter):
    req = mepframe.read("BT23", 0, 44, seq=0x01020304, key=meter.key)
    rsp = meter.link.exchange(req)
    assert rsp.code == SEQ and rsp.digest_ok
    assert rsp.seq == DEFAULT_SEQ
    retry = mepframe.read("BT23", 0, 44, seq=rsp.seq, key=meter.key)
    rsp2 = meter.link.exchange(retry)
    assert rsp2.code == OK and rsp2.digest_ok
    assert rsp2.count == 44 and len(rsp2.data) == 44


def test_rc4_example1_retry_is_byte_exact_with_guide_profile(mepsim):
    """RC4 Example 1 in full: 0x0C, then the retry with E+1 returns the guide's BT23 bytes."""
    sim = mepsim("--pty", "m.pty", "--profile", fixture_path("meters", "guide-example.json"),
                 "--seq-start", "0x77635B90")
    link = sim.link("m.pty")
    vec = {v["id"]: v for v in json.load(open(fixture_path("vectors", "mep_rc4.json")))["rc4_vectors"]}
    for step in ("rc4_ex1_first", "rc4_ex1_retry"):
        time.sleep(0.11)                                  # 100 ms request spacing
        link.send(bytes.fromhex(vec[step + ".req"]["raw_hex"]))
        frame, _ = link.read_frame()
        assert frame == bytes.fromhex(vec[step + ".resp"]["raw_hex"]), step


def test_bad_digest_answers_0x0B_short_framing(meter):
    req = mepframe.read("BT28", seq=meter.next_seq(), key=meter.key)
    bad = bytearray(req.frame)
    bad[-1] ^= 0x55
    meter.link.send(bad)
    frame, _ = meter.link.read_frame()
    assert frame == bytes([0x00, 0x01, AUTH])  # docs/mep.md 3.4 default `00 01 0B`
    # E did not move: the same sequence number is still acceptable
    meter.seq -= 1
    rsp = meter.read("BT28")
    assert rsp.code == OK and rsp.digest_ok


def test_wrong_key_answers_0x0B(meter):
    rsp = meter.read("BT01", key=b"X" * 16)
    assert rsp.code == AUTH


def test_replayed_frame_answers_0x0C_with_next_number(meter):
    req = mepframe.read("BT52", seq=meter.next_seq(), key=meter.key)
    assert meter.link.exchange(req).code == OK
    time.sleep(0.11)
    rsp = meter.link.exchange(req)  # identical bytes again (docs/mep.md 15 item 16)
    assert rsp.code == SEQ and rsp.digest_ok
    assert rsp.seq == (req.seq + 1) & 0xFFFFFFFF
    assert meter.ctl.counters()["replays"] >= 1


def test_mbk_write_to_mak_only_table_ET13_answers_0x03(meter):
    mbk = mepframe.MBK_DEFAULT
    rsp = meter.write("ET13", bytes([0]), offset=270, key=mbk)
    assert rsp.code == ISC and rsp.digest_ok
    # nothing changed: the baud code still reads 0 (9600)
    assert meter.ctl.read_table("ET13", 270, 1) == bytes([0])


def test_encrypted_request_gets_encrypted_response_that_verifies(meter):
    rsp = meter.read("BT01", encrypt=True)
    assert rsp.code == OK and rsp.digest_ok
    assert rsp.data == meter.ctl.read_table("BT01")
    # the wire bytes differ from the plaintext (it really was encrypted)
    assert rsp.frame[2:-8] != rsp.body
    assert meter.ctl.counters()["encrypted_rx"] >= 1


def test_tls_table_without_session_answers_0x0A(meter):
    meter.link.send(bytes.fromhex("00 02 80 00"))           # TLS_TABLE, no session (docs/mep.md 3.5)
    frame, _ = meter.link.read_frame()
    assert frame == bytes.fromhex("00 01 0A")
    time.sleep(0.11)
    assert meter.read("BT52").code == OK                     # RC4 still works: no session started


def test_tls_required_profile_refuses_rc4_with_0x0A(mepsim, tmp_path):
    prof = json.load(open(fixture_path("meters", "nes-3ph.json")))
    prof["tls_required"] = True
    path = tmp_path / "tls-only.json"
    path.write_text(json.dumps(prof))
    sim = mepsim("--pty", "t.pty", "--profile", str(path), "--seq-start", "0x10")
    link = sim.link("t.pty")
    link.send(mepframe.read("BT52", seq=0x10).frame)
    frame, _ = link.read_frame()
    assert frame == bytes.fromhex("00 01 0A")                # docs/mep.md 7.5 [E]
