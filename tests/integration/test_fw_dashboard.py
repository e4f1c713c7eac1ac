"""mepmod's dashboard (`/`) in a real browser: headless Chromium (Debian's
`chromium`) loads the page, its script fetches /getDashDataWS and
/dashboard.json, and the DOM it builds must show what the JSON says:
readings (also power factor, reactive power, frequency), data age, status
and its history, counters, the trend of the last hour (inline SVG) and the
kWh sanitiser's held state. A screenshot of each run is kept next to the
test's logs."""

import json
import shutil
import subprocess
import time
from html.parser import HTMLParser

import pytest
from osgp_hil.paths import fixture

from fwfixtures import (control, free_port, get_dash, http_get, rig, run_mepmod,  # noqa: F401
                        run_mepsim, wait_for, wait_ready)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def need_chromium():
    if not CHROMIUM:
        pytest.skip("chromium is not installed (Debian: apt install chromium; ci/deps.sh)")


def chromium(tmp, *args, timeout=60):
    """Run headless Chromium once (its own profile, no sandbox: tests may run as root)."""
    profile = tmp / f"chromium-profile-{time.monotonic_ns()}"
    argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-dev-shm-usage", f"--user-data-dir={profile}",
            "--virtual-time-budget=6000", *map(str, args)]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"chromium failed ({r.returncode}): {r.stderr[-2000:]}"
    return r.stdout


class Dom(HTMLParser):
    """Text and attributes of every element with an id, plus <body>'s attributes."""

    def __init__(self, html):
        super().__init__()
        self.text, self.attrs, self.body = {}, {}, {}
        self.open = []          # ids of the elements being read
        self.rows = {}          # table id -> rows of cell texts
        self._table, self._row = None, None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.body = a
        if tag == "table":
            self._table = a.get("id")
            self.rows.setdefault(self._table, [])
        if tag == "tr" and self._table:
            self._row = []
            self.rows[self._table].append(self._row)
        if tag in ("td", "th") and self._row is not None:
            self._row.append("")
        if "id" in a:
            self.attrs[a["id"]] = a
            self.text.setdefault(a["id"], "")
            if tag not in ("polyline", "rect", "br", "meta"):
                self.open.append(a["id"])

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = None
        if tag == "tr":
            self._row = None
        if self.open and tag not in ("polyline", "rect"):
            # ids are on leaf-like elements here: close the innermost
            if tag in ("span", "td", "p", "table", "svg", "h1", "section", "div"):
                self.open.pop()

    def handle_data(self, data):
        for i in self.open:
            self.text[i] += data
        if self._row is not None and self._row:
            self._row[-1] += data


def load(rig, port, screenshot=None):  # noqa: F811
    url = f"http://127.0.0.1:{port}/"
    html = chromium(rig.tmp, "--dump-dom", url)
    if screenshot:
        chromium(rig.tmp, f"--screenshot={screenshot}", "--window-size=1280,1500", "--hide-scrollbars", url)
        assert screenshot.stat().st_size > 10000, "the screenshot is (nearly) empty"
    return Dom(html)


def dashboard_json(port):
    status, headers, body = http_get(port, "/dashboard.json")
    assert status == 200 and headers["content-type"] == "application/json", (status, headers)
    return json.loads(body)


def number(text):
    return float(text.split()[0])


def last_digit(text):
    """The value of one unit in the last shown digit ("230.1 V" -> 0.1): the
    page rounds, so a shown value is only as exact as that."""
    num = text.split()[0]
    return 10.0 ** -(len(num.split(".")[1]) if "." in num else 0)


def between(v, a, b, slack=0.0):
    return min(a, b) - slack <= v <= max(a, b) + slack


def start(rig, *sim_args):  # noqa: F811
    need_chromium()
    sim, pty, ctl = run_mepsim(rig.tmp, extra=list(sim_args))
    rig.add(sim)
    port = free_port()
    mod = rig.add(run_mepmod(rig, pty, port, ctl=ctl))
    wait_ready(port)
    return mod, port, ctl


def test_dashboard_shows_the_live_values_in_a_browser(rig):  # noqa: F811
    mod, port, ctl = start(rig)
    # two trend samples (one per 10 s) so the SVG has a line to draw
    wait_for(lambda: len(dashboard_json(port)["trend"]["points"]) >= 2, 30, "two trend samples")
    before, extra0 = get_dash(port)[1], dashboard_json(port)
    shot = rig.tmp / "dashboard.png"
    dom = load(rig, port, screenshot=shot)
    after, extra1 = get_dash(port)[1], dashboard_json(port)
    assert dom.body.get("data-live") == "1", f"the page never got readings: {dom.text.get('st')!r} {dom.text.get('tx')!r}"
    # identity and status as the JSON says
    assert before["Utility_SN"] in dom.text["meter"] and before["Meter_Model"] in dom.text["meter"]
    assert dom.text["st"] == after["Status"] == "OK"
    # readings: each between the documents fetched before and after the page
    for member, div in (("Fwd_Act_Wh", 1000), ("Fwd_W", 1), ("L1_RMS_V", 1000), ("Freq_mHz", 1000)):
        text = dom.text[f"v-{member}"]
        shown = number(text) * div
        assert between(shown, before[member], after[member], slack=div * max(0.001, last_digit(text))), \
            (member, text, before[member], after[member])
    # the values the contract document lacks come from /dashboard.json
    for member in ("L1_PF_Fac", "ImportReactive_VAr", "ExportReactive_VAr"):
        assert f"v-{member}" in dom.text, f"{member} not shown"
        div = 1000 if member.endswith("PF_Fac") else 1
        shown = number(dom.text[f"v-{member}"]) * div
        assert between(shown, extra0["present"][member], extra1["present"][member], slack=div * 0.002), \
            (member, shown, extra0["present"][member], extra1["present"][member])
    # data age in seconds, small while the meter answers
    assert dom.text["age"].endswith(" s") and 0 <= number(dom.text["age"]) <= 10, dom.text["age"]
    # counters by kind
    polls = int(dom.text["c-polls_ok"])
    assert between(polls, before["Counters"]["polls_ok"], after["Counters"]["polls_ok"]), polls
    for k in ("timeouts", "digest_rejects", "recovery_cycles", "auth_failures"):
        assert f"c-{k}" in dom.text, f"counter {k} not shown"
    # status history: the change to OK, with its time
    hist = [r for r in dom.rows["h"][1:] if r]
    assert any(r[1] == "OK" for r in hist), hist
    assert [c["status"] for c in extra1["status_history"]][-1] == "OK", extra1["status_history"]
    # the trend: two polylines in the inline SVG, as many points as samples
    for line in ("trend-pw", "trend-en"):
        assert line in dom.attrs, f"no {line} in the SVG"
        n = len(dom.attrs[line]["points"].split())
        assert n >= 2 and between(n, len(extra0["trend"]["points"]), len(extra1["trend"]["points"])), n
    assert dom.attrs["held"]["data-state"] == "ok", dom.text["held"]
    assert extra1["phases"] == 3 and "v-L3_RMS_V" in dom.text


def test_dashboard_shows_only_the_phases_the_meter_has(rig):  # noqa: F811
    """nes-1ph.json (ET04.62: L2 and L3 absent): L1 rows, no L2/L3 rows."""
    mod, port, ctl = start(rig, "--profile", fixture("meters", "nes-1ph.json"))
    assert dashboard_json(port)["phases"] == 1
    dom = load(rig, port)
    assert dom.body.get("data-live") == "1"
    assert "v-L1_RMS_V" in dom.text and "v-L1_PF_Fac" in dom.text
    assert not [i for i in dom.text if i.startswith(("v-L2_", "v-L3_"))], sorted(dom.text)


def test_dashboard_shows_the_held_kwh_reading(rig):  # noqa: F811
    """S16: a spike the sanitiser holds is visible on the page, with the
    register's value next to the published one."""
    mod, port, ctl = start(rig)
    with control(ctl) as c:
        c.glitch("spike delta=2^24 polls=30")
    doc = wait_for(lambda: (d := get_dash(port)[1]) and d["Energy_Suspect"] and d, 20,
                   "the sanitiser to hold the spike")
    dom = load(rig, port, screenshot=rig.tmp / "dashboard-held.png")
    assert dom.attrs["held"]["data-state"] == "held", dom.text["held"]
    assert "HELD" in dom.text["held"] and str(doc["Raw_Fwd_Act_Wh"])[:4] in dom.text["held"], dom.text["held"]


def test_dashboard_json_is_served_without_a_browser(rig):  # noqa: F811
    """/dashboard.json: status history from the start, no trend or present
    values before readings are served (never zeros as readings, S06)."""
    sim, pty, ctl = run_mepsim(rig.tmp)
    rig.add(sim)
    port = free_port()
    rig.add(run_mepmod(rig, pty, port, ctl=ctl))
    first = dashboard_json(port)
    assert first["trend"]["step_s"] == 10
    if get_dash(port)[0] != 200:
        assert first["present"] is None and first["trend"]["points"] == [], first
    wait_ready(port)
    doc = wait_for(lambda: (d := dashboard_json(port))["trend"]["points"] and d, 15, "a trend sample")
    t, fwd_w, rev_w, fwd_wh, rev_wh = doc["trend"]["points"][-1]
    assert fwd_wh > 0 and abs(t - time.time()) < 30, doc["trend"]
    statuses = [c["status"] for c in doc["status_history"]]
    assert statuses[-1] == "OK" and len(statuses) >= 2, statuses   # BOOT/SYNC ... OK
