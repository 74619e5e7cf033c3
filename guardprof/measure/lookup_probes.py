"""Guard-free probe frames: the floor a lookup costs with no guard to check, per frame shape.

A probe is a frame of the same shape as the user's (as many arguments; a module's `forward`
reached through `nn.Module.__call__`; a resume frame behind a graph break) whose graph is
`a0 + 1`, compiled with a guard filter and the eager backend (the backend takes no part in a
lookup): with every guard dropped, its lookup span is the floor; keeping only the root lambda
guard every frame has, its span less the floor, less that guard replayed, is the frame-locals
dict dynamo builds for a Python guard. Each probe's source sits in `linecache`, so torch finds a
source file and compiles it on its own code (torch 2.11 compiles a function without one through
its shared wrapper code, where a guard-free entry would accept other callables' calls).
"""

from __future__ import annotations

import gc
import statistics
import time
import types
from dataclasses import dataclass
from typing import Any

from guardprof.dynamo import cache, compiler, lookup_clock
from guardprof.dynamo.lookup_clock import LookupClock
from guardprof.measure.lookup_spans import split_calls, stamped_iteration
from guardprof.measure.loops import iteration_of
from guardprof.workload.spec import Call

PROBE_CALLS = 300  # probe lookups per timing of a probe
PROBE_FILE = lookup_clock.PROBE_FILE_PREFIX + ", {n} args, {kind}>"


def arg_count(code: types.CodeType) -> int:
    """The locals bound when the frame starts: what dynamo's frame-locals dict holds."""
    flags = code.co_flags
    return (code.co_argcount + code.co_kwonlyargcount + bool(flags & 0x04) + bool(flags & 0x08)
            + len(code.co_freevars))


MODULE_CALLERS = ("_call_impl", "_wrapped_call_impl")
RESUME_CODE_PREFIX = "torch_dynamo_resume_in_"  # dynamo's name for a resume function's code


@dataclass(frozen=True)
class FrameShape:
    """What a guard-free lookup of a frame costs depends on: the locals dynamo maps, and whether
    the frame is reached through `nn.Module.__call__` (a module compiled whole: its Python
    dispatch runs between the wrapper arming dynamo and the lookup)."""

    args: int
    via_module_call: bool = False
    resume: bool = False  # a resume frame after a graph break: entered from the outer frame

    @classmethod
    def of(cls, code: types.CodeType, caller: types.CodeType | None = None) -> FrameShape:
        resume = code.co_name.startswith(RESUME_CODE_PREFIX)
        return cls(arg_count(code),
                   not resume and caller is not None and caller.co_name in MODULE_CALLERS,
                   resume)


class Probe:
    """A frame of the given shape whose graph is `a0 + 1`, compiled with a guard filter: a
    function, or the `forward` of a module compiled whole (called through nn.Module.__call__)."""

    def __init__(self, shape: FrameShape, kind: str, guard_filter: Any) -> None:
        import inspect
        import linecache

        import torch

        n = shape.args
        self.resume = shape.resume
        if shape.resume:  # its second frame is a resume function of n arguments
            names = [f"a{i}" for i in range(max(1, n))]
            source = (f"import torch\n\ndef probe({', '.join(names)}):\n    b = a0 + 1\n"
                      "    torch._dynamo.graph_break()\n"
                      f"    return (b + 1, {', '.join(names[1:])})\n")
        elif shape.via_module_call:
            names = [f"a{i}" for i in range(max(1, n - 1))]
            source = ("import torch\n\nclass Probe(torch.nn.Module):\n"
                      f"    def forward(self, {', '.join(names)}):\n        return a0 + 1\n")
        else:
            names = [f"a{i}" for i in range(max(1, n))]
            source = f"def probe({', '.join(names)}):\n    return a0 + 1\n"
        filename = PROBE_FILE.format(n=n, kind=kind + (", a module" if shape.via_module_call
                                                       else ", a resume" if shape.resume
                                                       else ""))
        # Its source in linecache, so that torch.compile finds a source file: without one, some
        # releases (2.11) compile a function through torch's shared wrapper code, where a
        # guard-free entry would accept every other callable's calls.
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        namespace: dict = {}
        exec(compile(source, filename, "exec"), namespace)
        self.why_not: str | None = None
        function = (namespace["Probe"].forward if shape.via_module_call
                    else namespace["probe"])
        if inspect.getsourcefile(function) is None:
            self.why_not = (f"torch {compiler.torch_version()} would compile the probe through "
                            "a shared wrapper: no guard-free floor is timed")
            return
        self.namespace = namespace
        target = namespace["Probe"]() if shape.via_module_call else function
        self.fn = compiler.compile_fn(target, "eager", False, guard_filter_fn=guard_filter)
        self.call = Call((torch.zeros(1),) + (None,) * (len(names) - 1))
        self.code = function.__code__
        for _ in range(3):
            self.fn(*self.call.args)
        self.code = function.__code__
        if not cache.cache_entries(self.code):
            self.why_not = (f"on torch {compiler.torch_version()} the probe's entries sit on a "
                            "shared torch wrapper, not on its own code: no floor is timed")

    def replayed_check_us(self) -> float:
        """This probe's guard check replayed as the run's replay times a check (on a ready dict
        of its frame's locals, captured; the Python call path subtracted)."""
        from guardprof.measure.capture import Capture, capture_iteration
        from guardprof.measure.replay import ReplayTimer

        code = self._resume_code() if self.resume else self.code
        captured = capture_iteration(self.fn, [self.call], [code])
        invocation = next(inv for inv in captured.invocations if inv.code is code)
        timer = ReplayTimer(Capture({code: cache.cache_entries(code)}, [invocation], 0))
        timer.time_block(0.05)
        steps = timer.result().invocations[0].steps
        return sum(step.seconds for step in steps) * 1e6

    def profiler_event_us(self) -> float | None:
        """The median 'TorchDynamo Cache Lookup' event of this probe's calls under
        torch.profiler (a second pass: the first pays the profiler's start-up)."""
        from guardprof.dynamo import profiler_events

        run = iteration_of([(self.fn, self.call)] * PROBE_CALLS)
        profiler_events.profile_cache_lookups(run, 1)
        events = profiler_events.profile_cache_lookups(run, 1)
        return statistics.median(events) if events else None

    def _resume_code(self) -> types.CodeType:
        for value in self.namespace.values():
            code = getattr(value, "__code__", None)
            if code is not None and code.co_name.startswith(RESUME_CODE_PREFIX):
                return code
        raise LookupError("the resume probe has no resume function")

    def overhead_us(self) -> float:
        """What the clock and the stamps add to a call: stamped − plain loops of this probe,
        alternated, median of 5 pairs."""
        diffs = []
        for _ in range(5):
            diffs.append(self.call_ns(PROBE_CALLS, stamped=True)
                         - self.call_ns(PROBE_CALLS, stamped=False))
        return statistics.median(diffs) / 1e3

    def spans(self, calls: int) -> list[int]:
        """Lookup spans (ns) of `calls` stamped calls (a resume probe: its resume frame's)."""
        clock = LookupClock([self.namespace])
        run = stamped_iteration([(self.fn, self.call)] * calls, clock.stamps.append)
        with clock:
            run()
        which = -1 if self.resume else 0
        return [c.lookups[which] for c in split_calls(clock.stamps) if c.lookups]

    def call_ns(self, calls: int, stamped: bool) -> float:
        """ns per call of a loop of `calls`, with or without the clock and stamps."""
        pairs = [(self.fn, self.call)] * calls
        if not stamped:
            run = iteration_of(pairs)
            t = time.perf_counter_ns()
            run()
            return (time.perf_counter_ns() - t) / calls
        clock = LookupClock()
        run = stamped_iteration(pairs, clock.stamps.append)
        with clock:
            t = time.perf_counter_ns()
            run()
            return (time.perf_counter_ns() - t) / calls


@dataclass(frozen=True)
class Floors:
    """Per frame shape: the guard-free lookup's span and the frame-locals dict's cost, µs."""

    floor_us: dict[FrameShape, float]
    frame_locals_us: dict[FrameShape, float]
    why_not: str | None = None
    overhead_us: float | None = None  # what the clock and stamps add to a call (on a probe)
    # the profiler's own cost inside one lookup event: a one-guard probe's event less its guard
    # timed in situ (None: the profiler recorded no event)
    profiler_cost_us: float | None = None


def probe_floors(shapes: set[FrameShape], rounds: int = 5,
                 built: dict[FrameShape, Probe] | None = None) -> Floors:
    """The probes alone (a program's frames, timed while it ran): median over `rounds`;
    `built`: guard-free probes already compiled (the in-situ timer's)."""
    why = lookup_clock.unavailable() or filters_missing()
    if why is not None:
        return Floors({}, {}, why)
    floors: dict[FrameShape, float] = {}
    locals_: dict[FrameShape, float] = {}
    overhead = profiler_cost = None
    collecting = gc.isenabled()
    gc.disable()
    try:
        for n in sorted(shapes, key=lambda f: (f.args, f.via_module_call, f.resume)):
            bare = (built or {}).get(n) or Probe(n, "no guards",
                                                  compiler.skip_all_guards_filter())
            if bare.why_not is not None:
                return Floors({}, {}, bare.why_not)
            lam = Probe(n, "root lambda only", compiler.saved_tensors_hooks_only_filter())
            if lam.why_not is not None:
                return Floors({}, {}, lam.why_not)
            if not any(e.guard_manager.code_parts for e in cache.cache_entries(lam.code)):
                return Floors({}, {}, "the probe keeping only the root lambda guard kept none: "
                                      "no frame-locals figure")
            f = [statistics.median(bare.spans(PROBE_CALLS)) for _ in range(rounds)]
            lo = [statistics.median(lam.spans(PROBE_CALLS)) for _ in range(rounds)]
            floors[n] = statistics.median(f) / 1e3
            one_guard_us = (statistics.median(lo) - statistics.median(f)) / 1e3
            # the one guard in situ less the same guard replayed: what the replay never pays,
            # the dict of frame locals dynamo builds for it
            locals_[n] = one_guard_us - lam.replayed_check_us()
            if overhead is None:
                overhead = bare.overhead_us()
            if profiler_cost is None and not n.resume:
                event = lam.profiler_event_us()
                profiler_cost = None if event is None else event - one_guard_us
    finally:
        if collecting:
            gc.enable()
    return Floors(floors, locals_, overhead_us=overhead, profiler_cost_us=profiler_cost)


def filters_missing() -> str | None:
    if compiler.skip_all_guards_filter() is None:
        return (f"torch {compiler.torch_version()} has no guard_filter_fn helpers: no guard-free "
                "probe, so no floor to subtract")
    return None
