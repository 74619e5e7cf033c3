"""A sweep as text: the measured points, then each fitted model with its residuals."""

from __future__ import annotations

from guardprof.model.cost_fit import CostFit
from guardprof.model.sweep import SweepPoint, SweepResult
from guardprof.render.text_table import table


def _num(x: float | None, fmt: str = ".1f") -> str:
    return "n/a" if x is None else format(x, fmt)


def point_line(i: int, n: int, p: SweepPoint, eta_s: float | None) -> str:
    eta = "" if eta_s is None else f", ETA {eta_s:.0f} s"
    return (
        f"point {i}/{n} args={p.num_args} sizes={p.sizes_count} dynamic={p.dynamic}: "
        f"{p.entries} entries, guard {p.guard_us_per_call:.1f} µs/call, compiled "
        f"{p.compiled_us_per_call:.1f} µs/call ({p.seconds:.1f} s{eta})"
    )


def points_table(points: list[SweepPoint]) -> list[str]:
    rows = [
        [
            p.dynamic, str(p.num_args), str(p.sizes_count), str(p.entries),
            _num(p.guards_per_entry, ".0f"), _num(p.walk_depth), _num(p.compiled_us_per_call),
            _num(p.compiled_iqr_us_per_call), _num(p.eager_us_per_call),
            _num(p.guard_us_per_call, ".2f"),
            "n/a" if p.guard_share is None else f"{100 * p.guard_share:.0f}",
        ]
        for p in points
    ]
    return table(
        rows,
        ["dynamic", "args", "sizes", "entries", "guards/entry", "walk", "compiled µs/call",
         "IQR µs", "eager µs/call", "guard µs/call", "guard %"],
        "lrrrrrrrrrr",
    )


def fit_lines(f: CostFit) -> list[str]:
    lines = [f"Model of {f.target}, {f.group}: {f.formula()} ({f.points} points)"]
    rows = []
    for c in f.coefficients:
        if c.value is None:
            rows.append([c.label, "n/a", "", c.unit, c.note or ""])
        else:
            rows.append([c.label, f"{c.value:.4g}", "" if c.stderr is None else f"±{c.stderr:.2g}",
                         c.unit, c.note or ""])
    lines += table(rows, ["term", "value", "std err", "unit", ""], "lrrll")
    if f.rms_residual_us is not None:
        r2 = "n/a" if f.r_squared is None else f"{f.r_squared:.3f}"
        lines.append(
            f"  residuals (measured − model): RMS {f.rms_residual_us:.3g} µs, largest "
            f"{f.max_abs_residual_us:.3g} µs; R² {r2}"
        )
        worst = sorted(zip(f.residuals_us, f.labels, strict=True), key=lambda t: -abs(t[0]))[:3]
        lines.append(
            "  largest residuals: " + "; ".join(f"{lab} {res:+.3g} µs" for res, lab in worst)
        )
    if f.note:
        lines.append(f"  note: {f.note}")
    return lines


def render_sweep(result: SweepResult, plot_note: str | None = None) -> str:
    state = (
        "complete" if result.complete else
        f"INTERRUPTED after {len(result.points)} of {result.planned_points} points"
        if result.interrupted else f"{len(result.points)} of {result.planned_points} points"
    )
    env = result.environment
    s = result.settings
    lines = [
        f"Sweep of the standard workload: {state}, {result.elapsed_s:.0f} s wall",
        f"torch {env.torch_version if env else '?'} · backend {s['backend']} · device "
        f"{s['device']} · {s['repeat']} timing rounds per point · "
        + ("number calibrated per point (≥ 0.2 s per round)" if s["number"] is None
           else f"number {s['number']}"),
        "",
        *points_table(result.points),
        "",
        f"compiled/eager µs/call: {result.methods['timing']}, ÷ calls per iteration.",
        f"guard µs/call, walk: {result.methods['guard']}.",
        f"sizes: {result.methods['sizes']}.",
    ]
    for f in result.fits:
        lines += ["", *fit_lines(f)]
    if result.fits:
        lines += ["", f"Fit method: {result.fits[0].method}."]
    if plot_note:
        lines += ["", plot_note]
    lines += [f"note: {n}" for n in result.notes]
    return "\n".join(lines) + "\n"
