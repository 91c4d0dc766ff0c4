"""Keras batches of (image, target) with a seeded per-epoch shuffle; target channels = (road, valid)."""

from __future__ import annotations

import math

import keras
import numpy as np

from ros_road_seg.segmenter import preprocess
from training.augment import apply_augmentation, build_augmentation, resize_mask
from training.data import LoadedSample, Sample, load_sample


class RoadBatches(keras.utils.PyDataset):
    """Full batches (the last may be partial, never dropped), reshuffled every epoch from a seeded generator.

    The course's generator returned inside its loop (one image per batch) and ignored its shuffled indexes;
    here every slot of a batch is filled from ``self.order``, which ``on_epoch_end`` reshuffles.
    """

    def __init__(
        self,
        samples: list[Sample],
        dataset: str,
        input_size: tuple[int, int],
        batch_size: int,
        augmentation: str = "none",
        shuffle: bool = False,
        seed: int = 0,
        outputs: int = 1,
        cache: bool = True,
        workers: int = 1,
        **kwargs,
    ) -> None:
        super().__init__(workers=workers, use_multiprocessing=False, **kwargs)
        if batch_size < 1:
            raise ValueError(f"batch_size {batch_size} must be >= 1")
        if not samples:
            raise ValueError("no samples to batch")
        self.samples, self.dataset, self.input_size = samples, dataset, input_size
        self.batch_size, self.augmentation, self.shuffle = batch_size, augmentation, shuffle
        self.outputs = outputs
        self.rng = np.random.default_rng(seed)
        self.seed = seed
        self.order = np.arange(len(samples))
        self._cache: dict[int, LoadedSample] | None = {} if cache else None
        self._transforms: dict[tuple[int, int], object] = {}
        self.frames_without_road = 0
        if shuffle:
            self.rng.shuffle(self.order)

    def __len__(self) -> int:
        return math.ceil(len(self.samples) / self.batch_size)

    def load(self, index: int) -> LoadedSample:
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        loaded = load_sample(self.samples[index], self.dataset)
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

    def example(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """One (1xhxwx3 float input, hxwx2 target) pair, augmented if this is a training set."""
        loaded = self.load(index)
        rgb, (road, valid) = apply_augmentation(
            self._transform_for(loaded.rgb.shape[:2]), loaded.rgb, [loaded.road, loaded.valid]
        )
        image = preprocess(np.ascontiguousarray(rgb), self.input_size)
        target = np.stack([resize_mask(road, self.input_size), resize_mask(valid, self.input_size)], axis=-1)
        return image, target.astype(np.float32)

    def __getitem__(self, batch_index: int):
        indexes = self.order[batch_index * self.batch_size : (batch_index + 1) * self.batch_size]
        if len(indexes) == 0:
            raise IndexError(f"batch {batch_index} is past the end ({len(self)} batches)")
        height, width = self.input_size
        images = np.empty((len(indexes), height, width, 3), np.float32)
        targets = np.empty((len(indexes), height, width, 2), np.float32)
        for slot, index in enumerate(indexes):
            image, target = self.example(int(index))
            images[slot], targets[slot] = image[0], target
        if self.outputs > 1:
            return images, tuple(targets for _ in range(self.outputs))
        return images, targets

    def on_epoch_end(self) -> None:
        if self.shuffle:
            self.rng.shuffle(self.order)
