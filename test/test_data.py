"""Dataset readers, pairing, splits, augmentation alignment and batching (no TensorFlow model involved)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from synthetic_data import make_camvid, make_kitti, synthetic_frame, write_png

from ros_road_seg.core.errors import DatasetError
from training.augment import apply_augmentation, build_augmentation
from training.data import (
    Sample,
    block_folds,
    camvid_samples,
    exclude,
    kitti_samples,
    load_dataset,
    load_sample,
    parse_mix,
    sequence_folds,
    split_validation,
)


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
        loaded = load_sample(sample)
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
        load_sample(sample)


def test_rgb_label_rejected(tmp_path):
    """A colour label (semantic_rgb/: channels differ) is refused; a grey one saved as RGB reads as grey."""
    root = make_kitti(tmp_path / "k", 2)
    colour = np.zeros((48, 64, 3), np.uint8)
    colour[..., 0] = 128  # road purple-ish: (128, 0, 0) is no label id
    write_png(root / "training" / "semantic" / "000000_10.png", colour)
    with pytest.raises(DatasetError, match="3 channels"):
        load_sample(kitti_samples(root)[0])


def test_size_mismatch_rejected(tmp_path):
    root = make_kitti(tmp_path / "k", 2)
    write_png(root / "training" / "semantic" / "000000_10.png", np.zeros((40, 64), np.uint8))
    with pytest.raises(DatasetError, match="64x48 but label .* is 64x40"):
        load_sample(kitti_samples(root)[0])


def test_label_without_road_loads(tmp_path):
    root = make_kitti(tmp_path / "k", 2)
    write_png(root / "training" / "semantic" / "000000_10.png", np.full((48, 64), 26, np.uint8))
    loaded = load_sample(kitti_samples(root)[0])
    assert loaded.road.sum() == 0


def test_camvid_ignore_label_and_own_val_folder(tmp_path):
    root = make_camvid(tmp_path / "c", train=4, val=2)
    train, val = load_dataset("camvid", root)
    assert len(train) == 4 and len(val) == 2
    loaded = load_sample(val[0])
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
    batches = RoadBatches(samples, (32, 32), batch_size=4, augmentation="none", shuffle=True, seed=3)
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
    again = RoadBatches(samples, (32, 32), batch_size=4, shuffle=True, seed=3)
    assert np.array_equal(again.order, first_order)


def test_synthetic_frame_has_road():
    rgb, road = synthetic_frame(0)
    assert road.any() and rgb.dtype == np.uint8


def _names(samples):
    return [s.name for s in samples]


def test_block_folds_are_consecutive_and_disjoint():
    samples = [Sample(f"{i:06d}_10", None, None) for i in range(32)]
    folds = block_folds(list(reversed(samples)), 4)  # order of the input does not matter: names do
    assert [_names(f.held_out) for f in folds] == [[f"{i:06d}_10" for i in range(8 * k, 8 * k + 8)] for k in range(4)]
    for fold in folds:
        assert not set(_names(fold.held_out)) & set(_names(fold.train)) and not fold.buffer
        assert len(fold.train) == 24
    uneven = block_folds(samples[:10], 3)
    assert [len(f.held_out) for f in uneven] == [3, 4, 3]
    assert sorted(n for f in uneven for n in _names(f.held_out)) == _names(samples[:10])


def test_block_folds_gap_leaves_the_neighbours_out():
    samples = [Sample(f"{i:02d}", None, None) for i in range(12)]
    folds = block_folds(samples, 3, gap=2)
    middle = folds[1]
    assert _names(middle.held_out) == ["04", "05", "06", "07"]
    assert _names(middle.buffer) == ["02", "03", "08", "09"]
    assert _names(middle.train) == ["00", "01", "10", "11"]
    assert _names(folds[0].buffer) == ["04", "05"] and _names(folds[0].train) == [f"{i:02d}" for i in range(6, 12)]
    with pytest.raises(DatasetError, match="folds"):
        block_folds(samples, 13)
    with pytest.raises(DatasetError, match="leaves no training frame"):
        block_folds(samples[:4], 2, gap=2)


def test_sequence_folds_hold_out_whole_sequences(tmp_path):
    root = make_camvid(tmp_path / "c", train=9, val=3, sequences=3)
    samples = camvid_samples(root, "train") + camvid_samples(root, "val")
    folds = sequence_folds(samples)
    assert [f.name for f in folds] == ["seq0", "seq1", "seq2"]
    for fold in folds:
        assert {n.split("_")[0] for n in _names(fold.held_out)} == {fold.name}
        assert fold.name not in {n.split("_")[0] for n in _names(fold.train)}
        assert len(fold.held_out) + len(fold.train) == 12


def test_exclude_by_pattern_and_mix_spec():
    samples = [Sample(f"{i:06d}_10", None, None) for i in range(8)]
    kept, dropped = exclude(samples, ["00000[0-4]_10"])
    assert _names(dropped) == [f"{i:06d}_10" for i in range(5)]
    assert _names(kept) == ["000005_10", "000006_10", "000007_10"]
    source = parse_mix("camvid:/data/cam:vid:0.25")  # a colon inside the path is kept
    assert (source.dataset, str(source.path), source.share) == ("camvid", "/data/cam:vid", 0.25)
    for bad, reason in (("camvid:/x:half", "not a number"), ("camvid:/x", "PATH"), ("camvid:/x:1.5", "in")):
        with pytest.raises(ValueError, match=reason):
            parse_mix(bad)


def test_mixed_batches_use_each_datasets_own_labels(tmp_path):
    """KITTI road is id 7 and CamVid road id 3 with 11 ignored: a KITTI label holding 3 and a CamVid label holding 7
    must not become road. Targets are checked against labels read here with OpenCV (the oracle)."""
    from training.batches import RoadBatches

    kitti = make_kitti(tmp_path / "k", 4)
    camvid = make_camvid(tmp_path / "c", train=3, val=1)
    for folder, decoy in ((kitti / "training" / "semantic", 3), (camvid / "trainannot", 7)):
        for path in folder.glob("*.png"):
            label = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            label[-4:, :8] = decoy  # a patch of the other dataset's road id, bottom left
            assert cv2.imwrite(str(path), label)
    primary, pool = kitti_samples(kitti), camvid_samples(camvid, "train")
    batches = RoadBatches(primary, (48, 64), batch_size=5, mix=[(pool, 0.5)], repeat=2, shuffle=True, seed=1)
    assert len(batches.order) == 8 + 8 and len(batches) == 4
    checked = {"kitti": 0, "camvid": 0}
    for batch_index in range(len(batches)):
        images, targets = batches[batch_index]
        assert images.shape[1:] == (48, 64, 3) and targets.shape[1:] == (48, 64, 2) and images.dtype == np.float32
        for slot, index in enumerate(batches.order[batch_index * 5 : batch_index * 5 + 5]):
            sample = batches.samples[index]
            label = cv2.imread(str(sample.label_path), cv2.IMREAD_UNCHANGED)
            road_id, ignore_id = (7, None) if sample.dataset == "kitti" else (3, 11)
            np.testing.assert_array_equal(targets[slot, ..., 0], (label == road_id).astype(np.float32))
            expected_valid = np.ones(label.shape, np.float32) if ignore_id is None else (label != ignore_id)
            np.testing.assert_array_equal(targets[slot, ..., 1], expected_valid.astype(np.float32))
            assert targets[slot, -4:, :8, 0].max() == 0  # the decoy patch is not road
            checked[sample.dataset] += 1
    assert checked == {"kitti": 8, "camvid": 8}


def test_mixed_pool_is_walked_evenly_across_epochs(tmp_path):
    from training.batches import RoadBatches

    primary = kitti_samples(make_kitti(tmp_path / "k", 4))
    pool = camvid_samples(make_camvid(tmp_path / "c", train=6, val=1), "train")
    batches = RoadBatches(primary, (32, 32), batch_size=4, mix=[(pool, 0.6)], shuffle=True, seed=0)
    counts = np.zeros(len(primary) + len(pool), int)
    for _ in range(6):
        np.add.at(counts, batches.order, 1)
        assert (batches.order < len(primary)).sum() == 4  # every KITTI frame once per epoch
        batches.on_epoch_end()
    assert (counts[: len(primary)] == 6).all()
    assert (counts[len(primary) :] == 6).all()  # 6 draws per epoch x 6 epochs over 6 frames: each exactly 6 times


def test_look_alike_ground_weighs_more_in_the_loss_target(tmp_path):
    """KITTI sidewalk (8) and CamVid pavement (4) carry look_alike_weight; ignore stays 0, the rest 1."""
    from training.batches import RoadBatches

    kitti = make_kitti(tmp_path / "k", 1)
    camvid = make_camvid(tmp_path / "c", train=1, val=1)
    for path, look_alike in (
        (kitti / "training" / "semantic" / "000000_10.png", 8),
        (camvid / "trainannot" / "seq0_f000.png", 4),
    ):
        label = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        label[-5:, -6:] = look_alike
        assert cv2.imwrite(str(path), label)
    batches = RoadBatches(
        kitti_samples(kitti),
        (48, 64),
        batch_size=2,
        mix=[(camvid_samples(camvid, "train"), 0.5)],
        look_alike_weight=3.0,
    )
    _, targets = batches[0]
    for slot, index in enumerate(batches.order[:2]):
        sample = batches.samples[index]
        label = cv2.imread(str(sample.label_path), cv2.IMREAD_UNCHANGED)
        expected = np.ones(label.shape, np.float32)
        expected[label == (8 if sample.dataset == "kitti" else 4)] = 3.0
        if sample.dataset == "camvid":
            expected[label == 11] = 0.0
        np.testing.assert_array_equal(targets[slot, ..., 1], expected)
    with pytest.raises(ValueError, match="look_alike_weight"):
        RoadBatches(kitti_samples(kitti), (48, 64), batch_size=1, look_alike_weight=0)


def write_cityscapes(root, city: str, split: str, frames: int) -> None:
    for number in range(frames):
        stem = f"{city}_000000_{number:06d}"
        rgb = np.full((32, 48, 3), 40 * number, np.uint8)
        label = np.full((32, 48), 26, np.uint8)  # car
        label[20:, :] = 7  # road
        label[16:20, :] = 8  # sidewalk: a look-alike
        write_png(root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png", rgb)
        write_png(root / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png", label)


def test_cityscapes_layout_pairs_label_ids_and_folds_by_city(tmp_path):
    from training.data import cityscapes_samples, layout, load_sample

    write_cityscapes(tmp_path, "aachen", "train", 2)
    write_cityscapes(tmp_path, "bremen", "train", 1)
    write_cityscapes(tmp_path, "lindau", "val", 1)
    samples = cityscapes_samples(tmp_path)
    assert [s.name for s in samples] == ["aachen_000000_000000", "aachen_000000_000001", "bremen_000000_000000",
                                         "lindau_000000_000000"]  # fmt: skip
    loaded = load_sample(samples[0])
    assert loaded.road[20:].all() and not loaded.road[:20].any() and loaded.look_alike[16:20].all()
    train, val = layout("cityscapes").split(tmp_path, 0, None)
    assert len(train) == 3 and [s.name for s in val] == ["lindau_000000_000000"]
    folds = layout("cityscapes").folds(tmp_path, 0, 0)
    assert [f.name for f in folds] == ["aachen", "bremen", "lindau"]
    (tmp_path / "gtFine" / "train" / "bremen" / "bremen_000000_000000_gtFine_labelIds.png").unlink()
    with pytest.raises(DatasetError, match="without their labelIds"):
        cityscapes_samples(tmp_path)


def _rgb(height: int, width: int) -> np.ndarray:
    return np.random.default_rng(height * width).integers(0, 256, (height, width, 3), dtype=np.uint8)


@pytest.fixture
def folder_rule():
    """Each test sets the folder rule it means; the default (road 255) comes back afterwards."""
    from ros_road_seg.core.labels import use_folder_labels

    yield use_folder_labels
    use_folder_labels()


def write_folder(root, frames: dict, mask_ext=".png", image_ext=".png") -> None:
    """``frames``: stem -> (rgb, mask) written as images/<stem><image_ext> and masks/<stem><mask_ext>."""
    for stem, (rgb, mask) in frames.items():
        image_path = root / "images" / f"{stem}{image_ext}"
        image_path.parent.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(image_path), rgb[..., ::-1])
        write_png(root / "masks" / f"{stem}{mask_ext}", mask)


def test_folder_layout_binary_masks_of_any_size_and_extension(tmp_path, folder_rule):
    from training.data import layout, load_sample

    road_a = np.zeros((12, 20), np.uint8)
    road_a[8:] = 255  # bottom 4 rows are road
    road_b = np.zeros((30, 16), np.uint8)
    road_b[:, :5] = 255  # left 5 columns
    write_folder(tmp_path, {"a": (_rgb(12, 20), road_a)}, image_ext=".jpg")
    write_folder(tmp_path, {"b": (_rgb(30, 16), road_b)})
    samples = layout("folder").frames(tmp_path)
    assert [s.name for s in samples] == ["a", "b"]
    loaded = [load_sample(s) for s in samples]
    assert loaded[0].rgb.shape == (12, 20, 3) and loaded[0].road.sum() == 4 * 20
    assert loaded[1].road.sum() == 30 * 5 and loaded[1].valid.all()
    folder_rule(1)  # the same folder read as 0/1 masks: 1 never occurs, named with the values found
    with pytest.raises(DatasetError, match=r"road value 1 occurs in none of the 2 masks .*values found: 0, 255"):
        layout("folder").frames(tmp_path)


def test_folder_layout_class_ids_with_an_ignore_id_and_rgb_saved_masks(tmp_path, folder_rule):
    from training.data import layout, load_sample

    mask = np.zeros((10, 10), np.uint8)
    mask[5:] = 3  # road id 3
    mask[:2] = 9  # unlabelled
    write_folder(tmp_path, {"f": (_rgb(10, 10), np.dstack([mask] * 3))})  # grey saved as RGB
    folder_rule(3, 9)
    (loaded,) = [load_sample(s) for s in layout("folder").frames(tmp_path)]
    assert loaded.road.sum() == 50 and loaded.valid.sum() == 80


@pytest.mark.parametrize(
    "problem,match",
    [
        ("unpaired", "images without a label.*c.png"),
        ("size", r"mask '.*a.png' is 7x5 but its image '.*a.png' is 8x6"),
        ("empty", "holds no PNG/JPG images"),
        ("no_masks", "expected images/ and masks/"),
    ],
)
def test_folder_layout_names_what_is_wrong(tmp_path, folder_rule, problem, match):
    from training.data import layout

    full = np.full((6, 8), 255, np.uint8)
    if problem == "unpaired":
        write_folder(tmp_path, {"a": (_rgb(6, 8), full)})
        assert cv2.imwrite(str(tmp_path / "images" / "c.png"), _rgb(6, 8))
    elif problem == "size":
        write_folder(tmp_path, {"a": (_rgb(6, 8), np.full((5, 7), 255, np.uint8))})
    elif problem == "empty":
        (tmp_path / "images").mkdir()
        (tmp_path / "masks").mkdir()
    else:
        (tmp_path / "images").mkdir()
    with pytest.raises(DatasetError, match=match):
        layout("folder").frames(tmp_path)


def test_folder_rule_values_are_checked(folder_rule):
    with pytest.raises(ValueError, match="--road-value/--road-id 300"):
        folder_rule(300)
    with pytest.raises(ValueError, match="--ignore-id 5 is the road value"):
        folder_rule(5, 5)
