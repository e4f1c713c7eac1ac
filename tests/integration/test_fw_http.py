"""mepmod's HTTP server at its edges: error answers, partial and oversized
requests, keep-alive, and the not-ready answer (503 + text/plain, never an empty
Utility_SN or zero readings) - all without a meter on the line."""

import json
import socket
import time

import pytest

from fwfixtures import (free_port, http_get, read_http_response, rig,  # noqa: F401
                        run_mepmod, silent_pty)


@pytest.fixture
def mod(rig, silent_pty):  # noqa: F811
    port = free_port()
    rig.add(run_mepmod(rig, silent_pty, port))
    return port


def raw(port, data, timeout=3.0):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        return read_http_response(s)


def test_not_ready_answers_503_text_without_readings(mod):
    # not JSON: a consumer that ignores the status code must not store it (docs/module-behaviour.md 8.4)
    status, headers, body = http_get(mod, "/getDashDataWS")
    assert status == 503
    assert headers["content-type"].startswith("text/plain")
    with pytest.raises(ValueError):
        json.loads(body)
    text = body.decode()
    fields = dict(line.partition(": ")[::2] for line in text.splitlines())
    assert text.startswith("not ready: ") and fields["not ready"]
    assert "Utility_SN" not in text and "Fwd_Act_Wh" not in text
    assert fields["Status"] not in ("", "OK")
    assert fields["CurrentDateTime"].endswith(".000Z")


def test_unknown_path_is_404_json(mod):
    status, headers, body = http_get(mod, "/nope")
    assert status == 404
    assert json.loads(body)["error"]


def test_query_string_is_ignored(mod):
    assert http_get(mod, "/status?x=1")[0] == 200


def test_post_is_405(mod):
    status, headers, _ = raw(mod, b"POST /getDashDataWS HTTP/1.1\r\nHost: x\r\n"
                                  b"Content-Length: 0\r\n\r\n")
    assert status == 405
    assert "GET" in headers["allow"]


@pytest.mark.parametrize("request_line", [b"GARBAGE\r\n\r\n", b"GET\r\n\r\n",
                                          b"GET / FTP/1.0\r\n\r\n", b"GET nopath HTTP/1.1\r\n\r\n"])
def test_malformed_request_is_400(mod, request_line):
    assert raw(mod, request_line)[0] == 400


def test_oversized_request_is_431(mod):
    big = b"GET / HTTP/1.1\r\nX-Filler: " + b"a" * 10000 + b"\r\n\r\n"
    assert raw(mod, big)[0] == 431


def test_request_in_slow_pieces_is_answered(mod):
    with socket.create_connection(("127.0.0.1", mod), timeout=5) as s:
        for piece in (b"GE", b"T /sta", b"tus HTTP/1.1\r\n", b"Host: x\r", b"\n\r\n"):
            s.sendall(piece)
            time.sleep(0.1)
        status, _, body = read_http_response(s)
    assert status == 200
    assert "counters" in json.loads(body)


def test_keep_alive_serves_two_requests_on_one_connection(mod):
    with socket.create_connection(("127.0.0.1", mod), timeout=3) as s:
        s.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_http_response(s)[0] == 200
        s.sendall(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_http_response(s)[0] == 404


def test_stalled_client_does_not_block_others(mod):
    with socket.create_connection(("127.0.0.1", mod), timeout=3) as stalled:
        stalled.sendall(b"GET /status HTTP/1.1\r\nHost")  # and never finishes
        t0 = time.monotonic()
        assert http_get(mod, "/status")[0] == 200
        assert time.monotonic() - t0 < 2.0  # generous: a blocked loop would take 10 s


def test_dashboard_page_polls_getdashdataws(mod):
    status, headers, body = http_get(mod, "/")
    assert status == 200
    assert headers["content-type"].startswith("text/html")
    assert b"/getDashDataWS" in body and b"setInterval" in body


def test_status_reports_counters_and_not_ready_reason(mod):
    status, headers, body = http_get(mod, "/status")
    assert status == 200 and headers["content-type"] == "application/json"
    doc = json.loads(body)
    assert doc["ready"] is False and doc["not_ready_reason"]
    for k in ("polls_ok", "timeouts", "resends", "seq_resyncs", "auth_failures",
              "digest_rejects", "recovery_cycles"):
        assert isinstance(doc["counters"][k], int)


def test_dash_json_is_built_once_per_second_not_per_request(mod):
    import json as _json
    before = _json.loads(http_get(mod, "/status")[2])["port"]["dash_builds"]
    t0 = time.monotonic()
    for _ in range(50):
        assert http_get(mod, "/getDashDataWS")[0] == 503
    elapsed = time.monotonic() - t0
    after = _json.loads(http_get(mod, "/status")[2])["port"]["dash_builds"]
    # rebuilt when the clock second or the readings generation changes, not per request
    assert after - before <= 2 * (int(elapsed) + 2) + 5, (after - before, elapsed)


def test_get_with_a_body_is_400_and_zero_length_is_fine(mod):
    assert raw(mod, b"GET /status HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello")[0] == 400
    assert raw(mod, b"GET /status HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")[0] == 400
    assert raw(mod, b"GET /status HTTP/1.1\r\nContent-Length: 0\r\n\r\n")[0] == 200


def test_http_1_0_connection_is_closed_after_the_answer(mod):
    with socket.create_connection(("127.0.0.1", mod), timeout=3) as s:
        s.sendall(b"GET /status HTTP/1.0\r\n\r\n")
        status, headers, _ = read_http_response(s)
        assert status == 200 and headers["connection"] == "close"
        assert s.recv(100) == b""  # closed by the server


def test_head_sends_headers_only(mod):
    with socket.create_connection(("127.0.0.1", mod), timeout=3) as s:
        s.sendall(b"HEAD /status HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"Content-Length: " in head
    assert body == b""
