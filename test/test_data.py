"""Dataset readers, pairing, splits, augmentation alignment and batching (no TensorFlow model involved)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ros_road_seg.errors import DatasetError
from synthetic_data import make_camvid, make_kitti, synthetic_frame, write_png
from training.augment import apply_augmentation, build_augmentation
from training.data import Sample, kitti_samples, load_dataset, load_sample, split_validation


def test_kitti_pairs_by_name_not_by_position(tmp_path):
    root = tmp_path / "kitti"
    for index, name in enumerate(["b", "a", "c"]):  # written out of order; label id 7 on 'index + 1' rows
        label = np.zeros((10, 10), np.uint8)
        label[: index + 1] = 7
        write_png(root / "image_2" / f"{name}.png", np.full((10, 10, 3), index * 40, np.uint8))
        write_png(root / "semantic" / f"{name}.png", label)
    samples = kitti_samples(root)
    assert [s.name for s in samples] == ["a", "b", "c"]
    for sample in samples:
        loaded = load_sample(sample, "kitti")
        index = int(loaded.rgb[0, 0, 0]) // 40
        assert loaded.road.sum() == (index + 1) * 10


def test_image_without_label_is_named(tmp_path):
    root = make_kitti(tmp_path / "k", 3)
    (root / "training" / "semantic" / "000001_10.png").unlink()
    with pytest.raises(DatasetError, match="images without a label.*000001_10.png"):
        kitti_samples(root)


def test_label_without_image_is_named(tmp_path):
    root = make_kitti(tmp_path / "k", 3)
    (root / "training" / "image_2" / "000002_10.png").unlink()
    with pytest.raises(DatasetError, match="labels without an image.*000002_10.png"):
        kitti_samples(root)


def test_empty_folder(tmp_path):
    (tmp_path / "image_2").mkdir()
    (tmp_path / "semantic").mkdir()
    with pytest.raises(DatasetError, match="holds no PNG/JPG"):
        kitti_samples(tmp_path)


def test_not_a_kitti_folder(tmp_path):
    with pytest.raises(DatasetError, match="not a KITTI semantics folder"):
        kitti_samples(tmp_path)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_corrupt_image_is_named(tmp_path, damage):
    root = make_kitti(tmp_path / "k", 2)
    path = root / "training" / "image_2" / "000001_10.png"
    data = path.read_bytes()
    path.write_bytes({"truncated": data[: len(data) // 3], "garbage": b"not a png at all", "empty": b""}[damage])
    sample = next(s for s in kitti_samples(root) if s.name == "000001_10")
    with pytest.raises(DatasetError, match="000001_10.png"):
        load_sample(sample, "kitti")


def test_rgb_label_rejected(tmp_path):
    root = make_kitti(tmp_path / "k", 2)
    write_png(root / "training" / "semantic" / "000000_10.png", np.zeros((48, 64, 3), np.uint8))
    with pytest.raises(DatasetError, match="3 channels"):
        load_sample(kitti_samples(root)[0], "kitti")


def test_size_mismatch_rejected(tmp_path):
    root = make_kitti(tmp_path / "k", 2)
    write_png(root / "training" / "semantic" / "000000_10.png", np.zeros((40, 64), np.uint8))
    with pytest.raises(DatasetError, match="64x48 but label .* is 64x40"):
        load_sample(kitti_samples(root)[0], "kitti")


def test_label_without_road_loads(tmp_path):
    root = make_kitti(tmp_path / "k", 2)
    write_png(root / "training" / "semantic" / "000000_10.png", np.full((48, 64), 26, np.uint8))
    loaded = load_sample(kitti_samples(root)[0], "kitti")
    assert loaded.road.sum() == 0


def test_camvid_ignore_label_and_own_val_folder(tmp_path):
    root = make_camvid(tmp_path / "c", train=4, val=2)
    train, val = load_dataset("camvid", root)
    assert len(train) == 4 and len(val) == 2
    loaded = load_sample(val[0], "camvid")
    assert loaded.valid[0].sum() == 0 and loaded.valid[1:].all()
    assert set(np.unique(loaded.road)) <= {0, 1}


def test_split_last_names_and_seeded():
    samples = [Sample(f"{i:03d}", None, None) for i in range(10)]
    train, val = split_validation(samples, 3)
    assert [s.name for s in val] == ["007", "008", "009"] and len(train) == 7
    _, val_a = split_validation(samples, 0.3, seed=1)
    _, val_b = split_validation(samples, 0.3, seed=1)
    _, val_c = split_validation(samples, 0.3, seed=2)
    assert [s.name for s in val_a] == [s.name for s in val_b] and len(val_a) == 3
    assert [s.name for s in val_a] != [s.name for s in val_c]
    with pytest.raises(DatasetError, match="leaves no training"):
        split_validation(samples, 30)


@pytest.mark.parametrize("kind", ["full", "flip"])
def test_augmentation_keeps_image_and_mask_aligned(kind):
    height, width = 90, 160
    rng = np.random.default_rng(0)
    mask = (rng.random((height // 10, width // 10)) > 0.5).astype(np.uint8).repeat(10, 0).repeat(10, 1)
    image = np.zeros((height, width, 3), np.uint8)
    image[mask == 1] = (255, 255, 255)  # the mask is visible in the picture itself
    for seed in range(20):
        transform = build_augmentation(kind, (height, width), seed=seed)
        out_image, (out_mask, out_valid) = apply_augmentation(transform, image, [mask, np.ones_like(mask)])
        assert out_image.shape[:2] == out_mask.shape == (height, width)
        bright = out_image.mean(axis=2) > 100
        same = bright == (out_mask == 1)
        kernel = np.ones((5, 5), np.uint8)
        interior = cv2.erode(out_mask, kernel) == cv2.dilate(out_mask, kernel)  # away from block edges
        assert same[interior].mean() > 0.995, f"{kind} seed {seed}: misaligned inside blocks"
        assert same.mean() > 0.9, f"{kind} seed {seed}: image and mask disagree on {1 - same.mean():.1%}"
        assert set(np.unique(out_mask)) <= {0, 1}


def test_unknown_augmentation_rejected():
    with pytest.raises(ValueError, match="augmentation 'rotate'"):
        build_augmentation("rotate", (10, 10))


def test_batches_are_full_and_shuffled(tmp_path):
    pytest.importorskip("keras")
    from training.batches import RoadBatches

    root = make_kitti(tmp_path / "k", 10)
    samples = kitti_samples(root)
    batches = RoadBatches(samples, "kitti", (32, 32), batch_size=4, augmentation="none", shuffle=True, seed=3)
    assert len(batches) == 3  # 4 + 4 + 2: the last partial batch is kept
    seen = []
    for index in range(len(batches)):
        images, targets = batches[index]
        assert images.shape[1:] == (32, 32, 3) and targets.shape[1:] == (32, 32, 2)
        assert images.shape[0] == (4 if index < 2 else 2)
        for slot in range(images.shape[0]):  # every slot holds a real, distinct frame (the course filled one)
            assert images[slot].std() > 0
            seen.append(images[slot].tobytes())
    assert len(set(seen)) == 10
    first_order = batches.order.copy()
    batches.on_epoch_end()
    assert not np.array_equal(first_order, batches.order)
    again = RoadBatches(samples, "kitti", (32, 32), batch_size=4, shuffle=True, seed=3)
    assert np.array_equal(again.order, first_order)


def test_synthetic_frame_has_road():
    rgb, road = synthetic_frame(0)
    assert road.any() and rgb.dtype == np.uint8
