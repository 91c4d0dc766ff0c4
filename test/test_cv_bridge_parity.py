"""cv_bridge's own test cases, ported to ``ros_road_seg.core.image_conversion`` (ROS 2 cv_bridge: not installable here).

Each test names the cv_bridge file and case it comes from (ros-perception/vision_opencv, cv_bridge/test/). Expected
values are cv_bridge's, written out here, never computed with the code under test.
"""

from __future__ import annotations

import array

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image

from ros_road_seg.core.errors import ImageConversionError
from ros_road_seg.core.image_conversion import (
    array_to_image_msg,
    compressed_msg_to_rgb,
    image_msg_to_rgb,
    output_msg_to_array,
)


def raw(height, width, encoding, data: bytes, step, bigendian=0) -> Image:
    msg = Image(height=height, width=width, encoding=encoding, step=step, is_bigendian=bigendian)
    msg.data = array.array("B", data)
    return msg


def cv_bridge_8bit(value16: int) -> int:
    """cv_bridge converts 16 -> 8 bits with ``convertTo(CV_8U, 255.0 / 65535.0)``: scaled, rounded, saturated."""
    return min(255, int(np.floor(value16 * 255.0 / 65535.0 + 0.5)))


# utest.cpp, TEST(CvBridgeTest, ChannelOrder): mono16 filled with 1000 -> bgr8 is 1000 * 255 / 65535 rounded = 4;
# plus the extremes the issue found truncated (65534 -> 255, not 254) and values around each rounding edge.
@pytest.mark.parametrize("value", [0, 1, 128, 129, 255, 256, 1000, 32767, 32768, 65407, 65408, 65534, 65535])
@pytest.mark.parametrize("encoding", ["mono16", "rgb16", "bgr16", "rgba16", "bgra16"])
def test_utest_channel_order_sixteen_to_eight_rounds(value, encoding):
    channels = {"mono16": 1, "rgb16": 3, "bgr16": 3, "rgba16": 4, "bgra16": 4}[encoding]
    data = np.full((3, 4, channels), value, "<u2").tobytes()
    rgb = image_msg_to_rgb(raw(3, 4, encoding, data, step=4 * channels * 2))
    assert rgb.dtype == np.uint8 and rgb.shape == (3, 4, 3)
    assert (rgb == cv_bridge_8bit(value)).all(), (value, np.unique(rgb))


def test_utest_channel_order_literal_values():
    """The two values the issue names, as literals: 1000 -> 4 and 65534 -> 255 (truncation gave 3 and 254)."""
    data = np.array([[1000, 65534]], "<u2").tobytes()
    rgb = image_msg_to_rgb(raw(1, 2, "mono16", data, step=4))
    assert rgb[0, 0].tolist() == [4, 4, 4] and rgb[0, 1].tolist() == [255, 255, 255]


# test_endian.cpp, TEST(CvBridgeTest, endianness): data written in the byte order opposite to the platform's, with
# is_bigendian saying so, reads back as the same values (here 16-bit encodings, the ones the node accepts).
@pytest.mark.parametrize("bigendian", [0, 1])
def test_endian_opposite_byte_order_reads_the_same_values(bigendian):
    values = np.array([[1000, 30000, 65535]], np.uint16)
    data = values.astype(">u2" if bigendian else "<u2").tobytes()
    rgb = image_msg_to_rgb(raw(1, 3, "mono16", data, step=6, bigendian=bigendian))
    assert rgb[0, :, 0].tolist() == [cv_bridge_8bit(1000), cv_bridge_8bit(30000), 255]


# conversions.py, test_endianness: cv2_to_imgmsg of a big-endian array sets is_bigendian and round-trips.
def test_conversions_big_endian_array_sets_is_bigendian():
    values = np.random.default_rng(0).integers(0, 65535, (30, 40), dtype=np.uint16)
    msg = array_to_image_msg(values.astype(">u2"), "mono16")
    assert msg.is_bigendian == 1
    back = np.frombuffer(bytes(msg.data), ">u2").reshape(30, 40)
    np.testing.assert_array_equal(back, values)
    little = array_to_image_msg(values.astype("<u2"), "mono16")
    assert little.is_bigendian == 0 and bytes(little.data) == values.astype("<u2").tobytes()


# utest.cpp, TEST(CvBridgeTest, imageMessageStep): a padded step (208 for 200 mono8 pixels) is accepted and the
# padding skipped; a step too small (199) is an error; step == width is fine.
def test_utest_image_message_step():
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (220, 200), dtype=np.uint8)
    padded = np.zeros((220, 208), np.uint8)
    padded[:, :200] = pixels
    padded[:, 200:] = 77  # padding must not leak into the picture
    rgb = image_msg_to_rgb(raw(220, 200, "mono8", padded.tobytes(), step=208))
    assert rgb.shape == (220, 200, 3) and (rgb[..., 0] == pixels).all()
    with pytest.raises(ImageConversionError, match="step 199 is smaller than width 200"):
        image_msg_to_rgb(raw(220, 200, "mono8", bytes(199 * 220), step=199))
    assert image_msg_to_rgb(raw(220, 200, "mono8", pixels.tobytes(), step=200)).shape == (220, 200, 3)


# utest.cpp, TEST(CvBridgeTest, initialization): a bgr8 200x200 message with no data must be an error, not a crash.
def test_utest_initialization_empty_data_is_an_error():
    with pytest.raises(ImageConversionError, match="data has 0 bytes"):
        image_msg_to_rgb(raw(200, 200, "bgr8", b"", step=600))


# enumerants.py, test_enumerants_cv2: an rgba8 640x480 message of "1234" bytes converts to rgb8 (1, 2, 3) ...
def test_enumerants_rgba8_message_to_rgb8():
    msg = raw(480, 640, "rgba8", b"1234" * (640 * 480), step=640 * 4)
    rgb = image_msg_to_rgb(msg)
    assert rgb.shape == (480, 640, 3) and (rgb == np.array([ord("1"), ord("2"), ord("3")], np.uint8)).all()


# ... and a 3-channel image cannot be sent as rgba8, but can as rgb8 and bgr8.
def test_enumerants_three_channels_refused_as_rgba8():
    three = np.zeros((480, 640, 3), np.uint8)
    with pytest.raises(ImageConversionError, match="does not fit encoding 'rgba8'"):
        array_to_image_msg(three, "rgba8")
    assert array_to_image_msg(three, "rgb8").step == 640 * 3
    assert array_to_image_msg(three, "bgr8").encoding == "bgr8"


# conversions.py, test_mono16_cv2 / test_numpy_types: wrong types are refused.
@pytest.mark.parametrize(
    "pixels,encoding",
    [
        (np.zeros((4, 5, 3), np.uint8), "mono16"),
        (np.zeros((4, 5), np.uint16), "mono8"),
        (np.zeros((4, 5), np.float32), "mono8"),
        (np.zeros((4, 5, 2), np.uint8), "rgb8"),
        (np.zeros((4,), np.uint8), "mono8"),
        (np.zeros((4, 5, 3), np.uint16), "rgb8"),
        (np.zeros((4, 5, 3), np.uint8), "32FC1"),
    ],
)
def test_conversions_arrays_that_do_not_fit_their_encoding(pixels, encoding):
    with pytest.raises(ImageConversionError, match=f"'{encoding}'"):
        array_to_image_msg(pixels, encoding)


# conversions.py, test_encode_decode_cv2: shape, type and byte length survive the round trip (the node's output
# encodings, over a range of sizes as in cv_bridge's loop).
@pytest.mark.parametrize("height", [100, 300, 700])
@pytest.mark.parametrize("width", [100, 400, 700])
@pytest.mark.parametrize("channels", [1, 3])
def test_conversions_encode_decode_round_trip(height, width, channels):
    shape = (height, width) if channels == 1 else (height, width, channels)
    original = np.random.default_rng(height * width).integers(0, 256, shape, dtype=np.uint8)
    msg = array_to_image_msg(original, "mono8" if channels == 1 else "rgb8")
    back = output_msg_to_array(msg)
    assert back.dtype == original.dtype and back.shape == original.shape and back.tobytes() == original.tobytes()


# utest.cpp, TEST(CvBridgeTest, NonContinuous): a non-contiguous view (3 columns of an 8x8 mono16) gives step 6.
def test_utest_non_contiguous_view():
    full = np.eye(8, dtype=np.uint16)
    partial = full[:, 2:5]
    msg = array_to_image_msg(partial, "mono16")
    assert (msg.height, msg.width, msg.step, msg.encoding) == (8, 3, 6, "mono16")
    np.testing.assert_array_equal(np.frombuffer(bytes(msg.data), "<u2").reshape(8, 3), partial)


# test_compression.cpp, TEST(CvBridgeTest, compression): PNG of 3- and 4-channel images in bgr/rgb order, as
# cv_bridge's toCompressedImageMsg writes them (pixels stored BGR, format '<encoding>; png compressed bgr8'),
# decodes to the same pixels (alpha dropped: the node works in RGB).
@pytest.mark.parametrize("encoding", ["bgr8", "rgb8", "bgra8", "rgba8"])
def test_compression_png_round_trip(encoding):
    channels = 4 if encoding.endswith("a8") else 3
    pixels = np.random.default_rng(0).integers(0, 256, (10, 10, channels), dtype=np.uint8)
    to_bgr = {
        "bgr8": None,
        "rgb8": cv2.COLOR_RGB2BGR,
        "bgra8": None,
        "rgba8": cv2.COLOR_RGBA2BGRA,
    }[encoding]
    stored = pixels if to_bgr is None else cv2.cvtColor(pixels, to_bgr)
    msg = CompressedImage(format=f"{encoding}; png compressed {'bgra8' if channels == 4 else 'bgr8'}")
    msg.data = array.array("B", cv2.imencode(".png", stored)[1].tobytes())
    rgb = compressed_msg_to_rgb(msg)
    expected_rgb = {
        "bgr8": pixels[..., ::-1],
        "rgb8": pixels,
        "bgra8": pixels[..., 2::-1],
        "rgba8": pixels[..., :3],
    }[encoding]
    np.testing.assert_array_equal(rgb, expected_rgb)


def test_cv_bridge_parity_non_array_is_a_type_error():
    """cv_bridge test/conversions_test.py::test_numpy_types: cv2_to_imgmsg(1, "rgba8") raises TypeError
    (before: AttributeError from deep inside)."""
    from ros_road_seg.core.image_conversion import array_to_image_msg

    with pytest.raises(TypeError, match="not a numpy array"):
        array_to_image_msg(1, "rgba8")
