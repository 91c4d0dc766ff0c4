"""Size limits checked before a single pixel is decoded: payload bytes and the image container's own header.

A compressed image states its size in its header (JPEG: the SOFn frame header; PNG: IHDR). A decoder allocates what
the header claims, so a 477 KB WebP or a 3 MB JPEG can claim 16000x16000 pixels and cost gigabytes. Here the claim is
read first and refused when it exceeds ``max_pixels``; formats this package does not parse (WebP, TIFF, BMP, JPEG
2000, ...) are refused by name, never handed to a decoder. After decoding, the picture must be the size its header
claimed. Every file and message the package reads from outside goes through :func:`decode_checked`.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import numpy as np

from ros_road_seg.core.errors import ImageConversionError

ACCEPTED_FORMATS = ("jpeg", "png")
DEFAULT_MAX_PIXELS = 4096 * 4096
DEFAULT_MAX_COMPRESSED_BYTES = 16 * 1024 * 1024  # a 4K camera JPEG is 1-5 MB; a 1242x375 PNG about 0.8 MB

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# SOF0-SOF15 except DHT (C4), JPG (C8) and DAC (CC): each starts a frame header holding height and width.
_JPEG_SOF_MARKERS = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RST0-7: no length field


@dataclass(frozen=True)
class ImageHeader:
    """What an encoded image claims before it is decoded."""

    format: str
    height: int
    width: int


def sniff_format(head: bytes) -> str:
    """The container format from its magic bytes ('unknown' when none matches); the payload decides, not a name."""
    if head.startswith(b"\xff\xd8"):
        return "jpeg"
    if head.startswith(_PNG_SIGNATURE):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head.startswith(b"BM"):
        return "bmp"
    if head.startswith((b"\x00\x00\x00\x0cjP  \r\n\x87\n", b"\xff\x4f\xff\x51")):
        return "jpeg2000"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head.startswith(b"v/1\x01"):
        return "openexr"
    if head.startswith((b"#?RADIANCE", b"#?RGBE")):
        return "radiance hdr"
    if head[4:8] == b"ftyp":
        return "heif/avif"
    if head.startswith((b"\xff\x0a", b"\x00\x00\x00\x0cJXL ")):
        return "jpeg xl"
    if len(head) >= 3 and head[0:1] == b"P" and head[1:2] in b"1234567" and head[2:3].isspace():
        return "pnm"
    return "unknown"


def read_header(raw: bytes | memoryview) -> ImageHeader:
    """Format, height and width from a JPEG or PNG header; any other format, or a header that is truncated or
    claims an empty picture, is an :class:`ImageConversionError` saying so."""
    data = memoryview(raw).cast("B") if not isinstance(raw, bytes) else raw
    kind = sniff_format(bytes(data[:16]))
    if kind == "png":
        return _png_header(data)
    if kind == "jpeg":
        return _jpeg_header(data)
    raise ImageConversionError(
        f"{len(data)} bytes of {kind} data: format not accepted (accepted: {', '.join(ACCEPTED_FORMATS)})"
    )


def _png_header(data) -> ImageHeader:
    if len(data) < 33 or bytes(data[12:16]) != b"IHDR":
        raise ImageConversionError(f"PNG of {len(data)} bytes has no complete IHDR header (truncated or corrupt)")
    width = int.from_bytes(data[16:20], "big")
    height = int.from_bytes(data[20:24], "big")
    if width == 0 or height == 0 or width > 2**31 - 1 or height > 2**31 - 1:
        raise ImageConversionError(f"PNG header claims {width}x{height} pixels: not a valid picture size")
    return ImageHeader("png", height, width)


def _jpeg_header(data) -> ImageHeader:
    size, position = len(data), 2
    while position < size:
        if data[position] != 0xFF:
            raise ImageConversionError(f"JPEG of {size} bytes: no marker at byte {position} (corrupt header)")
        while position < size and data[position] == 0xFF:  # fill bytes
            position += 1
        if position >= size:
            break
        marker = data[position]
        position += 1
        if marker in _JPEG_STANDALONE:
            continue
        if marker in (0xD9, 0xDA):  # end of image or start of scan before any frame header
            raise ImageConversionError(f"JPEG of {size} bytes has no frame header (SOF) before its image data")
        if position + 2 > size:
            break
        length = int.from_bytes(data[position : position + 2], "big")
        if length < 2 or position + length > size:
            break
        if marker in _JPEG_SOF_MARKERS:
            if length < 8:
                break
            height = int.from_bytes(data[position + 3 : position + 5], "big")
            width = int.from_bytes(data[position + 5 : position + 7], "big")
            if width == 0 or height == 0:
                raise ImageConversionError(f"JPEG frame header claims {width}x{height} pixels: not a picture size")
            return ImageHeader("jpeg", height, width)
        position += length
    raise ImageConversionError(f"JPEG of {size} bytes: header truncated before its frame header (SOF)")


def check_complete(raw, header: ImageHeader) -> None:
    """A JPEG must hold its end-of-image marker after the scan starts, a PNG its IEND chunk: decoders happily return
    half a truncated picture. Bytes after a complete picture are accepted, as OpenCV and cv_bridge accept them."""
    tail = bytes(raw[-12:])
    if header.format == "jpeg" and tail[-2:] != b"\xff\xd9":
        data = bytes(raw)
        scan = data.find(b"\xff\xda")  # start of scan: an EXIF thumbnail's own end marker sits before it
        if scan < 0 or data.rfind(b"\xff\xd9") < scan:
            raise ImageConversionError(f"{len(raw)} bytes of JPEG: truncated (no end-of-image marker)")
    if header.format == "png" and b"IEND" not in tail and not _png_has_iend(raw):
        raise ImageConversionError(f"{len(raw)} bytes of PNG: truncated (no IEND)")


def _png_has_iend(raw) -> bool:
    """Walk the PNG's chunks (length, type, data, CRC) from the signature: is there a complete IEND chunk?"""
    data = memoryview(raw).cast("B") if not isinstance(raw, bytes) else memoryview(raw)
    position, size = 8, len(data)
    while position + 12 <= size:
        length = int.from_bytes(data[position : position + 4], "big")
        if bytes(data[position + 4 : position + 8]) == b"IEND":
            return position + 12 + length <= size
        position += 12 + length
    return False


def check_pixels(height: int, width: int, max_pixels: int) -> None:
    if height * width > max_pixels:
        raise ImageConversionError(
            f"height {height} x width {width} = {height * width} pixels exceeds max_pixels {max_pixels}"
        )


def check_encoded(raw, max_pixels: int, max_bytes: int) -> ImageHeader:
    """Everything that can be refused without decoding: empty, too many bytes, a format not accepted, a header
    that is truncated or claims too many pixels, a truncated body. Returns the header's claim."""
    size = len(raw)
    if size == 0:
        raise ImageConversionError("data is empty")
    if size > max_bytes:
        raise ImageConversionError(f"{size} bytes exceeds max_compressed_bytes {max_bytes}")
    header = read_header(raw)
    check_pixels(header.height, header.width, max_pixels)
    check_complete(raw, header)
    return header


def decode_checked(
    raw: np.ndarray, flags: int, max_pixels: int = DEFAULT_MAX_PIXELS, max_bytes: int = DEFAULT_MAX_COMPRESSED_BYTES
) -> np.ndarray:
    """``cv2.imdecode`` of a JPEG or PNG whose header was checked first; the result must match the header's size."""
    import cv2

    header = check_encoded(raw, max_pixels, max_bytes)
    try:
        decoded = cv2.imdecode(raw, flags)
    except cv2.error as error:  # OpenCV's own ceiling (the backstop) or a decoder failure
        raise ImageConversionError(f"{header.format} of {len(raw)} bytes could not be decoded: {error}") from None
    if decoded is None or decoded.size == 0:
        raise ImageConversionError(
            f"{len(raw)} bytes of {header.format} are not a decodable image (corrupt or truncated)"
        )
    if decoded.shape[:2] != (header.height, header.width):
        raise ImageConversionError(
            f"{header.format} decoded to {decoded.shape[1]}x{decoded.shape[0]} but its header claims "
            f"{header.width}x{header.height}"
        )
    return decoded


def set_decoder_ceiling(max_pixels: int) -> bool:
    """OpenCV's own pixel ceiling (``OPENCV_IO_MAX_IMAGE_PIXELS``, 2^30 by default) as a backstop behind the header
    checks. OpenCV reads it once, when the library loads, so it takes effect only before the first ``import cv2``;
    returns whether it did."""
    if "cv2" in sys.modules:
        return os.environ.get("OPENCV_IO_MAX_IMAGE_PIXELS") == str(max_pixels)
    os.environ["OPENCV_IO_MAX_IMAGE_PIXELS"] = str(max_pixels)
    return True
