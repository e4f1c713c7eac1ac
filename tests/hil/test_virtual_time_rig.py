"""The virtual-time rig (osgp_hil.vtrig, `--rig virtual-time`): the rig clock,
repeatable scenario runs, and mepsim-cosim's control channel
(cosim/cosim_ctl.h) under good and bad input.

These build their own rigs (osgp_hil.harness.Rig with
rig.virtual_time_rig()), so they run in any pytest invocation; they skip
when mepsim-cosim is not built (set MEPSIM_COSIM_BIN).
"""

import json
import subprocess
import time

import pytest

import scenario_checks as sc
from osgp_hil import paths
from osgp_hil.clock import VirtualClock, WallClock
from osgp_hil.cosim import Cosim, CosimError
from osgp_hil.harness import Rig
from osgp_hil.rig import virtual_rig, virtual_time_rig
from osgp_hil.vtrig import SUMMARY


def _cosim_bin():
    try:
        return paths.find_binary("mepsim-cosim")
    except paths.NotFound as e:
        pytest.skip(str(e))


@pytest.fixture
def vt_rig(tmp_path):
    _cosim_bin()
    r = Rig(virtual_time_rig(), tmp_path / "art")
    yield r
    problems = r.finish()
    assert not problems, "\n".join(problems)


def test_wall_clock_is_real_time():
    c = WallClock()
    t0 = c.now()
    c.sleep(0.05)
    assert 0.04 <= c.now() - t0 < 2.0
    assert abs(c.now() - time.time()) < 0.5 and not c.virtual


def test_virtual_clock_moves_only_when_slept_on(vt_rig):
    vt_rig.meter.start()
    vt_rig.board.start(opts={"poll_ms": 500})
    clock = vt_rig.clock
    assert isinstance(clock, VirtualClock) and clock.virtual
    assert clock.now() == 0.0
    w0 = time.monotonic()
    clock.sleep(600.0)                        # ten virtual minutes
    assert clock.now() == pytest.approx(600.0)
    assert time.monotonic() - w0 < 60.0       # far less in wall time
    t = clock.now()
    vt_rig.meter.truth()
    vt_rig.board.snapshot()
    assert clock.now() == t                   # reading changes nothing
    doc = vt_rig.board.wait_json(timeout=5)
    truth = vt_rig.meter.truth()
    # the model's counter only grows; the reading is from a poll <= 0.5 s ago
    assert 0 <= truth["bt23"]["fwd_wh"] - doc["Fwd_Act_Wh"] <= 1000


def test_real_rig_keeps_the_wall_clock(tmp_path):
    r = Rig(virtual_rig(), tmp_path / "art")
    try:
        assert isinstance(r.clock, WallClock)
    finally:
        r.finish()


def test_board_boot_order_in_virtual_time(vt_rig):
    vt_rig.meter.start()
    vt_rig.board.start(opts={"poll_ms": 500})
    t_on = vt_rig.wait_line("transceiver", True, 10)
    t_en = vt_rig.wait_line("enable", True, 10, after=t_on)
    assert t_en - t_on >= 0.9                 # module-behaviour.md 2: 1000 ms
    msgs = vt_rig.board.wait_mqtt("meterConsumptionTotal/mydatajson", timeout=60, count=3)
    assert json.loads(msgs[-1][2])["Fwd_Act_Wh"] > 0
    # as mepmod publishes (firmware/host/host_mqtt.h): every 10 s once readings may be served
    assert [b[0] - a[0] for a, b in zip(msgs, msgs[1:])] == [10.0, 10.0]
    assert vt_rig.board.mqtt_messages("esp32-mep/lwt")[0][2] == b"Online"


def test_power_cycle_boots_again(vt_rig):
    vt_rig.meter.start()
    vt_rig.board.start(opts={"poll_ms": 500})
    vt_rig.board.wait_json(timeout=30)
    vt_rig.board.power_cycle(off_ms=2000)
    assert vt_rig.board.get()[0] in (None, 503)    # just booted: no readings yet
    assert vt_rig.board.wait_json(timeout=30)["Fwd_Act_Wh"] > 0
    ons = [t for t, n, on in vt_rig.line_events() if n == "transceiver" and on]
    offs = [t for t, n, on in vt_rig.line_events() if n == "transceiver" and not on]
    assert len(ons) >= 2 and offs and ons[-1] - offs[-1] == pytest.approx(2.0)


def _scenario_documents(tmp_path, name, tag):
    r = Rig(virtual_time_rig(), tmp_path / tag)
    try:
        r.meter.start(scenario=name)
        r.meter.ctl.scenario("stop")
        r.board.start(opts={"poll_ms": sc.POLL_MS})
        run = sc.Run(r)
        assert run.wait_first_reading()
        r.meter.ctl.scenario("start")
        assert run.run_until_done(sc.end_at(sc.load(name)) + 20.0)
        fs = r.meter.fault_status()
        summary = r.meter.ctl.finish()
    finally:
        problems = r.finish()
    assert not problems, problems
    return run.docs, run.truth, fs, summary


def test_a_scenario_run_twice_gives_the_same_documents(tmp_path):
    _cosim_bin()
    a = _scenario_documents(tmp_path, "s16-kwh-spike", "a")
    b = _scenario_documents(tmp_path, "s16-kwh-spike", "b")
    assert a[0] and a[0] == b[0]              # every document, at the same virtual times
    assert a[1] == b[1] and a[2] == b[2]
    ma, mb = SUMMARY.match(a[3]), SUMMARY.match(b[3])
    assert ma and mb and ma.group(4) == mb.group(4), (a[3], b[3])   # the same wire bytes
    assert sum(a[2]["glitched"].values()) > 0


# ---- the control channel's bad input ------------------------------------------

BAD = [
    ("garbage", "bad JSON"),
    ("[1, 2]", "expected a JSON object"),
    ('{"nocmd": 1}', 'missing "cmd"'),
    ('{"cmd": 7}', "cmd: expected a string"),
    ('{"cmd": "explode"}', 'unknown cmd "explode"; commands: now, advance'),
    ('{"cmd": "advance"}', 'advance: missing field "s"'),
    ('{"cmd": "advance", "s": "10"}', "advance: s: expected a number"),
    ('{"cmd": "advance", "s": -1}', "advance: s: -1 is not a duration"),
    ('{"cmd": "advance", "s": 1e300}', "is not a duration"),
    ('{"cmd": "advance", "s": 1, "x": 2}', 'advance: unknown field "x"'),
    ('{"cmd": "run_until", "t": -5}', "run_until: t: -5 is not a virtual time"),
    ('{"cmd": "inject", "spec": "nosuchfault"}', 'inject: unknown fault "nosuchfault"'),
    ('{"cmd": "glitch", "spec": "spike delta=banana"}', "glitch:"),
    ('{"cmd": "clear", "what": "nosuch"}', "clear:"),
    ('{"cmd": "scenario", "action": "load"}', 'scenario: action: expected "start", "stop" or "status"'),
    ('{"cmd": "board", "action": "explode"}', 'board: action: expected "start" or "off"'),
    ('{"cmd": "board", "action": "start", "poll_ms": 5}', "board: poll_ms: 5 is not a period"),
    ('{"cmd": "http", "path": "relative"}', "http: path: expected an absolute path"),
    ('{"cmd": "now", "cmd": "get"}', "bad JSON"),                  # duplicate key
    ("{" + '"a":' * 1 + '"' + "x" * 70000 + '"}', "longer than"),   # overlong line
]


def test_bad_requests_get_clear_errors_and_the_channel_keeps_going(tmp_path):
    c = Cosim([_cosim_bin(), "--control-stdio"], tmp_path)
    try:
        for line, want in BAD:
            rep = c.send_line(line)
            assert rep["ok"] is False and want in rep["error"], (line[:80], rep)
            assert c.now() == 0.0                 # nothing ran, nothing changed
        assert c.request({"cmd": "help"})["commands"]["advance"]
        assert c.list_faults().startswith("transceiver ") and c.fault_status()["active"] == 0
        assert c.advance(5) == pytest.approx(5.0)
        rep = c.send_line('{"cmd": "now", "id": 42}')
        assert rep["id"] == 42 and rep["t"] == pytest.approx(5.0)
        with pytest.raises(CosimError, match="scenario: none loaded"):
            c.scenario("start")
        assert SUMMARY.match(c.finish()).group(1) == "5"
    finally:
        problems = c.problems()
    assert not problems, problems


def test_random_bytes_never_crash_the_channel(tmp_path):
    """Any bytes on stdin: one reply per line, no crash, no sanitizer report."""
    import random
    rnd = random.Random(7)
    pieces = ['{"cmd":"', "advance", "inject", '"s":', "1e9", "null", "[", "]", "{", "}", ",",
              '"spec":"drop p=', "\\u0000", "\xff", '"', ":", "9" * 30, "-", "true"]
    lines = ["".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 12))) for _ in range(400)]
    data = "\n".join(lines + ['{"cmd":"finish"}']) + "\n"
    p = subprocess.run([str(_cosim_bin()), "--control-stdio"], input=data.encode("utf-8", "replace"),
                       capture_output=True, timeout=120)
    err = p.stderr.decode(errors="replace")
    assert p.returncode == 0, err[-2000:]
    assert "Sanitizer" not in err and "runtime error" not in err, err[-3000:]
    out = p.stdout.decode().splitlines()
    replies = [json.loads(x) for x in out[:-1]]
    assert len(replies) == sum(1 for ln in lines if ln.strip(" \t\r")) + 1
    assert SUMMARY.match(out[-1]), out[-1]


def test_end_of_input_ends_the_run_with_the_summary(tmp_path):
    p = subprocess.run([str(_cosim_bin()), "--control-stdio", "--out", str(tmp_path / "o")],
                       input=b'{"cmd":"advance","s":60}\n', capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr[-2000:]
    lines = p.stdout.decode().splitlines()
    assert json.loads(lines[0])["t"] == 60.0
    m = SUMMARY.match(lines[1])
    assert m and m.group(1) == "60" and int(m.group(5)) > 0
    counters = json.loads((tmp_path / "o" / "counters.json").read_text())
    assert counters["run"]["published_fell"] == 0


# ---- the plugin option ----------------------------------------------------------

INNER = '''
def test_clock_and_rig(rig, rig_config):
    assert rig_config.kind == "virtual-time" and rig_config.is_virtual
    assert rig.clock.virtual and rig.clock.now() == 0.0
    rig.clock.sleep(45)
    assert rig.clock.now() == 45.0
    assert rig.board.snapshot()[0] == 200
    assert (rig.artifacts / "mepsim-cosim.log").exists()

def test_no_pty_here(meter):
    meter.link()
'''


def test_plugin_runs_a_test_on_the_virtual_time_rig(pytester):
    from osgp_hil import plugin_args
    _cosim_bin()
    pytester.makepyfile(test_vt=INNER)
    r = pytester.runpytest(*plugin_args(), "--rig", "virtual-time", "-rs")
    r.assert_outcomes(passed=1, skipped=1)
    r.stdout.fnmatch_lines(["osgp-hil rig: virtual-time (virtual-time: mepsim-cosim, meter + mepmod-core*",
                            "*the virtual-time rig has no PTY*"])
    r = pytester.runpytest(*plugin_args(), "--rig", "virtual-time", "--board-command",
                           "myfw --port {port} --http {http_port}")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    r.stderr.fnmatch_lines(["*--board: board board: the virtual-time rig runs our firmware core or "
                            "an Arduino sketch for virtual time*"])
