"""Walking a cache entry's guard-manager tree into plain data (`RawTree`), and checking one leaf.

This is the only reader of torch's guard-manager objects and their printed forms.
"""

from __future__ import annotations

import collections
import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from guardprof.dynamo.compiler import torch_version

_KIND_LINE = re.compile(r"^((?:\| )*)\+- ([A-Z][A-Z0-9_]*): (.*)$", re.M)

# Guard kinds whose name differs by release: one name in guardprof's reports, the release's own
# shown beside it. torch 2.11 checks a tensor's dynamic-dimension markers with its generic
# NO_HASATTR guard, one per attribute; 2.13 has a kind of its own for it.
DIMENSION_MARKING = "DIMENSION_DYNAMIC_MARKING_GUARD"
_MARKING_CODE = re.compile(
    r"^hasattr\(.+, '_dynamo_(?:dynamic|static|weak_dynamic|unbacked)_indices'\) == False$")


def normalized_kind(kind: str, code_parts: list[str]) -> str:
    """guardprof's name for a leaf guard of torch's `kind` with these code parts."""
    if kind == "NO_HASATTR" and code_parts and all(
            _MARKING_CODE.match(part.partition("#")[0].strip()) for part in code_parts):
        return DIMENSION_MARKING
    return kind


def guard_kind_counts(tree: str) -> dict[str, int]:
    """Guards by (normalised) kind, counted as the guard tree prints them (one line per code
    part)."""
    kinds = []
    for depth, kind, code in _KIND_LINE.findall(tree):
        if not depth and kind == "LAMBDA_GUARD":  # printed beside the root: the epilogue
            kinds.append(SYMBOLIC_SHAPES)
        else:
            kinds.append(normalized_kind(kind, [code]))
    return dict(collections.Counter(kinds))


# --- compilation records and recompile reasons ----------------------------------------------


@dataclass
class RawLeaf:
    """One leaf guard as the live tree holds it (`guard` is the live C++ object)."""

    kind: str  # normalised (`normalized_kind`)
    verbose_code_parts: list[str]
    guard: Any
    relational: bool  # shared by several managers; not callable alone (NO_TENSOR_ALIASING, …)
    callable: bool
    torch_kind: str | None = None  # the release's own name, where it differs from `kind`


@dataclass
class RawManager:
    """One guard manager: the value at `source`, its leaf guards and child managers."""

    source: str
    manager_type: str  # RootGuardManager | GuardManager | DictGuardManager | …
    accessor: str | None  # how the value is reached from the parent, as torch prints it
    type_name: str
    leaves: list[RawLeaf]
    children: list[RawManager]
    # torch's recursive dict-tag fast path: on a repeated call whose module dicts are unchanged,
    # the check of a tag-safe root compares the dict tags and skips everything below it.
    tag_safe_root: bool = False


@dataclass
class RawTree:
    root: RawManager
    epilogue: list[RawLeaf]  # root-level lambda guards run after the tree (symbolic shapes)
    notes: list[str] = field(default_factory=list)


def _raw_leaf(guard: Any) -> RawLeaf:
    from torch._C._dynamo.guards import RelationalGuard

    try:
        parts = list(guard.verbose_code_parts())
    except Exception:  # an older build without verbose parts on some guard
        parts = []
    relational = isinstance(guard, RelationalGuard)
    torch_kind = type(guard).__name__
    kind = normalized_kind(torch_kind, parts)
    return RawLeaf(kind, parts, guard, relational, callable(guard),
                   torch_kind if kind != torch_kind else None)


# The root's epilogue lambda guards check symbolic shapes (dynamo's SHAPE_ENV guard); torch
# calls them LAMBDA_GUARD like the ambient lambda guards in the tree, which cost otherwise.
SYMBOLIC_SHAPES = "SYMBOLIC_SHAPES"


def _epilogue_leaf(leaf: RawLeaf) -> RawLeaf:
    if leaf.kind != "LAMBDA_GUARD":
        return leaf
    return dataclasses.replace(leaf, kind=SYMBOLIC_SHAPES, torch_kind=leaf.kind)


def _type_name(manager: Any) -> str:
    try:
        tp = manager.get_type_of_guarded_value()
    except Exception:
        return "?"
    if not isinstance(tp, type):
        return str(tp)
    module = tp.__module__
    return tp.__qualname__ if module == "builtins" else f"{module}.{tp.__qualname__}"


def _raw_manager(manager: Any, accessor: str | None, notes: list[str]) -> RawManager:
    from torch._C._dynamo.guards import DictGuardManager

    node = RawManager(
        source=str(manager.get_source()),
        manager_type=type(manager).__name__,
        accessor=accessor,
        type_name=_type_name(manager),
        leaves=[_raw_leaf(g) for g in manager.get_leaf_guards()],
        children=[],
        tag_safe_root=_tag_safe_root(manager),
    )
    # The order `TORCH_LOGS=guards` prints (GuardManagerWrapper.construct_manager_string):
    # a dict manager's key/value pairs first, then the accessor children.
    if isinstance(manager, DictGuardManager) and hasattr(manager, "get_key_value_managers"):
        for index, (key_mgr, value_mgr) in sorted(manager.get_key_value_managers().items()):
            if key_mgr is not None:
                node.children.append(_raw_manager(key_mgr, f"key of pair {index}", notes))
            if value_mgr is not None:
                node.children.append(_raw_manager(value_mgr, f"value of pair {index}", notes))
    accessors = manager.get_accessors() if hasattr(manager, "get_accessors") else []
    children = manager.get_child_managers()
    if accessors and len(accessors) != len(children):
        notes.append(f"{node.source}: accessor and child counts differ; accessors not shown")
        accessors = []
    for i, child in enumerate(children):
        label = accessors[i].repr() if accessors else None
        node.children.append(_raw_manager(child, label, notes))
    return node


def _tag_safe_root(manager: Any) -> bool:
    """A root of the dict-tag fast path (`config.use_recursive_dict_tags_for_guards`: on by
    default in torch 2.11, off in 2.13; marked only on nn.Module managers), still enabled."""
    try:
        if not manager.is_tag_safe_root():
            return False
        return not manager.is_recursive_dict_tag_matching_disabled()
    except (AttributeError, RuntimeError):  # a release without the fast path
        return False


def walk_guard_tree(guard_manager: Any) -> RawTree:
    """The live guard tree of one cache entry, in the order dynamo checks it and torch prints it.

    Raises GuardprofError where this torch has no tree API (guard managers before 2.6)."""
    from guardprof.errors import GuardprofError

    notes: list[str] = []
    root = getattr(guard_manager, "root", None)
    needed = ("get_leaf_guards", "get_child_managers", "get_source")
    if root is None or not all(hasattr(root, name) for name in needed):
        raise GuardprofError(
            f"torch {torch_version()} does not expose the guard manager tree "
            "(GuardManager.get_leaf_guards/get_child_managers): guardprof guards needs torch ≥ 2.6"
        )
    tree = RawTree(_raw_manager(root, None, notes), [], notes)
    if hasattr(root, "get_epilogue_lambda_guards"):
        tree.epilogue = [_epilogue_leaf(_raw_leaf(g)) for g in root.get_epilogue_lambda_guards()]
    return tree


def guard_eval_scope(guard_manager: Any, f_locals: dict) -> tuple[dict, dict] | None:
    """(globals, locals) in which dynamo evaluates guard sources and code parts.

    The same scope torch's recompile-reason code (`get_guard_fail_reason_helper`) uses: `L` the
    frame locals, `G` the frame globals, plus the guard helpers in `closure_vars`.
    """
    global_scope = getattr(guard_manager, "global_scope", None)
    if not global_scope or "G" not in global_scope:
        return None
    scope = {"L": f_locals, "G": global_scope["G"]}
    scope.update(getattr(guard_manager, "closure_vars", None) or {})
    return dict(global_scope), scope


def leaf_guard_check_verbose(guard: Any, value: Any) -> str | None:
    """A failing leaf's own reason where the guard offers one (GLOBAL_STATE does), else None."""
    check_verbose = getattr(guard, "check_verbose", None)
    if check_verbose is None:
        return None
    try:
        info = check_verbose(value)
    except Exception:
        return None
    if getattr(info, "result", True):
        return None
    parts = list(getattr(info, "verbose_code_parts", []) or [])
    return "; ".join(parts) or None
