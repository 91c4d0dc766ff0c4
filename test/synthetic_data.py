"""Small road datasets written by the tests, in the KITTI and CamVid layouts (no downloads, no shipped data)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def synthetic_frame(index: int, size: tuple[int, int] = (48, 64), seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(rgb, road 0/1): grey road below a horizon that moves with ``index``, blue-ish sky and green verge above."""
    height, width = size
    rng = np.random.default_rng(seed + index)
    horizon = height // 3 + index % (height // 3)
    rgb = np.empty((height, width, 3), np.uint8)
    rgb[:] = (60, 90, 200)
    rgb[horizon:] = (120, 120, 120)
    road = np.zeros((height, width), np.uint8)
    road[horizon:] = 1
    verge = width // 6
    rgb[horizon:, :verge] = (40, 160, 40)
    road[horizon:, :verge] = 0
    noise = rng.integers(-15, 16, rgb.shape)
    return np.clip(rgb.astype(int) + noise, 0, 255).astype(np.uint8), road


def write_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    assert cv2.imwrite(str(path), array)


def make_kitti(root: Path, count: int = 6, size: tuple[int, int] = (48, 64)) -> Path:
    """``root/training/{image_2,semantic}`` with road = id 7, elsewhere 21 (vegetation) / 23 (sky)."""
    for index in range(count):
        rgb, road = synthetic_frame(index, size)
        label = np.where(road == 1, 7, 23).astype(np.uint8)
        label[road == 0][: size[1]] = 21
        name = f"{index:06d}_10.png"
        write_png(root / "training" / "image_2" / name, rgb)
        write_png(root / "training" / "semantic" / name, label)
    return root


def make_camvid(root: Path, train: int = 6, val: int = 3, size: tuple[int, int] = (48, 64), sequences: int = 1) -> Path:
    """``root/{train,trainannot,val,valannot}`` with road = 3 and an ignore (11) band on the top row; frame names
    carry a sequence prefix like CamVid's (``seq0_f000``), frames dealt round-robin over ``sequences``."""
    for split, count, offset in (("train", train, 0), ("val", val, 100)):
        for index in range(count):
            rgb, road = synthetic_frame(index + offset, size)
            label = np.where(road == 1, 3, 1).astype(np.uint8)
            label[0] = 11
            name = f"seq{(index + offset) % sequences}_f{index + offset:03d}.png"
            write_png(root / split / name, rgb)
            write_png(root / f"{split}annot" / name, label)
    return root


TINY = "--base-filters 4 --depth 2 --input-size 32 32 --quiet --workers 1".split()  # seconds per epoch on a CPU
