"""A real road_seg node process fed by a publisher in this process at fixed rates; latency from header stamps."""

from __future__ import annotations

import os
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np

from ros_road_seg.core.image_conversion import array_to_image_msg
from ros_road_seg.core.stats import peak_rss_mb, rss_mb, summarize_ms
from ros_road_seg.tools.discovery import spin_for, spinning_in_background, wait_until_matched
from ros_road_seg.tools.processes import ChildProcess, python_module_command, ros_arguments
from ros_road_seg.tools.ros_messages import diagnostic_values, set_stamp, stamp_to_ns


def bench_node(
    model: Path,
    providers: str,
    frame: np.ndarray,
    rates: list[float],
    seconds: float,
    memory_frames: int,
    inference_thread: bool = True,
    extra_parameters: dict | None = None,
    watch: str = "road_overlay",
) -> dict:
    """Publish ``frame`` to a real node process at each rate (0 = as fast as possible) and time the arrivals on
    ``watch`` (``road_overlay``, or ``road_mask`` alone: then nobody watches the overlay and the node skips it)."""
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
    from sensor_msgs.msg import Image

    namespace = f"/bench{os.getpid()}"
    parameters = {
        "model_path": model,
        "providers": providers,
        "diagnostics_period": 0.25,
        "inference_thread": inference_thread,
        **(extra_parameters or {}),
    }
    node_process = ChildProcess(
        "road_seg_node",
        python_module_command("ros_road_seg.node.node", *ros_arguments(parameters, namespace=namespace)),
    )
    rclpy.init()
    node = rclpy.create_node("road_seg_bench", namespace=namespace)
    arrivals: list[tuple[int, int]] = []
    diagnostics: dict[str, str] = {}

    def on_diagnostics(msg) -> None:
        diagnostics.update(diagnostic_values(msg))

    overlay_sub = node.create_subscription(
        Image,
        watch,
        lambda msg: arrivals.append((time.time_ns(), stamp_to_ns(msg.header.stamp))),
        QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE),
    )
    node.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 10)
    if parameters.get("publish_grid"):  # the node projects the grid only while someone watches it
        from nav_msgs.msg import OccupancyGrid

        node.create_subscription(OccupancyGrid, "road_grid", lambda msg: None, QoSProfile(depth=1))
    publisher = node.create_publisher(Image, "image", qos_profile_sensor_data)
    message = array_to_image_msg(frame, "rgb8")
    message.header.frame_id = "camera_color_left"
    results = {}
    try:
        if not wait_until_matched(node, [publisher, overlay_sub], timeout=60):
            raise RuntimeError("road_seg_node did not come up:\n" + node_process.output)
        for rate in rates:
            results["max" if rate == 0 else f"{rate:g} Hz"] = _node_run(
                node, publisher, message, arrivals, diagnostics, rate, seconds
            )
        served_start = int(diagnostics.get("frames_served", 0))
        checkpoints = {100: None, memory_frames: None}
        start = time.monotonic()
        while time.monotonic() - start < 600 and checkpoints[memory_frames] is None:
            set_stamp(message.header.stamp, time.time_ns())
            publisher.publish(message)
            spin_for(node, 0.02)
            served = int(diagnostics.get("frames_served", 0)) - served_start
            for mark in checkpoints:
                if checkpoints[mark] is None and served >= mark:
                    checkpoints[mark] = rss_mb(node_process.pid)
        results["memory"] = {
            "rss_after_100_mb": checkpoints[100],
            f"rss_after_{memory_frames}_mb": checkpoints[memory_frames],
            "peak_rss_mb": peak_rss_mb(node_process.pid),
        }
        results["provider"] = diagnostics.get("provider", "?")
    finally:
        node.destroy_node()
        rclpy.shutdown()
        node_process.stop()
    return results


def _node_run(node, publisher, message, arrivals, diagnostics, rate: float, seconds: float) -> dict:
    """At a fixed rate the publisher sleeps between frames while the arrivals are taken on their own thread (a
    camera driver does not poll either); as fast as possible it publishes and takes what arrived in turn."""
    arrivals.clear()
    spin_for(node, 0.6)
    before = dict(diagnostics)
    sent, stamps = 0, set()
    with spinning_in_background(node) if rate else nullcontext():
        start = time.monotonic()
        period = 1.0 / rate if rate else 0.0
        while time.monotonic() - start < seconds:
            if rate:
                time.sleep(max(0.0, start + sent * period - time.monotonic()))
            now = time.time_ns()
            set_stamp(message.header.stamp, now)
            stamps.add(now)
            publisher.publish(message)
            sent += 1
            if not rate:
                spin_for(node, 0.0)
        elapsed = time.monotonic() - start
        if rate:
            time.sleep(1.5)  # the last frames' arrivals
    if not rate:
        spin_for(node, 1.5)
    ours = [(arrived, stamp) for arrived, stamp in arrivals if stamp in stamps]
    latencies = [(arrived - stamp) / 1e9 for arrived, stamp in ours]
    after = dict(diagnostics)

    def delta(key: str) -> int:
        try:
            return int(after.get(key, 0)) - int(before.get(key, 0))
        except ValueError:
            return -1

    stages = {k: float(v) for k, v in after.items() if k.startswith("stage_")}
    return {
        "stages": stages,
        "outputs_live": after.get("outputs_live", "?"),
        "sent": sent,
        "received": len(ours),
        "received_ratio": len(ours) / max(sent, 1),
        "fps_out": len(ours) / elapsed,
        "node_dropped_stale": delta("frames_dropped_stale"),
        "node_lost_in_transport": delta("frames_lost_in_transport"),
        **summarize_ms(latencies),
    }
