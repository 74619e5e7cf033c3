"""Compiling and configuring dynamo across torch releases: versions, limits, reset, markers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from guardprof.errors import GuardprofError

# The oldest torch the test matrix passes on (scripts/compat_matrix.py); pyproject says the same.
MIN_TORCH = "2.11"


def torch_version() -> str:
    return torch.__version__


def check_supported() -> None:
    """One line, before any work, on a torch older than the matrix covers."""
    version = torch.__version__
    if not isinstance(version, torch.torch_version.TorchVersion):
        version = torch.torch_version.TorchVersion(str(version))
    if version < MIN_TORCH:
        raise GuardprofError(
            f"guardprof needs torch >= {MIN_TORCH}, found {torch.__version__} "
            f"(pip install 'torch>={MIN_TORCH}')"
        )


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


def compile_fn(fn: Any, backend: str, dynamic: bool | None,
               guard_filter_fn: Callable[..., Any] | None = None) -> Any:
    """torch.compile; `guard_filter_fn` (torch ≥ 2.8, any backend) drops the guards it rejects."""
    from torch._dynamo.exc import InvalidBackend

    from guardprof.errors import WorkloadUsageError

    options = {"guard_filter_fn": guard_filter_fn} if guard_filter_fn is not None else None
    try:
        return torch.compile(fn, backend=backend, dynamic=dynamic, options=options)
    except InvalidBackend:
        known = ", ".join(torch._dynamo.list_backends())
        raise WorkloadUsageError(f"--backend {backend!r} is not a torch.compile backend "
                                 f"(known: {known})") from None


def skip_all_guards_filter() -> Callable[..., Any] | None:
    """The guard filter that drops every guard (`torch.compiler.skip_all_guards_unsafe`), or None
    on a release without it."""
    return getattr(torch.compiler, "skip_all_guards_unsafe", None)


def saved_tensors_hooks_only_filter() -> Callable[..., Any]:
    """A guard filter that keeps only the root lambda guard every frame has
    (`top_saved_tensors_hooks ids == None`, AUTOGRAD_SAVED_TENSORS_HOOKS): the guard that makes
    dynamo build a dict of the frame's locals on every lookup."""

    def keep(entries: list) -> list[bool]:
        return [e.guard_type == "AUTOGRAD_SAVED_TENSORS_HOOKS" for e in entries]

    return keep


# --- cache entries --------------------------------------------------------------------------


def never_compile(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Keep dynamo from converting `fn`'s frames (a profile hook it would otherwise trace)."""
    from torch._dynamo.eval_frame import skip_code

    skip_code(fn.__code__)
    return fn


# --- torch.profiler cross-check -------------------------------------------------------------


def mark_dynamic(tensor: Any, dim: int) -> None:
    torch._dynamo.mark_dynamic(tensor, dim)
