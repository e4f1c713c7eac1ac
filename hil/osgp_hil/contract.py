"""The module JSON contract and the Home Assistant rules that judge it
(docs/module-behaviour.md 8.1, 8.2, 8.4).

* member lists of ``/getDashDataWS`` (8.1) and of the MQTT topics (8.2), and
  the BT28 value index of every BT28-derived member (7);
* ``ha_contract_problems(doc)``: one served document against 8.1/8.4;
* ``HaFilter``: the HA integration's acceptance rules applied to documents in
  order (glitch filter, sum rule, a ticking ``CurrentDateTime``);
* ``energy_problems(docs, truth_after)``: "published energy never above the
  meter's truth and never falling", each finding naming the value, the
  time and the truth.
"""

import datetime
import re

# The 34 members of module-behaviour.md 8.1, in the reference's order.
DASH_STRINGS = ["ESP_SW", "ESP_SW_By", "ESP_SW_Version", "Meter_Manufacturer", "Meter_Model",
                "Meter_SW_Version", "Utility_SN", "CurrentDateTimeString", "CurrentDateTime"]
DASH_INTEGERS = ["Fwd_Act_Wh", "Rev_Act_Wh", "Fwd_W", "Rev_W", "Freq_mHz",
                 "L1_RMS_A", "L2_RMS_A", "L3_RMS_A", "L1_RMS_V", "L2_RMS_V", "L3_RMS_V",
                 "L1_Fwd_W", "L2_Fwd_W", "L3_Fwd_W", "L1_Rev_W", "L2_Rev_W", "L3_Rev_W",
                 "Fwd_Avg_W", "Rev_Avg_W", "L1_Fwd_Avg_W", "L2_Fwd_Avg_W", "L3_Fwd_Avg_W",
                 "L1_Rev_Avg_W", "L2_Rev_Avg_W", "L3_Rev_Avg_W"]
DASH_MEMBERS = DASH_STRINGS + DASH_INTEGERS
# The 16 members HA needs as integers at setup (8.4).
HA_INTEGER_MEMBERS = ["Fwd_Act_Wh", "Rev_Act_Wh", "L1_RMS_A", "L2_RMS_A", "L3_RMS_A",
                      "L1_RMS_V", "L2_RMS_V", "L3_RMS_V", "Fwd_W", "Rev_W",
                      "L1_Fwd_W", "L2_Fwd_W", "L3_Fwd_W", "L1_Rev_W", "L2_Rev_W", "L3_Rev_W"]

# BT28 value index of every BT28-derived output member (module-behaviour 7).
BT28_INDEX = {
    "Fwd_W": 0, "Rev_W": 1, "ImportReactive_VAr": 2, "ExportReactive_VAr": 3,
    "L1_RMS_A": 4, "L2_RMS_A": 5, "L3_RMS_A": 6, "L1_RMS_V": 7, "L2_RMS_V": 8, "L3_RMS_V": 9,
    "L1_PF_Fac": 10, "Freq_mHz": 11, "L2_PF_Fac": 13, "L3_PF_Fac": 14,
    "L1_Fwd_W": 26, "L2_Fwd_W": 27, "L3_Fwd_W": 28, "L1_Rev_W": 29, "L2_Rev_W": 30,
    "L3_Rev_W": 31, "Fwd_Avg_W": 47, "Rev_Avg_W": 48, "L1_Fwd_Avg_W": 49, "L2_Fwd_Avg_W": 50,
    "L3_Fwd_Avg_W": 51, "L1_Rev_Avg_W": 52, "L2_Rev_Avg_W": 53, "L3_Rev_Avg_W": 54,
}

# The 8.2 MQTT topics (after "<prefix>/") and their members.
MQTT_TOPICS = {
    "sensors/mydatajson": ["L1_RMS_A", "L2_RMS_A", "L3_RMS_A", "L1_RMS_V", "L2_RMS_V",
                           "L3_RMS_V", "L1_PF_Fac", "L2_PF_Fac", "L3_PF_Fac",
                           "ExportReactive_VAr", "ImportReactive_VAr"],
    "meterConsumptionTotal/mydatajson": ["Fwd_Act_Wh", "Rev_Act_Wh"],
    "meterConsumptionFwd/mydatajson": ["Fwd_W", "Fwd_Avg_W", "L1_Fwd_W", "L2_Fwd_W", "L3_Fwd_W",
                                       "L1_Fwd_Avg_W", "L2_Fwd_Avg_W", "L3_Fwd_Avg_W"],
    "meterConsumptionRev/mydatajson": ["Rev_W", "Rev_Avg_W", "L1_Rev_W", "L2_Rev_W", "L3_Rev_W",
                                       "L1_Rev_Avg_W", "L2_Rev_Avg_W", "L3_Rev_Avg_W"],
    "frequency/mydatajson": ["Freq_mHz"],
}

CONTRACT_MEMBERS = ("ESP_SW", "ESP_SW_By", "ESP_SW_Version", "Meter_Manufacturer", "Meter_Model",
                    "Meter_SW_Version", "Utility_SN", "CurrentDateTimeString", "CurrentDateTime",
                    "Freq_mHz", "Fwd_Avg_W", "Rev_Avg_W") + tuple(HA_INTEGER_MEMBERS)
HA_INT_MEMBERS = tuple(HA_INTEGER_MEMBERS)
ISO_RE = re.compile(r"^20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$")


def ha_contract_problems(doc):
    """8.1/8.4 for one served 200 document; a list of problems (empty = good)."""
    p = []
    for m in CONTRACT_MEMBERS:
        if m not in doc:
            p.append(f"member {m} missing")
    for m in HA_INT_MEMBERS:
        v = doc.get(m)
        if not (isinstance(v, int) and not isinstance(v, bool)):
            p.append(f"{m}={v!r} is not a JSON integer (8.4)")
    sn = doc.get("Utility_SN")
    if not isinstance(sn, str) or not sn.strip():
        p.append(f"Utility_SN={sn!r}: HA needs a non-empty serial (8.4)")
    elif any(ord(c) < 0x20 for c in sn):
        p.append(f"Utility_SN={sn!r} carries control characters")
    if not ISO_RE.match(str(doc.get("CurrentDateTime", ""))):
        p.append(f"CurrentDateTime={doc.get('CurrentDateTime')!r} not in the 8.1 form")
    if not p:
        net = doc["Fwd_W"] - doc["Rev_W"]
        per = sum(doc[f"L{i}_Fwd_W"] - doc[f"L{i}_Rev_W"] for i in (1, 2, 3))
        if abs(net - per) > 3:
            p.append(f"sum rule: (Fwd_W - Rev_W) = {net} but per-phase sum = {per} (8.4: <= 3 W)")
    return p


# ---- Home Assistant integration model (module-behaviour.md 8.4) -----------------
def is_json_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


class HaFilter:
    """The HA integration's acceptance rules, applied to documents in order.

    offer(doc, t) returns a list of reasons the object would be held (empty =
    accepted and no "Problem"). t is the time the document was fetched (s).
    Rules (8.4): integer members; first object accepted; Fwd_Act_Wh a JSON
    integer; Δt = max(seconds since the last accepted object, 60); limit =
    16 A × 3 × 230 V / 3600 × 3 × Δt; 0 <= ΔFwd <= limit, or any Δ once the
    real gap exceeds 1800 s; always |(Fwd_W - Rev_W) - Σ(Lx_Fwd_W - Lx_Rev_W)|
    <= 3 W; CurrentDateTime must differ from the previous refresh when the
    refreshes are at HA's minimum interval (>= 5 s) apart.
    """

    REFRESH_MIN_S = 5.0

    def __init__(self):
        self.accepted = None
        self.accepted_t = None
        self.history = []  # (t, CurrentDateTime)

    @staticmethod
    def limit_wh(dt_s):
        return 16 * 3 * 230 / 3600 * 3 * max(dt_s, 60.0)

    def offer(self, doc, t):
        problems = []
        sn = doc.get("Utility_SN")
        if not isinstance(sn, str) or not sn:
            problems.append(f"Utility_SN not a non-empty string: {sn!r}")
        for k in HA_INTEGER_MEMBERS:
            if not is_json_int(doc.get(k)):
                problems.append(f"{k} not a JSON integer: {doc.get(k)!r}")
        if not problems:
            fwd_sum = sum(doc[f"L{i}_Fwd_W"] - doc[f"L{i}_Rev_W"] for i in (1, 2, 3))
            if abs((doc["Fwd_W"] - doc["Rev_W"]) - fwd_sum) > 3:
                problems.append(f"sum rule: Fwd_W-Rev_W = {doc['Fwd_W'] - doc['Rev_W']} vs "
                                f"per-phase {fwd_sum}")
            if self.accepted is not None:
                gap = t - self.accepted_t
                d = doc["Fwd_Act_Wh"] - self.accepted["Fwd_Act_Wh"]
                if gap <= 1800 and not (0 <= d <= self.limit_wh(gap)):
                    problems.append(f"energy step {d} Wh after {gap:.1f} s outside "
                                    f"[0, {self.limit_wh(gap):.0f}]")
        older = [h for h in self.history if h[0] <= t - self.REFRESH_MIN_S]
        if older and older[-1][1] == doc.get("CurrentDateTime"):
            problems.append(f"CurrentDateTime {doc.get('CurrentDateTime')!r} unchanged since "
                            f"{t - older[-1][0]:.1f} s ago")
        self.history.append((t, doc.get("CurrentDateTime")))
        if not problems:
            self.accepted = doc
            self.accepted_t = t
        return problems


def _clock(t):
    """A wall-clock time as 'HH:MM:SS.mmm UTC' (a monotonic reading as seconds)."""
    if t < 1e9:
        return f"t={t:.3f} s"
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%H:%M:%S.%f")[:-3] \
        + " UTC"


def energy_problems(docs, truth_after, source="", limit=20):
    """docs: [(wall time, doc)] in order; truth_after(t) -> (fwd_wh, rev_wh)
    of the meter's truth read at or after t, or None. A published counter
    above the truth is a value the meter never served (a spike); per
    Utility_SN a counter never goes down (HA books them as total
    increasing); a new serial is a new baseline. Each finding says what was
    published, when (wall clock and seconds since the first document) and
    the truth."""
    out, last = [], {}
    t0 = docs[0][0] if docs else 0.0
    tag = f"{source} " if source else ""
    for t, d in docs:
        f, r = d.get("Fwd_Act_Wh"), d.get("Rev_Act_Wh")
        when = f"at {_clock(t)} (+{t - t0:.2f} s)"
        tr = truth_after(t)
        for member, v, i in (("Fwd_Act_Wh", f, 0), ("Rev_Act_Wh", r, 1)):
            if not is_json_int(v):
                continue            # reported by the contract check
            if tr is not None and v > tr[i]:
                extra = f" (raw {d.get('Raw_' + member)}, suspect={d.get('Energy_Suspect')})" \
                    if ("Raw_" + member) in d else ""
                out.append(f"{when}: {tag}published {member}={v} Wh, above the meter's truth "
                           f"{tr[i]} Wh by {v - tr[i]} Wh{extra}")
        sn = d.get("Utility_SN")
        if sn in last:
            pf, pr = last[sn]
            if is_json_int(f) and is_json_int(pf) and f < pf:
                out.append(f"{when}: {tag}published Fwd_Act_Wh went down {pf} -> {f} Wh "
                           f"for serial {sn!r}")
            if is_json_int(r) and is_json_int(pr) and r < pr:
                out.append(f"{when}: {tag}published Rev_Act_Wh went down {pr} -> {r} Wh "
                           f"for serial {sn!r}")
        last[sn] = (f if is_json_int(f) else last.get(sn, (None, None))[0],
                    r if is_json_int(r) else last.get(sn, (None, None))[1])
    return out[:limit]
