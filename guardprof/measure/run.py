"""Workload → measurement → GuardReport: the one pipeline every command builds on."""

from __future__ import annotations

import contextlib
import math
import os
import platform
import statistics
import sys
import time
import types
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

import numpy as np

from guardprof.dynamo import (
    cache,
    compile_log,
    compiler,
    guard_walk,
    lookup_clock,
    profiler_events,
)
from guardprof.dynamo.compile_log import CompileRecorder
from guardprof.dynamo.lookup_clock import LookupClock
from guardprof.measure.capture import Capture, capture_iteration, frame_naming
from guardprof.measure.decomposition import decompose
from guardprof.measure.in_situ import InSituTimer
from guardprof.measure.lookup_probes import FrameShape
from guardprof.measure.noise import NoiseProbe
from guardprof.measure.replay import METHOD as REPLAY_METHOD
from guardprof.measure.replay import TARGET_REPLAY_SECONDS, Replay, ReplayTimer
from guardprof.model.decomposition import FrameDecomposition
from guardprof.model.in_situ import AcceptedBreakdown, BreakdownRow, InSitu
from guardprof.model.in_situ import Check as InSituCheck
from guardprof.model.in_situ import verdict as in_situ_verdict
from guardprof.model.run_report import (
    CallGuardCost,
    CrossCheck,
    EntryReport,
    Environment,
    FrameReport,
    GuardCost,
    GuardReport,
    ReplayBlock,
    Timing,
    WorkloadInfo,
)
from guardprof.model.stats import SampleStats
from guardprof.progress import SILENT, Progress
from guardprof.workload.runner import (
    WARMUP_ITERATIONS,
    PreparedWorkload,
    calibrate_number,
    prepare,
    time_loop,
    warm_up,
)
from guardprof.workload.spec import WorkloadSpec

# The eager baseline's iterations per round, as a share of the headline's: it is a comparison,
# and its full-length rounds cost 1.8 s of the standard run's 15-s budget (2026-12-05).
EAGER_NUMBER_SHARE = 0.25
TIMING_METHOD = (
    "timed in the hot loop: timeit.repeat(number, repeat) of one iteration (each call once), "
    "median over repeats; the eager baseline (a comparison, not a part of the compiled call) "
    f"with {EAGER_NUMBER_SHARE:g} × number iterations per repeat"
)
CROSS_CHECK_MIN_CALLS = 200  # per pass
CROSS_CHECK_MAX_ITERATIONS = 50  # per pass
CROSS_CHECK_PASSES = 3
REPLAY_BLOCKS = 3
MIN_IN_SITU_ROUNDS = 10  # an interval (and compare's saved-mode gate) from at least this many
IN_SITU_TARGET_SPREAD = 0.10  # more rounds while the quartiles span more than this of the median
IN_SITU_EXTRA_BUDGET_S = 3.0  # ... within this much more time (this VM has slow phases of
# seconds in which a lookup takes up to twice as long; more rounds let the median pass them)
PROFILER_CHECK_METHOD = (
    "torch.profiler 'TorchDynamo Cache Lookup' events (dynamo's own record around its walk), "
    "summed per call, in {passes} between the headline's rounds, median of the passes, judged "
    "against the in-situ figure, raw; on a one-guard probe its event less that guard's in-situ "
    "cost is stated (what the event holds beyond the guard); the lookup clock runs in the same "
    "passes too, and what it reads more there is stated"
)
FRAME_LOCALS_METHOD = (
    "in situ: a probe frame with as many arguments keeping only the root lambda guard, less the "
    "guard-free probe, less that lambda guard replayed: the dict of frame locals dynamo builds "
    "for a Python guard, which the replay never pays"
)


def cross_check_method(passes: int) -> str:
    """The cross-check's method, with the passes it really ran (fewer with --repeat < 3)."""
    what = {0: "no pass between", 1: "1 pass after"}.get(passes, f"{passes} passes spread between")
    return (
        f"profiler events: torch.profiler 'TorchDynamo Cache Lookup' events in {what} the "
        "compiled timing rounds (not during them); per pass the sum of every lookup event over "
        "the calls it covered, median over passes (a sum, because lookups of different frames "
        "and walk depths differ in cost)"
    )


@dataclass
class WarmWorkload:
    """A prepared workload after warm-up: every entry compiled, ready for the hot loop."""

    prepared: PreparedWorkload
    warmup_s: float
    compiles: CompileRecorder
    number: int
    number_calibrated: bool
    compile_counters: dict[str, dict[str, int]]  # how dynamo's counters moved in warm-up

    @property
    def spec(self) -> WorkloadSpec:
        return self.prepared.spec

    def run_compiled(self):
        return self.prepared.iteration(self.prepared.compiled)

    def run_eager(self):
        return self.prepared.iteration(self.prepared.eager)


def warm(spec: WorkloadSpec, progress: Progress = SILENT, *,
         prepared: PreparedWorkload | None = None,
         calibrate_within: Callable[[], AbstractContextManager] | None = None) -> WarmWorkload:
    """Prepare, compile (during warm-up, as the original does) and choose `number`.

    `prepared`: a workload `prepare` already built (what-if's variants); `calibrate_within`:
    the context the hot loop will be timed in (what-if's skip-guards stance), so that `number`
    is calibrated under it.
    """
    progress.update("building the workload")
    counters_before = compile_log.dynamo_counters()
    prepared = prepare(spec) if prepared is None else prepared
    run_fn = prepared.iteration(prepared.compiled)

    # The standard workload with static shapes compiles one entry per distinct size.
    expected = (
        f"/{len(set(spec.sizes))}" if spec.kind == "standard" and spec.dynamic is False else ""
    )

    def on_compile(record) -> None:
        progress.update(
            f"compiling entry {len(recorder.records)}{expected} (compile id {record.compile_id}, "
            f"backend {spec.backend})"
        )

    with CompileRecorder(on_compile) as recorder:
        warmup_s = warm_up(run_fn, spec.device, progress)
    counters = compile_log.counters_since(counters_before)
    if spec.number is not None:
        return WarmWorkload(prepared, warmup_s, recorder, spec.number, False, counters)
    progress.update("calibrating iterations per timing round")
    with (calibrate_within or contextlib.nullcontext)():
        number = calibrate_number(run_fn)
    return WarmWorkload(prepared, warmup_s, recorder, number, True, counters)


def measure(
    spec: WorkloadSpec,
    progress: Progress = SILENT,
    *,
    eager_baseline: bool = True,
    cross_check: bool = True,
    decomposition: bool = False,
) -> GuardReport:
    return measure_warm(
        warm(spec, progress), progress, eager_baseline=eager_baseline, cross_check=cross_check,
        decomposition=decomposition,
    )


def measure_warm(
    warmed: WarmWorkload,
    progress: Progress = SILENT,
    *,
    eager_baseline: bool = True,
    cross_check: bool = True,
    decomposition: bool = False,
) -> GuardReport:
    """The run report; `decomposition` adds the hot-loop decomposition (after the headline
    timing, which it must not disturb: its loops reorder the cache)."""
    spec, prepared = warmed.spec, warmed.prepared
    calls = prepared.calls
    lookups = _LookupEvents.plan(warmed.run_compiled(), len(calls))
    # One iteration captured first (it leaves the cache in the order any iteration does): which
    # frames each call runs, on which locals; the in-situ rounds need its frames.
    progress.update("capturing one iteration's frames and cache order")
    capture = capture_iteration(prepared.compiled, calls)
    in_situ_timer = in_situ_timer_for(prepared, capture)
    lookups.frame_globals = in_situ_timer.frame_globals
    noise = NoiseProbe()
    noise.start()

    def after_each_round() -> None:
        noise.sample()
        in_situ_timer.time_round()

    compiled_s = time_loop(
        warmed.run_compiled(), warmed.number, spec.repeat, spec.device, "compiled", progress,
        between_rounds=_AfterRounds(
            _spread(CROSS_CHECK_PASSES, spec.repeat) if cross_check else set(),
            lookups.record_pass, every=after_each_round),
    )
    noise.stop()
    # As torch.utils.benchmark's adaptive_autorange: more rounds until the quartiles are narrow
    # enough, within a budget (the report states the resolution reached).
    extra_until = time.perf_counter() + IN_SITU_EXTRA_BUDGET_S
    while in_situ_timer.why_not is None and (
            len(in_situ_timer.rounds) < MIN_IN_SITU_ROUNDS
            or (not in_situ_timer.settled(IN_SITU_TARGET_SPREAD)
                and time.perf_counter() < extra_until)):
        progress.update(f"in situ: round {len(in_situ_timer.rounds) + 1} (until its quartiles "
                        f"span ≤ {100 * IN_SITU_TARGET_SPREAD:.0f}% of the median)")
        in_situ_timer.time_round()
    # Replay blocks spread over the eager timing (between its rounds), as the profiler passes
    # are over the compiled one: one burst of machine noise then spoils one block, not all.
    timer = ReplayTimer(capture)
    block_s = TARGET_REPLAY_SECONDS / REPLAY_BLOCKS
    timer.time_block(block_s, progress)
    eager_s = None
    if eager_baseline:
        noise.start()
        eager_number = max(1, round(warmed.number * EAGER_NUMBER_SHARE))
        eager_s = time_loop(
            warmed.run_eager(), eager_number, spec.repeat, spec.device, "eager", progress,
            between_rounds=_AfterRounds(
                _spread(REPLAY_BLOCKS - 1, spec.repeat),
                lambda: timer.time_block(block_s, progress), every=noise.sample,
            ),
        )
    noise.stop()
    while len(timer.block_medians_ns) < REPLAY_BLOCKS and timer.sequence:
        timer.time_block(block_s, progress)
    replayed = timer.result()
    check = lookups.cross_check(len(calls)) if cross_check else _cross_check_skipped()
    progress.update("in situ: timing the guard-free probe frames")
    in_situ, frame_locals_us = in_situ_timer.result(profiler_check(check),
                                                    clock_in_profiler_passes(check))
    guard_cost = guard_cost_of(replayed, len(calls), timer.block_results())
    headline_us = statistics.median(compiled_s) * 1e6 / (warmed.number * len(calls))
    by_frame = replayed_by_frame(replayed, len(calls))
    decomposed = (decompose(capture, prepared, guard_cost, headline_us, progress, by_frame)
                  if decomposition else None)
    progress.clear()

    per_iter = 1e6 / warmed.number
    timing = Timing(
        method=TIMING_METHOD,
        compiled_us_per_iteration=SampleStats.of([t * per_iter for t in compiled_s], "us"),
        eager_us_per_iteration=(
            SampleStats.of([t * 1e6 / eager_number for t in eager_s], "us") if eager_s else None
        ),
        warmup_s=warmed.warmup_s,
        calls_per_iteration=len(calls),
        warmup_iterations=WARMUP_ITERATIONS,
    )
    notes = [n for n in (warmed.compiles.note, check.note) if n]
    if capture.new_entries:
        notes.append(
            f"{capture.new_entries} cache entries were compiled after warm-up: the workload "
            "was still compiling, so timings include compilation"
        )
    return GuardReport(
        result_line=f"{prepared.workload.name} {timing.compiled_us_per_iteration.median:.1f}us "
        f"(warmup={warmed.warmup_s:.1f}s)",
        environment=environment(spec.device),
        workload=workload_info(warmed),
        timing=timing,
        guard_cost=guard_cost,
        cross_check=check,
        frames=_frames(capture, replayed, warmed.compiles, by_frame,
                       decomposed.frames if decomposed else {}),
        notes=notes,
        unattributed_reasons=list(warmed.compiles.trailing_reasons),
        dynamo_counters=warmed.compile_counters,
        decomposition=decomposed.call if decomposed else None,
        noise=noise.result(),
        in_situ=in_situ,
        accepted_breakdown=accepted_breakdown(in_situ, frame_locals_us,
                                              guard_cost.accepted_us_per_call),
    )


def in_situ_timer_for(prepared: PreparedWorkload, capture: Capture) -> InSituTimer:
    """The in-situ timer of the workload's own loop: each call's frames, in the order its
    lookups run them, from the captured iteration."""
    calls = prepared.calls
    frames = [[FrameShape.of(inv.code, inv.caller) for inv in capture.invocations
               if inv.call_index == i] for i in range(len(calls))]
    namespaces = [inv.f_globals for inv in capture.invocations if inv.f_globals is not None]
    return InSituTimer([(prepared.compiled, c) for c in calls], frames, namespaces)


def profiler_check(check: CrossCheck) -> InSituCheck:
    """The profiler's lookup events as the in-situ figure's cross-check (the in-situ timer
    judges them against its figure)."""
    passes = len(check.pass_per_call_us)
    method = PROFILER_CHECK_METHOD.format(passes=f"{passes} pass{'es' if passes != 1 else ''}")
    if not check.available:
        return InSituCheck(method, None, note=check.note)
    return InSituCheck(method, check.per_call_us)


def clock_in_profiler_passes(check: CrossCheck) -> float | None:
    """The lookup clock's µs per call in the profiler's passes, median over passes."""
    return float(np.median(check.pass_clock_us)) if check.pass_clock_us else None


def accepted_breakdown(in_situ: InSitu, frame_locals_us: float | None,
                       replayed_accepted_us: float) -> AcceptedBreakdown | None:
    """The in-situ accepted check = frame-locals dict (in situ, the probes) + the accepted
    entry's replayed checks + a residual; checked against the in-situ figure at ±15%."""
    if in_situ.accepted_us is None or frame_locals_us is None:
        return None
    rows = [BreakdownRow("frame_locals", frame_locals_us, FRAME_LOCALS_METHOD),
            BreakdownRow("guard_checks", replayed_accepted_us, REPLAY_METHOD)]
    explained_us = sum(r.us for r in rows)
    ratio, verdict = in_situ_verdict(in_situ.accepted_us, explained_us)
    return AcceptedBreakdown(in_situ.accepted_us, rows, in_situ.accepted_us - explained_us,
                             ratio, verdict)


def environment(device: str) -> Environment:
    import torch

    from guardprof.version import __version__

    device_name = platform.processor() or platform.machine()
    if device == "cuda":
        device_name = torch.cuda.get_device_name()
    return Environment(
        guardprof_version=__version__,
        torch_version=compiler.torch_version(),
        python_version=sys.version.split()[0],
        platform=platform.platform(),
        device=device,
        device_name=device_name,
        torch_threads=torch.get_num_threads(),
        cpu_count=os.cpu_count() or 0,
    )


def workload_info(warmed: WarmWorkload) -> WorkloadInfo:
    spec, prepared = warmed.spec, warmed.prepared
    return WorkloadInfo(
        kind=spec.kind,
        name=prepared.workload.name,
        target=spec.target,
        backend=spec.backend,
        dynamic=str(spec.dynamic),
        num_args=spec.num_args if spec.kind == "standard" else None,
        sizes=list(spec.sizes) if spec.kind == "standard" and spec.sizes else None,
        recompile_limit=spec.recompile_limit,
        number=warmed.number,
        number_calibrated=warmed.number_calibrated,
        repeat=spec.repeat,
        device=spec.device,
        seed=spec.seed,
        calls_per_iteration=len(prepared.calls),
        compiled_as_given=prepared.compiled_as_given,
    )


def _call_costs(replayed: Replay, n_calls: int) -> list[CallGuardCost]:
    calls = []
    for i in range(n_calls):
        invocations = [inv for inv in replayed.invocations if inv.call_index == i]
        steps = [step for inv in invocations for step in inv.steps]
        rejected = [step.seconds * 1e6 for step in steps if not step.passed]
        calls.append(CallGuardCost(
            call_index=i,
            walk_depth=len(steps),
            rejected_checks=len(rejected),
            rejected_us=sum(rejected),
            accepted_us=sum(step.seconds * 1e6 for step in steps if step.passed),
            fell_back=any(inv.fell_back for inv in invocations),
        ))
    return calls


def guard_cost_of(replayed: Replay, n_calls: int, blocks: list[Replay] | None = None) -> GuardCost:
    def block(one: Replay) -> ReplayBlock:
        calls = _call_costs(one, n_calls)
        return ReplayBlock([c.rejected_us for c in calls], [c.accepted_us for c in calls])

    return GuardCost(
        method=REPLAY_METHOD,
        calls=_call_costs(replayed, n_calls),
        python_call_overhead_us=replayed.call_overhead_s * 1e6,
        mismatches=replayed.mismatches,
        blocks=[block(b) for b in blocks or []],
    )


def _median_or_none(values: list[float]) -> float | None:
    return float(np.median(values)) if values else None


def replayed_by_frame(replayed: Replay, n_calls: int) -> dict[types.CodeType, tuple[float, float]]:
    """Per frame, the replay's (rejected, accepted) µs per call of the workload."""
    n_calls = max(1, n_calls)
    out: dict[types.CodeType, tuple[float, float]] = {}
    for inv in replayed.invocations:
        rejected, accepted = out.get(inv.code, (0.0, 0.0))
        for step in inv.steps:
            if step.passed:
                accepted += step.seconds * 1e6 / n_calls
            else:
                rejected += step.seconds * 1e6 / n_calls
        out[inv.code] = (rejected, accepted)
    return out


def _frames(
    capture: Capture, replayed: Replay, compiles: CompileRecorder,
    by_frame: dict[types.CodeType, tuple[float, float]],
    decomposed: dict[types.CodeType, FrameDecomposition],
) -> list[FrameReport]:
    reasons = compiles.reasons_by_compile_id()
    frames = []
    for code, entries in capture.order_before.items():
        invocations = [inv for inv in replayed.invocations if inv.code is code]
        entry_reports = []
        for position, entry in enumerate(entries):
            steps = [
                s for inv in invocations for s in inv.steps if s.compile_id == entry.compile_id
            ]
            kinds = guard_walk.guard_kind_counts(entry.guard_tree())
            entry_reports.append(
                EntryReport(
                    compile_id=entry.compile_id,
                    position=position,
                    guards_total=sum(kinds.values()),
                    guards_by_kind=dict(sorted(kinds.items(), key=lambda kv: -kv[1])),
                    serves_calls=sorted(
                        {inv.call_index for inv in invocations if inv.accepted == entry.compile_id}
                    ),
                    pass_check_us=_median_or_none([s.seconds * 1e6 for s in steps if s.passed]),
                    fail_check_us=_median_or_none(
                        [s.seconds * 1e6 for s in steps if not s.passed]
                    ),
                    recompile_reasons=reasons.get(entry.compile_id, []),
                )
            )
        naming = frame_naming(capture, code)
        frames.append(
            FrameReport(
                name=naming.name,
                filename=naming.filename,
                firstlineno=naming.firstlineno,
                entries=entry_reports,
                uncompiled_calls=sorted({inv.call_index for inv in invocations if inv.fell_back}),
                torch_internal=cache.is_torch_internal(code),
                guard_us_per_call=sum(by_frame.get(code, (0.0, 0.0))),
                entries_on=naming.entries_on,
                decomposition=decomposed.get(code),
            )
        )
    return frames


@dataclass
class _AfterRounds:
    """A `between_rounds` hook: runs `action` after the planned timing rounds (1-based)."""

    rounds: set[int]
    action: Callable[[], None]
    every: Callable[[], None] | None = None  # after every round, before `action`
    done: int = 0

    def __call__(self) -> None:
        self.done += 1
        if self.every is not None:
            self.every()
        if self.done in self.rounds:
            self.action()


def _spread(count: int, rounds: int) -> set[int]:
    """After which of `rounds` timing rounds (1-based) to do `count` things, evenly spaced."""
    return {max(1, min(rounds, (k + 1) * rounds // count)) for k in range(count)}


def _cross_check_skipped() -> CrossCheck:
    return CrossCheck(method="profiler events: not run (--no-cross-check)", available=False,
                      note="cross-check not run")


@dataclass
class _LookupEvents:
    """torch.profiler's cache-lookup events, in a few passes spread between the timing rounds:
    one burst of machine noise then spoils one pass, not the figure (the median of the passes'
    medians). Each pass is long enough (≥ CROSS_CHECK_MIN_CALLS calls) that the profiler's
    start-up does not weigh on its median (shorter passes read 10–25% higher here)."""

    run_once: Callable[[], None]
    iterations_per_pass: int
    calls_per_iteration: int
    pass_medians_us: list[float] = field(default_factory=list)
    pass_per_call_us: list[float] = field(default_factory=list)
    pass_clock_us: list[float] = field(default_factory=list)  # the clock's lookup µs per call
    frame_globals: list[dict] = field(default_factory=list)  # resume calls stamped there too
    events: int = 0
    iterations: int = 0
    error: str | None = None

    @classmethod
    def plan(cls, run_once, calls_per_iteration: int) -> _LookupEvents:
        per_pass = min(
            CROSS_CHECK_MAX_ITERATIONS,
            max(1, math.ceil(CROSS_CHECK_MIN_CALLS / calls_per_iteration)),
        )
        return cls(run_once, per_pass, calls_per_iteration)

    def record_pass(self) -> None:
        if self.error is not None:
            return
        # The lookup clock runs in the same pass, on the same lookups: what the profiler adds
        # around each lookup while it records shows in the clock, not in the events.
        clock = (LookupClock(self.frame_globals) if lookup_clock.unavailable() is None
                 else None)
        try:
            with clock or contextlib.nullcontext():
                durations = profiler_events.profile_cache_lookups(
                    self.run_once, self.iterations_per_pass)
        except Exception as exc:  # the profiler differs by build: a note, not a crash
            self.error = f"torch.profiler failed on torch {compiler.torch_version()}: {exc}"
            return
        if clock is not None:
            spans = lookup_clock.lookup_spans(clock.stamps)
            calls = self.iterations_per_pass * self.calls_per_iteration
            self.pass_clock_us.append(sum(spans) / 1e3 / calls)
        self.iterations += self.iterations_per_pass
        self.events += len(durations)
        if durations:
            self.pass_medians_us.append(float(np.median(durations)))
            self.pass_per_call_us.append(
                sum(durations) / (self.iterations_per_pass * self.calls_per_iteration))

    def cross_check(self, calls_per_iteration: int) -> CrossCheck:
        passes = len(self.pass_per_call_us) or self.iterations // max(1, self.iterations_per_pass)
        base = dict(method=cross_check_method(passes), iterations=self.iterations,
                    pass_medians_us=list(self.pass_medians_us),
                    pass_per_call_us=list(self.pass_per_call_us),
                    pass_clock_us=list(self.pass_clock_us))
        if self.error is not None:
            return CrossCheck(available=False, note=self.error, **base)
        if not self.pass_medians_us:
            return CrossCheck(
                available=False,
                note=f"torch {compiler.torch_version()} recorded no "
                f"'{profiler_events.CACHE_LOOKUP_EVENT}' events",
                **base,
            )
        median = float(np.median(self.pass_medians_us))
        per_call = float(np.median(self.pass_per_call_us))
        return CrossCheck(
            available=True,
            events=self.events,
            median_event_us=median,
            per_call_us=per_call,
            **base,
        )
