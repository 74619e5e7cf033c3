"""Small pieces the differential experiments share: a loop over (callable, call) pairs, whether
two results are the same, and the median and quartiles of per-round values."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any


def iteration_of(pairs: list) -> Callable[[], None]:
    bound = [(f, c.args, c.kwargs) for f, c in pairs]

    def run() -> None:
        for f, args, kwargs in bound:
            f(*args, **kwargs)

    return run


def same_result(a: Any, b: Any) -> bool:
    import torch

    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return a.shape == b.shape and bool(torch.equal(a, b))
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(same_result(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def median_and_quartiles(values: list[float]) -> tuple[float, float, float]:
    """Median, first and third quartile of per-round values."""
    q1, _, q3 = statistics.quantiles(values, n=4) if len(values) > 1 else (values * 3)
    return statistics.median(values), q1, q3
