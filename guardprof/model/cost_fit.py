"""A fitted linear cost model of guard time per call (`guardprof.analysis.cost_model` fits it)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Coefficient:
    name: str
    label: str
    unit: str
    value: float | None  # None: not identifiable from these points
    stderr: float | None  # from the residual variance; None without residual degrees of freedom
    note: str | None = None


@dataclass(frozen=True)
class CostFit:
    target: str  # which figure was fitted, e.g. "guard µs/call (replayed)"
    group: str  # e.g. "dynamic=False": each dynamic mode is fitted on its own
    method: str
    points: int
    coefficients: list[Coefficient]
    predicted_us: list[float] = field(default_factory=list)
    residuals_us: list[float] = field(default_factory=list)  # observed − predicted
    labels: list[str] = field(default_factory=list)
    rms_residual_us: float | None = None
    max_abs_residual_us: float | None = None
    r_squared: float | None = None
    note: str | None = None

    def coefficient(self, name: str) -> Coefficient:
        return next(c for c in self.coefficients if c.name == name)

    def predict(self, guarded_tensors: float, rejected_entries: float) -> float | None:
        values = [c.value for c in self.coefficients]
        if values[0] is None:
            return None
        features = (1.0, guarded_tensors, rejected_entries)
        return sum((v or 0.0) * x for v, x in zip(values, features, strict=True))

    def formula(self) -> str:
        parts = []
        for c, symbol in zip(self.coefficients, ("", "·args", "·rejected"), strict=True):
            if c.value is not None:
                parts.append(f"{c.value:.3g}{symbol}")
        return " + ".join(parts) + " µs" if parts else "no fit"
