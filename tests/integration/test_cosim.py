"""mepsim-cosim: the emulated meter (line, faults, scenario) and the firmware
core on one virtual clock (cosim/README.md).

The program is found through $MEPSIM_COSIM_BIN, else next to the mepsim that
$MEPSIM_BIN names (<build>/cosim/mepsim-cosim), else in <checkout>/build.
Time bounds are generous on purpose (sanitizer builds on a loaded 2-core
machine): a 24-hour run takes about 2 s in a Release build and about 25 s
under ASan/UBSan; each bound below is at least 10x what it needs.
"""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "fixtures" / "scenarios"
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer", "runtime error:")
SUMMARY = re.compile(r"^simulated (\d+) s in ([0-9.]+) s wall \((\d+) x\), wire sha256 ([0-9a-f]{64}), "
                     r"published (\d+) values, suspect (\d+)$")


def cosim_bin():
    if os.environ.get("MEPSIM_COSIM_BIN"):
        return Path(os.environ["MEPSIM_COSIM_BIN"])
    if os.environ.get("MEPSIM_BIN"):
        return Path(os.environ["MEPSIM_BIN"]).resolve().parents[1] / "cosim" / "mepsim-cosim"
    return ROOT / "build" / "cosim" / "mepsim-cosim"


@pytest.fixture(scope="module")
def binary():
    b = cosim_bin()
    if not b.is_file():
        pytest.skip(f"{b} not built (set MEPSIM_COSIM_BIN or MEPSIM_BIN)")
    return b


def run(binary, *args, timeout=120, expect_rc=0):
    r = subprocess.run([str(binary)] + [str(a) for a in args], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=timeout)
    for mark in SANITIZER_MARKS:
        assert mark not in r.stderr, r.stderr[-4000:]
    assert r.returncode == expect_rc, f"rc {r.returncode}: {r.stderr[-2000:]}"
    return r


def summary(r):
    lines = r.stdout.splitlines()
    assert len(lines) == 1, r.stdout
    m = SUMMARY.match(lines[0])
    assert m, lines[0]
    return {"simulated_s": int(m[1]), "sha": m[4], "published": int(m[5]), "suspect": int(m[6])}


def published(out):
    return [json.loads(line) for line in (out / "published.jsonl").read_text().splitlines()]


def counters(out):
    return json.loads((out / "counters.json").read_text())


def never_falls(docs):
    """Per Utility_SN (a new serial is a new meter), Fwd/Rev_Act_Wh never go down."""
    last = {}
    for d in docs:
        sn = d["Utility_SN"]
        for k in ("Fwd_Act_Wh", "Rev_Act_Wh"):
            if (sn, k) in last:
                assert d[k] >= last[(sn, k)], f"{k} fell to {d[k]} at {d['Sim_s']} s (was {last[(sn, k)]})"
            last[(sn, k)] = d[k]


def test_two_runs_put_the_same_bytes_on_the_wire_and_publish_the_same_values(binary, tmp_path):
    scen = SCENARIOS / "s10-garbling-transceiver.json"    # line noise drawn from the seed
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    ra = summary(run(binary, "--scenario", scen, "--seed", 7, "--out", a))
    rb = summary(run(binary, "--scenario", scen, "--seed", 7, "--out", b))
    assert ra["sha"] == rb["sha"]
    assert ra["published"] == rb["published"] > 0
    assert (a / "published.jsonl").read_bytes() == (b / "published.jsonl").read_bytes()
    assert (a / "wire.jsonl").read_bytes() == (b / "wire.jsonl").read_bytes()
    # the hash covers what the seed changes: another seed, other noise
    rc = summary(run(binary, "--scenario", scen, "--seed", 8, "--out", c))
    assert rc["sha"] != ra["sha"]
    # and writing files changes nothing in the simulation
    assert summary(run(binary, "--scenario", scen, "--seed", 7))["sha"] == ra["sha"]


def test_a_simulated_day_publishes_the_model_energy_and_never_falls(binary, tmp_path):
    out = tmp_path / "day"
    s = summary(run(binary, "--duration", "24h", "--capture", "none", "--out", out, timeout=600))
    assert s["simulated_s"] == 86400
    assert s["published"] > 86400 / 2 * 0.95               # one line per 2 s poll
    assert s["suspect"] == 0
    docs = published(out)
    assert len(docs) == s["published"]
    never_falls(docs)
    # energy per poll of the model: the largest rise between two lines
    step = max(b["Model_Fwd_Wh"] - a["Model_Fwd_Wh"] for a, b in zip(docs, docs[1:]))
    assert step > 0
    worst = max(abs(d["Fwd_Act_Wh"] - d["Model_Fwd_Wh"]) for d in docs)
    assert worst <= step, f"published energy off the model by {worst} Wh (one poll: {step} Wh)"
    k = counters(out)
    assert abs(k["model"]["fwd_wh"] - k["model"]["published_fwd_wh"]) <= step
    assert k["firmware"]["counters"]["timeouts"] == 0
    assert docs[-1]["Sim_UTC"].startswith("2025-01-01T23:59")


# S16 spikes and the field day must leave the published counters untouched;
# S17's anomalies are the meter's own values ("good: passes through",
# docs/module-behaviour.md 9), so there only the ceiling (never above the truth) holds.
@pytest.mark.parametrize("name, monotonic", [("s16-kwh-spike", True), ("s17-counter-drop-reset", False),
                                             ("field-day", True)])
def test_a_kwh_glitch_is_never_published(binary, tmp_path, name, monotonic):
    out = tmp_path / name
    s = summary(run(binary, "--scenario", SCENARIOS / f"{name}.json", "--out", out))
    docs = published(out)
    assert docs and s["published"] == len(docs)
    k = counters(out)
    assert sum(k["faults"]["glitch"].values()) > 0, "the glitches did act on the meter's replies"
    assert s["suspect"] > 0, "the core held the glitched readings"
    for d in docs:
        # published from a reply read before the line: never above the truth of the model
        for member, truth in (("Fwd_Act_Wh", "Model_Fwd_Wh"), ("Rev_Act_Wh", "Model_Rev_Wh")):
            if d["Utility_SN"] == docs[0]["Utility_SN"]:
                assert d[member] <= d[truth], \
                    f"{name}: published {member}={d[member]} above the meter's truth {d[truth]} at {d['Sim_s']} s"
    assert k["run"]["published_above_truth"] == 0
    if monotonic:
        never_falls(docs)
        assert k["run"]["published_fell"] == 0


def test_a_simulated_week_of_the_field_day_publishes_no_bogus_energy_in_bounded_memory(binary, tmp_path):
    """The field-day scenario (load changes, solar export, line noise, late and
    lost replies, a kWh spike, a counter jump, an alert, a latch-up) and then
    7 simulated days of polling: about 40 s under ASan on a loaded 2-core
    machine (bound: 900 s)."""
    out = tmp_path / "week"
    s = summary(run(binary, "--scenario", SCENARIOS / "field-day.json", "--duration", "7d",
                    "--capture", "none", "--published", "none", "--out", out, timeout=900))
    assert s["simulated_s"] == 7 * 86400
    assert s["published"] > 7 * 86400 / 2 * 0.95
    k = counters(out)
    assert k["run"]["published_above_truth"] == 0
    assert k["run"]["published_fell"] == 0
    assert not (out / "published.jsonl").exists()
    assert abs(k["model"]["fwd_wh"] - k["model"]["published_fwd_wh"]) < 100
    assert k["firmware"]["status"] == "OK"
    # peak resident memory of the run (VmHWM), KiB, ASan's shadow and quarantine included:
    # about 25 MiB; memory that grows with the run stays bounded (LeakSanitizer reports
    # unreferenced leaks at exit, which fails the run)
    assert 0 < k["run"]["peak_rss_kib"] < 256 * 1024, k["run"]["peak_rss_kib"]


# Every scenario file through the co-simulation: the module's end state and the
# energy invariants (the real-time suite, tests/hil, checks much more per file).
# TLS scenarios need the port's TLS client on the virtual clock (not there yet:
# the core stays in its failure state); S33's loopback must be recognised.
END_STATE = {"s33-loopback-echo": "LOOPBACK"}
NO_TLS_YET = "s36-"
MAY_FALL = {"s17-counter-drop-reset"}            # the meter's own anomalies pass through (S17)


@pytest.mark.parametrize("name", sorted(p.stem for p in SCENARIOS.glob("*.json")))
def test_every_scenario_runs_in_virtual_time_without_publishing_bogus_energy(binary, tmp_path, name):
    out = tmp_path / name
    s = summary(run(binary, "--scenario", SCENARIOS / f"{name}.json", "--capture", "none", "--out", out))
    k = counters(out)
    assert k["run"]["published_above_truth"] == 0
    if name not in MAY_FALL:
        assert k["run"]["published_fell"] == 0
    assert k["run"]["scenario_step_errors"] == 0
    if name.startswith(NO_TLS_YET):
        assert s["published"] == 0
        return
    assert k["firmware"]["status"] == END_STATE.get(name, "OK"), k["firmware"]["status_text"]
    if name not in END_STATE:
        assert s["published"] > 0


def test_a_transceiver_latch_up_is_cleared_by_the_firmware_power_cycle(binary, tmp_path):
    out = tmp_path / "s09"
    summary(run(binary, "--scenario", SCENARIOS / "s09-transceiver-latch-up.json", "--out", out))
    k = counters(out)
    assert k["faults"]["latchups"] == 1 and k["faults"]["latchups_cleared"] == 1
    assert k["board"]["transceiver_off"] >= 1 and k["board"]["transceiver_on"] >= 2
    assert k["meter"]["transceiver_off_events"] >= 1
    assert k["firmware"]["counters"]["recovery_cycles"] >= 1
    start = k["run"]["timeline_started_s"]
    late = [d for d in published(out) if d["Sim_s"] > start + 20 + 10]   # latch-up at +20 s
    assert late and late[-1]["Status"] == "OK", "readings resume after the recovery cycle"


def test_mepsim_line_ends_the_run_and_help_lists_every_option(binary, tmp_path):
    s = summary(run(binary, "--duration", "90s", "--seed", 3, "--poll-ms", 1000))
    assert s["simulated_s"] == 90 and s["published"] > 60
    h = run(binary, "--help").stdout
    for opt in ("--firmware", "--profile", "--scenario", "--seed", "--duration", "--mbk", "--mak",
                "--poll-ms", "--out", "--capture", "--published", "--timeline-start", "-v"):
        assert opt in h


def test_verbose_shows_decoded_frames_and_board_events(binary):
    r = run(binary, "--scenario", SCENARIOS / "s09-transceiver-latch-up.json", "-v")
    assert "READ" in r.stderr or "BT23" in r.stderr, r.stderr[:2000]
    assert "line event: transceiver off" in r.stderr


@pytest.mark.parametrize("args, needle", [
    (["--bogus"], "--bogus"),
    (["--seed", "x"], "--seed"),
    (["--seed", "0"], "--seed"),
    (["--duration", "5x"], "--duration"),
    (["--duration", "0s"], "--duration"),
    (["--duration"], "--duration"),
    (["--poll-ms", "10"], "--poll-ms"),
    (["--mbk", "short"], "--mbk"),
    (["--capture", "pcap"], "--capture"),
    (["--published", "csv"], "--published"),
    (["--timeline-start", "later"], "--timeline-start"),
    (["--firmware", "sketch.elf"], "mepsim-cosim: --firmware sketch.elf: No such file or directory"),
    (["--profile", "a.json", "--scenario", "b.json"], "--profile or --scenario"),
    (["--scenario", "/nonexistent/s.json"], "/nonexistent/s.json"),
    (["--profile", "/nonexistent/p.json"], "/nonexistent/p.json"),
])
def test_a_bad_flag_exits_2_naming_it_and_writes_nothing(binary, tmp_path, args, needle):
    out = tmp_path / "out"
    r = run(binary, *args, "--out", out, expect_rc=2, timeout=30) if "--duration" != args[-1] \
        else run(binary, *args, expect_rc=2, timeout=30)
    assert needle in r.stderr, r.stderr
    assert r.stdout == ""
    assert not out.exists()
