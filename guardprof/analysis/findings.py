"""Plain statements computed from a report: what the numbers mean, and nothing they don't show."""

from __future__ import annotations

import dataclasses

from guardprof.model.run_report import GuardReport


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
    findings.extend(_decomposition_findings(report))
    share = report.guard_share_of_call()
    if share is not None:
        line = (
            f"Guard evaluation (replayed) is {cost.total_us_per_call:.1f} µs of the "
            f"{report.timing.compiled_us_per_call:.1f} µs compiled call ({_pct(share)})"
        )
        eager = report.timing.eager_us_per_call
        if eager is not None:
            # a comparison, not a part: the compiled call never runs the eager code
            line += (f"; for comparison, the same calls uncompiled (eager) take {eager:.1f} µs")
        findings.append(line + ".")
    ratio = report.cross_check_ratio()
    if ratio is not None:
        tol = report.cross_check.tolerance
        if abs(ratio - 1) <= tol:
            findings.append(
                f"The profiler's cache-lookup events agree with the replay within {_pct(tol)} "
                f"(ratio {ratio:.2f})."
            )
        else:
            check = report.cross_check
            calls = check.iterations * report.workload.calls_per_iteration
            lookups_per_call = check.events / calls
            gap = (check.per_call_us - cost.total_us_per_call) / lookups_per_call
            findings.append(
                f"The profiler's cache-lookup events read {check.per_call_us:.1f} µs/call, "
                f"{ratio:.2f}× the replayed {cost.total_us_per_call:.1f} µs: the two measures "
                f"DISAGREE by more than {_pct(tol)}, a gap of {gap:+.1f} µs per lookup. A lookup "
                "event also spans dynamo's work around the guard checks and the profiler's own "
                "recording, which the replay leaves out; treat both as estimates."
            )
    if cost.mismatches:
        findings.append(
            f"In {cost.mismatches} frame execution(s) the replayed walk accepted a different "
            "entry than the real run did: the replayed cost is approximate."
        )
    return findings


def _decomposition_findings(report: GuardReport) -> list[str]:
    d = report.decomposition
    if d is None or not d.available:
        return []
    by = {p.name: p.us for p in d.parts}
    graph = by.get("graph")
    if graph is None or d.compiled_us <= 0:
        return []
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
            f"The walk over rejected entries costs {rejected:.1f} µs per call in situ "
            f"({n:.1f} entries × {rejected / n:.2f} µs): fewer entries, or an input order that "
            "finds its entry first, saves that much.")
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
            f"the accepted entries' checks, {cost.accepted_us_per_call:.1f} µs/call."
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
        f"Rejected entries cost {cost.rejected_us_per_call:.1f} µs/call "
        f"({_pct(rejected_share)} of guard time), accepted checks "
        f"{cost.accepted_us_per_call:.1f} µs/call."
    ]
