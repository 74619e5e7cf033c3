"""What dynamo compiled and why: a recorder of compile events and of dynamo's counters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from guardprof.dynamo.compiler import torch_version


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
