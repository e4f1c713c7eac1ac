"""The control socket (JSON lines) and module line events (docs/module-behaviour.md 2)."""

import json
import os
import socket
import stat
import subprocess
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


@pytest.mark.parametrize("line", [b'{"cm\xde\x9e\x8a\x8fht"}', b'{"cmd":"get","x\xff":1}', b'\xff\xfe'])
def test_invalid_utf8_gets_an_ascii_refusal(meter, line):
    # a parser error quotes the bytes it choked on: the refusal must still be
    # valid JSON (found by fuzz_control), and the connection stays usable
    rep = meter.ctl.send_line(line)
    assert rep["ok"] is False and rep["error"].isascii(), rep
    assert meter.ctl.get()["registers"]


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


# ---- bounded output, one owner per socket path ------------------------------------

def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_client_that_never_reads_cannot_swell_mepsim(meter):
    """mepsim stops reading a client's requests while a reply to it is not
    taken (simulator/app/sim_control.c), so 100 k unread replies cannot pile
    up: before, 100 k unread "status" replies grew mepsim from 85 to 122 MB."""
    pid = meter.sim.proc.p.pid
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(str(meter.sim.control_path))
    s.setblocking(False)
    line = b'{"cmd":"status"}\n'
    before = rss_kib(pid)
    sent, stalled_since = 0, None                      # bytes
    deadline = time.monotonic() + 20
    while sent < 100_000 * len(line) and time.monotonic() < deadline:
        try:
            sent += s.send((line * 64)[sent % len(line):])
            stalled_since = None
        except BlockingIOError:
            stalled_since = stalled_since or time.monotonic()
            if time.monotonic() - stalled_since > 1.0:
                break                                   # mepsim no longer takes requests
            time.sleep(0.01)
    grown = rss_kib(pid) - before
    assert sent < 100_000 * len(line), "mepsim kept reading requests whose replies nobody took"
    assert grown < 8 * 1024, f"RSS grew {grown} KiB with {sent // len(line)} requests sent"
    # the other clients are served meanwhile
    assert meter.ctl.status()["meters"][0]["name"] == "meter0"
    # every request is answered once the client reads: none lost
    s.setblocking(True)
    s.settimeout(10)
    s.shutdown(socket.SHUT_WR)
    data = bytearray()
    while True:
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        data += chunk
    s.close()
    replies = bytes(data).splitlines()
    assert len(replies) == sent // len(line)
    assert all(json.loads(r)["ok"] for r in replies[:50] + replies[-50:])


def test_second_mepsim_refuses_a_live_control_socket(mepsim, tmp_path):
    first = mepsim("--pty", "a.pty", "--control", "ctl.sock", name="first")
    r = subprocess.run([first.proc.argv[0], "--pty", "b.pty", "--control", "ctl.sock"], cwd=str(tmp_path),
                       capture_output=True, text=True, timeout=20)
    assert r.returncode != 0 and "live" in r.stderr, (r.returncode, r.stderr)
    assert not (tmp_path / "b.pty").exists()           # refused before anything started
    assert (tmp_path / "ctl.sock").exists()            # and the socket was left alone
    assert first.control().status()["meters"][0]["name"] == "meter0"


def test_mepsim_never_deletes_a_socket_another_process_bound(mepsim, tmp_path):
    first = mepsim("--pty", "a.pty", "--control", "ctl.sock", name="first")
    os.unlink(tmp_path / "ctl.sock")                   # someone removed it by hand ...
    second = mepsim("--pty", "b.pty", "--control", "ctl.sock", name="second")   # ... and it was taken
    ino = os.stat(tmp_path / "ctl.sock").st_ino
    assert first.stop() == 0
    assert os.stat(tmp_path / "ctl.sock").st_ino == ino   # the first left the second's socket
    assert second.control().status()["meters"][0]["name"] == "meter0"
    assert second.stop() == 0
    assert not (tmp_path / "ctl.sock").exists()        # its own socket it removes


def test_stale_control_socket_of_a_dead_run_is_replaced(mepsim, tmp_path):
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(tmp_path / "ctl.sock"))              # bound, never listening: nobody answers
    dead.close()
    sim = mepsim("--pty", "a.pty", "--control", "ctl.sock")
    assert sim.control().status()["meters"][0]["name"] == "meter0"


def test_too_long_control_path_exits_2_before_anything_starts(mepsim, tmp_path):
    exe = os.environ.get("MEPSIM_BIN", "mepsim")
    long_path = "c" * 200 + ".sock"
    r = subprocess.run([exe, "--pty", "x.pty", "--control", long_path], cwd=str(tmp_path),
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "too long" in r.stderr
    assert not (tmp_path / "x.pty").exists()
    assert not (tmp_path / long_path).exists()


def test_scenario_status_elapsed_grows_between_steps(mepsim):
    """`scenario status` reports the timeline time elapsed now, also between
    two steps (slow-meter.json's steps are minutes apart), not the time of
    the last step."""
    from osgp_hil.paths import fixture_path
    sim = mepsim("--pty", "meter.pty", "--scenario", fixture_path("scenarios/slow-meter.json"),
                 "--speed", "10")
    ctl = sim.ctl
    first = ctl.scenario("status")
    time.sleep(1.0)
    second = ctl.scenario("status")
    a = first.get("elapsed_s", first.get("scenario", {}).get("elapsed_s"))
    b = second.get("elapsed_s", second.get("scenario", {}).get("elapsed_s"))
    assert a is not None and b is not None, (first, second)
    # 1 s of wall time at speed 10: about 10 s of timeline (generous: a loaded machine)
    assert b - a >= 5.0, f"elapsed_s {a} -> {b} after 1 s at speed 10"
