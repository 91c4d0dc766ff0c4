"""The scoring module against hand-computed answers (3x3 masks, a pooled case, a ramp), and the one rule for which
pixels count, shared by the loss and the training metric."""

from __future__ import annotations

import numpy as np
import pytest

from ros_road_seg.core.scoring import (
    BirdsEye,
    add_counts,
    frame_mask,
    iou_counts,
    pooled_iou,
    road_iou,
    score_frame,
    sweep_counts,
    sweep_iou,
)

# 3x3 by hand: label road = left column + centre; prediction = left column + top-middle.
LABEL = np.array([[1, 0, 0], [1, 1, 0], [1, 0, 0]], np.uint8)
PREDICTION = np.array([[1, 1, 0], [1, 0, 0], [1, 0, 0]], np.uint8)


def test_iou_counts_and_iou_on_hand_written_3x3_masks():
    # intersection = the left column (3); union = left column + centre + top-middle (5)
    assert iou_counts(PREDICTION, LABEL) == (3, 5)
    assert road_iou(PREDICTION, LABEL) == pytest.approx(3 / 5)
    valid = np.ones((3, 3), np.uint8)
    valid[0, 1] = 0  # the wrong top-middle guess sits on an ignore pixel: union 4
    assert iou_counts(PREDICTION, LABEL, valid) == (3, 4)
    assert road_iou(np.zeros((3, 3)), np.zeros((3, 3))) == 1.0  # nothing to find, nothing found
    assert road_iou(np.zeros((3, 3)), LABEL) == 0.0
    with pytest.raises(ValueError, match="differs"):
        iou_counts(PREDICTION, LABEL[:2])


def test_pooled_iou_of_two_frames_is_not_the_mean_of_their_ious():
    # frame A: 1 of 1 road pixel found (IoU 1); frame B: 1 of 4 (IoU 0.25). Mean 0.625, pooled (1+1)/(1+4) = 0.4.
    a_label = np.array([[1, 0], [0, 0]], np.uint8)
    b_label = np.ones((2, 2), np.uint8)
    b_pred = np.array([[1, 0], [0, 0]], np.uint8)
    counts = [iou_counts(a_label, a_label), iou_counts(b_pred, b_label)]
    assert counts == [(1, 1), (1, 4)]
    assert pooled_iou(counts) == pytest.approx(0.4)
    assert np.mean([road_iou(a_label, a_label), road_iou(b_pred, b_label)]) == pytest.approx(0.625)


def test_threshold_sweep_over_a_known_ramp():
    # one row of 10 pixels with probability 0.05, 0.15, ..., 0.95; road = the right half (pixels 5..9)
    probability = (np.arange(10, dtype=np.float32) + 0.5) / 10.0
    probability = probability[None, :]
    road = np.zeros((1, 10), np.uint8)
    road[0, 5:] = 1
    valid = np.ones_like(road)
    counts = sweep_counts(probability, road, valid, thresholds=(0.3, 0.5, 0.7))
    # t = 0.3: predicted pixels 3..9 (7) -> I 5, U 7; t = 0.5: 5..9 -> I 5, U 5; t = 0.7: 7..9 -> I 3, U 5
    assert counts == {"0.3": [5, 7], "0.5": [5, 5], "0.7": [3, 5]}
    totals = add_counts(add_counts({}, counts), counts)  # the same frame twice: counts double, IoU unchanged
    assert totals["0.3"] == [10, 14]
    assert sweep_iou(totals) == pytest.approx({"0.3": 5 / 7, "0.5": 1.0, "0.7": 0.6})


def test_frame_mask_and_score_frame_on_a_half_road_frame():
    # model-size probability 2x4: right half certain road, left half certain not; frame 4x8
    probability = np.zeros((2, 4), np.float32)
    probability[:, 2:] = 1.0
    mask = frame_mask(probability, (4, 8), 0.5)
    assert mask.shape == (4, 8) and mask.dtype == np.uint8
    assert set(np.unique(mask)) <= {0, 255}
    assert (mask[:, 5:] == 255).all() and (mask[:, :3] == 0).all()  # away from the bilinear seam
    assert (frame_mask(probability, (4, 8), 0.5, "threshold_first")[:, 4:] == 255).all()
    road = np.zeros((4, 8), np.uint8)
    road[:, 4:] = 1
    score = score_frame(probability, road, np.ones_like(road), 0.5, "half")
    assert score.iou_model == 1.0 and score.ceiling == 1.0
    assert score.intersection <= 16 and score.union >= 16
    assert score.iou_full == pytest.approx(score.intersection / score.union)


def test_birds_eye_counts_identical_and_disjoint_masks():
    ground = BirdsEye()
    road = np.zeros((370, 1224), np.uint8)
    road[250:, 400:800] = 1
    same = ground.counts(road * 255, road)
    assert same[0] == same[1] > 0  # identical masks: IoU 1
    other = np.zeros_like(road)
    other[250:, :200] = 255
    intersection, union = ground.counts(other, road)
    assert intersection == 0 and union > same[1]


def test_loss_and_metric_count_the_same_pixels_at_weight_0_3():
    """A look-alike weight below 0.5 must not drop pixels from the metric that picks best.keras."""
    from training.losses import RoadIoU, masked_dice

    # two road pixels: A (weight 1) predicted 0.9 = found; B (weight 0.3) predicted 0.1 = missed
    y_true = np.array([[[[1.0, 1.0], [1.0, 0.3]]]], np.float32)  # shape 1x1x2x2: (road, weight) per pixel
    y_pred = np.array([[[[0.9], [0.1]]]], np.float32)
    metric = RoadIoU()
    metric.update_state(y_true, y_pred)
    assert float(metric.result()) == pytest.approx(0.5)  # B counts: IoU 1/2 (the old > 0.5 rule gave 1.0)
    # Dice over the same two pixels: intersection 0.9 + 0.1 = 1.0, total (1 + 0.9) + (1 + 0.1) = 3.0;
    # 1 - (2 * 1.0 + 1) / (3.0 + 1) = 0.25 (without B: 1 - (1.8 + 1) / (1.9 + 1) = 0.0345)
    assert float(masked_dice(y_true, y_pred)[0]) == pytest.approx(0.25, abs=1e-5)
