"""A stamped loop's stamps reduced to spans: per call, its lookups, its graphs, its own time.

The stamps come from `dynamo.lookup_clock` (the wrapper arming dynamo, the guard-complete hook,
each graph call) and from the loop itself (each call's start and end).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from guardprof.dynamo import lookup_clock


@dataclass
class CallSpans:
    """One call's stamps, reduced: ns each."""

    total: int = 0
    graph: int = 0
    lookups: list[int] = field(default_factory=list)
    unpaired: int = 0
    pregraph: int = 0  # each lookup's end → the next graph's start: frame setup and bytecode


def split_calls(stamps: Any) -> list[CallSpans]:
    """Stamps → one `CallSpans` per CALL_START … CALL_END. A lookup pairs with the latest armed
    stamp before it (the wrapper's, or a resume call's); one with none is unpaired."""
    calls: list[CallSpans] = []
    current: CallSpans | None = None
    start = armed = graph_start = looked_up = None
    for mark, t in lookup_clock.unpack(stamps):
        if mark == lookup_clock.CALL_START:
            current, start, armed = CallSpans(), t, None
        elif current is None:
            continue
        elif mark == lookup_clock.ARMED:
            armed = t
        elif mark == lookup_clock.LOOKUP:
            if armed is None:
                current.unpaired += 1
            else:
                current.lookups.append(t - armed)
                armed = None
            looked_up = t
        elif mark == lookup_clock.GRAPH_START:
            graph_start = t
            if looked_up is not None:
                current.pregraph += t - looked_up
                looked_up = None
        elif mark == lookup_clock.GRAPH_END and graph_start is not None:
            current.graph += t - graph_start
            graph_start = None
        elif mark == lookup_clock.CALL_END:
            current.total = t - start
            calls.append(current)
            current = None
    return calls


def stamped_iteration(pairs: list, add: Callable, repeat: int = 1) -> Callable[[], None]:
    """One iteration over (callable, Call) pairs, each call stamped at start and end."""
    now, bits = time.perf_counter_ns, lookup_clock.MARK_BITS
    bound = [(f, c.args, c.kwargs) for f, c in pairs for _ in range(repeat)]
    start, end = lookup_clock.CALL_START, lookup_clock.CALL_END

    def run() -> None:
        for f, args, kwargs in bound:
            add(now() << bits | start)
            f(*args, **kwargs)
            add(now() << bits | end)

    return run
