"""guardprof: which torch.compile guards cost what, and why they exist."""

from guardprof.workload.spec import Call, Workload

__version__ = "0.1.0"
__all__ = ["Call", "Workload", "__version__"]
