"""``record_overlay``: save ``road_overlay`` frames as PNGs, an animated GIF and an MP4; score ``road_mask``.

With ``--labels`` (a KITTI ``semantic/`` or CamVid ``*annot/`` folder) and ``--index`` (the ``frame_index.csv``
that ``kitti_to_bag`` writes), each mask is matched to its frame by header stamp and its road IoU printed, then the
mean. The node's own /diagnostics (latency, provider, drops) go into the summary. Frames are written as they arrive
(memory stays flat over a long recording); the GIF is a preview made from the PNGs at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ros_road_seg.core.arguments import bounded_number
from ros_road_seg.core.errors import RoadSegError, exit_codes, one_line
from ros_road_seg.core.ground_grid import grid_to_rgb
from ros_road_seg.core.image_conversion import output_msg_to_array
from ros_road_seg.core.labels import DATASETS, read_label, road_masks
from ros_road_seg.core.paths import apply_fastdds_profile
from ros_road_seg.core.scoring import road_iou
from ros_road_seg.tools.bag_file import BagFile
from ros_road_seg.tools.discovery import wait_until_matched
from ros_road_seg.tools.kitti_to_bag import DEFAULT_TOPIC, IMAGE
from ros_road_seg.tools.ros_messages import diagnostic_values, stamp_to_ns


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


GIF_MAX_FRAMES = 300  # the GIF is a preview: a long recording keeps every k-th frame (all frames are PNGs)
PENDING_FOR_GRID = 8  # overlays held back (at most) until their stamp's grid arrives, for the bird's-eye panel


class FrameWriter:
    """Writes each overlay as it arrives: a PNG (with the bird's-eye panel of its stamp's grid) and an MP4 frame, so
    memory stays flat however long the recording; the GIF is made from the PNGs at the end."""

    def __init__(self, out: Path, fps: float = 5.0, gif_width: int = 820) -> None:
        self.out, self.fps, self.gif_width = out, fps, gif_width
        self.pngs: list[Path] = []
        self.video = None
        self.video_size: tuple[int, int] | None = None
        self.mp4_path = out / "overlay.mp4"

    def write(self, overlay: np.ndarray, grid: np.ndarray | None) -> None:
        frame = with_birds_eye(overlay, grid)
        path = self.out / f"overlay_{len(self.pngs):04d}.png"
        bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        if not cv2.imwrite(str(path), bgr):
            raise OSError(f"cannot write '{path}' (disk full or not writable)")
        self.pngs.append(path)
        if self.video is None:
            self.video_size = (frame.shape[1], frame.shape[0])
            self.video = cv2.VideoWriter(str(self.mp4_path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, self.video_size)
        if self.video.isOpened() and (frame.shape[1], frame.shape[0]) == self.video_size:
            self.video.write(bgr)

    def finish(self) -> dict:
        """Close the MP4 and write overlay.gif from the PNGs (every k-th for long recordings), one frame in memory
        at a time while reading."""
        from PIL import Image as PILImage

        mp4 = None
        if self.video is not None:
            opened = self.video.isOpened()
            self.video.release()
            mp4 = str(self.mp4_path) if opened and self.mp4_path.is_file() else None
        stride = max(1, -(-len(self.pngs) // GIF_MAX_FRAMES))

        def gif_frames():
            for path in self.pngs[::stride]:
                frame = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
                height = max(1, int(round(frame.shape[0] * self.gif_width / frame.shape[1])))
                small = cv2.resize(frame, (self.gif_width, height), interpolation=cv2.INTER_AREA)
                yield PILImage.fromarray(small)

        gif_path = self.out / "overlay.gif"
        frames = gif_frames()
        first = next(frames)
        first.save(gif_path, save_all=True, append_images=frames, duration=int(1000 * stride / self.fps), loop=0)
        return {"gif": str(gif_path), "mp4": mp4, "png_frames": len(self.pngs), "gif_every": stride}


class Recorder:
    """Streams overlays (PNG + MP4 per distinct stamp, with the grid of the same stamp beside), scores masks as they
    arrive, keeps the latest node diagnostics, and (with ``bag``) writes the input, mask, overlay and grid messages
    into a bag as they arrive (receive time, as ``ros2 bag record``). Nothing grows with the recording's length
    but the per-frame IoU rows and the set of seen stamps."""

    def __init__(
        self,
        node,
        writer: FrameWriter,
        overlay_topic: str,
        mask_topic: str,
        grid_topic: str,
        input_topic: str | None,
        bag=None,
        scorer=None,
    ) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from nav_msgs.msg import OccupancyGrid
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image

        qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        self.writer, self.scorer = writer, scorer
        self.pending: dict[int, np.ndarray] = {}  # overlays waiting (briefly) for their grid
        self.recent_grids: dict[int, np.ndarray] = {}  # grids that came before their overlay
        self.written_stamps: set[int] = set()
        self.grid_stamps: set[int] = set()
        self.scored_stamps: set[int] = set()
        self.iou_rows: list[dict] = []
        self.grids_received = 0
        self.received = 0
        self.last_arrival = 0.0
        self.diagnostics: dict[str, str] = {}
        self.bag = bag
        self.input_subscription = None
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
            self.input_subscription = node.create_subscription(
                Image, input_topic, lambda msg: self._record("input", IMAGE, msg), qos
            )

    @property
    def unique_frames(self) -> int:
        return len(self.written_stamps) + len(self.pending)

    def _record(self, kind: str, msgtype: str, msg) -> None:
        if self.bag is not None:
            from rclpy.serialization import serialize_message

            self.bag.write(self._topics[kind], msgtype, time.time_ns(), serialize_message(msg))

    def _on_overlay(self, msg) -> None:
        self._record("overlay", IMAGE, msg)
        self.received += 1
        self.last_arrival = time.monotonic()
        stamp = stamp_to_ns(msg.header.stamp)
        if stamp in self.written_stamps or stamp in self.pending:  # a looped bag: the same frame again
            return
        overlay = output_msg_to_array(msg).copy()
        if stamp in self.recent_grids or not self.grids_received:
            self._write(stamp, overlay, self.recent_grids.pop(stamp, None))
        else:
            self.pending[stamp] = overlay
            while len(self.pending) > PENDING_FOR_GRID:  # its grid is not coming: write it without the panel
                oldest = min(self.pending)
                self._write(oldest, self.pending.pop(oldest), None)

    def _write(self, stamp: int, overlay: np.ndarray, grid: np.ndarray | None) -> None:
        self.writer.write(overlay, grid)
        self.written_stamps.add(stamp)

    def _on_mask(self, msg) -> None:
        self._record("mask", IMAGE, msg)
        stamp = stamp_to_ns(msg.header.stamp)
        if self.scorer is not None and stamp not in self.scored_stamps:
            row = self.scorer(stamp, output_msg_to_array(msg))
            if row is not None:
                self.scored_stamps.add(stamp)
                self.iou_rows.append(row)

    def _on_grid(self, msg) -> None:
        self._record("grid", "nav_msgs/msg/OccupancyGrid", msg)
        self.grids_received += 1
        stamp = stamp_to_ns(msg.header.stamp)
        self.grid_stamps.add(stamp)
        grid = np.frombuffer(msg.data, np.int8).reshape(msg.info.height, msg.info.width).copy()
        if stamp in self.pending:
            self._write(stamp, self.pending.pop(stamp), grid)
        elif stamp not in self.written_stamps:
            self.recent_grids[stamp] = grid
            while len(self.recent_grids) > PENDING_FOR_GRID:
                del self.recent_grids[min(self.recent_grids)]

    def flush(self) -> None:
        """Write the overlays still waiting for a grid."""
        for stamp in sorted(self.pending):
            self._write(stamp, self.pending.pop(stamp), self.recent_grids.pop(stamp, None))

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


def mask_scorer(index: dict[int, str], labels: Path, dataset: str):
    """stamp, mask -> the IoU row of that frame against ``labels/<name>.png`` (None for a stamp not in the index)."""

    def score(stamp: int, mask: np.ndarray) -> dict | None:
        name = index.get(stamp)
        if name is None:
            return None
        label_path = Path(labels) / f"{name}.png"
        road, valid = road_masks(read_label(label_path), dataset)
        if road.shape != mask.shape:
            raise RoadSegError(
                f"mask for '{name}' is {mask.shape[1]}x{mask.shape[0]} but label "
                f"'{label_path}' is {road.shape[1]}x{road.shape[0]}"
            )
        return {"name": name, "iou": road_iou(mask, road, valid)}

    return score


def check_writable(out: Path, bag: Path | None) -> None:
    """Refuse an output folder or bag that cannot be written before anything is recorded, not after."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".record_overlay_write_test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise RoadSegError(f"--out '{out}' is not writable: {error.strerror or error}") from None
    if bag is not None:
        if bag.exists():
            raise RoadSegError(f"--bag '{bag}' already exists; choose another or delete it")
        parent = bag.parent if str(bag.parent) else Path(".")
        if not parent.is_dir() or not os.access(parent, os.W_OK):
            raise RoadSegError(f"--bag '{bag}': its folder '{parent}' does not exist or is not writable")


@dataclass(frozen=True)
class StopRule:
    """When a recording ends: ``count`` overlays arrived, or ``idle_exit`` s of silence after the first one, or
    ``deadline`` passed while nothing has arrived yet. The deadline never cuts a live stream."""

    deadline: float
    count: int = 0
    idle_exit: float = 3.0

    def done(self, received: int, last_arrival: float, now: float) -> bool:
        if not received:
            return now >= self.deadline
        return bool(self.count and received >= self.count) or now - last_arrival > self.idle_exit


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
    """Record until ``count`` overlays, ``idle_exit`` seconds of silence or Ctrl-C; give up after ``timeout`` s only
    while nothing has arrived. Frames stream to disk as they arrive; an interrupted recording keeps its frames, GIF,
    bag and summary (``summary['interrupted']`` says so). A write failure (a full disk) stops the recording, closes
    what it has and raises a RoadSegError saying what was kept."""
    import rclpy
    from rclpy.executors import ExternalShutdownException

    out, bag = Path(out), Path(bag) if bag is not None else None
    frame_index = read_index(index) if index is not None else None  # a bad index fails now, not after recording
    if labels is not None and not Path(labels).is_dir():
        raise RoadSegError(f"label folder '{labels}' does not exist")
    check_writable(out, bag)
    scorer = mask_scorer(frame_index, labels, dataset) if labels is not None and frame_index is not None else None
    interrupted, failure = False, None
    writer = FrameWriter(out)
    bag_file = BagFile(bag, "mcap") if bag is not None else None
    node = rclpy.create_node("record_overlay")
    recorder = Recorder(node, writer, overlay_topic, mask_topic, grid_topic, input_topic, bag_file, scorer)
    try:
        # 'listening' means matched with the node's publisher: a caller that replays right after it loses nothing
        matched = wait_until_matched(node, [recorder.overlay_subscription], min(timeout, 30.0))
        where = "" if matched else " (no publisher matched yet)"
        print(f"record_overlay: listening on '{node.resolve_topic_name(overlay_topic)}'{where}", flush=True)
        rule = StopRule(time.monotonic() + timeout, count, idle_exit)
        while not rule.done(recorder.received, recorder.last_arrival, time.monotonic()):
            rclpy.spin_once(node, timeout_sec=0.05)
        for _ in range(10):  # the node's last diagnostics and any mask still in flight
            rclpy.spin_once(node, timeout_sec=0.05)
        recorder.flush()
    except (KeyboardInterrupt, ExternalShutdownException):
        interrupted = True  # keep what arrived: finished below like a complete recording
    except OSError as error:  # the disk filled up or went away
        failure = error
    finally:
        node.destroy_node()
    return finish_recording(recorder, writer, bag_file, out, interrupted, failure, timeout, overlay_topic)


def finish_recording(recorder, writer, bag_file, out, interrupted, failure, timeout, overlay_topic) -> dict:
    """Close the bag, write the GIF and summary; on a failure or a second Ctrl-C, say exactly what was kept."""
    kept = []
    try:
        if failure is None and not interrupted:
            with contextlib.suppress(OSError):
                recorder.flush()
        if bag_file is not None:
            kept.append(bag_file.close_what_arrived())
        kept.insert(0, f"{len(writer.pngs)} PNGs in '{out}'")
        if failure is not None:
            raise RoadSegError(f"recording stopped: {one_line(failure)}; kept {', '.join(kept)}")
        if not writer.pngs:
            if interrupted:
                raise KeyboardInterrupt("before any frame arrived; nothing written")
            raise RoadSegError(
                f"no frame arrived on '{overlay_topic}' within {timeout:.0f} s: is road_seg_node running "
                "and is something publishing its 'image' topic?"
            )
        summary = {
            "interrupted": interrupted,
            "frames_received": recorder.received,
            "unique_frames": len(writer.pngs),
            "grids_received": recorder.grids_received,
            "unique_grids": len(recorder.grid_stamps),
            **writer.finish(),
            "node_diagnostics": recorder.diagnostics,
        }
        if bag_file is not None:
            summary["bag"] = {"path": str(bag_file.out), "messages": dict(bag_file.counts)}
        if recorder.scorer is not None:
            rows = sorted(recorder.iou_rows, key=lambda row: row["name"])
            summary["iou_per_frame"] = rows
            summary["mean_iou"] = float(np.mean([r["iou"] for r in rows])) if rows else None
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
        return summary
    except KeyboardInterrupt as second:
        if str(second):
            raise
        raise KeyboardInterrupt(
            f"while finishing: {', '.join(kept) or f'{len(writer.pngs)} PNGs'} were written; the GIF and summary.json "
            "may be missing"
        ) from None
    except OSError as error:
        raise RoadSegError(
            f"finishing the recording failed: {one_line(error)}; kept {', '.join(kept) or f'{len(writer.pngs)} PNGs'}"
        ) from None


@exit_codes("record_overlay")
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
        "--timeout",
        type=bounded_number(0.0, above=True),
        default=120.0,
        help="give up if no frame has arrived by then (a recording under way is never cut)",
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
        raise KeyboardInterrupt("what arrived until then was written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
