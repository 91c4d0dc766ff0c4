"""The node's road_grid output as a real process: intrinsics from a replayed bag's CameraInfo or from parameters,
one grid per served frame with the frame's stamp, and a clear reason when it cannot publish."""

from __future__ import annotations

import os
import sys
import time
import uuid

import numpy as np
from nav_msgs.msg import OccupancyGrid
from rclpy.qos import QoSProfile
from ros_harness import ROOT, Client, NodeProcess, make_image_msg
from synthetic_data import make_kitti

from ros_road_seg.core.ground_grid import GridSpec, GroundProjector, Intrinsics, Mounting
from ros_road_seg.tools.kitti_to_bag import DEFAULT_TOPIC, camera_info_topic, convert
from ros_road_seg.tools.processes import ChildProcess
from ros_road_seg.tools.ros_messages import stamp_to_ns

GRID = {"grid_resolution": 0.2, "grid_length": 30.0, "grid_width": 20.0}


def grid_listener(client: Client) -> list[tuple[float, OccupancyGrid]]:
    grids: list[tuple[float, OccupancyGrid]] = []
    client.node.create_subscription(
        OccupancyGrid, "road_grid", lambda msg: grids.append((time.monotonic(), msg)), QoSProfile(depth=50)
    )
    return grids


def as_array(msg: OccupancyGrid) -> np.ndarray:
    return np.array(msg.data, np.int8).reshape(msg.info.height, msg.info.width)


def test_grid_follows_a_replayed_bag_at_the_image_rate(ros_context, red_model, tmp_path):
    root = make_kitti(tmp_path / "kitti", 5, size=(120, 400))
    convert(root / "training", tmp_path / "bag", rate=10, progress=False)
    namespace = "/g" + uuid.uuid4().hex[:6]
    node = NodeProcess(
        {"model_path": str(red_model), "providers": "cpu", "publish_grid": True, **GRID},
        namespace,
        ["-r", f"image:={DEFAULT_TOPIC}", "-r", f"camera_info:={camera_info_topic(DEFAULT_TOPIC)}"],
    )
    client = Client(namespace)
    grids = grid_listener(client)
    try:
        assert node.wait_for_output("road_seg ready", 30), node.output
        client.spin_for(1.0)
        replay = ChildProcess(
            "bag_replay",
            [sys.executable, "-m", "ros_road_seg.tools.bag_replay", str(tmp_path / "bag"), "--loop", "3"],
            cwd=ROOT,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
        )
        deadline = time.monotonic() + 60
        while replay.process.poll() is None and time.monotonic() < deadline:
            client.spin_for(0.05)
        client.spin_for(1.0)
        assert replay.stop() == 0, replay.output
        mask_stamps = [stamp_to_ns(m.header.stamp) for m in client.masks]
        grid_stamps = [stamp_to_ns(g.header.stamp) for _, g in grids]
        assert len(mask_stamps) >= 12, f"{len(mask_stamps)} masks for 15 frames\n{node.output}"
        # CameraInfo and images arrive on separate subscriptions, so a frame served before the first CameraInfo
        # has no intrinsics yet and gets no grid; from the first grid on, every served frame has one.
        before_intrinsics = len(mask_stamps) - len(grid_stamps)
        assert 0 <= before_intrinsics <= 2, f"{len(grid_stamps)} grids for {len(mask_stamps)} masks"
        assert grid_stamps == mask_stamps[before_intrinsics:], "one grid per served frame, with the frame's stamp"
        span = grids[-1][0] - grids[0][0]
        rate = (len(grids) - 1) / span
        print(f"\n[grid] {len(grids)} grids for {len(mask_stamps)} masks, {rate:.1f} Hz from a 10 Hz bag")
        assert 6.0 < rate < 14.0, f"grids at {rate:.1f} Hz"
        spec = GridSpec(**{k.removeprefix("grid_"): v for k, v in GRID.items()})
        for _, grid in grids:
            assert grid.header.frame_id == "base_footprint"
            assert (grid.info.width, grid.info.height) == (spec.columns, spec.rows)
            assert abs(grid.info.resolution - 0.2) < 1e-6 and grid.info.origin.position.y == -10.0
            assert set(np.unique(as_array(grid))) <= {-1, 0, 100}
        assert "intrinsics from" in node.output
    finally:
        client.close()
        assert node.stop() == 0, node.output


def test_no_intrinsics_no_grid_and_the_reason_once(ros_context, red_model):
    namespace = "/g" + uuid.uuid4().hex[:6]
    node = NodeProcess(
        {"model_path": str(red_model), "providers": "cpu", "publish_grid": True, "diagnostics_period": 0.3},
        namespace,
    )
    client = Client(namespace)
    grids = grid_listener(client)
    frame = np.random.default_rng(1).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    try:
        assert node.wait_for_output("road_seg ready", 30), node.output
        assert client.wait_connected(), node.output
        for stamp in range(1, 6):
            client.roundtrip(make_image_msg(frame, "rgb8", stamp_sec=stamp))
        client.spin_for(1.0)
        assert not grids
        assert node.output.count("road_grid not published: no camera intrinsics yet") == 1, node.output
        values = client.latest_diagnostic_values()
        assert int(values["grid_skipped_no_intrinsics"]) == 5 and values["grid_published"] == "0"
        assert client.diagnostics[-1].status[0].message.startswith("road_grid not published")
    finally:
        client.close()
        assert node.stop() == 0, node.output


def test_fixed_intrinsics_from_parameters(ros_context, red_model):
    """No CameraInfo at all: camera_fx & co. give the intrinsics; the grid is the projection of the served mask."""
    camera = Intrinsics(fx=70.0, fy=70.0, cx=40.0, cy=20.0, width=80, height=60)
    mounting = Mounting(height=1.5, pitch=0.1)
    parameters = {
        "model_path": str(red_model),
        "providers": "cpu",
        "publish_grid": True,
        "camera_fx": camera.fx,
        "camera_fy": camera.fy,
        "camera_cx": camera.cx,
        "camera_cy": camera.cy,
        "camera_image_width": camera.width,
        "camera_image_height": camera.height,
        "camera_height": mounting.height,
        "camera_pitch": mounting.pitch,
        **GRID,
    }
    namespace = "/g" + uuid.uuid4().hex[:6]
    node = NodeProcess(parameters, namespace)
    client = Client(namespace)
    grids = grid_listener(client)
    frame = np.zeros((60, 80, 3), np.uint8)
    frame[30:, :, 0] = 255  # the red-channel model calls the lower half road
    try:
        assert node.wait_for_output("road_seg ready", 30), node.output
        assert client.wait_connected(), node.output
        mask, _ = client.roundtrip(make_image_msg(frame, "rgb8", stamp_sec=7))
        client.spin_for(0.5)
        assert len(grids) == 1 and stamp_to_ns(grids[0][1].header.stamp) == stamp_to_ns(mask.header.stamp)
        served = np.frombuffer(mask.data, np.uint8).reshape(mask.height, mask.width)
        spec = GridSpec(**{k.removeprefix("grid_"): v for k, v in GRID.items()})
        expected = GroundProjector(camera, mounting, spec).project(served.copy())
        np.testing.assert_array_equal(as_array(grids[0][1]), expected)
        assert (expected == 0).any() and (expected == -1).any()
    finally:
        client.close()
        assert node.stop() == 0, node.output
