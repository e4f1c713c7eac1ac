"""A board is any program: board descriptions (hil/osgp_hil/boards.py) are
validated strictly with the key path in every message, their templates
expand with optional groups, and the shipped mepmod / arduino-host
descriptions load; a rig file's board section and the --board* options
choose the board."""

import copy

import pytest

from osgp_hil.boards import (BoardError, default_board, from_options, load_board, parse_board,
                             parse_ready_option, split_command)
from osgp_hil.rig import RigError, parse_rig

GOOD = {"name": "fw", "command": ["{binary}", "--port", "{port}", "--http", "{http_port}",
                                  ["--ctl", "{control}"]],
        "binary": "/usr/bin/env", "ready": {"http": "/getDashDataWS", "timeout_s": 5},
        "outputs": {"http": "/getDashDataWS"}, "lines": "control",
        "expect": {"mqtt": False, "filters_spikes": False}}


def test_shipped_mepmod_is_the_default_and_expands_like_the_old_code():
    b = default_board()
    assert b.name == "mepmod" and b.reports_lines and b.expect["raw_members"]
    argv = b.expand({"binary": "/x/mepmod", "port": "/r/board.pty", "mbk": "K" * 20,
                     "http_port": "8080", "control": "/r/mepsim.ctl", "mqtt": "127.0.0.1:1883",
                     "mqtt_prefix": "esp32-mep"})
    assert argv == ["/x/mepmod", "--port", "/r/board.pty", "--mbk", "K" * 20, "--http-port",
                    "8080", "--control", "/r/mepsim.ctl", "--mqtt", "127.0.0.1:1883",
                    "--mqtt-prefix", "esp32-mep"]
    # no broker, no control socket: the optional groups drop out whole
    assert b.expand({"binary": "m", "port": "p", "mbk": "k", "http_port": "1"}) == \
        ["m", "--port", "p", "--mbk", "k", "--http-port", "1"]
    assert b.arg("poll_ms", 500) == ["--poll-ms", "500"] and b.arg("tls") == ["--tls"]
    assert b.arg("nosuch") is None


def test_shipped_arduino_host_description():
    b = load_board("arduino-host")
    argv = b.expand({"binary": "/o/sketch", "port": "/r/board.pty", "baud": "9600",
                     "http_port": "81", "state_dir": "/s", "control": "/r/c"})
    assert argv == ["/o/sketch", "--serial", "Serial2=/r/board.pty:9600", "--http-port", "81",
                    "--state-dir", "/s", "--control", "/r/c"]
    assert b.binary_env == "OSGP_BOARD_BIN" and b.reports_lines


def test_command_string_with_optional_groups():
    assert split_command("fw --port {port} [--ctl {control}] [--mqtt {mqtt}] -v") == \
        ["fw", "--port", "{port}", ["--ctl", "{control}"], ["--mqtt", "{mqtt}"], "-v"]
    with pytest.raises(BoardError, match=r"'\[' without '\]'"):
        split_command("fw [--ctl {control}")


def test_a_required_placeholder_without_a_value_is_an_error_naming_it():
    b = parse_board(dict(GOOD, lines="none",
                         command="{binary} --port {port} --http {http_port} --key {mak}"))
    with pytest.raises(BoardError, match=r"\$\.command\[6\]: '\{mak\}' needs \{mak\}"):
        b.expand({"binary": "b", "port": "p", "http_port": "1"})


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.update(comand="x"), r"\$\.comand: unknown key"),
    (lambda d: d.pop("command"), r"\$\.command: missing"),
    (lambda d: d.update(command=[]), r"\$\.command: expected a command string or a non-empty list"),
    (lambda d: d.update(command="{binary} --http {http_port} [--ctl {control}]"),
     r"\$\.command: the command never uses \{port\}"),
    (lambda d: d.update(command="{binary} --port {port} --x {portt} --http {http_port}"),
     r"\$\.command\[4\]: unknown placeholder \{portt\}"),
    (lambda d: d.update(command="{binary} --port {port} --http {http_port}"),
     r"\$\.lines: the command never uses \{control\}"),
    (lambda d: d.update(command="{binary} --port {port} --ctl {control}"),
     r"\$\.outputs\.http: the command never uses \{http_port\}"),
    (lambda d: d["ready"].update(timeout_s=0), r"\$\.ready\.timeout_s: 0 is outside"),
    (lambda d: d["ready"].update(log="(unclosed"), r"\$\.ready\.log: not a valid regular expression"),
    (lambda d: d["ready"].update(log="up"), r"\$\.ready: give http or log, not both"),
    (lambda d: d["ready"].update(http="status"), r"\$\.ready\.http: expected an HTTP path"),
    (lambda d: d.update(outputs={}), r"\$\.outputs: needs at least one of http, mqtt, console"),
    (lambda d: d.update(outputs={"console": "Fwd=(\\d+)"}, ready={"log": "up"}),
     r"\$\.outputs\.console: the regex has no named group"),
    (lambda d: d.update(lines="modem"), r"\$\.lines: 'modem' is not one of control, none"),
    (lambda d: d["expect"].update(spikes=False), r"\$\.expect\.spikes: unknown key"),
    (lambda d: d["expect"].update(mqtt="no"), r"\$\.expect\.mqtt: expected true or false"),
    (lambda d: d["expect"].update(mqtt=True), r"\$\.expect\.mqtt: true, but outputs\.mqtt names no"),
    (lambda d: d.update(args={"poll_ms": ["--poll", "{port}"]}),
     r"\$\.args\.poll_ms: only \{value\} is known here, not \{port\}"),
    (lambda d: d.update(env={"1X": "y"}), r"\$\.env\.1X: not an environment variable name"),
    (lambda d: d.update(exit_codes=[0, "x"]), r"\$\.exit_codes: expected a list of exit statuses"),
    (lambda d: d.update(binary={"env": "X"}), r"\$\.binary\.name: missing"),
    (lambda d: d.update(name="my board"), r"\$\.name: 'my board': letters, digits"),
    (lambda d: d.update(description="nosuchboard"),
     r"\$\.description: 'nosuchboard' is neither a file nor a shipped board \(arduino-hobby, arduino-host, arduino-mep-module, mepmod\)"),
])
def test_mistakes_name_the_key_path(edit, message):
    d = copy.deepcopy(GOOD)
    edit(d)
    with pytest.raises(BoardError, match=message) as e:
        parse_board(d, source="b.yaml")
    assert str(e.value).startswith("b.yaml: ")


def test_a_description_file_over_a_shipped_base(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("description: mepmod\nname: mepmod-slow\nexpect: {raw_members: false}\n"
                 "binary: ./bin/mepmod\n")
    b = load_board(str(f))
    assert b.name == "mepmod-slow" and b.expect["raw_members"] is False
    assert b.expect["status_member"] is True               # the rest comes from the base
    assert b.binary == str(tmp_path / "bin" / "mepmod")    # relative to the file
    assert b.cwd == str(tmp_path.resolve())                # and it runs there
    assert default_board().cwd is None                     # shipped: in the artefact directory
    f.write_text("- a list\n")
    with pytest.raises(BoardError, match=r"mine\.yaml: \$: expected a mapping"):
        load_board(str(f))
    f.write_text("command: [unclosed\n")
    with pytest.raises(BoardError, match=r"mine\.yaml:\d+:\d+: not valid YAML"):
        load_board(str(f))


def test_command_line_options():
    assert from_options() is None
    b = from_options(command="./fw --port {port} --http {http_port}", ready="log:booted,timeout=7")
    assert b.outputs.http == "/getDashDataWS" and b.ready.log == "booted"
    assert b.ready.timeout_s == 7.0 and b.lines == "none"
    assert from_options(binary="/opt/mepmod").binary == "/opt/mepmod"       # over mepmod
    assert from_options(board="arduino-host", lines="none").lines == "none"
    assert parse_ready_option("http:/status") == {"http": "/status"}
    with pytest.raises(BoardError, match="--board-ready: 'tcp:80': expected http:/PATH or log:"):
        parse_ready_option("tcp:80")


def test_rig_file_board_section(tmp_path):
    rc = parse_rig({"kind": "virtual", "meter": {},
                    "board": {"command": "{binary} --port {port} --http {http_port}",
                              "binary": "/usr/bin/env", "lines": "none",
                              "expect": {"filters_spikes": False}}},
                   source="r.yaml", base_dir=str(tmp_path))
    assert rc.board.spec.expect["filters_spikes"] is False and not rc.board.spec.reports_lines
    rc = parse_rig({"kind": "virtual", "meter": {}, "board": {"expect": {"raw_members": False}}},
                   source="r.yaml", base_dir=str(tmp_path))
    assert rc.board.spec.name == "mepmod" and rc.board.spec.expect["raw_members"] is False
    with pytest.raises(RigError, match=r"r\.yaml: \$\.board\.ready\.timeout_s: expected a number"):
        parse_rig({"kind": "virtual", "meter": {}, "board": {"ready": {"timeout_s": "x"}}},
                  source="r.yaml", base_dir=str(tmp_path))
