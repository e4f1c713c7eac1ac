"""Board provisioning, as a board description declares it (boards.py
`state_files`, `provision`; harness Board.write_state_files / provision):
the key reaches the board through its flash before the first start or
through its set-up page once it is up, including a page that restarts the
board; a refused request fails naming the step. The board is
tests/hil/settingsboard.py (a stand-in firmware with a settings file and a
set-up page), driven through the harness on the virtual rig."""

import sys
from pathlib import Path

import pytest

from osgp_hil.boards import BoardError, parse_board
from osgp_hil.harness import Rig
from osgp_hil.paths import binary_or_none
from osgp_hil.rig import virtual_rig

HERE = Path(__file__).resolve().parent
COMMAND = [sys.executable, str(HERE / "settingsboard.py"), "--port", "{port}",
           "--http-port", "{http_port}", "--state-dir", "{state_dir}"]
BASE = {"name": "settingsboard", "command": COMMAND, "ready": {"http": "/settings",
                                                                 "timeout_s": 20}}

pytestmark = pytest.mark.virtual_only(reason="starts its own board program")


@pytest.fixture
def start(tmp_path):
    """start(description dict, provision=True) -> the started Board; the rig
    is finished (and checked) at teardown."""
    if binary_or_none("mepsim") is None:
        pytest.skip("mepsim not built (set MEPSIM_BIN)")
    rigs = []

    def go(desc, provision=True):
        spec = parse_board(desc, source="test.yaml", base_dir=str(tmp_path))
        r = Rig(virtual_rig(spec), tmp_path / f"art{len(rigs)}")
        rigs.append(r)
        r.meter.start()
        return r.board.start(provision=provision)

    yield go
    problems = []
    for r in rigs:
        problems += r.finish()
    assert not problems, problems


def settings(board):
    return board.get("/settings")[1]


def test_state_files_put_the_key_in_flash_before_the_first_start(start):
    b = start(dict(BASE, state_files=[
        {"path": "settings.txt", "content": "# flash\nkey={mbk}\n"},
        {"path": "sub/dir/other.bin", "content": "{{literal}} {baud}"}]))
    mbk = b.rig.config.meter.mbk
    assert settings(b)["key"] == mbk
    assert b.get_json() == {"key": mbk}
    assert (b.state_dir / "sub" / "dir" / "other.bin").read_text() == "{literal} 9600"
    # a restart keeps what the board has in flash and writes nothing again
    (b.state_dir / "settings.txt").write_text("key=changedByTheBoard\n")
    b.restart()
    assert settings(b) == {"key": "changedByTheBoard", "boots": 2, "args": {}}


def test_provision_posts_the_key_to_the_setup_page_percent_encoded(start):
    b = start(dict(BASE, provision=[{"request": "POST /setup",
                                     "body": "key={mbk}&dir={state_dir}&k2=a+b", "status": 200}]))
    s = settings(b)
    assert s["key"] == b.rig.config.meter.mbk and s["boots"] == 1
    # a value is one form field whatever characters it has ('/' here); the
    # template's own text is sent as written ('+' is a space in a form)
    assert s["args"]["dir"] == str(b.state_dir) and s["args"]["k2"] == "a b"
    assert all(p[1] != "/setup" for p in b.published)     # set-up is not publishing


def test_a_provision_step_that_restarts_the_board_waits_for_it(start):
    b = start(dict(BASE, provision=[{
        "request": "POST /setup", "body": "key={mbk}&restart=1",
        "reboots": {"log": "settingsboard: restarting", "timeout_s": 20}}]))
    s = settings(b)
    assert s["boots"] == 2 and s["key"] == b.rig.config.meter.mbk
    assert b.stderr().count("settingsboard: boot") == 2


def test_without_provisioning_the_board_starts_empty_and_provision_can_follow(start):
    b = start(dict(BASE, provision=[{"request": "POST /setup", "body": "key={mbk}"}]),
              provision=False)
    assert b.get()[0] == 503 and settings(b)["key"] is None
    assert [step[:2] for step in b.provision()] == [("POST /setup", 200)]
    assert b.get_json() == {"key": b.rig.config.meter.mbk}


def test_a_refused_provision_step_fails_naming_it(start):
    with pytest.raises(AssertionError, match=r"board settingsboard: provision\[1\] POST /setup: "
                                             r"HTTP 400, expected 200; body: .*at least 8"):
        start(dict(BASE, provision=[{"request": "GET /settings", "status": [200, 204]},
                                    {"request": "POST /setup", "body": "key=short",
                                     "status": 200}]))


@pytest.mark.parametrize("edit, message", [
    ({"state_files": [{"path": "../x", "content": "k"}]},
     r"\$\.state_files\[0\]\.path: '\.\./x' must be a plain path inside \{state_dir\}"),
    ({"state_files": [{"path": "/etc/x", "content": "k"}]}, r"\$\.state_files\[0\]\.path: "),
    ({"state_files": [{"path": "a", "content": "k"}, {"path": "a", "content": "j"}]},
     r"\$\.state_files\[1\]\.path: 'a' is written twice"),
    ({"state_files": [{"path": "a", "content": "{mbkk}"}]},
     r"\$\.state_files\[0\]\.content: unknown placeholder \{mbkk\}"),
    ({"state_files": [{"path": "a", "content": '{"json": 1}'}]},
     r"\$\.state_files\[0\]\.content: bad template .*write a literal brace as \{\{"),
    ({"state_files": [{"path": "a"}]}, r"\$\.state_files\[0\]\.content: missing"),
    ({"state_files": []}, r"\$\.state_files: expected a non-empty list"),
    ({"provision": [{"request": "FETCH /x"}]},
     r"\$\.provision\[0\]\.request: 'FETCH /x': expected 'METHOD /path'"),
    ({"provision": [{"request": "GET x"}]}, r"\$\.provision\[0\]\.request: 'GET x'"),
    ({"provision": [{"request": "GET /s?k={key}"}]},
     r"\$\.provision\[0\]\.request: unknown placeholder \{key\}"),
    ({"provision": [{"request": "GET /s", "status": 99}]},
     r"\$\.provision\[0\]\.status: expected an HTTP status"),
    ({"provision": [{"request": "GET /s", "content_type": "text/plain"}]},
     r"\$\.provision\[0\]\.content_type: given without a body"),
    ({"provision": [{"request": "GET /s", "reboots": {"log": "(x"}}]},
     r"\$\.provision\[0\]\.reboots\.log: not a valid regular expression"),
    ({"provision": [{"request": "GET /s", "reboots": {}}]},
     r"\$\.provision\[0\]\.reboots\.log: missing"),
    ({"provision": [{"request": "GET /s", "retry": 3}]},
     r"\$\.provision\[0\]\.retry: unknown key"),
    ({"scenarios": {"only": ["s16-kwh-spike"], "skip": {"s01": "x"}}},
     r"\$\.scenarios: only and skip together"),
    ({"scenarios": {"skip": {"s01-sequence-resync": ""}}},
     r"\$\.scenarios\.skip\.s01-sequence-resync: say why"),
    ({"scenarios": {"only": ["../s16"]}}, r"\$\.scenarios\.only\[0\]: '\.\./s16' is not a scenario"),
    ({"build": {"sketch": "a", "command": "make {out}"}}, r"\$\.build: give sketch .* one of them"),
    ({"build": {"command": "make"}}, r"\$\.build\.command: never uses \{out\}"),
    ({"build": {"command": "make {out} {port}"}},
     r"\$\.build\.command\[2\]: unknown placeholder \{port\}"),
    ({"build": {"sketch": "a", "board": "esp8266"}}, r"\$\.build\.board: 'esp8266' is not one of"),
    ({"build": {"sketch": "a", "abi": 16}}, r"\$\.build\.abi: 16 is not 32 or 64"),
    ({"build": {"command": "make {out}", "abi": 64}}, r"\$\.build: board and abi go with sketch"),
])
def test_provisioning_and_build_keys_are_validated_naming_the_key(edit, message):
    with pytest.raises(BoardError, match=message):
        parse_board(dict(BASE, **edit), source="b.yaml")


def test_provisioning_needs_a_way_into_the_board():
    no_state = [c for c in COMMAND if "state" not in c and c != "{state_dir}"]
    with pytest.raises(BoardError, match=r"\$\.state_files: the command never uses \{state_dir\}"):
        parse_board(dict(BASE, command=no_state, state_files=[{"path": "a", "content": "x"}]))
    with pytest.raises(BoardError, match=r"\$\.build: the command never uses \{binary\}"):
        parse_board(dict(BASE, build={"command": "make {out}"}))


def test_build_makes_binary_once_per_session(tmp_path):
    """`build: {command}` runs once per process and command line; the
    program it leaves at {out} is what {binary} expands to."""
    from osgp_hil.build import BuildError, build_program
    count = tmp_path / "count"
    spec = parse_board(dict(BASE, name="built", command=["{binary}", "{port}", "{http_port}"],
                            build={"command": ["sh", "-c", f"echo x >> {count}; "
                                               "printf '#!/bin/sh\\n' > \"$0\"; chmod +x \"$0\"",
                                               "{out}"]}),
                       source="b.yaml", base_dir=str(tmp_path))
    out = build_program(spec, tmp_path / "b")
    assert out == tmp_path / "b" / "built" / "built" and out.read_text() == "#!/bin/sh\n"
    assert build_program(spec, tmp_path / "b") == out and count.read_text() == "x\n"
    assert "exit status 0" in (tmp_path / "b" / "built.build.log").read_text()
    bad = parse_board(dict(BASE, name="bad", command=["{binary}", "{port}", "{http_port}"],
                           build={"command": ["sh", "-c", "echo compiler says no >&2; exit 4",
                                              "{out}"]}), source="b.yaml")
    with pytest.raises(BuildError, match=r"(?s)board bad: build failed \(exit status 4\).*"
                                         r"compiler says no"):
        build_program(bad, tmp_path / "b")
