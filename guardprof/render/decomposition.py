"""The decomposition of the compiled call as text: the sum line, the parts, the agreements."""

from __future__ import annotations

from guardprof.model import decomposition as dm
from guardprof.render.text_table import table

LABELS = {
    dm.GRAPH: "graph",
    dm.DISPATCH_FLOOR: "dispatch floor",
    dm.ACCEPTED_CHECK: "accepted check",
    dm.REJECTED_ENTRIES: "rejected entries",
}


def sum_line(d: dm.Decomposition, rejected_per_call: float | None = None) -> str:
    """`compiled 33.4 µs/call = graph 4.8 + dispatch floor … + … + unattributed …`; with an
    unresolved part, the resolved ones only and no sum."""
    terms = []
    for p in d.parts:
        if p.us is None:
            terms.append(f"{LABELS.get(p.name, p.name)} unresolved")
            continue
        term = f"{LABELS.get(p.name, p.name)} {p.us:.1f}"
        if p.name == dm.REJECTED_ENTRIES and rejected_per_call:
            term += f" ({rejected_per_call:.0f} × {p.us / rejected_per_call:.2f})"
        terms.append(term)
    if d.unattributed_us is None:
        return (f"compiled {d.compiled_us:.1f} µs/call: " + ", ".join(terms)
                + " (no sum: a part is unresolved)")
    terms.append(f"unattributed {d.unattributed_us:.1f}")
    return f"compiled {d.compiled_us:.1f} µs/call = " + " + ".join(terms)


def _value(us: float | None) -> str:
    return "unresolved" if us is None else f"{us:.1f}"


def section(d: dm.Decomposition, rejected_per_call: float | None = None) -> list[str]:
    if not d.available:
        return ["Decomposition of the compiled call — not measured: " + "; ".join(d.notes)]
    lines = [f"Decomposition of the compiled call — {d.method}",
             "  " + sum_line(d, rejected_per_call)]
    rows = [[LABELS.get(p.name, p.name), _value(p.us), f"[{p.low:.1f}, {p.high:.1f}]",
             _share(p.us, d.compiled_us), p.method] for p in d.parts]
    if d.unattributed_us is not None:
        rows.append(["unattributed", f"{d.unattributed_us:.1f}", "",
                     _share(d.unattributed_us, d.compiled_us),
                     "compiled − the parts: 0 by construction (a chain of differences)"])
    lines += table(rows, ["part", "µs/call", "quartiles", "share", "how"], "lrrrl")
    lines += [f"  unresolved {LABELS.get(p.name, p.name)}: {p.reason}; the in-situ figure "
              "above times the lookup itself" for p in d.parts if not p.resolved]
    lines.append(f"  {d.rounds} rounds × {d.number} iterations per loop; the parts add up by "
                 "construction, so the sum checks nothing: the rows below do")
    rows = [[a.name, "unresolved" if a.in_situ_us is None else f"{a.in_situ_us:.2f}",
             f"{a.replayed_us:.2f}",
             "n/a" if a.ratio is None else f"{a.ratio:.2f}",
             a.verdict if a.verdict != "disagree" else "DISAGREE", a.method] for a in d.agreement]
    lines += ["", f"  Independent measures of the same parts (agree within "
                  f"±{100 * dm.AGREE_WITHIN:.0f}%)"]
    lines += ["  " + line for line in table(
        rows, ["part", "in situ µs", "other µs", "ratio", "verdict", "other measure"], "lrrrll")]
    if any(a.verdict == "unresolved" for a in d.agreement):
        lines.append("  unresolved: the hot-loop part is unresolved (its quartiles reach 0 µs or "
                     "are wider than it), so its ratio is not judged")
    lines += [f"  note: {n}" for n in d.notes]
    return lines


def frame_lines(fd: dm.FrameDecomposition | None) -> list[str]:
    """A frame's own part of the call, under its cache entries."""
    if fd is None:
        return []
    if not fd.available:
        return [f"  this frame's part of the call: not measured ({'; '.join(fd.notes)})"]
    if fd.part(dm.GRAPH) is not None:
        return ["  this frame's part of the call: the call's decomposition (its only frame)"]
    terms = " + ".join(f"{LABELS.get(p.name, p.name)} {_value(p.us)} [{p.low:.1f}, {p.high:.1f}]"
                       for p in fd.parts)
    total = "unresolved" if fd.dynamo_us is None else f"{fd.dynamo_us:.1f}"
    lines = [f"  this frame's part of the call, in the hot loop: {terms} = {total} "
             "µs/call [quartiles] (dispatch and checks; the graph is the call's)"]
    checks = [f"{LABELS.get(a.name, a.name)} {a.replayed_us:.2f} replayed vs "
              f"{_value(a.in_situ_us)} "
              f"in situ ({'ratio ' + format(a.ratio, '.2f') if a.ratio is not None else 'no ratio'}"
              f", {a.verdict if a.verdict != 'disagree' else 'DISAGREE'})" for a in fd.agreement]
    if checks:
        lines.append("  this frame's replay vs in situ: " + "; ".join(checks))
    lines += [f"  note: {n}" for n in fd.notes]
    return lines


def _share(part: float | None, whole: float) -> str:
    """A share only for a resolved, non-negative part: never a negative or unresolved share."""
    if part is None or part < 0 or whole <= 0:
        return ""
    return f"{100 * part / whole:.0f}%"
