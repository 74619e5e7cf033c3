"""Atomic file output: a reader sees the old file or the whole new one, never half of it."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from guardprof.errors import GuardprofError


def check_writable(path: str | os.PathLike) -> Path:
    """Fail early (before minutes of work) when `path` cannot be written."""
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise GuardprofError(f"cannot write {target}: it is a directory")
    if not parent.is_dir():
        raise GuardprofError(f"cannot write {target}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise GuardprofError(f"cannot write {target}: folder {parent} is not writable")
    return target


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it over `path` only on success."""
    target = check_writable(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or ".")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp makes the file private (0600); give it the mode a plain open() would.
        os.chmod(tmp_path, 0o666 & ~_UMASK)
        os.replace(tmp_path, target)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def read_json(path: str | os.PathLike, what: str = "") -> Any:
    """Parse a JSON file, or fail in one line saying whether it is unreadable or not JSON."""
    path = Path(path)
    label = f"{what} {path}" if what else str(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise GuardprofError(f"cannot read {label}: {exc.strerror or exc}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GuardprofError(f"{path} is not valid JSON (truncated or corrupt?): {exc}") from exc


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once, at import (before any thread starts): os.umask can only be read by setting it.
_UMASK = _read_umask()


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def check_fresh(paths: list[Path], explicit: bool, force: bool) -> None:
    """Default output names never overwrite an earlier result without --force (a name the user
    gave with -o is theirs to overwrite)."""
    for path in paths:
        check_writable(path)
        if not explicit and not force and path.exists():
            raise GuardprofError(f"{path} exists: pass --force to overwrite it, or -o PATH")
