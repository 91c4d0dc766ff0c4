"""The one reader of image files from outside (dataset frames, labels, frame folders): guarded, then decoded."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ros_road_seg.core.errors import DatasetError, ImageConversionError
from ros_road_seg.core.image_limits import DEFAULT_MAX_COMPRESSED_BYTES, DEFAULT_MAX_PIXELS, decode_checked

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")  # the file types every folder reader of the project takes


def decode_image_file(
    path: Path,
    what: str,
    flags: int,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_COMPRESSED_BYTES,
) -> np.ndarray:
    """Size in bytes, format and the header's pixel count are checked before decoding (a decompression bomb in a
    folder is refused, never decoded); a missing, empty, truncated, oversized or non-JPEG/PNG file is a
    :class:`DatasetError` naming it."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{what} '{path}' does not exist")
    size = path.stat().st_size
    if size > max_bytes:
        raise DatasetError(f"{what} '{path}' is unreadable: {size} bytes exceeds the limit of {max_bytes}")
    try:
        return decode_checked(np.fromfile(path, dtype=np.uint8), flags, max_pixels, max_bytes)
    except ImageConversionError as error:
        raise DatasetError(f"{what} '{path}' is unreadable: {error}") from None


def read_rgb_file(path: Path, what: str = "image", max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """An image file as RGB uint8 HxWx3 (see :func:`decode_image_file` for what is refused)."""
    return cv2.cvtColor(decode_image_file(path, what, cv2.IMREAD_COLOR, max_pixels), cv2.COLOR_BGR2RGB)
