"""Real-process ROS 2 test harness: the node runs as its own process; the test talks to it over DDS."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image

from ros_road_seg.core.image_conversion import array_to_image_msg, output_msg_to_array
from ros_road_seg.tools.discovery import spin_for, wait_until_matched
from ros_road_seg.tools.processes import ChildProcess, child_setup, python_module_command, ros_arguments
from ros_road_seg.tools.ros_messages import diagnostic_values, stamp_to_ns

ROOT = Path(__file__).resolve().parent.parent


class NodeProcess(ChildProcess):
    """``python -m ros_road_seg.node.node`` (or ``module``) in a subprocess, its output collected for assertions."""

    def __init__(
        self,
        parameters: dict,
        namespace: str,
        extra_args: list[str] | None = None,
        module: str = "ros_road_seg.node.node",
        env: dict | None = None,
    ) -> None:
        args = python_module_command(module, *ros_arguments(parameters, namespace=namespace), *(extra_args or []))
        super().__init__("road_seg_node", args, cwd=ROOT, env=env or dict(os.environ, PYTHONPATH=str(ROOT)))


class Client:
    """Publishes frames to ``<ns>/image`` and collects ``road_mask`` / ``road_overlay`` / diagnostics."""

    def __init__(self, namespace: str, compressed: bool = False) -> None:
        self.node = Node(f"test_client_{abs(hash(namespace)) % 100000}", namespace=namespace)
        msg_type = CompressedImage if compressed else Image
        topic = "image/compressed" if compressed else "image"
        self.publisher = self.node.create_publisher(msg_type, topic, qos_profile_sensor_data)
        reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        self.masks: list[Image] = []
        self.overlays: list[Image] = []
        self.diagnostics: list[DiagnosticArray] = []
        self.node.create_subscription(Image, "road_mask", self.masks.append, reliable)
        self.overlay_arrivals: list[float] = []  # time.monotonic() of each overlay, parallel to self.overlays
        self.overlay_subscription = self.node.create_subscription(Image, "road_overlay", self._on_overlay, reliable)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self.diagnostics.append, 10)

    def _on_overlay(self, msg: Image) -> None:
        self.overlays.append(msg)
        self.overlay_arrivals.append(time.monotonic())

    def spin_for(self, seconds: float) -> None:
        spin_for(self.node, seconds)

    def wait_connected(self, timeout: float = 20.0) -> bool:
        return wait_until_matched(self.node, [self.publisher, self.overlay_subscription], timeout)

    def roundtrip(self, msg, timeout: float = 15.0, resend: float = 1.0) -> tuple[Image, Image]:
        """Publish ``msg`` (resending if best-effort loses it) until its mask and overlay come back."""
        stamp = stamp_to_ns(msg.header.stamp)
        deadline = time.monotonic() + timeout
        next_send = 0.0
        while time.monotonic() < deadline:
            if time.monotonic() >= next_send:
                self.publisher.publish(msg)
                next_send = time.monotonic() + resend
            rclpy.spin_once(self.node, timeout_sec=0.02)
            mask = _find(self.masks, stamp)
            overlay = _find(self.overlays, stamp)
            if mask is not None and overlay is not None:
                return mask, overlay
        raise TimeoutError(f"no mask/overlay came back for stamp {stamp} within {timeout} s")

    def latest_diagnostic_values(self) -> dict[str, str]:
        return diagnostic_values(self.diagnostics[-1]) if self.diagnostics else {}

    def close(self) -> None:
        self.node.destroy_node()


def _find(messages, stamp):
    for message in reversed(messages):
        if stamp_to_ns(message.header.stamp) == stamp:
            return message
    return None


def make_image_msg(rgb: np.ndarray, encoding: str, stamp_sec: int, frame_id: str = "camera_color_left") -> Image:
    """An Image of ``rgb`` in ``encoding`` (rgb8, bgr8, rgba8, bgra8, mono8) built with OpenCV."""
    import cv2

    conversions = {
        "rgb8": None,
        "bgr8": cv2.COLOR_RGB2BGR,
        "rgba8": cv2.COLOR_RGB2RGBA,
        "bgra8": cv2.COLOR_RGB2BGRA,
        "mono8": cv2.COLOR_RGB2GRAY,
    }
    data = rgb if conversions[encoding] is None else cv2.cvtColor(rgb, conversions[encoding])
    msg = array_to_image_msg(data, encoding)
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp_sec, 123
    msg.header.frame_id = frame_id
    return msg


image_msg_array = output_msg_to_array


def run_tool(module: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """``python -m module args`` to completion through the tools' own harness (it dies with the test), output kept."""
    return subprocess.run(
        python_module_command(module, *args),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        preexec_fn=child_setup(os.getpid()),
    )
