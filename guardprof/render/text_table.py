"""Plain-text tables and index lists, shared by the text renderers."""

from __future__ import annotations


def table(rows: list[list[str]], header: list[str], align: str | None = None) -> list[str]:
    """A plain aligned table; `align` has one 'l' or 'r' per column."""
    align = align or "l" * len(header)
    cells = [header, *rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def fmt(row: list[str]) -> str:
        parts = [
            c.rjust(w) if a == "r" else c.ljust(w)
            for c, w, a in zip(row, widths, align, strict=True)
        ]
        return "  " + "  ".join(parts).rstrip()

    return [fmt(header), "  " + "  ".join("-" * w for w in widths), *map(fmt, rows)]


def compress_indices(indices: list[int]) -> str:
    """[0, 1, 2, 5] → '0-2,5'."""
    if not indices:
        return "-"
    parts, start, prev = [], indices[0], indices[0]
    for i in [*indices[1:], None]:
        if i is not None and i == prev + 1:
            prev = i
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if i is not None:
            start = prev = i
    return ",".join(parts)


WIDTH = 100  # report lines wrap here (a common terminal; never mid-word)


def wrapped(lines: list[str], width: int = WIDTH) -> list[str]:
    """Each line wrapped at `width` between words, continuation lines indented two more than the
    line's own indent."""
    import textwrap

    out = []
    for line in lines:
        indent = " " * (len(line) - len(line.lstrip(" ")))
        out += textwrap.wrap(line, width, subsequent_indent=indent + "  ",
                             break_long_words=False, break_on_hyphens=False) or [line]
    return out
