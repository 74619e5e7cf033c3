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


MEASURE_ATTEMPTS = 3  # re-measure policy: this VM's speed drifts by up to 30% in seconds


def test_catches_a_real_regression(reports, tmp_path):
    """The regression never passes; it fails the gate unless the runs' noise figures made the
    interval straddle (exit 3), and then A and B are measured again, up to MEASURE_ATTEMPTS.
    When every attempt was refused because a run was made on a noisy machine (the product's
    own noise figure, printed), the catch cannot be shown here: skipped, with that figure."""
    a, b = reports["a"], reports["b_more_args"]
    noisy_every_time = True
    for attempt in range(MEASURE_ATTEMPTS):
        result = _compare(a, b, "--fail-above", GATE)
        assert result.exit_code in (1, 3), result.output
        if result.exit_code == 1:
            break
        noisy_every_time &= "ran on a noisy machine" in result.output
        a, b = (save_report(measure(small_spec(num_args=n, number=50, repeat=5),
                                    cross_check=False), tmp_path / f"{n}-{attempt}.json")
                for n in (4, 64))
    if result.exit_code == 3 and noisy_every_time:
        pytest.skip(f"every run was made on a noisy machine: {_one_error_line(result.output)}")
    assert result.exit_code == 1, result.output
    assert "guard µs/call (in situ) regressed" in _one_error_line(result.output)
    assert "num_args: 4 → 64" in result.output
    guard_row = next(line for line in result.output.splitlines()
                     if line.strip().startswith("guard µs/call"))
    assert guard_row.rstrip().endswith(SLOWER)
    tensor_match = next(line for line in result.output.splitlines() if "TENSOR_MATCH" in line)
    assert tensor_match.split()[-3:] == ["4", "64", "more"]


def _passed_or_noisy(result) -> None:
    """A rerun must never fail: it passes, or the gate cannot decide (a run was noisy, or the
    interval straddles: on this VM one run's guard figure once read 1.77× its rerun's, in the
    same process, with the thread never off the CPU)."""
    assert result.exit_code in (0, 3), result.output
    if result.exit_code == 0:
        assert "gate passed" in result.output
    else:
        assert "cannot decide" in _one_error_line(result.output)


def test_passes_a_same_workload_rerun(reports):
    result = _compare(reports["a"], reports["a_rerun"], "--fail-above", GATE)
    _passed_or_noisy(result)
    assert "same workload settings on the same environment" in result.output
    counts = result.output.split("Counts (exact, no noise)")[1].split("Per-entry")[0]
    changes = [line.split()[-1] for line in counts.strip().splitlines()[2:]]
    assert changes and set(changes) == {"same"}


def test_metric_option_gates_another_figure(reports):
    result = _compare(reports["a"], reports["b_more_args"], "--metric", "guard-accepted",
                      "--fail-above", GATE)
    assert result.exit_code in (1, 3), result.output
    if result.exit_code == 1:
        assert "accepted entry µs/call (replayed) regressed" in result.output
    # Improvements never fail the gate: B → A is faster.
    _passed_or_noisy(_compare(reports["b_more_args"], reports["a"], "--fail-above", "0"))
    # A spread across entries is the workload's structure, not repetitions: not a gate.
    result = _compare(reports["a"], reports["b_more_args"], "--metric", "pass-check",
                      "--fail-above", GATE)
    assert result.exit_code == 2 and "not repetitions" in _one_error_line(result.output)


def _with_noise(path: Path, out: Path, *, off_cpu: float = 0.0, level: float = 1.0) -> Path:
    """A copy of a saved run whose noise figures say the machine was loaded: `off_cpu` of the
    timed wall time off the CPU, or its reference loop `level` times as slow."""
    data = json.loads(path.read_text())
    noise = data["noise"]
    noise["cpu_s"] = [w * (1 - off_cpu) for w in noise["wall_s"]]
    noise["python_us"]["samples"] = [v * level for v in noise["python_us"]["samples"]]
    noise["python_us"]["median"] *= level
    data["result_line"] += " "  # not byte-identical to its source
    out.write_text(json.dumps(data))
    return out


def test_a_noisy_run_cannot_be_gated_either_way(reports, tmp_path):
    noisy_a = _with_noise(reports["a"], tmp_path / "a_noisy.json", off_cpu=0.3)
    # The regression does not pass, the rerun does not fail: the gate cannot decide (exit 3).
    for a, b in ((noisy_a, reports["b_more_args"]), (reports["a_rerun"], noisy_a)):
        result = _compare(a, b, "--fail-above", GATE)
        assert result.exit_code == 3, result.output
        line = _one_error_line(result.output)
        assert "noisy machine" in line, line
    result = _compare(noisy_a, reports["b_more_args"])
    assert "NOISY: off the CPU 30.0%" in result.output


def test_a_machine_that_ran_slower_for_one_run_does_not_fail_a_rerun(reports, tmp_path):
    """B's machine ran 1.3× slower (its reference loop says so) and so did its guard figure:
    without the run-to-run term a 10% gate would fail; with it, the interval reaches 1."""
    slow_b = _with_noise(reports["a_rerun"], tmp_path / "slow.json", level=1.3)
    data = json.loads(slow_b.read_text())
    for block in data["guard_cost"]["blocks"]:
        block["rejected_us"] = [v * 1.3 for v in block["rejected_us"]]
        block["accepted_us"] = [v * 1.3 for v in block["accepted_us"]]
    slow_b.write_text(json.dumps(data))
    result = _compare(reports["a"], slow_b, "--fail-above", "10")
    assert result.exit_code in (0, 3), result.output
    assert "run to run: ±" in result.output


def test_saved_intervals_come_from_the_kept_repetitions(reports):
    """The guard row's interval is the bootstrap over each run's in-situ rounds (at least 10),
    widened by the run-to-run term, as the method line says; the replayed row's over the replay
    blocks (not the spread across the iteration's calls)."""
    from guardprof.analysis.compare import compare_reports, load_for_compare, widen
    from guardprof.analysis.intervals import median_of

    a, _ = load_for_compare(reports["a"], False)
    b, _ = load_for_compare(reports["b_more_args"], False)
    c = compare_reports(a, b)
    rounds = [r.in_situ.rounds_us for r in (a, b)]
    assert min(len(rounds[0]), len(rounds[1])) >= 10
    expected = widen(bootstrap_ratio([rounds[0]], [rounds[1]], median_of), c.run_to_run.term)
    row = c.row("guard")
    assert (row.estimate.low, row.estimate.high) == (expected.low, expected.high)
    assert c.run_to_run.term == abs(b.noise.python_us.median / a.noise.python_us.median - 1)
    assert "in-situ rounds" in row.interval_source
    blocks = [[blk.total_us_per_call for blk in r.guard_cost.blocks] for r in (a, b)]
    assert len(blocks[0]) == len(blocks[1]) == 3
    expected = widen(bootstrap_ratio([blocks[0]], [blocks[1]], median_of), c.run_to_run.term)
    row = c.row("guard-replayed")
    assert (row.estimate.low, row.estimate.high) == (expected.low, expected.high)
    assert "replay blocks" in row.interval_source


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
