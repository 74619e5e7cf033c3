#!/usr/bin/env python3
"""The README's in-situ table: on each workload, the headline guard figure (timed in situ) set
beside its independent cross-check (torch.profiler's lookup events) and beside its breakdown
(the accepted check = frame-locals dict + replayed checks + residual), each judged at ±15%.

Each workload runs as `guardprof run --backend eager --json …` in a fresh process (the measurement
the command makes), then the table is printed from the JSON:

    python scripts/in_situ_table.py                 # the six workloads, once each
    python scripts/in_situ_table.py --runs 3        # each three times
    python scripts/in_situ_table.py --only dict_int --runs 5
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

# The same fresh-process run and the same workloads as the decomposition tables (this folder is
# on sys.path when a script here runs), with the float-argument workload in place of the second
# graph break.
from decomposition_table import REPO, run  # noqa: E402
from decomposition_table import WORKLOADS as DECOMPOSITION_WORKLOADS

W = REPO / "tests" / "workloads"
WORKLOADS = {k: v for k, v in DECOMPOSITION_WORKLOADS.items() if "one resume entry" not in k}
WORKLOADS["float_args --auto-dynamic"] = ["--target", f"{W / 'float_args.py'}:make",
                                          "--auto-dynamic"]


def row(name: str, data: dict) -> list[str]:
    s, b = data["in_situ"], data.get("accepted_breakdown")
    check = s["cross_check"]

    def num(x: float | None, fmt: str = ".2f") -> str:
        return "-" if x is None else format(x, fmt)

    call = data["summary"]["compiled_us_per_call"]
    return [name, num(call, ".1f"), num(s["us_per_call"]),
            f"[{num(s['low'])}, {num(s['high'])}]", num(check["us_per_call"]),
            num(check["ratio"]), check["verdict"],
            num(b["in_situ_us"]) if b else "-",
            " + ".join(f"{r['us']:.2f}" for r in b["rows"]) if b else "-",
            num(b["residual_us"], "+.2f") if b else "-",
            num(b["ratio"]) if b else "-", b["verdict"] if b else "-"]


HEADERS = ["workload", "call µs", "guards in situ µs", "[quartiles]", "profiler µs", "ratio",
           "verdict", "accepted in situ", "frame locals + replayed", "residual", "ratio",
           "verdict"]


def markdown(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--only", choices=sorted(WORKLOADS), action="append",
                        help="run only this workload (repeatable)")
    args = parser.parse_args()
    chosen = {k: v for k, v in WORKLOADS.items() if not args.only or k in args.only}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra in chosen.items():
            for i in range(args.runs):
                data = run(extra, Path(tmp) / f"{i}.json")
                rows.append(row(name, data))
                print(" | ".join(rows[-1]), file=sys.stderr, flush=True)
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
