"""`guardprof run -- python SCRIPT` and `guardprof.capture()` on real programs (real dynamo)."""

from __future__ import annotations

import json
import pstats
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.render.test_report_html import load_in_chromium, needs_chromium

TRAIN = """
import sys
import torch
model = torch.nn.Sequential(*[torch.nn.Linear(16, 16) for _ in range(8)])
cmodel = torch.compile(model, backend="eager")
opt = torch.optim.SGD(model.parameters(), lr=0.01)
for step in range(40):
    x = torch.randn(4 + step % 5, 16)  # the batch size varies: automatic dynamic recompiles
    loss = cmodel(x).sum()
    opt.zero_grad()
    loss.backward()
    opt.step()
print("trained", sys.argv[1:])
"""

GRAPH_BREAK = """
import torch

@torch.compile(backend="eager")
def step(x, n):
    y = x * n
    print("break")  # a graph break: a resume frame with its own entries
    return y + 1

for i in range(30):
    step(torch.ones(3), i % 3)
"""


def _script(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def _guardprof(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "guardprof", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The training loop run once under `guardprof run --json`: (process, report path, cwd)."""
    cwd = tmp_path_factory.mktemp("train")
    script = _script(cwd, "train.py", TRAIN)
    out = cwd / "guards.json"
    proc = _guardprof("run", "--json", str(out), "--", "python", str(script), "--epochs", "1",
                      cwd=cwd)
    return proc, out, cwd


def test_a_training_loop_is_reported_with_its_recompiles_and_sampled_calls(trained):
    proc, out, tmp_path = trained
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "trained ['--epochs', '1']\n"  # the program's stdout, untouched
    data = json.loads(out.read_text())
    assert data["report_type"] == "guardprof-program"
    (frame,) = data["frames"]
    assert frame["name"] == "Sequential.forward"
    # Batch sizes 4, then 5: one static entry, one dynamic; the hook must not add recompiles.
    assert [e["compile_id"] for e in frame["entries"]] == ["0/1", "0/0"]
    assert "size mismatch" in frame["entries"][0]["reasons"][0]
    assert data["lookups"] == 39  # the first call found no cache: it compiled, no lookup
    assert frame["sampled_calls"] >= 10 and frame["guard_us_per_call"] > 0
    assert sum(frame["walk_depths"].values()) >= 10
    assert "Sequential.forward" in proc.stderr and "calls (est.)" in proc.stderr
    # The frame is torch's code; the line that called the module is the program's own.
    line = TRAIN.splitlines().index("    loss = cmodel(x).sum()") + 1
    assert list(frame["call_sites"]) == [f"train.py:{line} (<module>)"]
    assert f"called from (sampled calls): train.py:{line} (<module>) ×" in proc.stderr
    shown = _guardprof("run", "--load", str(out), cwd=tmp_path)
    assert shown.returncode == 0 and "Sequential.forward" in shown.stdout


def test_guards_load_prints_a_program_s_trees_and_diffs_its_entries(trained, tmp_path):
    """`guards --load` on a program's report: its kept trees (uncosted), the default entry (the
    first compiled), a diff showing what automatic dynamic changed; flags that would run or
    rewrite refused in one line."""
    _, out, cwd = trained
    shown = _guardprof("guards", "--load", str(out), "--depth", "2", cwd=cwd)
    assert shown.returncode == 0, shown.stderr
    assert "Frame Sequential.forward (torch/nn/modules/container.py:" in shown.stdout
    assert "torch's own guard tree strings: matches" in shown.stdout
    assert "Entry 0/0 of Sequential.forward" in shown.stdout
    assert "(guards not costed)" in shown.stdout
    assert "TENSOR_MATCH: check_tensor(L['args'][0]" in shown.stdout
    assert "0/1    dynamo: 0/0: tensor 'args[0]' size mismatch" in shown.stdout
    diff = _guardprof("guards", "--load", str(out), "--diff", "0/0", "0/1", cwd=cwd)
    assert diff.returncode == 0, diff.stderr
    assert "size[0]=4" in diff.stdout and "size[0]=None" in diff.stdout
    refused = _guardprof("guards", "--load", str(out), "--json", str(tmp_path / "x.json"),
                         cwd=cwd)
    assert refused.returncode == 2
    assert "--json cannot be used with a program's report" in refused.stderr
    assert not (tmp_path / "x.json").exists()
    missing = _guardprof("guards", "--load", str(out), "--entry", "3/0", cwd=cwd)
    assert missing.returncode == 2 and "no cache entry '3/0'; entries are 0/1, 0/0" in \
        missing.stderr


def test_report_writes_a_program_s_html_page(trained, tmp_path):
    _, out, cwd = trained
    page = tmp_path / "train.html"
    made = _guardprof("report", str(out), "-o", str(page), cwd=cwd)
    assert made.returncode == 0, made.stderr
    text = page.read_text()
    assert "Frames ranked by estimated guard time" in text
    assert "Sequential.forward" in text and "size mismatch at index 0" in text
    assert "src=\"http" not in text and "href=\"http" not in text  # self-contained
    refused = _guardprof("report", str(out), "--sweep", str(out), "-o", str(tmp_path / "s.html"),
                         cwd=cwd)
    assert refused.returncode == 2 and "--sweep cannot be used" in refused.stderr


@needs_chromium
def test_a_program_s_page_loads_in_a_browser_without_errors(trained, tmp_path):
    _, out, cwd = trained
    page = tmp_path / "train.html"
    assert _guardprof("report", str(out), "-o", str(page), cwd=cwd).returncode == 0
    dom, console = load_in_chromium(page, tmp_path)
    assert console == []
    html_tag = re.search(r"<html[^>]*>", dom).group(0)
    assert 'data-rendered="ok"' in html_tag and "data-errors" not in html_tag


def test_a_graph_break_and_an_int_argument_give_two_frames(tmp_path):
    script = _script(tmp_path, "brk.py", GRAPH_BREAK)
    out = tmp_path / "g.json"
    proc = _guardprof("run", "--json", str(out), "--", "python", str(script), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    frames = sorted(data["frames"], key=lambda f: f["name"])
    assert frames[0]["name"] == "step"
    assert frames[1]["name"].startswith("torch_dynamo_resume_in_step")
    # The two frames alternate call by call; samples must see both (not one parity only).
    assert all(f["sampled_calls"] > 0 and f["estimated_calls"] for f in frames)
    assert data["lookups"] == 58  # 30 calls of step, 30 of its resume frame, less two firsts
    line = GRAPH_BREAK.splitlines().index("    step(torch.ones(3), i % 3)") + 1
    assert list(frames[0]["call_sites"]) == [f"brk.py:{line} (<module>)"]


def test_the_program_s_exit_status_is_kept_and_the_report_still_written(tmp_path):
    script = _script(tmp_path, "ends.py", GRAPH_BREAK + "\nimport sys\nsys.exit(3)\n")
    out = tmp_path / "e.json"
    proc = _guardprof("run", "--json", str(out), "--", "python", str(script), cwd=tmp_path)
    assert proc.returncode == 3
    assert json.loads(out.read_text())["exit_status"] == 3


def test_an_uncaught_exception_prints_python_s_traceback_and_exits_1(tmp_path):
    script = _script(tmp_path, "boom.py", "raise ValueError('boom')\n")
    proc = _guardprof("run", "--", "python", str(script), cwd=tmp_path)
    assert proc.returncode == 1
    assert "ValueError: boom" in proc.stderr and "nothing was compiled" in proc.stderr
    assert "runpy" not in proc.stderr and "guardprof/workload" not in proc.stderr


@pytest.mark.parametrize("command, message", [
    (["python", "missing.py"], "missing.py: no such file"),
    (["python", "-m", "no_such_module_here"], "no module named 'no_such_module_here'"),
    (["ls"], "is not Python"),
])
def test_bad_programs_are_one_line_exit_2(tmp_path, command, message):
    proc = _guardprof("run", "--", *command, cwd=tmp_path)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_a_syntax_error_shows_python_s_message_then_one_line(tmp_path):
    script = _script(tmp_path, "bad.py", "def f(:\n")
    proc = _guardprof("run", "--", "python", str(script), cwd=tmp_path)
    assert proc.returncode == 1
    assert "SyntaxError" in proc.stderr and "has a syntax error; nothing was run" in proc.stderr


def test_python_m_module_runs_with_its_argv(tmp_path):
    (tmp_path / "mytrain.py").write_text("import sys\nprint(sys.argv)\n")
    proc = _guardprof("run", "--", "python", "-m", "mytrain", "x", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert eval(proc.stdout) == [str(tmp_path / "mytrain.py"), "x"]  # as python -m sets it
    # The console script (sys.path[0]: its bin folder) finds a module in the cwd too.
    script = Path(sys.executable).with_name("guardprof")
    if script.exists():
        proc = subprocess.run([str(script), "run", "--", "python", "-m", "mytrain", "y"],
                              cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr


def test_workload_options_are_refused_with_a_program(tmp_path):
    script = _script(tmp_path, "p.py", "print(1)\n")
    proc = _guardprof("run", "--backend", "eager", "--", "python", str(script), cwd=tmp_path)
    assert proc.returncode == 2 and "--backend cannot be used with a program" in proc.stderr


def test_a_compiled_call_in_a_worker_thread_is_seen_before_the_report(tmp_path):
    script = _script(tmp_path, "thr.py", """
        import threading, torch
        f = torch.compile(lambda x: x * 2, backend="eager")
        def work():
            for _ in range(50):
                f(torch.ones(3))
        threading.Thread(target=work).start()  # not joined: Python waits for it at exit
    """)
    out = tmp_path / "t.json"
    proc = _guardprof("run", "--json", str(out), "--", "python", str(script), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text())["lookups"] == 49


def test_the_context_manager_reports_and_saves(tmp_path):
    import torch

    import guardprof

    def f(x, n):
        return x * n

    cf = torch.compile(f, backend="eager")
    torch._dynamo.reset()
    with guardprof.capture() as cap:
        for i in range(20):
            cf(torch.ones(3), i % 2)
    text = cap.report()
    assert "f (" in text and "cache lookups of compiled frames: 19 " in text
    saved = json.loads(cap.save(tmp_path / "c.json").read_text())
    (frame,) = [fr for fr in saved["frames"] if fr["name"] == "f"]
    # A sample spans two lookups (cache order snapshotted at one, the next captured), then 0–2
    # lookups pass: at least 19 // 4 of the 19 lookups are sampled.
    assert len(frame["entries"]) == 2 and frame["sampled_calls"] >= 19 // 4


def test_sigterm_keeps_the_report_and_exits_143(tmp_path):
    import signal
    import time

    script = _script(tmp_path, "slow.py", """
        import time, torch
        f = torch.compile(lambda x: x + 1, backend="eager")
        for _ in range(5):
            f(torch.ones(2))
        print("ready", flush=True)
        time.sleep(120)
    """)
    out = tmp_path / "s.json"
    proc = subprocess.Popen([sys.executable, "-m", "guardprof", "run", "--json", str(out), "--",
                             "python", str(script)], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "ready\n"
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert json.loads(out.read_text())["exit_status"] == 143


SIGNAL_IN_HOOK = """
import signal, sys
import torch
from guardprof.dynamo.lookup_hook import LookupHook

def landed_here():  # the signal's exception, as if it arrived while the hook ran
    raise {exc}

def on_sigterm(signum, frame):
    raise SystemExit(143)

signal.signal(signal.SIGTERM, on_sigterm)
f = torch.compile(lambda x: x + 1, backend="eager")
x = torch.ones(3)
f(x)
hook = LookupHook(landed_here, lambda: None, lambda frame, taken, span: None)
hook.install()
import cProfile
profiler = cProfile.Profile()
if {profiled}:
    profiler.enable()  # holds the profile slot before Python 3.12: the trace slot is used
try:
    for i in range(5):
        f(x)
    print("never interrupted")
except KeyboardInterrupt:
    print(f"KeyboardInterrupt in the program after {{hook.lookups}} lookup(s)")
finally:
    profiler.disable()
    hook.remove()
print("slots:", hook.slots_used)
code = f._torchdynamo_orig_callable.__code__
entries = torch._dynamo.eval_frame._debug_get_cache_entry_list(code)
print("still compiled:", f(x).tolist(), len(entries), "entry")
"""


@pytest.mark.parametrize(("exc", "status", "says", "profiled"), [
    ("KeyboardInterrupt", 0, "KeyboardInterrupt in the program after 1 lookup(s)", False),
    ("KeyboardInterrupt", 0, "KeyboardInterrupt in the program after 1 lookup(s)", True),
    ("SystemExit(143)", 143, "", False),
])
def test_a_signal_landing_inside_the_lookup_hook_reaches_the_program(tmp_path, exc, status,
                                                                     says, profiled):
    """Dynamo calls the hook from C++, which aborts on an exception (re-raising the signal
    inside the hook did: exit 134). Ctrl-C must reach the program as KeyboardInterrupt after the
    hook returns, with the cache untouched, also under cProfile (through the trace slot before
    Python 3.12); SIGTERM's handler (SystemExit) must end it, 143."""
    script = _script(tmp_path, "hooked.py", SIGNAL_IN_HOOK.format(exc=exc, profiled=profiled))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == status, proc.stderr[-2000:]
    if status == 0:
        assert says in proc.stdout and "never interrupted" not in proc.stdout
        assert "still compiled: [2.0, 2.0, 2.0] 1 entry" in proc.stdout
        via_trace = profiled and sys.version_info < (3, 12)
        slots = "{'profile': 0, 'trace': 1}" if via_trace else "{'profile': 1, 'trace': 0}"
        assert f"slots: {slots}" in proc.stdout


def test_two_program_reports_compare_frame_by_frame_without_a_gate(tmp_path):
    """`compare` on two program reports: each frame's guard µs/call side by side and their
    ratio; --fail-above is refused (samples of a program are not repetitions), and a program
    report against a run report is one line."""
    script = _script(tmp_path, "brk.py", GRAPH_BREAK)
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    for out in (a, b):
        proc = _guardprof("run", "--json", str(out), "-q", "--", "python", str(script),
                          cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
    shown = _guardprof("compare", str(a), str(b), cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("Program reports compared")
    frames = {f["name"]: f for f in json.loads(a.read_text())["frames"]}
    step = next(line for line in shown.stdout.splitlines() if line.lstrip().startswith("step "))
    shown_us = (frames["step"]["in_situ"] or {}).get("us_per_call")  # in situ where it has one
    assert f"{shown_us if shown_us is not None else frames['step']['guard_us_per_call']:.2f}" \
        in step  # A's figure, in its row
    assert "brk.py:" in step  # called from
    gated = _guardprof("compare", str(a), str(b), "--fail-above", "10", cwd=tmp_path)
    assert gated.returncode == 2 and "no interval to gate on" in gated.stderr
    other = tmp_path / "run.json"
    other.write_text(json.dumps({"report_type": "guardprof-run", "schema_version": 5}))
    mixed = _guardprof("compare", str(a), str(other), cwd=tmp_path)
    assert mixed.returncode == 1 and "compare two of a kind" in mixed.stderr
    assert "Traceback" not in mixed.stderr


def test_profile_runs_a_program_under_cprofile_and_derives_its_guard_entry(tmp_path):
    """`guardprof profile -- python SCRIPT`: cProfile of the whole program, the sampler working
    beside it (through the trace slot before Python 3.12, where cProfile holds the profile
    slot), the guard entry in the derived file, the program's stdout and exit status kept."""
    script = _script(tmp_path, "train.py", TRAIN + "sys.exit(3)\n")
    prof, report = tmp_path / "train.prof", tmp_path / "train.json"
    proc = _guardprof("profile", "-o", str(prof), "--json", str(report), "--", "python",
                      str(script), "x", cwd=tmp_path)
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout == "trained ['x']\n"
    data = json.loads(report.read_text())
    (frame,) = data["frames"]
    assert data["samples"] >= 10 and frame["guard_us_per_call"] > 0  # sampled beside cProfile
    assert ("through the trace slot" in proc.stderr) == (sys.version_info < (3, 12))
    derived = pstats.Stats(str(prof)).stats
    raw = pstats.Stats(str(tmp_path / "train.raw.prof")).stats
    (key,) = [k for k in derived if k[2].startswith("[dynamo guards] Sequential.forward")]
    assert key[2] == "[dynamo guards] Sequential.forward (2 entries)"
    cc, nc, tt, ct, callers = derived[key]
    # its time is what the report says it is: replayed µs/call × the calls cProfile counted
    # the frame's in-situ guard figure × the calls cProfile counted
    assert tt == pytest.approx(frame["in_situ"]["us_per_call"] * 1e-6 * nc, rel=1e-6)
    # the calls cProfile counted: all 40 on Python 3.11 (the compiling first call too); 38 on
    # 3.12, whose cProfile runs on sys.monitoring (which two it missed: not investigated)
    assert data["lookups"] - 2 <= nc <= data["lookups"] + 1
    assert sum(v[2] for v in derived.values()) == pytest.approx(sum(v[2] for v in raw.values()))
    assert "[dynamo guards] Sequential.forward (2 entries)" in proc.stderr
    shown = _guardprof("guards", "--load", str(report), cwd=tmp_path)
    assert shown.returncode == 0 and "Entry 0/0 of Sequential.forward" in shown.stdout


def test_profile_of_a_program_refuses_workload_options(tmp_path):
    script = _script(tmp_path, "ok.py", "print('ran')\n")
    proc = _guardprof("profile", "--iterations", "5", "--", "python", str(script), cwd=tmp_path)
    assert proc.returncode == 2 and "a program is profiled from start to end" in proc.stderr
    proc = _guardprof("profile", "--backend", "eager", "--", "python", str(script), cwd=tmp_path)
    assert proc.returncode == 2 and "--backend describes a guardprof workload" in proc.stderr
    assert proc.stdout == ""  # nothing ran


TWO_MODULES = """
import torch
a = torch.compile(torch.nn.Linear(4, 4), backend="eager")
b = torch.compile(torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU()), backend="eager")
x = torch.randn(2, 4)
for i in range(40):
    a(x)
    b(x)
"""


def test_two_modules_on_one_torch_wrapper_are_one_cache_list_with_each_callable_listed(tmp_path):
    """Two compiled modules' entries sit on one torch wrapper code (`inner`), in one cache list
    that every call of either walks: one frame named after both, each module's sampled calls,
    the entry that accepted them and their walk depths listed under it."""
    script = _script(tmp_path, "two.py", TWO_MODULES)
    out = tmp_path / "two.json"
    proc = _guardprof("run", "--json", str(out), "--", "python", str(script), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (frame,) = json.loads(out.read_text())["frames"]
    assert frame["name"] == "Linear.forward + Sequential.forward"
    assert frame["merged_callables"] == 2
    by_name = {c["name"]: c for c in frame["callables"]}
    assert set(by_name) == {"Linear.forward", "Sequential.forward"}
    # Linear compiled first (0/0); Sequential's call failed 0/0's guard on fn's type (0/1)
    assert set(by_name["Linear.forward"]["served_by"]) == {"0/0"}
    assert set(by_name["Sequential.forward"]["served_by"]) == {"0/1"}
    # the calls alternate, and the accepted entry moves to the front: each call finds the
    # other module's entry in front, depth 1 (a snapshot taken at a cache miss, before dynamo
    # inserted the new entry, replayed depth 0 here until `after_miss` repaired it)
    for callable_ in by_name.values():
        assert set(callable_["walk_depths"]) == {"1"}, callable_
        assert callable_["rejected_us_per_call"] > 0
    assert sum(c["sampled_calls"] for c in frame["callables"]) == frame["sampled_calls"]
    assert "2 callables share its cache list" in proc.stderr


HIT_AND_MISS = """
import time
import torch
torch._dynamo.config.recompile_limit = 1
torch._dynamo.config.automatic_dynamic_shapes = False

@torch.compile(backend="eager")
def f(x):
    return x + 1

@torch.compile(backend="eager")
def g(x, n):
    return x * n

x = torch.ones(3)
t0 = time.perf_counter()
i = 0
while time.perf_counter() - t0 < 2.0:
    f(x)
    g(x, i)  # a new int each call, specialized, past the recompile limit: a miss every call
    i += 1
"""


def test_a_frame_that_always_misses_is_sampled_as_often_as_one_that_hits(tmp_path):
    """f and g alternate, so each is half the lookups. A sample is picked at one lookup and
    catches the next one's frame: when samples were not picked at misses, every pick was at
    f's hit and caught g, and f got 2 samples of 21 (measured). Each frame must now
    hold 25–75 % of the samples (about 30 here; both outside that window by chance: < 1 %)."""
    script = _script(tmp_path, "hit_miss.py", HIT_AND_MISS)
    out = tmp_path / "hm.json"
    proc = _guardprof("run", "--json", str(out), "--", "python", str(script), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    by_name = {f["name"]: f for f in data["frames"]}
    assert set(by_name) == {"f", "g"}
    assert by_name["g"]["sampled_fell_back"] == by_name["g"]["sampled_calls"]  # all misses
    for frame in by_name.values():
        share = frame["sampled_calls"] / data["samples"]
        assert 0.25 <= share <= 0.75, (frame["name"], frame["sampled_calls"], data["samples"])
