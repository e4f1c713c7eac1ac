"""End to end: what mepmod publishes over HTTP and MQTT equals the emulator's
model truth (read through mepsim's control socket) within one poll."""

import json
import time

from fwfixtures import (BT28_INDEX, DASH_INTEGERS, MQTT_TOPICS, Broker, DashRecorder,
                        ModelSampler, MqttCollector, check_against_model, control, dump_logs,
                        free_port, rig, run_mepmod, run_mepsim, wait_for, wait_ready)  # noqa: F401

POLL_S = 2.0
WINDOW_S = POLL_S + 1.5  # a published value comes from a read at most one poll (+ transfer) old


def test_http_values_equal_the_model_within_one_poll(rig):  # noqa: F811
    sim, pty, ctl = run_mepsim(rig.tmp, extra=["--seed", "7"])
    rig.add(sim)
    port = free_port()
    mod = rig.add(run_mepmod(rig, pty, port, ctl=ctl))
    sampler = ModelSampler(ctl)
    try:
        wait_ready(port)
        rec = DashRecorder(port, interval=0.3)
        time.sleep(5)
        # a load change must show up in the next poll
        with control(ctl) as c:
            c.set_load(2, 1500, 0.9)
        t_change = time.monotonic()
        time.sleep(5)
        records = rec.stop()
    finally:
        sampler.stop()
    docs = [(t, d) for t, s, d in records if s == 200]
    assert len(docs) >= 20, dump_logs(mod, sim)
    members = [m for m in DASH_INTEGERS]
    for t, doc in docs:
        bad = check_against_model(doc, members, sampler.window(t - WINDOW_S, t + 0.05))
        assert not bad, f"doc at {t:.2f}: {bad}\n{dump_logs(mod)}"
    after = [d for t, d in docs if t > t_change + WINDOW_S]
    assert after and all(d["L2_Fwd_W"] == 1500 for d in after), \
        [d["L2_Fwd_W"] for d in after]
    before = [d for t, d in docs if t < t_change]
    assert before and all(d["L2_Fwd_W"] != 1500 for d in before)


def test_mqtt_values_equal_the_model_within_one_poll(rig):  # noqa: F811
    rig.broker = Broker(rig.tmp)
    sim, pty, ctl = run_mepsim(rig.tmp, extra=["--seed", "8"])
    rig.add(sim)
    port = free_port()
    collector = MqttCollector(rig.broker.port, topics=("esp32-mep/#",))
    rig.collectors.append(collector)
    sampler = ModelSampler(ctl)
    try:
        mod = rig.add(run_mepmod(rig, pty, port, ctl=ctl,
                                 extra=["--mqtt", f"127.0.0.1:{rig.broker.port}"]))
        wait_ready(port)
        # two publishing rounds (every 10 s, docs/module-behaviour.md 8.2)
        collector.wait_topic("esp32-mep/meterConsumptionTotal/mydatajson", 30, count=2)
        time.sleep(0.5)
    finally:
        sampler.stop()
    msgs = collector.snapshot()
    for sub, members in MQTT_TOPICS.items():
        topic = "esp32-mep/" + sub
        got = [m for m in msgs if m[1] == topic]
        assert len(got) >= 2, f"{topic}: {len(got)} messages\n{dump_logs(mod)}"
        for t, _, payload, retain in got:
            doc = json.loads(payload)
            assert sorted(doc) == sorted(members), f"{topic}: members {sorted(doc)}"
            assert all(isinstance(v, int) and not isinstance(v, bool) for v in doc.values())
            assert not retain, f"{topic} must not be retained (8.2)"
            checkable = [m for m in members if m in BT28_INDEX or m.endswith("_Act_Wh")]
            bad = check_against_model(doc, checkable, sampler.window(t - WINDOW_S, t + 0.05))
            assert not bad, f"{topic} at {t:.2f}: {bad}"
    # every 10 s, not faster
    totals = [m[0] for m in msgs if m[1].endswith("meterConsumptionTotal/mydatajson")]
    gaps = [b - a for a, b in zip(totals, totals[1:])]
    assert all(8.0 <= g <= 13.0 for g in gaps), gaps


def test_mak_with_rc4_encryption_serves_the_same_readings(rig):  # noqa: F811
    mak = "MAKtestKey9876543210"
    sim, pty, ctl = run_mepsim(rig.tmp, extra=["--mak", mak, "--seed", "9", "-v"])
    rig.add(sim)
    port = free_port()
    sampler = ModelSampler(ctl)
    try:
        mod = rig.add(run_mepmod(rig, pty, port, ctl=ctl, extra=["--mak", mak, "--encrypt"]))
        doc = wait_ready(port)
        t = time.monotonic()
        time.sleep(0.2)
    finally:
        sampler.stop()
    bad = check_against_model(doc, ["Fwd_Act_Wh", "Fwd_W", "L1_Fwd_W", "Freq_mHz"],
                              sampler.window(t - WINDOW_S - 1, t))
    assert not bad, bad
    assert "MAK access" in mod.stderr() and "RC4-encrypted" in mod.stderr()
    # the emulator saw MAK-authenticated, encrypted polls (its -v frame log)
    assert any("READ BT28" in ln and "MAK enc -> OK" in ln for ln in sim.stderr().splitlines()), \
        sim.stderr()[-2000:]
