"""The guard-cost apparatus: replica guard trees, synthetic roots and per-kind baselines.

Measurement code that builds torch guard managers through dynamo's private API (the one place
outside `guardprof.dynamo` that does): a replica walks the same accessors as the real tree, so a
leaf's cost can be timed in place with the cost of reaching it subtracted.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch


def guard_manager_noop() -> Callable[[], Any]:
    """A guard-manager method that does no work (`fail_count`): the Python → pybind call path
    a replayed check pays and dynamo's own C++ lookup does not (≈130 ns here, vs ≈170 ns for
    an empty root's `check`, whose extra ≈40 ns is the root's own per-check work)."""
    from torch._C._dynamo.guards import RootGuardManager

    return RootGuardManager().fail_count  # the bound method keeps its manager alive


def empty_root_check() -> Callable[[Any], Any]:
    """The check of a RootGuardManager with no guards: the bare cost of calling a root check."""
    from torch._C._dynamo.guards import RootGuardManager

    return RootGuardManager().check


def _add_type_match(manager: Any, value: Any) -> None:
    """A TYPE_MATCH leaf accepting `value`: one pointer compare, the cheapest real leaf."""
    try:
        manager.add_type_match_guard(id(type(value)), ["guardprof baseline"], None)
    except TypeError:  # releases before user stacks took two arguments
        manager.add_type_match_guard(id(type(value)), ["guardprof baseline"])


@dataclass
class WalkManager:
    """One manager a check visited, for `replica_walk_root`: how its parent reaches it."""

    parent: int | None  # index into the list of visited managers; None: the root
    accessor: str | None  # as torch prints it, or guardprof's "key/value of pair N"
    manager_type: str
    source: str
    value: Any
    trivial_leaves: int


_FRAME_LOCALS = re.compile(r"FrameLocalsGuardAccessor\(key=(.+), framelocals_idx=(\d+)\)$")
_KEYED = re.compile(r"(DictGetItem|TupleGetItem|ListGetItem|GetItem)GuardAccessor\((.+)\)$")
_GET_ATTR = re.compile(r"GetAttrGuardAccessor\(([A-Za-z_][A-Za-z0-9_]*)\)$")
_PAIR = re.compile(r"(key|value) of pair (\d+)$")
_KEYED_FACTORY = {"DictGetItem": "dict_getitem_manager", "TupleGetItem": "tuple_getitem_manager",
                  "ListGetItem": "list_getitem_manager", "GetItem": "getitem_manager"}
_PLAIN_FACTORY = {  # accessors that take no key: the factory that builds the same kind
    "GetGenericDictGuardAccessor": "get_generic_dict_manager",
    "TypeGuardAccessor": "type_manager",
    "CodeGuardAccessor": "code_manager",
    "ClosureGuardAccessor": "closure_manager",
    "FuncDefaultsGuardAccessor": "func_defaults_manager",
    "TypeDictGuardAccessor": "type_dict_manager",
    "TypeMROGuardAccessor": "type_mro_manager",
}


def replica_walk_root(
    visited: list[WalkManager],
    f_locals: dict,
    f_globals: dict | None,
    root_trivial_leaves: int,
    base_root: Any = None,
    extra_leaves: dict[int, Callable[[Any, Any], None]] | None = None,
) -> tuple[Callable[[Any], Any], dict, int] | None:
    """A fresh root with a copy of the visited managers: the same nesting, reached through the
    same kinds of accessor (frame locals, globals, dict/tuple/list item, attribute, `__dict__`,
    type, code, a dict's key/value pairs, …) over the same frame locals, with trivial leaves.

    Timing it against an empty root measures what the check's walk costs: fetching each value
    and calling each leaf, without the leaves' own work. A manager reached through an accessor
    of another kind hangs off the root on a frame-locals key of its own instead (returned: how
    many). `base_root` (a `root_guards_only` copy) builds on the entry's own root guards
    instead of trivial ones; `extra_leaves[i](manager, value)` adds leaves to manager i after its
    trivial ones. (check, frame locals to check it on, managers approximated), or None.
    """
    from torch._C._dynamo import guards as cguards
    from torch._dynamo.guards import GuardManagerType

    root = cguards.RootGuardManager() if base_root is None else base_root
    extended = dict(f_locals)
    built: list[Any] = []
    approximated = 0
    try:
        if base_root is None:
            _add_trivial_leaves(root, extended, root_trivial_leaves)  # the dict it is checked on
        for i, m in enumerate(visited):
            parent = root if m.parent is None else built[m.parent]
            enum = (GuardManagerType.DICT_GUARD_MANAGER if m.manager_type == "DictGuardManager"
                    else GuardManagerType.GUARD_MANAGER)
            args = (m.source, m.value, enum)
            try:
                manager = _replica_child(parent, m, args, f_globals)
            except Exception:  # a factory that takes other arguments on this torch
                manager = None
            if manager is None:
                approximated += 1
                name = f"__guardprof_walk_{i}"
                extended[name] = m.value
                manager = root.framelocals_manager(
                    key=(name, len(extended) - 1), source=f"L[{name!r}]", example_value=m.value,
                    guard_manager_enum=enum)
            _add_trivial_leaves(manager, m.value, m.trivial_leaves)
            if extra_leaves and i in extra_leaves:
                extra_leaves[i](manager, m.value)
            built.append(manager)
    except Exception:
        return None
    if not root.check(extended):
        return None
    return root.check, extended, approximated


def _replica_child(parent: Any, m: WalkManager, args: tuple, f_globals: dict | None) -> Any:
    """`parent`'s child reached the way `m.accessor` says, or None for other accessors."""
    accessor = m.accessor or ""
    if match := _FRAME_LOCALS.match(accessor):
        key = _literal(match.group(1))
        return None if key is None else parent.framelocals_manager(
            (key, int(match.group(2))), *args)
    if match := _KEYED.match(accessor):
        key = _literal(match.group(2))
        factory = getattr(parent, _KEYED_FACTORY[match.group(1)], None)
        return None if key is None or factory is None else factory(key, *args)
    if match := _GET_ATTR.match(accessor):
        return parent.getattr_manager(match.group(1), *args)
    if accessor in _PLAIN_FACTORY:
        factory = getattr(parent, _PLAIN_FACTORY[accessor], None)
        return None if factory is None else factory(*args)
    if accessor == "GlobalsGuardAccessor" and f_globals is not None:
        return parent.globals_dict_manager(f_globals, *args)
    if (match := _PAIR.match(accessor)) and hasattr(parent, "get_key_manager"):
        method = parent.get_key_manager if match.group(1) == "key" else parent.get_value_manager
        return method(int(match.group(2)), *args)
    return None


def _literal(text: str) -> Any:
    """The key an accessor prints (`'x'`, `3`), or None where it is not a plain literal."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None


def _add_trivial_leaves(manager: Any, value: Any, count: int) -> None:
    """Up to `count` passing one-compare leaves on `manager`: TYPE_MATCH, ID_MATCH, NOT_NONE.
    A manager keeps one leaf per kind (torch drops duplicates), so three at most; a dict
    manager refuses most kinds (those are skipped)."""
    adders = [
        lambda: _add_type_match(manager, value),
        lambda: manager.add_id_match_guard(id(value), ["guardprof trivial"], None),
    ]
    if value is not None:
        adders.append(lambda: manager.add_not_none_guard(["guardprof trivial"], None))
    added = 0
    for add in adders:
        if added == count:
            break
        try:
            add()
        except Exception:  # e.g. "DictGuardManager only supports ID_MATCH as a leaf guard"
            continue
        added += 1


def root_guards_only(guard_manager: Any) -> Any:
    """A copy of the entry's root that keeps the root's own leaf guards (global state, lambda
    guards, …) and drops every child manager: what a real check runs before it reaches its
    first input. Its `check` is timed before a leaf; managers can be added to it. None where it
    cannot be made, or where the root has epilogue guards (symbolic-shape lambdas: microseconds
    that would drown the timing)."""
    root = getattr(guard_manager, "root", None)
    if root is None or not hasattr(root, "clone_manager"):
        return None
    if hasattr(root, "get_epilogue_lambda_guards") and root.get_epilogue_lambda_guards():
        return None
    source = root.get_source()
    try:
        copy = root.clone_manager(lambda manager: manager.get_source() == source)
    except Exception:
        return None
    if copy is None or copy.get_child_managers():
        return None
    return copy


_ABSENT_ATTR = re.compile(r"hasattr\(.+, '(\w+)'\) == False$")


def tensor_match_like(value: Any) -> Callable[[Any, Any], None] | None:
    """Adds to a manager a TENSOR_MATCH built from `value` as dynamo builds one (its sizes,
    strides, type and dispatch keys): the same check a passing entry runs on it."""
    if not isinstance(value, torch.Tensor):
        return None

    def add(manager: Any, _value: Any) -> None:
        manager.add_tensor_match_guard(
            value, list(value.size()), list(value.stride()), "guardprof copy",
            ["guardprof copy"], None, type(value), torch._C._dispatch_keys(value))

    return add


def dimension_marking_like(code_parts: list[str]) -> Callable[[Any, Any], None] | None:
    """Adds to a manager a DIMENSION_DYNAMIC_MARKING_GUARD with the same absent attributes, where
    every code part is of the `hasattr(x, 'attr') == False` form (None otherwise)."""
    absent = [m.group(1) for m in map(_ABSENT_ATTR.match, code_parts) if m]
    if not absent or len(absent) != len(code_parts):
        return None

    def add(manager: Any, _value: Any) -> None:
        if hasattr(manager, "add_dimension_marking_guard"):
            manager.add_dimension_marking_guard({}, absent, {}, ["guardprof copy"], None)
        else:  # torch 2.11: one NO_HASATTR guard per absent attribute, as dynamo builds them
            for attr in absent:
                manager.add_no_hasattr_guard(attr, ["guardprof copy"], None)

    return add


def baseline_leaf_guard(value: Any) -> tuple[Callable[[Any], Any], Any] | None:
    """A TYPE_MATCH leaf on a fresh root that accepts `value`: the same Python → C++ call path as
    any leaf guard, with one pointer compare of work. Returns (leaf, owner): the root owns the
    leaf, so keep `owner` alive while calling it. None where it cannot be built."""
    from torch._C._dynamo.guards import RootGuardManager

    root = RootGuardManager()
    try:
        _add_type_match(root, value)
    except Exception:
        return None
    leaves = root.get_leaf_guards()
    return (leaves[0], root) if leaves and callable(leaves[0]) else None


def synthetic_frame_root(
    values: list[Any],
    no_tensor_aliasing: bool,
    fail_first: bool = False,
    trivial_leaves: list[int] | None = None,
    root_trivial_leaves: int = 0,
) -> tuple[Callable[[Any], Any], dict] | None:
    """A fresh root with one frame-locals manager per value, optionally with a
    NO_TENSOR_ALIASING guard over all of them: (check, frame locals to check it on).

    Timing it against an empty root and against itself without the relational guard measures
    the tree walk per manager and the relational guard by difference. `trivial_leaves[i]`
    passing one-compare leaves on manager i (and `root_trivial_leaves` on the root; at most
    three each, see `_add_trivial_leaves`) add the in-tree cost of calling that many leaves, so
    the walk includes the leaf calls a real check makes and isolated leaf timings do not.
    `fail_first` adds a FALSE_MATCH to the first manager, so the check fails there, as a rejected
    entry's does (a failing check still resets every relational guard). None if it cannot be
    built.
    """
    from torch._C._dynamo import guards as cguards
    from torch._dynamo.guards import GuardManagerType

    root = cguards.RootGuardManager()
    f_locals = {f"v{i}": v for i, v in enumerate(values)}
    try:
        managers = [
            root.framelocals_manager(
                key=(name, i),
                source=f"L[{name!r}]",
                example_value=value,
                guard_manager_enum=GuardManagerType.GUARD_MANAGER,
            )
            for i, (name, value) in enumerate(f_locals.items())
        ]
        _add_trivial_leaves(root, f_locals, root_trivial_leaves)
        for manager, value, count in zip(managers, values, trivial_leaves or [], strict=False):
            _add_trivial_leaves(manager, value, count)
        if no_tensor_aliasing:
            names = [f"L[{name!r}]" for name in f_locals]
            cguards.install_no_tensor_aliasing_guard(managers, names, ["guardprof copy"], None)
        if fail_first:
            managers[0].add_false_match_guard(["guardprof fail"], None)
    except Exception:
        return None
    if bool(root.check(f_locals)) == fail_first:
        return None
    return root.check, f_locals
