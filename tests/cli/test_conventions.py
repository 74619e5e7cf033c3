"""What every command shares: exit codes (0/1/2/130), one JSON envelope that loads back, the
right command named for the wrong file, and option conflicts refused before any slow work."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from guardprof.cli.main import main
from guardprof.model import envelope
from guardprof.model.run_report import save_report

SMALL = ["--backend", "eager", "--num-args", "4", "--sizes", "4,8", "--repeat", "3",
         "--number", "10"]


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def error_line(result, code: int) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return [line for line in result.output.splitlines() if line.strip()][-1]


@pytest.fixture(scope="module")
def saved(tmp_path_factory, standard_small_report) -> dict[str, Path]:
    """One file of each report type guardprof writes."""
    folder = tmp_path_factory.mktemp("envelope")
    files = {"run": save_report(standard_small_report, folder / "run.json")}
    files["guards"] = folder / "guards.json"
    assert invoke("guards", *SMALL[:6], "--json", str(files["guards"]), "-q").exit_code == 0
    sweep = folder / "sweep"
    result = invoke("sweep", "-q", "--grid-num-args", "2", "--grid-sizes-count", "1",
                    "--repeat", "3", "--number", "10", "--no-plot", "-o", str(sweep))
    assert result.exit_code == 0, result.output
    files["sweep"] = sweep / "sweep.json"
    return files


def test_every_report_type_carries_the_envelope(saved):
    for name, path in saved.items():
        data = json.loads(path.read_text())
        assert data["schema_version"] == envelope.SCHEMA_VERSION, name
        assert data["report_type"] == f"guardprof-{name}", name
        assert not [k for k in data if k.endswith("_schema_version")], name  # one key only


def test_each_file_loads_back_where_it_renders(saved):
    assert invoke("run", "--load", str(saved["run"])).exit_code == 0
    assert invoke("guards", "--load", str(saved["guards"])).exit_code == 0
    again = invoke("sweep", "--load", str(saved["sweep"].parent))
    assert again.exit_code == 0 and "per rejected cache entry" in again.output, again.output
    quiet = invoke("sweep", "--load", str(saved["sweep"]), "-q")
    assert quiet.output.startswith("point 1/1 args=2 sizes=1"), quiet.output


@pytest.mark.parametrize(("command", "wrong", "names"), [
    (["run", "--load"], "guards", "guardprof guards --load"),
    (["guards", "--load"], "run", "guardprof run --load"),
    (["sweep", "--load"], "run", "guardprof run --load"),
    (["report"], "sweep", "guardprof sweep --load"),
    (["compare"], "guards", "guardprof guards --load"),
])
def test_the_wrong_file_names_the_command_that_reads_it(saved, tmp_path, command, wrong, names):
    args = [*command, str(saved[wrong])]
    if command == ["compare"]:
        args.append(str(saved["run"]))
    if command == ["report"]:
        args += ["-o", str(tmp_path / "r.html")]
    line = error_line(invoke(*args), 1)
    assert names in line and f"guardprof-{wrong}" in line


def test_auto_dynamic_with_dynamic_is_a_usage_error():
    for flag in ("--dynamic", "--no-dynamic"):
        line = error_line(invoke("run", "--auto-dynamic", flag, "--backend", "eager"), 2)
        assert "cannot be combined" in line


def test_entry_ids_are_checked_before_the_slow_work():
    start = time.perf_counter()
    line = error_line(invoke("guards", "--entry", "three"), 2)
    assert "is not a compile id" in line
    line = error_line(invoke("guards", "--diff", "0/1", "x"), 2)
    assert "'x' is not a compile id" in line
    assert time.perf_counter() - start < 5  # nothing was compiled


def test_report_keeps_an_existing_default_output(saved, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("guardprof-report.html").write_text("an earlier report")
    line = error_line(invoke("report", str(saved["run"])), 1)
    assert "--force" in line
    assert Path("guardprof-report.html").read_text() == "an earlier report"
    assert invoke("report", str(saved["run"]), "--force").exit_code == 0
    assert Path("guardprof-report.html").read_text().startswith("<!DOCTYPE html>")


def test_ctrl_c_exits_130_in_run():
    proc = subprocess.Popen(
        [sys.executable, "-m", "guardprof", "run", "--backend", "eager", "--num-args", "8",
         "--sizes", "4,8", "--number", "20000", "--repeat", "50", "--no-cross-check"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(6)  # past imports and warm-up, into the timing rounds
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Aborted!" not in stderr and "Traceback" not in stderr


def test_an_older_torch_is_refused_in_one_line(monkeypatch):
    import torch

    monkeypatch.setattr(torch, "__version__", torch.torch_version.TorchVersion("2.10.0"))
    line = error_line(invoke("run", *SMALL), 1)
    assert "guardprof needs torch >= 2.11, found 2.10.0" in line
