#!/usr/bin/env python3
"""fakeboard: a tiny stand-in firmware for testing the scenario suite itself.

It serves the module JSON contract (module-behaviour.md 8.1) at
/getDashDataWS on 127.0.0.1:--http-port. To stay tiny it does not speak MEP:
it reads the meter's truth through the emulator's control socket (--control,
`get`) and publishes it, so an honest run passes the energy rules. With
--spike-wh it publishes the truth + N Wh from --spike-at to --spike-at +
--spike-for seconds after start: the kWh spike an unfiltering firmware
passes through (S16), which the suite must report as a failure.
--report-lines reports the boot order of module-behaviour 2 on the
board-line protocol (osgp_hil.boardline). --die-after S exits with status 3
after S seconds (a board that crashes). With --mqtt HOST:PORT it publishes
the 8.2 topics every 0.5 s instead (no HTTP without --http-port).

    fakeboard.py --port {port} --http-port {http_port} --control {control}
                 [--spike-wh 16777216 --spike-at 3 --spike-for 4]
    fakeboard.py --port {port} --control {control} --mqtt {mqtt} --mqtt-prefix P
"""

import argparse
import datetime
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from osgp_hil.boardline import BoardLine
from osgp_hil.mepsim_control import MepsimControl

# BT28 value index of each contract member (module-behaviour.md 7)
BT28 = {"Fwd_W": 0, "Rev_W": 1, "L1_RMS_A": 4, "L2_RMS_A": 5, "L3_RMS_A": 6, "L1_RMS_V": 7,
        "L2_RMS_V": 8, "L3_RMS_V": 9, "Freq_mHz": 11}


def contract_doc(truth, extra_wh, sn):
    now = datetime.datetime.now(datetime.timezone.utc)
    b = truth["bt28"]
    doc = {"ESP_SW": "fakeboard", "ESP_SW_By": "tests/hil", "ESP_SW_Version": "1",
           "Meter_Manufacturer": "FAKE", "Meter_Model": "fake", "Meter_SW_Version": "1.0",
           "Utility_SN": sn, "CurrentDateTimeString": now.strftime("%Y-%m-%d (%A) @ %H:%M:%S"),
           "CurrentDateTime": now.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
           "Fwd_Act_Wh": truth["bt23"]["fwd_wh"] + extra_wh, "Rev_Act_Wh": truth["bt23"]["rev_wh"]}
    doc.update({k: b[i] for k, i in BT28.items()})
    # per-phase powers from the model's phases, so the HA sum rule holds
    net = doc["Fwd_W"] - doc["Rev_W"]
    per = [round(p["p"]) for p in truth.get("phases", [])] or [net, 0, 0]
    per = (per + [0, 0, 0])[:3]
    per[0] += net - sum(per)
    for i, p in enumerate(per, 1):
        doc[f"L{i}_Fwd_W"], doc[f"L{i}_Rev_W"] = max(p, 0), max(-p, 0)
        doc[f"L{i}_Fwd_Avg_W"] = doc[f"L{i}_Rev_Avg_W"] = 0
    doc["Fwd_Avg_W"] = doc["Rev_Avg_W"] = 0
    return doc


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", required=True, help="the meter's serial line (opened, not used)")
    ap.add_argument("--http-port", type=int, default=None)
    ap.add_argument("--mqtt", default=None, help="HOST:PORT: publish the 8.2 topics")
    ap.add_argument("--mqtt-prefix", default="esp32-mep")
    ap.add_argument("--control", required=True, help="mepsim's control socket")
    ap.add_argument("--spike-wh", type=int, default=0)
    ap.add_argument("--spike-at", type=float, default=3.0)
    ap.add_argument("--spike-for", type=float, default=4.0)
    ap.add_argument("--report-lines", action="store_true")
    ap.add_argument("--die-after", type=float, default=None)
    a = ap.parse_args()
    fd = os.open(a.port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)    # like a UART
    t0 = time.monotonic()
    ctl = MepsimControl(a.control)
    lock = threading.Lock()
    if a.report_lines:
        with BoardLine(a.control) as bl:
            bl.transceiver(True)
            bl.enable(False)
            time.sleep(1.0)                       # module-behaviour 2: 1 s before ENABLE
            bl.enable(True)

    def current():
        el = time.monotonic() - t0
        extra = a.spike_wh if a.spike_at <= el < a.spike_at + a.spike_for else 0
        with lock:
            truth = ctl.get()
        return contract_doc(truth, extra, "FAKE0001")

    if a.mqtt:
        publish_mqtt(a, current)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path.split("?")[0] != "/getDashDataWS":
                self.send_error(404)
                return
            body = json.dumps(current()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt, *args):
            sys.stderr.write("fakeboard: " + (fmt % args) + "\n")

    if a.die_after is not None:
        threading.Timer(a.die_after, lambda: (print("fakeboard: crashing now", flush=True),
                                              os._exit(3))).start()
    if a.http_port is None:
        while True:
            time.sleep(3600)
    srv = ThreadingHTTPServer(("127.0.0.1", a.http_port), Handler)
    print(f"fakeboard: serving on 127.0.0.1:{a.http_port}", flush=True)
    try:
        srv.serve_forever()
    finally:
        os.close(fd)


def publish_mqtt(a, current):
    """module-behaviour 8.2: lwt Online (retained), then the topics every 0.5 s."""
    import paho.mqtt.client as mqtt
    from osgp_hil.contract import MQTT_TOPICS
    host, _, port = a.mqtt.partition(":")
    c = mqtt.Client(client_id=f"fakeboard-{os.getpid()}")
    c.will_set(f"{a.mqtt_prefix}/lwt", "Offline", retain=True)
    c.connect(host, int(port or 1883), keepalive=30)
    c.loop_start()
    c.publish(f"{a.mqtt_prefix}/lwt", "Online", retain=True)
    print(f"fakeboard: publishing to {a.mqtt} under {a.mqtt_prefix}/", flush=True)

    def run():
        while True:
            doc = current()
            for topic, members in MQTT_TOPICS.items():
                payload = {m: doc[m] for m in members if m in doc}
                c.publish(f"{a.mqtt_prefix}/{topic}", json.dumps(payload))
            time.sleep(0.5)
    threading.Thread(target=run, daemon=True).start()


if __name__ == "__main__":
    main()
