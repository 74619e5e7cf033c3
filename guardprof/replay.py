"""Replayed guard cost: walk each frame's cache entries as dynamo does and time every check.

For each captured invocation the walk starts at the front of the frame's entry list, runs
each entry's guard check on the invocation's exact frame locals until one accepts, and moves
the accepted entry to the front (dynamo's LRU). The whole iteration's sequence of checks is
then replayed in that order, round after round, timing each check with `perf_counter_ns`; a
check's cost is its median over rounds minus the median cost of an empty root guard manager's
check timed the same way (the Python → pybind call path and the timer, with no guard).
Replaying the sequence, rather than one check in a tight loop, keeps the real access pattern:
timing a single check over and over reads it cache-hot and low.
"""

from __future__ import annotations

import gc
import time
import types
from dataclasses import dataclass, field

import numpy as np

from guardprof import torch_compat
from guardprof.capture import Capture
from guardprof.progress import SILENT, Progress

MIN_ROUNDS = 20
MAX_ROUNDS = 500
TARGET_REPLAY_SECONDS = 0.5

METHOD = (
    "replayed: each cache entry's guard check called from Python on the captured frame "
    "locals, in cache order, the iteration's check sequence replayed round after round, "
    "median per check, an empty root guard manager's check (call path + timer) subtracted"
)


@dataclass
class CheckStep:
    compile_id: str
    passed: bool
    seconds: float


@dataclass
class ReplayedInvocation:
    call_index: int
    code: types.CodeType
    steps: list[CheckStep] = field(default_factory=list)
    fell_back: bool = False  # no entry accepted: dynamo ran the frame uncompiled

    @property
    def accepted(self) -> str | None:
        return next((s.compile_id for s in self.steps if s.passed), None)


@dataclass
class Replay:
    invocations: list[ReplayedInvocation]
    call_overhead_s: float
    mismatches: int  # walks whose accepted entry differs from the one that really ran


def replay(capture: Capture, progress: Progress = SILENT) -> Replay:
    order = {code: list(entries) for code, entries in capture.order_before.items()}
    walks: list[tuple[ReplayedInvocation, list]] = []
    mismatches = 0
    for inv in capture.invocations:
        entries = order.get(inv.code, [])
        visited = []
        accepted = None
        for entry in entries:
            ok = entry.check(inv.f_locals)
            visited.append((entry, ok))
            if ok:
                accepted = entry
                break
        if accepted is not None:
            entries.remove(accepted)
            entries.insert(0, accepted)
        if (accepted.compile_id if accepted else None) != inv.served_by:
            mismatches += 1
        walks.append(
            (
                ReplayedInvocation(inv.call_index, inv.code, fell_back=accepted is None),
                [(entry, ok, inv.f_locals) for entry, ok in visited],
            )
        )

    sequence = [
        (entry.check_fn(), f_locals) for _, visited in walks for entry, _ok, f_locals in visited
    ]
    per_check_ns, overhead_ns = _time_sequence(sequence, progress)
    position = 0
    for replayed, visited in walks:
        for entry, ok, _ in visited:
            seconds = max(0.0, (per_check_ns[position] - overhead_ns) * 1e-9)
            replayed.steps.append(CheckStep(entry.compile_id, ok, seconds))
            position += 1
    return Replay([r for r, _ in walks], overhead_ns * 1e-9, mismatches)


def _time_sequence(sequence: list, progress: Progress) -> tuple[np.ndarray, float]:
    """Median ns of each check over rounds of the whole sequence, and the timer's own cost."""
    if not sequence:
        return np.zeros(0), 0.0
    clock = time.perf_counter_ns
    start = clock()
    _one_round(sequence, clock)
    round_s = max((clock() - start) * 1e-9, 1e-6)
    rounds = int(min(MAX_ROUNDS, max(MIN_ROUNDS, TARGET_REPLAY_SECONDS / round_s)))
    samples = np.empty((rounds, len(sequence)), dtype=np.int64)
    gc.collect()
    gc.disable()  # as timeit does: no collection inside a timed check
    try:
        for r in range(rounds):
            if r % 10 == 0:
                progress.update(f"replaying guard checks: round {r + 1}/{rounds}")
            samples[r] = _one_round(sequence, clock)
    finally:
        gc.enable()
    # Dynamo calls each check from C++; we call it through pybind. An empty root manager's
    # check, timed the same way, is that call path (and the timer) with no guard in it.
    empty_check = torch_compat.empty_root_check()
    noop = [(empty_check, f_locals) for _, f_locals in sequence]
    overhead = np.median([_one_round(noop, clock) for _ in range(MIN_ROUNDS)])
    return np.median(samples, axis=0), float(overhead)


def _one_round(sequence: list, clock) -> list[int]:
    out = []
    for check, f_locals in sequence:
        t0 = clock()
        check(f_locals)
        out.append(clock() - t0)
    return out
