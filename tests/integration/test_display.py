"""--display: live view on a TTY, plain summary lines otherwise."""

import os
import pty
import select
import subprocess
import time

from osgp_hil.paths import mepsim_bin


def read_for(fd, seconds):
    out = b""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], max(0.0, end - time.monotonic()))
        if r:
            try:
                out += os.read(fd, 65536)
            except OSError:
                break
    return out


def test_display_on_a_tty_redraws_in_place_with_meter_values(tmp_path):
    master, slave = pty.openpty()
    p = subprocess.Popen([mepsim_bin(), "--pty", "d.pty", "--display", "--exit-after", "1.6",
                          "--seq-start", "0x10"], cwd=str(tmp_path), stdin=subprocess.DEVNULL,
                         stdout=slave, stderr=subprocess.PIPE)
    os.close(slave)
    out = read_for(master, 1.5).decode(errors="replace")
    _, err = p.communicate(timeout=10)
    os.close(master)
    assert p.returncode == 0, err
    assert b"Sanitizer" not in err, err
    assert out.count("\033[H\033[J") >= 2                 # redrawn about twice a second
    for needle in ("meter0", "kWh", "L1", "L3", "frequency", "not registered", "E=0x00000010"):
        assert needle in out, needle


def test_display_without_tty_prints_plain_summary_lines(tmp_path):
    p = subprocess.run([mepsim_bin(), "--pty", "d.pty", "--display", "--exit-after", "5.3"],
                       cwd=str(tmp_path), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=20)
    assert p.returncode == 0, p.stderr
    assert "Sanitizer" not in p.stderr, p.stderr
    lines = [l for l in p.stdout.splitlines() if l.startswith("meter0 ")]
    assert len(lines) == 1, p.stdout                      # one per 5 s
    assert "\033" not in p.stdout and "kWh" in lines[0]
