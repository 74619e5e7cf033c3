"""Dynamo's cache-lookup events in torch.profiler: the independent measure of guard time.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Callable, Iterator

CACHE_LOOKUP_EVENT = "TorchDynamo Cache Lookup"


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Kineto prints start/stop lines straight to fd 2; keep them off the user's terminal."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def profile_cache_lookups(run_once: Callable[[], None], iterations: int) -> list[float]:
    """Durations (µs) of every `TorchDynamo Cache Lookup` event over `iterations` runs."""
    from torch.profiler import ProfilerActivity, profile

    collecting = gc.isenabled()
    gc.disable()  # as timeit does (no gc.collect() first: 0.17 s a pass here, and not needed)
    try:
        with _quiet_stderr(), profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(iterations):
                run_once()
    finally:
        if collecting:
            gc.enable()
    return [
        float(evt.cpu_time_total) for evt in prof.events() if evt.name == CACHE_LOOKUP_EVENT
    ]


# --- what-if variants (issue 4): skip-guards stance, mark_dynamic, diff guard managers ------
