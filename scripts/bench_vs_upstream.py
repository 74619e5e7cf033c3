#!/usr/bin/env python3
"""Is `guardprof run` timing the benchmark as PyTorch's own dynamo_guard_eval.py does?

Runs the original script and `guardprof run --quiet` alternately, each as a fresh process,
`--runs` times, parses the µs figure both print ("compiled 688.7us (warmup=34.0s)") and prints
each run, the medians and their ratio. Alternating spreads machine drift over both.

    python scripts/bench_vs_upstream.py --upstream path/to/dynamo_guard_eval.py --runs 3

Pass the path of a checkout's benchmarks/dynamo/microbenchmarks/dynamo_guard_eval.py; the
script is not shipped with guardprof. Exit status 1 when the ratio is off by more than --tolerance.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

LINE = re.compile(r"compiled (\d+(?:\.\d+)?)us \(warmup=(\d+(?:\.\d+)?)s\)")


def run_once(cmd: list[str]) -> tuple[float, float, float]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    match = LINE.search(proc.stdout)
    if proc.returncode != 0 or match is None:
        sys.exit(f"{' '.join(cmd)} failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return float(match.group(1)), float(match.group(2)), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", type=Path, required=True,
                        help="path of PyTorch's dynamo_guard_eval.py")
    parser.add_argument("--runs", type=int, default=3, help="runs of each (default 3)")
    parser.add_argument("--tolerance", type=float, default=0.05,
                        help="allowed |ratio - 1| (default 0.05)")
    args = parser.parse_args()
    if not args.upstream.is_file():
        sys.exit(f"--upstream {args.upstream}: no such file")

    upstream_cmd = [sys.executable, str(args.upstream)]
    ours_cmd = [sys.executable, "-m", "guardprof", "run", "--quiet"]
    ours, theirs = [], []
    for i in range(args.runs):
        for label, cmd, sink in (("upstream", upstream_cmd, theirs), ("guardprof", ours_cmd, ours)):
            us, warmup, wall = run_once(cmd)
            sink.append(us)
            print(f"run {i + 1}/{args.runs} {label:9s} {us:8.1f} us/run_fn  "
                  f"warm-up {warmup:5.1f} s  process {wall:5.1f} s", flush=True)
    ratio = statistics.median(ours) / statistics.median(theirs)
    print(f"median upstream {statistics.median(theirs):.1f} us, guardprof "
          f"{statistics.median(ours):.1f} us, ratio guardprof/upstream {ratio:.3f} "
          f"({'within' if abs(ratio - 1) <= args.tolerance else 'OUTSIDE'} ±{args.tolerance:.0%})")
    sys.exit(0 if abs(ratio - 1) <= args.tolerance else 1)


if __name__ == "__main__":
    main()
