"""labgrid 0.4.1 integration, local mode: an environment file imports the
osgp_hil resource/driver through hil/examples/osgp_hil_labgrid.py, the
MepMeterDriver starts mepsim on a PTY, and one authenticated read (BT52)
goes through labgrid's own SerialDriver on that PTY."""

import time
from pathlib import Path

import pytest

labgrid = pytest.importorskip("labgrid", reason="python3-labgrid is not installed")

REPO = Path(__file__).resolve().parents[2]
from osgp_hil import mepframe  # noqa: E402

MBK = "MEPtestKey0123456789"
SEQ = 0x10000000


def env_file(tmp_path, mepsim):
    shim = REPO / "hil" / "examples" / "osgp_hil_labgrid.py"
    pty = tmp_path / "meter.pty"
    f = tmp_path / "env.yaml"
    f.write_text(f"""
imports:
  - {shim}
targets:
  main:
    resources:
      - MepMeterEmulator:
          port: {pty}
          pty: true
          mbk: {MBK}
          seq_start: {SEQ}
          profile: nes-3ph
          mepsim: {mepsim}
          logdir: {tmp_path / "logs"}
      - RawSerialPort:
          port: {pty}
          speed: 9600
    drivers:
      - MepMeterDriver: {{}}
      - SerialDriver: {{}}
""")
    return f


def read_frame(serial, timeout=3.0):
    buf = b""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            buf += serial.read(size=256, timeout=0.1)
        except labgrid.driver.exception.ExecutionError:
            pass
        except TimeoutError:
            pass
        while len(buf) >= 2 and buf[:2] == b"\x00\x00":
            buf = buf[2:]                       # alert sequences (mep.md 10.3)
        if len(buf) >= 2 and len(buf) >= 2 + ((buf[0] << 8) | buf[1]):
            return buf[:2 + ((buf[0] << 8) | buf[1])]
    raise AssertionError(f"no complete frame within {timeout} s (have {buf.hex()})")


def test_one_read_through_a_local_labgrid_environment(tmp_path):
    from osgp_hil.paths import binary_or_none
    binary = binary_or_none("mepsim")
    if binary is None:
        pytest.skip("mepsim not built (set MEPSIM_BIN)")
    env = labgrid.Environment(str(env_file(tmp_path, binary)))
    target = env.get_target("main")
    try:
        meter = target.get_driver("MepMeterDriver")     # activates: mepsim starts on the PTY
        assert meter.truth()["ok"]
        serial = target.get_driver("SerialDriver")      # opens the PTY like a board would
        time.sleep(0.12)                                # mep.md 4: 100 ms request throttle
        req = mepframe.read("BT52", seq=SEQ, key=MBK.encode())
        serial.write(req.frame)
        rsp = mepframe.parse_response(req, read_frame(serial))
        assert rsp.code == mepframe.OK and len(rsp.data) == 7
        assert meter.counters()["line"]["responses"] == 1
        assert "READ BT52" in meter.log()
    finally:
        target.deactivate_all_drivers()
    assert (tmp_path / "logs" / "mepsim.log").exists()


def test_resource_validation_and_registration():
    import osgp_hil.labgrid as lg
    from labgrid.factory import target_factory
    assert target_factory.resources["MepMeterEmulator"] is lg.MepMeterEmulator
    assert target_factory.drivers["MepMeterDriver"] is lg.MepMeterDriver
    with pytest.raises(TypeError):
        lg.MepMeterEmulator(None, "m", port="/dev/x", speed="9600")
    with pytest.raises(ValueError):
        lg.MepMeterEmulator(None, "m", port="/dev/x", format="9N1")


def test_example_bench_environment_loads():
    # hil/examples/labgrid-bench.yaml: every resource and driver resolves and
    # binds (nothing is activated: the adapters it names are not here)
    env = labgrid.Environment(str(REPO / "hil" / "examples" / "labgrid-bench.yaml"))
    t = env.get_target("main")
    names = sorted(type(d).__name__ for d in t.drivers)
    assert names == ["DigitalOutputPowerDriver", "MepMeterDriver", "SerialDriver", "SerialDriver",
                     "SerialPortDigitalOutputDriver"]
    meter = t.get_driver("MepMeterDriver", activate=False)
    assert meter.meter.port.startswith("/dev/serial/by-id/") and meter.meter.speed == 9600
    assert t.get_driver("SerialPortDigitalOutputDriver", activate=False).invert is True
