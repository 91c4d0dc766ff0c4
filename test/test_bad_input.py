"""Every bad-message kind the README lists: converted or refused with an ImageConversionError naming the field."""

from __future__ import annotations

import array

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sensor_msgs.msg import CompressedImage, Image

from ros_road_seg.core.errors import ImageConversionError
from ros_road_seg.core.image_conversion import SUPPORTED_ENCODINGS, compressed_msg_to_rgb, image_msg_to_rgb
from ros_road_seg.core.stats import SequenceGapCounter


def image(
    height: int, width: int, encoding: str, data: bytes | None = None, step: int | None = None, bigendian: int = 0
) -> Image:
    channels, depth, _ = SUPPORTED_ENCODINGS.get(encoding, (3, 1, None))
    msg = Image(height=height, width=width, encoding=encoding, is_bigendian=bigendian)
    msg.step = width * channels * depth if step is None else step
    msg.data = array.array("B", bytes(msg.step * height) if data is None else data)
    return msg


# (kind, message, substring the error must contain). README "Troubleshooting" lists the same kinds.
BAD_IMAGES = [
    ("float encoding 32FC1", image(4, 4, "32FC1", bytes(64), step=16), "encoding '32FC1' is not supported"),
    ("bayer_rggb8", image(4, 4, "bayer_rggb8", bytes(16), step=4), "encoding 'bayer_rggb8' is not supported"),
    ("yuv422", image(4, 4, "yuv422", bytes(32), step=8), "encoding 'yuv422' is not supported"),
    ("empty encoding", image(4, 4, "", bytes(48), step=12), "encoding '' is not supported"),
    ("data too short", image(4, 4, "rgb8", bytes(47)), "data has 47 bytes, expected step 12 x height 4 = 48"),
    ("data too long", image(4, 4, "rgb8", bytes(60)), "data has 60 bytes, expected step 12 x height 4 = 48"),
    ("step too small", image(4, 4, "rgb8", bytes(40), step=10), "step 10 is smaller than width 4 x 3"),
    ("width 0", image(4, 0, "rgb8", b""), "height 4 x width 0"),
    ("height 0", image(0, 4, "rgb8", b""), "height 0 x width 4"),
    ("huge frame", image(8000, 8000, "rgb8", b"", step=24000), "exceeds max_pixels"),
]


@pytest.mark.parametrize("kind,msg,message", BAD_IMAGES, ids=[k for k, _, _ in BAD_IMAGES])
def test_bad_image_is_refused_with_the_field(kind, msg, message):
    with pytest.raises(ImageConversionError) as error:
        image_msg_to_rgb(msg)
    assert message in str(error.value), kind


def test_huge_frame_refused_before_allocating():
    msg = Image(height=8000, width=8000, encoding="rgb8", step=24000)  # no 192 MB payload needed to refuse it
    with pytest.raises(ImageConversionError, match="max_pixels"):
        image_msg_to_rgb(msg, max_pixels=4096 * 4096)


@pytest.mark.parametrize("encoding", ["rgb16", "bgr16", "mono16", "rgba16"])
@pytest.mark.parametrize("bigendian", [0, 1])
def test_sixteen_bit_frames_are_scaled_to_eight(encoding, bigendian):
    channels = SUPPORTED_ENCODINGS[encoding][0]
    values = np.full((2, 3, channels), 65535, np.uint16)
    values[0] = 0
    raw = values.astype(">u2" if bigendian else "<u2").tobytes()
    rgb = image_msg_to_rgb(image(2, 3, encoding, raw, bigendian=bigendian))
    assert rgb.shape == (2, 3, 3) and rgb.dtype == np.uint8
    assert rgb[0].max() == 0 and rgb[1].min() == 255


@pytest.mark.parametrize("size", [(1, 1), (3, 1000), (1000, 3)])
def test_odd_sizes_are_served(size):
    data = np.random.default_rng(0).integers(0, 256, (*size, 3), dtype=np.uint8)
    rgb = image_msg_to_rgb(image(*size, "rgb8", data.tobytes()))
    np.testing.assert_array_equal(rgb, data)


def test_bgr_and_padding_are_read_correctly():
    rgb = np.random.default_rng(1).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    padded = np.zeros((5, 7 * 3 + 5), np.uint8)
    padded[:, :21] = bgr.reshape(5, 21)
    np.testing.assert_array_equal(image_msg_to_rgb(image(5, 7, "bgr8", padded.tobytes(), step=26)), rgb)


def compressed(data: bytes, fmt: str = "jpeg") -> CompressedImage:
    msg = CompressedImage(format=fmt)
    msg.data = array.array("B", data)
    return msg


def encoded(ext: str) -> bytes:
    frame = np.random.default_rng(2).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    return cv2.imencode(ext, frame)[1].tobytes()


@pytest.mark.parametrize(
    "kind,data,message",
    [
        ("not an image", b"hello, this is text", "unknown data: format not accepted"),
        ("empty", b"", "data is empty"),
        ("truncated JPEG", encoded(".jpg")[:-200], "JPEG: truncated"),
        ("truncated PNG", encoded(".png")[:-30], "PNG: truncated"),
    ],
)
def test_bad_compressed_is_refused(kind, data, message):
    with pytest.raises(ImageConversionError, match=message):
        compressed_msg_to_rgb(compressed(data))


def test_compressed_huge_png_refused_from_its_header():
    header = encoded(".png")
    fake = bytearray(header)
    fake[16:24] = (20000).to_bytes(4, "big") + (20000).to_bytes(4, "big")  # claims 20000x20000
    with pytest.raises(ImageConversionError, match="exceeds max_pixels"):
        compressed_msg_to_rgb(compressed(bytes(fake), "png"))


def test_good_compressed_round_trips():
    frame = np.random.default_rng(3).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    png = cv2.imencode(".png", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))[1].tobytes()
    np.testing.assert_array_equal(compressed_msg_to_rgb(compressed(png, "png")), frame)
    gray = cv2.imencode(".png", frame[:, :, 0])[1].tobytes()
    assert compressed_msg_to_rgb(compressed(gray, "png")).shape == (20, 30, 3)


def test_sequence_gaps_count_transport_losses():
    counter = SequenceGapCounter()
    for seq in (1, 2, 5, 6, 10):
        counter.observe({"data": [1, 2]}, seq)
    counter.observe({"data": [3]}, 4)  # a second publisher, joined after its first three frames
    assert counter.lost == 2 + 3 and counter.supported
    assert counter.before_first == 0 + 3
    counter.observe({"data": [1, 2]}, None)
    assert not counter.supported


ENCODING_CHOICES = list(SUPPORTED_ENCODINGS) + ["32FC1", "bayer_rggb8", "yuv422", "nv12", "8UC3", "16UC1", ""]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    encoding=st.one_of(st.sampled_from(ENCODING_CHOICES), st.text(max_size=12)),
    height=st.integers(-2, 40),
    width=st.integers(-2, 40),
    step=st.integers(-5, 200),
    data_length=st.integers(0, 5000),
    bigendian=st.integers(0, 1),
)
def test_fuzz_image_fields(red_segmenter, encoding, height, width, step, data_length, bigendian):
    """Random field combinations: either an RGB frame the core can segment, or ImageConversionError."""
    msg = Image(encoding=encoding, is_bigendian=bigendian)
    msg.height, msg.width = max(height, 0), max(width, 0)  # the message type itself refuses negatives
    msg.step = max(step, 0)
    msg.data = array.array("B", bytes(data_length))
    try:
        rgb = image_msg_to_rgb(msg, max_pixels=100_000)
    except ImageConversionError:
        return
    assert rgb.dtype == np.uint8 and rgb.shape == (msg.height, msg.width, 3)
    result = red_segmenter.segment(rgb)
    assert result.mask.shape == rgb.shape[:2]


@settings(max_examples=150, deadline=None)
@given(payload=st.binary(max_size=2000), prefix=st.sampled_from([b"", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n"]))
def test_fuzz_compressed_payloads(payload, prefix):
    try:
        rgb = compressed_msg_to_rgb(compressed(prefix + payload), max_pixels=100_000)
    except ImageConversionError:
        return
    assert rgb.ndim == 3 and rgb.shape[2] == 3


@pytest.fixture(scope="module")
def red_segmenter(red_model):
    from ros_road_seg.core.segmenter import Segmenter

    return Segmenter(red_model, providers="cpu")
