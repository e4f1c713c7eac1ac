#!/usr/bin/env python3
"""bench_memory: resident memory per emulated meter, and start-up time.

Starts mepsim with 1 meter and with N meters of one profile (--count N),
each on its own PTY, Unix socket or TCP port, waits for "mepsim: ready",
reads VmRSS from /proc/<pid>/status and prints (RSS(N) - RSS(1)) / (N - 1):
what one more meter costs, without the process's fixed part; and the time
from start to "ready" for N meters. A benchmark: it prints figures and
never fails a build.

Usage: bench_memory.py --mepsim PATH [--meters 1000] [--profile FILE]
                       [--transport pty|unix|tcp]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

TCP_BASE = 21000


def measure(mepsim, n, profile, transport, tmp):
    """(RSS KiB, seconds to ready) of mepsim with n meters."""
    if transport == "pty":
        where = ["--pty", os.path.join(tmp, "m%d.pty")]
    elif transport == "unix":
        where = ["--unix", os.path.join(tmp, "m%d.sock")]
    else:
        where = ["--tcp", str(TCP_BASE)]
    cmd = [mepsim] + where + ["--count", str(n)]
    if profile:
        cmd += ["--profile", profile]
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in p.stdout:
            if line.startswith("mepsim: ready"):
                break
        else:
            raise SystemExit("mepsim did not get ready: " + p.stderr.read().strip()[:300])
        ready = time.monotonic() - t0
        time.sleep(0.5)  # let the first timers run
        with open("/proc/%d/status" % p.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]), ready
    finally:
        p.terminate()
        p.wait(timeout=60)
    raise SystemExit("no VmRSS")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mepsim", required=True)
    ap.add_argument("--meters", type=int, default=1000)
    ap.add_argument("--profile", default="")
    ap.add_argument("--transport", choices=["pty", "unix", "tcp"], default="pty")
    ap.add_argument("--dir", default=None, help="where the PTY links or sockets go (default: a new "
                    "folder in $TMPDIR; a Unix socket's start-up cost is its file system's)")
    a = ap.parse_args()
    if a.meters < 2:
        ap.error("--meters must be at least 2")
    with tempfile.TemporaryDirectory(dir=a.dir) as tmp:
        one, _ = measure(a.mepsim, 1, a.profile, a.transport, tmp)
        many, ready = measure(a.mepsim, a.meters, a.profile, a.transport, tmp)
    per = (many - one) / (a.meters - 1)
    print("   %s%s: RSS 1 meter %d KiB, %d meters %d KiB: %.1f KiB per meter, start-up %.2f s%s" %
          (a.transport, " in " + a.dir if a.dir else "", one, a.meters, many, per, ready,
           " (" + os.path.basename(a.profile) + ")" if a.profile else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
