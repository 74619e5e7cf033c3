"""`guardprof run --decompose -- python SCRIPT` and `capture(decompose=True)`: a program's frames
called again on their sampled calls and taken apart in the hot loop (real dynamo, eager backend)."""

from __future__ import annotations

import json

from tests.program.test_program import GRAPH_BREAK, _guardprof, _script

PARTS = ["graph", "dispatch_floor", "accepted_check", "rejected_entries"]


def test_decompose_takes_a_graph_break_program_apart_and_keeps_its_stdout(tmp_path):
    script = _script(tmp_path, "brk.py", GRAPH_BREAK)
    out = tmp_path / "d.json"
    proc = _guardprof("run", "--decompose", "--json", str(out), "--", "python", str(script),
                      cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    # The frames print when called again; that is discarded, not added to the program's output.
    assert proc.stdout == "break\n" * 30
    frames = {f["name"]: f for f in json.loads(out.read_text())["frames"]}
    step = frames["step"]["decomposition"]
    assert step["available"], step["notes"]
    assert [p["name"] for p in step["parts"]] == PARTS
    assert {a["name"] for a in step["agreement"]} >= {"rejected_entries", "accepted_check",
                                                       "compiled_call"}
    assert any(n.startswith("re-ran ") for n in step["notes"])
    # Both frames of each call ran in the loops: the bypass reached the resume frame's entry.
    assert any("2 compiled frames" in n for n in step["notes"])
    (resume,) = [f for name, f in frames.items() if name.startswith("torch_dynamo_resume")]
    assert not resume["decomposition"]["available"]
    assert "a resume function after a graph break" in resume["decomposition"]["notes"][0]
    shown = _guardprof("run", "--load", str(out), cwd=tmp_path)
    # the sum line: every part resolved (a sum), or the resolved ones and "no sum"
    text = shown.stdout + shown.stderr
    assert shown.returncode == 0
    assert "µs/call = graph " in text or "(no sum: a part is unresolved)" in text
    page = tmp_path / "d.html"
    assert _guardprof("report", str(out), "-o", str(page), cwd=tmp_path).returncode == 0
    assert "This frame&#x27;s call taken apart" in page.read_text() or \
        "This frame's call taken apart" in page.read_text()


def test_capture_decompose_on_a_module_whose_entries_sit_on_torch_s_wrapper():
    import torch

    import guardprof

    torch._dynamo.reset()
    model = torch.compile(torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU()),
                          backend="eager")
    with guardprof.capture(decompose=True) as cap:
        for step in range(40):
            model(torch.randn(2 + step % 3, 8))  # automatic dynamic: a static, then a dynamic entry
    (frame,) = cap.result().frames
    d = frame.decomposition
    assert d is not None and d.available, d and d.notes
    assert [p.name for p in d.parts] == PARTS
    # Each copy starts from the frame's automatic-dynamic state, so it compiles the dynamic
    # entry at once: one entry per copy (without it: a static and a dynamic one, and walks).
    assert not any("holds" in n for n in d.notes), d.notes
    assert "Decomposition of the compiled call" in cap.report()


def test_decompose_with_a_load_is_one_line_exit_2(tmp_path):
    """--decompose measures; with --load (a re-render) it has nothing to do: one line."""
    saved = tmp_path / "r.json"
    saved.write_text("{}")
    proc = _guardprof("run", "--decompose", "--load", str(saved), cwd=tmp_path)
    assert proc.returncode == 2
    assert "--decompose measures" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_loop_order_is_the_one_whose_walk_comes_nearest_the_program_s():
    from types import SimpleNamespace

    from guardprof.measure.program_parts import _arranged, _simulated_depth

    def calls(*entries):
        return [SimpleNamespace(invocation=SimpleNamespace(served_by=e)) for e in entries]

    # Repeated in a loop, each call walks the entries used since its own entry was last used.
    assert _simulated_depth(["a", "b", "c"], calls("a", "b", "c")) == 2.0
    assert _simulated_depth(["a", "b", "c"], calls("a", "a", "b", "b")) == 0.5
    assert _simulated_depth(["c", "b", "a"], calls("a")) == 0.0
    sampled = calls("a", "a", "b", "b", "c", "c")  # in sampled order: walks 2/3 per call
    name, order = _arranged(["a", "b", "c"], sampled, 2.0)  # the program walked 2 per call
    assert name.endswith("the entries taken in turn")
    assert [s.invocation.served_by for s in order] == ["a", "b", "c", "a", "b", "c"]
    name, order = _arranged(["a", "b", "c"], calls("a", "b", "a", "b"), 0.0)
    assert name.endswith("each entry's calls together")
    assert _arranged(["a"], sampled, None)[0] == "in sampled order"


def test_a_call_s_arguments_are_rebuilt_from_its_frame_locals():
    from guardprof.measure.program_parts import _arguments

    def f(a, b=2, *rest, k, m=1, **extra):
        return a

    args, kwargs = _arguments(f.__code__, {"a": 1, "b": 5, "rest": (6, 7), "k": 3, "m": 4,
                                           "extra": {"z": 9}})
    assert args == (1, 5, 6, 7) and kwargs == {"k": 3, "m": 4, "z": 9}


def test_a_user_module_called_under_no_grad_is_replayed_and_decomposed_in_its_mode():
    import torch

    import guardprof
    from guardprof.dynamo.dispatcher import _code_state

    class Scaled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(4, 4)

        def forward(self, x, *, scale=1.0):
            return self.lin(x) * scale

    torch._dynamo.reset()
    before = set(_code_state() or {})
    model = torch.compile(Scaled(), backend="eager")
    with guardprof.capture(decompose=True) as cap:
        with torch.no_grad():
            for i in range(40):
                model(torch.ones(2 + i % 2, 4), scale=2.0)
    report = cap.result()
    (frame,) = report.frames
    # Its forward is called through nn.Module.__call__, not straight from torch.compile's
    # wrapper; the guards check grad mode: replayed with grad on, no entry accepted a sample.
    assert frame.name == "forward" and frame.guard_us_per_call
    assert not any("replayed to a different entry" in n for n in report.notes), report.notes
    d = frame.decomposition
    assert d.available, d.notes
    assert any("grad mode off as sampled" in n for n in d.notes), d.notes
    # The copies' automatic-dynamic state does not outlive the decomposition.
    assert all(k.firstlineno < 100_000 for k in set(_code_state() or {}) - before)


def test_each_of_several_compiled_functions_is_decomposed_on_its_own_calls():
    import torch

    import guardprof

    def f(x):
        return x + 1

    def g(x):
        return x * 2

    torch._dynamo.reset()
    cf, cg = (torch.compile(fn, backend="eager", dynamic=False) for fn in (f, g))
    with guardprof.capture(decompose=True) as cap:
        for i in range(60):
            cf(torch.ones(2 + i % 2))
            cg(torch.ones(2 + i % 2))
    frames = {fr.name: fr for fr in cap.result().frames}
    # The other function's frame is not a frame of this one's call (it was read as one: KeyError)
    for name in ("f", "g"):
        d = frames[name].decomposition
        assert d.available, d.notes
        assert not any("compiled frames" in n for n in d.notes), d.notes
