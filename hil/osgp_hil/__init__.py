"""osgp_hil: run the emulator's test suite against a real board on a bench.

The same pytest tests run on two rigs:

* the built-in ``virtual`` rig: mepsim on a pseudo-terminal is the meter and
  mepmod (the firmware's POSIX port) is the board, exactly like CI;
* a bench rig described in a YAML file (``pytest --rig bench.yaml``): mepsim
  drives a USB-serial adapter wired to the real board's MEP connector, the
  adapter's modem lines sense the board's transceiver/ENABLE lines and drive
  its reset or supply relay, and the board's outputs are reached over its
  console UART, HTTP and MQTT.

Modules: ``rig`` (rig description, strict validation), ``modem`` (modem-line
sensing and pulses over pyserial, injectable), ``trace`` (per-test meter-line
trace), ``procs`` (child processes), ``fixtures`` (the Meter / Board / Rig
objects behind the fixtures), ``plugin`` (the pytest plugin) and
``labgrid`` (a labgrid resource and driver for the emulated meter).
"""

__all__ = ["rig", "modem", "trace", "procs", "fixtures", "plugin"]
