"""The scenario suite (module-behaviour 9): every shipped fixtures/scenarios
file runs the board against the emulated meter and the test judges what the
board published.

One test per scenario file, on the osgp_hil fixtures, so the same tests run
on the virtual rig (mepsim PTY + a board program: mepmod by default, any
firmware with `--board FILE` / `--board-command CMD`) and on a bench (mepsim
on a USB-serial adapter + the real board) unchanged. The meter runs the
timeline in accelerated simulated time (scenario_checks.speed_for: about 12
wall seconds per scenario); a board with `args.poll_ms` polls every 500 ms.

Every scenario asserts (scenario_checks), for any board: the 8.1/8.4 HA
contract for every document served; no energy published above the meter's
truth and never decreasing per serial (the finding names the value, the
time and the truth); and values back at the truth within 2 polls
(+ allowance) after the faults are cleared. Board-specific asserts follow
the board description's `expect` block (diagnostic members, a Status
member); a board with `expect.filters_spikes: false` is expected to fail
the kWh spike scenarios: reported as xfail with the findings (what it
published, when, the truth), and as a failure if it published no spike
(the description is then wrong) or failed anything else. Scenarios that
need the board's line reports skip, saying why, on a board that reports
none; so do the scenarios its description does not claim (`scenarios:`).
`-m representative` runs one scenario per fault family plus the spike
scenarios (scenario_checks.REPRESENTATIVE), what CI runs on the kit-built
sketches. Artefacts (published.json, trace.txt, mepsim.log, <board>.log)
land in artifacts/test_scenarios/.
"""

import re

import pytest

import scenario_checks as sc

LINES_REASON = ("needs the board's transceiver/ENABLE lines seen by the meter; this board reports "
                "none (board description `lines: none`; a virtual board reports them with the "
                "board-line protocol, docs/board-line-protocol.md; a bench wires them to modem "
                "inputs)")
SPIKE_REASON = ("board description declares `expect.filters_spikes: false`: it publishes meter-side "
                "kWh spikes unfiltered, so this spike scenario must fail")


def _docs(run):
    return run.good_docs()


STATUS_LINE = re.compile(r"^Status: (\S+)$", re.M)


def _statuses(run):
    """Status member of every document (200 or 503), and the `Status: NAME`
    line of a plain-text answer (an error page a user reads)."""
    out = [d.get("Status") for _, s, d in run.docs if isinstance(d, dict)]
    for _, _, _, body in run.rig.board.published:
        if isinstance(body, str):
            out += STATUS_LINE.findall(body)
    return out


# ---- per-scenario asserts from the files' "expect" blocks ---------------
def _flag(run, name):
    return bool(run.rig.board.spec.expect.get(name))


CYCLES = ("power_cycles_long", "power_cycles_short")


def x_lost_reply(run, fs):
    # S02: a single lost reply costs a resend, never a transceiver power cycle.
    # Counted from the timeline's start: a board that drives its supply pin
    # low for a moment at boot (pinMode before digitalWrite) cycled before the fault.
    p = []
    if fs["injected"].get("silence", 0) < 1:
        p.append("the silence fault never hit a reply")
    before = run.fs_at_start or {}
    long_, short = (fs[k] - before.get(k, 0) for k in CYCLES)
    if long_ or short:
        p.append(f"transceiver power-cycled for a single lost reply ({long_} long, {short} short, "
                 f"after the timeline started)")
    return p


def x_dead_transmitter(run, fs):
    # S08: bounded retries, escalation, the error state visible while it lasts
    p = []
    if not _flag(run, "status_member"):
        return p
    if not any(s in ("NO_REPLY", "LINE_ERROR") for s in _statuses(run)):
        p.append(f"no error state published while the meter was silent (statuses seen: "
                 f"{sorted(set(map(str, _statuses(run))))})")
    return p


def x_latch_up(run, fs):
    # S09: cleared by the firmware's transceiver power cycle (the meter's counters show it)
    p = []
    if fs["latchups"] < 1:
        p.append("the transceiver never latched up")
    if fs["latchups_cleared"] < 1 or fs["latched"]:
        p.append(f"latch-up not cleared (latchups={fs['latchups']}, cleared={fs['latchups_cleared']}, "
                 f"latched={fs['latched']})")
    if fs["power_cycles_long"] + fs["enable_cycles_long"] < 1:
        p.append("no long transceiver/ENABLE power cycle seen by the meter")
    return p


def x_wrong_mbk(run, fs):
    # S06: "reports authentication failed, never publishes zeros as readings"
    p = []
    if _flag(run, "status_member") and "AUTH_FAIL" not in _statuses(run):
        p.append("authentication failure never visible in Status")
    for t, d in _docs(run):
        if d.get("Fwd_Act_Wh") == 0 and d.get("Raw_Fwd_Act_Wh", 0) == 0:
            p.append(f"t={t:.2f}: zeros published as a reading")
            break
    return p


def x_glitch(run, fs):
    # S16/S17: meter-side glitches reach only the diagnostic members
    p = []
    if not any(fs["glitched"].values()):
        p.append("no glitch was ever applied to a served table")
    if not _flag(run, "raw_members"):
        return p
    seen = [d for _, d in _docs(run)
            if d.get("Energy_Suspect") or d.get("Raw_Fwd_Act_Wh") != d.get("Fwd_Act_Wh")
            or d.get("Raw_Rev_Act_Wh") != d.get("Rev_Act_Wh")]
    if not seen:
        p.append("the glitched raw value never showed in Raw_*_Act_Wh / Energy_Suspect")
    return p


def x_loopback(run, fs):
    # S33: reports the loopback
    if not _flag(run, "status_member"):
        return []
    return [] if "LOOPBACK" in _statuses(run) else \
        [f"loopback never reported (statuses: {sorted(set(map(str, _statuses(run))))})"]


def x_clock(run, fs):
    # S31: CurrentDateTime always advances (never goes back)
    p, last = [], None
    for t, d in _docs(run):
        cur = d.get("CurrentDateTime")
        if last and cur and cur < last:
            p.append(f"t={t:.2f}: CurrentDateTime went back {last} -> {cur}")
        last = cur or last
    return p[:3]


def x_torn(run, fs):
    # S18: the torn snapshot was served and reached the board whole
    p = []
    if not (fs["glitched"].get("torn") or fs["glitched"].get("segment")):
        p.append("no torn/segment glitch was applied to a served BT28")
    return p


TORN = {"s18-torn-snapshot"}

EXTRA = {
    "s02-lost-reply": x_lost_reply,
    "s06-wrong-mbk": x_wrong_mbk,
    "s08-dead-transmitter": x_dead_transmitter,
    "s09-transceiver-latch-up": x_latch_up,
    "s16-kwh-spike": x_glitch,
    "s17-counter-drop-reset": x_glitch,
    "s31-clock-changes": x_clock,
    "s33-loopback-echo": x_loopback,
}
NEEDS_LINES = {"s09-transceiver-latch-up", "field-day"}
# faults only the board can end; recovery is awaited before anything is cleared
SELF_CLEARING = {"s09-transceiver-latch-up"}
# scenarios whose fault legitimately outlasts the recovery window are none:
# "clear all" at the end removes every fault, so every scenario must recover.


def _params():
    out = []
    for name in sc.scenario_names():
        doc = sc.load(name)
        opts = {"poll_ms": sc.POLL_MS}
        if sc.tls_required(doc):
            opts["tls"] = True
        marks = [pytest.mark.scenario(name),
                 pytest.mark.meter_args("--speed", f"{sc.speed_for(doc):.3f}"),
                 pytest.mark.board_opts(**opts)]
        first = sc.first_event_at(doc)
        # the timeline is held while the board is built: t=0 is the board's
        # power-up (a fault "from the start" meets its first request, however
        # long a sketch takes to build or to boot); later steps start at its
        # first reading (test_scenario)
        marks.append(pytest.mark.scenario_hold if first is not None and first > 0
                     else pytest.mark.scenario_hold(until="board"))
        if sc.representative(name):
            marks.append(pytest.mark.representative)
        out.append(pytest.param(name, marks=marks, id=name))
    return out


@pytest.fixture
def scenario_rig(request, rig_config):
    """Decides skip/xfail from the board description before any process
    starts, then gives the started rig."""
    name = request.node.callspec.params["name"]
    spec = rig_config.board.spec
    if spec is not None and spec.scenario_skip_reason(name):
        pytest.skip(spec.scenario_skip_reason(name))
    if name in NEEDS_LINES and rig_config.is_virtual and spec is not None \
            and not spec.reports_lines:
        pytest.skip(LINES_REASON)
    return request.getfixturevalue("rig")


@pytest.mark.parametrize("name", _params())
def test_scenario(scenario_rig, name):
    rig = scenario_rig
    doc = sc.load(name)
    if name in NEEDS_LINES and not rig.lines_reported():
        pytest.skip(LINES_REASON)
    run = sc.Run(rig)
    first = sc.first_event_at(doc)
    if first is not None and first > 0:
        # held timeline (scenario_hold) starts once the board reads, as on a
        # real installation where the module is up long before the fault: at
        # high speed the first steps would otherwise hit its very first reading
        run.wait_first_reading()
        run.fs_at_start = rig.meter.fault_status()
        rig.meter.ctl.scenario("start")
    budget = sc.wall_s(doc) + 20.0                  # timeline + start-up, generous
    assert run.run_until_done(budget), f"scenario {name} not done after {budget:.0f} wall s"
    if name in SELF_CLEARING:
        # the board itself must end the fault (S09: its transceiver power cycle)
        took, rec_problem = sc.recovery(run)
        fs = rig.meter.fault_status()
    else:
        fs = rig.meter.fault_status()
        rig.meter.ctl.clear("all")                  # line + protocol faults, glitches
        took, rec_problem = sc.recovery(run)
    problems = []
    # S18: the meter's own snapshot is torn; module-behaviour 9 asks the module to
    # serve each snapshot whole (HA then holds), so the 3 W rule is not the board's
    problems += sc.contract_problems(run, sum_rule=name not in TORN)
    if name in TORN:
        problems += x_torn(run, fs)
    energy = sc.energy_problems(run) + sc.mqtt_energy_problems(run)
    problems += sc.raw_members_problems(run)
    if rec_problem:
        problems.append(rec_problem)
    if name in EXTRA:
        problems += EXTRA[name](run, fs)
    if not run.good_docs():
        problems.append(f"the board never published a document with readings "
                        f"(outputs of board {rig.board.name})")
    head = f"{name} ({doc['description'][:80]}...):\n  "
    finding = rig.board.spec.scenarios_findings.get(name) if rig.board.spec else None
    if finding is not None:
        # declared in the board description: reported, not failed; if it no longer
        # happens, the description is out of date
        assert energy + problems, (f"{name}: board {rig.board.name} declares the finding "
                                   f"{finding!r} (scenarios.findings) but passed: update its description")
        pytest.xfail(f"declared finding ({finding}); it did:\n  " + "\n  ".join((energy + problems)[:8]))
    if not rig.board.spec.expect.get("filters_spikes", True) and sc.has_spikes(doc):
        # declared: publishes spikes unfiltered. Expected to fail on exactly that.
        # "no glitch applied" says the meter never served the spike (a board that
        # does not read the meter, e.g. tests/hil/fakeboard.py): no board fault
        mechanics = [p for p in problems if p.startswith("no glitch was ever applied")]
        if not energy:
            problems.append("the board description declares expect.filters_spikes: false, but "
                            "the board published no energy above the meter's truth here: the "
                            "description is wrong (or the spike never reached it)")
        elif len(mechanics) == len(problems):
            pytest.xfail(f"{SPIKE_REASON}; it did:\n  " + "\n  ".join(energy + mechanics))
    assert not energy + problems, head + "\n  ".join(energy + problems)
