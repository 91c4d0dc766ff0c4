"""Raw ONNX Runtime on a ready tensor, tuning variants on real frames, and ONNX Runtime's operator profile."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import cv2
import numpy as np

from ros_road_seg.core import kitti_camera
from ros_road_seg.core.scoring import frame_mask, road_iou
from ros_road_seg.core.segmenter import Segmenter
from ros_road_seg.core.stats import summarize_ms, time_calls
from ros_road_seg.core.tiles import tile_layout


def raw_batch(segmenter: Segmenter) -> int:
    """Images per raw run: 1, or for a tiled model (``road_seg.tiling = aspect``) the tiles of one KITTI frame."""
    if segmenter.info.tiling != "aspect":
        return 1
    return tile_layout((kitti_camera.FULL.height, kitti_camera.FULL.width), segmenter.input_size).count


def raw_tensor_label(segmenter: Segmenter) -> str:
    """The raw row's name: ``512x160 tensor``, or ``4x224x224 tensor`` for a tiled model's batch."""
    batch = raw_batch(segmenter)
    return f"{batch}x" * (batch > 1) + f"{segmenter.input_size[1]}x{segmenter.input_size[0]} tensor"


def bench_raw_ort(segmenter: Segmenter, iterations: int) -> list[float]:
    """``session.run`` on a ready tensor (a tiled model: all tiles of one frame, one run per tile when its batch
    is fixed at 1)."""
    batch = raw_batch(segmenter)
    tensor = np.random.default_rng(0).random((batch, *segmenter.input_size, 3), dtype=np.float32)
    names = [segmenter.output_name]
    if batch > 1 and isinstance(segmenter.session.get_inputs()[0].shape[0], int):
        singles = [{segmenter.input_name: tensor[i : i + 1]} for i in range(batch)]
        return time_calls(lambda _: [segmenter.session.run(names, f) for f in singles], [tensor], iterations)
    feeds = {segmenter.input_name: tensor}
    return time_calls(lambda _: segmenter.session.run(names, feeds), [tensor], iterations)


def compare_variants(
    segmenter: Segmenter, frames: list[np.ndarray], labels: list[np.ndarray], iterations: int
) -> list[dict]:
    """Tuning choices measured on the same frames: resize interpolation, and where the threshold goes."""
    height, width = segmenter.input_size
    rows = []
    for name, flag in (
        ("preprocess resize INTER_AREA (used)", cv2.INTER_AREA),
        ("preprocess resize INTER_LINEAR", cv2.INTER_LINEAR),
    ):
        times = time_calls(lambda f, flag=flag: cv2.resize(f, (width, height), interpolation=flag), frames, iterations)
        rows.append({"variant": name, **summarize_ms(times)})
    probabilities = [segmenter.probability(f).copy() for f in frames]

    def prob_then_threshold(index: int) -> np.ndarray:
        return frame_mask(probabilities[index], frames[index].shape[:2], segmenter.threshold)

    def threshold_then_nearest(index: int) -> np.ndarray:
        return frame_mask(probabilities[index], frames[index].shape[:2], segmenter.threshold, "threshold_first")

    for name, function in (
        ("resize probability (linear), then threshold (used)", prob_then_threshold),
        ("threshold at model size, then resize nearest", threshold_then_nearest),
    ):
        times = time_calls(function, list(range(len(frames))), iterations)
        ious = [road_iou(function(i), labels[i]) for i in range(len(frames))] if labels else []
        rows.append(
            {"variant": name, **summarize_ms(times), "mean_iou": float(np.mean(ious)) if ious else float("nan")}
        )
    return rows


def profile_operators(model: Path, iterations: int = 50) -> list[tuple[str, float]]:
    """ONNX Runtime's own profile of the raw model: share of kernel time per operator type."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.enable_profiling = True
    # into the temporary folder, not the working directory: a bench killed mid-profile left dumps in the repository
    options.profile_file_prefix = str(Path(tempfile.gettempdir()) / "ros_road_seg_ort_profile")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = len(os.sched_getaffinity(0))
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    shape = [1 if not isinstance(d, int) else d for d in session.get_inputs()[0].shape]
    feeds = {session.get_inputs()[0].name: np.random.default_rng(0).random(shape, dtype=np.float32)}
    for _ in range(iterations):
        session.run(None, feeds)
    trace = Path(session.end_profiling())
    totals: dict[str, float] = {}
    for event in json.loads(trace.read_text()):
        if event.get("cat") == "Node" and event.get("name", "").endswith("_kernel_time"):
            op = event.get("args", {}).get("op_name", "?")
            totals[op] = totals.get(op, 0.0) + event.get("dur", 0)
    trace.unlink()
    grand = sum(totals.values()) or 1.0
    return sorted(((op, 100.0 * t / grand) for op, t in totals.items()), key=lambda x: -x[1])
