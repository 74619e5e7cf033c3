"""Two program reports side by side: per compiled frame, what its guards cost per call and over
the program, before and after.

A program report's figures come from samples of a running program (each sampled call replayed
once), not from repetitions of one measurement, so there is no interval here and no gate: the
table says what changed; a gate belongs to `guardprof compare --a/--b` or to saved
`guardprof run` reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from guardprof.model.program_report import ProgramFrame, ProgramReport


@dataclass(frozen=True)
class FrameChange:
    label: str
    called_from: str
    a: ProgramFrame | None
    b: ProgramFrame | None

    @property
    def ratio(self) -> float | None:
        """B/A of the guard µs per call, in situ on both sides, else replayed on both (None: a
        side not sampled or missing)."""
        if self.a is None or self.b is None:
            return None
        (a_us, a_how), (b_us, b_how) = self.a.guard_figure, self.b.guard_figure
        if a_how != b_how:
            a_us, b_us = self.a.guard_us_per_call, self.b.guard_us_per_call
        return b_us / a_us if a_us and b_us is not None else None


@dataclass
class ProgramComparison:
    a_name: str
    b_name: str
    a: ProgramReport
    b: ProgramReport
    frames: list[FrameChange] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _key(frame: ProgramFrame) -> tuple[str, str, int]:
    """A frame's code; for entries on a torch wrapper, the wrapper: its one cache list is the
    frame whichever of its callables (and so whichever name) each run happened to sample."""
    if frame.entries_on is not None:
        return ("<entries on>", frame.entries_on, 0)
    return (frame.name, frame.filename, frame.firstlineno)


def compare_programs(a: ProgramReport, b: ProgramReport, a_name: str, b_name: str
                     ) -> ProgramComparison:
    """Frames matched by their code (name, file, first line; a torch wrapper's by the wrapper),
    ranked as B ranks them, then the frames only A ran."""
    by_a = {_key(f): f for f in a.frames}
    by_b = {_key(f): f for f in b.frames}
    keys = [_key(f) for f in b.frames] + [k for k in by_a if k not in by_b]
    frames = []
    for key in keys:
        fa, fb = by_a.get(key), by_b.get(key)
        shown = fb or fa
        frames.append(FrameChange(shown.label, shown.called_from, fa, fb))
    notes = []
    if a.command != b.command:
        notes.append(f"the programs differ: A ran `{' '.join(a.command)}`, B "
                     f"`{' '.join(b.command)}`")
    if a.torch_version != b.torch_version:
        notes.append(f"torch {a.torch_version} (A) against {b.torch_version} (B)")
    notes.append("figures from each program's samples (each sampled call replayed once): no "
                 "interval and no gate; gate with `guardprof compare --a/--b` or saved "
                 "`guardprof run` reports")
    return ProgramComparison(a_name, b_name, a, b, frames, notes)
