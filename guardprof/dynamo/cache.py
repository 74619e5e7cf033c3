"""Compiled code objects and their cache entries, as torch's private cache API exposes them.

On torch 2.11 the entries of a compiled callable may sit on a torch-internal wrapper's code
(`external_utils.inner`), shared by other callables; `is_torch_internal` tells them apart.
"""

from __future__ import annotations

import inspect
import os
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch


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

    from guardprof.dynamo.lookup_clock import PROBE_FILE_PREFIX

    codes = []
    for ref in list(convert_frame.input_codes.seen):
        code = ref()
        if (code is not None and not code.co_filename.startswith(PROBE_FILE_PREFIX)
                and cache_entries(code)):
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


def frame_label(code: types.CodeType, f_locals: dict | None) -> tuple[str, str, int]:
    """(name, filename, firstlineno) of the user's callable a compiled frame runs.

    Usually the frame's own code. dynamo compiles some callables through
    `external_utils.wrap_inline` (a torch.nn module such as `nn.Linear` compiled directly; on
    torch ≤ 2.12 any function without a source file), whose one `inner` code object then holds
    the entries of every callable so wrapped; the callable itself is `inner`'s closure variable
    `fn`, in the frame locals of each call.
    """
    target = f_locals.get("fn") if f_locals and is_torch_internal(code) else None
    if target is None:
        return code.co_name, code.co_filename, code.co_firstlineno
    is_module = isinstance(target, torch.nn.Module)
    fn = getattr(target, "forward", None) if is_module else target
    fn_code = getattr(inspect.unwrap(fn), "__code__", None) if fn is not None else None
    name = (f"{type(target).__qualname__}.forward" if is_module
            else getattr(target, "__qualname__", type(target).__qualname__))
    if fn_code is None:
        return name, code.co_filename, code.co_firstlineno
    return name, fn_code.co_filename, fn_code.co_firstlineno


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
