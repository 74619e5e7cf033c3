"""`guardprof compare A.json B.json`: what changed between two runs, and whether it is noise.

Each timed figure gets B/A and a bootstrap interval from the spread of its timing rounds; each
replayed figure an interval from its spread across calls (or entries). A change is called only
when the whole interval lies beyond the tolerance band (see `intervals.verdict`), and
`--fail-above` gates on the interval's lower end, so noise alone does not fail a CI job.
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
    mean_of,
    median_of,
    verdict,
)
from guardprof.errors import GuardprofError, WorkloadUsageError
from guardprof.fileio import read_json
from guardprof.model import envelope
from guardprof.model.run_report import GuardReport, from_loaded

DEFAULT_TOLERANCE_PCT = 5.0

TIMED_INTERVAL = "interval from the timing rounds (each run resampled on its own)"
CALLS_INTERVAL = (
    "interval from the spread across the iteration's calls; run-to-run drift of the replay "
    "is not in it"
)
ENTRIES_INTERVAL = "interval from the spread across cache entries"


@dataclass(frozen=True)
class MetricDef:
    key: str
    label: str
    method: str  # "timed" or "replayed"
    interval: str
    samples: Callable[[GuardReport], list[list[float]] | None]
    statistic: Statistic


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


def _calls(attr: str) -> Callable[[GuardReport], list[list[float]] | None]:
    def samples(r: GuardReport):
        values = [getattr(c, attr) for c in r.guard_cost.calls]
        return [values] if values else None

    return samples


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
        MetricDef("guard", "guard µs/call", "replayed", CALLS_INTERVAL, _calls("total_us"),
                  mean_of),
        MetricDef("guard-rejected", "  rejected entries µs/call", "replayed", CALLS_INTERVAL,
                  _calls("rejected_us"), mean_of),
        MetricDef("guard-accepted", "  accepted entry µs/call", "replayed", CALLS_INTERVAL,
                  _calls("accepted_us"), mean_of),
        MetricDef("pass-check", "pass check µs (median entry)", "replayed", ENTRIES_INTERVAL,
                  _entries("pass_check_us"), median_of),
        MetricDef("fail-check", "fail check µs (median entry)", "replayed", ENTRIES_INTERVAL,
                  _entries("fail_check_us"), median_of),
    )
}
DEFAULT_METRIC = "guard"


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
    for m in METRICS.values():
        sa, sb = m.samples(a), m.samples(b)
        if sa is None and sb is None:
            continue
        va = float(m.statistic(*map(_array, sa))) if sa else None
        vb = float(m.statistic(*map(_array, sb))) if sb else None
        est = bootstrap_ratio(sa, sb, m.statistic) if sa and sb else None
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
    )


def _array(values: list[float]):
    import numpy as np

    return np.asarray(values, dtype=float)


def _noise_line(name: str, r: GuardReport) -> str:
    c = r.timing.compiled_us_per_iteration
    spread = f"{100 * c.iqr / c.median:.0f}%" if c.median > 0 else "n/a"
    return (
        f"{name}: {len(c.samples)} timing rounds of {r.workload.number} iterations; compiled "
        f"rounds' IQR {spread} of their median"
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
           strict: bool) -> tuple[str, str]:
    """(outcome, one line): a regression when the interval lies wholly above 1 + PCT/100. With
    `strict` (interleaved pairs), a pass needs the interval wholly at or below it, else the gate
    cannot decide; saved runs pass unless the regression is confident (their interval has no
    run-to-run variation in it, so a straddling interval is not evidence either way)."""
    limit = 1 + fail_above_pct / 100
    if not estimate.has_interval:
        return UNDECIDED, f"{label}: no interval ({estimate.method}); the gate cannot decide"
    where = (f"B/A {estimate.ratio:.2f}, {100 * estimate.confidence:.0f}% interval "
             f"[{estimate.low:.2f}, {estimate.high:.2f}]")
    if estimate.low > limit:
        return REGRESSION, f"{label} regressed: {where} lies above {limit:.2f} " \
                           f"(--fail-above {fail_above_pct:g})"
    if strict and estimate.high > limit:
        return UNDECIDED, (f"{label}: {where} straddles {limit:.2f}: the gate cannot decide "
                           "(more pairs, or a quieter machine)")
    return PASS, f"gate passed: {label} did not regress by more than {fail_above_pct:g}% " \
                 f"({where})"
