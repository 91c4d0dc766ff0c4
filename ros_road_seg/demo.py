"""``road_seg_demo``: the whole loop on the shipped model and sample frames, with no ROS install.

sample frames -> kitti_to_bag -> bag_replay -> road_seg_node -> record_overlay (GIF, IoU). Each stage is its own
process talking over DDS, as on a robot. Exits non-zero if any stage fails and leaves no process behind.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from ros_road_seg.errors import RoadSegError
from ros_road_seg.kitti_to_bag import DEFAULT_TOPIC, INDEX_FILE, convert
from ros_road_seg.paths import apply_fastdds_profile, default_model_path, share_directory


class Stage:
    """A child process whose output is kept (and echoed with a prefix) for the final report."""

    def __init__(self, name: str, args: list[str], echo: bool = True) -> None:
        self.name = name
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        self._thread = threading.Thread(target=self._pump, args=(echo,), daemon=True)
        self._thread.start()

    def _pump(self, echo: bool) -> None:
        for line in self.process.stdout:
            self.lines.append(line)
            if echo:
                print(f"[{self.name}] {line}", end="", flush=True)

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return
            if self.process.poll() is not None:
                self._thread.join(1)
                break
            time.sleep(0.05)
        raise RoadSegError(
            f"{self.name} did not report '{text}' (exit code {self.process.poll()}):\n" + "".join(self.lines[-10:])
        )

    def wait(self, timeout: float) -> int:
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise RoadSegError(f"{self.name} did not finish within {timeout:.0f} s") from None
        self._thread.join(2)
        return code

    def stop(self) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._thread.join(2)
        return self.process.returncode


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
    python = sys.executable
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    bag = out / "kitti_sample_bag"
    print(f"[demo] 1/4 converting '{frames}' into a ROS 2 bag")
    conversion = convert(frames, bag, progress=False)
    print(f"[demo]     {conversion['frames']} frames -> '{bag}' ({conversion['storage']})")
    stages: list[Stage] = []
    try:
        print(f"[demo] 2/4 starting road_seg_node with '{model}' (providers {providers})")
        node = Stage(
            "road_seg_node",
            [
                python,
                "-m",
                "ros_road_seg.node",
                "--ros-args",
                "-p",
                f"model_path:={model}",
                "-p",
                f"providers:={providers}",
                "-p",
                "diagnostics_period:=0.5",
                "-r",
                f"image:={DEFAULT_TOPIC}",
            ],
        )
        stages.append(node)
        node.wait_for("road_seg ready", 60)
        recorder_args = [
            python,
            "-m",
            "ros_road_seg.record_overlay",
            "--out",
            str(out / "overlay"),
            "--idle-exit",
            "2",
            "--timeout",
            "60",
            "--dataset",
            dataset,
        ]
        if labels is not None:
            recorder_args += ["--labels", str(labels), "--index", str(bag / INDEX_FILE)]
        recorder = Stage("record_overlay", recorder_args)
        stages.append(recorder)
        recorder.wait_for("listening", 30)
        print(f"[demo] 3/4 replaying the bag {loops}x at {rate}x speed")
        replay = Stage(
            "bag_replay", [python, "-m", "ros_road_seg.bag_replay", str(bag), "--loop", str(loops), "--rate", str(rate)]
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
    return summary


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
    parser.add_argument("--providers", default="auto", choices=("auto", "cuda", "tensorrt", "cpu"))
    parser.add_argument("--out", type=Path, default=Path("demo_output"))
    parser.add_argument("--loop", type=int, default=4, help="times to replay the bag")
    parser.add_argument("--rate", type=float, default=1.0, help="replay speed factor (1 = recorded 10 Hz)")
    args = parser.parse_args(argv)
    labels = None if str(args.labels) == "none" else args.labels
    try:
        summary = run_demo(args.frames, labels, args.out, args.model, args.providers, args.loop, args.rate)
    except (RoadSegError, OSError) as error:
        print(f"[demo] FAILED: {error}", file=sys.stderr)
        return 1
    diagnostics = summary.get("node_diagnostics", {})
    print("\n==== road_seg demo summary ====")
    print(f"overlay GIF:        {summary['gif']}")
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
    if summary.get("mean_iou") is not None:
        print(f"mean road IoU:      {summary['mean_iou']:.4f} over {len(summary['iou_per_frame'])} labelled frames")
    print(f"wall time:          {summary['wall_time_s']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
