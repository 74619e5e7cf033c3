"""`guardprof compare A.json B.json` on two program reports, as text."""

from __future__ import annotations

from guardprof.analysis.program_compare import ProgramComparison
from guardprof.render.text_table import table


def _num(x: float | None, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def _figure(frame) -> str:
    if frame is None:
        return "-"
    us, how = frame.guard_figure
    return _num(us, ".2f") + (" r" if how == "replayed" and us is not None else "")


def render_program_comparison(c: ProgramComparison) -> str:
    lines = [f"Program reports compared — A: {c.a_name}, B: {c.b_name}",
             f"  A: {' '.join(c.a.command)} — exit {c.a.exit_status}, {c.a.wall_s:.1f} s, "
             f"{c.a.lookups} lookups, {c.a.samples} samples (torch {c.a.torch_version})",
             f"  B: {' '.join(c.b.command)} — exit {c.b.exit_status}, {c.b.wall_s:.1f} s, "
             f"{c.b.lookups} lookups, {c.b.samples} samples (torch {c.b.torch_version})", ""]
    rows = []
    for f in c.frames:
        a, b = f.a, f.b
        rows.append([
            f.label, f.called_from,
            "-" if a is None else str(len(a.entries)), "-" if b is None else str(len(b.entries)),
            _figure(a), _figure(b),
            _num(f.ratio, ".2f"),
            _num(a.estimated_guard_s * 1e3 if a and a.estimated_guard_s is not None else None,
                 ".2f"),
            _num(b.estimated_guard_s * 1e3 if b and b.estimated_guard_s is not None else None,
                 ".2f"),
        ])
    lines += table(rows, ["frame", "called from (B)", "entries A", "entries B", "A µs/call",
                          "B µs/call", "B/A", "A ms total (est.)", "B ms total (est.)"],
                   "llrrrrrrr")
    lines.append("  µs/call: guard evaluation in situ (each frame's lookups timed while the "
                 "program ran, less a guard-free probe's), 'r' where only the replayed checks "
                 "were had; B/A on the same kind of figure; totals: estimated calls × µs/call "
                 "over each program; '-': frame not run or not sampled")
    lines += [f"note: {n}" for n in c.notes]
    return "\n".join(lines) + "\n"
