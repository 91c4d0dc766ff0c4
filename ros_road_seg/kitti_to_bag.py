"""``kitti_to_bag``: a folder of camera frames -> a ROS 2 bag (MCAP or sqlite3) with the rosbags library, no ROS.

Understands the KITTI semantics layout (``image_2/*.png``), a KITTI raw drive (``image_02/data/*.png`` with
``image_02/timestamps.txt`` for real stamps) and any folder of PNG/JPG frames (stamped at ``--rate``). The bag is
written next to its destination and renamed into place only when complete, so a failed run leaves nothing that
looks like a bag. A ``frame_index.csv`` beside ``metadata.yaml`` maps each stamp to its file name.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np

from ros_road_seg.errors import BagError, DatasetError
from ros_road_seg.image_files import read_rgb_file

DEFAULT_TOPIC = "/kitti/camera/color/left/image_raw"
DEFAULT_FRAME_ID = "camera_color_left"
FRAME_SUFFIXES = (".png", ".jpg", ".jpeg")
INDEX_FILE = "frame_index.csv"


@dataclass(frozen=True)
class Frame:
    path: Path
    stamp_ns: int


def find_frames(folder: Path, rate: float, start_ns: int) -> tuple[str, list[Frame]]:
    """(layout name, frames in time order) for a KITTI semantics folder, a KITTI raw drive or a plain folder."""
    folder = Path(folder)
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
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in FRAME_SUFFIXES)
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
    for line in Path(path).read_text().splitlines():
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


class BagWriter:
    """Images (and optional CompressedImage / CameraInfo) into a rosbags Writer with the latest typestore."""

    def __init__(self, path: Path, storage: str, topic: str, frame_id: str, compressed: bool, calibration: dict | None):
        from rosbags.rosbag2 import StoragePlugin, Writer
        from rosbags.typesys import Stores, get_typestore

        self.typestore = get_typestore(Stores.LATEST)
        plugin = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}[storage]
        self.writer = Writer(path, version=9, storage_plugin=plugin)
        self.writer.open()
        self.frame_id, self.calibration = frame_id, calibration
        self.image_conn = self.writer.add_connection(topic, "sensor_msgs/msg/Image", typestore=self.typestore)
        self.compressed_conn = (
            self.writer.add_connection(
                f"{topic}/compressed", "sensor_msgs/msg/CompressedImage", typestore=self.typestore
            )
            if compressed
            else None
        )
        info_topic = topic.rsplit("/", 1)[0] + "/camera_info"
        self.info_conn = (
            self.writer.add_connection(info_topic, "sensor_msgs/msg/CameraInfo", typestore=self.typestore)
            if calibration
            else None
        )

    def _header(self, stamp_ns: int):
        types = self.typestore.types
        stamp = types["builtin_interfaces/msg/Time"](sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000)
        return types["std_msgs/msg/Header"](stamp=stamp, frame_id=self.frame_id)

    def write(self, rgb: np.ndarray, encoding: str, stamp_ns: int) -> None:
        types = self.typestore.types
        data = rgb if encoding == "rgb8" else cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        data = np.ascontiguousarray(data)
        image = types["sensor_msgs/msg/Image"](
            header=self._header(stamp_ns),
            height=data.shape[0],
            width=data.shape[1],
            encoding=encoding,
            is_bigendian=0,
            step=data.strides[0],
            data=data.reshape(-1),
        )
        self.writer.write(self.image_conn, stamp_ns, self.typestore.serialize_cdr(image, "sensor_msgs/msg/Image"))
        if self.compressed_conn is not None:
            ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
            message = types["sensor_msgs/msg/CompressedImage"](
                header=self._header(stamp_ns), format="jpeg", data=jpeg.reshape(-1)
            )
            self.writer.write(
                self.compressed_conn, stamp_ns, self.typestore.serialize_cdr(message, "sensor_msgs/msg/CompressedImage")
            )
        if self.info_conn is not None:
            calib = self.calibration
            roi = types["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
            info = types["sensor_msgs/msg/CameraInfo"](
                header=self._header(stamp_ns),
                height=calib["height"],
                width=calib["width"],
                distortion_model="plumb_bob",
                d=np.array(calib["d"], np.float64),
                k=np.array(calib["k"], np.float64),
                r=np.array(calib["r"], np.float64),
                p=np.array(calib["p"], np.float64),
                binning_x=0,
                binning_y=0,
                roi=roi,
            )
            raw = self.typestore.serialize_cdr(info, "sensor_msgs/msg/CameraInfo")
            self.writer.write(self.info_conn, stamp_ns, raw)

    def close(self) -> None:
        self.writer.close()


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
    skip_bad: bool = False,
    start_ns: int | None = None,
    progress: bool = True,
) -> dict:
    """Write the bag; returns a summary (layout, frames written, frames skipped). Raises BagError naming the file."""
    out = Path(out)
    if out.exists():
        raise BagError(f"output '{out}' already exists; choose another --out or delete it")
    layout, frames = find_frames(folder, rate, time.time_ns() if start_ns is None else start_ns)
    calib = read_calibration(calibration) if calibration else None
    partial = out.parent / f".{out.name}.partial"  # the bag's file takes its folder's name: keep that name
    staging = partial / out.name
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    written, skipped, index_lines = 0, [], ["stamp_ns,name"]
    writer = BagWriter(staging, storage, topic, frame_id, compressed, calib)
    try:
        for number, frame in enumerate(frames, start=1):
            try:
                rgb = read_rgb_file(frame.path, "frame")
            except DatasetError as error:
                if not skip_bad:
                    raise BagError(f"{error}; use --skip-bad to leave it out") from None
                skipped.append(frame.path.name)
                continue
            writer.write(rgb, encoding, frame.stamp_ns)
            index_lines.append(f"{frame.stamp_ns},{frame.path.stem}")
            written += 1
            if progress:
                _progress(number, len(frames))
        if written == 0:
            raise BagError(f"no readable frames in '{folder}' ({len(skipped)} skipped)")
        writer.close()
        (staging / INDEX_FILE).write_text("\n".join(index_lines) + "\n")
        staging.rename(out)
        partial.rmdir()
    except BaseException:
        try:
            writer.close()
        except Exception:  # noqa: BLE001 - the original error is the one to report
            pass
        shutil.rmtree(partial, ignore_errors=True)
        raise
    finally:
        if progress:
            print(file=sys.stderr)
    return {
        "layout": layout,
        "frames": written,
        "skipped": skipped,
        "topic": topic,
        "storage": storage,
        "path": str(out),
    }


def _progress(done: int, total: int, width: int = 30) -> None:
    filled = int(width * done / total)
    print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} frames", end="", file=sys.stderr, flush=True)


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
    parser.add_argument("--rate", type=float, default=10.0, help="Hz, for folders without timestamps")
    parser.add_argument("--compressed", action="store_true", help="also write JPEG CompressedImage on TOPIC/compressed")
    parser.add_argument("--calib", type=Path, default=None, help="KITTI calib_cam_to_cam.txt -> CameraInfo")
    parser.add_argument(
        "--skip-bad", action="store_true", help="leave unreadable frames out (counted) instead of failing"
    )
    args = parser.parse_args(argv)
    try:
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
            skip_bad=args.skip_bad,
        )
    except BagError as error:
        print(f"kitti_to_bag: error: {error}", file=sys.stderr)
        return 1
    skipped = f", {len(summary['skipped'])} unreadable frames skipped" if summary["skipped"] else ""
    print(
        f"wrote {summary['frames']} frames ({summary['layout']}) on {summary['topic']} to '{summary['path']}' "
        f"[{summary['storage']}]{skipped}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
