"""One exit-code convention for every command-line tool (README "Exit codes"): 0 ok, 1 a clear error (one line
naming what is wrong), 2 bad arguments, 130 interrupted. Interrupts are covered where each tool's Ctrl-C is tested
(train: test_training, record_overlay/bag_replay: their main()s, the node: test_launch / test_node_inputs)."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from ros_harness import run_tool

from ros_road_seg.core.errors import EXIT_ERROR, EXIT_USAGE

ROOT = Path(__file__).resolve().parent.parent


def exit_code(module: str, args: list[str]) -> int:
    """main(args) of a training CLI in this process (TensorFlow already loaded): its return or SystemExit code."""
    main = importlib.import_module(module).main
    try:
        return main(args)
    except SystemExit as stop:  # argparse
        return stop.code


@pytest.mark.parametrize(
    "module, usage_args, error_args",
    [
        ("training.train", ["--dataset", "kitti"], ["--dataset", "kitti", "--data", "MISSING", "--out", "OUT"]),
        (
            "training.crossval",
            ["--dataset", "kitti", "--data", "MISSING", "--folds", "1", "--out", "OUT"],
            ["--dataset", "kitti", "--data", "MISSING", "--out", "OUT"],
        ),
        ("training.evaluate", ["MODEL"], ["MISSING.onnx", "--dataset", "kitti", "--data", "MISSING"]),
        ("training.export", ["RUN", "--out", "OUT", "--opset", "9"], ["MISSING", "--out", "OUT/m.onnx"]),
        (
            "training.quantize",
            ["MODEL", "--out", "OUT", "--precision", "int4"],
            ["MISSING.onnx", "--out", "OUT/q.onnx", "--precision", "fp16"],
        ),
        (
            "training.interpolate",
            ["RUN", "--out", "OUT", "--alpha", "2"],
            ["MISSING", "--alpha", "0.5", "--out", "OUT"],
        ),
        (
            "training.distill",
            ["--frames", "F", "--out", "OUT"],
            ["--teacher", "MISSING.onnx", "--frames", "MISSING", "--out", "OUT"],
        ),
        (
            "training.compare",
            ["RUN", "--dataset", "kitti", "--data", "D"],
            ["MISSING.onnx", "--dataset", "kitti", "--data", "MISSING", "--out", "OUT"],
        ),
    ],
    ids=lambda v: v if isinstance(v, str) and v.startswith("training") else "",
)  # fmt: skip
def test_training_tools_exit_2_on_bad_arguments_and_1_on_a_clear_error(
    tmp_path, capsys, module, usage_args, error_args
):
    names = {"MISSING": str(tmp_path / "missing"), "MISSING.onnx": str(tmp_path / "missing.onnx")}
    names.update(OUT=str(tmp_path / "out"), **{"OUT/m.onnx": str(tmp_path / "out" / "m.onnx")})
    names.update(**{"OUT/q.onnx": str(tmp_path / "out" / "q.onnx")})

    def fill(args: list[str]) -> list[str]:
        return [names.get(a, a) for a in args]

    assert exit_code(module, fill(usage_args)) == EXIT_USAGE
    capsys.readouterr()
    assert exit_code(module, fill(error_args)) == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.strip().startswith(f"{module}: error:") and "Traceback" not in err, err


def run_module(module: str, *args: str) -> subprocess.CompletedProcess:
    """``python -m module args`` from the repository root, output captured."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )


def test_bench_fails_with_one_line_on_a_bad_model(tmp_path):
    """Before: a traceback."""
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    result = run_module("ros_road_seg.bench", "--model", str(tmp_path / "bad.onnx"), "--node-rates")
    assert result.returncode == EXIT_ERROR, result.stdout + result.stderr
    assert "bench: error:" in result.stderr and "Traceback" not in result.stderr


def test_a_recipe_is_frozen_and_refuses_nonsense_numbers(tmp_path):
    """The Recipe is built once from the command line and handed to library code; NaN or 0 never gets that far."""
    import dataclasses

    from training.recipe import Recipe

    recipe = Recipe(dataset="kitti", data=tmp_path)
    with pytest.raises(dataclasses.FrozenInstanceError):
        recipe.lr = 1.0
    for field, value in (("lr", float("nan")), ("epochs", 0), ("look_alike_weight", 0.3 - 0.3), ("repeat", 0)):
        with pytest.raises(ValueError, match=field.replace("_", "-")):
            Recipe(dataset="kitti", data=tmp_path, **{field: value})
    args = ["--dataset", "kitti", "--data", str(tmp_path), "--out", str(tmp_path / "r"), "--lr", "nan"]
    assert exit_code("training.train", args) == EXIT_USAGE


@pytest.mark.parametrize(
    "module, args",
    [
        ("training.export", ["RUN", "--out", "m.onnx", "--threshold", "nan"]),
        ("training.export", ["RUN", "--out", "m.onnx", "--threshold", "2"]),
        ("training.export", ["RUN", "--out", "m.onnx", "--input-size", "0", "0"]),
        ("training.evaluate", ["m.onnx", "--dataset", "kitti", "--data", "D", "--threshold", "nan"]),
        ("training.evaluate", ["m.onnx", "--dataset", "kitti", "--data", "D", "--threshold", "inf"]),
        ("training.evaluate", ["m.onnx", "--dataset", "kitti", "--data", "D", "--threshold", "1.5"]),
        ("training.evaluate", ["m.onnx", "--dataset", "kitti", "--data", "D", "--threshold", "-3"]),
        ("training.train", ["--dataset", "kitti", "--data", "D", "--out", "O", "--lr", "inf"]),
        ("training.evaluate", ["m.onnx", "--dataset", "folder", "--data", "D", "--road-value", "256"]),
        ("training.train", ["--dataset", "folder", "--data", "D", "--out", "O", "--road-id", "-1"]),
        ("training.quantize", ["m.onnx", "--out", "q.onnx", "--calib-count", "-1"]),
        ("ros_road_seg.tools.demo", ["--loop", "-1"]),
        ("ros_road_seg.tools.bag_replay", ["BAG", "--start-offset", "1e300"]),
        ("ros_road_seg.tools.bag_replay", ["BAG", "--clock", "1e6"]),
        ("ros_road_seg.bench", ["--node-rates", "nan"]),
    ],
    ids=lambda v: " ".join(v[-2:]) if isinstance(v, list) else v,
)  # fmt: skip
def test_nonsense_numbers_are_usage_errors_naming_the_value(capsys, module, args):
    """Before: each of these exited 0 (writing threshold nan into a model, scoring at nan, a 'nan Hz' flood, ...),
    ran forever (--clock 1e6) or gave a traceback (--start-offset 1e300, --input-size 0 0)."""
    main = importlib.import_module(module if module != "ros_road_seg.bench" else "ros_road_seg.bench.cli").main
    try:
        code = main(args)
    except SystemExit as stop:
        code = stop.code
    err = capsys.readouterr().err
    assert code == EXIT_USAGE, err
    assert args[-1] in err and "Traceback" not in err, err


@pytest.mark.parametrize("target", ["unwritable", "file_as_folder"])
def test_an_output_path_that_cannot_be_written_is_one_line(tmp_path, target):
    """Before: kitti_to_bag (and train, export, evaluate, record_overlay) gave a traceback on a bad output path."""
    frames = tmp_path / "frames"
    frames.mkdir()

    cv2.imwrite(str(frames / "000000.png"), np.zeros((8, 8, 3), np.uint8))
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    out = blocker / "bag" if target == "file_as_folder" else Path("/proc/no_such_dir/bag")
    result = run_module("ros_road_seg.tools.kitti_to_bag", str(frames), "--out", str(out))
    assert result.returncode == EXIT_ERROR, result.stdout + result.stderr
    assert result.stderr.strip().startswith("kitti_to_bag: error:") and "Traceback" not in result.stderr, result.stderr


@pytest.mark.parametrize(
    "module, args, code, words",
    [
        ("ros_road_seg.tools.bag_replay", ["BAG", "--rate", "nan"], 2, "not a finite number"),
        ("ros_road_seg.tools.bag_replay", ["BAG", "--start-offset", "inf"], 2, "not a finite number"),
        ("ros_road_seg.tools.bag_replay", ["BAG", "--loop", "-1"], 2, "must be >= 0"),
        ("ros_road_seg.tools.bag_replay", ["BAG", "--rate", "0"], 2, "must be > 0"),
        ("ros_road_seg.tools.kitti_to_bag", ["FRAMES", "--out", "OUT", "--calib", "/missing.txt"], 1, "calibration"),
        ("ros_road_seg.tools.kitti_to_bag", ["FRAMES", "--out", "FILE/bag"], 1, "is a file"),
        ("ros_road_seg.tools.kitti_to_bag", ["FRAMES", "--out", "OUT", "--rate", "-5"], 2, "must be > 0"),
        ("ros_road_seg.tools.record_overlay", ["--out", "OUT", "--index", "/missing.csv"], 1, "cannot be read"),
        ("ros_road_seg.tools.record_overlay", ["--out", "OUT", "--timeout", "nan"], 2, "not a finite number"),
    ],
    ids=["rate-nan", "offset-inf", "loop-negative", "rate-zero", "calib-missing", "out-under-file", "fps-negative",
         "index-missing", "timeout-nan"],
)  # fmt: skip
def test_tool_arguments_fail_with_one_line(tmp_path, module, args, code, words):
    """Before: tracebacks (calib, --out under a file, --index after the whole recording), a hang (--rate nan) or
    exit 0 having played nothing (--loop -1)."""
    from synthetic_data import make_kitti

    from ros_road_seg.tools.kitti_to_bag import convert

    frames = make_kitti(tmp_path / "kitti", 2)
    if "BAG" in args:
        convert(frames / "training", tmp_path / "bag", progress=False)
    (tmp_path / "file").write_text("not a folder")
    substitutions = {
        "BAG": str(tmp_path / "bag"),
        "FRAMES": str(frames / "training"),
        "OUT": str(tmp_path / "out"),
        "FILE/bag": str(tmp_path / "file" / "bag"),
    }
    result = run_tool(module, *[substitutions.get(a, a) for a in args])
    print(f"\n[{module.rsplit('.', 1)[-1]} {' '.join(args)}] exit {result.returncode}: {result.stderr.strip()[-200:]}")
    assert result.returncode == code, result.stdout + result.stderr
    assert words in result.stderr and "Traceback" not in result.stderr, result.stderr
