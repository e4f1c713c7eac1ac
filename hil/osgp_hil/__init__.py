"""osgp_hil: put any module firmware in the loop with an emulated OSGP meter,
on a PC (the virtual rig) or on a bench with the real board.

The same pytest tests run on two rigs:

* the built-in ``virtual`` rig: mepsim on a pseudo-terminal is the meter and
  a board program is the module: mepmod (the project's firmware host port)
  by default, or any program a board description names (``--board``,
  ``--board-command``; ``boards.py``);
* a bench rig described in a YAML file (``pytest --rig bench.yaml``): mepsim
  drives a USB-serial adapter wired to the real board's MEP connector, the
  adapter's modem lines sense the board's transceiver/ENABLE lines and drive
  its reset or supply relay, and the board's outputs are reached over its
  console UART, HTTP and MQTT.

Modules: ``harness`` (the Meter / Board / Rig objects), ``plugin`` (the
pytest plugin, entry point ``osgp_hil``), ``rig`` (rig description, strict
validation), ``boards`` (board descriptions; ``boards/*.yaml`` shipped), ``build``
(a description's program built once per session),
``boardline`` (the board-line protocol, docs/board-line-protocol.md),
``contract`` (module JSON contract and HA rules), ``mepsim_control``
(control-socket client), ``paths`` (programs and fixtures), ``procs``
(child processes), ``modem`` (modem-line sensing and pulses), ``trace``
(per-test meter-line trace), ``link`` / ``mepframe`` (a scripted module
end: raw MEP frames), and ``labgrid`` (a labgrid resource and driver).
"""

__version__ = "0.2.0"
__all__ = ["harness", "plugin", "rig", "boards", "build", "boardline", "contract", "mepsim_control",
           "paths", "procs", "modem", "trace", "link", "mepframe"]


def entry_point_active():
    """True when pytest loads the plugin by itself (the package is installed
    with its pytest11 entry point and autoloading is on)."""
    import os
    from importlib.metadata import entry_points
    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        return False
    return any(ep.name == "osgp_hil" for ep in entry_points(group="pytest11"))


def plugin_args():
    """pytest arguments that load the plugin exactly once: none when the
    entry point does it, else ``-p osgp_hil.plugin`` (PYTHONPATH=hil)."""
    return [] if entry_point_active() else ["-p", "osgp_hil.plugin"]
