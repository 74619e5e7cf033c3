"""`guardprof guards` on the five workloads of issue 3, on real torch.compile (backend eager).

Each workload is collected once per session (fixtures below); right after collecting, torch's own
view (each entry's guard tree string, dynamo's counters) is taken for the counts to match.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest
import torch

from guardprof.analysis.guard_diff import diff_entries, fields, summarize_variation
from guardprof.dynamo import cache, compiler, guard_walk
from guardprof.measure import guard_replicas
from guardprof.measure.guard_cost import IN_PLACE_METHOD, ISOLATED, ISOLATED_AFTER_ROOT
from guardprof.measure.guards import collect
from guardprof.model.guards_report import GuardsReport, from_dict, to_json
from guardprof.render.guards import render
from guardprof.workload.spec import WorkloadSpec
from tests.conftest import small_spec

WORKLOADS = Path(__file__).parents[1] / "workloads"
TOLERANCE = 0.15


def target_spec(name: str, dynamic: bool | None = False) -> WorkloadSpec:
    target = f"{WORKLOADS / name}:make"
    return WorkloadSpec(kind="target", name=target, target=target, backend="eager",
                        dynamic=dynamic, num_args=None, sizes=None, number=1, repeat=1)


def collect_with_torch_view(spec: WorkloadSpec) -> tuple[GuardsReport, dict[str, dict]]:
    """The report, and per compile id the guard kinds counted in torch's own tree string."""
    report = collect(spec)
    torch_kinds = {
        entry.compile_id: guard_walk.guard_kind_counts(entry.guard_tree())
        for code in cache.compiled_codes()
        for entry in cache.cache_entries(code)
    }
    return report, torch_kinds


@pytest.fixture(scope="session")
def standard():
    return collect_with_torch_view(small_spec(number=1))


@pytest.fixture(scope="session")
def standard_100():
    """The standard workload's 100 tensors (3 sizes): big enough to reconcile costs on."""
    return collect_with_torch_view(small_spec(num_args=100, sizes=(10, 20, 30), number=1))


@pytest.fixture(scope="session")
def dynamic_100():
    return collect_with_torch_view(
        small_spec(num_args=100, sizes=(10, 20, 30), number=1, dynamic=True))


@pytest.fixture(scope="session")
def module_stack():
    return collect_with_torch_view(target_spec("module_stack.py"))


@pytest.fixture(scope="session")
def dict_int():
    return collect_with_torch_view(target_spec("dict_int.py"))


@pytest.fixture(scope="session")
def graph_break():
    return collect_with_torch_view(target_spec("graph_break.py"))


ALL = ["standard", "standard_100", "dynamic_100", "module_stack", "dict_int", "graph_break"]


# --- counts match torch's own ----------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_guard_counts_match_torch_tree_strings(name, request):
    report, torch_kinds = request.getfixturevalue(name)
    assert {e.compile_id for _, e in report.entries()} == set(torch_kinds)
    for _, entry in report.entries():
        assert entry.code_parts_by_kind == torch_kinds[entry.compile_id], entry.compile_id
        assert entry.code_parts == entry.torch_code_parts


@pytest.mark.parametrize("name,frames,entries", [
    ("standard", 1, 4), ("standard_100", 1, 3), ("dynamic_100", 1, 1),
    ("module_stack", 1, 2), ("dict_int", 1, 3), ("graph_break", 2, 4),
])
def test_entry_counts_match_dynamo_counters(name, frames, entries, request):
    report, _ = request.getfixturevalue(name)
    assert len(report.frames) == frames
    assert sum(len(f.entries) for f in report.frames) == entries
    assert report.dynamo_counters["frames"]["ok"] == entries


def test_module_guards_cover_every_parameter(module_stack):
    from tests.workloads.module_stack import LAYERS

    report, _ = module_stack
    entry = report.frames[0].entries[0]
    # one TENSOR_MATCH per weight and bias of every layer, plus the input
    assert entry.code_parts_by_kind["TENSOR_MATCH"] == 2 * LAYERS + 1
    sources = {m.source for m in entry.tree.walk()}
    assert "L['self']._modules['layers']._modules['23']._parameters['weight']" in sources


def test_dynamic_entry_has_symbolic_shape_guards(dynamic_100):
    report, _ = dynamic_100
    (entry,) = report.frames[0].entries
    assert entry.serves_calls == [0, 1, 2]
    assert any("size()[0]" in part for leaf in entry.epilogue for part in leaf.code_parts)


# --- cost: parts reconcile with the whole ---------------------------------------------------


RECONCILING_SPECS = {
    "standard_100": lambda: small_spec(num_args=100, sizes=(10, 20, 30), number=1),
    "dynamic_100": lambda: small_spec(num_args=100, sizes=(10, 20, 30), number=1, dynamic=True),
    "module_stack": lambda: target_spec("module_stack.py"),
    "dict_int": lambda: target_spec("dict_int.py"),
    "graph_break": lambda: target_spec("graph_break.py"),
}


def _reconciliation_misses(report: GuardsReport) -> list[str]:
    misses = []
    for frame in report.frames:
        loop = frame.loop_cost
        per_call = loop.parts_us_per_call / loop.whole_isolated_us_per_call
        if abs(per_call - 1) > TOLERANCE:
            misses.append(f"{frame.name}: parts/whole per call {per_call:.2f}")
        ratios = [e.pass_cost.ratio(e.pass_cost.whole_isolated_us) for e in frame.entries]
        if abs(statistics.median(ratios) - 1) > TOLERANCE:
            misses.append(f"{frame.name}: pass-check parts/whole {ratios}")
    return misses


@pytest.mark.parametrize("name", list(RECONCILING_SPECS))
def test_parts_reconcile_with_whole_check(name, request):
    """The ±15% the report promises, on checks of a few µs (100 tensors, a module stack) and on
    sub-µs ones (dict_int, graph_break), where the first leaf of each kind must be timed after
    the root's guards to add up. A timed claim on a shared 2-core machine: a miss is measured
    once more before failing (a second miss is a real one)."""
    report, _ = request.getfixturevalue(name)
    misses = _reconciliation_misses(report)
    if misses:
        misses = _reconciliation_misses(collect(RECONCILING_SPECS[name]()))
    assert not misses, misses


SPECS = {"standard": lambda: small_spec(number=1), **RECONCILING_SPECS}


def _unbaselined(report: GuardsReport) -> dict[tuple[str, bool], str]:
    """Checks whose parts are not within 0.5–1.5× their isolated whole, keyed by (compile id,
    passed): a timing, so it may stray under load."""
    misses = {}
    for _, entry in report.entries():
        for check in (entry.pass_cost, entry.fail_cost):
            if check is None:
                continue
            ratio = check.ratio(check.whole_isolated_us)
            if not 0.5 < ratio < 1.5:
                misses[(entry.compile_id, check.passed)] = (
                    f"{entry.compile_id} passed={check.passed}: parts/whole {ratio:.2f} "
                    f"({check.parts_us:.3f} vs {check.whole_isolated_us:.3f} µs)")
    return misses


@pytest.mark.parametrize("name", ALL)
def test_every_check_is_costed_and_the_call_overhead_is_removed(name, request):
    """Without the baseline, parts would be several times the whole (≈50 vs 15 µs). Many checks
    here are under 1 µs, where one timing on this 2-core machine strays past 1.5× when another
    process runs (0.95 vs 0.74 µs in a CI run on torch 2.11; 1.0 vs 0.54 beside a second
    suite): a check that misses is measured again, and fails only if it misses both times.
    A missing tree-walk part is no timing: it fails at once."""
    report, _ = request.getfixturevalue(name)
    no_walk = [f"{entry.compile_id} passed={check.passed}"
               for _, entry in report.entries() for check in (entry.pass_cost, entry.fail_cost)
               if check is not None and "tree walk" not in {p.kind for p in check.parts}]
    assert not no_walk, f"no tree walk part: {no_walk}"
    misses = _unbaselined(report)
    if misses:
        again = _unbaselined(collect(SPECS[name]()))
        misses = {key: f"{text}; again: {again[key]}" for key, text in misses.items()
                  if key in again}
    assert not misses, list(misses.values())


def test_leaf_methods_in_place_after_the_root_guards_or_isolated(dict_int):
    """TENSOR_MATCH and DIMENSION guards of a passing check are rebuilt in place on a copy of
    the tree; the first EQUALS_MATCH runs, in a real check, straight after the root's guards and
    is timed there; root leaves keep the plain isolated timing; a failing check's leaves are
    isolated (its TENSOR_MATCH rejects, a rebuilt one would accept)."""
    report, _ = dict_int
    for _, entry in report.entries():
        methods = {p.kind: p.method for p in entry.pass_cost.parts}
        assert methods["TENSOR_MATCH"] == IN_PLACE_METHOD
        assert methods["DIMENSION_DYNAMIC_MARKING_GUARD"] == IN_PLACE_METHOD
        assert methods["EQUALS_MATCH"] == ISOLATED_AFTER_ROOT
        assert methods["GLOBAL_STATE"] == ISOLATED
        assert IN_PLACE_METHOD not in {p.method for p in entry.fail_cost.parts}
        walk = next(p for p in entry.pass_cost.parts if p.kind == "tree walk")
        assert f"of {entry.pass_cost.managers_visited} manager(s)" in walk.method
        assert walk.method.endswith("leaf call(s)")


def test_rebuilt_leaves_accept_what_the_real_ones_accept():
    root = guard_replicas.root_guards_only(_compiled_entry().guard_manager)
    value = torch.randn(3, 2)[:, 0]  # a strided view: sizes and strides must both be copied
    copy = guard_replicas.replica_walk_root(
        [guard_replicas.WalkManager(None, "FrameLocalsGuardAccessor(key='x', framelocals_idx=0)",
                                  "GuardManager", "L['x']", value, 0)],
        {"x": value}, None, 0, base_root=root,
        extra_leaves={0: guard_replicas.tensor_match_like(value)})
    check, f_locals, approximated = copy
    assert approximated == 0 and check(f_locals) is True
    assert check({"x": torch.randn(3)}) is False  # the rebuilt TENSOR_MATCH does check
    parts = ["hasattr(L['x'], '_dynamo_dynamic_indices') == False",
             "hasattr(L['x'], '_dynamo_static_indices') == False"]
    assert guard_replicas.dimension_marking_like(parts) is not None
    dynamic = parts + ["L['x']._dynamo_dynamic_indices == {0}"]
    # an expected attribute: not rebuilt (isolated instead)
    assert guard_replicas.dimension_marking_like(dynamic) is None


def _compiled_entry():
    def step(x):
        return x * 2

    compiler.reset()
    compiled = compiler.compile_fn(step, "eager", dynamic=False)
    compiled(torch.zeros(3))
    (entry,) = cache.cache_entries(step.__code__)
    return entry


def test_root_only_copy_keeps_the_root_guards_and_no_inputs():
    entry = _compiled_entry()
    copy = guard_replicas.root_guards_only(entry.guard_manager)
    assert copy is not None
    root = entry.guard_manager.root
    assert copy.get_child_managers() == [] and root.get_child_managers()
    assert len(copy.get_leaf_guards()) == len(root.get_leaf_guards())
    assert copy.check({}) is True  # the root's own guards read no input


def test_synthetic_walk_tree_carries_trivial_leaves_for_the_leaf_calls():
    """torch keeps one leaf per kind on a manager, so three trivial kinds at most."""
    values = [torch.zeros(2), 3, None]
    check, f_locals = guard_replicas.synthetic_frame_root(
        values, no_tensor_aliasing=False, trivial_leaves=[2, 0, 3], root_trivial_leaves=4)
    root = check.__self__
    assert len(root.get_leaf_guards()) == 3
    assert [len(m.get_leaf_guards()) for m in root.get_child_managers()] == [2, 0, 2]
    assert check(f_locals) is True


@pytest.mark.parametrize("name", ["module_stack", "dict_int", "standard_100"])
def test_walk_is_a_copy_of_the_visited_managers_with_their_accessors(name, request):
    """Attribute, `__dict__`, dict-item and dict key/value managers are rebuilt as such (no
    manager falls back to a frame-locals key), so the walk is not modeled on the wrong kind."""
    report, _ = request.getfixturevalue(name)
    for _, entry in report.entries():
        walk = next(p for p in entry.pass_cost.parts if p.kind == "tree walk")
        assert walk.method.startswith("modeled: copy, same accessors of "), walk.method
        methods = {p.kind: p.method for p in entry.pass_cost.parts}
        assert methods.get("TENSOR_MATCH") == IN_PLACE_METHOD


def test_kinds_with_a_type_or_identity_test_are_their_own_baseline():
    """The Python → C++ path differs by kind, so a TENSOR_MATCH is timed against itself on an
    object it rejects at once; a LAMBDA_GUARD (arbitrary Python) is not."""
    from guardprof.dynamo.guard_tree import build_entry_tree
    from guardprof.measure.guard_probes import REJECTED, self_baseline

    by_kind = {leaf.node.kind: leaf for leaf in build_entry_tree(_compiled_entry()).leaves}
    assert self_baseline(by_kind["TENSOR_MATCH"])
    assert by_kind["TENSOR_MATCH"].raw.guard(REJECTED) is False
    assert not self_baseline(by_kind["LAMBDA_GUARD"])
    assert not self_baseline(by_kind["DIMENSION_DYNAMIC_MARKING_GUARD"])


def test_relational_guard_is_costed_by_difference_not_dropped(standard_100):
    report, _ = standard_100
    for entry in report.frames[0].entries:
        (aliasing,) = entry.relational
        assert aliasing.kind == "NO_TENSOR_ALIASING" and len(aliasing.sources) == 100
        part = next(p for p in entry.pass_cost.parts if p.kind == "NO_TENSOR_ALIASING")
        assert part.method.startswith("by difference") and part.cost_us > 0


def test_failing_check_stops_at_the_first_failing_guard(standard):
    report, _ = standard
    entry = report.frames[0].entries[0]
    fail = entry.fail_cost
    assert not fail.passed and fail.failed_at.startswith("TENSOR_MATCH")
    assert fail.managers_visited == 1  # L['x0'] fails; the other 7 tensors are never checked
    tensor = next(p for p in fail.parts if p.kind == "TENSOR_MATCH")
    assert tensor.leaf_guards == 1


def test_per_node_costs_roll_up(standard):
    report, _ = standard
    root = report.frames[0].entries[0].tree
    leaves = sum(leaf.cost_us for m in root.walk() for leaf in m.leaves if leaf.cost_us)
    assert root.subtree_cost_us == pytest.approx(leaves)


# --- why entries exist ------------------------------------------------------------------------


def test_recompile_reasons_list_all_failing_guards(standard):
    report, _ = standard
    latest = report.frames[0].compile_order()[-1]
    assert latest.torch_reasons  # dynamo's own, first failure only
    assert [f.compile_id for f in latest.failing_guards] == ["0/0", "0/1", "0/2"]
    for failures in latest.failing_guards:
        assert len(failures.failing) == 8  # every tensor's TENSOR_MATCH, not only x0's
        assert all(f.reason.startswith("size[0] expected") for f in failures.failing)


def test_variation_names_what_varies(standard, dict_int):
    report, _ = standard
    summary = report.frames[0].variation.summary
    assert summary == ("4 entries differ only in TENSOR_MATCH size[0] of 8 sources "
                       "(L['x0'] … L['x7']): 4, 8, 12, 16")
    report, _ = dict_int
    assert report.frames[0].variation.summary == (
        "3 entries differ only in EQUALS_MATCH value of L['scale']: 2, 3, 5")


def test_diff_two_entries(dict_int):
    report, _ = dict_int
    a, b = report.find_entry("0/1")[1], report.find_entry("0/2")[1]
    diff = diff_entries(a, b)
    assert [(r.source, r.kind, r.a, r.b) for r in diff.rows] == [
        ("L['scale']", "EQUALS_MATCH", "value=3", "value=5")]
    assert diff.same == a.leaf_guards - 2  # all but the int guard and the relational repeat


def test_graph_break_frames_explained_separately(graph_break):
    report, _ = graph_break
    names = [f.name for f in report.frames]
    assert names[0] == "f" and names[1].startswith("torch_dynamo_resume_in_f")
    for frame in report.frames:
        assert "size[0]" in frame.variation.summary


def test_fields_split_tensor_match_code():
    code = ("check_tensor(L['x'], Tensor, DispatchKeySet(CPU, BackendSelect), torch.float32, "
            "device=None, requires_grad=False, size=[3, 8], stride=[8, 1])")
    parsed = fields(code)
    assert parsed["size[0]"] == "3" and parsed["stride[0]"] == "8"
    assert parsed["arg2"] == "DispatchKeySet(CPU, BackendSelect)"


def test_one_entry_has_nothing_to_vary(dynamic_100):
    report, _ = dynamic_100
    assert summarize_variation(report.frames[0].entries).summary == "one entry: nothing varies"


# --- JSON and text ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["standard", "graph_break"])
def test_json_round_trip_renders_the_same(name, request):
    import json

    report, _ = request.getfixturevalue(name)
    loaded = from_dict(json.loads(to_json(report)))
    assert loaded == report
    assert render(loaded, top=3, depth=1) == render(report, top=3, depth=1)


def test_render_top_and_depth_keep_the_tree_short(standard):
    report, _ = standard
    full = render(report, top=100)
    short = render(report, top=2, depth=0)
    assert "… 6 more managers (--top)" in render(report, top=2)
    assert "below (--depth)" in short

    def tree(text: str) -> list[str]:
        lines = text.splitlines()
        start = next(i for i, line in enumerate(lines) if "Guard tree as TORCH_LOGS" in line)
        return lines[start + 1:lines.index("", start)]

    # depth 0 keeps the root's own guards and one line per child: under half the full tree
    assert len(tree(short)) < len(tree(full)) / 2
