"""Dataset label ids -> road and valid masks; shared by training (TensorFlow side) and the node's tools."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ros_road_seg.errors import DatasetError
from ros_road_seg.image_files import decode_image_file

DATASETS = ("kitti", "camvid")
KITTI_ROAD_ID = 7  # Cityscapes label id used by KITTI semantics
CAMVID_ROAD_ID = 3
CAMVID_IGNORE_ID = 11
# Flat ground that is not road, the classes a road model confuses with it: KITTI (Cityscapes ids) sidewalk 8,
# parking 9, rail track 10; CamVid pavement 4.
LOOK_ALIKE_IDS = {"kitti": (8, 9, 10), "camvid": (4,)}


def road_masks(label: np.ndarray, dataset: str) -> tuple[np.ndarray, np.ndarray]:
    """(road, valid) uint8 0/1 masks from a label-id image; CamVid's 'unlabelled' (11) is not valid."""
    if dataset == "kitti":
        return (label == KITTI_ROAD_ID).astype(np.uint8), np.ones_like(label, dtype=np.uint8)
    if dataset == "camvid":
        return (label == CAMVID_ROAD_ID).astype(np.uint8), (label != CAMVID_IGNORE_ID).astype(np.uint8)
    raise ValueError(f"dataset '{dataset}' is not one of {', '.join(DATASETS)}")


def look_alike_mask(label: np.ndarray, dataset: str) -> np.ndarray:
    """uint8 0/1: pixels of flat non-road ground (sidewalk, parking, rail track, pavement), for a training weight."""
    return np.isin(label, LOOK_ALIKE_IDS[dataset]).astype(np.uint8)


def read_label(path: Path) -> np.ndarray:
    """A single-channel 8-bit label-id image; a colour label is an error (use semantic/, not semantic_rgb/)."""
    label = decode_image_file(path, "label", cv2.IMREAD_UNCHANGED)
    if label.ndim == 3:
        raise DatasetError(
            f"label '{path}' has {label.shape[2]} channels; expected a single-channel label-id image "
            "(KITTI semantic/, CamVid *annot/)"
        )
    if label.dtype != np.uint8:
        raise DatasetError(f"label '{path}' is {label.dtype}; expected 8-bit label ids")
    return label
