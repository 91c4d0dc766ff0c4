"""The benchmark's command line: which measurements run, in which order, and where the report goes.

Same frames, same model, one process run, warm-up first. Prints a markdown table and writes it with a JSON file:
  a) course: Keras ``predict`` + PIL resize + threshold + PIL resize back + ``Image.blend`` (needs --keras and TF)
  b) raw ORT: ``session.run`` on a ready 1xhxwx3 tensor (the model's floor)
  c) core: RGB frame in -> mask + overlay out at the frame's size (``Segmenter.segment``)
  d) node: publisher process -> road_seg_node process -> subscriber, latency from the header stamp to arrival
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import zipfile
from pathlib import Path

import cv2
import numpy as np

from ros_road_seg.bench.course import course_pipeline
from ros_road_seg.bench.node_run import bench_node
from ros_road_seg.bench.report import machine, markdown
from ros_road_seg.bench.tuning import bench_raw_ort, compare_variants, profile_operators, raw_tensor_label
from ros_road_seg.core import kitti_camera
from ros_road_seg.core.arguments import bounded_number
from ros_road_seg.core.errors import RoadSegError, exit_codes
from ros_road_seg.core.image_files import read_rgb_file
from ros_road_seg.core.labels import read_label, road_masks
from ros_road_seg.core.model import PROVIDER_CHOICES
from ros_road_seg.core.paths import apply_fastdds_profile, default_model_path, share_directory
from ros_road_seg.core.segmenter import Segmenter, resize_mask
from ros_road_seg.core.stats import rss_mb, summarize_ms, time_calls

SWEEP = {"640x480": (480, 640), "1242x375": (375, 1242), "1920x1080": (1080, 1920)}


def load_frames(folder: Path, size: tuple[int, int]) -> list[np.ndarray]:
    """The sample KITTI frames, resized to (height, width) when they are not already that size."""
    frames = []
    for path in sorted(Path(folder).glob("*.png")):
        rgb = read_rgb_file(path, "frame")
        if rgb.shape[:2] != size:
            rgb = cv2.resize(rgb, (size[1], size[0]), interpolation=cv2.INTER_AREA)
        frames.append(rgb)
    if not frames:
        raise FileNotFoundError(f"no PNG frames in '{folder}'")
    return frames


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m ros_road_seg.bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, default=default_model_path())
    parser.add_argument("--keras", type=Path, default=None, help=".keras of the same model, for the course pipeline")
    parser.add_argument("--providers", default="cpu", choices=PROVIDER_CHOICES)
    parser.add_argument("--frames", type=Path, default=share_directory() / "sample_data" / "kitti" / "image_2")
    parser.add_argument("--iterations", type=bounded_number(1, integer=True), default=300)
    parser.add_argument("--course-iterations", type=bounded_number(1, integer=True), default=30)
    parser.add_argument(
        "--node-rates",
        type=bounded_number(0.0, 1000.0),
        nargs="*",
        default=[10, 30, 0],
        help="Hz; 0 = as fast as possible",
    )
    parser.add_argument("--node-seconds", type=bounded_number(0.0, 3600.0, above=True), default=10.0)
    parser.add_argument("--memory-frames", type=bounded_number(1, integer=True), default=1000)
    parser.add_argument(
        "--node-modes",
        nargs="*",
        default=["thread"],
        choices=NODE_MODES,
        help="inference on a worker thread, in the subscription callback, or on a thread with road_grid published",
    )
    parser.add_argument(
        "--labels",
        type=Path,
        default=share_directory() / "sample_data" / "kitti" / "semantic",
        help="labels of --frames, for the IoU of the tuning variants",
    )
    parser.add_argument("--out", type=Path, default=None, help="write bench.md and bench.json here")
    return parser.parse_args(argv)


# node mode -> (label, inference_thread, extra parameters, topic timed)
NODE_MODES = {
    "thread": ("inference on a worker thread", True, {}, "road_overlay"),
    "spinning": ("worker thread, ONNX Runtime threads spinning", True, {"intra_op_spinning": True}, "road_overlay"),
    "one_thread": ("worker thread, ONNX Runtime on 1 thread", True, {"intra_op_threads": 1}, "road_overlay"),
    "mask_only": ("worker thread, only road_mask subscribed (no overlay rendered)", True, {}, "road_mask"),
    "callback": ("inference in the callback", False, {}, "road_overlay"),
    "grid": (
        "worker thread, road_grid published (0.1 m, 40 m x 30 m)",
        True,
        {
            "publish_grid": True,
            "camera_fx": kitti_camera.FULL.fx,
            "camera_fy": kitti_camera.FULL.fy,
            "camera_cx": kitti_camera.FULL.cx,
            "camera_cy": kitti_camera.FULL.cy,
            "camera_image_width": kitti_camera.FULL.width,
            "camera_image_height": kitti_camera.FULL.height,
        },
        "road_overlay",
    ),
}
BUDGET_FACTOR, BUDGET_EXTRA_MS, BUDGET_SERVED = 1.25, 10.0, 0.97  # node p99 <= 1.25 (raw p50 + 10 ms), >= 97 %


def core_rows(segmenter: Segmenter, args) -> list[dict]:
    """b) raw ONNX Runtime on a ready tensor, c) the core end to end at three frame sizes, e) the grid projection."""
    rows = [
        {
            "pipeline": "b) raw ONNX Runtime",
            "frame": raw_tensor_label(segmenter),
            **summarize_ms(bench_raw_ort(segmenter, args.iterations)),
            "rss_mb": rss_mb(),
        }
    ]
    for label, frame_size in SWEEP.items():
        frames = load_frames(args.frames, frame_size)
        rows.append(
            {
                "pipeline": "c) our core end to end",
                "frame": label,
                **summarize_ms(time_calls(segmenter.segment, frames, args.iterations)),
                "rss_mb": rss_mb(),
            }
        )
    rows.append(grid_row(segmenter, load_frames(args.frames, SWEEP["1242x375"]), args.iterations))
    return rows


def grid_row(segmenter: Segmenter, frames: list[np.ndarray], iterations: int) -> dict:
    """e) mask -> OccupancyGrid cells with the KITTI camera on the default 0.1 m, 40 m x 30 m grid."""
    from ros_road_seg.core.ground_grid import GridSpec, GroundProjector

    projector = GroundProjector(kitti_camera.FULL, kitti_camera.MOUNTING, GridSpec())
    masks = [segmenter.segment(frame).mask.copy() for frame in frames]
    return {
        "pipeline": "e) road grid from the mask",
        "frame": "1242x375 -> 400x300 cells",
        **summarize_ms(time_calls(projector.project, masks, iterations)),
        "rss_mb": rss_mb(),
    }


def course_rows(args, threshold: float) -> tuple[list[dict], bool]:
    """a) the course pipeline at three frame sizes (skipped, with the reason, without --keras or TensorFlow)."""
    course, description = course_pipeline(args.keras, threshold)
    rows = []
    for label, frame_size in SWEEP.items():
        if course is None:
            rows.append({"pipeline": "a) course pipeline", "frame": label, "skipped": description})
            continue
        frames = load_frames(args.frames, frame_size)
        rows.append(
            {
                "pipeline": "a) course pipeline",
                "frame": label,
                **summarize_ms(time_calls(course, frames, args.course_iterations, warmup=3)),
                "rss_mb": rss_mb(),
            }
        )
    return rows, course is not None


def node_runs(args) -> dict:
    """d) the node as a process, per mode, at each input rate."""
    frame = load_frames(args.frames, SWEEP["1242x375"])[0]
    runs = {}
    for mode in args.node_modes:
        label, inference_thread, extra, watch = NODE_MODES[mode]
        print(f"node run: {label} ...", file=sys.stderr)
        runs[label] = bench_node(
            args.model,
            args.providers,
            frame,
            args.node_rates,
            args.node_seconds,
            args.memory_frames,
            inference_thread=inference_thread,
            extra_parameters=extra,
            watch=watch,
        )
    return runs


def latency_budget(raw_p50_ms: float, node: dict) -> dict:
    """The 30 Hz rows against the budget: served >= 97 % and p99 (stamp -> arrival) <= 1.25 (raw p50 + 10 ms)."""
    budget = BUDGET_FACTOR * (raw_p50_ms + BUDGET_EXTRA_MS)
    verdicts = {}
    for label, runs in node.items():
        run = runs.get("30 Hz")
        if run:
            verdicts[label] = {
                "p99_ms": run["p99_ms"],
                "received_ratio": run["received_ratio"],
                "within_budget": run["p99_ms"] <= budget and run["received_ratio"] >= BUDGET_SERVED,
            }
    return {"raw_p50_ms": raw_p50_ms, "budget_p99_ms": budget, "runs": verdicts}


@exit_codes("bench")
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    apply_fastdds_profile()
    if args.keras is not None and not zipfile.is_zipfile(args.keras):  # found now, not after minutes of work
        raise RoadSegError(f"--keras '{args.keras}' is not a Keras model file (missing, truncated or damaged)")
    segmenter = Segmenter(args.model, providers=args.providers)
    model_name = os.path.relpath(args.model) if not os.path.relpath(args.model).startswith("..") else args.model.name
    report = {"model": model_name, "provider": segmenter.provider, "machine": machine()}
    print(f"benchmarking {args.model} on {segmenter.provider} ...", file=sys.stderr)
    report["rows"] = core_rows(segmenter, args)
    course, with_course = course_rows(args, segmenter.threshold)
    report["rows"] += course
    by_key = {(r["pipeline"][0], r["frame"]): r for r in report["rows"] if "p50_ms" in r}
    core, raw = by_key.get(("c", "1242x375")), by_key.get(("b", raw_tensor_label(segmenter)))
    ratios = {"c/b": core["p50_ms"] / raw["p50_ms"]}
    if with_course:
        ratios["a/c"] = by_key[("a", "1242x375")]["p50_ms"] / core["p50_ms"]
    report["node"] = node_runs(args) if args.node_rates else {}
    thread_run = report["node"].get(NODE_MODES["thread"][0])
    if thread_run:
        fastest = thread_run.get("max") or next(v for k, v in thread_run.items() if k not in ("memory", "provider"))
        ratios["d/b"] = fastest["p50_ms"] / raw["p50_ms"]
    report["ratios"] = ratios
    if report["node"]:
        report["budget"] = latency_budget(raw["p50_ms"], report["node"])
    kitti_frames = load_frames(args.frames, SWEEP["1242x375"])
    labels = []
    if args.labels and Path(args.labels).is_dir():
        labels = [road_masks(read_label(p), "kitti")[0] for p in sorted(Path(args.labels).glob("*.png"))]
        labels = [resize_mask(m, (375, 1242)) for m in labels]
        if len(labels) != len(kitti_frames):
            labels = []
    report["variants"] = compare_variants(segmenter, kitti_frames, labels, args.iterations)
    report["profile"] = profile_operators(args.model)
    report["peak_rss_bench_process_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    text = markdown(report)
    print(text)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "bench.md").write_text(text)
        (args.out / "bench.json").write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
