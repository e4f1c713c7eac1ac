"""Line timing on the wire (docs/mep.md 4): segments, throttle, gap abort, baud,
and the meter's turnaround on the MEP line and the optical port.

Bounds are generous and documented per test: a loaded CI machine may add
scheduling delay, never remove it, so lower bounds are the strict side.

Turnaround (policy reply_delay_ms + 0..reply_jitter_ms, default 30 + 0..10 ms,
simulator/store/sim_profile.h): measured from the reader's side, from the
moment the request's last byte was written to the PTY to the arrival of the
reply's first byte. The emulator may write a byte up to 1 ms before its stop
bit is due (SIM_LINE_EARLY_US) and the first byte itself takes ~1 ms at 9600,
so the lower bound is delay - 2 ms; the upper bound is delay + jitter + 15 ms
for the median of several requests (scheduling on a shared machine), and
+ 60 ms for any single one."""

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from osgp_hil import mepframe
from osgp_hil.link import DEFAULT_SEQ, RawModule
from osgp_hil.mepframe import OK

sys.path.insert(0, str(Path(__file__).resolve().parent))
from osgp_hil import c1218  # noqa: E402

DEFAULT_DELAY_MS, DEFAULT_JITTER_MS = 30, 10     # sim_profile.h SIM_POLICY_DEFAULT_REPLY_*


def mepsim_bin():
    return os.environ.get("MEPSIM_BIN", str(Path(__file__).resolve().parents[2] / "build" / "simulator" / "mepsim"))


def test_long_response_arrives_in_117_byte_segments_with_pauses(meter):
    # full ET13 on nes-3ph: 5 x 66 = 330 data bytes -> 343-byte frame = 117 + 117 + 109
    req = mepframe.read("ET13", seq=meter.next_seq(), key=meter.key)
    meter.link.send(req.frame)
    frame, times = meter.link.read_frame()
    assert len(frame) == 343
    assert mepframe.parse_response(req, frame).digest_ok
    for boundary in (117, 234):                # counted from the first length byte (docs/mep.md 4)
        gap = times[boundary] - times[boundary - 1]
        assert gap >= 0.015, (boundary, gap)   # 25 ms pause (+1 byte time); >= 15 ms allowed
    # pacing: 343 bytes x 10 bits at 9600 baud = 357 ms, + 2 x 25 ms pauses
    assert times[-1] - times[0] >= 0.300, times[-1] - times[0]


def test_short_response_has_no_pause(meter):
    # a 20-byte BT52 reply is one segment: no 25 ms pause anywhere
    req = mepframe.read("BT52", seq=meter.next_seq(), key=meter.key)
    meter.link.send(req.frame)
    frame, times = meter.link.read_frame()
    assert len(frame) == 20
    assert times[-1] - times[0] < 0.040               # 19 byte times ~ 20 ms; with a pause >= 45 ms


def test_second_request_10ms_after_first_is_answered_after_100ms(meter):
    r1 = mepframe.read("BT52", seq=meter.next_seq(), key=meter.key)
    r2 = mepframe.read("BT01", seq=meter.next_seq(), key=meter.key)
    t0 = meter.link.send(r1.frame)
    time.sleep(0.010)
    meter.link.send(r2.frame)
    f1, t1 = meter.link.read_frame()
    f2, t2 = meter.link.read_frame()
    assert mepframe.parse_response(r1, f1).code == OK
    assert mepframe.parse_response(r2, f2).code == OK     # delayed, not dropped
    assert t1[0] - t0 < 0.25                              # first answered at once
    assert t2[0] - t0 >= 0.090, t2[0] - t0                # second waits for the 100 ms rule
    assert meter.ctl.counters()["line"]["throttled"] >= 1


def test_gap_over_50ms_inside_a_request_aborts_it(meter):
    req = mepframe.read("BT52", seq=meter.next_seq(), key=meter.key)
    meter.link.send(req.frame[:10])
    time.sleep(0.12)
    meter.link.send(req.frame[10:])
    assert meter.link.expect_silence(0.4) == b""          # no answer to the torn frame
    assert meter.ctl.counters()["line"]["gap_aborts"] >= 1
    meter.seq -= 1                                        # the torn request never reached the meter
    rsp = meter.read("BT52")
    assert rsp.code == OK and rsp.digest_ok


def test_half_frame_then_silence_is_discarded_on_the_timer(meter):
    req = mepframe.read("BT52", seq=meter.next_seq(), key=meter.key)
    meter.link.send(req.frame[:7])
    time.sleep(0.15)                                      # nothing else arrives
    assert meter.ctl.counters()["line"]["gap_aborts"] == 1
    meter.seq -= 1
    assert meter.read("BT52").code == OK


def test_baud_change_via_et13_applies_after_the_reply(meter):
    def bt28_duration():
        req = mepframe.read("BT28", seq=meter.next_seq(), key=meter.key)
        time.sleep(0.11)
        meter.link.send(req.frame)
        frame, times = meter.link.read_frame()
        assert mepframe.parse_response(req, frame).code == OK
        return times[-1] - times[0]

    slow = bt28_duration()                                # 9600: ~268 ms
    time.sleep(0.11)
    rsp = meter.write("ET13", bytes([8]), offset=270)     # MEP1 baud code 8 = 19200 (docs/mep.md 2)
    assert rsp.code == OK and rsp.digest_ok               # this reply still at 9600
    fast = bt28_duration()                                # 19200: ~146 ms
    # 9600: ~268 ms, 19200: ~146 ms; only a stall > 60 ms in the fast read could hide it
    assert slow >= 0.200 and fast < slow - 0.060, (slow, fast)
    assert meter.ctl.read_table("ET14", 153, 1) == bytes([8])   # ET14 MEP1 baud mirrors it
    assert meter.ctl.status()["meters"][0]["baud"] == 19200


def test_request_with_30ms_pauses_between_bytes_is_accepted(meter):
    req = mepframe.read("BT52", seq=meter.next_seq(), key=meter.key)
    for i in range(0, len(req.frame), 4):                 # 5 chunks, 30 ms apart (< 50 ms rule)
        meter.link.send(req.frame[i:i + 4])
        time.sleep(0.030)
    frame, _ = meter.link.read_frame()
    assert mepframe.parse_response(req, frame).code == OK
    assert meter.ctl.counters()["line"]["gap_aborts"] == 0


def test_client_zero_pairs_are_ignored_and_counted(meter):
    meter.link.send(b"\x00\x00\x00\x00")
    time.sleep(0.06)
    assert meter.read("BT52").code == OK
    c = meter.ctl.counters()["line"]
    assert c["zero_rx"] == 2 and c["frames_rx"] == 1


def test_oversize_length_discards_until_a_gap(meter):
    meter.link.send(b"\x01\xDD" + bytes(30))              # length 477 > 476 (docs/mep.md 3.1)
    time.sleep(0.08)                                      # the gap ends the discard
    assert meter.read("BT52").code == OK
    assert meter.ctl.counters()["line"]["oversize"] == 1


def test_response_starts_well_inside_500ms(meter):
    req = mepframe.read("BT23", 0, 13, seq=meter.next_seq(), key=meter.key)
    t0 = meter.link.send(req.frame)
    _, times = meter.link.read_frame()
    assert times[1] - t0 < 0.250                          # the client's 500 ms timeout (docs/mep.md 4)


# ---- turnaround: request's last byte -> reply's first (docs/mep.md 4) ------------

def mep_turnarounds(m, n=8):
    """Turnaround of n BT52 reads, each alone (> 100 ms apart), in seconds."""
    out = []
    for _ in range(n):
        time.sleep(0.12)
        req = mepframe.read("BT52", seq=m.next_seq(), key=m.key)
        t0 = m.link.send(req.frame)
        frame, times = m.link.read_frame()
        assert mepframe.parse_response(req, frame).code == OK
        out.append(times[0] - t0)
    return out


def assert_turnaround(samples, delay_ms, jitter_ms):
    lo = (delay_ms - 2) / 1000
    assert min(samples) >= lo, (samples, lo)
    assert statistics.median(samples) <= (delay_ms + jitter_ms + 15) / 1000, samples
    assert max(samples) <= (delay_ms + jitter_ms + 60) / 1000, samples


def test_mep_turnaround_default_is_realistic_and_inside_500ms(meter):
    samples = mep_turnarounds(meter)
    assert_turnaround(samples, DEFAULT_DELAY_MS, DEFAULT_JITTER_MS)
    assert max(samples) < 0.5                              # the guide's client timeout


def test_mep_turnaround_follows_policy_option(mepsim):
    sim = mepsim("--pty", "meter.pty", "--seq-start", hex(DEFAULT_SEQ), "--seed", "1",
                 "--policy", "reply_delay_ms=200", "--policy", "reply_jitter_ms=0")
    m = RawModule(sim)
    assert_turnaround(mep_turnarounds(m, 5), 200, 0)


def test_bad_reply_delay_policy_exits_2_naming_it(tmp_path):
    r = subprocess.run([mepsim_bin(), "--pty", "x.pty", "--policy", "reply_delay_ms=4001"], cwd=str(tmp_path),
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 2
    assert "reply_delay_ms" in r.stderr
    assert not (tmp_path / "x.pty").exists()
    h = subprocess.run([mepsim_bin(), "--help"], capture_output=True, text=True, timeout=20)
    assert "reply_delay_ms=N" in h.stdout and "reply_jitter_ms=N" in h.stdout


def optical_turnaround(c):
    """Identify on the optical channel: (ACK after, reply packet after) the
    request's last byte, in seconds; the reply is read and acknowledged."""
    c.drain(0.05)
    pkt = c1218.packet(b"\x20", c.toggle)
    c.toggle ^= 1
    c.write(pkt)
    t0 = time.monotonic()
    t_ack = t_stp = None
    deadline = t0 + 3.0
    while t_stp is None:
        assert c._fill(deadline), "no reply within 3 s"
        now = time.monotonic()
        if t_ack is None and c1218.ACK in c.buf:
            t_ack = now
        if c1218.STP in c.buf:
            t_stp = now
    _, _, data, _ = c.read_packet()
    assert data[0] == c1218.OK
    return t_ack - t0, t_stp - t0


def optical_samples(tmp_path, *extra, n=6):
    p = subprocess.Popen([mepsim_bin(), "--pty", "meter.pty", "--optical-pty", "optical.pty", "--seed", "1", *extra],
                         cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in p.stdout:
            if line.startswith("mepsim: ready"):
                break
        c = c1218.C1218Client.open(str(tmp_path / "optical.pty"))
        try:
            acks, replies = [], []
            for _ in range(n):
                a, r = optical_turnaround(c)
                acks.append(a)
                replies.append(r)
            return acks, replies
        finally:
            c.close()
    finally:
        p.terminate()
        _, err = p.communicate(timeout=10)
        assert "Sanitizer" not in err, err


def test_optical_turnaround_default_ack_at_once_reply_after_delay(tmp_path):
    acks, replies = optical_samples(tmp_path)
    # docs/optical.md 2.3 step 5: the ACK at once (emulator target < 20 ms, 2.7)
    assert statistics.median(acks) < 0.020, acks
    # the optical core counts whole milliseconds: the delay is rounded to 1 ms
    assert_turnaround(replies, DEFAULT_DELAY_MS - 1, DEFAULT_JITTER_MS + 1)


def test_optical_turnaround_follows_policy_option(tmp_path):
    _, replies = optical_samples(tmp_path, "--policy", "reply_delay_ms=150", "--policy", "reply_jitter_ms=0")
    assert_turnaround(replies, 150 - 1, 1)


def test_scenario_policy_steps_slow_the_meter_down_without_a_fault(mepsim):
    """fixtures/scenarios/slow-meter.json at 10x: 30-40 ms, then from 30 s
    (3 s wall) 450-480 ms, from 60 s (6 s wall) 700 ms; every reply valid."""
    scen = Path(__file__).resolve().parents[2] / "fixtures" / "scenarios" / "slow-meter.json"
    sim = mepsim("--pty", "meter.pty", "--scenario", str(scen), "--speed", "10", "--seq-start", hex(DEFAULT_SEQ))
    m = RawModule(sim)
    t_start = time.monotonic()
    assert_turnaround(mep_turnarounds(m, 3), DEFAULT_DELAY_MS, DEFAULT_JITTER_MS)
    time.sleep(max(0.0, t_start + 3.3 - time.monotonic()))
    assert_turnaround(mep_turnarounds(m, 3), 450, 30)
    time.sleep(max(0.0, t_start + 6.3 - time.monotonic()))
    assert_turnaround(mep_turnarounds(m, 2), 700, 0)
    assert m.ctl.fault_status()["active"] == 0                  # no fault did it
