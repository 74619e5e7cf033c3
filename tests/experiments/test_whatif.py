"""guardprof run --what-if: variants built side by side, isolated, timed in interleaved rounds."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from guardprof.cli.main import main
from guardprof.experiments.whatif import VARIANT_NAMES, measure_what_if, parse_what_if
from guardprof.render.whatif import render_whatif
from tests.conftest import small_spec


@pytest.fixture(scope="module")
def what_if_all():
    return measure_what_if(small_spec(number=20, repeat=4), VARIANT_NAMES)


def test_every_variant_keeps_its_own_cache(what_if_all):
    by_name = {v.name: v for v in what_if_all.variants}
    assert list(by_name) == ["baseline", *VARIANT_NAMES]
    sizes = len(small_spec().sizes)
    # Static shapes: one entry per size, each call walks them all (the LRU cycle).
    assert by_name["baseline"].entries == sizes
    assert by_name["baseline"].walk_depth == pytest.approx(sizes)
    # Dynamic dim 0, by either route, serves every size from one entry.
    assert by_name["dynamic"].entries == 1
    assert by_name["mark-dynamic"].entries == 1
    assert by_name["dynamic"].walk_depth == pytest.approx(1)
    # Automatic dynamic: a static entry first, then a dynamic one; never one per size.
    assert 1 <= by_name["auto"].entries <= 2
    # skip-guards compiles as the baseline does: same entries, guards not re-counted away.
    assert by_name["skip-guards"].entries == sizes
    assert by_name["skip-guards"].guards_per_entry == by_name["baseline"].guards_per_entry
    # Symbolic shapes add guards per entry.
    assert by_name["dynamic"].guards_per_entry > by_name["baseline"].guards_per_entry


def test_rounds_and_speedup_intervals(what_if_all):
    for v in what_if_all.variants:
        assert len(v.us_per_call.samples) == 4 and v.us_per_call.median > 0
        if v.name == "baseline":
            assert v.speedup is None
            continue
        s = v.speedup
        assert s.has_interval and s.low <= s.ratio <= s.high
        assert "paired by round" in s.method
        # speed-up = baseline median / variant median
        base = what_if_all.baseline.us_per_call.median
        assert s.ratio == pytest.approx(base / v.us_per_call.median)
    assert len(what_if_all.eager_us_per_call.samples) == 4


def test_skip_guards_is_replayed_with_diff_guards_and_caveated(what_if_all):
    skip = next(v for v in what_if_all.variants if v.name == "skip-guards")
    assert skip.guard_us_per_call is not None and skip.guard_us_per_call > 0
    assert "diff guard manager" in skip.guard_method
    # What-if replays one block after all the timing, and its label says so (not the run's).
    assert all("one block after" in v.guard_method for v in what_if_all.variants
               if v.guard_method)
    assert any("UNSAFE" in n for n in skip.notes)
    text = render_whatif(what_if_all)
    for name in ("baseline", *VARIANT_NAMES, "eager (not compiled)"):
        assert name in text
    assert "speed-up [95% CI]" in text and "UNSAFE" in text


def test_cli_what_if_writes_json(tmp_path):
    out = tmp_path / "whatif.json"
    result = CliRunner().invoke(main, [
        "run", "--backend", "eager", "--num-args", "4", "--sizes", "4,8,12", "--repeat", "3",
        "--number", "10", "--what-if", "dynamic,skip-guards", "--json", str(out), "--quiet",
    ])
    assert result.exit_code == 0, result.output
    assert "dynamic" in result.output and "skip-guards" in result.output
    data = json.loads(out.read_text())
    assert data["report_type"] == "guardprof-whatif"
    assert [v["name"] for v in data["variants"]] == ["baseline", "dynamic", "skip-guards"]
    assert data["variants"][0]["entries"] == 3 and data["variants"][0]["number"] == 10
    assert data["schema_version"] == 5
    # --quiet: the result lines only, one per variant
    lines = result.output.splitlines()
    assert [line.split(":")[0] for line in lines] == ["baseline", "dynamic", "skip-guards"]
    # the saved what-if loads back and re-renders: `run --load` reads it
    again = CliRunner().invoke(main, ["run", "--load", str(out)])
    assert again.exit_code == 0, again.output
    assert "speed-up [95% CI]" in again.output and "skip-guards" in again.output


def test_parse_what_if():
    assert parse_what_if("all") == VARIANT_NAMES
    assert parse_what_if(" skip-guards , dynamic,dynamic") == ("skip-guards", "dynamic")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--what-if", "turbo"], "unknown variant 'turbo'"),
        (["--what-if", ","], "--what-if is empty"),
        (["--what-if", "dynamic", "--target", "x.py:make"], "standard workload only"),
        (["--what-if", "dynamic", "--load", "r.json"], "cannot be used with --load"),
    ],
)
def test_bad_what_if_is_a_one_line_usage_error(args, message):
    result = CliRunner().invoke(main, ["run", "--backend", "eager", *args])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and message in errors[0], result.output
