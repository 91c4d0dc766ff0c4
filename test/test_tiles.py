"""Tiles of the aspect-kept frame for square-input models (core/tiles.py, the segmenter's tiled path, the training
batches' tiles, an export that says it is tiled): geometry by hand, stitching by hand, and a red-channel model whose
tiled output must give back the resized frame itself."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from onnx_fixtures import write_red_channel_model

from ros_road_seg.core.errors import ModelLoadError
from ros_road_seg.core.segmenter import Segmenter
from ros_road_seg.core.tiles import stitch, tile_layout


def test_a_kitti_frame_becomes_four_overlapping_224_tiles():
    # 1242x375 scaled by 224/375: 741.9 -> 742 wide; ceil(742/224) = 4 tiles, starts (742-224)/3 = 172.67 apart
    layout = tile_layout((375, 1242), (224, 224))
    assert layout.resized == (224, 742)
    assert layout.starts == ((0, 0), (0, 173), (0, 345), (0, 518))
    # a portrait frame is tiled down its rows; a frame the tile's shape is one tile, unscaled
    assert tile_layout((1242, 375), (224, 224)).starts == ((0, 0), (173, 0), (345, 0), (518, 0))
    assert tile_layout((224, 224), (224, 224)).starts == ((0, 0),)


def test_the_tiles_cover_every_pixel_of_the_resized_frame():
    for frame in ((375, 1242), (480, 640), (100, 101), (720, 1280), (31, 500)):
        layout = tile_layout(frame, (32, 48))
        covered = np.zeros(layout.resized, bool)
        for top, left in layout.starts:
            covered[top : top + 32, left : left + 48] = True
        assert covered.all(), frame
        assert layout.resized[0] >= 32 and layout.resized[1] >= 48


def test_overlapping_tiles_are_averaged_where_they_overlap():
    layout = tile_layout((200, 300), (200, 200))  # two tiles: columns 0-199 and 100-299
    assert layout.starts == ((0, 0), (0, 100))
    stitched = stitch(np.stack([np.full((200, 200), 0.2, np.float32), np.full((200, 200), 0.6, np.float32)]), layout)
    assert stitched.shape == (200, 300)
    np.testing.assert_allclose(stitched[:, :100], 0.2)
    np.testing.assert_allclose(stitched[:, 100:200], 0.4)  # (0.2 + 0.6) / 2, by hand
    np.testing.assert_allclose(stitched[:, 200:], 0.6)


@pytest.mark.parametrize("batch", ["batch", 1])
def test_a_tiled_identity_model_gives_back_the_resized_frame(tmp_path, batch):
    """Red channel in, red channel out: stitched tiles must equal the frame resized with its aspect kept (computed
    here with OpenCV directly), whether the model takes all tiles as one batch or one at a time."""
    model = write_red_channel_model(tmp_path / "tiled.onnx", 32, 32, tiling="aspect", batch=batch)
    segmenter = Segmenter(model, providers="cpu")
    rgb = np.random.default_rng(0).integers(0, 256, (48, 150, 3), dtype=np.uint8)
    probability = segmenter.probability(rgb)
    # 150x48 scaled by 32/48 -> 100x32 (aspect kept), not squashed to 32x32
    expected = cv2.resize(rgb[:, :, 0], (100, 32), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    assert probability.shape == (32, 100)
    np.testing.assert_allclose(probability, expected, atol=1e-5)
    result = segmenter.segment(rgb)
    assert result.mask.shape == (48, 150) and result.overlay.shape == (48, 150, 3)
    assert set(segmenter.last_timings) >= {"preprocess", "inference", "postprocess", "render"}


def test_an_untiled_model_still_squashes_the_frame_into_its_input(tmp_path):
    segmenter = Segmenter(write_red_channel_model(tmp_path / "plain.onnx", 32, 32), providers="cpu")
    assert segmenter.info.tiling == "none"
    assert segmenter.probability(np.zeros((48, 150, 3), np.uint8)).shape == (32, 32)


def test_an_unknown_tiling_in_the_metadata_is_refused_at_load_naming_it(tmp_path):
    model = write_red_channel_model(tmp_path / "odd.onnx", 32, 32, tiling="mosaic")
    with pytest.raises(ModelLoadError, match="tiling 'mosaic'"):
        Segmenter(model, providers="cpu")


def test_training_tiles_are_crops_of_the_aspect_kept_frame(tmp_path):
    """The batches cut an input-size tile of the frame resized with its aspect kept: the middle one without
    augmentation (the oracle slices an OpenCV resize here), anywhere but always whole with augmentation."""
    from synthetic_data import make_kitti

    from training.batches import RoadBatches
    from training.data import kitti_samples

    samples = kitti_samples(make_kitti(tmp_path / "kitti", 2, size=(48, 96)))
    plain = RoadBatches(samples, (32, 32), 2, "none", tiles=True)
    image, target = plain.example(0)
    # 96x48 -> 64x32; the middle 32 columns start at 16
    rgb = cv2.cvtColor(cv2.imread(str(samples[0].image_path)), cv2.COLOR_BGR2RGB)
    resized = cv2.resize(rgb, (64, 32), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    assert image.shape == (1, 32, 32, 3) and target.shape == (32, 32, 2)
    np.testing.assert_allclose(image[0], resized[:, 16:48], atol=1e-6)
    augmented = RoadBatches(samples, (32, 32), 2, "full", shuffle=True, tiles=True)
    images, targets = augmented[0]
    assert images.shape == (2, 32, 32, 3) and targets.shape == (2, 32, 32, 2)


def test_a_model_trained_on_tiles_exports_as_tiled_and_scores_alike_in_keras_and_onnx(tmp_path, capsys):
    from synthetic_data import TINY, make_kitti

    from training import train as train_cli
    from training.evaluation import load_probability_fn
    from training.onnx_export import export

    data = make_kitti(tmp_path / "kitti", 4, size=(48, 96))
    run = tmp_path / "run"
    args = ["--dataset", "kitti", "--data", str(data), *TINY, "--tiles", "--batch-size", "2", "--epochs", "1"]
    assert train_cli.main(args + ["--val", "1", "--out", str(run)]) == 0
    assert export(run, tmp_path / "tiled.onnx")["road_seg.tiling"] == "aspect"
    keras_fn, _, description = load_probability_fn(run)
    onnx_fn, _, _ = load_probability_fn(tmp_path / "tiled.onnx")
    assert description["tiling"] == "aspect"
    rgb = np.random.default_rng(1).integers(0, 256, (48, 96, 3), dtype=np.uint8)
    from_keras, from_onnx = keras_fn(rgb), onnx_fn(rgb)
    assert from_keras.shape == from_onnx.shape == (32, 64)  # 96x48 with its aspect kept, two 32x32 tiles
    np.testing.assert_allclose(from_keras, from_onnx, atol=1e-4)
    # fine-tuning it without --tiles would squash frames into its tiles: said, not silent
    again = ["--dataset", "kitti", "--data", str(data), "--init-from", str(run), "--quiet", "--workers", "1"]
    again += ["--batch-size", "2", "--epochs", "1", "--val", "1", "--out", str(tmp_path / "b")]
    assert train_cli.main(again) == 0
    assert "was trained on tiles" in capsys.readouterr().err


@pytest.mark.parametrize("batch", ["batch", 1])
def test_the_bench_times_a_tiled_model_on_the_tiles_of_one_kitti_frame(tmp_path, batch):
    from ros_road_seg.bench.tuning import bench_raw_ort, raw_tensor_label

    tiled = Segmenter(write_red_channel_model(tmp_path / "t.onnx", 224, 224, tiling="aspect", batch=batch), "cpu")
    plain = Segmenter(write_red_channel_model(tmp_path / "p.onnx", 160, 512), "cpu")
    assert raw_tensor_label(tiled) == "4x224x224 tensor"  # 1242x375 -> 742x224: four tiles (by hand, above)
    assert raw_tensor_label(plain) == "512x160 tensor"
    assert len(bench_raw_ort(tiled, 3)) == 3


def test_int8_calibration_of_a_tiled_model_sees_tiles_not_squashed_frames(tmp_path):
    from training.quantization import calibration_frames

    rng = np.random.default_rng(2)
    frames = [rng.integers(0, 256, (48, 150, 3), dtype=np.uint8) for _ in range(2)]
    for index, frame in enumerate(frames):
        cv2.imwrite(str(tmp_path / f"f{index}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    tensors = calibration_frames(tmp_path, (32, 32), count=2, tiles=True)
    assert len(tensors) == 8 and all(t.shape == (1, 32, 32, 3) for t in tensors)  # 150x48 -> 100x32: 4 tiles each
    resized = cv2.resize(frames[0], (100, 32), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    np.testing.assert_allclose(tensors[0][0], resized[:, :32], atol=1e-6)
    np.testing.assert_allclose(tensors[3][0], resized[:, 68:], atol=1e-6)
    assert len(calibration_frames(tmp_path, (32, 32), count=2)) == 2


def test_a_tiled_model_with_two_output_channels_is_refused_naming_the_output(tmp_path):
    from ros_road_seg.core.errors import RoadSegError

    model = write_red_channel_model(tmp_path / "two.onnx", 32, 32, tiling="aspect", output_channels=2)
    # warmed up on a 1242x375 frame: 106x32 with its aspect kept, four 32x32 tiles in one batch
    with pytest.raises(RoadSegError, match="road_probability.* expected 4 x h x w x 1"):
        Segmenter(model, providers="cpu")


def test_the_shipped_tiled_keras_runs_on_tiles_like_its_onnx_twin():
    """A shipped .keras has no run folder beside it: its ONNX twin's road_seg.tiling decides, so scoring the .keras
    gives what the node gives with the ONNX file (same weights, same tiles)."""
    pytest.importorskip("keras")
    from pathlib import Path

    from training.evaluation import load_probability_fn

    models = Path(__file__).resolve().parent.parent / "models"
    keras_fn, _, description = load_probability_fn(models / "intel_unet_keep_strong_224x224_tiles.keras")
    onnx_fn, _, _ = load_probability_fn(models / "intel_unet_keep_strong_224x224_tiles.onnx")
    assert description["tiling"] == "aspect"
    rgb = cv2.cvtColor(cv2.imread(str(models.parent / "sample_data/kitti/image_2/000000_10.png")), cv2.COLOR_BGR2RGB)
    from_keras, from_onnx = keras_fn(rgb), onnx_fn(rgb)
    assert from_keras.shape == from_onnx.shape == (224, 741)  # 1224x370 with its aspect kept
    assert np.abs(from_keras - from_onnx).max() <= 1e-3
