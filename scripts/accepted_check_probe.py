#!/usr/bin/env python3
"""Where the accepted check's in-situ cost goes.

One-entry copies of the standard `foo` (100 tensor args, one copy per size, each warmed on its
size only) compiled with every guard, with none, with only DEFAULT_DEVICE, and with every guard
but TENSOR_MATCH, timed in alternated rounds in the hot loop; then the same entry's check called
from Python on a dict of the same locals, as guardprof's replay calls it.

    python scripts/accepted_check_probe.py [--rounds 12]
"""

from __future__ import annotations

import argparse
import linecache
import statistics
import timeit

import torch

NUM_ARGS = 100
SIZES = range(10, 101, 10)


def make_foo(filename: str):
    names = [f"x{i}" for i in range(NUM_ARGS)]
    source = (f"def foo({', '.join(names)}):\n"
              f"    n = {' + '.join(f'{a}.shape[0]' for a in names)}\n"
              "    return x0 + n\n")
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict = {}
    exec(compile(source, filename, "exec"), namespace)
    return namespace["foo"]


def copies(tag: str, calls: list, guard_filter) -> list:
    out = []
    for k, args in enumerate(calls):
        options = {"guard_filter_fn": guard_filter} if guard_filter else None
        compiled = torch.compile(make_foo(f"<{tag} {k}>"), backend="eager", dynamic=False,
                                 options=options)
        compiled(*args)
        compiled(*args)
        out.append((compiled, args))
    return out


def loop(pairs: list):
    def run() -> None:
        for f, args in pairs:
            f(*args)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=12)
    rounds = parser.parse_args().rounds
    torch._dynamo.config.recompile_limit = 64
    calls = [tuple(torch.randn(s) for _ in range(NUM_ARGS)) for s in SIZES]
    variants = {
        "every guard": copies("all", calls, None),
        "no guard": copies("none", calls, torch.compiler.skip_all_guards_unsafe),
        "only DEFAULT_DEVICE": copies(
            "device", calls, lambda es: [e.guard_type == "DEFAULT_DEVICE" for e in es]),
        "every guard but TENSOR_MATCH": copies(
            "ambient", calls, lambda es: [e.guard_type != "TENSOR_MATCH" for e in es]),
    }
    runs = {name: loop(pairs) for name, pairs in variants.items()}
    per_call = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            per_call[name].append(timeit.Timer(run).timeit(100) / 100 / len(calls) * 1e6)
    print("| one-entry copies compiled with | µs/call (median of rounds) |")
    print("|---|---|")
    for name, values in per_call.items():
        print(f"| {name} | {statistics.median(values):.2f} |")
    from torch._dynamo.eval_frame import _debug_get_cache_entry_list

    compiled, args = variants["every guard"][0]
    code = next(ref() for ref in list(torch._dynamo.convert_frame.input_codes.seen)
                if ref() is not None and ref().co_filename == "<all 0>")
    root = _debug_get_cache_entry_list(code)[0].guard_manager.root
    f_locals = {f"x{i}": t for i, t in enumerate(args)}
    best = min(timeit.repeat(lambda: root.check(f_locals), number=2000, repeat=5)) / 2000
    print(f"\nthe same entry's check from Python on a dict (the replay's path): "
          f"{best * 1e6:.2f} µs")


if __name__ == "__main__":
    main()
