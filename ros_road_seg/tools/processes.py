"""One harness for child processes: the demo's stages, the benchmark's node, the tests' nodes and launch runs.

A :class:`ChildProcess` captures its output line by line (optionally echoed with a prefix), can wait for a line,
and stops with SIGINT first, then SIGKILL, so no process outlives its owner; the kernel's parent-death signal
(SIGTERM) stops it too when its owner is killed without a chance to clean up (SIGKILL, the OOM killer). Started in
its own session it is signalled as a process group (what ``ros2 launch`` and its nodes need).
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from ros_road_seg.core.errors import RoadSegError


def ros_arguments(
    parameters: dict | None = None,
    remappings: dict | None = None,
    namespace: str | None = None,
    params_file: str | Path | None = None,
) -> list[str]:
    """``--ros-args`` for a node: ``-r __ns:=``, ``--params-file``, ``-p name:=value``, ``-r from:=to``."""
    args = ["--ros-args"]
    if namespace:
        args += ["-r", f"__ns:={namespace}"]
    if params_file is not None:
        args += ["--params-file", str(params_file)]
    for name, value in (parameters or {}).items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, (list, tuple)):
            value = "[" + ",".join(str(v) for v in value) + "]"
        args += ["-p", f"{name}:={value}"]
    for source, target in (remappings or {}).items():
        args += ["-r", f"{source}:={target}"]
    return args


def python_module_command(module: str, *args: str) -> list[str]:
    """``python -m module args``, with this interpreter."""
    return [sys.executable, "-m", module, *args]


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent_pid: int, sig: int = signal.SIGTERM) -> None:
    """In a child before exec: ask the kernel for ``sig`` when the parent dies (SIGTERM, SIGKILL or the OOM killer
    alike), as launch does for its nodes; if the parent is already gone, exit now. Linux only; elsewhere a no-op.
    The signal follows the *thread* that started the child: start children from a thread that outlives them."""
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(sig))
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:  # the parent died between fork and prctl
        os._exit(1)


def child_setup(parent_pid: int):
    """The ``preexec_fn`` of every child: default interrupts, then die with the parent."""

    def setup() -> None:
        default_interrupts()
        die_with_parent(parent_pid)

    return setup


def default_interrupts() -> None:
    """In the child before exec: SIGINT/SIGTERM back to their defaults. A harness started from a script with ``&``
    inherits SIGINT *ignored*, and so would every child, which then could not be stopped with Ctrl-C / interrupt()."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


class ChildProcess:
    """A child process whose output is kept for assertions and reports."""

    def __init__(
        self,
        name: str,
        args: list[str],
        *,
        echo: bool = False,
        env: dict | None = None,
        cwd: str | Path | None = None,
        new_session: bool = False,
    ) -> None:
        self.name = name
        self.lines: list[str] = []
        self.new_session = new_session
        self.process = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=cwd,
            env=dict(env if env is not None else os.environ, PYTHONUNBUFFERED="1"),
            start_new_session=new_session,
            preexec_fn=child_setup(os.getpid()),
        )
        self._reader = threading.Thread(target=self._pump, args=(echo,), daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def _pump(self, echo: bool) -> None:
        for line in self.process.stdout:
            self.lines.append(line)
            if echo:
                print(f"[{self.name}] {line}", end="", flush=True)

    def wait_for_output(self, text: str, timeout: float = 30.0) -> bool:
        """True once ``text`` appears in the output; False on timeout or when the process ended without it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output:
                return True
            if self.process.poll() is not None:
                self._reader.join(1)
                return text in self.output
            time.sleep(0.05)
        return text in self.output

    def wait_for(self, text: str, timeout: float) -> None:
        """Like :meth:`wait_for_output`, raising a RoadSegError with the last lines when it does not come."""
        if not self.wait_for_output(text, timeout):
            raise RoadSegError(
                f"{self.name} did not report '{text}' (exit code {self.process.poll()}):\n" + "".join(self.lines[-10:])
            )

    def wait(self, timeout: float) -> int:
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise RoadSegError(f"{self.name} did not finish within {timeout:.0f} s") from None
        self._reader.join(2)
        return code

    def send_signal(self, sig: int) -> None:
        """Send ``sig`` to the process (to its whole group when it runs in its own session)."""
        if self.process.poll() is not None:
            return
        if self.new_session:
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                pass
        else:
            self.process.send_signal(sig)

    def stop(self, sig: int = signal.SIGINT, timeout: float = 10.0) -> int:
        """``sig`` (SIGINT: the clean path), then SIGKILL after ``timeout`` s; returns the exit code."""
        self.send_signal(sig)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.send_signal(signal.SIGKILL)
            self.process.wait()
        if self.new_session:  # nothing of the group may outlive it
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self._reader.join(2)
        return self.process.returncode

    def __enter__(self) -> ChildProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def descendants(pid: int) -> list[int]:
    """PIDs of every living process below ``pid`` (from /proc), e.g. the nodes under ``ros2 launch``."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def is_running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
