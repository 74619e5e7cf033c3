"""Progress on a terminal, silence elsewhere (pipes, CI logs, --quiet), and a Ctrl-C that works.

Ctrl-C needs care here: dynamo runs some guards (LAMBDA_GUARD) as Python called from C++, which
treats any exception as a failed guard and clears it, so a KeyboardInterrupt raised by the
default handler inside a guard is lost (seen in 3 of 4 tries during a sweep). Inside
`with Progress(...)`, Ctrl-C is recorded instead and raised at the next progress update, which
always comes from guardprof's own code; a second Ctrl-C interrupts at once.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from typing import TextIO


class Progress:
    """One status line on stderr, rewritten in place; a no-op when not a terminal."""

    def __init__(self, enabled: bool | None = None, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self._start = time.perf_counter()
        self._shown = False
        self._interrupt_requested = False
        self._previous_handler = None

    def update(self, message: str) -> None:
        self.check_interrupt()
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

    def check_interrupt(self) -> None:
        """Raise the KeyboardInterrupt a Ctrl-C asked for (a safe point in guardprof's code)."""
        if self._interrupt_requested:
            raise KeyboardInterrupt

    def _on_sigint(self, _signum, _frame) -> None:
        if self._interrupt_requested:
            raise KeyboardInterrupt
        self._interrupt_requested = True
        self.stream.write("\nstopping at the next safe point (Ctrl-C again to stop now)…\n")
        self.stream.flush()

    def __enter__(self) -> Progress:
        if threading.current_thread() is threading.main_thread():
            self._previous_handler = signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous_handler is not None:
            signal.signal(signal.SIGINT, self._previous_handler)
            self._previous_handler = None
        self.clear()


class Prefixed(Progress):
    """Progress lines of one part of a longer job (a sweep point, a what-if variant), each
    prefixed; a pending Ctrl-C still raises at the next update."""

    def __init__(self, inner: Progress, prefix: str, clears: bool = True) -> None:
        super().__init__(enabled=inner.enabled, stream=inner.stream)
        self._inner, self._prefix, self._clears = inner, prefix, clears

    def update(self, message: str) -> None:
        self._inner.update(self._prefix + message)  # raises a pending Ctrl-C

    def check_interrupt(self) -> None:
        self._inner.check_interrupt()

    def clear(self) -> None:
        if self._clears:
            self._inner.clear()


SILENT = Progress(enabled=False)
