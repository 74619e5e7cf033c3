"""Every private torch API guardprof touches, in one place.

Dynamo's introspection surface moves between releases. This module owns those differences so
the rest of guardprof sees stable types; where an API is missing it records a plain note
(`notes`) instead of failing, and callers print that note beside the figure it affects.
"""

from __future__ import annotations

import collections
import contextlib
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
    return torch.compile(fn, backend=backend, dynamic=dynamic)


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

    def check_verbose(self, f_locals: dict) -> list[str]:
        info = self.guard_manager.root.check_verbose(f_locals)
        return [] if info.result else list(info.verbose_code_parts)


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


def all_recorded_reasons() -> dict[types.CodeType, list[str]]:
    from torch._dynamo.utils import guard_failures

    return {code: list(reasons) for code, reasons in guard_failures.items()}


def dynamo_counters() -> dict[str, dict[str, int]]:
    from torch._dynamo.utils import counters

    return {k: dict(v) for k, v in counters.items()}


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

    with _quiet_stderr(), profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(iterations):
            run_once()
    return [
        float(evt.cpu_time_total) for evt in prof.events() if evt.name == CACHE_LOOKUP_EVENT
    ]
