"""Decompression bombs: refused from their headers, never decoded, in messages, files and a running node."""

from __future__ import annotations

import array
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
from ros_harness import Client, NodeProcess
from sensor_msgs.msg import CompressedImage
from synthetic_data import make_kitti, write_png

from ros_road_seg.bench.bombs import (
    bomb_kinds,
    jpeg_bomb,
    measure,
    png_bomb,
    webp_bomb,
)
from ros_road_seg.core.errors import BagError, DatasetError, ImageConversionError
from ros_road_seg.core.image_conversion import compressed_msg_to_rgb
from ros_road_seg.core.image_limits import decode_checked, read_header
from ros_road_seg.core.labels import read_label
from ros_road_seg.core.stats import rss_mb
from ros_road_seg.tools.kitti_to_bag import convert

REASONS = {
    "WebP 16383x16383": "webp data: format not accepted \\(accepted: jpeg, png\\)",
    "JPEG 16000x16000": "16000 x width 16000 = 256000000 pixels exceeds max_pixels",
    "PNG 20000x20000": "20000 x width 20000 = 400000000 pixels exceeds max_pixels",
    "JPEG, truncated header": "header truncated before its frame header",
    "JPEG, SOF claims 0x0": "claims 0x0 pixels",
    "WebP that says it is PNG": "format 'png': .* webp data: format not accepted",
}


def message(payload: bytes, image_format: str) -> CompressedImage:
    msg = CompressedImage(format=image_format)
    msg.data = array.array("B", payload)
    return msg


@pytest.fixture(scope="module")
def bombs():
    return bomb_kinds()


@pytest.mark.parametrize("kind", list(REASONS))
def test_each_bomb_is_refused_quickly_by_name(bombs, kind):
    payload, _, image_format = bombs[kind]
    started = time.perf_counter()
    with pytest.raises(ImageConversionError, match=REASONS[kind]):
        compressed_msg_to_rgb(message(payload, image_format))
    assert time.perf_counter() - started < 0.1, "refusing a bomb must not decode it"


@pytest.mark.parametrize("kind", ["JPEG 16000x16000", "PNG 20000x20000"])
def test_refusing_a_decodable_bomb_costs_no_memory(bombs, tmp_path, kind):
    """Peak RSS of a fresh process (which sees OpenCV's allocations, unlike tracemalloc) barely moves; these two
    bombs are real pictures a decoder would allocate 256 MB / 400 MB for."""
    payload, _, image_format = bombs[kind]
    result = measure(payload, image_format, tmp_path)
    assert result["outcome"].startswith("ImageConversionError"), result
    assert result["peak_mb"] < 20, result


def test_the_same_png_within_the_limit_really_decodes():
    """The PNG bomb builder makes real pictures: a small one decodes to the size it claims (so refusing the big one
    is the limit at work, not a broken file)."""
    decoded = cv2.imdecode(np.frombuffer(png_bomb(300, 200), np.uint8), cv2.IMREAD_UNCHANGED)
    assert decoded.shape == (200, 300) and not decoded.any()
    assert compressed_msg_to_rgb(message(png_bomb(300, 200), "png")).shape == (200, 300, 3)


@pytest.mark.parametrize(
    "ext,params",
    [
        (".jpg", []),
        (".jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]),
        (".jpg", [cv2.IMWRITE_JPEG_RST_INTERVAL, 4]),
        (".png", []),
        (".png", [cv2.IMWRITE_PNG_COMPRESSION, 0]),
    ],
)
@pytest.mark.parametrize("shape", [(1, 1), (37, 1001), (375, 1242), (1080, 1920, 3)])
def test_header_sizes_agree_with_the_decoder(ext, params, shape):
    """The oracle is OpenCV's decoder: whatever it decodes, our header reader must have claimed the same size."""
    pixels = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    data = cv2.imencode(ext, pixels, params)[1]
    header = read_header(data.tobytes())
    decoded = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    assert (header.height, header.width) == decoded.shape[:2]


def test_a_header_that_lies_about_the_body_is_refused_after_decoding():
    """A JPEG whose frame header says 64x64 over a 16x16 body: whatever the decoder makes of it, the node never
    returns a picture of another size than the header claimed without saying so."""
    payload = jpeg_bomb(64, 64)
    try:
        rgb = compressed_msg_to_rgb(message(payload, "jpeg"))
    except ImageConversionError:
        return
    assert rgb.shape[:2] == (64, 64)


def test_byte_limit_refuses_before_any_work():
    big = bytes(2048)
    with pytest.raises(ImageConversionError, match="2048 bytes, exceeds max_compressed_bytes 1000"):
        compressed_msg_to_rgb(message(big, "jpeg"), max_bytes=1000)


def test_opencv_ceiling_is_a_backstop_when_set_before_opencv_loads():
    """set_decoder_ceiling before the first ``import cv2`` makes OpenCV itself refuse larger pictures."""
    script = (
        "from ros_road_seg.core.image_limits import set_decoder_ceiling\n"
        "assert set_decoder_ceiling(5000)\n"
        "import cv2, numpy as np\n"
        "data = cv2.imencode('.png', np.zeros((100, 100), np.uint8))[1]\n"
        "try:\n"
        "    cv2.imdecode(data, cv2.IMREAD_UNCHANGED)\n"
        "    print('decoded')\n"
        "except cv2.error:\n"
        "    print('refused by OpenCV')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "refused by OpenCV", result.stdout + result.stderr


def test_folder_readers_refuse_a_bomb_by_name(tmp_path):
    """kitti_to_bag (or --skip-bad, counted), the training reader and the label reader name the file."""
    frames = tmp_path / "frames"
    for index in range(3):
        write_png(frames / f"{index:04d}.png", np.full((20, 30, 3), 80, np.uint8))
    (frames / "0001.png").write_bytes(png_bomb())
    with pytest.raises(BagError, match="0001.png.*exceeds max_pixels"):
        convert(frames, tmp_path / "bag", progress=False)
    summary = convert(frames, tmp_path / "bag", skip_bad=True, progress=False)
    assert summary["frames"] == 2 and summary["skipped"] == ["0001.png"]

    kitti = make_kitti(tmp_path / "kitti", 2)
    (kitti / "training" / "image_2" / "000001_10.png").write_bytes(webp_bomb())  # a WebP with a .png name
    from training.data import kitti_samples, load_sample

    with pytest.raises(DatasetError, match="000001_10.png.*webp data: format not accepted"):
        load_sample(kitti_samples(kitti)[1])
    label = kitti / "training" / "semantic" / "000000_10.png"
    label.write_bytes(jpeg_bomb())
    with pytest.raises(DatasetError, match="label .*000000_10.png.*exceeds max_pixels"):
        read_label(label)


def test_node_survives_bombs_at_5_hz_and_serves_every_good_frame(ros_context, red_model):
    """Bombs at 5 Hz for 10 s with a good JPEG after each: RSS stays within 50 MB of its idle value and every good
    frame comes back as a mask."""
    node = NodeProcess(
        {"model_path": str(red_model), "providers": "cpu", "input_transport": "compressed", "diagnostics_period": 0.5},
        "/bombs",
    )
    try:
        assert node.wait_for_output("road_seg ready", 30), node.output
        client = Client("/bombs", compressed=True)
        assert client.wait_connected(), node.output
        good = cv2.imencode(".jpg", np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8))[1]
        warm = message(good.tobytes(), "jpeg")
        warm.header.stamp.sec = 1
        client.roundtrip(warm)
        client.spin_for(1.0)
        idle = rss_mb(node.pid)
        payloads = [payload for payload, _, _ in bomb_kinds().values()]
        sent_good, peak = [], idle
        started = time.monotonic()
        for index in range(50):  # 10 s at 5 Hz
            client.publisher.publish(message(payloads[index % len(payloads)], "jpeg"))
            client.spin_for(0.1)
            frame = message(good.tobytes(), "jpeg")
            frame.header.stamp.sec = 100 + index
            client.publisher.publish(frame)
            sent_good.append(100 + index)
            client.spin_for(max(0.0, started + 0.2 * (index + 1) - time.monotonic()))
            peak = max(peak, rss_mb(node.pid))
        client.spin_for(2.0)
        served = {mask.header.stamp.sec for mask in client.masks}
        missing = [stamp for stamp in sent_good if stamp not in served]
        values = client.latest_diagnostic_values()
        print(
            f"\n[bombs] node RSS idle {idle:.1f} MB, peak {peak:.1f} MB over 50 bombs; good frames served "
            f"{len(sent_good) - len(missing)}/{len(sent_good)}; frames_bad {values.get('frames_bad')}"
        )
        assert peak - idle < 50, f"RSS grew from {idle:.1f} to {peak:.1f} MB"
        assert not missing, f"good frames not served: {missing}; diagnostics {values}"
        assert int(values["frames_bad"]) >= 50 and node.process.poll() is None
    finally:
        assert node.stop() == 0, node.output


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_a_complete_image_followed_by_trailing_bytes_is_accepted(suffix):
    """OpenCV and cv_bridge decode a complete JPEG/PNG with junk after it (before: refused as 'truncated')."""
    rgb = np.random.default_rng(0).integers(0, 255, (40, 60, 3), dtype=np.uint8)
    encoded = cv2.imencode(suffix, rgb)[1].tobytes()
    decoded = decode_checked(np.frombuffer(encoded + b"\x00junk\xff", np.uint8), cv2.IMREAD_COLOR, 10**6, 10**7)
    assert decoded.shape == (40, 60, 3)
    with pytest.raises(ImageConversionError, match="truncated"):  # a really cut file is still refused
        decode_checked(np.frombuffer(encoded[: len(encoded) // 2], np.uint8), cv2.IMREAD_COLOR, 10**6, 10**7)
