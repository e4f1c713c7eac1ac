"""MQTT: Home Assistant discovery configs (retained, on HA's current schema,
pointing at the 8.2 state topics and the diagnostics topic; a meter device
reached through the module's device; no L2/L3 entities for a single-phase
meter) and the retained LWT (`Online` after connect, `Offline` after mepmod
dies or exits)."""

import json
import re
import signal
import time

from osgp_hil.paths import fixture

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


# ---- Home Assistant's MQTT discovery schema ----------------------------------
# From the MQTT sensor / binary sensor documentation (home-assistant.io,
# integrations/sensor.mqtt and binary_sensor.mqtt, 2025.10 on): the keys a
# config may carry, the ones it must, and the device and origin maps.
# `object_id` is deprecated since 2025.10 (removed 2026.4): `default_entity_id`
# (`<component>.<object id>`) replaces it.
COMMON_KEYS = {"availability", "availability_mode", "availability_template", "availability_topic",
               "default_entity_id", "device", "device_class", "enabled_by_default", "encoding",
               "entity_category", "entity_picture", "expire_after", "force_update", "icon",
               "json_attributes_template", "json_attributes_topic", "name", "origin",
               "payload_available", "payload_not_available", "platform", "qos", "state_topic",
               "unique_id", "value_template"}
ALLOWED_KEYS = {
    "sensor": COMMON_KEYS | {"last_reset_value_template", "options", "state_class",
                             "suggested_display_precision", "unit_of_measurement"},
    "binary_sensor": COMMON_KEYS | {"off_delay", "payload_off", "payload_on"},
}
# required by HA (state_topic) and by us (a device needs unique_id; origin names us)
REQUIRED_KEYS = {"state_topic", "unique_id", "default_entity_id", "name", "device", "origin",
                 "value_template", "availability_topic"}
DEVICE_KEYS = {"configuration_url", "connections", "hw_version", "identifiers", "manufacturer",
               "model", "model_id", "name", "serial_number", "suggested_area", "sw_version",
               "via_device"}
ORIGIN_KEYS = {"name", "sw_version", "support_url"}
STATE_CLASSES = {"measurement", "measurement_angle", "total", "total_increasing"}
DIAGNOSTIC_MEMBERS = {"Status", "Energy_Suspect", "Raw_Fwd_Act_Wh", "Raw_Rev_Act_Wh", "Polls_OK",
                      "Timeouts", "Digest_Rejects", "Auth_Failures", "Recovery_Cycles"}
DIAG_TOPIC = "diagnostics/mydatajson"
PHASE_KEYS = ("l2_", "l3_")


def discovery_configs(broker_port, expected):
    """{(component, key): config} of the retained discovery configs once
    `expected` non-empty ones are there; empty payloads (removals) as None."""
    wait_for(lambda: len([m for m in retained(broker_port, "homeassistant/#", 0.5) if m[2]])
             >= expected, 20, f"{expected} retained discovery configs")
    configs = {}
    for _, topic, payload, _ in retained(broker_port, "homeassistant/#"):
        parts = topic.split("/")
        assert len(parts) == 5 and parts[0] == "homeassistant" and parts[4] == "config", topic
        assert parts[1] in ALLOWED_KEYS, topic
        assert parts[2] == PREFIX, "node id is the (sanitised) prefix"
        configs[(parts[1], parts[3])] = json.loads(payload) if payload else None
    return configs


def check_schema(component, key, c, http_port):
    where = f"{component}/{key}"
    unknown = set(c) - ALLOWED_KEYS[component]
    assert not unknown, f"{where}: keys HA does not know: {unknown}"
    assert not REQUIRED_KEYS - set(c), f"{where}: missing {REQUIRED_KEYS - set(c)}"
    assert "object_id" not in c, f"{where}: deprecated object_id"
    domain, _, slug = c["default_entity_id"].partition(".")
    assert domain == component and re.fullmatch(r"[a-z0-9_]+", slug), f"{where}: {c['default_entity_id']}"
    assert set(c["origin"]) <= ORIGIN_KEYS and c["origin"]["name"] == "mepmod", c["origin"]
    dev = c["device"]
    assert set(dev) <= DEVICE_KEYS and dev["identifiers"], f"{where}: {dev}"
    assert dev["configuration_url"] == f"http://127.0.0.1:{http_port}/", dev
    if "state_class" in c:
        assert c["state_class"] in STATE_CLASSES, where
    if "entity_category" in c:
        assert c["entity_category"] == "diagnostic", f"{where}: sensors take only diagnostic"


def test_home_assistant_discovery_configs_are_on_the_current_schema(rig):  # noqa: F811
    mod, port, ctl = start(rig)
    doc = wait_ready(port)
    configs = discovery_configs(rig.broker.port, 39)
    assert all(configs.values()), "a three-phase meter has every entity"
    assert len(configs) == 39, sorted(configs)
    uids = [c["unique_id"] for c in configs.values()]
    assert len(set(uids)) == len(uids), "unique_id must be unique"
    ids = [c["default_entity_id"] for c in configs.values()]
    assert len(set(ids)) == len(ids), "default_entity_id must be unique"
    state_topics = {f"{PREFIX}/{t}": members for t, members in MQTT_TOPICS.items()}
    state_topics[f"{PREFIX}/{DIAG_TOPIC}"] = DIAGNOSTIC_MEMBERS
    for (component, key), c in configs.items():
        check_schema(component, key, c, port)
        assert c["state_topic"] in state_topics, f"{key}: {c['state_topic']}"
        member = c["value_template"].split("value_json.")[1].split()[0]
        assert member in state_topics[c["state_topic"]], f"{key}: {member} not on {c['state_topic']}"
        assert c["availability_topic"] == f"{PREFIX}/lwt"
        diagnostic = member in DIAGNOSTIC_MEMBERS
        assert (c.get("entity_category") == "diagnostic") == diagnostic, key
    # two devices: the meter (from BT01/ET03) reached through the module
    meter = configs[("sensor", "fwd_act_wh")]["device"]
    module = configs[("sensor", "status")]["device"]
    assert meter["manufacturer"] == doc["Meter_Manufacturer"] and meter["model"] == doc["Meter_Model"]
    assert meter["serial_number"] == doc["Utility_SN"] and doc["Utility_SN"] in meter["name"]
    assert doc["Utility_SN"] in meter["identifiers"][0]
    assert meter["via_device"] in module["identifiers"], (meter, module)
    assert "via_device" not in module
    units = {"energy": "Wh", "power": "W", "voltage": "V", "current": "A", "frequency": "Hz",
             "reactive_power": "var"}
    for (component, key), c in configs.items():
        if c.get("device_class") in units:
            assert c["unit_of_measurement"] == units[c["device_class"]], key
        if c.get("device_class") == "energy":
            assert c["state_class"] == "total_increasing", key
        elif c.get("device_class"):
            assert component == "binary_sensor" or c["state_class"] == "measurement", key
    assert configs[("sensor", "fwd_act_wh")]["state_topic"] == f"{PREFIX}/meterConsumptionTotal/mydatajson"
    assert configs[("sensor", "l1_rms_v")]["value_template"].endswith("/ 1000 }}"), "mV -> V"
    assert configs[("binary_sensor", "energy_suspect")]["device_class"] == "problem"
    # the unique_id of earlier releases (<node>_<serial>_<key>), so HA keeps its entities, and
    # default_entity_id the entity id HA made from their object_id
    sn = re.sub(r"[^A-Za-z0-9]", "_", doc["Utility_SN"])
    v = configs[("sensor", "l1_rms_v")]
    assert v["unique_id"] == f"{PREFIX}_{sn}_l1_rms_v", v["unique_id"]
    assert v["default_entity_id"] == "sensor." + re.sub(r"[^a-z0-9]", "_", v["unique_id"].lower())


def test_a_single_phase_meter_gets_no_l2_l3_entities(rig):  # noqa: F811
    """nes-1ph.json: ET04.62 flags L2 and L3 absent; their configs are not
    announced, and an empty retained config removes any announced before."""
    rig.broker = Broker(rig.tmp)
    # a config left by an earlier run that announced three phases
    import paho.mqtt.publish as publish
    stale = f"homeassistant/sensor/{PREFIX}/l2_rms_v/config"
    publish.single(stale, json.dumps({"state_topic": "x"}), retain=True, hostname="127.0.0.1",
                   port=rig.broker.port)
    sim, pty, ctl = run_mepsim(rig.tmp, extra=["--profile", str(fixture("meters", "nes-1ph.json"))])
    rig.add(sim)
    port = free_port()
    rig.add(run_mepmod(rig, pty, port, ctl=ctl,
                       extra=["--mqtt", f"127.0.0.1:{rig.broker.port}", "--mqtt-prefix", PREFIX]))
    wait_ready(port)
    wait_for(lambda: ("sensor", "l2_rms_v") not in discovery_configs(rig.broker.port, 25), 20,
             "the stale L2 config removed")
    configs = discovery_configs(rig.broker.port, 25)
    live = {k: c for k, c in configs.items() if c}
    assert len(live) == 25, sorted(live)
    assert not [k for _, k in live if k.startswith(PHASE_KEYS)], sorted(live)
    for (component, key), c in live.items():
        check_schema(component, key, c, port)
    assert ("sensor", "l1_rms_v") in live and ("sensor", "fwd_w") in live


def test_diagnostics_topic_carries_status_and_counters(rig):  # noqa: F811
    mod, port, ctl = start(rig)
    wait_ready(port)
    c = MqttCollector(rig.broker.port, topics=(f"{PREFIX}/{DIAG_TOPIC}",))
    rig.collectors.append(c)
    msgs = c.wait_topic(f"{PREFIX}/{DIAG_TOPIC}", 15)
    doc = json.loads(msgs[-1][2])
    assert set(doc) >= DIAGNOSTIC_MEMBERS, doc
    assert doc["Status"] == "OK" and doc["Energy_Suspect"] is False and doc["Polls_OK"] > 0, doc
    assert isinstance(doc["Raw_Fwd_Act_Wh"], int) and doc["Raw_Fwd_Act_Wh"] > 0, doc


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
