"""guardprof sweep: a real (tiny) grid on torch.compile(backend="eager"), its fit, its folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from guardprof.analysis.cost_model import ModelInput, fit
from guardprof.cli.main import main
from guardprof.model.run_report import load_report
from guardprof.model.sweep import GUARD_TARGET, OVERHEAD_TARGET

TINY = ["--grid-num-args", "2,32", "--grid-sizes-count", "1,4", "--repeat", "3", "--number", "20"]


def _sweep(*args: str):
    return CliRunner().invoke(main, ["sweep", "--quiet", *args])


@pytest.fixture(scope="module")
def tiny_sweep(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sweep") / "out"
    result = _sweep(*TINY, "-o", str(out))
    assert result.exit_code == 0, result.output
    return out


def test_sweep_writes_points_fit_plot_and_summary(tiny_sweep: Path):
    data = json.loads((tiny_sweep / "sweep.json").read_text())
    assert data["report_type"] == "guardprof-sweep" and data["complete"] and not data["interrupted"]
    points = data["points"]
    assert [(p["num_args"], p["sizes_count"]) for p in points] == [(2, 1), (2, 4), (32, 1),
                                                                   (32, 4)]
    for p in points:
        # K distinct sizes cycle through K entries, so every call walks all of them.
        assert p["entries"] == p["sizes_count"]
        assert p["walk_depth"] == pytest.approx(p["sizes_count"])
        assert p["rejected_per_call"] == pytest.approx(p["sizes_count"] - 1)
        assert p["guard_us_per_call"] > 0 and p["compiled_us_per_call"] > 0
        report = load_report(tiny_sweep / p["report_file"])  # each point's full report loads
        assert report.workload.num_args == p["num_args"]
    by_key = {(p["num_args"], p["sizes_count"]): p for p in points}
    # 16× the guarded tensors and 3 rejected entries per call: several times the guard time
    # (a margin wide enough for a shared machine; the fit below checks each term's sign).
    assert by_key[(32, 4)]["guard_us_per_call"] > 2 * by_key[(2, 1)]["guard_us_per_call"]

    fits = {f["target"]: f for f in data["fits"]}
    assert set(fits) == {GUARD_TARGET, OVERHEAD_TARGET}
    guard = fits[GUARD_TARGET]
    coef = {c["name"]: c["value"] for c in guard["coefficients"]}
    assert coef["us_per_guarded_tensor"] > 0 and coef["us_per_rejected_entry"] > 0
    # Residuals are measured − model, point by point.
    for p, pred, res in zip(points, guard["predicted_us"], guard["residuals_us"], strict=True):
        model = (coef["fixed_us_per_call"] + coef["us_per_guarded_tensor"] * p["num_args"]
                 + coef["us_per_rejected_entry"] * p["rejected_per_call"])
        assert pred == pytest.approx(model)
        assert p["guard_us_per_call"] - pred == pytest.approx(res)

    png = (tiny_sweep / "sweep.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    summary = (tiny_sweep / "summary.txt").read_text()
    assert "per rejected cache entry" in summary and "residuals (measured − model)" in summary


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--grid-num-args", "10,abc"], "'abc' is not an integer"),
        (["--grid-sizes-count", "1,2.5"], "'2.5' is not an integer"),
        (["--grid-num-args", ""], "--grid-num-args is empty"),
        (["--grid-sizes-count", " , "], "--grid-sizes-count is empty"),
        (["--grid-num-args", "0"], "0 is not positive"),
        (["--grid-dynamic", "maybe"], "'maybe' is not a dynamic mode"),
        (["--repeat", "0"], "--repeat must be at least 1"),
    ],
)
def test_bad_grid_is_a_one_line_usage_error(tmp_path, args, message):
    out = tmp_path / "never"
    result = _sweep(*args, "-o", str(out))
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and message in errors[0], result.output
    assert not out.exists()


def test_existing_folder_is_refused_and_left_alone(tmp_path):
    out = tmp_path / "sweep"
    out.mkdir()
    (out / "sweep.json").write_text("an earlier sweep")
    result = _sweep(*TINY, "-o", str(out))
    assert result.exit_code == 2
    assert "folder exists and is not empty; pass --force" in result.output
    assert (out / "sweep.json").read_text() == "an earlier sweep"
    assert sorted(p.name for p in out.iterdir()) == ["sweep.json"]

    a_file = tmp_path / "file"
    a_file.write_text("x")
    result = _sweep(*TINY, "-o", str(a_file))
    assert result.exit_code == 2 and "is not a folder" in result.output
    assert a_file.read_text() == "x"


def test_force_replaces_only_the_sweeps_own_files(tmp_path):
    out = tmp_path / "sweep"
    (out / "points").mkdir(parents=True)
    (out / "points" / "stale.json").write_text("{}")
    (out / "sweep.json").write_text("old")
    (out / "notes.md").write_text("mine")
    result = _sweep("--grid-num-args", "2", "--grid-sizes-count", "1", "--repeat", "3",
                    "--number", "10", "--no-plot", "-o", str(out), "--force")
    assert result.exit_code == 0, result.output
    assert (out / "notes.md").read_text() == "mine"
    assert not (out / "points" / "stale.json").exists()
    assert len(json.loads((out / "sweep.json").read_text())["points"]) == 1
    assert not (out / "sweep.png").exists()  # --no-plot


def test_ctrl_c_keeps_the_points_done(tmp_path):
    out = tmp_path / "sweep"
    cmd = [sys.executable, "-m", "guardprof", "sweep", "--grid-num-args",
           "2,3,4,5,6,7,8,9,10,11,12", "--grid-sizes-count", "1", "--repeat", "3", "--number",
           "3000", "--no-plot", "-o", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if json.loads((out / "sweep.json").read_text())["points"]:
                    break
            except (OSError, ValueError, KeyError):
                pass
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    data = json.loads((out / "sweep.json").read_text())
    assert data["interrupted"] and not data["complete"]
    assert 1 <= len(data["points"]) < data["planned_points"] == 11
    assert "interrupted: kept" in stderr
    for p in data["points"]:
        assert (out / p["report_file"]).is_file()
    assert not [f for f in os.listdir(out) if f.endswith(".tmp")]  # nothing half-written


def test_text_fallback_without_matplotlib(tmp_path):
    out = tmp_path / "sweep"
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"  # as if it were not installed
        "from guardprof.cli.main import main; main()"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, "sweep", "--grid-num-args", "2", "--grid-sizes-count", "1",
         "--repeat", "3", "--number", "10", "-o", str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "matplotlib is not installed" in proc.stdout
    assert not (out / "sweep.png").exists()
    assert "matplotlib is not installed" in (out / "summary.txt").read_text()


# --- the cost model on its own ----------------------------------------------------------------


def test_fit_recovers_known_costs_and_reports_residuals():
    rng = np.random.default_rng(1)
    inputs = []
    for n in (10, 50, 100, 200):
        for k in (1, 2, 4, 8):
            noise = rng.normal(0, 0.05)
            inputs.append(ModelInput(n, k - 1, 1.5 + 0.1 * n + 0.8 * (k - 1) + noise, f"{n}/{k}"))
    f = fit(inputs, "guard", "g")
    values = {c.name: c.value for c in f.coefficients}
    assert values["fixed_us_per_call"] == pytest.approx(1.5, abs=0.1)
    assert values["us_per_guarded_tensor"] == pytest.approx(0.1, abs=0.002)
    assert values["us_per_rejected_entry"] == pytest.approx(0.8, abs=0.02)
    assert all(c.stderr is not None and c.stderr < 0.1 for c in f.coefficients)
    assert f.rms_residual_us < 0.1 and f.r_squared > 0.99


def test_fit_says_what_it_cannot_identify():
    # One entry everywhere (e.g. dynamic=True): the rejected-entry cost cannot be known.
    inputs = [ModelInput(n, 0, 1 + 0.1 * n) for n in (10, 20, 40)]
    f = fit(inputs, "guard", "g")
    rejected = f.coefficient("us_per_rejected_entry")
    assert rejected.value is None and "not identifiable" in rejected.note
    assert f.coefficient("us_per_guarded_tensor").value == pytest.approx(0.1)

    one = fit([ModelInput(10, 1, 3.0)], "guard", "g")
    assert one.note and "the fit is exact" in one.note
    assert one.coefficient("us_per_guarded_tensor").value is None
    nothing = fit([], "guard", "g")
    assert nothing.note and "too few" in nothing.note and nothing.predict(10, 1) is None
    together = fit([ModelInput(n, n / 10, 1 + n) for n in (10, 20, 40)], "guard", "g")
    assert together.note and "vary together" in together.note
