"""``road_seg_demo``: the whole loop on the shipped model and sample frames, with no ROS install.

sample frames -> kitti_to_bag -> bag_replay -> road_seg_node -> record_overlay (GIF, IoU). Each stage is its own
process talking over DDS, as on a robot. Exits non-zero if any stage fails and leaves no process behind.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from ros_road_seg.core.arguments import bounded_number
from ros_road_seg.core.errors import RoadSegError, exit_codes
from ros_road_seg.core.model import PROVIDER_CHOICES
from ros_road_seg.core.paths import apply_fastdds_profile, default_model_path, share_directory
from ros_road_seg.tools.kitti_to_bag import DEFAULT_TOPIC, INDEX_FILE, camera_info_topic, convert
from ros_road_seg.tools.processes import ChildProcess, python_module_command, ros_arguments


def run_demo(
    frames: Path,
    labels: Path | None,
    out: Path,
    model: Path,
    providers: str,
    loops: int,
    rate: float,
    dataset: str = "kitti",
) -> dict:
    started = time.monotonic()
    apply_fastdds_profile()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    bag = out / "kitti_sample_bag"
    print(f"[demo] 1/4 converting '{frames}' into a ROS 2 bag")
    conversion = convert(frames, bag, progress=False)
    print(f"[demo]     {conversion['frames']} frames -> '{bag}' ({conversion['storage']})")
    stages: list[ChildProcess] = []
    try:
        print(f"[demo] 2/4 starting road_seg_node with '{model}' (providers {providers})")
        parameters = {"model_path": model, "providers": providers, "diagnostics_period": 0.5, "publish_grid": True}
        remappings = {"image": DEFAULT_TOPIC, "camera_info": camera_info_topic(DEFAULT_TOPIC)}
        node = ChildProcess(
            "road_seg_node",
            python_module_command("ros_road_seg.node.node", *ros_arguments(parameters, remappings=remappings)),
            echo=True,
        )
        stages.append(node)
        node.wait_for("road_seg ready", 60)
        recorder_args = ["--out", str(out / "overlay"), "--idle-exit", "2", "--timeout", "60", "--dataset", dataset]
        recorder_args += ["--bag", str(out / "recording"), "--input-topic", DEFAULT_TOPIC]
        if labels is not None:
            recorder_args += ["--labels", str(labels), "--index", str(bag / INDEX_FILE)]
        recorder = ChildProcess(
            "record_overlay", python_module_command("ros_road_seg.tools.record_overlay", *recorder_args), echo=True
        )
        stages.append(recorder)
        recorder.wait_for("listening", 30)
        print(f"[demo] 3/4 replaying the bag {loops}x at {rate}x speed")
        replay = ChildProcess(
            "bag_replay",
            python_module_command(
                "ros_road_seg.tools.bag_replay",
                *(str(bag), "--loop", str(loops), "--rate", str(rate)),
                *("--subscribers", "2"),  # the node and the recorder: the recorded bag misses no input frame
            ),
            echo=True,
        )
        stages.append(replay)
        if replay.wait(120) != 0:
            raise RoadSegError("bag_replay failed:\n" + "".join(replay.lines[-10:]))
        print("[demo] 4/4 recording the overlay")
        if recorder.wait(90) != 0:
            raise RoadSegError("record_overlay failed:\n" + "".join(recorder.lines[-10:]))
        node_code = node.stop()
        if node_code != 0:
            raise RoadSegError(f"road_seg_node exited with code {node_code}:\n" + "".join(node.lines[-10:]))
    finally:
        for stage in stages:
            stage.stop()
    summary = json.loads((out / "overlay" / "summary.json").read_text())
    summary["wall_time_s"] = time.monotonic() - started
    summary["stage_pids"] = {stage.name: stage.pid for stage in stages}  # all stopped: a test can check by PID
    (out / "demo_summary.json").write_text(json.dumps(summary, indent=2))
    return summary


@exit_codes("road_seg_demo")
def main(argv: list[str] | None = None) -> int:
    share = share_directory()
    parser = argparse.ArgumentParser(prog="road_seg_demo", description=__doc__)
    parser.add_argument(
        "--frames",
        type=Path,
        default=share / "sample_data" / "kitti",
        help="frames to convert (KITTI layout or a folder of PNG/JPG)",
    )
    parser.add_argument(
        "--labels",
        type=Path,
        default=share / "sample_data" / "kitti" / "semantic",
        help="label folder for road IoU ('none' to skip)",
    )
    parser.add_argument("--model", type=Path, default=default_model_path())
    parser.add_argument("--providers", default="auto", choices=PROVIDER_CHOICES)
    parser.add_argument("--out", type=Path, default=Path("demo_output"))
    parser.add_argument("--loop", type=bounded_number(1, 1000, integer=True), default=4, help="times to replay the bag")
    parser.add_argument(
        "--rate",
        type=bounded_number(0.0, 100.0, above=True),
        default=1.0,
        help="replay speed factor (1 = recorded 10 Hz)",
    )
    args = parser.parse_args(argv)
    labels = None if str(args.labels) == "none" else args.labels
    summary = run_demo(args.frames, labels, args.out, args.model, args.providers, args.loop, args.rate)
    diagnostics = summary.get("node_diagnostics", {})
    print("\n==== road_seg demo summary ====")
    print(f"overlay GIF:        {summary['gif']} (camera overlay | bird's-eye road grid)")
    if summary.get("mp4"):
        print(f"overlay MP4:        {summary['mp4']}")
    print(
        f"frames processed:   {diagnostics.get('frames_served', '?')} served by the node, "
        f"{summary['frames_received']} overlays received ({summary['unique_frames']} distinct frames)"
    )
    print(
        f"node latency:       p50 {diagnostics.get('latency_p50_ms', '?')} ms, p99 "
        f"{diagnostics.get('latency_p99_ms', '?')} ms (frame received -> mask and overlay published)"
    )
    print(f"provider:           {diagnostics.get('provider', '?')}")
    print(
        f"dropped / bad:      {diagnostics.get('frames_dropped_stale', '?')} stale, "
        f"{diagnostics.get('frames_bad', '?')} bad"
    )
    if summary.get("bag"):
        counts = ", ".join(f"{n} {t}" for t, n in summary["bag"]["messages"].items())
        print(f"recorded bag:       {summary['bag']['path']} (MCAP: {counts})")
    print(
        f"road grid:          {summary.get('grids_received', 0)} OccupancyGrids received on road_grid "
        f"({summary.get('unique_grids', 0)} distinct frames)"
    )
    if summary.get("mean_iou") is not None:
        print(f"mean road IoU:      {summary['mean_iou']:.4f} over {len(summary['iou_per_frame'])} labelled frames")
    print(f"wall time:          {summary['wall_time_s']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
