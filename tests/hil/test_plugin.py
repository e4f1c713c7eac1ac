"""The pytest plugin seen from outside: inner pytest runs (pytester) with
--rig, markers, artefact directories, failure.txt and JUnit XML."""

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from osgp_hil import plugin_args
from osgp_hil.paths import binary_or_none

needs_mepsim = pytest.mark.skipif(binary_or_none("mepsim") is None,
                                  reason="mepsim not built (set MEPSIM_BIN)")
PLUGIN = plugin_args()

MARKERS = '''
import pytest

@pytest.mark.bench_only(reason="needs the relay")
def test_bench():
    pass

@pytest.mark.virtual_only(reason="reads mepmod's log")
def test_virtual():
    pass

def test_config(rig_config):
    assert rig_config.kind in ("virtual", "bench")
'''


def bench_file(tmp_path):
    dev = tmp_path / "ttyFAKE"
    dev.write_text("")
    f = tmp_path / "rig.yaml"
    f.write_text(f"kind: bench\nmeter:\n  uart: {dev}\nboard:\n  http: http://127.0.0.1:9\n")
    return f


def test_markers_skip_by_rig_kind(pytester, tmp_path):
    pytester.makepyfile(test_m=MARKERS)
    r = pytester.runpytest(*PLUGIN, "-rs")
    r.assert_outcomes(passed=2, skipped=1)
    r.stdout.fnmatch_lines(["osgp-hil rig: virtual*", "SKIPPED*test_m.py:*: bench only: needs the relay*"])
    r = pytester.runpytest(*PLUGIN, "-rs", "--rig", str(bench_file(tmp_path)))
    r.assert_outcomes(passed=2, skipped=1)
    r.stdout.fnmatch_lines(["osgp-hil rig: rig (bench*", "*virtual rig only: reads mepmod's log*"])


def test_bad_rig_file_is_a_usage_error_naming_the_key(pytester, tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("kind: bench\nmeter:\n  uart: /dev/null\n  baudrate: 9600\n")
    pytester.makepyfile(test_m=MARKERS)
    r = pytester.runpytest(*PLUGIN, "--rig", str(f))
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    r.stderr.fnmatch_lines(["*--rig: *bad.yaml: $.meter.baudrate: unknown key*"])


FAILING = '''
def test_reads_then_fails(meter):
    assert meter.truth()["ok"]
    assert False, "deliberate failure for the artefact test"
'''


@needs_mepsim
def test_failed_test_leaves_artefacts_and_junit_property(pytester, tmp_path):
    pytester.makepyfile(test_fail=FAILING)
    art = tmp_path / "art"
    xml = tmp_path / "junit.xml"
    r = pytester.runpytest(*PLUGIN, "--hil-artifacts", str(art),
                           f"--junitxml={xml}")
    r.assert_outcomes(failed=1)
    d = art / "test_fail" / "test_reads_then_fails"
    assert "deliberate failure" in (d / "failure.txt").read_text()
    assert "mepsim: ready" in (d / "mepsim.out").read_text()
    assert (d / "trace.txt").exists()
    props = {p.get("name"): p.get("value") for p in ET.parse(xml).iter("property")}
    assert Path(props["hil_artifacts"]) == d and props["hil_rig"] == "virtual"


@needs_mepsim
def test_crashed_process_fails_the_test(pytester):
    pytester.makepyfile(test_crash='''
import signal
def test_meter_dies(meter):
    meter.proc.p.send_signal(signal.SIGABRT)
    meter.proc.p.wait(10)
''')
    r = pytester.runpytest(*PLUGIN)
    r.assert_outcomes(passed=1, errors=1)
    r.stdout.fnmatch_lines(["*mepsim: killed by signal 6*"])
