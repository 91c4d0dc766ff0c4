"""colcon build on a copy of the package: share files installed, executables runnable, training not installed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_colcon_build_installs_share_files_and_executables(colcon_workspace, tmp_path):
    prefix = colcon_workspace / "install" / "ros_road_seg"
    share = prefix / "share" / "ros_road_seg"
    for relative in (
        "package.xml",
        "launch/seg.launch.py",
        "config/road_seg.yaml",
        "config/road_seg.rviz",
        "config/fastdds_shm.xml",
        "sample_data/kitti/image_2/000000_10.png",
    ):
        assert (share / relative).is_file(), relative
    for model in (ROOT / "models").glob("*.onnx"):
        assert (share / "models" / model.name).is_file(), model.name
    assert (prefix / "share" / "ament_index" / "resource_index" / "packages" / "ros_road_seg").is_file()
    executable = prefix / "lib" / "ros_road_seg" / "road_seg_node"
    assert os.access(executable, os.X_OK)
    site = next(prefix.glob("lib/python3*/site-packages"))
    assert (site / "ros_road_seg" / "node" / "node.py").is_file()
    assert not (site / "training").exists()  # the node installs without the TensorFlow half
    env = dict(os.environ, AMENT_PREFIX_PATH=str(prefix), PYTHONPATH=str(site))
    located = subprocess.run(
        [sys.executable, "-c", "from ros_road_seg.core.paths import share_directory as s; print(s())"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert located.stdout.strip() == str(share), located.stderr
    run = subprocess.run(
        [sys.executable, str(executable), "--ros-args", "-p", "model_path:=/nonexistent.onnx"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1 and "model_path '/nonexistent.onnx' does not exist" in run.stderr, run.stderr
