"""A function taking a dict of tensors and a Python int that changes between calls.

Dynamo specializes on the int's value, so each distinct value is its own cache entry: recompiles
on values, not shapes. Try: guardprof guards --target tests/workloads/dict_int.py:make
"""

import torch

import guardprof


def step(batch: dict, scale: int) -> torch.Tensor:
    return batch["a"] * scale + batch["b"]


def make() -> guardprof.Workload:
    torch.manual_seed(0)
    batch = {"a": torch.randn(4), "b": torch.randn(4)}
    return guardprof.Workload(step, [(batch, 2), (batch, 3), (batch, 5)], name="dict_int")
