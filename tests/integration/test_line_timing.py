"""Line timing on the wire (docs/mep.md 4): segments, throttle, gap abort, baud.

Bounds are generous and documented per test: a loaded CI machine may add
scheduling delay, never remove it, so lower bounds are the strict side."""

import time

from osgp_hil import mepframe
from osgp_hil.mepframe import OK


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
