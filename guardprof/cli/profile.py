"""`guardprof profile` (cProfile or py-spy of the hot loop) and `guardprof view` (snakeviz)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import click
from click.core import ParameterSource

from guardprof.cli.options import json_option, workload_options
from guardprof.errors import GuardprofError, WorkloadUsageError
from guardprof.fileio import check_fresh, check_writable
from guardprof.model.profiles import FORMATS
from guardprof.progress import Progress

DEFAULT_PROFILE = Path("guardprof-profile.prof")
WORKLOAD_SECONDS = 5.0
PID_SECONDS = 10.0
FLAME_ONLY = ("fmt", "rate", "native", "duration", "pid", "pyspy_path")
CPROFILE_ONLY = ("iterations", "top")
WORKLOAD_ONLY = ("target", "backend", "num_args", "sizes", "dynamic", "auto_dynamic",
                 "recompile_limit", "number", "repeat", "device", "seed", "json_path")


@click.command()
@workload_options()
@json_option("Also write the unprofiled measurement (timing, replayed guard cost) as JSON.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              metavar="PATH", help="Output file. Default: guardprof-profile.prof (its raw "
              "twin .raw.prof beside it); with --flame guardprof-flame.svg / "
              ".speedscope.json / .txt.")
@click.option("--force", is_flag=True, help="Overwrite the default output files if they exist.")
@click.option("--iterations", type=int, default=None,
              help="cProfile: hot-loop iterations profiled. Default: --number.")
@click.option("--top", type=click.IntRange(1), default=15, show_default=True,
              help="cProfile: functions listed by self time.")
@click.option("--flame", is_flag=True, help="Sample with py-spy instead of cProfile.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="flamegraph",
              show_default=True, help="--flame: py-spy's output format.")
@click.option("--rate", type=click.IntRange(1, 10000), default=100, show_default=True,
              help="--flame: samples per second.")
@click.option("--native/--no-native", default=True, show_default=True,
              help="--flame: native (C++) frames, where guards run; Python frames only is "
                   "lighter but cannot see guard evaluation.")
@click.option("--duration", type=click.IntRange(min=1), default=None,
              help=f"--flame: whole seconds sampled (py-spy's unit). Default: "
                   f"{WORKLOAD_SECONDS:g} of hot loop; {PID_SECONDS:g} with --pid; a launched "
                   "program until it exits.")
@click.option("--pid", type=int, default=None,
              help="--flame: attach to this running Python process instead of a workload.")
@click.option("--py-spy", "pyspy_path", default=None, metavar="PATH",
              help="--flame: the py-spy executable. Default: on PATH or beside this Python.")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def profile(ctx: click.Context, spec, json_path, output, force, iterations, top, flame, fmt,
            rate, native, duration, pid, pyspy_path, command) -> None:
    """Profile only the hot loop (after warm-up) and make guard evaluation visible.

    Without --flame: cProfile, written as a .prof for snakeviz/pstats in which each compiled
    frame's guard evaluation is its own entry ('[dynamo guards] foo (10 entries)', time from
    the replayed guard cost), plus the untouched raw profile beside it.

    With --flame: py-spy samples (native frames by default), a flame graph in which the cache
    lookup tower shows, and the share of samples in it next to the replayed share.

    After --, your own program (python SCRIPT ARGS… or python -m MODULE …), run here from
    start to end: cProfile of all of it, each compiled frame's guard time derived from its
    sampled calls (as `guardprof run -- …` samples them); the program's stdout is its own, its
    exit status guardprof's; --json saves the program's report (guards --load, report).

    \b
    Examples:
      guardprof profile --backend eager         # cProfile → guardprof-profile.prof
      guardprof view guardprof-profile.prof     # open it in snakeviz
      guardprof profile --flame                 # py-spy → guardprof-flame.svg
      guardprof profile --flame --format speedscope -o run.speedscope.json
      guardprof profile --flame --pid 12345 --duration 10
      guardprof profile -- python train.py --epochs 1      # cProfile of your program
      guardprof profile --flame -- python train.py --epochs 1
    """
    given = {name for name in ctx.params
             if ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE}
    if command:
        given.add("command")
    if not flame:
        stray = sorted(given & set(FLAME_ONLY))
        if stray:
            raise WorkloadUsageError(f"{_opt(stray[0])} needs --flame")
    else:
        stray = sorted(given & set(CPROFILE_ONLY))
        if stray:
            raise WorkloadUsageError(f"{_opt(stray[0])} is for cProfile; not with --flame")
    if pid is not None and command:
        raise WorkloadUsageError("give either --pid or a command after --, not both")
    if command and not flame and "iterations" in given:
        raise WorkloadUsageError("--iterations counts hot-loop iterations of a workload; a "
                                 "program is profiled from start to end")
    if pid is not None or command:
        # a program profiled with cProfile has a report of its own to save (--json)
        program_report = command and not flame
        stray = sorted(given & set(WORKLOAD_ONLY) - ({"json_path"} if program_report else set()))
        if stray:
            raise WorkloadUsageError(f"{_opt(stray[0])} describes a guardprof workload; with "
                                     "--pid or a command the program is yours")
    if flame:
        # Guards run in the worker or the target process, not here: Ctrl-C keeps its default
        # meaning, so a blocking wait on py-spy is interrupted at once.
        progress = Progress()
        try:
            _flame(spec, json_path, output, force, fmt, rate, native, duration, pid, pyspy_path,
                   list(command), progress)
        finally:
            progress.clear()
    elif command:
        from guardprof.cli.program import profile_program

        profile_program(command, output or DEFAULT_PROFILE, output is not None, force, top,
                        json_path)
    else:
        with Progress() as progress:  # guards run in this process: Ctrl-C at a safe point
            _cprofile(spec, json_path, output, force, iterations, top, progress)


def _opt(param: str) -> str:
    return {"fmt": "--format", "pyspy_path": "--py-spy", "command": "a command after --",
            "json_path": "--json", "native": "--native/--no-native"}.get(
        param, "--" + param.replace("_", "-"))


def _cprofile(spec, json_path, output, force, iterations, top, progress) -> None:
    from guardprof.model.run_report import save_report
    from guardprof.profilers.cprofile import raw_path_for, run_cprofile, write_stats
    from guardprof.render.profile import render_cprofile

    derived_path = output or DEFAULT_PROFILE
    raw_path = raw_path_for(derived_path)
    check_fresh([derived_path, raw_path], output is not None, force)
    if json_path is not None:
        check_writable(json_path)
    if iterations is not None and iterations < 1:
        raise WorkloadUsageError(f"--iterations must be at least 1, got {iterations}")
    run = run_cprofile(spec, iterations, progress)
    progress.clear()
    write_stats(raw_path, run.raw)
    write_stats(derived_path, run.derived)
    if json_path is not None:
        save_report(run.report, json_path)
    click.echo(render_cprofile(run, derived_path, raw_path, top))
    if json_path is not None:
        click.echo(f"  {json_path}  the unprofiled measurement (JSON) — guardprof run --load "
                   f"{json_path}")


def _flame(spec, json_path, output, force, fmt, rate, native, duration, pid, pyspy_path,
           command, progress) -> None:
    from guardprof.model.run_report import save_report
    from guardprof.profilers import pyspy as pyspy_mod
    from guardprof.render.profile import render_flame

    path = output or Path(pyspy_mod.DEFAULT_OUTPUTS[fmt])
    check_fresh([path], output is not None, force)
    if json_path is not None:
        check_writable(json_path)
    pyspy = pyspy_mod.find_pyspy(pyspy_path)
    options = pyspy_mod.RecordOptions(fmt=fmt, rate=rate, native=native)
    if pid is not None:
        result = pyspy_mod.profile_pid(pid, duration or PID_SECONDS, pyspy, options, path,
                                       progress)
    elif command:
        result = pyspy_mod.profile_command(command, duration, pyspy, options, path, progress)
    else:
        result = pyspy_mod.profile_workload(spec, pyspy, options, path,
                                            duration or WORKLOAD_SECONDS, progress)
    progress.clear()
    if json_path is not None and result.report is not None:
        save_report(result.report, json_path)
    click.echo(render_flame(result))
    if json_path is not None and result.report is not None:
        click.echo(f"  {json_path}  the unsampled measurement (JSON) — guardprof run --load "
                   f"{json_path}")


# --- guardprof view -------------------------------------------------------------------------


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port for snakeviz; 0 picks a free one.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address snakeviz listens on (keep 127.0.0.1 unless you mean to share it).")
@click.option("--no-browser", is_flag=True, help="Start the server only; open the URL yourself.")
def view(file: Path, port: int, host: str, no_browser: bool) -> None:
    """Open a profile (.prof) in snakeviz, e.g. the one `guardprof profile` wrote.

    The '[dynamo guards] …' entries are guard evaluation, derived from the replayed guard
    cost; everything else is cProfile's own. Ctrl-C stops the server.
    """
    from guardprof.profilers.cprofile import load_stats

    load_stats(file)
    if not _importable("snakeviz"):  # started as `python -m snakeviz` below
        raise GuardprofError("snakeviz is not installed: pip install snakeviz")
    port = port or free_port(host)
    args = [sys.executable, "-m", "snakeviz", "-H", host, "-p", str(port)]
    if no_browser:
        args.append("-s")
    proc = subprocess.Popen([*args, str(file.resolve())])
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        rc = proc.wait()
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM: stop snakeviz too, never leave it behind
        rc = 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    if rc != 0:
        raise GuardprofError(f"snakeviz exited with status {rc}")


def _interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None
