#!/usr/bin/env python3
"""Is a figure bimodal across processes? `guardprof run` in fresh processes, one after another,
each process's compiled call (the hot loop), replayed guard time and its blocks printed side by
side, under the hash seeds given (to rule the hash seed in or out):

    python scripts/replay_modes.py --runs 3 --hash-seeds 0,1,2     # 9 processes
    python scripts/replay_modes.py --python .venv-oldest/bin/python --runs 5

The README's "the bimodality is the replay's own" comes from the first command.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="processes per hash seed")
    parser.add_argument("--hash-seeds", default="0,1,2", help="PYTHONHASHSEED values")
    parser.add_argument("--python", default=sys.executable, help="the Python that runs guardprof")
    parser.add_argument("run_options", nargs="*", default=["--backend", "eager"],
                        help="`guardprof run` options (after --)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run.json"
        for seed in args.hash_seeds.split(","):
            for i in range(args.runs):
                cmd = [args.python, "-m", "guardprof", "run", *args.run_options,
                       "--no-cross-check", "--no-decomposition", "--quiet", "--json", str(out)]
                env = {**os.environ, "PYTHONHASHSEED": seed}
                subprocess.run(cmd, cwd=REPO, env=env, check=True, capture_output=True)
                data = json.loads(out.read_text())
                s = data["summary"]
                blocks = [sum(b["rejected_us"]) + sum(b["accepted_us"])
                          for b in data["guard_cost"]["blocks"]]
                calls = data["workload"]["calls_per_iteration"]
                per_call = [b / calls for b in blocks]
                rows.append((seed, s["compiled_us_per_call"], s["guard_us_per_call"],
                             min(per_call) if per_call else float("nan"),
                             max(per_call) if per_call else float("nan"),
                             data["guard_cost"]["python_call_overhead_us"]))
                print(f"seed {seed} run {i + 1}: compiled {rows[-1][1]:.1f} µs/call, replayed "
                      f"guard {rows[-1][2]:.1f} µs/call (blocks {rows[-1][3]:.1f}–"
                      f"{rows[-1][4]:.1f}), subtracted per check {rows[-1][5]:.3f} µs",
                      flush=True)
    compiled = [r[1] for r in rows]
    guard = [r[2] for r in rows]
    print(f"\n{len(rows)} processes: compiled {min(compiled):.1f}–{max(compiled):.1f} µs/call "
          f"(max/min {max(compiled) / min(compiled):.2f}), replayed guard "
          f"{min(guard):.1f}–{max(guard):.1f} (max/min {max(guard) / min(guard):.2f}); "
          f"medians {statistics.median(compiled):.1f} and {statistics.median(guard):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
