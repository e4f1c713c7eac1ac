"""The control socket (JSON lines) and module line events (docs/module-behaviour.md 2)."""

import json
import os
import socket
import stat
import time

import pytest

from osgp_hil import mepframe
from osgp_hil.mepframe import OK
from osgp_hil.mepsim_control import MepsimControlError


def test_control_socket_is_mode_0600(meter):
    mode = os.stat(meter.sim.control_path).st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600


@pytest.mark.parametrize("line, needle", [
    ("{not json", "bad JSON"),
    ('{"cmd": "fly"}', "unknown cmd"),
    ('{"cmd": "set_load", "phase": 4, "watts": 1}', "phase"),
    ('{"cmd": "set_load", "phase": 1, "watts": "lots"}', "watts"),
    ('{"cmd": "set_load", "phase": 1, "watts": 10, "colour": 1}', "colour"),
    ('{"cmd": "set_register", "name": "gold", "value": 1}', "gold"),
    ('{"cmd": "set_clock", "utc": "yesterday"}', "utc"),
    ('{"cmd": "get", "meter": "nope"}', "nope"),
    ('{"cmd": "get", "meter": 7}', "out of range"),
    ('{"cmd": "read_table", "table": "BT999"}', "BT999"),
    ('{"cmd": "read_table", "table": "XX1"}', "table"),
    ('{"line": "relay", "on": true}', "line"),
    ('[1, 2]', "object"),
])
def test_bad_request_gets_error_and_changes_nothing(meter, line, needle):
    before = meter.ctl.get()
    rep = meter.ctl.send_line(line)
    assert rep["ok"] is False and needle in rep["error"], rep
    after = meter.ctl.get()                          # connection still usable
    assert after["registers"] == before["registers"]
    assert [p["p"] for p in after["phases"]] == [p["p"] for p in before["phases"]]


def test_client_raises_on_error_reply(meter):
    with pytest.raises(MepsimControlError, match="unknown register"):
        meter.ctl.set_register("gold", 5)


def test_many_clients_at_once(meter):
    extra = [meter.sim.control() for _ in range(5)]
    for i, c in enumerate(extra):
        c.set_load(1, watts=100 * (i + 1))
    assert abs(meter.ctl.get()["phases"][0]["p"] - 500) < 1


def test_status_reports_device_baud_and_sequence(meter):
    st = meter.ctl.status()["meters"][0]
    assert st["name"] == "meter0" and st["device"].startswith("/dev/pts/")
    assert st["baud"] == 9600 and st["E"] == "0x10000000"
    assert st["registered"] is False and st["sim_time"].endswith("Z")
    assert st["tls"] == "idle" and "scenario" not in st


def test_set_clock_moves_bt52(meter):
    now = meter.ctl.get()["sim_time_ms"] // 1000
    target = (now // 3600 + 3) * 3600 + 3 * 60 + 7               # 3 hours ahead, hh:03:07
    meter.ctl.set_clock(unix=target)
    rsp = meter.read("BT52")
    assert rsp.code == OK
    t = time.gmtime(target)
    assert list(rsp.data[0:5]) == [t.tm_year - 2000, t.tm_mon, t.tm_mday, t.tm_hour, 3]
    assert rsp.data[5] in (7, 8)                                 # a second may pass


# Regression: setting the clock years ahead used to make the model integrate
# every 1 s step of the jump; sim_meter_set_clock now rebases the model.
def test_set_clock_years_ahead_answers_promptly(meter):
    meter.ctl.set_clock(utc="2040-06-15T12:34:56Z")
    rsp = meter.read("BT52")
    assert rsp.code == OK and rsp.data[0] == 40


def test_read_table_returns_what_a_mep_read_serves(meter):
    rsp = meter.read("BT01")
    assert rsp.code == OK
    assert meter.ctl.read_table("BT01") == rsp.data
    assert meter.ctl.read_table(1, offset=4, count=8) == rsp.data[4:12]
    rep = meter.ctl.send_line('{"cmd": "read_table", "table": "ET13", "offset": 270, "count": 1}')
    assert rep["name"] == "ET13" and rep["table"] == 0x080D and rep["size"] == 330
    assert rep["count"] == 1 and rep["hex"] == "00"


def test_counters_count_responses_by_code(meter):
    meter.link.exchange(mepframe.read("BT52", seq=1, key=meter.key))      # 0x0C
    meter.seq = 0x10000000
    time.sleep(0.11)
    meter.read("BT52")
    c = meter.ctl.counters()
    assert c["responses"]["0x0C"] == 1 and c["responses"]["0x00"] == 1
    assert c["line"]["frames_rx"] == 2 and c["line"]["bytes_rx"] == 2 * 17


def test_enable_off_meter_hears_but_does_not_answer(meter):
    meter.ctl.line("enable", False)
    req = mepframe.read("BT52", seq=meter.next_seq(), key=meter.key)
    meter.link.send(req.frame)
    assert meter.link.expect_silence(0.4) == b""
    # it heard: the number was consumed
    assert meter.ctl.status()["meters"][0]["e"] == req.seq + 1
    meter.ctl.line("enable", True)
    assert meter.read("BT52").code == OK
    c = meter.ctl.counters()
    assert c["enable_off_events"] == 1 and c["line"]["muted"] == 1


def test_transceiver_off_meter_hears_nothing(meter):
    meter.ctl.line("transceiver", False)
    req = mepframe.read("BT52", seq=meter.next_seq(), key=meter.key)
    meter.link.send(req.frame)
    assert meter.link.expect_silence(0.4) == b""
    assert meter.ctl.status()["meters"][0]["e"] == req.seq        # never reached the meter
    meter.ctl.line("transceiver", True)
    meter.seq = req.seq
    assert meter.read("BT52").code == OK
    assert meter.ctl.counters()["line"]["deaf_bytes"] == len(req.frame)


def test_quit_stops_mepsim_cleanly(mepsim):
    sim = mepsim("--pty", "q.pty")
    ctl = sim.control()
    assert ctl.quit()["ok"] is True
    sim.proc.wait(5)
    assert sim.proc.returncode == 0
    assert not os.path.lexists(sim.pty("q.pty"))


def test_overlong_request_line_is_refused_and_connection_survives(meter):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(meter.sim.control_path)
    s.sendall(b"x" * 70000 + b"\n" + b'{"cmd":"status"}\n')
    buf = b""
    while buf.count(b"\n") < 2:
        buf += s.recv(65536)
    first, second = [json.loads(x) for x in buf.split(b"\n")[:2]]
    s.close()
    assert first["ok"] is False and "longer" in first["error"]
    assert second["ok"] is True


def test_set_seq_moves_e_and_the_next_request_gets_0x0C(meter):
    assert meter.ctl.set_seq(0x55555555)["e"] == 0x55555555
    rsp = meter.read("BT52")                                # S03: counter moved by another party
    assert rsp.code == mepframe.SEQ and rsp.seq == 0x55555555


def test_bump_idt_adds_25_to_e(meter):
    e0 = meter.ctl.status()["meters"][0]["e"]
    assert meter.ctl.bump_idt()["e"] == e0 + 25             # docs/mep.md 5.5 / 10.9


def test_freeze_clock_stops_simulated_time(meter):
    meter.ctl.freeze_clock(True)
    t0 = meter.ctl.get()["sim_time_ms"]
    time.sleep(0.3)
    assert meter.ctl.get()["sim_time_ms"] == t0
    meter.ctl.freeze_clock(False)
    time.sleep(0.2)
    assert meter.ctl.get()["sim_time_ms"] > t0
