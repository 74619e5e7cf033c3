"""Compiler stances that skip guard evaluation, where the torch release has them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from guardprof.dynamo.compiler import torch_version


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
