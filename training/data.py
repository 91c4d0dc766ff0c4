"""KITTI and CamVid road datasets: files paired by name, labels turned into a road mask and an ignore mask.

Every sample carries its dataset, so one run can mix KITTI and CamVid (each with its own road id and ignore label).
Folds for cross-validation are whole blocks of consecutive KITTI frame numbers or whole CamVid sequences: neighbouring
frames of one drive look alike, so a shuffled split would score frames the model has all but seen.

Every problem (an image without a label, a corrupt PNG, an RGB label, a size mismatch, an empty folder) is a
:class:`DatasetError` naming the file, never a silent skip or a wrong pairing.
"""

from __future__ import annotations

import argparse
import fnmatch
import functools
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ros_road_seg.core.errors import DatasetError
from ros_road_seg.core.image_files import IMAGE_SUFFIXES, read_rgb_file
from ros_road_seg.core.labels import DATASETS as DATASETS  # re-exported: the CLIs' --dataset choices
from ros_road_seg.core.labels import label_spec, look_alike_mask, read_label, road_masks, use_folder_labels

KITTI_DEFAULT_VAL_COUNT = 30  # the course keeps the last 30 names for validation


@dataclass(frozen=True)
class Sample:
    """One image and its label file, paired by name, and the dataset whose label ids the label uses."""

    name: str
    image_path: Path
    label_path: Path
    dataset: str = "kitti"


@dataclass
class LoadedSample:
    rgb: np.ndarray  # HxWx3 uint8
    road: np.ndarray  # HxW uint8, 1 = road
    valid: np.ndarray  # HxW uint8, 1 = counts in loss and IoU (0 = dataset's ignore label)
    look_alike: np.ndarray  # HxW uint8, 1 = flat ground that is not road (sidewalk, parking, ...)


def pair_by_name(image_dir: Path, label_dir: Path, dataset: str = "kitti") -> list[Sample]:
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
    return [Sample(name, images[name], labels[name], dataset) for name in sorted(images)]


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
    return pair_by_name(root / "image_2", root / "semantic", "kitti")


def camvid_samples(data_dir: Path, split: str) -> list[Sample]:
    """CamVid ``train``/``val``/``test`` with their ``*annot`` label folders."""
    data_dir = Path(data_dir)
    return pair_by_name(data_dir / split, data_dir / f"{split}annot", "camvid")


CITYSCAPES_IMAGE_SUFFIX, CITYSCAPES_LABEL_SUFFIX = "_leftImg8bit", "_gtFine_labelIds"


def cityscapes_samples(data_dir: Path, split: str | None = None) -> list[Sample]:
    """Cityscapes-style ``leftImg8bit/<split>/<city>/*_leftImg8bit.png`` with
    ``gtFine/<split>/<city>/*_gtFine_labelIds.png`` (every split when ``split`` is None); names are
    ``<city>_<frame>``, so folds by city keep a city's frames together."""
    data_dir = Path(data_dir)
    images_root, labels_root = data_dir / "leftImg8bit", data_dir / "gtFine"
    for folder in (images_root, labels_root):
        if not folder.is_dir():
            raise DatasetError(f"'{data_dir}' is not a Cityscapes-style folder: no '{folder.name}/' in it")
    splits = [split] if split else sorted(p.name for p in images_root.iterdir() if p.is_dir())
    samples, missing = [], []
    for split_name in splits:
        for image in sorted((images_root / split_name).glob(f"*/*{CITYSCAPES_IMAGE_SUFFIX}.png")):
            stem = image.stem[: -len(CITYSCAPES_IMAGE_SUFFIX)]
            label = labels_root / split_name / image.parent.name / f"{stem}{CITYSCAPES_LABEL_SUFFIX}.png"
            if not label.is_file():
                missing.append(str(label))
                continue
            samples.append(Sample(stem, image, label, "cityscapes"))
    if missing:
        raise DatasetError(f"{len(missing)} Cityscapes images without their labelIds file, e.g. '{missing[0]}'")
    if not samples:
        raise DatasetError(f"no '*{CITYSCAPES_IMAGE_SUFFIX}.png' images under '{images_root}'")
    return samples


FOLDER_IMAGES, FOLDER_MASKS = "images", "masks"


def folder_samples(data_dir: Path) -> list[Sample]:
    """A user's own labels: ``images/`` and ``masks/`` paired by file stem (any image extension), frames of any
    size; road is the mask value of :func:`ros_road_seg.core.labels.use_folder_labels` (``--road-value``,
    ``--road-id``, ``--ignore-id``). Every mask is checked once here, so a mask of another size or a road value that
    never occurs is named before training starts, not at epoch 3."""
    data_dir = Path(data_dir)
    if not (data_dir / FOLDER_IMAGES).is_dir() or not (data_dir / FOLDER_MASKS).is_dir():
        raise DatasetError(f"'{data_dir}' is not a folder dataset: expected {FOLDER_IMAGES}/ and {FOLDER_MASKS}/ in it")
    samples = pair_by_name(data_dir / FOLDER_IMAGES, data_dir / FOLDER_MASKS, "folder")
    spec = label_spec("folder")
    return list(_checked_folder(tuple(samples), spec.road_id, spec.ignore_id))


@functools.lru_cache(maxsize=8)
def _checked_folder(samples: tuple[Sample, ...], road_id: int, ignore_id: int | None) -> tuple[Sample, ...]:
    from PIL import Image

    values: set[int] = set()
    for sample in samples:
        mask = read_label(sample.label_path)
        try:
            with Image.open(sample.image_path) as image:
                width, height = image.size
        except OSError as error:
            raise DatasetError(f"image '{sample.image_path}' cannot be read: {error}") from None
        if mask.shape != (height, width):
            raise DatasetError(
                f"mask '{sample.label_path}' is {mask.shape[1]}x{mask.shape[0]} but its image "
                f"'{sample.image_path}' is {width}x{height}"
            )
        values.update(int(v) for v in np.unique(mask))
    if road_id not in values:
        found = ", ".join(str(v) for v in sorted(values)[:12])
        raise DatasetError(
            f"road value {road_id} occurs in none of the {len(samples)} masks in '{samples[0].label_path.parent}' "
            f"(values found: {found}); give the road's value with --road-value (binary masks) or --road-id"
        )
    return samples


SOFT_MANIFEST = "teacher.json"


def soft_samples(soft_dir: Path) -> list[Sample]:
    """Unlabelled frames paired with a teacher's road probabilities (``training.distill``'s folder: labels/*.png and
    teacher.json naming the frames folder and the teacher)."""
    soft_dir = Path(soft_dir)
    manifest = soft_dir / SOFT_MANIFEST
    if not manifest.is_file():
        raise DatasetError(
            f"'{soft_dir}' is not a soft-label folder: no {SOFT_MANIFEST} (make one with training.distill)"
        )
    frames = Path(json.loads(manifest.read_text())["frames"])
    return pair_by_name(frames, soft_dir / "labels", "soft")


@dataclass(frozen=True)
class DatasetLayout:
    """How a dataset's folder is read: every labelled frame, the default (train, val) split, the pool a ``--mix``
    draws from, and the cross-validation folds. Adding a dataset is one entry here and one in ``labels.LABELS``."""

    frames: Callable[[Path], list[Sample]]
    split: Callable[[Path, float, int | None], tuple[list[Sample], list[Sample]]]
    pool: Callable[[Path], list[Sample]]
    folds: Callable[[Path, int, int], list["Fold"]]


def _no_split(name: str):
    def split(data_dir, val=0, seed=None):
        raise DatasetError(f"dataset '{name}' has no validation split; use it with --mix")

    return split


def _camvid_all(data_dir: Path) -> list[Sample]:
    return camvid_samples(data_dir, "train") + camvid_samples(data_dir, "val")


LAYOUTS: dict[str, DatasetLayout] = {
    "kitti": DatasetLayout(
        frames=kitti_samples,
        split=lambda data_dir, val, seed: split_validation(kitti_samples(data_dir), val, seed),
        pool=kitti_samples,
        folds=lambda data_dir, folds, gap: block_folds(kitti_samples(data_dir), folds, gap),
    ),
    "camvid": DatasetLayout(
        frames=_camvid_all,
        split=lambda data_dir, val, seed: (camvid_samples(data_dir, "train"), camvid_samples(data_dir, "val")),
        pool=lambda data_dir: camvid_samples(data_dir, "train"),
        folds=lambda data_dir, folds, gap: sequence_folds(_camvid_all(data_dir)),
    ),
    "cityscapes": DatasetLayout(
        frames=cityscapes_samples,
        split=lambda data_dir, val, seed: (cityscapes_samples(data_dir, "train"), cityscapes_samples(data_dir, "val")),
        pool=lambda data_dir: cityscapes_samples(data_dir, "train"),
        folds=lambda data_dir, folds, gap: sequence_folds(cityscapes_samples(data_dir)),
    ),
    "folder": DatasetLayout(
        frames=folder_samples,
        split=lambda data_dir, val, seed: split_validation(folder_samples(data_dir), val, seed),
        pool=folder_samples,
        folds=lambda data_dir, folds, gap: block_folds(folder_samples(data_dir), folds, gap),
    ),
    "soft": DatasetLayout(
        frames=soft_samples,
        split=_no_split("soft"),
        pool=soft_samples,
        folds=lambda data_dir, folds, gap: _no_split("soft")(data_dir),
    ),
}
MIX_DATASETS = tuple(LAYOUTS)


def add_folder_label_arguments(parser) -> None:
    """``--road-value`` / ``--road-id`` / ``--ignore-id``: what the ``folder`` dataset's mask values mean."""
    road = parser.add_mutually_exclusive_group()
    road.add_argument(
        "--road-value", dest="road_id", type=int, default=None, help="folder: road's value in binary masks (255 or 1)"
    )
    road.add_argument("--road-id", dest="road_id", type=int, default=None, help="folder: road's id in class-id masks")
    parser.add_argument("--ignore-id", type=int, default=None, help="folder: a mask value that counts nowhere")


def apply_folder_labels(road_id: int | None, ignore_id: int | None) -> None:
    """Set the folder rule from the parsed flags; a value out of 0..255 is a usage error naming the flag."""
    from ros_road_seg.core.errors import UsageError

    try:
        use_folder_labels(road_id, ignore_id)
    except ValueError as error:
        raise UsageError(str(error)) from None


def layout(dataset: str) -> DatasetLayout:
    if dataset not in LAYOUTS:
        raise ValueError(f"dataset '{dataset}' is not one of {', '.join(LAYOUTS)}")
    return LAYOUTS[dataset]


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
    return layout(dataset).split(Path(data_dir), val, seed)


def load_sample(sample: Sample) -> LoadedSample:
    """Image, road mask and valid mask of one sample, by its own dataset's label ids."""
    rgb = read_rgb_file(sample.image_path)
    label = read_label(sample.label_path)
    if rgb.shape[:2] != label.shape[:2]:
        raise DatasetError(
            f"image '{sample.image_path}' is {rgb.shape[1]}x{rgb.shape[0]} but label "
            f"'{sample.label_path}' is {label.shape[1]}x{label.shape[0]}"
        )
    road, valid = road_masks(label, sample.dataset)
    return LoadedSample(rgb=rgb, road=road, valid=valid, look_alike=look_alike_mask(label, sample.dataset))


@dataclass(frozen=True)
class MixSource:
    """A second dataset mixed into training: ``share`` of every epoch's samples come from it."""

    dataset: str
    path: Path
    share: float


class MixSpecError(ValueError, argparse.ArgumentTypeError):
    """A bad ``DATASET:PATH:SHARE``: argparse shows its message (not "invalid parse_mix value")."""


def parse_mix(spec: str) -> MixSource:
    """``DATASET:PATH:SHARE`` (``camvid:../shared/data/camvid:0.5``) -> MixSource; a bad spec names what is wrong."""
    dataset, _, rest = spec.partition(":")
    path, _, share = rest.rpartition(":")
    if dataset not in MIX_DATASETS or not path:
        raise MixSpecError(f"'{spec}': expected DATASET:PATH:SHARE with DATASET one of {', '.join(MIX_DATASETS)}")
    try:
        fraction = float(share)
    except ValueError:
        raise MixSpecError(f"'{spec}': SHARE '{share}' is not a number") from None
    if not 0.0 < fraction < 1.0:
        raise MixSpecError(f"'{spec}': SHARE {fraction} must be in (0, 1), the part of each epoch it fills")
    return MixSource(dataset, Path(path), fraction)


def training_pool(dataset: str, data_dir: str | Path) -> list[Sample]:
    """Every frame a mixed-in dataset offers for training: KITTI all labelled frames, CamVid its train/ split, a
    soft-label folder all its frames."""
    return layout(dataset).pool(Path(data_dir))


def exclude(samples: list[Sample], patterns: list[str]) -> tuple[list[Sample], list[Sample]]:
    """(kept, excluded): names matching any shell pattern (``00000[0-4]_10``, ``0006R0_*``) are excluded."""
    excluded = [s for s in samples if any(fnmatch.fnmatchcase(s.name, p) for p in patterns)]
    names = {s.name for s in excluded}
    return [s for s in samples if s.name not in names], excluded


def sequence_of(sample: Sample) -> str:
    """CamVid's sequence prefix (``0006R0`` of ``0006R0_f02400``), a Cityscapes city (``aachen`` of
    ``aachen_000000_000019``); KITTI names carry no sequence."""
    return sample.name.split("_", 1)[0]


@dataclass(frozen=True)
class Fold:
    """One cross-validation fold: the held-out frames, the frames trained on, and those left out as a buffer."""

    name: str
    held_out: list[Sample]
    train: list[Sample]
    buffer: list[Sample]


def block_folds(samples: list[Sample], folds: int, gap: int = 0) -> list[Fold]:
    """``folds`` blocks of consecutive names (sizes differ by at most one); ``gap`` frames on each side of a block
    are left out of its training too, so a drive that straddles the block edge does not leak into the score."""
    ordered = sorted(samples, key=lambda s: s.name)
    if not 2 <= folds <= len(ordered):
        raise DatasetError(f"{folds} folds: need 2 to {len(ordered)} folds for {len(ordered)} frames")
    if gap < 0:
        raise ValueError(f"gap {gap} must be >= 0")
    bounds = [round(i * len(ordered) / folds) for i in range(folds + 1)]
    result = []
    for first, end in zip(bounds[:-1], bounds[1:], strict=True):
        held_out = ordered[first:end]
        buffer = ordered[max(0, first - gap) : first] + ordered[end : end + gap]
        train = ordered[: max(0, first - gap)] + ordered[end + gap :]
        if not train:
            raise DatasetError(f"fold {held_out[0].name}..{held_out[-1].name} with gap {gap} leaves no training frame")
        result.append(Fold(f"{held_out[0].name}..{held_out[-1].name}", held_out, train, buffer))
    return result


def sequence_folds(samples: list[Sample]) -> list[Fold]:
    """One fold per CamVid sequence: train on the others, score the whole held-out sequence."""
    sequences = sorted({sequence_of(s) for s in samples})
    if len(sequences) < 2:
        raise DatasetError(f"sequence folds need at least 2 sequences, found {sequences}")
    return [
        Fold(
            sequence,
            [s for s in samples if sequence_of(s) == sequence],
            [s for s in samples if sequence_of(s) != sequence],
            [],
        )
        for sequence in sequences
    ]
