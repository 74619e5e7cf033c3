"""The guard cost measured where it happens: timestamps around each cache lookup of the real loop.

This is the headline guard figure of every report. The replay (which entries and guards) is its
breakdown, checked against it; an independent in-situ measure (torch.profiler's lookup events)
is its cross-check. Times are µs per call of the workload.
"""

from __future__ import annotations

from dataclasses import dataclass, field

AGREE_WITHIN = 0.15  # two measures "agree" within ±15%

METHOD = (
    "direct, in situ: in the real loop, each cache lookup timed from the moment the "
    "torch.compile wrapper arms dynamo's frame hook to dynamo's guard-complete hook (right after "
    "the walk), minus the same span of a guard-free lookup (a probe frame of the same shape, "
    "compiled with every guard dropped, timed in the same round); a round after each of the "
    "headline's, then more until "
    "the quartiles span ≤ 10% of the median (at most 3 s more); median of the rounds "
    "[quartiles]"
)


@dataclass(frozen=True)
class Check:
    """An independent measure of the same figure, and whether the two agree."""

    method: str
    us_per_call: float | None
    ratio: float | None = None  # other / the in-situ figure it is judged against
    verdict: str = "n/a"  # "agree" | "disagree" | "n/a"
    note: str | None = None
    # the in-situ figure timed by the clock in the same passes as the other measure (not the
    # one judged against: that is the headline figure); None: not timed
    in_same_passes_us: float | None = None
    # how much running the other measure adds to the in-situ figure (same passes − headline)
    adds_us: float | None = None
    # the other measure's own cost inside each event (a one-guard probe's event less that guard
    # timed in situ): stated, not subtracted
    cost_per_event_us: float | None = None


@dataclass(frozen=True)
class InSitu:
    """Guard evaluation per call, in situ: the walk over rejected entries, the accepted entry's
    check and the frame-locals dict dynamo builds for Python guards. `us_per_call` is None where
    it could not be measured (`note` says why)."""

    us_per_call: float | None
    low: float | None  # quartiles of the per-round figures
    high: float | None
    method: str
    cross_check: Check
    lookup_us: float | None = None  # the whole lookup span per call, floor included
    floor_us: float | None = None  # the guard-free lookup's span, per call (its lookups)
    lookups_per_call: float = 0.0  # lookups timed per call (resume frames included)
    unpaired_per_call: float = 0.0  # lookups whose start could not be stamped (not counted)
    graph_us: float | None = None  # the graphs themselves, timed around their calls
    outside_graph_us: float | None = None  # call − graphs: dynamo's work and the bytecode
    # the lookup's end → the graph's start: the transformed code's frame and its bytecode before
    # the graph (torch.profiler's "Pregraph bytecode")
    pregraph_us: float | None = None
    call_us: float | None = None  # the instrumented call, per call (the headline is plainer)
    accepted_us: float | None = None  # the accepted check alone: each call repeated at once
    overhead_us: float | None = None  # what the stamps add to a call (measured on the probe)
    rounds: int = 0
    rounds_us: list[float] = field(default_factory=list)
    note: str | None = None

    @property
    def available(self) -> bool:
        return self.us_per_call is not None

    @property
    def rejected_us(self) -> float | None:
        """The walk over rejected entries: all guard time less the accepted check."""
        if self.us_per_call is None or self.accepted_us is None:
            return None
        return self.us_per_call - self.accepted_us


@dataclass(frozen=True)
class BreakdownRow:
    name: str  # "frame_locals" | "guard_checks"
    us: float
    method: str = ""


@dataclass(frozen=True)
class AcceptedBreakdown:
    """The in-situ accepted check, explained: the frame-locals dict (its own in-situ experiment)
    + the replayed checks of the accepted entry + what neither explains (the residual)."""

    in_situ_us: float
    rows: list[BreakdownRow]
    residual_us: float
    ratio: float | None  # (sum of rows) / in situ
    verdict: str  # "agree" | "disagree" | "n/a"


def verdict(reference: float | None, other: float | None) -> tuple[float | None, str]:
    """±15% agreement of `other` with `reference`; n/a where either is missing or ≤ 0."""
    if reference is None or other is None or reference <= 0:
        return None, "n/a"
    ratio = other / reference
    return ratio, "agree" if abs(ratio - 1) <= AGREE_WITHIN else "disagree"
