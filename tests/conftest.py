"""Shared fixtures: small, fast workloads on real torch.compile (backend="eager")."""

from __future__ import annotations

import pytest

from guardprof.workload.spec import WorkloadSpec


def small_spec(**overrides) -> WorkloadSpec:
    """The standard workload shrunk: 8 args, 4 sizes → 4 entries; quick to compile and time."""
    base = dict(
        kind="standard", name="compiled", backend="eager", dynamic=False, num_args=8,
        sizes=(4, 8, 12, 16), recompile_limit=16, number=50, repeat=3, device="cpu", seed=0,
    )
    base.update(overrides)
    return WorkloadSpec(**base)


@pytest.fixture(scope="session")
def standard_small_report():
    """One measured report of the small standard workload, shared by read-only tests."""
    from guardprof.analysis.findings import explained
    from guardprof.measure.run import measure

    return explained(measure(small_spec()))
