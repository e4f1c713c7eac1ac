"""Home Assistant compatibility of /getDashDataWS (docs/module-behaviour.md 8.1,
8.4, 10): the 34-member contract, a ticking CurrentDateTime, and - applied to
every document served during a run - the HA integration's glitch filter,
which must never reject what mepmod publishes in normal operation."""

import re
import time

from osgp_hil.paths import fixture

from fwfixtures import (DASH_INTEGERS, DASH_MEMBERS, DASH_STRINGS, DashRecorder, HaFilter,
                        control, dump_logs, free_port, get_dash, http_get, is_json_int,  # noqa: F401
                        model_truth, rig, run_mepmod, run_mepsim, wait_ready)

ISO_RE = re.compile(r"^20\d\d-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d\.000Z$")
HUMAN_RE = re.compile(r"^20\d\d-\d\d-\d\d \((Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|"
                      r"Sunday)\) @ \d\d:\d\d:\d\d$")


def start(rig, *sim_args, mod_args=()):  # noqa: F811
    sim, pty, ctl = run_mepsim(rig.tmp, extra=list(sim_args))
    rig.add(sim)
    port = free_port()
    mod = rig.add(run_mepmod(rig, pty, port, ctl=ctl, extra=list(mod_args)))
    wait_ready(port)
    return sim, mod, port, ctl


def test_dash_serves_the_34_contract_members_as_json_integers_and_strings(rig):  # noqa: F811
    sim, mod, port, ctl = start(rig)
    status, headers, body = http_get(port, "/getDashDataWS")
    assert status == 200
    assert headers["content-type"] == "application/json"
    import json
    doc = json.loads(body)
    assert len(DASH_MEMBERS) == 34
    missing = [m for m in DASH_MEMBERS if m not in doc]
    assert not missing, missing
    for m in DASH_STRINGS:
        assert isinstance(doc[m], str) and doc[m], f"{m}: {doc[m]!r}"
    for m in DASH_INTEGERS:
        assert is_json_int(doc[m]), f"{m}: {doc[m]!r}"
    # integers, not floats: the text itself has no decimal point for these members
    for m in DASH_INTEGERS:
        assert re.search(rf'"{m}":-?\d+[,}}]', body.decode()), m
    assert ISO_RE.match(doc["CurrentDateTime"]), doc["CurrentDateTime"]
    assert HUMAN_RE.match(doc["CurrentDateTimeString"]), doc["CurrentDateTimeString"]
    # the identity members come from the meter's BT01/ET03
    with control(ctl) as c:
        bt01 = c.read_table("BT01")
        et03 = c.read_table("ET03")
    assert doc["Meter_Manufacturer"] == bt01[0:4].decode("ascii").strip()
    assert doc["Meter_Model"] == bt01[4:12].decode("ascii").strip()
    assert doc["Utility_SN"] == et03[0:30].decode("ascii").rstrip(" \x00")
    # extras HA ignores: status, raw values, suspect flag
    assert doc["Status"] and doc["Energy_Suspect"] is False
    assert is_json_int(doc["Raw_Fwd_Act_Wh"]) and is_json_int(doc["Raw_Rev_Act_Wh"])


def test_current_date_time_changes_every_second(rig):  # noqa: F811
    sim, mod, port, ctl = start(rig)
    seen = []
    for _ in range(4):
        seen.append(get_dash(port)[1]["CurrentDateTime"])
        time.sleep(1.1)
    assert len(set(seen)) == 4, seen
    assert seen == sorted(seen), seen


def test_every_document_served_passes_the_ha_filter(rig):  # noqa: F811
    sim, mod, port, ctl = start(rig, "--seed", "3")
    rec = DashRecorder(port, interval=0.25)
    time.sleep(11)  # > 2 refreshes at HA's 5 s minimum, ~5 polls
    records = rec.stop()
    assert not rec.errors, rec.errors
    assert all(s == 200 for _, s, _ in records), [s for _, s, _ in records]
    ha = HaFilter()
    held = [(round(t, 2), p) for t, _, d in records if (p := ha.offer(d, t))]
    assert len(records) >= 30
    assert not held, f"HA would hold data: {held[:5]}\n{dump_logs(mod)}"


def test_energy_is_monotonic_over_a_long_accelerated_run(rig):  # noqa: F811
    # --speed 150: 20 s of wall time is 50 min of meter time. Loads chosen so the
    # accelerated energy rate (30 kW equivalent) stays a physically possible one.
    sim, mod, port, ctl = start(rig, "--speed", "150", "--seed", "11")
    with control(ctl) as c:
        for ph, w in ((1, 100), (2, 50), (3, 50)):
            c.set_load(ph, w, 0.95)
        start_truth = model_truth(c)["fwd_wh"]
    rec = DashRecorder(port, interval=0.25)
    time.sleep(20)
    records = rec.stop()
    with control(ctl) as c:
        end_truth = model_truth(c)["fwd_wh"]
    docs = [(t, d) for t, s, d in records if s == 200]
    assert len(docs) == len(records) and len(docs) >= 50
    fwd = [d["Fwd_Act_Wh"] for _, d in docs]
    drops = [(a, b) for a, b in zip(fwd, fwd[1:]) if b < a]
    assert not drops, drops[:5]
    assert all(v > 0 for v in fwd)
    # the meter gained ~200 W x 20 s x 150 = 167 Wh; the published value followed it
    assert end_truth - start_truth >= 120
    assert fwd[-1] - fwd[0] >= (end_truth - start_truth) * 0.8, (fwd[0], fwd[-1], start_truth,
                                                                end_truth)
    assert not any(d["Energy_Suspect"] for _, d in docs), dump_logs(mod)
    ha = HaFilter()
    held = [(round(t, 2), p) for t, d in docs if (p := ha.offer(d, t))]
    assert not held, held[:5]


def test_awkward_meter_strings_are_escaped_in_the_json(rig):  # noqa: F811
    """S30: quotes and backslashes in BT01/ET03, trailing spaces in ET03."""
    import json
    profile = json.loads(fixture("meters", "nes-3ph.json").read_text())
    profile["identity"]["manufacturer"] = 'N"\\'
    profile["identity"]["model"] = '<b>"&\\'
    profile["identity"]["utility_serial"] = 'SN "q" \\b\\   '
    path = rig.tmp / "awkward.json"
    path.write_text(json.dumps(profile))
    sim, mod, port, ctl = start(rig, "--profile", str(path))
    status, headers, body = http_get(port, "/getDashDataWS")
    assert status == 200
    doc = json.loads(body)  # valid JSON despite the quotes and backslashes
    assert doc["Meter_Manufacturer"] == 'N"\\'
    assert doc["Meter_Model"] == '<b>"&\\'
    assert doc["Utility_SN"] == 'SN "q" \\b\\'
