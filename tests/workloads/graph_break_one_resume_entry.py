"""A graph break whose outer frame has two entries and whose resume frame has one.

Only `x`'s size differs between the calls and only a 0-d sum of it crosses the break, so every
call rejects one entry of the outer frame and none of the resume frame: the resume frame's
in-situ rejected part should read ≈ 0 and the outer frame's the call's. It is the control that
found the per-frame split patching the wrong resume global (README, "Per frame").

Try: guardprof run --target tests/workloads/graph_break_one_resume_entry.py:make
"""

import torch

import guardprof


def f(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    s = (x * 2).sum()
    torch._dynamo.graph_break()
    return s + y


def make() -> guardprof.Workload:
    torch.manual_seed(0)
    y = torch.randn(3)
    calls = [(torch.randn(4), y), (torch.randn(6), y)]
    return guardprof.Workload(f, calls, name="graph_break_one_resume_entry")
