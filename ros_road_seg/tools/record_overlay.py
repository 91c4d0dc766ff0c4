"""``record_overlay``: save ``road_overlay`` frames as PNGs, an animated GIF and an MP4; score ``road_mask``.

With ``--labels`` (a KITTI ``semantic/`` or CamVid ``*annot/`` folder) and ``--index`` (the ``frame_index.csv``
that ``kitti_to_bag`` writes), each mask is matched to its frame by header stamp and its road IoU printed, then the
mean. The node's own /diagnostics (latency, provider, drops) go into the summary.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from ros_road_seg.core.errors import RoadSegError
from ros_road_seg.core.ground_grid import grid_to_rgb
from ros_road_seg.core.image_conversion import output_msg_to_array
from ros_road_seg.core.labels import DATASETS, read_label, road_masks
from ros_road_seg.core.paths import apply_fastdds_profile
from ros_road_seg.core.scoring import road_iou
from ros_road_seg.node.discovery import wait_until_matched
from ros_road_seg.node.ros_messages import diagnostic_values, stamp_to_ns
from ros_road_seg.tools.arguments import bounded_number
from ros_road_seg.tools.bag_file import BagFile
from ros_road_seg.tools.kitti_to_bag import DEFAULT_TOPIC, IMAGE


def read_index(path: Path) -> dict[int, str]:
    """stamp_ns -> frame name from a kitti_to_bag ``frame_index.csv``."""
    try:
        lines = Path(path).read_text().strip().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise RoadSegError(
            f"frame index '{path}' cannot be read: {getattr(error, 'strerror', None) or error}"
        ) from None
    if not lines or lines[0].strip() != "stamp_ns,name":
        raise RoadSegError(f"'{path}' is not a frame_index.csv (expected a 'stamp_ns,name' header)")
    index = {}
    for number, line in enumerate(lines[1:], start=2):
        stamp, _, name = line.partition(",")
        try:
            index[int(stamp)] = name.strip()
        except ValueError:
            raise RoadSegError(f"frame index '{path}' line {number}: '{stamp}' is not a stamp in nanoseconds") from None
    return index


class Recorder:
    """Collects overlays, masks and grids by stamp, the latest node diagnostics, and (with ``bag``) writes the input,
    mask, overlay and grid messages as they arrive into a bag (receive time, as ``ros2 bag record``)."""

    def __init__(
        self, node, overlay_topic: str, mask_topic: str, grid_topic: str, input_topic: str | None, bag=None
    ) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from nav_msgs.msg import OccupancyGrid
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image

        qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        self.overlays: dict[int, np.ndarray] = {}
        self.masks: dict[int, np.ndarray] = {}
        self.grids: dict[int, np.ndarray] = {}
        self.grids_received = 0
        self.received = 0
        self.last_arrival = 0.0
        self.diagnostics: dict[str, str] = {}
        self.bag = bag
        self._topics = {
            "overlay": node.resolve_topic_name(overlay_topic),
            "mask": node.resolve_topic_name(mask_topic),
            "grid": node.resolve_topic_name(grid_topic),
        }
        self.overlay_subscription = node.create_subscription(Image, overlay_topic, self._on_overlay, qos)
        node.create_subscription(Image, mask_topic, self._on_mask, qos)
        node.create_subscription(OccupancyGrid, grid_topic, self._on_grid, qos)
        node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)
        if bag is not None and input_topic:
            self._topics["input"] = node.resolve_topic_name(input_topic)
            node.create_subscription(Image, input_topic, lambda msg: self._record("input", IMAGE, msg), qos)

    def _record(self, kind: str, msgtype: str, msg) -> None:
        if self.bag is not None:
            from rclpy.serialization import serialize_message

            self.bag.write(self._topics[kind], msgtype, time.time_ns(), serialize_message(msg))

    def _on_overlay(self, msg) -> None:
        self._record("overlay", IMAGE, msg)
        self.overlays[stamp_to_ns(msg.header.stamp)] = output_msg_to_array(msg).copy()
        self.received += 1
        self.last_arrival = time.monotonic()

    def _on_mask(self, msg) -> None:
        self._record("mask", IMAGE, msg)
        self.masks[stamp_to_ns(msg.header.stamp)] = output_msg_to_array(msg).copy()

    def _on_grid(self, msg) -> None:
        self._record("grid", "nav_msgs/msg/OccupancyGrid", msg)
        grid = np.frombuffer(msg.data, np.int8).reshape(msg.info.height, msg.info.width)
        self.grids[stamp_to_ns(msg.header.stamp)] = grid.copy()
        self.grids_received += 1

    def _on_diagnostics(self, msg) -> None:
        self.diagnostics = diagnostic_values(msg) or self.diagnostics


def with_birds_eye(overlay: np.ndarray, grid: np.ndarray | None) -> np.ndarray:
    """The overlay with the grid's bird's-eye picture beside it (scaled to the overlay's height), if there is one."""
    if grid is None:
        return overlay
    picture = grid_to_rgb(grid)
    width = max(1, int(round(picture.shape[1] * overlay.shape[0] / picture.shape[0])))
    panel = cv2.resize(picture, (width, overlay.shape[0]), interpolation=cv2.INTER_NEAREST)
    return np.hstack([overlay, np.full((overlay.shape[0], 4, 3), 255, np.uint8), panel])


def write_outputs(
    overlays: dict[int, np.ndarray],
    out: Path,
    fps: float = 5.0,
    gif_width: int = 820,
    grids: dict[int, np.ndarray] | None = None,
) -> dict:
    """PNG per frame (stamp order), overlay.gif (downscaled to ``gif_width``) and overlay.mp4 where OpenCV can; with
    ``grids``, each frame carries the bird's-eye panel of the grid of the same stamp."""
    from PIL import Image as PILImage

    out.mkdir(parents=True, exist_ok=True)
    grids = grids or {}
    frames = [with_birds_eye(overlays[stamp], grids.get(stamp)) for stamp in sorted(overlays)]
    for number, frame in enumerate(frames):
        cv2.imwrite(str(out / f"overlay_{number:04d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    gif_frames = []
    for frame in frames:
        height = max(1, int(round(frame.shape[0] * gif_width / frame.shape[1])))
        gif_frames.append(PILImage.fromarray(cv2.resize(frame, (gif_width, height), interpolation=cv2.INTER_AREA)))
    gif_path = out / "overlay.gif"
    gif_frames[0].save(gif_path, save_all=True, append_images=gif_frames[1:], duration=int(1000 / fps), loop=0)
    mp4_path = out / "overlay.mp4"
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(mp4_path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if writer.isOpened():
        for frame in frames:
            if frame.shape[:2] == (height, width):
                writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        writer.release()
    else:
        mp4_path = None
    return {
        "gif": str(gif_path),
        "mp4": str(mp4_path) if mp4_path and mp4_path.is_file() else None,
        "png_frames": len(frames),
    }


def score_masks(masks: dict[int, np.ndarray], index: dict[int, str], labels: Path, dataset: str) -> list[dict]:
    """Road IoU of each received mask whose stamp is in the index, against ``labels/<name>.png``."""
    rows = []
    for stamp in sorted(masks):
        name = index.get(stamp)
        if name is None:
            continue
        label_path = Path(labels) / f"{name}.png"
        road, valid = road_masks(read_label(label_path), dataset)
        if road.shape != masks[stamp].shape:
            raise RoadSegError(
                f"mask for '{name}' is {masks[stamp].shape[1]}x{masks[stamp].shape[0]} but label "
                f"'{label_path}' is {road.shape[1]}x{road.shape[0]}"
            )
        rows.append({"name": name, "iou": road_iou(masks[stamp], road, valid)})
    return rows


def record(
    out: Path,
    *,
    overlay_topic: str = "road_overlay",
    mask_topic: str = "road_mask",
    count: int = 0,
    idle_exit: float = 3.0,
    timeout: float = 120.0,
    labels: Path | None = None,
    index: Path | None = None,
    dataset: str = "kitti",
    grid_topic: str = "road_grid",
    bag: Path | None = None,
    input_topic: str | None = DEFAULT_TOPIC,
) -> dict:
    """Record until ``count`` overlays, ``idle_exit`` seconds of silence or Ctrl-C, then write what arrived (an
    interrupted recording keeps its frames, GIF, bag and summary; ``summary['interrupted']`` says so)."""
    import rclpy
    from rclpy.executors import ExternalShutdownException

    frame_index = read_index(index) if index is not None else None  # a bad index fails now, not after recording
    if labels is not None and not Path(labels).is_dir():
        raise RoadSegError(f"label folder '{labels}' does not exist")
    interrupted = False
    node = rclpy.create_node("record_overlay")
    with contextlib.ExitStack() as stack:
        bag_file = stack.enter_context(BagFile(bag, "mcap")) if bag is not None else None
        recorder = Recorder(node, overlay_topic, mask_topic, grid_topic, input_topic, bag_file)
        # 'listening' means matched with the node's publisher: a caller that replays right after it loses nothing
        matched = wait_until_matched(node, [recorder.overlay_subscription], min(timeout, 30.0))
        where = "" if matched else " (no publisher matched yet)"
        print(f"record_overlay: listening on '{node.resolve_topic_name(overlay_topic)}'{where}", flush=True)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                rclpy.spin_once(node, timeout_sec=0.05)
                if count and recorder.received >= count:
                    break
                if recorder.received and time.monotonic() - recorder.last_arrival > idle_exit:
                    break
            for _ in range(10):  # the node's last diagnostics and any mask still in flight
                rclpy.spin_once(node, timeout_sec=0.05)
        except (KeyboardInterrupt, ExternalShutdownException):
            interrupted = True  # keep what arrived: written below like a finished recording
        finally:
            node.destroy_node()
        if not recorder.overlays and interrupted:
            raise KeyboardInterrupt
        if not recorder.overlays:
            raise RoadSegError(
                f"no frame arrived on '{overlay_topic}' within {timeout:.0f} s: is road_seg_node running "
                "and is something publishing its 'image' topic?"
            )
    summary = {
        "interrupted": interrupted,
        "frames_received": recorder.received,
        "unique_frames": len(recorder.overlays),
        "grids_received": recorder.grids_received,
        "unique_grids": len(recorder.grids),
        **write_outputs(recorder.overlays, out, grids=recorder.grids),
        "node_diagnostics": recorder.diagnostics,
    }
    if bag_file is not None:
        summary["bag"] = {"path": str(bag), "messages": dict(bag_file.counts)}
    if labels is not None and frame_index is not None:
        rows = score_masks(recorder.masks, frame_index, labels, dataset)
        summary["iou_per_frame"] = rows
        summary["mean_iou"] = float(np.mean([r["iou"] for r in rows])) if rows else None
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="record_overlay", description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="folder for PNGs, overlay.gif, overlay.mp4")
    parser.add_argument("--overlay-topic", default="road_overlay")
    parser.add_argument("--mask-topic", default="road_mask")
    parser.add_argument(
        "--count",
        type=bounded_number(0, integer=True),
        default=0,
        help="stop after this many overlays (0 = until idle)",
    )
    parser.add_argument(
        "--idle-exit",
        type=bounded_number(0.0, above=True),
        default=3.0,
        help="stop this many seconds after the last frame",
    )
    parser.add_argument(
        "--timeout", type=bounded_number(0.0, above=True), default=120.0, help="give up if nothing arrives by then"
    )
    parser.add_argument("--labels", type=Path, default=None, help="label folder (KITTI semantic/ or CamVid *annot/)")
    parser.add_argument("--index", type=Path, default=None, help="frame_index.csv of the replayed bag")
    parser.add_argument("--dataset", choices=DATASETS, default="kitti")
    parser.add_argument("--grid-topic", default="road_grid", help="OccupancyGrid for the bird's-eye panel, if any")
    parser.add_argument(
        "--bag", type=Path, default=None, help="also record input, mask, overlay, grid to this MCAP bag"
    )
    parser.add_argument("--input-topic", default=DEFAULT_TOPIC, help="camera topic recorded with --bag")
    args, ros_args = parser.parse_known_args(argv)
    apply_fastdds_profile()
    import rclpy

    rclpy.init(args=ros_args)
    try:
        summary = record(
            args.out,
            overlay_topic=args.overlay_topic,
            mask_topic=args.mask_topic,
            count=args.count,
            idle_exit=args.idle_exit,
            timeout=args.timeout,
            labels=args.labels,
            index=args.index,
            dataset=args.dataset,
            grid_topic=args.grid_topic,
            bag=args.bag,
            input_topic=args.input_topic,
        )
    except RoadSegError as error:
        print(f"record_overlay: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("record_overlay: interrupted before any frame arrived; nothing written", file=sys.stderr)
        return 130
    finally:
        if rclpy.ok():
            rclpy.shutdown()
    for row in summary.get("iou_per_frame", []):
        print(f"  {row['name']}: road IoU {row['iou']:.4f}")
    if summary.get("mean_iou") is not None:
        print(f"mean road IoU over {len(summary['iou_per_frame'])} labelled frames: {summary['mean_iou']:.4f}")
    print(f"recorded {summary['unique_frames']} frames ({summary['frames_received']} received) -> {summary['gif']}")
    if "bag" in summary:
        counts = ", ".join(f"{n} on {t}" for t, n in summary["bag"]["messages"].items())
        print(f"recorded bag '{summary['bag']['path']}': {counts}")
    if summary["interrupted"]:
        print("record_overlay: interrupted; what arrived until then was written", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
