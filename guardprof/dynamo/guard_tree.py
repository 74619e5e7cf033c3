"""A cache entry's guard tree as plain data, plus the live handles needed to check its guards.

`build_entry_tree` turns torch's live tree (managers by source, leaf guards) into `ManagerNode`
/ `LeafNode` dataclasses that print like `TORCH_LOGS=guards`, and keeps beside them, in a
`LiveTree`, the live leaf objects and the order dynamo checks them in: a manager's leaves first,
then its child managers, depth first, then the root's epilogue guards. Guarded values are
reached by evaluating each manager's source in the scope dynamo uses for recompile reasons.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from guardprof.dynamo import guard_walk
from guardprof.dynamo.cache import EntryHandle
from guardprof.dynamo.guard_walk import RawLeaf, RawManager
from guardprof.model.guards_report import (
    NOT_RUN,
    RELATIONAL,
    EntryGuards,
    LeafNode,
    ManagerNode,
    RelationalGuardInfo,
    code_part_counts,
)


@dataclass
class LiveLeaf:
    node: LeafNode
    raw: RawLeaf
    manager: ManagerNode  # the manager whose value the leaf checks (root for epilogue guards)


@dataclass
class WalkStep:
    """One step of a check: enter a manager (fetch its value) or run one leaf guard."""

    manager: ManagerNode
    leaf: LiveLeaf | None = None  # None: entering `manager`


@dataclass
class LiveTree:
    """An entry's tree as data, with what costing and reason-finding need from the live one."""

    handle: EntryHandle
    tree: ManagerNode
    epilogue: list[LeafNode]
    steps: list[WalkStep]
    relational: list[RelationalGuardInfo]
    relational_managers: list[list[ManagerNode]]  # per relational guard, the managers holding it
    notes: list[str] = field(default_factory=list)
    # The dict-tag fast path (`RawManager.tag_safe_root`): ids of the tag-safe roots (their value
    # is fetched and its tags compared, their leaves skipped) and of every manager below them
    # (not visited at all), on a repeated call with unchanged module dicts.
    tag_roots: set[int] = field(default_factory=set)
    tag_skipped: set[int] = field(default_factory=set)

    @property
    def leaves(self) -> list[LiveLeaf]:
        return [s.leaf for s in self.steps if s.leaf is not None]

    @property
    def managers(self) -> list[ManagerNode]:
        return list(self.tree.walk())

    def code_parts_by_kind(self) -> dict[str, int]:
        return code_part_counts([leaf.node for leaf in self.leaves])

    def uncosted_entry(self, position: int, reasons: list[str]) -> EntryGuards:
        """The entry's guards as data, without costs: what a program's report keeps of each
        entry, so that `guards --load` prints its tree and diffs two entries."""
        return EntryGuards(
            compile_id=self.handle.compile_id, position=position,
            code_parts_by_kind=self.code_parts_by_kind(),
            torch_code_parts=sum(
                guard_walk.guard_kind_counts(self.handle.guard_tree()).values()),
            leaf_guards=len(self.leaves), managers=len(self.managers), serves_calls=[],
            tree=self.tree, epilogue=list(self.epilogue), relational=list(self.relational),
            torch_reasons=list(reasons))


def split_code_part(verbose: str) -> tuple[str, str]:
    """'L['x'] == 3   # scale * x  # file.py:3 in f' → ('L['x'] == 3', 'scale * x  # file.py:3 …').

    The same split torch uses for its code parts (`populate_code_parts_for_debugging`).
    """
    code, sep, comment = verbose.partition("#")
    return code.rstrip(), comment.strip(" #") if sep else ""


def _leaf_node(raw: RawLeaf, repeat: bool) -> LeafNode:
    parts = [split_code_part(p) for p in raw.verbose_code_parts]
    origin = next((comment for _, comment in parts if comment), "")
    return LeafNode(
        kind=raw.kind,
        code_parts=[code for code, _ in parts],
        origin=origin,
        relational=raw.relational,
        repeat=repeat,
        status=RELATIONAL if raw.relational else NOT_RUN,
        torch_kind=raw.torch_kind,
    )


def build_entry_tree(handle: EntryHandle) -> LiveTree:
    raw_tree = guard_walk.walk_guard_tree(handle.guard_manager)
    steps: list[WalkStep] = []
    relational: list[RelationalGuardInfo] = []
    relational_managers: list[list[ManagerNode]] = []
    relational_index: dict[int, int] = {}

    tag_roots: set[int] = set()
    tag_skipped: set[int] = set()

    def convert(raw: RawManager, under_tag_root: bool = False) -> ManagerNode:
        node = ManagerNode(raw.source, raw.manager_type, raw.accessor, raw.type_name)
        if under_tag_root:
            tag_skipped.add(id(node))
        elif raw.tag_safe_root:
            tag_roots.add(id(node))
        if raw.manager_type != "RootGuardManager":
            steps.append(WalkStep(node))
        for raw_leaf in raw.leaves:
            leaf = _leaf_node(raw_leaf, repeat=False)
            if raw_leaf.relational:
                key = id(raw_leaf.guard)
                if key in relational_index:
                    # torch prints only the kind of a repeat: keep no code either
                    leaf = dataclasses.replace(leaf, repeat=True, code_parts=[], origin="",
                                               relational_index=relational_index[key])
                else:
                    relational_index[key] = len(relational)
                    relational.append(
                        RelationalGuardInfo(raw_leaf.kind, [], "; ".join(leaf.code_parts),
                                            None, "not costed")
                    )
                    relational_managers.append([])
                    leaf = dataclasses.replace(leaf, relational_index=relational_index[key])
                relational[leaf.relational_index].sources.append(node.source)
                relational_managers[leaf.relational_index].append(node)
            node.leaves.append(leaf)  # the node's own lists, filled while it is built
            steps.append(WalkStep(node, LiveLeaf(leaf, raw_leaf, node)))
        below = under_tag_root or raw.tag_safe_root
        node.children.extend(convert(child, below) for child in raw.children)
        return node

    tree = convert(raw_tree.root)
    epilogue = []
    for raw_leaf in raw_tree.epilogue:
        leaf = _leaf_node(raw_leaf, repeat=False)
        epilogue.append(leaf)
        steps.append(WalkStep(tree, LiveLeaf(leaf, raw_leaf, tree)))
    return LiveTree(handle, tree, epilogue, steps, relational, relational_managers,
                    list(raw_tree.notes), tag_roots, tag_skipped)


# --- guarded values --------------------------------------------------------------------------

_MISSING = object()
MISSING = _MISSING
_compiled_sources: dict[str, Any] = {}


class ValueResolver:
    """The value each manager guards, for one call's frame locals, by evaluating its source."""

    def __init__(self, live: LiveTree, f_locals: dict) -> None:
        self.f_locals = f_locals
        self._scope = guard_walk.guard_eval_scope(live.handle.guard_manager, f_locals)
        self._values: dict[str, Any] = {}
        self.errors: dict[str, str] = {}

    @property
    def available(self) -> bool:
        return self._scope is not None

    def value(self, manager: ManagerNode) -> Any:
        """The guarded value, or `MISSING` (reason in `errors[source]`)."""
        source = manager.source
        if manager.manager_type == "RootGuardManager":
            return self.f_locals
        if source in self._values:
            return self._values[source]
        if self._scope is None:
            self.errors[source] = "no eval scope on this torch"
            value = _MISSING
        else:
            try:
                code = _compiled_sources.get(source)
                if code is None:
                    code = _compiled_sources[source] = compile(source, "<guard source>", "eval")
                value = eval(code, self._scope[0], self._scope[1])
            except Exception as exc:
                self.errors[source] = f"{type(exc).__name__}: {exc}"
                value = _MISSING
        self._values[source] = value
        return value

    def evaluate(self, expression: str) -> Any:
        """`expression` evaluated in dynamo's guard scope, or MISSING."""
        if self._scope is None:
            return MISSING
        try:
            return eval(expression, self._scope[0], self._scope[1])
        except Exception:
            return MISSING

    def evaluates_false(self, code_part: str) -> bool:
        """Whether a guard code part evaluates to False in dynamo's guard scope (as torch's own
        recompile reasons evaluate them); False when it cannot be evaluated."""
        if self._scope is None:
            return False
        try:
            return eval(code_part, self._scope[0], self._scope[1]) is False
        except Exception:
            return False

