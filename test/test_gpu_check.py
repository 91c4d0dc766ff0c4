"""scripts/gpu_check.sh and ros_road_seg.bench.gpu_check: without a GPU one line and exit 0; the report's format
exercised on the CPU provider (the same code path a GPU run takes, masks compared with the CPU's)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this machine may have a GPU")
def test_without_a_gpu_the_script_says_so_in_one_line():
    result = subprocess.run(["bash", "scripts/gpu_check.sh"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines() == [
        "gpu_check: no NVIDIA GPU on this machine (nvidia-smi lists none); nothing to check"
    ]


def test_the_report_format_on_the_cpu_provider(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "ros_road_seg.bench.gpu_check", "--providers", "cpu", "--iterations", "5"]
        + ["--node-seconds", "0", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("gpu_check ")]
    assert len(lines) == 2  # the default INT8 model and its FP16 sibling
    assert all("provider=CPUExecutionProvider" in line and "ok=True" in line for line in lines), lines
    rows = json.loads((tmp_path / "gpu_check.json").read_text())
    assert all(row["min_mask_iou_vs_cpu"] == 1.0 for row in rows)  # the same provider: the same masks
