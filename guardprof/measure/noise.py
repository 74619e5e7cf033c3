"""The reference loop guardprof times between rounds (see `guardprof.model.noise`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from guardprof.model.noise import Noise
from guardprof.model.stats import SampleStats

PYTHON_ITERATIONS = 3000  # ≈ 0.1 ms of pure Python
TORCH_OPS = 100  # ≈ 0.6 ms of torch.add on a one-element tensor (the dispatcher's fixed cost)
REPEATS = 2  # each sample runs the loop twice: ≈ 2 ms, short beside a timing round

METHOD = (
    "off-CPU share = 1 − thread CPU time / wall time over the timing rounds (compiled and eager, "
    "with what runs between them); reference loop (sum over range("
    f"{PYTHON_ITERATIONS}) in Python, then {TORCH_OPS} × torch.add on a one-element CPU tensor) "
    f"timed after every timing round ({REPEATS} runs per sample, perf_counter); spread = IQR / "
    "median of its samples"
)


def _python_part() -> int:
    total = 0
    for i in range(PYTHON_ITERATIONS):
        total += i
    return total


@dataclass
class NoiseProbe:
    """Call `sample()` between rounds; `result()` gives the run's Noise."""

    python_us: list[float] = field(default_factory=list)
    torch_us: list[float] = field(default_factory=list)
    wall_s: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        import torch

        self._x = torch.zeros(1)
        self._add = torch.add
        self._mark: tuple[float, float] | None = None

    def start(self) -> None:
        """Begin an interval (before a timing loop): wall and CPU time are counted from here."""
        self._mark = (time.perf_counter(), time.thread_time())

    def sample(self) -> None:
        """After a round: close the interval, time the reference loop, open the next one."""
        if self._mark is not None:
            wall0, cpu0 = self._mark
            self.wall_s.append(time.perf_counter() - wall0)
            self.cpu_s.append(time.thread_time() - cpu0)
        clock = time.perf_counter
        t0 = clock()
        for _ in range(REPEATS):
            _python_part()
        t1 = clock()
        for _ in range(REPEATS * TORCH_OPS):
            self._add(self._x, 1)
        t2 = clock()
        self.python_us.append((t1 - t0) * 1e6 / REPEATS)
        self.torch_us.append((t2 - t1) * 1e6 / REPEATS)
        self.start()

    def stop(self) -> None:
        """End interval counting (after a timing loop): what follows is not timed."""
        self._mark = None

    def result(self) -> Noise | None:
        if not self.python_us:
            return None
        return Noise(METHOD, SampleStats.of(self.python_us, "us"),
                     SampleStats.of(self.torch_us, "us"), list(self.wall_s), list(self.cpu_s))
