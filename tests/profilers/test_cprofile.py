"""`guardprof profile` (cProfile): real cProfile of a real compiled loop, read back by pstats."""

from __future__ import annotations

import marshal
import pstats

import pytest
from click.testing import CliRunner

from guardprof.cli.main import main
from guardprof.model.profiles import GUARD_NODE_PREFIX, Booking, GuardNode
from guardprof.profilers.cprofile import derive, raw_path_for, run_cprofile, write_stats
from tests.conftest import small_spec

SMALL_ARGS = ["--backend", "eager", "--num-args", "8", "--sizes", "4,8,12,16", "--number", "20",
              "--repeat", "3", "--seed", "0"]


def _total(stats: dict) -> float:
    return sum(v[2] for v in stats.values())


@pytest.fixture(scope="module")
def profiled(tmp_path_factory):
    run = run_cprofile(small_spec(number=20, repeat=3), iterations=40)
    folder = tmp_path_factory.mktemp("cprofile")
    derived, raw = folder / "p.prof", folder / "p.raw.prof"
    write_stats(derived, run.derived)
    write_stats(raw, run.raw)
    return run, pstats.Stats(str(derived)), pstats.Stats(str(raw))


def _guard_keys(stats: pstats.Stats) -> list:
    return [k for k in stats.stats if k[2].startswith(GUARD_NODE_PREFIX)]


def test_derived_profile_has_a_guard_entry_with_the_in_situ_time(profiled):
    run, derived, raw = profiled
    (key,) = _guard_keys(derived)
    assert key[2] == f"{GUARD_NODE_PREFIX} foo (4 entries)"
    cc, nc, tt, ct, callers = derived.stats[key]
    assert tt > 0 and ct == tt
    assert nc == 40 * 4  # one cache lookup per call: 40 iterations × 4 calls
    # its time is the in-situ guard figure × calls, moved in full (nothing clamped here)
    in_situ = run.report.guard_us() * 1e-6 * 4 * 40
    assert not run.notes
    assert tt == pytest.approx(in_situ, rel=1e-9)
    assert not _guard_keys(raw)


def test_totals_and_callers_stay_consistent(profiled):
    run, derived, raw = profiled
    assert derived.total_tt == pytest.approx(raw.total_tt, rel=1e-12)
    (key,) = _guard_keys(derived)
    node_tt = derived.stats[key][2]
    (caller,) = derived.stats[key][4]
    assert caller[2] == "compile_wrapper" and caller[0].endswith("torch/_dynamo/eval_frame.py")
    # moved out of the caller's self time, cumulative time unchanged
    assert derived.stats[caller][2] == pytest.approx(raw.stats[caller][2] - node_tt, rel=1e-9)
    assert derived.stats[caller][3] == raw.stats[caller][3]
    # pstats' own callee view puts the node under compile_wrapper
    derived.calc_callees()
    assert key in derived.all_callees[caller]
    # the caller's per-caller self times still sum to its self time
    per_caller = sum(v[2] for v in derived.stats[caller][4].values())
    assert per_caller == pytest.approx(derived.stats[caller][2], rel=1e-9)


def test_raw_file_is_cprofiles_own_data(profiled):
    run, _derived, raw = profiled
    assert raw.stats == run.raw
    assert run.collapsed and run.collapsed[0].key[2] == "foo"  # 4 transformed codes, one label


def test_derive_never_takes_more_than_the_booked_self_time():
    caller = ("f.py", 1, "caller")
    child = ("f.py", 9, "child")
    top = ("f.py", 20, "top")
    raw = {
        top: (1, 1, 0.1, 1.0, {}),
        caller: (10, 10, 0.3, 0.9, {top: (10, 10, 0.3, 0.9)}),
        child: (10, 10, 0.6, 0.6, {caller: (10, 10, 0.6, 0.6)}),
    }
    node = GuardNode(("f.py", 9, f"{GUARD_NODE_PREFIX} child (2 entries)"), "child", 2,
                     [Booking(caller, 10, 0.5, 0.0)])
    derived = derive(raw, [node])
    assert node.seconds == pytest.approx(0.3)  # clamped: the caller only had 0.3 s of self time
    assert derived[caller][2] == pytest.approx(0.0)
    assert _total(derived) == pytest.approx(_total(raw))
    assert raw[caller][2] == 0.3  # the raw stats are not modified


def test_cli_writes_both_files_and_refuses_to_overwrite(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(main, ["profile", *SMALL_ARGS, "--iterations", "20", "--top", "5"])
    assert result.exit_code == 0, result.output
    assert "[dynamo guards] foo (4 entries)" in result.output
    assert "Guard evaluation — in situ:" in result.output
    assert "guardprof view guardprof-profile.prof" in result.output
    for name in ("guardprof-profile.prof", "guardprof-profile.raw.prof"):
        with open(name, "rb") as f:
            assert isinstance(marshal.load(f), dict)
    again = runner.invoke(main, ["profile", *SMALL_ARGS])
    assert again.exit_code == 1
    assert "exists: pass --force" in again.output
    assert len(again.output.strip().splitlines()) == 1


@pytest.mark.parametrize("args, message", [
    (["--format", "raw"], "--format needs --flame"),
    (["--pid", "1"], "--pid needs --flame"),
    (["--flame", "--iterations", "5"], "--iterations is for cProfile"),
    (["--iterations", "0"], "--iterations must be at least 1"),
])
def test_usage_errors(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["profile", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_raw_path_sits_beside():
    from pathlib import Path

    assert raw_path_for(Path("out/run.prof")) == Path("out/run.raw.prof")
    assert raw_path_for(Path("run")) == Path("run.raw.prof")
