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

import copy
import statistics
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from guardprof.dynamo import cache, compiler
from guardprof.dynamo.guard_tree import build_entry_tree
from guardprof.measure import frame_parts
from guardprof.measure.bypass import build as build_bypass
from guardprof.measure.bypass import target_function
from guardprof.measure.capture import Capture, capture_iteration
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
class Decomposed:
    """The call's decomposition, and each compiled frame's part of it (by the frame's code)."""

    call: dm.Decomposition
    frames: dict[types.CodeType, dm.FrameDecomposition]


@dataclass
class _Loop:
    name: str
    run: Callable[[], None]
    calls: int  # calls per iteration
    per_round_us: list[float]
    share: float = 1.0  # its iterations per round, as a share of the compiled loop's


def decompose(capture: Capture, prepared: Any, replayed: GuardCost, headline_us: float,
              progress: Progress = SILENT,
              replayed_frames: dict[types.CodeType, tuple[float, float]] | None = None
              ) -> Decomposed:
    """The decomposition of the compiled call (the standard workload, or a target that is a plain
    function or a user nn.Module, graph breaks included: the parts then sum over its frames, and
    each frame gets its own part, see `frame_parts`), or why it is not available.
    `replayed_frames`: per frame, the replay's (rejected, accepted) µs per call."""
    spec = prepared.spec
    why = _unavailable(prepared, capture)
    if why:
        return Decomposed(dm.Decomposition(False, 0.0, notes=[why]), {})
    calls = prepared.calls
    progress.update("decomposition: the bypass (each entry's transformed code called directly)")
    bypass = build_bypass(prepared.workload.fn, calls, capture)
    if bypass.why_not:
        return Decomposed(dm.Decomposition(False, 0.0, notes=[f"decomposition: {bypass.why_not}"]),
                          {})
    notes: list[str] = []
    if len(capture.order_before) > 1:
        notes.append(f"{len(capture.order_before)} compiled frames; the parts sum over them "
                     "(each frame's own parts are in its frame). Bypass: " +
                     "; ".join(f"{name}: {how}" for name, how in bypass.frames.items()))
    signature = {i: tuple(inv.served_by for inv in capture.invocations if inv.call_index == i)
                 for i in range(len(calls))}
    reference = [prepared.compiled(*c.args, **c.kwargs) for c in calls]
    groups = sorted(set(signature.values()))
    copies, bare = {}, {}
    skip_all = compiler.skip_all_guards_filter()
    for k, key in enumerate(groups):
        progress.update(f"decomposition: compiling one-entry copies ({k + 1}/{len(groups)})")
        members = [calls[i] for i in range(len(calls)) if signature[i] == key]
        label = "+".join(key)
        copies[key] = compiled_copy(prepared, 2 * k, f"<guardprof decomposition: {label}>",
                                    members)
        if skip_all is not None:
            bare[key] = compiled_copy(prepared, 2 * k + 1,
                                      f"<guardprof decomposition, no guards: {label}>",
                                      members, skip_all)
    one_entry = [(copies[signature[i]][0], c) for i, c in enumerate(calls)]
    no_guards = [(bare[signature[i]][0], c) for i, c in enumerate(calls)] if bare else []
    for name, pairs in (("bypass", bypass.pairs), ("one-entry copy", one_entry),
                        ("no-guard copy", no_guards)):
        for i, ((f, call), expected) in enumerate(zip(pairs, reference, strict=False)):
            if not same_result(f(*call.args, **call.kwargs), expected):
                return Decomposed(dm.Decomposition(False, 0.0, notes=[
                    f"the {name} of call {i} returned another result than the compiled call: "
                    "no decomposition"]), {})
    twice = [(prepared.compiled, c) for c in calls for _ in (0, 1)]
    loops = [
        _Loop("compiled", prepared.iteration(prepared.compiled), len(calls), []),
        _Loop("bypass", iteration_of(bypass.pairs), len(calls), []),
        _Loop("one entry", iteration_of(one_entry), len(calls), []),
        # per pair of calls; half the iterations, so that its rounds last as long as the others
        _Loop("twice", iteration_of(twice), len(calls), [], 0.5),
    ]
    if no_guards:
        loops.append(_Loop("no guards", iteration_of(no_guards), len(calls), []))
    else:
        notes.append(f"torch {compiler.torch_version()} has no guard_filter_fn / "
                     "skip_all_guards_unsafe: dispatch floor and accepted check are one part")
    frame_plan: frame_parts.FramePlan | str | None = None
    if len(capture.order_before) > 1:
        progress.update("decomposition: capturing the copies' frames (per-frame parts)")
        frame_plan = _frame_plan(capture, prepared, signature, copies, bare, reference)
        if isinstance(frame_plan, frame_parts.FramePlan):
            loops += [_Loop(name, run, len(calls), []) for name, run in frame_plan.loops.items()]
    entries_before = {code: len(cache.cache_entries(code)) for code in capture.order_before}
    number = calibrate_number(loops[0].run, ROUND_TARGET_S)
    for r in range(ROUNDS):
        shift = r % len(loops)
        for loop in loops[shift:] + loops[:shift]:
            progress.update(f"decomposition: round {r + 1}/{ROUNDS}, {loop.name}")
            iterations = max(1, round(number * loop.share))
            (seconds,) = time_loop(loop.run, iterations, 1, spec.device, loop.name)
            loop.per_round_us.append(seconds * 1e6 / (iterations * loop.calls))
    if any(len(cache.cache_entries(code)) != n for code, n in entries_before.items()):
        notes.append("the compiled function compiled new entries during the decomposition: "
                     "its rounds include compilation")
    for key, (_, copy_codes) in [*copies.items(), *bare.items()]:
        counts = [len(cache.cache_entries(c)) for c in copy_codes]
        if len(counts) != len(key) or any(n != 1 for n in counts):
            notes.append(f"a copy for {'+'.join(key)} holds {counts} entries over "
                         f"{len(counts)} frames, not 1 per frame of the call: the one-entry "
                         "parts include walks")
    notes += _copies_unlike_entries(capture, copies)
    if frame_plan is None:
        call = _result(loops, replayed, headline_us, number, notes)
        return Decomposed(call, {code: frame_parts.single(call) for code in capture.order_before})
    if isinstance(frame_plan, str):
        why_not = dm.FrameDecomposition(False, notes=[f"no per-frame parts: {frame_plan}"])
        return Decomposed(_result(loops, replayed, headline_us, number, notes),
                          {code: why_not for code in capture.order_before})
    frames, frame_notes = frame_parts.parts(frame_plan, {lp.name: lp.per_round_us for lp in loops},
                                            replayed_frames or {}, _part)
    return Decomposed(_result(loops, replayed, headline_us, number, notes + frame_notes), frames)


def _copies_unlike_entries(capture: Capture, copies: dict) -> list[str]:
    """Where a one-entry copy's guards differ from the entry that served its calls (one-frame
    calls): its accepted check is then another entry's. A copy compiles what dynamo would
    compile now for its first call (automatic dynamic can make that a dynamic entry where a
    static one served the calls, or the other way round)."""
    if len(capture.order_before) != 1:
        return []
    (code, entries), = capture.order_before.items()
    served = {e.compile_id: e for e in entries}
    out = []
    for key, (_, copy_codes) in copies.items():
        copied = [e for c in copy_codes for e in cache.cache_entries(c)]
        if len(key) != 1 or key[0] not in served or len(copied) != 1:
            continue
        theirs = build_entry_tree(served[key[0]]).code_parts_by_kind()
        mine = build_entry_tree(copied[0]).code_parts_by_kind()
        if mine != theirs:
            differ = ", ".join(f"{kind} {theirs.get(kind, 0)} → {mine.get(kind, 0)}"
                               for kind in sorted(set(theirs) | set(mine))
                               if theirs.get(kind, 0) != mine.get(kind, 0))
            out.append(f"the one-entry copy for {key[0]} holds other guards than {key[0]} "
                       f"({differ}): its accepted check is not quite {key[0]}'s")
    return out


def _frame_plan(capture: Capture, prepared: Any, signature: dict, copies: dict, bare: dict,
                reference: list) -> frame_parts.FramePlan | str:
    """The per-frame loops: the real function, the one-entry copies and the no-guard copies,
    each with its own frames captured (the copies' codes are their own)."""
    calls = prepared.calls
    n = len(calls)
    families = [frame_parts.family(frame_parts.COMPILED, [prepared.compiled] * n,
                                   [(capture, list(range(n)))])]
    for name, group in ((frame_parts.ONE_ENTRY, copies), (frame_parts.NO_GUARDS, bare)):
        if not group:
            continue
        captured = []
        for key, (fn, _) in group.items():
            indices = [i for i in range(n) if signature[i] == key]
            captured.append((capture_iteration(fn, [calls[i] for i in indices]), indices))
        families.append(frame_parts.family(name, [group[signature[i]][0] for i in range(n)],
                                           captured))
    return frame_parts.plan(families, calls, reference)


def _unavailable(prepared: Any, capture: Capture) -> str | None:
    if prepared.compiled_as_given:
        return ("decomposition: the target is a torch.compile result, used as is: guardprof "
                "cannot compile copies of it")
    # A copy of the target gets caches of its own unless its entries sit on another code (a
    # module's on torch's `inner`); a target that is that code itself (a program's frame) is
    # copied with it.
    own, _ = target_function(prepared.workload.fn)
    internal = [c.co_name for c in capture.order_before
                if cache.is_torch_internal(c) and (own is None or c is not own.__code__)]
    if internal:
        return (f"decomposition: the entries of frame `{internal[0]}` sit on a torch-internal "
                "wrapper shared by other callables: copies would share its cache")
    if any(inv.served_by is None for inv in capture.invocations):
        return "decomposition: some calls ran uncompiled (no entry accepted them)"
    entries = {(c, e.compile_id): e for c, es in capture.order_before.items() for e in es}
    if any(entries[inv.code, inv.served_by].output_code is None for inv in capture.invocations):
        return f"decomposition: torch {compiler.torch_version()} exposes no entry code"
    return None


def _fresh_target(prepared: Any, n: int, filename: str) -> Any:
    """A copy of the workload's callable on code objects of its own (dynamo keeps its cache on
    the code object): the standard `foo` rebuilt under `filename`; a target function (or a
    module's `forward`, on a shallow copy of the module whose class is a subclass holding it)
    with its code's first line moved, so dynamo's per-(file, line, name) state is its own too."""
    if prepared.spec.kind == "standard":
        # a first line of its own as well: `==` on code objects ignores the file name
        return make_standard_fn(prepared.spec.num_args, filename, COPY_LINE_SHIFT + n)
    target = prepared.workload.fn
    fn, module = target_function(target)
    code = fn.__code__.replace(co_firstlineno=fn.__code__.co_firstlineno + COPY_LINE_SHIFT + n)
    clone = types.FunctionType(code, fn.__globals__, fn.__name__, fn.__defaults__,
                               fn.__closure__)
    clone.__kwdefaults__ = fn.__kwdefaults__
    if module is None:
        return clone
    cls = type(module)
    twin = copy.copy(module)
    twin.__class__ = type(cls.__name__, (cls,), {"forward": clone,
                                                 "__module__": cls.__module__})
    return twin


def compiled_copy(prepared: Any, n: int, filename: str, members: list,
                  guard_filter: Any = None) -> tuple[Any, list[types.CodeType]]:
    """A fresh copy of the target, compiled as the workload is (plus `guard_filter`) and warmed
    on `members`; with the code objects its compiled frames hold their entries on."""
    spec = prepared.spec
    before = cache.compiled_codes()  # compared by identity: equal code objects (`==` ignores
    seen = {id(c) for c in before}   # the file name) are still separate caches
    fresh = _fresh_target(prepared, n, filename)
    compiled = (prepared.compile_like(fresh, guard_filter) if prepared.compile_like is not None
                else compiler.compile_fn(fresh, spec.backend, spec.dynamic,
                                         guard_filter_fn=guard_filter))
    for _ in range(COPY_WARMUP):
        for call in members:
            compiled(*call.args, **call.kwargs)
    synchronize(spec.device)
    return compiled, [c for c in cache.compiled_codes() if id(c) not in seen]


def _part(name: str, values: list[float], method: str | None = None) -> dm.Part:
    return dm.part_of(name, *median_and_quartiles(values), method or PART_METHODS[name],
                      [float(v) for v in values], difference=name != dm.GRAPH)


def _result(loops: list[_Loop], replayed: GuardCost, headline_us: float, number: int,
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
    unattributed = (None if any(p.us is None for p in parts)
                    else compiled_us - sum(p.us for p in parts))
    in_situ = {p.name: p.us for p in parts}
    low = {p.name: p.low for p in parts}
    agreement = []
    for name, replayed_us in ((dm.REJECTED_ENTRIES, replayed.rejected_us_per_call),
                              (dm.ACCEPTED_CHECK, replayed.accepted_us_per_call)):
        if name in in_situ:
            ratio, verdict = dm.verdict(in_situ[name], replayed_us, low[name])
            agreement.append(dm.Agreement(name, in_situ[name], replayed_us, ratio, verdict,
                                          "guardprof's replay vs in situ"))
    order_us = statistics.median([2 * compiled[r] - by["twice"][r] for r in rounds])
    ratio, verdict = dm.verdict(in_situ[dm.REJECTED_ENTRIES], order_us, low[dm.REJECTED_ENTRIES])
    agreement.append(dm.Agreement(
        f"{dm.REJECTED_ENTRIES} (call order)", in_situ[dm.REJECTED_ENTRIES], order_us, ratio,
        verdict, "2 × compiled − each input twice in a row, vs compiled − one-entry copies: two "
                 "independent experiments (the repeated call runs with warm caches: reads high)"))
    ratio, verdict = dm.verdict(compiled_us, headline_us)
    agreement.append(dm.Agreement(
        dm.COMPILED_CALL, compiled_us, headline_us, ratio, verdict,
        "the headline's timeit rounds (taken before) vs this compiled loop: one loop timed "
        "twice, seconds apart"))
    return dm.Decomposition(True, compiled_us, parts, unattributed, agreement, len(compiled),
                            number, METHOD, notes)
