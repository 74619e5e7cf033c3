"""Guard evaluation timed in situ, call by call, in the real loop: the headline guard figure.

Each round runs the workload's own iteration with the `LookupClock` installed and every call
stamped at its start and end. Per call: the lookup spans (the wrapper arming dynamo → the
guard-complete hook), the graphs' spans, and the call's own span. The guard cost is the lookup
spans less a **floor**: the same span of a guard-free lookup, timed in the same round on a probe
frame of the same shape (`FrameShape`: as many arguments; a module's `forward` reached through
`nn.Module.__call__`; a resume frame), compiled with `skip_all_guards_unsafe` and the eager
backend (the backend never takes part in a lookup). A second probe keeps only the root lambda
guard every frame has; its span less the floor, less that guard replayed, is the frame-locals
dict dynamo builds for Python guards (which the replay never pays).

The accepted check alone comes from the same loop with each call made twice in a row: the second
call finds its entry at the front of the cache (a hit moves it there), so its lookup is the
accepted check with no walk. Doing every call twice leaves the cache in the order one plain
iteration leaves it.

Because each span is taken inside one call, its resolution does not depend on the graph: a 10-ms
graph adds nothing to a lookup span. The stamps cost a little (their own figure, `overhead_us`,
measured on the probe); inside a lookup span sits only the hook's entry, which the floor holds
too, so it cancels.
"""

from __future__ import annotations

import gc
import statistics
import time
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from guardprof.dynamo import cache, compiler, lookup_clock
from guardprof.dynamo.lookup_clock import LookupClock
from guardprof.measure.loops import iteration_of, median_and_quartiles
from guardprof.model import in_situ as model
from guardprof.workload.spec import Call

ROUND_TARGET_S = 0.012  # one round's instrumented iteration(s) last about this long
PROBE_CALLS = 300  # probe lookups per timing of a probe
FLOOR_CALLS = 200  # guard-free probe lookups in each round
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


@dataclass
class CallSpans:
    """One call's stamps, reduced: ns each."""

    total: int = 0
    graph: int = 0
    lookups: list[int] = field(default_factory=list)
    unpaired: int = 0
    pregraph: int = 0  # each lookup's end → the next graph's start: frame setup and bytecode


def split_calls(stamps: Any) -> list[CallSpans]:
    """Stamps → one `CallSpans` per CALL_START … CALL_END. A lookup pairs with the latest armed
    stamp before it (the wrapper's, or a resume call's); one with none is unpaired."""
    calls: list[CallSpans] = []
    current: CallSpans | None = None
    start = armed = graph_start = looked_up = None
    for mark, t in lookup_clock.unpack(stamps):
        if mark == lookup_clock.CALL_START:
            current, start, armed = CallSpans(), t, None
        elif current is None:
            continue
        elif mark == lookup_clock.ARMED:
            armed = t
        elif mark == lookup_clock.LOOKUP:
            if armed is None:
                current.unpaired += 1
            else:
                current.lookups.append(t - armed)
                armed = None
            looked_up = t
        elif mark == lookup_clock.GRAPH_START:
            graph_start = t
            if looked_up is not None:
                current.pregraph += t - looked_up
                looked_up = None
        elif mark == lookup_clock.GRAPH_END and graph_start is not None:
            current.graph += t - graph_start
            graph_start = None
        elif mark == lookup_clock.CALL_END:
            current.total = t - start
            calls.append(current)
            current = None
    return calls


def stamped_iteration(pairs: list, add: Callable, repeat: int = 1) -> Callable[[], None]:
    """One iteration over (callable, Call) pairs, each call stamped at start and end."""
    now, bits = time.perf_counter_ns, lookup_clock.MARK_BITS
    bound = [(f, c.args, c.kwargs) for f, c in pairs for _ in range(repeat)]
    start, end = lookup_clock.CALL_START, lookup_clock.CALL_END

    def run() -> None:
        for f, args, kwargs in bound:
            add(now() << bits | start)
            f(*args, **kwargs)
            add(now() << bits | end)

    return run


class _Probe:
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


class InSituTimer:
    """Rounds of the stamped loop; `result()` times the probes and summarises the rounds.

    `pairs`: (callable, Call) of one iteration, in the workload's order; `frames_per_call`: the
    shapes of the frames each call's lookups run, in order (from the captured iteration);
    `frame_globals`: the globals of those frames (their graph and resume calls are stamped).
    The guard-free probes are timed in every round, next to the loop they are the floor of.
    """

    def __init__(self, pairs: list, frames_per_call: list[list[FrameShape]],
                 frame_globals: list[dict]) -> None:
        self.pairs = pairs
        self.frames_per_call = frames_per_call
        self.frame_globals = frame_globals
        self.why_not = lookup_clock.unavailable() or _filters_missing()
        self.rounds: list[dict[str, list[float]]] = []  # per round, per call: µs figures
        self.unpaired = 0
        self.calls_seen = 0
        self._iterations = self._calibrate() if self.why_not is None else 1
        # The guard-free probes, timed in every round: this VM's speed drifts by tens of
        # percent within seconds, and a floor timed in the same round drifts with the lookups.
        self._floor_probes: dict[FrameShape, _Probe] = {}
        if self.why_not is None:
            shapes = {f for frames in frames_per_call for f in frames} or {FrameShape(1)}
            for shape in sorted(shapes, key=lambda f: (f.args, f.via_module_call, f.resume)):
                probe = _Probe(shape, "no guards", compiler.skip_all_guards_filter())
                if probe.why_not is not None:
                    self.why_not = probe.why_not
                    break
                self._floor_probes[shape] = probe

    def _calibrate(self) -> int:
        run = stamped_iteration(self.pairs, [].append)
        t = time.perf_counter()
        run()
        one = max(time.perf_counter() - t, 1e-7)
        return max(1, min(1000, round(ROUND_TARGET_S / one)))

    def time_round(self) -> None:
        """One round: the real loop, then the loop with each call made twice in a row. Each
        call's figure is its median over the round's iterations (one slow iteration, a cold
        cache after other work, moves no figure)."""
        if self.why_not is not None:
            return
        collecting = gc.isenabled()
        gc.disable()
        try:
            self._warm()
            plain = self._loop(1)
            repeated = self._loop(2)[1::2]
            floors = {shape: statistics.median(probe.spans(FLOOR_CALLS)) / 1e3
                      for shape, probe in self._floor_probes.items()}
        finally:
            if collecting:
                gc.enable()
        n_calls = len(self.pairs)
        keys = ("lookup", "lookups", "graph", "total", "accepted", "floor", "accepted_floor",
                "pregraph")
        per_call: dict[str, list[list[float]]] = {k: [[] for _ in range(n_calls)] for k in keys}
        for k, spans in enumerate(plain):
            i = k % n_calls
            per_call["lookup"][i].append(sum(spans.lookups) / 1e3)
            per_call["lookups"][i].append(len(spans.lookups))
            per_call["floor"][i].append(self._floor(i, len(spans.lookups), floors))
            per_call["graph"][i].append(spans.graph / 1e3)
            per_call["pregraph"][i].append(spans.pregraph / 1e3)
            per_call["total"][i].append(spans.total / 1e3)
            self.unpaired += spans.unpaired
            self.calls_seen += 1
        for k, spans in enumerate(repeated):
            i = k % n_calls
            per_call["accepted"][i].append(sum(spans.lookups) / 1e3)
            per_call["accepted_floor"][i].append(self._floor(i, len(spans.lookups), floors))
        self.rounds.append({k: [statistics.median(v) if v else 0.0 for v in values]
                            for k, values in per_call.items()})

    def _warm(self) -> None:
        """One plain iteration first: the loop's data back in the caches after other work."""
        for f, call in self.pairs:
            f(*call.args, **call.kwargs)

    def _loop(self, repeat: int) -> list[CallSpans]:
        clock = LookupClock(self.frame_globals)
        run = stamped_iteration(self.pairs, clock.stamps.append, repeat)
        with clock:
            for _ in range(self._iterations):
                run()
        return split_calls(clock.stamps)

    def _floor(self, i: int, lookups: int, floors: dict[FrameShape, float]) -> float:
        """Call i's guard-free floor: one per lookup it ran, each by its frame's shape."""
        shapes = self.frames_per_call[i] or [min(floors, key=lambda f: f.args)]
        return sum(floors[shapes[min(j, len(shapes) - 1)]] for j in range(lookups))

    def _guards(self, key: str, floor_key: str) -> list[float]:
        """Per round: the mean over the calls of (their `key` span − their floor that round)."""
        return [statistics.fmean(v - f for v, f in zip(r[key], r[floor_key], strict=True))
                for r in self.rounds]

    def settled(self, spread: float) -> bool:
        """Whether the rounds' quartiles of the lookup span span at most `spread` of it (the
        floor, timed later, is a constant: it moves the median, not the quartiles' width)."""
        if len(self.rounds) < 2:
            return False
        us, low, high = median_and_quartiles(
            [statistics.fmean(r["lookup"]) for r in self.rounds])
        return us > 0 and (high - low) <= spread * us

    def result(self, cross_check: model.Check, same_passes_lookup_us: float | None = None
               ) -> tuple[model.InSitu, float | None]:
        """The in-situ figure, and the frame-locals dict's cost per call (for the breakdown).
        `same_passes_lookup_us`: the clock's lookup µs per call in the cross-check's own passes
        (what running the profiler adds to the lookups is stated from it)."""
        if self.why_not is None and not self.rounds:
            self.why_not = "no in-situ round ran"
        shapes = set(self._floor_probes)
        floors = probe_floors(shapes, built=self._floor_probes) if self.why_not is None else None
        if floors is not None and floors.why_not is not None:
            self.why_not = floors.why_not
        if self.why_not is not None or floors is None:
            return model.InSitu(None, None, None, model.METHOD, cross_check,
                                note=self.why_not), None
        def med(key: str) -> float:
            return statistics.median(statistics.fmean(r[key]) for r in self.rounds)

        per_round = self._guards("lookup", "floor")
        us, low, high = median_and_quartiles(per_round)
        floor_us = statistics.median(statistics.fmean(r["floor"]) for r in self.rounds)
        same = (None if same_passes_lookup_us is None else same_passes_lookup_us - floor_us)
        # Judged against the headline figure, raw: the profiler's own cost inside each event is
        # measured on a probe and stated, not subtracted; its cost around each event falls
        # outside the events (the clock in its passes shows that).
        ratio, verdict = model.verdict(us, cross_check.us_per_call)
        checked = model.Check(cross_check.method, cross_check.us_per_call, ratio, verdict,
                              cross_check.note, same, None if same is None else same - us,
                              floors.profiler_cost_us)

        calls = max(1, self.calls_seen)
        notes = []
        if self.unpaired:
            notes.append(f"{self.unpaired / calls:.2f} lookups per call had no stamped start (a "
                         "frame entered neither through the torch.compile wrapper nor a resume "
                         "global): not counted")
        accepted, a_low, a_high = median_and_quartiles(self._guards("accepted",
                                                                     "accepted_floor"))
        why = unresolved(accepted, a_low, a_high)
        if why:
            notes.append(f"the accepted check alone is unresolved: {why}")
            accepted = None
        why = unresolved(us, low, high)
        if why:
            return model.InSitu(None, low, high, model.METHOD, checked,
                                lookup_us=med("lookup"), floor_us=floor_us,
                                rounds=len(self.rounds), rounds_us=per_round,
                                note=f"unresolved: {why}"), None
        locals_us = statistics.fmean(
            sum(floors.frame_locals_us[shape] for shape in frames)
            for frames in self.frames_per_call)
        situ = model.InSitu(
            us_per_call=us, low=low, high=high, method=model.METHOD, cross_check=checked,
            lookup_us=med("lookup"), floor_us=floor_us,
            lookups_per_call=med("lookups"), unpaired_per_call=self.unpaired / calls,
            graph_us=med("graph"), outside_graph_us=med("total") - med("graph"),
            pregraph_us=med("pregraph"),
            call_us=med("total"),
            accepted_us=accepted,
            overhead_us=floors.overhead_us, rounds=len(self.rounds), rounds_us=per_round,
            note="; ".join(notes) or None)
        return situ, locals_us


def unresolved(us: float, low: float, high: float) -> str | None:
    """Why a figure from rounds cannot be told from nothing (None: it can): its quartiles reach
    0, or are wider than the figure itself."""
    if low <= 0:
        return f"its rounds' quartiles [{low:.2f}, {high:.2f}] µs reach 0 (median {us:.2f})"
    if high - low > abs(us):
        return (f"its rounds' quartiles [{low:.2f}, {high:.2f}] µs are wider than the figure "
                f"(median {us:.2f})")
    return None


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
                 built: dict[FrameShape, _Probe] | None = None) -> Floors:
    """The probes alone (a program's frames, timed while it ran): median over `rounds`;
    `built`: guard-free probes already compiled (the in-situ timer's)."""
    why = lookup_clock.unavailable() or _filters_missing()
    if why is not None:
        return Floors({}, {}, why)
    floors: dict[FrameShape, float] = {}
    locals_: dict[FrameShape, float] = {}
    overhead = profiler_cost = None
    collecting = gc.isenabled()
    gc.disable()
    try:
        for n in sorted(shapes, key=lambda f: (f.args, f.via_module_call, f.resume)):
            bare = (built or {}).get(n) or _Probe(n, "no guards",
                                                  compiler.skip_all_guards_filter())
            if bare.why_not is not None:
                return Floors({}, {}, bare.why_not)
            lam = _Probe(n, "root lambda only", compiler.saved_tensors_hooks_only_filter())
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


def _filters_missing() -> str | None:
    if compiler.skip_all_guards_filter() is None:
        return (f"torch {compiler.torch_version()} has no guard_filter_fn helpers: no guard-free "
                "probe, so no floor to subtract")
    return None
