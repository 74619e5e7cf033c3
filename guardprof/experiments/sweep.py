"""`guardprof sweep`: the standard workload over a grid of sizes, and how guard cost scales.

Each grid point is a full `run` measurement (without the profiler cross-check) of the standard
workload with N tensor args and K distinct sizes (10, 20, …, 10·K, so K cache entries), in one
dynamic mode. Points are written as they finish (`sweep.json` rewritten atomically, plus each
point's full report under `points/`), so Ctrl-C keeps every finished point.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from guardprof.analysis.cost_model import CostFit, ModelInput, fit
from guardprof.errors import GuardprofError, WorkloadUsageError
from guardprof.model.run_report import GuardReport, save_report
from guardprof.model.sweep import (
    GUARD_TARGET,
    OVERHEAD_TARGET,
    PLOT_FILE,
    POINTS_DIR,
    SUMMARY_FILE,
    SWEEP_FILE,
    SweepPoint,
    SweepResult,
    save_sweep,
)
from guardprof.progress import SILENT, Prefixed, Progress
from guardprof.workload.spec import WorkloadSpec

SIZE_STEP = 10
MIN_RECOMPILE_LIMIT = 16  # the standard workload's; raised per point to K when K is larger

DEFAULT_NUM_ARGS = "10,50,100,200"
DEFAULT_SIZES_COUNT = "1,2,4,8,16"
DEFAULT_DYNAMIC = "false"
DEFAULT_REPEAT = 5

_DYNAMIC_WORDS = {"false": False, "static": False, "true": True, "dynamic": True,
                  "none": None, "auto": None}


def parse_int_list(text: str, option: str) -> tuple[int, ...]:
    """`10,100,300` → (10, 100, 300): positive integers, in order, without repeats."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise WorkloadUsageError(f"{option} is empty: give a comma list of positive integers")
    values = []
    for item in items:
        try:
            value = int(item)
        except ValueError:
            raise WorkloadUsageError(
                f"{option}: {item!r} is not an integer (give a comma list, e.g. 10,100,300)"
            ) from None
        if value < 1:
            raise WorkloadUsageError(f"{option}: {value} is not positive")
        values.append(value)
    return tuple(dict.fromkeys(values))


def parse_dynamic_list(text: str) -> tuple[bool | None, ...]:
    items = [t.strip().lower() for t in text.split(",") if t.strip()]
    if not items:
        raise WorkloadUsageError("--grid-dynamic is empty: give some of false, true, auto")
    unknown = [t for t in items if t not in _DYNAMIC_WORDS]
    if unknown:
        raise WorkloadUsageError(
            f"--grid-dynamic: {unknown[0]!r} is not a dynamic mode (use false, true or auto)"
        )
    return tuple(dict.fromkeys(_DYNAMIC_WORDS[t] for t in items))


@dataclass(frozen=True)
class GridPoint:
    num_args: int
    sizes_count: int
    dynamic: bool | None

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(SIZE_STEP * (i + 1) for i in range(self.sizes_count))

    @property
    def slug(self) -> str:
        return f"args{self.num_args}-sizes{self.sizes_count}-dynamic{self.dynamic}"

    @property
    def label(self) -> str:
        return f"args={self.num_args} sizes={self.sizes_count} dynamic={self.dynamic}"

    @property
    def weight(self) -> float:
        """Relative cost, for the ETA: about 1.3 s per point plus 1.6 ms per arg × entry.

        (Measured with the eager backend: 1000 args × 16 sizes took 27 s, 10 × 1 took 1.3 s.)
        """
        return 1.0 + self.num_args * self.sizes_count / 800


@dataclass(frozen=True)
class SweepGrid:
    num_args: tuple[int, ...]
    sizes_count: tuple[int, ...]
    dynamic: tuple[bool | None, ...] = (False,)

    def points(self) -> list[GridPoint]:
        return [
            GridPoint(n, k, d)
            for d in self.dynamic
            for n in self.num_args
            for k in self.sizes_count
        ]


@dataclass(frozen=True)
class SweepSettings:
    backend: str = "eager"
    device: str = "cpu"
    repeat: int = DEFAULT_REPEAT
    number: int | None = None  # None: calibrated per point (≥ 0.2 s per timing round)
    seed: int | None = 0

    def spec(self, point: GridPoint) -> WorkloadSpec:
        return WorkloadSpec(
            kind="standard", name="compiled", backend=self.backend, dynamic=point.dynamic,
            num_args=point.num_args, sizes=point.sizes,
            recompile_limit=max(MIN_RECOMPILE_LIMIT, point.sizes_count),
            number=self.number, repeat=self.repeat, device=self.device, seed=self.seed,
        )


def point_from_report(point: GridPoint, report: GuardReport, seconds: float,
                      report_file: str) -> SweepPoint:
    cost, timing = report.guard_cost, report.timing
    per_round = timing.compiled_us_per_iteration.scaled(1 / timing.calls_per_iteration, "us")
    return SweepPoint(
        num_args=point.num_args,
        sizes_count=point.sizes_count,
        dynamic=str(point.dynamic),
        entries=report.entry_count,
        guards_per_entry=report.guards_per_entry(),
        walk_depth=cost.walk_depth_mean,
        rejected_per_call=cost.rejected_checks_per_call,
        compiled_us_per_call=timing.compiled_us_per_call,
        compiled_iqr_us_per_call=per_round.iqr,
        eager_us_per_call=timing.eager_us_per_call,
        overhead_us_per_call=timing.overhead_us_per_call,
        # the in-situ figure; the replayed one only where none was measured (the point says so)
        guard_us_per_call=(report.guard_us() if report.guard_us() is not None
                           else cost.total_us_per_call),
        guard_method="in situ" if report.guard_us() is not None else "replayed",
        guard_rejected_us_per_call=cost.rejected_us_per_call,
        guard_accepted_us_per_call=cost.accepted_us_per_call,
        number=report.workload.number,
        repeat=report.workload.repeat,
        warmup_s=timing.warmup_s,
        seconds=seconds,
        report_file=report_file,
    )


def fit_points(points: list[SweepPoint]) -> list[CostFit]:
    """One guard-time model and one timed-overhead model per dynamic mode."""
    fits = []
    for mode in dict.fromkeys(p.dynamic for p in points):
        group = [p for p in points if p.dynamic == mode]
        labels = [f"args={p.num_args} sizes={p.sizes_count}" for p in group]
        fits.append(fit(
            [ModelInput(p.num_args, p.rejected_per_call, p.guard_us_per_call, lab)
             for p, lab in zip(group, labels, strict=True)],
            GUARD_TARGET, f"dynamic={mode}",
        ))
        timed = [(p, lab) for p, lab in zip(group, labels, strict=True)
                 if p.overhead_us_per_call is not None]
        if timed:
            fits.append(fit(
                [ModelInput(p.num_args, p.rejected_per_call, p.overhead_us_per_call, lab)
                 for p, lab in timed],
                OVERHEAD_TARGET, f"dynamic={mode}",
            ))
    return fits


# --- the output folder ----------------------------------------------------------------------


def prepare_folder(out: Path, force: bool) -> Path:
    """Refuse an existing folder unless --force; with --force, remove only a sweep's own files."""
    if out.exists() and not out.is_dir():
        raise WorkloadUsageError(f"-o {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise WorkloadUsageError(
                f"-o {out}: folder exists and is not empty; pass --force to replace the "
                "sweep in it, or choose another folder"
            )
        for name in (SWEEP_FILE, SUMMARY_FILE, PLOT_FILE):
            (out / name).unlink(missing_ok=True)
        shutil.rmtree(out / POINTS_DIR, ignore_errors=True)
    if not out.parent.is_dir():
        raise GuardprofError(f"-o {out}: folder {out.parent} does not exist")
    (out / POINTS_DIR).mkdir(parents=True, exist_ok=True)
    return out


# --- running --------------------------------------------------------------------------------


def run_sweep(
    grid: SweepGrid,
    settings: SweepSettings,
    out: Path,
    progress: Progress = SILENT,
    on_point: Callable[[int, int, SweepPoint, float | None], None] | None = None,
) -> SweepResult:
    """Measure every grid point, writing as it goes; Ctrl-C stops and keeps finished points.

    `out` must already be prepared (`prepare_folder`). `on_point(i, n, point, eta_s)` is told
    of each finished point.
    """
    from guardprof.measure.replay import METHOD as REPLAY_METHOD
    from guardprof.measure.run import TIMING_METHOD, environment
    from guardprof.model.in_situ import METHOD as IN_SITU_METHOD

    planned = grid.points()
    result = SweepResult(
        environment=environment(settings.device),
        grid={"num_args": list(grid.num_args), "sizes_count": list(grid.sizes_count),
              "dynamic": [str(d) for d in grid.dynamic], "size_step": SIZE_STEP},
        settings=dataclasses.asdict(settings),
        methods={"timing": TIMING_METHOD,
                 "guard": f"{IN_SITU_METHOD}; walk depth and the rejected/accepted split: "
                          f"{REPLAY_METHOD}",
                 "sizes": f"K sizes: {SIZE_STEP}, {2 * SIZE_STEP}, …, {SIZE_STEP}·K "
                          f"(recompile_limit raised to K where K > {MIN_RECOMPILE_LIMIT})"},
        planned_points=len(planned),
    )
    save_sweep(result, out)
    run = _Run(settings, out, result, progress, on_point, sum(p.weight for p in planned))
    try:
        for i, point in enumerate(planned):
            run.measure(i, point)
    except KeyboardInterrupt:
        result.interrupted = True
    finally:
        progress.clear()
    result.elapsed_s = time.perf_counter() - run.start
    result.complete = not result.interrupted and len(result.points) == len(planned)
    if result.points:
        result.fits = fit_points(result.points)
    save_sweep(result, out)
    return result


@dataclass
class _Run:
    """The state of a sweep in progress: where it writes, how far it is, when it will end."""

    settings: SweepSettings
    out: Path
    result: SweepResult
    progress: Progress
    on_point: Callable[[int, int, SweepPoint, float | None], None] | None
    total_weight: float
    done_weight: float = 0.0
    start: float = field(default_factory=time.perf_counter)

    def measure(self, i: int, point: GridPoint) -> None:
        from guardprof.analysis.findings import explained
        from guardprof.measure.run import measure_warm, warm

        self.progress.check_interrupt()
        n = self.result.planned_points
        eta = self.eta_s()
        eta_text = "" if eta is None else f", ETA {eta:.0f} s"
        progress = Prefixed(self.progress, f"[{_bar(i, n)} {i}/{n}{eta_text}] {point.label}: ",
                            clears=False)  # the sweep clears its own line between points
        t0 = time.perf_counter()
        warmed = warm(self.settings.spec(point), progress)
        report = explained(measure_warm(warmed, progress, cross_check=False))
        self.progress.check_interrupt()
        report_file = f"{POINTS_DIR}/{point.slug}.json"
        save_report(report, self.out / report_file)
        sweep_point = point_from_report(point, report, time.perf_counter() - t0, report_file)
        self.result.points.append(sweep_point)
        self.result.elapsed_s = time.perf_counter() - self.start
        save_sweep(self.result, self.out)
        self.done_weight += point.weight
        if self.on_point is not None:
            self.on_point(i + 1, n, sweep_point, self.eta_s())

    def eta_s(self) -> float | None:
        """Seconds left, from the time so far per unit of point weight."""
        if self.done_weight <= 0:
            return None
        elapsed = time.perf_counter() - self.start
        return elapsed / self.done_weight * (self.total_weight - self.done_weight)


def _bar(done: int, total: int, width: int = 20) -> str:
    filled = round(width * done / total) if total else width
    return "#" * filled + "-" * (width - filled)
