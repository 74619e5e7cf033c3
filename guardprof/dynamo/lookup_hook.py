"""See every cache lookup of a running program, and sample the frames some of them run.

Dynamo calls its guard-complete hook (`set_guard_complete_hook`, torch ≥ 2.6) once per cache
lookup of any compiled frame, after the walk (the accepted entry already moved to the front),
with no frame attached: counting there costs one Python call per compiled call. Its return
value is dynamo's verdict on the lookup, so it must pass `cache_hit` back unchanged.

To learn which frame and entry a lookup served, and in what cache order it walked, a sample
spans two lookups: at lookup k the hook snapshots every frame's entry order (the order lookup
k+1 will walk: nothing runs a lookup in between, though a miss at k may compile an entry that
k+1 then walks first); at lookup k+1 it arms a one-shot hook (`sys.setprofile`, or
`sys.settrace` where a profiler holds the profile) that disarms itself at the first 'call' of
a code dynamo knows: an entry's transformed code (`convert_frame.output_codes`), or a compiled
frame's original code (one of `input_codes` that holds entries) when dynamo ran it uncompiled.
Measured on torch 2.13: armed from inside the hook, the profile sees ~9,400 calls of dynamo's
frame callback before that frame (~10–20 ms), so samples are spaced in time by the caller
(`should_sample`), not by count.
"""

from __future__ import annotations

import random
import signal
import sys
import threading
import time
import types
from collections.abc import Callable
from typing import Any

from guardprof.dynamo import compiler, lookup_clock

MAX_SKIPPED = 50_000  # calls an armed profile waits for the frame; past it the sample is lost
SPANS_KEPT = 4096  # lookup spans kept per torch.compile wrapper (a uniform sample past that)


def available() -> bool:
    try:
        from torch._C._dynamo.eval_frame import set_guard_complete_hook  # noqa: F401
    except ImportError:
        return False
    return True


class LookupHook:
    """Counts lookups; for the lookups `should_sample()` picks, reports the frame the next one ran.

    `snapshot()` is called at the picking lookup; `on_frame(frame, snapshot)` receives the next
    lookup's frame (code and locals intact) and that snapshot. A picking lookup that missed may
    be followed by a compile, which puts a new entry in front before the next lookup walks:
    then `after_miss(snapshot)`, called at the next lookup, returns the order it walked. Only
    the thread that made the lookup is profiled. A profile or trace function already set (the
    user's cProfile, a debugger) is never replaced: the other slot is used, and with both taken
    that sample is skipped (`skipped_busy`).
    """

    def __init__(self, should_sample: Callable[[], bool], snapshot: Callable[[], Any],
                 on_frame: Callable[[types.FrameType, Any, tuple[int, int] | None], None],
                 after_miss: Callable[[Any], Any] | None = None, timed: bool = False) -> None:
        """`timed`: stamp where the torch.compile wrapper arms dynamo (`LookupClock`'s arming
        stand-in); every lookup's span in ns (armed → this hook, the first thing it does) is kept
        in `spans` by the id of the callback the wrapper armed (one per torch.compile), and
        `on_frame` gets the sampled lookup's (span, that id), or None where the lookup's start
        was not stamped (a resume frame, entered from inside a compiled frame)."""
        import torch._dynamo.eval_frame as eval_frame
        from torch._dynamo.convert_frame import input_codes, output_codes
        from torch._dynamo.eval_frame import _debug_get_cache_entry_list

        self.lookups = 0
        self.skipped_busy = 0
        self.lost = 0
        self.failure: str | None = None  # the hook's own error; sampling stopped there
        self._previous: Any = None
        self._installed = False
        self.slots_used = {"profile": 0, "trace": 0}  # one-shot hooks set, by slot
        state: dict[str, Any] = {"pending": None, "armed": None, "skipped": 0, "signal": None,
                                 "slot": None, "pending_hit": True, "span": None}
        now = time.perf_counter_ns
        started = [0]  # when the wrapper last armed dynamo (0: not since the last lookup)
        armed_by: list[Any] = [None]  # the callback it armed with: one per torch.compile
        # every stamped lookup's span (ns), by the armed callback's id: one torch.compile
        # wrapper's lookups; at most SPANS_KEPT each (a uniform sample of them past that)
        self.spans: dict[int, list[int]] = {}
        self.spans_seen: dict[int, int] = {}
        self.threads: set[int] = set()  # the threads whose lookups were counted (timed mode)
        thread_id = threading.get_ident
        keep = random.Random(0)
        self._eval_frame = eval_frame
        self._original_arm: Any = None  # the arming function replaced at install
        self._on_armed: Callable[[Any], None] | None = None
        if timed and lookup_clock.unavailable() is None:

            def on_armed(callback: Any) -> None:
                started[0], armed_by[0] = now(), callback

            self._on_armed = on_armed

        @compiler.never_compile
        def profile(frame: types.FrameType, event: str, _arg: Any) -> None:
            if event != "call":
                return
            if state["signal"] is not None:
                # A signal that landed in the hook, re-delivered at the first call after it:
                # its exception starts in that frame, which Python (and dynamo's frame
                # callback, if it is that frame) propagates like any other.
                disarm()
                signum, state["signal"] = state["signal"], None
                signal.raise_signal(signum)
                return
            code = frame.f_code
            if code in output_codes or (code in input_codes and _debug_get_cache_entry_list(code)):
                disarm()
                taken, state["armed"] = state["armed"], None
                on_frame(frame, taken, state["span"])
                return
            state["skipped"] += 1
            if state["skipped"] > MAX_SKIPPED:
                disarm()
                state["armed"] = None
                self.lost += 1

        @compiler.never_compile
        def complete(cache_hit: bool) -> bool:
            # The return value is the verdict dynamo acts on (False: recompile; the collectives
            # hook uses it so): returning anything but cache_hit recompiles on every hit. And
            # nothing may raise out of here: dynamo calls it from C++, which does not catch, and
            # the process aborts. A Ctrl-C or SIGTERM landing here is delivered again once the
            # hook has returned (`signal.raise_signal` here would run the handler at once, and
            # its exception would leave through dynamo's C++: measured, it aborts).
            ended = now()
            span = None
            self.lookups += 1
            try:
                span, started[0] = (ended - started[0] if started[0] else None), 0
                if span is not None:
                    keep_span(span, id(armed_by[0]))
                    self.threads.add(thread_id())
                if self._previous is not None:
                    cache_hit = bool(self._previous(cache_hit))
                if state["signal"] is not None:
                    deliver_later(state["signal"])  # a user profiler held the profile: retry
                else:
                    sample(cache_hit, span)
            except KeyboardInterrupt:
                deliver_later(signal.SIGINT)
            except SystemExit:
                deliver_later(signal.SIGTERM)  # guardprof's SIGTERM handler raised it
            except Exception as exc:
                self.failure = f"{type(exc).__name__}: {exc}"
                state["armed"] = state["pending"] = None
            return cache_hit

        def keep_span(span: int, key: int) -> None:
            kept, seen = self.spans.setdefault(key, []), self.spans_seen.get(key, 0) + 1
            self.spans_seen[key] = seen
            if len(kept) < SPANS_KEPT:
                kept.append(span)
            else:  # reservoir sampling: every span stays with probability SPANS_KEPT/seen
                slot = keep.randrange(seen)
                if slot < SPANS_KEPT:
                    kept[slot] = span

        def deliver_later(signum: int) -> None:
            state["signal"], state["armed"], state["pending"] = signum, None, None
            arm()  # if both slots are taken, the next lookup tries again

        def sample(cache_hit: bool, span: int | None) -> None:
            if self.failure is not None:
                return
            if state["pending"] is not None:
                taken, state["pending"] = state["pending"], None
                state["span"] = (span, id(armed_by[0])) if span is not None else None
                if not state["pending_hit"] and after_miss is not None:
                    taken = after_miss(taken)
                state["armed"], state["skipped"] = taken, 0
                if not arm():
                    state["armed"] = None
                    self.skipped_busy += 1
            elif state["armed"] is None and should_sample():
                state["pending"], state["pending_hit"] = snapshot(), cache_hit

        def arm() -> bool:
            """Set `profile` as a one-shot hook: in the profile slot if it is free, else in the
            trace slot. A user's cProfile holds the profile slot on Python < 3.12 (from 3.12 it
            uses sys.monitoring), and its C hook cannot be chained from Python, so
            `guardprof profile -- python SCRIPT` samples through the trace slot there."""
            if state["slot"] is not None:
                if (sys.getprofile() if state["slot"] == "profile" else sys.gettrace()) is profile:
                    return True
                # the program set its own profile or trace function over ours: that sample is
                # lost, and the slot is looked for afresh
                state["slot"] = None
                self.lost += 1
            if sys.getprofile() is None:
                state["slot"] = "profile"
                sys.setprofile(profile)
            elif sys.gettrace() is None:
                state["slot"] = "trace"
                sys.settrace(profile)
            else:
                return False
            self.slots_used[state["slot"]] += 1
            return True

        def disarm() -> None:
            slot, state["slot"] = state["slot"], None
            if slot == "profile" and sys.getprofile() is profile:
                sys.setprofile(None)
            elif slot == "trace" and sys.gettrace() is profile:
                sys.settrace(None)

        self._complete = complete
        self._disarm = disarm
        self._state = state

    def install(self) -> None:
        from torch._C._dynamo.eval_frame import set_guard_complete_hook

        self._previous = set_guard_complete_hook(self._complete)
        if self._on_armed is not None:
            self._original_arm = self._eval_frame._maybe_set_eval_frame  # as it is now
            self._eval_frame._maybe_set_eval_frame = lookup_clock.arming_stand_in(
                self._original_arm, self._on_armed)
        self._installed = True

    def remove(self) -> None:
        if not self._installed:
            return
        from torch._C._dynamo.eval_frame import set_guard_complete_hook

        set_guard_complete_hook(self._previous)
        if self._original_arm is not None:
            self._eval_frame._maybe_set_eval_frame = self._original_arm
            self._original_arm = None
        self._installed = False
        self._disarm()  # armed by the last lookup, never fired
        signum, self._state["signal"] = self._state["signal"], None
        if signum is not None:
            signal.raise_signal(signum)  # out of dynamo's C++ here: it may raise at once
