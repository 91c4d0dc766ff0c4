"""Decompression bombs, and what refusing them costs: ``python -m ros_road_seg.bench.bombs``.

Each bomb is a small payload whose header claims a huge picture (or lies about itself). The table gives, per bomb,
the bytes on the wire, the claimed size, the time ``compressed_msg_to_rgb`` takes to refuse it and the peak memory
it costs; each measurement runs in a fresh Python process (peak RSS from /proc, which sees OpenCV's allocations too).
This file imports nothing of the package at module level, so it can also be run against an older checkout
(``PYTHONPATH=old/tree python ros_road_seg/bench/bombs.py``) for a before/after table.
"""

from __future__ import annotations

import argparse
import json
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np

from ros_road_seg.core.errors import exit_codes


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bomb(width: int = 20000, height: int = 20000) -> bytes:
    """A valid 8-bit grey PNG of ``width`` x ``height`` black pixels (rows compressed as they are made: ~0.4 MB)."""
    compressor = zlib.compressobj(9)
    row = bytes(width + 1)  # filter byte 0 + a row of zeros
    body = bytearray()
    for _ in range(height):
        body += compressor.compress(row)
    body += compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", bytes(body)) + _png_chunk(b"IEND", b"")
    )


def small_jpeg(width: int = 16, height: int = 16) -> bytes:
    import cv2

    ok, data = cv2.imencode(".jpg", np.zeros((height, width), np.uint8))
    assert ok
    return data.tobytes()


def _with_sof_size(jpeg: bytes, width: int, height: int) -> bytes:
    """``jpeg`` with its frame header (SOF0) claiming ``width`` x ``height``."""
    position = jpeg.index(b"\xff\xc0")
    return jpeg[: position + 5] + struct.pack(">HH", height, width) + jpeg[position + 9 :]


def jpeg_bomb(width: int = 16000, height: int = 16000, real: bool = False) -> bytes:
    """A JPEG whose header claims ``width`` x ``height``: a real all-black encoding when ``real`` (needs the pixels
    once, ~256 MB), else a 16x16 picture with its frame header rewritten (decoders allocate the claim all the same)."""
    if real:
        import cv2

        ok, data = cv2.imencode(".jpg", np.zeros((height, width), np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 90])
        assert ok
        return data.tobytes()
    return _with_sof_size(small_jpeg(), width, height)


def webp_bomb(width: int = 16383, height: int = 16383, real: bool = False) -> bytes:
    """A WebP claiming ``width`` x ``height`` (lossless VP8L header); ``real`` encodes black pixels with OpenCV."""
    if real:
        import cv2

        ok, data = cv2.imencode(".webp", np.zeros((height, width, 3), np.uint8), [cv2.IMWRITE_WEBP_QUALITY, 1])
        assert ok
        return data.tobytes()
    bits = (width - 1) | ((height - 1) << 14)  # 14 bits each, then alpha and version bits (0)
    vp8l = b"\x2f" + struct.pack("<I", bits) + bytes(64)
    chunk = b"VP8L" + struct.pack("<I", len(vp8l)) + vp8l
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def truncated_header_jpeg() -> bytes:
    """A JPEG cut inside its first segment, before any frame header."""
    return small_jpeg()[:40]


def zero_size_jpeg() -> bytes:
    """A JPEG whose frame header claims 0 x 0 pixels (height 0 means 'defined later' in the standard)."""
    return _with_sof_size(small_jpeg(), 0, 0)


def bomb_kinds(real: bool = False) -> dict[str, tuple[bytes, str, str]]:
    """name -> (payload, claimed size as text, the ``format`` string a CompressedImage would carry)."""
    webp = webp_bomb(real=real)
    return {
        "WebP 16383x16383": (webp, "16383x16383", "webp"),
        "JPEG 16000x16000": (jpeg_bomb(real=real), "16000x16000", "jpeg"),
        "PNG 20000x20000": (png_bomb(), "20000x20000", "png"),
        "JPEG, truncated header": (truncated_header_jpeg(), "(cut before SOF)", "jpeg"),
        "JPEG, SOF claims 0x0": (zero_size_jpeg(), "0x0", "jpeg"),
        "WebP that says it is PNG": (webp, "16383x16383", "png"),
    }


_PROBE = """
import json, sys, time
from pathlib import Path
def peak():
    for line in Path('/proc/self/status').read_text().splitlines():
        if line.startswith('VmHWM:'):
            return int(line.split()[1]) / 1024.0
from sensor_msgs.msg import CompressedImage
from ros_road_seg.core.image_conversion import compressed_msg_to_rgb
payload = Path(sys.argv[1]).read_bytes()
msg = CompressedImage(format=sys.argv[2])
msg.data = payload
baseline = peak()
start = time.perf_counter()
try:
    compressed_msg_to_rgb(msg)
    outcome = 'decoded'
except Exception as error:
    outcome = type(error).__name__ + ': ' + str(error)
print(json.dumps({'seconds': time.perf_counter() - start, 'peak_mb': peak() - baseline, 'outcome': outcome}))
"""


def measure(payload: bytes, image_format: str, folder: Path, timeout: float = 120.0) -> dict:
    """Time and peak-memory growth of ``compressed_msg_to_rgb`` on ``payload``, in a fresh process."""
    path = folder / "payload.bin"
    path.write_bytes(payload)
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, str(path), image_format],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"seconds": float("nan"), "peak_mb": float("nan"), "outcome": result.stderr.strip()[-300:]}
    return json.loads(lines[-1])


@exit_codes("bench.bombs")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ros_road_seg.bench.bombs", description=__doc__)
    parser.add_argument("--real", action="store_true", help="encode real WebP/JPEG bombs (slow, needs ~1 GB once)")
    parser.add_argument(
        "--work", type=Path, default=Path(tempfile.gettempdir()) / "road_seg_bombs", help="scratch folder"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    rows = []
    print("| bomb | bytes | claimed | time to refuse | peak memory | outcome |")
    print("|---|---|---|---|---|---|")
    for name, (payload, claimed, image_format) in bomb_kinds(args.real).items():
        row = {"bomb": name, "bytes": len(payload), "claimed": claimed, **measure(payload, image_format, args.work)}
        rows.append(row)
        print(
            f"| {name} | {row['bytes']:,} | {claimed} | {row['seconds'] * 1000:.1f} ms | {row['peak_mb']:.1f} MB | "
            f"{row['outcome'][:90]} |",
            flush=True,
        )
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
