"""Options shared by every command that builds a workload, and the spec they describe."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import click

from guardprof.errors import WorkloadUsageError
from guardprof.workload.spec import WorkloadSpec, parse_sizes

STANDARD_SIZES = "10:101:10"


def workload_options(default_backend: str = "inductor", timing: bool = True) -> Callable:
    """Decorate a command with the workload options; it receives `spec: WorkloadSpec`.

    `timing=False` leaves out --number/--repeat, for commands that do not time the hot loop.
    """

    options = [
        click.option("--target", metavar="MODULE:NAME|FILE.py:NAME", default=None,
                     help="Your own workload: a guardprof.Workload or a zero-argument callable "
                          "returning one. Default: the standard dynamo_guard_eval workload."),
        click.option("--backend", default=default_backend, show_default=True,
                     help="torch.compile backend (eager keeps compilation fast)."),
        click.option("--num-args", type=int, default=100, show_default=True,
                     help="Standard workload: tensor arguments of foo."),
        click.option("--sizes", default=STANDARD_SIZES, show_default=True,
                     help="Standard workload: tensor sizes, START:STOP:STEP or a list (8,16,32); "
                          "one call (and one cache entry) per size."),
        click.option("--dynamic/--no-dynamic", "dynamic", default=False, show_default=True,
                     help="torch.compile(dynamic=...)."),
        click.option("--auto-dynamic", is_flag=True,
                     help="torch.compile(dynamic=None): torch's automatic-dynamic default."),
        click.option("--recompile-limit", type=int, default=16, show_default=True,
                     help="torch._dynamo.config.recompile_limit."),
        *(_timing_options() if timing else []),
        click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu",
                     show_default=True, help="Where the standard workload's tensors live."),
        click.option("--seed", type=int, default=None, help="torch.manual_seed before building."),
    ]

    def decorator(command: Callable) -> Callable:
        @functools.wraps(command)
        def wrapper(*args, target, backend, num_args, sizes, dynamic, auto_dynamic,
                    recompile_limit, device, seed, number=None, repeat=10, **kwargs):
            if auto_dynamic and click.get_current_context().get_parameter_source(
                    "dynamic") is not click.core.ParameterSource.DEFAULT:
                raise click.UsageError(
                    "--auto-dynamic is torch.compile(dynamic=None); it cannot be combined with "
                    "--dynamic or --no-dynamic")
            spec = build_spec(target=target, backend=backend, num_args=num_args, sizes=sizes,
                              dynamic=None if auto_dynamic else dynamic,
                              recompile_limit=recompile_limit, number=number, repeat=repeat,
                              device=device, seed=seed)
            return command(*args, spec=spec, **kwargs)

        for option in reversed(options):
            wrapper = option(wrapper)
        return wrapper

    return decorator


def _timing_options() -> list[Callable]:
    return [
        click.option("--number", type=int, default=None,
                     help="Iterations per timing round. Default: 1000 for the standard "
                          "workload, calibrated (≥0.2 s per round) for --target."),
        click.option("--repeat", type=int, default=10, show_default=True,
                     help="Timing rounds; the median is reported."),
    ]


def build_spec(*, target, backend, num_args, sizes, dynamic, recompile_limit, number, repeat,
               device, seed) -> WorkloadSpec:
    if num_args < 1:
        raise WorkloadUsageError(f"--num-args must be at least 1, got {num_args}")
    if recompile_limit < 1:
        raise WorkloadUsageError(f"--recompile-limit must be at least 1, got {recompile_limit}")
    if number is not None and number < 1:
        raise WorkloadUsageError(f"--number must be at least 1, got {number}")
    if repeat < 1:
        raise WorkloadUsageError(f"--repeat must be at least 1, got {repeat}")
    parsed_sizes = parse_sizes(sizes)
    if target is None:
        return WorkloadSpec(kind="standard", name="compiled", backend=backend, dynamic=dynamic,
                            num_args=num_args, sizes=parsed_sizes,
                            recompile_limit=recompile_limit,
                            number=1000 if number is None else number, repeat=repeat,
                            device=device, seed=seed)
    return WorkloadSpec(kind="target", name=target, target=target, backend=backend,
                        dynamic=dynamic, num_args=None, sizes=None,
                        recompile_limit=recompile_limit, number=number, repeat=repeat,
                        device=device, seed=seed)


def json_option(help_text: str = "Also write the report as JSON to PATH (atomically).") -> Callable:
    return click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
                        default=None, metavar="PATH", help=help_text)
