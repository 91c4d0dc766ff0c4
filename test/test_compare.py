"""``training.compare``: both runs and their k-fold in one report."""

from __future__ import annotations

import json

import pytest
from synthetic_data import TINY


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
