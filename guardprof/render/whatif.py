"""The what-if result as a terminal table: each variant beside the baseline, with intervals."""

from __future__ import annotations

from guardprof.model.stats import RatioEstimate
from guardprof.model.whatif import WhatIfResult
from guardprof.render.text_table import table


def _num(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _speedup(est: RatioEstimate | None) -> str:
    if est is None:
        return "1.00 (reference)"
    if est.ratio is None:
        return "n/a"
    if not est.has_interval:
        return f"{est.ratio:.2f}× (no interval)"
    return f"{est.ratio:.2f}× [{est.low:.2f}, {est.high:.2f}]"


def speedup_verdict(est: RatioEstimate | None) -> str:
    """Faster/slower only when the whole interval is on one side of 1."""
    if est is None:
        return ""
    if not est.has_interval:
        return "no interval"
    if est.low > 1:
        return "faster"
    if est.high < 1:
        return "slower"
    return "no clear change"


def result_lines(result: WhatIfResult) -> str:
    """`run --what-if --quiet`: one line per variant, its µs/call and speed-up."""
    lines = []
    for v in result.variants:
        line = f"{v.name}: {v.us_per_call.median:.1f} µs/call, {v.entries} entries"
        if v.speedup is not None:
            line += f", speed-up {_speedup(v.speedup)} ({speedup_verdict(v.speedup)})"
        lines.append(line)
    return "\n".join(lines) + "\n"


def render_whatif(result: WhatIfResult) -> str:
    w = result.workload
    sizes = w.get("sizes") or []
    lines = [
        f"What-if: standard workload, {w['num_args']} tensor args, {len(sizes)} sizes "
        f"({', '.join(map(str, sizes))}), backend {w['backend']}, device {w['device']}; "
        f"{result.rounds} interleaved rounds per variant",
        f"torch {result.environment.torch_version} · Python {result.environment.python_version}"
        f" · {result.environment.cpu_count} CPUs",
        "",
    ]
    rows = []
    for v in result.variants:
        s = v.us_per_call
        rows.append([
            v.name, v.dynamic, str(v.entries), _num(v.guards_per_entry, 0), _num(s.median),
            _num(s.iqr), _num(v.guard_us_per_call), _num(v.walk_depth), _speedup(v.speedup),
            speedup_verdict(v.speedup),
        ])
    e = result.eager_us_per_call
    rows.append(["eager (not compiled)", "-", "-", "-", _num(e.median), _num(e.iqr), "-", "-",
                 "", "reference floor"])
    lines += table(
        rows,
        ["variant", "dynamic", "entries", "guards/entry", "µs/call", "IQR µs", "guard µs/call",
         "walk", "speed-up [95% CI]", "verdict"],
        "llrrrrrrll",
    )
    lines += [
        "",
        f"µs/call: {result.timing_method}.",
        f"speed-up: {result.speedup_method}; interval: "
        f"{_interval_method(result)}; >1 = faster than the baseline.",
        "guard µs/call and walk (entries checked per call): "
        f"{result.baseline.guard_method or 'not available'}.",
        "guards/entry: leaf guards counted in each entry's guard tree (full managers).",
    ]
    lines += ["", "Variants"]
    for v in result.variants:
        lines.append(
            f"  {v.name}: {v.description}; {v.number} iterations per round; warm-up "
            f"{v.warmup_s:.1f} s"
        )
        if v.guard_method and v.guard_method != result.baseline.guard_method:
            lines.append(f"    guard µs/call: {v.guard_method}")
        lines += [f"    note: {n}" for n in v.notes]
    if result.notes:
        lines += ["", "Notes"] + [f"  - {n}" for n in result.notes]
    return "\n".join(lines) + "\n"


def _interval_method(result: WhatIfResult) -> str:
    for v in result.variants:
        if v.speedup is not None:
            return v.speedup.method
    return "none"
