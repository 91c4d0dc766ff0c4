"""The defects an adversarial pass found in the node's pieces and tools, each pinned by a test that failed before
the fix (the note in each test says what used to happen)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from ros_road_seg.core.errors import ImageConversionError, RoadSegError
from ros_road_seg.core.ground_grid import GridSpec, GroundProjector, Intrinsics, Mounting, check_intrinsics
from ros_road_seg.core.image_limits import decode_checked

ROOT = Path(__file__).resolve().parent.parent
KITTI = Intrinsics(721.5377, 721.5377, 609.5593, 172.854, 1242, 375)
LEVEL = Mounting(height=1.65, pitch=0.0, roll=0.0, yaw=0.0, x=0.0, y=0.0)


def test_cv_bridge_parity_non_array_is_a_type_error():
    """cv_bridge test/conversions_test.py::test_numpy_types: cv2_to_imgmsg(1, "rgba8") raises TypeError
    (before: AttributeError from deep inside)."""
    from ros_road_seg.core.image_conversion import array_to_image_msg

    with pytest.raises(TypeError, match="not a numpy array"):
        array_to_image_msg(1, "rgba8")


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_a_complete_image_followed_by_trailing_bytes_is_accepted(suffix):
    """OpenCV and cv_bridge decode a complete JPEG/PNG with junk after it (before: refused as 'truncated')."""
    rgb = np.random.default_rng(0).integers(0, 255, (40, 60, 3), dtype=np.uint8)
    encoded = cv2.imencode(suffix, rgb)[1].tobytes()
    decoded = decode_checked(np.frombuffer(encoded + b"\x00junk\xff", np.uint8), cv2.IMREAD_COLOR, 10**6, 10**7)
    assert decoded.shape == (40, 60, 3)
    with pytest.raises(ImageConversionError, match="truncated"):  # a really cut file is still refused
        decode_checked(np.frombuffer(encoded[: len(encoded) // 2], np.uint8), cv2.IMREAD_COLOR, 10**6, 10**7)


@pytest.mark.parametrize("size", [(1, 40000), (2, 32767), (3, 50000)])
def test_grid_handles_any_width_the_node_accepts(size):
    """OpenCV's remap stops at 32767 pixels: a 40000x1 frame with publish_grid was an internal fault."""
    projector = GroundProjector(KITTI, LEVEL, GridSpec(resolution=0.5))
    grid = projector.project(np.full(size, 255, np.uint8))
    assert grid.shape == (GridSpec(resolution=0.5).rows, GridSpec(resolution=0.5).columns)
    assert set(np.unique(grid)) <= {-1, 0}  # an all-road mask: free where seen, unknown elsewhere, never occupied


@pytest.mark.parametrize(
    "intrinsics, field",
    [
        (Intrinsics(721.5, 721.5, 609.6, 172.9, 4294967295, 4294967295), "max_pixels"),
        (Intrinsics(1e-300, 1e-300, 609.6, 172.9, 1242, 375), "fx"),
        (Intrinsics(float("nan"), 721.5, 609.6, 172.9, 1242, 375), "not finite"),
        (Intrinsics(721.5, float("inf"), 609.6, 172.9, 1242, 375), "not finite"),
        (Intrinsics(721.5, 721.5, 1e9, 172.9, 1242, 375), "principal point"),
        (Intrinsics(721.5, 721.5, 609.6, 172.9, 0, 375), "width"),
    ],
    ids=["huge-size", "tiny-focal", "nan-fx", "inf-fy", "far-centre", "zero-width"],
)
def test_nonsense_intrinsics_are_refused_not_projected(intrinsics, field):
    """Before: width = height = 4294967295 or fx = 1e-300 gave grids 87 % / 98 % road."""
    with pytest.raises(RoadSegError, match=field):
        check_intrinsics(intrinsics, max_pixels=4096 * 4096)
    check_intrinsics(KITTI, max_pixels=4096 * 4096)  # a real camera passes


def test_segmenter_keeps_no_buffers_of_a_huge_frame(red_model):
    """One 3800x3000 frame used to leave its three full-size buffers cached (RSS 214 -> 424 MB)."""
    from ros_road_seg.core.segmenter import CACHED_BUFFER_PIXELS, Segmenter

    segmenter = Segmenter(red_model, providers="cpu")
    segmenter.segment(np.zeros((375, 1242, 3), np.uint8))
    huge = np.zeros((3000, 3800, 3), np.uint8)
    assert huge.shape[0] * huge.shape[1] > CACHED_BUFFER_PIXELS
    result = segmenter.segment(huge)
    assert result.mask.shape == (3000, 3800)
    assert set(segmenter._frame_buffers) == {(375, 1242)}
    assert segmenter.segment(huge, render_overlay=False).overlay is None
    assert set(segmenter.last_timings) == {"preprocess", "inference", "postprocess"}


def test_gpu_providers_pick_the_fp16_sibling_and_cache_tensorrt_engines(tmp_path, red_model):
    """With CUDA/TensorRT an INT8 model's FP16 sibling (named in its metadata) runs; TensorRT caches its engine."""
    import shutil

    import onnx

    from ros_road_seg.core.model import FP16_SIBLING_KEY, model_for_providers, provider_options

    int8, fp16 = tmp_path / "m_int8.onnx", tmp_path / "m_fp16.onnx"
    model = onnx.load(str(red_model))
    entry = model.metadata_props.add()
    entry.key, entry.value = FP16_SIBLING_KEY, fp16.name
    onnx.save(model, str(int8))
    cuda = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert model_for_providers(int8, cuda) == int8  # the sibling is not there: the file as given
    shutil.copy(red_model, fp16)
    assert model_for_providers(int8, cuda) == fp16
    assert model_for_providers(int8, ["TensorrtExecutionProvider", *cuda]) == fp16
    assert model_for_providers(int8, ["CPUExecutionProvider"]) == int8  # CPU runs INT8 best
    options = provider_options(["TensorrtExecutionProvider", *cuda], tmp_path / "trt")
    name, trt = options[0]
    print(f"\n[gpu] TensorRT options: {trt}")
    assert name == "TensorrtExecutionProvider" and trt["trt_engine_cache_enable"] == "True"
    assert trt["trt_engine_cache_path"] == str(tmp_path / "trt") and trt["trt_fp16_enable"] == "True"
    assert options[1:] == cuda
    shipped = ROOT / "models" / "road_seg_default.onnx"
    chosen = model_for_providers(shipped.resolve(), cuda)
    print(f"[gpu] default model on CUDA: {chosen.name} (CPU: {shipped.resolve().name})")
    assert chosen != shipped.resolve() and "fp16" in chosen.name


def run_tool(module: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    import os

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT
    )


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
