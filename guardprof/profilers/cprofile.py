"""cProfile of the hot loop only, and a derived profile in which guard evaluation is an entry.

cProfile cannot see guard evaluation: dynamo runs a frame's guards in C++ before that frame
starts, so cProfile books their time as self time (`tottime`) of whatever Python function
called the compiled frame — `torch/_dynamo/eval_frame.py:compile_wrapper` for a
`torch.compile`d function. The derived profile moves the measured (replayed) guard time out of
that self time into one synthetic callee per compiled frame, `[dynamo guards] foo (10 entries)`
(the in-situ guard figure, split between frames as the replay splits it);
the profile's total time is unchanged and its callers/callees stay consistent. The raw cProfile
data is written beside it, untouched.
"""

from __future__ import annotations

import collections
import cProfile
import gc
import marshal
import pstats
import time
import types
from pathlib import Path

from guardprof.analysis.findings import explained
from guardprof.dynamo import cache
from guardprof.dynamo.stack_marks import GUARDS_FILE_MARK
from guardprof.errors import GuardprofError
from guardprof.fileio import atomic_path
from guardprof.measure.program import ProgramRecorder
from guardprof.measure.run import measure_warm, warm
from guardprof.model.profiles import (
    GUARD_NODE_PREFIX,
    Booking,
    CollapsedLabel,
    CProfileRun,
    FuncKey,
    GuardNode,
    ProgramCProfileRun,
    Stats,
)
from guardprof.model.run_report import GuardReport
from guardprof.progress import SILENT, Progress
from guardprof.workload import program
from guardprof.workload.program import Program
from guardprof.workload.spec import WorkloadSpec

PROGRAM_METHOD = (
    "cProfile enabled around the whole program, run in this process as `python SCRIPT` runs it "
    "(the imports guardprof had not already made included); guardprof's lookup counter and "
    "sampler ran alongside, so their Python calls are in the profile; wall time by "
    "perf_counter, profiler overhead included"
)
PROFILE_METHOD = (
    "cProfile enabled around the hot loop only (after warm-up), gc off as timeit; the loop's "
    "wall time by perf_counter around it, profiler overhead included"
)


def profile_loop(run_fn, iterations: int) -> tuple[cProfile.Profile, float]:
    """cProfile around `iterations` of the hot loop and nothing else; gc off, as timeit."""
    profiler = cProfile.Profile()
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        profiler.enable()
        for _ in range(iterations):
            run_fn()
        profiler.disable()
        elapsed = time.perf_counter() - start
    finally:
        if gc_was_enabled:
            gc.enable()
    return profiler, elapsed


def run_cprofile(spec: WorkloadSpec, iterations: int | None = None,
                 progress: Progress = SILENT) -> CProfileRun:
    warmed = warm(spec, progress)
    iterations = warmed.number if iterations is None else iterations
    if iterations < 1:
        raise GuardprofError(f"--iterations must be at least 1, got {iterations}")
    progress.update(f"cProfile: {iterations} iterations of the hot loop")
    profiler, loop_s = profile_loop(warmed.run_compiled(), iterations)
    entries = profiler.getstats()
    profiler.create_stats()
    raw: Stats = profiler.stats
    report = explained(measure_warm(warmed, progress, eager_baseline=False, cross_check=False))
    notes: list[str] = []
    # The in-situ guard figure, split between frames as the replay splits it; the replay alone
    # only where no in-situ figure could be had, and then a note says so.
    guard_us = report.guard_us()
    if guard_us is None:
        guard_us = report.guard_cost.total_us_per_call
        why = report.in_situ.note if report.in_situ is not None else "not run"
        notes.append(f"guard evaluation was not measured in situ ({why}): the [dynamo guards] "
                     "entries hold the replayed checks, which leave out dynamo's frame-locals "
                     "dict")
    # float(): numpy scalars would be marshalled as bytes, which pstats cannot read
    per_iteration_s = float(guard_us) * 1e-6 * len(warmed.prepared.calls)
    frame_s = {key: share * per_iteration_s * iterations
               for key, share in _frame_shares(report).items()}
    nodes = plan_guard_nodes(entries, _frame_codes(), frame_s, notes,
                             {f.code_key: f.name for f in report.frames})
    derived = derive(raw, nodes)
    for node in nodes:
        if node.seconds < node.replayed_s * (1 - 1e-9):
            notes.append(
                f"{node.frame}: replayed guard time {node.replayed_s * 1e3:.1f} ms exceeds the "
                f"self time cProfile booked in its caller; moved {node.seconds * 1e3:.1f} ms"
            )
    progress.clear()
    callers = {b.caller for node in nodes for b in node.bookings}
    return CProfileRun(iterations, len(warmed.prepared.calls), loop_s, raw, derived, nodes,
                       collapsed_labels(entries, raw), report, notes,
                       python_guards=python_guard_functions(raw, callers),
                       method=PROFILE_METHOD)


def code_key(code: types.CodeType | str) -> FuncKey:
    return cProfile.label(code)


def _frame_codes() -> dict[FuncKey, tuple[types.CodeType, set[int], int]]:
    """Each compiled frame: its code, the ids of every code a call of it may run (its own, if
    no entry accepts, and each entry's transformed code), and its number of entries."""
    frames = {}
    for code in cache.compiled_codes():
        entries = cache.cache_entries(code)
        ids = {id(code)} | {id(e.output_code) for e in entries if e.output_code is not None}
        frames[code_key(code)] = (code, ids, len(entries))
    return frames


def _frame_shares(report: GuardReport) -> dict[FuncKey, float]:
    """Each compiled frame's share of the replayed guard time (the report keeps it per frame)."""
    total = sum(f.guard_us_per_call for f in report.frames)
    return {
        f.code_key:
            f.guard_us_per_call / total if total > 0 else 1 / len(report.frames)
        for f in report.frames
    }


def plan_guard_nodes(entries, frames: dict[FuncKey, tuple], frame_s: dict[FuncKey, float],
                     notes: list[str], names: dict[FuncKey, str] | None = None,
                     per_call_s: dict[FuncKey, float] | None = None) -> list[GuardNode]:
    """Where cProfile booked each frame's guard time: the callers of its codes, found by code
    object (exact even where several codes share one pstats label). `names`: the report's name
    of each frame (the user's callable where the entries live on a torch-internal wrapper).
    `per_call_s` (a program: no fixed loop) gives a frame's time as its replayed guard time per
    call × the calls of it cProfile counted, instead of `frame_s`."""
    nodes = []
    for key, (code, ids, n_entries) in frames.items():
        name = (names or {}).get(key, code.co_name)
        lookups: collections.Counter[FuncKey] = collections.Counter()
        for entry in entries:
            for sub in entry.calls or ():
                if id(sub.code) in ids:
                    lookups[code_key(entry.code)] += sub.callcount
        total = sum(lookups.values())
        seconds = (per_call_s[key] * total if per_call_s is not None and key in per_call_s
                   else frame_s.get(key, 0.0))
        if total == 0:
            if seconds > 0:
                notes.append(f"{name}: no call of it under a profiled caller; its "
                             "guard time is not placed in the derived profile")
            continue
        plural = "entry" if n_entries == 1 else "entries"
        node = GuardNode(
            key=(code.co_filename, code.co_firstlineno,
                 f"{GUARD_NODE_PREFIX} {name} ({n_entries} {plural})"),
            frame=name, entries=n_entries,
            replayed_us_per_call=(per_call_s[key] * 1e6
                                  if per_call_s is not None and key in per_call_s else None),
        )
        for caller, n in lookups.most_common():
            node.bookings.append(Booking(caller, n, float(seconds) * n / total, 0.0))
        nodes.append(node)
    return nodes


def derive(raw: Stats, nodes: list[GuardNode]) -> Stats:
    """A copy of `raw` with each node's time moved out of its callers' self time into a new
    entry called by them. Fills in each booking's `moved_s` (at most the caller's self time)."""
    derived: Stats = {k: (cc, nc, tt, ct, dict(callers))
                      for k, (cc, nc, tt, ct, callers) in raw.items()}
    for node in nodes:
        node_callers = {}
        for booking in node.bookings:
            if booking.caller not in derived:
                continue
            cc, nc, tt, ct, callers = derived[booking.caller]
            moved = min(booking.replayed_s, tt)
            booking.moved_s = moved
            derived[booking.caller] = (cc, nc, tt - moved, ct, _scale_tt(callers, tt, tt - moved))
            node_callers[booking.caller] = (booking.lookups, booking.lookups, moved, moved)
        if node_callers:
            derived[node.key] = (node.lookups, node.lookups, node.seconds, node.seconds,
                                 node_callers)
    return derived


def _scale_tt(callers: dict, old_tt: float, new_tt: float) -> dict:
    """Per-caller self times shrink with the total, so they still sum to it."""
    factor = new_tt / old_tt if old_tt > 0 else 0.0
    return {k: (nc, cc, tt * factor, ct) for k, (nc, cc, tt, ct) in callers.items()}


def collapsed_labels(entries, raw: Stats) -> list[CollapsedLabel]:
    calls: dict[FuncKey, list[int]] = collections.defaultdict(list)
    for entry in entries:
        if isinstance(entry.code, types.CodeType):
            calls[code_key(entry.code)].append(entry.callcount)
    return [
        CollapsedLabel(key, len(counts), raw[key][1] if key in raw else 0, sum(counts))
        for key, counts in calls.items() if len(counts) > 1
    ]


def python_guard_functions(stats: Stats, callers: set[FuncKey]) -> list[tuple[FuncKey, int, float]]:
    """Dynamo's Python-level guards cProfile saw (called from the compiled frames' callers
    during the lookup): (function, calls, cumulative seconds)."""
    found = []
    for key, (_cc, nc, _tt, ct, their_callers) in stats.items():
        if key[0].replace("\\", "/").endswith(GUARDS_FILE_MARK) and set(their_callers) & callers:
            found.append((key, nc, ct))
    return sorted(found, key=lambda row: -row[2])


def write_stats(path: str | Path, stats: Stats) -> Path:
    """As `pstats.Stats.dump_stats` writes it (marshal), atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        marshal.dump(stats, f)
    return Path(path)


def load_stats(path: str | Path) -> pstats.Stats:
    """A profile file as pstats reads it, or a one-line error saying it is not one."""
    try:
        stats = pstats.Stats(str(path))
    except (OSError, EOFError, ValueError, TypeError, AttributeError, KeyError) as exc:
        raise GuardprofError(
            f"{path} is not a Python profile (cProfile/pstats .prof file): {exc}"
        ) from exc
    if not isinstance(stats.stats, dict) or not stats.stats:
        raise GuardprofError(f"{path} is not a Python profile: it holds no functions")
    return stats


def raw_path_for(path: Path) -> Path:
    """`guardprof-profile.prof` → `guardprof-profile.raw.prof`, beside it."""
    suffix = path.suffix or ".prof"
    return path.with_name(f"{path.stem if path.suffix else path.name}.raw{suffix}")


def profile_program(prog: Program) -> ProgramCProfileRun:
    """The program under cProfile, with the lookup hook counting and sampling alongside; then
    its samples replayed and each frame's guard time derived into the profile."""
    recorder = ProgramRecorder().start()
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    try:
        status = program.run(prog)
    finally:
        profiler.disable()
        wall_s = time.perf_counter() - start
        recorder.stop()
    entries = profiler.getstats()
    profiler.create_stats()
    raw: Stats = profiler.stats
    report = recorder.report(list(prog.command), status)
    notes: list[str] = []
    frames, names, per_call_s = {}, {}, {}
    for key, (code, ids, n_entries) in _frame_codes().items():
        here = {e.compile_id for e in cache.cache_entries(code)}
        frame = next((f for f in report.frames
                      if {e.compile_id for e in f.entries} == here), None)
        if frame is None:
            continue
        if frame.guard_us_per_call is None:
            # no node at all: a 0-ms node would read as "measured, and free"
            notes.append(f"{frame.name}: no sampled call of it was replayed, so its guard time "
                         "is not placed in the derived profile")
            continue
        frames[key] = (code, ids, n_entries)
        names[key] = frame.name
        situ = frame.in_situ.us_per_call if frame.in_situ is not None else None
        if situ is None:
            notes.append(f"{frame.name}: no in-situ guard figure "
                         f"({frame.in_situ.note if frame.in_situ else 'not measured'}): its "
                         "[dynamo guards] entry holds the replayed checks")
        per_call_s[key] = float(situ if situ is not None else frame.guard_us_per_call) * 1e-6
    nodes = plan_guard_nodes(entries, frames, {}, notes, names, per_call_s)
    derived = derive(raw, nodes)
    callers = {b.caller for node in nodes for b in node.bookings}
    # a program's profile holds many generated codes sharing a label (dataclasses'
    # `<string>` methods): only the compiled frames' own are worth a note
    ours = set(frames) | {code_key(e.output_code) for code, _, _ in frames.values()
                          for e in cache.cache_entries(code) if e.output_code is not None}
    collapsed = [c for c in collapsed_labels(entries, raw) if c.key in ours]
    return ProgramCProfileRun(report, wall_s, raw, derived, nodes, collapsed,
                              recorder.sampling_slots, notes,
                              python_guards=python_guard_functions(raw, callers),
                              method=PROGRAM_METHOD)
