"""kitti_to_bag round trips, replay order and pace, bag errors, and the demo pipeline on tiny frames."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import rclpy
import yaml
from ros_harness import run_tool
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_typestore
from sensor_msgs.msg import Image
from synthetic_data import make_kitti, synthetic_frame, write_png

from ros_road_seg.core.errors import BagError
from ros_road_seg.tools.discovery import spin_for
from ros_road_seg.tools.kitti_to_bag import INDEX_FILE, convert, read_raw_timestamps
from ros_road_seg.tools.processes import ChildProcess, is_running
from ros_road_seg.tools.ros_messages import stamp_to_ns

ROOT = Path(__file__).resolve().parent.parent
TOPIC = "/kitti/camera/color/left/image_raw"


def frames_folder(folder: Path, count: int) -> list[np.ndarray]:
    frames = []
    for index in range(count):
        rgb, _ = synthetic_frame(index, (30, 40))
        write_png(folder / f"{index:04d}.png", rgb)
        frames.append(rgb)
    return frames


def read_bag(path: Path, topic: str = TOPIC):
    typestore = get_typestore(Stores.LATEST)
    with Reader(path) as reader:
        connections = [c for c in reader.connections if c.topic == topic]
        return [
            (stamp, typestore.deserialize_cdr(raw, c.msgtype))
            for c, stamp, raw in reader.messages(connections=connections)
        ]


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
@pytest.mark.parametrize("encoding", ["rgb8", "bgr8"])
def test_round_trip_pixels_stamps_encodings(tmp_path, storage, encoding):
    frames = frames_folder(tmp_path / "frames", 4)
    bag = tmp_path / "bag"
    summary = convert(
        tmp_path / "frames", bag, storage=storage, encoding=encoding, rate=10, start_ns=5 * 10**9, progress=False
    )
    assert summary["frames"] == 4 and (bag / "metadata.yaml").is_file()
    messages = read_bag(bag)
    assert [stamp for stamp, _ in messages] == [5 * 10**9 + i * 10**8 for i in range(4)]
    for (stamp, msg), rgb in zip(messages, frames, strict=True):
        assert msg.encoding == encoding and msg.header.frame_id == "camera_color_left"
        assert msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec == stamp
        pixels = msg.data.reshape(msg.height, msg.width, 3)
        expected = rgb if encoding == "rgb8" else cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        np.testing.assert_array_equal(pixels, expected)
    index = (bag / INDEX_FILE).read_text().splitlines()
    assert index[0] == "stamp_ns,name" and index[1] == f"{5 * 10**9},0000"


def test_kitti_raw_drive_uses_its_timestamps(tmp_path):
    drive = tmp_path / "2011_09_26_drive_0001_sync"
    frames_folder(drive / "image_02" / "data", 3)
    (drive / "image_02" / "timestamps.txt").write_text(
        "2011-09-26 13:02:25.964389445\n2011-09-26 13:02:26.068102100\n2011-09-26 13:02:26.171817035\n"
    )
    summary = convert(drive, tmp_path / "bag", progress=False)
    assert summary["layout"] == "kitti_raw"
    stamps = [stamp for stamp, _ in read_bag(tmp_path / "bag")]
    assert stamps == read_raw_timestamps(drive / "image_02" / "timestamps.txt")
    assert stamps[0] == 1317042145 * 10**9 + 964389445


def test_compressed_and_camera_info_from_calibration(tmp_path):
    frames_folder(tmp_path / "frames", 2)
    calib = tmp_path / "calib_cam_to_cam.txt"
    calib.write_text(
        "S_rect_02: 4.0e+01 3.0e+01\nP_rect_02: 7.2e+02 0 6.0e+02 4.4e+01 0 7.2e+02 1.7e+02 0 0 0 1 0\n"
        "R_rect_02: 1 0 0 0 1 0 0 0 1\nK_02: 9.5e+02 0 6.9e+02 0 9.5e+02 2.4e+02 0 0 1\n"
        "D_02: -0.37 0.2 0.0 0.0 -0.07\n"
    )
    convert(tmp_path / "frames", tmp_path / "bag", compressed=True, calibration=calib, progress=False)
    compressed = read_bag(tmp_path / "bag", TOPIC + "/compressed")
    info = read_bag(tmp_path / "bag", "/kitti/camera/color/left/camera_info")
    # image_transport's compressed publisher writes '<encoding>; jpeg compressed bgr8' (compressed_image_transport)
    assert len(compressed) == 2 and compressed[0][1].format == "rgb8; jpeg compressed bgr8"
    decoded = cv2.imdecode(compressed[0][1].data, cv2.IMREAD_COLOR)
    assert decoded.shape == (30, 40, 3)
    assert len(info) == 2 and info[0][1].width == 40 and info[0][1].p[0] == pytest.approx(720.0)


def test_kitti_frames_get_the_kitti_camera_with_the_image_stamps(tmp_path):
    """A 1224x370 bottom-right crop of KITTI's 1242x375 frame: fx, fy as calibrated, cx - 18, cy - 5."""
    root = make_kitti(tmp_path / "k", 3, size=(370, 1224))
    summary = convert(root, tmp_path / "bag", progress=False)
    assert summary["camera_info"] == "kitti"
    images = read_bag(tmp_path / "bag")
    info = read_bag(tmp_path / "bag", "/kitti/camera/color/left/camera_info")
    assert [stamp for stamp, _ in info] == [stamp for stamp, _ in images]
    for (_, image), (_, camera) in zip(images, info, strict=True):
        assert (camera.header.stamp.sec, camera.header.stamp.nanosec) == (
            image.header.stamp.sec,
            image.header.stamp.nanosec,
        )
        assert (camera.width, camera.height) == (1224, 370) and camera.header.frame_id == image.header.frame_id
        np.testing.assert_allclose(
            camera.k, [721.5377, 0, 609.5593 - 18, 0, 721.5377, 172.854 - 5, 0, 0, 1], rtol=0, atol=1e-9
        )
        np.testing.assert_allclose(camera.p[[0, 2, 5, 6, 3]], [721.5377, 591.5593, 721.5377, 167.854, 0.0])
    generic = frames_folder(tmp_path / "plain", 1)
    assert generic and convert(tmp_path / "plain", tmp_path / "bag2", progress=False)["camera_info"] == "none"
    too_big = make_kitti(tmp_path / "big", 1, size=(400, 1300))
    with pytest.raises(BagError, match="not a crop of KITTI"):
        convert(too_big, tmp_path / "bag3", progress=False)


def test_bags_record_the_offered_qos(tmp_path):
    """metadata.yaml says what each publisher offered (reliable, volatile), as rosbag2 writes it."""
    frames_folder(tmp_path / "frames", 1)
    convert(tmp_path / "frames", tmp_path / "bag", compressed=True, progress=False)
    with Reader(tmp_path / "bag") as reader:
        for connection in reader.connections:
            (profile,) = connection.ext.offered_qos_profiles
            assert profile.reliability.name == "RELIABLE" and profile.durability.name == "VOLATILE", connection.topic
    metadata = yaml.safe_load((tmp_path / "bag" / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert metadata["version"] == 9
    for topic in metadata["topics_with_message_count"]:
        assert topic["topic_metadata"]["offered_qos_profiles"], topic


def test_unreadable_frame_named_and_nothing_left(tmp_path):
    frames_folder(tmp_path / "frames", 3)
    (tmp_path / "frames" / "0001.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(BagError, match="0001.png"):
        convert(tmp_path / "frames", tmp_path / "bag", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]
    summary = convert(tmp_path / "frames", tmp_path / "bag", skip_bad=True, progress=False)
    assert summary["frames"] == 2 and summary["skipped"] == ["0001.png"]


def test_empty_folder_and_existing_output(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(BagError, match="holds no PNG/JPG"):
        convert(tmp_path / "empty", tmp_path / "bag", progress=False)
    frames_folder(tmp_path / "frames", 1)
    (tmp_path / "exists").mkdir()
    with pytest.raises(BagError, match="already exists"):
        convert(tmp_path / "frames", tmp_path / "exists", progress=False)


class Listener:
    """Subscribers in this process: the camera topic with a reliable and a best-effort QoS, and /clock."""

    def __init__(self, topic: str = TOPIC) -> None:
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from rosgraph_msgs.msg import Clock

        self.node = rclpy.create_node("replay_listener")
        self.reliable: list[tuple[float, int]] = []
        self.best_effort: list[tuple[float, int]] = []
        self.clock: list[tuple[float, int]] = []

        def keep(store):
            return lambda m: store.append((time.monotonic(), stamp_to_ns(m.header.stamp)))

        self.node.create_subscription(Image, topic, keep(self.reliable), QoSProfile(depth=50))
        best = QoSProfile(depth=50, reliability=ReliabilityPolicy.BEST_EFFORT)
        self.node.create_subscription(Image, topic, keep(self.best_effort), best)
        self.node.create_subscription(
            Clock, "/clock", lambda m: self.clock.append((time.monotonic(), stamp_to_ns(m.clock))), 100
        )

    def play(self, bag: Path, *args: str) -> str:
        process = ChildProcess(
            "bag_replay",
            [sys.executable, "-m", "ros_road_seg.tools.bag_replay", str(bag), *args],
            cwd=ROOT,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
        )
        deadline = time.monotonic() + 60
        while process.process.poll() is None and time.monotonic() < deadline:
            rclpy.spin_once(self.node, timeout_sec=0.01)
        spin_for(self.node, 0.5)
        assert process.stop() == 0, process.output
        return process.output


@pytest.fixture()
def listener(ros_context):
    listening = Listener()
    yield listening
    listening.node.destroy_node()


def recorded_stamps(bag: Path) -> list[int]:
    return [int(line.split(",")[0]) for line in (bag / INDEX_FILE).read_text().splitlines()[1:]]


def test_replay_reaches_reliable_and_best_effort_subscribers_in_order_at_pace(tmp_path, listener):
    """Recorded QoS (reliable) by default: a default (reliable) subscriber gets every frame, as does a best-effort
    one; order and pace as recorded."""
    frames_folder(tmp_path / "frames", 10)
    bag = tmp_path / "bag"
    convert(tmp_path / "frames", bag, rate=10, progress=False)
    output = listener.play(bag, "--rate", "1")
    expected = recorded_stamps(bag)
    reliable = [stamp for _, stamp in listener.reliable]
    best_effort = [stamp for _, stamp in listener.best_effort]
    print(f"\n[replay] reliable subscriber {len(reliable)}/10, best-effort subscriber {len(best_effort)}/10: {output}")
    assert reliable == expected, output
    assert best_effort == expected, output
    assert "(reliable, volatile, depth 10)" in output
    span = listener.reliable[-1][0] - listener.reliable[0][0]
    assert 0.6 < span < 2.5, f"10 frames at 10 Hz took {span:.2f} s"


def test_replay_best_effort_on_request_misses_reliable_subscribers(tmp_path, listener):
    """--qos best_effort: what the old replay always did; a reliable subscriber cannot match it."""
    frames_folder(tmp_path / "frames", 5)
    convert(tmp_path / "frames", tmp_path / "bag", rate=10, progress=False)
    listener.play(tmp_path / "bag", "--qos", "best_effort")
    assert not listener.reliable and [s for _, s in listener.best_effort] == recorded_stamps(tmp_path / "bag")


def test_replay_clock_start_offset_loop(tmp_path, listener):
    """--clock 50 publishes the bag's time at a steady 50 Hz; --start-offset skips the first 0.5 s; --loop 2 plays
    the rest twice."""
    frames_folder(tmp_path / "frames", 10)
    bag = tmp_path / "bag"
    convert(tmp_path / "frames", bag, rate=10, start_ns=100 * 10**9, progress=False)
    output = listener.play(bag, "--clock", "50", "--start-offset", "0.5", "--loop", "2")
    expected = [stamp for stamp in recorded_stamps(bag) if stamp >= 100 * 10**9 + 5 * 10**8]
    assert [stamp for _, stamp in listener.reliable] == expected * 2, output
    ticks = listener.clock
    duration = ticks[-1][0] - ticks[0][0]
    rate = (len(ticks) - 1) / duration
    values = [value for _, value in ticks]
    print(f"\n[replay] /clock: {len(ticks)} messages over {duration:.2f} s = {rate:.1f} Hz (asked 50 Hz)")
    assert 40 <= rate <= 55, f"/clock at {rate:.1f} Hz"
    assert min(values) >= 100 * 10**9 + 5 * 10**8 - 10**8 and max(values) <= 100 * 10**9 + 10**9 + 10**8


def test_replay_errors(tmp_path):
    missing = run_tool("ros_road_seg.tools.bag_replay", str(tmp_path / "nope"), "--wait", "0")
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    frames_folder(tmp_path / "frames", 2)
    # before: "Expected metadata file '<the folder>' does not exist" (rosbags' words, naming the folder as the file)
    not_a_bag = run_tool("ros_road_seg.tools.bag_replay", str(tmp_path / "frames"), "--wait", "0")
    assert not_a_bag.returncode == 1 and "a folder without metadata.yaml" in not_a_bag.stderr, not_a_bag.stderr
    convert(tmp_path / "frames", tmp_path / "bag", progress=False)
    (storage,) = (path for path in (tmp_path / "bag").iterdir() if path.suffix in (".db3", ".mcap"))
    inside = run_tool("ros_road_seg.tools.bag_replay", str(storage), "--wait", "0")
    assert inside.returncode == 1 and "give the bag folder that holds it" in inside.stderr, inside.stderr
    wrong_topic = run_tool(
        "ros_road_seg.tools.bag_replay", str(tmp_path / "bag"), "--topics", "/camera/other", "--wait", "0"
    )
    assert wrong_topic.returncode == 1 and "no topic /camera/other" in wrong_topic.stderr
    mcap = next((tmp_path / "bag").glob("*.mcap"))
    mcap.write_bytes(mcap.read_bytes()[: mcap.stat().st_size // 3])
    corrupt = run_tool("ros_road_seg.tools.bag_replay", str(tmp_path / "bag"), "--wait", "0")
    assert corrupt.returncode == 1 and "bag" in corrupt.stderr and "Traceback" not in corrupt.stderr


def test_bag_without_image_topic(tmp_path):
    from rosbags.rosbag2 import StoragePlugin, Writer

    typestore = get_typestore(Stores.LATEST)
    bag = tmp_path / "strings"
    with Writer(bag, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        connection = writer.add_connection("/chatter", "std_msgs/msg/String", typestore=typestore)
        writer.write(
            connection,
            1,
            typestore.serialize_cdr(typestore.types["std_msgs/msg/String"](data="hi"), "std_msgs/msg/String"),
        )
    result = run_tool("ros_road_seg.tools.bag_replay", str(bag), "--wait", "0")
    assert result.returncode == 1 and "no sensor_msgs/Image" in result.stderr
    typed = run_tool("ros_road_seg.tools.bag_replay", str(bag), "--topics", "/chatter", "--wait", "0")
    assert typed.returncode == 1 and "/chatter (std_msgs/msg/String)" in typed.stderr


def read_recording(bag: Path) -> dict[str, list]:
    """Every message of a bag, by topic, deserialised with rosbags' own typestore (not with our writer's code)."""
    typestore = get_typestore(Stores.LATEST)
    messages: dict[str, list] = {}
    with Reader(bag) as reader:
        for connection, _, raw in reader.messages():
            messages.setdefault(connection.topic, []).append(typestore.deserialize_cdr(raw, connection.msgtype))
    return messages


def test_demo_pipeline_on_three_tiny_frames(tmp_path, red_model):
    data = make_kitti(tmp_path / "kitti", 3, size=(60, 80))
    result = run_tool(
        "ros_road_seg.tools.demo",
        "--frames",
        str(data / "training"),
        "--labels",
        str(data / "training" / "semantic"),
        "--model",
        str(red_model),
        "--providers",
        "cpu",
        "--out",
        str(tmp_path / "demo"),
        "--loop",
        "4",
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "demo" / "overlay" / "overlay.gif").is_file()
    pngs = sorted(p.name for p in (tmp_path / "demo" / "overlay").glob("overlay_*.png"))
    assert len(pngs) == 3, f"{pngs}\n{result.stdout}"
    assert "mean road IoU:" in result.stdout and "provider:           CPUExecutionProvider" in result.stdout
    summary = json.loads((tmp_path / "demo" / "demo_summary.json").read_text())
    assert summary["unique_grids"] == 3 and summary["grids_received"] >= 3, "road_grid from the bag's CameraInfo"
    recorded = read_recording(tmp_path / "demo" / "recording")
    assert set(recorded) == {TOPIC, "/road_mask", "/road_overlay", "/road_grid"}, set(recorded)
    masks = recorded["/road_mask"]
    assert len(masks) >= 3 and all(m.encoding == "mono8" and (m.width, m.height) == (80, 60) for m in masks)
    input_stamps = {stamp_to_ns(m.header.stamp) for m in recorded[TOPIC]}
    assert {stamp_to_ns(m.header.stamp) for m in masks} <= input_stamps
    assert all(g.header.frame_id == "base_footprint" for g in recorded["/road_grid"])
    pids = summary["stage_pids"]
    assert set(pids) == {"road_seg_node", "record_overlay", "bag_replay"}
    assert not [name for name, pid in pids.items() if is_running(pid)], f"the demo left processes running: {pids}"


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_damaged_bag_is_one_clear_error(tmp_path, storage, damage):
    frames_folder(tmp_path / "frames", 6)
    bag = tmp_path / "bag"
    convert(tmp_path / "frames", bag, storage=storage, progress=False)
    data_file = next(p for p in bag.iterdir() if p.suffix in (".mcap", ".db3"))
    raw = data_file.read_bytes()
    if damage == "truncated":
        data_file.write_bytes(raw[: len(raw) // 2])
    else:
        data_file.write_bytes(raw[:64] + bytes(len(raw) - 64))
    result = run_tool("ros_road_seg.tools.bag_replay", str(bag), "--wait", "0")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "bag_replay: error: bag" in result.stderr and "Traceback" not in result.stderr
