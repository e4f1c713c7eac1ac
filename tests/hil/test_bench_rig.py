"""The bench code paths without hardware: a bench rig whose meter UART is the
slave side of a pseudo-terminal (mepsim opens it with --uart, as it opens a
USB adapter), whose modem lines and console are fake serial ports, and
whose trace therefore comes from mepsim's -vv log (hil/osgp_hil/harness.py,
trace.py)."""

import os
import pty
import time
import tty

import pytest

from fakeserial import FakeSerial
from osgp_hil import mepframe
from osgp_hil.harness import Rig
from osgp_hil.paths import binary_or_none
from osgp_hil.rig import parse_rig
from osgp_hil.trace import TO_METER, TO_MODULE

MBK = "MEPtestKey0123456789"
SEQ = 0x10000000


@pytest.fixture
def uart():
    master, slave = pty.openpty()
    tty.setraw(slave)
    tty.setraw(master)
    os.set_blocking(master, False)
    yield master, os.ttyname(slave)
    os.close(master)
    os.close(slave)


def read_frame(fd, timeout=3.0):
    buf = b""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            buf += os.read(fd, 512)
        except BlockingIOError:
            time.sleep(0.01)
        while buf[:2] == b"\x00\x00":
            buf = buf[2:]
        if len(buf) >= 2 and len(buf) >= 2 + ((buf[0] << 8) | buf[1]):
            return buf[:2 + ((buf[0] << 8) | buf[1])]
    raise AssertionError(f"no frame within {timeout} s (have {buf.hex()})")


def test_bench_meter_on_a_uart_and_trace_from_its_log(uart, tmp_path):
    if binary_or_none("mepsim") is None:
        pytest.skip("mepsim not built (set MEPSIM_BIN)")
    master, dev = uart
    cfg = parse_rig({"kind": "bench",
                     "meter": {"uart": dev, "mbk": MBK, "seq_start": SEQ},
                     "lines": {"transceiver": {"input": "CTS"}, "enable": {"input": "DSR"},
                               "power": {"output": "RTS", "pulse_ms": 10}},
                     "board": {"console": {"port": dev}}}, base_dir=str(tmp_path))
    fakes = []

    def factory(*a, **kw):
        fakes.append(FakeSerial(*a, **kw))
        return fakes[-1]

    r = Rig(cfg, tmp_path / "art", serial_factory=factory)
    r.meter.start()
    b = r.board.start()                      # fake adapter: one power cycle, no HTTP wait
    assert [p[0] for p in b.lines.pulses] == ["power"]
    adapter = fakes[1]
    adapter.cts = adapter.dsr = True         # the "board" powers its transceiver, asserts ENABLE
    t_on = b.lines.wait_for("transceiver", True, 2)
    assert b.lines.wait_for("enable", True, 2) >= t_on
    time.sleep(0.12)                         # mep.md 4: 100 ms throttle after start-up
    req = mepframe.read("BT52", seq=SEQ, key=MBK.encode())
    os.write(master, req.frame)
    rsp = mepframe.parse_response(req, read_frame(master))
    assert rsp.code == mepframe.OK and len(rsp.data) == 7
    time.sleep(0.05)
    assert r.meter.counters()["line"]["responses"] == 1
    events = r.line_events()                 # modem inputs on a bench
    assert ("transceiver", True) in [(n, o) for _, n, o in events]
    assert r.finish() == []
    trace = (r.artifacts / "trace.txt").read_text()
    assert f"{TO_METER:<13}   {len(req.frame)}  {req.frame.hex(' ').upper()}  [mepsim-log]" in trace
    assert TO_MODULE in trace and "transceiver on  [modem]" in trace
    assert "pulse power" in (r.artifacts / "modem.txt").read_text()
