"""`guardprof compare --a … --b …`: A and B run alternately as fresh processes, gated on pairs.

Real runs: a real regression (4 → 32 tensor args) is caught; the same configuration on both
sides never fails the gate (it may say it cannot decide: exit 3). Usage errors come before any
run. The adaptive pair count (more pairs while undecided, up to --max-pairs or --budget) is
checked with a stand-in Python that writes a report summary at once (real runs would take
minutes to reach those limits). The CPU-hog reliability benchmark is scripts/gate_reliability.py;
tests/experiments/test_gate_reliability.py runs one trial of it.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap

import pytest
from click.testing import CliRunner

from guardprof.cli.main import main

TINY = "--backend eager --sizes 4,8,12 --number 20 --repeat 3"


def invoke(*args: str):
    return CliRunner().invoke(main, ["compare", *args])


def test_a_real_regression_is_caught():
    result = invoke("--a", f"{TINY} --num-args 4", "--b", f"{TINY} --num-args 32",
                    "--pairs", "3", "--fail-above", "10")
    assert result.exit_code == 1, result.output
    assert "regressed" in result.output and "3 pairs" in result.output
    assert result.output.count(" AB ") + result.output.count(" BA ") == 3  # alternated


def test_the_same_configuration_never_fails():
    result = invoke("--a", f"{TINY} --num-args 8", "--b", f"{TINY} --num-args 8",
                    "--pairs", "3", "--fail-above", "10")
    assert result.exit_code in (0, 3), result.output
    assert ("gate passed" in result.output) or ("cannot decide" in result.output)


@pytest.mark.parametrize(("args", "message"), [
    (["--a", "--backend eager"], "needs both --a and --b"),
    (["--pairs", "3"], "belong to interleaved mode"),
    (["--a", "--json x.json", "--b", ""], "--json is set by compare itself"),
    (["--a", "'unclosed", "--b", ""], "cannot split"),
    (["--a", "", "--b", "", "--metric", "pass-check"], "interleaved mode gates on"),
    (["--a", "", "--b", "", "--a-python", "/nonexistent/python"], "no such file"),
])
def test_usage_errors_before_any_run(args, message):
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output


def _stand_in(tmp_path, spread: float):
    """A 'python' that answers `-m guardprof run … --num-args N … --json OUT` with a summary
    whose guard µs/call is N × (1 ∓ spread), N × (1 ± spread), … in turn for each N (an odd N
    starts high, an even one low)."""
    script = tmp_path / "python"
    script.write_text(textwrap.dedent(f"""\
        #!{sys.executable}
        import json, pathlib, sys
        args = sys.argv[1:]
        n = int(args[args.index("--num-args") + 1])
        counter = pathlib.Path({str(tmp_path)!r}) / f"calls-{{n}}"
        k = int(counter.read_text()) if counter.exists() else 0
        counter.write_text(str(k + 1))
        value = n * (1 + {spread} * (1 if (k + n) % 2 else -1))
        summary = {{"guard_us_per_call": value, "off_cpu": 0.0}}
        open(args[args.index("--json") + 1], "w").write(json.dumps({{"summary": summary}}))
        """))
    script.chmod(0o755)
    return str(script)


def test_more_pairs_run_while_the_gate_cannot_decide(tmp_path):
    python = _stand_in(tmp_path, spread=0.3)
    out = tmp_path / "pairs.json"
    # B/A ≈ 1.1, each run ±30%: the pairs' interval straddles 1.10, so it goes on to 6.
    result = invoke("--a", "--num-args 10", "--b", "--num-args 11", "--a-python", python,
                    "--b-python", python, "--pairs", "3", "--max-pairs", "6",
                    "--fail-above", "10", "--json", str(out))
    assert result.exit_code == 3, result.output
    assert "6 pairs" in result.output and "the most pairs allowed (6)" in result.output
    data = json.loads(out.read_text())
    assert data["report_type"] == "guardprof-interleaved" and len(data["pairs"]) == 6
    assert [p["order"] for p in data["pairs"]] == ["AB", "BA"] * 3


def test_a_clear_result_stops_at_the_first_pairs(tmp_path):
    python = _stand_in(tmp_path, spread=0.01)
    result = invoke("--a", "--num-args 10", "--b", "--num-args 20", "--a-python", python,
                    "--b-python", python, "--pairs", "3", "--max-pairs", "10",
                    "--fail-above", "10")
    assert result.exit_code == 1, result.output
    assert "3 pairs" in result.output and "decided after 3 pairs" in result.output


def test_the_time_budget_stops_new_pairs(tmp_path):
    python = _stand_in(tmp_path, spread=0.3)
    result = invoke("--a", "--num-args 10", "--b", "--num-args 11", "--a-python", python,
                    "--b-python", python, "--pairs", "3", "--max-pairs", "10", "--budget", "0",
                    "--fail-above", "10")
    assert result.exit_code == 3, result.output
    assert "3 pairs" in result.output and "the time budget (0 s)" in result.output
    assert os.path.exists(python)
