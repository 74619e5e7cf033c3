"""Guard-group ablations: a group of guards dropped with `guard_filter_fn`, the hot-loop saving
set beside what guardprof's per-kind attribution gave those guards."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Ablation:
    group: str
    guard_types: list[str]  # what the filter drops (dynamo's guard builder names)
    kinds: list[str]  # the leaf-guard kinds those become in the tree (the attribution's names)
    valid: bool  # entries and results unchanged: the saving measures those guards alone
    entries: int  # of the copy with every guard
    entries_without: int  # of the copy without the group
    saved_us: float | None = None  # per call, median of per-round differences
    saved_low: float | None = None  # quartiles of the per-round differences
    saved_high: float | None = None
    attributed_us: float | None = None  # per call, guardprof's per-kind split of those kinds
    ratio: float | None = None  # attributed / saved
    verdict: str = "n/a"  # "agree" (±15%) | "disagree" | "n/a"
    note: str | None = None


@dataclass(frozen=True)
class Ablations:
    method: str
    rounds: int
    number: int
    results: list[Ablation] = field(default_factory=list)
    note: str | None = None  # why there are none
