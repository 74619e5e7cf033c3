"""Plain statements computed from a report: what the numbers mean, and nothing they don't show."""

from __future__ import annotations

import dataclasses

from guardprof.model.in_situ import AGREE_WITHIN
from guardprof.model.run_report import GuardReport

UNSTEADY_SPREAD = 0.20  # in-situ quartiles wider than this share of the median: said so


def explained(report: GuardReport) -> GuardReport:
    """The report with its findings: a new report, the measured one is left as it was."""
    return dataclasses.replace(report, findings=findings_for(report))


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def findings_for(report: GuardReport) -> list[str]:
    findings: list[str] = []
    cost = report.guard_cost
    if report.noise is not None and report.noise.noisy:
        findings.append(
            f"The machine was noisy during this run: the measuring thread was off the CPU "
            f"{100 * report.noise.off_cpu:.0f}% of the timed wall time (another process wanted "
            f"its core; quiet runs stay under {100 * report.noise.off_cpu_threshold:.0f}%), so "
            "the timed figures here may be off; "
            "`guardprof compare` will not pass or fail a gate on this run (exit 3). Rerun on a "
            "quieter machine, or compare interleaved (`compare --a … --b …`).")
    findings.extend(_walk_findings(report))
    for frame in report.frames:
        if frame.uncompiled_calls:
            limit = report.workload.recompile_limit
            why = (
                f"the frame has {_entries(len(frame.entries))}, the recompile limit ({limit}), so "
                "dynamo stopped compiling it"
                if len(frame.entries) >= limit
                else "dynamo did not compile a new entry for them"
            )
            findings.append(
                f"{len(frame.uncompiled_calls)} call(s) of {frame.name} ran uncompiled (eager "
                f"fallback): every cache entry rejected them and {why}; each such call still "
                "pays for checking every entry"
            )
    findings.extend(_in_situ_findings(report))
    findings.extend(_decomposition_findings(report))
    if cost.mismatches:
        findings.append(
            f"In {cost.mismatches} frame execution(s) the replayed walk accepted a different "
            "entry than the real run did: the replayed cost is approximate."
        )
    return findings


def _in_situ_findings(report: GuardReport) -> list[str]:
    """The headline guard figure and whether its cross-check and its breakdown hold."""
    s = report.in_situ
    if s is None:
        return []
    if s.us_per_call is None:
        return [f"Guard evaluation was not measured in situ ({s.note}); the replayed checks "
                f"({report.guard_cost.total_us_per_call:.1f} µs/call) leave out dynamo's "
                "frame-locals dict and are not a substitute."]
    call = report.timing.compiled_us_per_call
    spread = (s.high - s.low) / s.us_per_call if s.low is not None and s.us_per_call else 0.0
    unsteady = []
    if spread > UNSTEADY_SPREAD:
        unsteady.append(
            f"The in-situ rounds varied (their quartiles span {_pct(spread)} of the median, after "
            f"{s.rounds} rounds): the machine's speed changed during the run, so the figure is "
            "less certain than usual; rerun it for a steadier one.")
    line = (f"Guard evaluation takes {s.us_per_call:.1f} µs of the {call:.1f} µs compiled call "
            f"({_pct(s.us_per_call / call) if call > 0 else 'n/a'}), timed in situ")
    eager = report.timing.eager_us_per_call
    if eager is not None:
        # a comparison, not a part: the compiled call never runs the eager code
        line += f"; for comparison, the same calls uncompiled (eager) take {eager:.1f} µs"
    lines = [line + ".", *unsteady]
    check = s.cross_check
    if check.verdict == "disagree":
        lines.append(
            f"The profiler's lookup events ({check.us_per_call:.1f} µs/call) DISAGREE with the "
            f"in-situ figure by more than {_pct(AGREE_WITHIN)} (ratio {check.ratio:.2f}): both "
            "are shown; the profiler's events carry its own recording cost, which grows with "
            "the Python guards a lookup runs.")
    replayed = report.replay_to_in_situ()
    if replayed is not None:
        lines.append(
            f"The replay's checks explain {_pct(replayed)} of it "
            f"({report.guard_cost.total_us_per_call:.1f} µs/call): the replay passes a ready "
            "dict, where dynamo builds one per lookup for Python guards, and runs from Python.")
    b = report.accepted_breakdown
    if b is not None and b.verdict == "disagree":
        lines.append(
            f"The accepted check's breakdown (frame-locals dict + replayed checks) explains "
            f"{b.in_situ_us - b.residual_us:.1f} of its {b.in_situ_us:.1f} µs in situ "
            f"(residual {b.residual_us:+.1f} µs): it DISAGREES by more than "
            f"{_pct(AGREE_WITHIN)}, so read the breakdown's split as an estimate.")
    return lines


def _decomposition_findings(report: GuardReport) -> list[str]:
    d = report.decomposition
    if d is None or not d.available:
        return []
    by = {p.name: p.us for p in d.parts}
    graph = by.get("graph")
    if graph is None or d.compiled_us <= 0:
        return []
    unresolved = [p.name for p in d.parts if not p.resolved]
    if unresolved:
        return [f"The hot-loop decomposition cannot resolve {', '.join(unresolved)}: a "
                f"difference of whole {d.compiled_us:.0f}-µs calls is too coarse for them. The "
                "in-situ figure times the lookup inside each call and is the answer here."]
    dispatch = d.compiled_us - graph
    lines = [
        f"In the hot loop, dynamo's dispatch (the torch.compile wrapper, frame hook, frame-locals "
        f"mapping, cache walk and guard checks) is {dispatch:.1f} µs of the {d.compiled_us:.1f} µs "
        f"call ({_pct(dispatch / d.compiled_us)}); the graph itself is {graph:.1f} µs. "
        f"{dispatch:.1f} µs per call is the most that calling the compiled code directly "
        "(skipping dynamo) would save."
    ]
    rejected = by.get("rejected_entries")
    if rejected is not None and report.guard_cost.rejected_checks_per_call >= 0.5:
        n = report.guard_cost.rejected_checks_per_call
        lines.append(
            f"In the hot-loop differential, the walk over rejected entries costs {rejected:.1f} "
            f"µs per call ({n:.1f} entries × {rejected / n:.2f} µs): fewer entries, or an input "
            "order that finds its entry first, saves that much.")
    disagree = [a.name for a in d.agreement if a.verdict == "disagree"]
    if disagree:
        lines.append(
            f"Independent measures of {', '.join(disagree)} DISAGREE by more than 15% (see the "
            "decomposition): read those parts as estimates, not measurements.")
    lines += _frame_findings(report)
    return lines


def _frame_findings(report: GuardReport) -> list[str]:
    """Which frame the dispatch belongs to, where a call runs several (a graph break)."""
    measured = [(f, f.decomposition) for f in report.frames
                if f.decomposition is not None and f.decomposition.available
                and f.decomposition.part("graph") is None]
    if len(measured) < 2:
        return []
    if any(fd.dynamo_us is None or fd.part("dispatch_floor").us is None for _, fd in measured):
        return []
    shares = ", ".join(f"{f.name} {fd.dynamo_us:.1f} µs (floor "
                       f"{fd.part('dispatch_floor').us:.1f})" for f, fd in measured)
    line = (f"Per frame, dynamo's dispatch and checks are: {shares}. The outer frame carries "
            "the torch.compile wrapper; a nested frame (after a graph break) pays its lookup and "
            "checks.")
    if any(a.verdict == "disagree" for _, fd in measured for a in fd.agreement):
        line += (" The frames' replayed costs DISAGREE with their in-situ parts (see each "
                 "frame): read the split between frames as an estimate.")
    return [line]


def _entries(n: int) -> str:
    return "1 entry" if n == 1 else f"{n} entries"


def _walk_findings(report: GuardReport) -> list[str]:
    cost = report.guard_cost
    n_entries = report.entry_count
    if not cost.calls or n_entries == 0:
        return ["No cache entries were found for the workload: nothing was compiled."]
    rejected = cost.rejected_checks_per_call
    if rejected == 0:
        return [
            f"Each call is accepted by the first entry it checks in every compiled frame (walk "
            f"depth {cost.walk_depth_mean:.1f}, {_entries(n_entries)} in all): the guard cost is "
            f"the accepted entries' checks ({cost.accepted_us_per_call:.1f} µs/call replayed)."
        ]
    total = cost.total_us_per_call
    rejected_share = cost.rejected_us_per_call / total if total else 0.0
    frames = report.frames
    cycling = (
        len(frames) == 1
        and not frames[0].uncompiled_calls
        and 1 < len(frames[0].entries) <= report.workload.calls_per_iteration
        and rejected >= len(frames[0].entries) - 1.5
    )
    if cycling:
        why = (
            f"the calls cycle through {n_entries} input signatures, so the entry a call needs "
            f"was last used {n_entries} calls ago and sits at the back of the list (a hit moves "
            "its entry to the front)"
        )
    elif any(f.uncompiled_calls for f in frames):
        why = "some calls are accepted by no entry and check every one (see below)"
    else:
        why = "the entry a call needs is often not at the front of its frame's list"
    return [
        f"Each call rejects {rejected:.1f} cache entries on average before one accepts or the "
        f"list ends (walk depth {cost.walk_depth_mean:.1f}; {_entries(n_entries)} in all): {why}. "
        f"Replayed, rejected entries cost {cost.rejected_us_per_call:.1f} µs/call "
        f"({_pct(rejected_share)} of the replayed guard time), accepted checks "
        f"{cost.accepted_us_per_call:.1f} µs/call."
    ]
