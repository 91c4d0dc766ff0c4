"""Dataset label ids -> road and valid masks; shared by training (TensorFlow side) and the node's tools."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ros_road_seg.core.errors import DatasetError
from ros_road_seg.core.image_files import decode_image_file

KITTI_ROAD_ID = 7  # Cityscapes label id used by KITTI semantics
CAMVID_ROAD_ID = 3
CAMVID_IGNORE_ID = 11


@dataclass(frozen=True)
class LabelSpec:
    """What a dataset's label image means. ``soft``: the label is a teacher's road probability x 255 (distillation
    targets of unlabelled frames), not class ids."""

    road_id: int | None
    ignore_id: int | None = None
    look_alike_ids: tuple[int, ...] = ()  # flat ground that is not road: what a road model confuses with it
    soft: bool = False


# One entry per dataset (the layouts that read their folders are in training.data.LAYOUTS).
LABELS = {
    "kitti": LabelSpec(KITTI_ROAD_ID, None, (8, 9, 10)),  # Cityscapes ids: sidewalk 8, parking 9, rail track 10
    "camvid": LabelSpec(CAMVID_ROAD_ID, CAMVID_IGNORE_ID, (4,)),  # pavement 4; 11 = unlabelled
    "cityscapes": LabelSpec(7, None, (8, 9, 10)),  # gtFine labelIds: the ids KITTI semantics also uses
    "soft": LabelSpec(None, soft=True),
    "folder": LabelSpec(255),  # a user's own masks: road 255 (0/255 binary) unless use_folder_labels says otherwise
}
# labelled datasets: what can be scored and trained on as the primary dataset
DATASETS = ("kitti", "camvid", "cityscapes", "folder")
LOOK_ALIKE_IDS = {name: spec.look_alike_ids for name, spec in LABELS.items()}


def use_folder_labels(road_id: int | None = None, ignore_id: int | None = None) -> LabelSpec:
    """The ``folder`` dataset's rule for this process, from the command line: road is the mask value ``road_id``
    (``--road-value`` 255 or 1 for binary masks, ``--road-id`` for class-id masks; default 255), ``ignore_id``
    counts nowhere. One rule per run: every folder a run reads (primary, --mix, scored) uses it."""
    road_id = 255 if road_id is None else road_id
    for flag, value in (("--road-value/--road-id", road_id), ("--ignore-id", ignore_id)):
        if value is not None and not 0 <= value <= 255:
            raise ValueError(f"{flag} {value} is not an 8-bit mask value (0..255)")
    if ignore_id is not None and ignore_id == road_id:
        raise ValueError(f"--ignore-id {ignore_id} is the road value too")
    LABELS["folder"] = LabelSpec(road_id, ignore_id)
    return LABELS["folder"]


def label_spec(dataset: str) -> LabelSpec:
    if dataset not in LABELS:
        raise ValueError(f"dataset '{dataset}' is not one of {', '.join(LABELS)}")
    return LABELS[dataset]


def road_masks(label: np.ndarray, dataset: str) -> tuple[np.ndarray, np.ndarray]:
    """(road, valid) masks from a label image: uint8 0/1 from class ids (the ignore id is not valid), or for a
    ``soft`` label the road probability as float32 in [0, 1] with every pixel valid."""
    spec = label_spec(dataset)
    if spec.soft:
        return label.astype(np.float32) * np.float32(1.0 / 255.0), np.ones_like(label, dtype=np.uint8)
    valid = (
        np.ones_like(label, dtype=np.uint8) if spec.ignore_id is None else (label != spec.ignore_id).astype(np.uint8)
    )
    return (label == spec.road_id).astype(np.uint8), valid


def look_alike_mask(label: np.ndarray, dataset: str) -> np.ndarray:
    """uint8 0/1: pixels of flat non-road ground (sidewalk, parking, rail track, pavement), for a training weight."""
    return np.isin(label, label_spec(dataset).look_alike_ids).astype(np.uint8)


def read_label(path: Path) -> np.ndarray:
    """A single-channel 8-bit label-id image; a colour label is an error (use semantic/, not semantic_rgb/)."""
    label = decode_image_file(path, "label", cv2.IMREAD_UNCHANGED)
    if label.ndim == 3 and label.shape[2] in (3, 4) and (label[..., :3] == label[..., :1]).all():
        label = label[..., 0]  # a grey mask saved as RGB(A) by a labelling tool: one value per pixel all the same
    if label.ndim == 3:
        raise DatasetError(
            f"label '{path}' has {label.shape[2]} channels; expected a single-channel label-id image "
            "(KITTI semantic/, CamVid *annot/)"
        )
    if label.dtype != np.uint8:
        raise DatasetError(f"label '{path}' is {label.dtype}; expected 8-bit label ids")
    return label
