#!/usr/bin/env python3
"""The README's gate-reliability table: does `guardprof compare --fail-above` catch a real
regression and leave a rerun alone when a CPU hog shares the measurement's core?

The hog is a busy loop on one of the two cores, bounded in time; every measurement is pinned to
that same core, so the hog takes about half of its CPU (a hog on the other core takes nothing
from it: measured, off-CPU share 0.4–0.6%, as on a quiet machine). Per trial:

  (a) interleaved, 100 → 200 tensor args, hog on throughout: must fail the gate (exit 1)
  (b) interleaved, the same configuration on both sides, hog on throughout: must never fail
      (exit 0, or 3: cannot decide)
  (c) saved runs: A (100 args) made under the hog, B (200 args) and a rerun of A made quietly.
      The regression A → B must never pass (exit 1 or 3); the rerun, compared with the hogged
      run on B's side (the direction noise would fail), must never fail (exit 0 or 3). Gated on
      guard µs/call and on compiled µs/call (the figure a hog slows most).

    python scripts/gate_reliability.py                 # 20 trials of each
    python scripts/gate_reliability.py --trials 3 --scenarios a,c
    python scripts/gate_reliability.py --trials 1 --base "--backend eager --sizes 4,8" \
        --a-args 4 --b-args 32                          # the test suite's reduced version
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The standard workload cut to 4 sizes and short rounds: about 10 s per run on this machine.
BASE = "--backend eager --sizes 10,20,30,40 --repeat 5 --number 100"
FAIL_ABOVE = "10"
GOALS = {  # scenario → (exit codes that meet the goal, what the goal says)
    "a": ({1}, "caught (exit 1)"),
    "b": ({0, 3}, "never failed (exit 0 or 3)"),
    "c-regression": ({1, 3}, "never passed (exit 1 or 3)"),
    "c-rerun": ({0, 3}, "never failed (exit 0 or 3)"),
}


def _cpu() -> int:
    return max(os.sched_getaffinity(0))


def _pinned(cpu: int):
    return lambda: os.sched_setaffinity(0, {cpu})


class Hog:
    """A busy loop pinned to `cpu`, ending by itself after `seconds` (or when stopped)."""

    def __init__(self, cpu: int, seconds: float) -> None:
        code = f"import time\nend = time.time() + {seconds}\nwhile time.time() < end: pass"
        self.proc = subprocess.Popen([sys.executable, "-c", code], preexec_fn=_pinned(cpu))

    def __enter__(self) -> Hog:
        return self

    def __exit__(self, *exc) -> None:
        self.proc.kill()
        self.proc.wait()


def _guardprof(args: list[str], cpu: int) -> int:
    proc = subprocess.run([sys.executable, "-m", "guardprof", *args], cwd=REPO,
                          preexec_fn=_pinned(cpu), capture_output=True, text=True)
    if proc.returncode not in (0, 1, 3):
        sys.exit(f"guardprof {shlex.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    return proc.returncode


def _interleaved(base: str, a_args: int, b_args: int, cpu: int, pairs: int,
                 max_pairs: int) -> int:
    return _guardprof(["compare", "--a", f"{base} --num-args {a_args}",
                       "--b", f"{base} --num-args {b_args}", "--pairs", str(pairs),
                       "--max-pairs", str(max_pairs), "--fail-above", FAIL_ABOVE, "--quiet"],
                      cpu)


def _saved_run(base: str, num_args: int, out: Path, cpu: int) -> None:
    code = _guardprof(["run", *shlex.split(base), "--num-args", str(num_args),
                       "--no-cross-check", "--no-decomposition", "--quiet", "--json", str(out)],
                      cpu)
    if code != 0:
        sys.exit(f"guardprof run failed (exit {code})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--pairs", type=int, default=3, help="interleaved: first pairs")
    parser.add_argument("--max-pairs", type=int, default=8, help="interleaved: at most")
    parser.add_argument("--scenarios", default="a,b,c")
    parser.add_argument("--base", default=BASE, help="`guardprof run` options of every run")
    parser.add_argument("--a-args", type=int, default=100, help="A's --num-args")
    parser.add_argument("--b-args", type=int, default=200, help="the regression's --num-args")
    args = parser.parse_args()
    base, a_n, b_n = args.base, args.a_args, args.b_args
    scenarios = args.scenarios.split(",")
    cpu = _cpu()
    hog_s = 600.0  # the bound: no trial step takes this long
    outcomes: dict[str, Counter] = {}
    start = time.perf_counter()

    def record(name: str, code: int) -> None:
        outcomes.setdefault(name, Counter())[code] += 1

    with tempfile.TemporaryDirectory() as tmp:
        for trial in range(args.trials):
            elapsed = time.perf_counter() - start
            print(f"trial {trial + 1}/{args.trials} ({elapsed:.0f} s so far)", file=sys.stderr)
            if "a" in scenarios:
                with Hog(cpu, hog_s):
                    record("a", _interleaved(base, a_n, b_n, cpu, args.pairs, args.max_pairs))
            if "b" in scenarios:
                with Hog(cpu, hog_s):
                    record("b", _interleaved(base, a_n, a_n, cpu, args.pairs, args.max_pairs))
            if "c" in scenarios:
                a_hog, b, a2 = (Path(tmp) / f"{n}.json" for n in ("a_hog", "b", "a2"))
                with Hog(cpu, hog_s):
                    _saved_run(base, a_n, a_hog, cpu)
                _saved_run(base, b_n, b, cpu)
                _saved_run(base, a_n, a2, cpu)
                for metric in ("guard", "call"):
                    gate = ["--fail-above", FAIL_ABOVE, "--metric", metric, "--quiet"]
                    record(f"c-regression ({metric})",
                           _guardprof(["compare", str(a_hog), str(b), *gate], cpu))
                    record(f"c-rerun ({metric})",
                           _guardprof(["compare", str(a2), str(a_hog), *gate], cpu))
            if trial + 1 < args.trials:  # so far, in case the run is stopped early
                _table(outcomes, trial + 1, "so far")

        return _table(outcomes, trial + 1, f"{a_n} → {b_n} tensor args, runs `{base}`, hog "
                      f"and measurement on CPU {cpu}, --fail-above {FAIL_ABOVE}, "
                      f"{time.perf_counter() - start:.0f} s")


def _table(outcomes: dict[str, Counter], trials: int, setting: str) -> int:
    print(f"\n{trials} trials, {setting}\n")
    print("| scenario | goal | exit 0 | exit 1 | exit 3 | goal met |")
    print("|---|---|---|---|---|---|")
    failed = False
    for name, counts in outcomes.items():
        ok_codes, goal = GOALS[name.split(" ")[0]]
        met = all(code in ok_codes for code in counts)
        failed |= not met
        print(f"| {name} | {goal} | {counts[0]} | {counts[1]} | {counts[3]} | "
              f"{'yes' if met else 'NO'} |", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
