"""Workload → guard trees, their cost and recompile reasons → GuardsReport.

The pipeline behind `guardprof guards`: warm the workload up (every entry compiled), capture one
iteration (cache order and each call's frame locals), replay it as `guardprof run` does, then
dump each entry's guard tree, cost every check guard by guard, and find why each entry exists.
"""

from __future__ import annotations

import dataclasses
import time
import types

from guardprof import torch_compat
from guardprof.capture import Capture, capture_iteration
from guardprof.errors import GuardprofError
from guardprof.guard_cost import CostResult, cost_checks
from guardprof.guard_diff import summarize_variation
from guardprof.guard_tree import LiveTree, build_entry_tree
from guardprof.guards_report import (
    GUARDS_SCHEMA_VERSION,
    REPORT_TYPE,
    EntryGuards,
    FrameGuards,
    GuardsReport,
    GuardsWorkload,
    ManagerNode,
    compile_id_key,
)
from guardprof.measure import WarmWorkload, environment, warm, workload_info
from guardprof.progress import SILENT, Progress
from guardprof.recompiles import failing_guards
from guardprof.replay import replay
from guardprof.workload import WorkloadSpec


def collect(spec: WorkloadSpec, progress: Progress = SILENT) -> GuardsReport:
    # guards needs no timing loop: skip `warm`'s calibration of iterations per round.
    return collect_warm(warm(dataclasses.replace(spec, number=spec.number or 1), progress),
                        progress)


def collect_warm(warmed: WarmWorkload, progress: Progress = SILENT) -> GuardsReport:
    prepared = warmed.prepared
    calls = prepared.calls
    progress.update("capturing one iteration's frames and cache order")
    capture = capture_iteration(prepared.compiled, calls)
    if not capture.order_before:
        raise GuardprofError(
            f"the workload compiled no frames: dynamo ran {prepared.workload.name!r} eagerly "
            "(skipped or fell back), so there are no guards to show"
        )
    phases = {"warm_up_s": warmed.warmup_s}

    start = time.perf_counter()
    replayed = replay(capture, progress)
    phases["replay_s"] = time.perf_counter() - start

    start = time.perf_counter()
    progress.update("dumping guard trees")
    trees = {code: [build_entry_tree(e) for e in entries]
             for code, entries in capture.order_before.items()}
    torch_counts = {id(live): sum(torch_compat.guard_kind_counts(live.handle.guard_tree())
                                  .values())
                    for lives in trees.values() for live in lives}
    phases["dump_s"] = time.perf_counter() - start

    start = time.perf_counter()
    costs = cost_checks(capture, replayed, trees, len(calls), progress)
    phases["cost_s"] = time.perf_counter() - start

    start = time.perf_counter()
    progress.update("finding every failing guard behind each recompile")
    reasons = warmed.compiles.reasons_by_compile_id()
    frames = [
        _frame(code, lives, capture, costs, reasons, torch_counts)
        for code, lives in trees.items()
    ]
    phases["reasons_s"] = time.perf_counter() - start
    progress.clear()

    notes = [n for n in (warmed.compiles.note,) if n] + costs.notes
    for lives in trees.values():
        for live in lives:
            notes.extend(f"{live.handle.compile_id}: {n}" for n in live.notes)
    if replayed.mismatches:
        notes.append(f"{replayed.mismatches} replayed walks chose another entry than the real "
                     "run (the workload is not deterministic?)")
    if capture.new_entries:
        notes.append(f"{capture.new_entries} entries were compiled during the captured "
                     "iteration: the workload was still compiling")
    if warmed.compiles.trailing_reasons:
        notes.append(f"{len(warmed.compiles.trailing_reasons)} guard failures led to no new "
                     "entry (recompile limit reached?): "
                     + "; ".join(warmed.compiles.trailing_reasons[:3]))
    return GuardsReport(
        schema_version=GUARDS_SCHEMA_VERSION,
        report_type=REPORT_TYPE,
        environment=environment(warmed.spec.device),
        workload=_workload(warmed),
        method=costs.method,
        frames=frames,
        phases_s=phases,
        notes=notes,
        dynamo_counters=warmed.compile_counters,
    )


def _frame(
    code: types.CodeType,
    lives: list[LiveTree],
    capture: Capture,
    costs: CostResult,
    reasons: dict[str, list[str]],
    torch_counts: dict[int, int],
) -> FrameGuards:
    invocations = [(i, inv) for i, inv in enumerate(capture.invocations) if inv.code is code]
    entries = []
    for position, live in enumerate(lives):
        compile_id = live.handle.compile_id
        checks = [costs.checks[(i, compile_id)] for i, _ in invocations
                  if (i, compile_id) in costs.checks]
        served = [inv for _, inv in invocations if inv.served_by == compile_id]
        entries.append(EntryGuards(
            compile_id=compile_id,
            position=position,
            code_parts_by_kind=live.code_parts_by_kind(),
            torch_code_parts=torch_counts[id(live)],
            leaf_guards=len(live.leaves),
            managers=len(live.managers),
            serves_calls=sorted({inv.call_index for inv in served}),
            tree=live.tree,
            epilogue=live.epilogue,
            relational=live.relational,
            pass_cost=next((c for c in checks if c.passed), None),
            fail_cost=next((c for c in checks if not c.passed), None),
            torch_reasons=list(reasons.get(compile_id, [])),
        ))
        _roll_up(live.tree)
    by_id = {live.handle.compile_id: live for live in lives}
    for entry in entries:
        _explain(entry, by_id, invocations)
    frame = FrameGuards(code.co_name, code.co_filename, code.co_firstlineno, entries,
                        loop_cost=costs.loop.get(code))
    frame.variation = summarize_variation(frame.compile_order())
    return frame


def _explain(entry: EntryGuards, lives: dict[str, LiveTree], invocations: list) -> None:
    """All failing guards of each earlier entry on the inputs this entry serves."""
    served = next((inv for _, inv in invocations if inv.served_by == entry.compile_id), None)
    earlier = [cid for cid in lives if compile_id_key(cid) < compile_id_key(entry.compile_id)]
    if not earlier:
        return
    if served is None:
        entry.reasons_note = ("no call of the captured iteration reached this entry: only "
                              "dynamo's recorded reason is shown")
        return
    entry.failing_guards = [
        failing_guards(lives[cid], served.f_locals)
        for cid in sorted(earlier, key=compile_id_key)
    ]
    silent = [f.compile_id for f in entry.failing_guards if not f.failing and f.complete]
    if silent:
        entry.reasons_note = (
            f"no guard of {', '.join(silent)} fails on the inputs this entry serves: they "
            "would accept them (the entry was compiled for other inputs, or after an eviction)")


def _roll_up(node: ManagerNode) -> float | None:
    """Each manager's own cost (its leaves) and its subtree's (pass check, isolated)."""
    own = [leaf.cost_us for leaf in node.leaves if leaf.cost_us is not None]
    node.cost_us = sum(own) if own else None
    total = node.cost_us or 0.0
    any_cost = node.cost_us is not None
    for child in node.children:
        child_total = _roll_up(child)
        if child_total is not None:
            total += child_total
            any_cost = True
    node.subtree_cost_us = total if any_cost else None
    return node.subtree_cost_us


def _workload(warmed: WarmWorkload) -> GuardsWorkload:
    """The run report's workload record, less its timing settings (guards times no loop)."""
    info = workload_info(warmed)
    return GuardsWorkload(
        **{f.name: getattr(info, f.name) for f in dataclasses.fields(GuardsWorkload)}
    )
