"""Fixtures of the emulator and firmware integration tests.

The harness is the osgp_hil package (hil/): install it (`pip install
--no-build-isolation --break-system-packages ./hil`) or run with
PYTHONPATH=hil. Helpers tests import: `osgp_hil.harness` (Meter, Board, Rig),
`osgp_hil.link` (SerialLink, RawModule), `osgp_hil.mepframe`, and
`fwfixtures` here for the firmware tests.

* `mepsim` is a factory: mepsim(*args) starts the program in the test's tmp
  dir with a control socket and waits until it is ready; at teardown every
  instance is stopped and the test FAILS if it crashed, hung or printed a
  sanitizer report.
* `meter` is a scripted module on one default meter (nes-3ph profile, MAK
  16 x 01, E = DEFAULT_SEQ, speed 1): its link, control client and sequence
  counter (`RawModule`).
"""

import time

import pytest

try:
    from osgp_hil.harness import Meter
    from osgp_hil.link import DEFAULT_SEQ, RawModule
except ImportError as e:          # say how to get the harness, not just "no module"
    raise ImportError(f"{e}: the integration tests use the osgp_hil package; install it "
                      f"(pip install --no-build-isolation --break-system-packages ./hil) "
                      f"or run with PYTHONPATH=hil") from None


@pytest.fixture
def mepsim(tmp_path):
    """Factory: mepsim(*args, name="mepsim") -> started Meter; checked at teardown."""
    started = []

    def start(*args, name="mepsim"):
        sim = Meter(tmp_path, name=name)
        started.append(sim)
        return sim.start(args=args)

    yield start
    errors = []
    for sim in started:
        try:
            sim.check_clean_exit()
        except AssertionError as e:
            errors.append(str(e))
    if errors:
        pytest.fail("\n".join(errors), pytrace=False)


@pytest.fixture
def meter(mepsim):
    """A scripted module on one default meter on meter.pty, E known (DEFAULT_SEQ)."""
    sim = mepsim("--pty", "meter.pty", "--seq-start", hex(DEFAULT_SEQ), "--seed", "1")
    m = RawModule(sim)
    # let the 100 ms throttle and start-up settle so the first request is answered at once
    time.sleep(0.12)
    return m
