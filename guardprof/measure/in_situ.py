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

import dataclasses
import gc
import statistics
import time

from guardprof.dynamo import compiler, lookup_clock
from guardprof.dynamo.lookup_clock import LookupClock
from guardprof.measure.lookup_probes import (
    FrameShape,
    Probe,
    filters_missing,
    probe_floors,
)
from guardprof.measure.lookup_spans import CallSpans, split_calls, stamped_iteration
from guardprof.measure.loops import median_and_quartiles
from guardprof.model import in_situ as model

ROUND_TARGET_S = 0.012  # one round's instrumented iteration(s) last about this long
FLOOR_CALLS = 200  # guard-free probe lookups in each round


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
        self.why_not = lookup_clock.unavailable() or filters_missing()
        self.rounds: list[dict[str, list[float]]] = []  # per round, per call: µs figures
        self.unpaired = 0
        self.calls_seen = 0
        self._iterations = self._calibrate() if self.why_not is None else 1
        # The guard-free probes, timed in every round: this VM's speed drifts by tens of
        # percent within seconds, and a floor timed in the same round drifts with the lookups.
        self._floor_probes: dict[FrameShape, Probe] = {}
        if self.why_not is None:
            shapes = {f for frames in frames_per_call for f in frames} or {FrameShape(1)}
            for shape in sorted(shapes, key=lambda f: (f.args, f.via_module_call, f.resume)):
                probe = Probe(shape, "no guards", compiler.skip_all_guards_filter())
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
        """Whether the rounds' quartiles of the guard figure (the rounds' lookup spans less
        their floors, as reported) span at most `spread` of its median."""
        if len(self.rounds) < 2:
            return False
        us, low, high = median_and_quartiles(self._guards("lookup", "floor"))
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
        if why:  # no figure, so nothing to judge the cross-check against
            unjudged = dataclasses.replace(checked, ratio=None, verdict="n/a")
            return model.InSitu(None, low, high, model.METHOD, unjudged,
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
