"""Observe one real iteration of the compiled hot loop: which frame ran, on which locals,
served by which cache entry (or by none: the frame fell back to eager).

Dynamo runs an entry's transformed code in place of the original frame, so a profile hook
sees a 'call' of the entry's code when the guards accepted it, and a 'call' of the original
code when no entry did and dynamo ran the frame uncompiled.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from guardprof.dynamo import cache, compiler
from guardprof.dynamo.cache import EntryHandle
from guardprof.model.run_report import CodeLocation


@dataclass
class Invocation:
    """One execution of a compiled frame during the captured iteration."""

    call_index: int
    code: types.CodeType  # the frame dynamo compiled (input code)
    f_locals: dict
    served_by: str | None  # compile id of the entry that ran; None: ran uncompiled
    f_globals: dict | None = None  # the frame's globals (the bypass resolves resume functions)
    caller: types.CodeType | None = None  # the code that called the frame


@dataclass
class Capture:
    """The cache state before the iteration and what each call did."""

    order_before: dict[types.CodeType, list[EntryHandle]]
    invocations: list[Invocation]
    new_entries: int  # entries created during the captured iteration (workload not warm)


def capture_iteration(compiled_fn: Callable[..., Any], calls: list,
                      codes: list[types.CodeType] | None = None) -> Capture:
    """`codes`: the compiled frames to watch (default: every one but guardprof's probes)."""
    watch_all = codes is None
    codes = cache.compiled_codes() if codes is None else codes
    order_before = {code: cache.cache_entries(code) for code in codes}
    by_output: dict[types.CodeType, tuple[types.CodeType, str]] = {}
    for code, entries in order_before.items():
        for entry in entries:
            if entry.output_code is not None:
                by_output[entry.output_code] = (code, entry.compile_id)
    input_codes = set(order_before)
    invocations: list[Invocation] = []
    current = [0]

    @compiler.never_compile  # dynamo would otherwise convert the hook's own frames
    def hook(frame: types.FrameType, event: str, _arg: Any) -> None:
        if event != "call":
            return
        code = frame.f_code
        if code in by_output:
            input_code, compile_id = by_output[code]
            invocations.append(Invocation(current[0], input_code, dict(frame.f_locals), compile_id,
                                          frame.f_globals, _caller(frame)))
        elif code in input_codes:
            invocations.append(Invocation(current[0], code, dict(frame.f_locals), None,
                                          frame.f_globals, _caller(frame)))

    previous = sys.getprofile()
    sys.setprofile(hook)
    try:
        for i, call in enumerate(calls):
            current[0] = i
            compiled_fn(*call.args, **call.kwargs)
    finally:
        sys.setprofile(previous)
    before = sum(len(v) for v in order_before.values())
    after = sum(len(cache.cache_entries(c))
                for c in (cache.compiled_codes() if watch_all else codes))
    return Capture(order_before, invocations, new_entries=after - before)


def _caller(frame: types.FrameType) -> types.CodeType | None:
    return frame.f_back.f_code if frame.f_back is not None else None


@dataclass(frozen=True)
class FrameNaming:
    """How a report names a compiled frame: the user's callable, and where its entries live
    when that is a torch-internal wrapper's code (`cache.frame_label`)."""

    name: str
    filename: str
    firstlineno: int
    entries_on: CodeLocation | None


def frame_naming(capture: Capture, code: types.CodeType) -> FrameNaming:
    f_locals = next((inv.f_locals for inv in capture.invocations if inv.code is code), None)
    return naming_of(code, f_locals)


def naming_of(code: types.CodeType, f_locals: dict | None) -> FrameNaming:
    """The naming of `code`, from the locals of one of its calls (None: none seen)."""
    name, filename, firstlineno = cache.frame_label(code, f_locals)
    own = (code.co_name, code.co_filename, code.co_firstlineno)
    entries_on = None if (name, filename, firstlineno) == own else CodeLocation(*own)
    return FrameNaming(name, filename, firstlineno, entries_on)
