"""Timestamps where dynamo's per-call work happens, in the running process (in situ).

Three places, none of which needs a profiler:

- **armed**: the `torch.compile` wrapper (`eval_frame.compile_wrapper`) arms dynamo's frame hook
  through the module global `eval_frame._maybe_set_eval_frame`, right before it calls the
  original function; a stand-in for that global stamps the moment it returns. A resume frame
  after a graph break is entered through a global of the outer frame (`__resume_at_…`), which a
  stand-in stamps the same way.
- **lookup end**: dynamo calls its guard-complete hook (`set_guard_complete_hook`) once per
  cache lookup, right after the walk over the entries (`eval_frame_cpp.cpp`: after `lookup()`).
- **graph start / end**: the transformed code calls its graph through a global of the frame's
  module (`__compiled_fn_…`); a stand-in stamps both sides.

armed → lookup end is the lookup: the wrapper's last steps, the frame-locals mapping, the walk and
guard checks, and the hook's own entry. Its resolution does not depend on the graph, which runs
after it. The stand-ins are marked for dynamo to skip (their frames are not compiled, the frames
they call still are). Every stamp is `time.perf_counter_ns()` appended to one array.
"""

from __future__ import annotations

import sys
import time
import types
from array import array
from collections.abc import Iterable
from typing import Any

from guardprof.dynamo import compiler

# A stamp is one int64: perf_counter_ns() << MARK_BITS | mark (no tuple allocated per stamp:
# allocation churn in the loop slowed the lookups it timed).
ARMED, LOOKUP, GRAPH_START, GRAPH_END, CALL_START, CALL_END = range(6)
MARK_BITS = 3
MARK_MASK = (1 << MARK_BITS) - 1
RESUME_PREFIX = "__resume_at_"
PROBE_FILE_PREFIX = "<guardprof in-situ probe"  # guardprof's own probe frames (not the user's)
COMPILED_FN_PREFIX = "__compiled_fn_"


def unavailable() -> str | None:
    """Why the clock cannot run on this torch, or None."""
    try:
        import torch._dynamo.eval_frame as eval_frame
        from torch._C._dynamo.eval_frame import set_guard_complete_hook  # noqa: F401
    except ImportError:
        return (f"torch {compiler.torch_version()} has no guard-complete hook "
                "(set_guard_complete_hook)")
    if not hasattr(eval_frame, "_maybe_set_eval_frame"):
        return (f"torch {compiler.torch_version()}'s torch.compile wrapper arms dynamo without "
                "eval_frame._maybe_set_eval_frame: the lookup's start cannot be stamped")
    return None


def _disable_wrappers() -> frozenset[types.CodeType]:
    """The code of `torch._dynamo.disable`'s wrapper (`DisableContext.__call__`'s nested
    `_fn`): it re-arms dynamo with the outer callback after each graph call, which is no start
    of a lookup."""
    import torch._dynamo.eval_frame as eval_frame

    found: set[types.CodeType] = set()
    todo = [eval_frame.DisableContext.__call__.__code__]
    while todo:
        code = todo.pop()
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                found.add(const)
                todo.append(const)
    return frozenset(found)


def arming_stand_in(original: Any, on_armed: Any) -> Any:
    """A stand-in for `eval_frame._maybe_set_eval_frame` that calls `on_armed(callback)` right
    after the torch.compile wrapper arms dynamo with a callback (not when it disarms, and not
    when `torch._dynamo.disable`'s wrapper re-arms the outer callback after a graph)."""
    skip = _disable_wrappers()
    caller = sys._getframe

    def armed(callback: Any) -> Any:
        result = original(callback)
        if (callback is not None and callback is not False and callback is not True
                and caller(1).f_code not in skip):
            on_armed(callback)
        return result

    return compiler.never_compile(armed)


class LookupClock:
    """Collects stamps while installed; `stamps` (see `stamp`) is read after `remove()`.

    `frame_globals`: the module globals of the compiled frames whose graph calls and resume calls
    are stamped too (the lookup stamps need none). Nothing is left patched after `remove()`.
    """

    def __init__(self, frame_globals: Iterable[dict] = ()) -> None:
        self.stamps = array("q")
        self._globals = [g for g in {id(g): g for g in frame_globals}.values()]
        self._patched: list[tuple[Any, str, Any]] = []  # (namespace, name, original)
        self._previous_hook: Any = None
        self._installed = False

    # -- the stand-ins -------------------------------------------------------------------------

    def _arming(self, original: Any) -> Any:
        add, now = self.stamps.append, time.perf_counter_ns
        return arming_stand_in(original, lambda _callback: add(now() << MARK_BITS | ARMED))

    def _resume(self, original: Any) -> Any:
        add, now = self.stamps.append, time.perf_counter_ns

        def resume(*args: Any, **kwargs: Any) -> Any:
            add(now() << MARK_BITS | ARMED)
            return original(*args, **kwargs)

        return compiler.never_compile(resume)

    def _graph(self, original: Any) -> Any:
        add, now = self.stamps.append, time.perf_counter_ns

        def graph(*args: Any, **kwargs: Any) -> Any:
            add(now() << MARK_BITS | GRAPH_START)
            try:
                return original(*args, **kwargs)
            finally:
                add(now() << MARK_BITS | GRAPH_END)

        return compiler.never_compile(graph)

    # -- install / remove ----------------------------------------------------------------------

    def install(self) -> None:
        """Everything or nothing: a failure part-way undoes what was installed."""
        import torch._dynamo.eval_frame as eval_frame
        from torch._C._dynamo.eval_frame import set_guard_complete_hook

        add, now = self.stamps.append, time.perf_counter_ns
        self._installed = True  # from here on, remove() undoes whatever was done
        try:
            previous = set_guard_complete_hook(None)
            self._previous_hook = previous

            @compiler.never_compile
            def lookup_done(cache_hit: bool) -> bool:
                add(now() << MARK_BITS | LOOKUP)
                # the return value is dynamo's verdict: anything but cache_hit recompiles
                return previous(cache_hit) if previous is not None else cache_hit

            set_guard_complete_hook(lookup_done)
            self._patch(eval_frame, "_maybe_set_eval_frame", self._arming)
            for namespace in self._globals:
                for name in [n for n in namespace if isinstance(n, str)]:
                    if name.startswith(RESUME_PREFIX):
                        self._patch(namespace, name, self._resume)
                    elif name.startswith(COMPILED_FN_PREFIX):
                        self._patch(namespace, name, self._graph)
        except BaseException:
            self.remove()
            raise

    def _patch(self, namespace: Any, name: str, make: Any) -> None:
        is_dict = isinstance(namespace, dict)
        original = namespace[name] if is_dict else getattr(namespace, name)
        if not callable(original):
            return
        if is_dict:
            namespace[name] = make(original)
        else:
            setattr(namespace, name, make(original))
        self._patched.append((namespace, name, original))

    def remove(self) -> None:
        if not self._installed:
            return
        from torch._C._dynamo.eval_frame import set_guard_complete_hook

        set_guard_complete_hook(self._previous_hook)
        for namespace, name, original in reversed(self._patched):
            if isinstance(namespace, dict):
                namespace[name] = original
            else:
                setattr(namespace, name, original)
        self._patched.clear()
        self._installed = False

    def __enter__(self) -> LookupClock:
        self.install()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()



def unpack(stamps: array) -> list[tuple[int, int]]:
    """(mark, ns) of each stamp."""
    return [(s & MARK_MASK, s >> MARK_BITS) for s in stamps]


def lookup_spans(stamps: array) -> list[int]:
    """Each lookup's span (ns): from the latest armed stamp before it to its own stamp."""
    spans, armed = [], None
    for mark, t in unpack(stamps):
        if mark == ARMED:
            armed = t
        elif mark == LOOKUP and armed is not None:
            spans.append(t - armed)
            armed = None
    return spans
