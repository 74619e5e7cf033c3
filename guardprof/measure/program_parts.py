"""The hot-loop decomposition of a program's compiled frames, on their sampled calls (opt-in).

A program cannot be run again as a whole, but one compiled frame can be called again: a sample
keeps the frame's arguments (its locals as it starts) and the dispatcher it was called through
(`dynamo.dispatcher`: the program's own torch.compile wrapper, and the function whose code holds
the entries), and the autograd mode it ran in. After the program ends, each frame's sampled
calls become a workload (that function, those calls, in that mode) and the run's decomposition
(`measure.decomposition`) takes it apart with the program's own wrapper, cache entries and
compile settings: the bypass, one-entry copies and no-guard copies, rounds alternated, results
checked equal.

Calling a frame again repeats its side effects (a module's buffers, prints, counters), so this
runs only when asked. What it measures is the frame's dispatch on these calls in this loop: a
loop repeats its calls, so their walks are the loop's, not the program's (whose calls between
samples are not kept); the calls are ordered so the loop's walk comes near the program's, and
both are printed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import statistics
import types
from collections import Counter

from guardprof.dynamo import cache, dispatcher
from guardprof.dynamo.dispatcher import Dispatcher
from guardprof.measure.capture import Capture, capture_iteration
from guardprof.measure.decomposition import decompose
from guardprof.measure.replay import TARGET_REPLAY_SECONDS, ReplayTimer
from guardprof.measure.run import guard_cost_of, replayed_by_frame
from guardprof.model import decomposition as dm
from guardprof.progress import SILENT, Progress
from guardprof.workload.runner import PreparedWorkload, calibrate_number, time_loop
from guardprof.workload.spec import Call, Workload, WorkloadSpec

MAX_CALLS = 20  # sampled calls per frame, spread over its samples
WARM_ITERATIONS = 2
HEADLINE_REPEAT = 5
HEADLINE_ROUND_S = 0.05
REPLAY_BLOCKS = 3


def decompose_frames(samples: list, progress: Progress = SILENT
                     ) -> dict[types.CodeType, dm.Decomposition]:
    """Per sampled frame (by its code), its decomposition on its sampled calls, or why not."""
    by_code: dict[types.CodeType, list] = {}
    for sample in samples:
        by_code.setdefault(sample.invocation.code, []).append(sample)
    out = {}
    # What the frames print when called again (thousands of times) is not the program's output
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink), \
            contextlib.redirect_stderr(sink):
        for k, (code, mine) in enumerate(by_code.items()):
            try:
                progress.update(f"decomposing frame {k + 1}/{len(by_code)} ({code.co_name}) "
                                "on its sampled calls")
                with dispatcher.code_state_kept():  # the copies' state goes with them
                    out[code] = _frame(code, mine, progress)
            except KeyboardInterrupt:  # Ctrl-C: the report of what was measured still comes
                for rest in list(by_code)[k:]:
                    out[rest] = _not("interrupted (Ctrl-C) before it was decomposed")
                break
            except Exception as exc:  # the user's frame, called again: a failure is a note
                out[code] = _not(f"calling it again failed ({type(exc).__name__}: {exc})")
    return out


def _not(why: str) -> dm.Decomposition:
    return dm.Decomposition(False, 0.0, notes=[why])


def _frame(code: types.CodeType, samples: list, progress: Progress) -> dm.Decomposition:
    served = [s for s in samples if s.invocation.served_by is not None]
    if not served:
        return _not("no sampled call was served by a cache entry")
    usable = [s for s in served if s.dispatcher is not None and s.dispatcher.fn.__code__ is code]
    if not usable:
        return _not("its calls did not come through torch.compile's wrapper of a function: "
                    "a resume function after a graph break is called from inside another "
                    "frame's compiled code (its dispatch is then part of that frame's "
                    "decomposition)")
    groups = Counter((s.dispatcher.key, s.autograd) for s in usable)
    key, _ = groups.most_common(1)[0]
    mine = [s for s in usable if (s.dispatcher.key, s.autograd) == key]
    program_depth = _program_depth(code, mine)
    start = [e.compile_id for e in cache.cache_entries(code)]
    arrangement, chosen = _arranged(start, _spread(mine, MAX_CALLS), program_depth)
    through: Dispatcher = chosen[0].dispatcher
    grad, inference = chosen[0].autograd
    notes = [f"re-ran {len(chosen)} of the frame's {len(samples)} sampled calls after the "
             f"program ended ({arrangement}), through the program's own torch.compile wrapper, "
             f"grad mode {'on' if grad else 'off'}{', inference mode' if inference else ''} "
             "as sampled (its side effects ran again; what it printed was discarded)"]
    if len(groups) > 1:
        notes.append(f"{len(groups)} callables (or autograd modes) share this frame's cache "
                     f"list: decomposed on the calls of the most sampled one ({groups[key]} of "
                     f"{len(usable)})")
    with dispatcher.autograd_mode(chosen[0].autograd):
        return _taken_apart(code, chosen, through, notes, program_depth, progress)


def _taken_apart(code: types.CodeType, chosen: list, through: Dispatcher, notes: list[str],
                 program_depth: float | None, progress: Progress) -> dm.Decomposition:
    """The run's decomposition of these calls, as a workload of the frame's function."""
    calls = [Call(*_arguments(code, s.invocation.f_locals)) for s in chosen]
    spec = WorkloadSpec(kind="program", name=code.co_name, backend="the program's",
                        dynamic=through.dynamic, number=None, repeat=HEADLINE_REPEAT,
                        device=_device(calls))
    prepared = PreparedWorkload(spec, Workload(through.fn, calls, code.co_name),
                                through.compiled(), through.fn, False, through.compile)
    run = prepared.iteration(prepared.compiled)
    entries_before = len(cache.cache_entries(code))
    for _ in range(WARM_ITERATIONS):
        run()
    if len(cache.cache_entries(code)) != entries_before:
        return _not("calling the sampled calls again compiled new entries: something their "
                    "guards check changed since (a global, a module attribute, autocast), so "
                    "the loops would not time the program's entries")
    progress.update(f"decomposing {code.co_name}: capturing and replaying the loop's walk")
    captured = _own_frames(capture_iteration(prepared.compiled, calls))
    timer = ReplayTimer(captured)
    for _ in range(REPLAY_BLOCKS):
        timer.time_block(TARGET_REPLAY_SECONDS / REPLAY_BLOCKS)
    replayed = timer.result()
    notes.append(_walks(code, replayed, program_depth, len(calls)))
    number = calibrate_number(run, HEADLINE_ROUND_S)
    headline_s = time_loop(run, number, HEADLINE_REPEAT, spec.device, "compiled", progress)
    headline_us = statistics.median(headline_s) * 1e6 / (number * len(calls))
    decomposed = decompose(captured, prepared, guard_cost_of(replayed, len(calls),
                                                              timer.block_results()),
                           headline_us, progress, replayed_by_frame(replayed, len(calls)))
    call = decomposed.call
    # a refusal's reason first: it is what the reader needs
    return dataclasses.replace(call, notes=(notes + list(call.notes) if call.available
                                            else list(call.notes) + notes))


def _own_frames(captured: Capture) -> Capture:
    """The capture with only the frames these calls ran: a program has compiled others, and the
    decomposition reads every frame in `order_before` as a frame of the call."""
    ran = {inv.code for inv in captured.invocations}
    return Capture({code: order for code, order in captured.order_before.items() if code in ran},
                   captured.invocations, captured.new_entries)


def _spread(items: list, n: int) -> list:
    """At most `n` items, evenly spaced over `items` (first and last kept)."""
    if len(items) <= n:
        return list(items)
    return [items[round(i * (len(items) - 1) / (n - 1))] for i in range(n)]


def _arguments(code: types.CodeType, f_locals: dict) -> tuple[tuple, dict]:
    """The call's positional and keyword arguments, from the frame's locals as it started."""
    names = code.co_varnames
    n_pos, n_kw = code.co_argcount, code.co_kwonlyargcount
    args = [f_locals[name] for name in names[:n_pos]]
    kwargs = {name: f_locals[name] for name in names[n_pos:n_pos + n_kw]}
    i = n_pos + n_kw
    if code.co_flags & 0x04:  # CO_VARARGS
        args += list(f_locals[names[i]])
        i += 1
    if code.co_flags & 0x08:  # CO_VARKEYWORDS
        kwargs.update(f_locals[names[i]])
    return tuple(args), kwargs


def _device(calls: list[Call]) -> str:
    import torch

    values = [v for c in calls for v in (*c.args, *c.kwargs.values())]
    cuda = any(isinstance(v, torch.Tensor) and v.is_cuda for v in values)
    return "cuda" if cuda else "cpu"


def _walks(code: types.CodeType, replayed, program_depth: float | None, n_calls: int) -> str:
    """The loop's walk depth (as captured) beside the one the program's sampled calls walked."""
    loop = sum(1 for inv in replayed.invocations if inv.code is code
               for step in inv.steps if not step.passed) / max(1, n_calls)
    program = "-" if program_depth is None else f"{program_depth:.2f}"
    return (f"walk in this loop: {loop:.2f} rejected entries per call, captured; the program's "
            f"sampled calls walked {program} (the loop's call order was chosen to come near it)")


def _program_depth(code: types.CodeType, samples: list) -> float | None:
    """Entries walked before the accepting one, mean over the sampled calls (their snapshots)."""
    depths = []
    for sample in samples:
        order = [e.compile_id for e in sample.order_before.get(code, [])]
        if sample.invocation.served_by in order:
            depths.append(order.index(sample.invocation.served_by))
    return statistics.fmean(depths) if depths else None


def _arranged(start: list[str], chosen: list, program_depth: float | None
              ) -> tuple[str, list]:
    """The calls in the order whose walk comes nearest the program's: the loop repeats its
    calls, so each call walks the entries used since its own entry was last used (sampled
    order, the entries taken in turn, or each entry's calls together; by an LRU simulation of
    the cache list from `start`, its compile ids front first; the real walk is captured
    after). The order is chosen to match, so the two walks printed are not an independent
    check: they say how near the loop came."""
    groups: dict[str, list] = {}
    for sample in chosen:
        groups.setdefault(sample.invocation.served_by, []).append(sample)
    in_turn = [g[i] for i in range(max(map(len, groups.values()))) for g in groups.values()
               if i < len(g)]
    together = [s for g in groups.values() for s in g]
    options = {"in sampled order": chosen, "ordered: the entries taken in turn": in_turn,
               "ordered: each entry's calls together": together}
    if program_depth is None:
        return "in sampled order", chosen
    name = min(options, key=lambda n: abs(_simulated_depth(start, options[n]) - program_depth))
    return name, options[name]


def _simulated_depth(start: list[str], calls: list) -> float:
    """Mean walk depth of `calls` repeated, in the steady state of an LRU cache list."""
    order = list(start)
    depths = []
    for lap in range(2):
        for sample in calls:
            entry = sample.invocation.served_by
            if entry not in order:
                order.insert(0, entry)
            if lap:
                depths.append(order.index(entry))
            order.remove(entry)
            order.insert(0, entry)
    return statistics.fmean(depths) if depths else 0.0
