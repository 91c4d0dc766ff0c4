"""Keras batches of (image, target) with a seeded per-epoch shuffle; target channels = (road, weight).

The weight is 0 on the dataset's ignore label and 1 elsewhere, or ``look_alike_weight`` on flat ground that is not
road (sidewalk, parking, rail track, pavement): the mistakes a road model makes most are made to cost more.

One pipeline for every dataset: each sample is read with its own dataset's label ids, augmented at its own frame
size, then resized to the model input by the node's own ``preprocess``. A run may mix datasets: every epoch holds
each primary frame ``repeat`` times plus a fresh draw from each mixed-in pool, sized to that pool's share.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from ros_road_seg.core.segmenter import preprocess, resize_mask
from ros_road_seg.core.tiles import tile_layout
from training.augment import apply_augmentation, build_augmentation
from training.data import LoadedSample, Sample, load_sample


class MixedEpochs:
    """Index order of each epoch over ``primary + pool_1 + pool_2 ...`` (concatenated in that order).

    Each primary frame appears ``repeat`` times; pool ``j`` fills ``share_j`` of the epoch. A pool is walked through
    a shuffled permutation across epochs (every frame seen before any repeats), so a small share still covers it.
    """

    def __init__(self, primary: int, pools: list[tuple[int, float]], repeat: int, rng: np.random.Generator) -> None:
        if repeat < 1:
            raise ValueError(f"repeat {repeat} must be >= 1")
        total_share = sum(share for _, share in pools)
        if not 0.0 <= total_share < 1.0:
            raise ValueError(f"mixed-in shares add up to {total_share}; they must leave room for the primary data")
        self.primary, self.repeat, self.rng = primary, repeat, rng
        primary_count = primary * repeat
        self.draws = [max(1, round(primary_count * share / (1.0 - total_share))) for _, share in pools]
        self.sizes = [size for size, _ in pools]
        self._permutations = [rng.permutation(size) for size in self.sizes]
        self._cursors = [0] * len(pools)
        self.length = primary_count + sum(self.draws)

    def _draw(self, pool: int, count: int) -> np.ndarray:
        picked = []
        while count:
            permutation, cursor = self._permutations[pool], self._cursors[pool]
            take = min(count, len(permutation) - cursor)
            picked.append(permutation[cursor : cursor + take])
            count -= take
            self._cursors[pool] = cursor + take
            if self._cursors[pool] == len(permutation):
                self._permutations[pool], self._cursors[pool] = self.rng.permutation(self.sizes[pool]), 0
        return np.concatenate(picked) if picked else np.empty(0, np.int64)

    def next_order(self, shuffle: bool) -> np.ndarray:
        parts = [np.tile(np.arange(self.primary), self.repeat)]
        offset = self.primary
        for pool, count in enumerate(self.draws):
            parts.append(self._draw(pool, count) + offset)
            offset += self.sizes[pool]
        order = np.concatenate(parts)
        if shuffle:
            self.rng.shuffle(order)
        return order


class RoadBatches(keras.utils.PyDataset):
    """Full batches (the last may be partial, never dropped), reshuffled every epoch from a seeded generator.

    The course's generator returned inside its loop (one image per batch) and ignored its shuffled indexes;
    here every slot of a batch is filled from ``self.order``, which ``on_epoch_end`` redraws.
    """

    def __init__(
        self,
        samples: list[Sample],
        input_size: tuple[int, int],
        batch_size: int,
        augmentation: str = "none",
        shuffle: bool = False,
        seed: int = 0,
        outputs: int = 1,
        cache: bool = True,
        workers: int = 1,
        mix: list[tuple[list[Sample], float]] | None = None,
        repeat: int = 1,
        look_alike_weight: float = 1.0,
        tiles: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(workers=workers, use_multiprocessing=False, **kwargs)
        if batch_size < 1:
            raise ValueError(f"batch_size {batch_size} must be >= 1")
        if not samples:
            raise ValueError("no samples to batch")
        mix = mix or []
        for pool, share in mix:
            if not pool:
                raise ValueError(f"a mixed-in pool (share {share}) has no samples")
        self.samples = list(samples) + [s for pool, _ in mix for s in pool]
        self.input_size, self.batch_size = input_size, batch_size
        self.augmentation, self.shuffle, self.outputs = augmentation, shuffle, outputs
        self.seed = seed
        if look_alike_weight <= 0:
            raise ValueError(f"look_alike_weight {look_alike_weight} must be > 0")
        self.look_alike_weight = float(look_alike_weight)
        self.tiles, self._epoch = tiles, 0
        self.epochs = MixedEpochs(
            len(samples), [(len(pool), share) for pool, share in mix], repeat, np.random.default_rng(seed)
        )
        self.order = self.epochs.next_order(shuffle)
        self._cache: dict[int, LoadedSample] | None = {} if cache else None
        self._transforms: dict[tuple[int, int], object] = {}
        self.frames_without_road = 0

    def __len__(self) -> int:
        return math.ceil(len(self.order) / self.batch_size)

    def load(self, index: int) -> LoadedSample:
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        loaded = load_sample(self.samples[index])
        if self._cache is not None:
            self._cache[index] = loaded
            if not loaded.road.any():
                self.frames_without_road += 1
        return loaded

    def _transform_for(self, frame_size: tuple[int, int]):
        if frame_size not in self._transforms:
            self._transforms[frame_size] = build_augmentation(
                self.augmentation, frame_size, seed=self.seed + len(self._transforms)
            )
        return self._transforms[frame_size]

    def example(self, index: int, position: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """One (1xhxwx3 float input, hxwx2 target) pair, augmented if this is a training set. With ``tiles``: one
        input-size tile of the frame resized with its aspect kept (``core/tiles.py``), anywhere on a training set
        (seeded by the epoch and ``position``, the slot in the epoch), the middle one otherwise."""
        loaded = self.load(index)
        rgb, (road, valid, look_alike) = apply_augmentation(
            self._transform_for(loaded.rgb.shape[:2]), loaded.rgb, [loaded.road, loaded.valid, loaded.look_alike]
        )
        size = tile_layout(rgb.shape[:2], self.input_size).resized if self.tiles else self.input_size
        image = preprocess(np.ascontiguousarray(rgb), size)
        weight = resize_mask(valid, size).astype(np.float32)
        if self.look_alike_weight != 1.0:
            weight *= 1.0 + (self.look_alike_weight - 1.0) * resize_mask(look_alike, size)
        target = np.stack([resize_mask(road, size).astype(np.float32), weight], axis=-1)
        if self.tiles:
            top, left = self._tile_start(size, position)
            height, width = self.input_size
            image = np.ascontiguousarray(image[:, top : top + height, left : left + width])
            target = np.ascontiguousarray(target[top : top + height, left : left + width])
        return image, target

    def _tile_start(self, resized: tuple[int, int], position: int) -> tuple[int, int]:
        spare = (resized[0] - self.input_size[0], resized[1] - self.input_size[1])
        if self.augmentation == "none":
            return spare[0] // 2, spare[1] // 2
        rng = np.random.default_rng((self.seed, self._epoch, position))
        return int(rng.integers(0, spare[0] + 1)), int(rng.integers(0, spare[1] + 1))

    def __getitem__(self, batch_index: int):
        indexes = self.order[batch_index * self.batch_size : (batch_index + 1) * self.batch_size]
        if len(indexes) == 0:
            raise IndexError(f"batch {batch_index} is past the end ({len(self)} batches)")
        height, width = self.input_size
        images = np.empty((len(indexes), height, width, 3), np.float32)
        targets = np.empty((len(indexes), height, width, 2), np.float32)
        for slot, index in enumerate(indexes):
            image, target = self.example(int(index), batch_index * self.batch_size + slot)
            images[slot], targets[slot] = image[0], target
        if self.outputs > 1:
            return images, tuple(targets for _ in range(self.outputs))
        return images, targets

    def on_epoch_end(self) -> None:
        self.order = self.epochs.next_order(self.shuffle)
        self._epoch += 1
