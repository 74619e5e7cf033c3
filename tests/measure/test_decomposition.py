"""The hot-loop decomposition: what each loop is checked for, and how the report carries it.

Timing figures are not asserted (a shared 2-core machine); what is asserted is what the product
claims: every variant ran and matched the compiled call's results, each copy held one entry, the
parts are the four named ones, independent measures carry the ±15% verdict they are printed with,
and targets the experiment cannot be built for (modules, graph breaks) say so.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from guardprof.cli.main import main
from guardprof.measure.run import measure
from guardprof.model import decomposition as dm
from guardprof.model.run_report import from_dict, to_dict
from tests.conftest import small_spec
from tests.measure.test_run import TARGETS


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
    for p in d.parts:
        assert p.low <= p.us <= p.high and p.method
    assert d.rounds >= 10 and d.number >= 5


def test_agreement_rows_carry_the_15_percent_verdict(decomposed):
    d = decomposed.decomposition
    names = [a.name for a in d.agreement]
    assert names == [dm.REJECTED_ENTRIES, dm.ACCEPTED_CHECK, f"{dm.REJECTED_ENTRIES} (call order)"]
    for a in d.agreement:
        if a.ratio is not None:
            assert a.ratio == pytest.approx(a.replayed_us / a.in_situ_us)
            assert a.verdict == ("agree" if abs(a.ratio - 1) <= 0.15 else "disagree")
    replayed = {a.name: a.replayed_us for a in d.agreement}
    assert replayed[dm.REJECTED_ENTRIES] == decomposed.guard_cost.rejected_us_per_call
    assert replayed[dm.ACCEPTED_CHECK] == decomposed.guard_cost.accepted_us_per_call


def test_json_carries_the_decomposition_and_loads_back(decomposed):
    data = to_dict(decomposed)
    assert data["schema_version"] == 2
    parts = data["decomposition"]["parts"]
    assert {"name", "us", "low", "high", "method"} <= set(parts[0])
    assert {"name", "in_situ_us", "replayed_us", "ratio", "verdict"} <= set(
        data["decomposition"]["agreement"][0])
    assert "unattributed_us" in data["decomposition"]
    assert from_dict(data).decomposition == decomposed.decomposition


def test_the_text_report_leads_with_the_decomposition(decomposed, tmp_path):
    from guardprof.render.run import render

    text = render(decomposed)
    first = text.index("Decomposition of the compiled call")
    assert first < text.index("Timing —")
    assert f"compiled {decomposed.decomposition.compiled_us:.1f} µs/call = graph " in text
    assert "0 by construction" in text  # the sum is bookkeeping, and says so


def test_targets_a_plain_function_is_decomposed_a_module_gets_a_note():
    from guardprof.workload.spec import WorkloadSpec

    def target(name):
        return WorkloadSpec(kind="target", name="t", target=f"{TARGETS}:{name}", backend="eager",
                            dynamic=False, num_args=None, sizes=None, recompile_limit=16,
                            number=5, repeat=2, device="cpu", seed=0)

    plain = measure(target("make"), cross_check=False, eager_baseline=False, decomposition=True)
    assert plain.decomposition.available, plain.decomposition.notes
    assert plain.decomposition.part(dm.GRAPH).us > 0
    module = measure(target("make_module"), cross_check=False, eager_baseline=False,
                     decomposition=True)
    assert not module.decomposition.available
    assert "not a plain function" in module.decomposition.notes[0]
    result = CliRunner().invoke(main, ["run", "--target", f"{TARGETS}:make_graph_break",
                                       "--backend", "eager", "--repeat", "2", "--number", "5",
                                       "--no-cross-check"])
    assert result.exit_code == 0, result.output
    assert "Decomposition of the compiled call — not measured: decomposition: the workload " \
           "compiled more than one frame (a graph break)" in result.output


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
