#!/usr/bin/env python3
"""Why the replay reads the accepted check low (README, "The accepted check does not").

K one-entry copies of the standard workload's 100-arg `foo` (one per size), compiled with
guard_filter_fn keeping: every guard (all), none (skip_all_guards_unsafe), only DEFAULT_DEVICE
(dev), only the AUTOGRAD_SAVED_TENSORS_HOOKS lambda guard (hooks), all but that one (nohooks).
In situ: the copies' hot loop minus the guardless copies' (timeit, 7 alternated rounds,
median). Replay: each entry's `guard_manager.root.check(dict)` from Python, minus a no-op
guard-manager method (guardprof's replay path). Prints ns per call and replay / in situ.

    python scripts/replay_gap_probe.py 5        # K = 5 copies (default 3)
"""

from __future__ import annotations

import linecache
import statistics
import sys
import timeit

import torch
from torch._dynamo.eval_frame import _debug_get_cache_entry_list

NUM_ARGS = 100
HOOKS = "AUTOGRAD_SAVED_TENSORS_HOOKS"
ROUNDS, NUMBER = 7, 120


def make_foo(filename: str):
    names = [f"x{i}" for i in range(NUM_ARGS)]
    src = (f"def foo({', '.join(names)}):\n"
           f"    n = {' + '.join(f'{a}.shape[0]' for a in names)}\n    return x0 + n\n")
    linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)
    namespace: dict = {}
    exec(compile(src, filename, "exec"), namespace)
    return namespace["foo"]


def copies(calls, tag: str, guard_filter):
    out = []
    for k, args in enumerate(calls):
        fn = make_foo(f"<{tag} {k}>")
        options = {"guard_filter_fn": guard_filter} if guard_filter else None
        compiled = torch.compile(fn, backend="eager", dynamic=False, options=options)
        compiled(*args)
        compiled(*args)
        root = _debug_get_cache_entry_list(fn.__code__)[0].guard_manager.root
        out.append((compiled, args, root, {f"x{i}": t for i, t in enumerate(args)}))
    return out


def main() -> int:
    k = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    torch.set_num_threads(1)
    torch._dynamo.config.recompile_limit = 64
    calls = [tuple(torch.randn(10 * (i + 1)) for _ in range(NUM_ARGS)) for i in range(k)]
    variants = {
        "all": copies(calls, "all", None),
        "none": copies(calls, "none", torch.compiler.skip_all_guards_unsafe),
        "dev": copies(calls, "dev", lambda es: [e.guard_type == "DEFAULT_DEVICE" for e in es]),
        "hooks": copies(calls, "hooks", lambda es: [e.guard_type == HOOKS for e in es]),
        "nohooks": copies(calls, "nohooks", lambda es: [e.guard_type != HOOKS for e in es]),
    }
    noop = torch._C._dynamo.guards.RootGuardManager().fail_count

    def in_situ(pairs):
        def run():
            for compiled, args, _, _ in pairs:
                compiled(*args)
        return run

    def replay(pairs):
        sequence = [(root.check, f_locals) for _, _, root, f_locals in pairs]

        def run():
            for check, f_locals in sequence:
                check(f_locals)
        return run

    def noop_run():
        for _ in range(k):
            noop()

    samples: dict[str, list[float]] = {}
    for _ in range(ROUNDS):
        for name, pairs in variants.items():
            ns = timeit.Timer(in_situ(pairs)).timeit(NUMBER) / NUMBER / k * 1e9
            samples.setdefault("in " + name, []).append(ns)
            if name != "none":
                ns = timeit.Timer(replay(pairs)).timeit(3 * NUMBER) / (3 * NUMBER) / k * 1e9
                samples.setdefault("replay " + name, []).append(ns)
        samples.setdefault("noop", []).append(
            timeit.Timer(noop_run).timeit(3 * NUMBER) / (3 * NUMBER) / k * 1e9)
    m = {key: statistics.median(v) for key, v in samples.items()}
    print(f"torch {torch.__version__}, {k} one-entry copies, ns per call\n")
    print("| guards kept | in situ | replayed | replayed / in situ |")
    print("|---|---|---|---|")
    for name in ("all", "dev", "hooks", "nohooks"):
        ins = m["in " + name] - m["in none"]
        rep = m["replay " + name] - m["noop"]
        ratio = f"{rep / ins:.2f}" if ins > 0 else "n/a"
        print(f"| {name} | {ins:.0f} | {rep:.0f} | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
