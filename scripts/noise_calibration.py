#!/usr/bin/env python3
"""The README's noise figures: what each run's noise measure reads on a quiet machine, with a
busy loop pinned to the other core, and with two busy loops free to roam both cores.

Each run is `guardprof run` (the standard workload cut to 4 sizes, short rounds) in a fresh
process; from its JSON: the off-CPU share (what marks a run noisy), the reference loop's
Python level and spread, the replayed guard µs/call and the compiled µs/call.

    python scripts/noise_calibration.py              # 2 runs per condition
    python scripts/noise_calibration.py --runs 4
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUN = ["--backend", "eager", "--sizes", "10,20,30,40", "--repeat", "5", "--number", "100",
       "--no-cross-check", "--no-decomposition", "--quiet"]
BUSY = "import time\nend = time.time() + 120\nwhile time.time() < end: pass"


def _hogs(condition: str) -> list[subprocess.Popen]:
    if condition == "quiet":
        return []
    if condition == "one busy loop on the other core":
        other = max(os.sched_getaffinity(0))
        return [subprocess.Popen([sys.executable, "-c", BUSY],
                                 preexec_fn=lambda: os.sched_setaffinity(0, {other}))]
    return [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(2)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    first = min(os.sched_getaffinity(0))
    print("| condition | off CPU | noisy | reference Python µs (spread) | guard µs/call | "
          "compiled µs/call |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run.json"
        for condition in ("quiet", "one busy loop on the other core",
                          "two busy loops, either core"):
            for _ in range(args.runs):
                hogs = _hogs(condition)
                try:
                    pin = ((lambda: os.sched_setaffinity(0, {first})) if hogs and
                           condition.startswith("one") else None)
                    subprocess.run([sys.executable, "-m", "guardprof", "run", *RUN, "--json",
                                    str(out)], cwd=REPO, check=True, capture_output=True,
                                   preexec_fn=pin)
                finally:
                    for h in hogs:
                        h.kill()
                        h.wait()
                d = json.loads(out.read_text())
                s, py = d["summary"], d["noise"]["python_us"]
                spread = (py["q3"] - py["q1"]) / py["median"]
                print(f"| {condition} | {100 * s['off_cpu']:.1f}% | {s['noisy']} | "
                      f"{py['median']:.0f} ({100 * spread:.0f}%) | {s['guard_us_per_call']:.1f} "
                      f"| {s['compiled_us_per_call']:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
