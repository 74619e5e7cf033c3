"""Sample statistics: raw samples are kept, summaries derived from them with numpy."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class SampleStats:
    """Samples of one quantity (unit in `unit`) and their robust summary."""

    unit: str
    samples: list[float] = field(default_factory=list)
    median: float = float("nan")
    q1: float = float("nan")
    q3: float = float("nan")
    minimum: float = float("nan")
    maximum: float = float("nan")

    @classmethod
    def of(cls, samples, unit: str) -> SampleStats:
        values = [float(v) for v in samples]
        if not values:
            return cls(unit=unit)
        arr = np.asarray(values)
        q1, med, q3 = np.percentile(arr, [25, 50, 75])
        return cls(
            unit, values, float(med), float(q1), float(q3), float(arr.min()), float(arr.max())
        )

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    def scaled(self, factor: float, unit: str) -> SampleStats:
        return SampleStats.of([v * factor for v in self.samples], unit)


@dataclass(frozen=True)
class RatioEstimate:
    """statistic(B) / statistic(A) and its bootstrap interval (None: not enough samples)."""

    ratio: float | None
    low: float | None
    high: float | None
    confidence: float
    method: str

    @property
    def has_interval(self) -> bool:
        return self.low is not None and self.high is not None
