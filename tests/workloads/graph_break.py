"""A function with a graph break: dynamo compiles two frames (the function and its resume).

Try: guardprof guards --target tests/workloads/graph_break.py:make
"""

import torch

import guardprof


def f(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    a = x * 2
    torch._dynamo.graph_break()
    return a + y


def make() -> guardprof.Workload:
    torch.manual_seed(0)
    calls = [(torch.randn(4), torch.randn(4)), (torch.randn(6), torch.randn(6))]
    return guardprof.Workload(f, calls, name="graph_break")
