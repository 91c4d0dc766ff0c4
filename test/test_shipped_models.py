"""Every shipped model loads through the node's core, carries its metadata, and still finds the road.

The IoU floors are regression guards set a few points under the figures measured when the models were made
(models/README.md), not tuned targets.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ros_road_seg.core.image_files import read_rgb_file
from ros_road_seg.core.labels import read_label, road_masks
from ros_road_seg.core.scoring import road_iou
from ros_road_seg.core.segmenter import Segmenter

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
SAMPLE = ROOT / "sample_data" / "kitti"
# model file -> floor for its mean road IoU on the 5 shipped KITTI frames, which no shipped model trained on
# (measured value minus ~3 points)
KITTI_IOU_FLOORS = {
    "unet16_kitti.onnx": 0.75,  # measured 0.7836
    "unet16_kitti_int8.onnx": 0.75,  # measured 0.7794 (the small option)
    "unet16_kitti_fp16.onnx": 0.75,  # measured 0.7837
    "intel_road_192x608.onnx": 0.83,  # measured 0.8601 (the off-the-shelf comparison row, zero-shot)
    "intel_road_384x1216.onnx": 0.85,  # measured 0.8812 (the same at 384x1216: training.adapt's second teacher)
    "intel_road_kitti.onnx": 0.86,  # measured 0.8990 (the fine-tuned teacher, comparison row)
    "intel_unet_kitti.onnx": 0.86,  # measured 0.8949 (192x608 FP32)
    "intel_unet_kitti_int8.onnx": 0.86,  # measured 0.8936
    "intel_unet_kitti_fp16.onnx": 0.86,  # measured 0.8949
    "intel_unet_kitti_160x512.onnx": 0.87,  # measured 0.8987
    "intel_unet_kitti_160x512_int8.onnx": 0.87,  # measured 0.9087 (the previous default)
    "intel_unet_keep_strong_160x512.onnx": 0.85,  # measured 0.8830 (keep_strong, FP32)
    "intel_unet_keep_strong_160x512_int8.onnx": 0.85,  # measured 0.8821 (the default)
    "intel_unet_keep_strong_160x512_fp16.onnx": 0.85,  # measured 0.8830
    "intel_unet_kitti_160x512_fp16.onnx": 0.87,  # measured 0.8988
    "intel_unet_keep_strong_224x224_tiles.onnx": 0.81,  # measured 0.8466 (the 224x224 option: tiles, FP32)
    "intel_unet_keep_strong_224x224_tiles_int8.onnx": 0.82,  # measured 0.8544
    "intel_unet_keep_strong_224x224_tiles_fp16.onnx": 0.81,  # measured 0.8464
    "intel_road_keep_wiseft_192x608.onnx": 0.86,  # measured 0.8945 (the default: WiSE-FT, alpha 0.75, FP32)
    "intel_road_keep_wiseft_192x608_int8.onnx": 0.86,  # measured 0.8927
    "intel_road_keep_wiseft_192x608_fp16.onnx": 0.86,  # measured 0.8944
}
REQUIRED_METADATA = (
    "input_height",
    "input_width",
    "threshold",
    "normalisation",
    "architecture",
    "base_filters",
    "dataset",
    "params",
    "gmacs",
    "parity_max_abs_diff",
)


def shipped_models() -> list[Path]:
    return sorted(p for p in MODELS.glob("*.onnx") if not p.is_symlink())


def test_every_shipped_model_has_a_floor_and_the_default_exists():
    assert {p.name for p in shipped_models()} == set(KITTI_IOU_FLOORS)
    default = MODELS / "road_seg_default.onnx"
    assert default.resolve().name in KITTI_IOU_FLOORS


@pytest.mark.parametrize("name", sorted(KITTI_IOU_FLOORS))
def test_shipped_model_metadata_and_kitti_iou(name):
    segmenter = Segmenter(MODELS / name, providers="cpu")
    metadata = {k.removeprefix("road_seg."): v for k, v in segmenter.info.metadata.items()}
    for key in REQUIRED_METADATA:
        assert metadata.get(key), f"{name}: metadata '{key}' missing"
    assert (int(metadata["input_height"]), int(metadata["input_width"])) == segmenter.input_size
    assert float(metadata["parity_max_abs_diff"]) <= 1e-4
    ious = []
    for image_path in sorted((SAMPLE / "image_2").glob("*.png")):
        road, valid = road_masks(read_label(SAMPLE / "semantic" / image_path.name), "kitti")
        mask = segmenter.segment(read_rgb_file(image_path)).mask
        ious.append(road_iou(mask, road, valid))
    assert len(ious) == 5
    assert np.mean(ious) >= KITTI_IOU_FLOORS[name], f"{name}: mean KITTI IoU {np.mean(ious):.4f}"


@pytest.mark.parametrize("name", sorted(KITTI_IOU_FLOORS))
def test_shipped_models_never_trained_on_the_sample_frames(name):
    """The demo's and these tests' IoU is a held-out figure: each model says which frames it never trained on."""
    metadata = Segmenter(MODELS / name, providers="cpu", warmup=False).info.metadata
    never = set(metadata.get("road_seg.never_trained_on", "").split())
    sample = {p.stem for p in (SAMPLE / "image_2").glob("*.png")}
    if never == {"all"}:  # a zero-shot model: it trained on no frame of this project
        assert not metadata.get("road_seg.trained_on_names"), f"{name} says 'all' but lists frames it trained on"
        return
    assert sample and sample <= never, f"{name} may have trained on {sorted(sample - never)}"


# every shipped .keras beside the ONNX file exported from it (same input size): the training side can still load
# and fine-tune what ships, and its graph is the one the node serves
KERAS_TWINS = {
    "unet16_kitti.keras": "unet16_kitti.onnx",
    "intel_unet_kitti.keras": "intel_unet_kitti.onnx",
    "intel_unet_keep_strong_160x512.keras": "intel_unet_keep_strong_160x512.onnx",
    "intel_unet_keep_strong_224x224_tiles.keras": "intel_unet_keep_strong_224x224_tiles.onnx",
    "intel_road_keep_wiseft_192x608.keras": "intel_road_keep_wiseft_192x608.onnx",
    "intel_road_192x608.keras": "intel_road_192x608.onnx",  # what training.adapt moves back toward (--toward)
    "unet16_camvid.keras": None,  # the KITTI stage's starting point; shipped as .keras only
}


def test_every_shipped_keras_file_is_listed():
    assert sorted(p.name for p in MODELS.glob("*.keras")) == sorted(KERAS_TWINS)


@pytest.mark.parametrize("name", sorted(KERAS_TWINS))
def test_every_shipped_keras_model_loads_and_matches_its_onnx_export(name):
    pytest.importorskip("keras")
    import onnxruntime as ort

    from training.models import ARCHITECTURES, describe_model, load_keras_model

    model = load_keras_model(MODELS / name)
    assert describe_model(model)["model"] in ARCHITECTURES
    twin = KERAS_TWINS[name]
    if twin is None:
        return
    session = ort.InferenceSession(str(MODELS / twin), providers=["CPUExecutionProvider"])
    height, width = model.input.shape[1:3]
    frame = np.random.default_rng(7).random((1, height, width, 3), dtype=np.float32)
    (onnx_input,) = session.get_inputs()
    feed = frame if onnx_input.shape[-1] == 3 else frame.transpose(0, 3, 1, 2)
    got = np.asarray(session.run(None, {onnx_input.name: feed})[0]).reshape(height, width)
    want = np.asarray(model(frame)).reshape(height, width)
    assert np.abs(got - want).max() <= 1e-3


# shipped model -> the recipe file that made it (scripts/make_models.sh trains each from its file)
RECIPES = {
    "intel_unet_keep_strong_160x512_int8.onnx": "keep_strong.yaml",
    "intel_unet_keep_strong_224x224_tiles_int8.onnx": "keep_strong_224tiles.yaml",
    "intel_road_keep_wiseft_192x608.onnx": "keep_wiseft_intel_road.yaml",
}


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_a_shipped_model_says_what_its_recipe_file_says(name):
    """What the export recorded (road_seg.* from the run's config.json) agrees field by field with the recipe file
    the model is said to come from: the file, not prose, is the recipe."""
    import yaml

    recipe = yaml.safe_load((ROOT / "training" / "recipes" / RECIPES[name]).read_text())
    metadata = {
        k.removeprefix("road_seg."): v
        for k, v in Segmenter(MODELS / name, providers="cpu", warmup=False).info.metadata.items()
    }
    assert metadata["architecture"] == recipe["model"]
    assert metadata["epochs"] == str(recipe["epochs"]) and metadata["augment"] == recipe["augment"]
    assert [int(metadata["input_height"]), int(metadata["input_width"])] == recipe["input_size"]
    pools = [f"{source.split(':')[0]}:{Path(source.split(':')[1]).name}" for source in recipe.get("mix", [])]
    assert metadata["dataset"] == "+".join([recipe["dataset"], *pools])
    assert metadata.get("tiling", "none") == ("aspect" if recipe.get("tiles") else "none")
