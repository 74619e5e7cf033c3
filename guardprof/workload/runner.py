"""Building, compiling and timing a workload, the way dynamo_guard_eval.py does.

Warm-up is three iterations timed with `perf_counter`; the hot loop is `timeit.repeat` (which
turns the garbage collector off while timing, as the original gets for free), one iteration
making each call of the workload once, in order.
"""

from __future__ import annotations

import random
import time
import timeit
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from guardprof.dynamo import compiler
from guardprof.errors import GuardprofError, WorkloadUsageError
from guardprof.progress import SILENT, Progress
from guardprof.workload.spec import Call, Workload, WorkloadSpec, load_target, standard_workload

WARMUP_ITERATIONS = 3
# For calibrated user workloads: each timing repeat should last at least this long.
CALIBRATION_TARGET_S = 0.2


@dataclass
class PreparedWorkload:
    """A workload ready to run: its compiled and eager callables and its calls."""

    spec: WorkloadSpec
    workload: Workload
    compiled: Callable[..., Any]
    eager: Callable[..., Any]
    compiled_as_given: bool  # the user passed a torch.compile result; our options did not apply
    # How a fresh copy of the target is compiled (a differential experiment's copies): None =
    # torch.compile with the spec's backend and `dynamic`; a program's frame passes its own
    # dispatcher's, `(fn, guard_filter) -> compiled`, so copies get the program's settings.
    compile_like: Callable[[Any, Any], Callable[..., Any]] | None = None

    @property
    def calls(self) -> list[Call]:
        return list(self.workload.calls)

    def iteration(self, fn: Callable[..., Any]) -> Callable[[], None]:
        """One hot-loop iteration over `fn`: each call once, in order (the original's run_fn)."""
        calls = [(c.args, c.kwargs) for c in self.workload.calls]

        def run_fn() -> None:
            for args, kwargs in calls:
                fn(*args, **kwargs)

        return run_fn


def check_device(device: str) -> None:
    import torch

    if device not in ("cpu", "cuda"):
        raise WorkloadUsageError(f"--device must be cpu or cuda, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise WorkloadUsageError(
            f"--device cuda: CUDA is not available to this torch ({torch.__version__})"
        )


def apply_seed(seed: int | None) -> None:
    """Seed torch and Python before the workload's inputs are made (`--seed`)."""
    if seed is not None:
        import torch

        torch.manual_seed(seed)
        random.seed(seed)


def prepare(spec: WorkloadSpec, *, reset: bool = True,
            customize: Callable[[Workload], None] | None = None) -> PreparedWorkload:
    """Reset dynamo, seed, build the workload and compile it (compilation happens at warm-up).

    `reset=False` keeps what dynamo compiled before (what-if builds its variants side by side);
    `customize` changes the built workload before it is compiled (a variant's own code object,
    mark_dynamic on its inputs).
    """
    compiler.check_supported()
    check_device(spec.device)
    if reset:
        compiler.set_recompile_limit(spec.recompile_limit)
        compiler.reset()
    apply_seed(spec.seed)
    if spec.kind == "standard":
        workload = standard_workload(spec.num_args, spec.sizes, spec.device)
    else:
        workload = load_target(spec.target)
    if customize is not None:
        customize(workload)
    fn = workload.fn
    if compiler.is_compiled(fn):
        return PreparedWorkload(spec, workload, fn, compiler.original_of(fn), True)
    compiled = compiler.compile_fn(fn, spec.backend, spec.dynamic)
    return PreparedWorkload(spec, workload, compiled, fn, False)


def synchronize(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def warm_up(run_fn: Callable[[], None], device: str, progress: Progress = SILENT) -> float:
    """Three timed iterations; the first compiles every entry. Returns seconds."""
    start = time.perf_counter()
    for i in range(WARMUP_ITERATIONS):
        progress.update(f"warm-up iteration {i + 1}/{WARMUP_ITERATIONS}")
        try:
            run_fn()
        except Exception as exc:
            raise GuardprofError(
                f"the workload raised {type(exc).__name__} during warm-up: {exc}"
            ) from exc
    synchronize(device)
    return time.perf_counter() - start


def calibrate_number(run_fn: Callable[[], None], target_s: float = CALIBRATION_TARGET_S) -> int:
    """Iterations per repeat so that one repeat lasts ≥ `target_s` (timeit.autorange)."""
    number = 1
    while True:
        elapsed = timeit.Timer(run_fn).timeit(number)
        if elapsed >= target_s:
            return number
        # Grow geometrically, aiming straight at the target once we have a usable estimate.
        if elapsed > min(0.01, target_s / 4):
            return max(number + 1, int(number * target_s / elapsed) + 1)
        number *= 10


def time_loop(
    run_fn: Callable[[], None],
    number: int,
    repeat: int,
    device: str,
    label: str,
    progress: Progress = SILENT,
    between_rounds: Callable[[], None] | None = None,
) -> list[float]:
    """Seconds for `number` iterations, `repeat` times (timeit.repeat, one repeat at a time).

    `between_rounds` runs after each round, outside the timed region (a profiler pass).
    """
    timer = timeit.Timer(run_fn)
    results = []
    for r in range(repeat):
        progress.update(f"timing {label}: round {r + 1}/{repeat} ({number} iterations each)")
        synchronize(device)
        results.append(timer.timeit(number))
        if between_rounds is not None:
            between_rounds()
    synchronize(device)
    return results
