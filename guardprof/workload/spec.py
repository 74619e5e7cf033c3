"""What to call and with what: the standard guard benchmark or a user's own workload.

`Workload` is the public API (`guardprof.Workload(fn, calls, name=None)`); `WorkloadSpec` is the
frozen, JSON-friendly description of how it was built and run, kept apart from any measurement.
"""

from __future__ import annotations

import importlib
import importlib.util
import linecache
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from guardprof.errors import GuardprofError, WorkloadUsageError


@dataclass(frozen=True)
class Call:
    """One call of the hot loop: `fn(*args, **kwargs)`."""

    args: tuple = ()
    kwargs: dict = field(default_factory=dict)


@dataclass
class Workload:
    """A callable and the calls one iteration of the hot loop makes, in order.

    `fn` may be a plain callable, an `nn.Module`, or a `torch.compile` result (used as is; its
    original is the eager baseline). Each item of `calls` is a tuple of positional arguments or a
    `Call`.
    """

    fn: Callable[..., Any]
    calls: Sequence[Any]
    name: str | None = None

    def __post_init__(self) -> None:
        if not callable(self.fn):
            raise WorkloadUsageError(f"Workload.fn must be callable, got {type(self.fn).__name__}")
        if isinstance(self.calls, (str, bytes)) or not isinstance(self.calls, Sequence):
            raise WorkloadUsageError(
                f"Workload.calls must be a sequence of calls, got {type(self.calls).__name__}"
            )
        if len(self.calls) == 0:
            raise WorkloadUsageError("Workload.calls is empty: give at least one call")
        normalised = []
        for i, item in enumerate(self.calls):
            if isinstance(item, Call):
                normalised.append(item)
            elif isinstance(item, tuple):
                normalised.append(Call(args=item))
            else:
                raise WorkloadUsageError(
                    f"Workload.calls[{i}] must be a tuple of arguments or a guardprof.Call, "
                    f"got {type(item).__name__}"
                )
        self.calls = normalised
        if self.name is None:
            self.name = getattr(self.fn, "__name__", None) or type(self.fn).__name__


@dataclass(frozen=True)
class WorkloadSpec:
    """How the workload is built and timed; equal specs are comparable runs."""

    kind: str  # "standard" or "target" ("program": a program frame's sampled calls, decomposed)
    name: str
    target: str | None = None
    backend: str = "inductor"
    dynamic: bool | None = False
    num_args: int | None = 100
    sizes: tuple[int, ...] | None = tuple(range(10, 101, 10))
    recompile_limit: int = 16
    number: int | None = 1000
    repeat: int = 10
    device: str = "cpu"
    seed: int | None = None

    @property
    def dynamic_label(self) -> str:
        return {True: "True", False: "False", None: "None (automatic)"}[self.dynamic]


def parse_sizes(text: str) -> tuple[int, ...]:
    """`10:101:10` (a Python range) or `8,16,32` → a tuple of positive sizes."""
    text = text.strip()
    try:
        if ":" in text:
            parts = [int(p) for p in text.split(":")]
            if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] == 0):
                raise ValueError
            sizes = tuple(range(*parts))
        else:
            sizes = tuple(int(p) for p in text.split(",") if p.strip())
    except ValueError:
        raise WorkloadUsageError(
            f"bad --sizes {text!r}: use START:STOP:STEP (e.g. 10:101:10) or a list (e.g. 8,16,32)"
        ) from None
    if not sizes:
        raise WorkloadUsageError(f"bad --sizes {text!r}: it gives no sizes")
    if any(s <= 0 for s in sizes):
        raise WorkloadUsageError(f"bad --sizes {text!r}: sizes must be positive")
    return sizes


STANDARD_FILE = "<guardprof standard workload>"


def make_standard_fn(num_args: int, filename: str = STANDARD_FILE,
                     first_line: int = 1) -> Callable[..., Any]:
    """`foo(x0, …, xN-1)`: sums every input's first dimension, returns `x0 + n`.

    Built from source, as dynamo_guard_eval.py does, so dynamo sees N named positional args
    (each becomes its own guarded local). `filename`/`first_line` give what-if's variants code
    objects of their own.

    The source is registered in `linecache` under `filename`: `inspect.getsource` then finds it,
    and torch.compile sees a function with source. torch ≤ 2.12 wraps a function without one in
    `external_utils.wrap_inline`, whose one `inner` code object is shared by every callable so
    wrapped (one entry list, one walk, frames labelled `inner`); torch 2.13 stopped doing that
    for exec'd functions (pytorch#124269).
    """
    names = [f"x{i}" for i in range(num_args)]
    source = "\n" * (first_line - 1) + (
        f"def foo({', '.join(names)}):\n"
        f"    n = {' + '.join(f'{name}.shape[0]' for name in names)}\n"
        f"    return x0 + n\n"
    )
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict[str, Any] = {}
    exec(compile(source, filename, "exec"), namespace)
    return namespace["foo"]


def standard_workload(num_args: int, sizes: Sequence[int], device: str) -> Workload:
    """The dynamo_guard_eval.py workload: for each size, `num_args` tensors `randn(size)`."""
    import torch

    if num_args < 1:
        raise WorkloadUsageError(f"--num-args must be at least 1, got {num_args}")
    fn = make_standard_fn(num_args)
    calls = [
        tuple(torch.randn(size, device=device) for _ in range(num_args)) for size in sizes
    ]
    return Workload(fn, calls, name="compiled")


def load_target(target: str) -> Workload:
    """Resolve `MODULE:NAME` or `path/to/file.py:NAME` to a Workload."""
    module_part, sep, attr = target.rpartition(":")
    if not sep or not module_part or not attr:
        raise WorkloadUsageError(
            f"bad --target {target!r}: use MODULE:NAME or path/to/file.py:NAME"
        )
    module = _import_target_module(module_part)
    try:
        obj = getattr(module, attr)
    except AttributeError:
        raise WorkloadUsageError(f"target {module_part!r} has no attribute {attr!r}") from None
    if isinstance(obj, Workload):
        return obj
    if not callable(obj):
        raise WorkloadUsageError(
            f"target {target!r} is a {type(obj).__name__}: expected a guardprof.Workload "
            "or a zero-argument callable returning one"
        )
    try:
        result = obj()
    except (WorkloadUsageError, GuardprofError):
        raise
    except Exception as exc:
        raise GuardprofError(
            f"target {target!r} raised {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(result, Workload):
        raise WorkloadUsageError(
            f"target {target!r} returned {type(result).__name__}, expected a guardprof.Workload"
        )
    return result


def _import_target_module(module_part: str):
    looks_like_file = module_part.endswith(".py") or "/" in module_part or "\\" in module_part
    if looks_like_file:
        path = Path(module_part)
        if not path.is_file():
            raise WorkloadUsageError(f"target file {module_part!r} not found")
        where = f"target file {module_part!r}"
        module_name = f"guardprof_target_{path.stem}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise WorkloadUsageError(f"{where} cannot be imported")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module

        def do_import():
            spec.loader.exec_module(module)
            return module
    else:
        where = f"target module {module_part!r}"
        if str(Path.cwd()) not in sys.path:
            sys.path.insert(0, str(Path.cwd()))
        if importlib.util.find_spec(module_part.split(".")[0]) is None:
            raise WorkloadUsageError(f"{where} not found")

        def do_import():
            return importlib.import_module(module_part)

    try:
        return do_import()
    except ModuleNotFoundError as exc:
        raise WorkloadUsageError(f"{where} could not be imported: {exc}") from exc
    except Exception as exc:
        raise GuardprofError(f"{where} raised {type(exc).__name__} on import: {exc}") from exc
