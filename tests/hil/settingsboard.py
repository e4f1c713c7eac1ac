#!/usr/bin/env python3
"""settingsboard: a stand-in firmware with settings, for testing board
provisioning (board descriptions' `state_files` and `provision`).

Keeps one setting, the key, in STATE_DIR/settings.txt (`key=...` lines, as
a board keeps it in flash). Serves on 127.0.0.1:--http-port:

  GET /getDashDataWS   503 {"error": "no key"} without a key, else 200 {"key": KEY}
  GET /settings        200 {"key": KEY, "boots": N, "args": {...}} (what the last
                       POST /setup carried, decoded)
  POST /setup          form body key=...: saved, 200 {"ok": true}; with restart=1 the
                       board answers, then restarts itself (re-executes with the
                       same arguments, as ESP.restart() on the Arduino host kit)
                       after logging "restarting"; a key shorter than 8 -> 400

Every boot logs "settingsboard: boot N" (N counted in STATE_DIR/boots).
--port is the meter line (opened, not used).
"""

import argparse
import json
import os
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", required=True)
    ap.add_argument("--http-port", type=int, required=True)
    ap.add_argument("--state-dir", required=True)
    a = ap.parse_args()
    state = Path(a.state_dir)
    state.mkdir(parents=True, exist_ok=True)
    boots_file = state / "boots"
    boots = int(boots_file.read_text()) + 1 if boots_file.exists() else 1
    boots_file.write_text(str(boots))
    print(f"settingsboard: boot {boots}", file=sys.stderr, flush=True)
    settings = state / "settings.txt"
    key = None
    if settings.exists():
        for ln in settings.read_text().splitlines():
            if ln.startswith("key="):
                key = ln[4:]
    last_args = {}

    class H(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def answer(self, status, doc):
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path == "/getDashDataWS":
                self.answer(503, {"error": "no key"}) if key is None else \
                    self.answer(200, {"key": key})
            elif self.path == "/settings":
                self.answer(200, {"key": key, "boots": boots, "args": last_args})
            else:
                self.answer(404, {"error": "not found"})

        def do_POST(self):
            nonlocal key, last_args
            if self.path != "/setup":
                self.answer(404, {"error": "not found"})
                return
            n = int(self.headers.get("Content-Length") or 0)
            form = dict(urllib.parse.parse_qsl(self.rfile.read(n).decode()))
            last_args = form
            if len(form.get("key", "")) < 8:
                self.answer(400, {"error": "key: at least 8 characters"})
                return
            key = form["key"]
            settings.write_text(f"key={key}\n")
            self.answer(200, {"ok": True})
            if form.get("restart") == "1":
                threading.Thread(target=restart, daemon=True).start()

    def restart():
        time.sleep(0.3)
        print("settingsboard: restarting", file=sys.stderr, flush=True)
        srv.server_close()
        os.execv(sys.executable, [sys.executable] + sys.argv)

    srv = ThreadingHTTPServer(("127.0.0.1", a.http_port), H)
    srv.serve_forever()


if __name__ == "__main__":
    main()
