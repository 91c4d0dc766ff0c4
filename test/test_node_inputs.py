"""The node against publishers it did not write: QoS of real camera drivers (best effort and reliable, for image and
camera_info), outputs produced only while watched, per-stage timings, nonsense CameraInfo refused, SIGHUP."""

from __future__ import annotations

import signal
import time
import uuid

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticStatus
from nav_msgs.msg import OccupancyGrid
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from ros_harness import Client, NodeProcess, make_image_msg
from sensor_msgs.msg import CameraInfo, Image

from ros_road_seg.tools.discovery import spin_for, wait_until_matched
from ros_road_seg.tools.ros_messages import diagnostic_values, stamp_to_ns

RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
FRAME = np.random.default_rng(4).integers(0, 256, (60, 80, 3), dtype=np.uint8)


def camera_info(width: int = 80, height: int = 60, fx: float = 70.0, fy: float = 70.0) -> CameraInfo:
    msg = CameraInfo()
    msg.width, msg.height = width, height
    msg.k = [fx, 0.0, 40.0, 0.0, fy, 30.0, 0.0, 0.0, 1.0]
    return msg


def diagnostics_until(client: Client, predicate, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        client.spin_for(0.1)
        values = client.latest_diagnostic_values()
        if values and predicate(values):
            return values
    return client.latest_diagnostic_values()


def node_with_grid(red_model, **extra) -> tuple[NodeProcess, str]:
    namespace = "/q" + uuid.uuid4().hex[:6]
    parameters = {"model_path": str(red_model), "providers": "cpu", "publish_grid": True, "diagnostics_period": 0.3}
    return NodeProcess({**parameters, **extra}, namespace), namespace


def test_default_qos_receives_reliable_and_best_effort_publishers_of_image_and_camera_info(ros_context, red_model):
    """Before: camera_info was subscribed reliable, so a driver publishing it best effort never gave a grid."""
    node, namespace = node_with_grid(red_model)
    client = Client(namespace)
    infos = {
        "best_effort": client.node.create_publisher(CameraInfo, "camera_info", qos_profile_sensor_data),
        "reliable": client.node.create_publisher(CameraInfo, "camera_info", RELIABLE),
    }
    reliable_images = client.node.create_publisher(Image, "image", RELIABLE)
    grids: list[OccupancyGrid] = []
    client.node.create_subscription(OccupancyGrid, "road_grid", grids.append, QoSProfile(depth=20))
    matrix = {}
    try:
        assert node.wait_for_output("road_seg ready", 30), node.output
        assert client.wait_connected(), node.output
        assert wait_until_matched(client.node, [*infos.values(), reliable_images], 20), node.output
        received = 0
        for kind, publisher in infos.items():
            deadline = time.monotonic() + 10
            values = {}
            while time.monotonic() < deadline:
                publisher.publish(camera_info())
                values = diagnostics_until(
                    client, lambda v, before=received: int(v["grid_camera_info_received"]) > before, 1.0
                )
                if int(values.get("grid_camera_info_received", 0)) > received:
                    break
            matrix[f"camera_info {kind}"] = int(values.get("grid_camera_info_received", 0)) > received
            received = int(values.get("grid_camera_info_received", 0))
        mask, _ = client.roundtrip(make_image_msg(FRAME, "rgb8", stamp_sec=1))  # the best-effort image publisher
        matrix["image best_effort"] = mask is not None
        sent = make_image_msg(FRAME, "rgb8", stamp_sec=2)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(
            stamp_to_ns(m.header.stamp) == 2 * 10**9 + 123 for m in client.masks
        ):
            reliable_images.publish(sent)
            client.spin_for(0.3)
        matrix["image reliable"] = any(stamp_to_ns(m.header.stamp) == 2 * 10**9 + 123 for m in client.masks)
        client.spin_for(0.5)
        print(f"\n[qos] node default (sensor_data) x publisher: {matrix}; grids {len(grids)}")
        assert all(matrix.values()), matrix
        assert grids, "intrinsics from a best-effort/reliable CameraInfo give a grid"
    finally:
        client.close()
        assert node.stop() == 0, node.output


def test_outputs_are_rendered_only_while_watched_and_stages_are_timed(ros_context, red_model):
    """Before: the 1.4 MB overlay was rendered and published for every frame with nobody subscribed."""
    node, namespace = node_with_grid(red_model)
    watcher = Node("mask_only_" + uuid.uuid4().hex[:6], namespace=namespace)
    masks: list[Image] = []
    publisher = watcher.create_publisher(Image, "image", qos_profile_sensor_data)
    mask_sub = watcher.create_subscription(Image, "road_mask", masks.append, RELIABLE)
    diagnostics = []
    from diagnostic_msgs.msg import DiagnosticArray

    watcher.create_subscription(DiagnosticArray, "/diagnostics", diagnostics.append, 10)
    try:
        assert node.wait_for_output("road_seg ready", 30), node.output
        assert wait_until_matched(watcher, [publisher, mask_sub], 20), node.output
        for stamp in range(1, 8):
            publisher.publish(make_image_msg(FRAME, "rgb8", stamp_sec=stamp))
            spin_for(watcher, 0.15)
        spin_for(watcher, 1.0)
        assert masks, node.output
        values = diagnostic_values(diagnostics[-1])
        print(f"\n[outputs] mask only: outputs_live = {values['outputs_live']!r}")
        assert values["outputs_live"] == "mask"
        assert "stage_render_p50_ms" not in values  # nothing rendered the overlay
        overlays: list[Image] = []
        overlay_sub = watcher.create_subscription(Image, "road_overlay", overlays.append, RELIABLE)
        assert wait_until_matched(watcher, [overlay_sub], 20)
        for stamp in range(10, 16):
            publisher.publish(make_image_msg(FRAME, "rgb8", stamp_sec=stamp))
            spin_for(watcher, 0.15)
        spin_for(watcher, 1.0)
        values = diagnostic_values(diagnostics[-1])
        print(
            f"[outputs] with an overlay subscriber: {values['outputs_live']!r}; stages: "
            + ", ".join(f"{k}={v}" for k, v in values.items() if k.startswith("stage_"))
        )
        assert values["outputs_live"] == "mask, overlay" and overlays
        for stage in ("convert", "preprocess", "inference", "postprocess", "render", "publish"):
            assert float(values[f"stage_{stage}_p99_ms"]) >= float(values[f"stage_{stage}_p50_ms"]) >= 0.0
    finally:
        watcher.destroy_node()
        assert node.stop() == 0, node.output


@pytest.mark.parametrize(
    "info, words",
    [
        (camera_info(width=4294967295, height=4294967295), "max_pixels"),
        (camera_info(fx=1e-300, fy=1e-300), "fx"),
        (camera_info(fx=float("nan")), "not finite"),
        (camera_info(fy=float("inf")), "not finite"),
    ],
    ids=["huge-size", "tiny-focal", "nan", "inf"],
)
def test_nonsense_camera_info_gives_no_grid_and_a_warning(ros_context, red_model, info, words):
    """Before: such a CameraInfo gave grids 87-98 % 'road' while /diagnostics said OK 'serving'."""
    node, namespace = node_with_grid(red_model)
    client = Client(namespace)
    publisher = client.node.create_publisher(CameraInfo, "camera_info", qos_profile_sensor_data)
    grids: list[OccupancyGrid] = []
    client.node.create_subscription(OccupancyGrid, "road_grid", grids.append, QoSProfile(depth=20))
    try:
        assert node.wait_for_output("road_seg ready", 30), node.output
        assert client.wait_connected() and wait_until_matched(client.node, [publisher], 20), node.output
        for stamp in range(1, 4):
            publisher.publish(info)
            client.spin_for(0.2)
            client.roundtrip(make_image_msg(FRAME, "rgb8", stamp_sec=stamp))
        values = diagnostics_until(client, lambda v: int(v["grid_camera_info_received"]) > 0)
        status = client.diagnostics[-1].status[0]
        print(f"\n[camera_info] {words}: level {status.level}, {status.message[:120]}")
        assert not grids
        assert status.level == DiagnosticStatus.WARN and "bad CameraInfo" in status.message and words in status.message
        assert values["grid_published"] == "0"
    finally:
        client.close()
        assert node.stop() == 0, node.output


def test_sighup_stops_the_node_cleanly(ros_context, red_model):
    """Before: SIGHUP (its terminal closed) killed the node without clean-up."""
    node = NodeProcess({"model_path": str(red_model), "providers": "cpu"}, "/h" + uuid.uuid4().hex[:6])
    assert node.wait_for_output("road_seg ready", 30), node.output
    code = node.stop(signal.SIGHUP)
    assert code == 0 and "Traceback" not in node.output, node.output


def test_record_overlay_keeps_what_it_recorded_on_ctrl_c(ros_context, red_model, tmp_path):
    """Before: Ctrl-C during a recording wrote nothing (no frames, no GIF, no bag) and exited 130."""
    import json
    import os

    from ros_harness import ROOT

    from ros_road_seg.tools.processes import ChildProcess, python_module_command, ros_arguments

    namespace = "/r" + uuid.uuid4().hex[:6]
    node = NodeProcess({"model_path": str(red_model), "providers": "cpu"}, namespace)
    out = tmp_path / "overlay"
    args = ["--out", str(out), "--idle-exit", "60", "--timeout", "60", "--bag", str(tmp_path / "rec")]
    recorder = ChildProcess(
        "record_overlay",
        python_module_command("ros_road_seg.tools.record_overlay", *args, *ros_arguments(namespace=namespace)),
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    client = Client(namespace)
    try:
        assert node.wait_for_output("road_seg ready", 30), node.output
        assert recorder.wait_for_output("listening", 30), recorder.output
        assert client.wait_connected(), node.output
        for stamp in range(1, 4):
            client.roundtrip(make_image_msg(FRAME, "rgb8", stamp_sec=stamp))
        client.spin_for(1.0)
        code = recorder.stop(signal.SIGINT, timeout=30)
        print(f"\n[record_overlay] Ctrl-C after 3 frames: exit {code}; wrote {sorted(p.name for p in out.iterdir())}")
        assert code == 130, recorder.output
        summary = json.loads((out / "summary.json").read_text())
        assert summary["interrupted"] and summary["unique_frames"] == 3
        assert (out / "overlay.gif").is_file() and len(list(out.glob("overlay_*.png"))) == 3
        assert (tmp_path / "rec" / "metadata.yaml").is_file(), "the bag is closed properly"
    finally:
        recorder.stop(signal.SIGKILL, 1)
        client.close()
        assert node.stop() == 0, node.output


def test_the_node_says_which_frames_its_transport_carries(ros_context, red_model):
    """Before: max_pixels admitted 16.8 Mpx frames that the 32 MB shared-memory segment then lost in silence."""
    from ros_harness import ROOT

    from ros_road_seg.core.paths import shm_segment_bytes

    assert shm_segment_bytes(ROOT / "config" / "fastdds_shm.xml") == 32 * 2**20
    node = NodeProcess({"model_path": str(red_model), "providers": "cpu"}, "/s" + uuid.uuid4().hex[:6])
    assert node.wait_for_output("road_seg ready", 30), node.output
    assert "carries rgb8 frames up to about 11.2 Mpx" in node.output and "max_pixels admits 16.8 Mpx" in node.output
    assert node.stop() == 0, node.output
    small = NodeProcess({"model_path": str(red_model), "providers": "cpu", "max_pixels": 4000000}, "/s2")
    assert small.wait_for_output("road_seg ready", 30), small.output
    assert "carries rgb8 frames" not in small.output  # limits that agree: nothing to say
    assert small.stop() == 0, small.output
