"""tests/hil: tests of the HIL package itself (hil/osgp_hil) and the scenario
suite, run on the virtual rig in CI and unchanged on a bench with
`--rig bench.yaml` or against another board with `--board FILE` /
`--board-command CMD`.

The osgp_hil package must be importable: installed (`pip install
--no-build-isolation --break-system-packages ./hil`; its pytest11 entry
point then loads the plugin) or PYTHONPATH=hil (then this file loads it).
Run this directory as its own pytest invocation:
    /usr/bin/python3 -m pytest tests/hil [--rig hil/examples/bench.yaml]
The scenario suite in virtual time (mepsim-cosim, meter and our firmware
core on one clock; hil/README.md "The virtual-time rig"):
    /usr/bin/python3 -m pytest tests/hil/test_scenarios.py --rig virtual-time
(pytest only honours pytest_plugins in the first conftest it loads.)
"""

import pytest

from osgp_hil import entry_point_active

pytest_plugins = ["pytester"] + ([] if entry_point_active() else ["osgp_hil.plugin"])


@pytest.hookimpl(trylast=True)   # after the plugin has read --rig
def pytest_configure(config):
    rc = getattr(config, "_osgp_rig", None)
    if rc is not None and rc.is_virtual_time:
        # meter and firmware on one virtual clock: the meter at speed 1,
        # budgets in virtual seconds (scenario_checks.speed_for)
        import scenario_checks
        scenario_checks.VIRTUAL_TIME = True
    config.addinivalue_line(
        "markers", "representative: one scenario per fault family plus the kWh spike scenarios "
                   "(tests/hil/scenario_checks.py REPRESENTATIVE); CI's subset for slow boards")


def pytest_collection_modifyitems(config, items):
    """A board description naming a scenario that does not exist is a usage
    error (a typo would otherwise silently claim or skip nothing)."""
    rc = getattr(config, "_osgp_rig", None)
    spec = rc.board.spec if rc is not None else None
    if spec is None or not spec.scenario_names() or \
            not any(i.fspath.basename == "test_scenarios.py" for i in items):
        return
    import scenario_checks
    unknown = sorted(spec.scenario_names() - set(scenario_checks.scenario_names()))
    if unknown:
        raise pytest.UsageError(f"--board: {spec.source}: scenarios: no such scenario "
                                f"{', '.join(unknown)} (fixtures/scenarios/NAME.json)")
