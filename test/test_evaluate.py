"""``training.evaluate``: the JSON and Markdown it writes."""

from __future__ import annotations

import json

from training import evaluate as evaluate_cli


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
