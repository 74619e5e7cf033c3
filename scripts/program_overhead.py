#!/usr/bin/env python3
"""The README's overhead figure for `guardprof run -- python SCRIPT` / `guardprof.capture()`:
how much slower a training loop runs while guardprof records it.

One process, one warm compiled model (an 8-layer nn.Sequential, batch size cycling 4..8, SGD),
rounds of STEPS training steps alternated between three configurations, the same inputs in the
same order:

  off       no guardprof
  counting  the recorder installed, sampling nothing (the cost outside samples: one Python
            call per compiled call)
  sampling  the recorder with its default spacing (one sample at least every 0.2 s and 50×
            its own cost), as `guardprof run -- python` runs

Per configuration the median round; ratios to `off`, and each sample's own cost.

    python scripts/program_overhead.py [--rounds 15] [--steps 200]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from guardprof.measure.program import ProgramRecorder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()

    torch.manual_seed(0)
    model = torch.nn.Sequential(*[torch.nn.Linear(16, 16) for _ in range(8)])
    compiled = torch.compile(model, backend="eager")
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    inputs = [torch.randn(4 + i % 5, 16) for i in range(args.steps)]

    def train() -> None:
        for x in inputs:
            loss = compiled(x).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()

    for _ in range(3):
        train()  # warm: every entry compiled
    configs = {
        "off": lambda: None,
        "counting": lambda: ProgramRecorder(first_samples=0, max_samples=0),
        "sampling": lambda: ProgramRecorder(first_samples=0),
    }
    times: dict[str, list[float]] = {name: [] for name in configs}
    sample_costs: list[float] = []
    samples = 0
    for r in range(args.rounds):
        for name, make in (configs.items() if r % 2 == 0 else reversed(configs.items())):
            recorder = make()
            if recorder is not None:
                recorder.start()
            start = time.perf_counter()
            train()
            times[name].append(time.perf_counter() - start)
            if recorder is not None:
                recorder.stop()
                sample_costs += recorder.sample_costs_s
                samples += len(recorder.samples) if name == "sampling" else 0
        print(f"round {r + 1}/{args.rounds}", flush=True)

    off = statistics.median(times["off"])
    print(f"\n{args.steps} training steps per round, {args.rounds} rounds alternated; "
          f"torch {torch.__version__}")
    print(f"{'configuration':<14}{'median ms/round':>16}{'× off':>8}{'IQR ms':>10}")
    for name, values in times.items():
        q = statistics.quantiles(values, n=4)
        print(f"{name:<14}{statistics.median(values) * 1e3:>16.1f}"
              f"{statistics.median(values) / off:>8.3f}{(q[2] - q[0]) * 1e3:>10.1f}")
    paired = [s / o for s, o in zip(times["sampling"], times["off"], strict=True)]
    print(f"sampling / off, paired by round: median {statistics.median(paired):.3f}, "
          f"range {min(paired):.3f}–{max(paired):.3f}")
    if sample_costs:
        print(f"one sample's own cost (snapshot → frame captured): median "
              f"{statistics.median(sample_costs) * 1e3:.2f} ms over {len(sample_costs)} samples")


if __name__ == "__main__":
    main()
