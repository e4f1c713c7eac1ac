"""The rig's clock: what a test waits on and stamps its samples with.

``WallClock`` on the real-time rigs (mepsim on a PTY, a bench): ``now()`` is
``time.time()``, ``sleep(dt)`` sleeps. ``VirtualClock`` on the virtual-time
rig (one ``mepsim-cosim --control-stdio``, osgp_hil.cosim): ``now()`` is the
co-simulation's virtual time in seconds and ``sleep(dt)`` runs the meter and
the firmware for dt virtual seconds, at once. A test written against
``rig.clock`` (tests/hil/scenario_checks.py) runs unchanged on both; its
budgets are then in virtual seconds.
"""

import time


class WallClock:
    virtual = False

    def now(self):
        return time.time()

    def sleep(self, dt):
        if dt > 0:
            time.sleep(dt)


class VirtualClock:
    """Virtual seconds of one co-simulation; `cosim` is a function returning
    its osgp_hil.cosim.Cosim (started on first use)."""

    virtual = True

    def __init__(self, cosim):
        self._cosim = cosim

    def now(self):
        return self._cosim().t

    def sleep(self, dt):
        if dt > 0:
            self._cosim().advance(dt)
