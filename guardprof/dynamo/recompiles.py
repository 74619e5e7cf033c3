"""Why each cache entry exists: the guards of every earlier entry that failed on its inputs.

Dynamo records only the first failing guard of each entry it rejected (`guard_failures`, what
`TORCH_LOGS=recompiles` prints). `recompiles_verbose` lists more, but only inside the one
failing leaf. Here every guard of every earlier entry is checked on the inputs the entry was
compiled for, the way dynamo itself builds its reasons: each guard on its guarded value (the
source evaluated in dynamo's guard scope), and each code part of a failing guard evaluated in
that scope to name the part that failed. The inputs are the captured frame locals of a call
the entry served: for a deterministic workload, the inputs that compiled it.
"""

from __future__ import annotations

import re
from typing import Any

from guardprof.dynamo import compiler, guard_walk
from guardprof.dynamo.guard_tree import MISSING, LiveTree, ValueResolver
from guardprof.model.guards_report import EntryFailures, FailingGuard, ManagerNode

NO_TENSOR_ALIASING = "NO_TENSOR_ALIASING"
_LIST_FIELD = re.compile(r"\b(size|stride)=\[([^\]]*)\]")
_SCALAR_FIELD = re.compile(r"\b(device|requires_grad)=([^,)]+)")
_DTYPE = re.compile(r"\btorch\.(\w+)\b")


def failing_guards(live: LiveTree, f_locals: dict) -> EntryFailures:
    """Every guard of `live` that fails on `f_locals` (all of them, not only the first)."""
    resolver = ValueResolver(live, f_locals)
    failing: list[FailingGuard] = []
    incomplete: list[str] = []
    if not resolver.available:
        return EntryFailures(live.handle.compile_id, [], False,
                             f"torch {compiler.torch_version()} exposes no guard scope")
    relational_values: dict[int, list[tuple[str, Any]]] = {}

    def visit(manager: ManagerNode) -> None:
        value = resolver.value(manager)
        if value is MISSING:
            error = resolver.errors.get(manager.source, "")
            failing.append(FailingGuard(manager.source, "(accessor)", manager.accessor or "",
                                        f"{manager.source} cannot be reached: {error}"))
            return  # its guards and children cannot run: dynamo fails the accessor here
        for leaf in manager.leaves:
            if leaf.relational:
                relational_values.setdefault(leaf.relational_index, []).append(
                    (manager.source, value))
                continue
            live_leaf = leaves_by_node[id(leaf)]
            try:
                ok = bool(live_leaf.raw.guard(value))
            except Exception as exc:
                incomplete.append(f"{leaf.kind} on {manager.source} raised {type(exc).__name__}")
                continue
            if not ok:
                code = "; ".join(leaf.code_parts)
                failing.append(FailingGuard(manager.source, leaf.kind, code,
                                            _reason(live_leaf.raw, leaf, value, resolver)))
        for child in manager.children:
            visit(child)

    leaves_by_node = {id(leaf.node): leaf for leaf in live.leaves}
    visit(live.tree)
    for leaf in live.epilogue:
        live_leaf = leaves_by_node[id(leaf)]
        try:
            if not live_leaf.raw.guard(f_locals):
                failing.append(FailingGuard("L", leaf.kind, "; ".join(leaf.code_parts),
                                            _reason(live_leaf.raw, leaf, f_locals, resolver)))
        except Exception as exc:
            incomplete.append(f"{leaf.kind} raised {type(exc).__name__}")
    for index, pairs in relational_values.items():
        info = live.relational[index]
        if info.kind == NO_TENSOR_ALIASING:
            failing.extend(_aliasing(pairs, info.code))
        else:
            incomplete.append(f"{info.kind} (relational) not checked")
    note = "; ".join(incomplete) if incomplete else None
    return EntryFailures(live.handle.compile_id, failing, not incomplete, note)


def _aliasing(pairs: list[tuple[str, Any]], code: str) -> list[FailingGuard]:
    first_source: dict[int, str] = {}
    out = []
    for source, value in pairs:
        if id(value) in first_source:
            out.append(FailingGuard(source, NO_TENSOR_ALIASING, code,
                                    f"{source} is the same tensor as {first_source[id(value)]}"))
        else:
            first_source[id(value)] = source
    return out


def _reason(raw: Any, leaf: Any, value: Any, resolver: ValueResolver) -> str:
    """The most specific reason available for a failing leaf guard."""
    if leaf.kind == "TENSOR_MATCH":
        described = describe_tensor_mismatch(leaf.code_parts[0] if leaf.code_parts else "", value)
        if described:
            return described
    own = guard_walk.leaf_guard_check_verbose(raw, value)
    if own:
        return own
    failed_parts = [part for part in leaf.code_parts if resolver.evaluates_false(part)]
    return "; ".join(_with_actual(part, resolver) for part in failed_parts or leaf.code_parts)


def _with_actual(part: str, resolver: ValueResolver) -> str:
    """'L['n'] == 2' → 'L['n'] == 2 (actual 5)': the value the comparison saw."""
    lhs, op, _ = part.partition(" == ")
    if not op:
        return part
    actual = resolver.evaluate(lhs)
    if actual is MISSING:
        return part
    text = repr(actual)
    return f"{part} (actual {text if len(text) <= 60 else text[:59] + '…'})"


def describe_tensor_mismatch(code: str, value: Any) -> str | None:
    """'size[0] expected 10, actual 20' from a TENSOR_MATCH code part and the tensor it saw.

    The code part is torch's `check_tensor(L['x'], Tensor, DispatchKeySet(…), torch.float32,
    device=None, requires_grad=False, size=[10], stride=[1])`; None entries are dynamic dims.
    """
    import torch

    if not isinstance(value, torch.Tensor):
        return f"expected a tensor, got {type(value).__name__}"
    problems = []
    dtype = _DTYPE.search(code.split("DispatchKeySet", 1)[-1])
    if dtype and str(value.dtype) != f"torch.{dtype.group(1)}":
        problems.append(f"dtype expected torch.{dtype.group(1)}, actual {value.dtype}")
    for name, text in _LIST_FIELD.findall(code):
        expected = [e.strip() for e in text.split(",") if e.strip()]
        actual = list(value.size() if name == "size" else value.stride())
        if len(expected) != len(actual):
            problems.append(f"{name} expected {len(expected)} dims, actual {len(actual)}")
            continue
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            if e != "None" and e != str(a):
                problems.append(f"{name}[{i}] expected {e}, actual {a}")
    for name, text in _SCALAR_FIELD.findall(code):
        if name == "requires_grad" and text.strip() != str(value.requires_grad):
            problems.append(f"requires_grad expected {text.strip()}, actual {value.requires_grad}")
    return "; ".join(problems) or None
