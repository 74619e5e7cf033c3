"""`guardprof.capture()`: record the compiled frames of a block of code, as a context manager
or a decorator, for notebooks and tests (`guardprof run -- python SCRIPT` uses it too).

    with guardprof.capture() as cap:
        train()
    print(cap.report())      # the text report
    cap.save("guards.json")  # the JSON (guardprof run --load guards.json re-renders it)
"""

from __future__ import annotations

import contextlib
from pathlib import Path


class capture(contextlib.ContextDecorator):  # noqa: N801 (used as `guardprof.capture()`)
    """Record every compiled frame that runs inside the block; replay its samples at the end."""

    def __init__(self, label: str = "guardprof.capture()", decompose: bool = False) -> None:
        """`decompose`: after the block, call each sampled frame again on its sampled calls for
        its hot-loop decomposition (graph, dispatch floor, accepted check, rejected entries);
        the frames' side effects (a module's buffers, prints) then run again."""
        self.label = label
        self.decompose = decompose
        self.progress = None  # a guardprof.progress.Progress for the decomposition's steps
        self.exit_status = 0
        self._recorder = None
        self._report = None

    def __enter__(self) -> capture:
        from guardprof.measure.program import ProgramRecorder

        self._report = None
        self._recorder = ProgramRecorder(keep_dispatchers=self.decompose).start()
        return self

    def __exit__(self, *exc) -> None:
        self._recorder.stop()

    def result(self):
        """The ProgramReport (built once, after the block: the replay runs here)."""
        if self._recorder is None:
            raise RuntimeError("capture() has not run: use it as `with guardprof.capture():`")
        if self._report is None:
            from guardprof.progress import SILENT

            self._report = self._recorder.report([self.label], self.exit_status, self.decompose,
                                                 self.progress or SILENT)
        return self._report

    def report(self) -> str:
        from guardprof.render.program import render

        return render(self.result())

    def save(self, path: str | Path) -> Path:
        from guardprof.model.program_report import save

        return save(self.result(), path)
