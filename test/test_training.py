"""Training, evaluation and export on tiny models and synthetic frames (CPU, seconds)."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import onnx
import pytest
from synthetic_data import make_camvid, make_kitti

from ros_road_seg.core.segmenter import Segmenter
from ros_road_seg.tools.processes import default_interrupts
from training import evaluate as evaluate_cli
from training import evaluation
from training import train as train_cli
from training.batches import RoadBatches
from training.data import kitti_samples
from training.export import ExportError, check_parity, export
from training.fitting import SafeCheckpoint
from training.losses import RoadIoU, bce_dice, masked_bce
from training.models import build_model, compile_model

ROOT = Path(__file__).resolve().parent.parent
TINY = "--base-filters 4 --depth 2 --input-size 32 32 --quiet --workers 1".split()  # seconds per epoch on a CPU


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


def test_one_epoch_lowers_the_loss(tmp_path):
    keras.utils.set_random_seed(0)
    samples = kitti_samples(make_kitti(tmp_path / "k", 8))
    batches = RoadBatches(samples, (32, 32), batch_size=4, augmentation="flip", shuffle=True)
    model = build_model("unet", (32, 32, 3), base_filters=4, depth=2)
    compile_model(model, "bce_dice", 3e-3, 1)
    before = model.evaluate(batches, verbose=0, return_dict=True)["loss"]
    model.fit(batches, epochs=1, verbose=0)
    after = model.evaluate(batches, verbose=0, return_dict=True)["loss"]
    assert after < before


def test_train_cli_writes_a_run_and_resumes(tmp_path):
    data = make_camvid(tmp_path / "camvid", train=6, val=3)
    out = tmp_path / "run"
    common = [
        "--dataset",
        "camvid",
        "--data",
        str(data),
        "--model",
        "unetpp",
        "--deep-supervision",
        *TINY,
        "--batch-size",
        "4",
        "--out",
        str(out),
    ]
    assert train_cli.main(common + ["--epochs", "1"]) == 0
    for name in ("best.keras", "last.keras", "history.csv", "config.json", "curves.png", "state.json"):
        assert (out / name).is_file(), name
    assert train_cli.main(common + ["--epochs", "2", "--resume"]) == 0
    assert json.loads((out / "state.json").read_text())["epochs_done"] == 2
    assert len((out / "history.csv").read_text().strip().splitlines()) == 3  # header + 2 epochs


def test_nan_loss_writes_no_checkpoint(tmp_path):
    model = build_model("unet", (32, 32, 3), base_filters=2, depth=1)
    checkpoint = SafeCheckpoint(tmp_path, "val_road_iou")
    checkpoint.set_model(model)
    checkpoint.on_epoch_end(0, {"loss": math.nan, "val_road_iou": 0.9})
    assert checkpoint.nan_epoch == 1 and model.stop_training
    assert not any(tmp_path.iterdir())
    checkpoint.on_epoch_end(1, {"loss": 0.3, "val_road_iou": 0.5})
    assert (tmp_path / "best.keras").is_file() and (tmp_path / "last.keras").is_file()


def test_train_cli_reports_dataset_errors(tmp_path, capsys):
    code = train_cli.main(["--dataset", "kitti", "--data", str(tmp_path), "--out", str(tmp_path / "r")])
    assert code == 1  # a clear error; 2 is for bad arguments (README: exit codes)
    assert "not a KITTI semantics folder" in capsys.readouterr().err


def test_sigint_keeps_the_last_checkpoint(tmp_path):
    data = make_camvid(tmp_path / "camvid", train=8, val=2)
    out = tmp_path / "run"
    args = [
        sys.executable,
        "-m",
        "training.train",
        "--dataset",
        "camvid",
        "--data",
        str(data),
        *TINY,
        "--batch-size",
        "2",
        "--epochs",
        "500",
        "--out",
        str(out),
    ]
    process = subprocess.Popen(
        args,
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_interrupts,
    )
    deadline = time.monotonic() + 120
    while not (out / "last.keras").is_file() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "continue with --resume" in err
    keras.saving.load_model(out / "last.keras", compile=False)  # loadable, not half-written


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tiny")
    data = make_kitti(tmp / "kitti", 6)
    out = tmp / "run"
    args = [
        "--dataset",
        "kitti",
        "--data",
        str(data),
        *TINY,
        "--batch-size",
        "3",
        "--epochs",
        "1",
        "--val",
        "2",
        "--out",
        str(out),
    ]
    assert train_cli.main(args) == 0
    return data, out


def test_export_parity_metadata_and_core_loading(tiny_run, tmp_path):
    data, run = tiny_run
    path = tmp_path / "tiny.onnx"
    metadata = export(run, path)
    assert float(metadata["road_seg.parity_max_abs_diff"]) <= 1e-4
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    for key in (
        "input_height",
        "input_width",
        "threshold",
        "architecture",
        "base_filters",
        "dataset",
        "normalisation",
        "val_iou_model_size",
    ):
        assert f"road_seg.{key}" in props, key
    segmenter = Segmenter(path, providers="cpu")
    assert segmenter.input_size == (32, 32) and segmenter.info.metadata["road_seg.dataset"] == "kitti"
    # The .keras and the .onnx give the same IoU through the one evaluation path.
    samples = kitti_samples(data)
    keras_fn, size, _ = evaluation.load_probability_fn(run)
    onnx_fn, _, _ = evaluation.load_probability_fn(path)
    keras_result = evaluation.evaluate(keras_fn, size, samples)
    onnx_result = evaluation.evaluate(onnx_fn, size, samples)
    assert keras_result["mean_iou_full"] == pytest.approx(onnx_result["mean_iou_full"], abs=1e-3)
    assert 0.0 <= onnx_result["mean_ceiling"] <= 1.0 and onnx_result["frames"] == 6


def test_export_refuses_a_parity_failure(tiny_run, tmp_path):
    _, run = tiny_run
    path = tmp_path / "bad.onnx"
    with pytest.raises(ExportError, match="parity check failed"):
        export(run, path, tolerance=-1.0)  # no export can meet a negative tolerance
    assert not path.exists() and not list(tmp_path.glob("tmp*"))


def test_check_parity_detects_a_different_model(tiny_run, tmp_path):
    _, run = tiny_run
    path = tmp_path / "ok.onnx"
    export(run, path)
    inputs = np.random.default_rng(0).random((1, 32, 32, 3), dtype=np.float32)
    with pytest.raises(ExportError, match="max \\|Keras - ONNX Runtime\\|"):
        check_parity(lambda x: np.asarray(x[..., :1]) * 0.5, path, inputs)


def test_evaluate_cli_writes_json_and_markdown(tiny_run, tmp_path):
    data, run = tiny_run
    assert (
        evaluate_cli.main(
            [str(run), "--dataset", "kitti", "--data", str(data), "--split", "all", "--out", str(tmp_path)]
        )
        == 0
    )
    result = json.loads((tmp_path / "eval_kitti_all.json").read_text())
    assert len(result["per_image"]) == 6
    assert (tmp_path / "eval_kitti_all.md").read_text().startswith("###")


def test_bce_dice_is_sum():
    y_true = target([[1, 0], [0, 1]])
    y_pred = np.array([[0.8, 0.3], [0.1, 0.6]], np.float32)[None, :, :, None]
    from training.losses import masked_dice

    assert float(bce_dice(y_true, y_pred)[0]) == pytest.approx(
        float(masked_bce(y_true, y_pred)[0]) + float(masked_dice(y_true, y_pred)[0]), rel=1e-6
    )


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


def test_mixed_training_run_end_to_end(tmp_path):
    """A tiny KITTI + CamVid run with --exclude and no validation: the excluded frames are nowhere, the last epoch
    is the model, and the model it writes exports and runs through the node's core."""
    kitti = make_kitti(tmp_path / "k", 6)
    camvid = make_camvid(tmp_path / "c", train=4, val=1)
    out = tmp_path / "run"
    args = ["--dataset", "kitti", "--data", str(kitti), "--mix", f"camvid:{camvid}:0.4", "--repeat", "2"]
    args += ["--exclude", "00000[0-1]_10", "--val", "0", "--augment", "strong", *TINY, "--epochs", "2"]
    assert train_cli.main(args + ["--batch-size", "4", "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["excluded_names"] == ["000000_10", "000001_10"]
    assert config["train_names"] == [f"{i:06d}_10" for i in range(2, 6)] and config["mix_frames"] == {"camvid": 4}
    assert config["selection"].startswith("last epoch")
    best, last = (keras.saving.load_model(out / f, compile=False) for f in ("best.keras", "last.keras"))
    for best_weights, last_weights in zip(best.get_weights(), last.get_weights(), strict=True):
        np.testing.assert_array_equal(best_weights, last_weights)  # not the bytes: the file records its save time
    export(out, tmp_path / "mixed.onnx")
    mask = Segmenter(tmp_path / "mixed.onnx", providers="cpu").segment(np.zeros((48, 64, 3), np.uint8)).mask
    assert mask.shape == (48, 64)


def test_fine_tune_at_another_input_size_keeps_the_weights(tiny_run, tmp_path):
    """--init-from with another --input-size: same layers, same weights, new input shape (fully convolutional)."""
    from training.models import load_keras_model, with_input_size

    _, run = tiny_run
    source = load_keras_model(run)
    wide = with_input_size(source, (32, 64))
    assert tuple(wide.input.shape[1:3]) == (32, 64)
    for a, b in zip(source.get_weights(), wide.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert wide.count_params() == source.count_params()
    assert [layer.name for layer in wide.layers] == [layer.name for layer in source.layers]


@pytest.mark.parametrize("precision", ["int8", "fp16"])
def test_quantized_models_load_and_agree(tiny_run, tmp_path, precision):
    from training.quantize import convert_fp16, quantize_int8

    data, run = tiny_run
    float_path = tmp_path / "float.onnx"
    export(run, float_path)
    out = tmp_path / f"{precision}.onnx"
    if precision == "int8":
        metadata = quantize_int8(float_path, data / "training" / "image_2", out, count=4)
    else:
        metadata = convert_fp16(float_path, out)
    assert metadata["road_seg.precision"].startswith(precision)
    reduced = Segmenter(out, providers="cpu")
    assert reduced.info.metadata["road_seg.dataset"] == "kitti"
    reference = Segmenter(float_path, providers="cpu")
    frame = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    difference = np.abs(reduced.probability(frame) - reference.probability(frame)).max()
    assert difference < 0.1, f"{precision} model drifts {difference:.3f} from float32"


def test_export_deep_supervised_and_pruned_unetpp(tmp_path):
    data = make_kitti(tmp_path / "k", 4)
    run = tmp_path / "ds"
    args = ["--dataset", "kitti", "--data", str(data), "--model", "unetpp", "--deep-supervision", *TINY]
    assert train_cli.main(args + ["--batch-size", "2", "--epochs", "1", "--val", "1", "--out", str(run)]) == 0
    full = export(run, tmp_path / "full.onnx")
    pruned = export(run, tmp_path / "l1.onnx", prune_level=1)
    assert pruned["road_seg.prune_level"] == "L1" and full["road_seg.prune_level"] == ""
    assert float(pruned["road_seg.gmacs"]) < float(full["road_seg.gmacs"])
    assert Segmenter(tmp_path / "l1.onnx", providers="cpu").input_size == (32, 32)


def test_fine_tune_keeps_the_source_architecture(tiny_run, tmp_path):
    """--init-from: the new run records what the model is (width, depth) read from the model, not CLI defaults,
    also when the source is a bare .keras file with no run folder around it (the README's fine-tuning route)."""
    data, run = tiny_run
    source = json.loads((run / "config.json").read_text())
    assert (source["model"], source["base_filters"], source["depth"]) == ("unet", 4, 2)  # TINY's arguments
    bare = tmp_path / "bare" / "weights.keras"
    bare.parent.mkdir()
    shutil.copy(run / "best.keras", bare)
    for index, init_from in enumerate((run, bare)):
        out = tmp_path / f"tuned{index}"
        args = ["--dataset", "kitti", "--data", str(data), "--init-from", str(init_from), "--freeze-batchnorm"]
        args += ["--epochs", "1", "--batch-size", "3", "--val", "2", "--quiet", "--workers", "1", "--out", str(out)]
        assert train_cli.main(args) == 0
        config = json.loads((out / "config.json").read_text())
        for key in ("model", "base_filters", "depth", "deep_supervision", "no_batch_norm"):
            assert config[key] == source[key], (init_from, key, config[key], source[key])
        assert config["input_size"] == source["input_size"]
        tuned = keras.saving.load_model(out / "best.keras", compile=False)
        assert tuned.count_params() == source["params"]


def test_export_upsampling_as_resize_keeps_the_outputs(tiny_run, tmp_path):
    """--upsample resize swaps the Tile chains for one Resize per upsampling, and the outputs do not change."""
    _, run = tiny_run
    paths = {mode: tmp_path / f"{mode}.onnx" for mode in ("repeat", "resize")}
    for mode, path in paths.items():
        metadata = export(run, path, upsample=mode)
        assert float(metadata["road_seg.parity_max_abs_diff"]) <= 1e-4
    ops = {mode: {node.op_type for node in onnx.load(str(path)).graph.node} for mode, path in paths.items()}
    assert "Tile" in ops["repeat"] and "Resize" not in ops["repeat"], ops["repeat"]
    assert "Resize" in ops["resize"] and "Tile" not in ops["resize"], ops["resize"]
    inputs = np.random.default_rng(1).random((1, 32, 32, 3), dtype=np.float32)
    outputs = [Segmenter(path, providers="cpu").session.run(None, {"image": inputs})[0] for path in paths.values()]
    np.testing.assert_allclose(outputs[0], outputs[1], atol=1e-5)
    with pytest.raises(ValueError, match="upsample"):
        export(run, tmp_path / "x.onnx", upsample="bilinear")


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


def test_compare_reports_both_runs_and_their_kfold(tiny_run, tmp_path):
    """training.compare: each run's ONNX export scored on the same frames, its core latency, the grid image, and
    (--crossval) each recipe's k-fold figures copied from its crossval.json."""
    from training import compare as compare_cli
    from training import crossval as crossval_cli

    data, run = tiny_run
    cv = tmp_path / "cv"
    args = ["--dataset", "kitti", "--data", str(data), "--folds", "2", *TINY, "--epochs", "1", "--out", str(cv)]
    assert crossval_cli.main(args) == 0
    out = tmp_path / "docs"
    code = compare_cli.main(
        [str(run), str(run), "--dataset", "kitti", "--data", str(data), "--split", "all", "--grid", "2"]
        + ["--out", str(out), "--crossval", str(cv), str(cv), "--name", "compare_tiny"]
    )
    assert code == 0
    report = json.loads((out / "compare_tiny.json").read_text())
    kfold = json.loads((cv / "crossval.json").read_text())["summary"]["mean_of_fold_pooled_iou"]
    assert len(report["runs"]) == 2 and report["frames"] == 6
    for row in report["runs"]:
        assert row["crossval"]["mean"] == pytest.approx(kfold) and row["cpu_ms_per_frame"] > 0
        assert 0.0 <= row["pooled_iou_full"] <= 1.0
    text = (out / "compare_tiny.md").read_text()
    assert "mean ± sd over folds" in text and (out / "compare_tiny.png").is_file()
    common = ["--dataset", "kitti", "--data", str(data), "--out", str(tmp_path / "elsewhere")]
    assert compare_cli.main([str(run), *common, "--crossval", str(cv), str(cv)]) == 2  # bad arguments
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    assert compare_cli.main([str(tmp_path / "bad.onnx"), *common]) == 1  # a clear error, one line
    assert not (tmp_path / "elsewhere").exists() or not any((tmp_path / "elsewhere").iterdir())
