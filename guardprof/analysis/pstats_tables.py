"""Tables read off pstats data: the top functions by self time."""

from __future__ import annotations

from guardprof.model.profiles import FuncKey, Stats


def top_by_self_time(stats: Stats, n: int = 15) -> list[tuple[FuncKey, int, float, float]]:
    rows = [(key, nc, tt, ct) for key, (_cc, nc, tt, ct, _callers) in stats.items()]
    return sorted(rows, key=lambda row: -row[2])[:n]
