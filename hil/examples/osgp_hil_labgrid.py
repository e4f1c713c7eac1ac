"""Import shim for labgrid environment files (`imports: [osgp_hil_labgrid.py]`).

labgrid 0.4.1 loads a .py import with SourceFileLoader under the file's base
name; this file puts <repo>/hil on sys.path and imports the real module once
by its package name, so MepMeterEmulator / MepMeterDriver are registered with
labgrid's target factory exactly once however many environments load it.
"""

import sys
from pathlib import Path

_HIL = str(Path(__file__).resolve().parents[1])
if _HIL not in sys.path:
    sys.path.insert(0, _HIL)

import osgp_hil.labgrid  # noqa: E402,F401  (registers the classes)
