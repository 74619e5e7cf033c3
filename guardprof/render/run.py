"""The report as text for a terminal: every figure with its unit and how it was obtained."""

from __future__ import annotations

from guardprof.model.run_report import FrameReport, GuardReport
from guardprof.render import decomposition, in_situ
from guardprof.render.text_table import compress_indices, table, wrapped


def _us(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1f}"


def _kinds(kinds: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in kinds.items())


def _workload_line(report: GuardReport) -> str:
    w = report.workload
    if w.kind == "standard":
        sizes = w.sizes or []
        what = f"standard dynamo_guard_eval: {w.num_args} tensor args, sizes {_sizes(sizes)}"
    else:
        what = f"target {w.target} ({w.name})"
    compiled = (
        "compiled by the target (options --backend/--dynamic not applied)"
        if w.compiled_as_given
        else f"backend {w.backend}, dynamic={w.dynamic}"
    )
    number = f"number {w.number}{' (calibrated)' if w.number_calibrated else ''}"
    return (
        f"workload: {what}; {w.calls_per_iteration} calls/iteration; {compiled}; "
        f"recompile_limit {w.recompile_limit}; {number} × repeat {w.repeat}"
        + (f"; seed {w.seed}" if w.seed is not None else "")
    )


def _sizes(sizes: list[int]) -> str:
    steps = {b - a for a, b in zip(sizes, sizes[1:], strict=False)}
    if len(sizes) > 2 and len(steps) == 1:
        return f"{sizes[0]}..{sizes[-1]} step {sizes[1] - sizes[0]}"
    return ",".join(map(str, sizes))


def render(report: GuardReport) -> str:
    env, timing = report.environment, report.timing
    lines = [report.result_line, "", *wrapped(in_situ.lead(report)), ""]
    lines.append(
        f"guardprof {env.guardprof_version} · torch {env.torch_version} · Python "
        f"{env.python_version} · {env.device} ({env.device_name}) · {env.torch_threads} torch "
        f"threads, {env.cpu_count} CPUs"
    )
    lines.append(_workload_line(report))
    lines += ["", *wrapped(in_situ.method_lines(report.in_situ))]
    lines += ["", *wrapped(in_situ.breakdown(report))]
    if report.decomposition is not None:
        lines += ["", *decomposition.section(report.decomposition,
                                             report.guard_cost.rejected_checks_per_call)]

    # Timing
    lines += ["", f"Timing — {timing.method}"]
    c = timing.compiled_us_per_iteration
    rows = [["compiled", f"{c.median:.1f}", f"{c.iqr:.1f}", f"{timing.compiled_us_per_call:.1f}"]]
    if timing.eager_us_per_iteration is not None:
        e = timing.eager_us_per_iteration
        rows.append(["eager (uncompiled)", f"{e.median:.1f}", f"{e.iqr:.1f}",
                     f"{timing.eager_us_per_call:.1f}"])
        rows.append(["overhead (compiled − eager)", f"{c.median - e.median:.1f}", "",
                     f"{timing.overhead_us_per_call:.1f}"])
    lines += table(rows, ["", "µs/iteration", "IQR µs", "µs/call"], "lrrr")
    lines.append(
        f"  warm-up: {timing.warmup_s:.1f} s for {timing.warmup_iterations} iterations "
        "(includes compilation)"
    )
    if report.noise is not None:
        lines.append(f"  machine noise: {report.noise.line()} — {report.noise.method}")

    for frame in report.frames:
        lines += ["", *_frame_section(frame)]
    if report.unattributed_reasons:
        lines += ["", "Guard failures after the last compile (calls no entry accepted):"]
        lines += [f"  {r}" for r in report.unattributed_reasons[:5]]
        if len(report.unattributed_reasons) > 5:
            lines.append(f"  … {len(report.unattributed_reasons) - 5} more (see --json)")

    lines += ["", "What this means"]
    lines += wrapped([f"  - {f}" for f in report.findings])
    if report.notes:
        lines += ["", "Notes"]
        lines += [f"  - {n}" for n in report.notes]
    return "\n".join(lines) + "\n"


def _frame_section(frame: FrameReport) -> list[str]:
    lines = [
        f"Cache entries of {frame.name} ({frame.location}), in cache order "
        f"(pass/fail: replayed check µs, median); replayed guard time on this frame "
        f"{frame.guard_us_per_call:.1f} µs/call"
    ]
    if frame.entries_on is not None:
        on = frame.entries_on
        lines.append(
            f"  (its entries live on {on.name} ({on.location}), a torch-internal wrapper; other "
            "callables compiled through it share this list and its walk)"
        )
    elif frame.torch_internal:
        lines.append(
            "  (a torch-internal wrapper that holds the compiled callable's entries; other "
            "callables compiled through it share this list and its walk)"
        )
    rows = []
    for e in frame.entries:
        reason = e.recompile_reasons[0] if e.recompile_reasons else (
            "first compile" if e.compile_id.endswith("/0") else "-"
        )
        if len(e.recompile_reasons) > 1:
            reason += f" (+{len(e.recompile_reasons) - 1} more)"
        rows.append([
            e.compile_id, compress_indices(e.serves_calls), str(e.guards_total),
            _us(e.pass_check_us), _us(e.fail_check_us), reason,
        ])
    lines += table(
        rows, ["entry", "serves calls", "guards", "pass µs", "fail µs", "created because"],
        "llrrrl",
    )
    kinds = [e.guards_by_kind for e in frame.entries]
    if kinds and all(k == kinds[0] for k in kinds):
        lines.append(f"  guards by kind (every entry): {_kinds(kinds[0])}")
    else:
        lines += [
            f"  guards by kind, {e.compile_id}: {_kinds(e.guards_by_kind)}" for e in frame.entries
        ]
    if frame.uncompiled_calls:
        lines.append(
            f"  calls that ran uncompiled (no entry accepted them): "
            f"{compress_indices(frame.uncompiled_calls)}"
        )
    lines += decomposition.frame_lines(frame.decomposition)
    return lines
