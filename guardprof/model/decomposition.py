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
    us: float | None  # median over rounds of the per-round difference, per call; None: unresolved
    low: float  # 25th percentile of the per-round differences
    high: float  # 75th percentile
    method: str
    rounds_us: list[float] = field(default_factory=list)  # the per-round differences themselves
    resolved: bool = True
    reason: str | None = None  # why it is unresolved, in numbers


def part_of(name: str, median: float, low: float, high: float, method: str,
            rounds_us: list[float], *, difference: bool = True) -> Part:
    """A part, resolved or not: a difference of loops whose quartiles reach 0, or are wider than
    the part itself, cannot be told from nothing and gets no figure (a loop's own time, such as
    the graph's, is never a difference)."""
    if not difference:
        return Part(name, median, low, high, method, rounds_us)
    if low > 0 and high - low <= abs(median):
        return Part(name, median, low, high, method, rounds_us)
    why = "reach 0" if low <= 0 else "are wider than the part"
    return Part(name, None, low, high, method, rounds_us, resolved=False,
                reason=f"its rounds' quartiles [{low:.1f}, {high:.1f}] µs {why} (median "
                       f"{median:.1f} µs): a difference of whole-call loops cannot resolve it")


@dataclass(frozen=True)
class Agreement:
    name: str
    in_situ_us: float | None  # None: the in-situ part is unresolved
    replayed_us: float  # the replay's figure, or a second in-situ estimate (`method` says)
    ratio: float | None  # replayed / in situ
    verdict: str  # "agree" | "disagree" | "unresolved" | "n/a"
    method: str = ""


@dataclass(frozen=True)
class Decomposition:
    available: bool
    compiled_us: float  # the compiled call in the decomposition's own rounds
    parts: list[Part] = field(default_factory=list)
    unattributed_us: float | None = 0.0  # None where a part is unresolved
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
    def dynamo_us(self) -> float | None:
        """This frame's dispatch and guard checks (the graph is not split per frame); None
        where a part is unresolved."""
        parts = [p for p in self.parts if p.name != GRAPH]
        if any(p.us is None for p in parts):
            return None
        return sum(p.us for p in parts)


def verdict(in_situ: float | None, other: float, in_situ_low: float | None = None
            ) -> tuple[float | None, str]:
    """±15% agreement; "unresolved" where the in-situ figure is unresolved or its own interval
    reaches 0 (no ratio to judge), "n/a" where it is ≤ 0."""
    if in_situ is None:
        return None, "unresolved"
    if in_situ <= 0:
        return None, "n/a"
    ratio = other / in_situ
    if in_situ_low is not None and in_situ_low <= 0:
        return ratio, "unresolved"
    return ratio, "agree" if abs(ratio - 1) <= AGREE_WITHIN else "disagree"
