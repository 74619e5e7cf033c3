"""`guardprof compare`: two saved runs, or A and B run interleaved; options and exit codes."""

from __future__ import annotations

from pathlib import Path

import click

from guardprof.analysis.compare import (
    DEFAULT_METRIC,
    DEFAULT_TOLERANCE_PCT,
    GATED_METRICS,
    METRICS,
    UNDECIDED,
)
from guardprof.cli.options import json_option
from guardprof.errors import GuardprofError, WorkloadUsageError
from guardprof.experiments.interleaved import DEFAULT_BUDGET_S, DEFAULT_MAX_PAIRS, DEFAULT_PAIRS

_report_path = click.Path(exists=True, dir_okay=False, path_type=Path)


EXIT_HELP = ("Exit codes (both modes): 0 no regression beyond --fail-above (the interval lies "
             "at or below the threshold), 1 regression (the interval lies above it; or an "
             "error), 2 usage, 3 the gate cannot decide (the interval straddles the threshold, "
             "too few repetitions, or a saved run was made on a noisy machine).")


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
              help=f"Interleaved mode: A/B pairs run first (each a fresh process; 3 or more "
                   f"give an interval).  [default: {DEFAULT_PAIRS}]")
@click.option("--max-pairs", type=click.IntRange(min=1), default=None, metavar="N",
              help=f"Interleaved mode with --fail-above: while the gate cannot decide, run "
                   f"more pairs, up to N.  [default: {DEFAULT_MAX_PAIRS}]")
@click.option("--budget", "budget_s", type=click.FloatRange(min=0), default=None,
              metavar="SECONDS", help=f"Interleaved mode: no new pair that would end after "
                                      f"SECONDS in all (the first --pairs always run).  [default: "
                                      f"{DEFAULT_BUDGET_S:.0f}]")
@click.option("--fail-above", "fail_above", type=float, default=None, metavar="PCT",
              help="A CI gate on --metric: exit 1 when B/A's 95% interval lies wholly above "
                   "1 + PCT/100, 0 when it lies wholly at or below, 3 when it straddles. E.g. "
                   "--fail-above 10: B/A 1.62 [1.48, 1.75] fails, 1.01 [0.97, 1.05] passes, "
                   "1.08 [1.02, 1.15] cannot decide.")
@click.option("--metric", type=click.Choice(list(METRICS)), default=DEFAULT_METRIC,
              show_default=True,
              help=f"The figure --fail-above gates on (gated: {', '.join(GATED_METRICS)}).")
@click.option("--tolerance", type=float, default=DEFAULT_TOLERANCE_PCT, show_default=True,
              metavar="PCT", help="Saved runs: the verdict column's band, not the gate: B/A "
                                  "whose interval lies within ±PCT% of 1 reads 'no change'. "
                                  "E.g. --tolerance 5: B/A 1.02 [0.98, 1.04] 'no change', "
                                  "1.03 [0.99, 1.07] 'inconclusive'.")
@click.option("--force", is_flag=True,
              help="Saved runs: compare even different workloads or report schema versions.")
@click.option("--quiet", "-q", is_flag=True,
              help="Print only the result line(s): the gate's line, or the figures' B/A.")
@json_option("Interleaved mode: also write the pairs and B/A as JSON to PATH (atomically).")
def compare(a_path: Path | None, b_path: Path | None, a_options: str | None,
            b_options: str | None, a_python: str | None, b_python: str | None,
            pairs: int | None, max_pairs: int | None, budget_s: float | None,
            fail_above: float | None, metric: str, tolerance: float,
            force: bool, quiet: bool, json_path: Path | None) -> None:
    """Compare two runs: what changed, beyond noise; with --fail-above, a CI gate.

    Interleaved (--a/--b, what CI should use): compare runs A and B itself, alternated as fresh
    processes (AB, BA, …), so both sides meet the same machine noise; B/A and its 95% interval
    come from the pairs (a paired bootstrap). With --fail-above, more pairs run while the gate
    cannot decide (--max-pairs, --budget).

    Program reports (A.json B.json, both from `guardprof run --json F -- python …`): per
    compiled frame, guard µs/call and the estimated total over each program, side by side; no
    interval and no gate (samples of a running program are not repetitions).

    Saved runs (A.json B.json, from `guardprof run --json`): for each figure (per-call times,
    guard µs/call, per-entry check times, guard counts by kind): A, B, B/A with a 95% bootstrap
    interval over each run's repetitions (timing rounds, replay blocks), widened by the
    run-to-run term each run's noise figure gives, and a verdict. The gate cannot decide (3)
    when either run was made on a noisy machine. Refuses reports of different workloads or
    schema versions unless --force.

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
        _interleaved(a_options, b_options, a_python, b_python, pairs or DEFAULT_PAIRS,
                     max_pairs, DEFAULT_BUDGET_S if budget_s is None else budget_s, metric,
                     fail_above, quiet, json_path)
        return
    if a_python or b_python or pairs or max_pairs or budget_s is not None or json_path:
        raise click.UsageError("--a-python, --b-python, --pairs, --max-pairs, --budget and "
                               "--json belong to interleaved mode (--a/--b)")
    if a_path is None or b_path is None:
        raise click.UsageError("give two saved reports (A.json B.json), or --a and --b")
    if _program_reports(a_path, b_path):
        _programs(a_path, b_path, fail_above)
        return
    _saved(a_path, b_path, fail_above, metric, tolerance, force, quiet)


def _program_reports(a_path: Path, b_path: Path) -> bool:
    """Both `guardprof run -- python …` reports (True); one of them only: a one-line error."""
    from guardprof.fileio import read_json
    from guardprof.model import envelope

    def is_program(path: Path) -> bool:
        data = read_json(path, "report")
        return isinstance(data, dict) and data.get("report_type") == envelope.PROGRAM

    a, b = is_program(a_path), is_program(b_path)
    if a != b:
        program, other = (a_path, b_path) if a else (b_path, a_path)
        raise GuardprofError(f"{program} is a program report (`guardprof run -- python …`) and "
                             f"{other} is not: compare two of a kind")
    return a


def _programs(a_path: Path, b_path: Path, fail_above: float | None) -> None:
    from guardprof.analysis.compare import check_distinct
    from guardprof.analysis.program_compare import compare_programs
    from guardprof.model.program_report import load
    from guardprof.render.program_compare import render_program_comparison

    if fail_above is not None:
        raise WorkloadUsageError("--fail-above: program reports hold samples of a running "
                                 "program, not repetitions of one measurement, so there is no "
                                 "interval to gate on; gate with --a/--b or saved "
                                 "`guardprof run --json` reports")
    check_distinct(a_path, b_path)
    comparison = compare_programs(load(a_path), load(b_path), str(a_path), str(b_path))
    click.echo(render_program_comparison(comparison), nl=False)


def _saved(a_path, b_path, fail_above, metric, tolerance, force, quiet) -> None:
    from guardprof.analysis.compare import (
        check_distinct,
        check_same_workload,
        compare_reports,
        decide,
        load_for_compare,
    )
    from guardprof.render.compare import render_comparison

    if fail_above is not None and metric not in GATED_METRICS:
        raise WorkloadUsageError(f"--metric {metric}: its interval is the spread across cache "
                                 "entries, not repetitions; gate on one of "
                                 f"{', '.join(GATED_METRICS)}")
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
    _finish(*decide(row.estimate, row.label.strip(), fail_above,
                    comparison.run_to_run.undecided if comparison.run_to_run else None))


def _interleaved(a_options, b_options, a_python, b_python, pairs, max_pairs, budget_s, metric,
                 fail_above, quiet, json_path) -> None:
    from guardprof.analysis.compare import decide
    from guardprof.experiments import interleaved as ab
    from guardprof.model import envelope
    from guardprof.progress import Progress
    from guardprof.render.compare import render_interleaved

    if metric not in ab.METRICS:
        raise WorkloadUsageError(f"--metric {metric}: interleaved mode gates on "
                                 f"{', '.join(ab.METRICS)}")
    a_cmd = ab.command(a_options, a_python, "--a")
    b_cmd = ab.command(b_options, b_python, "--b")
    undecided = None
    if fail_above is not None:
        def undecided(estimate) -> bool:
            return decide(estimate, "", fail_above)[0] == UNDECIDED
    with Progress(enabled=False if quiet else None) as progress:
        result = ab.run_interleaved(a_cmd, b_cmd, metric, pairs, progress,
                                    max_pairs=(max_pairs or DEFAULT_MAX_PAIRS) if undecided
                                    else pairs, budget_s=budget_s, undecided=undecided)
    if json_path is not None:
        envelope.save(json_path, envelope.INTERLEAVED, result)
    if not quiet:
        click.echo(render_interleaved(result), nl=False)
        if json_path is not None:
            click.echo(f"pairs written to {json_path}")
    if fail_above is None:
        if quiet:
            click.echo(f"{result.label}: B/A {result.estimate.ratio:.2f}")
        return
    _finish(*decide(result.estimate, result.label, fail_above))


def _finish(outcome: str, line: str) -> None:
    from guardprof.analysis.compare import EXIT_CODES, PASS, REGRESSION

    if outcome == PASS:
        click.echo(line)
        return
    if outcome == REGRESSION:
        raise GuardprofError(line)
    click.echo(f"Error: {line}", err=True)
    raise click.exceptions.Exit(EXIT_CODES[outcome])
