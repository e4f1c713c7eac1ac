"""mepsim's HIL modem-line options (--sense-transceiver, --sense-enable,
--reset-line, --power-line, --modem-poll-ms, --modem-debounce and their
config-file keys): bad values and a PTY transport exit 2 naming the problem
and leave nothing behind; on a device without modem lines (a PTY slave
opened as --uart) sensing logs the failure and keeps serving, while an
output that cannot be driven is a device error (exit 1). The wiring itself
is unit-tested with a fake adapter (tests/unit/test_port_modem.c)."""

import json
import os

import pytest

from fwfixtures import run_to_exit as run





@pytest.mark.parametrize("args, needle", [
    (["--pty", "x.pty", "--sense-transceiver", "CTS"], "modem lines need --uart"),
    (["--pty", "x.pty", "--sense-enable", "DSR:inverted"], "modem lines need --uart"),
    (["--pty", "x.pty", "--reset-line", "DTR"], "modem lines need --uart"),
    (["--pty", "x.pty", "--power-line", "RTS"], "modem lines need --uart"),
    (["--pty", "x.pty", "--modem-poll-ms", "5"], "modem lines need --uart"),
    (["--pty", "x.pty", "--sense-transceiver", "XYZ"], "--sense-transceiver \"XYZ\": expected CTS, DSR, DCD or RI"),
    (["--pty", "x.pty", "--sense-enable", "DSR:inv"], "--sense-enable \"DSR:inv\""),
    (["--pty", "x.pty", "--reset-line", "CTS"], "--reset-line \"CTS\": expected DTR or RTS"),
    (["--pty", "x.pty", "--power-line", ""], "--power-line"),
    (["--pty", "x.pty", "--modem-poll-ms", "0"], "--modem-poll-ms \"0\""),
    (["--pty", "x.pty", "--modem-poll-ms", "abc"], "--modem-poll-ms \"abc\""),
    (["--pty", "x.pty", "--modem-debounce", "0"], "--modem-debounce \"0\""),
    (["--uart", "/dev/null", "--sense-transceiver", "DSR", "--sense-enable", "dsr"], "same input"),
    (["--uart", "/dev/null", "--reset-line", "DTR", "--power-line", "DTR:inverted"], "same pin"),
    (["--sense-transceiver"], "needs a value"),
])
def test_bad_modem_option_exits_2_naming_it(tmp_path, args, needle):
    r = run(args, tmp_path)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert needle in r.stderr, r.stderr
    assert not (tmp_path / "x.pty").exists()


@pytest.mark.parametrize("meter, needle", [
    ({"pty": "x.pty", "sense_transceiver": "CTS"}, "modem lines need --uart"),
    ({"uart": "/dev/null", "sense_enable": 3}, "meters[0].sense_enable: expected a string"),
    ({"uart": "/dev/null", "reset_line": "DSR"}, "meters[0].reset_line \"DSR\""),
    ({"uart": "/dev/null", "modem_poll_ms": "fast"}, "meters[0].modem_poll_ms"),
    ({"uart": "/dev/null", "modem_debounce": 99999}, "meters[0].modem_debounce"),
])
def test_bad_modem_config_key_exits_2(tmp_path, meter, needle):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"meters": [meter]}))
    r = run(["--config", str(cfg)], tmp_path)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert needle in r.stderr, r.stderr
    assert not (tmp_path / "x.pty").exists()


def test_help_documents_modem_options_and_board_commands(tmp_path):
    r = run(["--help"], tmp_path)
    assert r.returncode == 0
    for opt in ("--sense-transceiver", "--sense-enable", "--reset-line", "--power-line",
                "--modem-poll-ms", "--modem-debounce", "board_reset", "board_power"):
        assert opt in r.stdout, opt


@pytest.fixture
def pty_uart():
    """A PTY slave to open as --uart: a tty with no modem lines."""
    master, slave = os.openpty()
    name = os.ttyname(slave)
    yield name
    os.close(slave)
    os.close(master)


def test_sensing_on_a_device_without_modem_lines_logs_and_keeps_running(tmp_path, pty_uart):
    r = run(["--uart", pty_uart, "--sense-transceiver", "CTS", "--modem-poll-ms", "2",
             "--exit-after", "0.3"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "modem: poll 2000 us, debounce 2, transceiver on CTS" in r.stderr, r.stderr
    assert "modem lines failed (levels held)" in r.stderr, r.stderr
    assert r.stderr.count("modem lines failed") == 1, r.stderr   # logged once, not per poll
    assert "ready" in r.stdout


def test_output_that_cannot_be_driven_is_a_device_error(tmp_path, pty_uart):
    r = run(["--uart", pty_uart, "--reset-line", "DTR", "--exit-after", "0.3"], tmp_path)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "reset: could not drive the idle level" in r.stderr, r.stderr
