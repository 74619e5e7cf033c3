#!/usr/bin/env python3
"""The README's decomposition tables: each workload's compiled call taken apart in the hot loop,
and the replay set beside the in-situ figures.

Each workload runs as `guardprof run --backend eager --json …` in a fresh process (the same
measurement the command makes), then the tables are printed from the JSON:

    python scripts/decomposition_table.py              # standard, --dynamic, and three targets
    python scripts/decomposition_table.py --runs 3     # each workload three times
    python scripts/decomposition_table.py --only graph_break --runs 3
    python scripts/decomposition_table.py --only "graph_break, one resume entry" --runs 3

A workload whose call runs more than one compiled frame gets a third table: each frame's own
parts (`frames[].decomposition`) with the frame's replayed costs beside them. The last table
sets the profiler's cache-lookup events (the run's cross-check) beside the replayed guard time.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
W = REPO / "tests" / "workloads"
WORKLOADS = {
    "standard": [],
    "standard --dynamic": ["--dynamic"],
    "module_stack (24 Linear)": ["--target", f"{W / 'module_stack.py'}:make"],
    "dict_int": ["--target", f"{W / 'dict_int.py'}:make"],
    "graph_break": ["--target", f"{W / 'graph_break.py'}:make"],
    "graph_break, one resume entry": ["--target",
                                      f"{W / 'graph_break_one_resume_entry.py'}:make"],
}


def run(args: list[str], out: Path) -> dict:
    cmd = [sys.executable, "-m", "guardprof", "run", "--backend", "eager",
           "--json", str(out), "--quiet", *args]
    subprocess.run(cmd, cwd=REPO, check=True, capture_output=True, text=True)
    return json.loads(out.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--only", choices=sorted(WORKLOADS), action="append",
                        help="run only this workload (repeatable)")
    args = parser.parse_args()
    parts_rows, agree_rows, frame_rows, profiler_rows, notes = [], [], [], [], []
    chosen = {k: v for k, v in WORKLOADS.items() if not args.only or k in args.only}
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra in chosen.items():
            for i in range(args.runs):
                data = run(extra, Path(tmp) / f"{i}.json")
                profiler_rows.append(_profiler_row(name, data))
                d = data["decomposition"]
                if not d["available"]:
                    notes.append(f"{name}: {'; '.join(d['notes'])}")
                    break
                p = {x["name"]: x for x in d["parts"]}
                parts_rows.append(
                    f"| {name} | {d['compiled_us']:.1f} | "
                    + " | ".join(f"{p[k]['us']:.1f}" for k in (
                        "graph", "dispatch_floor", "accepted_check", "rejected_entries"))
                    + f" | {d['unattributed_us']:.1f} |")
                for a in d["agreement"]:
                    ratio = "n/a" if a["ratio"] is None else f"{a['ratio']:.2f}"
                    agree_rows.append(f"| {name} | {a['name']} | {a['in_situ_us']:.2f} | "
                                      f"{a['replayed_us']:.2f} | {ratio} | {a['verdict']} |")
                if len(data["frames"]) > 1:
                    frame_rows += [_frame_row(name, f) for f in data["frames"]]
    torch = data["environment"]["torch_version"]
    print(f"Decomposition, µs per call (torch {torch}, backend eager)\n")
    print("| workload | compiled | graph | dispatch floor | accepted check | rejected entries "
          "| unattributed |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(parts_rows))
    print("\nIndependent measures (other: the replay, or the call-order experiment)\n")
    print("| workload | part | in situ µs | other µs | ratio | verdict |")
    print("|---|---|---|---|---|---|")
    print("\n".join(agree_rows))
    if frame_rows:
        print("\nPer frame, µs per workload call [quartiles]; replayed vs in situ (ratio, "
              "verdict)\n")
        print("| workload | frame | dispatch floor | accepted check | rejected entries | "
              "accepted: replayed | rejected: replayed |")
        print("|---|---|---|---|---|---|---|")
        print("\n".join(frame_rows))
    print("\nThe two guard measures: torch.profiler's cache-lookup events (summed per call, "
          "median of the passes) against the replay, µs per call (agree within ±15%)\n")
    print("| workload | profiler | replayed | ratio | verdict |")
    print("|---|---|---|---|---|")
    print("\n".join(profiler_rows))
    if notes:
        print("\nNot measured:\n" + "\n".join(f"- {n}" for n in notes))
    return 0


def _profiler_row(workload: str, data: dict) -> str:
    check = data["cross_check"]
    replayed = data["summary"]["guard_us_per_call"]
    if not check["available"] or check["per_call_us"] is None:
        return f"| {workload} | not available: {check['note']} | {replayed:.2f} | | |"
    ratio = data["summary"]["profiler_to_replay_ratio"]  # the report's own figure and band
    verdict = ("n/a" if ratio is None
               else "agree" if abs(ratio - 1) <= check["tolerance"] else "disagree")
    shown = "n/a" if ratio is None else f"{ratio:.2f}"
    return (f"| {workload} | {check['per_call_us']:.2f} | {replayed:.2f} | {shown} | "
            f"{verdict} |")


def _frame_row(workload: str, frame: dict) -> str:
    fd = frame["decomposition"]
    if not fd or not fd["available"]:
        why = "; ".join((fd or {}).get("notes", []))
        return f"| {workload} | {frame['name']} | not measured: {why} | | | | |"
    p = {x["name"]: x for x in fd["parts"]}
    cells = [f"{p[k]['us']:.1f} [{p[k]['low']:.1f}, {p[k]['high']:.1f}]" if k in p else "—"
             for k in ("dispatch_floor", "accepted_check", "rejected_entries")]
    a = {x["name"]: x for x in fd["agreement"]}
    for k in ("accepted_check", "rejected_entries"):
        row = a.get(k)
        ratio = "no ratio" if row is None or row["ratio"] is None else f"{row['ratio']:.2f}"
        cells.append("—" if row is None
                     else f"{row['replayed_us']:.2f} ({ratio}, {row['verdict']})")
    name = frame["name"] if len(frame["name"]) < 40 else frame["name"][:37] + "…"
    return f"| {workload} | {name} | " + " | ".join(cells) + " |"


if __name__ == "__main__":
    sys.exit(main())
