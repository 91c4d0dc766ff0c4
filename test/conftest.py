"""Shared fixtures: an isolated ROS domain, the Fast DDS profile, tiny known models, the shipped sample frames."""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))

# One DDS domain per test session, on loopback only, so parallel runs and other ROS graphs never cross.
os.environ.setdefault("ROS_DOMAIN_ID", str(random.Random(os.getpid()).randint(100, 200)))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

import training  # noqa: E402,F401 - quietens TensorFlow once, before any test imports it
from ros_road_seg.core.paths import apply_fastdds_profile  # noqa: E402

apply_fastdds_profile()

from onnx_fixtures import write_red_channel_model  # noqa: E402

SAMPLE_KITTI = ROOT / "sample_data" / "kitti"


@pytest.fixture(scope="module")
def ros_context():
    """rclpy initialised for a test module that talks to node processes over DDS."""
    import rclpy

    rclpy.init()
    yield
    rclpy.shutdown()


@pytest.fixture(scope="session")
def red_model(tmp_path_factory) -> Path:
    return write_red_channel_model(tmp_path_factory.mktemp("models") / "red.onnx")


@pytest.fixture(scope="session")
def kitti_frame():
    from ros_road_seg.core.image_files import read_rgb_file

    return read_rgb_file(SAMPLE_KITTI / "image_2" / "000000_10.png")


@pytest.fixture(scope="session")
def colcon_workspace(tmp_path_factory) -> Path:
    """A colcon workspace with a copy of this package, built once per test session (test_package and test_launch
    share it); returns the workspace root (``install/`` inside)."""
    import shutil
    import subprocess

    root = tmp_path_factory.mktemp("ws")
    shutil.copytree(
        ROOT,
        root / "src" / "ros_road_seg",
        ignore=shutil.ignore_patterns(
            ".venv", ".git", "build", "install", "log", "runs", "__pycache__", "*.egg-info", "demo_output"
        ),
    )
    colcon = shutil.which("colcon") or str(Path(sys.executable).parent / "colcon")
    build = subprocess.run([colcon, "build"], cwd=root, capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stdout + build.stderr
    return root


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A tiny U-Net trained one epoch on six synthetic KITTI frames: (data folder, run folder), shared by the
    export, quantize, evaluate, compare and fine-tuning tests."""
    from synthetic_data import TINY, make_kitti

    from training import train as train_cli

    tmp = tmp_path_factory.mktemp("tiny")
    data = make_kitti(tmp / "kitti", 6)
    out = tmp / "run"
    args = ["--dataset", "kitti", "--data", str(data), *TINY, "--batch-size", "3", "--epochs", "1", "--val", "2"]
    assert train_cli.main([*args, "--out", str(out)]) == 0
    return data, out
