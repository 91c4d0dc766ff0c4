"""Road scores, computed in one place: the frame mask at full resolution, IoU counts, per-frame and pooled IoU, the
threshold sweep and the bird's-eye score. ``training.evaluate``, ``crossval``, ``compare``, the bench, the demo and
``record_overlay`` call this module; none thresholds a probability or counts pixels on its own.

Convention: IoU = |prediction & label| / |prediction | label| over valid pixels; when neither has a road pixel the
IoU is 1.0 (nothing to find, nothing wrongly found). Pooled IoU = sum of intersections / sum of unions over frames,
which weighs frames by their road area (it is not the mean of the per-frame IoUs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ros_road_seg.core.segmenter import resize_mask, resize_probability, threshold_mask

SWEEP_THRESHOLDS = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7)


def frame_mask(
    probability: np.ndarray, frame_size: tuple[int, int], threshold: float, order: str = "resize_first"
) -> np.ndarray:
    """The mask the node publishes: model-size probability -> bilinear to (height, width) -> road where > threshold.

    ``order="threshold_first"``: threshold at model size, then nearest resize (the cheaper alternative the bench
    measures against it; blockier edges)."""
    if order == "threshold_first":
        return resize_mask(threshold_mask(np.ascontiguousarray(probability), threshold), frame_size)
    if order != "resize_first":
        raise ValueError(f"order '{order}' is not resize_first or threshold_first")
    return threshold_mask(resize_probability(probability, frame_size), threshold)


def iou_counts(predicted: np.ndarray, label: np.ndarray, valid: np.ndarray | None = None) -> tuple[int, int]:
    """(intersection, union) road pixel counts of two truthy-is-road masks, over ``valid`` pixels only."""
    if predicted.shape != label.shape:
        raise ValueError(f"prediction shape {predicted.shape} differs from label shape {label.shape}")
    pred = predicted.astype(bool)
    truth = label.astype(bool)
    if valid is not None:
        keep = valid.astype(bool)
        pred, truth = pred & keep, truth & keep
    return int(np.count_nonzero(pred & truth)), int(np.count_nonzero(pred | truth))


def iou_from_counts(intersection: int, union: int) -> float:
    return 1.0 if union == 0 else intersection / union


def road_iou(predicted: np.ndarray, label: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Road IoU of one frame (see the module's convention)."""
    return iou_from_counts(*iou_counts(predicted, label, valid))


def pooled_iou(counts: list[tuple[int, int]]) -> float:
    """Sum of intersections / sum of unions over frames."""
    return iou_from_counts(sum(c[0] for c in counts), sum(c[1] for c in counts))


@dataclass
class FrameScore:
    """One frame's scores; the counts make a pooled IoU over many frames."""

    name: str
    iou_full: float  # prediction resized back to the label's size (what the node publishes)
    iou_model: float  # label resized (nearest) to the model's input size
    ceiling: float  # label -> model size -> full size, against the label: the best this input size can do
    intersection: int
    union: int
    bev_iou: float | None = None  # the same masks on the ground grid (KITTI camera), cells visible in the image
    bev_intersection: int = 0
    bev_union: int = 0


def score_frame(
    probability: np.ndarray,
    road: np.ndarray,
    valid: np.ndarray,
    threshold: float,
    name: str = "",
    ground: BirdsEye | None = None,
) -> FrameScore:
    """Every score of one frame from the model's probability (at its input size, or over the resized frame for a
    tiled model: "model size" is the probability's own size); the full-size mask is built once."""
    frame_size, model_size = road.shape[:2], probability.shape[:2]
    full_mask = frame_mask(probability, frame_size, threshold)
    road_small, valid_small = resize_mask(road, model_size), resize_mask(valid, model_size)
    small_mask = threshold_mask(np.ascontiguousarray(probability), threshold)
    intersection, union = iou_counts(full_mask, road, valid)
    score = FrameScore(
        name=name,
        iou_full=iou_from_counts(intersection, union),
        iou_model=road_iou(small_mask, road_small, valid_small),
        ceiling=road_iou(resize_mask(road_small, frame_size), road, valid),
        intersection=intersection,
        union=union,
    )
    if ground is not None:
        score.bev_intersection, score.bev_union = ground.counts(full_mask, road)
        score.bev_iou = iou_from_counts(score.bev_intersection, score.bev_union)
    return score


def sweep_counts(
    probability: np.ndarray,
    road: np.ndarray,
    valid: np.ndarray,
    thresholds: tuple[float, ...] = SWEEP_THRESHOLDS,
) -> dict[str, list[int]]:
    """(intersection, union) of one frame at each threshold, the probability resized to the frame once."""
    full = resize_probability(probability, road.shape[:2])
    return {f"{t:g}": list(iou_counts(threshold_mask(full, t), road, valid)) for t in thresholds}


def add_counts(totals: dict[str, list[int]], frame: dict[str, list[int]]) -> dict[str, list[int]]:
    """Sum per-threshold counts (for a sweep over many frames)."""
    for key, (intersection, union) in frame.items():
        entry = totals.setdefault(key, [0, 0])
        entry[0] += intersection
        entry[1] += union
    return totals


def sweep_iou(totals: dict[str, list[int]]) -> dict[str, float]:
    """Pooled IoU per threshold from summed counts."""
    return {key: iou_from_counts(*counts) for key, counts in totals.items()}


class BirdsEye:
    """Road IoU on the ground: label and prediction projected with the KITTI camera (1.65 m, level) onto a 0.1 m,
    40 m x 30 m grid; the KITTI road benchmark also scores road in the bird's-eye view."""

    def __init__(self) -> None:
        self._projectors: dict[tuple[int, int], object] = {}

    def counts(self, predicted: np.ndarray, road: np.ndarray) -> tuple[int, int]:
        from ros_road_seg.core import kitti_camera
        from ros_road_seg.core.ground_grid import FREE, GridSpec, GroundProjector

        size = road.shape[:2]
        if size not in self._projectors:
            intrinsics = kitti_camera.cropped_intrinsics(size[1], size[0])
            self._projectors[size] = GroundProjector(intrinsics, kitti_camera.MOUNTING, GridSpec())
        projector = self._projectors[size]
        truth = projector.project((road > 0).astype(np.uint8) * 255) == FREE
        guess = projector.project(predicted) == FREE
        return int(np.count_nonzero(truth & guess)), int(np.count_nonzero(truth | guess))
