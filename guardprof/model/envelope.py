"""The one JSON envelope of every file guardprof writes, and the one loader.

Every file carries `schema_version` and `report_type` at its top level; the loader reads both
before anything else, so a wrong file gets one line naming what it is and which command reads
it, never a traceback. The report's own fields sit beside them (a flat object, as before).
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from guardprof.errors import GuardprofError
from guardprof.fileio import read_json, write_text_atomic

SCHEMA_VERSION = 5  # 2: the run report's `decomposition`; 3: its `noise` and replay blocks;
# 4: each frame's `decomposition`; 5: `in_situ` (the headline guard figure), parts' `resolved`,
# `accepted_breakdown`

RUN = "guardprof-run"
GUARDS = "guardprof-guards"
SWEEP = "guardprof-sweep"
WHATIF = "guardprof-whatif"
INTERLEAVED = "guardprof-interleaved"
PROGRAM = "guardprof-program"

# Which command reads each kind of guardprof JSON, for a helpful error on the wrong one.
READERS = {
    RUN: "guardprof run --load, guardprof compare, guardprof report",
    GUARDS: "guardprof guards --load",
    SWEEP: "guardprof sweep --load (its folder or sweep.json), guardprof report --sweep",
    WHATIF: "guardprof run --load",
    PROGRAM: "guardprof run --load, guardprof guards --load, guardprof compare, "
             "guardprof report",
    INTERLEAVED: "none yet (the pairs of `guardprof compare --a … --b … --json`, for your tools)",
}
ENVELOPE_KEYS = ("schema_version", "report_type")


@dataclass(frozen=True)
class Loaded:
    """A file's report type and its fields (the envelope taken off)."""

    report_type: str
    data: dict[str, Any]


def to_json(report_type: str, report: Any, extra: dict[str, Any] | None = None,
            indent: int = 2) -> str:
    """The envelope, then the dataclass's fields, then `extra` (derived figures, not read back)."""
    body = {"schema_version": SCHEMA_VERSION, "report_type": report_type,
            **dataclasses.asdict(report), **(extra or {})}
    return json.dumps(body, indent=indent) + "\n"


def save(path: str | Path, report_type: str, report: Any,
         extra: dict[str, Any] | None = None, indent: int = 2) -> Path:
    return write_text_atomic(path, to_json(report_type, report, extra, indent))


def identify(data: Any, accepted: tuple[str, ...], what: str = "report") -> Loaded:
    """Check the envelope: a type in `accepted` at this schema version, else one line."""
    wanted = " or ".join(accepted)
    if not isinstance(data, dict):
        raise GuardprofError(f"not a guardprof {what} (expected a {wanted} report)")
    # No report_type (written before the envelope): a run report if it has a result line, else
    # the type asked for, and the version check speaks.
    found = data.get("report_type", RUN if "result_line" in data else accepted[0])
    if found not in accepted:
        if found in READERS:
            raise GuardprofError(
                f"this is a {found} report, read by `{READERS[found]}`; expected a {wanted} report"
            )
        raise GuardprofError(f"not a guardprof {what} (expected a {wanted} report)")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise GuardprofError(
            f"{found} report has schema_version {version!r}; this guardprof reads version "
            f"{SCHEMA_VERSION} (re-run the command that wrote it)"
        )
    return Loaded(found, {k: v for k, v in data.items() if k not in ENVELOPE_KEYS})


def read(path: str | Path, accepted: tuple[str, ...], what: str = "report") -> Loaded:
    """Read a guardprof JSON file; errors name the file."""
    data = read_json(path, what)
    try:
        return identify(data, accepted, what)
    except GuardprofError as exc:
        raise GuardprofError(f"{path}: {exc.message}") from None


def build(tp: Any, data: dict[str, Any], problem: str) -> Any:
    """A report dataclass from its fields; a malformed file is one line (`problem: why`)."""
    try:
        return build_dataclass(tp, data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise GuardprofError(f"{problem}: {exc}") from exc


def build_dataclass(tp: Any, value: Any) -> Any:
    """Rebuild a value of annotated type `tp` from its JSON form (dataclasses, lists, dicts).

    Keys the dataclass does not declare (derived figures such as a run's `summary`) are ignored.
    """
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return build_dataclass(inner[0], value)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise TypeError(f"expected an object for {tp.__name__}, got {type(value).__name__}")
        hints = typing.get_type_hints(tp)
        kwargs = {}
        for f in dataclasses.fields(tp):
            if not f.init:
                continue
            if f.name in value:
                kwargs[f.name] = build_dataclass(hints[f.name], value[f.name])
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise KeyError(f"{tp.__name__}.{f.name} missing")
        return tp(**kwargs)
    if origin in (list, tuple):
        args = typing.get_args(tp)
        if not isinstance(value, list):
            raise TypeError(f"expected a list, got {type(value).__name__}")
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return tuple(build_dataclass(a, v) for a, v in zip(args, value, strict=True))
        items = [build_dataclass(args[0], v) for v in value]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        _, item = typing.get_args(tp)
        if not isinstance(value, dict):
            raise TypeError(f"expected an object, got {type(value).__name__}")
        return {k: build_dataclass(item, v) for k, v in value.items()}
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is Path:
        return Path(value)
    if tp in (int, float, str, bool) and not (
        isinstance(value, tp) and (tp is bool or not isinstance(value, bool))
    ):
        raise TypeError(f"expected {tp.__name__}, got {type(value).__name__} {value!r}")
    return value
