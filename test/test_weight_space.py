"""WiSE-FT (training/weight_space.py, ``training.interpolate``, ``training.crossval --interpolate``): every weight on
the straight line between a run and the network it started from, checked against weights read straight from the two
.keras files with numpy; alpha 0 and 1 give back the start's and the run's own scores."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from synthetic_data import TINY, make_camvid, make_kitti


@pytest.fixture(scope="module")
def start_and_run(tmp_path_factory):
    """A tiny start trained on synthetic CamVid frames and a run fine-tuned from it (--init-from) on 6 synthetic
    KITTI frames (the start never saw them, so cross-validation may start from it too)."""
    from training import train as train_cli

    root = tmp_path_factory.mktemp("wise_ft")
    data, camvid = make_kitti(root / "kitti", 6), make_camvid(root / "camvid", train=4, val=1)
    common = ["--batch-size", "2", "--epochs", "1", "--val", "0"]
    start = ["--dataset", "camvid", "--data", str(camvid), *common, *TINY]
    assert train_cli.main([*start, "--out", str(root / "start")]) == 0
    tuned = ["--dataset", "kitti", "--data", str(data), *common, "--init-from", str(root / "start"), "--lr", "0.01"]
    assert train_cli.main([*tuned, "--quiet", "--workers", "1", "--out", str(root / "run")]) == 0
    return root, data


def _weights(path):
    return keras.saving.load_model(path, compile=False).get_weights()


def test_interpolated_weights_lie_on_the_line_between_start_and_run(start_and_run, tmp_path):
    from training import interpolate as interpolate_cli

    root, _ = start_and_run
    start, run = _weights(root / "start" / "best.keras"), _weights(root / "run" / "best.keras")
    # the run moved, or the test proves nothing
    assert any(not np.allclose(s, r) for s, r in zip(start, run, strict=True))
    for alpha in (0.0, 0.3, 1.0):
        out = tmp_path / f"a{alpha}"
        assert interpolate_cli.main([str(root / "run"), "--alpha", str(alpha), "--out", str(out)]) == 0
        for got, s, r in zip(_weights(out / "best.keras"), start, run, strict=True):
            np.testing.assert_allclose(got, (1 - alpha) * s + alpha * r, rtol=1e-6, atol=1e-7)
        assert json.loads((out / "config.json").read_text())["wise_ft"]["alpha"] == alpha


def test_an_interpolated_export_says_its_alpha(start_and_run, tmp_path):
    from training.interpolate import main as interpolate_main
    from training.onnx_export import export

    root, _ = start_and_run
    assert interpolate_main([str(root / "run"), "--alpha", "0.5", "--out", str(tmp_path / "half")]) == 0
    assert export(tmp_path / "half", tmp_path / "half.onnx")["road_seg.wise_ft_alpha"] == "0.5"


def test_a_scratch_run_is_interpolated_toward_the_random_start_its_seed_built():
    """A run without a pretrained start began from its seed's random weights: rebuilt from config.json, they must
    equal a model built directly with that seed."""
    import tempfile
    from pathlib import Path

    from training.models import build_model
    from training.recipe import Recipe
    from training.weight_space import start_model

    recipe = Recipe(dataset="kitti", data=Path("unused"), model="unet", base_filters=4, depth=2, input_size=(32, 32))
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "config.json").write_text(json.dumps(recipe.as_json()))
        rebuilt = start_model(Path(tmp)).get_weights()
    keras.utils.set_random_seed(0)
    direct = build_model("unet", (32, 32, 3), 4, 2).get_weights()
    for a, b in zip(rebuilt, direct, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("alpha", ["nan", "1.5", "-0.1"])
def test_an_alpha_outside_0_1_is_a_usage_error_naming_it(start_and_run, tmp_path, capsys, alpha):
    from training.interpolate import main as interpolate_main

    root, _ = start_and_run
    assert interpolate_main([str(root / "run"), "--alpha", alpha, "--out", str(tmp_path / "x")]) == 2
    assert "--alpha" in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_crossval_interpolate_gives_the_start_at_0_and_each_fold_at_1(start_and_run, tmp_path):
    """Alpha 1 is each fold as trained (its own fold.json score); alpha 0 is the start model, scored here through
    training.evaluate on the same held-out frames."""
    from training import crossval as crossval_cli
    from training import evaluate as evaluate_cli

    root, data = start_and_run
    out = tmp_path / "cv"
    args = ["--dataset", "kitti", "--data", str(data), "--folds", "2", "--init-from", str(root / "start")]
    args += ["--batch-size", "2", "--epochs", "1", "--lr", "0.01", "--quiet", "--workers", "1", "--out", str(out)]
    assert crossval_cli.main(args) == 0
    assert crossval_cli.main(args + ["--interpolate", "0", "1"]) == 0
    report = json.loads((out / "crossval_wise_ft.json").read_text())
    pairs = zip(report["alphas"]["0"]["folds"], report["alphas"]["1"]["folds"], strict=True)
    for index, (at_start, as_trained) in enumerate(pairs):
        fold = json.loads((out / f"fold{index + 1}" / "fold.json").read_text())
        assert as_trained["pooled_iou"] == pytest.approx(fold["pooled_iou"], abs=1e-6)
        scored = tmp_path / f"start{index}"
        assert (
            evaluate_cli.main(
                [
                    str(root / "start"),
                    "--dataset",
                    "kitti",
                    "--data",
                    str(data),
                    "--split",
                    "all",
                    "--only",
                    *fold["held_out"],
                    "--out",
                    str(scored),
                ]
            )
            == 0
        )
        (result,) = scored.glob("eval_*.json")
        assert at_start["pooled_iou"] == pytest.approx(json.loads(result.read_text())["pooled_iou_full"], abs=1e-6)
    assert "| 0 |" in (out / "crossval_wise_ft.md").read_text()


def test_a_run_whose_config_holds_no_recipe_is_named_not_a_traceback(start_and_run, tmp_path, capsys):
    from training.interpolate import main as interpolate_main

    root, _ = start_and_run
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "best.keras").write_bytes((root / "run" / "best.keras").read_bytes())
    (broken / "config.json").write_text('{"model": "unet"}')  # no dataset, no data
    assert interpolate_main([str(broken), "--alpha", "0.5", "--out", str(tmp_path / "x")]) == 2
    assert "config.json does not hold a recipe" in capsys.readouterr().err


def test_toward_origin_moves_back_to_the_first_model_of_a_chain_of_starts(start_and_run, tmp_path):
    """An adaptation begins from a fine-tuned model, which began from pretrained weights: ``--toward origin`` moves
    it toward those pretrained weights, two links back, not toward the model it began from. The origin here is a
    ``.keras`` without config.json (weights from elsewhere); the oracle is its weights read back with numpy."""
    import shutil
    from pathlib import Path

    from training import interpolate as interpolate_cli
    from training import train as train_cli

    root, data = start_and_run
    pretrained = tmp_path / "pretrained"
    pretrained.mkdir()
    shutil.copy(root / "start" / "best.keras", pretrained / "weights_from_elsewhere.keras")
    common = ["--dataset", "kitti", "--data", str(data), "--batch-size", "2", "--epochs", "1", "--val", "0"]
    common += ["--lr", "0.01", "--quiet", "--workers", "1"]
    first = ["--init-from", str(pretrained / "weights_from_elsewhere.keras"), "--out", str(tmp_path / "first")]
    assert train_cli.main([*common, *first]) == 0
    assert (
        train_cli.main(
            [*common, "--init-from", str(tmp_path / "first"), "--seed", "1", "--out", str(tmp_path / "second")]
        )
        == 0
    )

    origin = _weights(pretrained / "weights_from_elsewhere.keras")
    first_weights, second = _weights(tmp_path / "first" / "best.keras"), _weights(tmp_path / "second" / "best.keras")
    # each link moved, or the test cannot tell the origin from the start
    assert any(not np.allclose(o, f) for o, f in zip(origin, first_weights, strict=True))
    assert any(not np.allclose(f, s) for f, s in zip(first_weights, second, strict=True))
    named = str(pretrained / "weights_from_elsewhere.keras")  # the origin named as a file: a shipped start's way
    for toward, other in (("origin", origin), ("start", first_weights), (named, origin)):
        out = tmp_path / f"toward_{Path(toward).name}"
        args = [str(tmp_path / "second"), "--alpha", "0.25", "--toward", toward, "--out", str(out)]
        assert interpolate_cli.main(args) == 0
        for got, o, s in zip(_weights(out / "best.keras"), other, second, strict=True):
            np.testing.assert_allclose(got, 0.75 * o + 0.25 * s, rtol=1e-6, atol=1e-7)
        assert json.loads((out / "config.json").read_text())["wise_ft"]["toward"] == toward


def test_toward_a_missing_model_is_a_usage_error_naming_it(start_and_run, tmp_path, capsys):
    from training import interpolate as interpolate_cli

    root, _ = start_and_run
    args = [str(root / "run"), "--alpha", "0.5", "--toward", str(tmp_path / "nope.keras"), "--out", str(tmp_path / "o")]
    assert interpolate_cli.main(args) == 2
    assert f"toward '{tmp_path / 'nope.keras'}' is neither start nor origin nor a model file" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
