"""`guardprof compare`: two saved runs, or A and B run interleaved; options and exit codes."""

from __future__ import annotations

from pathlib import Path

import click

from guardprof.analysis.compare import (
    DEFAULT_METRIC,
    DEFAULT_TOLERANCE_PCT,
    METRICS,
    UNDECIDED,
)
from guardprof.errors import GuardprofError, WorkloadUsageError
from guardprof.experiments.interleaved import DEFAULT_PAIRS

_report_path = click.Path(exists=True, dir_okay=False, path_type=Path)


EXIT_HELP = ("Exit codes: 0 no regression beyond --fail-above, 1 regression (or an error), "
             "2 usage, 3 the gate cannot decide.")


@click.command(epilog=EXIT_HELP)
@click.argument("a_path", metavar="[A.json", type=_report_path, required=False)
@click.argument("b_path", metavar="B.json]", type=_report_path, required=False)
@click.option("--a", "a_options", metavar='"RUN OPTIONS"', default=None,
              help='Interleaved mode: run A yourself, e.g. --a "--backend eager --num-args 100".')
@click.option("--b", "b_options", metavar='"RUN OPTIONS"', default=None,
              help="Interleaved mode: B's `guardprof run` options.")
@click.option("--a-python", type=click.Path(dir_okay=False), default=None, metavar="PATH",
              help="Interleaved mode: the Python that runs A (another environment, e.g. another "
                   "torch). Default: this one.")
@click.option("--b-python", type=click.Path(dir_okay=False), default=None, metavar="PATH",
              help="Interleaved mode: the Python that runs B.")
@click.option("--pairs", type=click.IntRange(min=1), default=None, metavar="N",
              help="Interleaved mode: A/B pairs run (each a fresh process).  [default: 5]")
@click.option("--fail-above", "fail_above", type=float, default=None, metavar="PCT",
              help="A CI gate: exit 1 when --metric regressed by more than PCT percent with "
                   "confidence (the interval's lower end above 1 + PCT/100). E.g. --fail-above "
                   "10 fails when B is surely more than 10% slower than A.")
@click.option("--metric", type=click.Choice(list(METRICS)), default=DEFAULT_METRIC,
              show_default=True, help="The figure --fail-above gates on.")
@click.option("--tolerance", type=float, default=DEFAULT_TOLERANCE_PCT, show_default=True,
              metavar="PCT", help="Saved runs: changes within ±PCT percent are shown as 'no "
                                  "change' (the verdict column; the gate uses --fail-above). "
                                  "E.g. --tolerance 5 calls B/A 1.03 [0.98, 1.04] 'same'.")
@click.option("--force", is_flag=True,
              help="Saved runs: compare even different workloads or report schema versions.")
@click.option("--quiet", "-q", is_flag=True,
              help="Print only the result line(s): the gate's line, or the figures' B/A.")
def compare(a_path: Path | None, b_path: Path | None, a_options: str | None,
            b_options: str | None, a_python: str | None, b_python: str | None,
            pairs: int | None, fail_above: float | None, metric: str, tolerance: float,
            force: bool, quiet: bool) -> None:
    """Compare two runs: what changed, beyond noise; with --fail-above, a CI gate.

    Saved runs (A.json B.json, from `guardprof run --json`): for each figure (per-call times,
    guard µs/call, per-entry check times, guard counts by kind): A, B, B/A with a 95% bootstrap
    interval, and a verdict. Refuses reports of different workloads or schema versions unless
    --force. The interval has no run-to-run variation in it: a run made under load can hide a
    regression, so the gate passes unless the regression is confident.

    Interleaved (--a/--b, what CI should use): compare runs A and B itself, alternated as fresh
    processes (AB, BA, …), so both sides meet the same machine noise; B/A and its interval come
    from the pairs, and the gate passes only when the interval lies at or below the threshold
    (otherwise exit 3: cannot decide).

    \b
    Examples:
      guardprof compare before.json after.json
      guardprof compare before.json after.json --fail-above 10   # CI gate on guard µs/call
      guardprof compare --a "--backend eager" --b "--backend eager --num-args 200" \\
          --fail-above 10
      guardprof compare --a "--backend eager" --b "--backend eager" \\
          --a-python old-venv/bin/python --b-python new-venv/bin/python --fail-above 10
    """
    if fail_above is not None and fail_above < 0:
        raise WorkloadUsageError(f"--fail-above must be ≥ 0, got {fail_above:g}")
    if tolerance < 0:
        raise WorkloadUsageError(f"--tolerance must be ≥ 0, got {tolerance:g}")
    interleaved = a_options is not None or b_options is not None
    if interleaved:
        if a_path is not None or b_path is not None:
            raise click.UsageError("give either two saved reports or --a/--b, not both")
        if a_options is None or b_options is None:
            raise click.UsageError("interleaved mode needs both --a and --b (\"\" for the "
                                   "default workload)")
        _interleaved(a_options, b_options, a_python, b_python, pairs or DEFAULT_PAIRS, metric,
                     fail_above, quiet)
        return
    if a_python or b_python or pairs:
        raise click.UsageError("--a-python, --b-python and --pairs belong to interleaved mode "
                               "(--a/--b)")
    if a_path is None or b_path is None:
        raise click.UsageError("give two saved reports (A.json B.json), or --a and --b")
    _saved(a_path, b_path, fail_above, metric, tolerance, force, quiet)


def _saved(a_path, b_path, fail_above, metric, tolerance, force, quiet) -> None:
    from guardprof.analysis.compare import (
        check_distinct,
        check_same_workload,
        compare_reports,
        decide,
        load_for_compare,
    )
    from guardprof.render.compare import render_comparison

    check_distinct(a_path, b_path)
    a, over_a = load_for_compare(a_path, force)
    b, over_b = load_for_compare(b_path, force)
    overridden = over_a + over_b + check_same_workload(a, b, force)
    comparison = compare_reports(a, b, a_name=str(a_path), b_name=str(b_path),
                                 tolerance=tolerance / 100)
    comparison.overridden = overridden
    if not quiet:
        click.echo(render_comparison(comparison), nl=False)
    if fail_above is None:
        if quiet:
            for r in comparison.rows:
                if r.estimate is not None and r.estimate.ratio is not None:
                    click.echo(f"{r.label.strip()}: B/A {r.estimate.ratio:.2f}")
        return
    row = next((r for r in comparison.rows if r.key == metric), None)
    if row is None or row.estimate is None:
        _finish(UNDECIDED, f"--fail-above: {metric} is not in both reports, so the gate "
                           "cannot decide")
    _finish(*decide(row.estimate, row.label.strip(), fail_above, strict=False))


def _interleaved(a_options, b_options, a_python, b_python, pairs, metric, fail_above,
                 quiet) -> None:
    from guardprof.experiments import interleaved as ab
    from guardprof.progress import Progress
    from guardprof.render.compare import render_interleaved

    if metric not in ab.METRICS:
        raise WorkloadUsageError(f"--metric {metric}: interleaved mode gates on "
                                 f"{', '.join(ab.METRICS)}")
    a_cmd = ab.command(a_options, a_python, "--a")
    b_cmd = ab.command(b_options, b_python, "--b")
    with Progress(enabled=False if quiet else None) as progress:
        result = ab.run_interleaved(a_cmd, b_cmd, metric, pairs, progress)
    if not quiet:
        click.echo(render_interleaved(result), nl=False)
    if fail_above is None:
        if quiet:
            click.echo(f"{result.label}: B/A {result.estimate.ratio:.2f}")
        return
    from guardprof.analysis.compare import decide

    _finish(*decide(result.estimate, result.label, fail_above, strict=True))


def _finish(outcome: str, line: str) -> None:
    from guardprof.analysis.compare import EXIT_CODES, PASS, REGRESSION

    if outcome == PASS:
        click.echo(line)
        return
    if outcome == REGRESSION:
        raise GuardprofError(line)
    click.echo(f"Error: {line}", err=True)
    raise click.exceptions.Exit(EXIT_CODES[outcome])
