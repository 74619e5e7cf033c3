"""`guardprof view`: a real snakeviz server on 127.0.0.1 serving the derived profile."""

from __future__ import annotations

import ast
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from click.testing import CliRunner

from guardprof.cli.main import main
from guardprof.cli.profile import free_port
from tests.profilers.test_cprofile import SMALL_ARGS


@pytest.fixture(scope="module")
def derived_profile(tmp_path_factory):
    folder = tmp_path_factory.mktemp("view")
    path = folder / "guards.prof"
    result = CliRunner().invoke(main, ["profile", *SMALL_ARGS, "--iterations", "10",
                                       "-o", str(path)])
    assert result.exit_code == 0, result.output
    return path


def _get(url: str, deadline: float) -> tuple[int, str]:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, response.read().decode("utf-8")
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_snakeviz_serves_the_profile_and_its_stats(derived_profile):
    port = free_port("127.0.0.1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "guardprof", "view", str(derived_profile), "--port", str(port),
         "--no-browser"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        url = (f"http://127.0.0.1:{port}/snakeviz/"
               f"{urllib.parse.quote(str(derived_profile.resolve()), safe='')}")
        status, page = _get(url, time.monotonic() + 30)
        assert status == 200
        # the page carries the stats snakeviz draws: the guard entry under compile_wrapper
        # (snakeviz writes it as a Python dict literal)
        data = ast.literal_eval(re.search(r"var profile_data = (\{.*?\});\n", page, re.S).group(1))
        (guard,) = [k for k in data if "[dynamo guards] foo (4 entries)" in k]
        assert data[guard]["stats"][2] > 0
        (caller,) = data[guard]["callers"]
        assert caller.endswith("(compile_wrapper)")
        assert guard in data[caller]["children"]
        static = re.search(r'src="(/static/[^"]+\.js)[^"]*"', page).group(1)
        assert _get(f"http://127.0.0.1:{port}{static}", time.monotonic() + 10)[0] == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, output
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass  # stopped: snakeviz went with it


def test_not_a_profile_is_a_one_line_error(tmp_path):
    bogus = tmp_path / "notes.prof"
    bogus.write_text("this is not a profile\n")
    result = CliRunner().invoke(main, ["view", str(bogus), "--no-browser"])
    assert result.exit_code == 1
    assert "is not a Python profile" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_missing_file_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(main, ["view", str(tmp_path / "nope.prof")])
    assert result.exit_code == 2
    assert "does not exist" in result.output
