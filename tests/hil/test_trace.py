"""Meter-line traces: mepsim's -vv log parsed into records (bench source),
the text format written to trace.txt (hil/osgp_hil/trace.py)."""

import datetime

import pytest

from osgp_hil.trace import LINE, TO_METER, TO_MODULE, Record, Trace, parse_mepsim_log

LOG = """\
09:24:26.983 meter0 line event: transceiver on
09:24:26.983 meter0 line event: enable off
09:24:27.985 meter0 line event: enable on
09:24:28.988 meter0 rx 19 bytes: 00 11 30 00 34 00 07 00 00 00 00 65 A4 42 F9 34 85 72 37
09:24:28.988 meter0 SEQ rx=0x00000000 want=0x6A1A5A56 -> SEQ
09:24:28.988 meter0 tx 15 bytes: 00 0D 0C 6A 1A 5A 56 86 81 9F 81 67 DE 23 AB
09:24:29.000 meter1 tx 2 bytes: 00 00
not a log line
"""


def near(h, m, s):
    return datetime.datetime(2026, 11, 25, h, m, s, tzinfo=datetime.timezone.utc).timestamp()


def test_mepsim_log_frames_and_line_events():
    recs = parse_mepsim_log(LOG, near=near(9, 25, 0), meter="meter0")
    kinds = [r.kind for r in recs]
    assert kinds == [LINE, LINE, LINE, TO_METER, TO_MODULE]
    assert (recs[1].line, recs[1].on) == ("enable", False)
    assert recs[3].data == bytes.fromhex("0011300034000700000000 65A442F934857237".replace(" ", ""))
    assert recs[4].data[:3] == b"\x00\x0d\x0c"
    assert recs[2].t - recs[1].t == pytest.approx(1.002)
    assert recs[0].t == pytest.approx(near(9, 24, 26) + 0.983)


def test_mepsim_log_all_meters_and_midnight():
    assert len(parse_mepsim_log(LOG, near=near(9, 25, 0))) == 6
    # a log stamped 23:59:59 read just after midnight belongs to the day before
    recs = parse_mepsim_log("23:59:59.500 meter0 line event: enable on\n", near=near(0, 0, 10))
    assert near(0, 0, 10) - recs[0].t == pytest.approx(10.5)


def test_trace_format_and_byte_streams():
    t = Trace(t0=near(9, 0, 0))
    t.add(Record(near(9, 0, 1), TO_MODULE, b"\x00\x0d", source="tap"))
    t.add(Record(near(9, 0, 0) + 0.5, TO_METER, b"\x00\x11\x30", source="tap"))
    t.add(Record(near(9, 0, 2), LINE, line="transceiver", on=False, source="mepsim-log"))
    lines = t.format().splitlines()
    assert lines[0] == "09:00:00.500000   +0.500000  module->meter    3  00 11 30  [tap]"
    assert lines[1].startswith("09:00:01.000000   +1.000000  meter->module    2  00 0D")
    assert lines[2].endswith("line           transceiver off  [mepsim-log]")
    assert t.bytes(TO_METER) == b"\x00\x11\x30"
    assert t.line_events() == [(near(9, 0, 2), "transceiver", False)]
