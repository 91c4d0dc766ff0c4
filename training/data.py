"""KITTI and CamVid road datasets: files paired by name, labels turned into a road mask and an ignore mask.

Every problem (an image without a label, a corrupt PNG, an RGB label, a size mismatch, an empty folder) is a
:class:`DatasetError` naming the file, never a silent skip or a wrong pairing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ros_road_seg.errors import DatasetError
from ros_road_seg.labels import DATASETS, decode_image_file, read_label, road_masks

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
KITTI_DEFAULT_VAL_COUNT = 30  # the course keeps the last 30 names for validation


@dataclass(frozen=True)
class Sample:
    """One image and its label file, paired by name."""

    name: str
    image_path: Path
    label_path: Path


@dataclass
class LoadedSample:
    rgb: np.ndarray  # HxWx3 uint8
    road: np.ndarray  # HxW uint8, 1 = road
    valid: np.ndarray  # HxW uint8, 1 = counts in loss and IoU (0 = dataset's ignore label)


def pair_by_name(image_dir: Path, label_dir: Path) -> list[Sample]:
    """Pair image and label files by stem; any file without its partner is an error naming the files."""
    for folder in (image_dir, label_dir):
        if not folder.is_dir():
            raise DatasetError(f"folder '{folder}' does not exist")
    images = {p.stem: p for p in image_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
    labels = {p.stem: p for p in label_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
    if not images:
        raise DatasetError(f"folder '{image_dir}' holds no PNG/JPG images")
    missing_labels = sorted(set(images) - set(labels))
    missing_images = sorted(set(labels) - set(images))
    problems = []
    if missing_labels:
        problems.append(
            f"images without a label in '{label_dir}': " + ", ".join(images[n].name for n in missing_labels[:10])
        )
    if missing_images:
        problems.append(
            f"labels without an image in '{image_dir}': " + ", ".join(labels[n].name for n in missing_images[:10])
        )
    if problems:
        raise DatasetError("; ".join(problems))
    return [Sample(name, images[name], labels[name]) for name in sorted(images)]


def kitti_root(data_dir: Path) -> Path:
    """Accept ``data_semantics/``, ``data_semantics/training/`` or a folder with image_2/ + semantic/."""
    for candidate in (data_dir, data_dir / "training"):
        if (candidate / "image_2").is_dir() and (candidate / "semantic").is_dir():
            return candidate
    raise DatasetError(
        f"'{data_dir}' is not a KITTI semantics folder: expected image_2/ and semantic/ in it or in "
        "its training/ subfolder"
    )


def kitti_samples(data_dir: Path) -> list[Sample]:
    root = kitti_root(Path(data_dir))
    return pair_by_name(root / "image_2", root / "semantic")


def camvid_samples(data_dir: Path, split: str) -> list[Sample]:
    """CamVid ``train``/``val``/``test`` with their ``*annot`` label folders."""
    data_dir = Path(data_dir)
    return pair_by_name(data_dir / split, data_dir / f"{split}annot")


def split_validation(
    samples: list[Sample], val: float | int = KITTI_DEFAULT_VAL_COUNT, seed: int | None = None
) -> tuple[list[Sample], list[Sample]]:
    """(train, val). ``val`` >= 1 is a count, < 1 a fraction; no seed = the last names (the course), else seeded."""
    count = int(round(val * len(samples))) if val < 1 else int(val)
    if not 0 < count < len(samples):
        raise DatasetError(f"validation size {val} leaves no training or no validation frames out of {len(samples)}")
    ordered = sorted(samples, key=lambda s: s.name)
    if seed is not None:
        random.Random(seed).shuffle(ordered)
    return ordered[:-count], ordered[-count:]


def load_dataset(
    dataset: str, data_dir: str | Path, val: float | int = KITTI_DEFAULT_VAL_COUNT, seed: int | None = None
) -> tuple[list[Sample], list[Sample]]:
    """(train, val) samples: KITTI split by ``val``; CamVid by its own train/ and val/ folders."""
    if dataset == "kitti":
        return split_validation(kitti_samples(Path(data_dir)), val, seed)
    if dataset == "camvid":
        return camvid_samples(Path(data_dir), "train"), camvid_samples(Path(data_dir), "val")
    raise ValueError(f"dataset '{dataset}' is not one of {', '.join(DATASETS)}")


def read_rgb(path: Path) -> np.ndarray:
    """An image file as RGB uint8; a missing, truncated or non-image file is an error naming it."""
    return cv2.cvtColor(decode_image_file(path, "image", cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def load_sample(sample: Sample, dataset: str) -> LoadedSample:
    rgb = read_rgb(sample.image_path)
    label = read_label(sample.label_path)
    if rgb.shape[:2] != label.shape[:2]:
        raise DatasetError(
            f"image '{sample.image_path}' is {rgb.shape[1]}x{rgb.shape[0]} but label "
            f"'{sample.label_path}' is {label.shape[1]}x{label.shape[0]}"
        )
    road, valid = road_masks(label, dataset)
    return LoadedSample(rgb=rgb, road=road, valid=valid)
