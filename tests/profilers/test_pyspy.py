"""`guardprof profile --flame`: real py-spy on real processes (root can ptrace here)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner

from guardprof.cli.main import main
from guardprof.errors import GuardprofError
from guardprof.profilers.pyspy import find_pyspy
from guardprof.profilers.sampled_stacks import (
    analyse,
    guard_kind,
    load_stacks,
    lookup_start,
    parse_raw,
)
from tests.profilers.test_cprofile import SMALL_ARGS

try:
    PYSPY = find_pyspy()
except GuardprofError:
    PYSPY = None
needs_pyspy = pytest.mark.skipif(PYSPY is None, reason="py-spy not available")
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def busy_python():
    """A plain Python process (no torch) spinning for a while: something to attach to."""
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import time
        end = time.time() + 60
        while time.time() < end:
            sum(range(1000))
    """)])
    time.sleep(0.3)
    yield proc.pid
    proc.kill()
    proc.wait()


def _shim(tmp_path, body: str):
    """A py-spy wrapper script: real py-spy, run differently (another user, another build)."""
    path = tmp_path / "py-spy"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return str(path)


@needs_pyspy
def test_flame_graph_of_the_hot_loop(tmp_path):
    out = tmp_path / "flame.svg"
    result = CliRunner().invoke(main, ["profile", "--flame", *SMALL_ARGS, "--rate", "200",
                                       "--duration", "2", "-o", str(out)])
    assert result.exit_code == 0, result.output
    svg = ET.parse(out).getroot()  # valid XML
    titles = [t.text or "" for t in svg.iter(f"{SVG}title")]
    assert any(t.startswith("lookup (") for t in titles), "no cache-lookup frame in the SVG"
    assert any("GuardManager::check" in t for t in titles), "no guard-manager frame in the SVG"
    assert "samples not under guardprof_sampled_hot_loop dropped" in result.output
    assert "loop µs/call: unsampled" in result.output and "sampled" in result.output
    assert "Guard share — sampled:" in result.output
    assert "in situ:" in result.output and "sampled / in =" not in result.output
    assert "sampled / in situ =" in result.output
    assert "Where the cache-lookup samples were" in result.output
    assert "py-spy reported" not in result.output  # the SVG was read back whole
    stacks = load_stacks(out, "flamegraph")
    analysis = analyse(stacks, loop_marker="guardprof_sampled_hot_loop")
    assert analysis.lookup > 0
    # py-spy records from attach to stop: a sample or two can land just before the worker enters
    # the loop or after it leaves; those are the ones the summary drops, never a real share.
    outside = analysis.outside_loop_excluded + analysis.compile_excluded
    assert analysis.loop + outside == analysis.total
    assert outside <= max(2, 0.02 * analysis.total), analysis


@needs_pyspy
def test_speedscope_of_a_running_process(tmp_path, busy_python):
    out = tmp_path / "run.speedscope.json"
    result = CliRunner().invoke(main, ["profile", "--flame", "--pid", str(busy_python),
                                       "--duration", "1", "--format", "speedscope",
                                       "-o", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    # required by https://www.speedscope.app/file-format-schema.json
    assert data["$schema"] == "https://www.speedscope.app/file-format-schema.json"
    assert all("name" in frame for frame in data["shared"]["frames"])
    for profile in data["profiles"]:
        for key in ("type", "name", "unit", "startValue", "endValue", "samples", "weights"):
            assert key in profile
    assert sum(len(p["samples"]) for p in data["profiles"]) > 0
    assert "has a dynamo frame — this process may not use torch.compile" in result.output


@needs_pyspy
def test_raw_stacks_of_a_launched_program(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent("""
        import time, torch
        @torch.compile(backend="eager")
        def step(*xs):
            return sum(x * 2 for x in xs)
        batches = [[torch.randn(n) for _ in range(16)] for n in (3, 5, 7, 9)]
        for b in batches:
            step(*b)
        end = time.time() + 2.5
        while time.time() < end:
            for b in batches:
                step(*b)
    """))
    out = tmp_path / "stacks.txt"
    result = CliRunner().invoke(main, ["profile", "--flame", "--format", "raw", "-o", str(out),
                                       "--rate", "200", "--", sys.executable, str(script)])
    assert result.exit_code == 0, result.output
    stacks = parse_raw(out.read_text())  # every line 'frame;…;frame COUNT'
    assert sum(stacks.values()) > 0
    assert any(lookup_start(stack) is not None for stack in stacks)
    assert "Guard share — sampled:" in result.output
    assert "no replayed figure" in result.output


def test_guard_kind_reads_native_frames():
    stack = ("lookup (libtorch_python.so)",
             "torch::dynamo::(anonymous namespace)::RootGuardManager::check_nopybind_template"
             "<FrameLocalsMapping> (libtorch_python.so)",
             "torch::dynamo::(anonymous namespace)::GuardManager::check_nopybind "
             "(libtorch_python.so)",
             "torch::dynamo::TensorCheck::check (libtorch_python.so)",
             "c10::SymInt::operator!= (libc10.so)")
    assert guard_kind(stack) == ("TensorCheck::check", None)
    lam = ("lookup (libtorch_python.so)",
           "torch::dynamo::(anonymous namespace)::LAMBDA_GUARD::check_nopybind "
           "(libtorch_python.so)",
           "GuardBuilder.AUTOGRAD_SAVED_TENSORS_HOOKS.<locals>.fn (torch/_dynamo/guards.py:2546)")
    assert guard_kind(lam) == ("LAMBDA_GUARD::check_nopybind",
                               "GuardBuilder.AUTOGRAD_SAVED_TENSORS_HOOKS.<locals>.fn "
                               "(torch/_dynamo/guards.py)")


# --- errors ---------------------------------------------------------------------------------


def test_pyspy_missing(tmp_path):
    result = CliRunner().invoke(main, ["profile", "--flame", "--py-spy",
                                       str(tmp_path / "no-py-spy"), "-o", str(tmp_path / "f.svg")])
    assert result.exit_code == 1
    assert "py-spy not found" in result.output and "pip install py-spy" in result.output
    assert "without --flame" in result.output
    assert len(result.output.strip().splitlines()) == 1


@needs_pyspy
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root and setpriv to run py-spy as an unprivileged user")
def test_ptrace_denied(tmp_path, busy_python):
    as_nobody = _shim(tmp_path, f'exec setpriv --reuid=65534 --regid=65534 --clear-groups '
                                f'{PYSPY.executable} "$@"')
    out = tmp_path / "f.svg"
    result = CliRunner().invoke(main, ["profile", "--flame", "--pid", str(busy_python),
                                       "--duration", "1", "--py-spy", as_nobody, "-o", str(out)])
    assert result.exit_code == 1
    assert "not permitted to trace" in result.output
    for fix in ("root", "--cap-add SYS_PTRACE", "kernel.yama.ptrace_scope", "without --flame"):
        assert fix in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists() and not list(tmp_path.glob(".f.svg.*"))  # nothing half-written


@needs_pyspy
def test_native_unavailable_falls_back_to_python_frames(tmp_path, busy_python):
    # A py-spy built without native unwinding has no --native in its help: real py-spy,
    # its help filtered as such a build prints it.
    no_native = _shim(tmp_path, textwrap.dedent(f"""
        if [ "$1" = record ] && [ "$2" = --help ]; then
            {PYSPY.executable} record --help | grep -v -- '--native'
            exit 0
        fi
        exec {PYSPY.executable} "$@"
    """))
    out = tmp_path / "f.svg"
    result = CliRunner().invoke(main, ["profile", "--flame", "--pid", str(busy_python),
                                       "--duration", "1", "--py-spy", no_native, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "has no --native: recorded Python frames only" in result.output
    assert "Python frames only" in result.output.splitlines()[0]
    ET.parse(out)


@needs_pyspy
def test_no_such_pid(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # a pid that just ended
    result = CliRunner().invoke(main, ["profile", "--flame", "--pid", str(proc.pid),
                                       "-o", str(tmp_path / "f.svg")])
    assert result.exit_code == 2 and "no such process" in result.output


@pytest.mark.parametrize("args, message", [
    (["--flame", "--pid", "1", "--", "python", "x.py"], "either --pid or a command"),
    (["--flame", "--pid", "1", "--backend", "eager"], "--backend describes a guardprof workload"),
    (["--flame", "--pid", "1", "--json", "r.json"], "--json describes a guardprof workload"),
])
def test_mode_usage_errors(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["profile", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_default_output_is_not_overwritten(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "guardprof-flame.svg").write_text("<svg/>")
    result = CliRunner().invoke(main, ["profile", "--flame"])
    assert result.exit_code == 1
    assert "guardprof-flame.svg exists: pass --force" in result.output
    assert (tmp_path / "guardprof-flame.svg").read_text() == "<svg/>"
