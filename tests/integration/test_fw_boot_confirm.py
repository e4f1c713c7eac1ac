"""mepmod never publishes an unconfirmed first kWh value, and what it serves
while not ready or stale cannot be stored as data by a consumer that ignores
HTTP status codes (docs/module-behaviour.md 8.4; firmware/README.md "Served
states"; the rule: firmware/core/mepc_sanitise.h).

Each test starts mepsim with a kWh glitch already active, then boots mepmod,
and reads /getDashDataWS the way such a consumer does: every body that parses
as JSON is taken as the meter's data, whatever the status code.
"""

import json
import threading
import time

from fwfixtures import (control, dump_logs, free_port, http_get, model_truth, rig,  # noqa: F401
                        run_mepmod, run_mepsim, wait_for, wait_ready)

SPIKE = 1 << 24
CONTRACT_MEMBERS = ("Utility_SN", "Fwd_Act_Wh", "Rev_Act_Wh", "Fwd_W", "CurrentDateTime")


class StatusIgnoringClient:
    """GETs /getDashDataWS every `interval` s; keeps (t, status, content-type,
    body, parsed JSON or None). Like the HA integration (8.4) it parses any
    body as data regardless of the status code."""

    def __init__(self, port, interval=0.25):
        self.port = port
        self.interval = interval
        self.records = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                status, headers, body = http_get(self.port, "/getDashDataWS")
            except OSError:
                status, headers, body = None, {}, b""
            try:
                doc = json.loads(body) if body else None
            except ValueError:
                doc = None
            self.records.append((time.monotonic(), status, headers.get("content-type"), body, doc))
            self._stop.wait(self.interval)

    def stop(self):
        self._stop.set()
        self._t.join(10)
        return self.records

    def stored(self):
        """What the consumer stores: every JSON object, whatever the status."""
        return [(t, d) for t, _, _, _, d in self.records if d is not None]


def assert_never_garbage(client):
    """Every JSON body is a complete contract document served with 200; every
    other answer is a non-JSON text/plain 503."""
    for t, status, ctype, body, doc in client.records:
        if status is None:
            continue
        if doc is not None:
            assert status == 200, f"JSON body with status {status}: {body[:200]!r}"
            missing = [k for k in CONTRACT_MEMBERS if k not in doc]
            assert not missing, f"JSON body without {missing}: {body[:200]!r}"
        else:
            assert status == 503, (status, body[:200])
            assert ctype.startswith("text/plain"), ctype
            assert body.startswith(b"not ready: "), body[:200]


def glitched(ctl, kind):
    with control(ctl) as c:
        return c.fault_status()["glitched"].get(kind, 0)


def test_boot_during_spike_never_publishes_the_spike(rig):  # noqa: F811
    sim, pty, ctl = run_mepsim(rig.tmp)
    rig.add(sim)
    with control(ctl) as c:
        base = model_truth(c)["fwd_wh"]
        c.glitch("spike delta=2^24 polls=4")   # 4 polls at 2 s: shorter than the 10 s confirmation
    port = free_port()
    client = None
    mod = rig.add(run_mepmod(rig, pty, port, ctl=ctl, wait=False))
    try:
        wait_for(lambda: http_get(port, "/status")[0] == 200, 10, "mepmod HTTP", interval=0.1)
        client = StatusIgnoringClient(port)
        wait_ready(port, timeout=40)
        time.sleep(6)
    finally:
        records = client.stop() if client else []
    assert glitched(ctl, "spike") >= 1, "the spike never reached a served BT23"
    assert_never_garbage(client)
    stored = client.stored()
    assert stored, "no contract document was ever served"
    for t, d in stored:
        assert base <= d["Fwd_Act_Wh"] < base + SPIKE // 2, (d["Fwd_Act_Wh"], base, dump_logs(mod))
    assert any(s == 503 for _, s, _, _, _ in records), "not-ready answers were expected first"
    assert "energy confirmed" in mod.stderr(), dump_logs(mod)


def test_boot_during_decrease_never_publishes_the_low_value(rig):  # noqa: F811
    sim, pty, ctl = run_mepsim(rig.tmp)
    rig.add(sim)
    with control(ctl) as c:
        base = model_truth(c)["fwd_wh"]
        c.glitch("decrease delta=5000 polls=4")
    port = free_port()
    mod = rig.add(run_mepmod(rig, pty, port, ctl=ctl))
    client = StatusIgnoringClient(port)
    try:
        wait_ready(port, timeout=40)
        time.sleep(4)
    finally:
        client.stop()
    assert glitched(ctl, "decrease") >= 1, "the decrease never reached a served BT23"
    assert_never_garbage(client)
    fwd = [d["Fwd_Act_Wh"] for _, d in client.stored()]
    assert fwd and min(fwd) >= base, (min(fwd) if fwd else None, base, dump_logs(mod))
    assert all(b >= a for a, b in zip(fwd, fwd[1:])), "published energy fell"


def test_boot_during_32bit_wrap_keeps_rising_and_raw_is_unsigned(rig):  # noqa: F811
    sim, pty, ctl = run_mepsim(rig.tmp)
    rig.add(sim)
    with control(ctl) as c:
        c.set_load(1, 20000, 1.0)            # ~5.6 Wh/s: wraps ~15 s after the glitch starts
        c.glitch("wrap margin=80")
    port = free_port()
    mod = rig.add(run_mepmod(rig, pty, port, ctl=ctl))
    client = StatusIgnoringClient(port)
    try:
        wait_ready(port, timeout=40)
        wait_for(lambda: any(d.get("Raw_Fwd_Act_Wh", 1 << 32) < 1000 for _, d in client.stored()),
                 40, "the register to wrap", interval=0.5)
        time.sleep(4)
    finally:
        client.stop()
    assert_never_garbage(client)
    docs = [d for _, d in client.stored()]
    raw = [d["Raw_Fwd_Act_Wh"] for d in docs]
    assert all(0 <= v < (1 << 32) for v in raw), "raw registers are unsigned 32-bit"
    fwd = [d["Fwd_Act_Wh"] for d in docs]
    assert all(b >= a for a, b in zip(fwd, fwd[1:])), f"published energy fell: {fwd}"
    assert fwd[-1] >= (1 << 32), (fwd[-1], dump_logs(mod))


def test_meter_silent_for_several_polls_is_served_as_not_ready(rig):  # noqa: F811
    sim, pty, ctl = run_mepsim(rig.tmp)
    rig.add(sim)
    port = free_port()
    mod = rig.add(run_mepmod(rig, pty, port, ctl=ctl))
    wait_ready(port, timeout=40)
    client = StatusIgnoringClient(port)
    try:
        time.sleep(2)
        with control(ctl) as c:
            fid = c.inject("silence dir=to-module")
        t_silent = time.monotonic()
        # 3 polls (2 s) + 2 s slack, plus one poll of phase: 503 well within 12 s
        wait_for(lambda: client.records and client.records[-1][1] == 503, 12,
                 "503 while the meter is silent", interval=0.2)
        time.sleep(3)
        t_503 = time.monotonic()
        with control(ctl) as c:
            c.clear(fid)
        wait_ready(port, timeout=60)
        time.sleep(2)
    finally:
        client.stop()
    assert_never_garbage(client)
    late_ok = [(round(t - t_silent, 2), d.get("Energy_Age_s")) for t, d in client.stored()
               if t_silent + 9 <= t <= t_503]
    assert not late_ok, f"stale readings served as live: {late_ok[:5]}"
    # while silent but not yet stale the documents are honest about their age
    for t, d in client.stored():
        assert d["Energy_Age_s"] <= 3 * 2 + 2 + 1, d["Energy_Age_s"]
    assert mod.alive()
