"""Guard evaluation timed in situ, call by call, in the real loop: the headline guard figure.

Each round runs the workload's own iteration with the `LookupClock` installed and every call
stamped at its start and end. Per call: the lookup spans (the wrapper arming dynamo → the
guard-complete hook), the graphs' spans, and the call's own span. The guard cost is the lookup
spans less a **floor**: the same span of a guard-free lookup, timed in the same round on a probe
frame with as many arguments (compiled with `skip_all_guards_unsafe`, eager backend: the
backend never takes part in a lookup). A second probe keeps only the root lambda guard every
frame has; its span less the floor is the frame-locals dict dynamo builds for Python guards.

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
PROBE_CALLS = 300  # probe lookups per round (each kind)
PROBE_FILE = lookup_clock.PROBE_FILE_PREFIX + ", {n} args, {kind}>"


def arg_count(code: types.CodeType) -> int:
    """The locals bound when the frame starts: what dynamo's frame-locals dict holds."""
    flags = code.co_flags
    return (code.co_argcount + code.co_kwonlyargcount + bool(flags & 0x04) + bool(flags & 0x08)
            + len(code.co_freevars))


@dataclass
class CallSpans:
    """One call's stamps, reduced: ns each."""

    total: int = 0
    graph: int = 0
    lookups: list[int] = field(default_factory=list)
    unpaired: int = 0


def split_calls(stamps: Any) -> list[CallSpans]:
    """Stamps → one `CallSpans` per CALL_START … CALL_END. A lookup pairs with the latest armed
    stamp before it (the wrapper's, or a resume call's); one with none is unpaired."""
    calls: list[CallSpans] = []
    current: CallSpans | None = None
    start = armed = graph_start = None
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
        elif mark == lookup_clock.GRAPH_START:
            graph_start = t
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
    """A frame of `n` arguments whose graph is `a0 + 1`, compiled with a guard filter."""

    def __init__(self, n: int, kind: str, guard_filter: Any) -> None:
        import torch

        names = [f"a{i}" for i in range(max(1, n))]
        source = f"def probe({', '.join(names)}):\n    return a0 + 1\n"
        namespace: dict = {}
        exec(compile(source, PROBE_FILE.format(n=n, kind=kind), "exec"), namespace)
        self.fn = compiler.compile_fn(namespace["probe"], "eager", False,
                                      guard_filter_fn=guard_filter)
        self.call = Call((torch.zeros(1),) + (None,) * (len(names) - 1))
        for _ in range(3):
            self.fn(*self.call.args)
        self.why_not = None
        if not cache.cache_entries(namespace["probe"].__code__):
            self.why_not = (f"on torch {compiler.torch_version()} a compiled function's entries "
                            "sit on a shared torch wrapper, not on its own code: a guard-free "
                            "probe would share the walk it measures, so no floor is timed")

    def overhead_us(self) -> float:
        """What the clock and the stamps add to a call: stamped − plain loops of this probe,
        alternated, median of 5 pairs."""
        diffs = []
        for _ in range(5):
            diffs.append(self.call_ns(PROBE_CALLS, stamped=True)
                         - self.call_ns(PROBE_CALLS, stamped=False))
        return statistics.median(diffs) / 1e3

    def spans(self, calls: int) -> list[int]:
        """Lookup spans (ns) of `calls` stamped calls."""
        clock = LookupClock()
        run = stamped_iteration([(self.fn, self.call)] * calls, clock.stamps.append)
        with clock:
            run()
        return [s for c in split_calls(clock.stamps) for s in c.lookups]

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
    code objects each call's lookups run, in order (from the captured iteration);
    `frame_globals`: the globals of those frames (their graph and resume calls are stamped).
    The probes are compiled only after the rounds: on a torch that keeps every compiled
    function's entries on one shared wrapper, a probe's entry would join the walk it measures.
    """

    def __init__(self, pairs: list, frames_per_call: list[list[types.CodeType]],
                 frame_globals: list[dict]) -> None:
        self.pairs = pairs
        self.frames_per_call = frames_per_call
        self.frame_globals = frame_globals
        self.why_not = lookup_clock.unavailable() or _filters_missing()
        self.rounds: list[dict[str, list[float]]] = []  # per round, per call: µs figures
        self.unpaired = 0
        self.calls_seen = 0
        self._iterations = self._calibrate() if self.why_not is None else 1

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
        finally:
            if collecting:
                gc.enable()
        n_calls = len(self.pairs)
        keys = ("lookup", "lookups", "graph", "total", "accepted")
        per_call: dict[str, list[list[float]]] = {k: [[] for _ in range(n_calls)] for k in keys}
        for k, spans in enumerate(plain):
            i = k % n_calls
            per_call["lookup"][i].append(sum(spans.lookups) / 1e3)
            per_call["lookups"][i].append(len(spans.lookups))
            per_call["graph"][i].append(spans.graph / 1e3)
            per_call["total"][i].append(spans.total / 1e3)
            self.unpaired += spans.unpaired
            self.calls_seen += 1
        for k, spans in enumerate(repeated):
            per_call["accepted"][k % n_calls].append(sum(spans.lookups) / 1e3)
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

    def _floor_per_call(self, floors: dict[int, float]) -> list[float]:
        """Each call's guard-free floor: one per lookup it ran, each by its frame's arguments."""
        out = []
        for i, frames in enumerate(self.frames_per_call):
            lookups = round(statistics.median(r["lookups"][i] for r in self.rounds))
            counts = [arg_count(c) for c in frames] or [min(floors)]
            out.append(sum(floors[counts[min(j, len(counts) - 1)]] for j in range(lookups)))
        return out

    def _guards(self, key: str, floor: list[float]) -> list[float]:
        """Per round: the mean over the calls of (their `key` span − their floor)."""
        return [statistics.fmean(v - f for v, f in zip(r[key], floor, strict=True))
                for r in self.rounds]

    def settled(self, spread: float) -> bool:
        """Whether the rounds' quartiles of the lookup span span at most `spread` of it (the
        floor, timed later, is a constant: it moves the median, not the quartiles' width)."""
        if len(self.rounds) < 2:
            return False
        us, low, high = median_and_quartiles(
            [statistics.fmean(r["lookup"]) for r in self.rounds])
        return us > 0 and (high - low) <= spread * us

    def result(self, cross_check: model.Check) -> tuple[model.InSitu, float | None]:
        """The in-situ figure, and the frame-locals dict's cost per call (for the breakdown)."""
        if self.why_not is None and not self.rounds:
            self.why_not = "no in-situ round ran"
        counts = {arg_count(c) for frames in self.frames_per_call for c in frames} or {1}
        floors = probe_floors(counts) if self.why_not is None else None
        if floors is not None and floors.why_not is not None:
            self.why_not = floors.why_not
        if self.why_not is not None or floors is None:
            return model.InSitu(None, None, None, model.METHOD, cross_check,
                                note=self.why_not), None
        floor = self._floor_per_call(floors.floor_us)
        per_round = self._guards("lookup", floor)
        us, low, high = median_and_quartiles(per_round)
        ratio, verdict = model.verdict(us, cross_check.us_per_call)
        checked = model.Check(cross_check.method, cross_check.us_per_call, ratio, verdict,
                              cross_check.note)

        def med(key: str) -> float:
            return statistics.median(statistics.fmean(r[key]) for r in self.rounds)

        calls = max(1, self.calls_seen)
        note = None
        if self.unpaired:
            note = (f"{self.unpaired / calls:.2f} lookups per call had no stamped start (a frame "
                    "entered neither through the torch.compile wrapper nor a resume global): "
                    "not counted")
        locals_us = statistics.fmean(
            sum(floors.frame_locals_us[arg_count(c)] for c in frames)
            for frames in self.frames_per_call)
        situ = model.InSitu(
            us_per_call=us, low=low, high=high, method=model.METHOD, cross_check=checked,
            lookup_us=med("lookup"), floor_us=statistics.fmean(floor),
            lookups_per_call=med("lookups"), unpaired_per_call=self.unpaired / calls,
            graph_us=med("graph"), outside_graph_us=med("total") - med("graph"),
            call_us=med("total"),
            accepted_us=statistics.median(self._guards("accepted", floor)),
            overhead_us=floors.overhead_us, rounds=len(self.rounds), rounds_us=per_round,
            note=note)
        return situ, locals_us


@dataclass(frozen=True)
class Floors:
    """Per argument count: the guard-free lookup's span and the frame-locals dict's cost, µs."""

    floor_us: dict[int, float]
    frame_locals_us: dict[int, float]
    why_not: str | None = None
    overhead_us: float | None = None  # what the clock and stamps add to a call (on a probe)


def probe_floors(arg_counts: set[int], rounds: int = 5) -> Floors:
    """The probes alone (a program's frames, timed while it ran): median over `rounds`."""
    why = lookup_clock.unavailable() or _filters_missing()
    if why is not None:
        return Floors({}, {}, why)
    floors: dict[int, float] = {}
    locals_: dict[int, float] = {}
    overhead = None
    collecting = gc.isenabled()
    gc.disable()
    try:
        for n in sorted(arg_counts):
            bare = _Probe(n, "no guards", compiler.skip_all_guards_filter())
            if bare.why_not is not None:
                return Floors({}, {}, bare.why_not)
            lam = _Probe(n, "root lambda only", compiler.saved_tensors_hooks_only_filter())
            f = [statistics.median(bare.spans(PROBE_CALLS)) for _ in range(rounds)]
            lo = [statistics.median(lam.spans(PROBE_CALLS)) for _ in range(rounds)]
            floors[n] = statistics.median(f) / 1e3
            locals_[n] = (statistics.median(lo) - statistics.median(f)) / 1e3
            if overhead is None:
                overhead = bare.overhead_us()
    finally:
        if collecting:
            gc.enable()
    return Floors(floors, locals_, overhead_us=overhead)


def _filters_missing() -> str | None:
    if compiler.skip_all_guards_filter() is None:
        return (f"torch {compiler.torch_version()} has no guard_filter_fn helpers: no guard-free "
                "probe, so no floor to subtract")
    return None
