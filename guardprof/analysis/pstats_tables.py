"""Tables read off pstats data: the top functions by self time, dynamo's Python-level guards."""

from __future__ import annotations

from guardprof.model.profiles import FuncKey, Stats

GUARDS_FILE_MARK = "torch/_dynamo/guards.py"  # where dynamo's Python-level (lambda) guards live


def python_guard_functions(stats: Stats, callers: set[FuncKey]) -> list[tuple[FuncKey, int, float]]:
    """Dynamo's Python-level guards cProfile saw (called from the compiled frames' callers
    during the lookup): (function, calls, cumulative seconds)."""
    found = []
    for key, (_cc, nc, _tt, ct, their_callers) in stats.items():
        if key[0].replace("\\", "/").endswith(GUARDS_FILE_MARK) and set(their_callers) & callers:
            found.append((key, nc, ct))
    return sorted(found, key=lambda row: -row[2])


def top_by_self_time(stats: Stats, n: int = 15) -> list[tuple[FuncKey, int, float, float]]:
    rows = [(key, nc, tt, ct) for key, (_cc, nc, tt, ct, _callers) in stats.items()]
    return sorted(rows, key=lambda row: -row[2])[:n]
