"""Losses and the road-IoU metric on targets with two channels: (road, weight). Weight 0 (ignore label) counts
nowhere; BCE is a weighted mean (heavier on look-alike ground when asked), Dice and IoU count weighted pixels once."""

from __future__ import annotations

import keras
from keras import ops

LOSSES = ("bce", "dice", "bce_dice")
_EPSILON = 1e-6


def _split(y_true, y_pred):
    road = y_true[..., 0:1]
    weight = y_true[..., 1:2]
    return road, weight, ops.clip(y_pred, _EPSILON, 1.0 - _EPSILON)


def counted(weight, dtype="float32"):
    """The one rule for which pixels count, shared by every loss and the metric: weight > 0 (the ignore label has
    weight 0; a look-alike weight of 0.3 still counts, only more lightly in the BCE)."""
    return ops.cast(weight > 0.0, dtype)


def masked_bce(y_true, y_pred):
    """Binary cross-entropy, the weighted mean over pixels (the course's loss, with the ignore label respected)."""
    road, weight, prob = _split(y_true, y_pred)
    per_pixel = -(road * ops.log(prob) + (1.0 - road) * ops.log(1.0 - prob))
    return ops.sum(per_pixel * weight, axis=(1, 2, 3)) / (ops.sum(weight, axis=(1, 2, 3)) + _EPSILON)


def masked_dice(y_true, y_pred):
    """1 - soft Dice of the road class over valid pixels (weight > 0), per image."""
    road, weight, prob = _split(y_true, y_pred)
    valid = counted(weight, prob.dtype)
    intersection = ops.sum(road * prob * valid, axis=(1, 2, 3))
    total = ops.sum((road + prob) * valid, axis=(1, 2, 3))
    return 1.0 - (2.0 * intersection + 1.0) / (total + 1.0)


def bce_dice(y_true, y_pred):
    return masked_bce(y_true, y_pred) + masked_dice(y_true, y_pred)


def get_loss(name: str):
    table = {"bce": masked_bce, "dice": masked_dice, "bce_dice": bce_dice}
    if name not in table:
        raise ValueError(f"loss '{name}' is not one of {', '.join(LOSSES)}")
    return table[name]


@keras.saving.register_keras_serializable(package="road_seg")
class RoadIoU(keras.metrics.Metric):
    """Road IoU at a threshold, accumulated over an epoch (sum of intersections / sum of unions)."""

    def __init__(self, threshold: float = 0.5, name: str = "road_iou", **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.threshold = threshold
        self.intersection = self.add_weight(name="intersection", initializer="zeros", dtype="float64")
        self.union = self.add_weight(name="union", initializer="zeros", dtype="float64")

    def update_state(self, y_true, y_pred, sample_weight=None):
        road = ops.cast(y_true[..., 0:1] > 0.5, "float64")
        valid = counted(y_true[..., 1:2], "float64")
        predicted = ops.cast(y_pred > self.threshold, "float64") * valid
        road = road * valid
        self.intersection.assign_add(ops.sum(road * predicted))
        self.union.assign_add(ops.sum(ops.maximum(road, predicted)))

    def result(self):
        return ops.where(self.union > 0, self.intersection / ops.maximum(self.union, 1.0), 1.0)

    def reset_state(self):
        self.intersection.assign(0.0)
        self.union.assign(0.0)

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold}
