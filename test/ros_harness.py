"""Real-process ROS 2 test harness: the node runs as its own process; the test talks to it over DDS."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image

from ros_road_seg.image_conversion import array_to_image_msg, output_msg_to_array

ROOT = Path(__file__).resolve().parent.parent


class NodeProcess:
    """``python -m ros_road_seg.node`` in a subprocess, with its output collected for assertions."""

    def __init__(self, parameters: dict, namespace: str, extra_args: list[str] | None = None) -> None:
        args = [sys.executable, "-m", "ros_road_seg.node", "--ros-args", "-r", f"__ns:={namespace}"]
        for name, value in parameters.items():
            args += ["-p", f"{name}:={value}"]
        args += extra_args or []
        env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT))
        self.process = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for_output(self, text: str, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output:
                return True
            if self.process.poll() is not None:
                time.sleep(0.2)
                return text in self.output
            time.sleep(0.05)
        return False

    def stop(self, sig: int = signal.SIGINT, timeout: float = 10.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout=2)
        return self.process.returncode


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
        self.node.create_subscription(Image, "road_overlay", self._on_overlay, reliable)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self.diagnostics.append, 10)

    def _on_overlay(self, msg: Image) -> None:
        self.overlays.append(msg)
        self.overlay_arrivals.append(time.monotonic())

    def spin_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            rclpy.spin_once(self.node, timeout_sec=0.02)

    def wait_connected(self, timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rclpy.spin_once(self.node, timeout_sec=0.05)
            if (
                self.publisher.get_subscription_count() > 0
                and self.node.count_publishers(self.node.resolve_topic_name("road_overlay")) > 0
            ):
                self.spin_for(0.3)
                return True
        return False

    def roundtrip(self, msg, timeout: float = 15.0, resend: float = 1.0) -> tuple[Image, Image]:
        """Publish ``msg`` (resending if best-effort loses it) until its mask and overlay come back."""
        stamp = (msg.header.stamp.sec, msg.header.stamp.nanosec)
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
        if not self.diagnostics:
            return {}
        return {kv.key: kv.value for kv in self.diagnostics[-1].status[0].values}

    def close(self) -> None:
        self.node.destroy_node()


def _find(messages, stamp):
    for message in reversed(messages):
        if (message.header.stamp.sec, message.header.stamp.nanosec) == stamp:
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
