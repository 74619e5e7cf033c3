"""`guardprof compare --a … --b …`: A and B run alternately as fresh processes, gated on pairs.

A reduced version of the reliability benchmark issue 12 asks for (not yet in scripts/): a real
regression (4 → 32 tensor args) is caught; the same configuration on both sides never fails the
gate (it may say it cannot decide: exit 3). Usage errors come before any run.
"""

from __future__ import annotations

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
