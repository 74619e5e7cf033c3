"""What each guard costs: every check of the captured iteration, split into its guards.

Method (stated in every report, `COST_METHOD`):

- The checks are the ones `guardprof run` replays: each call's walk over its frame's cache
  entries in cache order, on the call's exact frame locals. For each check the walk is simulated
  leaf by leaf in dynamo's order (a manager's leaves, then its children, depth first) until the
  first failing guard, so a failing check is charged only for the guards it really ran.
- In place (TENSOR_MATCH, DIMENSION guards: one of each per tensor input, most of a large
  check): on a passing check each is rebuilt as dynamo builds it, from the value it accepted,
  on a copy of the tree (see the walk below) in place of one trivial leaf, and the copy is timed
  against the copy without them: the kind's cost inside a real tree, in check order, with no
  Python call to correct for. Measured this way the two kinds read ≈5–10 ns a guard less than
  isolated on a module's parameters, and a 1000-tensor check keeps its cache misses.
- Other leaf guards (and all of a failing check's): each one the check ran is called alone
  from Python on its guarded value, in a tight loop of `BATCH` calls after one untimed call,
  minus the Python → C++ call path, which otherwise outweighs the guard itself and differs by
  kind (EQUALS_MATCH's ≈20 ns more than TYPE_MATCH's): kinds whose check starts with a type or
  identity test (`SELF_BASELINED`) are their own baseline, the same loop on an object they
  reject at that test; others get the loop over a do-nothing TYPE_MATCH leaf timed near them.
  Each figure is a median, over the quieter half of the rounds, of per-round differences (see
  `GuardTimer`): the machine is shared.
- In-check context: the first leaf of each kind below the root runs, in a real check, straight
  after the root's own guards (global state, Python lambda guards), which push its code out of
  the CPU's caches; hot, it reads about half of what it costs there (TENSOR_MATCH ≈ 40 vs 90 ns
  on this machine). So that leaf is timed right after a call of a root-only copy of the entry
  (`clone_manager`), minus the same pair with its baseline. The leaves after it find their code
  warm and keep the hot figure.
- Relational guards (NO_TENSOR_ALIASING) cannot be called alone: they are measured by difference,
  re-installed over the same values on a synthetic tree and timed with and without it (a failing
  check does not run them but still resets them: timed on a synthetic tree that fails at its
  first manager). Partly run, or other relational kinds: "not separable", counted, not costed.
- Tree walk (accessors fetching each manager's value, and the tree calling each leaf): a copy
  of the managers the check visited, with the same nesting and the same kinds of accessor over
  the same frame locals, each with as many trivial one-compare leaves as the check ran there
  (three at most: torch keeps one leaf per kind on a manager), built on a root-only copy of the
  entry (its own root guards, so what follows runs as after them in a real check) and timed
  against that root-only copy; on a fresh root against an empty one where the root has epilogue
  guards. Accessors of other kinds hang off the root on a frame-locals key instead; where the
  copy cannot be built, one flat frame-locals manager per visited value (the part says which).
- Whole check: the entry's root check on the same locals, timed in the same round right after
  its parts (same cache state, same load from other processes), minus the call of an empty root;
  shown beside `guardprof run`'s replayed figure. Parts reconcile when their sum is within
  `TOLERANCE` of the whole.
"""

from __future__ import annotations

import types
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from guardprof.dynamo import compiler
from guardprof.dynamo.guard_tree import LiveLeaf, LiveTree
from guardprof.measure import guard_replicas
from guardprof.measure.capture import Capture
from guardprof.measure.guard_probes import (
    Replicas,
    leaf_probes,
    relational_probes,
    replica_probes,
    root_call_ns,
)
from guardprof.measure.guard_simulation import SELF_BASELINED, Check, simulate
from guardprof.measure.guard_timer import BATCH, GuardTimer
from guardprof.measure.replay import Replay
from guardprof.model.guards_report import (
    ERROR,
    NO_VALUE,
    TIMED,
    CheckCost,
    CostMethod,
    KindCost,
    LoopCost,
    LoopKindCost,
)
from guardprof.progress import SILENT, Progress

TOLERANCE = 0.15
WALK = "tree walk"
TAG_SKIPPED = "(skipped: dict tags unchanged)"
TAG_SKIP_METHOD = (
    "not run: below a tag-safe root (an nn.Module's guard manager), whose dict tags matched, so "
    "torch's recursive dict-tag fast path skips them on every repeated call "
    "(`torch._dynamo.config.use_recursive_dict_tags_for_guards`, on by default in torch 2.11, "
    "off in 2.13); the tag compare is in the tree walk"
)
ISOLATED = "isolated"
ISOLATED_AFTER_ROOT = "isolated; the first one after the root's guards"
IN_PLACE_METHOD = "in place: rebuilt on a copy of the tree"

COST_METHOD = dict(
    leaf=(
        "TENSOR_MATCH and DIMENSION guards of a passing check: in place, each rebuilt as dynamo "
        "builds it on the walk's copy of the tree, timed against the copy without them; other "
        "kinds (and a failing check's leaves) "
        f"isolated: each leaf guard the check ran, called alone from Python on its guarded value, "
        f"{BATCH} calls per sample after an untimed one, minus the Python → C++ call path: for "
        f"{', '.join(sorted(SELF_BASELINED))} the same loop on an object the guard rejects at its "
        "first test, for other kinds the loop over a do-nothing TYPE_MATCH leaf timed near it; "
        "the first leaf of each kind below the root is timed right after a root-only copy of "
        "the entry's check, as it runs in a real check (its code no longer in the CPU's caches); "
        "median of per-round differences over the quieter half of the rounds (a shared "
        "machine)"
    ),
    relational=(
        "by difference: the relational guard re-installed over the same values on a synthetic "
        "tree, timed with and without it; 'not separable' where it cannot be (partly run, other "
        "relational kinds)"
    ),
    walk=(
        "modeled: a copy of the managers the check visited (same nesting, same kinds of "
        "accessor, same frame locals), each with as many trivial one-compare leaves as the check "
        "ran there, three at most (the tree's own cost of calling them), built on a root-only "
        "copy of the entry and timed against it (an empty root where the root has epilogue "
        "guards); the part names any manager reached another way"
    ),
    whole=(
        f"the entry's whole root check on the same locals, {BATCH} calls per sample, timed right "
        "after its parts, minus an empty root's check, median over the same rounds; shown "
        "beside guardprof run's replayed figure "
        "(cache order, timer overhead subtracted)"
    ),
)


@dataclass
class CostResult:
    """What the costing measured; the report's trees are built from it, never annotated."""

    checks: dict[tuple[int, str], CheckCost]  # (invocation, compile id) → cost
    loop: dict[types.CodeType, LoopCost]
    method: CostMethod
    notes: list[str]
    # From each entry's first passing check: id(LeafNode) → (µs or None, status) ...
    leaf_costs: dict[int, tuple[float | None, str]] = field(default_factory=dict)
    # ... and id(RelationalGuardInfo) → (µs or None, method).
    relational_costs: dict[int, tuple[float | None, str]] = field(default_factory=dict)


# --- costing --------------------------------------------------------------------------------


def cost_checks(
    capture: Capture,
    replayed: Replay,
    trees: dict[types.CodeType, list[LiveTree]],
    n_calls: int,
    progress: Progress = SILENT,
) -> CostResult:
    """Cost every check of the captured iteration, guard by guard."""
    notes: list[str] = []
    by_id = {code: {t.handle.compile_id: t for t in lives} for code, lives in trees.items()}
    checks: list[Check] = []
    for i, (inv, rep) in enumerate(zip(capture.invocations, replayed.invocations, strict=True)):
        for step in rep.steps:
            live = by_id.get(inv.code, {}).get(step.compile_id)
            if live is not None:
                checks.append(Check(i, inv.call_index, inv.code, live, inv.f_locals,
                                     step.passed, step.seconds))
    progress.update(f"simulating {len(checks)} guard checks guard by guard")
    for check in checks:
        simulate(check)

    empty_root = guard_replicas.empty_root_check()
    timer = GuardTimer(empty_root)
    baseline_owned = guard_replicas.baseline_leaf_guard({})
    timer.keep.append(baseline_owned)
    root_copies: dict[int, Any] = {}
    whole_slots, leaf_slots, relational_slots, replicas = {}, {}, {}, {}
    for n, check in enumerate(checks):
        group = timer.group()
        timer.add_warmup(group, check.live.handle.check_fn(), check.f_locals)
        key = id(check.live)
        if key not in root_copies:
            root_copies[key] = guard_replicas.root_guards_only(check.live.handle.guard_manager)
        replicas[n] = replica_probes(check, timer, group, root_copies[key])
        leaf_slots[n] = leaf_probes(
            check, timer, group, root_copies[key],
            None if baseline_owned is None else baseline_owned[0],
            skip={i for _, indices in replicas[n].in_place.values() for i in indices})
        whole_slots[n] = timer.add_pair(group, (check.live.handle.check_fn(), check.f_locals),
                                        (empty_root, check.f_locals))
        relational_slots[n] = relational_probes(check, timer, group, notes)
    if any(r.walk is None for r in replicas.values()):
        notes.append("the tree walk could not be measured on this torch (no synthetic tree)")
    if any(copy is None for copy in root_copies.values()):
        notes.append("some entries' first isolated leaves of each kind were timed hot, not "
                     "after the root's guards, and their tree copies built on a fresh root (no "
                     "root-only copy: epilogue guards, or an older torch)")
    if baseline_owned is None:
        notes.append(f"torch {compiler.torch_version()}: no baseline leaf guard could be "
                     "built; leaf costs include the Python call overhead")
        gauge = (empty_root, {})  # still gauges the load; nothing is subtracted from leaves
    else:
        gauge = (baseline_owned[0], {})
    timings = timer.run(gauge, progress)
    timed = timings.net
    if baseline_owned is None:  # nothing to subtract from leaves: keep them as timed
        timed = {**timings.net, **timings.raw}
    walk_ns = {n: None if r.walk is None else timed[r.walk] for n, r in replicas.items()}

    costs: dict[tuple[int, str], CheckCost] = {}
    leaf_costs: dict[int, tuple[float | None, str]] = {}
    relational_costs: dict[int, tuple[float | None, str]] = {}
    for n, check in enumerate(checks):
        leaf_ns = [0.0 if p is None else timed[p.slot] for p in leaf_slots[n]]
        for slot, indices in replicas[n].in_place.values():
            for i in indices:  # one leaf each on the same kind of value: an equal share
                leaf_ns[i] = timed[slot] / len(indices)
        relational_ns = {index: timed[slot] for index, slot in relational_slots[n].items()}
        if check.passed:
            _leaf_costs(check, leaf_ns, leaf_costs)
            _relational_costs(check, relational_ns, relational_costs)
        costs[(check.invocation, check.live.handle.compile_id)] = CheckCost(
            compile_id=check.live.handle.compile_id,
            passed=check.passed,
            call_index=check.call_index,
            whole_replayed_us=None if check.replayed_s is None else check.replayed_s * 1e6,
            whole_isolated_us=timed[whole_slots[n]] / 1e3,
            parts=_parts(check, leaf_ns, _leaf_methods(leaf_slots[n], replicas[n]),
                         relational_ns, walk_ns[n], replicas[n].how),
            managers_visited=check.managers_visited,
            failed_at=check.failed_at,
            mismatch=check.mismatch,
        )
    method = CostMethod(
        leaf=COST_METHOD["leaf"], relational=COST_METHOD["relational"],
        walk=COST_METHOD["walk"], whole=COST_METHOD["whole"], tolerance=TOLERANCE,
        leaf_baseline_ns=float(np.median(list(timings.gauge.values()))) if timings.gauge else 0.0,
        root_baseline_ns=root_call_ns(empty_root),
        walk_ns_per_manager=_per_manager(checks, walk_ns), rounds=timer.rounds, batch=BATCH,
    )
    mismatches = sum(1 for c in checks if c.mismatch)
    if mismatches:
        notes.append(f"{mismatches} of {len(checks)} checks: the guard-by-guard simulation "
                     "disagrees with the real check (see each check's note)")
    loop = {code: _loop_cost(code, checks, costs, n_calls) for code in trees}
    return CostResult(costs, loop, method, notes, leaf_costs, relational_costs)


def _leaf_costs(check: Check, leaf_ns: list[float],
                out: dict[int, tuple[float | None, str]]) -> None:
    """Per-node costs in the tree come from the first passing check that timed the leaf."""
    def timed(leaf: LiveLeaf) -> bool:
        return out.get(id(leaf.node), (None, ""))[1] == TIMED

    for (leaf, _), ns in zip(check.ran, leaf_ns, strict=True):
        if not timed(leaf):
            out[id(leaf.node)] = (ns / 1e3, TIMED)
    for leaf in check.no_value:
        if not timed(leaf):
            out[id(leaf.node)] = (None, NO_VALUE)
    for leaf in check.errors:
        if not timed(leaf):
            out[id(leaf.node)] = (None, ERROR)


def _relational_costs(check: Check, relational_ns: dict[int, float],
                      out: dict[int, tuple[float | None, str]]) -> None:
    for index, info in enumerate(check.live.relational):
        if out.get(id(info), (None, ""))[0] is not None:
            continue
        if index in relational_ns:
            out[id(info)] = (relational_ns[index] / 1e3, "by difference (pass check)")
        else:
            out[id(info)] = (None, "not separable")


def _leaf_methods(probes: list, replicas: Replicas) -> list[str]:
    in_place = {i for _, indices in replicas.in_place.values() for i in indices}
    return [IN_PLACE_METHOD if i in in_place
            else ISOLATED_AFTER_ROOT if probe is not None and probe.after_root else ISOLATED
            for i, probe in enumerate(probes)]


def _per_manager(checks: list[Check], walk_ns: dict[int, float | None]) -> float | None:
    """The walk cost per manager of the check that visited most managers (for the method line)."""
    measured = [(c.managers_visited, walk_ns[n]) for n, c in enumerate(checks)
                if walk_ns[n] is not None and c.managers_visited]
    if not measured:
        return None
    visited, ns = max(measured, key=lambda m: m[0])
    return ns / visited


def _parts(
    check: Check,
    leaf_ns: list[float],
    methods: list[str],
    relational_ns: dict[int, float],
    walk_ns: float | None,
    walk_how: str | None,
) -> list[KindCost]:
    by_kind: dict[str, list] = defaultdict(lambda: [0, 0, 0.0, ISOLATED])
    for (leaf, _), ns, method in zip(check.ran, leaf_ns, methods, strict=True):
        slot = by_kind[leaf.node.kind]
        slot[0] += 1
        slot[1] += max(1, len(leaf.node.code_parts))
        slot[2] += ns / 1e3
        if method != ISOLATED:
            slot[3] = method
    parts = [KindCost(kind, n, p, us, method) for kind, (n, p, us, method) in by_kind.items()]
    for index, info in enumerate(check.live.relational):
        reached = len(check.relational_values.get(index, []))
        label = f"relational, run on {reached} of {len(info.sources)} sources"
        if not reached:
            label += ", reset after the failure"
        ns = relational_ns.get(index)
        if ns is None:
            parts.append(KindCost(info.kind, 1, 1, None, f"not separable ({label})"))
        else:
            parts.append(KindCost(info.kind, 1, 1, ns / 1e3, f"by difference ({label})"))
    if check.no_value:
        parts.append(KindCost("(guards with no reachable value)", len(check.no_value),
                              sum(max(1, len(leaf.node.code_parts)) for leaf in check.no_value),
                              None, "not separable: the source could not be evaluated"))
    if check.tag_skipped:
        parts.append(KindCost(TAG_SKIPPED, len(check.tag_skipped),
                              sum(max(1, len(leaf.node.code_parts)) for leaf in check.tag_skipped),
                              0.0, TAG_SKIP_METHOD))
    parts.sort(key=lambda p: -(p.cost_us if p.cost_us is not None else -1.0))
    if walk_ns is not None:
        parts.append(KindCost(WALK, 0, 0, walk_ns / 1e3,
                              f"modeled: {walk_how} of {check.managers_visited} manager(s), "
                              f"{len(check.ran)} leaf call(s)"))
    return parts


def _loop_cost(
    code: types.CodeType,
    checks: list[Check],
    costs: dict[tuple[int, str], CheckCost],
    n_calls: int,
) -> LoopCost:
    mine = [costs[(c.invocation, c.live.handle.compile_id)] for c in checks if c.code is code]
    totals: dict[str, float | None] = {}
    counts: dict[str, int] = defaultdict(int)
    for cost in mine:
        for part in cost.parts:
            counts[part.kind] += 1
            if part.cost_us is None:
                totals.setdefault(part.kind, None)
            elif totals.get(part.kind, 0.0) is not None:
                totals[part.kind] = totals.get(part.kind, 0.0) + part.cost_us
    calls = max(1, n_calls)
    kinds = [
        LoopKindCost(kind, None if total is None else total / calls, counts[kind])
        for kind, total in totals.items()
    ]
    kinds.sort(key=lambda k: -(k.us_per_call if k.us_per_call is not None else -1.0))
    replayed = [c.whole_replayed_us for c in mine]
    return LoopCost(
        calls=calls,
        checks=len(mine),
        whole_replayed_us_per_call=(
            None if any(r is None for r in replayed) else sum(replayed) / calls
        ),
        whole_isolated_us_per_call=sum(c.whole_isolated_us for c in mine) / calls,
        kinds=kinds,
    )
