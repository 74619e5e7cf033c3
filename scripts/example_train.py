"""A small training loop for the README's `guardprof run -- python` example: a compiled 8-layer
nn.Sequential whose batch size varies (automatic dynamic recompiles it once), SGD.

    guardprof run -- python scripts/example_train.py --steps 300
"""

import argparse

import torch

parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, default=300)
args = parser.parse_args()

torch.manual_seed(0)
model = torch.nn.Sequential(*[torch.nn.Linear(16, 16) for _ in range(8)])
compiled = torch.compile(model, backend="eager")
opt = torch.optim.SGD(model.parameters(), lr=1e-3)
for step in range(args.steps):
    x = torch.randn(4 + step % 5, 16)
    loss = compiled(x).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
print(f"trained {args.steps} steps, last loss {loss.item():.3f}")
