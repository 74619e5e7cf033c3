"""guardprof: which torch.compile guards cost what, and why they exist."""

from guardprof.api import capture
from guardprof.version import __version__
from guardprof.workload.spec import Call, Workload

__all__ = ["Call", "Workload", "__version__", "capture"]
