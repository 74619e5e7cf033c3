"""Workload → guard trees, their cost and recompile reasons → GuardsReport.

The pipeline behind `guardprof guards`: warm the workload up (every entry compiled), capture one
iteration (cache order and each call's frame locals), replay it as `guardprof run` does, then
dump each entry's guard tree, cost every check guard by guard, and find why each entry exists.
"""

from __future__ import annotations

import dataclasses
import time
import types

from guardprof.analysis.guard_diff import summarize_variation
from guardprof.dynamo import guard_walk
from guardprof.dynamo.guard_tree import LiveTree, build_entry_tree
from guardprof.dynamo.recompiles import failing_guards
from guardprof.errors import GuardprofError
from guardprof.measure.ablation import ablate
from guardprof.measure.capture import Capture, capture_iteration, frame_naming
from guardprof.measure.guard_cost import CostResult, cost_checks
from guardprof.measure.replay import replay
from guardprof.measure.run import WarmWorkload, environment, warm, workload_info
from guardprof.model.guards_report import (
    EntryFailures,
    EntryGuards,
    FrameGuards,
    GuardsReport,
    GuardsWorkload,
    LeafNode,
    ManagerNode,
    RelationalGuardInfo,
    compile_id_key,
)
from guardprof.progress import SILENT, Progress
from guardprof.workload.spec import WorkloadSpec


def collect(spec: WorkloadSpec, progress: Progress = SILENT, *,
            ablations: bool = False) -> GuardsReport:
    # guards needs no timing loop: skip `warm`'s calibration of iterations per round.
    return collect_warm(warm(dataclasses.replace(spec, number=spec.number or 1), progress),
                        progress, ablations=ablations)


def collect_warm(warmed: WarmWorkload, progress: Progress = SILENT, *,
                 ablations: bool = False) -> GuardsReport:
    """The guards report; `ablations` adds the guard_filter_fn ablations (`measure.ablation`),
    timed in the hot loop against the per-kind split measured here."""
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
    torch_counts = {id(live): sum(guard_walk.guard_kind_counts(live.handle.guard_tree())
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
    ablated = None
    if ablations:
        start = time.perf_counter()
        ablated = ablate(prepared, [f.loop_cost for f in frames if f.loop_cost], progress)
        phases["ablation_s"] = time.perf_counter() - start
        progress.clear()
    return GuardsReport(
        environment=environment(warmed.spec.device),
        workload=_workload(warmed),
        method=costs.method,
        frames=frames,
        phases_s=phases,
        notes=notes,
        dynamo_counters=warmed.compile_counters,
        ablations=ablated,
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
    by_id = {live.handle.compile_id: live for live in lives}
    entries = []
    for position, live in enumerate(lives):
        compile_id = live.handle.compile_id
        checks = [costs.checks[(i, compile_id)] for i, _ in invocations
                  if (i, compile_id) in costs.checks]
        served = [inv for _, inv in invocations if inv.served_by == compile_id]
        failing, reasons_note = _explain(compile_id, by_id, invocations)
        entries.append(EntryGuards(
            compile_id=compile_id,
            position=position,
            code_parts_by_kind=live.code_parts_by_kind(),
            torch_code_parts=torch_counts[id(live)],
            leaf_guards=len(live.leaves),
            managers=len(live.managers),
            serves_calls=sorted({inv.call_index for inv in served}),
            tree=_costed_tree(live.tree, costs),
            epilogue=[_costed_leaf(leaf, costs) for leaf in live.epilogue],
            relational=[_costed_relational(info, costs) for info in live.relational],
            pass_cost=next((c for c in checks if c.passed), None),
            fail_cost=next((c for c in checks if not c.passed), None),
            torch_reasons=list(reasons.get(compile_id, [])),
            failing_guards=failing,
            reasons_note=reasons_note,
        ))
    in_compile_order = sorted(entries, key=lambda e: compile_id_key(e.compile_id))
    naming = frame_naming(capture, code)
    return FrameGuards(naming.name, naming.filename, naming.firstlineno, entries,
                       variation=summarize_variation(in_compile_order),
                       loop_cost=costs.loop.get(code), entries_on=naming.entries_on)


def _explain(compile_id: str, lives: dict[str, LiveTree],
             invocations: list) -> tuple[list[EntryFailures], str | None]:
    """All failing guards of each earlier entry on the inputs this entry serves (and a note)."""
    served = next((inv for _, inv in invocations if inv.served_by == compile_id), None)
    earlier = [cid for cid in lives if compile_id_key(cid) < compile_id_key(compile_id)]
    if not earlier:
        return [], None
    if served is None:
        return [], ("no call of the captured iteration reached this entry: only dynamo's "
                    "recorded reason is shown")
    failing = [failing_guards(lives[cid], served.f_locals)
               for cid in sorted(earlier, key=compile_id_key)]
    silent = [f.compile_id for f in failing if not f.failing and f.complete]
    if not silent:
        return failing, None
    return failing, (
        f"no guard of {', '.join(silent)} fails on the inputs this entry serves: they would "
        "accept them (the entry was compiled for other inputs, or after an eviction)")


def _costed_leaf(leaf: LeafNode, costs: CostResult) -> LeafNode:
    """The report's copy of a leaf, with what the costing measured for it (if anything)."""
    if id(leaf) not in costs.leaf_costs:
        return dataclasses.replace(leaf)
    cost_us, status = costs.leaf_costs[id(leaf)]
    return dataclasses.replace(leaf, cost_us=cost_us, status=status)


def _costed_relational(info: RelationalGuardInfo, costs: CostResult) -> RelationalGuardInfo:
    if id(info) not in costs.relational_costs:
        return dataclasses.replace(info)
    cost_us, method = costs.relational_costs[id(info)]
    return dataclasses.replace(info, cost_us=cost_us, method=method)


def _costed_tree(node: ManagerNode, costs: CostResult) -> ManagerNode:
    """The report's copy of a manager: its own cost (its leaves) and its subtree's."""
    leaves = [_costed_leaf(leaf, costs) for leaf in node.leaves]
    children = [_costed_tree(child, costs) for child in node.children]
    own = [leaf.cost_us for leaf in leaves if leaf.cost_us is not None]
    cost_us = sum(own) if own else None
    below = [c.subtree_cost_us for c in children if c.subtree_cost_us is not None]
    subtree = (cost_us or 0.0) + sum(below) if (cost_us is not None or below) else None
    return dataclasses.replace(node, leaves=leaves, children=children, cost_us=cost_us,
                               subtree_cost_us=subtree)


def _workload(warmed: WarmWorkload) -> GuardsWorkload:
    """The run report's workload record, less its timing settings (guards times no loop)."""
    info = workload_info(warmed)
    return GuardsWorkload(
        **{f.name: getattr(info, f.name) for f in dataclasses.fields(GuardsWorkload)}
    )
