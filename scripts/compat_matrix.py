#!/usr/bin/env python3
"""Run guardprof's test suite on each (torch, Python) cell of the support matrix.

One virtual environment per cell under `.matrix/` (reused when it is complete), each with that
torch from the package index (CUDA builds, about 3 GB; pip's cache shares the nvidia wheels
between cells) and guardprof installed editable with its test extras; then `lint-imports` and
the suite in each, one cell after another, and a table: cell, passed / failed / errors /
skipped, wall time. Pythons are taken from pyenv (`pyenv root`) or PATH (`python3.12`).

    python scripts/compat_matrix.py                       # the default cells
    python scripts/compat_matrix.py --cells 2.11.0/3.11   # one cell
    python scripts/compat_matrix.py --setup-only          # build the environments, run nothing
    python scripts/compat_matrix.py -- -x -k whatif       # extra pytest arguments after --

Exit status: 0 when every cell passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CELLS = ("2.11.0/3.11", "2.12.1/3.12", "2.13.0/3.11", "2.14.1/3.12", "2.14.1/3.13")
READY = ".guardprof-matrix-ready"
SUMMARY = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected)")


@dataclass
class Cell:
    torch: str
    python: str

    @property
    def name(self) -> str:
        return f"{self.torch}/{self.python}"

    @property
    def folder(self) -> str:
        return f"torch-{self.torch}-py{self.python}"


@dataclass
class Result:
    cell: Cell
    torch_version: str
    python_version: str
    counts: dict[str, int]
    lint: str
    wall_s: float
    ok: bool


def parse_cell(text: str) -> Cell:
    torch, sep, python = text.partition("/")
    if not sep or not re.fullmatch(r"\d+\.\d+(\.\d+)?", torch) or not re.fullmatch(
            r"3\.\d+", python):
        raise SystemExit(f"error: cell {text!r}: expected TORCH/PYTHON, e.g. 2.11.0/3.11")
    return Cell(torch, python)


def find_python(version: str) -> Path:
    """The newest pyenv CPython X.Y.*, else pythonX.Y on PATH."""
    root = None
    if shutil.which("pyenv"):
        root = subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip()
    candidates = []
    if root:
        for d in Path(root, "versions").glob(f"{version}.*"):
            patch = d.name[len(version) + 1:]
            if patch.isdigit() and (d / "bin" / "python").exists():
                candidates.append((int(patch), d / "bin" / "python"))
    if candidates:
        return max(candidates)[1]
    found = shutil.which(f"python{version}")
    if found:
        return Path(found)
    raise SystemExit(f"error: no Python {version} (not under pyenv, not python{version} on PATH)")


def run(cmd: list[str], log, **kwargs) -> subprocess.CompletedProcess:
    log.write(f"$ {' '.join(map(str, cmd))}\n")
    log.flush()
    return subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, text=True, **kwargs)


def build(cell: Cell, root: Path, log) -> Path:
    """The cell's environment, built unless a complete one is there already."""
    env = root / cell.folder
    if (env / READY).exists():
        return env
    if env.exists():
        shutil.rmtree(env)  # a half-built one from an interrupted run
    python = find_python(cell.python)
    print(f"[{cell.name}] building {env} with {python} (torch from the index: minutes)",
          flush=True)
    steps = [
        [str(python), "-m", "venv", str(env)],
        [str(env / "bin" / "pip"), "install", "-q", f"torch=={cell.torch}"],
        [str(env / "bin" / "pip"), "install", "-q", "-e", f"{REPO}[test,plot]"],
    ]
    for step in steps:
        if run(step, log).returncode != 0:
            raise RuntimeError(f"[{cell.name}] failed: {' '.join(step)} (see the log)")
    (env / READY).write_text(time.strftime("%Y-%m-%d %H:%M:%S\n"))
    return env


def test(cell: Cell, env: Path, pytest_args: list[str], log) -> Result:
    py = str(env / "bin" / "python")
    versions = subprocess.run(
        [py, "-c", "import platform, torch; print(torch.__version__, platform.python_version())"],
        capture_output=True, text=True, check=True).stdout.split()
    print(f"[{cell.name}] torch {versions[0]}, Python {versions[1]}: lint-imports and the suite",
          flush=True)
    start = time.perf_counter()
    lint = run([str(env / "bin" / "lint-imports")], log, cwd=REPO)
    proc = subprocess.run([py, "-m", "pytest", "-q", "-p", "no:cacheprovider", *pytest_args],
                          cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    wall = time.perf_counter() - start
    log.write(proc.stdout + proc.stderr)
    tail = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    counts: dict[str, int] = {}
    for n, word in SUMMARY.findall(tail):
        counts["errors" if word.startswith("error") else word] = int(n)
    ok = proc.returncode == 0 and lint.returncode == 0
    return Result(cell, versions[0], versions[1], counts,
                  "kept" if lint.returncode == 0 else "BROKEN", wall, ok)


def table(results: list[Result]) -> str:
    lines = ["| torch | Python | passed | failed | errors | skipped | lint-imports | wall s |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        c = r.counts
        lines.append(f"| {r.torch_version} | {r.python_version} | {c.get('passed', 0)} | "
                     f"{c.get('failed', 0)} | {c.get('errors', 0)} | {c.get('skipped', 0)} | "
                     f"{r.lint} | {r.wall_s:.0f} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if "--" in argv:
        i = argv.index("--")
        argv, pytest_args = argv[:i], argv[i + 1:]
    else:
        pytest_args = []
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", default=",".join(DEFAULT_CELLS),
                        help="comma list of TORCH/PYTHON (default: %(default)s)")
    parser.add_argument("--root", type=Path, default=REPO / ".matrix",
                        help="where the environments live (default: .matrix/)")
    parser.add_argument("--setup-only", action="store_true", help="build, do not test")
    args = parser.parse_args(argv)
    cells = [parse_cell(c.strip()) for c in args.cells.split(",") if c.strip()]
    args.root.mkdir(parents=True, exist_ok=True)
    results = []
    for cell in cells:
        with open(args.root / f"{cell.folder}.log", "a") as log:
            try:
                env = build(cell, args.root, log)
                if not args.setup_only:
                    results.append(test(cell, env, pytest_args, log))
                    r = results[-1]
                    print(f"[{cell.name}] {'passed' if r.ok else 'FAILED'}: {r.counts}, "
                          f"{r.wall_s:.0f} s (log: {log.name})", flush=True)
            except (RuntimeError, subprocess.CalledProcessError) as exc:
                print(f"{exc}; log: {log.name}", file=sys.stderr)
                return 1
    if results:
        print()
        print(table(results))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
