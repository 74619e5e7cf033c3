"""One trial of scripts/gate_reliability.py, on a tiny workload: with a CPU hog on the
measurement's core, interleaved mode catches a real regression (4 → 32 tensor args), and a saved
run made under the hog neither lets that regression pass nor fails a rerun. (The 20-trial table
is the script's, in the README.) Exit 0: every goal met."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parents[2] / "scripts" / "gate_reliability.py"


def test_one_trial_of_the_reliability_benchmark_meets_every_goal():
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--trials", "1", "--scenarios", "a,c", "--pairs", "3",
         "--max-pairs", "3", "--base", "--backend eager --sizes 4,8 --number 20 --repeat 3",
         "--a-args", "4", "--b-args", "32"],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ")][1:]
    assert {r.split(" | ")[0].lstrip("| ") for r in rows} == {
        "a", "c-regression (guard)", "c-rerun (guard)", "c-regression (call)",
        "c-rerun (call)"}
    assert all(r.rstrip(" |").endswith("yes") for r in rows)
