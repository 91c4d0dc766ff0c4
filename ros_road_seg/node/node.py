"""``road_seg_node``: camera Image/CompressedImage in, road mask, overlay (and optionally the ground grid) out.

The node is thin: parameters (``parameters``) and the serving logic (``serving``) live in their own modules, shared
with the managed variant (``lifecycle_node``). No OpenCV is imported before the node has read ``max_pixels``, so
that OpenCV's own decoder ceiling can be set from it.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
from collections.abc import Callable

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from ros_road_seg.core.errors import RoadSegError, one_line
from ros_road_seg.core.paths import apply_fastdds_profile
from ros_road_seg.node.parameters import declare_all
from ros_road_seg.node.serving import RoadSegServer


class RoadSegNode(Node):
    """Configured and serving from the start (see ``lifecycle_node`` for the managed variant)."""

    def __init__(self, **node_kwargs) -> None:
        super().__init__("road_seg", **node_kwargs)
        self.values = declare_all(self)
        self.server = RoadSegServer(self, self.values, self.create_publisher, self.destroy_publisher)
        self.server.configure()
        self.server.activate()
        self.get_logger().info(self.server.ready_line())

    @property
    def finished(self) -> bool:
        return False

    def stop(self) -> None:
        self.server.stop_worker()


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # SIGHUP: its terminal closed; stop cleanly too


def run(make_node: Callable[[], Node], args: list[str] | None = None) -> int:
    """Init, spin until SIGINT/SIGTERM/SIGHUP (or a lifecycle shutdown), stop cleanly: exit 0, no traceback, even
    when a second signal arrives during shutdown (``ros2 launch`` forwards SIGINT to a process group that already got
    one). The first signal only asks the loop to stop; later ones are ignored. A startup failure is one line on
    stderr and exit code 1."""
    apply_fastdds_profile()
    _exit_with_parent()
    stop = threading.Event()

    def request_stop(signum, frame) -> None:
        stop.set()
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)

    for sig in STOP_SIGNALS:
        signal.signal(sig, request_stop)
    try:
        rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    except Exception as error:  # noqa: BLE001 - e.g. a missing or malformed --params-file
        print(f"[road_seg] cannot start: {one_line(error)}", file=sys.stderr)
        return 1
    node = None
    try:
        node = make_node()
        while not stop.is_set() and rclpy.ok() and not node.finished:
            rclpy.spin_once(node, timeout_sec=0.1)
    except ExternalShutdownException:
        pass
    except (RoadSegError, ValueError) as error:
        print(f"[road_seg] cannot start: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # noqa: BLE001 - rclpy parameter errors etc.: one line, not a traceback wall
        print(f"[road_seg] cannot start: {type(error).__name__}: {one_line(error)}", file=sys.stderr)
        return 1
    finally:
        request_stop(None, None)
        if node is not None:
            node.stop()
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0


EXIT_WITH_PARENT_ENV = "ROAD_SEG_EXIT_WITH_PARENT"  # seg.launch.py sets it for the nodes it starts


def _exit_with_parent() -> None:
    """``ros2 launch`` killed by SIGTERM exits at once without stopping its children (launch's own documented
    limitation). Started by our launch file, the node asks the kernel for a SIGTERM when its parent dies, and so
    stops cleanly instead of running on as an orphan. Linux only; elsewhere nothing changes."""
    if os.environ.get(EXIT_WITH_PARENT_ENV) != "1" or not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def main(args: list[str] | None = None) -> int:
    """Console script ``road_seg_node``."""
    return run(RoadSegNode, args)


if __name__ == "__main__":
    sys.exit(main())
