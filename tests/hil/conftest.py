"""tests/hil: tests of the HIL package itself (hil/osgp_hil), run on the
virtual rig in CI and unchanged on a bench with `--rig bench.yaml`.

Loads the plugin the way a lab's own suite would (pytest_plugins) with
<repo>/hil on sys.path. Run this directory on its own:
    /usr/bin/python3 -m pytest tests/hil [--rig hil/examples/bench.yaml]
(pytest only honours pytest_plugins in the first conftest it loads.)
"""

import sys
from pathlib import Path

HIL = Path(__file__).resolve().parents[2] / "hil"
if str(HIL) not in sys.path:
    sys.path.insert(0, str(HIL))

pytest_plugins = ["osgp_hil.plugin", "pytester"]
