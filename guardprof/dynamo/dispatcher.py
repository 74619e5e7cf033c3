"""The dispatcher a program's compiled frame was called through, found from the frame itself.

`torch.compile(fn)` returns dynamo's `compile_wrapper`, a closure whose frame holds the dynamo
context (`self`: its frame callback, backend and `dynamic` hooks). A sampled frame's caller is
that wrapper's frame, directly (a function; torch's `inner` wrapper around a built-in module) or
through `nn.Module.__call__` (a user's module: its `forward` is the frame). Its context and the
frame's own function (its code, globals and closure) are what is needed to call the frame again
through the same dispatch, and to compile copies of it with the program's settings. A frame
reached otherwise (a resume function after a graph break runs from inside another frame's
compiled code) has no such caller: `of_frame` → None.
"""

from __future__ import annotations

import contextlib
import copy as copying
import dataclasses
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from guardprof.dynamo import compiler


@dataclass(frozen=True)
class Dispatcher:
    context: Any  # torch._dynamo's context object made by the program's torch.compile
    fn: types.FunctionType  # the function whose code holds the frame's cache entries

    @property
    def key(self) -> tuple:
        """Equal for calls of one callable (a function built anew per sample for a module's
        `forward` compares by its code and closure, not its identity)."""
        cells = tuple(id(c.cell_contents) for c in self.fn.__closure__ or ())
        return id(self.context), id(self.fn.__code__), cells

    @property
    def dynamic(self) -> bool | None:
        return getattr(self.context, "_dynamic", None)

    def compiled(self) -> Callable[..., Any]:
        """`fn` through the program's own wrapper and frame hook: a call walks the frame's real
        cache entries (dynamo keeps them on the code object), as the program's calls do. A
        module's `__call__` (its hooks) is not in it."""
        return self.context(self.fn)

    def compile(self, fn: types.FunctionType, guard_filter: Any = None) -> Callable[..., Any]:
        """A copy of `fn` (a copy of this frame's function) compiled with the program's dynamo
        context or, with `guard_filter`, with its backend and `dynamic` and that guard filter;
        it starts from the frame's automatic-dynamic state (see `inherit_code_state`)."""
        inherit_code_state(fn.__code__, self.fn.__code__)
        if guard_filter is None:
            return self.context(fn)
        return compiler.compile_fn(fn, self.backend, self.dynamic, guard_filter_fn=guard_filter)

    @property
    def backend(self) -> Any:
        from torch._dynamo.eval_frame import innermost_backend

        return innermost_backend(self.context.callback)


def current_autograd_mode() -> tuple[bool, bool]:
    """(grad enabled, inference mode) now: what a compiled frame's global-state guard checks."""
    import torch

    return torch.is_grad_enabled(), torch.is_inference_mode_enabled()


@contextlib.contextmanager
def autograd_mode(mode: tuple[bool, bool]) -> Iterator[None]:
    """Run inside the (grad enabled, inference mode) a sampled call ran in: its entries' guards
    check them, so a call replayed or called again in another mode is rejected by every
    entry (a program that ran under `torch.no_grad()` replayed 20 of 20 samples to no entry)."""
    import torch

    grad, inference = mode
    with torch.inference_mode(inference), torch.set_grad_enabled(grad):
        yield


def of_frame(frame: types.FrameType, input_code: types.CodeType) -> Dispatcher | None:
    """The dispatcher of a compiled frame dynamo is about to run (`frame`: its entry's
    transformed code, whose input code is `input_code`), or None where its caller is not
    torch.compile's wrapper (past `nn.Module.__call__`). Never raises: it runs in a profile
    hook inside the user's program."""
    try:
        return _of_frame(frame, input_code)
    except Exception:
        return None


def _of_frame(frame: types.FrameType, input_code: types.CodeType) -> Dispatcher | None:
    from torch._dynamo.eval_frame import _TorchDynamoContext

    caller = frame.f_back
    while caller is not None and caller.f_code.co_filename.endswith(
            ("torch/nn/modules/module.py", "torch\\nn\\modules\\module.py")):
        caller = caller.f_back
    if caller is None or not caller.f_code.co_filename.endswith("eval_frame.py"):
        return None
    context = caller.f_locals.get("self")
    if not isinstance(context, _TorchDynamoContext):
        return None
    fn = caller.f_locals.get("fn")
    if isinstance(fn, types.MethodType):  # torch.compile(obj.method): `self` is in the frame's
        fn = fn.__func__                   # locals, so the plain function takes the same call
    if not isinstance(fn, types.FunctionType) or fn.__code__ is not input_code:
        fn = _function_of(input_code, frame)  # a module's forward, reached through __call__
    return Dispatcher(context, fn)


def _function_of(code: types.CodeType, frame: types.FrameType) -> types.FunctionType:
    """A function of `code` with the frame's globals and closure (its free variables' values,
    from the frame's locals); called with every argument, so no defaults are needed."""
    f_locals = frame.f_locals
    closure = tuple(types.CellType(f_locals[name]) for name in code.co_freevars)
    return types.FunctionType(code, frame.f_globals, code.co_name, None, closure or None)


def inherit_code_state(copy: types.CodeType, original: types.CodeType) -> bool:
    """Give `copy` the automatic-dynamic state dynamo keeps for `original` (keyed by file, first
    line and name), so that a copy compiles as the original's latest entries were: a size or an
    int already seen to vary is dynamic from the copy's first compile (without it, a copy warmed
    on two batch sizes held a static and a dynamic entry, and a no-guard copy specialised on the
    first int returned wrong results for the next). False where this torch keeps no such state.
    """
    state = _code_state()
    if state is None:
        return False
    found = False
    where = (original.co_filename, original.co_firstlineno, original.co_name)
    for key, value in list(state.items()):
        if (key.filename, key.firstlineno, key.name) == where:
            mine = dataclasses.replace(key, firstlineno=copy.co_firstlineno)
            state[mine] = copying.deepcopy(value)
            found = True
    return found


@contextlib.contextmanager
def code_state_kept() -> Iterator[None]:
    """Drop, at the end, the automatic-dynamic state added inside (the copies' own): it lives in
    the user's process, and torch may write it to its profile cache on disk."""
    state = _code_state()
    before = set(state) if state is not None else set()
    try:
        yield
    finally:
        if state is not None:
            for key in [k for k in state if k not in before]:
                del state[key]


def _code_state() -> dict | None:
    try:
        from torch._dynamo import pgo

        return pgo.get_code_state()
    except (ImportError, AttributeError):
        return None
