"""The road losses and the IoU metric on hand-written masks: ignore pixels count nowhere, BCE + Dice is their sum."""

from __future__ import annotations

import numpy as np
import pytest

from training.losses import RoadIoU, bce_dice, masked_bce


def target(road, valid=None):
    road = np.asarray(road, np.float32)[None, :, :, None]
    valid = np.ones_like(road) if valid is None else np.asarray(valid, np.float32)[None, :, :, None]
    return np.concatenate([road, valid], axis=-1)


def test_iou_metric_hand_written_3x3():
    metric = RoadIoU()
    label = [[1, 1, 0], [1, 0, 0], [0, 0, 0]]
    prediction = np.array([[0.9, 0.2, 0.1], [0.8, 0.7, 0.0], [0.0, 0.0, 0.0]], np.float32)[None, :, :, None]
    metric.update_state(target(label), prediction)
    assert float(metric.result()) == pytest.approx(2 / 4)
    metric.reset_state()
    metric.update_state(target(np.zeros((3, 3))), np.zeros((1, 3, 3, 1), np.float32))
    assert float(metric.result()) == 1.0  # both empty: defined as perfect


def test_ignore_pixels_count_nowhere():
    label = np.zeros((3, 3))
    valid = np.ones((3, 3))
    valid[0, 0] = 0
    wrong_on_ignored = np.zeros((1, 3, 3, 1), np.float32)
    wrong_on_ignored[0, 0, 0, 0] = 0.99
    clean = np.zeros((1, 3, 3, 1), np.float32)
    assert float(masked_bce(target(label, valid), wrong_on_ignored)[0]) == pytest.approx(
        float(masked_bce(target(label, valid), clean)[0]), abs=1e-5
    )
    metric = RoadIoU()
    metric.update_state(target(label, valid), wrong_on_ignored)
    assert float(metric.result()) == 1.0


def test_bce_dice_is_sum():
    y_true = target([[1, 0], [0, 1]])
    y_pred = np.array([[0.8, 0.3], [0.1, 0.6]], np.float32)[None, :, :, None]
    from training.losses import masked_dice

    assert float(bce_dice(y_true, y_pred)[0]) == pytest.approx(
        float(masked_bce(y_true, y_pred)[0]) + float(masked_dice(y_true, y_pred)[0]), rel=1e-6
    )
