"""Sampled stacks from py-spy's outputs, and what they say about guard evaluation.

py-spy writes one format per run (flamegraph SVG, speedscope JSON or raw collapsed stacks), so
the summary is read back from whichever file the user asked for: all three are turned into the
same collapsed form, `{(root frame, …, leaf frame): samples}`, each frame as py-spy's raw output
writes it: `name (file.py:line)` for Python, `name (library.so)` for native code.
"""

from __future__ import annotations

import bisect
import collections
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from guardprof.analysis.pyspy_frames import frame_name, frame_where, is_python_frame
from guardprof.dynamo.stack_marks import (
    COMPILE_FILE_MARK,
    COMPILED_CALL_MARKS,
    DYNAMO_MARKS,
    GUARD_CLASS,
    GUARD_MANAGER_MARK,
    LOOKUP_FRAME,
)
from guardprof.errors import GuardprofError
from guardprof.model.profiles import FORMATS, SampleAnalysis

Stack = tuple[str, ...]

_SVG_TITLE_COUNT = re.compile(r" \([\d,]+ samples?, [\d.]+%\)$")
_CXX_METHOD = re.compile(
    r"([A-Za-z_][A-Za-z0-9_]*(?:<[^<>]*>)?::[~A-Za-z_][A-Za-z0-9_]*(?:<.*>)?)$"
)


# --- reading py-spy's outputs ---------------------------------------------------------------


def load_stacks(path: str | Path, fmt: str) -> collections.Counter[Stack]:
    """Collapsed stacks from a py-spy output file of format `fmt`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise GuardprofError(f"cannot read py-spy output {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise GuardprofError(f"{path} is not py-spy {fmt} output: {exc}") from exc
    try:
        if fmt == "raw":
            return parse_raw(text)
        if fmt == "speedscope":
            return parse_speedscope(json.loads(text))
        if fmt == "flamegraph":
            return parse_flamegraph_svg(text)
    except (ValueError, KeyError, TypeError, IndexError, ET.ParseError) as exc:
        raise GuardprofError(f"{path} is not valid py-spy {fmt} output: {exc}") from exc
    raise GuardprofError(f"unknown py-spy format {fmt!r}; use one of {', '.join(FORMATS)}")


def parse_raw(text: str) -> collections.Counter[Stack]:
    """Collapsed stacks, one per line: `frame;frame;…;frame COUNT` (root first)."""
    stacks: collections.Counter[Stack] = collections.Counter()
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        stack, sep, count = line.rpartition(" ")
        if not sep or not count.isdigit():
            raise ValueError(f"line {number} is not 'frame;…;frame COUNT': {line[:80]!r}")
        stacks[tuple(stack.split(";"))] += int(count)
    return stacks


def parse_speedscope(data: dict) -> collections.Counter[Stack]:
    """Speedscope's sampled profiles: `samples` are frame-index lists, root first."""
    frames = []
    for f in data["shared"]["frames"]:
        where = Path(f.get("file") or "?").name if not f.get("line") else (
            f"{f.get('file')}:{f['line']}"
        )
        frames.append(f"{f['name']} ({where})")
    stacks: collections.Counter[Stack] = collections.Counter()
    for profile in data["profiles"]:
        if profile.get("type") != "sampled":
            continue
        weights = profile.get("weights") or [1] * len(profile["samples"])
        unit = min((w for w in weights if w > 0), default=1)
        for sample, weight in zip(profile["samples"], weights, strict=True):
            stacks[tuple(frames[i] for i in sample)] += max(1, round(weight / unit))
    return stacks


def parse_flamegraph_svg(text: str) -> collections.Counter[Stack]:
    """Rebuild collapsed stacks from inferno's SVG: each box has its sample range (fg:x, fg:w)
    and its depth (y); a box's own samples are its width minus its children's."""
    root = ET.fromstring(text)
    boxes = []
    for g in root.iter("{http://www.w3.org/2000/svg}g"):
        title = g.find("{http://www.w3.org/2000/svg}title")
        rect = g.find("{http://www.w3.org/2000/svg}rect")
        if title is None or rect is None or title.text is None:
            continue
        x = rect.get("{http://github.com/jonhoo/inferno}x")
        w = rect.get("{http://github.com/jonhoo/inferno}w")
        if x is None or w is None:
            continue
        name = _SVG_TITLE_COUNT.sub("", title.text)
        boxes.append((float(rect.get("y", "0")), int(x), int(w), name))
    if not boxes:
        raise ValueError("no flame graph boxes (fg:x/fg:w) found")
    levels = sorted({y for y, *_ in boxes})
    inverted = _svg_inverted(root)
    depth_of = {y: (i if inverted else len(levels) - 1 - i) for i, y in enumerate(levels)}
    by_depth: dict[int, list[tuple[int, int, str]]] = collections.defaultdict(list)
    for y, x, w, name in boxes:
        by_depth[depth_of[y]].append((x, w, name))
    for boxes_at in by_depth.values():
        boxes_at.sort()
    starts = {depth: [x for x, _, _ in boxes_at] for depth, boxes_at in by_depth.items()}
    stacks: collections.Counter[Stack] = collections.Counter()
    paths: dict[tuple[int, int], Stack] = {}
    for depth in sorted(by_depth):
        for x, w, name in by_depth[depth]:
            parent = _enclosing(by_depth.get(depth - 1, []), starts.get(depth - 1, []), x, w)
            path = (*paths.get((depth - 1, parent), ()), name) if parent is not None else (name,)
            if depth == 0 and name == "all":
                path = ()
            paths[(depth, x)] = path
            below = starts.get(depth + 1, [])
            lo, hi = bisect.bisect_left(below, x), bisect.bisect_left(below, x + w)
            children = sum(by_depth[depth + 1][i][1] for i in range(lo, hi))
            if w - children > 0 and path:
                stacks[path] += w - children
    return stacks


def _svg_inverted(root: ET.Element) -> bool:
    """py-spy draws icicles (root at the top): inferno's script says `inverted = true`."""
    for script in root.iter("{http://www.w3.org/2000/svg}script"):
        if script.text and re.search(r"var inverted = true", script.text):
            return True
    return False


def _enclosing(boxes: list[tuple[int, int, str]], starts: list[int], x: int, w: int) -> int | None:
    """The start of the box one level up whose sample range holds [x, x + w)."""
    i = bisect.bisect_right(starts, x) - 1
    if i >= 0 and x + w <= boxes[i][0] + boxes[i][1]:
        return boxes[i][0]
    return None


# --- what the samples say -------------------------------------------------------------------


def analyse(stacks: collections.Counter[Stack], loop_marker: str | None = None) -> SampleAnalysis:
    """Shares of the hot loop's samples; `loop_marker` is the name of the frame the hot loop
    runs in (samples not under it are excluded), or None to keep every sample."""
    total = compile_excluded = outside = loop = lookup = dynamo = in_compiled = 0
    native = False
    kinds: collections.Counter[str] = collections.Counter()
    python_guards: collections.Counter[str] = collections.Counter()
    for stack, count in stacks.items():
        total += count
        native = native or any(not is_python_frame(f) for f in stack)
        if loop_marker is not None and not any(frame_name(f) == loop_marker for f in stack):
            outside += count
            continue
        if any(COMPILE_FILE_MARK in frame_where(f) for f in stack):
            compile_excluded += count
            continue
        loop += count
        if any(mark in f for f in stack for mark in DYNAMO_MARKS):
            dynamo += count
        if any(mark in f for f in stack for mark in COMPILED_CALL_MARKS):
            in_compiled += count
        start = lookup_start(stack)
        if start is None:
            continue
        lookup += count
        kind, python_guard = guard_kind(stack[start:])
        kinds[kind] += count
        if python_guard:
            python_guards[python_guard] += count
    return SampleAnalysis(
        total=total,
        compile_excluded=compile_excluded,
        outside_loop_excluded=outside,
        loop=loop,
        lookup=lookup,
        dynamo=dynamo,
        in_compiled_calls=in_compiled,
        native_frames=native,
        lookup_by_kind=kinds.most_common(),
        python_guards=python_guards.most_common(),
    )


def lookup_start(stack: Stack) -> int | None:
    """Index of the first frame of dynamo's cache lookup in `stack`, if any."""
    for i, frame in enumerate(stack):
        if is_python_frame(frame):
            continue
        name = frame_name(frame)
        if name == LOOKUP_FRAME or GUARD_MANAGER_MARK in name:
            return i
    return None


def short_cxx_name(name: str) -> str:
    """`torch::dynamo::(anonymous namespace)::TENSOR_MATCH::check_nopybind` → the last two
    components, `TENSOR_MATCH::check_nopybind`."""
    name = name.replace("(anonymous namespace)::", "")
    match = _CXX_METHOD.search(name)
    return match.group(1) if match else name


def guard_kind(lookup_stack: Stack) -> tuple[str, str | None]:
    """The guard a cache-lookup sample was in: the deepest guard-class frame below `lookup`
    (`TENSOR_MATCH::check_nopybind`, `TensorCheck::check`, `GuardManager::check_nopybind`, …);
    helpers below it (hash tables, SymInt compares) count for that guard. A Python frame under
    it is a Python-level guard (a lambda guard), returned as well."""
    kind = None
    python_guard = None
    for frame in lookup_stack[1:]:
        if is_python_frame(frame):
            if python_guard is None:  # one entry per function, whatever line was sampled
                python_guard = re.sub(r":\d+\)$", ")", frame)
            continue
        if python_guard is not None:
            continue  # native code called by a Python guard belongs to that guard
        name = short_cxx_name(frame_name(frame))
        if GUARD_CLASS.match(name):
            kind = name
    if kind is None:
        kind = f"{frame_name(lookup_stack[0])} (own code and helpers)"
    return kind, python_guard
