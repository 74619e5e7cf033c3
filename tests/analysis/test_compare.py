"""guardprof compare: catches a real regression, passes a rerun, refuses what it can't compare."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from guardprof.analysis.intervals import FASTER, SAME, SLOWER, UNCLEAR, bootstrap_ratio, verdict
from guardprof.cli.main import main
from guardprof.measure.run import measure
from guardprof.model.run_report import save_report
from tests.conftest import small_spec

# A CI gate should tolerate a rerun on a shared 2-core machine and still catch the regression:
# 4 → 64 guarded tensors per entry multiplies the passing check several times over.
GATE = "50"


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("compare")
    paths = {}
    for name, spec in (
        ("a", small_spec(num_args=4, number=50, repeat=5)),
        ("a_rerun", small_spec(num_args=4, number=50, repeat=5)),
        ("b_more_args", small_spec(num_args=64, number=50, repeat=5)),
    ):
        paths[name] = save_report(measure(spec, cross_check=False), folder / f"{name}.json")
    return paths


def _compare(*args) -> object:
    return CliRunner().invoke(main, ["compare", *map(str, args)])


def _one_error_line(output: str) -> str:
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, output
    return errors[0]


def test_catches_a_real_regression(reports):
    result = _compare(reports["a"], reports["b_more_args"], "--fail-above", GATE)
    assert result.exit_code == 1, result.output
    assert "guard µs/call regressed" in _one_error_line(result.output)
    assert "num_args: 4 → 64" in result.output
    guard_row = next(line for line in result.output.splitlines()
                     if line.strip().startswith("guard µs/call"))
    assert guard_row.rstrip().endswith(SLOWER)
    tensor_match = next(line for line in result.output.splitlines() if "TENSOR_MATCH" in line)
    assert tensor_match.split()[-3:] == ["4", "64", "more"]


def test_passes_a_same_workload_rerun(reports):
    result = _compare(reports["a"], reports["a_rerun"], "--fail-above", GATE)
    assert result.exit_code == 0, result.output
    assert "gate passed" in result.output
    assert "same workload settings on the same environment" in result.output
    counts = result.output.split("Counts (exact, no noise)")[1].split("Per-entry")[0]
    changes = [line.split()[-1] for line in counts.strip().splitlines()[2:]]
    assert changes and set(changes) == {"same"}


def test_metric_option_gates_another_figure(reports):
    result = _compare(reports["a"], reports["b_more_args"], "--metric", "pass-check",
                      "--fail-above", GATE)
    assert result.exit_code == 1 and "pass check µs (median entry) regressed" in result.output
    # Improvements never fail the gate: B → A is faster.
    result = _compare(reports["b_more_args"], reports["a"], "--fail-above", "0")
    assert result.exit_code == 0, result.output


def test_refuses_the_same_file_and_identical_copies(reports, tmp_path):
    result = _compare(reports["a"], reports["a"])
    assert result.exit_code == 2 and "same file" in _one_error_line(result.output)
    copy = shutil.copy(reports["a"], tmp_path / "copy.json")
    result = _compare(reports["a"], copy)
    assert result.exit_code == 2 and "identical contents" in _one_error_line(result.output)


def test_refuses_truncated_and_foreign_json(reports, tmp_path):
    text = Path(reports["a"]).read_text()
    truncated = tmp_path / "truncated.json"
    truncated.write_text(text[: len(text) // 2])
    result = _compare(reports["a"], truncated)
    assert result.exit_code == 1 and "not valid JSON" in _one_error_line(result.output)

    sweep_like = tmp_path / "sweep.json"
    sweep_like.write_text(json.dumps({"report_type": "guardprof-sweep", "points": []}))
    result = _compare(reports["a"], sweep_like)
    assert result.exit_code == 1 and "guardprof-sweep" in _one_error_line(result.output)

    result = _compare(reports["a"], tmp_path / "missing.json")
    assert result.exit_code == 2


def test_other_schema_version_needs_force(reports, tmp_path):
    data = json.loads(Path(reports["a_rerun"]).read_text())
    data["schema_version"] = 999
    other = tmp_path / "v999.json"
    other.write_text(json.dumps(data))
    result = _compare(reports["a"], other)
    assert result.exit_code == 1
    assert "schema_version 999" in _one_error_line(result.output)
    assert "--force" in result.output
    result = _compare(reports["a"], other, "--force")
    assert result.exit_code == 0, result.output
    assert "forced: v999.json: schema_version 999" in result.output


def test_different_workloads_need_force(reports, tmp_path):
    data = json.loads(Path(reports["a_rerun"]).read_text())
    data["workload"].update(kind="target", target="model.py:make", name="make")
    other = tmp_path / "target.json"
    other.write_text(json.dumps(data))
    result = _compare(reports["a"], other)
    assert result.exit_code == 1
    line = _one_error_line(result.output)
    assert "different workloads" in line and "target model.py:make" in line
    result = _compare(reports["a"], other, "--force")
    assert result.exit_code == 0 and "forced: different workloads" in result.output


def test_bad_gate_options(reports):
    result = _compare(reports["a"], reports["a_rerun"], "--fail-above", "-5")
    assert result.exit_code == 2 and "--fail-above must be ≥ 0" in result.output
    result = _compare(reports["a"], reports["a_rerun"], "--metric", "speed")
    assert result.exit_code == 2


# --- intervals and verdicts -----------------------------------------------------------------


def test_bootstrap_interval_reflects_noise():
    rng = np.random.default_rng(3)
    a = 100 + rng.normal(0, 1, 10)
    steady = bootstrap_ratio([a], [a * 1.3], paired=True)
    assert steady.ratio == pytest.approx(1.3) and steady.low == pytest.approx(1.3)
    noisy = bootstrap_ratio([a], [130 + rng.normal(0, 30, 10)])
    assert noisy.high - noisy.low > 0.2  # wide when B's rounds scatter
    assert noisy.low <= noisy.ratio <= noisy.high
    few = bootstrap_ratio([[1.0, 2.0]], [[1.0, 2.0]])
    assert not few.has_interval and "samples" in few.method


def test_pairing_cancels_drift_shared_by_a_round():
    rng = np.random.default_rng(4)
    drift = np.linspace(1.0, 2.0, 10)  # the machine slows during the run
    a = 100 * drift * (1 + rng.normal(0, 0.01, 10))
    b = 120 * drift * (1 + rng.normal(0, 0.01, 10))
    paired = bootstrap_ratio([a], [b], paired=True)
    unpaired = bootstrap_ratio([a], [b])
    assert paired.low == pytest.approx(1.2, abs=0.03)
    assert paired.high - paired.low < (unpaired.high - unpaired.low) / 3


def test_verdicts():
    def est(low, high):
        return bootstrap_ratio([[1, 1, 1]], [[1, 1, 1]]).__class__(1.0, low, high, 0.95, "")

    assert verdict(est(1.2, 1.4), 0.05) == SLOWER
    assert verdict(est(0.6, 0.9), 0.05) == FASTER
    assert verdict(est(0.97, 1.03), 0.05) == SAME
    assert verdict(est(0.9, 1.3), 0.05) == UNCLEAR
