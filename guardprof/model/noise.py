"""The run's own machine noise, measured two ways inside every run.

A run made while the machine was busy reads slow and says nothing about it; the spread of its
timing rounds does not show load that lasted the whole run. So guardprof records:

- off-CPU share: over each timing round (and what runs between rounds), the wall time the
  process's thread was not on a CPU (1 − thread CPU time / wall time). Another process
  competing for the core shows here directly, whatever the workload's own spread;
- a fixed reference loop (pure Python and a tiny torch op, the same in every run) timed after
  each round. Set beside another run's, its pure-Python level says whether the machine ran at
  another speed. Its spread is reported, not used to mark a run: on this project's quiet
  2-core machine the Python half spread 6–19% (IQR / median of 10 samples) and the torch half
  jumped between two levels (≈ 730 and ≈ 1200 µs) with the thread never off the CPU, so a
  spread threshold would call quiet runs noisy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from guardprof.model.stats import SampleStats

NOISY_OFF_CPU = 0.05  # off the CPU for more than 5% of the timed wall time marks a run noisy
# (measured here: quiet runs 0.0–0.4%, a hog on the other core 0.4–0.6%, two hogs 35–38%)


@dataclass(frozen=True)
class Noise:
    method: str
    python_us: SampleStats  # the pure-Python half of the reference loop, µs per sample
    torch_us: SampleStats  # the torch half (tiny op on a one-element CPU tensor)
    # Per interval (a timing round and what ran after it): wall and thread-CPU seconds.
    wall_s: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)
    off_cpu_threshold: float = NOISY_OFF_CPU

    @property
    def spread(self) -> float:
        """IQR / median of the pure-Python reference samples (reported, not a threshold)."""
        p = self.python_us
        return p.iqr / p.median if p.median > 0 else 0.0

    @property
    def off_cpu(self) -> float:
        """The share of the timed wall time the thread spent off the CPU (waiting to run)."""
        wall = sum(self.wall_s)
        return max(0.0, 1 - sum(self.cpu_s) / wall) if wall > 0 else 0.0

    @property
    def noisy(self) -> bool:
        return self.off_cpu > self.off_cpu_threshold

    def line(self) -> str:
        state = "NOISY" if self.noisy else "quiet"
        return (f"{state}: off the CPU {100 * self.off_cpu:.1f}% of the timed wall time "
                f"(noisy above {100 * self.off_cpu_threshold:.0f}%); reference loop: Python "
                f"{self.python_us.median:.0f} µs (spread {100 * self.spread:.0f}%), torch "
                f"{self.torch_us.median:.0f} µs, {len(self.python_us.samples)} samples")


def level_ratio(a: Noise, b: Noise) -> float | None:
    """B's pure-Python reference level over A's: how much slower B's machine ran (the torch half
    is left out: it changes with the torch release, which is often what is being compared)."""
    pa, pb = a.python_us.median, b.python_us.median
    return pb / pa if pa > 0 else None
