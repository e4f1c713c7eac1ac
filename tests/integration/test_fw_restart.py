"""mepsim restarted mid-run on the same PTY path: mepmod notices the device
went away, reopens the path when the new emulator appears, and recovers
without being restarted - never publishing a decrease or a zero meanwhile."""

import time

from fwfixtures import (DashRecorder, HaFilter, control, dump_logs, free_port, get_dash,  # noqa: F401
                        http_get, model_truth, rig, run_mepmod, run_mepsim, wait_for, wait_ready)
import json


def status_doc(port):
    return json.loads(http_get(port, "/status")[2])


def test_mepsim_restart_mid_run_recovers_without_bogus_values(rig):  # noqa: F811
    sim, pty, ctl = run_mepsim(rig.tmp, extra=["--seed", "5", "--speed", "20"])
    rig.add(sim)
    port = free_port()
    mod = rig.add(run_mepmod(rig, pty, port, ctl=ctl))
    wait_ready(port)
    rec = DashRecorder(port, interval=0.25)
    time.sleep(4)
    with control(ctl) as c:
        registers = model_truth(c)
    polls_before = status_doc(port)["counters"]["polls_ok"]

    # the meter "restarts": the emulator process goes away with its PTY
    assert sim.stop() == 0
    time.sleep(3)
    during = status_doc(port)
    assert during["status"] != "OK" or during["counters"]["polls_ok"] == polls_before

    # a new emulator on the same path; a real meter keeps its registers
    sim2, pty2, ctl2 = run_mepsim(rig.tmp, extra=["--seed", "6", "--speed", "20"])
    rig.add(sim2)
    assert pty2 == pty
    with control(ctl2) as c:
        c.set_register("fwd_wh", registers["fwd_wh"])
        c.set_register("rev_wh", registers["rev_wh"])

    def polling_again():
        s = status_doc(port)
        return s["status"] == "OK" and s["counters"]["polls_ok"] >= polls_before + 3
    wait_for(polling_again, 30, "mepmod to poll the restarted emulator", interval=0.25)
    time.sleep(3)
    records = rec.stop()
    assert mod.alive(), "mepmod must survive the emulator restart"

    assert "lost" in mod.stderr() and "is back" in mod.stderr(), dump_logs(mod)
    docs = [(t, d) for t, s, d in records if s == 200]
    assert all(s == 200 for _, s, _ in records), "readings stay served (held) while the meter is away"
    fwd = [d["Fwd_Act_Wh"] for _, d in docs]
    assert all(v > 0 for v in fwd), "a zero was published"
    drops = [(a, b) for a, b in zip(fwd, fwd[1:]) if b < a]
    assert not drops, f"published energy decreased: {drops[:5]}"
    # after recovery the published energy follows the new emulator again
    with control(ctl2) as c:
        now = model_truth(c)["fwd_wh"]
    assert now - 50 <= fwd[-1] <= now, (fwd[-1], now)
    ha = HaFilter()
    held = [(round(t, 2), p) for t, d in docs if (p := ha.offer(d, t))]
    assert not held, held[:5]
