"""A module whose call takes milliseconds: 8 convolutions on a 56×56 image, batch 1 and 2.

A difference of whole calls cannot resolve a part of some µs here; the in-situ figure times
the lookup inside each call. Try:
guardprof run --target tests/workloads/conv_stack.py:make --backend eager --decompose
"""

import torch
from torch import nn

import guardprof

LAYERS = 8
CHANNELS = 32


def make() -> guardprof.Workload:
    torch.manual_seed(0)
    model = nn.Sequential(*[nn.Conv2d(CHANNELS, CHANNELS, 3, padding=1) for _ in range(LAYERS)])
    calls = [(torch.randn(batch, CHANNELS, 56, 56),) for batch in (1, 2)]
    return guardprof.Workload(model, calls, name="conv_stack")
