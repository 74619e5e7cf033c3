"""The compiled call taken apart in the hot loop: graph, dynamo's dispatch, the guard checks.

Each part comes from a differential experiment timed like the headline (see
`guardprof.measure.decomposition`); `agreement` sets the replayed guard costs beside their in-situ
counterparts. Times are µs per call.
"""

from __future__ import annotations

from dataclasses import dataclass, field

GRAPH = "graph"
DISPATCH_FLOOR = "dispatch_floor"
REJECTED_ENTRIES = "rejected_entries"
ACCEPTED_CHECK = "accepted_check"
COMPILED_CALL = "compiled_call"  # an agreement row: the headline against the decomposition's loop
AGREE_WITHIN = 0.15  # replayed and in-situ figures "agree" within ±15%


@dataclass(frozen=True)
class Part:
    name: str
    us: float  # median over rounds of the per-round difference, per call
    low: float  # 25th percentile of the per-round differences
    high: float  # 75th percentile
    method: str
    rounds_us: list[float] = field(default_factory=list)  # the per-round differences themselves


@dataclass(frozen=True)
class Agreement:
    name: str
    in_situ_us: float
    replayed_us: float  # the replay's figure, or a second in-situ estimate (`method` says)
    ratio: float | None  # replayed / in situ
    verdict: str  # "agree" | "disagree" | "unresolved" | "n/a"
    method: str = ""


@dataclass(frozen=True)
class Decomposition:
    available: bool
    compiled_us: float  # the compiled call in the decomposition's own rounds
    parts: list[Part] = field(default_factory=list)
    unattributed_us: float = 0.0
    agreement: list[Agreement] = field(default_factory=list)
    rounds: int = 0
    number: int = 0  # iterations per round, every loop
    method: str = ""
    notes: list[str] = field(default_factory=list)

    def part(self, name: str) -> Part | None:
        return next((p for p in self.parts if p.name == name), None)


@dataclass(frozen=True)
class FrameDecomposition:
    """One compiled frame's part of the call: its dispatch floor, accepted check and rejected
    entries, µs per workload call, from loops that call only this frame's (or only the other
    frames') transformed code directly. Where the call has one compiled frame, these are the
    call's own parts (graph included) and `method` says so."""

    available: bool
    parts: list[Part] = field(default_factory=list)
    agreement: list[Agreement] = field(default_factory=list)  # this frame's replay vs in situ
    method: str = ""
    notes: list[str] = field(default_factory=list)

    def part(self, name: str) -> Part | None:
        return next((p for p in self.parts if p.name == name), None)

    @property
    def dynamo_us(self) -> float:
        """This frame's dispatch and guard checks (the graph is not split per frame)."""
        return sum(p.us for p in self.parts if p.name != GRAPH)


def verdict(in_situ: float, other: float, in_situ_low: float | None = None
            ) -> tuple[float | None, str]:
    """±15% agreement; "unresolved" where the in-situ figure's own interval reaches 0 (a part
    too small for the rounds to tell from nothing: no ratio to judge), "n/a" where it is ≤ 0."""
    if in_situ <= 0:
        return None, "n/a"
    ratio = other / in_situ
    if in_situ_low is not None and in_situ_low <= 0:
        return ratio, "unresolved"
    return ratio, "agree" if abs(ratio - 1) <= AGREE_WITHIN else "disagree"
