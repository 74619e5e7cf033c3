"""`guardprof report RESULT.json -o report.html`: one self-contained HTML page of a run."""

from __future__ import annotations

from pathlib import Path

import click

from guardprof.errors import GuardprofError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DEFAULT_OUTPUT = Path("guardprof-report.html")


@click.command()
@click.argument("result", metavar="RESULT.json",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--flame", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, metavar="FILE.svg",
              help="A flame graph SVG (e.g. from `guardprof profile --flame`) to embed.")
@click.option("--sweep", "sweep_path", type=click.Path(exists=True, path_type=Path),
              default=None, metavar="DIR|FILE",
              help="A `guardprof sweep` folder (its plot and fitted model), its sweep.json, "
                   "or a PNG to embed.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              default=None, metavar="FILE",
              help=f"The HTML file to write (atomically). Default: {DEFAULT_OUTPUT}.")
@click.option("--force", is_flag=True,
              help=f"Overwrite {DEFAULT_OUTPUT} if it exists (a file given with -o is "
                   "overwritten anyway).")
def report(result: Path, flame: Path | None, sweep_path: Path | None, output: Path | None,
           force: bool) -> None:
    """Write one self-contained HTML page of a saved `guardprof run --json` report.

    Environment, timing with the guard share, cache entries and their recompile reasons,
    guards by kind, findings; plus the flame graph and the sweep when given. No network is
    needed or allowed: CSS, JS, SVG and PNG are inline. Attach it to a bug report.

    A program's report (`guardprof run --json R.json -- python SCRIPT`) gives its page too:
    frames ranked by estimated guard time, their entries and why each exists (no --sweep).

    \b
    Examples:
      guardprof run --backend eager --json result.json
      guardprof report result.json -o report.html
      guardprof report result.json --flame flame.svg --sweep sweep/ -o report.html
      guardprof run --json train.json -- python train.py
      guardprof report train.json -o train.html
    """
    from guardprof.fileio import check_fresh, write_text_atomic
    from guardprof.model import envelope, program_report, run_report
    from guardprof.render.html import render_html
    from guardprof.render.program_html import render_program_html

    check_fresh([output or DEFAULT_OUTPUT], explicit=output is not None, force=force)
    output = output or DEFAULT_OUTPUT
    loaded = envelope.read(result, (envelope.RUN, envelope.PROGRAM))
    is_program = loaded.report_type == envelope.PROGRAM
    if is_program and sweep_path is not None:
        raise click.UsageError("--sweep cannot be used with a program's report: a sweep "
                               "varies a workload guardprof can call, and a program is not one")
    flame_part = _load_flame(flame) if flame is not None else None
    sweep_part = _load_sweep(sweep_path) if sweep_path is not None else None
    if is_program:
        page = render_program_html(program_report.load(result), flame=flame_part,
                                   source=str(result))
    else:
        page = render_html(run_report.from_loaded(loaded), flame=flame_part, sweep=sweep_part,
                           source=str(result))
    write_text_atomic(output, page)
    extras = [name for name, part in (("flame graph", flame_part), ("sweep", sweep_part)) if part]
    click.echo(f"report written to {output} ({len(page.encode()) / 1024:.0f} KiB"
               + (f"; with {' and '.join(extras)}" if extras else "") + ")")


def _load_flame(path: Path):
    from guardprof.render.html import FlameAttachment

    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise GuardprofError(f"--flame {path}: not a text file, so not an SVG") from None
    if "<svg" not in text[:4096]:
        raise GuardprofError(f"--flame {path}: not an SVG (no <svg element at its start)")
    return FlameAttachment(str(path), text)


def _load_sweep(path: Path):
    from guardprof.model.sweep import PLOT_FILE, load_sweep
    from guardprof.render.html import SweepAttachment

    if path.is_file() and path.suffix.lower() == ".png":
        data = path.read_bytes()
        if not data.startswith(PNG_SIGNATURE):
            raise GuardprofError(f"--sweep {path}: not a PNG file")
        return SweepAttachment(str(path), png=data)
    result = load_sweep(path)
    folder = path if path.is_dir() else path.parent
    plot = folder / (result.plot_file or PLOT_FILE)
    png = plot.read_bytes() if plot.is_file() else None
    return SweepAttachment(str(path), png=png, fits=list(result.fits), points=len(result.points),
                           elapsed_s=result.elapsed_s)
