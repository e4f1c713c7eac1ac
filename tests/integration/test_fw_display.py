"""mepmod --display: one plain line per poll when stdout is not a terminal,
an in-place ANSI view (status, dashboard URL, energy/power/V/I/PF/frequency)
when it is (a PTY stands in for the terminal)."""

import os
import pty
import select
import subprocess
import time

from fwfixtures import (MBK, MEPMOD_BIN, free_port, need_binaries, rig,  # noqa: F401
                        run_mepmod, run_mepsim, wait_for, wait_ready)


def test_display_prints_a_plain_line_per_poll_when_not_a_tty(rig):  # noqa: F811
    sim, pty_path, ctl = run_mepsim(rig.tmp)
    rig.add(sim)
    port = free_port()
    mod = rig.add(run_mepmod(rig, pty_path, port, ctl=ctl, extra=["--display"]))
    wait_ready(port)
    time.sleep(4.5)
    lines = [ln for ln in mod.stdout().splitlines() if "status=OK" in ln]
    assert len(lines) >= 2, mod.stdout()
    assert "\x1b[" not in mod.stdout(), "no ANSI escapes into a file"
    assert "fwd=" in lines[-1] and " Wh" in lines[-1] and "f=50000 mHz" in lines[-1]


def test_display_redraws_in_place_on_a_terminal(rig):  # noqa: F811
    need_binaries(MEPMOD_BIN)
    sim, pty_path, ctl = run_mepsim(rig.tmp)
    rig.add(sim)
    port = free_port()
    master, slave = pty.openpty()
    p = subprocess.Popen([str(MEPMOD_BIN), "--port", str(pty_path), "--mbk", MBK,
                          "--http-port", str(port), "--display", "--exit-after", "16"],
                         stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.DEVNULL)
    os.close(slave)
    out = b""
    try:
        # readings show once the first energy value is confirmed (>= 10 s of polls,
        # firmware/core/mepc_sanitise.h rule 2)
        end = time.monotonic() + 20
        while time.monotonic() < end and p.poll() is None:
            r, _, _ = select.select([master], [], [], 0.2)
            if r:
                try:
                    out += os.read(master, 65536)
                except OSError:
                    break
    finally:
        p.wait(10)
        os.close(master)
    text = out.decode(errors="replace")
    assert p.returncode == 0
    assert "\x1b[2K" in text and "\x1b[11A" in text, "redraws its block in place"
    assert f"http://127.0.0.1:{port}/" in text
    for word in ("status", "energy", "kWh", "power", "Hz", "PF", "L1", "L3"):
        assert word in text, word
