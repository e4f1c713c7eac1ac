"""MQTT as people run it: mepmod against a real mosquitto that wants a login
(a password file made with mosquitto_passwd, allow_anonymous false) and one
that speaks only TLS (a CA and a server certificate for 127.0.0.1/localhost
made here with the openssl CLI). The right login or CA publishes; a wrong
one is refused, said in plain words in the log and in /status, and nothing
is published. The password comes from a file, never from the command line.
"""

import json
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from osgp_hil import procs

from fwfixtures import (MEPMOD_BIN, MOSQUITTO_BIN, free_port, http_get, need_binaries,  # noqa: F401
                        rig, run_mepmod, run_mepsim, silent_pty, wait_for, wait_ready)

PREFIX = "mep-auth"
USER, PASSWORD = "mepmod", "s3cret pass"
OBSERVER, OBSERVER_PASSWORD = "observer", "watching"
TOTAL = f"{PREFIX}/meterConsumptionTotal/mydatajson"


def need_tools(*tools):
    if not MOSQUITTO_BIN.exists():
        pytest.skip(f"{MOSQUITTO_BIN} is not installed: these tests need a real broker")
    for t in tools:
        if not shutil.which(t):
            pytest.skip(f"{t} is not installed (Debian: mosquitto, openssl)")
    pytest.importorskip("paho.mqtt.client", reason="python3-paho-mqtt is not installed")


# ---- the broker ------------------------------------------------------------
def make_password_file(tmp):
    """mosquitto's password file with mepmod's and the observer's logins."""
    path = Path(tmp) / "mosquitto.passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", path, USER, PASSWORD], check=True,
                   capture_output=True)
    subprocess.run(["mosquitto_passwd", "-b", path, OBSERVER, OBSERVER_PASSWORD], check=True,
                   capture_output=True)
    return path


def openssl(*args, cwd):
    r = subprocess.run(["openssl", *map(str, args)], cwd=cwd, capture_output=True, text=True)
    assert r.returncode == 0, f"openssl {' '.join(map(str, args))}: {r.stderr}"


def make_ca(tmp, name):
    """A self-signed CA: (cert path, key path)."""
    d = Path(tmp)
    key, cert = d / f"{name}.key", d / f"{name}.pem"
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", key, "-out", cert, "-days", "2", "-subj", f"/CN={name}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    return cert, key


def make_cert(tmp, ca, name, usage, san=None):
    """A certificate signed by ca for `usage` (serverAuth/clientAuth): (cert, key)."""
    d = Path(tmp)
    key, csr, cert, ext = d / f"{name}.key", d / f"{name}.csr", d / f"{name}.pem", d / f"{name}.ext"
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", key, "-out", csr, "-subj", f"/CN={name}", cwd=d)
    lines = ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature",
             f"extendedKeyUsage={usage}"]
    if san:
        lines.append(f"subjectAltName={san}")
    ext.write_text("\n".join(lines) + "\n")
    openssl("x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1], "-CAcreateserial",
            "-out", cert, "-days", "2", "-extfile", ext, cwd=d)
    return cert, key


class Mosquitto:
    """A private mosquitto on 127.0.0.1:<free port> with the config lines given
    (after the listener line); stopped and checked by the rig."""

    def __init__(self, rig, lines, name="mosquitto"):  # noqa: F811
        self.port = free_port()
        conf = Path(rig.tmp) / f"{name}-{self.port}.conf"
        # `user root`: stay the user who started it (a no-op unless that is
        # root), so it can read the files this test made in its private tmp
        conf.write_text("\n".join([f"listener {self.port} 127.0.0.1", *lines, "persistence false",
                                   "user root", "log_dest stderr", "log_type all", ""]))
        self.proc = rig.add(procs.Proc(name, [MOSQUITTO_BIN, "-c", conf], rig.tmp))
        wait_for(lambda: procs.connects(self.port), 10, f"mosquitto on port {self.port}",
                 abort=self._abort)

    def _abort(self):
        if not self.proc.alive():
            raise AssertionError(f"mosquitto exited at start-up:\n{self.proc.output_tail()}")

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"


class Observer:
    """A subscriber with the observer's login (and TLS if cafile): every
    message as (topic, payload, retain)."""

    def __init__(self, port, topics=("#",), cafile=None, cert=None):
        import paho.mqtt.client as mqtt
        self.messages = []
        self._lock = threading.Lock()
        self.c = mqtt.Client(client_id=f"observer-{time.monotonic_ns()}")
        self.c.username_pw_set(OBSERVER, OBSERVER_PASSWORD)
        if cafile:
            self.c.tls_set(ca_certs=str(cafile), certfile=cert and str(cert[0]),
                           keyfile=cert and str(cert[1]))
        ok = threading.Event()

        def on_connect(c, userdata, flags, rc):
            assert rc == 0, f"observer refused: {rc}"
            for t in topics:
                c.subscribe(t, qos=0)
            ok.set()

        def on_message(c, userdata, msg):
            with self._lock:
                self.messages.append((msg.topic, msg.payload, bool(msg.retain)))
        self.c.on_connect = on_connect
        self.c.on_message = on_message
        self.c.connect("127.0.0.1", port, keepalive=30)
        self.c.loop_start()
        assert ok.wait(10), f"the observer could not log in on port {port}"
        time.sleep(0.2)

    def snapshot(self):
        with self._lock:
            return list(self.messages)

    def topics(self):
        return {t for t, _, _ in self.snapshot()}

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


def mqtt_status(http_port):
    status, _, body = http_get(http_port, "/status")
    assert status == 200
    doc = json.loads(body)
    assert "mqtt" in doc["port"], f"/status shows no MQTT connection state: {doc['port']}"
    return doc["port"]["mqtt"]


def start_module(rig, broker, *args):  # noqa: F811
    sim, pty, ctl = run_mepsim(rig.tmp)
    rig.add(sim)
    http = free_port()
    mod = rig.add(run_mepmod(rig, pty, http, ctl=ctl,
                             extra=["--mqtt", broker.address, "--mqtt-prefix", PREFIX, *args]))
    return mod, http


def write_password(tmp, text, name="mqtt-password"):
    p = Path(tmp) / name
    p.write_text(text)
    p.chmod(0o600)
    return p


def login_broker(rig):  # noqa: F811
    return Mosquitto(rig, [f"password_file {make_password_file(rig.tmp)}", "allow_anonymous false"])


# ---- login -------------------------------------------------------------------
def test_the_right_login_publishes_readings_and_discovery(rig):  # noqa: F811
    need_tools("mosquitto_passwd")
    broker = login_broker(rig)
    obs = Observer(broker.port)
    rig.collectors.append(obs)
    pw = write_password(rig.tmp, PASSWORD + "\nsecond line is ignored\n")
    mod, http = start_module(rig, broker, "--mqtt-user", USER, "--mqtt-password-file", pw)
    wait_ready(http)
    wait_for(lambda: TOTAL in obs.topics(), 20, f"a message on {TOTAL}")
    wait_for(lambda: any(t.startswith("homeassistant/sensor/") for t in obs.topics()), 10,
             "discovery configs")
    st = mqtt_status(http)
    assert st["state"] == "connected" and st["connected"] is True, st
    assert st["user"] == USER and st["last_error"] is None and st["refusals"] == 0, st
    # the password is nowhere mepmod shows or logs
    assert PASSWORD not in json.dumps(st) and PASSWORD not in mod.stderr()


@pytest.mark.parametrize("login", ["wrong-password", "no-login"])
def test_a_refused_login_is_reported_in_words_and_nothing_is_published(rig, login):  # noqa: F811
    need_tools("mosquitto_passwd")
    broker = login_broker(rig)
    obs = Observer(broker.port, topics=(f"{PREFIX}/#", "homeassistant/#"))
    rig.collectors.append(obs)
    args = []
    if login == "wrong-password":
        args = ["--mqtt-user", USER, "--mqtt-password-file", write_password(rig.tmp, "guess\n")]
    mod, http = start_module(rig, broker, *args)
    wait_ready(http)   # the meter side does not care about the broker
    words = "bad user name or password" if login == "wrong-password" else "not authorised"
    st = wait_for(lambda: (s := mqtt_status(http))["state"] == "refused" and s, 15,
                  "/status to show the refusal")
    assert words in st["last_error"] and st["connected"] is False, st
    assert "broker refused the connection" in mod.stderr() and words in mod.stderr()
    t0 = time.monotonic()
    time.sleep(8)
    assert obs.snapshot() == [], f"published despite the refusal: {obs.snapshot()[:3]}"
    st = mqtt_status(http)
    # back-off (1, 2, 4 s ...): a handful of attempts in ~10 s, not one per second or faster
    assert 1 <= st["refusals"] <= 6, (st, time.monotonic() - t0)
    assert st["connects"] == 0 and st["published"] == 0, st
    # one log line for the refusal, not one per attempt
    assert mod.stderr().count("broker refused the connection") == 1, mod.stderr()


def test_password_on_the_command_line_is_not_an_option(silent_pty):  # noqa: F811
    need_binaries(MEPMOD_BIN)
    r = subprocess.run([str(MEPMOD_BIN), "--port", silent_pty, "--mbk", "MEPtestKey0123456789",
                        "--mqtt", "127.0.0.1:1", "--mqtt-user", USER, "--mqtt-password", PASSWORD],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "--mqtt-password" in r.stderr, r.stderr


@pytest.mark.parametrize("case", ["missing", "unreadable", "empty", "no-user"])
def test_a_bad_password_file_is_a_start_error(silent_pty, tmp_path, case):  # noqa: F811
    import os
    need_binaries(MEPMOD_BIN)
    path = tmp_path / "pw"
    args = ["--mqtt-user", USER, "--mqtt-password-file", path]
    words = [str(path)]
    if case == "missing":
        words.append("No such file")
    elif case == "unreadable":
        if os.geteuid() == 0:
            path.mkdir()                # root reads any file: a directory cannot be read as one
        else:
            path.write_text("x\n")
            path.chmod(0)
    elif case == "empty":
        path.write_text("\n")
        words.append("empty")
    else:
        path.write_text(PASSWORD)
        args = ["--mqtt-password-file", path]
        words = ["--mqtt-password-file needs --mqtt-user"]
    r = subprocess.run([str(MEPMOD_BIN), "--port", silent_pty, "--mbk", "MEPtestKey0123456789",
                        "--http-port", str(free_port()), "--mqtt", "127.0.0.1:1", *map(str, args)],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2, (r.returncode, r.stderr)
    for w in words:
        assert w in r.stderr, (w, r.stderr)


# ---- TLS ---------------------------------------------------------------------
@pytest.fixture
def pki(tmp_path):
    """The CA, a server certificate for 127.0.0.1/localhost, a client
    certificate, and a second CA that signed none of them."""
    need_tools("openssl", "mosquitto_passwd")
    ca = make_ca(tmp_path, "test-ca")
    server = make_cert(tmp_path, ca, "broker", "serverAuth", "IP:127.0.0.1,DNS:localhost")
    client = make_cert(tmp_path, ca, "module", "clientAuth")
    other = make_ca(tmp_path, "other-ca")
    return {"ca": ca, "server": server, "client": client, "other": other}


def tls_broker(rig, pki, require_client_cert=False):  # noqa: F811
    return Mosquitto(rig, [f"cafile {pki['ca'][0]}", f"certfile {pki['server'][0]}",
                           f"keyfile {pki['server'][1]}",
                           f"require_certificate {'true' if require_client_cert else 'false'}",
                           f"password_file {make_password_file(rig.tmp)}",
                           "allow_anonymous false"], name="mosquitto-tls")


def test_tls_with_the_ca_publishes(rig, pki):  # noqa: F811
    broker = tls_broker(rig, pki)
    obs = Observer(broker.port, cafile=pki["ca"][0])
    rig.collectors.append(obs)
    pw = write_password(rig.tmp, PASSWORD)
    mod, http = start_module(rig, broker, "--mqtt-cafile", pki["ca"][0], "--mqtt-user", USER,
                             "--mqtt-password-file", pw)
    wait_ready(http)
    wait_for(lambda: TOTAL in obs.topics(), 20, f"a message on {TOTAL} over TLS")
    st = mqtt_status(http)
    assert st["state"] == "connected" and st["tls"] is True, st
    assert "TLS, broker certificate verified" in mod.stderr()


def test_tls_with_a_client_certificate_publishes(rig, pki):  # noqa: F811
    broker = tls_broker(rig, pki, require_client_cert=True)
    # the broker wants a certificate from every client, the observer's too
    obs = Observer(broker.port, cafile=pki["ca"][0], cert=pki["client"])
    rig.collectors.append(obs)
    pw = write_password(rig.tmp, PASSWORD)
    mod, http = start_module(rig, broker, "--mqtt-cafile", pki["ca"][0], "--mqtt-certfile",
                             pki["client"][0], "--mqtt-keyfile", pki["client"][1], "--mqtt-user", USER,
                             "--mqtt-password-file", pw)
    wait_ready(http)
    wait_for(lambda: TOTAL in obs.topics(), 20, f"a message on {TOTAL} with a client certificate")


@pytest.mark.parametrize("case", ["wrong-ca", "no-tls"])
def test_tls_broker_refused_without_its_ca(rig, pki, case):  # noqa: F811
    broker = tls_broker(rig, pki)
    obs = Observer(broker.port, topics=(f"{PREFIX}/#", "homeassistant/#"), cafile=pki["ca"][0])
    rig.collectors.append(obs)
    pw = write_password(rig.tmp, PASSWORD)
    args = ["--mqtt-user", USER, "--mqtt-password-file", pw]
    if case == "wrong-ca":
        args += ["--mqtt-cafile", pki["other"][0]]
    mod, http = start_module(rig, broker, *args)
    wait_ready(http)
    if case == "wrong-ca":
        st = wait_for(lambda: (s := mqtt_status(http))["state"] == "tls_failed" and s, 15,
                      "/status to show the failed TLS handshake")
        assert "not signed by the CA of --mqtt-cafile" in st["last_error"], st
        assert "TLS with the broker" in mod.stderr()
    else:
        # plain MQTT to a TLS port: the broker drops it; never connected
        st = wait_for(lambda: (s := mqtt_status(http))["last_error"] and s, 15,
                      "/status to show why MQTT is down")
        assert st["state"] == "unreachable" and "--mqtt-cafile" in st["last_error"], st
    time.sleep(4)
    st = mqtt_status(http)
    assert st["connected"] is False and st["connects"] == 0, st
    assert obs.snapshot() == [], f"published without a verified broker: {obs.snapshot()[:3]}"


@pytest.mark.parametrize("flag", ["--mqtt-cafile", "--mqtt-certfile"])
def test_a_missing_certificate_file_is_a_start_error(silent_pty, tmp_path, pki, flag):  # noqa: F811
    need_binaries(MEPMOD_BIN)
    missing = tmp_path / "no-such.pem"
    args = {"--mqtt-cafile": ["--mqtt-cafile", missing],
            "--mqtt-certfile": ["--mqtt-cafile", pki["ca"][0], "--mqtt-certfile", missing,
                                "--mqtt-keyfile", pki["client"][1]]}[flag]
    r = subprocess.run([str(MEPMOD_BIN), "--port", silent_pty, "--mbk", "MEPtestKey0123456789",
                        "--http-port", str(free_port()), "--mqtt", "127.0.0.1:1", *map(str, args)],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and flag in r.stderr and str(missing) in r.stderr, r.stderr
