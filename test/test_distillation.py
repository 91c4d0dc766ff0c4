"""Distillation: soft labels where no label exists, hard labels win where both, ignore labels respected, the soft
folder a teacher writes, and teacher leakage in k-fold (a fold's teacher never trained on that fold)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from synthetic_data import make_kitti, write_png

from ros_road_seg.core.errors import RoadSegError
from ros_road_seg.core.labels import road_masks

TINY = "--base-filters 4 --depth 2 --input-size 32 32 --quiet --workers 1".split()


def write_soft_folder(root: Path, names: list[str], value_left: int, value_right: int, trained_on: str = "") -> Path:
    """Frames and a teacher's soft labels (left half ``value_left``, right half ``value_right``) by hand."""
    frames, soft = root / "frames", root / "soft"
    for name in names:
        write_png(frames / f"{name}.png", np.full((24, 32, 3), 120, np.uint8))
        label = np.zeros((24, 32), np.uint8)
        label[:, :16], label[:, 16:] = value_left, value_right
        write_png(soft / "labels" / f"{name}.png", label)
    teacher = {"model": "hand.onnx", "architecture": "hand", "trained_on_names": trained_on}
    manifest = {"frames": str(frames), "names": names, "teachers": [teacher]}
    (soft / "teacher.json").write_text(json.dumps(manifest))
    return soft


def test_soft_frames_train_on_the_teachers_probability(tmp_path):
    from training.batches import RoadBatches
    from training.data import load_sample, training_pool

    soft = write_soft_folder(tmp_path, ["um_000001", "um_000002"], 51, 204)  # 0.2 and 0.8
    pool = training_pool("soft", soft)
    assert [s.dataset for s in pool] == ["soft", "soft"]
    loaded = load_sample(pool[0])
    assert loaded.road.dtype == np.float32 and loaded.valid.all()
    np.testing.assert_allclose(loaded.road[:, :16], 0.2, atol=1e-6)
    np.testing.assert_allclose(loaded.road[:, 16:], 0.8, atol=1e-6)
    _, targets = RoadBatches(pool, (24, 32), 2, "none")[0]
    np.testing.assert_allclose(targets[..., 0][:, :, :16], 0.2, atol=1e-6)
    np.testing.assert_allclose(targets[..., 0][:, :, 16:], 0.8, atol=1e-6)
    np.testing.assert_array_equal(targets[..., 1], 1.0)
    road, valid = road_masks(np.array([[3, 11]], np.uint8), "camvid")  # labelled data keeps its ignore label
    assert road.tolist() == [[1, 0]] and valid.tolist() == [[1, 0]]


def test_distill_writes_the_teachers_probability_and_who_the_teacher_is(tmp_path, red_model):
    """The red-channel model's probability is the red channel: the soft label is red (resized to the model and back)."""
    from training.distill import main

    frames = tmp_path / "frames"
    rgb = np.zeros((64, 96, 3), np.uint8)
    rgb[:, :48, 0] = 255  # left half red: probability 1; right half 0
    write_png(frames / "a.png", rgb)
    assert main(["--teacher", str(red_model), "--frames", str(frames), "--out", str(tmp_path / "soft")]) == 0
    label = cv2.imread(str(tmp_path / "soft" / "labels" / "a.png"), cv2.IMREAD_UNCHANGED)
    assert label.shape == (64, 96)
    assert (label[:, :40] == 255).all() and (label[:, 56:] == 0).all()
    manifest = json.loads((tmp_path / "soft" / "teacher.json").read_text())
    assert manifest["names"] == ["a"] and manifest["teachers"][0]["architecture"] == "red_channel_test"


def test_a_fold_whose_teacher_saw_its_frames_is_refused(tmp_path):
    """check_no_leak reads what each teacher trained on from the soft folder's teacher.json."""
    from training import crossval as crossval_cli
    from training.data import block_folds, kitti_samples
    from training.kfold import check_no_leak

    data = make_kitti(tmp_path / "kitti", 6)
    folds = block_folds(kitti_samples(data), 2)
    held = [s.name for s in folds[0].held_out]
    clean = {"model": "t.onnx", "trained_on_names": " ".join(s.name for s in folds[0].train), "soft_labels": "s"}
    check_no_leak(folds[0], {s.name for s in folds[0].train}, [clean])  # a teacher of the other frames: fine
    leaky = {**clean, "trained_on_names": held[0]}
    with pytest.raises(RoadSegError, match=f"trained on held-out frames \\['{held[0]}'\\]"):
        check_no_leak(folds[0], {s.name for s in folds[0].train}, [leaky])
    # end to end: one teacher for every fold, trained on all frames -> crossval refuses before training
    soft = write_soft_folder(tmp_path / "u", ["uu_000001"], 0, 255, trained_on=" ".join(held))
    args = ["--dataset", "kitti", "--data", str(data), "--folds", "2", *TINY, "--epochs", "1"]
    code = crossval_cli.main(args + ["--mix", f"soft:{soft}:0.3", "--out", str(tmp_path / "cv")])
    assert code == 1 and not (tmp_path / "cv" / "fold1" / "fold.json").exists()


def test_each_fold_gets_its_own_teacher_and_the_run_records_it(tmp_path):
    """'{fold}' in a soft mix path is the fold's number; fold.json records every teacher it learnt from."""
    from training import crossval as crossval_cli

    data = make_kitti(tmp_path / "kitti", 6)
    for fold, held in ((1, "000000_10 000001_10 000002_10"), (2, "000003_10 000004_10 000005_10")):
        others = " ".join(n for n in [f"{i:06d}_10" for i in range(6)] if n not in held.split())
        write_soft_folder(tmp_path / f"t{fold}", ["uu_000001", "uu_000002"], 0, 255, trained_on=others)
        (tmp_path / "soft").mkdir(exist_ok=True)
        (tmp_path / f"t{fold}" / "soft").rename(tmp_path / "soft" / f"fold{fold}")
    args = ["--dataset", "kitti", "--data", str(data), "--folds", "2", *TINY, "--epochs", "1", "--batch-size", "3"]
    mix = f"soft:{tmp_path / 'soft' / 'fold{fold}'}:0.3"
    assert crossval_cli.main(args + ["--mix", mix, "--out", str(tmp_path / "cv")]) == 0
    for fold in (1, 2):
        result = json.loads((tmp_path / "cv" / f"fold{fold}" / "fold.json").read_text())
        assert result["mixed_in"] == {"soft": 2}
        assert [t["soft_labels"] for t in result["teachers"]] == [str(tmp_path / "soft" / f"fold{fold}")]
        assert not set(result["held_out"]) & set(result["teachers"][0]["trained_on_names"].split())
