"""Timing many small callables side by side, round after round, on a shared machine.

Owned by `guard_cost`: each check's parts (leaf guards, copies of its tree) and its whole check
are timed in one sequence per round, so parts and whole see the same cache state and load.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from guardprof.progress import Progress

BATCH = 16  # calls per timed sample
MIN_ROUNDS = 7
MAX_ROUNDS = 41
TARGET_SECONDS = 0.6  # all rounds together, when MIN_ROUNDS allows
BASELINE_EVERY = 32  # a do-nothing leaf (baseline and load gauge) every so many leaves
QUIET_QUANTILE = 0.5  # the rounds kept: those whose overall gauge level is in the lower half


class GuardTimer:
    """Times every check's leaf guards and its whole check side by side, round after round.

    Each round runs, group by group (one group per check), the check's leaves (one batch each),
    then its whole check and reference (an empty root; for relational guards the synthetic tree
    without the guard), so the parts and the whole they must add up to are measured moments
    apart, in the same cache state. A do-nothing leaf is timed every `BASELINE_EVERY` leaves and
    before every pair: it is the per-call overhead subtracted from the leaves near it, and a load
    gauge. The machine is shared with other processes, so each figure is the median of its
    per-round differences over the rounds whose gauges read in the lower `QUIET_QUANTILE`: a
    burst of load from elsewhere then moves neither the parts nor the whole.
    """

    def __init__(self, empty_root: Any) -> None:
        self.empty_root = empty_root
        self.groups: list[list[tuple[str, Any, Any]]] = []  # ("leaf" | "warm" | "pair", …)
        self.keep: list[Any] = []  # owners of what is timed
        self.rounds = 0

    def group(self) -> int:
        self.groups.append([])
        return len(self.groups) - 1

    def add_leaf(self, group: int, fn: Any, arg: Any) -> tuple[int, int]:
        self.groups[group].append(("leaf", fn, arg))
        return group, len(self.groups[group]) - 1

    def add_warmup(self, group: int, fn: Any, arg: Any) -> None:
        """An untimed batch at the start of the group: brings the check's values into cache,
        so the leaves that follow see the cache state the whole check sees."""
        self.groups[group].append(("warm", fn, arg))

    def add_pair(self, group: int, timed: tuple, reference: tuple) -> tuple[int, int]:
        """Slot of (timed − reference) per call, in ns."""
        self.groups[group].append(("pair", timed, reference))
        self.keep.append((timed, reference))
        return group, len(self.groups[group]) - 1

    def run(self, gauge: tuple[Any, Any], progress: Progress) -> Timings:
        sequence: list[tuple[Any, Any]] = []
        kinds: list[str] = []  # "gauge" | "item" | "ref" | "untimed"
        keys: list[tuple[int, int] | None] = []
        for g, items in enumerate(self.groups):
            since_gauge = BASELINE_EVERY
            for i, (kind, a, b) in enumerate(items):
                if kind == "pair" or (kind == "leaf" and since_gauge >= BASELINE_EVERY):
                    sequence.append(gauge)
                    kinds.append("gauge")
                    keys.append(None)
                    since_gauge = 0
                if kind == "warm":
                    sequence.append((a, b))
                    kinds.append("untimed")
                    keys.append(None)
                elif kind == "leaf":
                    since_gauge += 1
                    sequence.append((a, b))
                    kinds.append("item")
                    keys.append((g, i))
                else:
                    sequence.extend((a, b))
                    kinds.extend(("item", "ref"))
                    keys.extend(((g, i), None))
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            per_call = self._rounds(sequence, progress) / BATCH
        finally:
            if gc_was_enabled:
                gc.enable()
        # Quiet rounds are chosen on the load of the whole round (the median of all its gauge
        # readings), not on the gauge subtracted: keeping the rounds where that one gauge read
        # low would bias every difference from it upwards.
        gauges = [p for p, kind in enumerate(kinds) if kind == "gauge"]
        load = np.median(per_call[:, gauges], axis=1)
        quiet = load <= np.quantile(load, QUIET_QUANTILE)
        timings = Timings({}, {}, {})
        gauge_at = None
        for position, kind in enumerate(kinds):
            if kind == "gauge":
                gauge_at = position
            elif kind == "item":
                key = keys[position]
                timed = per_call[quiet, position]
                if position + 1 < len(kinds) and kinds[position + 1] == "ref":
                    timings.net[key] = float(np.median(timed - per_call[quiet, position + 1]))
                    continue
                local = per_call[quiet, gauge_at]
                timings.raw[key] = float(np.median(timed))
                timings.net[key] = float(np.median(timed - local))
                timings.gauge[key] = float(np.median(local))
        return timings

    def _rounds(self, sequence: list[tuple[Any, Any]], progress: Progress) -> np.ndarray:
        start = time.perf_counter()
        first = one_round(sequence)
        round_s = max(time.perf_counter() - start, 1e-6)
        self.rounds = int(min(MAX_ROUNDS, max(MIN_ROUNDS, TARGET_SECONDS / round_s))) | 1
        samples = np.empty((self.rounds, len(sequence)), dtype=np.float64)
        samples[0] = first
        for r in range(1, self.rounds):
            if r % 2 == 0:
                progress.update(f"timing {len(sequence)} guards and checks: "
                                f"round {r + 1}/{self.rounds}")
            samples[r] = one_round(sequence)
        return samples


@dataclass
class Timings:
    """Per-call ns by slot, medians over the quiet rounds."""

    net: dict[tuple[int, int], float]  # pairs: timed − reference; leaves: leaf − gauge near it
    raw: dict[tuple[int, int], float]  # leaves as timed
    gauge: dict[tuple[int, int], float]  # leaves: the do-nothing leaf near them


def one_round(sequence: list[tuple[Any, Any]]) -> list[int]:
    clock = time.perf_counter_ns
    batch = range(BATCH)
    out = []
    for fn, arg in sequence:
        fn(arg)  # untimed: the previous item may have pushed this one's code and data out
        t0 = clock()
        for _ in batch:
            fn(arg)
        out.append(clock() - t0)
    return out


# --- costing --------------------------------------------------------------------------------
