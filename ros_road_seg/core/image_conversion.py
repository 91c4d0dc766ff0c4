"""sensor_msgs Image / CompressedImage <-> NumPy arrays, with every field checked first and cv_bridge's conventions.

A malformed message becomes one :class:`ImageConversionError` naming the field, never a NumPy exception, a wrong
picture or an out-of-memory crash. Conversions follow cv_bridge (ros-perception/vision_opencv): 16-bit values become
8-bit by ``value * 255 / 65535`` rounded (cv_bridge's ``convertTo`` scaling), ``is_bigendian`` is honoured, row
padding (``step``) is skipped, and an array is written into a message only in an encoding that fits its shape and
type (its byte order goes into ``is_bigendian``).
"""

from __future__ import annotations

import array
import re
import sys

import cv2
import numpy as np

from ros_road_seg.core.errors import ImageConversionError
from ros_road_seg.core.image_limits import (
    DEFAULT_MAX_COMPRESSED_BYTES,
    DEFAULT_MAX_PIXELS,
    check_pixels,
    decode_checked,
)

# encoding -> (channels, bytes per channel, OpenCV conversion to RGB or None)
SUPPORTED_ENCODINGS: dict[str, tuple[int, int, int | None]] = {
    "rgb8": (3, 1, None),
    "bgr8": (3, 1, cv2.COLOR_BGR2RGB),
    "rgba8": (4, 1, cv2.COLOR_RGBA2RGB),
    "bgra8": (4, 1, cv2.COLOR_BGRA2RGB),
    "mono8": (1, 1, cv2.COLOR_GRAY2RGB),
    "rgb16": (3, 2, None),
    "bgr16": (3, 2, cv2.COLOR_BGR2RGB),
    "rgba16": (4, 2, cv2.COLOR_RGBA2RGB),
    "bgra16": (4, 2, cv2.COLOR_BGRA2RGB),
    "mono16": (1, 2, cv2.COLOR_GRAY2RGB),
}
SIXTEEN_TO_EIGHT = 255.0 / 65535.0  # cv_bridge's depth scaling, rounded by OpenCV's saturate_cast


def to_rgb8(pixels: np.ndarray, conversion: int | None) -> np.ndarray:
    """HxWxC (or HxW) uint8/uint16 in native byte order -> RGB uint8 HxWx3, the way cv_bridge converts."""
    if pixels.dtype == np.uint16:
        pixels = cv2.convertScaleAbs(pixels, alpha=SIXTEEN_TO_EIGHT)  # rounds and saturates like convertTo
    if conversion is None:
        return np.ascontiguousarray(pixels)
    return cv2.cvtColor(pixels, conversion)


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
    channels, depth, conversion = SUPPORTED_ENCODINGS[encoding]
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
    rows = data.reshape(height, step)[:, :row_bytes]
    if depth == 2:
        dtype = np.dtype(">u2" if msg.is_bigendian else "<u2")
        pixels = np.ascontiguousarray(rows).view(dtype).astype(np.uint16, copy=False)
    else:
        pixels = rows
    shape = (height, width) if channels == 1 else (height, width, channels)
    return to_rgb8(np.ascontiguousarray(pixels).reshape(shape), conversion)


def compressed_msg_to_rgb(
    msg, max_pixels: int = DEFAULT_MAX_PIXELS, max_bytes: int = DEFAULT_MAX_COMPRESSED_BYTES
) -> np.ndarray:
    """A ``sensor_msgs/CompressedImage`` (JPEG/PNG) as RGB uint8 HxWx3. Its size is checked in bytes and from the
    container header before anything is decoded (:mod:`ros_road_seg.core.image_limits`); the error names the format."""
    if len(msg.data) > max_bytes:  # before even a view of the payload is made
        raise ImageConversionError(f"data has {len(msg.data)} bytes, exceeds max_compressed_bytes {max_bytes}")
    check_camera_format(str(msg.format))
    raw = np.frombuffer(msg.data, dtype=np.uint8) if not isinstance(msg.data, np.ndarray) else msg.data
    try:
        decoded = decode_checked(raw, cv2.IMREAD_UNCHANGED, max_pixels, max_bytes)
    except ImageConversionError as error:
        raise ImageConversionError(f"format '{msg.format}': {error}") from None
    channels = 1 if decoded.ndim == 2 else decoded.shape[2]
    conversion = {1: cv2.COLOR_GRAY2RGB, 3: cv2.COLOR_BGR2RGB, 4: cv2.COLOR_BGRA2RGB}.get(channels)
    if conversion is None or decoded.dtype not in (np.uint8, np.uint16):
        raise ImageConversionError(
            f"data decodes to {channels} channels of {decoded.dtype} (format '{msg.format}'), expected 1, 3 or 4 "
            "of 8 or 16 bits"
        )
    return to_rgb8(decoded, conversion)  # OpenCV decodes to BGR(A) whatever the format string says


# image_transport's compressed formats begin with the raw encoding ("16UC1; png compressed 16UC1",
# "32FC1; compressedDepth png"): a generic <bits><U|S|F>C<channels> encoding or compressedDepth is depth, not a camera
_DEPTH_ENCODING = re.compile(r"^\s*(\d+[USF]C\d+)\b")


def check_camera_format(image_format: str) -> None:
    """Refuse a CompressedImage whose format names a depth (or other non-camera) encoding, as the raw path refuses
    ``16UC1``: a depth map segmented as a camera frame would publish nonsense road."""
    match = _DEPTH_ENCODING.match(image_format)
    if match or "compresseddepth" in image_format.lower():
        what = match.group(1) if match else "compressedDepth"
        raise ImageConversionError(
            f"format '{image_format}' carries {what} (depth or generic data), not a camera image; only colour or mono "
            "camera frames are segmented"
        )


def array_to_image_msg(pixels: np.ndarray, encoding: str, header=None):
    """A ``sensor_msgs/Image`` holding a copy of an HxW or HxWxC array (``header`` kept when given). The array
    must fit the encoding (channels and 8/16-bit type, as cv_bridge's ``cv2_to_imgmsg``); its byte order is
    written into ``is_bigendian``."""
    from sensor_msgs.msg import Image

    if not isinstance(pixels, np.ndarray):  # cv_bridge's cv2_to_imgmsg raises TypeError for a non-array too
        raise TypeError(f"Your input type is not a numpy array: {type(pixels).__name__}")
    check_fits_encoding(pixels, encoding)
    pixels = np.ascontiguousarray(pixels)
    msg = Image()
    if header is not None:
        msg.header = header
    msg.height, msg.width = int(pixels.shape[0]), int(pixels.shape[1])
    msg.encoding = encoding
    order = pixels.dtype.byteorder
    msg.is_bigendian = int(order == ">" or (order == "=" and sys.byteorder == "big"))
    msg.step = int(pixels.strides[0])
    data = array.array("B")
    data.frombytes(
        pixels.reshape(-1).view(np.uint8).data
    )  # one copy (tobytes() then array() made two); rclpy takes array.array in one go
    msg.data = data
    return msg


def check_fits_encoding(pixels: np.ndarray, encoding: str) -> None:
    """ImageConversionError unless ``pixels`` has the channels and element type ``encoding`` names."""
    if encoding not in SUPPORTED_ENCODINGS:
        raise ImageConversionError(
            f"encoding '{encoding}' is not supported (supported: {', '.join(SUPPORTED_ENCODINGS)})"
        )
    channels, depth, _ = SUPPORTED_ENCODINGS[encoding]
    shape = tuple(pixels.shape)
    has = 1 if len(shape) == 2 else (shape[2] if len(shape) == 3 else -1)
    wanted = np.uint8 if depth == 1 else np.uint16
    if has != channels or pixels.dtype.newbyteorder("=") != np.dtype(wanted) or 0 in shape[:2]:
        raise ImageConversionError(
            f"an array of shape {shape} and type {pixels.dtype} does not fit encoding '{encoding}' "
            f"({channels} channel{'s' if channels > 1 else ''} of {np.dtype(wanted).name})"
        )


def output_msg_to_array(msg) -> np.ndarray:
    """The node's own mono8 (HxW) or rgb8 (HxWx3) outputs back as arrays (a view of ``msg.data``)."""
    channels = {"mono8": 1, "rgb8": 3}.get(msg.encoding)
    if channels is None:
        raise ImageConversionError(f"encoding '{msg.encoding}' is not an output encoding (mono8, rgb8)")
    rows = np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.step)[:, : msg.width * channels]
    return rows.reshape(msg.height, msg.width, channels) if channels == 3 else rows
