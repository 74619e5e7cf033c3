"""`guardprof run -- python SCRIPT ARGS…`: an unmodified program, run in this process."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from guardprof.errors import GuardprofError
from guardprof.fileio import check_writable


def run_program(command: tuple[str, ...], json_path: Path | None, quiet: bool) -> None:
    """Run the program, then print its report on stderr (its stdout stays the program's) and
    exit with the program's own status."""
    from guardprof.api import capture
    from guardprof.workload import program

    try:
        prog = program.parse(command)
    except GuardprofError as exc:
        raise click.UsageError(exc.message) from None
    if json_path is not None:
        check_writable(json_path)
    message = program.check_syntax(prog)
    if message is not None:
        click.echo(message, err=True)
        click.echo(f"guardprof: {prog.script} has a syntax error; nothing was run", err=True)
        sys.exit(1)
    cap = capture(" ".join(prog.command))
    with cap:
        status = program.run(prog)
    cap.exit_status = status
    report = cap.result()
    if json_path is not None:
        cap.save(json_path)
    if not quiet:
        click.echo(cap.report(), err=True, nl=False)
    if json_path is not None:
        click.echo(f"guardprof: report written to {json_path}", err=True)
    sys.exit(report.exit_status)
