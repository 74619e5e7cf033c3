"""`guardprof guards --load PROGRAM.json`: the guard trees a program's report kept, as text.

A program is not a workload guardprof can call again, so its report keeps each entry's tree
without per-guard costs; the costs it has are the replayed whole checks of the sampled calls.
This prints the entries, why each exists, what varies between them, one entry's tree and a diff,
in the layout of `guardprof guards`.
"""

from __future__ import annotations

from guardprof.analysis.guard_diff import summarize_variation
from guardprof.model.guards_report import EntryDiff, EntryGuards, compile_id_key
from guardprof.model.program_report import ProgramEntry, ProgramFrame, ProgramReport
from guardprof.render.guards import render_diff, tree_section
from guardprof.render.program import reasons_text
from guardprof.render.text_table import table


def find_entry(report: ProgramReport,
               compile_id: str) -> tuple[ProgramFrame, ProgramEntry] | None:
    return next(((f, e) for f in report.frames for e in f.entries
                 if e.compile_id == compile_id), None)


def render(report: ProgramReport, entry: str | None = None, depth: int | None = None,
           top: int = 10, diff: EntryDiff | None = None) -> str:
    entries = [e for f in report.frames for e in f.entries]
    kept = [e.guards for e in entries if e.guards is not None]
    guards = sum(sum(e.guard_kinds.values()) for e in entries)
    torch_parts = sum(g.torch_code_parts for g in kept)
    check = ("" if not entries or len(kept) < len(entries) else "; torch's own guard tree strings: "
             + ("matches" if torch_parts == guards else f"DIFFERS: {torch_parts}"))
    lines = [
        f"guardprof guards · program: {' '.join(report.command)} (exited {report.exit_status})"
        f" · torch {report.torch_version} · Python {report.python}",
        f"{len(report.frames)} compiled frame(s), {len(entries)} cache entries, {guards} guards "
        f"(code parts as TORCH_LOGS=guards prints them{check}), as the cache held them when the "
        "program ended",
        "  costs: each entry's whole check replayed on the sampled calls it accepted; the "
        "program is not called again, so no guard is costed alone (for that, a workload "
        "factory: guardprof guards --target FILE:make)",
    ]
    if not entries:
        lines.append("nothing was compiled: no torch.compile'd frame ran")
    for frame in report.frames:
        lines += ["", *_frame_section(frame)]
    selected = ([find_entry(report, entry)] if entry is not None
                else [(f, min(f.entries, key=lambda e: compile_id_key(e.compile_id)))
                      for f in report.frames if f.entries])
    for frame, chosen in selected:
        lines += ["", *_entry_section(frame, chosen, depth, top)]
    if diff is not None:
        lines += ["", *render_diff(diff, top)]
    return "\n".join(lines) + "\n"


def _frame_section(frame: ProgramFrame) -> list[str]:
    lines = [f"Frame {frame.label}: {len(frame.entries)} cache entries, in cache order "
             "(checked first to last)"]
    if frame.entries_on:
        lines.append(f"  its entries live on {frame.entries_on}, a torch-internal wrapper")
    rows = [[e.compile_id, str(sum(e.guard_kinds.values())),
             "-" if e.guards is None else str(e.guards.leaf_guards),
             "-" if e.guards is None else str(e.guards.managers),
             str(e.sampled_calls), "-" if e.accepted_us is None else f"{e.accepted_us:.2f}"]
            for e in frame.entries]
    lines += table(rows, ["entry", "guards", "leaf guards", "managers", "sampled calls",
                          "accept µs (replayed)"], "lrrrrr")
    lines += ["", "Recompile history (compile order): why each entry exists"]
    for e in sorted(frame.entries, key=lambda e: compile_id_key(e.compile_id)):
        lines.append(f"  {e.compile_id:<6} dynamo: {reasons_text(e.reasons)}")
    kept = [e.guards for e in frame.entries if e.guards is not None]
    if len(kept) > 1:
        variation = summarize_variation(sorted(kept, key=lambda g: compile_id_key(g.compile_id)))
        lines += ["", f"What varies between entries: {variation.summary}"]
    return lines


def _entry_section(frame: ProgramFrame, entry: ProgramEntry, depth: int | None,
                   top: int) -> list[str]:
    kept: EntryGuards | None = entry.guards
    guards = sum(entry.guard_kinds.values())
    shape = "" if kept is None else (f" in {kept.leaf_guards} leaf guards on {kept.managers} "
                                     "managers")
    lines = [f"Entry {entry.compile_id} of {frame.name}: {guards} guards{shape}",
             "  guards by kind: " + ", ".join(f"{k} {v}" for k, v in entry.guard_kinds.items())]
    if kept is None:
        return lines + ["  its guard tree was not kept (a report written before guardprof "
                        "kept program trees)"]
    return lines + ["", *tree_section(kept, depth, top, costed=False)]
