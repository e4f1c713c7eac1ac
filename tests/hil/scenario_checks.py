"""scenario_checks: run one fixtures/scenarios timeline against the board and
judge what the board published (module-behaviour 8.1, 8.2, 8.4, 9).

Owns the rig- and board-agnostic part of tests/hil/test_scenarios.py:
choosing a clock speed so a scenario fits a few wall seconds, sampling the
meter's truth (control `get`) and what the board publishes (its
``outputs``: the module JSON contract over HTTP, the MQTT topics, or console
values; every HTTP document is kept in board.published and so in
published.json) while the timeline runs, and the checks every scenario
must pass, for any board:

* every HTTP 200 answer is a JSON document (HA parses it), and every
  document obeys the HA contract of 8.1/8.4: the 16 members HA
  reads are JSON integers, Utility_SN is a non-empty string,
  CurrentDateTime has the 8.1 form, and the snapshot sum rule
  |(Fwd_W - Rev_W) - sum(Lx_Fwd_W - Lx_Rev_W)| <= 3 W holds;
* no energy value the meter did not serve: a published Fwd_Act_Wh /
  Rev_Act_Wh never exceeds the model's truth read just after it (the model
  only counts up; glitches only change the served bytes), and per meter
  serial the published counters never go down (HA books them as total
  increasing) - a new serial is a new baseline. Each finding names the
  value published, when, and the truth (osgp_hil.contract.energy_problems);
* the same energy rules for every MQTT meterConsumptionTotal message;
* after the faults are cleared the published values come back to the
  truth within 2 polls (plus a documented allowance, see RECOVERY_S).

Board-specific checks follow the board description's ``expect`` block:
``raw_members`` (the raw meter values stay visible in Raw_Fwd_Act_Wh /
Raw_Rev_Act_Wh / Energy_Suspect), ``status_member`` (the error state shows
in Status).

Time: every wait and every sample's stamp is on the rig's clock
(``rig.clock``: wall seconds on the real-time rigs, virtual seconds on
``--rig virtual-time``), so the same tests run on both. In real time
scenario steps are simulated seconds run at --speed, and line faults' own
durations are wall milliseconds (sim_fault.h), keeping their real length at
any speed; in virtual time the meter runs at speed 1 (VIRTUAL_TIME) and
every budget is in virtual seconds.
"""

import json

from osgp_hil import contract, paths

SCEN_DIR = paths.fixture("scenarios")
METERS_DIR = paths.fixture("meters")

POLL_MS = 500                 # the board's args.poll_ms for the scenario runs, if it has one
WALL_TARGET_S = 10.0          # aim: a whole timeline in about this many wall seconds
MAX_SPEED = 60.0              # above this the model's per-poll energy steps get silly
GLITCH_MAX_SPEED = 10.0       # see speed_for (nes-3ph loads x 10 stay below the 100 A rating)
# "return to the truth within 2 polls after a fault clears": 2 polls, plus
# the firmware's documented back-off after errors (module-behaviour 6/10:
# bounded retries, a transceiver cycle of ~3 s after several failures) and
# a loaded CI machine, and a module's confirmation of its first reading after
# an outage (firmware/README.md: 3 consistent readings over >= 10 s before a
# value is published again). Generous on purpose: it bounds, it does not time.
RECOVERY_S = 2 * POLL_MS / 1000.0 + 12.0 + 10.0

# The representative subset (`pytest -m representative`): one scenario per
# fault family, plus every scenario that spikes the kWh counter (has_spikes).
# What CI runs on boards whose real-time suite takes too long for every
# commit (the kit-built sketches); the whole suite runs on mepmod.
REPRESENTATIVE = {
    "sequence numbers (mep.md 5.5)": "s01-sequence-resync",
    "authentication (wrong key)": "s06-wrong-mbk",
    "transceiver and control lines": "s09-transceiver-latch-up",
    "reply framing (a lost byte)": "s11-dropped-byte",
    "table contents (short table)": "s15-short-table",
    "alerts (ET13/EP39)": "s20-alert-et59",
    "identity strings": "s30-awkward-strings",
    "meter clock": "s31-clock-changes",
}


# Set by tests/hil/conftest.py on the virtual-time rig: meter and firmware
# share one clock, so the meter runs at speed 1 (its real timing) and a
# timeline's budget is its own length in virtual seconds.
VIRTUAL_TIME = False


def representative(name):
    """The scenario is in the representative subset: its family's
    representative, or a kWh spike scenario."""
    return name in REPRESENTATIVE.values() or has_spikes(load(name))



def scenario_names():
    return sorted(p.stem for p in SCEN_DIR.glob("*.json"))


def load(name):
    return json.loads((SCEN_DIR / f"{name}.json").read_text())


def step_times(doc):
    """Simulated seconds of each step ("at", or "after" the previous step)."""
    out, t = [], 0.0
    for s in doc["timeline"]:
        t = float(s["at"]) if "at" in s else t + float(s.get("after", 0))
        out.append(t)
    return out


def end_at(doc):
    """Simulated seconds of the last step (the end step, if any)."""
    return max(step_times(doc), default=0.0)


def tls_required(doc):
    """The scenario's meter profile asks for TLS mode (mep.md 7): the board runs --tls."""
    prof = SCEN_DIR / doc["profile"]
    if not prof.is_file():
        prof = METERS_DIR / doc["profile"]
    try:
        return bool(json.loads(prof.read_text()).get("tls_required"))
    except (OSError, ValueError):
        return False


def has_glitches(doc):
    return any("glitch" in s for s in doc["timeline"])


def has_spikes(doc):
    """The timeline glitches the served kWh counter upwards (S16)."""
    return any(s.get("glitch") == "spike" for s in doc["timeline"])


def speed_for(doc):
    """Clock speed that fits the timeline into about WALL_TARGET_S. Where
    the scenario allows: with kWh glitches the firmware's sanitiser bounds
    each energy step by the meter's rating per *wall* second (mepc_sanitise:
    phases x max current x voltage), so the simulated clock may not run
    faster than GLITCH_MAX_SPEED or every honest reading looks too fast."""
    if VIRTUAL_TIME:
        return 1.0
    base = float(doc.get("speed", 1.0))
    cap = GLITCH_MAX_SPEED if has_glitches(doc) else MAX_SPEED
    return max(base, min(cap, end_at(doc) / WALL_TARGET_S))


def first_event_at(doc):
    """Simulated time of the first step that is more than a load/wait marker."""
    times = [t for s, t in zip(doc["timeline"], step_times(doc)) if not ({"load", "wait"} & set(s))]
    return min(times) if times else None


def wall_s(doc):
    return end_at(doc) / speed_for(doc)


class Run:
    """Samples of one scenario run: (rig clock time, truth) and the board's docs."""

    def __init__(self, rig):
        self.rig = rig
        self.clock = rig.clock
        self.truth = []          # (t, fwd_wh, rev_wh)
        self.docs = []           # (t, status, doc) in order
        self.scenario_done_at = None
        self.fs_at_start = None  # the meter's fault_status when a held timeline started

    def sample(self):
        tr = self.rig.meter.truth()
        t0 = self.clock.now()
        self.truth.append((t0, tr["bt23"]["fwd_wh"], tr["bt23"]["rev_wh"]))
        status, doc = self.rig.board.snapshot()
        t1 = self.clock.now()
        tr = self.rig.meter.truth()
        self.truth.append((self.clock.now(), tr["bt23"]["fwd_wh"], tr["bt23"]["rev_wh"]))
        self.docs.append((t1, status, doc))
        return status, doc

    def wait_first_reading(self, timeout_s=20.0, interval=0.25):
        """Sample until the board serves its first 200 document; True if it did."""
        end = self.clock.now() + timeout_s
        while self.clock.now() < end:
            status, _ = self.sample()
            if status == 200:
                return True
            self.clock.sleep(interval)
        return False

    def run_until_done(self, budget_s, interval=0.25):
        """Sample until the scenario reports done (or budget_s seconds on the rig's clock)."""
        end = self.clock.now() + budget_s
        while self.clock.now() < end:
            self.sample()
            st = self.rig.meter.status()["meters"][0].get("scenario", {})
            if st.get("done"):
                self.scenario_done_at = self.clock.now()
                return True
            self.clock.sleep(interval)
        return False

    def truth_after(self, t):
        """The first truth sample taken at or after time t (None if none)."""
        for tt, fwd, rev in self.truth:
            if tt >= t:
                return fwd, rev
        return None

    def good_docs(self):
        return [(t, d) for t, s, d in self.docs if s == 200 and isinstance(d, dict)]


# ---- checks (each returns a list of problems; empty = pass) -------------
def contract_problems(run, sum_rule=True):
    """8.1/8.4 for every document, when the board serves the HTTP contract."""
    if not run.rig.board.spec.outputs.http and run.rig.config.is_virtual:
        return []
    out = []
    bad_json = [t for t, s, d in run.docs if s == 200 and d is None]
    if bad_json:
        body = next((b for _, _, s, b in reversed(run.rig.board.published)
                     if s == 200 and isinstance(b, str)), "")
        out.append(f"t={bad_json[0]:.2f}: {len(bad_json)} HTTP 200 answer(s) whose body is "
                   f"not JSON (8.1; HA cannot read them), e.g. {body[:160]!r}")
    for t, d in run.good_docs():
        for prob in contract.ha_contract_problems(d):
            if not sum_rule and prob.startswith("sum rule"):
                continue
            out.append(f"t={t:.2f}: {prob}")
    return out[:20]


# Scenarios whose meter itself serves a falling counter: module-behaviour 9
# S17 (a drop by -delta, a reset, a 32-bit wrap): a good module "passes
# through" what the meter serves once it is confirmed, and HA books it as a
# reset. A falling published counter is then not the board's fault; every
# other energy rule still holds. (At 10x on the real-time rig the drop ends
# before the module's confirmation window of >= 10 s on its own clock, so it
# never showed there.)
METER_FALLS = {"s17-counter-drop-reset"}


def _meter_falls(run, problems):
    if getattr(run.rig.meter, "scenario", None) not in METER_FALLS:
        return problems
    return [p for p in problems if " went down " not in p]


def energy_problems(run):
    """No published energy above what the meter could have served; per
    serial never decreasing (total increasing) unless the meter's own
    counter fell (METER_FALLS)."""
    return _meter_falls(run, contract.energy_problems(run.good_docs(), run.truth_after))


def mqtt_energy_problems(run):
    """The same energy rules for every MQTT meterConsumptionTotal message (8.2)."""
    board = run.rig.board
    if board.mqtt is None:
        return []              # this rig has no broker: nothing published there
    docs, out = [], []
    for t, topic, payload, _retain in board.mqtt.snapshot():
        if not topic.endswith("/meterConsumptionTotal/mydatajson"):
            continue
        try:
            doc = json.loads(payload)
        except ValueError:
            out.append(f"t={t:.2f}: {topic}: not JSON: {payload[:80]!r}")
            continue
        f = doc.get("Fwd_Act_Wh") if isinstance(doc, dict) else None
        if not contract.is_json_int(f):
            out.append(f"t={t:.2f}: MQTT Fwd_Act_Wh={f!r} is not an integer")
            continue
        if "Utility_SN" not in doc:
            # the 8.2 topics carry no serial: the meter is the one the board
            # served over HTTP at that time (a replaced meter is a new baseline)
            doc = dict(doc, Utility_SN=_serial_at(run, t))
        docs.append((t, doc))
    return (out + _meter_falls(run, contract.energy_problems(docs, run.truth_after,
                                                             source="MQTT")))[:10]


def _serial_at(run, t):
    """Utility_SN of the last HTTP document at or before time t (None: none)."""
    sn = None
    for tt, d in run.good_docs():
        if tt > t:
            break
        sn = d.get("Utility_SN", sn)
    return sn


def raw_members_problems(run):
    """Board description expect.raw_members: the diagnostics are served."""
    if not run.rig.board.spec.expect.get("raw_members"):
        return []
    out = []
    for t, d in run.good_docs():
        for m in ("Raw_Fwd_Act_Wh", "Raw_Rev_Act_Wh", "Energy_Suspect"):
            if m not in d:
                out.append(f"t={t:.2f}: diagnostic member {m} missing")
    return out[:5]


def truth_before(run, t):
    """The last truth sample taken at or before time t."""
    best = None
    for tt, fwd, rev in run.truth:
        if tt <= t:
            best = (fwd, rev)
    return best


def recovery(run, timeout_s=RECOVERY_S):
    """After the faults are cleared: wait for a document whose energy lies
    between the truth before it was asked for and the truth after, not
    suspect. Returns (seconds taken, None) or (None, problem)."""
    clock = run.clock
    start = clock.now()
    last = None
    while clock.now() - start < timeout_s:
        clock.sleep(POLL_MS / 1000.0)
        status, d = run.sample()
        t_get, after = run.truth[-1][0], run.truth[-1]
        # the reading must be fresh: at least the truth of 2 polls (+0.5 s) ago
        lo = truth_before(run, t_get - 2 * POLL_MS / 1000.0 - 0.5)
        if status == 200 and isinstance(d, dict):
            last = d
            f = d.get("Fwd_Act_Wh")
            if (isinstance(f, int) and lo is not None and lo[0] <= f <= after[1]
                    and not d.get("Energy_Suspect")):
                return clock.now() - start, None
    return None, (f"values did not return to the meter's truth within {timeout_s:.0f} s after "
                  f"the faults cleared; last document: "
                  + (json.dumps({k: last.get(k) for k in ("Status", "Status_Text", "Fwd_Act_Wh",
                                                          "Raw_Fwd_Act_Wh", "Energy_Suspect",
                                                          "Suspect_Reason")})
                     if last else "none with HTTP 200"))
