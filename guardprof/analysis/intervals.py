"""Bootstrap intervals for a ratio of two statistics, and the verdict they support.

A single median says nothing about noise; the spread of the repeats does. Resampling the
samples (with replacement) and recomputing the ratio many times gives a percentile interval
that is wide when the runs were noisy and narrow when they were steady. A seeded generator
keeps the interval reproducible for the same samples.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from guardprof.model.stats import RatioEstimate

RESAMPLES = 4000
CONFIDENCE = 0.95
MIN_SAMPLES = 3  # fewer samples give no meaningful interval
SEED = 20240601

Statistic = Callable[..., np.ndarray]  # arrays of shape (resamples, n) → shape (resamples,)


def median_of(values: np.ndarray) -> np.ndarray:
    return np.median(values, axis=-1)


def mean_of(values: np.ndarray) -> np.ndarray:
    return np.mean(values, axis=-1)


def difference_of_medians(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    return np.median(first, axis=-1) - np.median(second, axis=-1)


def bootstrap_ratio(
    a: Sequence[Sequence[float]],
    b: Sequence[Sequence[float]],
    statistic: Statistic = median_of,
    *,
    paired: bool = False,
    resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
) -> RatioEstimate:
    """statistic(*b) / statistic(*a), with a percentile bootstrap interval.

    `a` and `b` each hold one or more sample arrays (e.g. compiled and eager rounds) that
    `statistic` combines. Unpaired: every array is resampled on its own. Paired (interleaved
    rounds: sample i of `a` and of `b` were timed back to back): the same round indices are
    drawn for all arrays, so drift common to a round cancels in the ratio.
    """
    a_arrays = [np.asarray(x, dtype=float) for x in a]
    b_arrays = [np.asarray(x, dtype=float) for x in b]
    if any(x.size == 0 for x in (*a_arrays, *b_arrays)):
        return RatioEstimate(None, None, None, confidence, "no samples")
    point_a = float(statistic(*a_arrays))
    point_b = float(statistic(*b_arrays))
    ratio = point_b / point_a if point_a > 0 and point_b >= 0 else None
    smallest = min(x.size for x in (*a_arrays, *b_arrays))
    if ratio is None or smallest < MIN_SAMPLES:
        why = "A's figure is not positive" if ratio is None else f"< {MIN_SAMPLES} samples"
        return RatioEstimate(ratio, None, None, confidence, f"no interval: {why}")
    rng = np.random.default_rng(SEED)
    if paired:
        sizes = {x.size for x in (*a_arrays, *b_arrays)}
        if len(sizes) != 1:
            raise ValueError("paired bootstrap needs arrays of one length")
        idx = rng.integers(0, smallest, size=(resamples, smallest))
        stat_a = statistic(*(x[idx] for x in a_arrays))
        stat_b = statistic(*(x[idx] for x in b_arrays))
    else:

        def draw(x: np.ndarray) -> np.ndarray:
            return x[rng.integers(0, x.size, size=(resamples, x.size))]

        stat_a = statistic(*(draw(x) for x in a_arrays))
        stat_b = statistic(*(draw(x) for x in b_arrays))
    valid = stat_a > 0
    if valid.mean() < confidence:
        return RatioEstimate(ratio, None, None, confidence,
                             "no interval: the denominator is often not positive")
    ratios = stat_b[valid] / stat_a[valid]
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(ratios, [tail, 100 - tail])
    kind = "paired by round" if paired else "each run resampled on its own"
    method = (
        f"{100 * confidence:.0f}% percentile bootstrap ({resamples} resamples, {kind}) "
        f"of the ratio"
    )
    return RatioEstimate(ratio, float(low), float(high), confidence, method)


# --- verdicts -------------------------------------------------------------------------------

SLOWER, FASTER, SAME, UNCLEAR, NO_INTERVAL = (
    "slower", "faster", "no change", "inconclusive", "no interval"
)


def verdict(estimate: RatioEstimate, tolerance: float) -> str:
    """For a B/A time ratio: a change is called only when the whole interval says so.

    slower: the interval lies above 1 + tolerance; faster: below 1 − tolerance; no change: inside
    [1 − tolerance, 1 + tolerance]; inconclusive: it straddles a boundary (too noisy to tell).
    """
    if not estimate.has_interval:
        return NO_INTERVAL
    low, high = estimate.low, estimate.high
    if low > 1 + tolerance:
        return SLOWER
    if high < 1 - tolerance:
        return FASTER
    if low >= 1 - tolerance and high <= 1 + tolerance:
        return SAME
    return UNCLEAR
