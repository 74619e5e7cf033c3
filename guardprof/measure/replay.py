"""Replayed guard cost: walk each frame's cache entries as dynamo does and time every check.

For each captured invocation the walk starts at the front of the frame's entry list, runs
each entry's guard check on the invocation's exact frame locals until one accepts, and moves
the accepted entry to the front (dynamo's LRU). The whole iteration's sequence of checks is
then replayed in that order, round after round, timing each check with `perf_counter_ns`; a
check's cost is its median over rounds (over blocks of rounds, when `ReplayTimer` spreads them
in time: the median of the block medians) minus the median cost of a guard-manager method that
does no work, timed the same way: the Python → pybind call path and the timer, which dynamo's
C++ lookup does not pay. The root manager's own per-check work stays in (dynamo pays it).
Replaying the sequence, rather than one check in a tight loop, keeps the real access pattern:
timing a single check over and over reads it cache-hot and low.
"""

from __future__ import annotations

import dataclasses
import gc
import time
import types
from dataclasses import dataclass, field

import numpy as np

from guardprof.measure import guard_replicas
from guardprof.measure.capture import Capture
from guardprof.progress import SILENT, Progress

MIN_ROUNDS = 20
MAX_ROUNDS = 500
TARGET_REPLAY_SECONDS = 0.5



def method(schedule: str) -> str:
    """The replay's method line; `schedule` says when its rounds ran and how they are summed."""
    return (
        "replayed: each cache entry's guard check called from Python on the captured frame "
        "locals, in cache order, the iteration's check sequence replayed round after round "
        f"{schedule}, the Python → pybind call path and timer (a no-op guard-manager method, "
        "timed alike) subtracted"
    )


METHOD = method("in blocks spread over the run, median of the blocks' medians per check")


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


class ReplayTimer:
    """Walks the captured iteration once, then times its check sequence in blocks of rounds.

    Blocks can be run at different moments (`time_block`, e.g. between timing rounds of
    something else): each check's figure is the median over blocks of its per-block median,
    so one burst of machine noise spoils one block, not the figure.
    """

    def __init__(self, capture: Capture) -> None:
        order = {code: list(entries) for code, entries in capture.order_before.items()}
        self.walks: list[tuple[ReplayedInvocation, list]] = []
        self.mismatches = 0
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
                self.mismatches += 1
            self.walks.append((
                ReplayedInvocation(inv.call_index, inv.code, fell_back=accepted is None),
                [(entry, ok) for entry, ok in visited],
            ))
        self.sequence = [
            (entry.check_fn(), inv.f_locals)
            for (_, visited), inv in zip(self.walks, capture.invocations, strict=True)
            for entry, _ok in visited
        ]
        # Dynamo calls each check from C++; we call it through pybind. A guard-manager method
        # that does no work, timed the same way, is that call path (and the timer).
        self._noop = guard_replicas.guard_manager_noop()
        self.block_medians_ns: list[np.ndarray] = []
        self.block_overheads_ns: list[float] = []

    def time_block(self, seconds: float, progress: Progress = SILENT) -> None:
        if not self.sequence:
            return
        clock = time.perf_counter_ns
        start = clock()
        _one_round(self.sequence, clock)
        round_s = max((clock() - start) * 1e-9, 1e-6)
        rounds = int(min(MAX_ROUNDS, max(MIN_ROUNDS, seconds / round_s)))
        samples = np.empty((rounds, len(self.sequence)), dtype=np.int64)
        block = len(self.block_medians_ns) + 1
        # As timeit does: no collection inside a timed check. No gc.collect() first: with gc
        # disabled nothing is collected during the block anyway, and a full collection of a
        # process holding torch and dynamo took 0.17 s here (per block: per sample, for a program)
        collecting = gc.isenabled()  # a user's program may have turned gc off: leave it so
        gc.disable()
        try:
            for r in range(rounds):
                if r % 10 == 0:
                    progress.update(
                        f"replaying guard checks: block {block}, round {r + 1}/{rounds}"
                    )
                samples[r] = _one_round(self.sequence, clock)
            overhead = np.median([_noop_round(self._noop, len(self.sequence), clock)
                                  for _ in range(MIN_ROUNDS)])
        finally:
            if collecting:
                gc.enable()
        self.block_medians_ns.append(np.median(samples, axis=0))
        self.block_overheads_ns.append(float(overhead))

    def result(self) -> Replay:
        """Each check's median over blocks (of its per-block median)."""
        per_check_ns = (
            np.median(np.stack(self.block_medians_ns), axis=0)
            if self.block_medians_ns else np.zeros(len(self.sequence))
        )
        overhead_ns = float(np.median(self.block_overheads_ns)) if self.block_overheads_ns else 0.0
        return self._replay(per_check_ns, overhead_ns)

    def block_results(self) -> list[Replay]:
        """One Replay per block: the repetitions behind `result` (kept for run-to-run intervals)."""
        return [self._replay(medians, overhead)
                for medians, overhead in zip(self.block_medians_ns, self.block_overheads_ns,
                                             strict=True)]

    def _replay(self, per_check_ns: np.ndarray, overhead_ns: float) -> Replay:
        invocations = []
        position = 0
        for walked, visited in self.walks:
            replayed = dataclasses.replace(walked, steps=[])  # a fresh one per result
            for entry, ok in visited:
                seconds = max(0.0, (float(per_check_ns[position]) - overhead_ns) * 1e-9)
                replayed.steps.append(CheckStep(entry.compile_id, ok, seconds))
                position += 1
            invocations.append(replayed)
        return Replay(invocations, overhead_ns * 1e-9, self.mismatches)


def replay(capture: Capture, progress: Progress = SILENT) -> Replay:
    """The replay timed in one go (TARGET_REPLAY_SECONDS of rounds)."""
    timer = ReplayTimer(capture)
    timer.time_block(TARGET_REPLAY_SECONDS, progress)
    return timer.result()


def _noop_round(noop, count: int, clock) -> list[int]:
    out = []
    for _ in range(count):
        t0 = clock()
        noop()
        out.append(clock() - t0)
    return out


def _one_round(sequence: list, clock) -> list[int]:
    out = []
    for check, f_locals in sequence:
        t0 = clock()
        check(f_locals)
        out.append(clock() - t0)
    return out
