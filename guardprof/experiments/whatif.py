"""`guardprof run --what-if`: alternatives to the baseline measured side by side, in one process.

Every variant is built, compiled and warmed before any timing, each on its own code object: a
fresh `foo` whose file name names the variant, so neither dynamo's cache entries nor its
automatic-dynamic state (keyed by file, line and name) are shared. `torch._dynamo.reset()` runs
once, before the first build. The timing rounds are interleaved: round r times every variant
once, in an order rotated each round, so drift on a shared machine lands on all alike, and the
speed-up interval pairs the rounds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
import types
from collections.abc import Callable
from dataclasses import dataclass, field

from guardprof.analysis.intervals import bootstrap_ratio
from guardprof.dynamo import cache, compiler, guard_walk, stances
from guardprof.errors import GuardprofError, WorkloadUsageError
from guardprof.measure.capture import capture_iteration
from guardprof.measure.replay import method as replay_method
from guardprof.measure.replay import replay
from guardprof.measure.run import environment, warm
from guardprof.model.stats import SampleStats
from guardprof.model.whatif import VariantResult, WhatIfResult
from guardprof.progress import SILENT, Prefixed, Progress
from guardprof.workload.runner import (
    PreparedWorkload,
    calibrate_number,
    check_device,
    prepare,
    time_loop,
)
from guardprof.workload.spec import WorkloadSpec, make_standard_fn

BASELINE = "baseline"
STANCE_WARMUP_ITERATIONS = 1

TIMING_METHOD = (
    "timed in the hot loop: each round runs `number` iterations of one variant "
    "(timeit, gc off); rounds interleaved across variants, order rotated each round; "
    "median over rounds, µs per call"
)
WHATIF_REPLAY_METHOD = replay_method(
    "in one block after all the variants' timing, median over rounds per check")
SPEEDUP_METHOD = "baseline µs/call ÷ variant µs/call (ratio of medians over rounds)"
SKIP_GUARDS_CAVEAT = (
    "skip-guards is UNSAFE: under set_stance(skip_guard_eval_unsafe=True) dynamo runs only the "
    "guards that told the cache entries apart during warm-up; an input that differs in any "
    "other way (dtype, device, requires_grad, a global) silently runs a wrong entry. Use it "
    "only after warm-up covered every input the program will see."
)


@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    dynamic: bool | None
    mark_dynamic: bool = False
    skip_guards: bool = False


def _variants(baseline: WorkloadSpec) -> dict[str, Variant]:
    return {
        "dynamic": Variant("dynamic", "torch.compile(dynamic=True)", True),
        "mark-dynamic": Variant(
            "mark-dynamic",
            f"torch._dynamo.mark_dynamic(x, 0) on every tensor input, "
            f"dynamic={baseline.dynamic_label}",
            baseline.dynamic,
            mark_dynamic=True,
        ),
        "auto": Variant("auto", "torch.compile(dynamic=None): automatic dynamic", None),
        "skip-guards": Variant(
            "skip-guards",
            "baseline compile; timed under set_stance(skip_guard_eval_unsafe=True) after warm-up",
            baseline.dynamic,
            skip_guards=True,
        ),
    }


VARIANT_NAMES = ("dynamic", "mark-dynamic", "auto", "skip-guards")


def parse_what_if(text: str) -> tuple[str, ...]:
    """`dynamic,skip-guards` or `all` → variant names, in the order given, without repeats."""
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    if not names:
        raise WorkloadUsageError(
            f"--what-if is empty: give some of {', '.join(VARIANT_NAMES)}, or all"
        )
    if names == ["all"]:
        return VARIANT_NAMES
    unknown = [n for n in names if n not in VARIANT_NAMES]
    if unknown:
        raise WorkloadUsageError(
            f"--what-if: unknown variant {unknown[0]!r}; choose from "
            f"{', '.join(VARIANT_NAMES)}, or all"
        )
    return tuple(dict.fromkeys(names))


# --- results --------------------------------------------------------------------------------


@dataclass
class _Live:
    variant: Variant
    prepared: PreparedWorkload
    codes: list[types.CodeType]
    entries: int
    warmup_s: float
    number: int
    rounds_us: list[float] = field(default_factory=list)

    def run_fn(self) -> Callable[[], None]:
        return self.prepared.iteration(self.prepared.compiled)


def _entry_count(codes: list[types.CodeType]) -> int:
    return sum(len(cache.cache_entries(code)) for code in codes)


def _build(spec: WorkloadSpec, variant: Variant, index: int, progress: Progress) -> _Live:
    """One variant, built and warmed by the runner and `warm` as `run` does, on its own code."""

    def customize(workload) -> None:
        # A code object of its own, whose file name names the variant: code objects compare
        # equal by content, ignoring the file name, and dynamo keeps some state in dicts keyed
        # by code (recompile reasons), so a distinct first line keeps them apart too.
        workload.fn = make_standard_fn(spec.num_args, f"<guardprof what-if: {variant.name}>",
                                       first_line=index + 1)
        if variant.mark_dynamic:
            for call in workload.calls:
                for tensor in call.args:
                    compiler.mark_dynamic(tensor, 0)

    vspec = dataclasses.replace(spec, dynamic=variant.dynamic)
    prepared = prepare(vspec, reset=False, customize=customize)
    before = {id(c) for c in cache.compiled_codes()}
    stance = stances.skip_guard_eval if variant.skip_guards else None
    warmed = warm(vspec, Prefixed(progress, f"{variant.name}: "), prepared=prepared,
                  calibrate_within=stance)
    codes = [c for c in cache.compiled_codes() if id(c) not in before]
    if variant.skip_guards:
        # Entering the stance for the first time does one-off work; keep it out of the rounds.
        with stances.skip_guard_eval():
            for _ in range(STANCE_WARMUP_ITERATIONS):
                warmed.run_compiled()()
    return _Live(variant, prepared, codes, _entry_count(codes), warmed.warmup_s, warmed.number)


# --- measuring ------------------------------------------------------------------------------


def measure_what_if(
    spec: WorkloadSpec, names: tuple[str, ...], progress: Progress = SILENT
) -> WhatIfResult:
    """Build every variant, time them in interleaved rounds, replay each one's guard checks."""
    if spec.kind != "standard":
        raise WorkloadUsageError(
            "--what-if works on the standard workload only: its variants need separate code "
            "objects, which guardprof can build for `foo` but not for a --target"
        )
    check_device(spec.device)
    if "skip-guards" in names and (why := stances.skip_guard_eval_unavailable()):
        raise GuardprofError(f"--what-if skip-guards: {why}")
    catalogue = _variants(spec)
    variants = [Variant(BASELINE, "as given", spec.dynamic)] + [catalogue[n] for n in names]

    compiler.set_recompile_limit(spec.recompile_limit)
    compiler.reset()  # once: the variants are built side by side, each on its own code
    live = [_build(spec, v, i, progress) for i, v in enumerate(variants)]
    _check_isolation(live)
    notes: list[str] = []
    eager_run = live[0].prepared.iteration(live[0].prepared.eager)
    eager_number = spec.number if spec.number is not None else calibrate_number(eager_run)

    eager_rounds = _interleaved_rounds(spec, live, eager_run, eager_number, progress)
    for lv in live:
        after = _entry_count(lv.codes)
        if after != lv.entries:
            notes.append(
                f"{lv.variant.name}: {after - lv.entries:+d} cache entries appeared during "
                "timing: its rounds include compilation"
            )
    results = [_result(lv, live[0], progress) for lv in live]
    progress.clear()
    calls = len(live[0].prepared.calls)
    return WhatIfResult(
        environment=environment(spec.device),
        workload={**dataclasses.asdict(spec), "calls_per_iteration": calls},
        timing_method=TIMING_METHOD,
        speedup_method=SPEEDUP_METHOD,
        rounds=spec.repeat,
        eager_us_per_call=SampleStats.of(eager_rounds, "us"),
        variants=results,
        notes=notes,
    )


def _check_isolation(live: list[_Live]) -> None:
    """Every variant must still hold the entries it compiled, after all others were built."""
    for lv in live:
        if lv.entries == 0:
            raise GuardprofError(
                f"what-if variant {lv.variant.name}: no cache entries found after warm-up on "
                f"torch {compiler.torch_version()}; variants cannot be told apart here"
            )
        now = _entry_count(lv.codes)
        if now != lv.entries:
            raise GuardprofError(
                f"what-if variant {lv.variant.name} had {lv.entries} cache entries after its "
                f"warm-up and {now} after the other variants were built: variants are not "
                f"isolated on torch {compiler.torch_version()}"
            )
    shared = {id(c) for lv in live for c in lv.codes}
    if len(shared) != sum(len(lv.codes) for lv in live):
        raise GuardprofError("what-if variants share a compiled code object: cannot isolate them")


def _interleaved_rounds(
    spec: WorkloadSpec, live: list[_Live], eager_run, eager_number: int, progress: Progress
) -> list[float]:
    """Time every variant (and eager) once per round, with the runner's timed loop; returns
    eager µs/call per round."""
    calls = len(live[0].prepared.calls)
    loops = [(lv.variant.name, lv.run_fn(), lv.number,
              stances.skip_guard_eval if lv.variant.skip_guards else contextlib.nullcontext)
             for lv in live]
    loops.append(("eager", eager_run, eager_number, contextlib.nullcontext))
    eager_rounds: list[float] = []
    start = time.perf_counter()
    for r in range(spec.repeat):
        shift = r % len(loops)
        for i in [*range(shift, len(loops)), *range(shift)]:
            name, run_fn, number, within = loops[i]
            eta = ""
            if r:
                eta = f", ETA {(time.perf_counter() - start) / r * (spec.repeat - r):.0f} s"
            progress.update(f"round {r + 1}/{spec.repeat}: timing {name}{eta}")
            with within():
                (seconds,) = time_loop(run_fn, number, 1, spec.device, name)
            us_per_call = seconds * 1e6 / (number * calls)
            if i < len(live):
                live[i].rounds_us.append(us_per_call)
            else:
                eager_rounds.append(us_per_call)
    return eager_rounds


def _result(lv: _Live, base: _Live, progress: Progress) -> VariantResult:
    progress.update(f"{lv.variant.name}: replaying guard checks")
    calls = lv.prepared.calls
    capture = capture_iteration(lv.prepared.compiled, calls)
    mine = {id(c) for c in lv.codes}
    own = {code: entries for code, entries in capture.order_before.items() if id(code) in mine}
    notes: list[str] = []
    guard_method = WHATIF_REPLAY_METHOD
    guard_us = walk = None
    if lv.variant.skip_guards:
        diff = {code: cache.diff_guard_entries(entries) for code, entries in own.items()}
        if any(v is None for v in diff.values()):
            own = {}
            notes.append(
                f"torch {compiler.torch_version()} exposes no diff guard managers: the "
                "guard time under skip-guards cannot be replayed"
            )
        else:
            own = diff
            guard_method = (
                "replayed as the other variants are (one block after the timing), checking each "
                "entry's diff guard manager (the guards dynamo keeps under "
                "skip_guard_eval_unsafe)"
            )
    if own:
        capture.order_before = own
        replayed = replay(capture, progress)
        steps = [s for inv in replayed.invocations for s in inv.steps]
        guard_us = sum(s.seconds for s in steps) * 1e6 / len(calls)
        walk = len(steps) / len(calls)
        if replayed.mismatches:
            notes.append(
                f"{replayed.mismatches} replayed walk(s) chose another entry than the real run"
            )
    kinds = [
        sum(guard_walk.guard_kind_counts(e.guard_tree()).values())
        for code in lv.codes
        for e in cache.cache_entries(code)
    ]
    if lv.variant.skip_guards:
        notes.append(SKIP_GUARDS_CAVEAT)
    speedup = None
    if lv is not base:
        speedup = bootstrap_ratio([lv.rounds_us], [base.rounds_us], paired=True)
    return VariantResult(
        name=lv.variant.name,
        description=lv.variant.description,
        dynamic=str(lv.variant.dynamic),
        entries=lv.entries,
        guards_per_entry=sum(kinds) / len(kinds) if kinds else None,
        number=lv.number,
        warmup_s=lv.warmup_s,
        us_per_call=SampleStats.of(lv.rounds_us, "us"),
        guard_us_per_call=guard_us,
        guard_method=guard_method if guard_us is not None else None,
        walk_depth=walk,
        speedup=speedup,
        notes=notes,
    )
