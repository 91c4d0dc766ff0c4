"""``kitti_to_bag``: a folder of camera frames -> a ROS 2 bag (MCAP or sqlite3) with the rosbags library, no ROS.

Understands the KITTI semantics layout (``image_2/*.png``), a KITTI raw drive (``image_02/data/*.png`` with
``image_02/timestamps.txt`` for real stamps) and any folder of PNG/JPG frames (stamped at ``--rate``). The bag is
written next to its destination and renamed into place only when complete, so a failed run leaves nothing that
looks like a bag. A ``frame_index.csv`` beside ``metadata.yaml`` maps each stamp to its file name.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np

from ros_road_seg.core import kitti_camera
from ros_road_seg.core import progress as progress_bar
from ros_road_seg.core.arguments import bounded_number
from ros_road_seg.core.errors import BagError, DatasetError, RoadSegError, exit_codes
from ros_road_seg.core.ground_grid import Intrinsics
from ros_road_seg.core.image_files import IMAGE_SUFFIXES, read_rgb_file
from ros_road_seg.tools.bag_file import BagFile
from ros_road_seg.tools.ros_messages import NS_PER_S

DEFAULT_TOPIC = "/kitti/camera/color/left/image_raw"  # KITTI's left colour camera (its CameraInfo beside it)
DEFAULT_FRAME_ID = "camera_color_left"
INDEX_FILE = "frame_index.csv"
CAMERA_INFO_CHOICES = ("auto", "kitti", "none")
IMAGE, COMPRESSED, CAMERA_INFO = (
    "sensor_msgs/msg/Image",
    "sensor_msgs/msg/CompressedImage",
    "sensor_msgs/msg/CameraInfo",
)


@dataclass(frozen=True)
class Frame:
    path: Path
    stamp_ns: int


def find_frames(folder: Path, rate: float, start_ns: int) -> tuple[str, list[Frame]]:
    """(layout name, frames in time order) for a KITTI semantics folder, a KITTI raw drive or a plain folder."""
    folder = Path(folder)
    if folder.is_file():
        raise BagError(f"input '{folder}' is a file; give the folder that holds the frames")
    if not folder.is_dir():
        raise BagError(f"input folder '{folder}' does not exist")
    raw_dir = folder / "image_02"
    if (raw_dir / "data").is_dir() and (raw_dir / "timestamps.txt").is_file():
        paths = _frames_in(raw_dir / "data")
        stamps = read_raw_timestamps(raw_dir / "timestamps.txt")
        if len(stamps) < len(paths):
            raise BagError(f"'{raw_dir / 'timestamps.txt'}' has {len(stamps)} stamps for {len(paths)} frames")
        return "kitti_raw", [Frame(p, s) for p, s in zip(paths, stamps[: len(paths)], strict=True)]
    for layout, candidate in (
        ("kitti_semantics", folder / "image_2"),
        ("kitti_semantics", folder / "training" / "image_2"),
    ):
        if candidate.is_dir():
            return layout, _stamped(_frames_in(candidate), rate, start_ns)
    return "folder", _stamped(_frames_in(folder), rate, start_ns)


def _frames_in(folder: Path) -> list[Path]:
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise BagError(f"folder '{folder}' holds no PNG/JPG frames")
    return paths


def _stamped(paths: list[Path], rate: float, start_ns: int) -> list[Frame]:
    if rate <= 0:
        raise BagError(f"--rate {rate} must be > 0")
    period_ns = int(round(1e9 / rate))
    return [Frame(p, start_ns + i * period_ns) for i, p in enumerate(paths)]


def read_raw_timestamps(path: Path) -> list[int]:
    """KITTI raw ``timestamps.txt`` ('2011-09-26 13:02:25.964389445' per line, UTC) -> nanoseconds since epoch."""
    stamps = []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        try:
            whole, _, fraction = line.partition(".")
            seconds = datetime.strptime(whole, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc).timestamp()
            stamps.append(int(seconds) * 1_000_000_000 + int((fraction or "0").ljust(9, "0")[:9]))
        except ValueError:
            raise BagError(f"'{path}' line {number}: '{line}' is not a 'YYYY-MM-DD HH:MM:SS.fffffffff' stamp") from None
    return stamps


def read_calibration(path: Path, camera: str = "02") -> dict:
    """KITTI ``calib_cam_to_cam.txt`` -> CameraInfo fields for camera ``02`` (left colour)."""
    values = {}
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise BagError(f"calibration '{path}' cannot be read: {error.strerror or error}") from None
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        values[key.strip()] = rest.strip()
    try:
        width, height = (int(float(v)) for v in values[f"S_rect_{camera}"].split())
        projection = [float(v) for v in values[f"P_rect_{camera}"].split()]
        rectification = [float(v) for v in values[f"R_rect_{camera}"].split()]
        intrinsics = [float(v) for v in values[f"K_{camera}"].split()]
        distortion = [float(v) for v in values[f"D_{camera}"].split()]
    except (KeyError, ValueError) as error:
        raise BagError(f"calibration '{path}' lacks or garbles {error} for camera {camera}") from None
    return {"width": width, "height": height, "k": intrinsics, "d": distortion, "r": rectification, "p": projection}


def camera_info_topic(image_topic: str) -> str:
    """The camera's CameraInfo topic beside its image topic (``/ns/image_raw`` -> ``/ns/camera_info``)."""
    return image_topic.rsplit("/", 1)[0] + "/camera_info"


def camera_info_message(types, header, intrinsics, distortion=None, rectification=None, projection=None):
    """A ``sensor_msgs/CameraInfo`` (rosbags type) for a rectified pinhole camera: K, P = [K | 0], R = I, D = 0
    unless a calibration file gives them."""
    p = np.zeros((3, 4))
    p[:, :3] = intrinsics.matrix()
    roi = types["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
    return types["sensor_msgs/msg/CameraInfo"](
        header=header,
        height=intrinsics.height,
        width=intrinsics.width,
        distortion_model="plumb_bob",
        d=np.array(distortion if distortion is not None else [0.0] * 5, np.float64),
        k=np.asarray(intrinsics.matrix().reshape(-1), np.float64),
        r=np.array(rectification if rectification is not None else np.eye(3).reshape(-1), np.float64),
        p=np.array(projection if projection is not None else p.reshape(-1), np.float64),
        binning_x=0,
        binning_y=0,
        roi=roi,
    )


class FrameWriter:
    """Camera frames into a :class:`BagFile`: Image, optionally image_transport's CompressedImage, and CameraInfo on
    the camera's ``camera_info`` topic with the same header stamps."""

    def __init__(self, bag: BagFile, topic: str, frame_id: str, compressed: bool, camera: str, calibration):
        self.bag, self.topic, self.frame_id = bag, topic, frame_id
        self.compressed, self.camera, self.calibration = compressed, camera, calibration
        self.info_topic = camera_info_topic(topic)
        self.types = bag.typestore.types

    def _header(self, stamp_ns: int):
        stamp = self.types["builtin_interfaces/msg/Time"](sec=stamp_ns // NS_PER_S, nanosec=stamp_ns % NS_PER_S)
        return self.types["std_msgs/msg/Header"](stamp=stamp, frame_id=self.frame_id)

    def write(self, rgb: np.ndarray, encoding: str, stamp_ns: int) -> None:
        data = np.ascontiguousarray(rgb if encoding == "rgb8" else cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        image = self.types[IMAGE](
            header=self._header(stamp_ns),
            height=data.shape[0],
            width=data.shape[1],
            encoding=encoding,
            is_bigendian=0,
            step=data.strides[0],
            data=data.reshape(-1),
        )
        info = self._camera_info(rgb.shape[1], rgb.shape[0], stamp_ns)
        if info is not None:  # before its image: a subscriber has the intrinsics when the frame arrives
            self.bag.write(self.info_topic, CAMERA_INFO, stamp_ns, self.bag.serialize(info, CAMERA_INFO))
        self.bag.write(self.topic, IMAGE, stamp_ns, self.bag.serialize(image, IMAGE))
        if self.compressed:
            ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
            message = self.types[COMPRESSED](
                header=self._header(stamp_ns), format=f"{encoding}; jpeg compressed bgr8", data=jpeg.reshape(-1)
            )
            self.bag.write(f"{self.topic}/compressed", COMPRESSED, stamp_ns, self.bag.serialize(message, COMPRESSED))

    def _camera_info(self, width: int, height: int, stamp_ns: int):
        header = self._header(stamp_ns)
        if self.camera == "calib":
            calib = self.calibration
            k = calib["k"]
            intrinsics = Intrinsics(k[0], k[4], k[2], k[5], calib["width"], calib["height"])
            return camera_info_message(self.types, header, intrinsics, calib["d"], calib["r"], calib["p"])
        if self.camera == "kitti":
            return camera_info_message(self.types, header, kitti_camera.cropped_intrinsics(width, height))
        return None


def convert(
    folder: Path,
    out: Path,
    *,
    storage: str = "mcap",
    topic: str = DEFAULT_TOPIC,
    frame_id: str = DEFAULT_FRAME_ID,
    encoding: str = "rgb8",
    rate: float = 10.0,
    compressed: bool = False,
    calibration: Path | None = None,
    camera_info: str = "auto",
    skip_bad: bool = False,
    start_ns: int | None = None,
    progress: bool = True,
) -> dict:
    """Write the bag; returns a summary (layout, frames written, frames skipped). Raises BagError naming the file.

    ``camera_info``: ``auto`` = from ``calibration`` when given, else KITTI's left colour camera for KITTI layouts
    (:mod:`ros_road_seg.core.kitti_camera`, shifted for cropped frames), else none; or ``kitti`` / ``none``."""
    out = Path(out)
    if out.exists():
        raise BagError(f"output '{out}' already exists; choose another --out or delete it")
    blocking = next((parent for parent in out.parents if parent.exists()), None)
    if blocking is not None and not blocking.is_dir():
        raise BagError(f"output '{out}': '{blocking}' is a file, not a folder")
    if camera_info not in CAMERA_INFO_CHOICES:
        raise BagError(f"--camera-info '{camera_info}' is not one of {', '.join(CAMERA_INFO_CHOICES)}")
    layout, frames = find_frames(folder, rate, time.time_ns() if start_ns is None else start_ns)
    calib = read_calibration(calibration) if calibration else None
    camera = camera_info
    if camera == "auto":
        camera = "calib" if calib else ("kitti" if layout.startswith("kitti") else "none")
    written, skipped, index_lines = 0, [], ["stamp_ns,name"]
    try:
        with BagFile(out, storage) as bag:
            bag.finish_hook = lambda: (bag.staging / INDEX_FILE).write_text("\n".join(index_lines) + "\n")
            writer = FrameWriter(bag, topic, frame_id, compressed, camera, calib)
            for number, frame in enumerate(frames, start=1):
                try:
                    writer.write(read_rgb_file(frame.path, "frame"), encoding, frame.stamp_ns)
                except DatasetError as error:
                    if not skip_bad:
                        raise BagError(f"{error}; use --skip-bad to leave it out") from None
                    skipped.append(frame.path.name)
                    continue
                except RoadSegError as error:  # e.g. a frame the KITTI camera cannot describe
                    raise BagError(f"frame '{frame.path}': {error}") from None
                index_lines.append(f"{frame.stamp_ns},{frame.path.stem}")
                written += 1
                if progress:
                    progress_bar.draw(number, len(frames))
            if written == 0:
                raise BagError(f"no readable frames in '{folder}' ({len(skipped)} skipped)")
    finally:
        if progress:
            progress_bar.end()
    return {
        "layout": layout,
        "frames": written,
        "skipped": skipped,
        "topic": topic,
        "camera_info": camera,
        "storage": storage,
        "path": str(out),
    }


@exit_codes("kitti_to_bag")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="kitti_to_bag", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("input", type=Path, help="KITTI semantics folder, KITTI raw drive folder, or frame folder")
    parser.add_argument("--out", type=Path, required=True, help="bag folder to create")
    parser.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap")
    parser.add_argument("--topic", default=DEFAULT_TOPIC)
    parser.add_argument("--frame-id", default=DEFAULT_FRAME_ID)
    parser.add_argument("--encoding", choices=("rgb8", "bgr8"), default="rgb8")
    parser.add_argument(
        "--rate", type=bounded_number(0.0, above=True), default=10.0, help="Hz, for folders without timestamps"
    )
    parser.add_argument("--compressed", action="store_true", help="also write JPEG CompressedImage on TOPIC/compressed")
    parser.add_argument("--calib", type=Path, default=None, help="KITTI calib_cam_to_cam.txt -> CameraInfo")
    parser.add_argument(
        "--camera-info",
        choices=CAMERA_INFO_CHOICES,
        default="auto",
        help="CameraInfo on <topic's parent>/camera_info: auto = --calib, else KITTI's camera for KITTI folders",
    )
    parser.add_argument(
        "--skip-bad", action="store_true", help="leave unreadable frames out (counted) instead of failing"
    )
    args = parser.parse_args(argv)
    summary = convert(
        args.input,
        args.out,
        storage=args.storage,
        topic=args.topic,
        frame_id=args.frame_id,
        encoding=args.encoding,
        rate=args.rate,
        compressed=args.compressed,
        calibration=args.calib,
        camera_info=args.camera_info,
        skip_bad=args.skip_bad,
    )
    skipped = f", {len(summary['skipped'])} unreadable frames skipped" if summary["skipped"] else ""
    print(
        f"wrote {summary['frames']} frames ({summary['layout']}) on {summary['topic']} to '{summary['path']}' "
        f"[{summary['storage']}]{skipped}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
