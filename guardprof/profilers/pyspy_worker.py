"""The process py-spy samples: warm-up and the unsampled timing first, the sampled loop after.

py-spy attaches to this process only once it reports `ready` (compiled, warmed up, timed
unsampled), so no sample can come from compilation; the parent says `go` once py-spy is
sampling, and this process runs the hot loop inside `guardprof_sampled_hot_loop`, the frame
the parent keeps samples under. Messages travel on two pipes given by file descriptor, not on
stdout, so a workload that prints cannot break the protocol.

Run as `python -m guardprof.profilers.pyspy_worker SPEC_JSON CTL_FD MSG_FD RESULT_PATH SECONDS`.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

# The name of the frame the sampled hot loop runs in; the parent filters stacks on it.
LOOP_FRAME = "guardprof_sampled_hot_loop"


def guardprof_sampled_hot_loop(
    run_fn: Callable[[], None], number: int, seconds: float
) -> list[float]:
    """Rounds of `number` iterations (as the unsampled timing) until `seconds` have passed;
    the garbage collector off, as timeit has it. Returns seconds per round."""
    clock = time.perf_counter
    rounds = []
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        deadline = clock() + seconds
        while not rounds or clock() < deadline:
            start = clock()
            for _ in range(number):
                run_fn()
            rounds.append(clock() - start)
    finally:
        if gc_was_enabled:
            gc.enable()
    return rounds


class Channel:
    """Line messages: read from the parent on `ctl`, written to it on `msg`."""

    def __init__(self, ctl_fd: int, msg_fd: int) -> None:
        self.ctl = os.fdopen(ctl_fd, "r", encoding="utf-8")
        self.msg = os.fdopen(msg_fd, "w", encoding="utf-8", buffering=1)

    def send(self, kind: str, text: str = "") -> None:
        self.msg.write(f"{kind} {text}".rstrip().replace("\n", " ") + "\n")

    def expect(self, word: str) -> None:
        line = self.ctl.readline().strip()
        if line != word:
            raise SystemExit(f"guardprof worker: expected {word!r} from the parent, got {line!r}")


def spec_from_json(text: str):
    from guardprof.workload.spec import WorkloadSpec

    data = json.loads(text)
    if data.get("sizes") is not None:
        data["sizes"] = tuple(data["sizes"])
    return WorkloadSpec(**data)


def spec_to_json(spec) -> str:
    return json.dumps(dataclasses.asdict(spec))


def main(argv: list[str]) -> int:
    spec_json, ctl_fd, msg_fd, result_path, seconds = argv
    channel = Channel(int(ctl_fd), int(msg_fd))
    try:
        from guardprof.analysis.findings import explained
        from guardprof.errors import GuardprofError
        from guardprof.measure.run import measure_warm, warm
        from guardprof.model.run_report import to_dict

        spec = spec_from_json(spec_json)
        channel.send("status", "building, compiling and warming up the workload")
        warmed = warm(spec)
        channel.send("status", f"timing the hot loop unsampled ({warmed.number} × {spec.repeat})")
        report = explained(measure_warm(warmed, eager_baseline=False, cross_check=False))
    except GuardprofError as exc:
        channel.send("error", exc.format_message())
        return 1
    except Exception as exc:  # reported to the parent as one line; the log has the rest
        import traceback

        traceback.print_exc()
        channel.send("error", f"the workload failed in the profiling worker: "
                              f"{type(exc).__name__}: {exc}")
        return 1
    channel.send("ready", str(os.getpid()))
    channel.expect("go")
    rounds = guardprof_sampled_hot_loop(warmed.run_compiled(), warmed.number, float(seconds))
    channel.send("done")
    channel.expect("finish")
    result = {"report": to_dict(report), "sampled_rounds_s": rounds, "number": warmed.number}
    Path(result_path).write_text(json.dumps(result), encoding="utf-8")
    channel.send("written")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
