"""sensor_msgs Image / CompressedImage <-> NumPy arrays, through rosbags-image, with every field checked first.

rosbags-image does the colour conversions (and works on rclpy messages); this module checks what it trusts
(``step``, ``data`` length, sizes) so that a malformed message becomes one :class:`ImageConversionError` naming the
field, never a NumPy exception, a wrong picture or an out-of-memory crash.
"""

from __future__ import annotations

import array

import cv2
import numpy as np
from rosbags.image import ImageError, message_to_cvimage
from rosbags.image.image import convert_color

from ros_road_seg.errors import ImageConversionError
from ros_road_seg.image_limits import DEFAULT_MAX_COMPRESSED_BYTES, DEFAULT_MAX_PIXELS, check_pixels, decode_checked

# encoding -> (channels, bytes per channel). 16-bit frames are scaled to 8 bits by rosbags-image.
SUPPORTED_ENCODINGS: dict[str, tuple[int, int]] = {
    "rgb8": (3, 1),
    "bgr8": (3, 1),
    "rgba8": (4, 1),
    "bgra8": (4, 1),
    "mono8": (1, 1),
    "rgb16": (3, 2),
    "bgr16": (3, 2),
    "rgba16": (4, 2),
    "bgra16": (4, 2),
    "mono16": (1, 2),
}


class _Unpadded:
    """The fields rosbags-image reads, with row padding (``step`` > width * pixel size) removed."""

    __slots__ = ("height", "width", "encoding", "is_bigendian", "data")

    def __init__(self, height: int, width: int, encoding: str, is_bigendian: int, data: np.ndarray) -> None:
        self.height, self.width, self.encoding = height, width, encoding
        self.is_bigendian, self.data = is_bigendian, data


def image_msg_to_rgb(msg, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """A ``sensor_msgs/Image`` as an RGB uint8 HxWx3 array; :class:`ImageConversionError` names a bad field."""
    encoding = str(msg.encoding)
    if encoding not in SUPPORTED_ENCODINGS:
        raise ImageConversionError(
            f"encoding '{encoding}' is not supported (supported: {', '.join(SUPPORTED_ENCODINGS)})"
        )
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise ImageConversionError(f"height {height} x width {width}: an image needs both > 0")
    check_pixels(height, width, max_pixels)
    channels, depth = SUPPORTED_ENCODINGS[encoding]
    row_bytes = width * channels * depth
    if step < row_bytes:
        raise ImageConversionError(
            f"step {step} is smaller than width {width} x {channels * depth} bytes per pixel "
            f"= {row_bytes} for encoding '{encoding}'"
        )
    data = np.frombuffer(msg.data, dtype=np.uint8) if not isinstance(msg.data, np.ndarray) else msg.data
    if data.size != step * height:
        raise ImageConversionError(
            f"data has {data.size} bytes, expected step {step} x height {height} = {step * height}"
        )
    if step != row_bytes:
        data = np.ascontiguousarray(data.reshape(height, step)[:, :row_bytes]).reshape(-1)
    plain = _Unpadded(height, width, encoding, int(bool(msg.is_bigendian)), data)
    try:
        rgb = message_to_cvimage(plain, "rgb8")
    except (ImageError, cv2.error, ValueError, TypeError) as error:
        raise ImageConversionError(f"encoding '{encoding}' could not be converted to rgb8: {error}") from None
    return np.ascontiguousarray(rgb, dtype=np.uint8)


def compressed_msg_to_rgb(
    msg, max_pixels: int = DEFAULT_MAX_PIXELS, max_bytes: int = DEFAULT_MAX_COMPRESSED_BYTES
) -> np.ndarray:
    """A ``sensor_msgs/CompressedImage`` (JPEG/PNG) as RGB uint8 HxWx3. Its size is checked in bytes and from the
    container header before anything is decoded (:mod:`ros_road_seg.image_limits`); the error names the format."""
    if len(msg.data) > max_bytes:  # before even a view of the payload is made
        raise ImageConversionError(f"data has {len(msg.data)} bytes, exceeds max_compressed_bytes {max_bytes}")
    raw = np.frombuffer(msg.data, dtype=np.uint8) if not isinstance(msg.data, np.ndarray) else msg.data
    try:
        decoded = decode_checked(raw, cv2.IMREAD_UNCHANGED, max_pixels, max_bytes)
    except ImageConversionError as error:
        raise ImageConversionError(f"format '{msg.format}': {error}") from None
    channels = 1 if decoded.ndim == 2 else decoded.shape[2]
    source = {1: "mono", 3: "bgr", 4: "bgra"}.get(channels)
    if source is None:
        raise ImageConversionError(f"data decodes to {channels} channels (format '{msg.format}'), expected 1, 3 or 4")
    bits = "16" if decoded.dtype == np.uint16 else "8"
    try:
        rgb = convert_color(decoded, f"{source}{bits}", "rgb8")
    except (ImageError, cv2.error) as error:
        raise ImageConversionError(f"format '{msg.format}' could not be converted to rgb8: {error}") from None
    return np.ascontiguousarray(rgb, dtype=np.uint8)


def array_to_image_msg(pixels: np.ndarray, encoding: str, header=None):
    """A ``sensor_msgs/Image`` holding a copy of a uint8 HxW or HxWxC array (``header`` kept when given)."""
    from sensor_msgs.msg import Image

    pixels = np.ascontiguousarray(pixels)
    msg = Image()
    if header is not None:
        msg.header = header
    msg.height, msg.width = int(pixels.shape[0]), int(pixels.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = int(pixels.strides[0])
    msg.data = array.array("B", pixels.tobytes())  # array.array: rclpy copies it in one go, not per element
    return msg


def output_msg_to_array(msg) -> np.ndarray:
    """The node's own mono8 (HxW) or rgb8 (HxWx3) outputs back as arrays (a view of ``msg.data``)."""
    channels = {"mono8": 1, "rgb8": 3}.get(msg.encoding)
    if channels is None:
        raise ImageConversionError(f"encoding '{msg.encoding}' is not an output encoding (mono8, rgb8)")
    rows = np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.step)[:, : msg.width * channels]
    return rows.reshape(msg.height, msg.width, channels) if channels == 3 else rows
