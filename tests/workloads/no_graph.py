"""A function with no tensor operations: dynamo compiles no frame, so there are no guards.

Try: guardprof guards --target tests/workloads/no_graph.py:make   (an error: nothing compiled)
"""

import torch

import guardprof


def identity(x: torch.Tensor) -> torch.Tensor:
    return x


def make() -> guardprof.Workload:
    return guardprof.Workload(identity, [(torch.randn(3),)], name="no_graph")
