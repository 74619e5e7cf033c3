"""A and B measured alternately, each run a fresh `guardprof run` process, so both meet the same
machine noise; the verdict comes from the pairs (B/A, a paired bootstrap over the pairs).

Pair i runs A then B, pair i+1 B then A, so neither side always runs first. Each run is
`python -m guardprof run OPTIONS --no-cross-check --no-decomposition --quiet --json FILE`
with its own Python (`--a-python`, `--b-python`: two environments, e.g. two torch releases).
After the first `pairs`, more are run while `undecided(estimate)` says the figure is not yet
decided, up to `max_pairs` or the time budget, whichever comes first.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from guardprof.analysis.intervals import bootstrap_ratio, median_of
from guardprof.errors import GuardprofError, WorkloadUsageError
from guardprof.model.interleaved import Interleaved, Pair
from guardprof.model.noise import NOISY_OFF_CPU
from guardprof.model.stats import RatioEstimate
from guardprof.progress import SILENT, Progress

# metric → (the run report's summary key, label)
METRICS = {
    "call": ("compiled_us_per_call", "compiled µs/call"),
    "eager": ("eager_us_per_call", "eager µs/call"),
    "guard": ("guard_us_per_call", "guard µs/call (in situ)"),
    "guard-replayed": ("replayed_guard_us_per_call", "guard µs/call (replayed)"),
    "guard-rejected": ("replayed_rejected_us_per_call", "rejected entries µs/call (replayed)"),
    "guard-accepted": ("replayed_accepted_us_per_call", "accepted entry µs/call (replayed)"),
}
DEFAULT_PAIRS = 5
DEFAULT_MAX_PAIRS = 15
DEFAULT_BUDGET_S = 600.0
RUN_FLAGS = ["--no-cross-check", "--no-decomposition", "--quiet"]
METHOD = ("interleaved: A and B as fresh `guardprof run` processes, alternated (AB, BA, AB, …); "
          "B/A is the median over pairs of each side's figure, its 95% interval a paired "
          "bootstrap over the pairs (both sides of a pair met the same machine state)")


def command(options: str, python: str | None, flag: str) -> list[str]:
    try:
        args = shlex.split(options)
    except ValueError as exc:
        raise WorkloadUsageError(f"{flag}: cannot split {options!r}: {exc}") from None
    bad = [a for a in args if a in ("--json", "--load", "--what-if", "--quiet", "-q")]
    if bad:
        raise WorkloadUsageError(f"{flag}: {bad[0]} is set by compare itself; give only the "
                                 "workload options of `guardprof run`")
    exe = python or sys.executable
    if python is not None and not Path(python).exists():
        raise WorkloadUsageError(f"{flag}-python {python}: no such file")
    return [exe, "-m", "guardprof", "run", *args, *RUN_FLAGS]


def _one(cmd: list[str], out: Path, key: str, side: str
         ) -> tuple[float | None, float | None, str | None]:
    """(the metric, the run's off-CPU share, why the metric is missing) of one fresh
    `guardprof run`; the in-situ figure is missing where that run could not resolve it."""
    proc = subprocess.run([*cmd, "--json", str(out)], capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise GuardprofError(f"run {side} failed (exit {proc.returncode}): {last}")
    data = json.loads(out.read_text())
    summary = data["summary"]
    value = summary.get(key)
    if value is None:
        situ = data.get("in_situ") or {}
        if key != "guard_us_per_call" or not situ.get("note"):
            raise GuardprofError(f"run {side}'s report has no {key}")
        return None, summary.get("off_cpu"), situ["note"]
    return float(value), summary.get("off_cpu"), None


def _estimate(results: list[Pair]) -> RatioEstimate:
    return bootstrap_ratio([[p.a_us for p in results]], [[p.b_us for p in results]],
                           median_of, paired=True)


def run_interleaved(a_cmd: list[str], b_cmd: list[str], metric: str, pairs: int,
                    progress: Progress = SILENT, *, max_pairs: int | None = None,
                    budget_s: float = DEFAULT_BUDGET_S,
                    undecided: Callable[[RatioEstimate], bool] | None = None) -> Interleaved:
    key, label = METRICS[metric]
    max_pairs = max(pairs, max_pairs or pairs)
    results: list[Pair] = []
    dropped: list[str] = []
    start = time.perf_counter()
    stopped = f"the {pairs} pairs asked for"
    with tempfile.TemporaryDirectory(prefix="guardprof-compare-") as tmp:
        for i in range(max_pairs):
            elapsed = time.perf_counter() - start
            if i >= pairs and len(results) >= 2:
                if undecided is None or not undecided(_estimate(results)):
                    stopped = f"decided after {i} pairs" if undecided else stopped
                    break
                per_pair = elapsed / len(results)
                if elapsed + per_pair > budget_s:
                    stopped = (f"the time budget ({budget_s:.0f} s): another pair would take "
                               f"≈{per_pair:.0f} s more")
                    break
            order = "AB" if i % 2 == 0 else "BA"
            values = {}
            for side in order:
                eta = ""
                if results:
                    per_pair = (time.perf_counter() - start) / len(results)
                    eta = f", ETA {per_pair * (max(pairs, i + 1) - len(results)):.0f} s"
                extra = " (more: undecided)" if i >= pairs else ""
                progress.update(f"pair {i + 1}/{max(pairs, i + 1)}{extra}: running {side}{eta}")
                cmd = a_cmd if side == "A" else b_cmd
                values[side] = _one(cmd, Path(tmp) / f"{side}{i}.json", key, side)
            missing = [f"{side}: {values[side][2]}" for side in order if values[side][0] is None]
            if missing:  # a pair is kept whole or not at all: both sides met one machine
                dropped.append(f"pair {i + 1} ({'; '.join(missing)})")
                continue
            results.append(Pair(i, values["A"][0], values["B"][0], order,
                                values["A"][1], values["B"][1]))
        else:
            if max_pairs > pairs:
                stopped = f"the most pairs allowed ({max_pairs})"
    notes = []
    if dropped:
        notes.append(f"{len(dropped)} pair(s) left out, a run's in-situ figure unresolved: "
                     + "; ".join(dropped))
    if len(results) < 2:
        raise GuardprofError(f"only {len(results)} pair(s) had both in-situ figures resolved "
                             f"({'; '.join(dropped)}): no interval; rerun on a quieter machine")
    noisy = sum(1 for p in results for s in (p.a_off_cpu, p.b_off_cpu)
                if s is not None and s > NOISY_OFF_CPU)
    if noisy:
        notes.append(f"{noisy} of {2 * len(results)} runs were noisy (off the CPU more than "
                     f"{100 * NOISY_OFF_CPU:.0f}% of their timed wall time); both sides of a "
                     "pair met the same machine, so the paired interval carries that noise")
    return Interleaved(metric, label, a_cmd, b_cmd, results, _estimate(results),
                       time.perf_counter() - start, METHOD, notes, stopped)
