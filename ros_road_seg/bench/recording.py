"""``python -m ros_road_seg.bench.recording``: record_overlay's memory over a long recording (issue 27: it used to
keep every frame in RAM, 1.67 GB after 30 s of 1242x375 at 20 Hz).

A real node and a real ``record_overlay --bag`` (both processes), fed a KITTI frame at ``--rate`` Hz with a fresh
stamp each time (so every frame is a distinct recording frame), for ``--seconds``; the recorder's RSS is sampled
every ``--every`` seconds. Writes ``recording.json`` (the samples, frames written, disk used) to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from ros_road_seg.bench.cli import SWEEP, load_frames
from ros_road_seg.core.arguments import bounded_number
from ros_road_seg.core.errors import RoadSegError, exit_codes
from ros_road_seg.core.image_conversion import array_to_image_msg
from ros_road_seg.core.paths import apply_fastdds_profile, default_model_path, share_directory
from ros_road_seg.core.stats import peak_rss_mb, rss_mb
from ros_road_seg.tools.discovery import spin_for, wait_until_matched
from ros_road_seg.tools.processes import ChildProcess, python_module_command, ros_arguments
from ros_road_seg.tools.ros_messages import set_stamp


def measure(seconds: float, rate: float, every: float, folder: Path) -> dict:
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    namespace = f"/rec{os.getpid()}"
    parameters = {"model_path": default_model_path(), "providers": "cpu"}
    node_process = ChildProcess(
        "road_seg_node",
        python_module_command("ros_road_seg.node.node", *ros_arguments(parameters, namespace=namespace)),
    )
    recorder = ChildProcess(
        "record_overlay",
        python_module_command(
            "ros_road_seg.tools.record_overlay",
            *("--out", str(folder / "overlay"), "--bag", str(folder / "bag"), "--idle-exit", "5"),
            *("--grid-topic", "none", "--input-topic", "image", *ros_arguments(namespace=namespace)),
        ),
    )
    rclpy.init()
    node = rclpy.create_node("recording_bench", namespace=namespace)
    publisher = node.create_publisher(Image, "image", QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
    message = array_to_image_msg(
        load_frames(share_directory() / "sample_data" / "kitti" / "image_2", SWEEP["1242x375"])[0], "rgb8"
    )
    samples = []
    try:
        if not wait_until_matched(node, [publisher], timeout=60) or not recorder.wait_for_output("listening", 60):
            raise RoadSegError("node or recorder did not come up:\n" + node_process.output + recorder.output)
        start = time.monotonic()
        next_sample = start
        while time.monotonic() - start < seconds:
            set_stamp(message.header.stamp, time.time_ns())
            publisher.publish(message)
            if time.monotonic() >= next_sample:
                samples.append({"t_s": round(time.monotonic() - start, 1), "recorder_rss_mb": rss_mb(recorder.pid)})
                next_sample += every
            spin_for(node, 1.0 / rate)
        peak = peak_rss_mb(recorder.pid)
        code = recorder.wait(300)  # idle-exit, then it writes the GIF and closes the bag
    finally:
        node.destroy_node()
        rclpy.shutdown()
        recorder.stop(signal.SIGINT)
        node_process.stop()
    pngs = len(list((folder / "overlay").glob("overlay_*.png")))
    disk = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    return {"seconds": seconds, "rate_hz": rate, "recorder_exit": code, "recorder_peak_rss_mb": peak,
            "pngs_written": pngs, "disk_mb": round(disk / 1e6, 1), "samples": samples}  # fmt: skip


@exit_codes("bench.recording")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ros_road_seg.bench.recording", description=__doc__)
    parser.add_argument("--seconds", type=bounded_number(1.0, 3600.0), default=300.0)
    parser.add_argument("--rate", type=bounded_number(0.0, 60.0, above=True), default=10.0)
    parser.add_argument("--every", type=bounded_number(1.0, 600.0), default=15.0, help="seconds between RSS samples")
    parser.add_argument("--out", type=Path, default=None, help="folder for recording.json")
    args = parser.parse_args(argv)
    apply_fastdds_profile()
    folder = Path(tempfile.mkdtemp(prefix="ros_road_seg_recording_"))
    try:
        report = measure(args.seconds, args.rate, args.every, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    for sample in report["samples"]:
        print(f"t={sample['t_s']:6.1f} s  record_overlay RSS {sample['recorder_rss_mb']:.0f} MB")
    print(
        f"{report['pngs_written']} frames written ({report['disk_mb']} MB on disk), peak RSS "
        f"{report['recorder_peak_rss_mb']:.0f} MB, exit {report['recorder_exit']}"
    )
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "recording.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
