"""Scoring models on dataset frames through the node's core: the library behind ``training.evaluate``,
``crossval`` and ``compare``. An ``.onnx``, ``.keras`` or run folder becomes an rgb -> probability function; every
frame is scored by :mod:`ros_road_seg.core.scoring` (per-frame, pooled, at the model's size, bird's-eye, sweep)."""

from __future__ import annotations

import fnmatch
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np

from ros_road_seg.core.errors import RoadSegError
from ros_road_seg.core.model import DEFAULT_THRESHOLD
from ros_road_seg.core.progress import with_progress
from ros_road_seg.core.scoring import BirdsEye, add_counts, pooled_iou, score_frame, sweep_counts
from ros_road_seg.core.segmenter import Segmenter, preprocess, tiled_probability
from training.data import Sample, layout, load_dataset, load_sample

ProbabilityFn = Callable[[np.ndarray], np.ndarray]


def load_probability_fn(
    model_path: Path, providers: str = "cpu", head: int = -1
) -> tuple[ProbabilityFn, tuple[int, int], dict]:
    """(rgb -> model-size probability, (height, width), description) for an .onnx, .keras or run folder.

    The description's ``threshold`` is the one the node would use: an ONNX model's metadata value, else 0.5.
    ``head``: which output of a deep-supervised Keras model (-1, the last, is what export writes by default;
    ``i`` = the UNet++ pruned to level L(i+1), exactly what ``training.export --prune`` would give).
    """
    model_path = Path(model_path)
    if model_path.suffix == ".onnx":
        segmenter = Segmenter(model_path, providers=providers, warmup=False)
        return (
            segmenter.probability,
            segmenter.input_size,
            {
                "format": "onnx",
                "provider": segmenter.provider,
                "threshold": segmenter.info.threshold,
                "tiling": segmenter.info.tiling,
                "metadata": segmenter.info.metadata,
            },
        )
    from training.models import load_keras_model
    from training.recipe import read_run_config

    model = load_keras_model(model_path)
    input_size = (int(model.input.shape[1]), int(model.input.shape[2]))
    buffer = np.empty((1, *input_size, 3), np.float32)
    tiles = bool(read_run_config(model_path).get("tiles"))

    def run_batch(batch: np.ndarray) -> np.ndarray:
        output = model(batch, training=False)
        if isinstance(output, (list, tuple)):
            output = output[head]
        return np.asarray(output)[..., 0]

    def probability(rgb: np.ndarray) -> np.ndarray:
        if tiles:  # the same tiles the exported model runs in the node (road_seg.tiling = aspect)
            return tiled_probability(rgb, input_size, run_batch)
        return run_batch(preprocess(rgb, input_size, out=buffer))[0]

    return (
        probability,
        input_size,
        {
            "format": "keras",
            "threshold": DEFAULT_THRESHOLD,
            "params": int(model.count_params()),
            "outputs": len(model.outputs),
            "tiling": "aspect" if tiles else "none",
        },
    )


def evaluate(
    probability_fn: ProbabilityFn,
    input_size: tuple[int, int],
    samples: list[Sample],
    threshold: float = DEFAULT_THRESHOLD,
    birds_eye: bool = False,
    sweep: bool = False,
    progress: bool = False,
) -> dict:
    """Scores of ``samples`` (each read with its own dataset's labels) at ``threshold``; with ``birds_eye`` (KITTI
    frames) also on the ground grid; with ``sweep`` also the pooled IoU at other thresholds (counts kept); with
    ``progress`` a bar on stderr."""
    scores = []
    ground = BirdsEye() if birds_eye else None
    totals: dict[str, list[int]] = {}
    for sample in with_progress(samples, len(samples), "frames scored", progress):
        loaded = load_sample(sample)
        probability = probability_fn(loaded.rgb)
        scores.append(score_frame(probability, loaded.road, loaded.valid, threshold, sample.name, ground))
        if sweep:
            add_counts(totals, sweep_counts(probability, loaded.road, loaded.valid))
    extra = {}
    if ground is not None:
        extra = {
            "pooled_bev_iou": pooled_iou([(s.bev_intersection, s.bev_union) for s in scores]),
            "mean_bev_iou": float(np.mean([s.bev_iou for s in scores])),
        }
    if sweep:
        extra["sweep"] = totals
    return {
        "frames": len(scores),
        "threshold": threshold,
        "input_size": list(input_size),
        **extra,
        "pooled_iou_full": pooled_iou([(s.intersection, s.union) for s in scores]),
        "mean_iou_full": float(np.mean([s.iou_full for s in scores])),
        "mean_iou_model_size": float(np.mean([s.iou_model for s in scores])),
        "mean_ceiling": float(np.mean([s.ceiling for s in scores])),
        "per_image": [asdict(s) for s in scores],
    }


def select_samples(
    dataset: str, data: Path, split: str, val: float = 30, only: list[str] | None = None
) -> list[Sample]:
    """The frames to score: a split (``all`` = every labelled frame), narrowed to names matching ``only``."""
    if split == "all":
        samples = layout(dataset).frames(Path(data))
    else:
        train, val_samples = load_dataset(dataset, data, val)
        samples = val_samples if split == "val" else train
    if only:
        samples = [s for s in samples if any(fnmatch.fnmatchcase(s.name, pattern) for pattern in only)]
        if not samples:
            raise RoadSegError(f"no {dataset} {split} frame in '{data}' matches --only {' '.join(only)}")
    return samples


def markdown_table(result: dict, title: str) -> str:
    tiled = result.get("model_info", {}).get("tiling") == "aspect"
    tiles = " (tiles of the frame resized with its aspect kept)" if tiled else ""
    lines = [
        f"### {title}",
        "",
        f"Road IoU over {result['frames']} frames (threshold {result['threshold']}): pooled "
        f"**{result['pooled_iou_full']:.4f}**, mean **{result['mean_iou_full']:.4f}** at full resolution, "
        f"{result['mean_iou_model_size']:.4f} at "
        f"{result['input_size'][1]}x{result['input_size'][0]}{tiles}; ceiling of that input size "
        f"{result['mean_ceiling']:.4f}.",
        "",
    ]
    birds_eye = "pooled_bev_iou" in result
    if birds_eye:
        lines[2] += (
            f" On the ground grid (KITTI camera, 0.1 m cells): pooled **{result['pooled_bev_iou']:.4f}**, "
            f"mean {result['mean_bev_iou']:.4f}."
        )
    lines += [
        "| image | IoU full res | IoU model size | ceiling |" + (" bird's-eye IoU |" if birds_eye else ""),
        "|---|---|---|---|" + ("---|" if birds_eye else ""),
    ]
    lines += [
        f"| {row['name']} | {row['iou_full']:.4f} | {row['iou_model']:.4f} | {row['ceiling']:.4f} |"
        + (f" {row['bev_iou']:.4f} |" if birds_eye else "")
        for row in result["per_image"]
    ]
    return "\n".join(lines) + "\n"
