"""The `guardprof run --what-if` result: each variant timed beside the baseline.

Saved in the envelope (report_type "guardprof-whatif"); `guardprof run --load` re-renders it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from guardprof.model import envelope
from guardprof.model.run_report import Environment
from guardprof.model.stats import RatioEstimate, SampleStats


@dataclass(frozen=True)
class VariantResult:
    name: str
    description: str
    dynamic: str
    entries: int
    guards_per_entry: float | None  # counted in the guard trees (full managers)
    number: int  # iterations per round
    warmup_s: float
    us_per_call: SampleStats  # one sample per round
    guard_us_per_call: float | None
    guard_method: str | None
    walk_depth: float | None  # entries checked per call, replayed
    speedup: RatioEstimate | None  # baseline / this variant; None for the baseline itself
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class WhatIfResult:
    environment: Environment
    workload: dict
    timing_method: str
    speedup_method: str
    rounds: int
    eager_us_per_call: SampleStats  # the baseline's uncompiled function, same rounds
    variants: list[VariantResult]
    notes: list[str] = field(default_factory=list)

    @property
    def baseline(self) -> VariantResult:
        return self.variants[0]


def save_whatif(result: WhatIfResult, path: str | Path) -> Path:
    return envelope.save(path, envelope.WHATIF, result)


def from_loaded(loaded: envelope.Loaded) -> WhatIfResult:
    return envelope.build(WhatIfResult, loaded.data, "what-if report is not valid")


def load_whatif(path: str | Path) -> WhatIfResult:
    return from_loaded(envelope.read(path, (envelope.WHATIF,)))
