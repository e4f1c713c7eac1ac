"""A PTY meter exported over the network with ser2net (RFC 2217), the recipe
of docs/ser2net.md: pyserial's rfc2217:// client reads it with the project's
MEP frames, and a second session after the first one closed (ser2net closes
and reopens the PTY) is served too."""

import shutil
import subprocess
import time

import pytest
import serial

from osgp_hil import mepframe
from osgp_hil.link import DEFAULT_SEQ
from osgp_hil.mepframe import OK
from osgp_hil.procs import connects, free_port, wait_for

SER2NET = shutil.which("ser2net")

pytestmark = pytest.mark.skipif(SER2NET is None, reason="ser2net is not installed (Debian package ser2net; "
                                                        "ci/deps.sh installs it)")

# docs/ser2net.md, the connection of one meter (ser2net 4.x YAML)
CONFIG = """\
connection: &meter0
  accepter: telnet(rfc2217),tcp,127.0.0.1,{port}
  connector: serialdev,{pty},9600n81,local
  options:
    mdns: false
"""


@pytest.fixture
def exported(mepsim, tmp_path):
    """mepsim on a PTY and ser2net exporting it on a free loopback port -> (sim, port)."""
    sim = mepsim("--pty", "meter.pty", "--seq-start", hex(DEFAULT_SEQ), "--seed", "1")
    port = free_port()
    cfg = tmp_path / "ser2net.yaml"
    cfg.write_text(CONFIG.format(port=port, pty=tmp_path / "meter.pty"))
    log = open(tmp_path / "ser2net.log", "wb")
    proc = subprocess.Popen([SER2NET, "-n", "-d", "-c", str(cfg), "-P", str(tmp_path / "ser2net.pid")],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    try:
        def up():
            assert proc.poll() is None, "ser2net exited: " + (tmp_path / "ser2net.log").read_text()
            try:
                return connects(port)
            except OSError:
                return False
        wait_for(up, 10, "ser2net to listen on 127.0.0.1:%d" % port)
        yield sim, port
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def open_rfc2217(port):
    # ign_set_control: a PTY has no DTR/RTS, so ser2net never acknowledges
    # pyserial's SET_CONTROL (labgrid's NetworkSerialPort sets it too)
    return serial.serial_for_url("rfc2217://127.0.0.1:%d?ign_set_control" % port, baudrate=9600, timeout=0.2)


def exchange(ser, req, timeout=3.0):
    """Send one MEP request, read one whole reply frame, parse it."""
    ser.reset_input_buffer()
    ser.write(req.frame)
    buf = b""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        buf += ser.read(64)
        while buf[:2] == b"\0\0":                # alert sequences are not replies
            buf = buf[2:]
        if len(buf) >= 2 and len(buf) >= ((buf[0] << 8) | buf[1]) + 2:
            return mepframe.parse_response(req, buf)
    raise AssertionError("no reply frame through ser2net within %.1f s (have %s)" % (timeout, buf.hex()))


def test_pyserial_rfc2217_reads_bt01_through_ser2net(exported):
    sim, port = exported
    ctl = sim.control()
    ser = open_rfc2217(port)
    try:
        rsp = exchange(ser, mepframe.read("BT01", seq=DEFAULT_SEQ, key=mepframe.MAK_EXAMPLE))
        assert rsp.code == OK
        assert rsp.data == ctl.read_table("BT01")     # the meter's own BT01, byte for byte
    finally:
        ser.close()
    time.sleep(0.3)               # ser2net closes the PTY; the meter waits for the next client
    ser = open_rfc2217(port)
    try:
        rsp = exchange(ser, mepframe.read("BT23", 0, 8, seq=DEFAULT_SEQ + 1, key=mepframe.MAK_EXAMPLE))
        assert rsp.code == OK and len(rsp.data) == 8
    finally:
        ser.close()
    assert ctl.counters()["responses"]["0x00"] == 2
