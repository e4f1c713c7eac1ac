"""Meters on socket transports (--tcp, --unix) and PTYs nobody holds open.

A socket meter listens, serves raw MEP bytes to one client at a time (a
second client is accepted and closed at once), keeps running when the
client leaves and serves the next; bytes it sends with no client are lost
and counted (tx_lost), like on a PTY nobody has open. A PTY meter keeps
answering after its client closes and reopens the PTY, and sleeps meanwhile.
"""

import os
import socket
import time

import pytest

from fwfixtures import run_to_exit as run

from osgp_hil import c1218, mepframe
from osgp_hil.link import DEFAULT_SEQ, RawModule, SerialLink
from osgp_hil.mepframe import OK
from osgp_hil.procs import free_port, wait_for


class SocketLink(SerialLink):
    """The module's end of a socket meter: a SerialLink (same frame reader)
    on a connected stream socket instead of a PTY."""

    def __init__(self, address, family=socket.AF_INET):
        self.path = address
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(2)
        self.sock.connect(address)
        self.sock.setblocking(False)
        self.fd = self.sock.fileno()
        self.pending = bytearray()
        self.times = []

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None
            self.fd = None


class SocketModule(RawModule):
    """RawModule (named reads, sequence kept in step) over a SocketLink."""

    def __init__(self, sim, link, seq=DEFAULT_SEQ, key=mepframe.MAK_EXAMPLE):
        self.sim = sim
        self.link = link
        self.ctl = sim.control()
        self.key = key
        self.seq = seq


def tcp(port):
    return SocketLink(("127.0.0.1", port))


def unix(path):
    return SocketLink(str(path), socket.AF_UNIX)


def start(mepsim, *transport, extra=(), name="mepsim"):
    sim = mepsim(*transport, "--seq-start", hex(DEFAULT_SEQ), "--seed", "1", *extra, name=name)
    time.sleep(0.12)          # the 100 ms throttle after start-up
    return sim


def reads_bt01_and_bt23(m):
    assert m.read("BT01").code == OK
    rsp = m.read("BT23", 0, 8)
    assert rsp.code == OK and len(rsp.data) == 8


def reads_eof(link, timeout=2.0):
    """The meter closed this connection: end of file within timeout."""
    link.sock.setblocking(True)
    link.sock.settimeout(timeout)
    return link.sock.recv(16) == b""


def free_ports(n):
    """A base port with n free ports after it (base + i for --count)."""
    for _ in range(50):
        base = free_port()
        if base + n > 65535:
            continue
        try:
            held = []
            for i in range(n):
                s = socket.socket()
                held.append(s)
                s.bind(("127.0.0.1", base + i))
            return base
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    pytest.fail("no run of %d free loopback ports" % n)


@pytest.fixture(params=["tcp", "unix"])
def kind(request):
    return request.param


def transport(kind, tmp_path):
    """(mepsim options, connect()) for one socket meter."""
    if kind == "tcp":
        port = free_port()
        return ["--tcp", str(port)], lambda: tcp(port)
    path = tmp_path / "m.sock"
    return ["--unix", str(path)], lambda: unix(path)


def test_socket_meter_answers_bt01_and_bt23(mepsim, tmp_path, kind):
    opts, connect = transport(kind, tmp_path)
    sim = start(mepsim, *opts)
    m = SocketModule(sim, connect())
    reads_bt01_and_bt23(m)
    st = m.ctl.status()["meters"][0]
    assert st["device"].startswith(kind + ":"), st
    m.link.close()


def test_socket_line_keeps_the_pty_pacing_segments_and_logs(mepsim, tmp_path, kind):
    """The line core is the same as on a PTY: 117-byte segments with pauses at
    9600 baud (docs/mep.md 4, as test_line_timing checks on a PTY), the -v
    log lines, and the --capture file."""
    opts, connect = transport(kind, tmp_path)
    cap = tmp_path / "line.pcapng"
    sim = start(mepsim, *opts, extra=["-v", "--capture", str(cap)])
    m = SocketModule(sim, connect())
    req = mepframe.read("ET13", seq=m.next_seq(), key=m.key)
    m.link.send(req.frame)
    frame, times = m.link.read_frame()
    assert len(frame) == 343 and mepframe.parse_response(req, frame).digest_ok
    for boundary in (117, 234):
        assert times[boundary] - times[boundary - 1] >= 0.015, boundary    # the 25 ms pauses
    assert times[-1] - times[0] >= 0.300                  # 343 x 10 bits at 9600 = 357 ms + pauses
    m.link.close()
    sim.stop()
    assert "READ ET13 full seq=0x%08X MAK -> OK" % DEFAULT_SEQ in sim.stderr()
    data = cap.read_bytes()
    assert req.frame in data and frame[:117] in data       # both directions recorded


def test_line_fault_acts_on_the_socket_as_on_a_pty(mepsim, tmp_path, kind):
    """The fault layer sits between the line core and the device: a truncate
    fault cuts the reply on the socket (test_faults checks the same on a PTY)."""
    opts, connect = transport(kind, tmp_path)
    sim = start(mepsim, *opts)
    m = SocketModule(sim, connect())
    m.ctl.inject("truncate len=5 count=1")
    req = mepframe.read("BT52", seq=m.next_seq(), key=m.key)
    m.link.send(req.frame)
    data, _ = m.link.collect(0.3)
    assert len(data) == 5 and data[:2] == b"\x00\x12"     # first 5 bytes of the 20-byte reply
    time.sleep(0.06)
    assert m.read("BT52").code == OK                       # count=1: worn off


def test_shared_optical_port_answers_over_the_socket(mepsim):
    """A Gen 3 profile's optical port shares the MEP line (docs/optical.md 6): C12.18 packets
    over the meter's socket reach it, as over its PTY."""
    port = free_port()
    sim = start(mepsim, "--tcp", str(port))
    link = tcp(port)
    c = c1218.C1218Client(link.fd)
    assert c.identify()[0] == c1218.OK
    assert c.terminate()[0] == c1218.OK
    link.close()


def test_tcp_port_in_use_exits_1_naming_it(tmp_path):
    """A port another process holds is a device that cannot be set up (exit 1, like an
    unopenable UART), not a bad command line."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        r = run(["--tcp", str(port), "--exit-after", "1"], tmp_path)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "127.0.0.1:%d" % port in r.stderr and "in use" in r.stderr, r.stderr


def test_tcp_address_given_in_full_and_ipv6(mepsim):
    port = free_port()
    sim = start(mepsim, "--tcp", "127.0.0.1:%d" % port)
    reads_bt01_and_bt23(SocketModule(sim, tcp(port)))
    if not socket.has_ipv6:
        return
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback (::1) on this machine")
    port6 = free_port()
    sim6 = start(mepsim, "--tcp", "[::1]:%d" % port6, name="mepsim6")
    reads_bt01_and_bt23(SocketModule(sim6, SocketLink(("::1", port6), socket.AF_INET6)))


def test_second_client_is_closed_and_the_first_keeps_the_line(mepsim, tmp_path, kind):
    opts, connect = transport(kind, tmp_path)
    sim = start(mepsim, *opts, extra=["-v"])
    m = SocketModule(sim, connect())
    assert m.read("BT01").code == OK
    second = connect()
    assert reads_eof(second)                     # one client at a time
    second.close()
    reads_bt01_and_bt23(m)                       # the first is still served
    wait_for(lambda: "another client connected and was closed" in sim.log(), 2, "the refusal in the -v log")


def test_meter_serves_the_next_client_after_one_leaves(mepsim, tmp_path, kind):
    opts, connect = transport(kind, tmp_path)
    sim = start(mepsim, *opts, extra=["-v"])
    m = SocketModule(sim, connect())
    assert m.read("BT01").code == OK
    # a client that sends a request and leaves before the reply: the meter
    # answers into the void; the bytes are lost and counted, like a PTY's
    req = mepframe.read("BT01", seq=m.next_seq(), key=m.key)
    m.link.send(req.frame)
    m.link.close()
    wait_for(lambda: m.ctl.counters()["line"]["tx_lost"] > 0, 3, "the reply with no client to count as lost")
    assert "listening for the next" in sim.log()
    again = SocketModule(sim, connect(), seq=m.seq)
    reads_bt01_and_bt23(again)                   # same meter, E continued
    assert again.ctl.counters()["responses"]["0x00"] == 4


def test_count_3_tcp_meters_on_consecutive_ports(mepsim):
    base = free_ports(3)
    sim = start(mepsim, "--tcp", str(base), "--count", "3")
    names = [x["name"] for x in sim.control().status()["meters"]]
    assert len(names) == 3
    for i in range(3):
        reads_bt01_and_bt23(SocketModule(sim, tcp(base + i)))
    for i in range(3):                           # each meter counted its own reads
        assert sim.control().counters(meter=i)["responses"]["0x00"] == 2


def test_count_3_unix_meters_from_a_path_pattern(mepsim, tmp_path):
    sim = start(mepsim, "--unix", str(tmp_path / "m%d.sock"), "--count", "3")
    for i in range(3):
        reads_bt01_and_bt23(SocketModule(sim, unix(tmp_path / ("m%d.sock" % i))))
    sim.stop()
    assert not any((tmp_path / ("m%d.sock" % i)).exists() for i in range(3))   # removed on exit


def test_a_fleet_of_2000_unix_meters_starts_and_its_ends_answer(mepsim, tmp_path):
    """No fixed limit, one shared profile, the fleet's heap reserved at once
    (mepsim_main.c): the first, a middle and the last meter answer, each on
    its own socket, and the control socket knows all of them."""
    sim = start(mepsim, "--unix", str(tmp_path / "f%d.sock"), "--count", "2000")
    for i in (0, 1234, 1999):
        reads_bt01_and_bt23(SocketModule(sim, unix(tmp_path / ("f%d.sock" % i))))
    status = sim.control().request({"cmd": "status"})
    assert len(status["meters"]) == 2000 and status["meters"][1999]["name"] == "meter0-1999", status["meters"][-1]


def test_config_file_keys_tcp_unix_and_count(mepsim, tmp_path):
    base = free_ports(2)
    cfg = tmp_path / "fleet.json"
    cfg.write_text('{"meters": [{"name": "t", "tcp": "127.0.0.1:%d", "count": 2, "seq_start": %d},'
                   ' {"name": "u", "unix": "%s", "seq_start": %d}]}'
                   % (base, DEFAULT_SEQ, tmp_path / "u.sock", DEFAULT_SEQ))
    sim = mepsim("--config", str(cfg))
    time.sleep(0.12)
    assert len(sim.control().status()["meters"]) == 3
    reads_bt01_and_bt23(SocketModule(sim, tcp(base + 1)))
    reads_bt01_and_bt23(SocketModule(sim, unix(tmp_path / "u.sock")))


@pytest.mark.parametrize("args, needle", [
    (["--tcp", "0"], "--tcp"),
    (["--tcp", "70000"], "--tcp"),
    (["--tcp", "127.0.0.1:70000"], "--tcp"),
    (["--tcp", "localhost:5000"], "--tcp"),
    (["--tcp", "::1:5000"], "--tcp"),
    (["--tcp", "[::1]5000"], "--tcp"),
    (["--tcp", "5000", "--unix", "x.sock"], "only one"),
])
def test_bad_socket_option_exits_2_and_starts_nothing(tmp_path, args, needle):
    r = run(["--pty", "a.pty", "--meter", "bad"] + args, tmp_path)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert needle in r.stderr, r.stderr
    assert "ready" not in r.stdout and "meter0: pty" not in r.stdout   # nothing started
    assert not os.path.lexists(tmp_path / "a.pty") and not os.path.exists(tmp_path / "x.sock")


def test_live_unix_path_is_refused_naming_it_and_the_owner_keeps_it(mepsim, tmp_path):
    live = tmp_path / "live.sock"
    owner = start(mepsim, "--unix", str(live))
    r = run(["--pty", "a.pty", "--meter", "second", "--unix", str(live), "--exit-after", "1"], tmp_path)
    assert r.returncode != 0 and "ready" not in r.stdout, (r.returncode, r.stdout)
    assert "--unix %s: a live socket" % live in r.stderr, r.stderr
    assert not os.path.lexists(tmp_path / "a.pty")           # nothing left behind
    reads_bt01_and_bt23(SocketModule(owner, unix(live)))      # the owner's socket is untouched


def test_live_unix_path_exits_1_before_anything_starts(mepsim, tmp_path):
    """Another process's live socket is a device that cannot be set up (exit 1, as a live
    --control socket or a TCP port in use), found before any meter opens its line."""
    live = tmp_path / "live.sock"
    owner = start(mepsim, "--unix", str(live))
    r = run(["--pty", "a.pty", "--meter", "second", "--unix", str(live)], tmp_path)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "meter second:" in r.stderr and str(live) in r.stderr and "live socket" in r.stderr, r.stderr
    assert "meter0: pty" not in r.stdout and not os.path.lexists(tmp_path / "a.pty")
    reads_bt01_and_bt23(SocketModule(owner, unix(live)))    # the owner's socket is untouched


def test_unix_path_that_is_a_regular_file_is_not_replaced(tmp_path):
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    r = run(["--unix", str(victim), "--exit-after", "1"], tmp_path)
    assert r.returncode != 0 and "not a socket" in r.stderr and str(victim) in r.stderr
    assert victim.read_text() == "keep me"


def test_stale_unix_socket_file_is_replaced(mepsim, tmp_path):
    path = tmp_path / "stale.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))                            # a socket file nobody accepts on
    s.close()
    sim = start(mepsim, "--unix", str(path))
    reads_bt01_and_bt23(SocketModule(sim, unix(path)))


# ---- PTY: the client closes and reopens it ----

def cpu_seconds(pid):
    """utime + stime of a process, in seconds (/proc/PID/stat fields 14, 15)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_pty_reopened_by_its_client_still_answers_and_mepsim_idles_meanwhile(meter):
    sim = meter.sim
    assert meter.read("BT01").code == OK
    meter.link.close()                           # nobody has the PTY open now
    time.sleep(0.2)
    pid = sim.proc.p.pid
    t0, c0 = time.monotonic(), cpu_seconds(pid)
    time.sleep(2.0)
    share = (cpu_seconds(pid) - c0) / (time.monotonic() - t0)
    assert share < 0.20, "mepsim used %.0f %% of a core while nobody had its PTY open" % (share * 100)
    meter.link = sim.link("meter.pty")           # reopen: requests are heard again
    reads_bt01_and_bt23(meter)
    meter.link.close()
    meter.link = sim.link("meter.pty")           # and once more
    assert meter.read("BT01").code == OK
    assert meter.ctl.counters()["responses"]["0x00"] == 4


def pts_fds(pid):
    """(fds on /dev/ptmx, fds on a /dev/pts/N slave) held by a process."""
    masters = slaves = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        masters += target == "/dev/ptmx" or target == "/dev/pts/ptmx"
        slaves += target.startswith("/dev/pts/") and target != "/dev/pts/ptmx"
    return masters, slaves


def test_pty_meters_hold_one_fd_each_not_a_kept_slave(mepsim, tmp_path):
    sim = mepsim("--pty", str(tmp_path / "m%d.pty"), "--count", "3")
    assert pts_fds(sim.proc.p.pid) == (3, 0)
