"""``bag_to_frames``: the camera frames of a recorded rosbag2 (sqlite3 or MCAP) as PNG files, to adapt a model to
your camera or to label a few of them.

``Image`` and ``CompressedImage`` go through the node's own conversion (``core.image_conversion``), so a frame on
disk is exactly what the node would have segmented. File names carry the header stamp (``<sec>_<nanosec>.png``).
``--every N`` keeps every N-th message, ``--hz R`` at most R frames per second of bag time; frames nearly equal to the
last one kept (a stopped car) are skipped by a cheap difference test (``--min-change``; 0 keeps them all).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from ros_road_seg.core import progress as progress_bar
from ros_road_seg.core.arguments import bounded_number
from ros_road_seg.core.errors import BagError, ImageConversionError, exit_codes
from ros_road_seg.core.image_conversion import compressed_msg_to_rgb, image_msg_to_rgb
from ros_road_seg.tools.bag_replay import IMAGE_TYPES, checked_messages, open_bag

THUMBNAIL = (64, 20)  # width, height of the grey thumbnail the difference test compares


def thumbnail(rgb: np.ndarray) -> np.ndarray:
    """A small grey picture of a frame: what the near-duplicate test compares (cheap, blind to sensor noise)."""
    return cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), THUMBNAIL, interpolation=cv2.INTER_AREA).astype(np.float32)


def extract(
    bag: Path,
    topic: str,
    out: Path,
    every: int = 1,
    hz: float = 0.0,
    max_frames: int = 0,
    min_change: float = 2.0,
    progress: bool = True,
) -> dict:
    """Write the frames of ``topic`` to ``out``; returns counts (read, written, skipped as near-duplicates or by
    rate, bad messages with their first error)."""
    from rosbags.typesys import Stores, get_typestore

    typestore = get_typestore(Stores.LATEST)
    reader = open_bag(bag)
    counts = {"read": 0, "written": 0, "near_duplicates": 0, "by_rate": 0, "bad": 0}
    try:
        connections = [c for c in reader.connections if c.topic == topic]
        if not connections:
            images = sorted({f"{c.topic} ({c.msgtype})" for c in reader.connections if c.msgtype in IMAGE_TYPES})
            raise BagError(f"bag '{bag}' has no topic '{topic}' (image topics: {', '.join(images) or 'none'})")
        if connections[0].msgtype not in IMAGE_TYPES:
            raise BagError(f"topic '{topic}' in '{bag}' is {connections[0].msgtype}, not an Image or CompressedImage")
        out.mkdir(parents=True, exist_ok=True)
        total = sum(c.msgcount for c in connections)
        first_error, last_kept, last_time = "", None, None
        for connection, stamp_ns, raw in checked_messages(reader, connections, bag):
            counts["read"] += 1
            try:
                if (counts["read"] - 1) % every or (hz and last_time is not None and stamp_ns - last_time < 1e9 / hz):
                    counts["by_rate"] += 1
                    continue
                message = typestore.deserialize_cdr(raw, connection.msgtype)
                try:
                    if connection.msgtype.endswith("CompressedImage"):
                        rgb = compressed_msg_to_rgb(message)
                    else:
                        rgb = image_msg_to_rgb(message)
                except ImageConversionError as error:
                    counts["bad"] += 1
                    first_error = first_error or f"message {counts['read']}: {error}"
                    continue
                small = thumbnail(rgb)
                if last_kept is not None and min_change > 0 and float(np.mean(np.abs(small - last_kept))) < min_change:
                    counts["near_duplicates"] += 1
                    continue
                stamp = message.header.stamp
                path = out / f"{stamp.sec:010d}_{stamp.nanosec:09d}.png"
                if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
                    raise OSError(f"cannot write '{path}' (disk full or not writable)")
                counts["written"] += 1
                last_kept, last_time = small, stamp_ns
                if max_frames and counts["written"] >= max_frames:
                    break
            finally:  # after the message: the bar counts the frame it kept
                if progress:
                    progress_bar.draw(counts["read"], total, f"messages, {counts['written']} frames kept")
    finally:
        reader.close()
        if progress and counts["read"]:
            progress_bar.end()
    return {**counts, "first_bad": first_error, "out": str(out)}


@exit_codes("bag_to_frames")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bag_to_frames", description=__doc__)
    parser.add_argument("bag", type=Path, help="rosbag2 folder (sqlite3 or MCAP)")
    parser.add_argument("--topic", required=True, help="Image or CompressedImage topic")
    parser.add_argument("--out", type=Path, required=True, help="folder for the PNG frames")
    rate = parser.add_mutually_exclusive_group()
    rate.add_argument("--every", type=bounded_number(1, integer=True), default=1, help="keep every N-th message")
    rate.add_argument("--hz", type=bounded_number(0.0, 1000.0, above=True), default=0.0, help="at most R frames/s")
    parser.add_argument("--max", type=bounded_number(0, integer=True), default=0, help="stop after N frames (0: all)")
    parser.add_argument(
        "--min-change",
        type=bounded_number(0.0, 255.0),
        default=2.0,
        help="skip a frame whose grey thumbnail differs from the last kept one by less than this (mean, 0-255)",
    )
    args = parser.parse_args(argv)
    result = extract(args.bag, args.topic, args.out, args.every, args.hz, args.max, args.min_change)
    print(
        f"bag_to_frames: {result['written']} frames -> '{result['out']}' ({result['read']} messages read, "
        f"{result['near_duplicates']} near-duplicates and {result['by_rate']} by rate skipped, {result['bad']} bad)"
    )
    if result["bad"]:
        print(f"bag_to_frames: {result['bad']} messages could not be converted; first: {result['first_bad']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
