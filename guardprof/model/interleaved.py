"""`guardprof compare --a … --b …`: A and B run alternately as fresh processes, paired."""

from __future__ import annotations

from dataclasses import dataclass, field

from guardprof.model.stats import RatioEstimate


@dataclass(frozen=True)
class Pair:
    index: int
    a_us: float  # the metric of A's run, per call
    b_us: float
    order: str  # "AB" or "BA": who ran first in this pair
    a_off_cpu: float | None = None  # each run's off-CPU share (its noise figure)
    b_off_cpu: float | None = None


@dataclass(frozen=True)
class Interleaved:
    metric: str
    label: str
    a_command: list[str]
    b_command: list[str]
    pairs: list[Pair]
    estimate: RatioEstimate  # B/A from the pairs, paired bootstrap
    elapsed_s: float
    method: str
    notes: list[str] = field(default_factory=list)
    stopped_because: str = ""  # why no more pairs were run
