"""Fixtures of the emulator integration tests (helpers: simharness.py).

* `mepsim` is a factory: mepsim(*args) starts the program in the test's tmp
  dir with a control socket and waits until it is ready; at teardown every
  instance is stopped and the test FAILS if it crashed, hung or printed a
  sanitizer report.
* `meter` is one default meter (nes-3ph profile, MAK 16 x 01,
  E = DEFAULT_SEQ, speed 1) with its serial link and control client.
"""

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from simharness import DEFAULT_SEQ, Meter, Mepsim  # noqa: E402


@pytest.fixture
def mepsim(tmp_path):
    """Factory: mepsim(*args, name="mepsim") -> started Mepsim; checked at teardown."""
    started = []

    def start(*args, name="mepsim"):
        sim = Mepsim(tmp_path, [str(a) for a in args], name=name)
        started.append(sim)
        return sim.start()

    yield start
    for sim in started:
        sim.check_clean_exit()


@pytest.fixture
def meter(mepsim):
    """One default meter on meter.pty, E known (DEFAULT_SEQ)."""
    sim = mepsim("--pty", "meter.pty", "--seq-start", hex(DEFAULT_SEQ), "--seed", "1")
    m = Meter(sim)
    # let the 100 ms throttle and start-up settle so the first request is answered at once
    time.sleep(0.12)
    return m
