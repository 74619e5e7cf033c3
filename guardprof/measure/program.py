"""Record the compiled frames of a program while it runs, then replay its sampled calls.

The program is not a factory guardprof can call again, so every per-call figure comes from
samples taken while it runs (`dynamo.lookup_hook`): a sampled call keeps its frame locals, the
entry that served it and the cache order it walked. At the end each sample is replayed as
`guardprof run` replays its captured iteration (the same `ReplayTimer`), which gives its walk
depth and guard cost. Samples are bounded in number (MAX_SAMPLES: their locals keep tensors
alive) and spaced in time so that sampling costs at most about 1/SPACING_FACTOR of the
program's time; the report says what they cover.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import platform
import random
import statistics
import sysconfig
import threading
import time
import types
from dataclasses import dataclass, field

from guardprof.dynamo import cache, compiler, dispatcher, lookup_hook
from guardprof.dynamo.cache import EntryHandle
from guardprof.dynamo.compile_log import CompileRecorder
from guardprof.dynamo.dispatcher import Dispatcher
from guardprof.dynamo.guard_tree import build_entry_tree
from guardprof.measure import in_situ, lookup_probes, program_parts
from guardprof.measure.capture import Capture, Invocation, naming_of
from guardprof.measure.replay import ReplayTimer
from guardprof.measure.replay import method as replay_method
from guardprof.model.in_situ import Check, InSitu
from guardprof.model.program_report import (
    ProgramCallable,
    ProgramEntry,
    ProgramFrame,
    ProgramReport,
)
from guardprof.progress import SILENT, Progress

FIRST_SAMPLES = 20  # samples back to back from the start (warm-up: the compiles)
MAX_SAMPLES = 400
SAMPLE_INTERVAL_S = 0.2  # at least this long between later samples
SPACING_FACTOR = 50  # ... and at least this many times the last sample's own cost
REPLAY_SECONDS = 2.0  # all samples' replay together
MIN_SPACED_FOR_SHARES = 10
PROGRAM_IN_SITU_METHOD = (
    "direct, in situ: {which}, each timed while the program ran from the torch.compile wrapper "
    "arming dynamo to dynamo's guard-complete hook, less the same span of a guard-free lookup "
    "(a probe frame with as many arguments, timed after the program); mean [95% interval, ±1.96 "
    "standard errors]"
)
NO_CHECK_METHOD = "torch.profiler lookup events"
OTHER_THREADS = ("compiled frames ran in other threads of the program, and compiling the "
                 "guard-free probes after that crashed torch 2.11 (a segfault entering "
                 "fake-tensor mode): no floor is timed, so no in-situ figure")
NO_CHECK_NOTE = ("not run: the program ran once, and its lookups were not profiled (profiling "
                 "them would slow the program it measures)")


@dataclass
class Sample:
    order_before: dict[types.CodeType, list[EntryHandle]]
    invocation: Invocation
    at_s: float  # since the recorder started
    call_site: str | None = None  # the program's own line that made the call
    # the torch.compile wrapper the call came through (None: reached from inside another
    # compiled frame); kept so that `decompose` can call the frame again as the program did
    dispatcher: Dispatcher | None = None
    autograd: tuple[bool, bool] = (True, False)  # (grad enabled, inference mode) of the call
    lookup_ns: int | None = None  # the sampled lookup's span, in situ (None: not stamped)
    armed_by: int | None = None  # which torch.compile wrapper armed it (the callback's id)


@dataclass
class _Tally:
    """What a group of sampled calls says (a frame's, or one callable's on a shared wrapper):
    who served them, where they were called from, and their replayed walks."""

    served: dict[str, int] = field(default_factory=dict)  # compile id → calls it accepted
    sites: dict[str, int] = field(default_factory=dict)
    depths: dict[str, int] = field(default_factory=dict)
    guard_us: list[float] = field(default_factory=list)
    rejected_us: list[float] = field(default_factory=list)
    accepted_us: dict[str, list[float]] = field(default_factory=dict)

    @classmethod
    def of(cls, group: list) -> _Tally:
        tally = cls()
        for sample, walk in group:
            if sample.invocation.served_by is not None:
                cid = sample.invocation.served_by
                tally.served[cid] = tally.served.get(cid, 0) + 1
            if sample.call_site is not None:
                tally.sites[sample.call_site] = tally.sites.get(sample.call_site, 0) + 1
            if walk is None:
                continue
            rejected = [us for _, passed, us in walk if not passed]
            tally.depths[str(len(rejected))] = tally.depths.get(str(len(rejected)), 0) + 1
            tally.guard_us.append(sum(us for _, _, us in walk))
            tally.rejected_us.append(sum(rejected))
            for compile_id, passed, us in walk:
                if passed:
                    tally.accepted_us.setdefault(compile_id, []).append(us)
        return tally

    @property
    def walk_depths(self) -> dict[str, int]:
        return dict(sorted(self.depths.items(), key=lambda kv: int(kv[0])))

    @property
    def call_sites(self) -> dict[str, int]:
        return dict(sorted(self.sites.items(), key=lambda kv: -kv[1]))

    @property
    def guard_us_per_call(self) -> float | None:
        return statistics.fmean(self.guard_us) if self.guard_us else None

    @property
    def rejected_us_per_call(self) -> float | None:
        return statistics.fmean(self.rejected_us) if self.rejected_us else None


def call_site(frame: types.FrameType | None) -> str | None:
    """`train.py:12 (main)`: the first caller outside torch, guardprof and the standard library
    (a module's frame is torch's `forward` wrapper code; the user knows the line that called
    it). A file under the working directory is shown relative to it."""
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(_library_dirs()) and not filename.startswith("<frozen"):
            shown = os.path.relpath(filename) if filename.startswith(os.getcwd() + os.sep) \
                else filename
            return f"{shown}:{frame.f_lineno} ({frame.f_code.co_name})"
        frame = frame.f_back
    return None


@functools.cache
def _library_dirs() -> tuple[str, ...]:
    import torch

    dirs = [os.path.dirname(torch.__file__), os.path.dirname(os.path.dirname(__file__)),
            sysconfig.get_paths()["stdlib"]]
    return tuple(os.path.join(d, "") for d in dirs)


@dataclass
class ProgramRecorder:
    """Start before the program, stop after it; `report()` replays the samples."""

    # keep each sample's torch.compile wrapper (and with it the callable), for `decompose`
    keep_dispatchers: bool = False
    first_samples: int = FIRST_SAMPLES
    max_samples: int = MAX_SAMPLES
    interval_s: float = SAMPLE_INTERVAL_S
    samples: list[Sample] = field(default_factory=list)
    order_unknown: int = 0  # sampled calls served by an entry compiled after the snapshot
    sample_costs_s: list[float] = field(default_factory=list)  # snapshot → captured, per sample
    _hook: lookup_hook.LookupHook | None = None
    _compiles: CompileRecorder | None = None
    _t0: float = 0.0
    _t1: float | None = None
    _next_at: float = 0.0
    _snapshot_at: float = 0.0
    _picked: int = 0
    _skip: int = 0  # lookups to let pass before the next pick (see _should_sample)
    _rng: random.Random = field(default_factory=lambda: random.Random(0))
    _notes: list[str] = field(default_factory=list)

    def start(self) -> ProgramRecorder:
        self._compiles = CompileRecorder()
        self._compiles.__enter__()
        if not lookup_hook.available():
            self._notes.append(f"torch {compiler.torch_version()} has no guard-complete hook: "
                               "no call was counted or sampled; entries are listed as they are "
                               "at the end")
            return self
        self._hook = lookup_hook.LookupHook(self._should_sample, self._snapshot, self._on_frame,
                                            self._after_miss, timed=True)
        self._hook.install()
        self._t0 = time.perf_counter()  # after torch._dynamo's import: the program's time only
        return self

    def stop(self) -> None:
        if self._t1 is not None:
            return
        self._t1 = time.perf_counter()
        if self._t0 == 0.0:
            self._t0 = self._t1
        if self._hook is not None:
            self._hook.remove()
        if self._compiles is not None:
            self._compiles.__exit__(None, None, None)

    @property
    def sampling_slots(self) -> dict[str, int]:
        """One-shot sampling hooks set, by slot: "trace" where a profiler held the profile."""
        return dict(self._hook.slots_used) if self._hook is not None else {}

    def _should_sample(self) -> bool:
        if self._picked >= self.max_samples:
            return False
        if self._skip > 0:
            self._skip -= 1
            return False
        now = time.perf_counter()
        if self._picked >= self.first_samples and now < self._next_at:
            return False
        self._picked += 1
        # A sample picks one lookup and captures the next; back to back, picks would fall on
        # every other lookup and never see one of two alternating frames (a function and its
        # resume frame). A random 0–2 lookups between picks breaks that phase.
        self._skip = self._rng.randint(0, 2)
        self._snapshot_at = now
        return True

    def _snapshot(self) -> dict[types.CodeType, list[EntryHandle]]:
        return {code: cache.cache_entries(code) for code in cache.compiled_codes()}

    def _after_miss(self, order: dict) -> dict:
        """The order the lookup after a miss walked: the snapshot, with the entries dynamo
        compiled since (at the miss) in front, where it inserts them. Taken at that lookup's
        hook, before a compile of its own could add one."""
        now = self._snapshot()
        walked = {}
        for code, entries in now.items():
            before = order.get(code, [])
            known = {e.compile_id for e in before}
            walked[code] = [e for e in entries if e.compile_id not in known] + before
        return walked

    def _on_frame(self, frame: types.FrameType, order: dict,
                  span: tuple[int, int] | None) -> None:
        code = frame.f_code
        served = None
        input_code = code if code in order else None
        for candidate, entries in order.items():
            for entry in entries:
                if entry.output_code is code:
                    input_code, served = candidate, entry.compile_id
        if input_code is None:
            self.order_unknown += 1  # an entry compiled since the snapshot: order not known
        else:
            self.samples.append(Sample(order, Invocation(0, input_code, dict(frame.f_locals),
                                                         served, frame.f_globals,
                                                         frame.f_back.f_code
                                                         if frame.f_back else None),
                                       self._snapshot_at - self._t0, call_site(frame.f_back),
                                       dispatcher.of_frame(frame, input_code)
                                       if served and self.keep_dispatchers else None,
                                       dispatcher.current_autograd_mode(),
                                       *(span or (None, None))))
        now = time.perf_counter()
        self.sample_costs_s.append(now - self._snapshot_at)
        self._next_at = now + max(self.interval_s, SPACING_FACTOR * (now - self._snapshot_at))

    def report(self, command: list[str], exit_status: int, decompose: bool = False,
               progress: Progress = SILENT) -> ProgramReport:
        """The report; `decompose` also calls each sampled frame again, after the program, for
        its hot-loop decomposition (`program_parts`: its side effects run again)."""
        self.stop()
        lookups = self._hook.lookups if self._hook is not None else 0
        replayed = self._replayed()
        compiled_here = set(self._compiles.reasons_by_compile_id()) if self._compiles else set()
        sampled = {s.invocation.code for s in self.samples}
        codes = [code for code in cache.compiled_codes()  # frames this recording saw run
                 if code in sampled or any(e.compile_id in compiled_here
                                           for e in cache.cache_entries(code))]
        progress.update("in situ: timing the guard-free probe frames")
        other_threads = (self._hook.threads - {threading.get_ident()}) if self._hook else set()
        floors = (lookup_probes.Floors({}, {}, OTHER_THREADS) if other_threads else
                  lookup_probes.probe_floors({self._shape(code) for code in codes}))
        spans = self._hook.spans if self._hook is not None else {}
        frames = [self._frame(code, replayed, lookups, floors, spans) for code in codes]
        if decompose:  # after the frames are read: calling them again reorders their caches
            parts = program_parts.decompose_frames(self.samples, progress)
            progress.clear()
            frames = [dataclasses.replace(frame, decomposition=parts.get(code))
                      for frame, code in zip(frames, codes, strict=True)]
        frames.sort(key=lambda f: -(f.estimated_guard_s or 0.0))
        notes = list(self._notes)
        if self._hook is not None and self._hook.failure:
            notes.append(f"sampling stopped: guardprof's lookup hook failed ({self._hook.failure})")
        for frame in frames:
            if frame.merged_callables > 1:
                notes.append(f"{frame.name}: the entries of {frame.merged_callables} callables "
                             "sit on one torch-internal wrapper code, in one cache list: each "
                             "one's calls walk the others' entries too (one frame, with each "
                             "callable's sampled calls listed under it)")
        if self._hook is not None and self._hook.skipped_busy:
            notes.append(f"{self._hook.skipped_busy} samples skipped: other profile and trace "
                         "functions (a profiler, a debugger) were both set")
        if self.order_unknown:
            notes.append(f"{self.order_unknown} sampled calls were served by an entry compiled "
                         "after the sample's cache snapshot: not replayed")
        mismatches = sum(1 for _, walk in replayed if walk is None)
        if mismatches:
            notes.append(f"{mismatches} sampled calls replayed to a different entry than the "
                         "one that ran (guards on state that changed since): not costed")
        notes.append("lookups are counted and sampled in every thread of this process; work "
                     "compiled in a subprocess is not seen.")
        return ProgramReport(
            command=list(command), exit_status=exit_status,
            torch_version=compiler.torch_version(), python=platform.python_version(),
            wall_s=(self._t1 or time.perf_counter()) - self._t0, lookups=lookups,
            samples=len(self.samples), sample_policy=self._policy(), frames=frames,
            replay_method=replay_method("once per sampled call, after the program ended"),
            lost_samples=self._hook.lost if self._hook is not None else 0, notes=notes)

    def _policy(self) -> str:
        span = (f"{self.samples[0].at_s:.2f}–{self.samples[-1].at_s:.2f} s of the program"
                if self.samples else "nothing")
        return (f"{self.first_samples} back to back from the start (each spans two lookups: "
                "the cache order snapshotted at one, the next one captured), then one at least "
                f"every {self.interval_s:g} s (and {SPACING_FACTOR}× the sample's own cost), "
                f"at most {self.max_samples}: {len(self.samples)} samples covering {span}")

    def _replayed(self) -> list[tuple[Sample, list | None]]:
        """Each sample with its replayed walk ([(compile_id, passed, µs)], None: mismatch)."""
        out: list[tuple[Sample, list | None]] = []
        seconds = REPLAY_SECONDS / max(1, len(self.samples))
        for sample in self.samples:
            with dispatcher.autograd_mode(sample.autograd):  # the guards check it
                timer = ReplayTimer(Capture(sample.order_before, [sample.invocation], 0))
                timer.time_block(seconds)
                result = timer.result()
            if result.mismatches:
                out.append((sample, None))
                continue
            steps = result.invocations[0].steps
            out.append((sample, [(s.compile_id, s.passed, s.seconds * 1e6) for s in steps]))
        return out

    def _frame(self, code: types.CodeType, replayed: list, lookups: int,
               floors: lookup_probes.Floors, spans: dict[int, list[int]]) -> ProgramFrame:
        mine = [(s, walk) for s, walk in replayed if s.invocation.code is code]
        f_locals = mine[0][0].invocation.f_locals if mine else None
        naming = naming_of(code, f_locals)
        on = naming.entries_on
        entries_on = None if on is None else f"{on.name} ({on.location})"
        reasons = self._compiles.reasons_by_compile_id() if self._compiles else {}
        tally = _Tally.of(mine)
        entries = []
        for position, handle in enumerate(cache.cache_entries(code)):
            live = build_entry_tree(handle)
            entries.append(ProgramEntry(
                compile_id=handle.compile_id, reasons=reasons.get(handle.compile_id, []),
                guard_kinds=live.code_parts_by_kind(),
                sampled_calls=tally.served.get(handle.compile_id, 0),
                accepted_us=(statistics.median(tally.accepted_us[handle.compile_id])
                             if handle.compile_id in tally.accepted_us else None),
                guards=live.uncosted_entry(position, reasons.get(handle.compile_id, []))))
        # Shares from the time-spaced samples when there are enough: the back-to-back ones at
        # the start fall on warm-up, where the mix of frames need not be the program's.
        spaced = self.samples[self.first_samples:]
        basis = spaced if len(spaced) >= MIN_SPACED_FOR_SHARES else self.samples
        share_of = sum(1 for s in basis if s.invocation.code is code)
        situ = frame_in_situ(self._shape(code), [s for s, _ in mine], floors,
                             self._own_spans(code, spans))
        per_call = situ.us_per_call if situ.us_per_call is not None else tally.guard_us_per_call
        estimated_calls = share_of / len(basis) * lookups if mine and basis else None
        callables = self._callables(code, mine)
        name, filename, firstlineno = naming.name, naming.filename, naming.firstlineno
        if len(callables) > 1:  # one cache list, several callables: named after all of them
            name = merged_name([c.name for c in callables])
            filename, firstlineno = code.co_filename, code.co_firstlineno
        return ProgramFrame(
            name=name, filename=filename, firstlineno=firstlineno,
            entries_on=entries_on,
            entries=entries, sampled_calls=len(mine),
            sampled_fell_back=sum(1 for s, _ in mine if s.invocation.served_by is None),
            walk_depths=tally.walk_depths,
            guard_us_per_call=tally.guard_us_per_call,
            rejected_us_per_call=tally.rejected_us_per_call,
            estimated_calls=estimated_calls,
            estimated_guard_s=(per_call * 1e-6 * estimated_calls
                               if per_call is not None and estimated_calls is not None else None),
            merged_callables=len(callables),
            call_sites=tally.call_sites,
            callables=callables if len(callables) > 1 else [],
            in_situ=situ)

    def _shape(self, code: types.CodeType) -> lookup_probes.FrameShape:
        """The frame's shape, from its sampled calls' callers (a module compiled whole is
        reached through nn.Module.__call__)."""
        callers = [s.invocation.caller for s in self.samples if s.invocation.code is code]
        return lookup_probes.FrameShape.of(code, callers[0] if callers else None)

    def _own_spans(self, code: types.CodeType, spans: dict[int, list[int]]) -> list[int] | None:
        """Every stamped lookup span of the torch.compile wrappers whose sampled lookups ran
        only this frame; None where a wrapper's samples ran other frames too (then only the
        sampled spans are this frame's)."""
        wrappers: dict[int, set] = {}
        for sample in self.samples:
            if sample.armed_by is not None:
                wrappers.setdefault(sample.armed_by, set()).add(sample.invocation.code)
        mine = [w for w, codes in wrappers.items() if code in codes]
        if not mine or any(len(wrappers[w]) > 1 for w in mine):
            return None
        return [span for w in mine for span in spans.get(w, [])]

    def _callables(self, code: types.CodeType, mine: list) -> list[ProgramCallable]:
        """Per callable on a torch wrapper code (its `fn` local), its share of the samples."""
        if not cache.is_torch_internal(code):
            return []
        groups: dict[int, list] = {}
        for sample, walk in mine:
            fn = sample.invocation.f_locals.get("fn")
            if fn is not None:
                groups.setdefault(id(fn), []).append((sample, walk))
        out = []
        for group in groups.values():
            naming = naming_of(code, group[0][0].invocation.f_locals)
            tally = _Tally.of(group)
            out.append(ProgramCallable(
                name=naming.name, filename=naming.filename, firstlineno=naming.firstlineno,
                sampled_calls=len(group), served_by=tally.served, walk_depths=tally.walk_depths,
                guard_us_per_call=tally.guard_us_per_call,
                rejected_us_per_call=tally.rejected_us_per_call, call_sites=tally.call_sites))
        return sorted(out, key=lambda c: -c.sampled_calls)


def frame_in_situ(shape: lookup_probes.FrameShape, samples: list[Sample],
                  floors: lookup_probes.Floors, all_spans: list[int] | None = None) -> InSitu:
    """A frame's guard figure from its lookups timed while the program ran: every stamped
    lookup of its torch.compile wrapper (`all_spans`, ns), or its sampled lookups alone."""
    no_check = Check(NO_CHECK_METHOD, None, note=NO_CHECK_NOTE)
    generic = PROGRAM_IN_SITU_METHOD.format(which="its lookups")
    if floors.why_not is not None:
        return InSitu(None, None, None, generic, no_check, note=floors.why_not)
    sampled = [s.lookup_ns / 1e3 for s in samples if s.lookup_ns is not None]
    spans = [s / 1e3 for s in all_spans] if all_spans else sampled
    if not spans:
        why = ("not sampled" if not samples else
               "none of its sampled lookups had a stamped start (a frame entered from inside "
               "another compiled frame, not through the torch.compile wrapper)")
        return InSitu(None, None, None, generic, no_check, note=why)
    floor = floors.floor_us[shape]
    guards = [span - floor for span in spans]
    us, low, high = mean_and_interval(guards)
    why = (in_situ.unresolved(us, low, high) if len(guards) > 1 else
           "one lookup was timed: no interval")
    if why:
        return InSitu(None, low, high, generic, no_check, lookup_us=statistics.fmean(spans),
                      floor_us=floor, rounds=len(guards), note=f"unresolved: {why}")
    which = (f"{len(spans)} lookups of its torch.compile wrapper" if all_spans else
             f"its {len(spans)} sampled lookups (its wrapper's others ran other frames too)")
    missing = len(samples) - len(sampled)
    return InSitu(us, low, high, PROGRAM_IN_SITU_METHOD.format(which=which), no_check,
                  lookup_us=statistics.fmean(spans), floor_us=floor, lookups_per_call=1.0,
                  rounds=len(guards),
                  note=None if not missing else
                  f"{missing} of {len(samples)} sampled lookups had no stamped start (entered "
                  "from inside a compiled frame): not timed")


def mean_and_interval(values: list[float]) -> tuple[float, float, float]:
    """The mean (a frame's calls differ in walk depth, so the mean is the per-call figure) and
    its 95% interval, mean ± 1.96 standard errors."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, mean, mean
    half = 1.96 * statistics.stdev(values) / len(values) ** 0.5
    return mean, mean - half, mean + half


def merged_name(names: list[str]) -> str:
    """`Linear.forward ×2 + Sequential.forward`: the callables sharing one cache list, each
    name once (two instances of one module class are two callables with one name)."""
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    return " + ".join(name if n == 1 else f"{name} ×{n}" for name, n in sorted(counts.items()))
