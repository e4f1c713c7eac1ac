"""Bench modem lines through a fake serial port: every input with both
polarities, debounce and its timestamps, reset/power pulse lengths and
polarity, idle levels set before the port opens, and the bench Board's power
cycle and reset driving them (hil/osgp_hil/modem.py, harness.py)."""

import pytest

from fakeserial import FakeClock, FakeSerial
from osgp_hil.modem import ModemError, ModemLines, open_adapter
from osgp_hil.rig import DriveLine, Lines, SenseLine

ATTR = {"CTS": "cts", "DSR": "dsr", "DCD": "cd", "RI": "ri"}


def lines(**kw):
    base = dict(poll_ms=5.0, debounce=1)
    base.update(kw)
    return Lines(**base)


@pytest.mark.parametrize("inp", ["CTS", "DSR", "DCD", "RI"])
@pytest.mark.parametrize("inverted", [False, True])
def test_every_input_and_polarity(inp, inverted):
    ser = FakeSerial()
    for other in ATTR.values():
        setattr(ser, other, True)           # every other input asserted: must not matter
    setattr(ser, ATTR[inp], False)
    m = ModemLines(lines(transceiver=SenseLine(inp, inverted)), ser)
    assert m.sample(1.0) == [(1.0, "transceiver", inverted)]
    setattr(ser, ATTR[inp], True)
    assert m.sample(1.005) == [(1.005, "transceiver", not inverted)]
    assert m.level("transceiver") is (not inverted)
    assert m.level("enable") is None


def test_enable_through_inverting_stage_and_transceiver_independent():
    # module-behaviour.md 2: boot order transceiver on -> 1 s -> ENABLE on
    ser = FakeSerial()
    m = ModemLines(lines(transceiver=SenseLine("CTS"), enable=SenseLine("DSR", True)), ser)
    ser.dsr = True                          # inverted: DSR asserted = ENABLE off
    m.sample(0.0)
    ser.cts = True
    m.sample(0.5)
    ser.dsr = False
    m.sample(1.5)
    assert m.events == [(0.0, "transceiver", False), (0.0, "enable", False),
                        (0.5, "transceiver", True), (1.5, "enable", True)]


def test_debounce_stamps_first_sample_and_drops_short_glitches():
    ser = FakeSerial()
    m = ModemLines(lines(transceiver=SenseLine("CTS"), debounce=3), ser)
    ser.cts = True
    m.sample(0.000)
    m.sample(0.005)
    assert m.level("transceiver") is None   # 2 of 3 samples
    m.sample(0.010)
    assert m.events == [(0.000, "transceiver", True)]
    ser.cts = False                         # a 10 ms dip: 2 samples, not 3
    m.sample(0.015)
    m.sample(0.020)
    ser.cts = True
    m.sample(0.025)
    assert len(m.events) == 1 and m.bounces == 1
    ser.cts = False                         # the reference's 1000 ms off (module-behaviour.md 6)
    for i in range(200):
        m.sample(1.0 + i * 0.005)
    ser.cts = True
    for i in range(3):
        m.sample(2.0 + i * 0.005)
    (t_off, _, off), (t_on, _, on) = m.events[1], m.events[2]
    assert (off, on) == (False, True)
    assert t_on - t_off == pytest.approx(1.0)


@pytest.mark.parametrize("inverted", [False, True])
def test_pulse_lengths_and_polarity(inverted):
    clk = FakeClock()
    ser = FakeSerial(clock=clk)
    cfg = lines(reset=DriveLine("DTR", inverted, 200), power=DriveLine("RTS", inverted, 3000))
    m = ModemLines(cfg, ser, clock=clk, sleep=clk.sleep)
    assert ser.dtr is inverted and ser.rts is inverted      # idle: board running
    ser.history.clear()
    t0, t1 = m.pulse("reset")
    assert t1 - t0 == pytest.approx(0.2)
    assert ser.history == [(t0, "dtr", not inverted), (t1, "dtr", inverted)]
    ser.history.clear()
    t0, t1 = m.pulse("power", 1500)                         # explicit length wins
    assert t1 - t0 == pytest.approx(1.5)
    assert ser.history == [(t0, "rts", not inverted), (t1, "rts", inverted)]
    assert [p[0] for p in m.pulses] == ["reset", "power"]
    m.set("power", True)
    assert ser.rts is (not inverted)


def test_pulse_released_even_when_sleep_is_interrupted():
    ser = FakeSerial()

    def boom(_s):
        raise KeyboardInterrupt

    m = ModemLines(lines(reset=DriveLine("DTR")), ser, sleep=boom)
    with pytest.raises(KeyboardInterrupt):
        m.pulse("reset")
    assert ser.dtr is False                                 # not left holding reset


def test_unwired_lines_and_bad_lengths_are_errors():
    m = ModemLines(lines(), FakeSerial())
    with pytest.raises(ModemError, match=r"output 'reset' is not wired.*\$\.lines\.reset"):
        m.pulse("reset")
    with pytest.raises(ModemError, match=r"line 'enable' is not wired"):
        m.raw("enable")
    with pytest.raises(ModemError, match=r"line 'enable' is not wired"):
        m.wait_for("enable", True, 0.1)
    m2 = ModemLines(lines(reset=DriveLine("DTR")), FakeSerial())
    with pytest.raises(ModemError, match="pulse length must be positive"):
        m2.pulse("reset", 0)


def test_wait_for_times_out_with_recent_events():
    clk = FakeClock()
    ser = FakeSerial()
    m = ModemLines(lines(enable=SenseLine("RI")), ser, clock=clk)
    m.sample()
    with pytest.raises(ModemError, match=r"enable did not go on within 0\.0 s"):
        m.wait_for("enable", True, 0.0)
    ser.ri = True
    m.sample()
    assert m.wait_for("enable", True, 0.0) == clk.t


def test_watcher_thread_samples_in_real_time():
    ser = FakeSerial()
    m = ModemLines(lines(transceiver=SenseLine("CTS"), debounce=2), ser).start()
    try:
        m.wait_for("transceiver", False, 2.0)
        ser.cts = True
        t = m.wait_for("transceiver", True, 2.0)
        assert m.samples >= 3 and t > 0
    finally:
        m.stop()


def test_open_adapter_sets_idle_levels_before_open():
    # pyserial asserts DTR and RTS when it opens a port unless told otherwise:
    # that would pulse the board's reset/supply relay at every test start.
    made = []

    def factory():
        s = FakeSerial()
        made.append(s)
        return s

    cfg = lines(reset=DriveLine("DTR", False), power=DriveLine("RTS", True))
    ser = open_adapter(cfg, "/dev/ttyFAKE", 9600, serial_factory=factory)
    assert ser is made[0] and ser.is_open and ser.port == "/dev/ttyFAKE"
    assert ser.opened_with == {"dtr": False, "rts": True}


def test_bench_board_power_cycle_and_reset_through_fake_adapter(tmp_path):
    from osgp_hil.harness import Rig
    from osgp_hil.rig import parse_rig
    dev = tmp_path / "ttyUSB0"
    dev.write_text("")
    cfg = parse_rig({"kind": "bench",
                     "meter": {"uart": str(dev)},
                     "lines": {"transceiver": {"input": "CTS"}, "enable": {"input": "DCD"},
                               "reset": {"output": "DTR", "pulse_ms": 20},
                               "power": {"output": "RTS", "inverted": True, "pulse_ms": 50}},
                     "board": {"console": {"port": str(dev), "baud": 115200}}},
                    base_dir=str(tmp_path))
    made = []

    def factory(*a, **kw):
        s = FakeSerial(*a, **kw)
        made.append(s)
        return s

    r = Rig(cfg, tmp_path / "art", serial_factory=factory)
    b = r.board
    console = made[0]
    console.feed(b"boot: mepmod 1.0\nstatus OK\n")
    assert b.expect(r"status (\w+)", 2.0).group(1) == "OK"
    b.start()                                  # a fresh boot: one power cycle
    adapter = made[1]
    assert adapter.port == str(dev) and adapter.opened_with == {"dtr": False, "rts": True}
    assert [(p, lv) for _, p, lv in adapter.history if p == "rts"][-2:] == [("rts", False),
                                                                           ("rts", True)]
    b.reset()
    assert [p[0] for p in b.lines.pulses] == ["power", "reset"]
    assert b.lines.pulses[0][2] - b.lines.pulses[0][1] >= 0.05
    assert b.lines.pulses[1][2] - b.lines.pulses[1][1] >= 0.02
    adapter.cts = True
    b.lines.wait_for("transceiver", True, 2.0)
    problems = r.finish()
    assert problems == []
    assert (r.artifacts / "console.log").read_bytes().startswith(b"boot: mepmod")
    modem = (r.artifacts / "modem.txt").read_text()
    assert "transceiver on" in modem and "pulse power" in modem and "pulse reset" in modem
