#!/usr/bin/env python3
"""Per-kind parts against the whole check, with torch's dict-tag fast path on and off.

`torch._dynamo.config.use_recursive_dict_tags_for_guards` (on by default in torch 2.11, off in
2.13) lets the guard manager of an nn.Module skip every guard below it when its dicts' tags are
unchanged. This runs `guardprof guards`' costing on the 24-layer module stack
(tests/workloads/module_stack.py) once per setting, each in a fresh process, and prints the
sum of the per-kind parts over the whole isolated check, per call, and how many guards the
simulation left out as skipped. Run it with the torch you want to look at, e.g.

    .matrix/torch-2.11.0-py3.11/bin/python scripts/dict_tag_reconcile.py
    .venv/bin/python scripts/dict_tag_reconcile.py --repeats 3
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET = f"{REPO / 'tests' / 'workloads' / 'module_stack.py'}:make"

ONE = """
import json, sys, torch
torch._dynamo.config.use_recursive_dict_tags_for_guards = sys.argv[1] == "on"
from guardprof.measure.guards import collect
from guardprof.workload.spec import WorkloadSpec
spec = WorkloadSpec(kind="target", name="module_stack", target=sys.argv[2], backend="eager",
                    dynamic=False, num_args=None, sizes=None, recompile_limit=16, number=None,
                    repeat=3, device="cpu", seed=0)
report = collect(spec)
(frame,) = report.frames
loop = frame.loop_cost
skipped = sum(k.leaf_guards for _, e in report.entries() for c in (e.pass_cost,) if c
              for k in c.parts if k.kind.startswith("(skipped"))
print(json.dumps({"torch": torch.__version__, "parts": loop.parts_us_per_call,
                  "whole": loop.whole_isolated_us_per_call, "skipped_leaves": skipped}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=1, help="processes per setting")
    args = parser.parse_args()
    print("| torch | fast path | parts µs/call | whole µs/call | parts/whole | guards skipped "
          "(pass checks) |")
    print("|---|---|---|---|---|---|")
    for setting in ("on", "off"):
        for _ in range(args.repeats):
            out = subprocess.run([sys.executable, "-c", ONE, setting, TARGET], cwd=REPO,
                                 capture_output=True, text=True, check=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            print(f"| {r['torch']} | {setting} | {r['parts']:.2f} | {r['whole']:.2f} | "
                  f"{r['parts'] / r['whole']:.2f} | {r['skipped_leaves']} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
