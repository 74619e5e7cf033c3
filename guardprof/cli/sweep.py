"""`guardprof sweep`: options, the output folder, and what is printed (logic in sweep.py)."""

from __future__ import annotations

from pathlib import Path

import click

from guardprof.errors import WorkloadUsageError
from guardprof.experiments.sweep import (
    DEFAULT_DYNAMIC,
    DEFAULT_NUM_ARGS,
    DEFAULT_REPEAT,
    DEFAULT_SIZES_COUNT,
)


@click.command()
@click.option("--grid-num-args", "num_args", default=DEFAULT_NUM_ARGS, show_default=True,
              metavar="LIST", help="Grid axis: tensor arguments of foo, a comma list.")
@click.option("--grid-sizes-count", "sizes_count", default=DEFAULT_SIZES_COUNT,
              show_default=True, metavar="LIST",
              help="Grid axis: distinct sizes per iteration (= cache entries), a comma list.")
@click.option("--grid-dynamic", "dynamic", default=DEFAULT_DYNAMIC, show_default=True,
              metavar="LIST", help="Grid axis: dynamic modes, a comma list of false, true, auto.")
@click.option("--backend", default="eager", show_default=True,
              help="torch.compile backend (inductor makes every point compile for seconds).")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True,
              help="Where the tensors live.")
@click.option("--repeat", type=int, default=DEFAULT_REPEAT, show_default=True,
              help="Timing rounds per point; medians are reported. Fewer than run's 10: a "
                   "sweep times many points, and the fit pools them.")
@click.option("--number", type=int, default=None,
              help="Iterations per round. Default: calibrated per point (≥ 0.2 s per round).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="torch.manual_seed before building each point (run has none by default; a "
                   "sweep seeds every point alike so that points differ only by the grid).")
@click.option("-o", "--output", "out", type=click.Path(path_type=Path),
              default=Path("guardprof-sweep"), show_default=True,
              help="Output folder (must not exist, or be empty).")
@click.option("--force", is_flag=True, help="Replace a previous sweep in the output folder.")
@click.option("--no-plot", is_flag=True, help="Skip the PNG plot.")
@click.option("--load", "load_path", type=click.Path(path_type=Path), default=None,
              metavar="DIR|FILE",
              help="Re-render a saved sweep (its folder or sweep.json) instead of running.")
@click.option("--quiet", "-q", is_flag=True,
              help="Print only the result lines (one per point): no progress, no summary.")
def sweep(num_args: str, sizes_count: str, dynamic: str, backend: str, device: str, repeat: int,
          number: int | None, seed: int, out: Path, force: bool, no_plot: bool,
          load_path: Path | None, quiet: bool) -> None:
    """Measure the standard workload over a grid and fit how guard cost scales.

    Each point is args × sizes × dynamic mode: compiled, eager and guard µs/call (guard time
    replayed as in `run`), walk depth and guards per entry. A least-squares model then splits
    guard µs/call into a fixed cost per call, a cost per guarded tensor and a cost per rejected
    cache entry, with its residuals. Written to the folder as it goes: sweep.json, each point's
    full report in points/, summary.txt, sweep.png (with matplotlib). Ctrl-C keeps the points
    done so far (exit 130).

    \b
    Examples:
      guardprof sweep -o sweep/             # default grid: ~50 s measured on 2 cores
      guardprof sweep --grid-num-args 10,100,300,1000 --grid-sizes-count 1,2,4,8,16 -o sweep/
      guardprof sweep --grid-dynamic false,true --grid-num-args 10,100 -o dyn/
      guardprof sweep --load sweep/         # re-render the summary of a saved sweep
    """
    from guardprof.experiments.sweep import (
        SweepGrid,
        SweepSettings,
        parse_dynamic_list,
        parse_int_list,
        prepare_folder,
        run_sweep,
    )
    from guardprof.model.sweep import PLOT_FILE, SUMMARY_FILE, load_sweep, save_sweep
    from guardprof.progress import Progress
    from guardprof.render.plot import matplotlib_missing, sweep_png
    from guardprof.render.sweep import point_line, render_sweep
    from guardprof.workload.runner import check_device

    if load_path is not None:
        result = load_sweep(load_path)
        if quiet:
            for i, point in enumerate(result.points, 1):
                click.echo(point_line(i, len(result.points), point, None))
        else:
            click.echo(render_sweep(result, None), nl=False)
        return
    grid = SweepGrid(
        parse_int_list(num_args, "--grid-num-args"),
        parse_int_list(sizes_count, "--grid-sizes-count"),
        parse_dynamic_list(dynamic),
    )
    if repeat < 1:
        raise WorkloadUsageError(f"--repeat must be at least 1, got {repeat}")
    if number is not None and number < 1:
        raise WorkloadUsageError(f"--number must be at least 1, got {number}")
    check_device(device)
    settings = SweepSettings(backend=backend, device=device, repeat=repeat, number=number,
                             seed=seed)
    out = prepare_folder(out, force)

    def on_point(i, n, point, eta_s) -> None:
        # --quiet: the point lines are the result, on stdout; otherwise progress, on stderr
        click.echo(point_line(i, n, point, None if quiet else eta_s), err=not quiet)

    with Progress(enabled=None if not quiet else False) as progress:
        result = run_sweep(grid, settings, out, progress, on_point)

    plot_note = None
    if result.points and not no_plot:
        plot_note = matplotlib_missing()
        if plot_note is None:
            from guardprof.fileio import write_bytes_atomic

            write_bytes_atomic(out / PLOT_FILE, sweep_png(result.points, result.fits))
            result.plot_file = PLOT_FILE
            save_sweep(result, out)
    text = render_sweep(result, plot_note)
    from guardprof.fileio import write_text_atomic

    write_text_atomic(out / SUMMARY_FILE, text)
    if not quiet:
        click.echo(text, nl=False)
        written = ", ".join(f for f in ("sweep.json", "points/", SUMMARY_FILE, result.plot_file)
                            if f)
        click.echo(f"written to {out}/: {written}")
    if result.interrupted:
        click.echo(
            f"interrupted: kept {len(result.points)} of {result.planned_points} points in "
            f"{out}/sweep.json", err=True,
        )
        raise KeyboardInterrupt  # the group's exit code for Ctrl-C: 130
