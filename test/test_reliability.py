"""The node under abuse, as a real process: bad frames, bad settings, runtime parameter changes, signals, load."""

from __future__ import annotations

import array
import os
import signal
import sys
import time
import uuid

import cv2
import numpy as np
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticStatus
from onnx_fixtures import write_red_channel_model
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from ros_harness import ROOT, Client, NodeProcess, make_image_msg
from sensor_msgs.msg import CompressedImage

from ros_road_seg.core.paths import default_model_path
from ros_road_seg.core.stats import rss_mb
from ros_road_seg.tools.processes import ChildProcess

BAD_RAW_KINDS = {  # kind -> (how to spoil a good rgb8 message, text the node's error log must contain)
    "32FC1": (lambda m: setattr(m, "encoding", "32FC1"), "encoding '32FC1' is not supported"),
    "bayer_rggb8": (lambda m: setattr(m, "encoding", "bayer_rggb8"), "encoding 'bayer_rggb8' is not supported"),
    "yuv422": (lambda m: setattr(m, "encoding", "yuv422"), "encoding 'yuv422' is not supported"),
    "empty encoding": (lambda m: setattr(m, "encoding", ""), "encoding '' is not supported"),
    "data too short": (lambda m: setattr(m, "data", m.data[:-7]), "bytes, expected step"),
    "data too long": (lambda m: setattr(m, "data", m.data + array.array("B", bytes(9))), "bytes, expected step"),
    "step too small": (lambda m: setattr(m, "step", m.width), "is smaller than width"),
    "width 0": (
        lambda m: (setattr(m, "width", 0), setattr(m, "step", 0), setattr(m, "data", array.array("B"))),
        "an image needs both > 0",
    ),
    "height 0": (
        lambda m: (setattr(m, "height", 0), setattr(m, "data", array.array("B"))),
        "an image needs both > 0",
    ),  # one log per kind of problem in 5 s: width 0 was the same kind
    "too many pixels": (None, "exceeds max_pixels"),
}


def namespace() -> str:
    return "/r" + uuid.uuid4().hex[:8]


def start(parameters: dict, ns: str | None = None, extra: list[str] | None = None) -> tuple[NodeProcess, str]:
    ns = ns or namespace()
    node = NodeProcess(parameters, ns, extra)
    return node, ns


def frame(height: int = 120, width: int = 200, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_every_bad_kind_is_logged_counted_and_survived(ros_context, red_model):
    node, ns = start(
        {"model_path": str(red_model), "providers": "cpu", "diagnostics_period": 0.3, "max_pixels": 100_000}
    )
    try:
        assert node.wait_for_output("road_seg ready", 30), node.output
        client = Client(ns)
        assert client.wait_connected(), node.output
        stamp = 100
        for spoil, _ in BAD_RAW_KINDS.values():
            if spoil is None:
                bad = make_image_msg(frame(400, 400), "rgb8", stamp)  # 160,000 px > max_pixels
            else:
                bad = make_image_msg(frame(), "rgb8", stamp)
                spoil(bad)
            client.publisher.publish(bad)
            client.spin_for(0.15)
            stamp += 1
            good = make_image_msg(frame(seed=stamp), "rgb8", stamp)  # the next good frame is still served
            client.roundtrip(good)
            stamp += 1
        served_odd = []
        for size in [(1, 1), (3, 1000), (1000, 3)] + [(50 + i * 7, 80 + i * 11) for i in range(6)]:
            odd = make_image_msg(frame(*size, seed=stamp), "rgb8", stamp)  # odd and ever-changing sizes are served
            mask, _ = client.roundtrip(odd)
            served_odd.append((mask.height, mask.width) == size)
            stamp += 1
        assert all(served_odd)
        client.spin_for(1.0)
        values = client.latest_diagnostic_values()
        assert int(values["frames_bad"]) == len(BAD_RAW_KINDS), values
        for kind, (_, text) in BAD_RAW_KINDS.items():
            assert text in node.output, f"{kind}: no error log with '{text}'\n{node.output}"
        assert node.process.poll() is None
    finally:
        assert node.stop() == 0, node.output


def test_bad_compressed_frames_are_survived(ros_context, red_model):
    node, ns = start({"model_path": str(red_model), "providers": "cpu", "input_transport": "compressed"})
    try:
        assert node.wait_for_output("road_seg ready", 30), node.output
        client = Client(ns, compressed=True)
        assert client.wait_connected(), node.output
        jpeg = cv2.imencode(".jpg", frame())[1].tobytes()
        for stamp, payload in enumerate([b"definitely not an image", jpeg[: len(jpeg) // 2]], start=1):
            bad = CompressedImage(format="jpeg")
            bad.header.stamp.sec = stamp
            bad.data = array.array("B", payload)
            client.publisher.publish(bad)
            client.spin_for(0.2)
            good = CompressedImage(format="jpeg")
            good.header.stamp.sec = 100 + stamp
            good.data = array.array("B", jpeg)
            client.roundtrip(good)
        assert node.wait_for_output("format not accepted", 5) and node.wait_for_output("JPEG: truncated", 5)
    finally:
        assert node.stop() == 0, node.output


@pytest.mark.parametrize(
    "case",
    [
        "missing params file",
        "malformed params file",
        "threshold 1.5",
        "overlay_alpha -1",
        "providers gpu",
        "non-ONNX model",
        "truncated model",
        "wrong input rank",
        "two input channels",
        "input_transport bad",
    ],
)
def test_bad_startup_is_one_clear_error(ros_context, red_model, tmp_path, case):
    parameters = {"model_path": str(red_model), "providers": "cpu"}
    extra = []
    expect = ""
    if case == "missing params file":
        extra, expect = ["--params-file", str(tmp_path / "absent.yaml")], "absent.yaml"
    elif case == "malformed params file":
        bad = tmp_path / "bad.yaml"
        bad.write_text("road_seg: {ros__parameters: [unclosed\n")
        extra, expect = ["--params-file", str(bad)], "bad.yaml"
    elif case == "threshold 1.5":
        parameters["threshold"], expect = 1.5, "threshold 1.5"
    elif case == "overlay_alpha -1":
        parameters["overlay_alpha"], expect = -1.0, "overlay_alpha"
    elif case == "providers gpu":
        parameters["providers"], expect = "gpu", "providers 'gpu' is not one of"
    elif case == "non-ONNX model":
        path = tmp_path / "notes.onnx"
        path.write_text("hello")
        parameters["model_path"], expect = str(path), "notes.onnx"
    elif case == "truncated model":
        path = tmp_path / "cut.onnx"
        path.write_bytes(red_model.read_bytes()[:50])
        parameters["model_path"], expect = str(path), "cut.onnx"
    elif case == "wrong input rank":
        parameters["model_path"], expect = str(write_red_channel_model(tmp_path / "r3.onnx", rank=3)), "rank 3"
    elif case == "two input channels":
        parameters["model_path"] = str(write_red_channel_model(tmp_path / "c2.onnx", channels=2))
        expect = "2 channels"
    elif case == "input_transport bad":
        parameters["input_transport"], expect = "h264", "input_transport 'h264'"
    node, _ = start(parameters, extra=extra)
    code = node.process.wait(30)
    node.stop()
    assert code != 0, node.output
    assert expect in node.output, node.output
    assert "Traceback" not in node.output


def set_parameter(node, service_name: str, name: str, value) -> tuple[bool, str]:
    client = node.create_client(SetParameters, service_name)
    assert client.wait_for_service(10)
    parameter_value = (
        ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=float(value))
        if isinstance(value, float)
        else ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=value)
    )
    future = client.call_async(SetParameters.Request(parameters=[Parameter(name=name, value=parameter_value)]))
    rclpy.spin_until_future_complete(node, future, timeout_sec=10)
    result = future.result().results[0]
    node.destroy_client(client)
    return result.successful, result.reason


def test_runtime_parameter_changes_are_validated(ros_context, red_model):
    node, ns = start({"model_path": str(red_model), "providers": "cpu"})
    try:
        assert node.wait_for_output("road_seg ready", 30), node.output
        client = Client(ns)
        assert client.wait_connected(), node.output
        service = f"{ns}/road_seg/set_parameters"
        ok, reason = set_parameter(client.node, service, "threshold", 1.5)
        assert not ok and "threshold 1.5 is outside [0, 1]" in reason
        ok, reason = set_parameter(client.node, service, "overlay_alpha", -1.0)
        assert not ok and "overlay_alpha" in reason
        ok, reason = set_parameter(client.node, service, "model_path", "other.onnx")
        assert not ok
        # A valid change takes effect on the next frame: a threshold of 1.0 leaves no road at all.
        bright = np.full((40, 60, 3), 250, np.uint8)
        mask, _ = client.roundtrip(make_image_msg(bright, "rgb8", 10))
        assert max(mask.data) == 255
        ok, reason = set_parameter(client.node, service, "threshold", 1.0)
        assert ok, reason
        mask, _ = client.roundtrip(make_image_msg(bright, "rgb8", 11))
        assert max(mask.data) == 0
    finally:
        assert node.stop() == 0, node.output


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_inference_exits_cleanly_within_2s(ros_context, kitti_frame, sig):
    model = default_model_path()
    node, ns = start({"model_path": str(model), "providers": "cpu"})
    try:
        assert node.wait_for_output("road_seg ready", 60), node.output
        client = Client(ns)
        assert client.wait_connected(), node.output
        message = make_image_msg(kitti_frame, "rgb8", 1)
        client.roundtrip(message)
        for _ in range(20):  # keep it busy
            client.publisher.publish(message)
            client.spin_for(0.01)
        started = time.monotonic()
        code = node.stop(sig, timeout=5)
        elapsed = time.monotonic() - started
    finally:
        node.stop()
    assert code == 0 and elapsed < 2.0, f"exit {code} after {elapsed:.2f} s\n{node.output}"
    assert "Traceback" not in node.output and "[ERROR]" not in node.output


SLOW_SUBSCRIBER = """
import sys, time, rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
rclpy.init()
node = rclpy.create_node("slow_viewer", namespace=sys.argv[1])
reliable = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
node.create_subscription(Image, "road_overlay", lambda m: time.sleep(0.5), reliable)
try:
    rclpy.spin(node)
except BaseException:
    pass
"""


def test_flood_at_100hz_for_30s(ros_context, kitti_frame, capsys):
    """100 Hz of KITTI frames for 30 s: bounded latency, flat memory, truthful drop accounting."""
    node, ns = start({"model_path": str(default_model_path()), "providers": "cpu", "diagnostics_period": 0.5})
    # the one process harness: stopped with SIGINT, killed if a loaded machine keeps it past the timeout
    slow = ChildProcess(
        "slow_subscriber", [sys.executable, "-c", SLOW_SUBSCRIBER, ns], env=dict(os.environ, PYTHONPATH=str(ROOT))
    )
    try:
        assert node.wait_for_output("road_seg ready", 60), node.output
        client = Client(ns)
        assert client.wait_connected(), node.output
        message = make_image_msg(kitti_frame, "rgb8", 0)
        sent_at: dict[int, float] = {}  # header stamp (ns) -> publish time

        def publish_next() -> None:
            index = len(sent_at)
            message.header.stamp.sec, message.header.stamp.nanosec = index // 1000, (index % 1000) * 1000
            sent_at[message.header.stamp.sec * 10**9 + message.header.stamp.nanosec] = time.monotonic()
            client.publisher.publish(message)

        start_time = time.monotonic()
        rss_samples = {}
        while time.monotonic() - start_time < 30.0:
            target = start_time + len(sent_at) * 0.01
            while time.monotonic() < target:
                rclpy.spin_once(client.node, timeout_sec=max(0.0, min(0.002, target - time.monotonic())))
            publish_next()
            for mark in (5, 10, 29):
                if mark not in rss_samples and time.monotonic() - start_time >= mark:
                    rss_samples[mark] = rss_mb(node.process.pid)
        client.spin_for(1.0)
        publish_next()  # one more on a quiet line: once it arrives, losses at the end of the flood show as a gap
        client.spin_for(3.0)  # quiesce: last frames served, last diagnostics out
        values = client.latest_diagnostic_values()
        sent = len(sent_at)
    finally:
        slow.stop()
        code = node.stop()
    arrivals = [(m.header.stamp.sec * 10**9 + m.header.stamp.nanosec) for m in client.overlays]
    end_to_end_ms = np.array([(t - sent_at[s]) * 1000 for s, t in zip(arrivals, client.overlay_arrivals, strict=True)])
    e2e_p50, e2e_p99 = np.percentile(end_to_end_ms, [50, 99]) if arrivals else (float("nan"), float("nan"))
    served = int(values["frames_served"])
    stale = int(values["frames_dropped_stale"])
    bad = int(values["frames_bad"])
    lost = int(values["frames_lost_in_transport"])
    before_first = int(values["frames_published_before_first_received"])
    received = int(values["frames_received"])
    p99 = float(values["latency_p99_ms"])
    with capsys.disabled():
        print(
            f"\n[load] sent {sent}, node received {received}, served {served}, stale {stale}, lost in transport "
            f"{lost}, before the first received {before_first}, bad {bad}; overlays received here {len(arrivals)}; "
            f"node p50 {values['latency_p50_ms']} ms "
            f"p99 {p99:.1f} ms; publish -> overlay here p50 {e2e_p50:.1f} ms p99 {e2e_p99:.1f} ms; "
            f"RSS MB {rss_samples}"
        )
    assert code == 0, node.output
    assert received == served + stale + bad  # every frame the node took is accounted for
    # and every frame sent
    assert abs(sent - (served + stale + bad + lost + before_first)) <= 2
    assert served > 100 and len(arrivals) > 100
    assert p99 < 1000.0 and e2e_p99 < 1000.0, "served frames waited: a backlog is building"
    assert rss_samples[29] <= rss_samples[10] * 1.05, rss_samples


FAULT_HOOK = """
# Test-only: a fault inside the core for frames 77 pixels wide (loaded by Python at start-up as sitecustomize).
from ros_road_seg.core import segmenter

_segment = segmenter.Segmenter.segment


def segment(self, rgb, *args, **kwargs):
    if rgb.shape[1] == 77:
        raise ZeroDivisionError("injected fault in the core")
    return _segment(self, rgb, *args, **kwargs)


segmenter.Segmenter.segment = segment
"""


def test_internal_fault_is_not_a_bad_frame(ros_context, red_model, tmp_path):
    """An exception inside the core (injected for 77-pixel-wide frames) is a fault of ours, not bad input: logged
    with its traceback once, counted apart from bad frames, /diagnostics ERROR, and the node keeps serving; bad
    input at the same time is still a counted bad frame."""
    (tmp_path / "sitecustomize.py").write_text(FAULT_HOOK)
    env = dict(os.environ, PYTHONPATH=f"{tmp_path}{os.pathsep}{ROOT}")
    ns = namespace()
    node = NodeProcess({"model_path": str(red_model), "providers": "cpu", "diagnostics_period": 0.3}, ns, env=env)
    try:
        assert node.wait_for_output("road_seg ready", 30), node.output
        client = Client(ns)
        assert client.wait_connected(), node.output
        for stamp in range(1, 6):
            client.publisher.publish(make_image_msg(frame(40, 77), "rgb8", stamp_sec=stamp))
            client.spin_for(0.2)
        bad = make_image_msg(frame(), "rgb8", stamp_sec=99)
        bad.encoding = "yuv422"
        client.publisher.publish(bad)
        client.spin_for(0.3)
        client.roundtrip(make_image_msg(frame(40, 78), "rgb8", stamp_sec=100))  # still serving
        client.spin_for(1.0)
        values = client.latest_diagnostic_values()
        status = client.diagnostics[-1].status[0]
        assert int(values["internal_faults"]) >= 4 and values["frames_bad"] == "1", values
        assert status.level == DiagnosticStatus.ERROR and status.message.startswith("internal faults:"), status
        assert "ZeroDivisionError: injected fault in the core" in status.message
        assert node.output.count("internal fault while serving a frame") == 1, node.output
        assert "Traceback (most recent call last)" in node.output and "sitecustomize.py" in node.output
        assert node.process.poll() is None
    finally:
        assert node.stop() == 0, node.output
