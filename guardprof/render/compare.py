"""A comparison as a terminal table, in the spirit of torch.utils.benchmark's `Compare`."""

from __future__ import annotations

import shlex

from guardprof.analysis.compare import Comparison
from guardprof.model.interleaved import Interleaved
from guardprof.render.text_table import table


def _num(x: float | None, fmt: str = ".2f") -> str:
    return "n/a" if x is None else format(x, fmt)


def _interval(row) -> str:
    est = row.estimate
    if est is None or not est.has_interval:
        return "n/a"
    return f"[{est.low:.2f}, {est.high:.2f}]"


def render_comparison(c: Comparison) -> str:
    lines = [f"Compare: A = {c.a_name}, B = {c.b_name}"]
    if c.differences:
        lines.append("A and B differ in: " + "; ".join(c.differences))
    else:
        lines.append("A and B ran the same workload settings on the same environment")
    lines += [f"  forced: {o}" for o in c.overridden]
    lines.append("")
    rows = [
        [r.label, r.method, _num(r.a), _num(r.b),
         _num(r.estimate.ratio if r.estimate else None), _interval(r), r.verdict]
        for r in c.rows
    ]
    lines += table(rows, ["figure", "method", "A", "B", "B/A", "95% CI of B/A", "verdict"],
                   "llrrrrl")
    tol = f"{100 * c.tolerance:g}%"
    lines += [
        "",
        f"verdict: slower/faster only when the whole interval lies beyond ±{tol} of 1; "
        f"'no change' when it lies within ±{tol}; 'inconclusive' when it straddles.",
        "intervals: 95% percentile bootstrap of the ratio of B's and A's figure "
        "(median for per-call times, mean over calls for guard time). Sources:",
    ]
    by_source: dict[str, list[str]] = {}
    for r in c.rows:
        by_source.setdefault(r.interval_source, []).append(r.label.strip())
    lines += [f"  {', '.join(labels)}: {source}" for source, labels in by_source.items()]
    lines += ["machine noise: " + "; ".join(c.noise)]
    if c.run_to_run is not None:
        d = c.run_to_run
        level = "n/a (different Pythons)" if d.level_ratio is None else f"{d.level_ratio:.2f}"
        lines += [f"run to run: ±{100 * d.term:.1f}% added to every gated interval (B/A of the "
                  f"reference level {level}) — {d.method}"]
        if d.undecided:
            lines += [f"  a gate on these runs cannot decide: {d.undecided}"]

    lines += ["", "Counts (exact, no noise)"]
    lines += table(
        [[r.label, _count(r.a), _count(r.b), r.change] for r in c.counts],
        ["figure", "A", "B", "change"], "lrrl",
    )
    if c.entries:
        lines += ["", "Per-entry check times, µs (replayed medians, matched by compile id; "
                      "no interval per entry: see the median-entry rows above)"]
        lines += table(
            [[e.compile_id, _num(e.pass_a), _num(e.pass_b), _ratio(e.pass_a, e.pass_b),
              _num(e.fail_a), _num(e.fail_b), _ratio(e.fail_a, e.fail_b)] for e in c.entries],
            ["entry", "pass A", "pass B", "B/A", "fail A", "fail B", "B/A"], "lrrrrrr",
        )
    return "\n".join(lines) + "\n"


def _count(x: float | None) -> str:
    if x is None:
        return "n/a"
    return str(int(x)) if float(x).is_integer() else f"{x:.1f}"


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or a <= 0:
        return "n/a"
    return f"{b / a:.2f}"


def render_interleaved(r: Interleaved) -> str:
    """The pairs, then B/A with its interval, and the commands that ran."""
    lines = [f"Interleaved comparison of {r.label} — {r.method}",
             f"  A: {shlex.join(r.a_command)}", f"  B: {shlex.join(r.b_command)}", ""]
    rows = [[str(p.index + 1), p.order, f"{p.a_us:.2f}", f"{p.b_us:.2f}",
             f"{p.b_us / p.a_us:.2f}" if p.a_us > 0 else "n/a"] for p in r.pairs]
    lines += table(rows, ["pair", "order", "A µs/call", "B µs/call", "B/A"], "llrrr")
    e = r.estimate
    interval = (f"[{e.low:.2f}, {e.high:.2f}] ({100 * e.confidence:.0f}%)" if e.has_interval
                else f"no interval ({e.method})")
    ratio = "n/a" if e.ratio is None else f"{e.ratio:.2f}"
    lines += ["", f"B/A {ratio} {interval}, {len(r.pairs)} pairs in {r.elapsed_s:.0f} s "
                  f"(stopped: {r.stopped_because})"]
    lines += [f"  note: {n}" for n in r.notes]
    return "\n".join(lines) + "\n"
