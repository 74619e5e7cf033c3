"""`guardprof run -- python SCRIPT ARGS…`: an unmodified program, run in this process."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import click

from guardprof.errors import GuardprofError
from guardprof.fileio import check_writable


def _parsed(command: tuple[str, ...]):
    """The program, checked before anything runs (bad input: one line, exit 2; a syntax error:
    Python's message, then one line, exit 1)."""
    from guardprof.workload import program

    try:
        prog = program.parse(command)
    except GuardprofError as exc:
        raise click.UsageError(exc.message) from None
    message = program.check_syntax(prog)
    if message is not None:
        click.echo(message, err=True)
        click.echo(f"guardprof: {prog.script} has a syntax error; nothing was run", err=True)
        sys.exit(1)
    return prog


def profile_program(command: tuple[str, ...], output: Path, explicit: bool, force: bool,
                    top: int, json_path: Path | None) -> None:
    """`guardprof profile -- python SCRIPT`: cProfile of the whole program with its guard
    entries; the summary on stderr (stdout stays the program's), the program's exit status."""
    from guardprof.fileio import check_fresh
    from guardprof.model.program_report import save
    from guardprof.profilers.cprofile import profile_program as profile
    from guardprof.profilers.cprofile import raw_path_for, write_stats
    from guardprof.render.profile import render_program_cprofile

    raw_path = raw_path_for(output)
    check_fresh([output, raw_path], explicit, force)
    if json_path is not None:
        check_writable(json_path)
    prog = _parsed(command)
    run = profile(prog)
    write_stats(raw_path, run.raw)
    write_stats(output, run.derived)
    click.echo(render_program_cprofile(run, output, raw_path, top), err=True)
    if json_path is not None:
        save(run.program, json_path)
        click.echo(f"  {json_path}  the program's report (JSON) — guardprof run --load "
                   f"{json_path}; guardprof guards --load {json_path}", err=True)
    sys.exit(run.program.exit_status)


def run_program(command: tuple[str, ...], json_path: Path | None, quiet: bool,
                decompose: bool = False) -> None:
    """Run the program, then print its report on stderr (its stdout stays the program's) and
    exit with the program's own status."""
    from guardprof.api import capture
    from guardprof.progress import Progress
    from guardprof.workload import program

    if json_path is not None:
        check_writable(json_path)
    prog = _parsed(command)
    cap = capture(" ".join(prog.command), decompose=decompose)
    with cap:
        status = program.run(prog)
    cap.exit_status = status
    # Progress (and its Ctrl-C: stop at the next safe point) only around the decomposition,
    # whose steps update it; the replay before it stops on the first Ctrl-C as before.
    with (Progress(enabled=False if quiet else None) if decompose
          else contextlib.nullcontext()) as progress:
        cap.progress = progress
        report = cap.result()
    if json_path is not None:
        cap.save(json_path)
    if not quiet:
        click.echo(cap.report(), err=True, nl=False)
    if json_path is not None:
        click.echo(f"guardprof: report written to {json_path}", err=True)
    sys.exit(report.exit_status)
