"""The meter / board / rig fixtures on the virtual rig (mepsim on a PTY,
mepmod behind the PTY tap). The same tests run on a bench with
`--rig bench.yaml`; the ones that only make sense on one rig say so with a
marker. Bounds on time are generous lower/upper limits from
module-behaviour.md 2 and 6, never tight timing."""

import time

import pytest

from osgp_hil.trace import TO_METER, TO_MODULE, parse_mepsim_log

FAST = pytest.mark.board_opts(poll_ms=500)


@pytest.fixture(autouse=True)
def _default_board_only(rig_config):
    """These test the plugin with its default board (mepmod's console lines,
    /status page, boot order); with --board another firmware runs the
    scenario suite and test_any_firmware instead."""
    spec = rig_config.board.spec
    if rig_config.is_virtual and spec is not None and spec.name != "mepmod":
        pytest.skip(f"tests the plugin with the default board mepmod, not {spec.name}")


@FAST
def test_board_publishes_the_meters_energy(rig):
    doc = rig.board.wait_json(timeout=30)
    truth = rig.meter.truth()
    assert doc["Utility_SN"], "module-behaviour.md 10: a non-empty Utility_SN from the first 200"
    # the model's counter only grows; the board's reading is from a poll <= 0.5 s ago
    assert 0 <= truth["bt23"]["fwd_wh"] - doc["Fwd_Act_Wh"] <= 1000
    assert isinstance(doc["Fwd_W"], int)
    c = rig.meter.counters()
    assert c["line"]["responses"] >= 8          # boot reads + at least one poll


@FAST
def test_boot_order_and_trace_match_the_meters_log(rig):
    rig.board.wait_json(timeout=30)
    ev = rig.line_events()
    names = [(n, on) for _, n, on in ev]
    assert names[:3] == [("transceiver", True), ("enable", False), ("enable", True)], ev
    # module-behaviour.md 2: transceiver on -> wait 1000 ms -> ENABLE on
    assert ev[2][0] - ev[0][0] >= 0.9
    time.sleep(0.3)
    to_meter = rig.trace.bytes(TO_METER)
    to_module = rig.trace.bytes(TO_MODULE)
    assert to_meter[:3] == b"\x00\x11\x30"      # first request: full read (0x30) of BT52
    # every frame mepsim logged as received went through the tap, byte for byte
    logged = b"".join(r.data for r in parse_mepsim_log(rig.meter.log()) if r.kind == TO_METER)
    assert logged and to_meter.startswith(logged[:len(to_meter)]) and len(logged) >= 19
    logged_tx = b"".join(r.data for r in parse_mepsim_log(rig.meter.log()) if r.kind == TO_MODULE)
    assert to_module.startswith(logged_tx[:len(to_module)][:64]) and to_module[:2] == logged_tx[:2]


def test_console_expect_reads_forward(rig):
    m = rig.board.expect(r"line: (transceiver on)", 10)
    assert m.group(1) == "transceiver on"
    rig.board.expect(r"ENABLE asserted", 10)
    with pytest.raises(AssertionError, match="no match for 'transceiver on'"):
        rig.board.expect(r"transceiver on", 0.2)   # already consumed, no reboot since


def test_mqtt_messages_captured(rig):
    if rig.board.mqtt is None:
        pytest.skip("mosquitto not installed: no broker for the virtual rig")
    msgs = rig.board.wait_mqtt("lwt", timeout=15)
    assert msgs[-1][2] == b"Online"              # module-behaviour.md 8.2


@FAST
def test_power_cycle_boots_the_board_again(rig):
    rig.board.wait_json(timeout=30)
    rig.board.power_cycle(off_ms=300)
    rig.board.expect(r"transceiver on", 10)
    rig.board.expect(r"transceiver on", 10)     # the second boot's
    doc = rig.board.wait_json(timeout=30)
    assert doc["Fwd_Act_Wh"] > 0
    ons = [t for t, n, on in rig.line_events() if n == "transceiver" and on]
    assert len(ons) >= 2


@pytest.mark.scenario("s12-trailing-junk")
def test_scenario_marker_starts_the_meter_with_it(meter):
    assert meter.scenario == "s12-trailing-junk"
    assert meter.status()["ok"] is True
    assert meter.faults()["active"] == 0      # its first fault is due at t = 20 s


@pytest.mark.scenario("s33-loopback-echo")
def test_loopback_scenario_meter_starts(meter):
    # the S33 scenario (echo protocol fault) starts and the meter reports its lines
    assert meter.status()["ok"] is True
    assert meter.status()["meters"][0]["lines"]["transceiver"] in (True, False)


@FAST
def test_fault_injection_through_the_control_socket(rig):
    rig.board.wait_json(timeout=30)
    fid = rig.meter.inject("drop", p=1, dir="to-module")
    assert isinstance(fid, int)
    got = rig.meter.faults()
    assert got["active"] == 1 and "drop" in got["list"]
    # every reply byte dropped: the poll running now loses its answer
    from osgp_hil.procs import wait_for
    wait_for(lambda: rig.meter.faults()["injected"]["drop"] > 0, 10, "a dropped reply byte")
    assert rig.meter.clear("all") == 1
    assert rig.meter.faults()["active"] == 0


@pytest.mark.profile("nes-1ph")
def test_profile_marker(meter):
    assert meter.profile.endswith("nes-1ph.json")
    bt01 = meter.ctl.read_table("BT01", 0, 4)
    assert len(bt01) == 4


@pytest.mark.virtual_only(reason="reads mepmod's own /status page")
@FAST
def test_virtual_board_status_page(board):
    status, doc, headers = board.get("/status")
    assert status == 200 and headers.get("Content-Type", "").startswith("application/json")
    assert board.published[-1][1] == "/status"


@pytest.mark.bench_only(reason="senses the real board's transceiver supply on a modem input")
def test_bench_transceiver_line_sensed(rig):
    if rig.board.lines is None or not rig.board.lines.wired("enable"):
        pytest.skip("this bench senses no transceiver/ENABLE lines ($.lines)")
    t_on = rig.board.lines.wait_for("transceiver", True, rig.config.board.boot_timeout_s)
    t_en = rig.board.lines.wait_for("enable", True, 10, after=t_on)
    assert t_en - t_on >= 0.9                      # module-behaviour.md 2


def test_wait_line_on_either_rig(rig):
    t_on = rig.wait_line("transceiver", True, rig.config.board.boot_timeout_s)
    t_en = rig.wait_line("enable", True, 10, after=t_on)
    assert t_en - t_on >= 0.9                      # module-behaviour.md 2
