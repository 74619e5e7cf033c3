"""The GuardReport of `guardprof run`: plain data, saved in the envelope and loaded back.

Renderers only read a report; nothing here measures anything. Every figure carries its unit in
its name (`_us`, `_s`) and every section its method.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from guardprof.model import envelope
from guardprof.model.decomposition import Decomposition, FrameDecomposition
from guardprof.model.in_situ import AcceptedBreakdown, InSitu
from guardprof.model.noise import Noise
from guardprof.model.stats import SampleStats


@dataclass(frozen=True)
class Environment:
    guardprof_version: str
    torch_version: str
    python_version: str
    platform: str
    device: str
    device_name: str
    torch_threads: int
    cpu_count: int


@dataclass(frozen=True)
class WorkloadInfo:
    kind: str  # "standard" | "target"
    name: str
    target: str | None
    backend: str
    dynamic: str  # "True" | "False" | "None"
    num_args: int | None
    sizes: list[int] | None
    recompile_limit: int
    number: int
    number_calibrated: bool
    repeat: int
    device: str
    seed: int | None
    calls_per_iteration: int
    compiled_as_given: bool  # a torch.compile result was passed; backend/dynamic options unused


@dataclass(frozen=True)
class Timing:
    method: str
    compiled_us_per_iteration: SampleStats
    eager_us_per_iteration: SampleStats | None
    warmup_s: float
    calls_per_iteration: int
    warmup_iterations: int = 3

    @property
    def compiled_us_per_call(self) -> float:
        return self.compiled_us_per_iteration.median / self.calls_per_iteration

    @property
    def eager_us_per_call(self) -> float | None:
        if self.eager_us_per_iteration is None:
            return None
        return self.eager_us_per_iteration.median / self.calls_per_iteration

    @property
    def overhead_us_per_call(self) -> float | None:
        eager = self.eager_us_per_call
        return None if eager is None else self.compiled_us_per_call - eager


@dataclass(frozen=True)
class CallGuardCost:
    call_index: int
    walk_depth: int  # cache entries checked, over all frames the call ran
    rejected_checks: int  # of those, the ones whose guards rejected the call
    rejected_us: float
    accepted_us: float
    fell_back: bool  # some frame found no accepting entry and ran uncompiled

    @property
    def total_us(self) -> float:
        return self.rejected_us + self.accepted_us


@dataclass(frozen=True)
class ReplayBlock:
    """One block of replay rounds, per call (the order of `GuardCost.calls`): the repetitions
    an interval between two runs comes from (each figure is the median over blocks)."""

    rejected_us: list[float]
    accepted_us: list[float]

    @property
    def rejected_us_per_call(self) -> float:
        return _mean(self.rejected_us)

    @property
    def accepted_us_per_call(self) -> float:
        return _mean(self.accepted_us)

    @property
    def total_us_per_call(self) -> float:
        return self.rejected_us_per_call + self.accepted_us_per_call


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


@dataclass(frozen=True)
class GuardCost:
    method: str
    calls: list[CallGuardCost]
    python_call_overhead_us: float  # subtracted from every timed check
    mismatches: int  # replayed walks that chose another entry than the real run
    blocks: list[ReplayBlock] = field(default_factory=list)  # the per-block repetitions

    def _mean(self, attr: str) -> float:
        if not self.calls:
            return 0.0
        return sum(getattr(c, attr) for c in self.calls) / len(self.calls)

    @property
    def walk_depth_mean(self) -> float:
        return self._mean("walk_depth")

    @property
    def rejected_checks_per_call(self) -> float:
        return self._mean("rejected_checks")

    @property
    def rejected_us_per_call(self) -> float:
        return self._mean("rejected_us")

    @property
    def accepted_us_per_call(self) -> float:
        return self._mean("accepted_us")

    @property
    def total_us_per_call(self) -> float:
        return self._mean("total_us")


@dataclass(frozen=True)
class CrossCheck:
    method: str
    available: bool
    note: str | None = None
    iterations: int = 0
    events: int = 0
    median_event_us: float | None = None  # median over passes of each pass's median event
    per_call_us: float | None = None  # median over passes of (the pass's events summed / calls)
    pass_medians_us: list[float] = field(default_factory=list)
    pass_per_call_us: list[float] = field(default_factory=list)
    tolerance: float = 0.15
    # the lookup clock in the same passes: its lookup µs per call (floor included), per pass
    pass_clock_us: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class EntryReport:
    compile_id: str
    position: int  # 0 = front of the cache list when the captured iteration began
    guards_total: int
    guards_by_kind: dict[str, int]
    serves_calls: list[int]
    pass_check_us: float | None
    fail_check_us: float | None
    recompile_reasons: list[str]


@dataclass(frozen=True)
class CodeLocation:
    """A code object by name and place (where a torch-internal wrapper keeps entries)."""

    name: str
    filename: str
    firstlineno: int

    @property
    def location(self) -> str:
        return f"{self.filename}:{self.firstlineno}"


@dataclass(frozen=True)
class FrameReport:
    name: str
    filename: str
    firstlineno: int
    entries: list[EntryReport]
    uncompiled_calls: list[int] = field(default_factory=list)
    # A torch-internal wrapper's code (e.g. external_utils.inner on torch 2.11) holding the
    # entries of the compiled callable: its entry list may be shared by other callables.
    torch_internal: bool = False
    guard_us_per_call: float = 0.0  # replayed guard time on this frame's entries, per call
    # Where the entries live when that is a torch-internal wrapper's code: the frame is then
    # named by the user's callable (name, filename, firstlineno above) and this says where.
    entries_on: CodeLocation | None = None
    # This frame's part of the hot-loop decomposition (None: no decomposition was measured)
    decomposition: FrameDecomposition | None = None

    @property
    def location(self) -> str:
        return f"{self.filename}:{self.firstlineno}"

    @property
    def code_key(self) -> tuple[str, int, str]:
        """(filename, firstlineno, name) of the code holding the entries, as pstats names it."""
        where = self.entries_on or self
        return (where.filename, where.firstlineno, where.name)


@dataclass(frozen=True)
class GuardReport:
    result_line: str  # the original benchmark's line: "compiled 688.7us (warmup=34.0s)"
    environment: Environment
    workload: WorkloadInfo
    timing: Timing
    guard_cost: GuardCost
    cross_check: CrossCheck
    frames: list[FrameReport]
    notes: list[str]
    # Plain statements from `guardprof.analysis.findings.explained`, added after measurement.
    findings: list[str] = field(default_factory=list)
    unattributed_reasons: list[str] = field(default_factory=list)
    # How torch._dynamo.utils.counters moved during warm-up (compilation); only what changed.
    dynamo_counters: dict[str, dict[str, int]] = field(default_factory=dict)
    # The compiled call taken apart in the hot loop (None: not measured, e.g. sweep points).
    decomposition: Decomposition | None = None
    # The machine's own noise during the run: a reference loop timed between rounds.
    noise: Noise | None = None
    # The headline guard figure: guard evaluation timed in situ, call by call, in the real loop;
    # the replay (guard_cost) is its breakdown.
    in_situ: InSitu | None = None
    # The in-situ accepted check = frame-locals dict + replayed checks + residual.
    accepted_breakdown: AcceptedBreakdown | None = None

    @property
    def entries(self) -> list[EntryReport]:
        """Every cache entry of every compiled frame."""
        return [e for f in self.frames for e in f.entries]

    @property
    def entry_count(self) -> int:
        return len(self.entries)

    def guards_per_entry(self) -> float | None:
        entries = self.entries
        return sum(e.guards_total for e in entries) / len(entries) if entries else None

    def guards_by_kind_total(self) -> dict[str, int]:
        """Guards of each kind summed over all entries, most frequent first."""
        totals: dict[str, int] = {}
        for e in self.entries:
            for kind, count in e.guards_by_kind.items():
                totals[kind] = totals.get(kind, 0) + count
        return dict(sorted(totals.items(), key=lambda kv: -kv[1]))

    def guard_us(self) -> float | None:
        """The headline guard figure, µs per call: in situ, or None where it was not measured
        (the replay is never put in its place)."""
        return self.in_situ.us_per_call if self.in_situ is not None else None

    def guard_share_of_call(self) -> float | None:
        """The in-situ guard figure's share of the headline call."""
        guard, per_call = self.guard_us(), self.timing.compiled_us_per_call
        return guard / per_call if guard is not None and per_call > 0 else None

    def replay_to_in_situ(self) -> float | None:
        """How much of the in-situ figure the replay's checks explain (replayed / in situ)."""
        guard = self.guard_us()
        if guard is None or guard <= 0:
            return None
        return self.guard_cost.total_us_per_call / guard


# --- JSON -----------------------------------------------------------------------------------


def summary(report: GuardReport) -> dict[str, float | int | None]:
    """The headline figures derived from the report's data (written to JSON, not read back)."""
    timing, cost = report.timing, report.guard_cost
    return {
        "compiled_us_per_iteration": timing.compiled_us_per_iteration.median,
        "compiled_us_per_call": timing.compiled_us_per_call,
        "eager_us_per_call": timing.eager_us_per_call,
        "overhead_us_per_call": timing.overhead_us_per_call,
        "guard_us_per_call": report.guard_us(),  # in situ (None: not measured)
        "rejected_us_per_call": report.in_situ.rejected_us if report.in_situ else None,
        "accepted_us_per_call": report.in_situ.accepted_us if report.in_situ else None,
        "replayed_guard_us_per_call": cost.total_us_per_call,
        "replayed_rejected_us_per_call": cost.rejected_us_per_call,
        "replayed_accepted_us_per_call": cost.accepted_us_per_call,
        "walk_depth_mean": cost.walk_depth_mean,
        "guard_share_of_call": report.guard_share_of_call(),
        "profiler_us_per_call": report.cross_check.per_call_us,
        "cache_entries": report.entry_count,
        "off_cpu": report.noise.off_cpu if report.noise else None,
        "reference_python_us": report.noise.python_us.median if report.noise else None,
        "noisy": report.noise.noisy if report.noise else None,
    }


def to_dict(report: GuardReport) -> dict[str, Any]:
    """The report as its JSON object: the envelope, its fields, and the derived `summary`."""
    return json.loads(to_json(report))


def to_json(report: GuardReport) -> str:
    return envelope.to_json(envelope.RUN, report, {"summary": summary(report)})


def save_report(report: GuardReport, path: str | Path) -> Path:
    return envelope.save(path, envelope.RUN, report, {"summary": summary(report)})


def from_dict(data: Any) -> GuardReport:
    return from_loaded(envelope.identify(data, (envelope.RUN,)))


def load_report(path: str | Path) -> GuardReport:
    return from_loaded(envelope.read(path, (envelope.RUN,)))


def from_loaded(loaded: envelope.Loaded) -> GuardReport:
    return envelope.build(GuardReport, loaded.data, "report is not a valid guardprof report")
