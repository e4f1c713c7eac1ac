"""TLS mode end to end (docs/mep.md 3.5, 7): `mepmod --tls` against a
`mepsim` meter whose MEP port requires TLS (fixtures/meters/nes-3ph-tls.json).

What is checked: the published values equal the model as in RC4 mode; a
wrong PSK gives a visible error state (0x03) and no readings; a session the
meter drops is re-established at once (readings resume within 2 polls); a
meter restart is survived; a corrupted handshake flight is retried with a
growing back-off; TLS_TABLE without a session is answered 0x0A. The TLS
faults are the protocol faults tls-drop-session / tls-wrong-psk /
tls-corrupt-handshake (scenarios s36-tls-*.json). Python's ssl module has no
TLS-PSK, so TLS itself is driven by mepmod (and by tests/unit/test_tls.c).
"""

import json
import signal
import time

import pytest

from fwfixtures import (BT28_INDEX, DASH_INTEGERS, MQTT_TOPICS, WRONG_MBK, Broker,  # noqa: F401
                        DashRecorder, ModelSampler, MqttCollector, check_against_model, control, dump_logs, free_port, get_dash, http_get,
                        rig, run_mepmod, run_mepsim, wait_for, wait_ready)
from osgp_hil.link import SerialLink
from osgp_hil.paths import fixtures_dir

TLS_PROFILE = fixtures_dir() / "meters" / "nes-3ph-tls.json"
EITHER_PROFILE = fixtures_dir() / "meters" / "nes-3ph.json"  # tls_required false: RC4 or TLS
SCEN = fixtures_dir() / "scenarios"
POLL_S = 2.0
WINDOW_S = POLL_S + 1.5


def status_doc(port):
    return json.loads(http_get(port, "/status")[2])


def dash_status(port):
    """(status, body text) of /getDashDataWS; not-ready answers are text/plain."""
    st, _, body = http_get(port, "/getDashDataWS")
    return st, body.decode("utf-8", "replace")


def not_json(text):
    try:
        json.loads(text)
        return False
    except ValueError:
        return True


def tls_port(port):
    return status_doc(port)["port"]["tls"]


def sim_tls(ctl):
    with control(ctl) as c:
        st = c.status()["meters"][0]
    return st["tls"], st["tls_counters"]


def start_tls_pair(rig, sim_extra=(), mod_extra=(), mbk=None):  # noqa: F811
    sim, pty, ctl = run_mepsim(rig.tmp, extra=["--profile", TLS_PROFILE, *sim_extra])
    rig.add(sim)
    port = free_port()
    kw = {"mbk": mbk} if mbk else {}
    mod = rig.add(run_mepmod(rig, pty, port, ctl=ctl, extra=["--tls", *mod_extra], **kw))
    return sim, pty, ctl, port, mod


def test_tls_values_equal_the_model_as_in_rc4_mode(rig):  # noqa: F811
    sim, pty, ctl, port, mod = start_tls_pair(rig, sim_extra=["--seed", "7"], mod_extra=["--tls-client-id", "100"])
    sampler = ModelSampler(ctl)
    try:
        wait_ready(port)
        rec = DashRecorder(port, interval=0.3)
        time.sleep(6)
        records = rec.stop()
    finally:
        sampler.stop()
    docs = [(t, d) for t, s, d in records if s == 200]
    assert len(docs) >= 12, dump_logs(mod, sim)
    for t, doc in docs:
        bad = check_against_model(doc, list(DASH_INTEGERS), sampler.window(t - WINDOW_S, t + 0.05))
        assert not bad, f"doc at {t:.2f}: {bad}\n{dump_logs(mod)}"
    st = status_doc(port)
    assert st["status"] == "OK"
    t = st["port"]["tls"]
    assert t["connected"] is True and t["handshakes"] == 1 and t["reconnects"] == 0, t
    assert t["requests"] >= 10 and t["key"] == "MBK" and t["client_id"] == 100
    state, k = sim_tls(ctl)
    assert state == "established"
    assert k["handshakes_ok"] == 1 and k["rc4_refused"] == 0 and k["no_session"] == 0, k
    assert k["tables"] >= t["requests"]
    assert "TLS mode" in mod.stderr() and "handshake done" in mod.stderr()


def test_tls_mqtt_and_mak_psk_as_in_rc4_mode(rig):  # noqa: F811
    # MAK as the PSK (key id 1): the meter grants MAK access; MQTT equals the model
    mak = "MAKtestKey9876543210"
    rig.broker = Broker(rig.tmp)
    sim, pty, ctl = run_mepsim(rig.tmp, extra=["--profile", TLS_PROFILE, "--mak", mak, "--seed", "8"])
    rig.add(sim)
    collector = MqttCollector(rig.broker.port, topics=("esp32-mep/#",))
    rig.collectors.append(collector)
    port = free_port()
    sampler = ModelSampler(ctl)
    try:
        mod = rig.add(run_mepmod(rig, pty, port, ctl=ctl,
                                 extra=["--tls", "--mak", mak, "--mqtt", f"127.0.0.1:{rig.broker.port}"]))
        wait_ready(port)
        collector.wait_topic("esp32-mep/meterConsumptionTotal/mydatajson", 25, count=1)
        time.sleep(0.5)
    finally:
        sampler.stop()
    msgs = collector.snapshot()
    for sub, members in MQTT_TOPICS.items():
        got = [m for m in msgs if m[1] == "esp32-mep/" + sub]
        assert got, f"{sub}: nothing published\n{dump_logs(mod)}"
        for t, _, payload, _ in got:
            doc = json.loads(payload)
            assert sorted(doc) == sorted(members)
            checkable = [m for m in members if m in BT28_INDEX or m.endswith("_Act_Wh")]
            bad = check_against_model(doc, checkable, sampler.window(t - WINDOW_S, t + 0.05))
            assert not bad, f"{sub} at {t:.2f}: {bad}"
    t = tls_port(port)
    assert t["key"] == "MAK" and t["handshakes"] == 1, t
    assert "TLS mode (PSK = MAK)" in mod.stderr()


def test_rc4_module_on_a_tls_required_port_gets_no_readings(rig):  # noqa: F811
    sim, pty, ctl = run_mepsim(rig.tmp, extra=["--profile", TLS_PROFILE])
    rig.add(sim)
    port = free_port()
    mod = rig.add(run_mepmod(rig, pty, port, ctl=ctl))   # no --tls
    time.sleep(6)
    st, text = dash_status(port)
    assert st == 503 and "Fwd_Act_Wh" not in text and not_json(text), text
    _, k = sim_tls(ctl)
    assert k["rc4_refused"] >= 2, k                          # every RC4 frame: `00 01 0A` (docs/mep.md 7.5)
    assert mod.alive()


def test_wrong_psk_gives_0x03_error_state_and_no_readings(rig):  # noqa: F811
    # the module's MBK differs from the meter's: its Finished cannot authenticate
    sim, pty, ctl = run_mepsim(rig.tmp, extra=["--profile", TLS_PROFILE])
    rig.add(sim)
    port = free_port()
    mod = rig.add(run_mepmod(rig, pty, port, ctl=ctl, mbk=WRONG_MBK, extra=["--tls"]))

    def auth_failed():
        st, text = dash_status(port)
        return text if "\nStatus: AUTH_FAIL\n" in text else None
    wait_for(auth_failed, 15, "Status AUTH_FAIL in /getDashDataWS", interval=0.25)
    t_end = time.monotonic() + 4
    while time.monotonic() < t_end:
        st, text = dash_status(port)
        assert st == 503 and "Fwd_Act_Wh" not in text and "Utility_SN" not in text and not_json(text), text
        time.sleep(0.5)
    s = status_doc(port)
    assert s["status"] == "AUTH_FAIL" and "0x03" in s["status_text"], s
    assert s["port"]["tls"]["last_meter_code"] == 3 and s["port"]["tls"]["handshakes"] == 0
    assert s["counters"]["polls_ok"] == 0
    _, k = sim_tls(ctl)
    assert k["identity_rejects"] >= 2 and k["tables"] == 0, k   # retried, with back-off
    assert k["identity_rejects"] <= 6, f"back-off: {k['identity_rejects']} handshakes in ~10 s"
    assert "0x03" in mod.stderr()


def test_injected_wrong_psk_then_fixed_recovers(rig):  # noqa: F811
    # s36-tls-wrong-psk at speed 10: the meter refuses for 6 s, then agrees
    sim, pty, ctl = run_mepsim(rig.tmp, extra=["--scenario", SCEN / "s36-tls-wrong-psk.json", "--speed", "10"])
    rig.add(sim)
    port = free_port()
    mod = rig.add(run_mepmod(rig, pty, port, ctl=ctl, extra=["--tls"]))
    wait_for(lambda: status_doc(port)["status"] == "AUTH_FAIL", 10, "AUTH_FAIL under tls-wrong-psk")
    assert dash_status(port)[0] == 503
    wait_ready(port, timeout=40)
    s = status_doc(port)
    assert s["status"] == "OK" and s["port"]["tls"]["handshakes"] == 1, (s["port"]["tls"], mod.stderr()[-3000:])
    with control(ctl) as c:
        assert c.fault_status()["injected"]["tls-wrong-psk"] >= 2
    assert mod.alive()


def test_dropped_session_reconnects_and_resumes_within_2_polls(rig):  # noqa: F811
    sim, pty, ctl, port, mod = start_tls_pair(rig, sim_extra=["--seed", "3"])
    wait_ready(port)
    rec = DashRecorder(port, interval=0.25)
    time.sleep(2.5)
    before = status_doc(port)
    with control(ctl) as c:
        c.inject("tls-drop-session count=1")
    t0 = time.monotonic()
    wait_for(lambda: sim_tls(ctl)[1]["no_session"] >= 1, 2 * POLL_S + 1, "the dropped session to be noticed")

    def resumed():
        s = status_doc(port)
        return s if s["counters"]["polls_ok"] >= before["counters"]["polls_ok"] + 2 else None
    after = wait_for(resumed, 2 * POLL_S + 2, "polls to resume")
    assert time.monotonic() - t0 <= 2 * POLL_S + 2
    time.sleep(1)
    records = rec.stop()
    t = after["port"]["tls"]
    assert t["handshakes"] == 2 and t["reconnects"] == 1, t
    assert after["status"] == "OK"
    assert all(s == 200 for _, s, _ in records), "readings stay served across the re-handshake"
    fwd = [d["Fwd_Act_Wh"] for _, s, d in records if s == 200]
    assert all(b >= a for a, b in zip(fwd, fwd[1:]))
    state, k = sim_tls(ctl)
    assert state == "established" and k["no_session"] == 1 and k["handshakes_ok"] == 2, k
    assert "0x0A" in mod.stderr()


def test_meter_restart_reconnects(rig):  # noqa: F811
    sim, pty, ctl, port, mod = start_tls_pair(rig, sim_extra=["--seed", "5"])
    wait_ready(port)
    polls = status_doc(port)["counters"]["polls_ok"]
    assert sim.stop() == 0
    time.sleep(2)
    sim2, pty2, ctl2 = run_mepsim(rig.tmp, extra=["--profile", TLS_PROFILE, "--seed", "6"])
    rig.add(sim2)
    assert pty2 == pty

    def polling_again():
        s = status_doc(port)
        return s if s["status"] == "OK" and s["counters"]["polls_ok"] >= polls + 3 and \
            s["port"]["tls"]["handshakes"] >= 2 else None
    s = wait_for(polling_again, 30, "mepmod to poll the restarted meter over TLS", interval=0.25)
    assert s["port"]["tls"]["connected"] is True
    state, k = sim_tls(ctl2)
    assert state == "established" and k["handshakes_ok"] >= 1 and k["tables"] >= 3, k
    assert mod.alive()


def test_corrupted_handshake_is_retried_with_back_off(rig):  # noqa: F811
    sim, pty, ctl = run_mepsim(rig.tmp, extra=["--profile", TLS_PROFILE])
    rig.add(sim)
    with control(ctl) as c:
        c.inject("tls-corrupt-handshake count=3")
    port = free_port()
    t0 = time.monotonic()
    mod = rig.add(run_mepmod(rig, pty, port, ctl=ctl, extra=["--tls"]))
    seen = set()

    def ok():
        s = status_doc(port)
        seen.add(s["status"])
        return s if s["status"] == "OK" else None
    s = wait_for(ok, 30, "readings after three spoiled handshakes", interval=0.2)
    took = time.monotonic() - t0
    assert "TLS_FAIL" in seen, seen
    t = s["port"]["tls"]
    assert t["handshake_failures"] == 3 and t["handshakes"] == 1, t
    assert t["last_mbedtls_error"] < 0
    # 2 s power-up, 1st retry at once, then 2 s and 4 s back-off: >= 8 s, < 20 s
    assert 7.5 <= took <= 20, took
    with control(ctl) as c:
        assert c.fault_status()["injected"]["tls-corrupt-handshake"] == 3
    assert "TLS_FAIL" in mod.stderr()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_clean_exit_terminates_the_session_so_an_rc4_module_is_served(rig, sig):  # noqa: F811
    # docs/mep.md 3.5: while a TLS session is open the meter refuses RC4 frames with 0x0A;
    # a module that exits cleanly must end its session (TLS_TERMINATE) or the next one never gets in
    sim, pty, ctl = run_mepsim(rig.tmp, extra=["--profile", EITHER_PROFILE])
    rig.add(sim)
    port = free_port()
    tls_mod = rig.add(run_mepmod(rig, pty, port, ctl=ctl, extra=["--tls"], name="mepmod-tls"))
    wait_ready(port)
    state, k = sim_tls(ctl)
    assert state == "established" and k["terminates"] == 0, k
    t0 = time.monotonic()
    assert tls_mod.stop(sig) == 0, dump_logs(tls_mod)
    assert time.monotonic() - t0 < 5.0  # the wait for the meter's answer is bounded
    state, k = sim_tls(ctl)
    assert state == "idle" and k["terminates"] == 1, (k, dump_logs(tls_mod, sim))
    assert "session terminated" in tls_mod.stderr()

    port2 = free_port()
    rc4_mod = rig.add(run_mepmod(rig, pty, port2, ctl=ctl, name="mepmod-rc4"))
    doc = wait_ready(port2, timeout=30)
    assert doc["Utility_SN"]
    s = status_doc(port2)
    assert s["status"] == "OK" and "tls" not in s["port"], s
    assert "0x0A" not in rc4_mod.stderr()


def test_tls_table_without_session_is_0x0A(mepsim):
    sim = mepsim("--pty", "t.pty", "--profile", TLS_PROFILE)
    link = SerialLink(str(sim.pty("t.pty")))
    try:
        vec = json.loads((fixtures_dir() / "vectors" / "mep_rc4.json").read_text())["tls_example"]
        req = next(m for m in vec["messages"] if m["id"] == "tls_ex2_req")
        time.sleep(0.15)
        link.send(bytes.fromhex(req["raw_hex"]))
        frame, _ = link.read_frame(timeout=2)
        assert frame == bytes([0x00, 0x01, 0x0A])
        # an RC4 frame on the TLS-required port: `00 01 0A` too, no digest (docs/mep.md 7.5)
        time.sleep(0.15)
        link.send(bytes.fromhex("000F 300001 00000001" + " 00" * 8))  # BT01 read, any digest
        frame, _ = link.read_frame(timeout=2)
        assert frame == bytes([0x00, 0x01, 0x0A])
    finally:
        link.close()


def test_tls_flag_errors_exit_2_naming_the_problem(tmp_path):
    import subprocess
    from fwfixtures import MBK, MEPMOD_BIN, need_binaries
    need_binaries(MEPMOD_BIN)
    cases = [
        (["--tls", "--encrypt"], "--encrypt"),
        (["--tls", "--tls-key", "mak"], "--tls-key mak needs --mak"),
        (["--tls-key", "mbk"], "need --tls"),
        (["--tls", "--tls-client-id", "70000"], "--tls-client-id"),
        (["--tls", "--tls-key", "foo"], "--tls-key: bad key 'foo'"),
    ]
    for extra, msg in cases:
        r = subprocess.run([str(MEPMOD_BIN), "--port", str(tmp_path / "none"), "--mbk", MBK, *extra],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 2 and msg in r.stderr, (extra, r.stderr)
    r = subprocess.run([str(MEPMOD_BIN), "--help"], capture_output=True, text=True, timeout=10)
    assert "--tls-key mbk|mak" in r.stdout and "--tls-client-id" in r.stdout
