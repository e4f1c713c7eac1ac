#!/usr/bin/env python3
"""bench_memory: resident memory per emulated meter.

Starts mepsim with 1 meter and with N meters (each on its own PTY, from a
generated --config file), waits for "mepsim: ready", reads VmRSS from
/proc/<pid>/status and prints (RSS(N) - RSS(1)) / (N - 1): what one more
meter costs, without the process's fixed part. A benchmark: it prints
figures and never fails a build.

Usage: bench_memory.py --mepsim PATH [--meters 1000] [--profile FILE]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


def rss_kib(mepsim, n, profile, tmp):
    cfg = os.path.join(tmp, "mem-%d.json" % n)
    meters = []
    for i in range(n):
        m = {"name": "m%d" % i, "pty": os.path.join(tmp, "m%d.pty" % i), "seed": i + 1}
        if profile:
            m["profile"] = profile
        meters.append(m)
    with open(cfg, "w") as f:
        json.dump({"meters": meters}, f)
    p = subprocess.Popen([mepsim, "--config", cfg], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        deadline = time.monotonic() + 120
        for line in p.stdout:
            if line.startswith("mepsim: ready"):
                break
            if time.monotonic() > deadline:
                raise SystemExit("mepsim did not get ready")
        time.sleep(0.5)  # let the first timers run
        with open("/proc/%d/status" % p.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    finally:
        p.terminate()
        p.wait(timeout=30)
    raise SystemExit("no VmRSS")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mepsim", required=True)
    ap.add_argument("--meters", type=int, default=1000)
    ap.add_argument("--profile", default="")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        one = rss_kib(a.mepsim, 1, a.profile, tmp)
        many = rss_kib(a.mepsim, a.meters, a.profile, tmp)
    per = (many - one) / (a.meters - 1)
    print("   RSS 1 meter %d KiB, %d meters %d KiB: %.1f KiB per meter%s" %
          (one, a.meters, many, per, " (" + os.path.basename(a.profile) + ")" if a.profile else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
