#!/usr/bin/env python3
"""Does the replay's mode follow the machine? In one process, the standard workload warm, then
ROUNDS rounds alternating three timings: a fixed pure-Python reference loop, the compiled loop
(the hot loop, µs/call), and one replay block (replayed guard µs/call). Each round's three
figures printed side by side, then their correlation: if the replay's ~2× jumps come with the
reference loop's, the machine changed speed; if they come alone, the replay did.

    python scripts/replay_within.py --rounds 40
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from guardprof.measure.capture import capture_iteration
from guardprof.measure.replay import ReplayTimer
from guardprof.measure.run import warm
from guardprof.workload.runner import time_loop
from guardprof.workload.spec import WorkloadSpec


def reference_us() -> float:
    start = time.perf_counter()
    total = 0
    for i in range(30_000):
        total += i
    return (time.perf_counter() - start) * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--block-s", type=float, default=0.1, help="seconds per replay block")
    args = parser.parse_args()
    spec = WorkloadSpec(kind="standard", name="compiled", target=None, backend="eager",
                        dynamic=False, num_args=100, sizes=list(range(10, 101, 10)),
                        recompile_limit=16, number=None, repeat=1, device="cpu", seed=0)
    warmed = warm(spec)
    calls = warmed.prepared.calls
    run = warmed.run_compiled()
    timer = ReplayTimer(capture_iteration(warmed.prepared.compiled, calls))
    rows = []
    for r in range(args.rounds):
        ref = reference_us()
        (seconds,) = time_loop(run, warmed.number, 1, "cpu", "compiled")
        compiled = seconds * 1e6 / (warmed.number * len(calls))
        timer.time_block(args.block_s)
        block = timer.block_results()[-1]  # the pybind call path already subtracted
        replay = sum(s.seconds for inv in block.invocations for s in inv.steps) * 1e6 / len(calls)
        rows.append((ref, compiled, replay))
        print(f"round {r + 1:2d}: reference {ref:7.0f} µs  compiled {compiled:6.1f} µs/call  "
              f"replay block {replay:6.1f} µs/call", flush=True)
    ref, comp, rep = (np.array(col) for col in zip(*rows, strict=True))
    print(f"\nmedians: reference {statistics.median(ref):.0f} µs, compiled "
          f"{statistics.median(comp):.1f}, replay {statistics.median(rep):.1f} µs/call; "
          f"max/min: {ref.max() / ref.min():.2f}, {comp.max() / comp.min():.2f}, "
          f"{rep.max() / rep.min():.2f}")
    print(f"correlation over rounds: replay~reference {np.corrcoef(rep, ref)[0, 1]:+.2f}, "
          f"replay~compiled {np.corrcoef(rep, comp)[0, 1]:+.2f}, "
          f"compiled~reference {np.corrcoef(comp, ref)[0, 1]:+.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
