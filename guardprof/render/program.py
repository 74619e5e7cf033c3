"""The text report of `guardprof run -- python SCRIPT` and of `guardprof.capture()`."""

from __future__ import annotations

import re

from guardprof.model.program_report import ProgramFrame, ProgramReport
from guardprof.render import decomposition
from guardprof.render.in_situ import figure_line
from guardprof.render.text_table import table

TOP_KINDS = 4
GENERIC_METHOD = ("direct, in situ: each lookup timed while the program ran, from the "
                  "torch.compile wrapper arming dynamo to dynamo's guard-complete hook, less a "
                  "guard-free probe's span of the same shape")


def _us(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def _kinds(kinds: dict[str, int]) -> str:
    top = sorted(kinds.items(), key=lambda kv: -kv[1])[:TOP_KINDS]
    more = len(kinds) - len(top)
    return ", ".join(f"{k} {n}" for k, n in top) + (f", +{more} kinds" if more > 0 else "")


def reasons_text(reasons: list[str]) -> str:
    """The first line of each recompile reason dynamo recorded; none: the first compile."""
    return "; ".join(r.splitlines()[0] for r in reasons if r.strip()) or "first compile"


def render(report: ProgramReport) -> str:
    lines = [f"guardprof: {' '.join(report.command)} exited {report.exit_status} after "
             f"{report.wall_s:.1f} s (torch {report.torch_version}, Python {report.python})"]
    if not report.compiled_anything:
        lines.append("nothing was compiled: no torch.compile'd frame ran")
        lines += [f"note: {n}" for n in report.notes]
        return "\n".join(lines) + "\n"
    lines.append(f"cache lookups of compiled frames: {report.lookups} (counted: every call "
                 f"but each frame's first, which found no cache and compiled); sampled: "
                 f"{report.samples}")
    lines.append(f"  samples: {report.sample_policy}")
    if any(f.in_situ is not None for f in report.frames):
        lines.append(f"  guard figure {GENERIC_METHOD} (each frame says which lookups)")
    lines.append(f"  its breakdown, {report.replay_method}")
    total = sum(f.estimated_guard_s or 0.0 for f in report.frames)
    lines.append("")
    lines.append("frames ranked by estimated guard time over the program "
                 "(calls = lookups × the frame's share of the samples; an estimate):")
    rows = [[f.label, f.called_from, str(len(f.entries)),
             "not sampled" if f.estimated_calls is None else f"{f.estimated_calls:.0f}",
             str(f.sampled_calls), _situ(f), _us(f.guard_us_per_call),
             "-" if f.estimated_guard_s is None else f"{f.estimated_guard_s * 1e3:.2f}"]
            for f in report.frames]
    lines += table(rows, ["frame", "called from", "entries", "calls (est.)", "sampled",
                          "guard µs/call in situ", "replayed", "guard ms total (est.)"],
                   "llrrrrrr")
    lines.append(f"  estimated guard time over the program: {total * 1e3:.2f} ms of "
                 f"{report.wall_s * 1e3:.0f} ms wall")
    for frame in report.frames:
        lines += _frame_section(frame)
    if report.lost_samples:
        lines.append(f"note: {report.lost_samples} samples lost (the frame did not start "
                     "within the profile's call budget)")
    lines += [f"note: {n}" for n in report.notes]
    return "\n".join(lines) + "\n"


def _situ(frame: ProgramFrame) -> str:
    s = frame.in_situ
    if s is None or s.us_per_call is None:
        return "-"
    return f"{s.us_per_call:.2f} [{s.low:.2f}, {s.high:.2f}]"


def _frame_section(frame: ProgramFrame) -> list[str]:
    lines = ["", f"{frame.label}: {len(frame.entries)} cache entries"]
    lines.append(f"  guard evaluation: {figure_line(frame.in_situ)}")
    if frame.in_situ is not None and frame.in_situ.us_per_call is not None:
        lines.append(f"    method: {frame.in_situ.method}")
    s = frame.in_situ
    if s is not None and s.us_per_call is not None and s.floor_us is not None:
        lines.append(f"    its lookup {s.lookup_us:.2f} µs/call less a guard-free lookup's "
                     f"{s.floor_us:.2f}, over {s.rounds} timed lookups; replayed checks "
                     f"{_us(frame.guard_us_per_call)} µs/call (the breakdown below)")
    if frame.entries_on:
        where = re.sub(r"\(\S*site-packages/", "(", frame.entries_on)
        lines.append(f"  (its entries sit on {where})")
    if frame.call_sites:
        sites = ", ".join(f"{site} ×{n}" for site, n in frame.call_sites.items())
        lines.append(f"  called from (sampled calls): {sites}")
    depths = ", ".join(f"{d} rejected: {n}" for d, n in frame.walk_depths.items())
    lines.append(f"  walk depth of the sampled calls: {depths or '-'}; "
                 f"rejected entries cost {_us(frame.rejected_us_per_call)} µs/call")
    if frame.sampled_fell_back:
        lines.append(f"  {frame.sampled_fell_back} sampled calls ran uncompiled "
                     "(no entry accepted; recompile limit?)")
    if frame.callables:
        lines.append(f"  {len(frame.callables)} callables share its cache list (each call "
                     "walks every callable's entries, in cache order):")
        headers, crows = callable_rows(frame)
        lines += ["  " + line for line in table(crows, headers, "llrllrr")]
    rows = [[e.compile_id, str(e.sampled_calls), _us(e.accepted_us), _kinds(e.guard_kinds),
             reasons_text(e.reasons)]
            for e in frame.entries]
    lines += table(rows, ["entry", "sampled calls", "accept µs", "guards", "created because"],
                   "lrrll")
    d = frame.decomposition
    if d is not None and not d.available:
        lines.append(f"  decomposition: not measured ({'; '.join(d.notes)})")
    elif d is not None:
        lines += ["", *("  " + line for line in decomposition.section(d))]
    return lines


CALLABLE_HEADERS = ["callable", "called from", "sampled calls", "accepted by",
                    "rejected before: calls", "guard µs/call", "of it rejected"]


def callable_rows(frame: ProgramFrame) -> tuple[list[str], list[list[str]]]:
    """The callables sharing a frame's cache list, one row each, as text and HTML show them
    (the call site tells two instances of one module class apart)."""
    rows = [[c.label, next(iter(c.call_sites), "-"), str(c.sampled_calls),
             ", ".join(f"{cid} ×{n}" for cid, n in c.served_by.items()) or "-",
             ", ".join(f"{d}: {n}" for d, n in c.walk_depths.items()) or "-",
             _us(c.guard_us_per_call), _us(c.rejected_us_per_call)]
            for c in frame.callables]
    return CALLABLE_HEADERS, rows
