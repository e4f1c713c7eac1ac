"""Import shim for labgrid environment files (`imports: [osgp_hil_labgrid.py]`).

labgrid 0.4.1 loads a .py import with SourceFileLoader under the file's base
name; this file imports the real module once by its package name, so
MepMeterEmulator / MepMeterDriver are registered with labgrid's target
factory exactly once however many environments load it. The osgp_hil
package must be importable (`pip install ./hil`, or PYTHONPATH=hil).
"""

import osgp_hil.labgrid  # noqa: F401  (registers the classes)
