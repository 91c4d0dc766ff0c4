"""Albumentations pipelines. Geometry and colour happen at the frame's own size; the resize to the model input
is ``ros_road_seg.core.segmenter.preprocess`` (images) and ``resize_mask`` (labels), the node's own core."""

from __future__ import annotations

import albumentations as A
import cv2
import numpy as np

AUGMENTATIONS = ("strong", "full", "flip", "none")


def build_augmentation(kind: str, frame_size: tuple[int, int], seed: int | None = None) -> A.Compose | None:
    """Training transforms for frames of ``frame_size`` (height, width); None for ``none``.

    ``full``: horizontal flip, the course's RandomSizedCrop (aspect kept, 60-100 % of the height), brightness /
    contrast / saturation / hue jitter. ``strong`` (for a few labelled frames): crops more often and deeper (50-100 %),
    a small rotation (the camera's roll), cast shadows and gamma (KITTI's shaded asphalt), blur and noise, so that
    the model learns road from curbs and surface rather than from one drive's light. ``flip``: horizontal flip only.
    Masks ride along as mask targets (nearest interpolation), so image and labels stay aligned.
    """
    if kind not in AUGMENTATIONS:
        raise ValueError(f"augmentation '{kind}' is not one of {', '.join(AUGMENTATIONS)}")
    if kind == "none":
        return None
    transforms: list = [A.HorizontalFlip(p=0.5)]
    if kind == "strong":
        transforms += [
            _aspect_kept_crop(frame_size, smallest=0.5, p=0.7),
            A.Affine(rotate=(-4, 4), interpolation=cv2.INTER_LINEAR, mask_interpolation=cv2.INTER_NEAREST, p=0.3),
            A.RandomShadow(shadow_roi=(0, 0.4, 1, 1), num_shadows_limit=(1, 3), p=0.3),
            A.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.05, p=0.8),
            A.RandomGamma(gamma_limit=(70, 140), p=0.3),
            A.OneOf([A.GaussianBlur(blur_limit=(3, 5)), A.GaussNoise(std_range=(0.02, 0.06))], p=0.2),
        ]
    if kind == "full":
        transforms += [
            _aspect_kept_crop(frame_size, smallest=0.6, p=0.5),
            A.ColorJitter(brightness=0.25, contrast=0.25, saturation=0.25, hue=0.05, p=0.7),
        ]
    return A.Compose(transforms, seed=seed)


def _aspect_kept_crop(frame_size: tuple[int, int], smallest: float, p: float) -> A.RandomSizedCrop:
    """A random crop of ``smallest``..100 % of the frame's height, with its aspect, resized back to the frame."""
    height, width = frame_size
    return A.RandomSizedCrop(
        min_max_height=(max(1, int(smallest * height)), height),
        size=(height, width),
        w2h_ratio=width / height,
        interpolation=cv2.INTER_LINEAR,
        mask_interpolation=cv2.INTER_NEAREST,
        p=p,
    )


def apply_augmentation(
    transform: A.Compose | None, rgb: np.ndarray, masks: list[np.ndarray]
) -> tuple[np.ndarray, list[np.ndarray]]:
    if transform is None:
        return rgb, masks
    out = transform(image=rgb, masks=masks)
    return out["image"], list(out["masks"])
