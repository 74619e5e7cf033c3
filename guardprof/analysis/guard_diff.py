"""What differs between cache entries: guards aligned across entries, field by field.

Works on report data only (no torch), so `--diff` and the variation summary also work on a
saved report. Guards are aligned by (manager source, kind, n-th guard of that kind on that
manager); a guard's code is split into fields (`size[0]`, `stride[1]`, `value`, …) so the
summary can say *what* varies: "10 entries differ only in TENSOR_MATCH size[0] of 100 sources".
"""

from __future__ import annotations

import re
from collections import defaultdict

from guardprof.model.guards_report import DiffRow, EntryDiff, EntryGuards, Variation, VaryingGroup

_CALL = re.compile(r"^([\w.]+)\((.*)\)$", re.S)
_COMPARISON = re.compile(r"^(.*?)\s+(==|!=|is not|is|<=|>=|<|>)\s+(.*)$", re.S)
MAX_LISTED_VALUES = 6

Key = tuple[str, str, int]  # (source, kind, ordinal)


def aligned_guards(entry: EntryGuards) -> dict[Key, str]:
    """Each guard's code, keyed by (source, kind, n-th of that kind on that manager)."""
    out: dict[Key, str] = {}
    seen: dict[tuple[str, str], int] = defaultdict(int)
    for manager, leaf in entry.leaves():
        if leaf.repeat:
            continue
        ordinal = seen[(manager.source, leaf.kind)]
        seen[(manager.source, leaf.kind)] += 1
        out[(manager.source, leaf.kind, ordinal)] = "; ".join(leaf.code_parts)
    return out


def split_top_level(text: str, sep: str = ",") -> list[str]:
    """Split on `sep` outside brackets and quotes."""
    parts, depth, quote, start = [], 0, None, 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote and text[i - 1] != "\\":
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def fields(code: str) -> dict[str, str]:
    """A guard's code as named fields: call arguments (lists per element), or a comparison's
    right-hand side as `value`, else the whole code."""
    call = _CALL.match(code.strip())
    if call and ";" not in code:
        out = {}
        for i, arg in enumerate(split_top_level(call.group(2))):
            name, eq, rest = arg.partition("=")
            if eq and name.strip().isidentifier() and not rest.startswith("="):
                name, rest = name.strip(), rest.strip()
                if rest.startswith("[") and rest.endswith("]"):
                    for j, item in enumerate(split_top_level(rest[1:-1])):
                        out[f"{name}[{j}]"] = item
                    out[f"{name} dims"] = str(len(split_top_level(rest[1:-1])))
                else:
                    out[name] = rest
            else:
                out[f"arg{i}"] = arg
        return out
    comparison = _COMPARISON.match(code.strip())
    if comparison and ";" not in code:
        op, rhs = comparison.group(2), comparison.group(3)
        return {"value": rhs if op == "==" else f"{op} {rhs}"}
    return {"code": code}


def differing_fields(codes: list[str | None]) -> list[str]:
    """The field names whose values are not all equal across `codes` (None: guard absent)."""
    if any(c is None for c in codes):
        return ["present"]
    parsed = [fields(c) for c in codes]
    names = sorted({n for p in parsed for n in p}, key=_field_order)
    return [n for n in names if len({p.get(n) for p in parsed}) > 1]


def _field_order(name: str) -> tuple:
    base, _, rest = name.partition("[")
    index = int(rest.rstrip("]")) if rest.rstrip("]").isdigit() else -1
    return (base, index)


def _field_value(code: str | None, names: list[str]) -> str:
    if code is None:
        return "absent"
    if names == ["present"]:
        return "present"
    parsed = fields(code)
    return ", ".join(parsed.get(n, "?") for n in names)


def summarize_variation(entries: list[EntryGuards]) -> Variation:
    """What varies between a frame's entries (compile order), grouped into a few sentences."""
    entries = list(entries)
    n = len(entries)
    if n < 2:
        return Variation(n, 0, 0, [], "one entry: nothing varies")
    aligned = [aligned_guards(e) for e in entries]
    keys = sorted({k for a in aligned for k in a}, key=lambda k: (k[0], k[1], k[2]))
    groups: dict[tuple[str, tuple[str, ...]], list[Key]] = defaultdict(list)
    constant = 0
    for key in keys:
        codes = [a.get(key) for a in aligned]
        names = differing_fields(codes)
        if not names:
            constant += 1
            continue
        groups[(key[1], tuple(names))].append(key)
    out = []
    for (kind, names), members in sorted(groups.items(), key=lambda g: -len(g[1])):
        values = _shared_values(entries, aligned, members, list(names))
        sources = [k[0] for k in members]
        out.append(VaryingGroup(kind, ", ".join(names), sources, values,
                                _describe(kind, list(names), sources, values)))
    return Variation(n, len(keys), constant, out, _summary(n, out))


def _shared_values(entries, aligned, members: list[Key], names: list[str]) -> dict[str, str]:
    """compile id → value when every member guard has the same value in that entry, else {}."""
    values = {}
    for entry, a in zip(entries, aligned, strict=True):
        seen = {_field_value(a.get(k), names) for k in members}
        if len(seen) != 1:
            return {}
        values[entry.compile_id] = seen.pop()
    return values


def _sources_text(sources: list[str]) -> str:
    if len(sources) == 1:
        return sources[0]
    if len(sources) == 2:
        return f"{sources[0]}, {sources[1]}"
    return f"{len(sources)} sources ({sources[0]} … {sources[-1]})"


def _values_text(values: dict[str, str]) -> str:
    listed = list(values.values())
    if len(listed) > MAX_LISTED_VALUES:
        listed = [*listed[:MAX_LISTED_VALUES - 1], "…", listed[-1]]
    return ", ".join(listed)


def _describe(kind: str, names: list[str], sources: list[str], values: dict[str, str]) -> str:
    if names == ["present"]:
        text = f"{kind} on {_sources_text(sources)} (in some entries only)"
    else:
        text = f"{kind} {' and '.join(names)} of {_sources_text(sources)}"
    if values:
        text += f": {_values_text(values)}"
    return text


def _summary(n: int, groups: list[VaryingGroup]) -> str:
    if not groups:
        return (f"{n} entries have identical guards (they differ in something guards do not "
                "show, or an entry was compiled again after an eviction)")
    if len(groups) == 1:
        return f"{n} entries differ only in {groups[0].description}"
    shown = "; ".join(g.description for g in groups[:3])
    more = f"; +{len(groups) - 3} more" if len(groups) > 3 else ""
    return f"{n} entries differ in {len(groups)} ways: {shown}{more}"


def diff_entries(a: EntryGuards, b: EntryGuards) -> EntryDiff:
    """The guards that differ between two entries, field by field."""
    ga, gb = aligned_guards(a), aligned_guards(b)
    keys = sorted(set(ga) | set(gb), key=lambda k: (k[0], k[1], k[2]))
    rows, same = [], 0
    for key in keys:
        ca, cb = ga.get(key), gb.get(key)
        if ca == cb:
            same += 1
            continue
        names = differing_fields([ca, cb])
        rows.append(DiffRow(key[0], key[1], names,
                            None if ca is None else _labelled(ca, names),
                            None if cb is None else _labelled(cb, names), ca, cb))
    groups: dict[tuple[str, tuple[str, ...]], int] = defaultdict(int)
    for row in rows:
        groups[(row.kind, tuple(row.fields))] += 1
    if rows:
        parts = [f"{kind} {' and '.join(names)} ×{count}"
                 for (kind, names), count in sorted(groups.items(), key=lambda g: -g[1])]
        summary = f"{len(rows)} guards differ ({'; '.join(parts)}), {same} are the same"
    else:
        summary = f"no guard differs ({same} are the same)"
    return EntryDiff(a.compile_id, b.compile_id, same, rows, summary)


def _labelled(code: str, names: list[str]) -> str:
    if names == ["present"]:
        return code
    parsed = fields(code)
    if list(parsed) == ["code"]:
        return code
    return ", ".join(f"{n}={parsed[n]}" if n in parsed else f"{n} absent" for n in names)
