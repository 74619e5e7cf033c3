"""The `guardprof guards` report: guard trees, their cost and why each cache entry exists.

Plain data, saved in the one envelope (`guardprof.model.envelope`, report_type "guardprof-guards")
and loaded back into the same classes, so `--load` re-renders (and re-diffs) without torch.
Times are µs (`_us`) or seconds (`_s`); each cost section names its method.

JSON layout (schema 2):
  report_type, schema_version, environment, workload, method (how each part was measured, the
  baselines subtracted), phases_s, notes, dynamo_counters (how they moved while compiling),
  diff (with --diff: rows of source, kind, fields, a, b), ablations (with --ablate: per guard
  group, saved µs/call in the hot loop beside the attributed µs/call),
  frames[]: name, filename, firstlineno, entries_on, calls, loop_cost, variation,
    entries[] (cache order): compile_id, position, code_parts_by_kind, torch_code_parts,
      leaf_guards, managers, serves_calls, tree (ManagerNode: source, manager_type, accessor,
      type_name, cost_us, subtree_cost_us, leaves[] (LeafNode: kind, torch_kind, code_parts, origin,
      relational, repeat, cost_us, status), children[]), epilogue[], relational[],
      pass_cost / fail_cost (CheckCost: whole_isolated_us, whole_replayed_us, parts[]),
      torch_reasons[], failing_guards[] (per earlier entry: all its guards that fail on this
      entry's inputs)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from guardprof.model import envelope
from guardprof.model.ablation import Ablations
from guardprof.model.run_report import CodeLocation, Environment

# Leaf status values.
TIMED = "timed"  # called alone from Python, per-call baseline subtracted
RELATIONAL = "relational"  # shared by several managers: costed by difference or not separable
NO_VALUE = "no value"  # the guarded value could not be reached (source not evaluable)
NOT_RUN = "not run"  # not reached by the check this cost belongs to
ERROR = "error"  # calling the guard raised


@dataclass(frozen=True)
class LeafNode:
    kind: str
    code_parts: list[str]  # verbose code parts without their trailing comment
    origin: str  # the comment torch attaches: user code line that installed the guard
    relational: bool
    repeat: bool  # a relational guard met again: torch prints only its kind here
    relational_index: int | None = None  # into EntryGuards.relational
    cost_us: float | None = None  # pass check, isolated, baseline subtracted
    status: str = NOT_RUN
    torch_kind: str | None = None  # the torch release's own name, where it differs from `kind`


@dataclass(frozen=True)
class ManagerNode:
    source: str
    manager_type: str
    accessor: str | None
    type_name: str
    leaves: list[LeafNode] = field(default_factory=list)
    children: list[ManagerNode] = field(default_factory=list)
    cost_us: float | None = None  # its own leaves (pass check, isolated)
    subtree_cost_us: float | None = None

    def walk(self) -> Iterator[ManagerNode]:
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass(frozen=True)
class RelationalGuardInfo:
    kind: str
    sources: list[str]
    code: str
    cost_us: float | None  # None: not separable
    method: str


@dataclass(frozen=True)
class KindCost:
    kind: str  # a guard kind, or "tree walk" / "relational: KIND"
    leaf_guards: int
    code_parts: int
    cost_us: float | None  # None: not separable (counted, not costed)
    method: str


@dataclass(frozen=True)
class CheckCost:
    """One guard check of one entry on one call's frame locals, split into parts."""

    compile_id: str
    passed: bool
    call_index: int
    whole_replayed_us: float | None  # guardprof run's replayed figure for this check
    whole_isolated_us: float  # the same check in a tight loop, empty-root call subtracted
    parts: list[KindCost]
    managers_visited: int
    failed_at: str | None = None  # first failing guard (a failing check stops there)
    mismatch: str | None = None  # the simulated walk disagrees with the real check

    @property
    def parts_us(self) -> float:
        return sum(p.cost_us for p in self.parts if p.cost_us is not None)

    def ratio(self, whole: float | None) -> float | None:
        return None if not whole or whole <= 0 else self.parts_us / whole

    @property
    def unseparated(self) -> list[KindCost]:
        return [p for p in self.parts if p.cost_us is None]


@dataclass(frozen=True)
class FailingGuard:
    source: str
    kind: str
    code: str
    reason: str


@dataclass(frozen=True)
class EntryFailures:
    """All guards of an earlier entry that fail on the inputs this entry was compiled for."""

    compile_id: str
    failing: list[FailingGuard]
    complete: bool  # False: some guards could not be evaluated (see note)
    note: str | None = None


@dataclass(frozen=True)
class EntryGuards:
    compile_id: str
    position: int  # cache order when the captured iteration began (0 = checked first)
    code_parts_by_kind: dict[str, int]  # as TORCH_LOGS=guards prints them
    torch_code_parts: int  # counted in torch's own guard tree string, for cross-checking
    leaf_guards: int
    managers: int
    serves_calls: list[int]
    tree: ManagerNode
    epilogue: list[LeafNode] = field(default_factory=list)
    relational: list[RelationalGuardInfo] = field(default_factory=list)
    pass_cost: CheckCost | None = None
    fail_cost: CheckCost | None = None
    torch_reasons: list[str] = field(default_factory=list)
    failing_guards: list[EntryFailures] = field(default_factory=list)
    reasons_note: str | None = None

    @property
    def code_parts(self) -> int:
        return sum(self.code_parts_by_kind.values())

    def leaves(self) -> Iterator[tuple[ManagerNode, LeafNode]]:
        for manager in self.tree.walk():
            for leaf in manager.leaves:
                yield manager, leaf
        for leaf in self.epilogue:
            yield self.tree, leaf


@dataclass(frozen=True)
class LoopKindCost:
    kind: str
    us_per_call: float | None
    checks: int  # checks (over all calls) in which this kind ran


@dataclass(frozen=True)
class LoopCost:
    """Guard cost per call over the captured iteration: every check of every walk, by kind."""

    calls: int
    checks: int
    whole_replayed_us_per_call: float | None
    whole_isolated_us_per_call: float
    kinds: list[LoopKindCost]

    @property
    def parts_us_per_call(self) -> float:
        return sum(k.us_per_call for k in self.kinds if k.us_per_call is not None)


@dataclass(frozen=True)
class VaryingGroup:
    kind: str
    what: str  # "size[0]", "value", "present" …
    sources: list[str]
    values: dict[str, str]  # compile id → value, when every source agrees per entry
    description: str


@dataclass(frozen=True)
class Variation:
    entries: int
    aligned_guards: int  # guards compared across entries (by source, kind, ordinal)
    constant: int
    groups: list[VaryingGroup]
    summary: str


@dataclass(frozen=True)
class DiffRow:
    source: str
    kind: str
    fields: list[str]  # what differs ("size[0]", "value", "present")
    a: str | None  # the differing part in A (None: A has no such guard)
    b: str | None
    a_code: str | None  # the whole guard code
    b_code: str | None


@dataclass(frozen=True)
class EntryDiff:
    a: str
    b: str
    same: int
    rows: list[DiffRow]
    summary: str


@dataclass(frozen=True)
class FrameGuards:
    name: str
    filename: str
    firstlineno: int
    entries: list[EntryGuards]
    variation: Variation | None = None
    loop_cost: LoopCost | None = None
    entries_on: CodeLocation | None = None  # a torch-internal wrapper's code (see FrameReport)

    @property
    def location(self) -> str:
        return f"{self.filename}:{self.firstlineno}"

    def compile_order(self) -> list[EntryGuards]:
        return sorted(self.entries, key=lambda e: compile_id_key(e.compile_id))


@dataclass(frozen=True)
class GuardsWorkload:
    kind: str
    name: str
    target: str | None
    backend: str
    dynamic: str
    num_args: int | None
    sizes: list[int] | None
    calls_per_iteration: int
    compiled_as_given: bool


@dataclass(frozen=True)
class CostMethod:
    leaf: str
    relational: str
    walk: str
    whole: str
    tolerance: float
    leaf_baseline_ns: float  # per leaf call, subtracted
    root_baseline_ns: float  # per whole-check call (empty root), subtracted
    walk_ns_per_manager: float | None
    rounds: int
    batch: int


@dataclass(frozen=True)
class GuardsReport:
    environment: Environment
    workload: GuardsWorkload
    method: CostMethod
    frames: list[FrameGuards]
    phases_s: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    diff: EntryDiff | None = None
    ablations: Ablations | None = None  # with --ablate: guard groups dropped, hot-loop saving
    dynamo_counters: dict[str, dict[str, int]] = field(default_factory=dict)

    def entries(self) -> Iterator[tuple[FrameGuards, EntryGuards]]:
        for frame in self.frames:
            for entry in frame.entries:
                yield frame, entry

    def find_entry(self, compile_id: str) -> tuple[FrameGuards, EntryGuards] | None:
        return next(((f, e) for f, e in self.entries() if e.compile_id == compile_id), None)

    @property
    def code_parts(self) -> int:
        return sum(e.code_parts for _, e in self.entries())


def compile_id_key(compile_id: str) -> tuple:
    """'1/10' sorts after '1/9' and '0/…': (frame id, attempt), numerically where possible."""
    parts = compile_id.strip("[]").split("/")
    return tuple(int(p) if p.isdigit() else p for p in parts)


def code_part_counts(leaves: list[LeafNode]) -> dict[str, int]:
    """Code parts by kind as torch prints them: a relational guard's repeats print no code."""
    counts: Counter[str] = Counter()
    for leaf in leaves:
        if not leaf.repeat:
            counts[leaf.kind] += max(1, len(leaf.code_parts))
    return dict(counts.most_common())


# --- JSON -----------------------------------------------------------------------------------


def to_json(report: GuardsReport) -> str:
    return envelope.to_json(envelope.GUARDS, report, indent=1)


def save_guards_report(report: GuardsReport, path: str | Path) -> Path:
    return envelope.save(path, envelope.GUARDS, report, indent=1)


def from_dict(data: Any) -> GuardsReport:
    return from_loaded(envelope.identify(data, (envelope.GUARDS,)))


def from_loaded(loaded: envelope.Loaded) -> GuardsReport:
    return envelope.build(GuardsReport, loaded.data, "guards report is not valid")


def load_guards_report(path: str | Path) -> GuardsReport:
    return from_loaded(envelope.read(path, (envelope.GUARDS,)))
