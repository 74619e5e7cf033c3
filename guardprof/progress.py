"""Progress on a terminal, silence elsewhere (pipes, CI logs, --quiet)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """One status line on stderr, rewritten in place; a no-op when not a terminal."""

    def __init__(self, enabled: bool | None = None, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self._start = time.perf_counter()
        self._shown = False

    def update(self, message: str) -> None:
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self._start
        self.stream.write(f"\r\033[K[{elapsed:5.1f}s] {message}")
        self.stream.flush()
        self._shown = True

    def clear(self) -> None:
        if self.enabled and self._shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._shown = False


SILENT = Progress(enabled=False)
