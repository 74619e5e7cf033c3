"""The hot-loop decomposition: what each loop is checked for, and how the report carries it.

Timing figures are not asserted (a shared 2-core machine); what is asserted is what the product
claims: every variant ran and matched the compiled call's results, each copy held one entry, the
parts are the four named ones, independent measures carry the ±15% verdict they are printed with,
and targets the experiment cannot be built for (a torch module on torch's shared wrapper) say
so.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
from click.testing import CliRunner

from guardprof.cli.main import main
from guardprof.measure.run import measure
from guardprof.model import decomposition as dm
from guardprof.model.run_report import from_dict, load_report, to_dict
from tests.conftest import small_spec
from tests.measure.test_run import TARGETS

WORKLOADS = Path(__file__).parents[1] / "workloads"


@pytest.fixture(scope="module")
def decomposed():
    return measure(small_spec(), cross_check=False, eager_baseline=False, decomposition=True)


def test_the_four_parts_from_loops_that_ran_clean(decomposed):
    d = decomposed.decomposition
    assert d.available and not d.notes, d.notes  # no copy with >1 entry, nothing recompiled
    assert [p.name for p in d.parts] == [dm.GRAPH, dm.DISPATCH_FLOOR, dm.ACCEPTED_CHECK,
                                         dm.REJECTED_ENTRIES]
    graph = d.part(dm.GRAPH)
    assert 0 < graph.us < d.compiled_us  # the graph alone is faster than the compiled call
    for p in d.parts:  # a number only where resolved; never a negative or zero-spanning part
        assert p.method
        if p.resolved:
            assert p.us is not None and (p.name == dm.GRAPH or p.low > 0)
        else:
            assert p.us is None and p.reason and p.name != dm.GRAPH
    assert (d.unattributed_us is None) == any(not p.resolved for p in d.parts)
    assert d.rounds >= 10 and d.number >= 5


def test_agreement_rows_carry_the_15_percent_verdict(decomposed):
    d = decomposed.decomposition
    names = [a.name for a in d.agreement]
    assert names == [dm.REJECTED_ENTRIES, dm.ACCEPTED_CHECK, f"{dm.REJECTED_ENTRIES} (call order)",
                     dm.COMPILED_CALL]
    for a in d.agreement:
        if a.ratio is not None:
            assert a.ratio == pytest.approx(a.replayed_us / a.in_situ_us)
            part = d.part(a.name.split(" ")[0])
            judged = "agree" if abs(a.ratio - 1) <= 0.15 else "disagree"
            assert a.verdict == ("unresolved" if part and not part.resolved else judged)
    replayed = {a.name: a.replayed_us for a in d.agreement}
    assert replayed[dm.REJECTED_ENTRIES] == decomposed.guard_cost.rejected_us_per_call
    assert replayed[dm.ACCEPTED_CHECK] == decomposed.guard_cost.accepted_us_per_call


def test_json_carries_the_decomposition_and_loads_back(decomposed):
    data = to_dict(decomposed)
    assert data["schema_version"] == 5
    parts = data["decomposition"]["parts"]
    assert {"name", "us", "low", "high", "method"} <= set(parts[0])
    assert {"name", "in_situ_us", "replayed_us", "ratio", "verdict"} <= set(
        data["decomposition"]["agreement"][0])
    assert "unattributed_us" in data["decomposition"]
    assert from_dict(data).decomposition == decomposed.decomposition


def test_the_text_report_shows_the_decomposition_after_the_in_situ_answer(decomposed, tmp_path):
    """The in-situ answer leads; the decomposition follows, before the timing. Its sum line adds
    the parts only when every one is resolved (and then says the sum is bookkeeping); with an
    unresolved part it gives no sum and each unresolved part's reason."""
    from guardprof.render.run import render

    text = render(decomposed)
    first = text.index("Decomposition of the compiled call")
    assert text.index("In short") < first < text.index("Timing —")
    d = decomposed.decomposition
    if all(p.resolved for p in d.parts):
        assert f"compiled {d.compiled_us:.1f} µs/call = graph " in text
        assert "0 by construction" in text  # the sum is bookkeeping, and says so
    else:
        assert f"compiled {d.compiled_us:.1f} µs/call: graph " in text
        assert "(no sum: a part is unresolved)" in text
        for p in d.parts:
            if not p.resolved:
                assert p.reason in " ".join(text.split()) or p.reason in text


def _target(name):
    from guardprof.workload.spec import WorkloadSpec

    return WorkloadSpec(kind="target", name="t", target=name, backend="eager", dynamic=False,
                        num_args=None, sizes=None, recompile_limit=16, number=5, repeat=2,
                        device="cpu", seed=0)


@pytest.mark.parametrize("name", ["make", "make_module", "make_graph_break"])
def test_functions_modules_and_graph_breaks_are_decomposed(name):
    """A plain function with kwargs, a user nn.Module (its `forward`, bound), and a graph break
    (the resume frame bypassed through its global name): each variant ran, matched the compiled
    call's results, and every copy held one entry per frame (no note says otherwise)."""
    report = measure(_target(f"{TARGETS}:{name}"), cross_check=False, eager_baseline=False,
                     decomposition=True)
    d = report.decomposition
    assert d.available, d.notes
    assert d.part(dm.GRAPH).us > 0
    frames = len(report.frames)
    if frames > 1:
        assert len(d.notes) == 1 and d.notes[0].startswith(f"{frames} compiled frames")
        assert "reached through the global" in d.notes[0] and "`__resume_at_" in d.notes[0]
    else:
        assert not d.notes, d.notes
    _assert_frame_parts(report)


def _assert_frame_parts(report):
    """Every frame carries its part: a one-frame call the call's own parts; a call with a graph
    break per-frame parts from loops that ran clean (a frame's loop that returned another result
    would have left `available` False with the reason), and the frame's replayed costs beside
    them with the ±15% verdict they are printed with."""
    d = report.decomposition
    for frame in report.frames:
        fd = frame.decomposition
        assert fd is not None and fd.available, fd
        if len(report.frames) == 1:
            assert fd.parts == d.parts and "only compiled frame" in fd.method
            continue
        assert [p.name for p in fd.parts] == [dm.DISPATCH_FLOOR, dm.ACCEPTED_CHECK,
                                              dm.REJECTED_ENTRIES]
        for p in fd.parts:  # a figure only where the rounds resolve it, else the reason
            assert (p.us is not None) == p.resolved
            assert p.resolved == (p.low > 0 and p.high - p.low <= abs(statistics.median(
                p.rounds_us))), p
            assert p.resolved or "quartiles" in p.reason
        replayed = {a.name: a.replayed_us for a in fd.agreement}
        assert sum(replayed.values()) == pytest.approx(frame.guard_us_per_call)
        for a in fd.agreement:
            if a.ratio is not None:
                judged = "agree" if abs(a.ratio - 1) <= dm.AGREE_WITHIN else "disagree"
                assert a.verdict == ("unresolved" if not fd.part(a.name).resolved else judged)


def test_each_frame_of_a_graph_break_gets_its_parts_in_text_and_json(tmp_path):
    """Two inputs, two entries on each of the two frames: per-frame parts, printed under each
    frame's entries, and kept in the JSON inside each frame (loaded back equal)."""
    out = tmp_path / "gb.json"
    result = CliRunner().invoke(main, ["run", "--target", f"{WORKLOADS}/graph_break.py:make",
                                       "--decompose",
                                       "--backend", "eager", "--repeat", "2", "--number", "5",
                                       "--no-cross-check", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.count("this frame's part of the call, in the hot loop: dispatch "
                               "floor") == 2
    assert result.output.count("this frame's replay vs in situ: rejected entries") == 2
    report = load_report(out)
    assert [len(f.entries) for f in report.frames] == [2, 2]
    _assert_frame_parts(report)
    data = json.loads(out.read_text())
    assert {"available", "parts", "agreement", "method"} <= set(data["frames"][1]["decomposition"])


def test_a_torch_module_on_the_shared_wrapper_gets_a_note():
    result = CliRunner().invoke(main, ["run", "--target", f"{TARGETS}:make_torch_module",
                                       "--decompose",
                                       "--backend", "eager", "--repeat", "2", "--number", "5",
                                       "--no-cross-check"])
    assert result.exit_code == 0, result.output
    assert ("Decomposition of the compiled call — not measured: decomposition: the entries of "
            "frame `inner` sit on a torch-internal wrapper") in result.output


def test_a_part_too_small_to_resolve_is_not_judged():
    ratio, verdict = dm.verdict(0.3, 2.0, in_situ_low=-0.4)
    assert verdict == "unresolved" and ratio == pytest.approx(2.0 / 0.3)
    assert dm.verdict(10.0, 11.4, in_situ_low=9.0)[1] == "agree"
    assert dm.verdict(10.0, 11.6, in_situ_low=9.0)[1] == "disagree"
    assert dm.verdict(0.0, 1.0) == (None, "n/a")


def test_ablations_time_a_valid_group_and_refuse_a_structure_change():
    from guardprof.measure.guards import collect

    report = collect(small_spec(), ablations=True)
    by = {a.group: a for a in report.ablations.results}
    ambient, tensors = by["ambient state"], by["tensors"]
    # dropping TENSOR_MATCH collapses the entries: refused, not timed
    assert not tensors.valid and tensors.entries == 4 and tensors.entries_without == 1
    assert "changes the cache: 4 entries → 1" in tensors.note and tensors.saved_us is None
    # the ambient guards: same entries, same results, a saving and an attribution side by side
    assert ambient.valid and ambient.entries == ambient.entries_without == 4
    assert ambient.saved_low <= ambient.saved_us <= ambient.saved_high
    assert ambient.attributed_us > 0
    assert ambient.verdict == ("agree" if abs(ambient.ratio - 1) <= 0.15 else "disagree")


# This VM switches between two speed states lasting seconds to tens of seconds (the compiled
# call 70-90 against 115-142 µs/call: scripts/replay_within.py); the headline and the
# decomposition's loop are timed seconds apart, so one attempt in a few straddles a switch
# (0.70, 0.78, 1.71 seen in one failed run beside another suite). Five attempts.
MEASURE_ATTEMPTS = 5


def test_the_decomposition_times_the_call_the_headline_times():
    """The report's `compiled_call` row claims the headline and the decomposition's compiled
    loop (one loop, timed twice) agree within ±15%. Re-measure policy: up to five fresh
    measurements; a change of the machine's speed between the two can spoil one, a loop that
    times something else than the headline disagrees every time."""
    ratios = []
    for _ in range(MEASURE_ATTEMPTS):
        d = measure(small_spec(), cross_check=False, eager_baseline=False,
                    decomposition=True).decomposition
        row = next(a for a in d.agreement if a.name == dm.COMPILED_CALL)
        ratios.append(round(row.ratio, 3))
        if abs(row.ratio - 1) <= dm.AGREE_WITHIN:
            assert row.verdict == "agree"
            return
        assert row.verdict == "disagree"
    pytest.fail(f"headline / decomposition's compiled loop outside ±15% in every attempt: {ratios}")


def test_each_call_patches_the_resume_global_its_own_outer_entry_reads():
    """Each outer entry installs a resume function of its own on one shared resume code
    (`__resume_at_106_3`, `__resume_at_106_9`): the patch of each call must be the name its
    accepted entry's code reads, or that call's resume frame still runs through dynamo in the
    'direct' loop (its lookup then counted in the outer frame's part: the −4.7 µs resume
    'rejected entries' this test guards against)."""
    import torch

    from guardprof.measure.bypass import nested_patches
    from guardprof.measure.capture import capture_iteration

    torch._dynamo.reset()
    src = WORKLOADS / "graph_break_one_resume_entry.py"
    scope: dict = {"__name__": "one_resume_entry"}
    exec(compile(src.read_text(), str(src), "exec"), scope)
    compiled = torch.compile(scope["f"], backend="eager")
    calls = scope["make"]().calls
    with torch._dynamo.config.patch(automatic_dynamic_shapes=False):
        for _ in range(2):
            for c in calls:
                compiled(*c.args)
        capture = capture_iteration(compiled, calls)
    entries = {(code, e.compile_id): e for code, es in capture.order_before.items() for e in es}
    outer = scope["f"].__code__
    assert len(capture.order_before[outer]) == 2
    names = []
    for i in range(len(calls)):
        invs = [inv for inv in capture.invocations if inv.call_index == i]
        (patch,) = nested_patches(invs, entries)
        assert patch.name in entries[outer, invs[0].served_by].output_code.co_names
        assert patch.scope[patch.name].__code__ is invs[1].code
        names.append(patch.name)
    assert len(set(names)) == 2, names
