"""Albumentations pipelines. Geometry and colour happen at the frame's own size; the resize to the model input
is ``ros_road_seg.segmenter.preprocess`` (images) and a nearest resize (masks), the same code the node runs."""

from __future__ import annotations

import albumentations as A
import cv2
import numpy as np

AUGMENTATIONS = ("full", "flip", "none")


def build_augmentation(kind: str, frame_size: tuple[int, int], seed: int | None = None) -> A.Compose | None:
    """Training transforms for frames of ``frame_size`` (height, width); None for ``none``.

    ``full``: horizontal flip, the course's RandomSizedCrop (aspect kept, 60-100 % of the height), brightness /
    contrast / saturation / hue jitter. ``flip``: horizontal flip only. Masks ride along as mask targets
    (nearest interpolation), so image and labels stay aligned.
    """
    if kind not in AUGMENTATIONS:
        raise ValueError(f"augmentation '{kind}' is not one of {', '.join(AUGMENTATIONS)}")
    if kind == "none":
        return None
    height, width = frame_size
    transforms: list = [A.HorizontalFlip(p=0.5)]
    if kind == "full":
        transforms += [
            A.RandomSizedCrop(
                min_max_height=(max(1, int(0.6 * height)), height),
                size=(height, width),
                w2h_ratio=width / height,
                interpolation=cv2.INTER_LINEAR,
                mask_interpolation=cv2.INTER_NEAREST,
                p=0.5,
            ),
            A.ColorJitter(brightness=0.25, contrast=0.25, saturation=0.25, hue=0.05, p=0.7),
        ]
    return A.Compose(transforms, seed=seed)


def apply_augmentation(
    transform: A.Compose | None, rgb: np.ndarray, masks: list[np.ndarray]
) -> tuple[np.ndarray, list[np.ndarray]]:
    if transform is None:
        return rgb, masks
    out = transform(image=rgb, masks=masks)
    return out["image"], list(out["masks"])


def resize_mask(mask: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a label mask to (height, width): labels are never interpolated."""
    height, width = input_size
    if mask.shape[:2] == (height, width):
        return mask
    return cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST)
