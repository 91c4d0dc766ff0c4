"""``python -m ros_road_seg.bench.gpu_check``: the GPU figures in one run, for docs/performance.md.

For each model (the default and its FP16 sibling) and each GPU provider (CUDA, TensorRT where this onnxruntime has
them): the provider really running, raw p50/p99, node FPS at 30 Hz and at full speed, road masks against the CPU's on
the sample frames (IoU >= 0.99 required) and, for TensorRT, whether the second start reused the engine cache. Output:
one line per (model, provider) and ``gpu_check.json``; the format is in docs/performance.md ("GPU check").
``--providers cpu`` runs the same report on the CPU (how the tests check it without a GPU).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ros_road_seg.bench.cli import SWEEP, load_frames
from ros_road_seg.bench.node_run import bench_node
from ros_road_seg.core.arguments import bounded_number
from ros_road_seg.core.errors import exit_codes
from ros_road_seg.core.model import CPU_PROVIDER, FP16_SIBLING_KEY, read_metadata
from ros_road_seg.core.paths import apply_fastdds_profile, default_model_path, share_directory
from ros_road_seg.core.scoring import road_iou
from ros_road_seg.core.segmenter import Segmenter
from ros_road_seg.core.stats import summarize_ms

MIN_MASK_IOU = 0.99


def gpu_providers() -> list[str]:
    """The GPU choices this onnxruntime offers (names of ``providers`` settings)."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    return [name for name, ep in (("cuda", "CUDAExecutionProvider"), ("tensorrt", "TensorrtExecutionProvider"))
            if ep in available]  # fmt: skip


def masks_agree(segmenter: Segmenter, reference: Segmenter, frames: list[np.ndarray]) -> float:
    """The lowest per-frame IoU of ``segmenter``'s masks against the reference (CPU) masks."""
    worst = 1.0
    for frame in frames:
        expected = reference.segment(frame, render_overlay=False).mask.copy()
        got = segmenter.segment(frame, render_overlay=False).mask
        worst = min(worst, road_iou(got, expected, np.ones(expected.shape, bool)))
    return worst


def check_one(model: Path, providers: str, frames: list[np.ndarray], args, cache: Path) -> dict:
    started = time.monotonic()
    segmenter = Segmenter(model, providers=providers, trt_cache_dir=cache)
    first_start_s = time.monotonic() - started
    row = {"model": model.name, "requested": providers, "provider": segmenter.provider,
           "file_run": Path(segmenter.model_path).name, "first_start_s": round(first_start_s, 2)}  # fmt: skip
    tensor = np.zeros((segmenter.input_size[0], segmenter.input_size[1], 3), np.uint8)
    times = []
    for _ in range(args.iterations):
        begin = time.perf_counter()
        segmenter.probability(tensor)
        times.append(time.perf_counter() - begin)
    raw = summarize_ms(times)
    row.update(raw_p50_ms=round(raw["p50_ms"], 3), raw_p99_ms=round(raw["p99_ms"], 3))
    reference = Segmenter(model, providers="cpu")
    row["min_mask_iou_vs_cpu"] = round(masks_agree(segmenter, reference, frames), 4)
    if providers == "tensorrt":
        cached = sorted(p.name for p in cache.iterdir()) if cache.is_dir() else []
        started = time.monotonic()
        Segmenter(model, providers=providers, trt_cache_dir=cache)
        row.update(engine_files=len(cached), second_start_s=round(time.monotonic() - started, 2))
        row["engine_cache_reused"] = bool(cached) and row["second_start_s"] < 0.5 * first_start_s
    if args.node_seconds > 0:
        node = bench_node(model, providers, frames[0], [30.0, 0.0], args.node_seconds, 50)
        for rate, key in ((30.0, "node_fps_at_30hz"), (0.0, "node_fps_full_speed")):
            run = node.get("30 Hz" if rate else "max") or {}
            row[key] = round(run["fps_out"], 1) if "fps_out" in run else None
    row["ok"] = row["min_mask_iou_vs_cpu"] >= MIN_MASK_IOU and (providers == "cpu" or row["provider"] != CPU_PROVIDER)
    return row


def line(row: dict) -> str:
    """One result line, the documented format (docs/performance.md, "GPU check")."""
    keys = ("provider", "file_run", "raw_p50_ms", "raw_p99_ms", "node_fps_at_30hz", "node_fps_full_speed",
            "min_mask_iou_vs_cpu", "engine_cache_reused", "ok")  # fmt: skip
    return f"gpu_check {row['model']} [{row['requested']}]: " + " ".join(f"{k}={row.get(k, '-')}" for k in keys)


@exit_codes("gpu_check")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ros_road_seg.bench.gpu_check", description=__doc__)
    parser.add_argument("--model", type=Path, default=default_model_path())
    parser.add_argument("--providers", nargs="*", default=None, help="default: every GPU provider available")
    parser.add_argument("--iterations", type=bounded_number(1, integer=True), default=300)
    parser.add_argument("--node-seconds", type=bounded_number(0.0, 600.0), default=10.0, help="0 = no node runs")
    parser.add_argument("--out", type=Path, default=Path("gpu_check"))
    args = parser.parse_args(argv)
    providers = args.providers if args.providers is not None else gpu_providers()
    if not providers:
        print("gpu_check: no CUDA or TensorRT provider in this onnxruntime (no GPU checked)")
        return 0
    apply_fastdds_profile()
    models = [args.model]
    sibling = read_metadata(args.model).get(FP16_SIBLING_KEY)
    if sibling and (args.model.parent / sibling).is_file():
        models.append(args.model.parent / sibling)
    frames = load_frames(share_directory() / "sample_data" / "kitti" / "image_2", SWEEP["1242x375"])
    rows = []
    with tempfile.TemporaryDirectory(prefix="ros_road_seg_trt_") as cache_root:
        for model in models:
            for choice in providers:
                row = check_one(model, choice, frames, args, Path(cache_root) / f"{model.stem}_{choice}")
                print(line(row), flush=True)
                rows.append(row)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_check.json").write_text(json.dumps(rows, indent=2))
    return 0 if all(row["ok"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
