"""The in-situ guard figure (issue 26): what the report claims about it, checked.

Re-measure policy for the timed claims (this 2-core machine is shared and noisy): a workload is
measured afresh up to ATTEMPTS times until the claim holds; when it never holds and every
attempt's own noise figure said the machine was noisy, the test is skipped with that figure;
otherwise it fails with every attempt's numbers.
"""

from __future__ import annotations

import json
import re
from array import array
from pathlib import Path

import pytest
from click.testing import CliRunner

from guardprof.cli.main import main
from guardprof.dynamo import lookup_clock as lc
from guardprof.measure.in_situ import unresolved
from guardprof.measure.lookup_spans import split_calls
from guardprof.model.in_situ import AGREE_WITHIN
from guardprof.model.run_report import load_report

WORKLOADS = Path(__file__).resolve().parents[1] / "workloads"
ATTEMPTS = 4


def _stamps(*marks: tuple[int, int]) -> array:
    return array("q", [t << lc.MARK_BITS | mark for mark, t in marks])


def test_each_lookup_pairs_with_the_latest_armed_stamp_before_it():
    stamps = _stamps((lc.CALL_START, 0), (lc.ARMED, 10), (lc.LOOKUP, 25),  # the wrapper's
                     (lc.GRAPH_START, 30), (lc.ARMED, 38), (lc.GRAPH_END, 40),  # disable re-arm
                     (lc.ARMED, 50), (lc.LOOKUP, 57),  # a resume call's stamp wins
                     (lc.GRAPH_START, 60), (lc.GRAPH_END, 70), (lc.LOOKUP, 75),  # none armed
                     (lc.CALL_END, 80))
    (call,) = split_calls(stamps)
    assert call.lookups == [15, 7] and call.unpaired == 1
    assert call.graph == 10 + 10 and call.total == 80


def test_a_figure_whose_quartiles_reach_zero_or_outgrow_it_is_unresolved():
    assert unresolved(5.0, 4.0, 6.0) is None
    assert "reach 0" in unresolved(0.5, -0.2, 1.0)
    assert "wider than the figure" in unresolved(1.0, 0.2, 1.5)


def _run(tmp_path: Path, name: str, *args: str):
    out = tmp_path / f"{name}.json"
    result = CliRunner().invoke(main, ["run", "--backend", "eager", "--json", str(out), *args])
    assert result.exit_code == 0, result.output
    return load_report(out), result.output, json.loads(out.read_text())


TARGETS = {
    "standard (8 args)": ["--num-args", "8", "--sizes", "4,8,12,16"],
    "graph_break": ["--target", f"{WORKLOADS}/graph_break.py:make"],
}


@pytest.mark.parametrize("name", list(TARGETS))
def test_the_cross_check_is_judged_at_15_percent_and_printed(name, tmp_path):
    """The report's cross-check: torch.profiler's lookup events (in passes of their own) set
    against the in-situ figure, judged at ±15% and printed with its ratio.

    Agreement itself is not asserted here. On this machine the profiler's own figure moved by
    16–94% between fresh processes of one workload (2026-12-07: module_stack 0.94–1.45,
    float_args 0.79–1.76, the 8-arg standard workload 1.09–1.94 on torch 2.11) while the
    in-situ figure stayed within a few percent, so a gate on their ratio fails on the
    profiler's noise; `scripts/in_situ_table.py` measures the agreement, and the README gives
    its table."""
    report, output, _ = _run(tmp_path, "r", *TARGETS[name])
    s = report.in_situ
    assert s.us_per_call is not None, s.note
    check = s.cross_check
    assert check.us_per_call is not None and check.in_same_passes_us is not None
    ratio = check.us_per_call / s.us_per_call
    assert check.ratio == pytest.approx(ratio)
    agree = abs(ratio - 1) <= AGREE_WITHIN
    assert check.verdict == ("agree" if agree else "disagree")
    text = " ".join(output.split())
    assert (f"ratio {ratio:.2f} to the in-situ figure, "
            f"{'agree' if agree else 'DISAGREE'} (±15%)") in text
    if not agree:  # and the findings say so, with both figures
        assert "DISAGREE with the in-situ figure" in text


def test_a_millisecond_call_is_resolved_in_situ_and_no_part_is_printed_unresolved(tmp_path):
    """A module whose call takes milliseconds: the in-situ figure has an interval narrower than
    itself (measured afresh up to ATTEMPTS times: a slow phase of this VM can leave it
    unresolved, and the report then says so); every hot-loop part has a number only when
    resolved, and no share is negative or given to an unresolved part (text and JSON)."""
    for attempt in range(ATTEMPTS):
        report, output, data = _run(tmp_path, f"conv{attempt}", "--target",
                                    f"{WORKLOADS}/conv_stack.py:make", "--decompose")
        assert report.timing.compiled_us_per_call > 1000  # milliseconds, on any machine here
        s = report.in_situ
        _assert_parts_honest(report, output, data)
        if s.us_per_call is not None:
            break
        assert "not measured in situ: unresolved" in " ".join(output.split())  # said, no number
    assert s.us_per_call is not None and 0 < s.low <= s.high, s.note
    assert s.high - s.low < s.us_per_call  # resolved: its own rule


def _assert_parts_honest(report, output: str, data: dict) -> None:
    assert report.decomposition.available, report.decomposition.notes
    for part, raw in zip(report.decomposition.parts, data["decomposition"]["parts"],
                         strict=True):
        assert raw["resolved"] == part.resolved and (raw["us"] is None) == (not part.resolved)
        if not part.resolved:
            assert "quartiles" in part.reason
    table = output.split("Decomposition of the compiled call")[1].split("Independent measures")[0]
    rows = [line for line in table.splitlines()
            if re.match(r"\s+(graph|dispatch floor|accepted check|rejected entries)\s", line)]
    assert len(rows) == 4, table
    for line in rows:
        assert not re.search(r"-\d+%", line)
        if " unresolved " in line:
            assert not re.search(r"\d+%", line), line


def test_the_json_carries_the_in_situ_contract(standard_small_report, tmp_path):
    from guardprof.model.run_report import save_report

    path = save_report(standard_small_report, tmp_path / "r.json")
    data = json.loads(path.read_text())
    assert data["schema_version"] == 5
    s = data["in_situ"]
    assert {"us_per_call", "low", "high", "method", "cross_check"} <= set(s)
    assert {"method", "us_per_call", "ratio", "verdict"} <= set(s["cross_check"])
    b = data["accepted_breakdown"]
    if b is None:  # only where a figure was unresolved, and the note says so
        assert "unresolved" in s["note"]
        return
    assert {"in_situ_us", "rows", "residual_us"} <= set(b)
    assert [r["name"] for r in b["rows"]] == ["frame_locals", "guard_checks"]
    assert b["residual_us"] == pytest.approx(b["in_situ_us"] - sum(r["us"] for r in b["rows"]))
    assert data["summary"]["guard_us_per_call"] == s["us_per_call"]


def test_a_program_frame_carries_its_in_situ_figure():
    import torch

    import guardprof

    torch._dynamo.reset()
    model = torch.compile(torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU()),
                          backend="eager")
    with guardprof.capture() as cap:
        for _ in range(300):
            model(torch.randn(4, 8))
    (frame,) = cap.result().frames
    s = frame.in_situ
    assert s is not None and s.us_per_call is not None, s and s.note
    assert s.low <= s.us_per_call <= s.high and s.rounds >= 250  # every stamped lookup
    assert "lookups of its torch.compile wrapper" in s.method
    assert "guard evaluation:" in cap.report()
