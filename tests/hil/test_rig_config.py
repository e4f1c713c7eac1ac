"""Rig description files: the shipped example validates, the virtual rig is
built in, and every kind of mistake is an error naming the key path or the
device (hil/osgp_hil/rig.py)."""

import copy
from pathlib import Path

import pytest

from osgp_hil.rig import RigError, load_rig, parse_rig, virtual_rig

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "hil" / "examples" / "bench.yaml"


def minimal(tmp_path):
    dev = tmp_path / "ttyUSB0"
    dev.write_text("")          # stands in for the device node
    return {"kind": "bench", "meter": {"uart": str(dev)}, "board": {"http": "http://127.0.0.1:8080"}}


def test_example_bench_yaml_validates():
    rc = load_rig(EXAMPLE, check_devices=False)
    assert rc.kind == "bench" and rc.name == "bench-1"
    assert rc.meter.baud == 9600 and rc.meter.format == "8N1"
    assert Path(rc.meter.profile).resolve() == (REPO / "fixtures" / "meters" / "nes-3ph.json").resolve()
    assert rc.lines.transceiver.input == "CTS" and not rc.lines.transceiver.inverted
    assert rc.lines.enable.input == "DSR"
    assert rc.lines.reset.output == "DTR" and rc.lines.reset.pulse_ms == 200
    assert rc.lines.power.output == "RTS" and rc.lines.power.pulse_ms == 3000
    assert rc.board.console.baud == 115200
    assert rc.board.http == "http://192.168.1.50"
    assert rc.board.mqtt_broker == "192.168.1.10:1883" and rc.board.mqtt_prefix == "esp32-mep"


def test_example_bench_yaml_devices_checked_when_asked():
    # the example names an FTDI adapter that this machine does not have
    with pytest.raises(RigError, match=r"\$\.meter\.uart: device /dev/serial/by-id/usb-FTDI"):
        load_rig(EXAMPLE)


def test_virtual_rig_is_built_in():
    rc = virtual_rig()
    assert rc.is_virtual and rc.name == "virtual"
    assert rc.lines.transceiver is None and rc.meter.uart is None


def test_minimal_bench_defaults(tmp_path):
    rc = parse_rig(minimal(tmp_path), base_dir=str(tmp_path))
    assert rc.meter.baud == 9600 and rc.lines.poll_ms == 5.0 and rc.lines.debounce == 2
    assert rc.board.console.port is None


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["meter"].update(speed=9600), r"\$\.meter\.speed: unknown key"),
    (lambda d: d.update(extra=1), r"\$\.extra: unknown key"),
    (lambda d: d["board"].update(http="ftp://x"), r"\$\.board\.http: expected http"),
    (lambda d: d["board"].update(http="http://x/path"), r"\$\.board\.http: .*without a path"),
    (lambda d: d["meter"].update(baud=9601), r"\$\.meter\.baud: 9601 is not an ET13 rate"),
    (lambda d: d["meter"].update(baud="9600"), r"\$\.meter\.baud: expected an integer"),
    (lambda d: d["meter"].update(format="9N1"), r"\$\.meter\.format: '9N1' is not one of"),
    (lambda d: d["meter"].update(mbk="short"), r"\$\.meter\.mbk: a key is 16 or 20"),
    (lambda d: d.update(lines={"transceiver": {"input": "DTR"}}),
     r"\$\.lines\.transceiver\.input: 'DTR' is not one of CTS, DSR, DCD, RI"),
    (lambda d: d.update(lines={"enable": {"inverted": True}}), r"\$\.lines\.enable\.input: missing"),
    (lambda d: d.update(lines={"enable": {"input": "CTS", "invert": True}}),
     r"\$\.lines\.enable\.invert: unknown key"),
    (lambda d: d.update(lines={"transceiver": {"input": "CTS"}, "enable": {"input": "cts"}}),
     r"\$\.lines\.enable\.input: CTS already senses the transceiver"),
    (lambda d: d.update(lines={"reset": {"output": "RTS"}, "power": {"output": "RTS"}}),
     r"\$\.lines\.power\.output: RTS already drives reset"),
    (lambda d: d.update(lines={"reset": {"output": "DTR", "pulse_ms": 0}}),
     r"\$\.lines\.reset\.pulse_ms: 0 is outside"),
    (lambda d: d.update(lines={"reset": {"output": "DTR", "inverted": "yes"}}),
     r"\$\.lines\.reset\.inverted: expected true or false"),
    (lambda d: d.update(lines={"poll_ms": 0.1}), r"\$\.lines\.poll_ms: 0.1 is outside"),
    (lambda d: d["board"].update(mqtt={"prefix": "x"}), r"\$\.board\.mqtt\.broker: missing"),
    (lambda d: d["board"].update(mqtt={"broker": "h:1", "prefix": "p" * 25}),
     r"\$\.board\.mqtt\.prefix: MQTT prefix must be 1\.\.24"),
    (lambda d: d.pop("meter"), r"\$\.meter: missing"),
    (lambda d: d["meter"].pop("uart"), r"\$\.meter\.uart: missing \(a bench rig"),
    (lambda d: d.update(board={}), r"\$\.board: a bench rig needs at least one of"),
    (lambda d: d.update(kind="lab"), r"\$\.kind: 'lab' is not one of virtual, bench"),
    (lambda d: d["meter"].update(profile="nope.json"), r"\$\.meter\.profile: .*nope\.json does not exist"),
    (lambda d: d["board"].update(console={"port": "/dev/does-not-exist"}),
     r"\$\.board\.console\.port: device /dev/does-not-exist does not exist"),
    (lambda d: d.update(lines={"port": "/dev/does-not-exist", "reset": {"output": "DTR"}}),
     r"\$\.lines\.port: device /dev/does-not-exist does not exist"),
])
def test_mistakes_name_the_key_path(tmp_path, edit, message):
    d = copy.deepcopy(minimal(tmp_path))
    edit(d)
    with pytest.raises(RigError, match=message) as e:
        parse_rig(d, source="r.yaml", base_dir=str(tmp_path))
    assert str(e.value).startswith("r.yaml: ")


def test_relative_paths_are_relative_to_the_file(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "p.json").write_text("{}")
    d = minimal(tmp_path)
    d["meter"]["profile"] = "../p.json"
    f = tmp_path / "sub" / "rig.yaml"
    import yaml
    f.write_text(yaml.safe_dump(d))
    rc = load_rig(f)
    assert Path(rc.meter.profile).resolve() == tmp_path / "p.json"
    assert rc.name == "rig"


def test_yaml_syntax_error_has_line_and_column(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("meter:\n  uart: [unclosed\n")
    with pytest.raises(RigError, match=r"bad\.yaml:\d+:\d+: not valid YAML"):
        load_rig(f)


def test_empty_and_missing_files(tmp_path):
    f = tmp_path / "empty.yaml"
    f.write_text("")
    with pytest.raises(RigError, match="the rig file is empty"):
        load_rig(f)
    with pytest.raises(RigError, match="cannot read the rig file"):
        load_rig(tmp_path / "nothere.yaml")
    f.write_text("- a list\n")
    with pytest.raises(RigError, match=r"\$: expected a mapping, got list"):
        load_rig(f)
