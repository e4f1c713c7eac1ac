"""Wrong MBK (docs/module-behaviour.md S06): the meter answers 0x0B to everything.
mepmod shows a clear error state (503 text/plain with a Status line, /status, the log),
keeps retrying with back-off, and never presents zeros as readings - over
HTTP or MQTT."""

import json
import time

from fwfixtures import (WRONG_MBK, Broker, MqttCollector, dump_logs, free_port,  # noqa: F401
                        get_dash, http_get, rig, run_mepmod, run_mepsim, wait_for)


def not_ready_answer(port):
    """/getDashDataWS while not ready: (status, content type, text, fields of
    its "Key: value" lines; the first line is "not ready: <reason>"). The body
    is never JSON (firmware/README.md "Served states")."""
    st, headers, body = http_get(port, "/getDashDataWS")
    text = body.decode("utf-8", "replace")
    fields = dict(line.partition(": ")[::2] for line in text.splitlines())
    return st, headers.get("content-type", ""), text, fields


def is_json(text):
    try:
        json.loads(text)
        return True
    except ValueError:
        return False


def test_wrong_key_gives_auth_error_state_and_no_readings(rig):  # noqa: F811
    sim, pty, ctl = run_mepsim(rig.tmp)
    rig.add(sim)
    port = free_port()
    mod = rig.add(run_mepmod(rig, pty, port, ctl=ctl, mbk=WRONG_MBK))

    def auth_failed():
        st, _, _, f = not_ready_answer(port)
        return f if f.get("Status") == "AUTH_FAIL" else None
    wait_for(auth_failed, 20, "Status AUTH_FAIL in /getDashDataWS", interval=0.25)
    t_end = time.monotonic() + 4
    statuses = []
    while time.monotonic() < t_end:
        st, ctype, text, f = not_ready_answer(port)
        statuses.append(st)
        assert st == 503, text
        assert ctype.startswith("text/plain")
        assert not is_json(text), "a consumer ignoring the status would store it (8.4)"
        assert "Fwd_Act_Wh" not in text and "Utility_SN" not in text
        assert f["not ready"]
        time.sleep(0.5)
    status = json.loads(http_get(port, "/status")[2])
    assert status["status"] == "AUTH_FAIL" and status["ready"] is False
    assert status["counters"]["auth_failures"] >= 2, "retries (with back-off) continue"
    assert "auth" in status["status_text"].lower() or "0x0B" in status["status_text"]
    log = mod.stderr()
    assert "AUTH_FAIL" in log or "authentication" in log.lower(), dump_logs(mod)


def test_wrong_key_publishes_no_mqtt_readings(rig):  # noqa: F811
    rig.broker = Broker(rig.tmp)
    sim, pty, ctl = run_mepsim(rig.tmp)
    rig.add(sim)
    collector = MqttCollector(rig.broker.port, topics=("esp32-mep/#",))
    rig.collectors.append(collector)
    port = free_port()
    rig.add(run_mepmod(rig, pty, port, ctl=ctl, mbk=WRONG_MBK,
                       extra=["--mqtt", f"127.0.0.1:{rig.broker.port}"]))
    collector.wait_topic("esp32-mep/lwt", 10)
    time.sleep(12)  # longer than one 10 s publishing period
    topics = {m[1] for m in collector.snapshot()}
    assert topics == {"esp32-mep/lwt"}, topics
