"""The `guardprof sweep` result: one row per grid point and the fitted cost models.

Written to `sweep.json` in the envelope (report_type "guardprof-sweep") as points finish, and
loaded back by `guardprof sweep --load` and `guardprof report --sweep`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from guardprof.model import envelope
from guardprof.model.cost_fit import CostFit
from guardprof.model.run_report import Environment

SWEEP_FILE = "sweep.json"
SUMMARY_FILE = "summary.txt"
PLOT_FILE = "sweep.png"
POINTS_DIR = "points"
GUARD_TARGET = "guard µs/call (replayed)"
OVERHEAD_TARGET = "compiled − eager µs/call (timed)"


@dataclass(frozen=True)
class SweepPoint:
    num_args: int
    sizes_count: int
    dynamic: str
    entries: int
    guards_per_entry: float | None
    walk_depth: float  # entries checked per call (replayed)
    rejected_per_call: float  # entries checked and rejected per call
    compiled_us_per_call: float  # median over rounds
    compiled_iqr_us_per_call: float
    eager_us_per_call: float | None
    overhead_us_per_call: float | None  # compiled − eager
    guard_us_per_call: float  # in situ (`guard_method` says; replayed only where none)
    guard_rejected_us_per_call: float  # replayed: the breakdown
    guard_accepted_us_per_call: float  # replayed
    number: int
    repeat: int
    warmup_s: float
    seconds: float  # wall time of this point, warm-up and replay included
    report_file: str
    guard_method: str = "in situ"

    @property
    def guard_share(self) -> float | None:
        if self.compiled_us_per_call <= 0:
            return None
        return self.guard_us_per_call / self.compiled_us_per_call


@dataclass
class SweepResult:
    environment: Environment | None
    grid: dict
    settings: dict
    methods: dict
    points: list[SweepPoint] = field(default_factory=list)
    planned_points: int = 0
    complete: bool = False
    interrupted: bool = False
    elapsed_s: float = 0.0
    fits: list[CostFit] = field(default_factory=list)
    plot_file: str | None = None
    notes: list[str] = field(default_factory=list)


def sweep_to_json(result: SweepResult) -> str:
    return envelope.to_json(envelope.SWEEP, result)


def save_sweep(result: SweepResult, out: Path) -> Path:
    return envelope.save(out / SWEEP_FILE, envelope.SWEEP, result)


def sweep_file(path: Path) -> Path:
    """A sweep folder's `sweep.json`, or the file itself."""
    return path / SWEEP_FILE if path.is_dir() else path


def load_sweep(path: Path) -> SweepResult:
    """A sweep from its folder (or its sweep.json), checked for report type and version."""
    file = sweep_file(path)
    loaded = envelope.read(file, (envelope.SWEEP,), "sweep is not valid")
    return envelope.build(SweepResult, loaded.data, "sweep is not valid")
