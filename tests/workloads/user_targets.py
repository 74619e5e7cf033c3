"""Target workloads for tests and README examples.

Use as `--target tests/workloads/user_targets.py:NAME`.
"""

import torch

import guardprof


def add_scaled(x, y, *, scale=1.0):
    return x * scale + y


def make():
    """A plain function, called with positional args and keyword args via guardprof.Call."""
    calls = [
        guardprof.Call(args=(torch.randn(8), torch.randn(8)), kwargs={"scale": 2.0}),
        (torch.randn(16), torch.randn(16)),
    ]
    return guardprof.Workload(add_scaled, calls, name="add_scaled")


class Small(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = torch.nn.ModuleList(torch.nn.Linear(4, 4) for _ in range(3))

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


def make_module():
    return guardprof.Workload(Small(), [(torch.randn(2, 4),)], name="small_mlp")


def make_torch_module():
    """A torch.nn module compiled directly: dynamo compiles it through its shared `inner`
    wrapper (torch/_dynamo/external_utils.py), on every release."""
    torch.manual_seed(0)
    return guardprof.Workload(torch.nn.Linear(4, 4), [(torch.randn(2, 4),), (torch.randn(3, 4),)],
                              name="linear")


def make_precompiled():
    """Already compiled by the user: used as is; its original is the eager baseline."""
    compiled = torch.compile(add_scaled, backend="eager", dynamic=False)
    return guardprof.Workload(compiled, [(torch.randn(8), torch.randn(8))])


def with_graph_break(x):
    y = x + 1
    torch._dynamo.graph_break()
    return y * 2


def make_graph_break():
    """Two frames compiled: the function and the resume function after the break."""
    return guardprof.Workload(with_graph_break, [(torch.randn(8),)])


WORKLOAD = guardprof.Workload(add_scaled, [(torch.randn(4), torch.randn(4))], name="module_level")


def make_raises():
    raise ValueError("no data here")


def make_wrong_type():
    return [1, 2, 3]


def make_empty():
    return guardprof.Workload(add_scaled, [])


NOT_CALLABLE = 42
