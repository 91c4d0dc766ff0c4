"""The one process harness: children can be interrupted even when the harness itself was started with SIGINT ignored
(a script's ``cmd &`` does that to its background jobs, and ignored signals are inherited across exec)."""

from __future__ import annotations

import signal
import sys

from ros_road_seg.tools.processes import ChildProcess

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
