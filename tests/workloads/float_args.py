"""A function of a tensor and 24 Python floats that change between calls.

Under automatic dynamic (`--auto-dynamic`) the floats turn symbolic after the first recompile,
and each carries a `not math.isnan` lambda guard that runs in Python on every call.
Try: guardprof run --target tests/workloads/float_args.py:make --backend eager --auto-dynamic
"""

import random

import torch

import guardprof

FLOATS = 24


def scale(x: torch.Tensor, *factors: float) -> torch.Tensor:
    for f in factors:
        x = x * f
    return x


def make() -> guardprof.Workload:
    torch.manual_seed(0)
    rng = random.Random(0)
    x = torch.randn(8)
    calls = [(x, *(rng.uniform(0.5, 1.5) for _ in range(FLOATS))) for _ in range(4)]
    return guardprof.Workload(scale, calls, name="float_args")
