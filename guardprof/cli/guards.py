"""`guardprof guards`: the guard trees of every cache entry, what each guard kind costs, and why
each entry exists."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import click

from guardprof.cli.options import json_option, workload_options
from guardprof.errors import GuardprofError, WorkloadUsageError
from guardprof.fileio import check_writable
from guardprof.progress import Progress

COMPILE_ID = re.compile(r"\[?\d+/\d+(?:_\d+)?\]?")  # dynamo's frame/attempt, e.g. 0/3 or 1/0_1


@click.command()
@workload_options(default_backend="eager", timing=False)
@click.option("--entry", "entry_id", metavar="ID", default=None,
              help="Show this cache entry in detail (a compile id such as 0/3). "
                   "Default: each frame's first compiled entry.")
@click.option("--diff", "diff_ids", nargs=2, metavar="A B", default=None,
              help="Show the guards that differ between entries A and B, side by side.")
@click.option("--depth", type=click.IntRange(min=0), default=None, metavar="N",
              help="Print the guard tree down to N manager levels.")
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True, metavar="N",
              help="Show the N costliest children per manager, sources, failure kinds, diffs.")
@json_option("Also write the guards report as JSON to PATH (atomically).")
@click.option("--load", "load_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, metavar="PATH",
              help="Re-render a saved guards --json report instead of running; or show the "
                   "guard trees a program's report kept (run --json R.json -- python SCRIPT: "
                   "uncosted trees, --entry and --diff work).")
@click.option("--ablate", is_flag=True,
              help="Also drop groups of guards with guard_filter_fn (standard workload) and time "
                   "the saving in the hot loop, beside what the per-kind split gave them.")
@click.option("--quiet", "-q", is_flag=True,
              help="Print only the result lines (one per frame: entries, guards, guard µs/call): "
                   "no progress, no report.")
def guards(spec, entry_id: str | None, diff_ids: tuple[str, str] | None, depth: int | None,
           top: int, json_path: Path | None, load_path: Path | None, ablate: bool,
           quiet: bool) -> None:
    """Guard trees, cost by guard kind, recompile reasons and diffs for each cache entry.

    Each guard kind's cost is measured on the captured iteration's own values and reconciled
    with the whole check; how each part is measured is printed under "Method" at the end of
    every report. Backend eager by default: guards do not depend on the backend.

    \b
    Examples:
      guardprof guards
      guardprof guards --target model.py:make --entry 0/3
      guardprof guards --diff 0/2 0/3
      guardprof guards --json guards.json
      guardprof guards --load guards.json --entry 0/1 --depth 2
      guardprof guards --load train.json --diff 0/0 0/1   # a program's report
    """
    from guardprof.analysis.guard_diff import diff_entries
    from guardprof.model import envelope
    from guardprof.model.guards_report import from_loaded, save_guards_report
    from guardprof.render.guards import render, result_lines

    for wanted in ([entry_id] if entry_id else []) + list(diff_ids or []):
        if not COMPILE_ID.fullmatch(wanted):  # before the slow work: the form is known
            raise click.UsageError(
                f"{wanted!r} is not a compile id: ids look like 0/3 (frame/attempt, as "
                "`guardprof guards` lists them)")
    if load_path is not None:
        loaded = envelope.read(load_path, (envelope.GUARDS, envelope.PROGRAM))
        if loaded.report_type == envelope.PROGRAM:
            _program_guards(load_path, entry_id, diff_ids, depth, top, json_path, ablate, quiet)
            return
        report = from_loaded(loaded)
    else:
        if json_path is not None:
            check_writable(json_path)
        from guardprof.measure.guards import collect

        with Progress(enabled=False if quiet else None) as progress:
            report = collect(spec, progress, ablations=ablate)
    _require_entries([entry_id] if entry_id else [], diff_ids,
                     [e.compile_id for _, e in report.entries()])
    if diff_ids:
        a, b = (report.find_entry(i)[1] for i in diff_ids)
        report = dataclasses.replace(report, diff=diff_entries(a, b))
    if json_path is not None:
        save_guards_report(report, json_path)
    if quiet:
        click.echo(result_lines(report), nl=False)
        return
    click.echo(render(report, entry=entry_id, depth=depth, top=top), nl=False)
    if json_path is not None:
        click.echo(f"guards report written to {json_path}")


def _program_guards(path: Path, entry_id: str | None, diff_ids: tuple[str, str] | None,
                    depth: int | None, top: int, json_path: Path | None, ablate: bool,
                    quiet: bool) -> None:
    """`--load` of a program's report (`guardprof run -- python SCRIPT --json`): its entries'
    trees as kept, uncosted; nothing to run again, so --json and --ablate do not apply."""
    from guardprof.analysis.guard_diff import diff_entries
    from guardprof.model import program_report
    from guardprof.render import program_guards

    for flag, given in (("--json", json_path is not None), ("--ablate", ablate)):
        if given:
            raise click.UsageError(f"{flag} cannot be used with a program's report: it is "
                                   "already JSON, and its program is not run again")
    report = program_report.load(path)
    _require_entries([entry_id] if entry_id else [], diff_ids,
                     [e.compile_id for f in report.frames for e in f.entries])
    diff = None
    if diff_ids:
        a, b = (program_guards.find_entry(report, i)[1].guards for i in diff_ids)
        if a is None or b is None:
            raise GuardprofError(f"{path}: its guard trees were not kept (written by an "
                                 "older guardprof), so entries cannot be diffed")
        diff = diff_entries(a, b)
    if quiet:
        for frame in report.frames:
            guards = sum(sum(e.guard_kinds.values()) for e in frame.entries)
            click.echo(f"{frame.name}: {len(frame.entries)} cache entries, {guards} guards")
        return
    click.echo(program_guards.render(report, entry=entry_id, depth=depth, top=top, diff=diff),
               nl=False)


def _require_entries(entry_ids: list[str], diff_ids: tuple[str, str] | None,
                     known: list[str]) -> None:
    """--entry and --diff name entries the report holds, or a one-line error listing them."""
    for wanted in entry_ids + list(diff_ids or []):
        if wanted not in known:
            raise WorkloadUsageError(
                f"no cache entry {wanted!r}; entries are {', '.join(known) or 'none'}")
