"""Road IoU on NumPy masks: the one implementation used by evaluation, the demo and record_overlay."""

from __future__ import annotations

import numpy as np


def road_iou(predicted: np.ndarray, label: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Intersection over union of the road class, counting only ``valid`` pixels (the dataset's ignore label).

    Both masks are truthy-is-road (0/1 or 0/255). Edge case, by definition: when neither the prediction nor the
    label has any road pixel the IoU is 1.0 (nothing to find, nothing wrongly found); when only one is empty it
    is 0.0.
    """
    if predicted.shape != label.shape:
        raise ValueError(f"prediction shape {predicted.shape} differs from label shape {label.shape}")
    pred = predicted.astype(bool)
    truth = label.astype(bool)
    if valid is not None:
        keep = valid.astype(bool)
        pred, truth = pred & keep, truth & keep
    intersection = np.count_nonzero(pred & truth)
    union = np.count_nonzero(pred | truth)
    return 1.0 if union == 0 else intersection / union


def intersection_union(predicted: np.ndarray, label: np.ndarray, valid: np.ndarray | None = None) -> tuple[int, int]:
    """(intersection, union) pixel counts, for a dataset-level IoU summed over frames."""
    pred = predicted.astype(bool)
    truth = label.astype(bool)
    if valid is not None:
        keep = valid.astype(bool)
        pred, truth = pred & keep, truth & keep
    return int(np.count_nonzero(pred & truth)), int(np.count_nonzero(pred | truth))
