"""What is timed for each part of a check: leaf probes, in-place replicas, relational probes and
the baselines subtracted from them (the method is `guard_cost.COST_METHOD`)."""


import dataclasses
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from guardprof.dynamo import compiler, guard_walk
from guardprof.dynamo.guard_tree import LiveLeaf
from guardprof.measure import guard_replicas
from guardprof.measure.guard_simulation import NO_TENSOR_ALIASING, SELF_BASELINED, Check
from guardprof.measure.guard_timer import BATCH, MIN_ROUNDS, GuardTimer


def root_call_ns(empty_root: Any) -> float:
    """What calling an empty root check from Python costs (subtracted from every whole check)."""
    clock = time.perf_counter_ns
    arg: dict = {}
    samples = []
    for _ in range(MIN_ROUNDS):
        t0 = clock()
        for _ in range(BATCH):
            empty_root(arg)
        samples.append((clock() - t0) / BATCH)
    return float(np.median(samples))


def relational_probes(
    check: Check, timer: GuardTimer, group: int, notes: list[str]
) -> dict[int, tuple[int, int]]:
    """Synthetic with/without trees for each NO_TENSOR_ALIASING guard of the entry.

    A passing check runs the guard over all its values; a failing one stops early but still
    resets it, so it is timed on a synthetic tree that fails at its first manager.
    """
    probes = {}
    for index, info in enumerate(check.live.relational):
        if info.kind != NO_TENSOR_ALIASING:
            continue
        values = check.relational_values.get(index, [])
        if check.passed:
            if len(values) != len(info.sources):
                continue
        else:
            if values:  # partly run before the failure: not separable
                continue
            values = [object() for _ in info.sources]
            timer.keep.append(values)
        fail = not check.passed
        with_guard = guard_replicas.synthetic_frame_root(values, True, fail_first=fail)
        without = guard_replicas.synthetic_frame_root(values, False, fail_first=fail)
        if with_guard is None or without is None:
            note = f"torch {compiler.torch_version()}: {info.kind} could not be re-installed"
            if note not in notes:
                notes.append(note)
            continue
        probes[index] = timer.add_pair(group, with_guard, without)
    return probes


@dataclass
class LeafProbe:
    slot: tuple[int, int]
    after_root: bool  # timed right after the root's own guards


class _Rejected:
    """An object every SELF_BASELINED kind rejects at its first (type or identity) test."""


REJECTED = _Rejected()


def self_baseline(leaf: LiveLeaf) -> bool:
    """Whether the leaf can be its own baseline: called on `REJECTED` it takes the same
    Python → C++ path and returns False at its first test, doing none of its work."""
    if leaf.node.kind not in SELF_BASELINED:
        return False
    try:
        return leaf.raw.guard(REJECTED) is False
    except Exception:
        return False


def leaf_probes(
    check: Check, timer: GuardTimer, group: int, root_guards: Any, baseline: Any, skip: set[int]
) -> list[LeafProbe | None]:
    """A timing slot per leaf the check ran.

    A leaf is timed hot, alone, against its own call on an object it rejects at once where its
    kind allows (the Python → C++ path differs by kind: EQUALS_MATCH's costs ≈20 ns more than
    TYPE_MATCH's), else against the do-nothing leaf near it. The first leaf of each kind below
    the root is timed instead right after the root's own guards (a root-only copy of the entry):
    in a real check it runs straight after them, when its code is no longer in the CPU's caches,
    and costs up to twice its hot figure (TENSOR_MATCH ≈ 90 vs 40 ns here); the leaves after it
    find the code warm. Leaves in `skip` are measured in place instead (None).
    """
    first_of_kind: set[int] = set()
    seen: set[str] = set()
    for i, (leaf, _) in enumerate(check.ran):
        if leaf.manager is not check.live.tree and leaf.node.kind not in seen:
            seen.add(leaf.node.kind)
            first_of_kind.add(i)
    probes: list[LeafProbe | None] = []
    root_check = None if root_guards is None else root_guards.check
    for i, (leaf, value) in enumerate(check.ran):
        if i in skip:
            probes.append(None)
            continue
        guard = leaf.raw.guard
        own = self_baseline(leaf)
        reference = (guard, REJECTED) if own else (baseline, {})
        if i in first_of_kind and root_check is not None and baseline is not None:
            slot = timer.add_pair(group, (_after_root(root_check, check.f_locals, guard), value),
                                  (_after_root(root_check, check.f_locals, reference[0]),
                                   reference[1]))
            probes.append(LeafProbe(slot, after_root=True))
        elif own:
            probes.append(LeafProbe(timer.add_pair(group, (guard, value), reference),
                                     after_root=False))
        else:
            probes.append(LeafProbe(timer.add_leaf(group, guard, value), after_root=False))
    return probes


def _after_root(root_guards: Any, f_locals: dict, leaf: Any) -> Any:
    def call(value: Any) -> None:
        root_guards(f_locals)
        leaf(value)

    return call


@dataclass
class Replicas:
    """Slots of the check's copies: its walk, and leaf kinds rebuilt in place."""

    walk: tuple[int, int] | None
    how: str | None  # how the walk was modeled, for its part's method
    in_place: dict[str, tuple[tuple[int, int], list[int]]]  # kind → (slot, indices in ran)


def replica_probes(check: Check, timer: GuardTimer, group: int, root_only: Any) -> Replicas:
    """The check's walk without its leaves' work, and the kinds in `IN_PLACE`, measured on
    copies of the managers it visited (same nesting, same kinds of accessor, same values).

    Walk: each copied manager carries as many trivial leaves as the check ran there; timed
    against the bare root. Where the entry's root can be copied with its own guards
    (`root_only`, a `root_guards_only` copy kept without children) the copy is built on a fresh
    one of those, so what follows the root runs as it does in the real check; else on a fresh
    root with trivial leaves. Where the copy cannot be built, one flat frame-locals manager per
    visited value.

    In place (passing checks): the same copy with each leaf of an `IN_PLACE` kind rebuilt as
    dynamo builds it (from the value it accepted) instead of one trivial leaf, timed against the
    walk copy: the kind's cost inside the tree, not through a Python call.
    """
    ran_on: dict[int, int] = defaultdict(int)
    for leaf, _ in check.ran:
        ran_on[id(leaf.manager)] += 1
    root_leaves = ran_on[id(check.live.tree)]
    parent_of = {id(child): node for node in check.live.tree.walk() for child in node.children}
    position = {id(m): i for i, (m, _) in enumerate(check.visited)}
    visited, complete = [], True
    for m, value in check.visited:
        parent = parent_of.get(id(m))
        at_root = parent is None or parent is check.live.tree
        complete = complete and (at_root or id(parent) in position)
        visited.append(guard_replicas.WalkManager(
            parent=None if at_root else position.get(id(parent)), accessor=m.accessor,
            manager_type=m.manager_type, source=m.source, value=value,
            trivial_leaves=ran_on[id(m)]))
    scope = guard_walk.guard_eval_scope(check.live.handle.guard_manager, check.f_locals)
    f_globals = None if scope is None else scope[1].get("G")
    handle = check.live.handle

    def copy(managers: list, extra: dict | None = None) -> tuple | None:
        base = None if root_only is None else guard_replicas.root_guards_only(handle.guard_manager)
        if root_only is not None and base is None:
            return None
        return guard_replicas.replica_walk_root(managers, check.f_locals, f_globals, root_leaves,
                                              base_root=base, extra_leaves=extra)

    walk = copy(visited) if complete else None
    if walk is None:
        probe = guard_replicas.synthetic_frame_root(
            [value for _, value in check.visited], no_tensor_aliasing=False,
            trivial_leaves=[ran_on[id(m)] for m, _ in check.visited],
            root_trivial_leaves=root_leaves,
        )
        if probe is None:
            return Replicas(None, None, {})
        slot = timer.add_pair(group, probe, (timer.empty_root, probe[1]))
        return Replicas(slot, "flat frame-locals copy", {})
    fn, f_locals, approximated = walk
    how = "copy, same accessors" + (f" ({approximated} via a frame-locals key)"
                                     if approximated else "")
    reference = (timer.empty_root if root_only is None else root_only.check, f_locals)
    walk_slot = timer.add_pair(group, (fn, f_locals), reference)
    in_place = {}
    for kind, like in IN_PLACE.items() if check.passed else ():
        indices = [i for i, (leaf, _) in enumerate(check.ran) if leaf.node.kind == kind]
        extra = _rebuilt_leaves(check, indices, like, position)
        if extra:
            managers = [dataclasses.replace(v, trivial_leaves=v.trivial_leaves - (i in extra))
                        for i, v in enumerate(visited)]
            rebuilt = copy(managers, extra)
            if rebuilt is not None and rebuilt[2] == approximated:
                in_place[kind] = (
                    timer.add_pair(group, (rebuilt[0], rebuilt[1]), (fn, f_locals)), indices)
    return Replicas(walk_slot, how, in_place)


def _rebuilt_leaves(check: Check, indices: list[int], like: Any,
                    position: dict[int, int]) -> dict[int, Any]:
    """Visited-manager position → what adds the rebuilt leaf there, for every leaf in `indices`;
    empty unless all of them can be rebuilt, one per manager."""
    extra: dict[int, Any] = {}
    for i in indices:
        leaf, value = check.ran[i]
        at = position.get(id(leaf.manager))
        add = like(leaf, value)
        if at is None or add is None or at in extra:
            return {}
        extra[at] = add
    return extra


# kinds rebuilt in place on the copy: (leaf, value) → adds the same check to a manager, or None
IN_PLACE = {
    "TENSOR_MATCH": lambda leaf, value: guard_replicas.tensor_match_like(value),
    "DIMENSION_DYNAMIC_MARKING_GUARD":
        lambda leaf, value: guard_replicas.dimension_marking_like(leaf.node.code_parts),
}
