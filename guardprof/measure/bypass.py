"""The bypass: every compiled frame of a call runs as its accepted entry's transformed code,
called directly, without dynamo's frame hook (the decomposition's `graph` part).

A call's outermost frame is the target's own code (a plain function, or a user `nn.Module`'s
`forward`): its entry's code is called with the call's own arguments (bound to the module for a
`forward`). A frame reached from it through a global name — the resume function dynamo installs
after a graph break — would run uncompiled outside dynamo, so the bypass gives the outer code a
copy of its globals in which that name is the nested frame's own entry code. Any other nesting
cannot be bypassed faithfully; `Bypass.why_not` says which frame and why.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from guardprof.dynamo.cache import EntryHandle
from guardprof.measure.capture import Capture, Invocation


@dataclass
class Bypass:
    """Per call, the callable that runs it without dynamo; or why that cannot be built."""

    pairs: list[tuple[Callable[..., Any], Any]] = field(default_factory=list)
    frames: dict[str, str] = field(default_factory=dict)  # frame name -> how the bypass runs it
    why_not: str | None = None


def target_function(target: Any) -> tuple[types.FunctionType | None, Any]:
    """(the function whose code dynamo compiles for `target`, the module it is bound to)."""
    import torch

    if isinstance(target, types.FunctionType):
        return target, None
    if isinstance(target, torch.nn.Module):
        forward = getattr(type(target), "forward", None)
        if isinstance(forward, types.FunctionType):
            return forward, target
    return None, None


def build(target: Any, calls: list, capture: Capture) -> Bypass:
    fn, module = target_function(target)
    if fn is None:
        return Bypass(why_not=f"the target is a {type(target).__name__}: guardprof bypasses "
                              "plain functions and nn.Module forwards")
    entries = {(code, e.compile_id): e for code, es in capture.order_before.items() for e in es}
    out = Bypass()
    via: dict[str, list[str]] = {}  # nested frame name -> the globals it was reached through
    for i, call in enumerate(calls):
        invocations = [inv for inv in capture.invocations if inv.call_index == i]
        if not invocations:
            return Bypass(why_not=f"call {i} ran no compiled frame")
        outer, nested = invocations[0], invocations[1:]
        if outer.code is not fn.__code__:
            return Bypass(why_not=f"call {i}'s outer compiled frame `{outer.code.co_name}` is "
                                  f"not the target's own `{fn.__name__}`")
        scope = outer.f_globals if outer.f_globals is not None else fn.__globals__
        out.frames.setdefault(outer.code.co_name, "its entry's code called directly")
        if nested:
            scope, why = _resolve_nested(scope, outer, nested, entries, via)
            if why:
                return Bypass(why_not=f"call {i}: {why}")
        direct = _direct(entries[outer.code, outer.served_by], scope, fn)
        out.pairs.append((types.MethodType(direct, module) if module is not None else direct,
                          call))
    for frame, names in via.items():
        several = " (one per outer entry)" if len(names) > 1 else ""
        out.frames[frame] = (f"reached through the global{'s' if several else ''} "
                             f"{', '.join(f'`{n}`' for n in names)}{several}: its entry's code "
                             "put in its place")
    return out


def _resolve_nested(scope: dict, outer: Invocation, nested: list[Invocation],
                    entries: dict[tuple[types.CodeType, str], EntryHandle],
                    via: dict[str, list[str]]) -> tuple[dict, str | None]:
    patched = dict(scope)
    chosen: dict[str, str] = {}
    read = _names_read(entries, outer)
    for inv in nested:
        name = _global_name(scope, inv, read)
        if name is None:
            return scope, (f"frame `{inv.code.co_name}` runs nested, not through a global name "
                           "of the outer frame: outside dynamo it would run uncompiled")
        if chosen.setdefault(name, inv.served_by) != inv.served_by:
            return scope, f"frame `{inv.code.co_name}` runs twice, served by two entries"
        patched[name] = _direct(entries[inv.code, inv.served_by], patched, scope[name])
        read |= _names_read(entries, inv)
        names = via.setdefault(inv.code.co_name, [])
        if name not in names:
            names.append(name)
    return patched, None


@dataclass(frozen=True)
class NestedPatch:
    """A nested frame of one call put in place as its entry's code: `scope[name] = direct`
    while the call runs through dynamo, so only that frame's dispatch and checks are gone."""

    scope: dict  # the real globals the outer frame reads the name from
    name: str
    direct: types.FunctionType
    original: Any


def nested_patches(invocations: list[Invocation], entries: dict) -> list[NestedPatch] | str:
    """One call's nested frames (all but its outermost) as patches of the real globals; or why
    a nested frame cannot be reached that way."""
    if not invocations:
        return "a call ran no compiled frame"
    scope = invocations[0].f_globals
    patches = []
    read = _names_read(entries, invocations[0])
    for inv in invocations[1:]:
        name = _global_name(scope, inv, read)
        if name is None or inv.served_by is None:
            return (f"frame `{inv.code.co_name}` is not reached through a global name of the "
                    "outer frame")
        patches.append(NestedPatch(scope, name, _direct(entries[inv.code, inv.served_by],
                                                        scope, scope[name]), scope[name]))
        read |= _names_read(entries, inv)
    return patches


def _global_name(scope: dict | None, inv: Invocation, read: set[str]) -> str | None:
    """The global through which the nested frame `inv` runs (dynamo's resume function after a
    graph break), among the names its callers' entry code reads; or None. Each of the outer
    frame's entries installs a resume function of its own (`__resume_at_106_3`,
    `__resume_at_106_9`) on one shared resume code, so the code alone does not say which name
    this call's entry reads: the first match patched the wrong one for every call its entry
    did not install, moving that frame's lookup into the outer frame's part."""
    if scope is None or inv.f_globals is not scope:
        return None
    return next((k for k, v in scope.items() if k in read
                 and isinstance(v, types.FunctionType) and v.__code__ is inv.code), None)


def _names_read(entries: dict, inv: Invocation) -> set[str]:
    """The global names the transformed code of `inv`'s accepted entry (and its nested code
    objects) reads; empty when it has none."""
    entry = entries.get((inv.code, inv.served_by))
    stack = [entry.output_code] if entry is not None and entry.output_code is not None else []
    names: set[str] = set()
    while stack:
        code = stack.pop()
        names.update(code.co_names)
        stack += [c for c in code.co_consts if isinstance(c, types.CodeType)]
    return names


def _direct(entry: EntryHandle, scope: dict, original: types.FunctionType) -> types.FunctionType:
    direct = types.FunctionType(entry.output_code, scope, original.__name__,
                                original.__defaults__, original.__closure__)
    direct.__kwdefaults__ = original.__kwdefaults__
    return direct
