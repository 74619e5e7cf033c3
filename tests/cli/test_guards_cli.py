"""`guardprof guards` from the command line: the sections a user reads, JSON and --load, and
bad input (one line, no traceback, exit 1 or 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from guardprof.cli.main import main

WORKLOADS = Path(__file__).parents[1] / "workloads"
SMALL = ["--num-args", "4", "--sizes", "4,8,12"]


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def one_line_error(result, code: int) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines[-1].startswith("Error:")
    return lines[-1]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """One run of `guardprof guards --json` on the small standard workload."""
    path = tmp_path_factory.mktemp("guards") / "guards.json"
    result = invoke("guards", *SMALL, "--json", str(path))
    assert result.exit_code == 0, result.output
    return path, result.output


def test_output_has_every_section(saved):
    _, out = saved
    for heading in ("Frame foo", "Guard cost per call, by kind", "Recompile history",
                    "What varies between entries: 3 entries differ only in TENSOR_MATCH size[0]",
                    "Entry 0/0 of foo", "Cost by guard kind, pass check",
                    "Guard tree as TORCH_LOGS=guards prints it", "Method"):
        assert heading in out, heading
    assert "torch's own guard tree strings: matches" in out
    assert "TENSOR_MATCH: check_tensor(L['x0']" in out


def test_json_is_versioned_and_load_re_renders(saved):
    path, out = saved
    data = json.loads(path.read_text())
    assert data["report_type"] == "guardprof-guards" and data["schema_version"] == 5
    result = invoke("guards", "--load", str(path))
    assert result.exit_code == 0
    assert result.output == out.replace(f"guards report written to {path}\n", "")


def test_load_with_entry_and_diff(saved):
    path, _ = saved
    result = invoke("guards", "--load", str(path), "--entry", "0/2", "--diff", "0/0", "0/2")
    assert result.exit_code == 0, result.output
    assert "Entry 0/2 of foo" in result.output
    assert "Diff 0/0 vs 0/2: 4 guards differ (TENSOR_MATCH size[0] ×4)" in result.output


def test_unknown_entry(saved):
    path, _ = saved
    line = one_line_error(invoke("guards", "--load", str(path), "--entry", "9/9"), 2)
    assert "no cache entry '9/9'; entries are 0/2, 0/1, 0/0" in line


def test_diff_needs_two_ids(saved):
    path, _ = saved
    line = one_line_error(invoke("guards", "--load", str(path), "--diff", "0/1"), 2)
    assert "--diff" in line


def test_no_compiled_frames():
    result = invoke("guards", "--target", f"{WORKLOADS / 'no_graph.py'}:make", "--quiet")
    assert "compiled no frames" in one_line_error(result, 1)


@pytest.mark.parametrize("content,message", [
    ('{"report_type": "guardprof-guards", "sch', "not valid JSON"),
    ('{"report_type": "guardprof-guards", "schema_version": 99}', "schema_version 99"),
    ('{"report_type": "guardprof-guards", "schema_version": 5, "frames": []}', "not valid"),
    ('{"schema_version": 1, "result_line": "compiled 1.0us"}', "guardprof run --load"),
    ("[1, 2]", "not a guardprof report (expected a guardprof-guards or guardprof-program "
               "report)"),
])
def test_bad_guards_load(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    assert message in one_line_error(invoke("guards", "--load", str(path)), 1)


def test_run_load_rejects_a_guards_report_and_corrupt_files(saved, tmp_path):
    path, _ = saved
    message = one_line_error(invoke("run", "--load", str(path)), 1)
    assert "this is a guardprof-guards report, read by `guardprof guards --load`" in message
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text(path.read_text()[:100])
    assert "not valid JSON" in one_line_error(invoke("run", "--load", str(corrupt)), 1)
