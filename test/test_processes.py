"""The one process harness: children can be interrupted even when the harness itself was started with SIGINT ignored
(a script's ``cmd &`` does that to its background jobs, and ignored signals are inherited across exec), and they die
with a parent killed by SIGTERM or SIGKILL (the demo's stages included)."""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest
from synthetic_data import make_kitti

from ros_road_seg.tools.processes import ChildProcess, descendants, is_running, python_module_command

WAIT_FOR_INTERRUPT = (
    "import signal, sys, time\n"
    "print('SIGINT', 'ignored' if signal.getsignal(signal.SIGINT) == signal.SIG_IGN else 'handled', flush=True)\n"
    "try:\n"
    "    time.sleep(60)\n"
    "except KeyboardInterrupt:\n"
    "    sys.exit(130)\n"
)


def test_a_child_of_a_harness_that_ignores_sigint_still_stops_on_sigint():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as in a harness started by `cmd &`
    try:
        child = ChildProcess("sleeper", [sys.executable, "-c", WAIT_FOR_INTERRUPT])
    finally:
        signal.signal(signal.SIGINT, previous)
    assert child.wait_for_output("SIGINT", 30), child.output
    assert "SIGINT handled" in child.output
    assert child.stop(signal.SIGINT, timeout=20) == 130, child.output


PARENT_WITH_CHILD = (
    "import sys, time\n"
    "from ros_road_seg.tools.processes import ChildProcess\n"
    "child = ChildProcess('sleeper', [sys.executable, '-c', 'import time; time.sleep(120)'])\n"
    "print('child', child.pid, flush=True)\n"
    "time.sleep(120)\n"
)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_children_die_with_a_killed_parent(sig):
    """Before: a parent killed by SIGTERM/SIGKILL left its children running with PPID 1."""
    parent = ChildProcess("parent", [sys.executable, "-c", PARENT_WITH_CHILD])
    try:
        assert parent.wait_for_output("child ", 30), parent.output
        child_pid = int(parent.output.split("child ", 1)[1].split()[0])
        assert is_running(child_pid)
        parent.send_signal(sig)
        parent.wait(10)
        survivors = [child_pid] if not _gone_within(child_pid, 2.0) else []
    finally:
        parent.stop()
    assert survivors == [], f"child {child_pid} outlived its parent killed by {signal.Signals(sig).name}"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_the_demo_killed_mid_run_leaves_nothing_running(tmp_path, red_model, sig):
    """road_seg_demo's node, recorder and replay die with it whatever signal it gets (before: PPID 1 survivors)."""
    data = make_kitti(tmp_path / "kitti", 3, size=(60, 80))
    demo = ChildProcess(
        "demo",
        python_module_command(
            "ros_road_seg.tools.demo",
            *("--frames", str(data / "training"), "--labels", "none", "--model", str(red_model)),
            *("--providers", "cpu", "--out", str(tmp_path / "demo"), "--loop", "50"),
        ),
    )
    try:
        assert demo.wait_for_output("3/4 replaying", 120), demo.output
        deadline = time.monotonic() + 30  # the replay starts just after the line is printed
        while len(descendants(demo.pid)) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        stages = descendants(demo.pid)
        assert len(stages) >= 3, stages
        demo.send_signal(sig)
        demo.wait(10)
        survivors = [pid for pid in stages if not _gone_within(pid, 2.0)]
    finally:
        demo.stop()
        for pid in descendants(demo.pid):
            os.kill(pid, signal.SIGKILL)
    assert survivors == [], f"{len(survivors)} of {len(stages)} stages outlived the demo killed by {sig!r}"


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not is_running(pid):
            return True
        time.sleep(0.05)
    return not is_running(pid)
