"""A module whose call takes milliseconds: 8 convolutions on a 56×56 image, batch 1 and 2.

A difference of whole calls cannot resolve a part of some µs here; the in-situ figure times
the lookup inside each call. A module of the user's own class (not an `nn.Sequential`, whose
entries torch keeps on its shared wrapper), so `--decompose` can copy it. Try:
guardprof run --target tests/workloads/conv_stack.py:make --backend eager --decompose
"""

import torch
from torch import nn

import guardprof

LAYERS = 8
CHANNELS = 32


class ConvStack(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(CHANNELS, CHANNELS, 3, padding=1)
                                   for _ in range(LAYERS))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = conv(x)
        return x


def make() -> guardprof.Workload:
    torch.manual_seed(0)
    calls = [(torch.randn(batch, CHANNELS, 56, 56),) for batch in (1, 2)]
    return guardprof.Workload(ConvStack(), calls, name="conv_stack")
