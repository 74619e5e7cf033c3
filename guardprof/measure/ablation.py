"""Guard groups dropped one at a time with `guard_filter_fn`, timed in the hot loop.

An independent check of the per-kind split: two fresh copies of the workload's function (the
standard `foo`, or a target that is a plain function), compiled as the workload is, one with
every guard and one whose `guard_filter_fn` drops a group;
both warmed on the workload's calls, then timed in alternated rounds on the same inputs in the
same order. The saving (every guard − without the group) is set beside what the per-kind
attribution gave those guards. An ablation is valid only if the copy without the group holds the
same number of entries and returns the same results: dropping TENSOR_MATCH on the standard
workload collapses its entries into one (that serves every size with wrong results) and is
reported as such, not timed.
"""

from __future__ import annotations

from typing import Any

from guardprof.dynamo import cache, compiler
from guardprof.measure.bypass import target_function
from guardprof.measure.decomposition import compiled_copy
from guardprof.measure.loops import (
    iteration_of,
    median_and_quartiles,
    same_result,
)
from guardprof.model import decomposition as dm
from guardprof.model.ablation import Ablation, Ablations
from guardprof.model.guards_report import LoopCost
from guardprof.progress import SILENT, Progress
from guardprof.workload.runner import calibrate_number, time_loop

ROUNDS = 12
ROUND_TARGET_S = 0.03
WARMUP = 3
# group → (the guard builder types its filter drops, the leaf kinds they become)
GROUPS = {
    "ambient state": (
        ("AUTOGRAD_SAVED_TENSORS_HOOKS", "GRAD_MODE", "DETERMINISTIC_ALGORITHMS", "GLOBAL_STATE",
         "TORCH_FUNCTION_STATE", "DEFAULT_DEVICE"),
        ("LAMBDA_GUARD", "GLOBAL_STATE", "TORCH_FUNCTION_MODE_STACK", "DEFAULT_DEVICE"),
    ),
    "symbolic shapes": (("SHAPE_ENV",), ("SYMBOLIC_SHAPES",)),
    "tensors": (
        ("TENSOR_MATCH",),
        ("TENSOR_MATCH", "DIMENSION_DYNAMIC_MARKING_GUARD", "NO_TENSOR_ALIASING"),
    ),
}
METHOD = (
    f"guard_filter_fn ablation: a copy of the function compiled with every guard and one "
    f"without the group, both warmed on the workload's calls, {ROUNDS} rounds alternated on the "
    f"same inputs in the same order; saving = median of per-round differences [quartiles], per "
    f"call; valid only if entries and results are unchanged; ratio = attributed / saved"
)


def ablate(prepared: Any, loops: list[LoopCost], progress: Progress = SILENT) -> Ablations:
    spec, calls = prepared.spec, prepared.calls
    if prepared.compiled_as_given or (spec.kind != "standard"
                                      and target_function(prepared.workload.fn)[0] is None):
        return Ablations(METHOD, 0, 0, note="ablations: only the standard workload or a target "
                         "that is a plain function or a user nn.Module (each needs fresh "
                         "copies of it)")
    if compiler.skip_all_guards_filter() is None:
        return Ablations(METHOD, 0, 0, note=f"torch {compiler.torch_version()} has no "
                         "guard_filter_fn")
    progress.update("ablation: compiling a copy with every guard")
    full, full_codes = compiled_copy(prepared, 0, "<guardprof ablation: every guard>", calls)
    reference = [full(*c.args, **c.kwargs) for c in calls]
    run_full = iteration_of([(full, c) for c in calls])
    number = calibrate_number(run_full, ROUND_TARGET_S)
    results = []
    for group, (guard_types, kinds) in GROUPS.items():
        progress.update(f"ablation: compiling a copy without {group}")
        dropped, seen = frozenset(guard_types), []

        def keep(entries, d=dropped, seen=seen):
            kept = [e.guard_type not in d for e in entries]
            seen.append(kept.count(False))
            return kept

        without, codes = compiled_copy(prepared, 1 + len(results),
                                      f"<guardprof ablation: without {group}>", calls, keep)
        n_full = sum(len(cache.cache_entries(c)) for c in full_codes)
        n_without = sum(len(cache.cache_entries(c)) for c in codes)
        same = all(same_result(without(*c.args, **c.kwargs), r) for c, r in zip(calls, reference,
                                                                          strict=True))
        base = dict(group=group, guard_types=list(guard_types), kinds=list(kinds),
                    entries=n_full, entries_without=n_without)
        in_tree = any(k.kind in kinds and k.checks for loop in loops for k in loop.kinds)
        if not sum(seen) or not in_tree:
            results.append(Ablation(valid=False, note="no guard of this group runs in this "
                                    "workload's checks: nothing to compare", **base))
            continue
        if n_without != n_full or not same:
            why = (f"dropping it changes the cache: {n_full} entries → {n_without}"
                   if n_without != n_full else "dropping it changes the results")
            results.append(Ablation(valid=False, note=f"not a valid ablation: {why}", **base))
            continue
        run_without = iteration_of([(without, c) for c in calls])
        saved = []
        for r in range(ROUNDS):
            progress.update(f"ablation: {group}, round {r + 1}/{ROUNDS}")
            pair = [run_full, run_without] if r % 2 == 0 else [run_without, run_full]
            t = {}
            for run in pair:
                (seconds,) = time_loop(run, number, 1, spec.device, group)
                t[run] = seconds * 1e6 / (number * len(calls))
            saved.append(t[run_full] - t[run_without])
        med, q1, q3 = median_and_quartiles(saved)
        attributed = sum(k.us_per_call or 0.0 for loop in loops for k in loop.kinds
                         if k.kind in kinds)
        ratio, verdict = dm.verdict(med, attributed)
        results.append(Ablation(valid=True, saved_us=med, saved_low=q1, saved_high=q3,
                                attributed_us=attributed, ratio=ratio, verdict=verdict, **base))
    return Ablations(METHOD, ROUNDS, number, results)

