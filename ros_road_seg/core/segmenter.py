"""ROS-free road segmentation core: preprocess -> ONNX Runtime -> resize back -> threshold -> overlay.

The node, ``training.evaluate``, the demo and the benchmarks all call this module; nobody else resizes,
normalises or thresholds on their own. It imports neither ROS nor TensorFlow.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from ros_road_seg.core import kitti_camera
from ros_road_seg.core.errors import ModelLoadError, RoadSegError
from ros_road_seg.core.model import (
    CPU_PROVIDER,
    MODEL_THRESHOLD,
    create_session,
    read_model_info,
    resolve_threshold,
    validate_alpha,
    validate_color,
)
from ros_road_seg.core.tiles import TileLayout, cut_tiles, stitch, tile_layout

CACHED_BUFFER_PIXELS = 8_388_608  # frames up to 4K UHD keep their output buffers between calls; larger ones do not


@dataclass
class SegmentationResult:
    """Outputs at the input frame's size. Arrays are reused by the next call of the same Segmenter."""

    mask: np.ndarray  # HxW uint8, 0 or 255
    overlay: np.ndarray | None  # HxWx3 uint8 RGB; None when not rendered (nobody watches it)
    probability: np.ndarray  # input_height x input_width float32 in [0, 1], model size


def preprocess(rgb: np.ndarray, input_size: tuple[int, int], out: np.ndarray | None = None) -> np.ndarray:
    """Turn an RGB uint8 HxWx3 frame into the model's 1xhxwx3 float32 input in [0, 1].

    The one preprocessing path of the project: training batches, evaluation, the node and the benchmarks call
    it, so a model always sees at serving time exactly what it saw in training.
    """
    height, width = input_size
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise RoadSegError(f"preprocess expects an RGB uint8 HxWx3 array, got shape {rgb.shape} dtype {rgb.dtype}")
    if out is None:
        out = np.empty((1, height, width, 3), dtype=np.float32)
    if rgb.shape[0] == height and rgb.shape[1] == width:
        resized = rgb
    else:
        resized = cv2.resize(
            rgb,
            (width, height),
            interpolation=cv2.INTER_AREA if rgb.shape[0] > height and rgb.shape[1] > width else cv2.INTER_LINEAR,
        )
    np.multiply(resized, np.float32(1.0 / 255.0), out=out[0], casting="unsafe")
    return out


def tiled_probability(
    rgb: np.ndarray, tile: tuple[int, int], run_batch: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """Road probability of a tiled model (``road_seg.tiling = aspect``) over the frame resized with its aspect kept:
    the one :func:`preprocess`, the tiles cut (:mod:`ros_road_seg.core.tiles`), ``run_batch`` (``n x th x tw x 3``
    input -> ``n x th x tw`` probabilities), the tiles stitched back."""
    batch, layout = preprocess_tiles(rgb, tile)
    return stitch(run_batch(batch), layout)


def preprocess_tiles(rgb: np.ndarray, tile: tuple[int, int]) -> tuple[np.ndarray, TileLayout]:
    """A tiled model's input: the one :func:`preprocess` at the aspect-kept size, cut into its ``n x th x tw x 3``
    tiles (what the model runs and what INT8 calibration sees), and where they lie."""
    layout = tile_layout(rgb.shape[:2], tile)
    return cut_tiles(preprocess(rgb, layout.resized)[0], layout), layout


def resize_probability(
    probability: np.ndarray, frame_size: tuple[int, int], out: np.ndarray | None = None
) -> np.ndarray:
    """Resize a model-size probability map back to the frame's (height, width), bilinear."""
    height, width = frame_size
    if probability.shape == (height, width):
        if out is None:
            return probability
        np.copyto(out, probability)
        return out
    return cv2.resize(probability, (width, height), dst=out, interpolation=cv2.INTER_LINEAR)


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a label or mask to (height, width): labels are never interpolated."""
    height, width = size
    if mask.shape[:2] == (height, width):
        return mask
    return cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST)


def threshold_mask(probability: np.ndarray, threshold: float, out: np.ndarray | None = None) -> np.ndarray:
    """Road where probability > threshold: uint8 0/255, the ROS mono8 mask convention."""
    if probability.size == 1:  # OpenCV reads a 1x1 array as a scalar and refuses to compare it
        mask = np.where(probability > threshold, 255, 0).astype(np.uint8)
        if out is None:
            return mask
        out[...] = mask
        return out
    return cv2.compare(probability, float(threshold), cv2.CMP_GT, dst=out)


def blend_overlay(
    rgb: np.ndarray, mask: np.ndarray, alpha: float, color: tuple[int, int, int], out: np.ndarray | None = None
) -> np.ndarray:
    """``(1 - alpha) * rgb + alpha * layer`` where layer is ``color`` on road and black elsewhere.

    With alpha 0.5 and white this is the course's ``Image.blend(image, mask_rgb, 0.5)``. Two OpenCV passes, no
    float copy of the frame.
    """
    out = cv2.convertScaleAbs(rgb, dst=out, alpha=1.0 - alpha)
    tint = tuple(float(alpha * channel) for channel in color)
    cv2.add(out, tint, dst=out, mask=mask)
    return out


class Segmenter:
    """One loaded model and its reusable buffers: call :meth:`segment` per frame.

    ``threshold``: a probability, or :data:`~ros_road_seg.core.model.MODEL_THRESHOLD` (-1, the default) for the model's
    own metadata value; setting :attr:`threshold` later takes the same values.
    """

    def __init__(
        self,
        model_path: str | os.PathLike,
        providers: str = "auto",
        threshold: float = MODEL_THRESHOLD,
        overlay_alpha: float = 0.5,
        overlay_color: tuple[int, int, int] = (255, 255, 255),
        intra_op_threads: int = 0,
        warmup: bool = True,
        io_binding: bool | None = None,
        trt_cache_dir: str | os.PathLike | None = None,
        spinning: bool = False,
    ) -> None:
        self.session, self.provider, loaded = create_session(
            model_path, providers, intra_op_threads, trt_cache_dir, spinning
        )
        self.model_path = str(loaded)  # on a GPU, an INT8 model's FP16 sibling (see model_for_providers)
        self.info = read_model_info(self.session)
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name
        self.threshold = threshold
        self.overlay_alpha = float(overlay_alpha)
        self.overlay_color = tuple(int(c) for c in overlay_color)
        validate_alpha(self.overlay_alpha)
        validate_color(self.overlay_color)
        self._input = np.empty((1, self.info.input_height, self.info.input_width, 3), dtype=np.float32)
        self._batch_of_any_size = not isinstance(self.session.get_inputs()[0].shape[0], int)
        self._frame_buffers: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        # On a GPU, I/O binding lets ONNX Runtime copy the input once and skip its own staging buffers.
        self.io_binding = (self.provider != CPU_PROVIDER) if io_binding is None else io_binding
        self._binding = self.session.io_binding() if self.io_binding else None
        self.last_timings: dict[str, float] = {}  # seconds per stage of the last call (preprocess ... render)
        if warmup:  # the first runs pay for allocation (and cuDNN autotuning on CUDA): not the first frame's job
            self._warm_up()

    def _warm_up(self) -> None:
        """Run the model on a black and a noise frame; an output outside [0, 1] (logits, a missing sigmoid) is
        refused here, naming the output, instead of being thresholded and published as if it were a probability."""
        shape = (self.info.input_height, self.info.input_width, 3)
        if self.info.tiling == "aspect":  # a KITTI-shaped frame, so the first camera frame's batch of tiles is warm
            shape = (kitti_camera.FULL.height, kitti_camera.FULL.width, 3)
        frames = [np.zeros(shape, np.uint8), np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)]
        for index in range(2 if self.provider == CPU_PROVIDER else 5):
            probability = self.probability(frames[min(index, 1)])
            check_probability_range(probability, self.output_name, self.model_path)

    @property
    def threshold(self) -> float:
        """The threshold in effect (never the -1 sentinel)."""
        return self._threshold

    @threshold.setter
    def threshold(self, setting: float | None) -> None:
        self._threshold = resolve_threshold(MODEL_THRESHOLD if setting is None else float(setting), self.info)

    @property
    def input_size(self) -> tuple[int, int]:
        return self.info.input_height, self.info.input_width

    def probability(self, rgb: np.ndarray) -> np.ndarray:
        """Road probability (float32 h x w) for an RGB uint8 frame: at model size, or for a tiled model over the
        frame resized with its aspect kept (:func:`tiled_probability`)."""
        if self.info.tiling == "aspect":
            return self._tiled_probability(rgb)
        started = time.perf_counter()
        model_input = preprocess(rgb, self.input_size, out=self._input)
        preprocessed = time.perf_counter()
        output = self._run(model_input)
        self.last_timings = {"preprocess": preprocessed - started, "inference": time.perf_counter() - preprocessed}
        return _squeeze_probability(output, self.output_name)[0]

    def _run(self, model_input: np.ndarray) -> np.ndarray:
        if self._binding is not None:
            self._binding.bind_cpu_input(self.input_name, model_input)
            self._binding.bind_output(self.output_name, "cpu")
            self.session.run_with_iobinding(self._binding)
            return self._binding.copy_outputs_to_cpu()[0]
        return self.session.run([self.output_name], {self.input_name: model_input})[0]

    def _tiled_probability(self, rgb: np.ndarray) -> np.ndarray:
        """The tiles as one batch (one at a time when the model's batch is fixed at 1); the stages' seconds as for
        an untiled model, preprocess including the cut and the stitch."""
        started = time.perf_counter()
        inference = 0.0

        def run_batch(batch: np.ndarray) -> np.ndarray:
            nonlocal inference
            begun = time.perf_counter()
            tiles = [batch] if self._batch_of_any_size else [batch[i : i + 1] for i in range(len(batch))]
            outputs = [self._run(tile) for tile in tiles]
            inference = time.perf_counter() - begun
            return _squeeze_probability(np.concatenate(outputs), self.output_name, len(batch))

        probability = tiled_probability(rgb, self.input_size, run_batch)
        self.last_timings = {"preprocess": time.perf_counter() - started - inference, "inference": inference}
        return probability

    def segment(self, rgb: np.ndarray, render_overlay: bool = True) -> SegmentationResult:
        """Mask (and the overlay unless ``render_overlay`` is False) at the frame's size; per-stage seconds in
        :attr:`last_timings`. The returned arrays are overwritten by the next call."""
        probability = self.probability(rgb)
        started = time.perf_counter()
        height, width = rgb.shape[:2]
        prob_full, mask, overlay = self._buffers_for(height, width)
        resize_probability(probability, (height, width), out=prob_full)
        threshold_mask(prob_full, self.threshold, out=mask)
        postprocessed = time.perf_counter()
        timings = self.last_timings
        timings["postprocess"] = postprocessed - started
        if render_overlay:
            blend_overlay(rgb, mask, self.overlay_alpha, self.overlay_color, out=overlay)
            timings["render"] = time.perf_counter() - postprocessed
        return SegmentationResult(mask=mask, overlay=overlay if render_overlay else None, probability=probability)

    def _buffers_for(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        key = (height, width)
        buffers = self._frame_buffers.get(key)
        if buffers is None and height * width > CACHED_BUFFER_PIXELS:  # one huge frame: temporaries, not kept
            return (
                np.empty((height, width), np.float32),
                np.empty((height, width), np.uint8),
                np.empty((height, width, 3), np.uint8),
            )
        if buffers is None:
            if len(self._frame_buffers) >= 4:  # a camera whose size keeps changing must not grow memory
                self._frame_buffers.clear()
            buffers = (
                np.empty((height, width), np.float32),
                np.empty((height, width), np.uint8),
                np.empty((height, width, 3), np.uint8),
            )
            self._frame_buffers[key] = buffers
        return buffers


PROBABILITY_TOLERANCE = 1e-3  # FP16 / INT8 rounding at the ends of a sigmoid


def check_probability_range(probability: np.ndarray, output_name: str, model_path: str) -> None:
    """Raise ModelLoadError unless every value is a probability (finite, within [0, 1] up to rounding)."""
    low, high = float(np.min(probability)), float(np.max(probability))
    if not (np.isfinite(low) and np.isfinite(high)) or low < -PROBABILITY_TOLERANCE or high > 1 + PROBABILITY_TOLERANCE:
        raise ModelLoadError(
            f"model '{model_path}' output '{output_name}' gives values in [{low:.4g}, {high:.4g}] at warm-up, not road "
            "probabilities in [0, 1] (logits? export the model with its sigmoid)"
        )


def _squeeze_probability(output: np.ndarray, name: str, images: int = 1) -> np.ndarray:
    """Model output ``images`` x h x w x 1 (or ``images`` x h x w) -> ``images`` x h x w float32."""
    if output.ndim == 4 and output.shape[0] == images and output.shape[3] == 1:
        return output[..., 0]
    if output.ndim == 3 and output.shape[0] == images:
        return output
    raise RoadSegError(f"model output '{name}' has shape {output.shape}, expected {images} x h x w x 1")
