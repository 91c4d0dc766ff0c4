"""``road_seg_node``: camera Image/CompressedImage in, road mask, overlay (and optionally the ground grid) out.

The node is thin: parameters (``parameters``) and the serving logic (``serving``) live in their own modules, shared
with the managed variant (``lifecycle_node``). No OpenCV is imported before the node has read ``max_pixels``, so
that OpenCV's own decoder ceiling can be set from it.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node

from ros_road_seg.errors import RoadSegError
from ros_road_seg.parameters import declare_all
from ros_road_seg.paths import apply_fastdds_profile
from ros_road_seg.serving import RoadSegServer


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


def run(make_node: Callable[[], Node], args: list[str] | None = None) -> int:
    """Init, spin until Ctrl-C/SIGTERM (or a lifecycle shutdown), stop cleanly: exit 0, no traceback, even when a
    second signal arrives during shutdown (``ros2 launch`` forwards SIGINT to a process group that already got
    one). A startup failure is one line on stderr and exit code 1."""
    apply_fastdds_profile()
    try:
        rclpy.init(args=args)
    except Exception as error:  # noqa: BLE001 - e.g. a missing or malformed --params-file
        print(f"[road_seg] cannot start: {_first_line(error)}", file=sys.stderr)
        return 1
    node = None
    try:
        node = make_node()
        while rclpy.ok() and not node.finished:
            rclpy.spin_once(node, timeout_sec=0.2)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (RoadSegError, ValueError) as error:
        print(f"[road_seg] cannot start: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # noqa: BLE001 - rclpy parameter errors etc.: one line, not a traceback wall
        print(f"[road_seg] cannot start: {type(error).__name__}: {_first_line(error)}", file=sys.stderr)
        return 1
    finally:
        _ignore_further_signals()
        if node is not None:
            node.stop()
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0


def _ignore_further_signals() -> None:
    """We are stopping already: a second SIGINT/SIGTERM must not interrupt the cleanup with a traceback."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def main(args: list[str] | None = None) -> int:
    """Console script ``road_seg_node``."""
    return run(RoadSegNode, args)


if __name__ == "__main__":
    sys.exit(main())
