"""``training.export``: parity with Keras, metadata, the node's core loads the file; a parity failure is refused;
deep-supervised and pruned UNet++ heads; upsampling exported as Resize."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from synthetic_data import TINY, make_kitti

from ros_road_seg.core.segmenter import Segmenter
from training import evaluation
from training import train as train_cli
from training.data import kitti_samples
from training.onnx_export import ExportError, check_parity, export


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
