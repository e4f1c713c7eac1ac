"""Several meters in one mepsim process (one libev loop)."""

import os
import pty
import select
import time
import tty

from osgp_hil import mepframe
from osgp_hil.link import RawModule
from osgp_hil.mepframe import OK, SEQ


def test_two_meters_on_two_ptys_answer_independently(mepsim):
    sim = mepsim("--pty", "a.pty", "--seq-start", "0x10000000",
                 "--meter", "m2", "--pty", "b.pty", "--seq-start", "0x20000000", "--speed", "10")
    a = RawModule(sim, "a.pty", seq=0x10000000)
    b = sim.link("b.pty")
    st = a.ctl.status()["meters"]
    assert [x["name"] for x in st] == ["meter0", "m2"]
    assert st[0]["e"] == 0x10000000 and st[1]["e"] == 0x20000000
    assert a.read("BT52").code == OK
    rsp = b.exchange(mepframe.read("BT52", seq=0x10000000))
    assert rsp.code == SEQ and rsp.seq == 0x20000000           # b has its own E
    rsp = b.exchange(mepframe.read("BT52", seq=0x20000000))
    assert rsp.code == OK
    c0, c1 = a.ctl.counters(meter=0), a.ctl.counters(meter="m2")
    assert c0["responses"] == {"0x00": 1}
    assert c1["responses"] == {"0x00": 1, "0x0C": 1}
    a.ctl.set_load(1, 5000, meter="m2")
    assert a.ctl.get(meter="m2")["phases"][0]["p"] > 4900
    assert abs(a.ctl.get(meter=0)["phases"][0]["p"]) < 4900


def test_config_file_runs_the_meters_it_lists(mepsim, tmp_path):
    cfg = tmp_path / "two.json"
    cfg.write_text('{"meters": [{"name": "north", "pty": "n.pty", "seq_start": "0x100"},'
                   ' {"name": "south", "pty": "s.pty", "seq_start": 512,'
                   '  "policy": {"seq_reply": "last"}}]}')
    sim = mepsim("--config", str(cfg))
    n, s = sim.link("n.pty"), sim.link("s.pty")
    assert n.exchange(mepframe.read("BT52", seq=0)).seq == 0x100
    assert s.exchange(mepframe.read("BT52", seq=0)).seq == 511   # seq_reply=last -> E-1


def test_hundreds_of_meters_run_in_one_process(mepsim, tmp_path):
    """Regression: mepsim once refused more than 16 meters (issue: >= 1,000 per process)."""
    n = 300
    meters = ",".join('{"name": "m%d", "pty": "m%d.pty", "seq_start": %d}' % (i, i, 1000 + i)
                      for i in range(n))
    cfg = tmp_path / "many.json"
    cfg.write_text('{"meters": [%s]}' % meters)
    sim = mepsim("--config", str(cfg))
    for i in (0, 150, n - 1):
        link = sim.link("m%d.pty" % i)
        rsp = link.exchange(mepframe.read("BT52", seq=0))
        assert rsp.code == SEQ and rsp.seq == 1000 + i           # each meter has its own E


def test_uart_option_serves_a_tty_device(mepsim):
    """--uart on a device libserialport does not list (a PTY slave) falls back to termios."""
    master, slave = pty.openpty()
    name = os.ttyname(slave)
    try:
        sim = mepsim("--uart", name, "--baud", "9600", "--seq-start", "0x40")
        tty.setraw(master)
        req = mepframe.read("BT52", seq=0x40)
        os.write(master, req.frame)
        buf = b""
        end = time.monotonic() + 2
        while len(buf) < 20 and time.monotonic() < end:
            r, _, _ = select.select([master], [], [], 0.2)
            if r:
                buf += os.read(master, 100)
        assert mepframe.parse_response(req, buf).code == OK
        assert sim.control().status()["meters"][0]["device"] == name
        sim.stop()
    finally:
        os.close(master)
        os.close(slave)
