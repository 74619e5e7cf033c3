"""The compiled call decomposed in the hot loop, by experiments that each remove one thing.

Loops timed side by side, rounds alternated (order rotated each round) in one process, on the
workload's own inputs in the workload's order, `timeit` as the headline is:

- **compiled**: the real loop (every call walks the cache as in the benchmark);
- **bypass**: each call runs its accepted entry's transformed code directly
  (`types.FunctionType(entry.code, fn.__globals__)`), without dynamo's frame hook;
- **one entry**: each input signature gets a copy of the function of its own, compiled and warmed
  on that signature only, so every call walks one entry that accepts it;
- **no guards**: the same copies compiled with every guard dropped
  (`guard_filter_fn=torch.compiler.skip_all_guards_unsafe`: valid because each copy serves one
  signature);
- **twice**: the real compiled function, each input twice in a row: the first call of each pair
  walks the cache as in the benchmark, the second finds its entry first.

Every variant's results are checked equal to the compiled call's, and each copy must hold one
entry. Per round: graph = bypass; dispatch floor = no guards − bypass; accepted check = one entry
− no guards; rejected entries = compiled − one entry. The four are a chain of differences, so they
sum to the compiled call by construction (`unattributed_us` is that sum's remainder, ≈ 0: it is
bookkeeping, not evidence). The checks that count compare independent measures: the rejected
entries again from the call order (2 × compiled − twice, in the real function: its second call
repeats the same inputs at once, with warm caches, so it reads high), and the replay's rejected
and accepted costs against these in-situ ones. Each figure is the median of its per-round values,
with their quartiles.
"""

from __future__ import annotations

import statistics
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from guardprof.dynamo import cache, compiler
from guardprof.measure.capture import Capture
from guardprof.measure.loops import (
    iteration_of,
    median_and_quartiles,
    same_result,
)
from guardprof.model import decomposition as dm
from guardprof.model.run_report import GuardCost
from guardprof.progress import SILENT, Progress
from guardprof.workload.runner import calibrate_number, synchronize, time_loop
from guardprof.workload.spec import make_standard_fn

ROUNDS = 10
ROUND_TARGET_S = 0.025  # each loop's round lasts about this long (the run stays ≤ 15 s)
COPY_WARMUP = 2
COPY_LINE_SHIFT = 100_000  # a target copy's first line: far from any real one

METHOD = (
    f"hot-loop differential: five loops on the same inputs in the same order (compiled; each "
    f"call's accepted entry's transformed code called directly; one compiled copy per input "
    f"signature; the same copies with every guard dropped; each input twice in a row), timeit, "
    f"{ROUNDS} rounds alternated in one process, results checked equal; each part the median of "
    f"its per-round differences [quartiles]"
)
PART_METHODS = {
    dm.GRAPH: "bypass: each call's accepted entry's transformed code called directly",
    dm.DISPATCH_FLOOR: "no-guard copies − bypass: the torch.compile wrapper, frame hook and "
                       "frame-locals mapping without guard work",
    dm.ACCEPTED_CHECK: "one-entry copies − no-guard copies: the accepted entry's check",
    dm.REJECTED_ENTRIES: "compiled − one-entry copies: the entries each call checks and "
                         "rejects before the one that accepts it",
}


@dataclass
class _Loop:
    name: str
    run: Callable[[], None]
    calls: int  # calls per iteration
    per_round_us: list[float]


def decompose(capture: Capture, prepared: Any, replayed: GuardCost,
              progress: Progress = SILENT) -> dm.Decomposition:
    """The decomposition of the compiled call (the standard workload, or a target that is one
    plain function compiling one frame), or why it is not available."""
    spec = prepared.spec
    why = _unavailable(spec, prepared, capture)
    if why:
        return dm.Decomposition(False, 0.0, notes=[why])
    fn, calls = prepared.workload.fn, prepared.calls
    code = next(iter(capture.order_before))
    by_id = {e.compile_id: e for e in capture.order_before[code]}
    served = {inv.call_index: inv.served_by for inv in capture.invocations if inv.code is code}
    reference = [prepared.compiled(*c.args, **c.kwargs) for c in calls]

    progress.update("decomposition: the bypass (each entry's transformed code called directly)")
    bypass = []
    for i, call in enumerate(calls):
        entry = by_id[served[i]]
        direct = types.FunctionType(entry.output_code, fn.__globals__, fn.__name__,
                                    fn.__defaults__, fn.__closure__)
        direct.__kwdefaults__ = fn.__kwdefaults__
        bypass.append((direct, call))
    notes: list[str] = []
    groups = sorted(set(served.values()))
    copies, bare = {}, {}
    skip_all = compiler.skip_all_guards_filter()
    for k, compile_id in enumerate(groups):
        progress.update(f"decomposition: compiling one-entry copies ({k + 1}/{len(groups)})")
        members = [calls[i] for i in range(len(calls)) if served[i] == compile_id]
        copies[compile_id] = compiled_copy(
            prepared, 2 * k, f"<guardprof decomposition: {compile_id}>", members)
        if skip_all is not None:
            bare[compile_id] = compiled_copy(
                prepared, 2 * k + 1, f"<guardprof decomposition, no guards: {compile_id}>",
                members, skip_all)
    one_entry = [(copies[served[i]][0], c) for i, c in enumerate(calls)]
    no_guards = [(bare[served[i]][0], c) for i, c in enumerate(calls)] if bare else []
    for name, pairs in (("bypass", bypass), ("one-entry copy", one_entry),
                        ("no-guard copy", no_guards)):
        for (f, call), expected in zip(pairs, reference, strict=False):
            if not same_result(f(*call.args, **call.kwargs), expected):
                return dm.Decomposition(False, 0.0, notes=[
                    f"the {name} of call {calls.index(call)} returned another result than the "
                    "compiled call: no decomposition"])
    twice = [(prepared.compiled, c) for c in calls for _ in (0, 1)]
    loops = [
        _Loop("compiled", prepared.iteration(prepared.compiled), len(calls), []),
        _Loop("bypass", iteration_of(bypass), len(calls), []),
        _Loop("one entry", iteration_of(one_entry), len(calls), []),
        _Loop("twice", iteration_of(twice), len(calls), []),  # per pair of calls
    ]
    if no_guards:
        loops.append(_Loop("no guards", iteration_of(no_guards), len(calls), []))
    else:
        notes.append(f"torch {compiler.torch_version()} has no guard_filter_fn / "
                     "skip_all_guards_unsafe: dispatch floor and accepted check are one part")
    entries_before = len(cache.cache_entries(code))
    number = calibrate_number(loops[0].run, ROUND_TARGET_S)
    for r in range(ROUNDS):
        shift = r % len(loops)
        for loop in loops[shift:] + loops[:shift]:
            progress.update(f"decomposition: round {r + 1}/{ROUNDS}, {loop.name}")
            (seconds,) = time_loop(loop.run, number, 1, spec.device, loop.name)
            loop.per_round_us.append(seconds * 1e6 / (number * loop.calls))
    if len(cache.cache_entries(code)) != entries_before:
        notes.append("the compiled function compiled new entries during the decomposition: "
                     "its rounds include compilation")
    for compile_id, (_, copy_code) in [*copies.items(), *bare.items()]:
        if len(cache.cache_entries(copy_code)) != 1:
            notes.append(f"a copy for entry {compile_id} holds "
                         f"{len(cache.cache_entries(copy_code))} entries, not 1: the one-entry "
                         "parts include walks")
    return _result(loops, replayed, number, notes)


def _unavailable(spec: Any, prepared: Any, capture: Capture) -> str | None:
    fn = prepared.workload.fn
    if prepared.compiled_as_given:
        return ("decomposition: the target is a torch.compile result, used as is: guardprof "
                "cannot compile copies of it")
    if spec.kind != "standard" and not isinstance(fn, types.FunctionType):
        return (f"decomposition: the target is a {type(fn).__name__}, not a plain function: "
                "guardprof can build the per-signature copies only for functions yet")
    if len(capture.order_before) != 1:
        return ("decomposition: the workload compiled more than one frame (a graph break): "
                "per-frame decompositions are not built yet")
    code = next(iter(capture.order_before))
    if spec.kind != "standard" and code is not fn.__code__:
        return "decomposition: the compiled frame is not the target function's own code"
    if cache.is_torch_internal(code):
        return "decomposition: the entries sit on a torch-internal wrapper"
    if any(inv.served_by is None for inv in capture.invocations):
        return "decomposition: some calls ran uncompiled (no entry accepted them)"
    entries = {e.compile_id: e for e in capture.order_before[code]}
    if any(entries[inv.served_by].output_code is None for inv in capture.invocations):
        return f"decomposition: torch {compiler.torch_version()} exposes no entry code"
    return None


def _fresh_function(prepared: Any, n: int, filename: str) -> types.FunctionType:
    """A copy of the workload's function on a code object of its own (dynamo keeps its cache on
    the code object): the standard `foo` rebuilt under `filename`; a target's function with its
    code's first line moved (so dynamo's per-(file, line, name) state is its own too)."""
    if prepared.spec.kind == "standard":
        return make_standard_fn(prepared.spec.num_args, filename)
    fn = prepared.workload.fn
    code = fn.__code__.replace(co_firstlineno=fn.__code__.co_firstlineno + COPY_LINE_SHIFT + n)
    clone = types.FunctionType(code, fn.__globals__, fn.__name__, fn.__defaults__,
                               fn.__closure__)
    clone.__kwdefaults__ = fn.__kwdefaults__
    return clone


def compiled_copy(prepared: Any, n: int, filename: str, members: list,
                  guard_filter: Any = None):
    """A fresh copy of the function, compiled as the workload is (plus `guard_filter`) and
    warmed on `members`."""
    spec = prepared.spec
    fn = _fresh_function(prepared, n, filename)
    compiled = compiler.compile_fn(fn, spec.backend, spec.dynamic, guard_filter_fn=guard_filter)
    for _ in range(COPY_WARMUP):
        for call in members:
            compiled(*call.args, **call.kwargs)
    synchronize(spec.device)
    return compiled, fn.__code__


def _part(name: str, values: list[float], method: str | None = None) -> dm.Part:
    return dm.Part(name, *median_and_quartiles(values), method or PART_METHODS[name])


def _result(loops: list[_Loop], replayed: GuardCost, number: int,
            notes: list[str]) -> dm.Decomposition:
    by = {loop.name: loop.per_round_us for loop in loops}
    rounds = range(len(by["compiled"]))
    compiled, bypass, one = by["compiled"], by["bypass"], by["one entry"]
    parts = [_part(dm.GRAPH, bypass)]
    if "no guards" in by:
        bare = by["no guards"]
        parts.append(_part(dm.DISPATCH_FLOOR, [bare[r] - bypass[r] for r in rounds]))
        parts.append(_part(dm.ACCEPTED_CHECK, [one[r] - bare[r] for r in rounds]))
    else:
        parts.append(_part(dm.DISPATCH_FLOOR, [one[r] - bypass[r] for r in rounds],
                           "one-entry copies − bypass: dispatch and the accepted check"))
    parts.append(_part(dm.REJECTED_ENTRIES, [compiled[r] - one[r] for r in rounds]))
    compiled_us = statistics.median(compiled)
    unattributed = compiled_us - sum(p.us for p in parts)
    in_situ = {p.name: p.us for p in parts}
    agreement = []
    for name, replayed_us in ((dm.REJECTED_ENTRIES, replayed.rejected_us_per_call),
                              (dm.ACCEPTED_CHECK, replayed.accepted_us_per_call)):
        if name in in_situ:
            ratio, verdict = dm.verdict(in_situ[name], replayed_us)
            agreement.append(dm.Agreement(name, in_situ[name], replayed_us, ratio, verdict,
                                          "guardprof's replay vs in situ"))
    order_us = statistics.median([2 * compiled[r] - by["twice"][r] for r in rounds])
    ratio, verdict = dm.verdict(in_situ[dm.REJECTED_ENTRIES], order_us)
    agreement.append(dm.Agreement(
        f"{dm.REJECTED_ENTRIES} (call order)", in_situ[dm.REJECTED_ENTRIES], order_us, ratio,
        verdict, "2 × compiled − each input twice in a row, vs compiled − one-entry copies: two "
                 "independent experiments (the repeated call runs with warm caches: reads high)"))
    return dm.Decomposition(True, compiled_us, parts, unattributed, agreement, len(compiled),
                            number, METHOD, notes)
