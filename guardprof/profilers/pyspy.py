"""py-spy flame graphs of the hot loop, and the guard share the samples show.

Three ways in: our own workload (a worker process warms up and times the loop unsampled, and
py-spy attaches to it by `--pid` only then, so compilation is never sampled), a running process
(`--pid`), or a program launched under py-spy (`-- python train.py …`). Either way the output
file py-spy wrote is read back (`sampled_stacks`) for the share of samples in dynamo's cache
lookup and the guard kinds below it.
"""

from __future__ import annotations

import collections
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from guardprof.errors import GuardprofError, WorkloadUsageError
from guardprof.fileio import atomic_path, check_writable
from guardprof.model.profiles import FlameResult, RecordOptions
from guardprof.model.run_report import from_dict
from guardprof.model.stats import SampleStats
from guardprof.profilers.pyspy_worker import LOOP_FRAME, spec_to_json
from guardprof.profilers.sampled_stacks import FORMATS, analyse, load_stacks
from guardprof.progress import SILENT, Progress
from guardprof.workload.spec import WorkloadSpec

PTRACE_FIX = (
    "run as root, start the container with --cap-add SYS_PTRACE, or allow tracing with "
    "`sysctl kernel.yama.ptrace_scope=0` (or 1 for child processes); "
    "`guardprof profile` without --flame needs none of this"
)
INSTALL_FIX = (
    "install it with `pip install py-spy` or pass --py-spy PATH; "
    "`guardprof profile` without --flame needs no py-spy"
)
# How long py-spy may take to attach, and to write its file once stopped.
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 120.0
SAMPLING_METHOD = "sampled: py-spy record"


@dataclass(frozen=True)
class PySpy:
    executable: str
    version: str
    native_supported: bool  # this build of py-spy has --native (Linux x86_64, Windows, …)


# --- finding py-spy -------------------------------------------------------------------------


def find_pyspy(explicit: str | None = None) -> PySpy:
    """py-spy from --py-spy, PATH, or beside this Python (a venv not on PATH)."""
    if explicit:
        path = shutil.which(explicit) or (explicit if Path(explicit).is_file() else None)
        if path is None:
            raise GuardprofError(f"py-spy not found at {explicit}: {INSTALL_FIX}")
    else:
        beside = Path(sys.executable).parent / "py-spy"
        path = shutil.which("py-spy") or (str(beside) if beside.is_file() else None)
        if path is None:
            raise GuardprofError(f"py-spy not found on PATH: {INSTALL_FIX}")
    try:
        version = subprocess.run([path, "--version"], capture_output=True, text=True,
                                 timeout=30).stdout.strip()
        help_text = subprocess.run([path, "record", "--help"], capture_output=True, text=True,
                                   timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise GuardprofError(f"cannot run py-spy at {path}: {exc}") from exc
    if not version.startswith("py-spy"):
        raise GuardprofError(f"{path} is not py-spy (`--version` said {version[:60]!r})")
    return PySpy(path, version.split()[-1], "--native" in help_text)


# --- one py-spy process ---------------------------------------------------------------------


class Recording:
    """A running `py-spy record`; its output read on a thread (echoed when it is a program's)."""

    def __init__(self, args: list[str], echo: bool) -> None:
        self.args = args
        self.lines: collections.deque[str] = collections.deque(maxlen=400)
        self.started = threading.Event()  # set once sampling starts, or py-spy exited
        self.sampling = False
        self.proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            text=True, errors="replace",
        )
        self._echo = echo
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.startswith("py-spy> Sampling process"):
                self.sampling = True
                self.started.set()
            elif self._echo and not line.startswith("py-spy>"):
                sys.stderr.write(line)
        self.started.set()  # exited: nobody should wait any longer

    def wait_started(self) -> bool:
        """True once py-spy samples; False when it exited first (an error)."""
        if not self.started.wait(START_TIMEOUT_S):
            self.kill()
            raise GuardprofError(f"py-spy did not start sampling within {START_TIMEOUT_S:g} s")
        return self.sampling

    def wait(self, timeout: float | None = None) -> int:
        try:
            rc = self.proc.wait(timeout)
        finally:
            self._reader.join(5)
        return rc

    def stop(self) -> int:
        """Ctrl-C, as a user would: py-spy then writes its file and exits."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()
            raise GuardprofError("py-spy did not finish writing its output after Ctrl-C") from None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def error_line(self) -> str:
        """py-spy's own error, without its Rust backtrace."""
        errors = [line for line in self.lines if line.startswith("Error:") or "Permission" in line]
        if errors:
            return errors[0].removeprefix("Error:").strip()
        tail = [line for line in self.lines if line.strip() and not line.startswith("py-spy>")]
        return tail[-1].strip() if tail else f"exit status {self.proc.returncode}"

    def samples_written(self) -> int | None:
        """The sample count py-spy reports with its output ('… Samples: 490 Errors: 0')."""
        for line in reversed(self.lines):
            match = re.search(r"Samples: (\d+)", line)
            if match:
                return int(match.group(1))
        return None

    def ptrace_denied(self) -> bool:
        text = "\n".join(self.lines)
        return any(m in text for m in ("Permission Denied", "Operation not permitted",
                                       "SYS_PTRACE", "Permission denied"))


def record_args(pyspy: PySpy, options: RecordOptions, output: Path, *, pid: int | None = None,
                duration: float | None = None, command: list[str] | None = None) -> list[str]:
    args = [pyspy.executable, "record", "--rate", str(options.rate), "--format", options.fmt,
            "--output", str(output)]
    if options.native:
        args.append("--native")
    if duration is not None:
        args += ["--duration", str(int(duration))]
    if pid is not None:
        args += ["--pid", str(pid)]
    if command:
        args += ["--", *command]
    return args


def start_recording(pyspy: PySpy, options: RecordOptions, output: Path, notes: list[str], *,
                    what: str, echo: bool = False, **where) -> tuple[Recording, RecordOptions]:
    """Start py-spy and wait until it samples; fall back to Python frames if native fails."""
    if options.native and not pyspy.native_supported:
        notes.append(f"py-spy {pyspy.version} on this platform has no --native: recorded Python "
                     "frames only, where guard evaluation (C++) cannot be seen")
        options = RecordOptions(options.fmt, options.rate, native=False)
    recording = Recording(record_args(pyspy, options, output, **where), echo)
    if recording.wait_started():
        return recording, options
    recording.wait()
    if recording.ptrace_denied():
        raise GuardprofError(f"py-spy is not permitted to trace {what} (ptrace denied): "
                             f"{PTRACE_FIX}")
    if options.native and where.get("command") is None:
        notes.append(f"py-spy --native failed ({recording.error_line()}): recorded Python "
                     "frames only, where guard evaluation (C++) cannot be seen")
        fallback = RecordOptions(options.fmt, options.rate, native=False)
        return start_recording(pyspy, fallback, output, notes, what=what, echo=echo, **where)
    hint = " (try --no-native)" if options.native else ""
    raise GuardprofError(f"py-spy could not sample {what}: {recording.error_line()}{hint}")


# --- our workload, sampled only after warm-up -------------------------------------------------


class Worker:
    """The `guardprof.profilers.pyspy_worker` process and its two message pipes."""

    def __init__(self, spec: WorkloadSpec, seconds: float, folder: Path) -> None:
        ctl_r, ctl_w = os.pipe()
        msg_r, msg_w = os.pipe()
        self.result_path = folder / "result.json"
        self.log_path = folder / "worker.log"
        env = dict(os.environ)  # the worker imports this very guardprof, installed or not
        package_root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "guardprof.profilers.pyspy_worker", spec_to_json(spec),
                 str(ctl_r), str(msg_w), str(self.result_path), str(seconds)],
                pass_fds=(ctl_r, msg_w), stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, env=env,
            )
        os.close(ctl_r)
        os.close(msg_w)
        self.ctl = os.fdopen(ctl_w, "w", encoding="utf-8", buffering=1)
        self.msg = os.fdopen(msg_r, "r", encoding="utf-8")

    def tell(self, word: str) -> None:
        try:
            self.ctl.write(word + "\n")
        except BrokenPipeError:
            raise self._died() from None

    def wait_for(self, word: str, progress: Progress) -> str:
        """Read messages until `word`; show status lines; raise the worker's errors."""
        for line in self.msg:
            kind, _, text = line.rstrip("\n").partition(" ")
            if kind == "status":
                progress.update(text)
            elif kind == "error":
                self.proc.wait()
                raise GuardprofError(text)
            elif kind == word:
                return text
        raise self._died()

    def _died(self) -> GuardprofError:
        rc = self.proc.wait()
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            lines = []
        last = lines[-1] if lines else "no output"
        return GuardprofError(f"the profiling worker exited with status {rc}: {last}")

    def close(self) -> None:
        for stream in (self.ctl, self.msg):
            try:
                stream.close()
            except OSError:
                pass
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def profile_workload(spec: WorkloadSpec, pyspy: PySpy, options: RecordOptions, output: Path,
                     seconds: float, progress: Progress = SILENT) -> FlameResult:
    check_writable(output)
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="guardprof-flame-") as folder:
        worker = Worker(spec, seconds, Path(folder))
        try:
            pid = int(worker.wait_for("ready", progress))
            with atomic_path(output) as tmp:
                progress.update(f"attaching py-spy to the warmed-up worker (pid {pid})")
                recording, options = start_recording(pyspy, options, tmp, notes,
                                                     what=f"the worker (pid {pid})", pid=pid)
                try:
                    worker.tell("go")
                    progress.update(f"sampling the hot loop for {seconds:g} s at "
                                    f"{options.rate} Hz")
                    worker.wait_for("done", progress)
                    progress.update("py-spy: writing " + options.fmt)
                    rc = recording.stop()
                finally:
                    recording.kill()  # before the temp file goes: py-spy must not write it again
                _check_output(recording, rc, tmp, options)
                stacks = load_stacks(tmp, options.fmt)
                written = recording.samples_written()
            worker.tell("finish")
            worker.wait_for("written", progress)
            result = json.loads(worker.result_path.read_text(encoding="utf-8"))
        finally:
            worker.close()
    report = from_dict(result["report"])
    per_call = 1e6 / (result["number"] * report.timing.calls_per_iteration)
    sampled = SampleStats.of([s * per_call for s in result["sampled_rounds_s"]], "us")
    analysis = analyse(stacks, loop_marker=LOOP_FRAME)
    exclusion = (
        "py-spy attached (--pid) only after warm-up and the unsampled timing; samples not "
        f"under {LOOP_FRAME} dropped"
    )
    return FlameResult("workload", f"{report.workload.name} (guardprof workload)", output,
                       options, pyspy.version, analysis, written, exclusion, report, sampled,
                       notes)


# --- a running process, or a launched program -------------------------------------------------


def _wait_or_kill(recording) -> int:
    """py-spy's exit status; on Ctrl-C or any error, py-spy is killed, never left behind."""
    try:
        return recording.wait()
    except BaseException:
        recording.kill()
        raise


def profile_pid(pid: int, seconds: float, pyspy: PySpy, options: RecordOptions, output: Path,
                progress: Progress = SILENT) -> FlameResult:
    check_writable(output)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        raise WorkloadUsageError(f"--pid {pid}: no such process") from None
    except PermissionError:
        pass  # exists, owned by someone else: py-spy reports whether it may trace it
    notes: list[str] = []
    with atomic_path(output) as tmp:
        progress.update(f"sampling pid {pid} for {seconds:g} s at {options.rate} Hz")
        recording, options = start_recording(pyspy, options, tmp, notes, what=f"pid {pid}",
                                             pid=pid, duration=seconds)
        rc = _wait_or_kill(recording)
        _check_output(recording, rc, tmp, options)
        stacks = load_stacks(tmp, options.fmt)
    return FlameResult("pid", f"pid {pid}", output, options, pyspy.version, analyse(stacks),
                       recording.samples_written(), _COMPILE_FILTER, notes=notes)


def profile_command(command: list[str], seconds: float | None, pyspy: PySpy,
                    options: RecordOptions, output: Path,
                    progress: Progress = SILENT) -> FlameResult:
    check_writable(output)
    notes: list[str] = []
    with atomic_path(output) as tmp:
        progress.clear()
        recording, options = start_recording(pyspy, options, tmp, notes,
                                             what=f"`{' '.join(command)}`", echo=True,
                                             command=command, duration=seconds)
        rc = _wait_or_kill(recording)
        _check_output(recording, rc, tmp, options, program_may_fail=True)
        stacks = load_stacks(tmp, options.fmt)
    if rc != 0:
        notes.append(f"the program exited with status {rc}")
    return FlameResult("launch", " ".join(command), output, options, pyspy.version,
                       analyse(stacks), recording.samples_written(), _COMPILE_FILTER,
                       notes=notes)


_COMPILE_FILTER = (
    "every sample of the process, less those under dynamo's compiler "
    "(torch/_dynamo/convert_frame.py): the process chooses when it compiles"
)


def _check_output(recording: Recording, rc: int, tmp: Path, options: RecordOptions,
                  program_may_fail: bool = False) -> None:
    written = tmp.is_file() and tmp.stat().st_size > 0
    if written and (rc == 0 or program_may_fail):
        return
    if recording.ptrace_denied():
        raise GuardprofError(f"py-spy is not permitted to trace the process (ptrace denied): "
                             f"{PTRACE_FIX}")
    raise GuardprofError(f"py-spy wrote no {options.fmt} output: {recording.error_line()}")


DEFAULT_OUTPUTS = {
    "flamegraph": "guardprof-flame.svg",
    "speedscope": "guardprof-flame.speedscope.json",
    "raw": "guardprof-flame.txt",
}


__all__ = ["FORMATS", "FlameResult", "PySpy", "RecordOptions", "find_pyspy", "profile_command",
           "profile_pid", "profile_workload"]
