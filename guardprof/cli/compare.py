"""`guardprof compare A.json B.json`: options and exit codes (logic in compare.py)."""

from __future__ import annotations

from pathlib import Path

import click

from guardprof.analysis.compare import DEFAULT_METRIC, DEFAULT_TOLERANCE_PCT, METRICS
from guardprof.errors import GuardprofError, WorkloadUsageError

_report_path = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command()
@click.argument("a_path", metavar="A.json", type=_report_path)
@click.argument("b_path", metavar="B.json", type=_report_path)
@click.option("--fail-above", "fail_above", type=float, default=None, metavar="PCT",
              help="Exit 1 when --metric regressed by more than PCT percent with confidence "
                   "(the interval's lower end above 1 + PCT/100): a CI gate.")
@click.option("--metric", type=click.Choice(list(METRICS)), default=DEFAULT_METRIC,
              show_default=True, help="The figure --fail-above gates on.")
@click.option("--tolerance", type=float, default=DEFAULT_TOLERANCE_PCT, show_default=True,
              metavar="PCT", help="Changes within ±PCT percent count as 'no change'.")
@click.option("--force", is_flag=True,
              help="Compare even different workloads or report schema versions.")
def compare(a_path: Path, b_path: Path, fail_above: float | None, metric: str,
            tolerance: float, force: bool) -> None:
    """Compare two `guardprof run --json` reports: what changed, beyond noise.

    For each figure (per-call times, guard µs/call, per-entry check times, guard counts by
    kind): A, B, B/A with a 95% bootstrap interval, and a verdict. Refuses reports of
    different workloads or schema versions unless --force.

    \b
    Examples:
      guardprof run --backend eager --json before.json
      ...upgrade torch, or change the code...
      guardprof run --backend eager --json after.json
      guardprof compare before.json after.json
      guardprof compare before.json after.json --fail-above 10   # CI gate on guard µs/call
    """
    from guardprof.analysis.compare import (
        check_distinct,
        check_same_workload,
        compare_reports,
        gate,
        load_for_compare,
    )
    from guardprof.render.compare import render_comparison

    if fail_above is not None and fail_above < 0:
        raise WorkloadUsageError(f"--fail-above must be ≥ 0, got {fail_above:g}")
    if tolerance < 0:
        raise WorkloadUsageError(f"--tolerance must be ≥ 0, got {tolerance:g}")
    check_distinct(a_path, b_path)
    a, over_a = load_for_compare(a_path, force)
    b, over_b = load_for_compare(b_path, force)
    overridden = over_a + over_b + check_same_workload(a, b, force)
    comparison = compare_reports(a, b, a_name=str(a_path), b_name=str(b_path),
                                 tolerance=tolerance / 100)
    comparison.overridden = overridden
    click.echo(render_comparison(comparison), nl=False)
    if fail_above is not None:
        failure = gate(comparison, metric, fail_above)
        if failure is not None:
            raise GuardprofError(failure)
        click.echo(f"gate passed: {METRICS[metric].label.strip()} did not regress by more than "
                   f"{fail_above:g}% with confidence")
