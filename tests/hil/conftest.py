"""tests/hil: tests of the HIL package itself (hil/osgp_hil) and the scenario
suite, run on the virtual rig in CI and unchanged on a bench with
`--rig bench.yaml` or against another board with `--board FILE` /
`--board-command CMD`.

The osgp_hil package must be importable: installed (`pip install
--no-build-isolation --break-system-packages ./hil`; its pytest11 entry
point then loads the plugin) or PYTHONPATH=hil (then this file loads it).
Run this directory as its own pytest invocation:
    /usr/bin/python3 -m pytest tests/hil [--rig hil/examples/bench.yaml]
(pytest only honours pytest_plugins in the first conftest it loads.)
"""

from osgp_hil import entry_point_active

pytest_plugins = ["pytester"] + ([] if entry_point_active() else ["osgp_hil.plugin"])
