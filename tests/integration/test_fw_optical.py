"""Firmware on a Gen 2/3 shared UART while an optical probe reads the meter
(docs/optical.md 6). mepsim's simulated probe (control `optical_session`)
holds the line for a few seconds: MEP requests get no answer and the meter's
optical reply packets (ACK + 0xEE packets) appear on the wire mepmod listens
to. mepmod must ride it out: no wrong value published (every published value
is one the model really had, energy never decreases, the HA filter never
holds), the optical bytes are not taken for MEP replies, and polling resumes
within 2 polls after the probe's Terminate."""

import json
import time

from fwfixtures import (DASH_INTEGERS, DRIFTING, DashRecorder, HaFilter, ModelSampler, control,
                        dump_logs, free_port, http_get, model_value, rig, run_mepmod,  # noqa: F401
                        run_mepsim, wait_for, wait_ready)

POLL_MS = 1000
PROBE_S = 5.0


def status(port):
    return json.loads(http_get(port, "/status")[2])


def test_firmware_rides_out_an_optical_probe_session(rig):  # noqa: F811
    sim, pty, ctl = run_mepsim(rig.tmp, extra=["--seed", "35"])
    rig.add(sim)
    port = free_port()
    mod = rig.add(run_mepmod(rig, pty, port, ctl=ctl, extra=["--poll-ms", str(POLL_MS)]))
    sampler = ModelSampler(ctl)
    try:
        wait_ready(port)
        rec = DashRecorder(port, interval=0.25)
        wait_for(lambda: status(port)["counters"]["polls_ok"] >= 2, 20, "two good polls before the probe")
        before = status(port)
        probe_start = time.monotonic()
        with control(ctl) as c:
            rep = c.request({"cmd": "optical_session", "action": "start", "seconds": PROBE_S})
        assert rep["probe"] is True and rep["shared"] is True
        time.sleep(PROBE_S / 2)
        mid = status(port)
        # nothing got through while the probe holds the line
        assert mid["counters"]["polls_ok"] <= before["counters"]["polls_ok"] + 1, mid["counters"]
        wait_for(lambda: not _optical(ctl)["probe"], PROBE_S + 5,
                 "the probe session to end (Terminate)")
        ended = time.monotonic()
        polls_at_end = status(port)["counters"]["polls_ok"]
        # resumes within 2 polls after Terminate: a good poll within 2 poll
        # periods (+1 s slack for a poll already waiting for its timeout)
        wait_for(lambda: status(port)["counters"]["polls_ok"] >= polls_at_end + 1,
                 2 * POLL_MS / 1000 + 1.0 + 2.0, "a good poll after the optical session")
        resumed = time.monotonic() - ended
        wait_for(lambda: status(port)["counters"]["polls_ok"] >= polls_at_end + 2, 10,
                 "steady polling after the optical session")
        time.sleep(1)
        records = rec.stop()
    finally:
        sampler.stop()
    with control(ctl) as c:
        opt = c.request({"cmd": "optical"})
    assert opt["counters"]["mep_bytes_blocked"] > 0, "mepmod did not poll during the probe"
    assert opt["counters"]["probe_packets"] > 0
    after = status(port)
    missed = sum(after["counters"].get(k, 0) - before["counters"].get(k, 0)
                 for k in ("timeouts", "stray_bytes", "digest_rejects"))
    assert missed >= 1, f"mepmod saw nothing of the probe session\n{dump_logs(mod)}"
    assert resumed <= 2 * POLL_MS / 1000 + 3.0, resumed
    print("resumed %.2f s after Terminate; timeouts/stray/digest: %d" % (resumed, missed))

    docs = [(t, d) for t, s, d in records if s == 200]
    # While the probe holds the line the readings age: once they are older than
    # the module's stale limit it answers 503 text/plain instead of serving old
    # values as live (firmware/README.md, "Served states"); never anything else,
    # and only while the line was held (+ one poll period and slack after).
    other = [(round(t - probe_start, 2), s) for t, s, d in records
             if s != 200 and not (s == 503 and d is None
                                  and probe_start <= t <= ended + resumed + POLL_MS / 1000 + 1.0)]
    assert not other, f"answers other than held readings or a stale 503 during the session: {other}"
    assert any(t < probe_start for t, _ in docs) and any(t > ended + resumed for t, _ in docs), \
        "readings served before and after the session"
    samples = [s for _, s in sampler.samples]
    for m in DASH_INTEGERS:
        if m.endswith("_Avg_W"):
            continue
        vals = [model_value(s, m) for s in samples]
        slack = abs(max(vals)) // 1000 if m in DRIFTING else 0
        bad = [d[m] for _, d in docs if not (min(vals) - slack <= d[m] <= max(vals) + slack)]
        assert not bad, f"{m} published {bad[:3]}, model range [{min(vals)}, {max(vals)}]\n{dump_logs(mod)}"
    fwd = [d["Fwd_Act_Wh"] for _, d in docs]
    assert all(b >= a for a, b in zip(fwd, fwd[1:])), "published energy decreased"
    ha = HaFilter()
    held = [(round(t, 2), p) for t, d in docs if (p := ha.offer(d, t))]
    assert not held, held[:3]


def _optical(ctl):
    with control(ctl) as c:
        return c.request({"cmd": "optical"})
