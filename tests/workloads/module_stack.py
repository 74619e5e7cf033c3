"""An nn.Module with many parameters: 24 nn.Linear layers in a ModuleList.

Guards land on module state (the parameters, buffers and training flags), not only on the input.
Try: guardprof guards --target tests/workloads/module_stack.py:make
"""

import torch
from torch import nn

import guardprof

LAYERS = 24
WIDTH = 8


class Stack(nn.Module):
    def __init__(self, layers: int = LAYERS, width: int = WIDTH) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(width, width) for _ in range(layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = torch.relu(layer(x))
        return x


def make() -> guardprof.Workload:
    torch.manual_seed(0)
    model = Stack()
    # Two batch sizes: two cache entries that differ in the input's dim 0.
    calls = [(torch.randn(2, WIDTH),), (torch.randn(3, WIDTH),)]
    return guardprof.Workload(model, calls, name="module_stack")
