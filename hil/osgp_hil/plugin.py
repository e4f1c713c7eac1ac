"""pytest plugin: run the same tests on the virtual rig or a bench.

Installed (``pip install ./hil``) it loads itself through the ``pytest11``
entry point ``osgp_hil``; from a checkout without installing, use
``PYTHONPATH=hil`` and ``-p osgp_hil.plugin`` (or ``pytest_plugins``).

Options
  --rig virtual|virtual-time|FILE
                          the built-in virtual rig (default: mepsim on a PTY +
                          a board program, real time), the virtual-time rig
                          (mepsim-cosim: meter + our firmware core on one
                          virtual clock; rig.clock is virtual) or a rig YAML
  --board FILE|NAME       board description (shipped: mepmod, arduino-host,
                          arduino-mep-module, arduino-hobby)
  --board-command CMD     the board's command line template ({port} ...)
  --board-ready SPEC      http:/PATH or log:REGEX[,timeout=S]
  --board-binary PATH     what {binary} is
  --board-lines MODE      control (board-line protocol) or none
  --hil-fixtures DIR      fixtures/ (meters, scenarios); default $OSGP_FIXTURES
                          or the checkout's
  --hil-artifacts DIR     per-test artefact directories (default artifacts/)

Fixtures
  meter   mepsim started for this test (profile/scenario from markers)
  board   the module under test, started after the meter
  rig     both, plus the meter-line trace, the artefact directory and
          rig.clock (now(), sleep(dt): wall time, or virtual time on
          --rig virtual-time)
  rig_config  the validated RigConfig (no processes)

Markers
  @pytest.mark.scenario("s09-transceiver-latch-up")  start the meter with it
  @pytest.mark.profile("nes-1ph")                    meter profile
  @pytest.mark.board_args("--poll-ms", "500")        virtual rig: extra board args
  @pytest.mark.board_opts(poll_ms=500, tls=True)     the board's named args fragments
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

from . import paths
from .boards import BoardError, from_options
from .harness import Rig
from .rig import RigError, load_rig, virtual_rig, virtual_time_rig


def pytest_addoption(parser):
    g = parser.getgroup("osgp-hil", "OSGP HIL rig")
    g.addoption("--rig", default="virtual",
                help="'virtual' (mepsim on a PTY + mepmod, default), 'virtual-time' "
                     "(mepsim-cosim: meter and firmware core on one virtual clock) or a rig YAML file")
    g.addoption("--board", default=None, metavar="FILE|NAME",
                help="board description YAML, or a shipped one (mepmod, arduino-host, arduino-mep-module, arduino-hobby)")
    g.addoption("--board-command", default=None, metavar="CMD",
                help="the board's command line, a template: {port} {baud} {mbk} {mak} "
                     "{http_port} {mqtt} {control} {state_dir} {artifacts} {binary}")
    g.addoption("--board-ready", default=None, metavar="SPEC",
                help="how to tell the board is up: http:/PATH or log:REGEX[,timeout=S]")
    g.addoption("--board-binary", default=None, metavar="PATH", help="what {binary} expands to")
    g.addoption("--board-lines", default=None, choices=("control", "none"),
                help="the board reports its lines on the board-line protocol, or not")
    g.addoption("--hil-fixtures", default=None, metavar="DIR",
                help="fixtures directory (meters/, scenarios/); default $OSGP_FIXTURES or "
                     "the checkout's fixtures/")
    g.addoption("--hil-artifacts", default="artifacts", metavar="DIR",
                help="directory for per-test artefacts (default: artifacts/)")


def pytest_configure(config):
    for m in ("scenario(name): start the meter with fixtures/scenarios/<name>.json",
              "profile(name): meter profile (fixtures/meters/<name>.json or a path)",
              "board_args(*args): extra board arguments on the virtual rig",
              "board_opts(**kw): the board description's named args fragments (poll_ms=500)",
              "meter_args(*args): extra mepsim arguments (e.g. --speed 20 for a scenario)",
              "scenario_hold(until=None): the scenario's timeline is held until "
              "meter.ctl.scenario('start'); until='board': until the board program starts "
              "(before its ready probe and provisioning)",
              "bench_only(reason): needs real hardware; skipped on the virtual rig",
              "virtual_only(reason): needs the virtual rig; skipped on a bench"):
        config.addinivalue_line("markers", m)
    fx = config.getoption("--hil-fixtures", default=None)
    if fx:
        if not (Path(fx) / "meters").is_dir():
            raise pytest.UsageError(f"--hil-fixtures: {fx} has no meters/ directory")
        paths.set_fixtures_dir(Path(fx).resolve())
    spec = config.getoption("--rig", default="virtual")
    try:
        rc = virtual_rig() if spec == "virtual" else virtual_time_rig() \
            if spec == "virtual-time" else load_rig(spec)
    except RigError as e:
        raise pytest.UsageError(f"--rig: {e}") from None
    try:
        board = from_options(*(config.getoption(o, default=None) for o in (
            "--board", "--board-command", "--board-ready", "--board-binary", "--board-lines")),
            base_dir=str(config.invocation_params.dir))
    except BoardError as e:
        raise pytest.UsageError(f"--board: {e}") from None
    if board is not None:
        if rc.is_virtual_time:
            from .vtrig import sketch_board_problem, virtual_time_board
            why = sketch_board_problem(board)
            if why:
                raise pytest.UsageError(f"--board: {why}")
            board = virtual_time_board(board)
        rc.board.spec = board
    config._osgp_rig = rc
    art = Path(config.getoption("--hil-artifacts", default="artifacts"))
    if not art.is_absolute():
        art = Path(config.invocation_params.dir) / art
    config._osgp_artifacts = art


def pytest_report_header(config):
    rc = getattr(config, "_osgp_rig", None)
    if rc is None:
        return None
    bname = rc.board.spec.name if rc.board.spec else "mepmod"
    where = f"mepsim PTY + board {bname}" if rc.is_virtual else f"meter UART {rc.meter.uart}"
    if rc.is_virtual_time:
        where = f"mepsim-cosim, meter + {bname} on one virtual clock"
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
    r = Rig(request.config._osgp_rig, _artifact_dir(request.config, request.node.nodeid),
            build_root=request.config._osgp_artifacts / "_build")
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
    bo = request.node.get_closest_marker("board_opts")
    hold = request.node.get_closest_marker("scenario_hold")
    on_spawn = None
    if hold is not None and hold.kwargs.get("until") == "board" and \
            request.node.get_closest_marker("scenario"):
        # the timeline's t=0 is the board's power-up, whatever it took to build it
        on_spawn = lambda: meter.ctl.scenario("start")  # noqa: E731
    return _osgp_rig.board.start(extra=ba.args if ba else (), opts=bo.kwargs if bo else None,
                                 on_spawn=on_spawn)


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
