"""py-spy's frame strings: `name (file.py:line)` for Python, `name (library.so)` for native code."""

from __future__ import annotations

import re

_FRAME = re.compile(r"^(?P<name>.*) \((?P<where>[^()]*)\)$")


def frame_name(frame: str) -> str:
    match = _FRAME.match(frame)
    return match.group("name") if match else frame


def frame_where(frame: str) -> str:
    match = _FRAME.match(frame)
    return match.group("where") if match else ""


def is_python_frame(frame: str) -> bool:
    """Python frames carry `file:line` (or a `.py` file); native ones a library name."""
    where = frame_where(frame)
    return bool(re.search(r":\d+$", where)) or where.endswith((".py", ".pyc"))
