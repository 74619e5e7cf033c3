"""The answer first: the in-situ guard figure, what it holds, its cross-check, and the replay as its
breakdown. Shared by the run report's text and HTML (a program frame reuses `figure_line`)."""

from __future__ import annotations

import re
from collections import Counter

from guardprof.model.in_situ import AGREE_WITHIN, AcceptedBreakdown, InSitu
from guardprof.model.run_report import GuardReport

_NUMBERS = re.compile(r"\.?\s*expected [^,]+, actual .+$")


def _verdict(v: str) -> str:
    return "DISAGREE" if v == "disagree" else v


def _ratio(ratio: float | None) -> str:
    return "n/a" if ratio is None else f"{ratio:.2f}"


def interval(s: InSitu) -> str:
    if s.low is None or s.high is None:
        return ""
    return f" [{s.low:.1f}, {s.high:.1f}]"


def check_line(s: InSitu) -> str:
    """The cross-check in one line: what it read, against what, the verdict."""
    check = s.cross_check
    if check.us_per_call is None:
        return f"not available ({check.note})"
    line = (f"the profiler's lookup events read {check.us_per_call:.1f} µs/call: ratio "
            f"{_ratio(check.ratio)} to the in-situ figure, {_verdict(check.verdict)} "
            f"(±{100 * AGREE_WITHIN:.0f}%)")
    if check.cost_per_event_us is not None:
        line += (f"; on a one-guard probe its event reads {check.cost_per_event_us:+.2f} µs "
                 "beyond the guard's in-situ cost")
    if check.adds_us is not None:
        line += (f"; while it records, the lookup clock reads {check.adds_us:+.1f} µs/call "
                 "more")
    return line


def figure_line(s: InSitu | None) -> str:
    """`24.3 µs/call [23.0, 25.3] in situ (cross-check 25.5, ratio 1.05, agree)` or why not."""
    if s is None:
        return "not measured in situ"
    if s.us_per_call is None:
        return f"not measured in situ: {s.note}"
    check = s.cross_check
    tail = ("cross-check not available" + (f": {check.note}" if check.note else "")
            if check.us_per_call is None else
            f"cross-check {check.us_per_call:.1f}, ratio {_ratio(check.ratio)}, "
            f"{_verdict(check.verdict)}")
    return f"{s.us_per_call:.1f} µs/call{interval(s)} in situ ({tail})"


def guard_figure(report: GuardReport) -> tuple[float, str]:
    """The guard figure a view shows and its label: in situ, or — said so — the replay."""
    us = report.guard_us()
    if us is not None:
        return us, "in situ"
    why = report.in_situ.note if report.in_situ is not None else "not run"
    return report.guard_cost.total_us_per_call, f"replayed (not measured in situ: {why})"


def recompile_causes(report: GuardReport) -> list[tuple[str, int]]:
    """The recompile reasons behind the entries, without their numbers, most frequent first."""
    causes: Counter[str] = Counter()
    for entry in report.entries:
        if entry.recompile_reasons:
            causes[_NUMBERS.sub("", entry.recompile_reasons[0]).split(": ", 1)[-1]] += 1
    return causes.most_common()


def lead(report: GuardReport) -> list[str]:
    """What a user acts on, before any method: the call's time that is dynamo's and guards', the
    walk, the guards, why the entries exist."""
    s, timing, cost = report.in_situ, report.timing, report.guard_cost
    call = timing.compiled_us_per_call
    lines = [f"In short — per call of {call:.1f} µs (the headline), measured in situ:"]
    if s is None or s.us_per_call is None:
        lines.append(f"  guard evaluation: {figure_line(s)}")
    else:
        share = f"{100 * s.us_per_call / call:.0f}% of the call" if call > 0 else ""
        split = ""
        if s.rejected_us is not None and s.accepted_us is not None:
            split = (f": walk over {cost.rejected_checks_per_call:.1f} rejected entries "
                     f"{s.rejected_us:.1f} + accepted check {s.accepted_us:.1f}"
                     if cost.rejected_checks_per_call >= 0.5 else
                     f": the accepted check (no entry rejected; alone {s.accepted_us:.1f})")
        lines.append(f"  guard evaluation  {s.us_per_call:6.1f} µs{interval(s)}  {share}{split}")
        if s.floor_us is not None and s.lookup_us is not None:
            lines.append(f"  dynamo's lookup   {s.lookup_us:6.1f} µs  of which a guard-free "
                         f"lookup's {s.floor_us:.1f} (wrapper's last steps, locals mapping, hook)")
        if s.outside_graph_us is not None and s.graph_us is not None and s.graph_us > 0:
            outside = s.outside_graph_us - (s.overhead_us or 0.0)
            pregraph = ("" if s.pregraph_us is None else
                        f"; {s.pregraph_us:.1f} of it from the lookup to the graph (frame and "
                        "bytecode)")
            lines.append(f"  outside the graph {outside:6.1f} µs  (wrapper, lookup, bytecode) "
                         f"around a graph of {s.graph_us:.1f} µs, within each call{pregraph}")
        lines.append(f"  cross-check: {check_line(s)}")
    entries = report.entry_count
    frames = len(report.frames)
    lines.append(f"  entries: {entries} on {frames} frame{'s' if frames != 1 else ''}; each call "
                 f"checks {cost.walk_depth_mean:.1f} (rejects {cost.rejected_checks_per_call:.1f})")
    causes = recompile_causes(report)
    if causes:
        said = "; ".join(f"{n} × {why}" for why, n in causes[:2])
        more = f" (+{len(causes) - 2} other causes)" if len(causes) > 2 else ""
        lines.append(f"  why the extra entries: {said}{more}")
    kinds = report.guards_by_kind_total()
    if kinds and entries:
        top = ", ".join(f"{k} {v / entries:.0f}" for k, v in list(kinds.items())[:3])
        per = report.guards_per_entry() or 0
        lines.append(f"  guards: {per:.0f} per entry, most of them {top} (what each kind "
                     "costs: guardprof guards)")
    return lines


def breakdown(report: GuardReport) -> list[str]:
    """The replay as the breakdown of the in-situ figure: which entries, checked against it."""
    s, cost = report.in_situ, report.guard_cost
    lines = [f"Breakdown of the guard figure — the replay ({cost.method})"]
    rows = [("rejected entries", cost.rejected_us_per_call, s.rejected_us if s else None),
            ("accepted entry", cost.accepted_us_per_call, s.accepted_us if s else None)]
    for name, replayed, in_situ in rows:
        where = "" if in_situ is None else f"; in situ {in_situ:.1f} µs"
        lines.append(f"  {name:17s} {replayed:6.1f} µs replayed{where}")
    lines.append(f"  entries checked per call (walk depth) {cost.walk_depth_mean:.1f}; subtracted "
                 f"per replayed check: {cost.python_call_overhead_us:.2f} µs (the Python call "
                 "path and the timer, which dynamo's C++ lookup does not pay)")
    lines += accepted_lines(report.accepted_breakdown)
    return lines


def accepted_lines(b: AcceptedBreakdown | None) -> list[str]:
    if b is None:
        return []
    terms = " + ".join(f"{r.name.replace('_', ' ')} {r.us:.1f}" for r in b.rows)
    ratio = "n/a" if b.ratio is None else f"{b.ratio:.2f}"
    return [f"  accepted check in situ {b.in_situ_us:.1f} µs = {terms} + residual "
            f"{b.residual_us:+.1f} (explained/in situ {ratio}: {_verdict(b.verdict)}, "
            f"±{100 * AGREE_WITHIN:.0f}%)"]


def method_lines(s: InSitu | None) -> list[str]:
    if s is None:
        return []
    lines = [f"In situ — {s.method}"]
    if s.us_per_call is None:
        return lines + [f"  not measured: {s.note}"]
    spread = ("" if s.low is None or not s.us_per_call else
              f" (quartiles span {100 * (s.high - s.low) / s.us_per_call:.0f}% of the median)")
    lines.append(f"  {s.rounds} rounds{spread}; lookups timed per call {s.lookups_per_call:.1f}")
    if s.overhead_us is not None:
        lines.append(f"  the stamps add {s.overhead_us:.2f} µs to a call (stamped − plain loops "
                     "of the guard-free probe, which has no graph or resume stand-ins); inside a "
                     "lookup span sits only the hook's entry, which the floor holds too")
    lines.append(f"  cross-check — {s.cross_check.method}")
    if s.note:
        lines.append(f"  note: {s.note}")
    return lines
