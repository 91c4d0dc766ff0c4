"""The ROS-free core: preprocessing, thresholding, overlay formula, providers and model loading errors."""

from __future__ import annotations

import cv2
import numpy as np
import onnxruntime as ort
import pytest
from onnx_fixtures import approximate_red_mask, block_frame, write_red_channel_model
from PIL import Image as PILImage

from ros_road_seg.core.errors import ModelLoadError, ProviderUnavailableError, RoadSegError
from ros_road_seg.core.model import resolve_providers
from ros_road_seg.core.scoring import road_iou
from ros_road_seg.core.segmenter import Segmenter, blend_overlay, preprocess

HAS_CUDA = "CUDAExecutionProvider" in ort.get_available_providers()


def random_frame(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_preprocess_is_float_unit_range_nhwc():
    frame = random_frame(375, 1242)
    model_input = preprocess(frame, (224, 224))
    assert model_input.shape == (1, 224, 224, 3) and model_input.dtype == np.float32
    assert 0.0 <= model_input.min() and model_input.max() <= 1.0
    same_size = preprocess(frame[:224, :224], (224, 224))
    np.testing.assert_allclose(same_size[0], frame[:224, :224] / 255.0, atol=1e-6)


def test_preprocess_rejects_non_rgb():
    with pytest.raises(RoadSegError, match="RGB uint8"):
        preprocess(np.zeros((10, 10), np.uint8), (8, 8))


@pytest.mark.parametrize("alpha,color", [(0.5, (255, 255, 255)), (0.3, (255, 0, 0)), (1.0, (0, 128, 255))])
def test_overlay_is_the_blend_formula(alpha, color):
    frame = random_frame(40, 60, seed=1)
    mask = np.where(random_frame(40, 60, seed=2)[:, :, 0] > 127, 255, 0).astype(np.uint8)
    overlay = blend_overlay(frame, mask, alpha, color)
    layer = np.zeros_like(frame, dtype=np.float64)
    layer[mask > 0] = color
    expected = (1 - alpha) * frame + alpha * layer
    assert np.abs(overlay.astype(np.float64) - expected).max() <= 1.0


def test_overlay_reproduces_course_image_blend():
    frame = random_frame(30, 50, seed=3)
    mask = np.zeros((30, 50), np.uint8)
    mask[10:, :25] = 255
    course = np.asarray(PILImage.blend(PILImage.fromarray(frame), PILImage.fromarray(mask).convert("RGB"), 0.5))
    ours = blend_overlay(frame, mask, 0.5, (255, 255, 255))
    assert np.abs(ours.astype(int) - course.astype(int)).max() <= 1


@pytest.mark.parametrize("scale", [1, 2, 3, 10])
def test_segment_known_model_exact_mask(red_model, scale):
    segmenter = Segmenter(red_model, providers="cpu")
    frame, expected = block_frame(32, 48, scale, seed=scale)
    result = segmenter.segment(frame)
    assert result.mask.shape == expected.shape and result.mask.dtype == np.uint8
    np.testing.assert_array_equal(result.mask, expected)


@pytest.mark.parametrize("size", [(375, 1242), (370, 1224), (480, 640), (1, 1), (3, 1000)])
def test_segment_known_model_any_size(red_model, size):
    segmenter = Segmenter(red_model, providers="cpu")
    coarse = np.random.default_rng(size[0]).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    frame = cv2.resize(coarse, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)  # smooth: few pixels near 0.5
    result = segmenter.segment(frame)
    assert result.mask.shape == size and result.mask.dtype == np.uint8
    assert result.overlay.shape == (*size, 3)
    assert set(np.unique(result.mask)) <= {0, 255}
    agreement = (result.mask == approximate_red_mask(frame, 32, 48, 0.5)).mean()
    assert agreement >= (0.99 if min(size) > 3 else 0.66), agreement


def test_segment_mask_follows_threshold(red_model):
    frame = np.zeros((64, 96, 3), np.uint8)
    frame[:, :48, 0] = 200  # red ~0.78 on the left half, 0 on the right
    low = Segmenter(red_model, providers="cpu", threshold=0.5).segment(frame).mask.copy()
    high = Segmenter(red_model, providers="cpu", threshold=0.9).segment(frame).mask
    assert low[:, :40].min() == 255 and low[:, 56:].max() == 0
    assert high.max() == 0


def test_threshold_comes_from_metadata(tmp_path):
    path = write_red_channel_model(tmp_path / "m.onnx", threshold=0.7)
    segmenter = Segmenter(path, providers="cpu")
    assert segmenter.threshold == pytest.approx(0.7)
    assert segmenter.input_size == (32, 48)


def test_auto_reports_what_really_runs(red_model):
    segmenter = Segmenter(red_model, providers="auto")
    assert segmenter.provider == segmenter.session.get_providers()[0]
    if not HAS_CUDA:
        assert segmenter.provider == "CPUExecutionProvider"


@pytest.mark.skipif(HAS_CUDA, reason="this onnxruntime has CUDA: the missing-CUDA error cannot happen")
def test_cuda_requested_without_cuda_is_a_clear_error(red_model):
    with pytest.raises(ProviderUnavailableError, match="cuda"):
        Segmenter(red_model, providers="cuda")


def test_unknown_provider_rejected():
    with pytest.raises(ProviderUnavailableError, match="'gpu' is not one of"):
        resolve_providers("gpu")


def test_model_errors_name_the_file(tmp_path, red_model):
    with pytest.raises(ModelLoadError, match="does not exist"):
        Segmenter(tmp_path / "missing.onnx")
    not_onnx = tmp_path / "notes.onnx"
    not_onnx.write_text("this is not a model")
    with pytest.raises(ModelLoadError, match="notes.onnx"):
        Segmenter(not_onnx)
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(red_model.read_bytes()[:60])
    with pytest.raises(ModelLoadError, match="truncated.onnx"):
        Segmenter(truncated)


def test_model_with_wrong_input_shape_rejected(tmp_path):
    with pytest.raises(ModelLoadError, match="channels"):
        Segmenter(write_red_channel_model(tmp_path / "c1.onnx", channels=1))
    with pytest.raises(ModelLoadError, match="rank 3"):
        Segmenter(write_red_channel_model(tmp_path / "r3.onnx", rank=3))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"threshold": 1.5}, "threshold"),
        ({"overlay_alpha": -1}, "overlay_alpha"),
        ({"overlay_color": (0, 0, 300)}, "overlay_color"),
    ],
)
def test_out_of_range_settings_rejected(red_model, kwargs, match):
    with pytest.raises(ValueError, match=match):
        Segmenter(red_model, providers="cpu", **kwargs)


def test_road_iou_hand_written_masks():
    label = np.array([[1, 1, 0], [1, 0, 0], [0, 0, 0]])
    prediction = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 0]])
    assert road_iou(prediction, label) == pytest.approx(2 / 4)
    assert road_iou(label, label) == 1.0
    assert road_iou(np.zeros((3, 3)), np.zeros((3, 3))) == 1.0  # nothing to find, nothing found
    assert road_iou(np.zeros((3, 3)), label) == 0.0
    assert road_iou(label, np.zeros((3, 3))) == 0.0
    valid = np.ones((3, 3))
    valid[1, 1] = 0  # the false positive sits on an ignore pixel
    assert road_iou(prediction, label, valid) == pytest.approx(2 / 3)


def test_io_binding_path_gives_the_same_mask(red_model):
    frame = random_frame(375, 1242, seed=9)
    plain = Segmenter(red_model, providers="cpu", io_binding=False).segment(frame).mask.copy()
    bound = Segmenter(red_model, providers="cpu", io_binding=True).segment(frame).mask
    np.testing.assert_array_equal(plain, bound)


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
