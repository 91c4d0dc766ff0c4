"""The node as a real process: frames in over DDS, mask and overlay back out, errors survived and reported."""

from __future__ import annotations

import array
import signal
import uuid

import cv2
import numpy as np
import pytest
from onnx_fixtures import approximate_red_mask, block_frame
from ros_harness import Client, NodeProcess, image_msg_array, make_image_msg
from sensor_msgs.msg import CompressedImage, Image

from ros_road_seg.core.segmenter import blend_overlay

ENCODINGS = ["rgb8", "bgr8", "rgba8", "bgra8", "mono8"]


def unique_namespace() -> str:
    return "/t" + uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def running_node(ros_context, red_model):
    namespace = unique_namespace()
    node = NodeProcess({"model_path": str(red_model), "providers": "cpu", "diagnostics_period": 0.5}, namespace)
    assert node.wait_for_output("road_seg ready", 30), node.output
    client = Client(namespace)
    assert client.wait_connected(), node.output
    yield node, client
    client.close()
    assert node.stop() == 0, node.output


def expected_rgb(rgb: np.ndarray, encoding: str) -> np.ndarray:
    if encoding == "mono8":
        return cv2.cvtColor(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    return rgb


def check_outputs(
    sent: Image, mask_msg: Image, overlay_msg: Image, rgb: np.ndarray, exact_mask: np.ndarray | None = None
) -> None:
    for out in (mask_msg, overlay_msg):
        assert out.header.stamp == sent.header.stamp
        assert out.header.frame_id == sent.header.frame_id
        assert (out.height, out.width) == rgb.shape[:2]
    assert mask_msg.encoding == "mono8" and overlay_msg.encoding == "rgb8"
    mask = image_msg_array(mask_msg)
    assert set(np.unique(mask)) <= {0, 255}
    if exact_mask is not None:
        np.testing.assert_array_equal(mask, exact_mask)
    else:
        assert (mask == approximate_red_mask(rgb, 32, 48, 0.5)).mean() > 0.99
    overlay = image_msg_array(overlay_msg)
    expected = blend_overlay(rgb, mask, 0.5, (255, 255, 255))
    assert np.abs(overlay.astype(int) - expected.astype(int)).max() <= 1


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_kitti_frame_in_every_encoding(running_node, kitti_frame, encoding):
    _, client = running_node
    sent = make_image_msg(kitti_frame, encoding, stamp_sec=1000 + ENCODINGS.index(encoding))
    mask_msg, overlay_msg = client.roundtrip(sent)
    check_outputs(sent, mask_msg, overlay_msg, expected_rgb(kitti_frame, encoding))


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_exact_mask_through_the_node(running_node, encoding):
    """Black/white blocks on the model grid, x10: the mask is known exactly whatever the encoding."""
    _, client = running_node
    frame, expected = block_frame(32, 48, 10, seed=ENCODINGS.index(encoding))
    sent = make_image_msg(frame, encoding, stamp_sec=1500 + ENCODINGS.index(encoding))
    check_outputs(sent, *client.roundtrip(sent), frame, exact_mask=expected)


@pytest.mark.parametrize("size", [(370, 1224), (480, 640), (375, 1242)])
def test_frame_sizes(running_node, kitti_frame, size):
    _, client = running_node
    rgb = cv2.resize(kitti_frame, (size[1], size[0]))
    sent = make_image_msg(rgb, "rgb8", stamp_sec=2000 + size[0])
    check_outputs(sent, *client.roundtrip(sent), rgb)


def test_padded_rows_are_read_with_step(running_node, kitti_frame):
    _, client = running_node
    rgb = np.ascontiguousarray(kitti_frame[:100, :200])
    padded = np.zeros((100, 200 * 3 + 16), np.uint8)
    padded[:, :600] = rgb.reshape(100, 600)
    sent = make_image_msg(rgb, "rgb8", stamp_sec=2500)
    sent.step = padded.shape[1]
    sent.data = array.array("B", padded.tobytes())
    check_outputs(sent, *client.roundtrip(sent), rgb)


def test_bad_message_does_not_stop_the_next_good_one(running_node, kitti_frame):
    node, client = running_node
    bad = make_image_msg(kitti_frame, "rgb8", stamp_sec=3000)
    bad.encoding = "32FC1"
    client.publisher.publish(bad)
    short = make_image_msg(kitti_frame, "rgb8", stamp_sec=3001)
    short.data = short.data[:-10]
    client.spin_for(0.3)
    client.publisher.publish(short)
    client.spin_for(0.3)
    good = make_image_msg(kitti_frame, "rgb8", stamp_sec=3002)
    check_outputs(good, *client.roundtrip(good), kitti_frame)
    assert node.wait_for_output("encoding '32FC1' is not supported", 5), node.output
    client.spin_for(1.5)
    values = client.latest_diagnostic_values()
    assert int(values["frames_bad"]) >= 1
    assert node.process.poll() is None


def test_diagnostics_report_provider_and_counts(running_node):
    node, client = running_node
    client.spin_for(1.5)
    values = client.latest_diagnostic_values()
    assert values["provider"] == "CPUExecutionProvider"
    assert int(values["frames_served"]) >= 1
    assert float(values["latency_p50_ms"]) > 0
    assert "provider CPUExecutionProvider" in node.output


def test_compressed_input(ros_context, red_model, kitti_frame):
    namespace = unique_namespace()
    node = NodeProcess({"model_path": str(red_model), "providers": "cpu", "input_transport": "compressed"}, namespace)
    try:
        assert node.wait_for_output("road_seg ready", 30), node.output
        client = Client(namespace, compressed=True)
        assert client.wait_connected(), node.output
        ok, png = cv2.imencode(".png", cv2.cvtColor(kitti_frame, cv2.COLOR_RGB2BGR))
        sent = CompressedImage(format="png")
        sent.header.stamp.sec, sent.header.frame_id = 4000, "camera_color_left"
        sent.data = array.array("B", png.tobytes())
        mask_msg, overlay_msg = client.roundtrip(sent)
        check_outputs(sent, mask_msg, overlay_msg, kitti_frame)
        client.close()
    finally:
        assert node.stop() == 0, node.output


def test_missing_model_is_one_clear_error(ros_context, tmp_path):
    node = NodeProcess({"model_path": str(tmp_path / "nope.onnx")}, unique_namespace())
    code = node.process.wait(30)
    node.stop()
    assert code == 1
    assert "cannot start: model_path" in node.output and "nope.onnx" in node.output
    assert "Traceback" not in node.output


def test_sigterm_exits_cleanly(ros_context, red_model):
    node = NodeProcess({"model_path": str(red_model), "providers": "cpu"}, unique_namespace())
    assert node.wait_for_output("road_seg ready", 30), node.output
    assert node.stop(signal.SIGTERM, timeout=5) == 0, node.output
    assert "Traceback" not in node.output


def test_params_file_keys_the_node_does_not_have_are_named(ros_context, red_model, tmp_path):
    """Before: a misspelt key (treshold) or a section under another node's name was silently ignored."""
    import uuid

    from ros_harness import NodeProcess

    namespace = "/p" + uuid.uuid4().hex[:6]
    misspelt = tmp_path / "misspelt.yaml"
    misspelt.write_text(f"{namespace}/road_seg:\n  ros__parameters:\n    treshold: 0.3\n")
    other = tmp_path / "other.yaml"
    other.write_text("camera_driver:\n  ros__parameters:\n    threshold: 0.3\n")
    extra = ["--params-file", str(misspelt), "--params-file", str(other)]
    node = NodeProcess({"model_path": str(red_model), "providers": "cpu"}, namespace, extra_args=extra)
    try:
        assert node.wait_for_output("road_seg ready", 60), node.output
    finally:
        node.stop()
    assert "parameter 'treshold' is set but this node has no such parameter" in node.output, node.output
    assert "did you mean 'threshold'" in node.output
    assert f"params file '{other}' has sections ['camera_driver'] but none for this node" in node.output
    assert f"params file '{misspelt}'" not in node.output  # its section does name this node
