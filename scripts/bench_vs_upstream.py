#!/usr/bin/env python3
"""Is `guardprof run` timing the benchmark as PyTorch's own dynamo_guard_eval.py does?

Runs the original script and `guardprof run --quiet` alternately, each as a fresh process,
`--runs` times, parses the µs figure both print ("compiled 688.7us (warmup=34.0s)") and prints
each run, the medians and their ratio. Alternating spreads machine drift over both.

    python scripts/bench_vs_upstream.py --upstream path/to/dynamo_guard_eval.py --runs 3
    python scripts/bench_vs_upstream.py --upstream path/to/dynamo_guard_eval.py --backend eager

With `--backend eager`, a copy of the script compiles with `backend="eager"` (its one
`torch.compile(foo, dynamic=False)` call edited) and guardprof runs with `--backend eager`: the
pairing the README's speed figure uses. Each process's wall time is printed too, with the medians'
ratio (guardprof's whole run, decomposition included, against the original script's).

Pass the path of a checkout's benchmarks/dynamo/microbenchmarks/dynamo_guard_eval.py; the
script is not shipped with guardprof. Exit status 1 when the ratio is off by more than --tolerance.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
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
    parser.add_argument("--backend", choices=["inductor", "eager"], default="inductor",
                        help="compile both with this backend (default: the script's own)")
    args = parser.parse_args()
    if not args.upstream.is_file():
        sys.exit(f"--upstream {args.upstream}: no such file")

    upstream = args.upstream
    ours_cmd = [sys.executable, "-m", "guardprof", "run", "--quiet"]
    if args.backend == "eager":
        source = upstream.read_text()
        call = "torch.compile(foo, dynamic=False)"
        if source.count(call) != 1:
            sys.exit(f"--backend eager: {upstream} has no single `{call}` to edit")
        upstream = Path(tempfile.mkdtemp()) / upstream.name
        upstream.write_text(source.replace(call, call[:-1] + ', backend="eager")'))
        ours_cmd += ["--backend", "eager"]
    upstream_cmd = [sys.executable, str(upstream)]
    ours, theirs, ours_wall, theirs_wall = [], [], [], []
    for i in range(args.runs):
        for label, cmd, sink, walls in (("upstream", upstream_cmd, theirs, theirs_wall),
                                        ("guardprof", ours_cmd, ours, ours_wall)):
            us, warmup, wall = run_once(cmd)
            sink.append(us)
            walls.append(wall)
            print(f"run {i + 1}/{args.runs} {label:9s} {us:8.1f} us/run_fn  "
                  f"warm-up {warmup:5.1f} s  process {wall:5.1f} s", flush=True)
    ratio = statistics.median(ours) / statistics.median(theirs)
    print(f"median upstream {statistics.median(theirs):.1f} us, guardprof "
          f"{statistics.median(ours):.1f} us, ratio guardprof/upstream {ratio:.3f} "
          f"({'within' if abs(ratio - 1) <= args.tolerance else 'OUTSIDE'} ±{args.tolerance:.0%})")
    print(f"process wall, medians: upstream {statistics.median(theirs_wall):.1f} s, guardprof "
          f"{statistics.median(ours_wall):.1f} s, ratio "
          f"{statistics.median(ours_wall) / statistics.median(theirs_wall):.2f}")
    sys.exit(0 if abs(ratio - 1) <= args.tolerance else 1)


if __name__ == "__main__":
    main()
