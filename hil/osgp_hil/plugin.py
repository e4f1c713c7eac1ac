"""pytest plugin: run the same tests on the virtual rig or a bench.

Load it with ``pytest_plugins = ["osgp_hil.plugin"]`` in a conftest.py (with
<repo>/hil on sys.path) or ``-p osgp_hil.plugin``.

Options
  --rig virtual|FILE      the built-in virtual rig (default) or a rig YAML
  --hil-artifacts DIR     per-test artefact directories (default artifacts/)

Fixtures
  meter   mepsim started for this test (profile/scenario from markers)
  board   the module under test, started after the meter
  rig     both, plus the meter-line trace and the artefact directory
  rig_config  the validated RigConfig (no processes)

Markers
  @pytest.mark.scenario("s09-transceiver-latch-up")  start the meter with it
  @pytest.mark.profile("nes-1ph")                    meter profile
  @pytest.mark.board_args("--poll-ms", "500")        virtual rig: mepmod args
  @pytest.mark.meter_args("--speed", "20")           extra mepsim args
  @pytest.mark.bench_only(reason="...")              skipped on the virtual rig
  @pytest.mark.virtual_only(reason="...")            skipped on a bench

Per test, DIR/<test id>/ keeps mepsim.log (-vv), the board console
(mepmod.log or console.log), trace.txt (every byte on the meter line with
timestamps, and line events), published.json (every HTTP document fetched
and every MQTT message seen), modem.txt (bench), and failure.txt when the
test failed. The directory is recorded in JUnit XML as property
``hil_artifacts``.
"""

import re
import shutil
from pathlib import Path

import pytest

from .fixtures import Rig
from .rig import RigError, load_rig, virtual_rig


def pytest_addoption(parser):
    g = parser.getgroup("osgp-hil", "OSGP HIL rig")
    g.addoption("--rig", default="virtual",
                help="'virtual' (mepsim on a PTY + mepmod, default) or a rig YAML file")
    g.addoption("--hil-artifacts", default="artifacts", metavar="DIR",
                help="directory for per-test artefacts (default: artifacts/)")


def pytest_configure(config):
    for m in ("scenario(name): start the meter with fixtures/scenarios/<name>.json",
              "profile(name): meter profile (fixtures/meters/<name>.json or a path)",
              "board_args(*args): extra mepmod arguments on the virtual rig",
              "meter_args(*args): extra mepsim arguments (e.g. --speed 20 for a scenario)",
              "scenario_hold: the scenario's timeline is held until meter.ctl.scenario('start')",
              "bench_only(reason): needs real hardware; skipped on the virtual rig",
              "virtual_only(reason): needs the virtual rig; skipped on a bench"):
        config.addinivalue_line("markers", m)
    spec = config.getoption("--rig", default="virtual")
    try:
        rc = virtual_rig() if spec == "virtual" else load_rig(spec)
    except RigError as e:
        raise pytest.UsageError(f"--rig: {e}") from None
    config._osgp_rig = rc
    art = Path(config.getoption("--hil-artifacts", default="artifacts"))
    if not art.is_absolute():
        art = Path(config.invocation_params.dir) / art
    config._osgp_artifacts = art


def pytest_report_header(config):
    rc = getattr(config, "_osgp_rig", None)
    if rc is None:
        return None
    where = "mepsim PTY + mepmod" if rc.is_virtual else f"meter UART {rc.meter.uart}"
    return f"osgp-hil rig: {rc.name} ({rc.kind}: {where}); artefacts in {config._osgp_artifacts}"


def _reason(marker, default):
    return marker.kwargs.get("reason") or (marker.args[0] if marker.args else default)


def pytest_collection_modifyitems(config, items):
    """bench_only / virtual_only become skips with their reasons, reported at
    the test's own location."""
    rc = config._osgp_rig
    for item in items:
        m = item.get_closest_marker("bench_only")
        if m and rc.is_virtual:
            item.add_marker(pytest.mark.skip(
                reason="bench only: " + _reason(m, "needs real hardware")))
        m = item.get_closest_marker("virtual_only")
        if m and not rc.is_virtual:
            item.add_marker(pytest.mark.skip(
                reason="virtual rig only: " + _reason(m, "needs the emulated board")))


def _artifact_dir(config, nodeid):
    name = re.sub(r"[^A-Za-z0-9_.\-]+", "_", nodeid.split("::", 1)[-1])[:120]
    mod = re.sub(r"[^A-Za-z0-9_.\-]+", "_", Path(nodeid.split("::", 1)[0]).stem)
    d = config._osgp_artifacts / mod / name
    if d.exists():
        shutil.rmtree(d)     # artefacts of this run only
    return d


@pytest.fixture
def rig_config(request):
    """The validated rig description of this run."""
    return request.config._osgp_rig


@pytest.fixture
def _osgp_rig(request):
    r = Rig(request.config._osgp_rig, _artifact_dir(request.config, request.node.nodeid))
    request.node.user_properties.append(("hil_artifacts", str(r.artifacts)))
    request.node.user_properties.append(("hil_rig", r.config.name))
    request.node._osgp_rig_obj = r
    yield r
    problems = r.finish()
    if problems:
        pytest.fail("rig processes misbehaved:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture
def meter(request, _osgp_rig):
    """mepsim as the meter, started with the test's scenario/profile markers."""
    sc = request.node.get_closest_marker("scenario")
    pr = request.node.get_closest_marker("profile")
    ma = request.node.get_closest_marker("meter_args")
    _osgp_rig.meter.start(profile=pr.args[0] if pr else None,
                          scenario=sc.args[0] if sc else None,
                          extra=tuple(str(a) for a in ma.args) if ma else ())
    if sc and request.node.get_closest_marker("scenario_hold"):
        # the timeline waits for meter.ctl.scenario("start") (e.g. once the board reads)
        _osgp_rig.meter.ctl.scenario("stop")
    return _osgp_rig.meter


@pytest.fixture
def board(request, meter, _osgp_rig):
    """The module under test, started (fresh boot) after the meter."""
    ba = request.node.get_closest_marker("board_args")
    return _osgp_rig.board.start(extra=ba.args if ba else ())


@pytest.fixture
def rig(meter, board, _osgp_rig):
    """Meter, board, trace and artefact directory of this test."""
    return _osgp_rig


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    r = getattr(item, "_osgp_rig_obj", None)
    if r is not None and rep.failed:
        with open(r.artifacts / "failure.txt", "a") as f:
            f.write(f"=== {rep.when}: {item.nodeid}\n{rep.longreprtext}\n")
