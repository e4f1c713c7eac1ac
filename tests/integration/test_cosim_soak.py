"""The week-long soak (fixtures/soak/soak-7d.json): our firmware core in
mepsim-cosim (meter and firmware on one virtual clock) through seven
simulated days of every kWh glitch a good module must never publish and
the line and protocol fault mix, under the build CI tests (ASan/UBSan).

Asserts: no bogus published energy (counters.json run.published_fell == 0:
a published register below the previous one of the same serial;
run.published_above_truth == 0: a published register above the meter
model's at that moment, i.e. a spike let through), every step applied, the
module OK at the end, no leak and no sanitizer report (exit status 0, a
clean stderr), and bounded memory: the peak resident set of 7 days within
PEAK_RSS_KIB and at most RSS_GROWTH above that of 1 day (what grows with
the run would show as the difference).

The program is found as tests/integration/test_cosim.py finds it (its
`binary` fixture: $MEPSIM_COSIM_BIN, else next to $MEPSIM_BIN, else
<checkout>/build). A
7-day run takes about 1.5 min under ASan on a loaded 2-core machine (Release:
about 15 s); the bounds are generous.
"""

import json
import subprocess
from pathlib import Path

from test_cosim import SANITIZER_MARKS, SUMMARY, binary  # noqa: F401 (the fixture)

SOAK = Path(__file__).resolve().parents[2] / "fixtures" / "soak" / "soak-7d.json"
# Peak resident memory (VmHWM, KiB) of a week: about 12 MiB under ASan
# (shadow and quarantine included), 3 MiB in a Release build.
PEAK_RSS_KIB = 128 * 1024
# Day 7 against day 1: allocator and quarantine settle within a day; what
# leaks per poll (43,000 polls a day) would add far more than this.
RSS_GROWTH_KIB = 4 * 1024


def soak(binary, out, duration, timeout):
    r = subprocess.run([str(binary), "--scenario", str(SOAK), "--duration", duration,
                        "--capture", "none", "--published", "none", "--out", str(out)],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    for mark in SANITIZER_MARKS:                  # a leak is a LeakSanitizer report
        assert mark not in r.stderr, r.stderr[-4000:]
    assert r.returncode == 0, f"rc {r.returncode}: {r.stderr[-2000:]}"
    lines = r.stdout.splitlines()
    assert len(lines) == 1 and SUMMARY.match(lines[0]), r.stdout
    return SUMMARY.match(lines[0]), json.loads((out / "counters.json").read_text())


def test_the_soak_has_every_glitch_a_module_must_filter_and_the_fault_mix_every_day():
    doc = json.loads(SOAK.read_text())
    glitches = {s["glitch"] for s in doc["timeline"] if "glitch" in s}
    assert {"spike", "torn", "segment", "solar", "clock-freeze"} <= glitches
    faults = {s["fault"] for s in doc["timeline"] if "fault" in s}
    assert {"flip", "silence", "delay", "garble", "latchup", "drop", "trailing", "previous", "short",
            "table-error", "alert-split", "zero-stream", "stuck", "strings", "seq-last", "auth",
            "echo", "busy"} <= faults
    days = {int(s["at"] // 86400) for s in doc["timeline"] if "glitch" in s}
    assert days == set(range(7))           # every day, not only the first


def test_a_simulated_week_of_glitches_and_faults_publishes_no_bogus_energy_in_flat_memory(binary, tmp_path):
    m1, day = soak(binary, tmp_path / "1d", "1d", timeout=600)
    m7, week = soak(binary, tmp_path / "7d", "7d", timeout=1800)
    assert int(m7[1]) == 7 * 86400 and int(m1[1]) == 86400
    for k in (day, week):
        run = k["run"]
        assert run["published_fell"] == 0, run
        assert run["published_above_truth"] == 0, run
        assert run["scenario_step_errors"] == 0, run
        assert k["firmware"]["status"] == "OK", k["firmware"].get("status_text")
    # the glitches were served and the faults hit: the soak tested something
    assert sum(week["faults"]["glitch"].values()) >= 7 * 5, week["faults"]["glitch"]
    assert week["faults"]["latchups"] >= 7 and week["faults"]["latchups_cleared"] >= 7
    # polls every 2 s for a week, minus the outages of the fault mix
    assert int(m7[5]) > 7 * 86400 / 2 * 0.9
    # the model's and the published energy agree at the end
    assert abs(week["model"]["fwd_wh"] - week["model"]["published_fwd_wh"]) < 100
    rss1, rss7 = day["run"]["peak_rss_kib"], week["run"]["peak_rss_kib"]
    assert 0 < rss7 < PEAK_RSS_KIB, rss7
    assert rss7 - rss1 <= RSS_GROWTH_KIB, f"peak RSS grew from {rss1} KiB (1 d) to {rss7} KiB (7 d)"
