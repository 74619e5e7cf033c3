"""What guardprof saw of an unmodified program: its compiled frames, their entries, sampled calls.

Every figure per frame comes from the sampled lookups (`samples`); `lookups` is exact but not
attributed to frames, so a frame's calls and its total guard time are estimates (share of the
samples × all lookups), and say so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from guardprof.model import envelope
from guardprof.model.decomposition import Decomposition
from guardprof.model.guards_report import EntryGuards
from guardprof.model.in_situ import InSitu


@dataclass
class ProgramEntry:
    compile_id: str
    reasons: list[str]  # the recompile reasons that created it (empty: the first compile)
    guard_kinds: dict[str, int]  # guard kind → count in its tree
    sampled_calls: int  # samples this entry served
    accepted_us: float | None  # replayed cost of its check when it accepted, median over samples
    # its guard tree and code parts as data (no per-guard costs), for `guards --load`; None in
    # reports written before they were kept
    guards: EntryGuards | None = None


@dataclass
class ProgramCallable:
    """One of several callables whose entries sit on one torch wrapper code (a module's
    `forward` on `inner`): they share one cache list, so each one's calls walk the others'
    entries too. Its figures come from the frame's sampled calls that called it."""

    name: str
    filename: str
    firstlineno: int
    sampled_calls: int
    served_by: dict[str, int]  # compile id → its sampled calls that entry accepted
    walk_depths: dict[str, int]  # entries rejected before the accepting one → sampled calls
    guard_us_per_call: float | None  # replayed, mean over its sampled calls
    rejected_us_per_call: float | None
    call_sites: dict[str, int] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.name} ({self.filename.split('site-packages/')[-1]}:{self.firstlineno})"


@dataclass
class ProgramFrame:
    name: str
    filename: str
    firstlineno: int
    entries_on: str | None  # where its entries live when that is a torch-internal wrapper
    entries: list[ProgramEntry]  # in cache order at the end of the program
    sampled_calls: int
    sampled_fell_back: int  # sampled calls no entry accepted (dynamo ran the frame uncompiled)
    walk_depths: dict[str, int]  # entries rejected before the accepting one → sampled calls
    guard_us_per_call: float | None  # replayed, mean over the sampled calls (rejected + accepted)
    rejected_us_per_call: float | None
    estimated_calls: float | None  # share of samples × all lookups, an estimate (None: unsampled)
    # estimated_calls × the in-situ guard figure (the replayed one where none): an estimate
    estimated_guard_s: float | None
    merged_callables: int = 0  # distinct callables whose samples share this torch wrapper code
    # the program's lines that made the sampled calls (`train.py:12 (main)`) → sampled calls,
    # most first: a module's frame is torch's code, the call site is the user's
    call_sites: dict[str, int] = field(default_factory=dict)
    # several callables on one torch wrapper code (merged_callables > 1): each one's share,
    # most sampled first; the frame is then named after all of them
    callables: list[ProgramCallable] = field(default_factory=list)
    # the frame's hot-loop decomposition on its sampled calls, called again after the program
    # (`guardprof run --decompose -- …`); None: not asked for, or the frame was not sampled
    decomposition: Decomposition | None = None
    # the headline guard figure: its sampled lookups timed in situ while the program ran
    in_situ: InSitu | None = None

    @property
    def label(self) -> str:
        """`name (file:line)`, an installed package's file shown from its package down."""
        filename = self.filename.split("site-packages/")[-1]
        return f"{self.name} ({filename}:{self.firstlineno})"

    @property
    def guard_figure(self) -> tuple[float | None, str]:
        """This frame's guard µs/call as views show it: in situ, else the replayed checks
        (named so)."""
        if self.in_situ is not None and self.in_situ.us_per_call is not None:
            return self.in_situ.us_per_call, "in situ"
        return self.guard_us_per_call, "replayed"

    @property
    def called_from(self) -> str:
        """The commonest call site, and how many others there are."""
        if not self.call_sites:
            return "-"
        first = next(iter(self.call_sites))
        more = len(self.call_sites) - 1
        return first + (f" (+{more} more)" if more else "")


@dataclass
class ProgramReport:
    command: list[str]
    exit_status: int
    torch_version: str
    python: str
    wall_s: float
    lookups: int  # every call of a compiled frame but its first (no cache yet): exact
    samples: int  # lookups whose frame, locals and cache order were captured and replayed
    sample_policy: str
    replay_method: str
    frames: list[ProgramFrame]  # ranked by estimated guard time
    lost_samples: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def compiled_anything(self) -> bool:
        return self.lookups > 0 or bool(self.frames)


def save(report: ProgramReport, path: str | Path) -> Path:
    return envelope.save(path, envelope.PROGRAM, report, indent=1)


def load(path: str | Path) -> ProgramReport:
    loaded = envelope.read(path, (envelope.PROGRAM,))
    return envelope.build(ProgramReport, loaded.data, f"{path}: not a guardprof program report")
