"""guardprof report: one self-contained HTML page, loaded in a real headless Chromium."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from guardprof.cli.main import main
from guardprof.model.run_report import save_report

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Debian's chromium is not installed at /usr/bin/chromium "
           "(apt-get install -y chromium); the browser test cannot run here",
)

# A flame graph whose script would throw if it ever ran inside the page.
FLAME_SVG = """<?xml version="1.0" standalone="no"?>
<svg version="1.1" width="600" height="60" viewBox="0 0 600 60"
     xmlns="http://www.w3.org/2000/svg" onload="init(evt)">
<script type="text/ecmascript"><![CDATA[ function init(evt) { throw new Error("ran"); } ]]>
</script>
<rect x="0" y="0" width="600" height="20" fill="rgb(230,80,40)"/>
<text x="4" y="14">all</text>
<rect x="0" y="22" width="420" height="20" fill="rgb(240,160,60)"/>
<text x="4" y="36">[dynamo guards] foo</text>
</svg>
"""


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, standard_small_report):
    folder = tmp_path_factory.mktemp("report")
    result = save_report(standard_small_report, folder / "result.json")
    flame = folder / "flame.svg"
    flame.write_text(FLAME_SVG)
    sweep = folder / "sweep"
    run = CliRunner().invoke(main, ["sweep", "--quiet", "--grid-num-args", "2,8",
                                    "--grid-sizes-count", "1,2", "--repeat", "3", "--number",
                                    "10", "-o", str(sweep)])
    assert run.exit_code == 0, run.output
    return {"folder": folder, "result": result, "flame": flame, "sweep": sweep}


def _report(*args) -> object:
    return CliRunner().invoke(main, ["report", *map(str, args)])


@pytest.fixture(scope="module")
def page(inputs) -> Path:
    out = inputs["folder"] / "report.html"
    result = _report(inputs["result"], "--flame", inputs["flame"], "--sweep", inputs["sweep"],
                     "-o", out)
    assert result.exit_code == 0, result.output
    assert "with flame graph and sweep" in result.output
    return out


def _chromium(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
         *extra, page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120,
    )


def load_in_chromium(page: Path, tmp_path: Path) -> tuple[str, list[str]]:
    """The DOM after load, and every console message (script errors, blocked fetches)."""
    done = _chromium(page, tmp_path / "profile", "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return done.stdout, console


def test_page_is_self_contained(page):
    text = page.read_text()
    assert 'http-equiv="Content-Security-Policy"' in text and "default-src 'none'" in text
    for url in re.findall(r'\s(?:src|href)="([^"]*)"', text):
        assert url.startswith(("data:", "#")), url
    assert "<link" not in text and "@import" not in text
    assert 'id="entries"' in text


@needs_chromium
def test_page_loads_without_errors_and_shows_the_entries(page, standard_small_report, tmp_path):
    dom, console = load_in_chromium(page, tmp_path)
    assert console == []
    html_tag = re.search(r"<html[^>]*>", dom).group(0)
    assert 'data-rendered="ok"' in html_tag and "data-errors" not in html_tag
    table = re.search(r'<table[^>]*id="entries".*?</table>', dom, re.S)
    assert table, "entries table missing from the rendered page"
    rows = re.findall(r"<tr>", table.group(0))
    assert len(rows) - 1 == standard_small_report.entry_count  # header + one row per entry
    for entry in standard_small_report.frames[0].entries:
        assert f"<td>{entry.compile_id}</td>" in table.group(0)
    assert standard_small_report.result_line in dom
    assert "How guard cost scales (sweep)" in dom and "data:image/png;base64," in dom
    assert "Flame graph" in dom and "data:image/svg+xml;base64," in dom

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    done = _chromium(page, tmp_path / "profile-shot", "--hide-scrollbars",
                     "--window-size=1280,2400", f"--screenshot={shot}")
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.read_bytes().startswith(b"\x89PNG")


@needs_chromium
def test_the_browser_check_does_catch_errors(tmp_path, page):
    """The checks above would see a broken page: a script error and a blocked network fetch."""
    broken = tmp_path / "broken.html"
    broken.write_text(page.read_text().replace(
        "</main>", '</main><img src="http://example.invalid/x.png"><script>nope();</script>'
    ))
    dom, console = load_in_chromium(broken, tmp_path)
    assert any("Content Security Policy" in line for line in console)
    assert any("nope is not defined" in line for line in console)
    assert 'data-errors="Uncaught ReferenceError: nope is not defined"' in dom


def test_report_without_extras(inputs, tmp_path):
    out = tmp_path / "plain.html"
    result = _report(inputs["result"], "-o", out)
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert 'id="entries"' in text and "Flame graph" not in text and "(sweep)" not in text


def test_sweep_png_alone(inputs, tmp_path):
    out = tmp_path / "png.html"
    result = _report(inputs["result"], "--sweep", inputs["sweep"] / "sweep.png", "-o", out)
    assert result.exit_code == 0, result.output
    assert "data:image/png;base64," in out.read_text()


def test_bad_inputs_are_one_line_errors_and_write_nothing(inputs, tmp_path):
    out = tmp_path / "out.html"
    not_svg = tmp_path / "flame.svg"
    not_svg.write_text("just text")
    not_png = tmp_path / "plot.png"
    not_png.write_text("not a png")
    truncated = tmp_path / "truncated.json"
    truncated.write_text(inputs["result"].read_text()[:200])
    not_a_sweep = tmp_path / "empty_dir"
    not_a_sweep.mkdir()
    cases = [
        ([inputs["result"], "--flame", not_svg], 1, "not an SVG"),
        ([inputs["result"], "--sweep", not_png], 1, "not a PNG"),
        ([inputs["result"], "--sweep", not_a_sweep], 1, "cannot read sweep"),
        ([truncated], 1, "not valid JSON"),
        ([tmp_path / "missing.json"], 2, "does not exist"),
    ]
    for args, code, message in cases:
        result = _report(*args, "-o", out)
        assert result.exit_code == code, (args, result.output)
        errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1 and message in errors[0], result.output
        assert not out.exists()
    result = _report(inputs["result"], "-o", tmp_path / "no" / "such" / "folder.html")
    assert result.exit_code == 1 and "does not exist" in result.output

