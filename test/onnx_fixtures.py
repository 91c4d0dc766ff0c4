"""Tiny ONNX models with a known output, built with onnx.helper (no TensorFlow): road probability = red channel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper


def write_red_channel_model(
    path: Path,
    height: int = 32,
    width: int = 48,
    threshold: float | None = 0.5,
    channels: int = 3,
    rank: int = 4,
    output_channels: int = 1,
    output_scale: float = 1.0,
    tiling: str | None = None,
    batch: str | int = "batch",
) -> Path:
    """A model whose road probability is the input's red channel, so every output is computable by hand
    (``output_channels`` 2: red and green, a model the core cannot use, found only when it runs); ``tiling``:
    its ``road_seg.tiling``; ``batch``: 1 for a model that takes one image at a time."""
    shape = [batch, height, width, channels][:rank]
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, shape)
    output = helper.make_tensor_value_info(
        "road_probability", TensorProto.FLOAT, [batch, height, width, output_channels]
    )
    starts = helper.make_tensor("starts", TensorProto.INT64, [1], [0])
    ends = helper.make_tensor("ends", TensorProto.INT64, [1], [output_channels])
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [rank - 1])
    initializers = [starts, ends, axes]
    if output_scale == 1.0:
        nodes = [helper.make_node("Slice", ["image", "starts", "ends", "axes"], ["road_probability"])]
    else:  # scaled and shifted: values outside [0, 1], as a model that outputs logits
        nodes = [
            helper.make_node("Slice", ["image", "starts", "ends", "axes"], ["red"]),
            helper.make_node("Mul", ["red", "scale"], ["scaled"]),
            helper.make_node("Sub", ["scaled", "shift"], ["road_probability"]),
        ]
        initializers += [
            helper.make_tensor("scale", TensorProto.FLOAT, [], [output_scale]),
            helper.make_tensor("shift", TensorProto.FLOAT, [], [output_scale / 2]),
        ]
    graph = helper.make_graph(nodes, "red_channel", [image], [output], initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    metadata = {
        "road_seg.input_height": str(height),
        "road_seg.input_width": str(width),
        "road_seg.architecture": "red_channel_test",
    }
    if threshold is not None:
        metadata["road_seg.threshold"] = str(threshold)
    if tiling is not None:
        metadata["road_seg.tiling"] = tiling
    helper.set_model_props(model, metadata)
    onnx.save(model, str(path))
    return path


def block_frame(rows: int, columns: int, scale: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(frame, the red-channel model's exact mask): black and white stripes one model cell wide (vertical for even
    seeds, horizontal for odd), enlarged by an integer ``scale``. Averaging each cell gives back 0 or 1, and linear
    interpolation back up along one axis weighs a pixel's own cell by at least 0.5 + 0.5 / scale, so the expected mask
    is just the stripes (computed with NumPy, not with the core)."""
    rng = np.random.default_rng(seed)
    if seed % 2 == 0:
        cells = np.broadcast_to(rng.integers(0, 2, (1, columns)).astype(bool), (rows, columns))
    else:
        cells = np.broadcast_to(rng.integers(0, 2, (rows, 1)).astype(bool), (rows, columns))
    big = np.repeat(np.repeat(cells, scale, axis=0), scale, axis=1)
    frame = np.repeat(np.where(big, 255, 0).astype(np.uint8)[..., None], 3, axis=2)
    return frame, np.where(big, 255, 0).astype(np.uint8)


def approximate_red_mask(rgb: np.ndarray, height: int, width: int, threshold: float) -> np.ndarray:
    """The red-channel model's mask by another library (PIL box downscale, bilinear upscale): agrees with the core
    on all but the odd pixel at a boundary."""
    from PIL import Image

    red = Image.fromarray(np.ascontiguousarray(rgb[..., 0]).astype(np.float32) / 255.0, mode="F")
    small = red.resize((width, height), Image.Resampling.BOX)
    full = np.asarray(small.resize((rgb.shape[1], rgb.shape[0]), Image.Resampling.BILINEAR))
    return np.where(full > threshold, 255, 0).astype(np.uint8)
