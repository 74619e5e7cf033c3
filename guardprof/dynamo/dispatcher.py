"""The dispatcher a program's compiled frame was called through, found from the frame itself.

`torch.compile(fn)` returns dynamo's `compile_wrapper`, a closure whose frame holds the dynamo
context (`self`: its frame callback, backend and `dynamic` hooks) and the function whose code
dynamo compiles (`fn`: the user's function, or torch's `inner` wrapper around a module's
`forward`). A sampled frame's caller is that wrapper's frame, so reading its locals gives what
is needed to call the same frame again through the same dispatch, and to compile copies of it
with the program's own settings. A frame reached otherwise (a resume function after a graph
break runs from inside another frame's compiled code) has no such caller: `of_frame` → None.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Dispatcher:
    context: Any  # torch._dynamo's context object made by the program's torch.compile
    fn: types.FunctionType  # the function whose code holds the frame's cache entries

    @property
    def key(self) -> tuple[int, int]:
        return id(self.context), id(self.fn)

    def compiled(self) -> Callable[..., Any]:
        """`fn` through the program's own wrapper and frame hook: a call walks the frame's real
        cache entries (dynamo keeps them on the code object), as the program's calls do."""
        return self.context(self.fn)

    def compile(self, fn: types.FunctionType, guard_filter: Any = None) -> Callable[..., Any]:
        """A copy of `fn` (a copy of this frame's function) compiled with the program's settings
        (the same context) or, with `guard_filter`, with the same backend and `dynamic` and that
        guard filter; it starts from the frame's automatic-dynamic state (see
        `inherit_code_state`)."""
        inherit_code_state(fn.__code__, self.fn.__code__)
        if guard_filter is None:
            return self.context(fn)
        import torch

        return torch.compile(fn, backend=self.backend, dynamic=getattr(self.context, "_dynamic",
                                                                       None),
                             options={"guard_filter_fn": guard_filter})

    @property
    def backend(self) -> Any:
        from torch._dynamo.eval_frame import innermost_backend

        return innermost_backend(self.context.callback)


def of_frame(frame: types.FrameType) -> Dispatcher | None:
    """The dispatcher of a compiled frame dynamo is about to run (its caller's `self`, `fn`),
    or None where the caller is not torch.compile's wrapper."""
    from torch._dynamo.eval_frame import _TorchDynamoContext

    caller = frame.f_back
    if caller is None or not caller.f_code.co_filename.endswith("eval_frame.py"):
        return None
    scope = caller.f_locals
    context, fn = scope.get("self"), scope.get("fn")
    if isinstance(fn, types.MethodType):  # torch.compile(obj.method): the frame's locals hold
        fn = fn.__func__                   # `self`, so the plain function takes the same call
    if not isinstance(context, _TorchDynamoContext) or not isinstance(fn, types.FunctionType):
        return None
    return Dispatcher(context, fn)


def inherit_code_state(copy: types.CodeType, original: types.CodeType) -> bool:
    """Give `copy` the automatic-dynamic state dynamo keeps for `original` (keyed by file, first
    line and name), so that a copy compiles as the original's latest entries were: a size or an
    int already seen to vary is dynamic from the copy's first compile (without it, a copy warmed
    on two batch sizes held a static and a dynamic entry, and a no-guard copy specialised on the
    first int returned wrong results for the next). False where this torch keeps no such state.
    """
    import copy as copying
    import dataclasses

    try:
        from torch._dynamo import pgo

        state = pgo.get_code_state()
    except (ImportError, AttributeError):
        return False
    found = False
    where = (original.co_filename, original.co_firstlineno, original.co_name)
    for key, value in list(state.items()):
        if (key.filename, key.firstlineno, key.name) == where:
            mine = dataclasses.replace(key, firstlineno=copy.co_firstlineno)
            state[mine] = copying.deepcopy(value)
            found = True
    return found
