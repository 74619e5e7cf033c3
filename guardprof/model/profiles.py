"""What `guardprof profile` produces: a cProfile run with guard nodes, or a py-spy recording.

Plain data for the renderers; the profilers in `guardprof.profilers` build them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from guardprof.model.program_report import ProgramReport
from guardprof.model.run_report import GuardReport
from guardprof.model.stats import SampleStats

FORMATS = ("flamegraph", "speedscope", "raw")  # py-spy's output formats

GUARD_NODE_PREFIX = "[dynamo guards]"

FuncKey = tuple[str, int, str]  # pstats' (file, line, name)
Stats = dict  # pstats' {FuncKey: (cc, nc, tt, ct, {caller FuncKey: (nc, cc, tt, ct)})}


@dataclass  # not frozen: `derive` fills in what it moved (moved_s) while planning
class Booking:
    """Guard time of one compiled frame as booked in one caller's self time."""

    caller: FuncKey
    lookups: int  # calls of the frame from this caller = cache lookups
    replayed_s: float  # replayed guard time for those lookups
    moved_s: float  # taken out of the caller's self time (less than replayed if it ran out)


@dataclass  # not frozen: `derive` fills in what it moved (moved_s) while planning
class GuardNode:
    key: FuncKey
    frame: str  # the compiled frame's name
    entries: int
    bookings: list[Booking] = field(default_factory=list)
    # a program's frame: its replayed guard µs per call, which its time is that many times
    replayed_us_per_call: float | None = None  # the guard µs/call placed (in situ, or replayed)

    @property
    def lookups(self) -> int:
        return sum(b.lookups for b in self.bookings)

    @property
    def seconds(self) -> float:
        return sum(b.moved_s for b in self.bookings)

    @property
    def replayed_s(self) -> float:
        return sum(b.replayed_s for b in self.bookings)


@dataclass(frozen=True)
class CollapsedLabel:
    """Several code objects cProfile gave one (file, line, name): pstats keeps only one."""

    key: FuncKey
    code_objects: int
    calls_kept: int
    calls_total: int


class _ProfileTotals:
    """What both kinds of cProfile run total from their raw stats and guard nodes."""

    raw: Stats
    nodes: list[GuardNode]

    @property
    def total_s(self) -> float:
        return sum(v[2] for v in self.raw.values())

    @property
    def guard_s(self) -> float:
        return sum(n.seconds for n in self.nodes)


@dataclass(frozen=True)
class CProfileRun(_ProfileTotals):
    iterations: int
    calls_per_iteration: int
    loop_s: float  # wall time of the profiled loop (perf_counter), profiler overhead included
    raw: Stats
    derived: Stats
    nodes: list[GuardNode]
    collapsed: list[CollapsedLabel]
    report: GuardReport  # the unprofiled measurement: timing and replayed guard cost
    notes: list[str] = field(default_factory=list)
    # dynamo's Python-level guards cProfile saw as their own entries: (function, calls, cum s)
    python_guards: list[tuple[FuncKey, int, float]] = field(default_factory=list)
    method: str = ""  # how the profiled loop ran and was timed (`profilers.cprofile`)

    @property
    def profiled_us_per_call(self) -> float:
        return self.loop_s * 1e6 / (self.iterations * self.calls_per_iteration)


@dataclass
class ProgramCProfileRun(_ProfileTotals):
    """cProfile of a whole program (`guardprof profile -- python SCRIPT`), with the guard
    entries derived from its sampled calls' replay."""

    program: ProgramReport  # what the lookup hook counted and sampled alongside cProfile
    wall_s: float  # the program under cProfile (perf_counter), profiler overhead included
    raw: Stats
    derived: Stats
    nodes: list[GuardNode]
    collapsed: list[CollapsedLabel]
    sampled_via: dict[str, int]  # one-shot sampling hooks set, by slot ("profile", "trace")
    notes: list[str] = field(default_factory=list)
    python_guards: list[tuple[FuncKey, int, float]] = field(default_factory=list)
    method: str = ""


@dataclass(frozen=True)
class SampleAnalysis:
    """Counts of samples (each one stack seen at one instant) by where they were."""

    total: int
    compile_excluded: int  # under dynamo's compiler (a cache miss compiling), not the hot loop
    outside_loop_excluded: int  # not under the hot-loop marker frame (workload mode only)
    loop: int  # the samples every share is a share of
    lookup: int  # in dynamo's cache lookup: `lookup` and the guard managers below it
    dynamo: int  # with any dynamo frame (eval-frame hook, compiled wrappers, guards)
    in_compiled_calls: int  # under a compiled call (dynamo's wrapper or eval-frame hook)
    native_frames: bool  # the samples carry native frames (py-spy --native worked)
    lookup_by_kind: list[tuple[str, int]] = field(default_factory=list)
    python_guards: list[tuple[str, int]] = field(default_factory=list)

    @property
    def lookup_share(self) -> float | None:
        return self.lookup / self.loop if self.loop else None

    @property
    def lookup_share_of_compiled_calls(self) -> float | None:
        return self.lookup / self.in_compiled_calls if self.in_compiled_calls else None


@dataclass(frozen=True)
class RecordOptions:
    fmt: str = "flamegraph"
    rate: int = 100
    native: bool = True


@dataclass(frozen=True)
class FlameResult:
    """A py-spy recording and what its samples say; plain data for the renderer."""

    mode: str  # "workload" | "pid" | "launch"
    target: str  # what was sampled, in words
    output: Path
    options: RecordOptions  # as actually recorded (native may have fallen back)
    pyspy_version: str
    analysis: SampleAnalysis
    pyspy_samples: int | None  # py-spy's own count, to check the file was read back whole
    exclusion: str  # how samples from warm-up/compilation were kept out, in words
    report: GuardReport | None = None  # workload mode: the unsampled measurement
    sampled_us_per_call: SampleStats | None = None  # workload mode: timed while sampled
    notes: list[str] = field(default_factory=list)
