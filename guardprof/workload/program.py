"""Run a user's program in this process, as `python SCRIPT ARGS…` or `python -m MODULE ARGS…`
would: `sys.argv`, `sys.path[0]` and `__main__` set as Python sets them, stdout and stderr left
alone, and its exit status returned (not raised), so the caller can write its report after a
non-zero exit, an uncaught exception (printed as Python prints it), Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import os
import runpy
import signal
import sys
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path

from guardprof.errors import GuardprofError

PYTHON_NAMES = ("python", "python3")


@dataclass(frozen=True)
class Program:
    argv: list[str]  # as the program sees sys.argv
    script: Path | None = None
    module: str | None = None

    @property
    def command(self) -> list[str]:
        head = ["python", "-m", self.module] if self.module else ["python"]
        return head + (self.argv[1:] if self.module else self.argv)


def parse(command: tuple[str, ...] | list[str]) -> Program:
    """`python SCRIPT ARGS…` or `python -m MODULE ARGS…` (python: any name starting so)."""
    words = list(command)
    if not words:
        raise GuardprofError("give the program after --: guardprof run -- python train.py")
    first = Path(words[0]).name
    if first.startswith(PYTHON_NAMES) or first == Path(sys.executable).name:
        words = words[1:]
    elif words[0].endswith(".py"):
        pass  # `guardprof run -- train.py` reads as python train.py
    else:
        raise GuardprofError(f"{words[0]!r} is not Python: guardprof runs Python programs "
                             "in-process (guardprof run -- python train.py)")
    if not words:
        raise GuardprofError("no script after python: guardprof run -- python train.py")
    if words[0] == "-m":
        if len(words) < 2:
            raise GuardprofError("-m needs a module: guardprof run -- python -m mypkg.train")
        import importlib.util

        sys.path.insert(0, os.getcwd())  # where `python -m` looks first
        try:
            found = importlib.util.find_spec(words[1])
        except (ImportError, ValueError):
            found = None
        finally:
            sys.path.pop(0)
        if found is None:
            raise GuardprofError(f"no module named {words[1]!r}")
        return Program(argv=[words[1], *words[2:]], module=words[1])
    if words[0].startswith("-"):
        raise GuardprofError(f"python option {words[0]!r} is not supported here: "
                             "run `python SCRIPT` or `python -m MODULE`")
    script = Path(words[0])
    if not script.is_file():
        raise GuardprofError(f"{script}: no such file")
    return Program(argv=words, script=script)


def check_syntax(program: Program) -> str | None:
    """Python's own message for a script that does not compile (None: it compiles)."""
    if program.script is None:
        return None
    try:
        compile(program.script.read_bytes(), str(program.script), "exec")
    except SyntaxError:
        return "".join(traceback.format_exception_only(*sys.exc_info()[:2])).rstrip()
    return None


def _on_sigterm(signum, _frame) -> None:
    raise SystemExit(128 + signum)


def run(program: Program) -> int:
    """Run it; its exit status (1 for an uncaught exception, 130 for Ctrl-C, 143 for SIGTERM)."""
    saved_argv, saved_path = sys.argv[:], sys.path[:]
    previous_term = signal.signal(signal.SIGTERM, _on_sigterm)
    sys.argv = list(program.argv)
    try:
        if program.module is not None:
            sys.path[0:1] = [os.getcwd()]
            runpy.run_module(program.module, run_name="__main__", alter_sys=True)
        else:
            sys.path[0:1] = [str(program.script.resolve().parent)]
            runpy.run_path(str(program.script), run_name="__main__")
        _join_threads()  # as Python does before it exits: the program is not over till then
        return 0
    except SystemExit as exc:
        return _exit_status(exc.code)
    except KeyboardInterrupt as exc:
        _print_exception(exc)
        return 130
    except BaseException as exc:  # the program's own error: printed as Python prints it
        _print_exception(exc)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        sys.argv = saved_argv
        sys.path[:] = saved_path
        sys.stdout.flush()


def _join_threads() -> None:
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()


def _print_exception(exc: BaseException) -> None:
    """Through `sys.excepthook` (the program's own, if it set one), without the frames of
    guardprof and runpy above the program's first."""
    ours = {os.path.abspath(__file__), runpy.__file__, "<frozen runpy>"}
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename in ours:
        tb = tb.tb_next
    sys.excepthook(type(exc), exc.with_traceback(tb), tb)


def _exit_status(code) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)  # sys.exit("message"): Python prints it and exits 1
    return 1
