"""Terminal summaries of `guardprof profile`: every figure with its unit and how it was got."""

from __future__ import annotations

import math
import pstats
import re
import shlex
from pathlib import Path

from guardprof.analysis.pstats_tables import top_by_self_time
from guardprof.analysis.pyspy_frames import frame_name
from guardprof.model.profiles import CProfileRun, FlameResult, FuncKey, ProgramCProfileRun
from guardprof.render.in_situ import guard_figure
from guardprof.render.text_table import table

AGREEMENT_TOLERANCE = 0.25  # sampled and replayed shares "agree" within ±25 %
NOISY_IQR = 0.10  # an unsampled timing whose IQR exceeds 10 % of its median is called noisy


def short_func(key: FuncKey) -> str:
    """pstats' `file:line(name)`, the file cut to its package-relative part."""
    if key[0] == "~":
        return pstats.func_std_string(key)
    path = key[0].replace("\\", "/")
    path = re.sub(r"^.*/(site|dist)-packages/", "", path)
    cwd = str(Path.cwd()).replace("\\", "/") + "/"
    path = path.removeprefix(cwd)
    return f"{path}:{key[1]}({key[2]})"


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole > 0 else "n/a"


def render_cprofile(run: CProfileRun, derived_path: Path, raw_path: Path, top: int = 15) -> str:
    report = run.report
    timing = report.timing
    lines = [
        f"cProfile of the hot loop — {run.iterations} iterations × {run.calls_per_iteration} "
        "calls; compilation and warm-up not profiled",
        f"  method: {run.method}",
        f"  guardprof {report.environment.guardprof_version} · torch "
        f"{report.environment.torch_version} · backend {report.workload.backend}",
        f"  loop under cProfile: {run.profiled_us_per_call:.1f} µs/call (wall); unprofiled: "
        f"{timing.compiled_us_per_call:.1f} µs/call "
        f"({_timing_method(report)})",
        f"  profile total: {run.total_s:.3f} s (pstats total time; the same in both files)",
        "",
    ]
    guard_us, label = guard_figure(report)
    call = report.timing.compiled_us_per_call
    lines.append(
        f"Guard evaluation — {label}: {guard_us:.1f} µs/call"
        + (f" = {100 * guard_us / call:.0f}% of the unprofiled call" if call > 0 else "")
    )
    if run.nodes:
        rows = []
        for node in run.nodes:
            for b in node.bookings:
                before = run.raw[b.caller][2]
                rows.append([node.key[2], f"{b.moved_s * 1e3:.1f}", _pct(b.moved_s, run.total_s),
                             str(b.lookups),
                             f"{short_func(b.caller)} {before * 1e3:.1f} → "
                             f"{(before - b.moved_s) * 1e3:.1f} ms"])
        lines += table(rows, ["derived entry", "ms", "of profile", "lookups",
                              "taken from the self time of"], "lrrrl")
        lines.append(
            f"  Its time is that guard time × calls ({guard_us:.1f} µs/call × "
            f"{run.iterations * run.calls_per_iteration} calls), not a cProfile measurement: "
            "cProfile books C++ guard checks in the caller's self time."
        )
        lines.append(
            f"  Guard share of the profiled loop: {_pct(run.guard_s, run.total_s)} "
            "(cProfile slows Python code, not the C++ checks, so this is usually below the "
            "share of the unprofiled call)."
        )
    else:
        lines.append("  no compiled frame was called in the profiled loop: no guard entry added")
    py_guards = run.python_guards
    if py_guards:
        listed = "; ".join(f"{short_func(k)} {nc} calls, {ct * 1e3:.1f} ms"
                           for k, nc, ct in py_guards[:3])
        lines.append(
            f"  Python-level guards cProfile saw as their own entries (cumulative, under "
            f"cProfile): {listed}. The replayed time includes their unprofiled cost, so the "
            "derived entry overlaps them by that much."
        )
    lines += _top_lines(run, top, f"{run.iterations} iterations")
    notes = list(run.notes)
    for c in run.collapsed:
        notes.append(
            f"cProfile names functions by file:line(name): {c.code_objects} code objects share "
            f"{short_func(c.key)} (dynamo's transformed code per cache entry keeps the "
            f"function's name), so pstats keeps one — {c.calls_kept} of {c.calls_total} calls, "
            "in both files; calls into their callees are counted in full"
        )
    notes += [n for n in report.notes if n != report.cross_check.note]
    return "\n".join(lines + _notes_and_written(notes, derived_path, raw_path))


def render_program_cprofile(run: ProgramCProfileRun, derived_path: Path, raw_path: Path,
                            top: int = 15) -> str:
    """`guardprof profile -- python SCRIPT`: the program's profile, its guard entries and how
    the calls behind them were counted and sampled."""
    prog = run.program
    via = ", ".join(f"{n} through the {slot} slot" for slot, n in run.sampled_via.items() if n)
    lines = [
        f"cProfile of {' '.join(prog.command)} — exited {prog.exit_status} after "
        f"{run.wall_s:.1f} s under cProfile (torch {prog.torch_version}, Python {prog.python})",
        f"  method: {run.method}",
        f"  cache lookups counted: {prog.lookups}; sampled and replayed: {prog.samples}"
        + (f" (one-shot hooks set: {via}; cProfile holds the profile slot before Python "
           "3.12, so guardprof samples through the trace slot there)" if "trace" in via
           else ""),
        f"  profile total: {run.total_s:.3f} s (pstats total time; the same in both files)",
        "",
        "Guard evaluation — each frame's guard µs/call (in situ: its lookups timed while the "
        "program ran, less a guard-free probe's; replayed where none, said in a note) × the "
        "calls of it cProfile counted",
    ]
    if run.nodes:
        rows = []
        for node in run.nodes:
            per_call = ("-" if node.replayed_us_per_call is None
                        else f"{node.replayed_us_per_call:.2f}")
            for b in node.bookings:
                before = run.raw[b.caller][2]
                rows.append([node.key[2], f"{b.moved_s * 1e3:.2f}", _pct(b.moved_s, run.total_s),
                             str(b.lookups), per_call,
                             f"{short_func(b.caller)} {before * 1e3:.1f} → "
                             f"{(before - b.moved_s) * 1e3:.1f} ms"])
        lines += table(rows, ["derived entry", "ms", "of profile", "calls (cProfile)",
                              "guard µs/call", "taken from the self time of"], "lrrrrl")
        lines.append("  Not a cProfile measurement: cProfile books C++ guard checks in the "
                     "caller's self time; the in-situ figure says how much.")
        lines.append(f"  Guard share of the profiled program: {_pct(run.guard_s, run.total_s)}")
    elif not prog.compiled_anything:
        lines.append("  nothing was compiled: no torch.compile'd frame ran, so no guard entry "
                     "was added")
    else:
        lines.append("  no compiled frame was called under a profiled caller: no guard entry "
                     "added")
    lines += _top_lines(run, top, "whole program")
    notes = list(run.notes)
    for c in run.collapsed:
        notes.append(
            f"cProfile names functions by file:line(name): {c.code_objects} code objects share "
            f"{short_func(c.key)}, so pstats keeps one — {c.calls_kept} of {c.calls_total} calls")
    notes += prog.notes
    return "\n".join(lines + _notes_and_written(notes, derived_path, raw_path))


def _top_lines(run: CProfileRun | ProgramCProfileRun, top: int, of: str) -> list[str]:
    rows = [[f"{tt * 1e3:.1f}", _pct(tt, run.total_s), str(nc), f"{ct * 1e3:.1f}", short_func(k)]
            for k, nc, tt, ct in top_by_self_time(run.derived, top)]
    return (["", f"Top functions by self time (derived profile, {of})"]
            + table(rows, ["self ms", "%", "calls", "cum ms", "function"], "rrrrl"))


def _notes_and_written(notes: list[str], derived_path: Path, raw_path: Path) -> list[str]:
    lines = ["", "Notes"] + [f"  - {n}" for n in notes] if notes else []
    return lines + [
        "",
        "Written",
        f"  {derived_path}  derived: guard evaluation as '[dynamo guards] …' entries — "
        f"open: guardprof view {shlex.quote(str(derived_path))}",
        f"  {raw_path}  raw cProfile, untouched — open: snakeviz {shlex.quote(str(raw_path))}",
    ]


def _iqr_per_call(report) -> float:
    return report.timing.compiled_us_per_iteration.iqr / report.timing.calls_per_iteration


def _timing_method(report) -> str:
    w = report.workload
    return f"timed in the hot loop, median of {w.repeat} rounds × {w.number} iterations"


def render_flame(result: FlameResult) -> str:
    a = result.analysis
    opts = result.options
    frames = "native + Python frames" if opts.native else "Python frames only"
    dropped = [f"{n} {where}" for n, where in ((a.outside_loop_excluded, "outside the loop"),
                                                (a.compile_excluded, "in compilation")) if n]
    lines = [
        f"py-spy {result.pyspy_version} record of {result.target} — sampled at {opts.rate} Hz, "
        f"{frames}, blocking (py-spy pauses the process for each sample)",
        f"  samples: {a.total} recorded, {a.loop} kept"
        + (f" ({', '.join(dropped)} dropped)" if dropped else "")
        + f" — {result.exclusion}",
    ]
    report = result.report
    if report is not None and result.sampled_us_per_call is not None:
        unsampled = report.timing.compiled_us_per_call
        sampled = result.sampled_us_per_call.median
        lines.append(
            f"  loop µs/call: unsampled {unsampled:.1f}, IQR {_iqr_per_call(report):.1f} "
            f"({_timing_method(report)}); sampled {sampled:.1f} (timed while py-spy sampled, "
            f"median of {len(result.sampled_us_per_call.samples)} rounds) — "
            f"×{sampled / unsampled:.2f}"
            + (": sampling slowed the loop" if sampled > unsampled else
               ": no slow-down measured this time (machine noise)")
            + "; read shares, not absolute times, from the samples"
        )
    lines.append("")
    lines += _guard_share_lines(result)
    if a.lookup_by_kind:
        lines += ["", "Where the cache-lookup samples were (deepest guard frame; native frames)"]
        rows = [[str(n), _pct(n, a.lookup), name] for name, n in a.lookup_by_kind[:15]]
        lines += table(rows, ["samples", "of lookup", "frame"], "rrl")
        if a.python_guards:
            listed = "; ".join(f"{frame_name(f)} {n}" for f, n in a.python_guards[:3])
            lines.append(f"  Python-level guards among them: {listed} samples")
    notes = list(result.notes)
    if result.pyspy_samples is not None and result.pyspy_samples != a.total:
        notes.append(f"py-spy reported {result.pyspy_samples} samples; {a.total} were read back "
                     f"from its {opts.fmt} file")
    if report is not None:
        notes += [n for n in report.notes if n != report.cross_check.note]
    if notes:
        lines += ["", "Notes"] + [f"  - {n}" for n in notes]
    hint = open_hint(opts.fmt, result.output)
    lines += ["", "Written", f"  {result.output}  {opts.fmt} — {hint}"]
    return "\n".join(lines)


def _guard_share_lines(result: FlameResult) -> list[str]:
    a = result.analysis
    if a.loop == 0:
        return ["Guard share: no samples left to read (the loop was too short for the rate?)"]
    if not a.dynamo:
        return [f"Guard share: none of the {a.loop} samples has a dynamo frame — this process "
                "may not use torch.compile (or did not run compiled code while sampled)"]
    if not result.options.native:
        return ["Guard share: not available from Python frames — dynamo's cache lookup runs in "
                f"C++ (record with native frames to see it); {a.dynamo} of {a.loop} samples "
                "have dynamo frames"]
    share = a.lookup_share or 0.0
    stderr = math.sqrt(share * (1 - share) / a.loop)
    lines = [
        f"Guard share — sampled: {100 * share:.1f}% of the kept samples are in dynamo's cache "
        f"lookup (`lookup` and the guard managers below it): {a.lookup} of {a.loop}, "
        f"± {100 * stderr:.1f} points (binomial standard error)"
    ]
    of_compiled = a.lookup_share_of_compiled_calls
    if of_compiled is not None:
        lines.append(
            f"  of the samples inside compiled calls (under dynamo's wrapper or eval-frame hook):"
            f" {100 * of_compiled:.1f}% ({a.lookup} of {a.in_compiled_calls})"
        )
    report = result.report
    if report is None:
        lines.append("  (no replayed figure: guardprof did not run this program's workload; "
                     "`guardprof run --target …` measures one)")
        return lines
    guard_us, label = guard_figure(report)
    call = report.timing.compiled_us_per_call
    measured = guard_us / call if call > 0 else None
    if measured is None or measured <= 0:
        lines.append("  guard share of the call not available")
        return lines
    ratio = share / measured
    verdict = "agree" if abs(ratio - 1) <= AGREEMENT_TOLERANCE else "DISAGREE"
    lines += [
        f"  {label}: {100 * measured:.1f}% of the unsampled call "
        f"({guard_us:.1f} µs of {call:.1f} µs/call)",
        f"  sampled / {'in situ' if label == 'in situ' else 'replayed'} = {ratio:.2f}: "
        f"{verdict} (within "
        f"±{AGREEMENT_TOLERANCE:.0%} counts as agreement)",
    ]
    if _iqr_per_call(report) > NOISY_IQR * report.timing.compiled_us_per_call:
        lines.append(
            f"  the unsampled timing varied (IQR {_iqr_per_call(report):.1f} µs/call): a busy "
            "machine moves that share (its denominator) but not the sampled one, "
            "which is measured within the sampled window"
        )
    return lines


def open_hint(fmt: str, path: Path) -> str:
    """The command that opens a py-spy output."""
    if fmt == "flamegraph":
        return f"open it in a browser: python -m webbrowser file://{path.resolve()}"
    if fmt == "speedscope":
        return f"open it in speedscope: `speedscope {path}` or drop it on https://www.speedscope.app"
    return f"collapsed stacks: `flamegraph.pl {path} > flame.svg` or `inferno-flamegraph {path}`"
