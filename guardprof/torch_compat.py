"""Every private torch API guardprof touches, in one place.

Dynamo's introspection surface moves between releases. This module owns those differences so
the rest of guardprof sees stable types; where an API is missing it records a plain note
(`notes`) instead of failing, and callers print that note beside the figure it affects.
"""

from __future__ import annotations

import ast
import collections
import contextlib
import gc
import os
import re
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

_KIND_LINE = re.compile(r"\+- ([A-Z][A-Z0-9_]*):")


def torch_version() -> str:
    return torch.__version__


# --- configuration and compilation ---------------------------------------------------------


def set_recompile_limit(limit: int) -> None:
    """`recompile_limit` (torch ≥ 2.6) was `cache_size_limit` before."""
    config = torch._dynamo.config
    if hasattr(config, "recompile_limit"):
        config.recompile_limit = limit
    else:
        config.cache_size_limit = limit


def reset() -> None:
    torch._dynamo.reset()


def is_compiled(fn: Any) -> bool:
    from torch._dynamo.eval_frame import OptimizedModule

    return isinstance(fn, OptimizedModule) or hasattr(fn, "_torchdynamo_orig_callable")


def original_of(fn: Any) -> Any:
    """The uncompiled callable behind a `torch.compile` result (itself if not compiled)."""
    from torch._dynamo.eval_frame import OptimizedModule

    if isinstance(fn, OptimizedModule):
        return fn._orig_mod
    return getattr(fn, "_torchdynamo_orig_callable", fn)


def compile_fn(fn: Any, backend: str, dynamic: bool | None) -> Any:
    from torch._dynamo.exc import InvalidBackend

    from guardprof.errors import WorkloadUsageError

    try:
        return torch.compile(fn, backend=backend, dynamic=dynamic)
    except InvalidBackend:
        known = ", ".join(torch._dynamo.list_backends())
        raise WorkloadUsageError(f"--backend {backend!r} is not a torch.compile backend "
                                 f"(known: {known})") from None


# --- cache entries --------------------------------------------------------------------------


@dataclass
class EntryHandle:
    """A live cache entry: its compile id, the code dynamo runs for it, its guard manager."""

    compile_id: str
    guard_manager: Any
    output_code: types.CodeType | None

    def check(self, f_locals: dict) -> bool:
        return bool(self.guard_manager.root.check(f_locals))

    def check_fn(self) -> Callable[[dict], Any]:
        """The bare C++ check, for timing without a Python wrapper in the way."""
        return self.guard_manager.root.check

    def guard_tree(self) -> str:
        """The guard tree exactly as `TORCH_LOGS=guards` prints it."""
        return str(self.guard_manager)


def compiled_codes() -> list[types.CodeType]:
    """Every code object dynamo was asked to compile since the last reset, that holds entries.

    `fn.__code__` is not enough: graph breaks add resume functions, `nn.Module`s compile
    `forward`, and some releases (2.11) keep the entries on a torch-internal wrapper's code.
    Dynamo records each frame it converts in `convert_frame.input_codes`.
    """
    from torch._dynamo import convert_frame

    codes = []
    for ref in list(convert_frame.input_codes.seen):
        code = ref()
        if code is not None and cache_entries(code):
            codes.append(code)
    return codes


def cache_entries(code: types.CodeType) -> list[EntryHandle]:
    """The entries of `code` in the order a call walks them (most recently used first)."""
    from torch._dynamo.eval_frame import _debug_get_cache_entry_list

    entries = []
    for raw in _debug_get_cache_entry_list(code):
        entries.append(
            EntryHandle(
                compile_id=str(raw.compile_id),
                guard_manager=raw.guard_manager,
                output_code=getattr(raw, "code", None),
            )
        )
    return entries


def is_torch_internal(code: types.CodeType) -> bool:
    """A frame of torch's own source (a wrapper dynamo compiled), not the user's code."""
    torch_dir = os.path.dirname(torch.__file__)
    return os.path.abspath(code.co_filename).startswith(torch_dir + os.sep)


def guard_kind_counts(tree: str) -> dict[str, int]:
    """Guards by kind, counted as the guard tree prints them (one line per code part)."""
    return dict(collections.Counter(_KIND_LINE.findall(tree)))


# --- compilation records and recompile reasons ----------------------------------------------


@dataclass
class CompileRecord:
    compile_id: str
    reasons: list[str] = field(default_factory=list)


class CompileRecorder:
    """Records each compile dynamo starts and the recompile reasons that triggered it.

    Dynamo appends the reasons to `guard_failures` before it starts compiling, so the reasons
    that appeared since the previous compile belong to this one. Reasons recorded after the
    last compile (a call that found no entry and was not compiled: recompile limit reached) are
    left in `trailing_reasons`.
    """

    def __init__(self, on_compile: Callable[[CompileRecord], None] | None = None) -> None:
        self.records: list[CompileRecord] = []
        self.trailing_reasons: list[str] = []
        self.available = True
        self.note: str | None = None
        self._on_compile = on_compile
        self._seen: dict[int, int] = {}
        self._handler = None

    def _new_reasons(self) -> list[str]:
        from torch._dynamo.utils import guard_failures

        new: list[str] = []
        for code, reasons in list(guard_failures.items()):
            seen = self._seen.get(id(code), 0)
            new.extend(reasons[seen:])
            self._seen[id(code)] = len(reasons)
        return new

    def _callback(self, *_args: Any) -> None:
        from torch._guards import CompileContext

        compile_id = CompileContext.current_compile_id()
        record = CompileRecord(str(compile_id) if compile_id is not None else "?")
        record.reasons = self._new_reasons()
        self.records.append(record)
        if self._on_compile is not None:
            self._on_compile(record)

    def __enter__(self) -> CompileRecorder:
        handler = getattr(torch._dynamo, "callback_handler", None)
        if handler is None or not hasattr(handler, "register_start_callback"):
            self.available = False
            self.note = (
                f"torch {torch_version()} has no compile callbacks: recompile reasons are "
                "listed per frame, not per entry"
            )
            return self
        self._new_reasons()  # baseline: reasons from before this recorder
        self._handler = handler
        handler.register_start_callback(self._callback)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._handler is not None:
            self._handler.remove_start_callback(self._callback)
            self._handler = None
        self.trailing_reasons = self._new_reasons()

    def reasons_by_compile_id(self) -> dict[str, list[str]]:
        return {r.compile_id: r.reasons for r in self.records}


def dynamo_counters() -> dict[str, dict[str, int]]:
    """A snapshot of `torch._dynamo.utils.counters` (process-wide: `reset()` keeps them)."""
    from torch._dynamo.utils import counters

    return {k: dict(v) for k, v in counters.items()}


def counters_since(before: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """How dynamo's counters moved since the snapshot `before` (only what changed)."""
    out: dict[str, dict[str, int]] = {}
    for group, values in dynamo_counters().items():
        earlier = before.get(group, {})
        changed = {k: v - earlier.get(k, 0) for k, v in values.items()
                   if isinstance(v, int) and v != earlier.get(k, 0)}
        if changed:
            out[group] = changed
    return out


def never_compile(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Keep dynamo from converting `fn`'s frames (a profile hook it would otherwise trace)."""
    from torch._dynamo.eval_frame import skip_code

    skip_code(fn.__code__)
    return fn


# --- torch.profiler cross-check -------------------------------------------------------------

CACHE_LOOKUP_EVENT = "TorchDynamo Cache Lookup"


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Kineto prints start/stop lines straight to fd 2; keep them off the user's terminal."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def profile_cache_lookups(run_once: Callable[[], None], iterations: int) -> list[float]:
    """Durations (µs) of every `TorchDynamo Cache Lookup` event over `iterations` runs."""
    from torch.profiler import ProfilerActivity, profile

    gc.collect()  # as timeit does: no collection of earlier garbage inside the measured calls
    gc.disable()
    try:
        with _quiet_stderr(), profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(iterations):
                run_once()
    finally:
        gc.enable()
    return [
        float(evt.cpu_time_total) for evt in prof.events() if evt.name == CACHE_LOOKUP_EVENT
    ]


# --- what-if variants (issue 4): skip-guards stance, mark_dynamic, diff guard managers ------


def skip_guard_eval_unavailable() -> str | None:
    """Why `set_stance(skip_guard_eval_unsafe=True)` cannot run on this torch, or None."""
    import inspect

    set_stance = getattr(getattr(torch, "compiler", None), "set_stance", None)
    if set_stance is None:
        return f"torch {torch_version()} has no torch.compiler.set_stance"
    try:
        parameters = inspect.signature(set_stance).parameters
    except (TypeError, ValueError):
        return None
    if "skip_guard_eval_unsafe" not in parameters:
        return f"torch {torch_version()}'s set_stance has no skip_guard_eval_unsafe"
    return None


@contextlib.contextmanager
def skip_guard_eval() -> Iterator[None]:
    """Run only the guards that told entries apart (UNSAFE: unseen inputs may get a wrong entry)."""
    with torch.compiler.set_stance("default", skip_guard_eval_unsafe=True):
        yield


def mark_dynamic(tensor: Any, dim: int) -> None:
    torch._dynamo.mark_dynamic(tensor, dim)


@dataclass
class _DiffGuards:
    root: Any


def diff_guard_entries(entries: list[EntryHandle]) -> list[EntryHandle] | None:
    """The same entries, checked with the diff guard managers skip-guards mode runs instead.

    `GuardManagerWrapper.diff_guard_root` (torch ≥ 2.6) holds the guards dynamo keeps under
    `skip_guard_eval_unsafe`. None where an entry has none (the stance's checks can't be timed).
    """
    diff = []
    for entry in entries:
        root = getattr(entry.guard_manager, "diff_guard_root", None)
        if root is None:
            return None
        diff.append(EntryHandle(entry.compile_id, _DiffGuards(root), entry.output_code))
    return diff


# --- guard trees (issue 3): walking managers and leaves, eval scope, timing fixtures -----------


@dataclass
class RawLeaf:
    """One leaf guard as the live tree holds it (`guard` is the live C++ object)."""

    kind: str
    verbose_code_parts: list[str]
    guard: Any
    relational: bool  # shared by several managers; not callable alone (NO_TENSOR_ALIASING, …)
    callable: bool


@dataclass
class RawManager:
    """One guard manager: the value at `source`, its leaf guards and child managers."""

    source: str
    manager_type: str  # RootGuardManager | GuardManager | DictGuardManager | …
    accessor: str | None  # how the value is reached from the parent, as torch prints it
    type_name: str
    leaves: list[RawLeaf]
    children: list[RawManager]


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
    return RawLeaf(type(guard).__name__, parts, guard, relational, callable(guard))


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
        tree.epilogue = [_raw_leaf(g) for g in root.get_epilogue_lambda_guards()]
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
        manager.add_dimension_marking_guard({}, absent, {}, ["guardprof copy"], None)

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
