"""`guardprof run --what-if …`: option handling for the what-if run (logic in whatif.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click
from click.core import ParameterSource

from guardprof.fileio import check_writable
from guardprof.progress import Progress
from guardprof.workload.spec import WorkloadSpec

WHAT_IF_HELP = (
    "Measure alternatives side by side in one run, timing rounds interleaved: a comma list of "
    "dynamic, mark-dynamic, auto, skip-guards, or all. With --json, writes the what-if result."
)


def run_what_if(spec: WorkloadSpec, what_if: str, *, json_path: Path | None,
                quiet: bool) -> None:
    from guardprof.experiments.whatif import measure_what_if, parse_what_if
    from guardprof.model.whatif import save_whatif

    names = parse_what_if(what_if)
    if json_path is not None:
        check_writable(json_path)
    ctx = click.get_current_context()
    if ctx.get_parameter_source("number") in (None, ParameterSource.DEFAULT):
        # The default 1000 iterations × several variants × rounds would take minutes:
        # calibrate each variant's rounds instead (≥ 0.2 s each).
        spec = dataclasses.replace(spec, number=None)
    with Progress(enabled=None if not quiet else False) as progress:
        result = measure_what_if(spec, names, progress)
    if json_path is not None:
        save_whatif(result, json_path)
    show_what_if(result, quiet)
    if json_path is not None and not quiet:
        click.echo(f"what-if result written to {json_path}")


def show_what_if(result, quiet: bool) -> None:
    from guardprof.render.whatif import render_whatif, result_lines

    click.echo(result_lines(result) if quiet else render_whatif(result), nl=False)
