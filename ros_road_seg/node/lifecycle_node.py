"""``road_seg_lifecycle_node``: the managed (lifecycle) road_seg node.

configure loads and validates the model (a bad model fails the transition with the reason in the log; the
process stays up, unconfigured), activate subscribes and serves, deactivate stops publishing, cleanup frees the
ONNX Runtime session, shutdown ends the process. Launch it with ``managed:=true``; ``autostart:=true`` drives
configure -> activate from the launch file.
"""

from __future__ import annotations

import sys

from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn

from ros_road_seg.core.errors import RoadSegError
from ros_road_seg.node.node import run
from ros_road_seg.node.parameters import declare_all
from ros_road_seg.node.serving import RoadSegServer


class RoadSegLifecycleNode(LifecycleNode):
    def __init__(self, **node_kwargs) -> None:
        super().__init__("road_seg", **node_kwargs)
        self.values = declare_all(self)
        self.server = RoadSegServer(
            self, self.values, self.create_lifecycle_publisher, self.destroy_lifecycle_publisher
        )
        self.finished = False
        self.get_logger().info("road_seg (managed) waiting for 'configure'")

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self.server.configure()
        except (RoadSegError, ValueError) as error:
            self.get_logger().error(f"configure failed: {error}")
            self.server.cleanup()
            return TransitionCallbackReturn.FAILURE
        self.get_logger().info(f"configured: model '{self.server.model_path}' on {self.server.segmenter.provider}")
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.server.activate()
        result = super().on_activate(state)  # enables the lifecycle publishers
        self.get_logger().info(self.server.ready_line())
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.server.deactivate()
        self.get_logger().info("deactivated: not subscribed, nothing published")
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.server.cleanup()
        self.get_logger().info("cleaned up: model session freed")
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        if self.server.state == "active":
            self.server.deactivate()
        if self.server.state == "inactive":
            self.server.cleanup()
        self.finished = True
        self.get_logger().info("shut down")
        return super().on_shutdown(state)

    def stop(self) -> None:
        self.server.stop_worker()


def main(args: list[str] | None = None) -> int:
    """Console script ``road_seg_lifecycle_node``."""
    return run(RoadSegLifecycleNode, args)


if __name__ == "__main__":
    sys.exit(main())
