"""Module-behaviour S34: MEP handling never blocks on network I/O. A broker
that accepts TCP but never answers, and HTTP clients that stall mid-request,
must not slow the poll rhythm or cost a single MEP timeout."""

import json
import socket
import time

from fwfixtures import (dump_logs, free_port, http_get, rig, run_mepmod, run_mepsim,  # noqa: F401
                        wait_ready)


def test_dead_broker_and_stalled_http_clients_do_not_disturb_polling(rig):  # noqa: F811
    # a "broker" whose listen backlog accepts the TCP connection, then silence
    black_hole = socket.socket()
    black_hole.bind(("127.0.0.1", 0))
    black_hole.listen(8)
    sim, pty, ctl = run_mepsim(rig.tmp)
    rig.add(sim)
    port = free_port()
    mod = rig.add(run_mepmod(rig, pty, port, ctl=ctl,
                             extra=["--mqtt", f"127.0.0.1:{black_hole.getsockname()[1]}"]))
    stalled = []
    try:
        wait_ready(port)
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"GET /getDashDataWS HTTP/1.1\r\nHo")  # never completed
            stalled.append(s)
        before = json.loads(http_get(port, "/status")[2])
        time.sleep(8)
        after = json.loads(http_get(port, "/status")[2])
    finally:
        for s in stalled:
            s.close()
        black_hole.close()
    polls = after["counters"]["polls_ok"] - before["counters"]["polls_ok"]
    # one poll per ~2 s: 8 s gives ~4; a blocked loop would give far fewer
    assert polls >= 3, f"{polls} polls in 8 s\n{dump_logs(mod)}"
    assert after["counters"]["timeouts"] == before["counters"]["timeouts"]
    assert after["status"] == "OK"
    assert after["port"]["mqtt_connected"] is False
