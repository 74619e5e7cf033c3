"""Plain statements computed from a report: what the numbers mean, and nothing they don't show."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from guardprof.report import GuardReport


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def findings_for(report: GuardReport) -> list[str]:
    findings: list[str] = []
    cost = report.guard_cost
    findings.extend(_walk_findings(report))
    for frame in report.frames:
        if frame.uncompiled_calls:
            limit = report.workload.recompile_limit
            why = (
                f"the frame has {len(frame.entries)} entries, the recompile limit ({limit}), so "
                "dynamo stopped compiling it"
                if len(frame.entries) >= limit
                else "dynamo did not compile a new entry for them"
            )
            findings.append(
                f"{len(frame.uncompiled_calls)} call(s) of {frame.name} ran uncompiled (eager "
                f"fallback): every cache entry rejected them and {why}; each such call still "
                "pays for checking every entry"
            )
    share = report.guard_share_of_call()
    if share is not None:
        line = (
            f"Guard evaluation (replayed) is {cost.total_us_per_call:.1f} µs of the "
            f"{report.timing.compiled_us_per_call:.1f} µs compiled call ({_pct(share)})"
        )
        overhead = report.timing.overhead_us_per_call
        over_share = report.guard_share_of_overhead()
        if overhead is not None and over_share is not None:
            line += (
                f" and {_pct(over_share)} of the {overhead:.1f} µs the compiled call costs "
                "over eager"
            )
        elif overhead is not None:
            line += f"; the compiled call is not slower than eager ({overhead:+.1f} µs)"
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
            findings.append(
                f"The profiler's cache-lookup events read {report.cross_check.per_call_us:.1f} "
                f"µs/call, {ratio:.2f}× the replayed {cost.total_us_per_call:.1f} µs: the two "
                f"measures DISAGREE by more than {_pct(tol)}; treat both as estimates "
                "(the profiler inflates short events; the replay leaves out dynamo's lookup "
                "work outside guard checks)."
            )
    if cost.mismatches:
        findings.append(
            f"In {cost.mismatches} frame execution(s) the replayed walk accepted a different "
            "entry than the real run did: the replayed cost is approximate."
        )
    return findings


def _walk_findings(report: GuardReport) -> list[str]:
    cost = report.guard_cost
    n_entries = report.entry_count
    if not cost.calls or n_entries == 0:
        return ["No cache entries were found for the workload: nothing was compiled."]
    depth = cost.walk_depth_mean
    total = cost.total_us_per_call
    rejected_share = cost.rejected_us_per_call / total if total else 0.0
    calls = report.workload.calls_per_iteration
    if depth >= 1.5:
        cycling = all(
            1 < len(f.entries) <= calls
            and depth >= len(f.entries) - 0.5
            and not f.uncompiled_calls
            for f in report.frames
        )
        why = (
            f"the calls cycle through {n_entries} input signatures, so the entry a call needs "
            f"was last used {n_entries} calls ago and sits at the back of the list (a hit moves "
            "its entry to the front)"
            if cycling and len(report.frames) == 1
            else "the entry a call needs is often not at the front of the list, or no entry "
            "accepts the call"
        )
        return [
            f"Each call checks {depth:.1f} cache entries on average ({n_entries} in all): {why}. "
            f"Rejected entries cost {cost.rejected_us_per_call:.1f} µs/call "
            f"({_pct(rejected_share)} of guard time), the accepted entry's check "
            f"{cost.accepted_us_per_call:.1f} µs/call."
        ]
    return [
        f"Each call is accepted by the first entry it checks (walk depth {depth:.1f}): the guard "
        f"cost is the accepted entry's check, {cost.accepted_us_per_call:.1f} µs/call."
    ]
