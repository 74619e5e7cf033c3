"""A linear cost model of guard time per call, fitted to sweep points by least squares.

    guard µs/call ≈ fixed + per_tensor × guarded tensors + per_rejected × rejected entries

`guarded tensors` are the tensor arguments the accepting entry checks in full (the standard
workload guards every argument); `rejected entries` are the entries a call checks and rejects
before one accepts it (walk depth − 1, measured by the replay). The residuals show how well
three numbers explain the grid; a term whose column does not vary in the points is reported as
not identifiable rather than guessed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from guardprof.model.cost_fit import Coefficient, CostFit

TERMS = (
    ("fixed_us_per_call", "fixed cost per call", "µs"),
    ("us_per_guarded_tensor", "per guarded tensor in the passing check", "µs/tensor"),
    ("us_per_rejected_entry", "per rejected cache entry", "µs/entry"),
)


@dataclass
class ModelInput:
    """One observation: the features and the measured figure."""

    guarded_tensors: float
    rejected_entries: float
    observed_us: float
    label: str = ""


METHOD = (
    "ordinary least squares (numpy.linalg.lstsq) on the sweep points; standard errors from the "
    "residual variance; residual = measured − model"
)


def fit(inputs: Sequence[ModelInput], target: str, group: str) -> CostFit:
    n = len(inputs)
    columns = [
        np.ones(n),
        np.array([p.guarded_tensors for p in inputs], dtype=float),
        np.array([p.rejected_entries for p in inputs], dtype=float),
    ]
    y = np.array([p.observed_us for p in inputs], dtype=float)
    used = [0] + [j for j in (1, 2) if n and np.ptp(columns[j]) > 0]
    if n < len(used):
        return _unfitted(target, group, n, f"{n} point(s) for {len(used)} terms: too few to fit")
    x = np.column_stack([columns[j] for j in used])
    if np.linalg.matrix_rank(x) < len(used):
        return _unfitted(
            target, group, n, "args and rejected entries vary together in these points: "
            "their costs cannot be separated"
        )
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    predicted = x @ beta
    residuals = y - predicted
    dof = n - len(used)
    stderr: list[float | None] = [None] * len(used)
    if dof > 0:
        sigma2 = float(residuals @ residuals) / dof
        cov = sigma2 * np.linalg.inv(x.T @ x)
        stderr = [float(np.sqrt(max(v, 0.0))) for v in np.diag(cov)]
    coefficients = []
    for j, (name, label, unit) in enumerate(TERMS):
        if j in used:
            k = used.index(j)
            coefficients.append(Coefficient(name, label, unit, float(beta[k]), stderr[k]))
        else:
            coefficients.append(Coefficient(
                name, label, unit, None, None,
                note="not identifiable: it does not vary across these points",
            ))
    total = float(((y - y.mean()) ** 2).sum())
    ssr = float(residuals @ residuals)
    note = None
    if dof == 0:
        note = "as many points as terms: the fit is exact, so its residuals say nothing"
    return CostFit(
        target=target,
        group=group,
        method=METHOD,
        points=n,
        coefficients=coefficients,
        predicted_us=[float(v) for v in predicted],
        residuals_us=[float(v) for v in residuals],
        labels=[p.label for p in inputs],
        rms_residual_us=float(np.sqrt(ssr / n)),
        max_abs_residual_us=float(np.abs(residuals).max()),
        r_squared=1 - ssr / total if total > 0 else None,
        note=note,
    )


def _unfitted(target: str, group: str, n: int, why: str) -> CostFit:
    coefficients = [Coefficient(name, label, unit, None, None) for name, label, unit in TERMS]
    return CostFit(target, group, METHOD, n, coefficients, note=why)
