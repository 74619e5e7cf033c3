"""Each compiled frame's part of the call, where a call runs more than one (a graph break).

The call's decomposition says how much of the compiled call is dispatch floor, accepted check and
rejected entries, summed over its frames. To say which frame they belong to, the same three
functions (the real compiled one, the one-entry copies, the no-guard copies) run again with one
frame taken out of dynamo: a nested frame (a resume function, reached through a global name of
the outer frame) has that name set to its accepted entry's transformed code for the call, so it
runs without dynamo's lookup while the rest of the call goes through dynamo as before. Per round:

- nested frame R, in function X: X − (X with R direct);
- the outer frame, in X: (X with every nested frame direct) − bypass.

Then per frame, as for the call: dispatch floor = its no-guard part, accepted check = one-entry
− no-guard, rejected entries = compiled − one-entry. What stays in the outer frame: the
`torch.compile` wrapper (a nested frame has none) and, for each direct nested code, the frame
hook's skip of dynamo-generated code. With one nested frame the frames' parts add up to the
call's by construction; with more, the difference is printed. The check that counts is the
replay's per-frame rejected and accepted costs against these.
"""

from __future__ import annotations

import contextlib
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from guardprof.measure.bypass import NestedPatch, nested_patches
from guardprof.measure.capture import Capture, Invocation
from guardprof.measure.loops import same_result
from guardprof.model import decomposition as dm

COMPILED, ONE_ENTRY, NO_GUARDS = "compiled", "one entry", "no guards"

METHOD = (
    "per frame: the compiled function, the one-entry copies and the no-guard copies run again "
    "with one frame's entry code called directly (a nested frame: its global name set to the "
    "entry's transformed code for the call; the outer frame: every nested frame direct, minus "
    "the bypass), alternated with the call's loops; parts as for the call. The outer frame "
    "carries the torch.compile wrapper and the frame hook's skip of each direct nested code; "
    "each direct call adds two dict stores (not subtracted)"
)


@dataclass
class Family:
    """One of the decomposition's functions: per call, the callable and the frames it ran."""

    name: str
    callables: list[Callable[..., Any]]
    invocations: list[list[Invocation]]  # per call, in the order the frames ran
    entries: dict  # (input code, compile id) -> EntryHandle, for the frames it ran


@dataclass
class FramePlan:
    outer: types.CodeType
    nested: list[types.CodeType]  # the real function's nested codes, in order of first run
    loops: dict[str, Callable[[], None]] = field(default_factory=dict)  # name -> iteration


def family(name: str, callables: list, captured: list[tuple[Capture, list[int]]]) -> Family:
    """Each capture was taken on some of the run's calls: those at the indices beside it."""
    per_call: list[list[Invocation]] = [[] for _ in callables]
    entries: dict = {}
    for capture, indices in captured:
        for inv in capture.invocations:
            per_call[indices[inv.call_index]].append(inv)
        entries.update({(code, e.compile_id): e
                        for code, es in capture.order_before.items() for e in es})
    return Family(name, callables, per_call, entries)


def plan(families: list[Family], calls: list, reference: list) -> FramePlan | str:
    """The extra loops, each checked to return the compiled call's results; or why not."""
    real = families[0]
    outer = real.invocations[0][0].code
    nested: list[types.CodeType] = []
    for invs in real.invocations:
        for inv in invs[1:]:
            if inv.code is not outer and inv.code not in nested:
                nested.append(inv.code)
    out = FramePlan(outer, nested)
    for fam in families:
        patches: list[list[tuple[types.CodeType, NestedPatch]]] = []
        for i, invs in enumerate(fam.invocations):
            frames = [inv.code for inv in real.invocations[i]]
            if len(invs) != len(frames):
                return (f"the {fam.name} function's call {i} ran {len(invs)} frames, the "
                        f"compiled function's {len(frames)}")
            found = nested_patches(invs, fam.entries)
            if isinstance(found, str):
                return f"the {fam.name} function's call {i}: {found}"
            patches.append(list(zip(frames[1:], found, strict=True)))
        targets = [[code] for code in nested] + ([nested] if len(nested) > 1 else [])
        for codes in targets:
            chosen = [[p for code, p in call if code in codes] for call in patches]
            run = _iteration(fam.callables, calls, chosen)
            for i, (f, call, expected) in enumerate(zip(fam.callables, calls, reference,
                                                        strict=True)):
                with _patched(chosen[i]):
                    if not same_result(f(*call.args, **call.kwargs), expected):
                        return (f"the {fam.name} function with {_label(codes)} direct returned "
                                f"another result than the compiled call at call {i}")
            out.loops[loop_name(fam.name, codes)] = run
    return out


def loop_name(family_name: str, codes: list[types.CodeType]) -> str:
    return f"{family_name}, {_label(codes)} direct"


def parts(frame_plan: FramePlan, by: dict[str, list[float]],
          replayed: dict[types.CodeType, tuple[float, float]],
          part: Callable[..., dm.Part]) -> tuple[dict[types.CodeType, dm.FrameDecomposition],
                                                   list[str]]:
    """Per frame its parts from the loops' per-round µs (`by`), with the replay's
    (rejected, accepted) µs per call beside them; and notes."""
    rounds = range(len(by[COMPILED]))
    nested = frame_plan.nested
    every = nested if len(nested) > 1 else nested[:1]
    has_bare = NO_GUARDS in by

    def frame_rounds(fam: str, code: types.CodeType) -> list[float]:
        if code is frame_plan.outer:
            direct = by[loop_name(fam, every)]
            return [direct[r] - by["bypass"][r] for r in rounds]
        direct = by[loop_name(fam, [code])]
        return [by[fam][r] - direct[r] for r in rounds]

    out: dict[types.CodeType, dm.FrameDecomposition] = {}
    totals = [0.0 for _ in rounds]
    for code in [frame_plan.outer, *nested]:
        compiled, one = frame_rounds(COMPILED, code), frame_rounds(ONE_ENTRY, code)
        totals = [t + c for t, c in zip(totals, compiled, strict=True)]
        rows = []
        if has_bare:
            bare = frame_rounds(NO_GUARDS, code)
            rows.append(part(dm.DISPATCH_FLOOR, bare, "this frame's no-guard-copy part"))
            rows.append(part(dm.ACCEPTED_CHECK, [o - b for o, b in zip(one, bare, strict=True)],
                             "this frame's one-entry − no-guard parts"))
        else:
            rows.append(part(dm.DISPATCH_FLOOR, one, "this frame's one-entry-copy part: "
                                                     "dispatch and the accepted check"))
        rows.append(part(dm.REJECTED_ENTRIES, [c - o for c, o in zip(compiled, one, strict=True)],
                         "this frame's compiled − one-entry parts"))
        agreement = []
        rejected_us, accepted_us = replayed.get(code, (0.0, 0.0))
        for name, replayed_us in ((dm.REJECTED_ENTRIES, rejected_us),
                                  (dm.ACCEPTED_CHECK, accepted_us)):
            row = next((p for p in rows if p.name == name), None)
            if row is not None:
                ratio, verdict = dm.verdict(row.us, replayed_us, row.low)
                agreement.append(dm.Agreement(name, row.us, replayed_us, ratio, verdict,
                                              "guardprof's replay of this frame vs in situ"))
        out[code] = dm.FrameDecomposition(True, rows, agreement, METHOD)
    notes = []
    if len(nested) > 1:
        whole = sorted(by[COMPILED][r] - by["bypass"][r] - totals[r] for r in rounds)
        notes.append(f"{len(nested) + 1} frames: the call's dispatch and checks minus the "
                     f"frames' parts is {whole[len(whole) // 2]:+.2f} µs/call (median over "
                     "rounds): what taking one frame out at a time does not separate")
    return out, notes


def single(d: dm.Decomposition) -> dm.FrameDecomposition:
    """The frame of a one-frame call: the call's own decomposition."""
    return dm.FrameDecomposition(
        True, list(d.parts),
        [a for a in d.agreement if a.name in (dm.REJECTED_ENTRIES, dm.ACCEPTED_CHECK)],
        "the call's only compiled frame: the call's decomposition")


def _iteration(callables: list, calls: list, chosen: list[list[NestedPatch]]
               ) -> Callable[[], None]:
    bound = [(f, c.args, c.kwargs, ps) for f, c, ps in zip(callables, calls, chosen, strict=True)]

    def run() -> None:
        for f, args, kwargs, ps in bound:
            for p in ps:
                p.scope[p.name] = p.direct
            try:
                f(*args, **kwargs)
            finally:
                for p in ps:
                    p.scope[p.name] = p.original

    return run


@contextlib.contextmanager
def _patched(patches: list[NestedPatch]) -> Iterator[None]:
    """The patches in place for one call outside the timed loops (which inline the stores)."""
    for p in patches:
        p.scope[p.name] = p.direct
    try:
        yield
    finally:
        for p in patches:
            p.scope[p.name] = p.original


def _label(codes: list[types.CodeType]) -> str:
    return "+".join(f"`{c.co_name}`" for c in codes)
