"""training.fitting: one run, its checkpoints, and a resume that continues the same run (optimizer state, schedule,
batch order), so an interrupted and resumed run ends where the uninterrupted one does."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
from synthetic_data import make_kitti

from ros_road_seg.core.errors import TrainingDivergedError
from training import fitting
from training.fitting import fit_run, run_data
from training.recipe import Recipe

EPOCHS = 3


def tiny_recipe(data: Path, **changes) -> Recipe:
    values = dict(
        dataset="kitti",
        data=data,
        base_filters=4,
        depth=2,
        input_size=(32, 32),
        batch_size=3,
        epochs=EPOCHS,
        augment="none",  # the augmentation's random draws restart on resume; without it the run is exact
        quiet=True,
        workers=1,
        lr=3e-3,
    )
    values.update(changes)
    return Recipe(**values)


def weights_of(path: Path) -> list[np.ndarray]:
    return [np.asarray(w) for w in keras.saving.load_model(path, compile=False).get_weights()]


def test_interrupted_and_resumed_equals_uninterrupted(tmp_path, monkeypatch):
    """Before: --resume compiled a fresh Adam, so the cosine schedule and the moments restarted (iteration 40 where
    the uninterrupted run had 120) and the resumed model differed."""
    data = make_kitti(tmp_path / "kitti", 8)
    recipe = tiny_recipe(data)
    whole = fit_run(recipe, run_data(recipe, 0), tmp_path / "whole")

    save = fitting.SafeCheckpoint.on_epoch_end

    def stop_after_first_epoch(self, epoch, logs=None):
        save(self, epoch, logs)
        if epoch == 0:
            raise KeyboardInterrupt

    monkeypatch.setattr(fitting.SafeCheckpoint, "on_epoch_end", stop_after_first_epoch)
    with pytest.raises(KeyboardInterrupt, match="continue with --resume"):
        fit_run(recipe, run_data(recipe, 0), tmp_path / "split")
    monkeypatch.setattr(fitting.SafeCheckpoint, "on_epoch_end", save)
    after_first_epoch = weights_of(tmp_path / "split" / "last.keras")
    resumed = fit_run(recipe, run_data(recipe, 0), tmp_path / "split", resume=True)

    expected, got = weights_of(whole), weights_of(resumed)
    worst = max(float(np.max(np.abs(a - b))) for a, b in zip(expected, got, strict=True))
    moved = max(float(np.max(np.abs(a - b))) for a, b in zip(expected, after_first_epoch, strict=True))
    print(f"resume: max |weight difference| {worst:.3g} (epochs 2-3 move them by up to {moved:.3g})")
    assert moved > 1e-3, "the two last epochs must change the weights, or the comparison says nothing"
    assert worst < 1e-4, f"resumed run differs from the uninterrupted one by {worst}"
    iterations = [int(np.load(tmp_path / run / fitting.TRAINING_STATE)["optimizer_0"]) for run in ("split", "whole")]
    assert iterations[0] == iterations[1] > 0


def test_a_nan_loss_is_an_error_naming_only_checkpoints_that_exist(tmp_path):
    """Before: --lr inf was accepted and the NaN message named a last.keras that did not exist."""
    with pytest.raises(ValueError, match="--lr"):
        tiny_recipe(tmp_path, lr=float("inf"))
    data = make_kitti(tmp_path / "kitti", 4)
    recipe = tiny_recipe(data, lr=1e30, epochs=1)
    with pytest.raises(TrainingDivergedError, match="no epoch finished") as error:
        fit_run(recipe, run_data(recipe, 0), tmp_path / "run")
    assert "last.keras" not in str(error.value)
