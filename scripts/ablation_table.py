#!/usr/bin/env python3
"""The README's ablation table: guard groups dropped with guard_filter_fn, the hot-loop saving
beside what guardprof's per-kind split gave those guards (`guardprof guards --ablate`).

    python scripts/ablation_table.py             # standard (static, --dynamic) and dict_int
    python scripts/ablation_table.py --runs 3
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORKLOADS = {"standard": [], "standard --dynamic": ["--dynamic"],
             "dict_int": ["--target", f"{REPO / 'tests' / 'workloads' / 'dict_int.py'}:make"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    rows, torch = [], "?"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "guards.json"
        for name, extra in WORKLOADS.items():
            for _ in range(args.runs):
                subprocess.run([sys.executable, "-m", "guardprof", "guards", "--ablate", "-q",
                                "--json", str(out), *extra], cwd=REPO, check=True,
                               capture_output=True, text=True)
                data = json.loads(out.read_text())
                torch = data["environment"]["torch_version"]
                for a in data["ablations"]["results"]:
                    if not a["valid"]:
                        rows.append(f"| {name} | {a['group']} | {a['entries']} → "
                                    f"{a['entries_without']} | — | — | — | {a['note']} |")
                        continue
                    ratio = "n/a" if a["ratio"] is None else f"{a['ratio']:.2f}"
                    rows.append(f"| {name} | {a['group']} | {a['entries']} → "
                                f"{a['entries_without']} | {a['saved_us']:.2f} "
                                f"[{a['saved_low']:.2f}, {a['saved_high']:.2f}] | "
                                f"{a['attributed_us']:.2f} | {ratio} | {a['verdict']} |")
    print(f"Ablations, µs per call (torch {torch}, backend eager)\n")
    print("| workload | group | entries | saved in the hot loop [quartiles] | attributed | "
          "attributed / saved | verdict |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
