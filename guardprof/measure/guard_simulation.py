"""A check simulated guard by guard, in dynamo's order, until its first failing guard.

What ran, on which values, where it failed: the list of leaves that the costing then times, so
a failing check is charged only for the guards it really ran.
"""


import types
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from guardprof.dynamo.guard_tree import MISSING, LiveLeaf, LiveTree, ValueResolver
from guardprof.model.guards_report import (
    ManagerNode,
)

NO_TENSOR_ALIASING = "NO_TENSOR_ALIASING"
# kinds whose check starts with a type or identity test: their own call on a rejected object
# is their baseline (same Python → C++ path, no work)
SELF_BASELINED = frozenset({"TENSOR_MATCH", "TYPE_MATCH", "ID_MATCH", "EQUALS_MATCH"})


@dataclass
class Check:
    """One check of one entry during the captured iteration, simulated guard by guard."""

    invocation: int
    call_index: int
    code: types.CodeType  # the frame dynamo compiled
    live: LiveTree
    f_locals: dict
    passed: bool  # what the real C++ check said
    replayed_s: float | None
    ran: list[tuple[LiveLeaf, Any]] = field(default_factory=list)
    no_value: list[LiveLeaf] = field(default_factory=list)
    errors: list[LiveLeaf] = field(default_factory=list)
    tag_skipped: list[LiveLeaf] = field(default_factory=list)  # the dict-tag fast path's
    relational_values: dict[int, list] = field(default_factory=dict)
    visited: list[tuple[ManagerNode, Any]] = field(default_factory=list)  # in visit order
    failed_at: str | None = None
    mismatch: str | None = None

    @property
    def managers_visited(self) -> int:
        return len(self.visited)


def simulate(check: Check) -> None:
    """Run the check's guards in dynamo's order until the first failure, noting what ran."""
    resolver = ValueResolver(check.live, check.f_locals)
    seen_tensors: dict[int, set[int]] = defaultdict(set)
    live = check.live
    for step in live.steps:
        manager = step.manager
        if id(manager) in live.tag_skipped:  # below a tag-safe root: the real check skips it
            if step.leaf is not None:
                check.tag_skipped.append(step.leaf)
            continue
        if step.leaf is not None and id(manager) in live.tag_roots:
            check.tag_skipped.append(step.leaf)
            continue
        value = resolver.value(manager)
        if step.leaf is None:
            check.visited.append((manager, object() if value is MISSING else value))
            if value is MISSING and not check.passed:
                check.failed_at = f"{manager.source} cannot be reached " \
                                  f"({resolver.errors.get(manager.source)})"
                break
            continue
        leaf = step.leaf
        if value is MISSING:
            check.no_value.append(leaf)
            continue
        if leaf.raw.relational:
            index = leaf.node.relational_index
            check.relational_values.setdefault(index, []).append(value)
            if leaf.node.kind == NO_TENSOR_ALIASING:
                if id(value) in seen_tensors[index]:
                    check.failed_at = f"{leaf.node.kind}: {manager.source} aliases another input"
                    break
                seen_tensors[index].add(id(value))
            continue
        try:
            ok = bool(leaf.raw.guard(value))
        except Exception as exc:
            check.errors.append(leaf)
            if not check.passed:
                check.failed_at = f"{leaf.node.kind} on {manager.source} raised {exc!r}"
                break
            continue
        check.ran.append((leaf, value))
        if not ok:
            check.failed_at = f"{leaf.node.kind}: {'; '.join(leaf.node.code_parts)[:200]}"
            break
    simulated_pass = check.failed_at is None
    if simulated_pass != check.passed:
        check.mismatch = (
            f"the real check {'passed' if check.passed else 'failed'} but the guard-by-guard "
            f"simulation {'passed' if simulated_pass else 'failed'}"
            + (f" ({len(check.no_value)} guards had no reachable value)" if check.no_value else "")
        )
