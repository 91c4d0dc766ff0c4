"""``training.crossval``: block folds train the recipe without the held-out block, an interrupted fold continues,
every pruned head of a deep-supervised UNet++ is scored."""

from __future__ import annotations

import json

import numpy as np
import pytest
from synthetic_data import TINY, make_camvid, make_kitti


def test_block_crossval_trains_the_recipe_without_the_held_out_block(tmp_path):
    """4 blocks of 2 over 8 frames, gap 1: every frame is held out exactly once, never trained on in its own fold,
    and the frames beside its block are left out too; the CamVid mix comes along in every fold."""
    from training import crossval as crossval_cli

    kitti = make_kitti(tmp_path / "k", 8)
    camvid = make_camvid(tmp_path / "c", train=4, val=1)
    out = tmp_path / "cv"
    args = ["--dataset", "kitti", "--data", str(kitti), "--mix", f"camvid:{camvid}:0.5", "--folds", "4", "--gap", "1"]
    args += [*TINY, "--epochs", "1", "--batch-size", "4", "--out", str(out)]
    assert crossval_cli.main(args) == 0
    report = json.loads((out / "crossval.json").read_text())
    names = [f"{i:06d}_10" for i in range(8)]
    held = [name for fold in report["folds"] for name in fold["held_out"]]
    assert sorted(held) == names and len(held) == len(set(held))  # each frame in exactly one fold
    for number, fold in enumerate(report["folds"]):
        block = names[2 * number : 2 * number + 2]
        assert fold["held_out"] == block
        neighbours = {names[i] for i in (2 * number - 1, 2 * number + 2) if 0 <= i < 8}
        assert set(fold["buffer"]) == neighbours
        assert set(fold["trained_on"]) == set(names) - set(block) - neighbours
        assert fold["mixed_in"] == {"camvid": 4}
        config = json.loads((out / f"fold{number + 1}" / "config.json").read_text())
        assert not set(config["train_names"]) & set(block)
        assert 0.0 <= fold["pooled_iou"] <= 1.0
    summary = report["summary"]
    ious = [fold["pooled_iou"] for fold in report["folds"]]
    assert summary["mean_of_fold_pooled_iou"] == pytest.approx(float(np.mean(ious)))
    assert summary["sd_of_fold_pooled_iou"] == pytest.approx(float(np.std(ious, ddof=1)))
    assert "mean ± sd over folds" in (out / "crossval.md").read_text()


def test_an_interrupted_crossval_fold_continues_from_its_last_epoch(tmp_path):
    """A fold with last.keras but no fold.json (killed before scoring) is not retrained from the start: with all its
    epochs done, the second run only scores it, so last.keras is left exactly as the first run wrote it."""
    from training import crossval as crossval_cli

    kitti = make_kitti(tmp_path / "k", 4)
    out = tmp_path / "cv"
    args = ["--dataset", "kitti", "--data", str(kitti), "--folds", "2", "--only-fold", "1"]
    args += [*TINY, "--epochs", "1", "--batch-size", "2", "--out", str(out)]
    assert crossval_cli.main(args) == 0
    fold = out / "fold1"
    first = (fold / "last.keras").read_bytes()
    (fold / "fold.json").unlink()
    assert crossval_cli.main(args) == 0
    assert (fold / "last.keras").read_bytes() == first
    assert json.loads((fold / "fold.json").read_text())["held_out"] == ["000000_10", "000001_10"]


def test_crossval_scores_every_pruned_head_of_a_deep_supervised_unetpp(tmp_path):
    """Each fold also scores the UNet++ pruned to L1..L(depth-1), the same models training.export --prune writes."""
    from training import crossval as crossval_cli

    kitti = make_kitti(tmp_path / "k", 4)
    args = ["--dataset", "kitti", "--data", str(kitti), "--folds", "2", "--model", "unetpp", "--deep-supervision"]
    args += [*TINY, "--epochs", "1", "--batch-size", "2", "--out", str(tmp_path / "cv")]
    assert crossval_cli.main(args) == 0
    report = json.loads((tmp_path / "cv" / "crossval.json").read_text())
    for fold in report["folds"]:
        assert set(fold["pruned_heads_pooled_iou"]) == {"L1"}  # depth 2: heads L1 and L2 (= the full model)
        assert 0.0 <= fold["pruned_heads_pooled_iou"]["L1"] <= 1.0
    assert set(report["summary"]["pruned_heads_mean_of_fold_pooled_iou"]) == {"L1"}


def test_rescoring_a_tiled_recipe_at_its_own_size_gives_its_fold_scores_back(tmp_path):
    """``--rescore-at`` the size the folds were trained at changes nothing, so it must give back each fold's own
    held-out IoU. For a tiled recipe that holds only if the rescore runs tiles too (it used to squash whole frames
    into the tile, a different and wrong score)."""
    from training import crossval as crossval_cli

    kitti = make_kitti(tmp_path / "k", 4, size=(48, 96))  # 96x48 frames: two 32x32 tiles each
    out = tmp_path / "cv"
    args = ["--dataset", "kitti", "--data", str(kitti), "--folds", "2", "--only-fold", "1", "--tiles"]
    args += [*TINY, "--epochs", "1", "--batch-size", "2", "--out", str(out)]
    assert crossval_cli.main(args) == 0
    trained = json.loads((out / "fold1" / "fold.json").read_text())
    assert crossval_cli.main(args + ["--rescore-at", "32", "32"]) == 0
    (rescored,) = json.loads((out / "crossval_32x32.json").read_text())["folds"]
    assert rescored["pooled_iou"] == pytest.approx(trained["pooled_iou"], abs=1e-6)
