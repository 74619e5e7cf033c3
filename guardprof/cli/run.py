"""`guardprof run`: time the workload as dynamo_guard_eval.py does and explain the guard cost."""

from __future__ import annotations

from pathlib import Path

import click

from guardprof.cli.options import json_option, workload_options
from guardprof.cli.whatif import WHAT_IF_HELP, run_what_if, show_what_if
from guardprof.fileio import check_writable
from guardprof.progress import Progress


@click.command(context_settings={"allow_interspersed_args": False})
@workload_options()
@json_option()
@click.option("--quiet", "-q", is_flag=True,
              help="Print only the original benchmark's line: 'compiled 688.7us (warmup=34.0s)'.")
@click.option("--load", "load_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, metavar="PATH",
              help="Re-render a saved --json report (of run, or of run --what-if) instead of "
                   "running.")
@click.option("--no-cross-check", is_flag=True,
              help="Skip the torch.profiler passes (saves ~0.2 s).")
@click.option("--no-decomposition", is_flag=True, hidden=True,
              help="Kept for old scripts: the decomposition is off unless --decompose.")
@click.option("--what-if", "what_if", default=None, metavar="VARIANTS", help=WHAT_IF_HELP)
@click.option("--decompose", is_flag=True,
              help="Also take the call apart by whole-loop differences (graph, dispatch floor, "
                   "accepted check, rejected entries), an independent check of the in-situ "
                   "figure that resolves on small calls (a part it cannot resolve reads "
                   "'unresolved'). It compiles two copies per input signature (~4 s on the "
                   "standard workload, eager). With a program after --: when it ends, each "
                   "compiled frame is called again on its sampled calls (up to 20); their side "
                   "effects run again; longer with inductor.")
@click.argument("program", nargs=-1, type=click.UNPROCESSED, metavar="[-- python SCRIPT ARGS…]")
def run(spec, json_path: Path | None, quiet: bool, load_path: Path | None,
        no_cross_check: bool, no_decomposition: bool, what_if: str | None, decompose: bool,
        program: tuple[str, ...]) -> None:
    """Run the standard guard benchmark (or --target) and explain its guard cost.

    The first line has the original benchmark's format (µs per iteration of all calls, and the
    warm-up seconds). Then the answer: guard evaluation per call timed in situ (each cache lookup
    of the real loop timed from the torch.compile wrapper to dynamo's guard-complete hook, less a
    guard-free lookup), its torch.profiler cross-check, the entries walked and why they exist.
    Then the method, the replay that breaks the figure down by entry, the timing, every cache
    entry with its guards and recompile reason, and what it means.

    After `--`, an unmodified program instead: `guardprof run -- python train.py ARGS` (or
    `-- python -m pkg.train`) runs it in this process, its output untouched, and at its exit
    prints on stderr every compiled frame it ran: its guard evaluation per call in situ (its
    lookups timed while the program ran), entries in cache order, why each was created, the walk
    depth and replayed checks of sampled calls, and the frames ranked by estimated guard time.
    guardprof exits with the program's own status. (The workload options do not apply to a
    program.)

    \b
    Examples:
      guardprof run                                  # as PyTorch's dynamo_guard_eval.py
      guardprof run --backend eager --json result.json
      guardprof run --target my_workload.py:make --backend eager
      guardprof run --load result.json               # re-render a saved report
      guardprof run --json guards.json -- python train.py --epochs 1
      guardprof run --decompose --backend eager      # and the whole-loop differential
      guardprof run --decompose -- python train.py   # and take each frame's call apart
    """
    from guardprof.model import envelope
    from guardprof.model import whatif as whatif_model
    from guardprof.model.run_report import from_loaded, save_report
    from guardprof.render.run import render

    if program:
        ctx = click.get_current_context()
        given = [param.opts[0] for param in ctx.command.params
                 if param.name not in ("json_path", "quiet", "program", "decompose")
                 and ctx.get_parameter_source(param.name) == click.core.ParameterSource.COMMANDLINE]
        if given:
            raise click.UsageError(f"{', '.join(given)} cannot be used with a program after --: "
                                   "it runs as it is (only --json, --quiet and --decompose "
                                   "apply)")
        from guardprof.cli.program import run_program

        run_program(program, json_path, quiet, decompose)
        return
    if load_path is not None and decompose:
        raise click.UsageError("--decompose measures a new run, so it cannot be used with "
                               "--load (which re-renders a saved report)")
    if load_path is not None and json_path is not None:
        raise click.UsageError("--load re-renders a saved report; --json would only copy it")
    if load_path is not None and what_if is not None:
        raise click.UsageError("--what-if measures a new run, so it cannot be used with --load "
                               "(which re-renders a saved report, a what-if one too)")
    if what_if is not None:
        run_what_if(spec, what_if, json_path=json_path, quiet=quiet)
        return
    if load_path is not None:
        loaded = envelope.read(load_path, (envelope.RUN, envelope.WHATIF, envelope.PROGRAM))
        if loaded.report_type == envelope.PROGRAM:
            from guardprof.model import program_report
            from guardprof.render.program import render as render_program

            click.echo(render_program(envelope.build(program_report.ProgramReport, loaded.data,
                                                     f"{load_path}: malformed")), nl=False)
            return
        if loaded.report_type == envelope.WHATIF:
            show_what_if(whatif_model.from_loaded(loaded), quiet)
            return
        report = from_loaded(loaded)
    else:
        if json_path is not None:
            check_writable(json_path)
        from guardprof.analysis.findings import explained
        from guardprof.measure.run import measure

        with Progress(enabled=None if not quiet else False) as progress:
            report = explained(measure(spec, progress, cross_check=not no_cross_check,
                                       decomposition=decompose and not no_decomposition))
    if json_path is not None and load_path is None:
        save_report(report, json_path)
    click.echo(report.result_line if quiet else render(report), nl=quiet)
    if json_path is not None and load_path is None and not quiet:
        click.echo(f"report written to {json_path}")
