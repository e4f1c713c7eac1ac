"""mepmod start-up errors: every bad flag, value, port or key gives a message
naming the problem and exit status 2, before anything touches the meter."""

import subprocess

import pytest

from fwfixtures import MBK, MEPMOD_BIN, free_port, need_binaries, silent_pty  # noqa: F401


def run(args, timeout=10):
    need_binaries(MEPMOD_BIN)
    return subprocess.run([str(MEPMOD_BIN), *map(str, args)], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)


def assert_exit2(r, *words):
    assert r.returncode == 2, f"exit {r.returncode}, stderr: {r.stderr!r}"
    for w in words:
        assert w in r.stderr, f"{w!r} not named in: {r.stderr!r}"


def test_unknown_flag_exits_2_naming_it(silent_pty):
    assert_exit2(run(["--port", silent_pty, "--mbk", MBK, "--frobnicate"]), "--frobnicate")


def test_missing_port_exits_2():
    assert_exit2(run(["--mbk", MBK]), "--port")


def test_missing_key_exits_2(silent_pty):
    assert_exit2(run(["--port", silent_pty]), "--mbk")


def test_nonexistent_port_exits_2_naming_the_path(tmp_path):
    missing = tmp_path / "no-such-device"
    assert_exit2(run(["--port", missing, "--mbk", MBK, "--http-port", free_port()]), str(missing))


def test_port_that_is_not_a_serial_device_exits_2(tmp_path):
    plain = tmp_path / "plain-file"
    plain.write_text("not a tty")
    assert_exit2(run(["--port", plain, "--mbk", MBK, "--http-port", free_port()]),
                 str(plain), "not a serial device")


@pytest.mark.parametrize("key", ["short", "A" * 21, "ABCDEFGHIJKLMNOPQRS\u00e9",
                                 "0123456789abcdef" * 2 + "0123456789x",  # 43: neither form
                                 "ABCDEFGHIJ KLMNOPQR\x01"])
def test_bad_key_exits_2_naming_the_flag(silent_pty, key):
    assert_exit2(run(["--port", silent_pty, "--mbk", key]), "--mbk", "invalid key")


def test_bad_mak_exits_2(silent_pty):
    assert_exit2(run(["--port", silent_pty, "--mbk", MBK, "--mak", "x"]), "--mak")


@pytest.mark.parametrize("port", ["0", "65536", "-1", "80a", ""])
def test_bad_http_port_exits_2(silent_pty, port):
    assert_exit2(run(["--port", silent_pty, "--mbk", MBK, "--http-port", port]), "--http-port")


def test_bad_mqtt_port_exits_2(silent_pty):
    assert_exit2(run(["--port", silent_pty, "--mbk", MBK, "--mqtt", "127.0.0.1:99999"]), "--mqtt")


@pytest.mark.parametrize("prefix", ["a/b", "x" * 25, "has space", "wild#"])
def test_bad_mqtt_prefix_exits_2(silent_pty, prefix):
    assert_exit2(run(["--port", silent_pty, "--mbk", MBK, "--mqtt", "127.0.0.1",
                      "--mqtt-prefix", prefix]), "--mqtt-prefix")


@pytest.mark.parametrize("flag,value", [("--poll-ms", "5"), ("--poll-ms", "abc"),
                                        ("--exit-after", "-3"), ("--exit-after", "soon"),
                                        ("--http-bind", "not-an-address")])
def test_bad_values_exit_2_naming_the_flag(silent_pty, flag, value):
    assert_exit2(run(["--port", silent_pty, "--mbk", MBK, "--http-port", free_port(),
                      flag, value]), flag)


def test_flag_without_value_exits_2(silent_pty):
    assert_exit2(run(["--port", silent_pty, "--mbk"]), "--mbk", "needs a value")


def test_http_port_in_use_exits_2(silent_pty):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        busy = s.getsockname()[1]
        assert_exit2(run(["--port", silent_pty, "--mbk", MBK, "--http-port", busy]), str(busy))


def test_second_mepmod_on_the_same_port_exits_2_port_busy(silent_pty):
    need_binaries(MEPMOD_BIN)
    first = subprocess.Popen([str(MEPMOD_BIN), "--port", str(silent_pty), "--mbk", MBK,
                              "--http-port", str(free_port()), "--exit-after", "20"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    try:
        import time
        time.sleep(0.5)
        assert first.poll() is None, first.stderr.read()
        r = run(["--port", silent_pty, "--mbk", MBK, "--http-port", free_port()])
        assert_exit2(r, str(silent_pty), "busy")
    finally:
        first.terminate()
        first.wait(10)


def test_help_exits_0_and_lists_flags():
    r = run(["--help"])
    assert r.returncode == 0
    for flag in ("--port", "--mbk", "--mak", "--encrypt", "--http-port", "--http-bind", "--mqtt",
                 "--mqtt-prefix", "--poll-ms", "--control", "--display", "--exit-after"):
        assert flag in r.stdout


def test_exit_after_ends_the_run_with_status_0(silent_pty):
    r = run(["--port", silent_pty, "--mbk", MBK, "--http-port", free_port(), "--exit-after", "1"])
    assert r.returncode == 0, r.stderr
