"""The sweep plot as PNG bytes; matplotlib is an optional extra (`pip install guardprof[plot]`).

Uses matplotlib's object API with the Agg canvas, so it never touches the user's backend or
opens a window.
"""

from __future__ import annotations

import io

from guardprof.model.cost_fit import CostFit
from guardprof.model.sweep import GUARD_TARGET, SweepPoint


def matplotlib_missing() -> str | None:
    """None when matplotlib can be used, else a one-line note saying how to get the plot."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return (
            "matplotlib is not installed, so no PNG plot was drawn (the table above has the same "
            "figures): pip install 'guardprof[plot]'"
        )
    return None


def sweep_png(points: list[SweepPoint], fits: list[CostFit]) -> bytes:
    """Guard µs/call against args and against entries, measured (markers) and modelled (dashed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    modes = list(dict.fromkeys(p.dynamic for p in points))
    fig = Figure(figsize=(11, 4.2 * len(modes)), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(modes), 2, squeeze=False)
    for row, mode in zip(axes, modes, strict=True):
        group = [p for p in points if p.dynamic == mode]
        model = next(
            (f for f in fits if f.target == GUARD_TARGET and f.group == f"dynamic={mode}"), None
        )
        _panel(row[0], group, model, x="num_args", series="sizes_count",
               xlabel="tensor args (guarded tensors)", legend="sizes")
        _panel(row[1], group, model, x="entries", series="num_args",
               xlabel="cache entries", legend="args")
        title = f"dynamic={mode}: guard µs/call (replayed)"
        if model is not None and model.rms_residual_us is not None:
            title += f" — model {model.formula()}, RMS residual {model.rms_residual_us:.2g} µs"
        row[0].set_title(title, loc="left", fontsize=10)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _panel(ax, points: list[SweepPoint], model: CostFit | None, *, x: str, series: str,
           xlabel: str, legend: str) -> None:
    for key in sorted({getattr(p, series) for p in points}):
        line = sorted((p for p in points if getattr(p, series) == key), key=lambda p: getattr(p, x))
        xs = [getattr(p, x) for p in line]
        (drawn,) = ax.plot(xs, [p.guard_us_per_call for p in line], "o-", label=f"{legend} {key}")
        if model is not None:
            predicted = [model.predict(p.num_args, p.rejected_per_call) for p in line]
            if all(v is not None for v in predicted):
                ax.plot(xs, predicted, "--", color=drawn.get_color(), alpha=0.7)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("guard µs/call")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, title="measured (—o), model (--)", title_fontsize=8)
