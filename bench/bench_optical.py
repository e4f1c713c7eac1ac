#!/usr/bin/env python3
"""bench_optical: optical-port pacing measured from the reader's side.

Starts mepsim with a separate optical PTY (fixtures/meters/nes-3ph.json with
the 9600 and 19200 rates allowed), opens a C12.18 session and reads ET16
(2,585 bytes) a few times at 9600 and, after a Negotiate, at 19200. For
every reply it notes when each chunk arrived; the rate is the bytes after
the first chunk divided by the time from the first chunk to the last
(ACK round trips between packets excluded: each packet is timed alone).
Nominal is baud / 10 (8N1, docs/optical.md 1). A benchmark: it prints
figures and never fails a build.

Usage: bench_optical.py --mepsim PATH [--reads 3]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "hil"))
from osgp_hil import c1218  # noqa: E402  (the project's own C12.18 client)


class TimedClient(c1218.C1218Client):
    """Records (time, bytes) for every chunk read from the PTY."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.chunks = []

    def _fill(self, deadline):
        n = len(self.buf)
        got = super()._fill(deadline)
        if len(self.buf) > n:
            self.chunks.append((time.monotonic(), len(self.buf) - n))
        return got


def packet_rates(chunks, gap_s):
    """Split arrivals into bursts (a pause > gap_s = the next packet after our
    ACK) and return (bytes, seconds) summed over bursts, first chunk excluded."""
    total_b, total_t = 0, 0.0
    burst = []
    for t, n in chunks + [(float("inf"), 0)]:
        if burst and t - burst[-1][0] > gap_s:
            if len(burst) > 1:
                total_b += sum(b for _, b in burst[1:])
                total_t += burst[-1][0] - burst[0][0]
            burst = []
        burst.append((t, n))
    return total_b, total_t


def measure(c, reads, baud):
    b_sum, t_sum = 0, 0.0
    for _ in range(reads):
        c.chunks = []
        code, data = c.read(c1218.ET(16))
        assert code == c1218.OK and len(data) == 2585, (code, len(data))
        b, t = packet_rates(c.chunks, gap_s=20 * 10.0 / baud)
        b_sum += b
        t_sum += t
    rate = b_sum / t_sum
    nominal = baud / 10.0
    print("   optical %6d baud: %7.1f bytes/s measured, %7.1f nominal (%+.2f %%), %d bytes timed"
          % (baud, rate, nominal, (rate / nominal - 1) * 100, b_sum))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mepsim", required=True)
    ap.add_argument("--reads", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = json.loads((ROOT / "fixtures" / "meters" / "nes-3ph.json").read_text())
        data.setdefault("optical", {})["bauds"] = [6, 8]
        prof = os.path.join(tmp, "profile.json")
        with open(prof, "w") as f:
            json.dump(data, f)
        p = subprocess.Popen([os.path.abspath(a.mepsim), "--pty", "m.pty", "--optical-pty", "o.pty", "--profile", prof],
                             cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            for line in p.stdout:
                if line.startswith("mepsim: ready"):
                    break
            c = TimedClient.open(os.path.join(tmp, "o.pty"), reply_timeout=10.0)
            for code, baud in ((6, 9600), (8, 19200)):   # one session per rate
                c.identify()
                c.negotiate(1024, 4, [code])
                time.sleep(0.05)                         # the rate changes once our ACK arrived
                c.logon(7, "BENCH")
                c.security(b"OPTICAL-MK-000000001")
                measure(c, a.reads, baud)
                c.terminate()
                time.sleep(0.1)
            c.close()
        finally:
            p.terminate()
            p.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
