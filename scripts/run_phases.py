#!/usr/bin/env python3
"""Where `guardprof run`'s wall time goes: each progress step's duration, summed by step.

Runs `guardprof run ARGS` in this process with its progress updates timed (the step is the
progress message up to its first ':' or '('), then prints the steps, longest first, on stderr.
The README's phase costs of the standard run come from it:

    python scripts/run_phases.py --backend eager
"""

import atexit
import sys
import time

import guardprof.progress as progress

steps: list[tuple[float, str]] = []
t0 = time.perf_counter()
update = progress.Progress.update


def timed_update(self, message):
    step = message.split(":")[0].split("(")[0].strip()[:40]
    if not steps or steps[-1][1] != step:
        steps.append((time.perf_counter() - t0, step))
    return update(self, message)


def report():
    end = time.perf_counter() - t0
    totals: dict[str, float] = {}
    for (at, step), (until, _) in zip(steps, steps[1:] + [(end, "")], strict=True):
        totals[step] = totals.get(step, 0.0) + until - at
    for step, seconds in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"{seconds:6.2f} s  {step}", file=sys.stderr)
    print(f"{end:6.2f} s  in all, since guardprof's import", file=sys.stderr)


progress.Progress.update = timed_update
atexit.register(report)

from guardprof.cli.main import main  # noqa: E402 (after the patch)

sys.argv = ["guardprof", "run", *sys.argv[1:]]
main()
