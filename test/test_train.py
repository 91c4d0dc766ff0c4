"""``training.train`` runs on tiny data: the loss falls, a run folder is written and resumed, NaN and Ctrl-C keep
a sound checkpoint, dataset errors are one line, mixing and fine-tuning keep what the model is."""

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
from synthetic_data import TINY, make_camvid, make_kitti

from ros_road_seg.core.segmenter import Segmenter
from ros_road_seg.tools.processes import default_interrupts
from training import train as train_cli
from training.batches import RoadBatches
from training.data import kitti_samples
from training.fitting import SafeCheckpoint
from training.models import build_model, compile_model
from training.onnx_export import export

ROOT = Path(__file__).resolve().parent.parent


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
