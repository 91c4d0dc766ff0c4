"""Square-input models on wide frames without squashing them: the frame is resized with its aspect kept until it
covers one tile on both axes, cut into evenly spaced, overlapping tiles of the model's input size, run as one batch,
and the tiles' road probabilities stitched back (overlaps averaged).

A model says it wants this with the metadata ``road_seg.tiling = aspect`` (``training.train --tiles`` writes it);
the node, the evaluation (``segmenter.tiled_probability``) and the training batches all cut tiles here, so the pixels
a tile sees are the same in training and at run time. A 1242x375 KITTI frame and a 224x224 model: resized to 742x224,
four tiles.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

TILING_MODES = ("none", "aspect")


@dataclass(frozen=True)
class TileLayout:
    """Where the tiles of one frame size lie: the resized frame (height, width) and each tile's (top, left)."""

    resized: tuple[int, int]
    tile: tuple[int, int]
    starts: tuple[tuple[int, int], ...]

    @property
    def count(self) -> int:
        return len(self.starts)


def _starts(length: int, size: int) -> list[int]:
    """Evenly spaced starts of ``ceil(length / size)`` windows of ``size`` covering ``0 .. length``."""
    windows = math.ceil(length / size)
    if windows <= 1:
        return [0]
    return [round(k * (length - size) / (windows - 1)) for k in range(windows)]


@functools.lru_cache(maxsize=16)  # one camera's frames share one layout: computed once, not per frame
def tile_layout(frame_size: tuple[int, int], tile: tuple[int, int]) -> TileLayout:
    """The frame scaled (aspect kept) so that it just covers one tile on both axes, and the tiles over it."""
    (height, width), (tile_height, tile_width) = frame_size, tile
    if min(height, width, tile_height, tile_width) < 1:
        raise ValueError(f"frame {width}x{height} and tile {tile_width}x{tile_height} must be at least 1x1")
    scale = max(tile_height / height, tile_width / width)
    resized = (max(tile_height, round(height * scale)), max(tile_width, round(width * scale)))
    starts = tuple((top, left) for top in _starts(resized[0], tile_height) for left in _starts(resized[1], tile_width))
    return TileLayout(resized=resized, tile=(tile_height, tile_width), starts=starts)


def cut_tiles(image: np.ndarray, layout: TileLayout, out: np.ndarray | None = None) -> np.ndarray:
    """The tiles of a resized ``H x W x C`` image as one ``n x th x tw x C`` batch."""
    tile_height, tile_width = layout.tile
    if out is None:
        out = np.empty((layout.count, tile_height, tile_width, image.shape[2]), image.dtype)
    for slot, (top, left) in enumerate(layout.starts):
        out[slot] = image[top : top + tile_height, left : left + tile_width]
    return out


def stitch(probabilities: np.ndarray, layout: TileLayout) -> np.ndarray:
    """The tiles' ``n x th x tw`` probabilities put back over the resized frame, overlapping pixels averaged."""
    tile_height, tile_width = layout.tile
    total = np.zeros(layout.resized, np.float32)
    for slot, (top, left) in enumerate(layout.starts):
        total[top : top + tile_height, left : left + tile_width] += probabilities[slot]
    total *= _overlap_weights(layout)
    return total


@functools.lru_cache(maxsize=16)
def _overlap_weights(layout: TileLayout) -> np.ndarray:
    """1 / (how many tiles cover each pixel) of the resized frame, once per layout (read-only)."""
    count = np.zeros(layout.resized, np.float32)
    for top, left in layout.starts:
        count[top : top + layout.tile[0], left : left + layout.tile[1]] += 1.0
    weights = 1.0 / count
    weights.setflags(write=False)
    return weights
