"""`guardprof compare A.json B.json`: what changed between two runs, and whether it is noise.

Each figure gets B/A and a bootstrap interval from the repetitions each run kept: the timing
rounds for timed figures, the in-situ rounds for the guard figure (each round's figure is over
the same calls), the replay blocks for the replayed breakdown. Repetitions inside one run miss
what changed between runs, so every interval is then widened by a run-to-run term from the runs'
own noise figures (the reference loop's spread in each run, and how far the two runs' reference
levels differ).
A change is called only when the whole interval lies beyond the tolerance band
(`intervals.verdict`); the gate (`decide`) fails only when the interval lies wholly above the
threshold, passes only when it lies wholly at or below it, and cannot decide otherwise, or when
either run was noisy.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from guardprof.analysis.intervals import (
    RatioEstimate,
    Statistic,
    bootstrap_ratio,
    difference_of_medians,
    median_of,
    verdict,
)
from guardprof.errors import GuardprofError, WorkloadUsageError
from guardprof.fileio import read_json
from guardprof.model import envelope
from guardprof.model.noise import level_ratio
from guardprof.model.run_report import GuardReport, from_loaded

DEFAULT_TOLERANCE_PCT = 5.0

TIMED_INTERVAL = "timing rounds (each run resampled on its own), widened by the run-to-run term"
BLOCKS_INTERVAL = ("replay blocks (each block's mean over the same calls; each run resampled on "
                   "its own), widened by the run-to-run term")
IN_SITU_INTERVAL = ("in-situ rounds (each round's guard figure over the same calls; each run "
                    "resampled on its own, ≥ 10 rounds), widened by the run-to-run term")
ENTRIES_INTERVAL = ("spread across cache entries (the workload's structure, not repetitions: "
                    "shown, not gated on)")


@dataclass(frozen=True)
class MetricDef:
    key: str
    label: str
    method: str  # "timed", "in situ" or "replayed"
    interval: str
    samples: Callable[[GuardReport], list[list[float]] | None]
    statistic: Statistic
    gated: bool = True  # its interval comes from repetitions: --fail-above may gate on it


def _per_call(report: GuardReport, which: str) -> list[float] | None:
    stats = getattr(report.timing, which)
    if stats is None or not stats.samples:
        return None
    return [v / report.timing.calls_per_iteration for v in stats.samples]


def _compiled(r: GuardReport):
    s = _per_call(r, "compiled_us_per_iteration")
    return None if s is None else [s]


def _eager(r: GuardReport):
    s = _per_call(r, "eager_us_per_iteration")
    return None if s is None else [s]


def _overhead(r: GuardReport):
    c, e = _per_call(r, "compiled_us_per_iteration"), _per_call(r, "eager_us_per_iteration")
    return None if c is None or e is None else [c, e]


def _blocks(attr: str) -> Callable[[GuardReport], list[list[float]] | None]:
    def samples(r: GuardReport):
        values = [getattr(b, attr) for b in r.guard_cost.blocks]
        return [values] if values else None

    return samples


def _in_situ_rounds(r: GuardReport):
    s = r.in_situ  # an unresolved figure (us_per_call None) gives no repetitions to gate on
    if s is None or s.us_per_call is None or not s.rounds_us:
        return None
    return [list(s.rounds_us)]


def _entries(attr: str) -> Callable[[GuardReport], list[list[float]] | None]:
    def samples(r: GuardReport):
        values = [getattr(e, attr) for e in r.entries]
        values = [v for v in values if v is not None]
        return [values] if values else None

    return samples


METRICS: dict[str, MetricDef] = {
    m.key: m
    for m in (
        MetricDef("call", "compiled µs/call", "timed", TIMED_INTERVAL, _compiled, median_of),
        MetricDef("eager", "eager µs/call", "timed", TIMED_INTERVAL, _eager, median_of),
        MetricDef("overhead", "compiled − eager µs/call", "timed", TIMED_INTERVAL, _overhead,
                  difference_of_medians),
        MetricDef("guard", "guard µs/call (in situ)", "in situ", IN_SITU_INTERVAL,
                  _in_situ_rounds, median_of),
        MetricDef("guard-replayed", "guard µs/call (replayed)", "replayed", BLOCKS_INTERVAL,
                  _blocks("total_us_per_call"), median_of),
        MetricDef("guard-rejected", "  rejected entries µs/call (replayed)", "replayed",
                  BLOCKS_INTERVAL, _blocks("rejected_us_per_call"), median_of),
        MetricDef("guard-accepted", "  accepted entry µs/call (replayed)", "replayed",
                  BLOCKS_INTERVAL, _blocks("accepted_us_per_call"), median_of),
        MetricDef("pass-check", "pass check µs (median entry)", "replayed", ENTRIES_INTERVAL,
                  _entries("pass_check_us"), median_of, gated=False),
        MetricDef("fail-check", "fail check µs (median entry)", "replayed", ENTRIES_INTERVAL,
                  _entries("fail_check_us"), median_of, gated=False),
    )
}
DEFAULT_METRIC = "guard"
GATED_METRICS = [k for k, m in METRICS.items() if m.gated]


@dataclass(frozen=True)
class RunToRun:
    """What one run's repetitions cannot show: how the machine differed between the two runs.

    `term` widens every gated interval: [low / (1 + term), high × (1 + term)]. It is
    |B's reference level / A's − 1| (the pure-Python half of the reference loop, only when both
    ran the same Python; 0 otherwise, and said so): this VM's speed was seen to drift by 30% in
    seconds with the thread never off the CPU, and a guard figure drifts with it. `undecided`
    says why a gate must not decide: either run noisy (off the CPU)."""

    term: float
    level_ratio: float | None
    undecided: str | None
    method: str = (
        "run-to-run term = |B's reference level / A's − 1| (pure-Python reference loop, same "
        "Python only); each gated interval widened to [low / (1 + term), high × (1 + term)]"
    )


def run_to_run(a: GuardReport, b: GuardReport) -> RunToRun:
    na, nb = a.noise, b.noise
    if na is None or nb is None:
        which = "A" if na is None else "B"
        return RunToRun(0.0, None,
                        f"{which} has no noise figure (a report from an older guardprof?): the "
                        "run-to-run variation is unknown")
    level = (level_ratio(na, nb)
             if a.environment.python_version == b.environment.python_version else None)
    term = abs(level - 1) if level is not None else 0.0
    undecided = None
    noisy = [(name, n) for name, n in (("A", na), ("B", nb)) if n.noisy]
    if noisy:
        undecided = (f"{' and '.join(name for name, _ in noisy)} ran on a noisy machine (off the "
                     "CPU " + ", ".join(f"{100 * n.off_cpu:.0f}%" for _, n in noisy)
                     + f" of the timed wall time, above {100 * na.off_cpu_threshold:.0f}%)")
    return RunToRun(term, level, undecided)


def widen(estimate: RatioEstimate, term: float) -> RatioEstimate:
    if not estimate.has_interval or term <= 0:
        return estimate
    return RatioEstimate(estimate.ratio, estimate.low / (1 + term), estimate.high * (1 + term),
                     estimate.confidence, f"{estimate.method}, widened by ±{100 * term:.1f}% "
                     "run to run")


@dataclass
class MetricRow:
    key: str
    label: str
    method: str
    interval_source: str
    a: float | None
    b: float | None
    estimate: RatioEstimate | None
    verdict: str


@dataclass
class CountRow:
    """An exact figure (a count): no noise, so no interval."""

    label: str
    a: float | None
    b: float | None

    @property
    def change(self) -> str:
        if self.a is None or self.b is None:
            return "only in one"
        if self.a == self.b:
            return "same"
        return "more" if self.b > self.a else "fewer"


@dataclass
class EntryRow:
    compile_id: str
    pass_a: float | None
    pass_b: float | None
    fail_a: float | None
    fail_b: float | None


@dataclass
class Comparison:
    a_name: str
    b_name: str
    differences: list[str]
    rows: list[MetricRow]
    counts: list[CountRow]
    entries: list[EntryRow]
    tolerance: float  # fraction
    noise: list[str]
    run_to_run: RunToRun | None = None
    overridden: list[str] = field(default_factory=list)  # refusals --force overrode

    def row(self, key: str) -> MetricRow:
        return next(r for r in self.rows if r.key == key)


# --- loading and refusing -------------------------------------------------------------------


def check_distinct(a: Path, b: Path) -> None:
    """Comparing a report with itself shows nothing: refuse the same file or the same bytes."""
    try:
        same = os.path.samefile(a, b)
    except OSError:
        same = False
    if same:
        raise WorkloadUsageError(f"A and B are the same file ({a}): compare two different runs")
    if a.read_bytes() == b.read_bytes():
        raise WorkloadUsageError(
            f"{a} and {b} have identical contents: compare two different runs"
        )


def load_for_compare(path: Path, force: bool) -> tuple[GuardReport, list[str]]:
    """A run report, refusing another schema version unless `force` (then it is read as ours)."""
    data = read_json(path, "report")
    overridden = []
    version = data.get("schema_version") if isinstance(data, dict) else None
    if isinstance(data, dict) and data.get("report_type") == envelope.RUN:
        if version is None:
            raise GuardprofError(
                f"{path} has no schema_version: not a `guardprof run --json` report")
        if version != envelope.SCHEMA_VERSION:
            if not force:
                raise GuardprofError(
                    f"{path} has report schema_version {version!r}, this guardprof writes "
                    f"{envelope.SCHEMA_VERSION}: refusing to compare (pass --force to try anyway)"
                )
            overridden.append(
                f"{path.name}: schema_version {version!r} read as {envelope.SCHEMA_VERSION}")
            data = {**data, "schema_version": envelope.SCHEMA_VERSION}
    try:
        loaded = envelope.identify(data, (envelope.RUN,))
    except GuardprofError as exc:
        raise GuardprofError(f"{path}: {exc.message}") from None
    return from_loaded(loaded), overridden


def _workload_identity(r: GuardReport) -> str:
    w = r.workload
    return "the standard workload" if w.kind == "standard" else f"target {w.target}"


def check_same_workload(a: GuardReport, b: GuardReport, force: bool) -> list[str]:
    """The same workload (standard, or the same --target); its parameters may differ."""
    ia, ib = _workload_identity(a), _workload_identity(b)
    if ia == ib:
        return []
    if not force:
        raise GuardprofError(
            f"A ran {ia} and B ran {ib}: different workloads, refusing to compare "
            "(pass --force to compare anyway)"
        )
    return [f"different workloads: A ran {ia}, B ran {ib}"]


def _differences(a: GuardReport, b: GuardReport) -> list[str]:
    fields = [
        ("torch", a.environment.torch_version, b.environment.torch_version),
        ("python", a.environment.python_version, b.environment.python_version),
        ("guardprof", a.environment.guardprof_version, b.environment.guardprof_version),
        ("platform", a.environment.platform, b.environment.platform),
        ("CPUs", a.environment.cpu_count, b.environment.cpu_count),
        ("torch threads", a.environment.torch_threads, b.environment.torch_threads),
    ]
    for name in ("backend", "dynamic", "num_args", "sizes", "recompile_limit", "device",
                 "number", "repeat", "calls_per_iteration", "seed"):
        fields.append((name, getattr(a.workload, name), getattr(b.workload, name)))
    return [f"{name}: {va} → {vb}" for name, va, vb in fields if va != vb]


# --- comparing ------------------------------------------------------------------------------


def compare_reports(a: GuardReport, b: GuardReport, *, a_name: str = "A", b_name: str = "B",
                    tolerance: float = DEFAULT_TOLERANCE_PCT / 100) -> Comparison:
    rows = []
    drift = run_to_run(a, b)
    for m in METRICS.values():
        sa, sb = m.samples(a), m.samples(b)
        if sa is None and sb is None:
            continue
        va = float(m.statistic(*map(_array, sa))) if sa else None
        vb = float(m.statistic(*map(_array, sb))) if sb else None
        est = bootstrap_ratio(sa, sb, m.statistic) if sa and sb else None
        if est is not None and m.gated:
            est = widen(est, drift.term)
        rows.append(MetricRow(m.key, m.label, m.method, m.interval, va, vb, est,
                              verdict(est, tolerance) if est else "only in one"))
    return Comparison(
        a_name=a_name,
        b_name=b_name,
        differences=_differences(a, b),
        rows=rows,
        counts=_counts(a, b),
        entries=_entry_rows(a, b),
        tolerance=tolerance,
        noise=[_noise_line(a_name, a), _noise_line(b_name, b)],
        run_to_run=drift,
    )


def _array(values: list[float]):
    import numpy as np

    return np.asarray(values, dtype=float)


def _noise_line(name: str, r: GuardReport) -> str:
    c = r.timing.compiled_us_per_iteration
    spread = f"{100 * c.iqr / c.median:.0f}%" if c.median > 0 else "n/a"
    machine = r.noise.line() if r.noise is not None else "no noise figure"
    return (
        f"{name}: {machine}; {len(c.samples)} timing rounds of {r.workload.number} iterations "
        f"(IQR {spread} of their median), {len(r.guard_cost.blocks)} replay blocks"
    )


def _guards_by_kind(r: GuardReport) -> dict[str, float]:
    n = r.entry_count
    return {k: v / n for k, v in r.guards_by_kind_total().items()} if n else {}


def _counts(a: GuardReport, b: GuardReport) -> list[CountRow]:
    rows = [
        CountRow("cache entries", a.entry_count, b.entry_count),
        CountRow("walk depth (entries checked per call)", a.guard_cost.walk_depth_mean,
                 b.guard_cost.walk_depth_mean),
    ]
    rows.append(CountRow("guards per entry (mean)", a.guards_per_entry(), b.guards_per_entry()))
    ka, kb = _guards_by_kind(a), _guards_by_kind(b)
    for kind in dict.fromkeys([*ka, *kb]):
        rows.append(CountRow(f"  {kind} per entry", ka.get(kind), kb.get(kind)))
    uncompiled_a = sum(len(f.uncompiled_calls) for f in a.frames)
    uncompiled_b = sum(len(f.uncompiled_calls) for f in b.frames)
    if uncompiled_a or uncompiled_b:
        rows.append(CountRow("calls run uncompiled", uncompiled_a, uncompiled_b))
    return rows


def _entry_rows(a: GuardReport, b: GuardReport) -> list[EntryRow]:
    by_id_b = {e.compile_id: e for e in b.entries}
    rows = []
    for e in a.entries:
        other = by_id_b.get(e.compile_id)
        if other is not None:
            rows.append(EntryRow(e.compile_id, e.pass_check_us, other.pass_check_us,
                                 e.fail_check_us, other.fail_check_us))
    return rows


PASS, REGRESSION, UNDECIDED = "pass", "regression", "cannot decide"
EXIT_CODES = {PASS: 0, REGRESSION: 1, UNDECIDED: 3}


def decide(estimate: RatioEstimate, label: str, fail_above_pct: float,
           undecided: str | None = None) -> tuple[str, str]:
    """(outcome, one line), the same rule in both modes: a regression when the interval lies
    wholly above 1 + PCT/100, a pass when it lies wholly at or below it; otherwise, or when
    `undecided` gives a reason (a noisy run), the gate cannot decide."""
    limit = 1 + fail_above_pct / 100
    if undecided is not None:
        return UNDECIDED, f"{label}: the gate cannot decide: {undecided}"
    if not estimate.has_interval:
        return UNDECIDED, f"{label}: no interval ({estimate.method}); the gate cannot decide"
    where = (f"B/A {estimate.ratio:.2f}, {100 * estimate.confidence:.0f}% interval "
             f"[{estimate.low:.2f}, {estimate.high:.2f}]")
    if estimate.low > limit:
        return REGRESSION, f"{label} regressed: {where} lies above {limit:.2f} " \
                           f"(--fail-above {fail_above_pct:g})"
    if estimate.high > limit:
        return UNDECIDED, (f"{label}: {where} straddles {limit:.2f}: the gate cannot decide "
                           "(more repetitions, or a quieter machine)")
    return PASS, f"gate passed: {label} did not regress by more than {fail_above_pct:g}% " \
                 f"({where})"
