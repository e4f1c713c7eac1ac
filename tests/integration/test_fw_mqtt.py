"""MQTT: Home Assistant discovery configs (retained, well-formed, pointing at
the 8.2 state topics) and the retained LWT (`Online` after connect,
`Offline` after mepmod dies or exits)."""

import json
import signal
import time

from fwfixtures import (MQTT_TOPICS, Broker, MqttCollector, control, dump_logs,  # noqa: F401
                        free_port, get_dash, rig, run_mepmod, run_mepsim, wait_for, wait_ready)

PREFIX = "mep-test"


def start(rig, prefix=PREFIX):  # noqa: F811
    rig.broker = Broker(rig.tmp)
    sim, pty, ctl = run_mepsim(rig.tmp)
    rig.add(sim)
    port = free_port()
    mod = rig.add(run_mepmod(rig, pty, port, ctl=ctl,
                             extra=["--mqtt", f"127.0.0.1:{rig.broker.port}",
                                    "--mqtt-prefix", prefix]))
    return mod, port, ctl


def retained(broker_port, topic_filter, settle=1.0):
    """What a fresh subscriber receives as retained messages."""
    c = MqttCollector(broker_port, topics=(topic_filter,))
    time.sleep(settle)
    msgs = [m for m in c.snapshot() if m[3]]
    c.close()
    return msgs


def test_home_assistant_discovery_configs_are_retained_and_well_formed(rig):  # noqa: F811
    mod, port, ctl = start(rig)
    doc = wait_ready(port)
    wait_for(lambda: len(retained(rig.broker.port, "homeassistant/#", 0.5)) >= 30, 20,
             "30 retained discovery configs")
    msgs = retained(rig.broker.port, "homeassistant/#")
    configs = {}
    for _, topic, payload, _ in msgs:
        parts = topic.split("/")
        assert len(parts) == 5 and parts[0] == "homeassistant" and parts[1] == "sensor" \
            and parts[4] == "config", topic
        assert parts[2] == PREFIX, "node id is the (sanitised) prefix"
        configs[parts[3]] = json.loads(payload)
    assert len(configs) == 30
    uids = [c["unique_id"] for c in configs.values()]
    assert len(set(uids)) == len(uids), "unique_id must be unique"
    state_topics = {f"{PREFIX}/{t}": members for t, members in MQTT_TOPICS.items()}
    for obj, c in configs.items():
        for key in ("name", "unique_id", "state_topic", "value_template", "device_class",
                    "state_class", "availability_topic", "device"):
            assert key in c, f"{obj}: no {key}"
        assert c["state_topic"] in state_topics, f"{obj}: {c['state_topic']}"
        member = c["value_template"].split("value_json.")[1].split()[0]
        assert member in state_topics[c["state_topic"]], f"{obj}: {member} not on {c['state_topic']}"
        assert c["availability_topic"] == f"{PREFIX}/lwt"
        dev = c["device"]
        assert dev["manufacturer"] == doc["Meter_Manufacturer"]
        assert dev["model"] == doc["Meter_Model"]
        assert doc["Utility_SN"] in dev["name"] and dev["identifiers"]
    units = {"energy": "Wh", "power": "W", "voltage": "V", "current": "A", "frequency": "Hz"}
    for obj, c in configs.items():
        if c["device_class"] in units:
            assert c["unit_of_measurement"] == units[c["device_class"]], obj
        if c["device_class"] == "energy":
            assert c["state_class"] == "total_increasing", obj
        else:
            assert c["state_class"] == "measurement", obj
    assert configs["fwd_act_wh"]["state_topic"] == f"{PREFIX}/meterConsumptionTotal/mydatajson"
    assert configs["l1_rms_v"]["value_template"].endswith("/ 1000 }}"), "mV -> V"


def test_lwt_is_online_after_connect(rig):  # noqa: F811
    mod, port, ctl = start(rig)
    wait_for(lambda: [m for m in retained(rig.broker.port, f"{PREFIX}/lwt", 0.3)
                      if m[2] == b"Online"], 15, "retained Online")


def test_lwt_offline_retained_after_mepmod_is_killed(rig):  # noqa: F811
    mod, port, ctl = start(rig)
    wait_for(lambda: [m for m in retained(rig.broker.port, f"{PREFIX}/lwt", 0.3)
                      if m[2] == b"Online"], 15, "retained Online")
    mod.stop(signal.SIGKILL)  # no clean disconnect: the broker sends the last will
    wait_for(lambda: [m for m in retained(rig.broker.port, f"{PREFIX}/lwt", 0.3)
                      if m[2] == b"Offline"], 15, "retained Offline (last will)")


def test_lwt_offline_retained_after_clean_exit(rig):  # noqa: F811
    mod, port, ctl = start(rig)
    wait_for(lambda: [m for m in retained(rig.broker.port, f"{PREFIX}/lwt", 0.3)
                      if m[2] == b"Online"], 15, "retained Online")
    assert mod.stop(signal.SIGTERM) == 0
    msgs = retained(rig.broker.port, f"{PREFIX}/lwt")
    assert [m[2] for m in msgs] == [b"Offline"], msgs


def test_broker_started_after_mepmod_is_connected_to_later(rig):  # noqa: F811
    """Module start with the broker down (power cut, broker rebooting): mepmod
    keeps polling, retries with back-off, and publishes once the broker is up."""
    from fwfixtures import MOSQUITTO_BIN
    import pytest
    if not MOSQUITTO_BIN.exists():
        pytest.skip(f"{MOSQUITTO_BIN} is not installed: MQTT tests need a real broker")
    broker_port = free_port()
    sim, pty, ctl = run_mepsim(rig.tmp)
    rig.add(sim)
    port = free_port()
    mod = rig.add(run_mepmod(rig, pty, port, ctl=ctl,
                             extra=["--mqtt", f"127.0.0.1:{broker_port}", "--mqtt-prefix", PREFIX]))
    wait_ready(port)
    rig.broker = Broker(rig.tmp, port=broker_port)
    collector = MqttCollector(broker_port, topics=(f"{PREFIX}/#",))
    rig.collectors.append(collector)
    collector.wait_topic(f"{PREFIX}/meterConsumptionTotal/mydatajson", 30)
    assert "retrying with back-off" in mod.stderr()
