"""``python -m training.evaluate MODEL``: road IoU per image, their mean and the pooled IoU (all frames' pixels
together), at the label's full resolution (what a user of the node sees), at the model's input size (what the
course reports), and the ceiling of that input size.

MODEL is a ``.keras`` file, a run folder or an ``.onnx`` file. Either way the frame goes through
``ros_road_seg.segmenter`` (preprocess, resize back, threshold): the node's own code, at the threshold the node
would use (an ONNX model's own ``road_seg.threshold``) unless ``--threshold`` says otherwise.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ros_road_seg.errors import RoadSegError
from ros_road_seg.metrics import intersection_union, road_iou
from ros_road_seg.model import DEFAULT_THRESHOLD
from ros_road_seg.segmenter import (
    Segmenter,
    preprocess,
    resize_mask,
    resize_probability,
    threshold_mask,
)
from training.data import DATASETS, Sample, kitti_samples, load_dataset, load_sample

ProbabilityFn = Callable[[np.ndarray], np.ndarray]


@dataclass
class ImageScore:
    name: str
    iou_full: float  # prediction resized back to the label's size
    iou_model: float  # label resized (nearest) to the model's input size
    ceiling: float  # label -> model size -> full size, against the label
    intersection: int  # full-resolution road pixel counts, for the pooled IoU over many frames
    union: int
    bev_iou: float | None = None  # the same masks on the ground grid (KITTI camera), cells visible in the image
    bev_intersection: int = 0
    bev_union: int = 0


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
                "metadata": segmenter.info.metadata,
            },
        )
    from training.models import load_keras_model

    model = load_keras_model(model_path)
    input_size = (int(model.input.shape[1]), int(model.input.shape[2]))
    buffer = np.empty((1, *input_size, 3), np.float32)

    def probability(rgb: np.ndarray) -> np.ndarray:
        output = model(preprocess(rgb, input_size, out=buffer), training=False)
        if isinstance(output, (list, tuple)):
            output = output[head]
        return np.asarray(output)[0, :, :, 0]

    return (
        probability,
        input_size,
        {
            "format": "keras",
            "threshold": DEFAULT_THRESHOLD,
            "params": int(model.count_params()),
            "outputs": len(model.outputs),
        },
    )


def score_image(
    probability: np.ndarray,
    road: np.ndarray,
    valid: np.ndarray,
    input_size: tuple[int, int],
    threshold: float,
    name: str = "",
) -> ImageScore:
    frame_size = road.shape[:2]
    full_mask = threshold_mask(resize_probability(probability, frame_size), threshold)
    road_small, valid_small = resize_mask(road, input_size), resize_mask(valid, input_size)
    small_mask = threshold_mask(np.ascontiguousarray(probability), threshold)
    ceiling_mask = resize_mask(road_small, frame_size)
    intersection, union = intersection_union(full_mask, road, valid)
    return ImageScore(
        name=name,
        iou_full=road_iou(full_mask, road, valid),
        iou_model=road_iou(small_mask, road_small, valid_small),
        ceiling=road_iou(ceiling_mask, road, valid),
        intersection=intersection,
        union=union,
    )


def pooled_iou(scores: list[ImageScore] | list[dict], prefix: str = "") -> float:
    """All frames' road pixels (or grid cells, ``prefix='bev_'``) together: sum of intersections / sum of unions."""
    rows = [asdict(s) if isinstance(s, ImageScore) else s for s in scores]
    union = sum(r[f"{prefix}union"] for r in rows)
    return 1.0 if union == 0 else sum(r[f"{prefix}intersection"] for r in rows) / union


class BirdsEye:
    """Road IoU on the ground: label and prediction projected with the KITTI camera (1.65 m, level) onto a 0.1 m,
    40 m x 30 m grid; the KITTI road benchmark also scores road in the bird's-eye view."""

    def __init__(self) -> None:
        self._projectors: dict[tuple[int, int], object] = {}

    def counts(self, predicted: np.ndarray, road: np.ndarray) -> tuple[int, int]:
        from ros_road_seg import kitti_camera
        from ros_road_seg.ground_grid import FREE, GridSpec, GroundProjector

        size = road.shape[:2]
        if size not in self._projectors:
            intrinsics = kitti_camera.cropped_intrinsics(size[1], size[0])
            self._projectors[size] = GroundProjector(intrinsics, kitti_camera.MOUNTING, GridSpec())
        projector = self._projectors[size]
        truth = projector.project((road > 0).astype(np.uint8) * 255) == FREE
        guess = projector.project(predicted) == FREE
        return int(np.count_nonzero(truth & guess)), int(np.count_nonzero(truth | guess))


def evaluate(
    probability_fn: ProbabilityFn,
    input_size: tuple[int, int],
    samples: list[Sample],
    threshold: float = DEFAULT_THRESHOLD,
    birds_eye: bool = False,
) -> dict:
    """Scores of ``samples`` (each read with its own dataset's labels) at ``threshold``; with ``birds_eye`` (KITTI
    frames) also on the ground grid."""
    scores = []
    ground = BirdsEye() if birds_eye else None
    for sample in samples:
        loaded = load_sample(sample)
        probability = probability_fn(loaded.rgb)
        score = score_image(probability, loaded.road, loaded.valid, input_size, threshold, sample.name)
        if ground is not None:
            full_mask = threshold_mask(resize_probability(probability, loaded.road.shape), threshold)
            score.bev_intersection, score.bev_union = ground.counts(full_mask, loaded.road)
            score.bev_iou = score.bev_intersection / score.bev_union if score.bev_union else 1.0
        scores.append(score)
    bev = {}
    if ground is not None:
        bev = {
            "pooled_bev_iou": pooled_iou(scores, "bev_"),
            "mean_bev_iou": float(np.mean([s.bev_iou for s in scores])),
        }
    return {
        "frames": len(scores),
        "threshold": threshold,
        "input_size": list(input_size),
        **bev,
        "pooled_iou_full": pooled_iou(scores),
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
        if dataset == "kitti":
            samples = kitti_samples(data)
        else:
            train, val_samples = load_dataset(dataset, data)
            samples = train + val_samples
    else:
        train, val_samples = load_dataset(dataset, data, val)
        samples = val_samples if split == "val" else train
    if only:
        samples = [s for s in samples if any(fnmatch.fnmatchcase(s.name, pattern) for pattern in only)]
        if not samples:
            raise RoadSegError(f"no {dataset} {split} frame in '{data}' matches --only {' '.join(only)}")
    return samples


def markdown_table(result: dict, title: str) -> str:
    lines = [
        f"### {title}",
        "",
        f"Road IoU over {result['frames']} frames (threshold {result['threshold']}): pooled "
        f"**{result['pooled_iou_full']:.4f}**, mean **{result['mean_iou_full']:.4f}** at full resolution, "
        f"{result['mean_iou_model_size']:.4f} at "
        f"{result['input_size'][1]}x{result['input_size'][0]}; ceiling of that input size "
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__)
    parser.add_argument("model", type=Path, help=".onnx, .keras or a run folder (its best.keras)")
    parser.add_argument("--dataset", choices=DATASETS, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", choices=("val", "train", "all"), default="val")
    parser.add_argument("--val", type=float, default=30, help="KITTI validation count or fraction")
    parser.add_argument(
        "--only", nargs="+", default=None, metavar="PATTERN", help="score only frames whose name matches (0006R0_*)"
    )
    parser.add_argument("--threshold", type=float, default=None, help="default: the model's own (ONNX metadata)")
    parser.add_argument(
        "--birds-eye", action="store_true", help="KITTI: also score on the ground grid (the node's road_grid)"
    )
    parser.add_argument("--out", type=Path, default=None, help="folder for eval.json and eval.md")
    args = parser.parse_args(argv)
    try:
        probability_fn, input_size, description = load_probability_fn(args.model)
        samples = select_samples(args.dataset, args.data, args.split, args.val, args.only)
        threshold = description["threshold"] if args.threshold is None else args.threshold
        result = evaluate(probability_fn, input_size, samples, threshold, birds_eye=args.birds_eye)
    except (RoadSegError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    result.update(model=str(args.model), dataset=args.dataset, split=args.split, **{"model_info": description})
    table = markdown_table(result, f"{args.model} on {args.dataset} {args.split}")
    print(table)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        stem = f"eval_{args.dataset}_{args.split}"
        (args.out / f"{stem}.json").write_text(json.dumps(result, indent=2, default=str))
        (args.out / f"{stem}.md").write_text(table)
        print(f"wrote {args.out / (stem + '.json')} and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
